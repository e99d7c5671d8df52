-- One path: the same lists made in two workspaces with the same records,
-- once through crm.create_list / set_list_filter / update_list /
-- delete_list as the owner and once as plain rows of crm.lists by a role
-- granted with crm.grant_access, give the same rows (computed columns
-- included), the same memberships and the same events, step by step.
BEGIN;
SELECT plan(11);

\set app crm_parity_app
\set slug parity
\ir parity_setup.psql

-- the same records in both workspaces
CREATE FUNCTION pg_temp.seed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.companies (name, domain, industry) VALUES ('Acme', 'acme.example', 'SaaS'), ('Shop', 'shop.example', 'Retail');
	INSERT INTO crm.contacts (name, email, tags, lifecycle_stage, city, properties, last_seen_at)
	SELECT 'p' || g, 'p' || g || '@parity.example',
		   CASE WHEN g % 3 = 0 THEN '{vip}' WHEN g % 5 = 0 THEN '{trial}' ELSE '{}' END::text[],
		   (ARRAY['lead', 'customer', 'opportunity'])[1 + g % 3]::crm.lifecycle_stage,
		   (ARRAY['Paris', 'Rome', NULL])[1 + g % 3], jsonb_build_object('seats', g % 7),
		   now() - (g % 40) * interval '1 day'
	  FROM generate_series(1, 40) g;
	INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
	SELECT c.id, co.id, true FROM crm.contacts c JOIN crm.companies co
	    ON co.workspace_id = c.workspace_id AND co.name = CASE WHEN c.id % 2 = 0 THEN 'Acme' ELSE 'Shop' END
	 WHERE c.workspace_id = crm.current_workspace() $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.seed();
SELECT pg_temp.use(r) FROM ws; SELECT pg_temp.seed();

CREATE TEMP TABLE filters (name text, kind text, filter text);
INSERT INTO filters VALUES
	('vip', 'dynamic', 'tags CONTAINS ''vip'''),
	('saas', 'dynamic', 'company.industry = ''SaaS'''),
	('recent', 'dynamic', 'lastSeenAt > NOW - 10d'),
	('seats', 'dynamic', 'properties.seats >= 4 AND city = ''Paris'''),
	('picked', 'static', NULL),
	('vip saas', 'dynamic', 'IN LIST ''vip'' AND IN LIST ''saas'''),
	('not picked', 'dynamic', 'NOT IN LIST ''picked'' AND lifecycleStage = LEAD'),
	('snap', 'snapshot', 'tags CONTAINS ''trial'' OR IN LIST ''vip''');
GRANT SELECT ON filters TO crm_parity_app;

-- a workspace's lists, members, computed columns and list events, by name (ids differ)
-- (PL/pgSQL: Citus plans no parameter of a SQL function)
CREATE FUNCTION pg_temp.state(w bigint) RETURNS TABLE (name text, kind text, filter text, owner text, member_count bigint,
													   depends text, time_relative boolean, refreshed boolean, members text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT l.name, l.kind::text, l.filter::text, l.owner, l.member_count,
		   (SELECT string_agg(d.name, ',' ORDER BY d.name) FROM crm.lists d WHERE d.workspace_id = w AND d.id = ANY (l.depends_on)),
		   l.time_relative, l.refreshed_at IS NOT NULL,
		   (SELECT string_agg(c.name, ',' ORDER BY c.name) FROM crm.list_members m
			  JOIN crm.contacts c ON c.workspace_id = m.workspace_id AND c.id = m.contact_id
			 WHERE m.workspace_id = w AND m.list_id = l.id)
	  FROM crm.lists l WHERE l.workspace_id = w ORDER BY l.name;
END $$;
CREATE FUNCTION pg_temp.events(w bigint) RETURNS TABLE (type text, list text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT e.type, coalesce(e.payload ->> 'name', (SELECT l.name FROM crm.lists l WHERE l.workspace_id = w AND l.id = e.object_id)),
		   e.payload - 'id' - 'list_id' - 'object_id'
	  FROM crm.events e WHERE e.workspace_id = w AND e.type LIKE 'CRM_LIST%' AND e.id > (SELECT id FROM mark)
	 ORDER BY 1, 2, 3::text;
END $$;

-- create
SELECT pg_temp.use(f) FROM ws;
SELECT count(crm.create_list(f.name, 'contact', f.kind, f.filter)) FROM filters f;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SET LOCAL ROLE crm_parity_app;
INSERT INTO crm.lists (name, kind, filter) SELECT f.name, f.kind::crm.list_kind, f.filter FROM filters f WHERE f.name NOT IN ('vip saas', 'not picked', 'snap')
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
-- lists naming other lists come after them, as the functions above made them
INSERT INTO crm.lists (name, kind, filter) SELECT f.name, f.kind::crm.list_kind, f.filter FROM filters f WHERE f.name IN ('vip saas', 'not picked', 'snap')
	RETURNING 1;
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT results_eq('SELECT * FROM pg_temp.state((SELECT r FROM ws))', 'SELECT * FROM pg_temp.state((SELECT f FROM ws))',
				  'created: the same lists, computed columns and members');
SELECT ok((SELECT count(*) FROM pg_temp.state((SELECT f FROM ws)) WHERE members IS NOT NULL) >= 5, 'the lists have members');
SELECT results_eq('SELECT * FROM pg_temp.events((SELECT r FROM ws))', 'SELECT * FROM pg_temp.events((SELECT f FROM ws))',
				  'created: the same events');

-- static members, then a changed filter, a rename and an owner
SELECT pg_temp.use(f) FROM ws;
SELECT crm.add_to_list((SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'picked'),
					   ARRAY(SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND name IN ('p1', 'p4', 'p7')));
SELECT crm.set_list_filter((SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'saas'), 'company.industry = ''Retail'' AND tags CONTAINS ''vip''');
SELECT crm.update_list((SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'recent'), name => 'seen lately', owner => 'agent-1');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SET LOCAL ROLE crm_parity_app;
INSERT INTO crm.list_members (list_id, object_type, contact_id)
SELECT l.id, 'contact', c.id FROM crm.lists l JOIN crm.contacts c ON c.workspace_id = l.workspace_id
 WHERE l.name = 'picked' AND c.name IN ('p1', 'p4', 'p7')
	RETURNING 1;
UPDATE crm.lists SET filter = 'company.industry = ''Retail'' AND tags CONTAINS ''vip''' WHERE name = 'saas';
UPDATE crm.lists SET name = 'seen lately', owner = 'agent-1' WHERE name = 'recent';
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT results_eq('SELECT * FROM pg_temp.state((SELECT r FROM ws))', 'SELECT * FROM pg_temp.state((SELECT f FROM ws))',
				  'changed: the same lists, computed columns and members');
SELECT results_eq('SELECT * FROM pg_temp.events((SELECT r FROM ws))', 'SELECT * FROM pg_temp.events((SELECT f FROM ws))',
				  'changed: the same events');

-- records change: both workspaces follow
SELECT pg_temp.use(f) FROM ws;
UPDATE crm.contacts SET tags = '{vip}' WHERE workspace_id = crm.current_workspace() AND name IN ('p2', 'p5', 'p8');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SET LOCAL ROLE crm_parity_app;
UPDATE crm.contacts SET tags = '{vip}' WHERE name IN ('p2', 'p5', 'p8');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT results_eq('SELECT * FROM pg_temp.state((SELECT r FROM ws))', 'SELECT * FROM pg_temp.state((SELECT f FROM ws))',
				  'records changed: the same members');

-- refused alike: deleting a list a filter names, a filter that does not translate
SELECT pg_temp.use(f) FROM ws;
SELECT throws_ok(format('SELECT crm.delete_list(%s)', (SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'vip')),
				 '2BP01', 'cannot delete list "vip": the filters of "snap", "vip saas" name it', 'delete_list refuses');
SELECT throws_ok(format('SELECT crm.set_list_filter(%s, ''plna = 1'')', (SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'seats')),
				 '42703', 'unknown contact field "plna" at position 1', 'set_list_filter refuses');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SET LOCAL ROLE crm_parity_app;
SELECT throws_ok('DELETE FROM crm.lists WHERE name = ''vip''',
				 '2BP01', 'cannot delete list "vip": the filters of "snap", "vip saas" name it', 'a row DELETE refuses');
SELECT throws_ok('UPDATE crm.lists SET filter = ''plna = 1'' WHERE name = ''seats''',
				 '42703', 'unknown contact field "plna" at position 1', 'a row UPDATE refuses');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;

-- delete
SELECT pg_temp.use(f) FROM ws;
SELECT crm.delete_list(id) FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name IN ('vip saas', 'seats');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SET LOCAL ROLE crm_parity_app;
DELETE FROM crm.lists WHERE name IN ('vip saas', 'seats');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT results_eq('SELECT * FROM pg_temp.events((SELECT r FROM ws))', 'SELECT * FROM pg_temp.events((SELECT f FROM ws))',
				  'deleted: the same events, all along');

SELECT * FROM finish();
ROLLBACK;
