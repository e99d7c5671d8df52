-- The SQL API of CQL: the crm.cql type, cql_check, find_*, count, count_by,
-- order_by validation, the catalogue, and the bounds on hostile input.
SET TimeZone = 'UTC';

-- the catalogue's enum values are exactly those of the SQL enum types
SELECT f.entity, f.field, f.enum_values = array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS matches_sql_enum
  FROM crm.cql_fields() f
  JOIN pg_attribute a ON a.attrelid = crm_hidden.cql_table(f.entity)::regclass AND a.attname = f.column_name
  JOIN pg_enum e ON e.enumtypid = a.atttypid
 WHERE f.type = 'enum'
 GROUP BY f.entity, f.field, f.enum_values
 ORDER BY 1, 2;
-- and every catalogue field is a column of the entity's table, but the computed
-- ones: a deal's health (crm.deal_health)
SELECT f.entity, f.field
  FROM crm.cql_fields() f
 WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
					WHERE a.attrelid = crm_hidden.cql_table(f.entity)::regclass AND a.attname = f.column_name
					  AND NOT a.attisdropped);
SELECT f.enum_values = enum_range(NULL::crm.deal_health)::text[] AS health_matches_sql_enum, f.sortable
  FROM crm.cql_fields() f WHERE f.entity = 'deal' AND f.field = 'health';

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
INSERT INTO crm.contacts (id, name, email) VALUES (5, 'Ada Dup', 'ada2@acme.com'), (6, 'Gone', NULL);
SELECT FROM crm.merge_contacts(1, 5);
UPDATE crm.contacts SET status = 'deleted' WHERE id = 6;
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
-- NULL entity or field: a clear error, not a NULL statement for EXECUTE
SELECT crm.count(NULL);
SELECT * FROM crm.count_by(NULL, '', 'name');
SELECT * FROM crm.count_by('contact', '', NULL);

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

-- deals, orders and custom object records
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.deals (id, title, contact_id, company_id, value, currency, expected_close_date, priority, stage_entered_at) VALUES
	(1, 'Acme renewal', 1, 1, 5000, 'USD', '2024-06-30', 'high', '2024-01-02'),
	(2, 'Globex pilot', 2, 2, 800, 'EUR', '2024-03-31', 'low', '2024-01-02'),
	(3, 'Ada upsell', 1, 1, 1200, 'USD', NULL, 'medium', '2024-01-02');
SELECT 1 AS won FROM crm.win_deal(1, closed_at => '2024-05-01');
SELECT id, title, status, value FROM crm.find_deals('stage = WON OR value < 1000', 'value DESC');
SELECT id, title FROM crm.find_deals('contact.email = ''ada@acme.com'' AND stage != WON');
SELECT id, title FROM crm.find_deals('expectedCloseDate < 2024-06-01 OR expectedCloseDate IS NULL', 'expectedCloseDate DESC');
SELECT * FROM crm.count_by('deal', '', 'stage.name');
INSERT INTO crm.orders (contact_id, deal_id, value, currency, status, order_date) VALUES
	(1, 1, 300, 'USD', 'paid', '2024-05-02'), (1, NULL, 200, 'USD', 'paid', '2024-05-20'),
	(1, NULL, 999, 'EUR', 'paid', '2024-05-21'), (2, NULL, 50, 'USD', 'pending', '2024-04-01');
SELECT value, currency FROM crm.find_orders('status = PAID AND contact.name STARTS WITH ''Ada''', 'orderDate');
-- totalPaid counts paid orders in the workspace currency (USD): 300 + 200, not the EUR one
SELECT id, name FROM crm.find_contacts('orders.totalPaid = 500 AND orders.count = 3 AND orders.lastOrderDate >= 2024-05-21');
SELECT id, name FROM crm.find_companies('EXISTS deals(status = OPEN AND value > 1000)');
SELECT crm.create_object_type('course', 'Course', primary_property => 'title') > 0 AS course;
SELECT crm.define_property('course', 'title', 'text') > 0 AS title,
	   crm.define_property('course', 'hours', 'number') > 0 AS hours;
SELECT crm.create_record('course', '{"title": "SQL 101", "hours": 12}') AS sql101 \gset
SELECT crm.create_record('course', '{"title": "C for cooks", "hours": 4}') AS c4c \gset
SELECT crm.associate(:sql101, 'contact', 1, 'student') > 0 AS a1, crm.associate(:c4c, 'contact', 2, 'teacher') > 0 AS a2;
SELECT display_name FROM crm.find_records('course', 'hours >= 10 OR EXISTS contacts(name = ''Bob Stone'')', 'hours DESC');
SELECT id, name FROM crm.find_contacts('associated(course, label = ''student'')');
SELECT crm.count('course', 'title CONTAINS ''sql''');
SELECT * FROM crm.find_records('nosuch');
SELECT * FROM crm.find_records('deal');

-- cached translations follow definition changes: a bare name that was
-- unknown becomes a typed property once declared, and the reverse
SELECT count(*) FROM crm.find_contacts('tier = ''gold''');
SELECT crm.define_property('contact', 'tier', 'select', options => ARRAY['gold', 'silver']) > 0 AS tier;
UPDATE crm.contacts SET properties = properties || '{"tier": "gold"}' WHERE id = 1;
SELECT id FROM crm.find_contacts('tier = ''gold''');
SELECT id FROM crm.find_contacts('tier = GOLD');
UPDATE crm.contacts SET properties = properties - 'tier' WHERE id = 1;
SELECT crm.drop_property('contact', 'tier');
SELECT count(*) FROM crm.find_contacts('tier = ''gold''');
SELECT count(*) AS cached FROM crm.find_records('course', 'hours > 1', 'id', 1);
DELETE FROM crm.object_associations WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.object_records WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.property_definitions WHERE workspace_id = crm.current_workspace() AND object_type = 'course';
DELETE FROM crm.object_types WHERE workspace_id = crm.current_workspace();
SELECT * FROM crm.find_records('course', 'hours > 1', 'id', 1);

-- bulk actions on deals: fields by CQL name; moving by stage records history
SELECT crm.bulk_update('deal', 'status = OPEN', '{"owner": "sam", "priority": "urgent"}');
SELECT crm.bulk_update_by_id('deal', ARRAY[2]::bigint[], jsonb_build_object('stageId', (SELECT s.id FROM crm.stages s JOIN crm.deals d ON d.workspace_id = s.workspace_id AND d.pipeline_id = s.pipeline_id WHERE d.id = 2 AND d.workspace_id = crm.current_workspace() AND s.kind = 'lost')));
SELECT id, owner, priority, status FROM crm.deals WHERE workspace_id = crm.current_workspace() ORDER BY id;
SELECT count(*) AS stage_history FROM crm.deal_stage_history WHERE workspace_id = crm.current_workspace() AND deal_id = 2;
SELECT crm.bulk_update('deal', 'status = OPEN', '{"status": "won"}');
SELECT crm.bulk_tag('deal', 'status = OPEN', ARRAY['x']);

-- leave the shared regression database as we found it
-- (rows first: deleting a workspace cascades to rows whose triggers log events)
DELETE FROM crm.orders WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.deal_stage_history WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.deals WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'cql-test';
DELETE FROM crm.workspaces WHERE slug = 'cql-other';
DROP TABLE saved_filters;
