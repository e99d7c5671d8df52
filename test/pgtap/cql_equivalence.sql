-- crm.find_*(cql) (contacts, companies, deals, orders, custom object
-- records) return exactly the rows of the hand-written SQL for the same question, over generated data.
BEGIN;
SELECT plan(74);
SET LOCAL TimeZone = 'Europe/Paris';
SET LOCAL pg_trgm.similarity_threshold = 0.3;

-- the rows a hand-written question selects (made first: Citus creates no
-- function after a parallel operation on a distributed table in a transaction)
CREATE FUNCTION pg_temp.matches(entity text, hand text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s WHERE workspace_id = 1 AND %s', crm_hidden.cql_table(entity), hand) INTO n;
	RETURN n;
END $$;

INSERT INTO crm.companies (name, domain, industry, employees, tags, properties)
SELECT 'Company ' || g, 'c' || g || '.example', (ARRAY['SaaS', 'Retail', 'Bank', NULL])[1 + g % 4],
	   g * 7 % 500, CASE WHEN g % 3 = 0 THEN '{partner}'::text[] ELSE '{}' END,
	   jsonb_build_object('tier', (ARRAY['gold', 'silver'])[1 + g % 2])
  FROM generate_series(1, 50) g;

INSERT INTO crm.contacts (name, email, city, lifecycle_stage, status, deleted_at, tags, properties,
						  created_at, last_seen_at, blocked, conversation_count)
SELECT 'Person ' || g, 'p' || g || '@ex.org',
	   (ARRAY['Paris', 'London', 'Rome', NULL, ''])[1 + g % 5],
	   (ARRAY['subscriber', 'lead', 'marketing_qualified', 'sales_qualified', 'opportunity',
			  'customer', 'evangelist', 'other', NULL])[1 + g % 9]::crm.lifecycle_stage,
	   CASE g % 20 WHEN 0 THEN 'archived' ELSE 'active' END::crm.contact_status, NULL,
	   (ARRAY['{}', '{vip}', '{newsletter}', '{vip,newsletter}', '{trial}', '{vip,trial}'])[1 + g % 6]::text[],
	   CASE g % 5
		   WHEN 0 THEN '{}'::jsonb
		   WHEN 1 THEN jsonb_build_object('plan', 'pro', 'seats', g % 30, 'courses', jsonb_build_array('sql', 'c'))
		   WHEN 2 THEN jsonb_build_object('plan', 'free', 'seats', (g % 30)::text)
		   WHEN 3 THEN jsonb_build_object('plan', 'team', 'seats', g % 30, 'courses', 'intro to sql')
		   ELSE jsonb_build_object('plan', NULL, 'courses', jsonb_build_array('c'))
	   END,
	   now() - (g % 400) * interval '1 day' - (g % 24) * interval '1 hour',
	   CASE WHEN g % 4 <> 0 THEN now() - (g % 90) * interval '1 day' END,
	   g % 11 = 0, g % 7
  FROM generate_series(1, 2000) g;
-- one in twenty deleted, as a row update deletes (the keys are released)
UPDATE crm.contacts SET status = 'deleted' WHERE name LIKE 'Person %' AND substring(name FROM 8)::int % 20 = 1;

-- contacts: primary company for two of three, a second company for one of seven
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, co.id, true
  FROM crm.contacts c JOIN crm.companies co ON co.workspace_id = c.workspace_id AND co.name = 'Company ' || (1 + c.id % 50)
 WHERE c.workspace_id = 1 AND c.id % 3 <> 0;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, co.id, false
  FROM crm.contacts c JOIN crm.companies co ON co.workspace_id = c.workspace_id AND co.name = 'Company ' || (1 + (c.id + 7) % 50)
 WHERE c.workspace_id = 1 AND c.id % 7 = 0
   AND NOT EXISTS (SELECT 1 FROM crm.contact_companies x WHERE x.workspace_id = c.workspace_id AND x.contact_id = c.id AND x.company_id = co.id);

CREATE TEMP TABLE pairs (n int, entity text, cql text, hand text);
INSERT INTO pairs VALUES
	(1, 'contact', 'lifecycleStage IN (LEAD, CUSTOMER)', 'status < ''merged'' AND lifecycle_stage IN (''lead'', ''customer'')'),
	(2, 'contact', 'lifecycleStage > lead', 'status < ''merged'' AND lifecycle_stage > ''lead'''),
	(3, 'contact', 'city = ''Paris''', 'status < ''merged'' AND city = ''Paris'''),
	(4, 'contact', 'city IS EMPTY', 'status < ''merged'' AND (city IS NULL OR city = '''')'),
	(5, 'contact', 'city IS NOT NULL AND NOT city = ''Rome''', 'status < ''merged'' AND city <> ''Rome'''),
	(6, 'contact', 'name STARTS WITH ''person 1''', 'status < ''merged'' AND lower(name) LIKE ''person 1%'''),
	(7, 'contact', 'email ENDS WITH ''7@EX.ORG''', 'status < ''merged'' AND right(email, 8) = ''7@ex.org'''),
	(8, 'contact', 'name CONTAINS ''son 19''', 'status < ''merged'' AND strpos(name, ''son 19'') > 0'),
	(9, 'contact', 'tags CONTAINS ''vip''', 'status < ''merged'' AND ''vip'' = ANY (tags)'),
	(10, 'contact', 'tags IN (''VIP'', ''trial'')', 'status < ''merged'' AND (''vip'' = ANY (tags) OR ''trial'' = ANY (tags))'),
	(11, 'contact', 'tags ALL (''vip'', ''newsletter'')', 'status < ''merged'' AND ''vip'' = ANY (tags) AND ''newsletter'' = ANY (tags)'),
	(12, 'contact', 'tags IS EMPTY', 'status < ''merged'' AND tags = ''{}'''),
	(13, 'contact', 'NOT tags CONTAINS ''vip''', 'status < ''merged'' AND NOT ''vip'' = ANY (tags)'),
	(14, 'contact', 'properties.plan = ''pro''', 'status < ''merged'' AND properties ->> ''plan'' = ''pro'''),
	(15, 'contact', 'properties.plan != ''pro''', 'status < ''merged'' AND properties ->> ''plan'' <> ''pro'''),
	(16, 'contact', 'properties.seats > 20', 'status < ''merged'' AND jsonb_typeof(properties -> ''seats'') = ''number'' AND (properties ->> ''seats'')::numeric > 20'),
	(17, 'contact', 'properties.seats BETWEEN 5 AND 10', 'status < ''merged'' AND jsonb_typeof(properties -> ''seats'') = ''number'' AND (properties ->> ''seats'')::numeric BETWEEN 5 AND 10'),
	(18, 'contact', 'properties.seats = ''12''', 'status < ''merged'' AND properties -> ''seats'' = ''"12"''::jsonb'),
	(19, 'contact', 'HAS properties.plan', 'status < ''merged'' AND properties ? ''plan'''),
	(20, 'contact', 'properties.plan IS NULL', 'status < ''merged'' AND (properties ->> ''plan'') IS NULL'),
	(21, 'contact', 'properties.courses CONTAINS ''sql''', 'status < ''merged'' AND (properties -> ''courses'' @> ''["sql"]'' OR (jsonb_typeof(properties -> ''courses'') = ''string'' AND properties ->> ''courses'' ILIKE ''%sql%''))'),
	(22, 'contact', 'createdAt > NOW - 30d', 'status < ''merged'' AND created_at > now() - interval ''30 days'''),
	(23, 'contact', 'createdAt = LAST_N_DAYS:7', 'status < ''merged'' AND created_at::date BETWEEN current_date - 7 AND current_date'),
	(24, 'contact', 'createdAt = THIS_MONTH', 'status < ''merged'' AND date_trunc(''month'', created_at) = date_trunc(''month'', now())'),
	(25, 'contact', 'createdAt = LAST_MONTH', 'status < ''merged'' AND date_trunc(''month'', created_at) = date_trunc(''month'', now()) - interval ''1 month'''),
	(26, 'contact', 'createdAt = N_DAYS_AGO:3', 'status < ''merged'' AND created_at::date = current_date - 3'),
	(27, 'contact', 'createdAt < THIS_YEAR', 'status < ''merged'' AND extract(year FROM created_at) < extract(year FROM now())'),
	(28, 'contact', 'lastSeenAt = YESTERDAY', 'status < ''merged'' AND last_seen_at::date = current_date - 1'),
	(29, 'contact', 'lastSeenAt IS NULL', 'status < ''merged'' AND last_seen_at IS NULL'),
	(30, 'contact', 'blocked = true', 'status < ''merged'' AND blocked'),
	(31, 'contact', 'conversationCount BETWEEN 2 AND 4', 'status < ''merged'' AND conversation_count IN (2, 3, 4)'),
	(32, 'contact', 'company.industry = ''SaaS''', 'status < ''merged'' AND EXISTS (SELECT 1 FROM crm.contact_companies cc JOIN crm.companies co ON co.workspace_id = 1 AND co.id = cc.company_id WHERE cc.workspace_id = 1 AND cc.contact_id = contacts.id AND cc.is_primary AND co.industry = ''SaaS'')'),
	(33, 'contact', 'company.industry IS NULL', 'status < ''merged'' AND NOT EXISTS (SELECT 1 FROM crm.contact_companies cc JOIN crm.companies co ON co.workspace_id = 1 AND co.id = cc.company_id WHERE cc.workspace_id = 1 AND cc.contact_id = contacts.id AND cc.is_primary AND co.industry IS NOT NULL)'),
	(34, 'contact', 'EXISTS companies(tags CONTAINS ''partner'')', 'status < ''merged'' AND id IN (SELECT cc.contact_id FROM crm.contact_companies cc JOIN crm.companies co ON co.workspace_id = 1 AND co.id = cc.company_id WHERE cc.workspace_id = 1 AND ''partner'' = ANY (co.tags))'),
	(35, 'contact', 'COUNT(companies()) >= 2', 'status < ''merged'' AND id IN (SELECT contact_id FROM crm.contact_companies WHERE workspace_id = 1 GROUP BY contact_id HAVING count(*) >= 2)'),
	(36, 'contact', '(city = ''Paris'' OR city = ''London'') AND NOT lifecycleStage = CUSTOMER', 'status < ''merged'' AND city IN (''Paris'', ''London'') AND lifecycle_stage <> ''customer'''),
	(37, 'contact', 'status IN (archived, deleted)', 'status IN (''archived'', ''deleted'')'),
	(38, 'contact', 'status = ACTIVE OR tags CONTAINS ''vip''', '(status = ''active'' OR ''vip'' = ANY (tags))'),
	(39, 'contact', 'name ~ ''Persn 12''', 'status < ''merged'' AND similarity(name, ''Persn 12'') >= 0.3'),
	(40, 'contact', 'id IN (3, 5, 8) OR email = ''p13@ex.org''', 'status < ''merged'' AND (id IN (3, 5, 8) OR email = ''p13@ex.org'')'),
	(41, 'company', 'EXISTS contacts(lifecycleStage = CUSTOMER AND tags CONTAINS ''vip'')', 'id IN (SELECT cc.company_id FROM crm.contact_companies cc JOIN crm.contacts p ON p.workspace_id = 1 AND p.id = cc.contact_id WHERE cc.workspace_id = 1 AND p.lifecycle_stage = ''customer'' AND ''vip'' = ANY (p.tags))'),
	(42, 'company', 'employees > 100 AND industry IN (''SaaS'', ''Bank'')', 'employees > 100 AND industry IN (''SaaS'', ''Bank'')'),
	(43, 'company', 'COUNT(contacts()) > 32', 'id IN (SELECT company_id FROM crm.contact_companies WHERE workspace_id = 1 GROUP BY company_id HAVING count(*) > 32)'),
	(44, 'company', 'properties.tier = ''gold'' AND NOT tags CONTAINS ''partner''', 'properties ->> ''tier'' = ''gold'' AND NOT ''partner'' = ANY (tags)');

SELECT results_eq(
		 format('SELECT id FROM crm.find_%s(%L, ''id'', 100000)', CASE entity WHEN 'contact' THEN 'contacts' ELSE 'companies' END, cql),
		 format('SELECT id FROM %s WHERE workspace_id = 1 AND %s ORDER BY id', crm_hidden.cql_table(entity), hand),
		 format('%s: %s', entity, cql))
  FROM pairs ORDER BY n;

-- the questions are selective: each keeps some rows and drops others (n = 8 and 39 may be small)
SELECT is((SELECT count(*) FROM pairs
			WHERE pg_temp.matches(entity, hand) = 0
			   OR pg_temp.matches(entity, hand) = pg_temp.matches(entity, 'true')), 0::bigint,
		  'every hand-written question selects a proper, non-empty subset');

-- deals in one pipeline, orders, and a custom object type with declared fields
SELECT crm.create_pipeline('Equivalence', 'b2b_sales') AS pipe \gset
SELECT crm.define_property('deal', 'segment', 'select', options => ARRAY['smb', 'mid', 'enterprise']) > 0 AS segment \gset
-- the ids by name and the pipeline's first position read first (Citus plans no
-- correlated subquery over another table next to generate_series)
SELECT jsonb_object_agg(name, id) AS people FROM crm.contacts WHERE workspace_id = 1 \gset
SELECT jsonb_object_agg(name, id) AS firms FROM crm.companies WHERE workspace_id = 1 \gset
SELECT min(position) AS first_position FROM crm.stages WHERE workspace_id = 1 AND pipeline_id = :pipe \gset
INSERT INTO crm.deals (pipeline_id, stage_id, title, contact_id, company_id, value, currency, priority, expected_close_date, properties)
SELECT :pipe, s.id, 'Deal ' || g, (:'people'::jsonb ->> ('Person ' || (1 + g % 150)))::bigint,
	   CASE WHEN g % 4 <> 0 THEN (:'firms'::jsonb ->> ('Company ' || (1 + g % 50)))::bigint END,
	   (g * 37) % 5000, (ARRAY['USD', 'EUR'])[1 + g % 2], (ARRAY['low', 'medium', 'high', 'urgent'])[1 + g % 4]::crm.deal_priority,
	   CASE WHEN g % 5 <> 0 THEN current_date + (g % 200 - 100) END,
	   CASE WHEN g % 3 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('segment', (ARRAY['smb', 'mid', 'enterprise'])[1 + g % 3]) END
  FROM generate_series(1, 300) g
  JOIN crm.stages s ON s.workspace_id = 1 AND s.pipeline_id = :pipe AND s.position = :first_position + g % 6;
SELECT jsonb_object_agg(title, id) AS deals FROM crm.deals WHERE workspace_id = 1 \gset
INSERT INTO crm.orders (contact_id, deal_id, value, currency, status, order_date)
SELECT (:'people'::jsonb ->> ('Person ' || (1 + (g * g) % 250)))::bigint,
	   CASE WHEN g % 3 = 0 THEN (:'deals'::jsonb ->> ('Deal ' || (1 + g % 300)))::bigint END,
	   (g * 11) % 900, (ARRAY['USD', 'USD', 'EUR'])[1 + g % 3],
	   (ARRAY['pending', 'paid', 'paid', 'refunded', 'failed'])[1 + g % 5]::crm.order_status,
	   now() - (g % 300) * interval '1 day'
  FROM generate_series(1, 600) g;
SELECT crm.create_object_type('course', 'Course', primary_property => 'title') > 0 AS course \gset
SELECT crm.define_property('course', 'title', 'text') > 0 AS t, crm.define_property('course', 'hours', 'number') > 0 AS h,
	   crm.define_property('course', 'level', 'select', options => ARRAY['beginner', 'advanced']) > 0 AS l,
	   crm.define_property('course', 'starts', 'date') > 0 AS s \gset
SELECT count(crm.create_record('course', jsonb_build_object('title', 'Course ' || g, 'hours', g % 40,
		'level', (ARRAY['beginner', 'advanced'])[1 + g % 2], 'starts', (DATE '2024-01-01' + g * 5)::text))) > 0 AS records
  FROM generate_series(1, 60) g \gset
SELECT count(crm.associate(r.id, 'contact', c.id, CASE WHEN c.id % 2 = 0 THEN 'student' END)) > 0 AS assoc
  FROM crm.object_records r JOIN crm.contacts c ON c.workspace_id = r.workspace_id AND c.id % 60 = r.id % 60 AND c.lifecycle_stage = 'lead'
 WHERE r.workspace_id = 1 AND r.type_key = 'course' \gset

CREATE TEMP TABLE pairs2 (n int, entity text, cql text, hand text);
INSERT INTO pairs2 VALUES
	(1, 'deal', 'stage = WON OR stage = ''Proposal''', 'stage_id IN (SELECT id FROM crm.stages WHERE workspace_id = 1 AND (kind = ''won'' OR name = ''Proposal''))'),
	(2, 'deal', 'status = OPEN AND value >= 2500', 'status = ''open'' AND value >= 2500'),
	(3, 'deal', 'priority IN (HIGH, URGENT) AND currency = ''EUR''', 'priority IN (''high'', ''urgent'') AND currency = ''EUR'''),
	(4, 'deal', 'expectedCloseDate = THIS_MONTH', 'date_trunc(''month'', expected_close_date) = date_trunc(''month'', current_date)'),
	(5, 'deal', 'expectedCloseDate < TODAY OR expectedCloseDate IS NULL', '(expected_close_date < current_date OR expected_close_date IS NULL)'),
	(6, 'deal', 'company.industry = ''SaaS''', 'company_id IN (SELECT id FROM crm.companies WHERE workspace_id = 1 AND industry = ''SaaS'')'),
	(7, 'deal', 'contact.city = ''Paris'' AND stage.probability > 20', 'contact_id IN (SELECT id FROM crm.contacts WHERE workspace_id = 1 AND city = ''Paris'') AND stage_id IN (SELECT id FROM crm.stages WHERE workspace_id = 1 AND probability > 20)'),
	(8, 'deal', 'segment IN (SMB, enterprise)', 'properties ->> ''segment'' IN (''smb'', ''enterprise'')'),
	(9, 'deal', 'segment != mid', 'properties ->> ''segment'' <> ''mid'''),
	(10, 'deal', 'EXISTS orders(status = PAID)', 'id IN (SELECT deal_id FROM crm.orders WHERE workspace_id = 1 AND status = ''paid'')'),
	(11, 'order', 'status = PAID AND value > 400', 'status = ''paid'' AND value > 400'),
	(12, 'order', 'orderDate = LAST_N_DAYS:30', 'order_date::date BETWEEN current_date - 30 AND current_date'),
	(13, 'order', 'deal.status = OPEN', 'deal_id IN (SELECT id FROM crm.deals WHERE workspace_id = 1 AND status = ''open'')'),
	(14, 'order', 'contact.tags CONTAINS ''vip''', 'contact_id IN (SELECT id FROM crm.contacts WHERE workspace_id = 1 AND ''vip'' = ANY (tags))'),
	(15, 'contact', 'EXISTS deals(stage = WON AND value > 1000)', 'status < ''merged'' AND id IN (SELECT d.contact_id FROM crm.deals d JOIN crm.stages s ON s.workspace_id = 1 AND s.id = d.stage_id WHERE d.workspace_id = 1 AND s.kind = ''won'' AND d.value > 1000)'),
	(16, 'contact', 'COUNT(deals(status = OPEN)) >= 2', 'status < ''merged'' AND id IN (SELECT contact_id FROM crm.deals WHERE workspace_id = 1 AND status = ''open'' GROUP BY contact_id HAVING count(*) >= 2)'),
	(17, 'contact', 'orders.totalPaid > 1000', 'status < ''merged'' AND id IN (SELECT contact_id FROM crm.orders WHERE workspace_id = 1 AND status = ''paid'' AND currency = ''USD'' GROUP BY contact_id HAVING sum(value) > 1000)'),
	(18, 'contact', 'orders.count >= 3', 'status < ''merged'' AND id IN (SELECT contact_id FROM crm.orders WHERE workspace_id = 1 GROUP BY contact_id HAVING count(*) >= 3)'),
	(19, 'contact', 'orders.count = 0 AND city = ''Paris''', 'status < ''merged'' AND city = ''Paris'' AND id NOT IN (SELECT contact_id FROM crm.orders WHERE workspace_id = 1)'),
	(20, 'contact', 'orders.lastOrderDate > NOW - 60d', 'status < ''merged'' AND id IN (SELECT contact_id FROM crm.orders WHERE workspace_id = 1 GROUP BY contact_id HAVING max(order_date) > now() - interval ''60 days'')'),
	(21, 'contact', 'associated(course)', 'status < ''merged'' AND id IN (SELECT a.contact_id FROM crm.object_associations a JOIN crm.object_records r ON r.workspace_id = 1 AND r.id = a.record_id WHERE a.workspace_id = 1 AND r.type_key = ''course'')'),
	(22, 'contact', 'associated(course, label = ''student'')', 'status < ''merged'' AND id IN (SELECT a.contact_id FROM crm.object_associations a WHERE a.workspace_id = 1 AND a.label = ''student'')'),
	(23, 'company', 'EXISTS deals(value > 4000)', 'id IN (SELECT company_id FROM crm.deals WHERE workspace_id = 1 AND value > 4000)'),
	(24, 'course', 'hours >= 30 AND level = ADVANCED', '(properties ->> ''hours'')::int >= 30 AND properties ->> ''level'' = ''advanced'''),
	(25, 'course', 'starts BETWEEN 2024-03-01 AND 2024-05-31', '(properties ->> ''starts'')::date BETWEEN ''2024-03-01'' AND ''2024-05-31'''),
	(26, 'course', 'displayName ENDS WITH ''7'' OR EXISTS contacts(city = ''Rome'')', '(display_name LIKE ''%7'' OR id IN (SELECT a.record_id FROM crm.object_associations a JOIN crm.contacts c ON c.workspace_id = 1 AND c.id = a.contact_id WHERE a.workspace_id = 1 AND c.city = ''Rome''))');

SELECT results_eq(
		 CASE entity WHEN 'deal' THEN format('SELECT id FROM crm.find_deals(%L, ''id'', 100000)', cql)
					 WHEN 'order' THEN format('SELECT id FROM crm.find_orders(%L, ''id'', 100000)', cql)
					 WHEN 'contact' THEN format('SELECT id FROM crm.find_contacts(%L, ''id'', 100000)', cql)
					 WHEN 'company' THEN format('SELECT id FROM crm.find_companies(%L, ''id'', 100000)', cql)
					 ELSE format('SELECT id FROM crm.find_records(%L, %L, ''id'', 100000)', entity, cql) END,
		 format('SELECT id FROM %s WHERE workspace_id = 1 AND %s%s ORDER BY id', crm_hidden.cql_table(entity), hand,
				CASE WHEN crm_hidden.cql_table(entity) = 'crm.object_records' THEN format(' AND type_key = %L', entity) ELSE '' END),
		 format('%s: %s', entity, cql))
  FROM pairs2 ORDER BY n;
SELECT is((SELECT count(*) FROM pairs2
			WHERE pg_temp.matches(entity, hand) = 0
			   OR pg_temp.matches(entity, hand) = pg_temp.matches(entity, 'true')), 0::bigint,
		  'every hand-written deal/order/record question selects a proper, non-empty subset');

-- ordering: find_contacts's order_by equals ORDER BY in SQL, ties broken by id
SELECT results_eq(
	'SELECT id FROM crm.find_contacts(''city = ''''Rome'''''', ''lifecycleStage DESC, createdAt'', 25, 10)',
	'SELECT id FROM crm.contacts WHERE status < ''merged'' AND city = ''Rome'' ORDER BY lifecycle_stage DESC, created_at, id LIMIT 25 OFFSET 10',
	'order_by and paging match ORDER BY ... LIMIT ... OFFSET');
SELECT is(crm.count('contact', 'tags CONTAINS ''vip'''),
		  (SELECT count(*) FROM crm.contacts WHERE status < 'merged' AND 'vip' = ANY (tags)),
		  'crm.count agrees with count(*)');

SELECT * FROM finish();
ROLLBACK;
