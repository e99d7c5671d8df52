-- Reporting for BI tools (docs/reporting.md): the crm_report views, each
-- time series against a hand computation over the base tables, and the
-- reporting roles -- pinned to one workspace without claims, or reading
-- every workspace -- logging in as a BI tool does.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_reporting;
\c crm_test_reporting
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

SELECT crm.create_workspace('acme', 'Acme', 'EUR') AS acme \gset
SELECT crm.create_workspace('beta', 'Beta', 'USD') AS beta \gset

-- beta: one contact and one deal, which acme's reporting role must not see
SELECT crm.use_workspace('beta') IS NOT NULL AS in_beta;
INSERT INTO crm.contacts (name, email, first_seen_at) VALUES ('Beta person', 'b@beta.test', '2026-01-05');
SELECT crm.create_pipeline('Beta sales', 'b2b_sales') IS NOT NULL AS beta_pipeline;
INSERT INTO crm.deals (title, value, created_at) VALUES ('beta deal', 999, '2026-01-10');

SELECT crm.use_workspace('acme') IS NOT NULL AS in_acme;
SELECT crm.create_pipeline('Sales') AS p \gset
SELECT crm.add_stage(:p, 'Lead', 10) AS lead \gset
SELECT crm.add_stage(:p, 'Demo', 40) AS demo \gset
SELECT crm.add_stage(:p, 'Offer', 70) AS offer \gset
SELECT crm.add_stage(:p, 'Won', 100, 'won') AS won \gset
SELECT crm.add_stage(:p, 'Lost', 0, 'lost') AS lost \gset
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('USD', 'EUR', 0.5, '2025-01-01');
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'GBP', 0.8, '2025-01-01');

-- five deals of two cohorts (January and February 2026):
--   d1 (ann, EUR 1000)  Lead 01-05 -> Demo 01-10 -> Offer 01-20 -> Won 02-03
--   d2 (ann, USD 400)   Lead 01-12 -> Demo 01-15 -> Lost 02-10
--   d3 (bob, GBP 80)    Lead 01-25 -> Won 02-20            (skips Demo and Offer)
--   d4 (bob, EUR 300)   Demo 02-02 -> Lead 02-09           (moves backwards, open)
--   d5 (ann, CHF 50)    Lead 02-14                         (no rate to EUR)
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at, stage_entered_at) VALUES
	('d1', :lead, 1000, 'EUR', 'ann', '2026-01-05 09:00', '2026-01-05 09:00'),
	('d2', :lead, 400, 'USD', 'ann', '2026-01-12 09:00', '2026-01-12 09:00'),
	('d3', :lead, 80, 'GBP', 'bob', '2026-01-25 09:00', '2026-01-25 09:00'),
	('d4', :demo, 300, 'EUR', 'bob', '2026-02-02 09:00', '2026-02-02 09:00'),
	('d5', :lead, 50, 'CHF', 'ann', '2026-02-14 09:00', '2026-02-14 09:00');
SELECT id AS d1 FROM crm.deals WHERE title = 'd1' \gset
SELECT id AS d2 FROM crm.deals WHERE title = 'd2' \gset
SELECT id AS d3 FROM crm.deals WHERE title = 'd3' \gset
SELECT id AS d4 FROM crm.deals WHERE title = 'd4' \gset
UPDATE crm.deals SET stage_id = :demo, stage_entered_at = '2026-01-10 09:00' WHERE id = :d1;
UPDATE crm.deals SET stage_id = :offer, stage_entered_at = '2026-01-20 09:00' WHERE id = :d1;
UPDATE crm.deals SET stage_id = :won, stage_entered_at = '2026-02-03 12:00' WHERE id = :d1;
UPDATE crm.deals SET stage_id = :demo, stage_entered_at = '2026-01-15 09:00' WHERE id = :d2;
UPDATE crm.deals SET stage_id = :lost, stage_entered_at = '2026-02-10 09:00', lost_reason = 'price' WHERE id = :d2;
UPDATE crm.deals SET stage_id = :won, stage_entered_at = '2026-02-20 09:00' WHERE id = :d3;
UPDATE crm.deals SET stage_id = :lead, stage_entered_at = '2026-02-09 09:00' WHERE id = :d4;
SELECT (crm.add_member('admin-1', 'admin', 'Ada Admin')).user_id;
SELECT (crm.add_member('ann', 'agent', 'Ann Agent', team => 'north')).user_id;

-- contacts, orders, conversations, activities
INSERT INTO crm.contacts (name, email, first_seen_at) VALUES
	('C one', 'c1@acme.test', '2026-01-03'), ('C two', 'c2@acme.test', '2026-01-20'),
	('C three', 'c3@acme.test', '2026-02-01');
INSERT INTO crm.contacts (name, identifier, first_seen_at) VALUES ('Visitor', 'anon-1', '2026-02-07');
INSERT INTO crm.contacts (name, verified_id, identity_source, first_seen_at)
VALUES ('Verified', 'v-1', 'verified', '2026-02-08');
SELECT id AS c1 FROM crm.contacts WHERE email = 'c1@acme.test' \gset
SELECT id AS c2 FROM crm.contacts WHERE email = 'c2@acme.test' \gset
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES
	(:c1, 'o1', 100, 'EUR', 'paid', '2026-01-10'),
	(:c1, 'o2', 60, 'USD', 'paid', '2026-01-20'),
	(:c2, 'o3', 40, 'EUR', 'pending', '2026-01-25'),
	(:c2, 'o4', 70, 'EUR', 'refunded', '2026-02-02'),
	(:c2, 'o5', 10, 'EUR', 'paid', '2026-02-03');
SELECT crm.start_conversation(:c1, 'email', started_at => '2026-01-10 10:00', first_message => 'hi') AS cv1 \gset
SELECT crm.add_message(:cv1, 'agent', 'hello', sent_at => '2026-01-10 10:30') IS NOT NULL AS replied;
SELECT crm.add_message(:cv1, 'contact', 'thanks', sent_at => '2026-01-10 11:00') IS NOT NULL AS thanked;
SELECT crm.start_conversation(:c2, 'email', started_at => '2026-01-10 12:00', first_message => 'help') AS cv2 \gset
SELECT crm.add_message(:cv2, 'bot', 'on it', sent_at => '2026-01-10 12:10') IS NOT NULL AS replied;
SELECT crm.start_conversation(:c2, 'chat', started_at => '2026-01-11 08:00', first_message => 'anyone?') AS cv3 \gset
INSERT INTO crm.activities (contact_id, deal_id, type, subject, actor, occurred_at) VALUES
	(:c1, :d1, 'call', 'intro', 'ann', '2026-01-06'),
	(:c1, :d1, 'meeting', 'demo', 'ann', '2026-01-10'),
	(:c2, NULL, 'call', 'follow-up', 'bob', '2026-02-11');
SELECT (crm.create_list('Newsletter')).id AS list \gset
SELECT crm.add_to_list(:list, ARRAY[:c1, :c2]);
DELETE FROM crm.list_members WHERE list_id = :list AND contact_id = :c1;

-- custom properties
SELECT crm.define_property('contact', 'plan', 'select', 'Plan', options => ARRAY['free', 'pro']) IS NOT NULL AS plan;
SELECT crm.define_property('contact', 'seats', 'number', 'Seats') IS NOT NULL AS seats;
SELECT crm.define_property('contact', 'renewal', 'date', 'Renewal') IS NOT NULL AS renewal;
SELECT crm.define_property('contact', 'beta', 'boolean', 'Beta tester') IS NOT NULL AS beta;
SELECT crm.define_property('deal', 'channels', 'multi_select', 'Channels', options => ARRAY['web', 'phone']) IS NOT NULL AS channels;
UPDATE crm.contacts SET properties = '{"plan": "pro", "seats": 12, "renewal": "2026-06-30", "beta": true, "note": "free-form"}'
 WHERE id = :c1;
UPDATE crm.contacts SET properties = '{"plan": "free", "seats": 1}' WHERE id = :c2;
UPDATE crm.deals SET properties = '{"channels": ["web", "phone"]}' WHERE id = :d1;

-- the BI tool's logins: one pinned to acme, an operator for all
CREATE ROLE crm_report_bi LOGIN;
CREATE ROLE crm_report_ops LOGIN;
SELECT crm.grant_access('crm_report_bi', access => 'reporting');
SELECT crm.grant_access('crm_report_ops', access => 'reporting_all');
SELECT r.role_name, w.slug FROM crm_internal.reporting_access r LEFT JOIN crm.workspaces w ON w.id = r.workspace_id
 ORDER BY 1;
SELECT rolname, rolbypassrls FROM pg_roles WHERE rolname LIKE 'crm_report_%' ORDER BY 1;

-- bad calls: an unknown level; reading every workspace needs a superuser
SELECT crm.grant_access('crm_report_bi', access => 'reports');
CREATE ROLE crm_report_dba;
GRANT USAGE ON SCHEMA crm TO crm_report_dba;
GRANT EXECUTE ON FUNCTION crm.grant_access(name, boolean, text) TO crm_report_dba;
SET ROLE crm_report_dba;
SELECT crm.grant_access('crm_report_bi', access => 'reporting_all');
RESET ROLE;
SELECT rolname, rolbypassrls FROM pg_roles WHERE rolname LIKE 'crm_report_%' ORDER BY 1;

-- No API layer sees crm_report: the other levels get nothing of it
CREATE ROLE crm_report_front;
SELECT crm.grant_access('crm_report_front');
SELECT has_schema_privilege('crm_report_front', 'crm_report', 'USAGE') AS front_sees_reports,
	   has_schema_privilege('crm_report_bi', 'crm_report', 'USAGE') AS bi_sees_reports,
	   has_table_privilege('crm_report_bi', 'crm_report.deals', 'SELECT') AS bi_reads,
	   has_table_privilege('crm_report_bi', 'crm.deals', 'INSERT') AS bi_writes,
	   has_schema_privilege('crm_report_bi', 'crm_report', 'CREATE') AS bi_creates;

--
-- The BI tool connects as the pinned role, no claims, no settings.
--
\c - crm_report_bi
SET TimeZone = 'UTC';
SELECT crm.current_workspace() = :acme AS pinned_to_acme;

-- it browses the schema
SELECT table_name FROM information_schema.views WHERE table_schema = 'crm_report' ORDER BY 1;
SELECT column_name, data_type, col_description('crm_report.deals'::regclass, ordinal_position::int) AS description
  FROM information_schema.columns WHERE table_schema = 'crm_report' AND table_name = 'deals'
 ORDER BY ordinal_position;
SELECT count(*) AS columns, count(*) FILTER (WHERE col_description(a.attrelid, a.attnum) IS NULL) AS without_comment
  FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
 WHERE r.relnamespace = 'crm_report'::regnamespace AND a.attnum > 0;
SELECT count(*) AS jsonb_columns FROM information_schema.columns
 WHERE table_schema = 'crm_report' AND data_type IN ('jsonb', 'json');

-- a parallel worker finds the pin too (crm.current_workspace() is parallel
-- safe), the modules of the deals' policy, and a named member
SET force_parallel_mode = on;
SELECT count(*) AS contacts_in_parallel FROM crm_report.contacts;
SELECT count(*) AS deals_in_parallel FROM crm.deals;
SET crm.user_id = 'ann';
SELECT count(*) AS deals_as_ann_in_parallel FROM crm.deals;
RESET crm.user_id;
RESET force_parallel_mode;

-- it cannot switch workspace, by setting or by claim, nor write
SET crm.workspace_id = :beta;
SELECT crm.current_workspace() = :acme AS still_acme, count(*) AS beta_rows
  FROM crm_report.deals WHERE workspace_id = :beta;
SELECT set_config('request.jwt.claims', format('{"workspace_id": %s}', :beta), false) IS NOT NULL AS claimed;
SELECT crm.current_workspace() = :acme AS still_acme, (SELECT count(*) FROM crm_report.contacts) AS contacts;
RESET request.jwt.claims;
RESET crm.workspace_id;
INSERT INTO crm.contacts (name) VALUES ('written by BI');
UPDATE crm.deals SET value = 0;
SELECT crm.create_workspace('bi', 'BI');

-- the deals fact, converted to EUR at the close date (today while open)
SELECT deal_id = :d1 AS is_d1, title, pipeline_name, stage_name, stage_kind, status, owner, owner_name, team,
	   value, currency, workspace_currency, value_in_workspace_currency, closed_at
  FROM crm_report.deals ORDER BY title;

-- a dashboard card: deals per month, created / won / lost, as Metabase writes it
SELECT date_trunc('month', created_at)::date AS month, count(*) AS created
  FROM crm_report.deals GROUP BY 1 ORDER BY 1;
SELECT month_start, sum(created) AS created, sum(won) AS won, sum(lost) AS lost, sum(won_value) AS won_value
  FROM crm_report.deals_per_month WHERE month_start >= '2026-01-01' AND month_start < '2027-01-01'
 GROUP BY 1 ORDER BY 1;
-- per owner, joined to members on the documented key
SELECT m.name AS member, f.owner, sum(f.created) AS created, sum(f.won) AS won
  FROM crm_report.deals_per_month f LEFT JOIN crm_report.members m ON m.workspace_id = f.workspace_id AND m.user_id = f.owner
 GROUP BY 1, 2 ORDER BY 2;
SELECT week_start, created, won, lost FROM crm_report.deals_per_week WHERE owner = 'ann' ORDER BY 1;
SELECT day, created, won, lost FROM crm_report.deals_per_day WHERE pipeline_id = :p AND day BETWEEN '2026-02-01' AND '2026-02-28'
 ORDER BY 1;

-- each time series against a hand computation over the base tables
SELECT count(*) AS month_mismatches FROM (
	(SELECT month_start, pipeline_id, owner, created, won, lost FROM crm_report.deals_per_month
	 EXCEPT
	 SELECT date_trunc('month', x.at)::date, x.pipeline_id, x.owner,
			count(*) FILTER (WHERE x.e = 'c'), count(*) FILTER (WHERE x.e = 'w'), count(*) FILTER (WHERE x.e = 'l')
	   FROM (SELECT pipeline_id, owner, 'c' AS e, created_at AS at FROM crm.deals
			 UNION ALL SELECT pipeline_id, owner, 'w', closed_at FROM crm.deals WHERE status = 'won'
			 UNION ALL SELECT pipeline_id, owner, 'l', closed_at FROM crm.deals WHERE status = 'lost') x
	  GROUP BY 1, 2, 3)
	UNION ALL
	(SELECT date_trunc('month', x.at)::date, x.pipeline_id, x.owner,
			count(*) FILTER (WHERE x.e = 'c'), count(*) FILTER (WHERE x.e = 'w'), count(*) FILTER (WHERE x.e = 'l')
	   FROM (SELECT pipeline_id, owner, 'c' AS e, created_at AS at FROM crm.deals
			 UNION ALL SELECT pipeline_id, owner, 'w', closed_at FROM crm.deals WHERE status = 'won'
			 UNION ALL SELECT pipeline_id, owner, 'l', closed_at FROM crm.deals WHERE status = 'lost') x
	  GROUP BY 1, 2, 3
	 EXCEPT
	 SELECT month_start, pipeline_id, owner, created, won, lost FROM crm_report.deals_per_month)) m;

-- the other series, each against its hand computation: rows in one and not the other
CREATE TEMP VIEW series_checks AS
	SELECT 'deals_per_week' AS series, (SELECT count(*) FROM (
		(SELECT week_start, pipeline_id, owner, created, won, lost FROM crm_report.deals_per_week
		 EXCEPT SELECT date_trunc('week', at)::date, pipeline_id, owner, count(*) FILTER (WHERE e = 'c'),
					   count(*) FILTER (WHERE e = 'w'), count(*) FILTER (WHERE e = 'l')
				  FROM (SELECT pipeline_id, owner, 'c' AS e, created_at AS at FROM crm.deals
						UNION ALL SELECT pipeline_id, owner, 'w', closed_at FROM crm.deals WHERE status = 'won'
						UNION ALL SELECT pipeline_id, owner, 'l', closed_at FROM crm.deals WHERE status = 'lost') x
				 GROUP BY 1, 2, 3)
		UNION ALL
		(SELECT date_trunc('week', at)::date, pipeline_id, owner, count(*) FILTER (WHERE e = 'c'),
				count(*) FILTER (WHERE e = 'w'), count(*) FILTER (WHERE e = 'l')
		   FROM (SELECT pipeline_id, owner, 'c' AS e, created_at AS at FROM crm.deals
				 UNION ALL SELECT pipeline_id, owner, 'w', closed_at FROM crm.deals WHERE status = 'won'
				 UNION ALL SELECT pipeline_id, owner, 'l', closed_at FROM crm.deals WHERE status = 'lost') x
		  GROUP BY 1, 2, 3
		 EXCEPT SELECT week_start, pipeline_id, owner, created, won, lost FROM crm_report.deals_per_week)) m) AS mismatches
	UNION ALL
	SELECT 'order_revenue_per_month', (SELECT count(*) FROM (
		(SELECT month_start, currency, orders, booked_value, paid_value FROM crm_report.order_revenue_per_month
		 EXCEPT SELECT date_trunc('month', order_date)::date, currency::text, count(*),
					   coalesce(sum(value) FILTER (WHERE status NOT IN ('canceled', 'failed', 'refunded')), 0),
					   coalesce(sum(value) FILTER (WHERE status = 'paid'), 0)
				  FROM crm.orders GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('month', order_date)::date, currency::text, count(*),
				coalesce(sum(value) FILTER (WHERE status NOT IN ('canceled', 'failed', 'refunded')), 0),
				coalesce(sum(value) FILTER (WHERE status = 'paid'), 0)
		   FROM crm.orders GROUP BY 1, 2
		 EXCEPT SELECT month_start, currency, orders, booked_value, paid_value FROM crm_report.order_revenue_per_month)) m)
	UNION ALL
	SELECT 'contacts_per_month', (SELECT count(*) FROM (
		(SELECT month_start, source, contacts FROM crm_report.contacts_per_month
		 EXCEPT SELECT date_trunc('month', coalesce(first_seen_at, created_at))::date, identity_source::text, count(*)
				  FROM crm.contacts WHERE status NOT IN ('merged', 'deleted') GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('month', coalesce(first_seen_at, created_at))::date, identity_source::text, count(*)
		   FROM crm.contacts WHERE status NOT IN ('merged', 'deleted') GROUP BY 1, 2
		 EXCEPT SELECT month_start, source, contacts FROM crm_report.contacts_per_month)) m)
	UNION ALL
	SELECT 'messages_per_day', (SELECT count(*) FROM (
		(SELECT day, channel, sender, messages FROM crm_report.messages_per_day
		 EXCEPT SELECT m.sent_at::date, c.channel, m.sender::text, count(*)
				  FROM crm.messages m JOIN crm.conversations c ON c.id = m.conversation_id GROUP BY 1, 2, 3)
		UNION ALL
		(SELECT m.sent_at::date, c.channel, m.sender::text, count(*)
		   FROM crm.messages m JOIN crm.conversations c ON c.id = m.conversation_id GROUP BY 1, 2, 3
		 EXCEPT SELECT day, channel, sender, messages FROM crm_report.messages_per_day)) m);
SELECT series, mismatches FROM series_checks;
-- and the hand computation is not empty: the checks compare something
SELECT (SELECT count(*) FROM crm_report.deals_per_week) AS weeks, (SELECT count(*) FROM crm_report.order_revenue_per_month) AS order_months,
	   (SELECT count(*) FROM crm_report.contacts_per_month) AS contact_months, (SELECT count(*) FROM crm_report.messages_per_day) AS message_days;

-- stage history with durations
SELECT h.deal_id = :d1 AS d1, h.from_stage_name, h.stage_name, h.entered_at, h.duration, h.duration_days
  FROM crm_report.deal_stage_history h WHERE h.deal_id IN (:d1, :d4) ORDER BY h.deal_id, h.entered_at;
-- average days in stage, the way a dashboard asks
SELECT stage_name, round(avg(duration_days), 2) AS avg_days, count(*) AS stays
  FROM crm_report.deal_stage_history WHERE left_at IS NOT NULL GROUP BY stage_name, stage_position ORDER BY stage_position;

-- the funnel by cohort: January: d1, d2, d3; February: d4, d5
--   Lead   Jan entered d1 d2 d3, advanced d1 (Demo) d2 (Demo) d3 (Won) = 3
--          Feb entered d4 (moved back) d5, advanced none
--   Demo   Jan entered d1 d2, advanced d1 (Offer); Feb entered d4, advanced none
--   Offer  Jan entered d1, advanced d1 (Won)
--   Won    Jan entered d1 d3
SELECT cohort_month, stage_name, entered, advanced FROM crm_report.stage_funnel_by_cohort
 WHERE pipeline_id = :p ORDER BY cohort_month, stage_position;

-- orders revenue per month (o2: USD 60 at 0.5 = EUR 30)
SELECT month_start, currency, orders, booked_value, paid_value, paid_value_in_workspace_currency
  FROM crm_report.order_revenue_per_month ORDER BY 1, 2;
SELECT date_trunc('month', order_date)::date AS month, sum(value_in_workspace_currency) FILTER (WHERE status = 'paid') AS paid_eur
  FROM crm_report.orders GROUP BY 1 ORDER BY 1;

-- contacts by first-seen month and source
SELECT month_start, source, contacts FROM crm_report.contacts_per_month ORDER BY 1, 2;

-- conversations: first response 30 min (email), 10 min (email), none (chat)
SELECT conversation_id = :cv1 AS cv1, channel, messages, first_response_seconds FROM crm_report.conversations
 ORDER BY conversation_id;
SELECT day, channel, conversations, answered, avg_first_response_seconds
  FROM crm_report.conversations_per_day ORDER BY 1, 2;
SELECT day, channel, sender, messages FROM crm_report.messages_per_day ORDER BY 1, 2, 3;

-- activities per owner and month, list membership over time
SELECT month_start, actor, type, activities FROM crm_report.activities_per_owner_month ORDER BY 1, 2, 3;
SELECT list_name, change, delta, object_type, object_id = :c1 AS c1 FROM crm_report.list_membership_changes ORDER BY event_id;
SELECT list_name, sum(delta) AS members FROM crm_report.list_membership_changes GROUP BY 1;

-- custom properties, long and typed, and pivoted as a tool would
SELECT object_type, object_id IN (:c1, :d1) AS first, key, label, type, text_value, number_value, date_value, boolean_value
  FROM crm_report.property_values ORDER BY object_type, object_id, key;
SELECT c.name,
	   max(p.text_value) FILTER (WHERE p.key = 'plan') AS plan,
	   sum(p.number_value) FILTER (WHERE p.key = 'seats') AS seats
  FROM crm_report.contacts c JOIN crm_report.property_values p
	ON p.workspace_id = c.workspace_id AND p.object_type = 'contact' AND p.object_id = c.contact_id
 GROUP BY c.name ORDER BY c.name;

-- the date dimension fills empty periods
SELECT d.month_start, coalesce(sum(f.created), 0) AS created
  FROM (SELECT DISTINCT month_start FROM crm_report.dates WHERE day BETWEEN '2025-12-01' AND '2026-03-31') d
  LEFT JOIN crm_report.deals_per_month f ON f.month_start = d.month_start
 GROUP BY 1 ORDER BY 1;

--
-- A closed workspace (acme has members now): the pinned role naming no user
-- reads all of it; naming a user makes it that member, or refuses it.
--
SELECT count(*) AS deals FROM crm_report.deals;
SET crm.user_id = 'ann';
SELECT count(*) AS deals_as_ann FROM crm_report.deals;
SET crm.user_id = 'mallory';
SELECT count(*) FROM crm_report.deals;
RESET crm.user_id;

--
-- The operator reads every workspace, workspace_id a column, and writes nothing.
--
\c - crm_report_ops
SET TimeZone = 'UTC';
SELECT w.slug, count(d.deal_id) AS deals
  FROM crm.workspaces w LEFT JOIN crm_report.deals d ON d.workspace_id = w.id GROUP BY 1 ORDER BY 1;
SELECT workspace_id = :beta AS beta, month_start, sum(created) AS created
  FROM crm_report.deals_per_month GROUP BY 1, 2 ORDER BY 1, 2;
INSERT INTO crm.contacts (name) VALUES ('written by ops');

--
-- Wide property views: one per workspace and object type, a typed column per
-- definition, regenerated in the transaction of the definition's change --
-- here an admin member's row write through the API, which has no DDL right.
--
\c - postgres
SET TimeZone = 'UTC';
-- a conversation that has no message yet counts none
BEGIN;
SELECT set_config('crm.workspace_id', :'acme', true) IS NOT NULL AS in_acme;
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES (:c1, 'phone', '2026-01-12 09:00')
RETURNING id AS cv4 \gset
SELECT messages, first_contact_message_at, first_response_at FROM crm_report.conversations WHERE conversation_id = :cv4;
ROLLBACK;
SELECT table_name FROM information_schema.views WHERE table_name LIKE '%\_properties\_w%' ORDER BY 1;
SELECT column_name, data_type, col_description('crm_report.contact_properties_w2'::regclass, ordinal_position::int)
  FROM information_schema.columns WHERE table_schema = 'crm_report' AND table_name = 'contact_properties_w2'
 ORDER BY ordinal_position;
CREATE ROLE crm_report_app;
SELECT crm.grant_access('crm_report_app');
SET ROLE crm_report_app;
SELECT set_config('request.jwt.claims', format('{"workspace_id": %s, "sub": "admin-1"}', :acme), false) IS NOT NULL AS claimed;
BEGIN;
INSERT INTO crm.property_definitions (object_type, key, type, label) VALUES ('contact', 'remark', 'text', 'Remark');
DELETE FROM crm.property_definitions WHERE object_type = 'contact' AND key = 'beta';
UPDATE crm.property_definitions SET label = 'Seat count' WHERE object_type = 'contact' AND key = 'seats';
-- the same transaction sees the new columns (from the catalog: this role has no privilege on the view)
SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relname = 'contact_properties_w2' AND a.attnum > 0 ORDER BY a.attnum;
ROLLBACK;
SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relname = 'contact_properties_w2' AND a.attnum > 0 ORDER BY a.attnum;
INSERT INTO crm.property_definitions (object_type, key, type, label) VALUES ('contact', 'remark', 'text', 'Remark');
-- the frontend gained no DDL right, nor a view of crm_report
CREATE VIEW crm_report.mine AS SELECT 1;
SELECT * FROM crm_report.contact_properties_w2;
-- a member without the admin permission changes no definition, and no view
SELECT set_config('request.jwt.claims', format('{"workspace_id": %s, "sub": "ann"}', :acme), false) IS NOT NULL AS claimed;
DELETE FROM crm.property_definitions WHERE key = 'remark';
RESET ROLE;
RESET request.jwt.claims;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'crm_report' AND table_name = 'contact_properties_w2' ORDER BY ordinal_position;
-- members of the extension, granted to the reporting roles
SELECT c.relname, e.deptype AS member, c.relacl::text LIKE '%crm_report_bi=r/%' AS bi_reads
  FROM pg_class c LEFT JOIN pg_depend e ON e.objid = c.oid AND e.deptype = 'e'
 WHERE c.relname LIKE '%\_properties\_w%' ORDER BY 1;
-- the BI tool reads it as any view
\c - crm_report_bi
SELECT c.name, w.plan, w.seats, w.renewal, w.remark
  FROM crm_report.contacts c JOIN crm_report.contact_properties_w2 w
	ON w.workspace_id = c.workspace_id AND w.record_id = c.contact_id
 WHERE w.seats > 5;
SELECT record_id = :d1 AS d1, channels FROM crm_report.deal_properties_w2;
-- the last definition of a type gone, its view goes
\c - postgres
DELETE FROM crm.property_definitions WHERE workspace_id = :acme AND object_type = 'deal';
SELECT table_name FROM information_schema.views WHERE table_name LIKE '%\_properties\_w%' ORDER BY 1;

--
-- A renamed role is refused, not left unpinned; granted again it reads.
--
\c - postgres
ALTER ROLE crm_report_bi RENAME TO crm_report_bi2;
SET ROLE crm_report_bi2;
SELECT count(*) FROM crm_report.contacts;
RESET ROLE;
SELECT crm.use_workspace('beta') IS NOT NULL AS in_beta;
SELECT crm.grant_access('crm_report_bi2', access => 'reporting');
SET ROLE crm_report_bi2;
SELECT name FROM crm_report.contacts;
RESET ROLE;

-- another level takes reporting back, BYPASSRLS with it
SELECT crm.grant_access('crm_report_ops', access => 'read_only');
SELECT crm.grant_access('crm_report_bi2', access => 'read_only');
SELECT rolname, rolbypassrls, has_schema_privilege(rolname, 'crm_report', 'USAGE') AS reports
  FROM pg_roles WHERE rolname LIKE 'crm_report_%' ORDER BY 1;
SELECT count(*) AS pinned FROM crm_internal.reporting_access;
SET ROLE crm_report_bi2;
SET crm.workspace_id = 1;
SELECT crm.current_workspace() AS follows_its_setting_again;
RESET ROLE;

-- a TRUNCATE of the definitions drops every wide view
\c - postgres
SELECT count(*) AS wide_views_before FROM pg_class WHERE relname LIKE '%\_properties\_w%';
TRUNCATE crm.property_definitions;
SELECT count(*) AS wide_views FROM pg_class WHERE relname LIKE '%\_properties\_w%';

\c postgres
DROP DATABASE crm_test_reporting;
DROP ROLE crm_report_bi2, crm_report_ops, crm_report_dba, crm_report_front, crm_report_app;
