-- Lists through the table: a frontend role (crm.grant_access) writing plain
-- rows of crm.lists and crm.list_members gets what the functions give --
-- the same checks and errors, computed columns, memberships and events --
-- and no row it can write makes a later, unrelated write fail.
SELECT crm.create_workspace('lists-rows', 'Lists rows') IS NOT NULL AS created;
SELECT crm.use_workspace('lists-rows') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
CREATE ROLE crm_lists_app;
SELECT crm.grant_access('crm_lists_app');
INSERT INTO crm.companies (id, name, industry) VALUES (1, 'Acme', 'SaaS');
-- ids far from what the identity sequence hands out
INSERT INTO crm.contacts (id, name, email, tags, lifecycle_stage) VALUES
	(901, 'Ada', 'ada@acme.com', '{vip}', 'customer'),
	(902, 'Bob', 'bob@x.org', '{}', 'lead'),
	(903, 'Cy', 'cy@x.org', '{vip}', 'lead');
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (901, 1, true);
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
GRANT SELECT ON mark TO crm_lists_app;

-- every list, its computed columns and members
CREATE TEMP VIEW shown AS
SELECT l.name, l.kind, l.filter, l.member_count, l.depends_on <> '{}' AS uses_lists, l.time_relative,
	   l.refreshed_at IS NOT NULL AS refreshed,
	   (SELECT array_agg(m.contact_id ORDER BY m.contact_id) FROM crm.list_members m
		 WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id) AS members
  FROM crm.lists l WHERE l.workspace_id = crm.current_workspace() ORDER BY l.name;
GRANT SELECT ON shown TO crm_lists_app;
-- the list events since the last look, without ids
CREATE TEMP VIEW list_events AS
SELECT e.type, e.payload - 'id' - 'list_id' - 'object_id' AS payload, e.payload ? 'object_id' AS has_member
  FROM crm.events e
 WHERE e.id > (SELECT id FROM mark) AND e.type LIKE 'CRM_LIST%' ORDER BY e.id;
GRANT SELECT ON list_events TO crm_lists_app;

-- the same three lists, once through the functions (as the owner) ...
SELECT name, kind, member_count FROM crm.create_list('F VIPs', 'contact', 'dynamic', 'tags CONTAINS ''vip''');
SELECT name, kind, member_count FROM crm.create_list('F VIP leads', 'contact', 'dynamic', 'IN LIST ''F VIPs'' AND lifecycleStage = LEAD');
SELECT name, kind, member_count FROM crm.create_list('F snapshot', 'contact', 'snapshot', 'company.industry = ''SaaS''');
SELECT * FROM list_events;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- ... and once as plain rows by the frontend role: the same rows, members and events
SET ROLE crm_lists_app;
INSERT INTO crm.lists (name, kind, filter) VALUES ('R VIPs', 'dynamic', 'tags CONTAINS ''vip''')
RETURNING name, kind, member_count, depends_on, time_relative, refreshed_at IS NOT NULL AS refreshed;
INSERT INTO crm.lists (name, kind, filter) VALUES ('R VIP leads', 'dynamic', 'IN LIST ''R VIPs'' AND lifecycleStage = LEAD');
INSERT INTO crm.lists (name, kind, filter) VALUES ('R snapshot', 'snapshot', 'company.industry = ''SaaS''');
SELECT * FROM list_events;
SELECT * FROM shown;
RESET ROLE;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- a filter changed by UPDATE is checked and recomputed at once, as set_list_filter does
SET ROLE crm_lists_app;
UPDATE crm.lists SET filter = 'lifecycleStage = LEAD' WHERE name = 'R VIPs' RETURNING name, member_count;
SELECT * FROM shown WHERE name LIKE 'R %';
RESET ROLE;
SELECT name, member_count FROM crm.set_list_filter((SELECT id FROM crm.lists WHERE name = 'F VIPs'), 'lifecycleStage = LEAD');
SELECT * FROM list_events;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- a PATCH that sends only what it changes, or the maintained columns unchanged, works
SET ROLE crm_lists_app;
UPDATE crm.lists SET owner = 'agent-7' WHERE name = 'R VIPs';
UPDATE crm.lists SET name = 'R snapshot 2', member_count = member_count, depends_on = depends_on, time_relative = time_relative
 WHERE name = 'R snapshot' RETURNING name, member_count;
SELECT * FROM list_events;

-- static lists through crm.list_members behave like add_to_list / remove_from_list
INSERT INTO crm.lists (name) VALUES ('R static') RETURNING kind, member_count;
INSERT INTO crm.list_members (list_id, contact_id)
SELECT id, c FROM crm.lists, unnest(ARRAY[901, 902]) c WHERE name = 'R static';
-- object_type follows from the id column: a company membership needs only company_id
INSERT INTO crm.lists (name, object_type) VALUES ('R companies', 'company');
INSERT INTO crm.list_members (list_id, company_id) SELECT id, 1 FROM crm.lists WHERE name = 'R companies'
RETURNING object_type, company_id;
DELETE FROM crm.list_members WHERE list_id = (SELECT id FROM crm.lists WHERE name = 'R static') AND contact_id = 902;
SELECT name, member_count, members FROM shown WHERE name = 'R static';
SELECT * FROM list_events;
RESET ROLE;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);

-- bad rows: each refused with the error the function gives, and nothing written
\set VERBOSITY default
-- (this workspace only: other tests write theirs at the same time)
CREATE TEMP VIEW now_written AS
SELECT (SELECT count(*) FROM crm.lists WHERE workspace_id = crm.current_workspace()) AS lists,
	   (SELECT count(*) FROM crm.list_members WHERE workspace_id = crm.current_workspace()) AS members,
	   (SELECT count(*) FROM crm.events WHERE workspace_id = crm.current_workspace()) AS events,
	   (SELECT string_agg(l::text, ';' ORDER BY id) FROM crm.lists l WHERE workspace_id = crm.current_workspace()) AS rows;
GRANT SELECT ON now_written TO crm_lists_app;
CREATE TEMP TABLE before AS SELECT * FROM now_written;
GRANT SELECT ON before TO crm_lists_app;
SET ROLE crm_lists_app;
-- a misspelt field: refused at write time with the translator's error
INSERT INTO crm.lists (name, kind, filter) VALUES ('Pro', 'dynamic', 'plna = ''pro''');
UPDATE crm.lists SET filter = 'plna = ''pro''' WHERE name = 'R VIP leads';
-- a list another list's filter names can be neither deleted nor renamed
DELETE FROM crm.lists WHERE name = 'R VIPs';
UPDATE crm.lists SET name = 'Very important' WHERE name = 'R VIPs';
-- names, object types, kinds and filters as create_list checks them
INSERT INTO crm.lists (name) VALUES ('R static');
INSERT INTO crm.lists (name) VALUES (' ');
INSERT INTO crm.lists (name, object_type) VALUES ('x', 'deal');
INSERT INTO crm.lists (name, filter) VALUES ('x', 'tags CONTAINS ''vip''');
INSERT INTO crm.lists (name, kind) VALUES ('x', 'dynamic');
INSERT INTO crm.lists (name, kind, filter) VALUES ('x', 'dynamic', 'IN LIST ''x''');
UPDATE crm.lists SET filter = 'IN LIST ''R VIP leads''' WHERE name = 'R VIPs';
INSERT INTO crm.lists (name, kind, object_type, filter) VALUES ('x', 'dynamic', 'company', 'EXISTS contacts(company.industry = ''SaaS'')');
-- what the table cannot change: kind, object type, a snapshot's or static list's filter
UPDATE crm.lists SET kind = 'static', filter = NULL WHERE name = 'R VIPs';
UPDATE crm.lists SET object_type = 'company' WHERE name = 'R static';
UPDATE crm.lists SET filter = 'tags CONTAINS ''vip''' WHERE name = 'R snapshot 2';
UPDATE crm.lists SET filter = 'tags CONTAINS ''vip''' WHERE name = 'R static';
UPDATE crm.lists SET filter = NULL WHERE name = 'R VIPs';
-- maintained columns: another value is refused
UPDATE crm.lists SET member_count = 999 WHERE name = 'R VIPs';
INSERT INTO crm.lists (name, member_count) VALUES ('x', 5);
UPDATE crm.lists SET depends_on = '{1}' WHERE name = 'R static';
UPDATE crm.lists SET time_relative = true WHERE name = 'R VIPs';
UPDATE crm.lists SET refreshed_at = now() - interval '1 day' WHERE name = 'R VIPs';
-- a row of another workspace: refused before any check answers about it
INSERT INTO crm.lists (workspace_id, name, kind, filter) VALUES (1, 'x', 'dynamic', 'IN LIST ''nope''');
-- a member written by hand into a dynamic list would vanish: refused
INSERT INTO crm.list_members (list_id, object_type, contact_id)
SELECT id, 'contact', 901 FROM crm.lists WHERE name = 'R VIPs';
UPDATE crm.list_members SET list_id = (SELECT id FROM crm.lists WHERE name = 'R VIPs')
 WHERE list_id = (SELECT id FROM crm.lists WHERE name = 'R static');
SELECT n.lists = b.lists AS no_list_written, n.members = b.members AS no_member_written,
	   n.events = b.events AS no_event_written, n.rows = b.rows AS no_row_changed
  FROM now_written n, before b;
-- nothing refused above wedged the workspace: contacts are written as before
INSERT INTO crm.contacts (id, name, tags, lifecycle_stage) VALUES (904, 'Di', '{vip}', 'lead');
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE id = 902;
RESET ROLE;
SELECT crm.identify(email => 'eve@x.org', name => 'Eve') IS NOT NULL AS identified;
SELECT name, member_count, members FROM shown WHERE kind = 'dynamic';

-- the frontend's row updates of contacts: one statement taking a contact out
-- of the lead lists and putting another in, one that only adds, one that
-- only removes (which leaves the members as they were)
UPDATE mark SET id = (SELECT max(id) FROM crm.events);
SET ROLE crm_lists_app;
UPDATE crm.contacts SET lifecycle_stage = CASE id WHEN 902 THEN 'lead' ELSE 'customer' END::crm.lifecycle_stage
 WHERE id IN (902, 903);
SELECT name, member_count, members FROM shown WHERE kind = 'dynamic';
UPDATE crm.contacts SET lifecycle_stage = 'lead' WHERE id = 903;
SELECT name, member_count, members FROM shown WHERE kind = 'dynamic';
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE id = 902;
SELECT name, member_count, members FROM shown WHERE kind = 'dynamic';
SELECT type, payload->>'object_type' AS object_type, has_member FROM list_events;
RESET ROLE;

-- property definitions a dynamic filter names: drop_property and a row
-- DELETE are refused alike, naming the lists
SELECT crm.define_property('contact', 'seats', 'number') IS NOT NULL AS defined;
SET ROLE crm_lists_app;
INSERT INTO crm.lists (name, kind, filter) VALUES ('Many seats', 'dynamic', 'seats > 10'), ('Few seats', 'dynamic', 'seats < 3');
SELECT crm.drop_property('contact', 'seats');
DELETE FROM crm.property_definitions WHERE object_type = 'contact' AND key = 'seats';
UPDATE crm.property_definitions SET type = 'text' WHERE object_type = 'contact' AND key = 'seats';
SELECT count(*) AS still_defined FROM crm.property_definitions WHERE key = 'seats';
-- once the lists go, the property may go
DELETE FROM crm.lists WHERE name IN ('Many seats', 'Few seats');
DELETE FROM crm.property_definitions WHERE object_type = 'contact' AND key = 'seats';
\set VERBOSITY terse

-- deleting a list and the list that names it in one statement is fine
RESET ROLE;
UPDATE mark SET id = (SELECT max(id) FROM crm.events);
SET ROLE crm_lists_app;
DELETE FROM crm.lists WHERE name IN ('R VIPs', 'R VIP leads');
SELECT * FROM list_events ORDER BY payload ->> 'name';   -- deleted in the heap's order
-- and through the function, in order
RESET ROLE;
SELECT crm.delete_list(id) FROM crm.lists WHERE name = 'F VIP leads';
SELECT crm.delete_list(id) FROM crm.lists WHERE name = 'F VIPs';
SELECT name FROM shown;

-- member_count is written at commit without the executor (src/lists_counts.c):
-- 120 static lists fill their pages, so most of the counts' new row versions
-- go to another page, with new index entries; a frontend's one INSERT puts a
-- contact in every list, and every count and index lookup is right after it
RESET ROLE;
INSERT INTO crm.lists (name) SELECT 'C full ' || g FROM generate_series(1, 120) g;
SET ROLE crm_lists_app;
INSERT INTO crm.list_members (list_id, contact_id)
SELECT l.id, 902 FROM crm.lists l WHERE l.name LIKE 'C full %';
SELECT count(*) AS lists, min(member_count), max(member_count) FROM crm.lists WHERE name LIKE 'C full %';
-- found by each of the table's indexes, as an index scan finds them
RESET ROLE;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FILTER (WHERE l2.id IS NOT NULL) AS by_key, count(*) FILTER (WHERE l3.id IS NOT NULL) AS by_name
  FROM crm.lists l
  LEFT JOIN crm.lists l2 ON l2.workspace_id = l.workspace_id AND l2.id = l.id AND l2.member_count = 1
  LEFT JOIN crm.lists l3 ON l3.workspace_id = l.workspace_id AND l3.name = l.name AND l3.visibility = 'workspace'
 WHERE l.name LIKE 'C full %';
RESET enable_seqscan;
RESET enable_bitmapscan;
SET ROLE crm_lists_app;
DELETE FROM crm.list_members m USING crm.lists l
 WHERE l.id = m.list_id AND l.name LIKE 'C full %' AND split_part(l.name, ' ', 3)::int % 2 = 0;
SELECT member_count, count(*) FROM crm.lists WHERE name LIKE 'C full %' GROUP BY 1 ORDER BY 1;
-- PostgREST's upsert (on_conflict=workspace_id,list_id,contact_id, ignore-duplicates)
-- names the contacts' key, whose columns run (workspace_id, contact_id, list_id)
INSERT INTO crm.list_members (list_id, contact_id)
SELECT l.id, 902 FROM crm.lists l WHERE l.name IN ('C full 1', 'C full 2')
ON CONFLICT (workspace_id, list_id, contact_id) DO NOTHING
RETURNING (SELECT name FROM crm.lists WHERE id = list_id);
-- without it, the duplicate is the key's 23505
INSERT INTO crm.list_members (list_id, contact_id) SELECT l.id, 902 FROM crm.lists l WHERE l.name = 'C full 1';
RESET ROLE;
DELETE FROM crm.lists WHERE name LIKE 'C full %';

-- nothing in schema crm is named like a table or view (PostGraphile refuses to start)
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'crm'
   AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = p.proname AND c.relkind IN ('r', 'v', 'm', 'p', 'f'));
-- every maintained column of crm.lists has a default (a generated API treats it as optional)
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS default_value FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'crm.lists'::regclass AND a.attname IN ('member_count', 'depends_on', 'time_relative', 'refreshed_at')
 ORDER BY a.attnum;

DELETE FROM crm.lists WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'lists-rows';
DROP OWNED BY crm_lists_app;
DROP ROLE crm_lists_app;
