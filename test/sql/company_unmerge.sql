-- Undoing company merges: crm.unmerge of a company record against a twin
-- workspace that never merged, the preview, field conflicts, a domain taken
-- since, chains, bad input, the row path (an INSERT of the merged id), a
-- frontend role with and without the permission.
-- Own database: stable ids.
CREATE DATABASE crm_test_company_unmerge;
\c crm_test_company_unmerge
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A rich pair, built alike in two workspaces: Acme (survivor, gaps the
-- duplicate fills) and ACME Inc. (the duplicate): contact links (Ada on
-- both, primary at the duplicate; Bea at the duplicate only), deals, notes,
-- activities, list memberships (Key accounts both, EMEA the duplicate),
-- external ids (stripe on both, hubspot on the duplicate), tags,
-- properties, history.
CREATE FUNCTION pg_temp.build() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	acme bigint;
	dup bigint;
	ada bigint;
	bea bigint;
	cal bigint;
	keys bigint;
	emea bigint;
	pipe bigint;
BEGIN
	INSERT INTO crm.companies (name, domain, employees, owner, tags, properties, created_at)
		VALUES ('Acme', 'acme.com', 250, 'ann', '{key account}', '{"tier": "gold"}', '2024-01-01') RETURNING id INTO acme;
	INSERT INTO crm.companies (name, domain, industry, employees, plan, spend, description, owner, tags, properties, created_at)
		VALUES ('ACME Inc.', 'acme-inc.com', 'Manufacturing', 300, 'pro', 12000, 'Makers of everything', 'bob',
				'{key account,emea}', '{"tier": "silver", "region": "emea"}', '2023-01-01') RETURNING id INTO dup;
	UPDATE crm.companies SET plan = 'enterprise' WHERE id = dup;
	INSERT INTO crm.contacts (name) VALUES ('Ada') RETURNING id INTO ada;
	INSERT INTO crm.contacts (name) VALUES ('Bea') RETURNING id INTO bea;
	INSERT INTO crm.contacts (name) VALUES ('Cal') RETURNING id INTO cal;
	PERFORM crm.link_company(ada, acme, NULL, false), crm.link_company(ada, dup, 'cto', true),
			crm.link_company(bea, dup, 'ceo', true), crm.link_company(cal, acme, 'buyer', true);
	pipe := crm.create_pipeline('Sales', 'b2b_sales');
	INSERT INTO crm.deals (pipeline_id, title, contact_id, company_id, value)
		VALUES (pipe, 'Renewal', ada, dup, 1000), (pipe, 'Upsell', cal, acme, 500);
	INSERT INTO crm.notes (company_id, body) VALUES (dup, 'Met their CTO'), (acme, 'Long-time customer');
	PERFORM crm.log_activity(bea, 'call', 'Called the duplicate', company_id => dup);
	SELECT l.id INTO keys FROM crm.create_list('Key accounts', 'company') l;
	SELECT l.id INTO emea FROM crm.create_list('EMEA', 'company') l;
	PERFORM crm.add_to_list(keys, ARRAY[acme, dup]), crm.add_to_list(emea, ARRAY[dup]);
	PERFORM crm.set_external_id('company', acme, 'stripe', 'cus_1' || crm.current_workspace()),
			crm.set_external_id('company', dup, 'stripe', 'cus_2' || crm.current_workspace()),
			crm.set_external_id('company', dup, 'hubspot', 'hs_2' || crm.current_workspace());
END;
$$;

-- Every row about the two companies, by name, without ids and times that
-- differ between two workspaces built alike (external ids carry the
-- workspace in their value: cut off).
CREATE FUNCTION pg_temp.state(ws bigint) RETURNS TABLE (tab text, r jsonb) LANGUAGE sql AS $$
	WITH co AS (SELECT id, name FROM crm.companies WHERE workspace_id = ws)
	SELECT 'companies', to_jsonb(x) - ARRAY['workspace_id', 'id', 'updated_at']
	  FROM crm.companies x WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'links', jsonb_build_object('who', c.name, 'company', co.name, 'role', x.role, 'primary', x.is_primary)
	  FROM crm.contact_companies x JOIN co ON co.id = x.company_id
	  JOIN crm.contacts c ON c.workspace_id = ws AND c.id = x.contact_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'deals', jsonb_build_object('company', co.name, 'title', x.title, 'value', x.value)
	  FROM crm.deals x JOIN co ON co.id = x.company_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'notes', jsonb_build_object('company', co.name, 'body', x.body)
	  FROM crm.notes x JOIN co ON co.id = x.company_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'activities', jsonb_build_object('company', co.name, 'type', x.type, 'subject', x.subject)
	  FROM crm.activities x JOIN co ON co.id = x.company_id WHERE x.workspace_id = ws AND x.type <> 'unmerged'
	UNION ALL
	SELECT 'lists', jsonb_build_object('company', co.name, 'list', l.name, 'source', x.source)
	  FROM crm.list_members x JOIN co ON co.id = x.company_id
	  JOIN crm.lists l ON l.workspace_id = ws AND l.id = x.list_id WHERE x.workspace_id = ws
	UNION ALL
	SELECT 'list_counts', jsonb_build_object('list', l.name, 'members', l.member_count)
	  FROM crm.lists l WHERE l.workspace_id = ws
	UNION ALL
	SELECT 'external_ids', jsonb_build_object('company', co.name, 'system', x.system,
											  'external_id', left(x.external_id, -1))
	  FROM crm.external_ids x JOIN co ON co.id = x.object_id WHERE x.workspace_id = ws AND x.object_type = 'company'
	UNION ALL
	SELECT 'history', jsonb_build_object('company', co.name, 'key', x.key, 'old', x.old_value, 'new', x.new_value,
										 'merged_from', x.merged_from IS NOT NULL)
	  FROM crm.value_history x JOIN co ON co.id = x.object_id
	 WHERE x.workspace_id = ws AND x.object_type = 'company' AND x.source <> 'merge'
$$;

-- After the merge, in both workspaces alike: Acme gets a note and its
-- industry changes (a field the merge had filled: a conflict).
CREATE FUNCTION pg_temp.change() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	acme bigint := (SELECT id FROM crm.companies WHERE workspace_id = crm.current_workspace() AND name = 'Acme');
BEGIN
	INSERT INTO crm.notes (company_id, body) VALUES (acme, 'written after the merge');
	UPDATE crm.companies SET industry = 'Robotics' WHERE workspace_id = crm.current_workspace() AND id = acme;
END;
$$;

SELECT crm.create_workspace('twin', 'Twin') AS twin \gset
SELECT pg_temp.build();
SELECT crm.use_workspace('twin') IS NOT NULL AS switched;
SELECT pg_temp.build();
SELECT pg_temp.change();
SELECT crm.use_workspace('default') IS NOT NULL AS switched;

SELECT crm.merge_companies(1, 2) AS survivor;
SELECT id, object_type, survivor_id, loser_id, undone_at IS NULL AS holds FROM crm.merges;
SELECT pg_temp.change();

-- the row path: the merged company's id is not free for an INSERT (0A000)
INSERT INTO crm.companies (id, name) VALUES (2, 'ACME Inc.');
-- nor for an INSERT among others: the statement writes nothing
INSERT INTO crm.companies (id, name) VALUES (90, 'Fine'), (2, 'ACME again');
SELECT count(*) AS companies_90 FROM crm.companies WHERE id = 90;

-- the preview says what will happen, and changes nothing
SELECT jsonb_pretty(crm.unmerge_preview(1)) AS preview;
SELECT count(*) AS company_2 FROM crm.companies WHERE id = 2;

SELECT max(id) AS last_event FROM crm.events \gset
SELECT jsonb_pretty(crm.unmerge(1)) AS unmerged;

-- every row as in the twin, but the documented differences: Acme's
-- industry keeps the post-merge change (a conflict, reported above); the
-- re-inserted company's history starts with its insertion again
SELECT tab, r FROM pg_temp.state(1)
EXCEPT ALL SELECT tab, r FROM pg_temp.state(:twin) ORDER BY 1, 2;
SELECT tab, r FROM pg_temp.state(:twin)
EXCEPT ALL SELECT tab, r FROM pg_temp.state(1) ORDER BY 1, 2;

-- the record is marked; the events and the survivor's timeline entry
SELECT undone_at IS NOT NULL AS undone, undone_by, undo_report ->> 'company' AS company FROM crm.merges;
SELECT type, object_type, object_id FROM crm.events
 WHERE id > :last_event AND type IN ('CRM_COMPANY_CREATED', 'CRM_COMPANY_UNMERGED') ORDER BY id;
SELECT payload ->> 'merge' AS merge, payload ->> 'company' AS company FROM crm.events WHERE type = 'CRM_COMPANY_UNMERGED';
SELECT company_id, type, subject FROM crm.activities WHERE type = 'unmerged';

-- bad input, each writing nothing
SELECT crm.unmerge(1);
SELECT crm.unmerge(99);
SELECT crm.unmerge_preview(NULL);

-- the domain taken since: 23505 naming the holder; the preview lists it
SELECT crm.merge_companies(1, 2) AS survivor;
INSERT INTO crm.companies (id, name, domain) VALUES (3, 'Squatter', 'acme-inc.com');
SELECT crm.unmerge_preview(2) -> 'keys_taken' AS keys_taken;
SELECT crm.unmerge(2);
UPDATE crm.companies SET domain = NULL WHERE id = 3;
SELECT crm.unmerge(2) ->> 'company' AS restored;
DELETE FROM crm.companies WHERE id = 3;

-- Chains: A←B then A←C undo in either order; B←D then A←B refused (55000)
-- until the later is undone
INSERT INTO crm.companies (id, name) VALUES (10, 'A'), (11, 'B'), (12, 'C'), (13, 'D');
SELECT crm.merge_companies(10, 11), crm.merge_companies(10, 12);
SELECT id, survivor_id, loser_id FROM crm.merges WHERE survivor_id = 10 ORDER BY id;
SELECT crm.unmerge(3) ->> 'company' AS restored, crm.unmerge(4) ->> 'company' AS restored;
SELECT crm.merge_companies(11, 13), crm.merge_companies(10, 11);
SELECT crm.unmerge(5);
SELECT crm.unmerge(6) ->> 'company' AS restored, crm.unmerge(5) ->> 'company' AS restored;
SELECT id, name FROM crm.companies WHERE id BETWEEN 10 AND 13 ORDER BY id;
-- a survivor deleted since: the merge cannot be undone (P0002), and its
-- duplicate's id is free again for a new row
SELECT crm.merge_companies(12, 13) AS survivor;
DELETE FROM crm.companies WHERE id = 12;
SELECT crm.unmerge(7);
INSERT INTO crm.companies (id, name) VALUES (13, 'D anew') RETURNING id, name;
DELETE FROM crm.companies WHERE id = 13;

-- A frontend role with a member's claims: a viewer lacks the permission
-- (42501) and changes nothing; an agent may
CREATE ROLE crm_cunmerge_app;
SELECT crm.grant_access('crm_cunmerge_app');
SELECT (crm.add_member('ada', 'admin')).role, (crm.add_member('val', 'viewer')).role;
SELECT crm.merge_companies(10, 11);
SET ROLE crm_cunmerge_app;
SELECT set_config('request.jwt.claims', '{"sub": "val", "workspace_id": 1}', false) IS NOT NULL AS as_val;
SELECT crm.unmerge_preview(8) ->> 'company' AS previewed;
SELECT crm.unmerge(8);
-- the row path as the member: the merged id refused, pointing at crm.unmerge
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
INSERT INTO crm.companies (id, name) VALUES (11, 'B');
SELECT crm.unmerge(8) ->> 'company' AS restored;
SELECT undone_by FROM crm.merges WHERE id = 8;
-- another workspace's record does not exist here
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 2}', false) IS NOT NULL AS as_ada_twin;
SELECT crm.unmerge(8);
RESET ROLE;
SELECT count(*) AS b_live FROM crm.companies WHERE id = 11;

-- Rows a frontend writes later with a merged company's id (issue 24): an
-- INSERT or an UPDATE of company_id lands on the survivor, as rows written
-- for a merged contact do; along a chain to the last survivor; and another
-- company cannot take the merged id by an UPDATE (0A000, hint crm.unmerge)
INSERT INTO crm.companies (id, name) VALUES (20, 'E'), (21, 'E dup'), (22, 'F');
INSERT INTO crm.contacts (id, name) VALUES (50, 'Kim'), (51, 'Kim dup');
INSERT INTO crm.deals (pipeline_id, title, company_id)
SELECT pipeline_id, 'Row path deal', 22 FROM crm.deals WHERE workspace_id = 1 LIMIT 1 RETURNING id AS deal \gset
SELECT crm.merge_companies(20, 21) AS survivor;
SELECT max(id) AS m FROM crm.merges \gset
SELECT max(id) AS last_event FROM crm.events \gset
SET ROLE crm_cunmerge_app;
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
INSERT INTO crm.contact_companies (contact_id, company_id, role) VALUES (50, 21, 'buyer')
RETURNING contact_id, company_id, role;
-- crm.link_company with the merged id does what that INSERT does
SELECT crm.link_company(51, 21, 'user');
SELECT contact_id, company_id, role FROM crm.contact_companies WHERE contact_id IN (50, 51) ORDER BY contact_id;
INSERT INTO crm.notes (company_id, body) VALUES (21, 'written with the old id') RETURNING company_id, body;
UPDATE crm.deals SET company_id = 21 WHERE id = :deal RETURNING company_id;
-- an update that leaves company_id alone leaves it
UPDATE crm.deals SET title = 'Row path deal, renamed' WHERE id = :deal RETURNING title, company_id;
-- the links' events name the survivor
SELECT type, object_id, payload ->> 'company_id' AS company_id FROM crm.events
 WHERE id > :last_event AND type = 'CRM_CONTACT_UPDATED' ORDER BY id;
-- the merged id is not free for another company either
UPDATE crm.companies SET id = 21 WHERE id = 22;
SELECT count(*) AS company_21 FROM crm.companies WHERE id = 21;
-- a contact_id written with a merged contact's id lands on its survivor too
RESET ROLE;
SELECT crm.merge_contacts(50, 51) AS contact_survivor;
SET ROLE crm_cunmerge_app;
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
UPDATE crm.notes SET contact_id = 51 WHERE body = 'written with the old id' RETURNING contact_id, company_id;
RESET ROLE;
-- a chain: 20 merged into 22 since, so 21 leads to 22
SELECT crm.merge_companies(22, 20) AS survivor;
SELECT max(id) AS m2 FROM crm.merges \gset
INSERT INTO crm.notes (company_id, body) VALUES (21, 'two hops') RETURNING company_id, body;
-- once the merges are undone the id is a company again, and rows stay on it
SELECT crm.unmerge(:m2) ->> 'company' AS restored;
SELECT crm.unmerge(:m) ->> 'company' AS restored;
INSERT INTO crm.notes (company_id, body) VALUES (21, 'for E dup again') RETURNING company_id, body;
-- an id no merge record names is left to the foreign key (23503)
INSERT INTO crm.notes (company_id, body) VALUES (999, 'nobody');
DELETE FROM crm.deals WHERE id = :deal;

DROP OWNED BY crm_cunmerge_app;
\c contrib_regression
DROP DATABASE crm_test_company_unmerge;
DROP ROLE crm_cunmerge_app;
