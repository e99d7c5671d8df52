-- Undoing merges: the merge record, crm.unmerge against a twin that was
-- never merged, chains, field conflicts, keys taken since, bad input,
-- frontend roles and members, erasure and retention.
\set VERBOSITY default

SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.lists, crm.merges, crm.value_history, crm.pipelines,
	crm.object_types
	RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset

-- The same rich history, built in a workspace: two people, Ann (survivor)
-- and Bea (to be merged), with conversations and messages, a deal, an
-- order, a static list both are in, a dynamic list, consents, company
-- links (the same company on both, each primary), properties, an external
-- id, notes and activities, and custom-object associations (a course both
-- attend, and one only Bea teaches).
CREATE FUNCTION pg_temp.build() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ann bigint;
	bea bigint;
	co bigint;
	co2 bigint;
	pipe bigint;
	conv bigint;
	vip bigint;
	algebra bigint;
	biology bigint;
BEGIN
	INSERT INTO crm.contacts (name, email, city, tags, properties)
		VALUES ('Ann', 'ann@example.com', NULL, '{vip}', '{"plan": "pro"}') RETURNING id INTO ann;
	INSERT INTO crm.contacts (name, email, phone, city, tags, lifecycle_stage, properties)
		VALUES ('Bea', 'bea@example.com', '+44 20 7946 0958', 'Leeds', '{beta}', 'customer', '{"plan": "free", "size": 10}')
		RETURNING id INTO bea;
	-- changes before the merge: history rows of both, which the merge moves and the unmerge takes back
	UPDATE crm.contacts SET properties = properties || '{"size": 12}' WHERE id = bea;
	UPDATE crm.contacts SET tags = '{vip,early}' WHERE id = ann;
	INSERT INTO crm.companies (name, domain) VALUES ('Engines', 'engines.example') RETURNING id INTO co;
	INSERT INTO crm.companies (name, domain) VALUES ('Looms', 'looms.example') RETURNING id INTO co2;
	PERFORM crm.link_company(ann, co, 'founder', true);
	PERFORM crm.link_company(bea, co, 'advisor', true);
	PERFORM crm.link_company(bea, co2, 'owner', false);
	conv := crm.start_conversation(bea, 'email', 'sales', 'Hello from Bea', '2024-01-01');
	PERFORM crm.add_message(conv, 'agent', 'Hi Bea', '2024-01-01 10:00+00');
	PERFORM crm.start_conversation(ann, 'chat', 'support', 'Hello from Ann', '2024-01-02');
	PERFORM crm.record_consent(bea, 'email', 'granted');
	PERFORM crm.record_consent(ann, 'sms', 'revoked');
	PERFORM crm.set_external_id('contact', bea, 'stripe', 'cus_bea');
	PERFORM crm.log_activity(bea, 'call', 'called Bea');
	INSERT INTO crm.notes (contact_id, body) VALUES (bea, 'Bea prefers email'), (ann, 'Ann is a founder');
	pipe := crm.create_pipeline('Sales', 'b2b_sales');
	INSERT INTO crm.deals (pipeline_id, title, contact_id) VALUES (pipe, 'Bea deal', bea), (pipe, 'Ann deal', ann);
	INSERT INTO crm.orders (contact_id, title, value) VALUES (bea, 'Bea order', 120), (ann, 'Ann order', 50);
	SELECT l.id INTO vip FROM crm.create_list('Newsletter', 'contact', 'static') l;
	PERFORM crm.add_to_list(vip, ARRAY[ann, bea]);
	PERFORM crm.create_list('Betas', 'contact', 'dynamic', 'tags CONTAINS ''beta''');
	PERFORM crm.create_object_type('course', 'Courses', 'book', 'title');
	algebra := crm.create_record('course', '{"title": "Algebra"}');
	biology := crm.create_record('course', '{"title": "Biology"}');
	PERFORM crm.associate(algebra, 'contact', ann, 'student', '2024-03-01');
	PERFORM crm.associate(algebra, 'contact', bea, 'auditor', '2024-03-02');
	PERFORM crm.associate(biology, 'contact', bea, 'teacher', '2024-03-03');
END;
$$;

-- The rows compared: every table that holds a contact's data, without the
-- ids and times that differ between two workspaces built alike (documented
-- in docs/identity.md), contacts by name.
CREATE FUNCTION pg_temp.state(ws bigint) RETURNS TABLE (tab text, r jsonb) LANGUAGE sql AS $$
	WITH c AS (SELECT id, name FROM crm.contacts WHERE workspace_id = ws)
	SELECT 'contacts', to_jsonb(x) - ARRAY['workspace_id', 'id', 'created_at', 'updated_at', 'merged_into']
	  FROM crm.contacts x WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'conversations', jsonb_build_object('who', c.name, 'inbox', x.inbox, 'channel', x.channel, 'properties', x.properties,
											   'messages', (SELECT count(*) FROM crm.messages m
															 WHERE m.workspace_id = ws AND m.conversation_id = x.id))
	  FROM crm.conversations x JOIN c ON c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'deals', jsonb_build_object('who', c.name, 'title', x.title)
	  FROM crm.deals x JOIN c ON c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'orders', jsonb_build_object('who', c.name, 'title', x.title, 'value', x.value)
	  FROM crm.orders x JOIN c ON c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'consents', jsonb_build_object('who', c.name, 'channel', x.channel, 'status', x.status)
	  FROM crm.contact_consents x JOIN c ON c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'companies', jsonb_build_object('who', c.name, 'company', co.name, 'role', x.role, 'primary', x.is_primary)
	  FROM crm.contact_companies x JOIN c ON c.id = x.contact_id
	  JOIN crm.companies co ON co.workspace_id = ws AND co.id = x.company_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'lists', jsonb_build_object('who', c.name, 'list', l.name)
	  FROM crm.list_members x JOIN c ON c.id = x.contact_id
	  JOIN crm.lists l ON l.workspace_id = ws AND l.id = x.list_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'list_counts', jsonb_build_object('list', l.name, 'members', l.member_count)
	  FROM crm.lists l WHERE l.workspace_id = ws
	UNION ALL
	SELECT 'associations', jsonb_build_object('who', c.name, 'record', r.properties ->> 'title', 'label', x.label,
											  'at', x.associated_at)
	  FROM crm.object_associations x JOIN c ON c.id = x.contact_id
	  JOIN crm.object_records r ON r.workspace_id = ws AND r.id = x.record_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'external_ids', jsonb_build_object('who', c.name, 'system', x.system, 'external_id', x.external_id)
	  FROM crm.external_ids x JOIN c ON c.id = x.object_id WHERE x.workspace_id = ws AND x.object_type = 'contact'
	UNION ALL
	SELECT 'notes', jsonb_build_object('who', c.name, 'body', x.body)
	  FROM crm.notes x JOIN c ON c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'activities', jsonb_build_object('who', c.name, 'type', x.type, 'subject', x.subject)
	  FROM crm.activities x JOIN c ON c.id = x.contact_id
	 WHERE x.workspace_id = ws AND x.type NOT IN ('merged', 'unmerged')
	UNION ALL
	SELECT 'history', jsonb_build_object('who', c.name, 'key', x.key, 'old', x.old_value, 'new', x.new_value,
										 'merged_from', x.merged_from IS NOT NULL)
	  FROM crm.value_history x JOIN c ON c.id = x.object_id
	 WHERE x.workspace_id = ws AND x.object_type = 'contact' AND x.source <> 'merge'
$$;

-- The changes made after the merge, in either workspace alike: Ann gets a
-- new note and a city (a field the merge had filled from Bea: a conflict),
-- a conversation started for Bea's old id lands on Ann (follow-merged) in
-- the merged workspace, so the twin writes it to Ann directly.
CREATE FUNCTION pg_temp.change() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ann bigint := (SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND name = 'Ann');
BEGIN
	INSERT INTO crm.notes (contact_id, body) VALUES (ann, 'written after the merge');
	UPDATE crm.contacts SET city = 'York' WHERE workspace_id = crm.current_workspace() AND id = ann;
	PERFORM crm.start_conversation(ann, 'sms', 'sales', 'after the merge', '2024-02-01');
END;
$$;

SELECT crm.create_workspace('twin', 'Twin') AS twin \gset
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
SELECT pg_temp.build();
SELECT crm.use_workspace('twin') IS NOT NULL AS switched;
SELECT pg_temp.build();
SELECT pg_temp.change();

SELECT crm.use_workspace('default') IS NOT NULL AS switched;
SELECT crm.merge_contacts(1, 2) AS survivor;

-- the record: the loser as it was, the survivor's fields overwritten, the
-- keys of every row moved (one array per column), the rows dropped on a
-- unique key (Bea's link to Engines, her place in Newsletter) and the flag
-- cleared (her primary link to Looms had none to clash with: kept)
SELECT id, object_type, survivor_id, loser_id, source, actor, undone_at IS NULL AS holds,
	   loser_row ->> 'name' AS loser_name, loser_row ->> 'email' AS loser_email
  FROM crm.merges;
SELECT jsonb_pretty(overwritten) AS overwritten FROM crm.merges;
SELECT jsonb_pretty(moved) AS moved, jsonb_pretty(demoted) AS demoted FROM crm.merges;
SELECT k AS dropped_from, jsonb_array_length(dropped -> k) AS rows
  FROM crm.merges, jsonb_object_keys(dropped) k ORDER BY k;
SELECT jsonb_array_length(history) > 0 AS history_recorded FROM crm.merges;

SELECT pg_temp.change();
-- a row written for the merged id follows to the survivor and stays there
SELECT crm.log_activity(2, 'call', 'called the old id') > 0 AS logged;

-- the preview says what will happen, and changes nothing
SELECT jsonb_pretty(crm.unmerge_preview(1)) AS preview;
SELECT status, merged_into FROM crm.contacts WHERE id = 2;

SELECT jsonb_pretty(crm.unmerge(1)) AS unmerged;

-- every row as in the twin, but the documented post-merge differences:
-- Ann keeps what was written for her after the merge (the twin wrote the
-- same), and the call logged for Bea's merged id stays with Ann; city is a
-- tracked field, so Ann's post-merge change of city is recorded from the
-- value the merge gave her (Leeds), where the twin's is from none
SELECT tab, r FROM pg_temp.state(1)
EXCEPT ALL SELECT tab, r FROM pg_temp.state(:twin) ORDER BY 1, 2;
SELECT tab, r FROM pg_temp.state(:twin)
EXCEPT ALL SELECT tab, r FROM pg_temp.state(1) ORDER BY 1, 2;
-- and the comparison covers rows of every kind, not empty sets
SELECT tab, count(*) AS compared FROM pg_temp.state(1) GROUP BY tab ORDER BY tab;

-- the record is marked, the event and activity written
SELECT undone_at IS NOT NULL AS undone, undone_by, undo_report ->> 'contact' AS contact FROM crm.merges;
SELECT type, object_id, payload ->> 'merge' AS merge FROM crm.events
 WHERE workspace_id = 1 AND type IN ('CRM_CONTACT_MERGED', 'CRM_CONTACT_UNMERGED') ORDER BY id;
SELECT contact_id, type, subject FROM crm.activities WHERE workspace_id = 1 AND type IN ('merged', 'unmerged') ORDER BY id;

-- bad input, each writing nothing
SELECT crm.unmerge(1);
SELECT crm.unmerge(99);
SELECT crm.unmerge(NULL);
SELECT crm.unmerge_preview(99);

-- Chains: A←B then A←C undo in either order; B←D then A←B undo the later first
TRUNCATE crm.contacts, crm.merges RESTART IDENTITY CASCADE;
INSERT INTO crm.contacts (name, email) VALUES ('A', 'a@example.com'), ('B', 'b@example.com'),
											  ('C', 'c@example.com'), ('D', 'd@example.com');
SELECT crm.log_activity(id, 'call', 'of ' || name) > 0 AS logged FROM crm.contacts ORDER BY id;
SELECT crm.merge_contacts(1, 2), crm.merge_contacts(1, 3);
SELECT (crm.unmerge(1)) ->> 'contact' AS restored;
SELECT (crm.unmerge(2)) ->> 'contact' AS restored;
SELECT c.name, c.status, c.email, a.subject
  FROM crm.contacts c JOIN crm.activities a ON a.workspace_id = c.workspace_id AND a.contact_id = c.id AND a.type = 'call'
 ORDER BY c.id;
SELECT crm.merge_contacts(2, 4) AS b_absorbs_d, crm.merge_contacts(1, 2) AS a_absorbs_b;
SELECT id, survivor_id, loser_id, undone_at IS NULL AS holds FROM crm.merges ORDER BY id;
-- D's rows came to A through B: D's merge cannot be undone while B's holds
SELECT crm.unmerge(3);
SELECT (crm.unmerge(4)) ->> 'contact' AS restored;
SELECT (crm.unmerge(3)) ->> 'contact' AS restored;
SELECT c.name, c.status, c.merged_into, a.subject
  FROM crm.contacts c JOIN crm.activities a ON a.workspace_id = c.workspace_id AND a.contact_id = c.id AND a.type = 'call'
 ORDER BY c.id;

-- A key of the merged contact that another contact took since: refused, naming it
SELECT crm.merge_contacts(1, 2);
INSERT INTO crm.contacts (name, email) VALUES ('E', 'b@example.com');
SELECT jsonb_pretty(crm.unmerge_preview(5) -> 'keys_taken') AS keys_taken;
SELECT crm.unmerge(5);
SELECT status FROM crm.contacts WHERE id = 2;
UPDATE crm.contacts SET email = 'e@example.com' WHERE name = 'E';
SELECT (crm.unmerge(5)) ->> 'contact' AS restored;

-- The sources: identify (an email and a phone meet), an email change, import
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.merges RESTART IDENTITY CASCADE;
RESET client_min_messages;
INSERT INTO crm.contacts (name, email) VALUES ('P', 'p@example.com');
INSERT INTO crm.contacts (name, phone) VALUES ('Q', '+44 20 7946 0001');
SELECT crm.identify(email => 'p@example.com', phone => '+44 20 7946 0001') AS identified;
INSERT INTO crm.contacts (name, email) VALUES ('R', 'r@example.com'), ('S', 's@example.com');
SELECT crm.update_contact(3, '{"email": "s@example.com"}') AS updated;
SELECT id, survivor_id, loser_id, source FROM crm.merges ORDER BY id;
SELECT (crm.unmerge(1)) ->> 'contact' AS restored;
-- the email change gave S's email to R, which still holds it
SELECT crm.unmerge(2);
SELECT id, name, email, phone, status FROM crm.contacts ORDER BY id;

-- Frontend roles: the records are read-only; unmerge needs the contacts
-- permission, and a contact the member cannot see does not exist for them
SELECT crm.merge_contacts(1, 2);
CREATE ROLE unmerge_app;
SELECT crm.grant_access('unmerge_app');
SELECT (crm.add_member('alice', 'admin')).user_id, (crm.add_member('vic', 'viewer')).user_id,
	   (crm.add_member('bob', 'agent')).user_id;
SET ROLE unmerge_app;
SET crm.user_id = 'vic';
SELECT count(*) AS visible FROM crm.merges;
UPDATE crm.merges SET undone_at = now();
DELETE FROM crm.merges;
INSERT INTO crm.merges (object_type, survivor_id, loser_id, source, moved, demoted, history, actor)
	VALUES ('contact', 1, 2, 'explicit', '{}', '{}', '[]', 'me');
SELECT crm.purge_merge_records();
SELECT crm.unmerge(3);
SELECT (crm.unmerge_preview(3)) ->> 'contact' AS would_restore;
RESET crm.user_id;
RESET ROLE;
-- owner-based privacy: an agent who owns neither contact sees neither
SELECT crm.set_privacy('owner') IS NOT NULL AS private;
SET ROLE unmerge_app;
SET crm.user_id = 'bob';
SELECT count(*) AS visible_contacts FROM crm.contacts;
SELECT count(*) AS visible_merges FROM crm.merges;
SELECT crm.unmerge(3);
RESET crm.user_id;
RESET ROLE;
-- given the survivor, bob reads its records; the merged contact stays hidden, so no unmerge
UPDATE crm.contacts SET owner = 'bob' WHERE id = 1;
SET ROLE unmerge_app;
SET crm.user_id = 'bob';
SELECT id, survivor_id, loser_id FROM crm.merges ORDER BY id;
SELECT crm.unmerge(3);
RESET crm.user_id;
RESET ROLE;
UPDATE crm.contacts SET owner = NULL WHERE id = 1;
SELECT crm.set_privacy('everyone') IS NOT NULL AS open;
SELECT status FROM crm.contacts WHERE id = 2;
SET ROLE unmerge_app;
SET crm.user_id = 'alice';
-- the row write cannot undo a merge: it points at the function
UPDATE crm.contacts SET status = 'active' WHERE id = 2;
UPDATE crm.contacts SET merged_into = NULL WHERE id = 2;
SELECT (crm.unmerge(3)) ->> 'contact' AS restored;
RESET crm.user_id;
RESET ROLE;
SELECT id, actor, undone_by FROM crm.merges WHERE id = 3;
SELECT id, name, status FROM crm.contacts WHERE id IN (1, 2) ORDER BY id;

-- GDPR erasure of either person erases the record's copy: no longer undoable
SELECT crm.merge_contacts(1, 2);
SELECT crm.delete_contact(1, hard => true);
SELECT id, loser_row IS NULL AS erased_row, overwritten IS NULL AS erased_fields, erased_at IS NOT NULL AS erased
  FROM crm.merges WHERE id = 4;
SELECT crm.unmerge(4);
-- the row path alike: a member's row DELETE of the merged contact erases its copy
INSERT INTO crm.contacts (id, name, email) VALUES (920, 'Gail', 'gail@example.com'),
	(921, 'Gail dup', 'gail.dup@example.com');
SELECT crm.merge_contacts(920, 921) AS survivor;
SELECT max(id) AS m FROM crm.merges \gset
SET ROLE unmerge_app;
SET crm.user_id = 'alice';
DELETE FROM crm.contacts WHERE id = 921;
RESET crm.user_id;
RESET ROLE;
SELECT loser_row IS NULL AS erased_row, overwritten IS NULL AS erased_fields, erased_at IS NOT NULL AS erased
  FROM crm.merges WHERE id = :m;
SELECT crm.unmerge(:m);

-- Retention: records older than merge_retention_days (default 90) are purged
UPDATE crm.merges SET merged_at = now() - interval '91 days' WHERE id = 1;
UPDATE crm.merges SET merged_at = now() - interval '20 days' WHERE id = 2;
SELECT crm.purge_merge_records() AS purged;
SELECT id FROM crm.merges ORDER BY id;
UPDATE crm.workspaces SET settings = settings || '{"merge_retention_days": 10}' WHERE id = 1;
SELECT crm.purge_merge_records() AS purged;
SELECT id FROM crm.merges ORDER BY id;
UPDATE crm.workspaces SET settings = settings || '{"merge_retention_days": "soon"}' WHERE id = 1;
SELECT crm.purge_merge_records() AS purged;
UPDATE crm.workspaces SET settings = settings - 'merge_retention_days' WHERE id = 1;

-- The postal address and the social profiles a merge filled on the survivor
-- are overwritten fields like the others: the unmerge takes them back (the
-- whole address, never a street without its city), and a profile changed
-- since is a conflict it reports
INSERT INTO crm.contacts (id, name, linkedin) VALUES (900, 'Sue', NULL);
INSERT INTO crm.contacts (id, name, street, city, postal_code, country, linkedin, github)
VALUES (901, 'Sue dup', '1 Main St', 'Berlin', '10115', 'DE', 'https://www.linkedin.com/in/sue', 'sue');
SELECT crm.merge_contacts(900, 901) AS survivor;
SELECT max(id) AS m FROM crm.merges \gset
SELECT street, city, postal_code, country, linkedin, github FROM crm.contacts WHERE id = 900;
SELECT jsonb_object_keys(overwritten) AS overwritten FROM crm.merges WHERE id = :m ORDER BY 1;
UPDATE crm.contacts SET github = 'sue-new' WHERE id = 900;
SELECT jsonb_pretty(crm.unmerge(:m) - 'merge' - 'restored' - 'moved_back') AS unmerged;
SELECT id, street, city, postal_code, country, linkedin, github FROM crm.contacts WHERE id IN (900, 901) ORDER BY id;

-- Counters and seen times after an unmerge, with no recount of its own:
-- the conversations moved back recount both contacts, and the times written
-- back cover the conversations each has now.  The survivor's last_seen_at
-- (Jan 10) is reverted, but a conversation it got after the merge (Jan 15,
-- inside the merged Jan 20) is seen; the loser has its Jan 20 one back.
INSERT INTO crm.contacts (id, name, first_seen_at, last_seen_at)
VALUES (910, 'Tom', '2026-01-01 12:00+00', '2026-01-10 12:00+00'),
	   (911, 'Tom dup', '2026-01-05 12:00+00', '2026-01-05 12:00+00');
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES (911, 'chat', '2026-01-20 12:00+00');
SELECT crm.merge_contacts(910, 911) AS survivor;
SELECT max(id) AS m FROM crm.merges \gset
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES (910, 'sms', '2026-01-15 12:00+00');
SELECT id, conversation_count, first_seen_at::date, last_seen_at::date, last_conversation_at::date
  FROM crm.contacts WHERE id IN (910, 911) ORDER BY id;
SELECT crm.unmerge(:m) -> 'reverted' AS reverted;
SELECT id, conversation_count, first_seen_at::date, last_seen_at::date, last_conversation_at::date
  FROM crm.contacts WHERE id IN (910, 911) ORDER BY id;

-- leave an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.lists, crm.merges, crm.object_types
	RESTART IDENTITY CASCADE;
DROP OWNED BY unmerge_app;
DROP ROLE unmerge_app;
DELETE FROM crm.members;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
