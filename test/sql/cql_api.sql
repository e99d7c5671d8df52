-- The SQL API of CQL: the crm.cql type, cql_check, find_*, count, count_by,
-- order_by validation, the catalogue, and the bounds on hostile input.
SET TimeZone = 'UTC';

-- the catalogue's enum values are exactly those of the SQL enum types
SELECT f.entity, f.field, f.enum_values = array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS matches_sql_enum
  FROM crm.cql_fields() f
  JOIN pg_attribute a ON a.attrelid = crm.cql_table(f.entity)::regclass AND a.attname = f.column_name
  JOIN pg_enum e ON e.enumtypid = a.atttypid
 WHERE f.type = 'enum'
 GROUP BY f.entity, f.field, f.enum_values
 ORDER BY 1, 2;
-- and every catalogue field is a column of the entity's table
SELECT f.entity, f.field
  FROM crm.cql_fields() f
 WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
					WHERE a.attrelid = crm.cql_table(f.entity)::regclass AND a.attname = f.column_name
					  AND NOT a.attisdropped);

-- the type: stored filters always parse
CREATE TABLE saved_filters (name text, filter crm.cql);
INSERT INTO saved_filters VALUES ('vips', 'tags CONTAINS ''vip'' AND status = ACTIVE');
SELECT name, filter, filter::text = 'tags CONTAINS ''vip'' AND status = ACTIVE' AS same_text FROM saved_filters;
-- bad input: a syntax error with position and hint, and nothing stored
\set VERBOSITY default
INSERT INTO saved_filters VALUES ('broken', 'status = ');
INSERT INTO saved_filters VALUES ('broken', 'name = ''x');
SELECT count(*) AS still_one FROM saved_filters;
-- the type checks syntax only: fields are checked when translated for an entity
SELECT 'nosuchfield = 1'::crm.cql;
SELECT crm.cql_to_sql('contact', 'nosuchfield = 1'::crm.cql);

-- cql_check: valid, or the error an editor can show
SELECT * FROM crm.cql_check('contact', 'lifecycleStage IN (LEAD, CUSTOMER)');
SELECT * FROM crm.cql_check('contact', 'lifecycleStag = LEAD');
SELECT * FROM crm.cql_check('contact', 'conversationCount > ''many''');
SELECT * FROM crm.cql_check('company', 'name = ');

-- bounds: a 1 MB query and 10,000 nested parentheses are clean errors
SELECT crm.cql_to_sql('contact', 'name = ''' || repeat('x', 1000000) || '''');
SELECT crm.cql_to_sql('contact', repeat('(', 10000) || 'name = ''x''' || repeat(')', 10000));
SELECT crm.cql_to_sql('contact', repeat('NOT ', 10000) || 'name = ''x''');
SELECT crm.cql_to_sql('contact', 'id IN (' || (SELECT string_agg(g::text, ',') FROM generate_series(1, 1001) g) || ')');
SELECT '((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x = 1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))'::crm.cql;
-- just inside the bounds works
SELECT length(crm.cql_to_sql('contact', repeat('(', 60) || 'name = ''x''' || repeat(')', 60))) > 0 AS ok;

-- in a workspace of its own, so other tests' rows do not show up
SELECT crm.create_workspace('cql-test', 'CQL test') IS NOT NULL AS created;
SELECT crm.use_workspace('cql-test') IS NOT NULL AS switched;
-- data for the finders
INSERT INTO crm.companies (id, name, domain, industry, employees) VALUES
	(1, 'Acme', 'acme.com', 'SaaS', 120), (2, 'Globex', 'globex.com', 'Retail', 15);
INSERT INTO crm.contacts (id, name, email, city, lifecycle_stage, tags, properties, created_at) VALUES
	(1, 'Ada Lovelace', 'ada@acme.com', 'London', 'customer', '{vip,newsletter}', '{"plan": "pro", "seats": 12}', '2024-01-15'),
	(2, 'Bob Stone', 'bob@globex.com', 'Paris', 'lead', '{newsletter}', '{"plan": "free"}', '2024-02-01'),
	(3, 'Cy Young', 'cy@example.org', 'Paris', NULL, '{}', '{}', '2024-03-10'),
	(4, 'Di Archive', 'di@example.org', 'Rome', 'lead', '{vip}', '{}', '2024-03-11');
INSERT INTO crm.contacts (id, name, email, status, merged_into) VALUES (5, 'Ada Dup', 'ada2@acme.com', 'merged', 1);
INSERT INTO crm.contacts (id, name, status, deleted_at) VALUES (6, 'Gone', 'deleted', now());
SELECT crm.link_company(1, 1, 'CTO', true), crm.link_company(2, 2, NULL, true), crm.link_company(3, 1, NULL, false);

-- find_contacts: default hides merged and deleted ones
SELECT id, name FROM crm.find_contacts();
SELECT id, name FROM crm.find_contacts('tags CONTAINS ''VIP''');
SELECT id, name FROM crm.find_contacts('city = ''Paris'' OR properties.seats > 10', 'name DESC');
SELECT id, name FROM crm.find_contacts('company.industry = ''SaaS''');
SELECT id, name FROM crm.find_contacts('EXISTS companies(employees > 100)');
SELECT id, name FROM crm.find_contacts('createdAt BETWEEN 2024-01-01 AND 2024-02-01', 'createdAt DESC');
-- ... unless the query names status
SELECT id, name, status FROM crm.find_contacts('status IN (merged, deleted)');
SELECT id, name FROM crm.find_contacts('status != archived', 'id');
-- ordering and paging
SELECT id, name FROM crm.find_contacts('', 'city ASC, name DESC', 2, 1);
SELECT id, name FROM crm.find_contacts('', 'properties.plan DESC, id', 10);
SELECT id, name FROM crm.find_companies('COUNT(contacts()) >= 2');
SELECT id, name FROM crm.find_companies('', 'employees');

-- count and count_by
SELECT crm.count('contact', 'lifecycleStage = LEAD'), crm.count('contact'), crm.count('company', 'industry = ''SaaS''');
SELECT * FROM crm.count_by('contact', '', 'lifecycleStage');
SELECT * FROM crm.count_by('contact', '', 'tags');
SELECT * FROM crm.count_by('contact', 'city = ''Paris''', 'company.name');
SELECT * FROM crm.count_by('contact', '', 'properties.plan');

-- the finders only see the current workspace
SELECT crm.create_workspace('cql-other', 'Other') IS NOT NULL AS created;
SELECT crm.use_workspace('cql-other') IS NOT NULL AS switched;
SELECT count(*) AS other_workspace_sees FROM crm.find_contacts();
SELECT crm.count('contact');
SELECT crm.use_workspace('cql-test') IS NOT NULL AS switched_back;

-- bad input to the finders
SELECT * FROM crm.find_contacts('', 'tags');
SELECT * FROM crm.find_contacts('', 'nmae');
SELECT * FROM crm.find_contacts('', 'name, city, email, phone');
SELECT * FROM crm.find_contacts('', 'name; DROP TABLE crm.contacts');
SELECT * FROM crm.find_contacts('', 'name SIDEWAYS');
SELECT * FROM crm.find_contacts('', 'id', -1);
SELECT * FROM crm.find_contacts('', 'id', 10, -5);
SELECT * FROM crm.find_contacts('name = 5');
SELECT crm.count('deal', '');
SELECT * FROM crm.count_by('contact', '', 'nosuch');
SELECT * FROM crm.count_by('contact', '', 'name = 1');

-- leave the shared regression database as we found it
-- (rows first: deleting a workspace cascades to rows whose triggers log events)
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'cql-test';
DELETE FROM crm.workspaces WHERE slug = 'cql-other';
DROP TABLE saved_filters;
