-- Lists: static, dynamic and snapshot lists, IN LIST, member counts and
-- events, merges and deletes, and every bad input (nothing written on error).
-- in a workspace of its own, so other tests' rows do not show up
SELECT crm.create_workspace('lists-test', 'Lists test') IS NOT NULL AS created;
SELECT crm.use_workspace('lists-test') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
CREATE TEMP TABLE events_mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
INSERT INTO crm.companies (id, name, industry) VALUES (1, 'Acme', 'SaaS'), (2, 'Globex', 'Retail');
INSERT INTO crm.contacts (id, name, email, tags, lifecycle_stage, last_seen_at) VALUES
	(1, 'Ada', 'ada@acme.com', '{vip}', 'customer', now() - interval '2 days'),
	(2, 'Bob', 'bob@globex.com', '{}', 'lead', now() - interval '40 days'),
	(3, 'Cy', 'cy@x.org', '{vip}', 'lead', NULL);
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (1, 1, true), (2, 2, true);

-- a view of every list for the output
CREATE TEMP VIEW shown AS
SELECT l.name, l.kind, l.member_count,
	   (SELECT array_agg(coalesce(m.contact_id, m.company_id) ORDER BY coalesce(m.contact_id, m.company_id)) FROM crm.list_members m
		 WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id) AS members,
	   l.depends_on <> '{}' AS uses_lists, l.time_relative
  FROM crm.lists l WHERE l.workspace_id = crm.current_workspace() ORDER BY l.name;

-- creating: a dynamic list computes its members at once
SELECT id AS vips FROM crm.create_list('VIPs', 'contact', 'dynamic', 'tags CONTAINS ''vip''') \gset
SELECT id AS saas FROM crm.create_list('SaaS people', 'contact', 'dynamic', 'company.industry = ''SaaS''', 'agent-7') \gset
SELECT id AS manual FROM crm.create_list('Hand-picked') \gset
SELECT id AS vip_not_manual FROM crm.create_list('VIPs not hand-picked', 'contact', 'dynamic',
	'IN LIST ''VIPs'' AND NOT IN LIST ''Hand-picked''') \gset
SELECT id AS recent FROM crm.create_list('Seen this month', 'contact', 'dynamic', 'lastSeenAt > NOW - 30d') \gset
SELECT id AS saas_cos FROM crm.create_list('SaaS companies', 'company', 'dynamic', 'industry = ''SaaS''') \gset
SELECT * FROM shown;

-- IN LIST translates to a semi-join on the list's members, by id
SELECT crm.cql_to_sql('contact', 'IN LIST ''VIPs''') = format(
	'EXISTS (SELECT 1 FROM crm.list_members lm1 WHERE lm1.workspace_id = contacts.workspace_id AND lm1.list_id = %s AND lm1.contact_id = contacts.id)', :vips) AS in_list_sql;
SELECT id, name FROM crm.find_contacts('NOT IN LIST ''VIPs''');

-- static lists: add, remove; adding again counts nothing
SELECT crm.add_to_list(:manual, ARRAY[1, 2]::bigint[]);
SELECT crm.add_to_list(:manual, ARRAY[1]::bigint[]);
SELECT object_type, object_id, source FROM crm.get_list_members(:manual);
SELECT * FROM shown;
SELECT crm.remove_from_list(:manual, ARRAY[2, 3]::bigint[]);

-- dynamic lists follow every write: the contact, its company, other lists
UPDATE crm.contacts SET tags = '{vip}' WHERE id = 2;
UPDATE crm.companies SET industry = 'SaaS' WHERE id = 2;
UPDATE crm.contacts SET city = 'Paris';   -- no filter reads city: nothing changes
SELECT * FROM shown;
-- soft delete leaves dynamic lists (find_contacts hides deleted contacts); static stays
SELECT crm.delete_contact(1);
SELECT * FROM shown;

-- merge: the duplicate's static memberships move to the survivor, dynamic ones are recomputed
SELECT crm.add_to_list(:manual, ARRAY[3]::bigint[]);
SELECT crm.merge_contacts(2, 3);
SELECT * FROM shown;
-- adding a merged contact adds its survivor
SELECT crm.remove_from_list(:manual, ARRAY[2]::bigint[]);
SELECT crm.add_to_list(:manual, ARRAY[3]::bigint[]);
SELECT object_type, object_id, source FROM crm.get_list_members(:manual);

-- hard delete removes memberships
INSERT INTO crm.contacts (id, name, tags) VALUES (5, 'Eve', '{vip}');
DELETE FROM crm.contacts WHERE id = 5;
SELECT * FROM shown WHERE name = 'VIPs';

-- a snapshot runs its filter once, then behaves as static
SELECT id AS snap FROM crm.create_list('VIP snapshot', 'contact', 'snapshot', 'tags CONTAINS ''vip''') \gset
INSERT INTO crm.contacts (id, name, tags) VALUES (6, 'Fay', '{vip}');
SELECT crm.add_to_list(:snap, ARRAY[6]::bigint[]);
SELECT * FROM shown WHERE kind = 'snapshot';

-- changing a filter recomputes in one statement; refresh finds nothing left to do
SELECT name, member_count FROM crm.set_list_filter(:vips, 'tags CONTAINS ''vip'' AND lifecycleStage = LEAD');
SELECT crm.refresh_list(:vips), crm.refresh_lists();
-- time moves on: refresh_lists brings clock filters up to date
UPDATE crm.contacts SET last_seen_at = now() - interval '20 days' WHERE id = 6;
SELECT * FROM shown WHERE name = 'Seen this month';
UPDATE crm.lists SET filter = 'lastSeenAt > NOW - 10d' WHERE id = :recent;   -- a row write recomputes at once
SELECT crm.refresh_lists();
SELECT * FROM shown WHERE name = 'Seen this month';

-- rename, owner, bulk_add_to_list and bulk_add_to_list_by_id
SELECT name, owner FROM crm.update_list(:saas, name => 'SaaS contacts', owner => 'agent-9');
SELECT id AS bulk FROM crm.create_list('Bulk') \gset
SELECT crm.bulk_add_to_list(:bulk, 'lifecycleStage = LEAD');
SELECT crm.bulk_add_to_list_by_id(:bulk, ARRAY[6]::bigint[]);
SELECT object_type, object_id, source FROM crm.get_list_members(:bulk);

-- events: one per real membership change, plus the lists' own
SELECT type, count(*) FROM crm.events WHERE id > (SELECT id FROM events_mark) AND type LIKE 'CRM_LIST%'
 GROUP BY 1 ORDER BY 1;
-- member counts are exact
SELECT count(*) AS wrong_counts FROM crm.lists l
 WHERE l.workspace_id = crm.current_workspace()
   AND l.member_count <> (SELECT count(*) FROM crm.list_members m WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id);

-- bad input: each a clear error, and nothing written
\set VERBOSITY default
-- another workspace's ids and lists are not visible
SELECT crm.create_workspace('lists-other', 'Other') IS NOT NULL AS created;
SELECT crm.use_workspace('lists-other') IS NOT NULL AS switched;
INSERT INTO crm.contacts (id, name) VALUES (100, 'Other person');
SELECT crm.use_workspace('lists-test') IS NOT NULL AS switched;
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM crm.lists) AS lists, (SELECT count(*) FROM crm.list_members) AS members,
	(SELECT count(*) FROM crm.events) AS events;
SELECT crm.create_list('VIPs');
SELECT crm.create_list('  ');
SELECT crm.create_list('x', 'deal');
SELECT crm.create_list('x', 'contact', 'smart');
SELECT crm.create_list('x', 'contact', 'static', 'tags CONTAINS ''vip''');
SELECT crm.create_list('x', 'contact', 'dynamic');
SELECT crm.create_list('x', 'contact', 'dynamic', 'tags CONTAINS');
SELECT crm.create_list('x', 'contact', 'dynamic', 'industry = ''SaaS''');
SELECT crm.create_list('x', 'company', 'dynamic', 'IN LIST ''VIPs''');
SELECT crm.create_list('x', 'contact', 'dynamic', 'IN LIST ''vips''');
SELECT crm.create_list('x', 'contact', 'dynamic', 'IN LIST ''Nope''');
SELECT crm.create_list('x', 'company', 'dynamic', 'EXISTS contacts(company.industry = ''SaaS'')');
SELECT crm.set_list_filter(:vips, 'IN LIST ''VIPs not hand-picked''');
SELECT crm.set_list_filter(:manual, 'tags CONTAINS ''vip''');
SELECT crm.set_list_filter(:snap, 'tags CONTAINS ''vip''');
SELECT crm.add_to_list(:vips, ARRAY[1]::bigint[]);
SELECT crm.remove_from_list(:vips, ARRAY[1]::bigint[]);
SELECT crm.bulk_add_to_list(:vips, '');
SELECT crm.add_to_list(:manual, ARRAY[1, 999]::bigint[]);
SELECT crm.add_to_list(:manual, NULL);
SELECT crm.bulk_add_to_list(:manual, NULL::text);
SELECT crm.add_to_list(999999, ARRAY[1]::bigint[]);
SELECT crm.get_list_members(999999);
SELECT crm.refresh_list(:manual);
SELECT crm.delete_list(:vips);
SELECT crm.update_list(:vips, name => 'Very important');
SELECT crm.update_list(:vips, name => 'Hand-picked');
-- another workspace's ids and lists are not visible
SELECT crm.use_workspace('lists-test') IS NOT NULL AS switched;
SELECT crm.add_to_list(:manual, ARRAY[100]::bigint[]);
SELECT crm.use_workspace('lists-other') IS NOT NULL AS switched;
SELECT crm.add_to_list(:manual, ARRAY[100]::bigint[]);
SELECT crm.cql_to_sql('contact', 'IN LIST ''VIPs''');
SELECT crm.use_workspace('lists-test') IS NOT NULL AS switched;
SELECT (SELECT count(*) FROM crm.lists) = b.lists AS no_list_written,
	   (SELECT count(*) FROM crm.list_members) = b.members AS no_member_written,
	   (SELECT count(*) FROM crm.events) = b.events AS no_event_written
  FROM before b;
\set VERBOSITY terse

-- deleting: a list another filter names goes after that filter changes
SELECT crm.delete_list(:vip_not_manual), crm.delete_list(:vips);
SELECT name, member_count FROM shown;

-- a finder's cached plan follows a list re-created under the same name
SELECT id AS again FROM crm.create_list('Again') \gset
SELECT crm.add_to_list(:again, ARRAY(SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND status = 'active' ORDER BY id LIMIT 1));
SELECT count(*) AS in_first FROM crm.find_contacts('IN LIST ''Again''');
SELECT crm.delete_list(:again);
SELECT id AS again FROM crm.create_list('Again') \gset
SELECT count(*) AS in_second FROM crm.find_contacts('IN LIST ''Again''');

-- the triggers read a record's memberships from the index alone where the
-- heap page is all-visible (after VACUUM, all of them): a member still leaves
-- and another joins
INSERT INTO crm.contacts (id, name, city, tags) VALUES (10, 'Di', 'Paris', '{vip}'), (11, 'Ed', 'Paris', '{}'), (12, 'Flo', 'Rome', '{vip}');
SELECT id AS paris_vips FROM crm.create_list('Paris VIPs', 'contact', 'dynamic', 'city = ''Paris'' AND tags CONTAINS ''vip''') \gset
SELECT name, member_count, members FROM shown WHERE name = 'Paris VIPs';
VACUUM crm.list_members;
UPDATE crm.contacts SET tags = '{}' WHERE workspace_id = crm.current_workspace() AND id = 10;
UPDATE crm.contacts SET tags = '{vip}' WHERE workspace_id = crm.current_workspace() AND id = 11;
SELECT name, member_count, members FROM shown WHERE name = 'Paris VIPs';

-- one statement moving a contact out of a list and another in writes both
-- halves at once; a statement that only adds, or only removes, writes its
-- half alone: each with its events and the count at commit
UPDATE crm.contacts SET tags = CASE id WHEN 10 THEN '{vip}' ELSE '{}' END::text[]
 WHERE workspace_id = crm.current_workspace() AND id IN (10, 11);
SELECT name, member_count, members FROM shown WHERE name = 'Paris VIPs';
UPDATE crm.contacts SET tags = '{vip}' WHERE workspace_id = crm.current_workspace() AND id = 11;
SELECT name, member_count, members FROM shown WHERE name = 'Paris VIPs';
UPDATE crm.contacts SET city = 'Rome' WHERE workspace_id = crm.current_workspace() AND id IN (10, 11);
SELECT name, member_count, members FROM shown WHERE name = 'Paris VIPs';
SELECT type, (payload->>'object_id')::bigint AS contact FROM crm.events
 WHERE workspace_id = crm.current_workspace() AND object_id = :paris_vips AND type LIKE 'CRM_LIST_MEMBER%'
 ORDER BY id DESC LIMIT 6;

-- ANALYZE (autovacuum's too) reads the filters: a cql value compares as text, with a collation
ANALYZE crm.lists, crm.list_members;
DELETE FROM crm.lists WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
-- merged contacts first: the others are their merged_into
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND status = 'merged';
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
SELECT crm.use_workspace('lists-other') IS NOT NULL AS switched;
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug IN ('lists-test', 'lists-other');
