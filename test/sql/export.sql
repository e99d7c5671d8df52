-- Exports: crm.export_contacts, export_companies, export_deals and
-- export_orders return every row a CQL query matches with every standard
-- field, the counters, the primary company, tags, the declared properties
-- (properties) and the undeclared keys (metadata); they read as the
-- caller, stream through a cursor (no materialisation in the plan), and
-- stop at the workspace's export switch and at a module switched off.
CREATE DATABASE crm_test_export;
\c crm_test_export
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
\pset null '∅'

CREATE ROLE crm_export_app;
SELECT crm.grant_access('crm_export_app');
SELECT crm.create_workspace('acme', 'Acme') AS ws \gset
SELECT crm.create_workspace('other', 'Other') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;

-- contacts: declared properties, free-form keys, tags, a primary company,
-- activities and a conversation; one deleted and one merged contact
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro']) > 0 AS plan;
SELECT crm.define_property('contact', 'seats', 'number') > 0 AS seats;
INSERT INTO crm.contacts (name, email, phone, identifier, avatar_url, city, country, lifecycle_stage, owner,
						  blocked, tags, properties, first_seen_at, last_seen_at) VALUES
	('Zoë "Zo" Ångström', 'zoe@example.com', '+46701234567', 'u-1', 'https://a.example/z.png', 'Göteborg', 'SE',
	 'customer', 'ana', false, '{vip,nordic}', '{"plan": "pro", "seats": 3, "utm_source": "ads", "score": 9}',
	 '2026-01-02 10:00+00', '2026-01-20 11:00+00'),
	('O''Brien, Seán', 'sean@example.ie', NULL, NULL, NULL, NULL, 'IE', 'lead', NULL, true, '{}', '{"plan": "free"}',
	 NULL, NULL),
	('Gone', 'gone@example.com', NULL, NULL, NULL, NULL, NULL, 'lead', NULL, false, '{}', '{}', NULL, NULL),
	('Twin', 'twin@example.com', NULL, NULL, NULL, NULL, NULL, 'lead', NULL, false, '{}', '{}', NULL, NULL);
SELECT crm.delete_contact(id) > 0 AS deleted FROM crm.contacts WHERE name = 'Gone';
SELECT crm.merge_contacts(s.id, d.id) > 0 AS merged FROM crm.contacts s, crm.contacts d WHERE s.name = 'O''Brien, Seán' AND d.name = 'Twin';
INSERT INTO crm.companies (name, domain, industry, employees, plan, spend, description, owner, tags, properties) VALUES
	('Analytical Engines', 'engines.example', 'machinery', 12, 'pro', 1200.50, 'gears', 'ana', '{steam}',
	 '{"tier": "gold"}'),
	('Difference Ltd', 'difference.example', NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{}');
SELECT crm.define_property('company', 'tier', 'text') > 0 AS tier;
SELECT crm.link_company(c.id, co.id, 'cto', true) FROM crm.contacts c, crm.companies co
 WHERE c.name LIKE 'Zo%' AND co.name = 'Analytical Engines';
SELECT crm.link_company(c.id, co.id, 'advisor', false) FROM crm.contacts c, crm.companies co
 WHERE c.name LIKE 'Zo%' AND co.name = 'Difference Ltd';
SELECT crm.link_company(c.id, co.id) FROM crm.contacts c, crm.companies co
 WHERE c.name LIKE 'O''Brien%' AND co.name = 'Analytical Engines';
SELECT crm.log_activity(c.id, 'call', 'first call') > 0 AS logged FROM crm.contacts c WHERE c.name LIKE 'Zo%';
SELECT crm.log_activity(c.id, 'email', 'follow-up') > 0 AS logged FROM crm.contacts c WHERE c.name LIKE 'Zo%';
SELECT crm.start_conversation(c.id) > 0 AS conversation FROM crm.contacts c WHERE c.name LIKE 'Zo%';

-- every column of a contact: live contacts by default, by id
\x on
SELECT id, name, email, phone, identifier, verified_id, identity_source, avatar_url, city, country, lifecycle_stage,
	   status, merged_into, owner, blocked, tags, conversation_count, activity_count, primary_company_id,
	   primary_company_name, first_seen_at, last_seen_at > first_seen_at AS seen_since, created_at IS NOT NULL AS created,
	   updated_at >= created_at AS updated, deleted_at, properties, metadata
  FROM crm.export_contacts() WHERE name LIKE 'Zo%';
\x off
SELECT id, name, phone, blocked, tags, primary_company_id, primary_company_name, activity_count,
	   conversation_count, properties, metadata
  FROM crm.export_contacts();
-- the deleted and merged ones when the query names status, as crm.find_contacts
SELECT id, name, status, merged_into, deleted_at IS NOT NULL AS deleted_at
  FROM crm.export_contacts('status IN (DELETED, MERGED)');
-- a CQL filter: the same rows as crm.find_contacts
SELECT id, name FROM crm.export_contacts('plan = pro OR country = ''IE''');
SELECT array_agg(id ORDER BY id) AS find FROM crm.find_contacts('plan = pro OR country = ''IE''', lim => 1000);
SELECT count(*) AS none FROM crm.export_contacts('email ENDS WITH ''nowhere.example''');
-- NULL is the empty query
SELECT count(*) AS all_live FROM crm.export_contacts(NULL);
-- a property declared later moves its key from metadata to properties; dropping it moves it back
SELECT crm.define_property('contact', 'utm_source', 'text') > 0 AS declared;
SELECT properties, metadata FROM crm.export_contacts('name STARTS WITH ''Zo''');
SELECT crm.drop_property('contact', 'utm_source');
SELECT properties, metadata FROM crm.export_contacts('name STARTS WITH ''Zo''');

-- bad CQL: the translator's errors, before any row
SELECT * FROM crm.export_contacts('lifecycleStag = LEAD');
SELECT * FROM crm.export_companies('employees > many');
SELECT * FROM crm.export_deals('value >');
SELECT * FROM crm.export_orders('colour = red');

-- companies: every column, linked contacts counted
SELECT id, name, domain, industry, employees, plan, spend, description, owner, tags, contact_count,
	   created_at IS NOT NULL AS created, updated_at IS NOT NULL AS updated, properties, metadata
  FROM crm.export_companies();
SELECT id, name FROM crm.export_companies('tags CONTAINS ''steam''');

-- deals: pipeline and stage names, notes and attachments counted
SELECT crm.create_pipeline('Sales', template => 'b2b_sales') AS pipeline \gset
SELECT crm.define_property('deal', 'region', 'text') > 0 AS region;
INSERT INTO crm.deals (title, contact_id, company_id, owner, team, priority, value, currency,
					   expected_close_date, properties, stage_entered_at)
SELECT 'Gears for 12', c.id, co.id, 'ana', 'north', 'high', 5000, 'EUR', '2026-03-31',
	   '{"region": "emea", "legacy_id": "D-7"}', '2026-01-05 09:00+00'
  FROM crm.contacts c, crm.companies co WHERE c.name LIKE 'Zo%' AND co.name = 'Analytical Engines';
INSERT INTO crm.deals (title, value, currency, stage_entered_at) VALUES ('Small one', 10, 'USD', '2026-01-06 09:00+00');
INSERT INTO crm.notes (deal_id, body) SELECT id, 'called' FROM crm.deals WHERE title = 'Gears for 12';
INSERT INTO crm.notes (deal_id, body) SELECT id, 'sent quote' FROM crm.deals WHERE title = 'Gears for 12';
SELECT crm.lose_deal(id, 'budget', closed_at => '2026-02-01 12:00+00') IS NOT NULL AS lost FROM crm.deals WHERE title = 'Small one';
\x on
SELECT id, title, pipeline_id = :pipeline AS in_pipeline, pipeline_name, stage_name, contact_id, company_id, owner, team,
	   priority, value, currency, value_mode, expected_close_date, status, closed_at, lost_reason, won_reason,
	   stage_entered_at, probability_override, forecast_category_override, note_count, attachment_count,
	   created_at IS NOT NULL AS created, updated_at IS NOT NULL AS updated, properties, metadata
  FROM crm.export_deals();
\x off
SELECT id, title FROM crm.export_deals('status = LOST');

-- orders
SELECT crm.define_property('order', 'channel', 'text') > 0 AS channel;
INSERT INTO crm.orders (contact_id, title, value, currency, status, source, external_id, order_date, paid_date, properties)
SELECT c.id, 'Starter kit', 99.90, 'EUR', 'paid', 'commerce', 'S-1', '2026-01-10 08:00+00', '2026-01-10 08:05+00',
	   '{"channel": "web", "coupon": "NEW10"}'
  FROM crm.contacts c WHERE c.name LIKE 'Zo%';
INSERT INTO crm.orders (contact_id, title, value, order_date)
SELECT c.id, 'Refill', 5, '2026-01-11 08:00+00' FROM crm.contacts c WHERE c.name LIKE 'O''Brien%';
SELECT id, contact_id, deal_id, title, value, currency, status, source, external_id, order_date, paid_date,
	   created_at IS NOT NULL AS created, updated_at IS NOT NULL AS updated, properties, metadata
  FROM crm.export_orders();
SELECT id, title FROM crm.export_orders('value > 50');

-- another workspace sees its own rows only
SELECT set_config('crm.workspace_id', :'other', false) IS NOT NULL AS in_other;
SELECT (SELECT count(*) FROM crm.export_contacts()) AS contacts, (SELECT count(*) FROM crm.export_companies()) AS companies,
	   (SELECT count(*) FROM crm.export_deals()) AS deals, (SELECT count(*) FROM crm.export_orders()) AS orders;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;

-- streaming: the function is inlined and its rows come from the cursor
-- function in a select list (ProjectSet), not a materialised Function Scan
EXPLAIN (COSTS OFF) SELECT * FROM crm.export_contacts('plan = pro');
EXPLAIN (COSTS OFF) SELECT * FROM crm.export_orders() LIMIT 1;
-- stopping early (LIMIT): the first row, without reading the rest
SELECT id FROM crm.export_contacts() LIMIT 1;
-- more rows than one batch (500), in id order
INSERT INTO crm.contacts (name, tags) SELECT 'bulk ' || i, '{bulk}' FROM generate_series(1, 1203) i;
SELECT count(*) AS rows, count(DISTINCT id) AS ids, bool_and(ok) AS in_order
  FROM (SELECT id, id > lag(id, 1, 0::bigint) OVER () AS ok FROM crm.export_contacts('tags CONTAINS ''bulk''')) e;
-- the function runs in a cursor of the caller's too (FETCH in batches)
BEGIN;
DECLARE c CURSOR FOR SELECT id, name FROM crm.export_contacts('tags CONTAINS ''bulk''');
FETCH 2 FROM c;
FETCH 1 FROM c;
CLOSE c;
COMMIT;
-- twice in one statement: two cursors
SELECT (SELECT count(*) FROM crm.export_contacts('tags CONTAINS ''bulk''')) AS a,
	   (SELECT count(*) FROM crm.export_contacts('tags CONTAINS ''vip''')) AS b;
DELETE FROM crm.contacts WHERE 'bulk' = ANY (tags);

-- the frontend role: reads as itself, through RLS
SET ROLE crm_export_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT id, name, primary_company_name, properties, metadata FROM crm.export_contacts('lifecycleStage = CUSTOMER');
SELECT count(*) AS companies FROM crm.export_companies();
-- the internal helpers are no way around: a mismatched row type is refused
SELECT * FROM crm_hidden.export_contact_rows('order', '');
-- a closed workspace (members): a member reads with no particular permission,
-- a user who is not one is refused (42501), as by every read
RESET ROLE;
INSERT INTO crm.members (user_id, role) VALUES ('ana', 'admin'), ('ben', 'agent');
SET ROLE crm_export_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT count(*) AS contacts FROM crm.export_contacts();
SELECT set_config('request.jwt.claims', format('{"sub": "mallory", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_mallory;
SELECT count(*) FROM crm.export_contacts();
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ana;

-- the export switch off: every export refused (53400) before any row; on again, back
SELECT name, value FROM crm.set_limit('export', 0);
SELECT count(*) FROM crm.export_contacts();
SELECT * FROM crm.export_companies();
SELECT * FROM crm.export_deals('status = OPEN');
SELECT * FROM crm.export_orders();
SELECT crm.export_contact(1) IS NOT NULL AS gdpr_export;
SELECT name, value FROM crm.set_limit('export', 1);
SELECT count(*) AS contacts FROM crm.export_contacts();

-- a module switched off: its export is refused (0A000), and the contacts
-- export leaves the primary company out instead of failing
SELECT module, enabled FROM crm.set_module('companies', false);
SELECT * FROM crm.export_companies();
SELECT id, primary_company_id, primary_company_name FROM crm.export_contacts('name STARTS WITH ''Zo''');
SELECT module, enabled FROM crm.set_module('companies', true);
SELECT module, enabled FROM crm.set_module('deals', false);
SELECT * FROM crm.export_deals();
SELECT module, enabled FROM crm.set_module('deals', true);
SELECT module, enabled FROM crm.set_module('orders', false);
SELECT * FROM crm.export_orders();
SELECT module, enabled FROM crm.set_module('orders', true);
RESET ROLE;

-- through \copy: CSV with a header, the declared properties as columns by name
\copy (SELECT id, name, tags, primary_company_name, properties ->> 'plan' AS plan, properties ->> 'seats' AS seats, metadata FROM crm.export_contacts() ORDER BY id) TO STDOUT CSV HEADER

\c postgres
DROP DATABASE crm_test_export;
DROP ROLE crm_export_app;
