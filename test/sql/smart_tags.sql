-- Smart tags (docs/tags.md): a tag bound to a CQL filter, in contacts.tags
-- of exactly the contacts that match, at every commit, whoever writes --
-- through the functions, a frontend's plain rows, bulk actions, related
-- tables, merges and refresh_lists -- and every tag reader sees it.
SELECT crm.create_workspace('smart-tags', 'Smart tags') IS NOT NULL AS created;
SELECT crm.use_workspace('smart-tags') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
INSERT INTO crm.companies (id, name, industry) VALUES (1, 'Acme', 'SaaS'), (2, 'Globex', 'Retail');
INSERT INTO crm.contacts (id, name, email, city, tags, lifecycle_stage) VALUES
	(901, 'Ada', 'ada@acme.com', 'Paris', '{vip}', 'customer'),
	(902, 'Bob', 'bob@globex.com', 'Rome', '{}', 'lead'),
	(903, 'Cy', 'cy@x.org', 'Paris', '{paris}', 'lead'),
	(904, 'Di', 'di@x.org', 'Oslo', '{paris}', 'lead');
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (901, 1, true), (902, 2, true);
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
CREATE TEMP VIEW tagged AS
SELECT id, city, tags FROM crm.contacts WHERE workspace_id = crm.current_workspace() ORDER BY id;
-- the events since the last look
CREATE TEMP VIEW new_events AS
SELECT e.type, CASE WHEN e.object_type = 'list' THEN NULL ELSE e.object_id END AS object_id,
	   e.payload - 'id' - 'list_id' AS payload
  FROM crm.events e WHERE e.id > (SELECT id FROM mark) ORDER BY e.id;

-- defining a smart tag tags the matching contacts at once; Cy had the tag
-- by hand and keeps it (he matches); Di had it too and loses it (she does not)
SELECT name, kind, tag, visibility, member_count FROM crm.define_smart_tag(' Paris ', 'city = ''Paris''');
SELECT * FROM tagged;
SELECT * FROM new_events;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- every reader of tags sees it: CQL, bulk actions on a CQL query, PostgREST's cs.{}
SELECT id FROM crm.find_contacts('tags CONTAINS ''paris''') ORDER BY id;
SELECT crm.count('contact', 'tags CONTAINS ''paris''');
SELECT * FROM crm.tags('contact', 'par');
SELECT crm.bulk_tag('contact', 'tags CONTAINS ''paris''', ARRAY['french']);
SELECT id FROM crm.contacts WHERE tags @> '{paris,french}' ORDER BY id;

-- a contact that starts matching gets it, one that stops loses it, in the same statement
UPDATE crm.contacts SET city = 'Paris' WHERE id = 902;
UPDATE crm.contacts SET city = 'Rome' WHERE id = 903;
SELECT * FROM tagged;
SELECT type, object_id, payload FROM new_events WHERE type LIKE 'CRM_LIST%';
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- by hand, a smart tag is put right in the same statement: removed from a
-- contact that matches, it comes back; added to one that does not, it goes
UPDATE crm.contacts SET tags = '{}' WHERE id = 901;
UPDATE crm.contacts SET tags = '{paris,x}' WHERE id = 904;
INSERT INTO crm.contacts (id, name, email, city, tags) VALUES (905, 'Eve', 'eve@x.org', 'Oslo', '{paris}');
SELECT * FROM tagged;
SELECT crm.bulk_untag('contact', 'city = ''Paris''', ARRAY['paris', 'french']);
SELECT crm.bulk_tag_by_id('contact', ARRAY[904, 905]::bigint[], ARRAY['paris']);
SELECT * FROM tagged;
-- the manual write and the correction are two updates, two events
SELECT type, object_id, payload FROM new_events WHERE object_id = 901;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- changing the filter retags
SELECT name, member_count FROM crm.define_smart_tag('paris', 'city = ''Rome'' OR city = ''Oslo''');
SELECT * FROM tagged;

-- filters that follow related rows: a company's industry
SELECT name, tag, member_count FROM crm.define_smart_tag('saas', 'company.industry = ''SaaS''');
UPDATE crm.companies SET industry = 'SaaS' WHERE id = 2;
SELECT id, tags FROM crm.contacts WHERE tags @> '{saas}' ORDER BY id;
UPDATE crm.companies SET industry = 'Retail' WHERE id = 1;
SELECT id, tags FROM crm.contacts WHERE tags @> '{saas}' ORDER BY id;

-- merge: the survivor (905) is evaluated again; the tombstone (904) is a member
-- of no list, and its tags stay as they were when it was merged
SELECT crm.merge_contacts(905, 904) IS NOT NULL AS merged;
SELECT c.id, c.status, c.tags, (SELECT count(*) FROM crm.list_members m WHERE m.contact_id = c.id) AS lists
  FROM crm.contacts c WHERE c.id IN (904, 905) ORDER BY c.id;

-- time-relative filters follow the clock through crm.refresh_lists
SELECT name, time_relative, member_count FROM crm.define_smart_tag('recent', 'lastSeenAt > NOW - 7d');
-- time passes for Ada without a write (the triggers off, as a restore runs)
SET session_replication_role = replica;
UPDATE crm.contacts SET last_seen_at = now() - interval '1 day' WHERE id = 901;
SET session_replication_role = origin;
SELECT crm.refresh_lists() AS changed;
SELECT id, tags FROM crm.contacts WHERE tags @> '{recent}' ORDER BY id;

-- dropping removes the tag from everyone, and it is an ordinary tag again
SELECT crm.drop_smart_tag('recent');
SELECT id FROM crm.contacts WHERE tags @> '{recent}';
UPDATE crm.contacts SET tags = tags || '{recent}' WHERE id = 902;
SELECT id, tags FROM crm.contacts WHERE id = 902;

-- another workspace's contacts with the same tag are left alone
SELECT crm.create_workspace('smart-tags-2', 'Other') IS NOT NULL AS created;
SELECT crm.use_workspace('smart-tags-2') IS NOT NULL AS switched;
INSERT INTO crm.contacts (name, email, city, tags) VALUES ('Fay', 'fay@x.org', 'Paris', '{saas,paris}');
SELECT crm.use_workspace('smart-tags') IS NOT NULL AS switched;
SELECT crm.drop_smart_tag('saas');
UPDATE crm.contacts SET city = 'Rome' WHERE email = 'bob@globex.com';
SELECT c.name, c.tags FROM crm.contacts c JOIN crm.workspaces w ON w.id = c.workspace_id
 WHERE w.slug = 'smart-tags-2';

-- bad input: nothing written
SELECT crm.define_smart_tag('  ', 'city = ''Rome''');
SELECT crm.define_smart_tag(NULL, 'city = ''Rome''');
SELECT crm.define_smart_tag('hot', 'tags CONTAINS ''vip''');
SELECT crm.define_smart_tag('hot', 'citty = ''Rome''');
SELECT crm.define_smart_tag('hot', NULL);
SELECT crm.drop_smart_tag('nope');
INSERT INTO crm.lists (name, kind, tag) VALUES ('s', 'static', 'hot');
INSERT INTO crm.lists (name, object_type, kind, filter, tag) VALUES ('c', 'company', 'dynamic', 'industry = ''SaaS''', 'hot');
INSERT INTO crm.lists (name, kind, filter, owner, visibility, tag) VALUES ('p', 'dynamic', 'city = ''Rome''', 'ann', 'private', 'hot');
UPDATE crm.lists SET tag = 'roman' WHERE tag = 'paris';
UPDATE crm.lists SET tag = NULL WHERE tag = 'paris';
UPDATE crm.lists SET visibility = 'private', owner = 'ann' WHERE tag = 'paris';
\set VERBOSITY terse
INSERT INTO crm.lists (name, kind, filter, tag) VALUES ('#paris 2', 'dynamic', 'city = ''Rome''', 'PARIS');
\set VERBOSITY default
SELECT name, tag, member_count FROM crm.lists WHERE workspace_id = crm.current_workspace() ORDER BY id;

-- a frontend role's plain rows, as a member (agent), do the same
CREATE ROLE crm_smart_app;
SELECT crm.grant_access('crm_smart_app');
SELECT (crm.add_member('boss', 'admin')).role, (crm.add_member('ann', 'agent')).role, (crm.add_member('vic', 'viewer')).role;
GRANT SELECT ON tagged, new_events, mark TO crm_smart_app;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);
SET ROLE crm_smart_app;
SET request.jwt.claims = '{"sub": "ann"}';
INSERT INTO crm.lists (name, kind, filter, tag) VALUES ('Lead tag', 'dynamic', 'lifecycleStage = LEAD', ' Lead ')
RETURNING name, kind, tag, owner, visibility, member_count;
SELECT * FROM tagged;
UPDATE crm.lists SET filter = 'lifecycleStage = CUSTOMER' WHERE tag = 'lead';
SELECT * FROM tagged;
-- a PATCH of tags that drops a smart tag: put back
UPDATE crm.contacts SET tags = '{}' WHERE id = 901 RETURNING id, tags;
SELECT id, tags FROM crm.contacts WHERE id = 901;
UPDATE crm.lists SET tag = 'x' WHERE tag = 'lead';
DELETE FROM crm.lists WHERE tag = 'lead';
SELECT * FROM tagged;
SELECT type, object_id FROM new_events ORDER BY 1, 2;
-- a viewer may not define one
SET request.jwt.claims = '{"sub": "vic"}';
SELECT (crm.define_smart_tag('vip2', 'city = ''Rome''')).tag;
RESET request.jwt.claims;
RESET ROLE;
SELECT count(*) AS lead_lists FROM crm.lists WHERE tag = 'lead' OR tag = 'vip2';

-- leave no rows behind for the files that read every workspace's contacts
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug IN ('smart-tags', 'smart-tags-2');
DROP OWNED BY crm_smart_app;
DROP ROLE crm_smart_app;
