--
-- Reporting for BI tools (docs/reporting.md): schema crm_report holds plain
-- views a tool like Metabase, Superset or Grafana browses and queries with
-- the SQL it generates -- facts, dimensions, time series and funnels, every
-- column typed and commented, no jsonb needed.  No API layer exposes this
-- schema (they are pointed at crm); crm.grant_access(role, access =>
-- 'reporting') grants it.  Every view is security_invoker: the base tables'
-- row-level security confines a reader to its workspace (and whatever
-- further policies the tables get), the reporting role's pin included.
-- Times are cut into days, weeks (starting Monday) and months in the
-- session's TimeZone, as the tool's own date_trunc would.
--

CREATE SCHEMA crm_report;
COMMENT ON SCHEMA crm_report IS
	'read-only views for BI tools (docs/reporting.md); granted with crm.grant_access(role, access => ''reporting'')';

--
-- Dimensions
--

CREATE VIEW crm_report.dates WITH (security_invoker = true) AS
	SELECT d::date AS day,
		   pg_catalog.date_trunc('week', d)::date AS week_start,
		   pg_catalog.date_trunc('month', d)::date AS month_start,
		   pg_catalog.date_trunc('quarter', d)::date AS quarter_start,
		   pg_catalog.date_part('year', d)::integer AS year,
		   pg_catalog.date_part('quarter', d)::integer AS quarter,
		   pg_catalog.date_part('month', d)::integer AS month,
		   pg_catalog.date_part('week', d)::integer AS iso_week,
		   pg_catalog.date_part('isodow', d)::integer AS iso_day_of_week,
		   pg_catalog.to_char(d, 'YYYY-MM') AS month_label,
		   pg_catalog.date_part('isodow', d) OPERATOR(pg_catalog.>=) 6 AS is_weekend
	  FROM pg_catalog.generate_series(timestamp '2000-01-01', timestamp '2059-12-31', interval '1 day') d;

CREATE VIEW crm_report.contacts WITH (security_invoker = true) AS
	SELECT c.workspace_id, c.id AS contact_id, c.name, c.email, c.phone, c.city, c.country,
		   c.lifecycle_stage::text AS lifecycle_stage, c.status::text AS status,
		   c.identity_source::text AS source, c.owner, c.blocked, c.conversation_count,
		   c.first_seen_at, c.last_seen_at, c.created_at, c.updated_at, c.deleted_at,
		   c.street, c.address_line2, c.region, c.postal_code
	  FROM crm.contacts c
	 WHERE c.status OPERATOR(pg_catalog.<>) 'merged';

CREATE VIEW crm_report.companies WITH (security_invoker = true) AS
	SELECT c.workspace_id, c.id AS company_id, c.name, c.domain, c.industry, c.employees, c.plan,
		   c.spend, c.owner, c.created_at, c.updated_at
	  FROM crm.companies c;

CREATE VIEW crm_report.pipelines WITH (security_invoker = true) AS
	SELECT p.workspace_id, p.id AS pipeline_id, p.name AS pipeline_name, p.is_default, p.created_at
	  FROM crm.pipelines p;

CREATE VIEW crm_report.stages WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.id AS stage_id, s.pipeline_id, p.name AS pipeline_name, s.name AS stage_name,
		   s.position AS stage_position, s.kind::text AS stage_kind, s.probability,
		   s.forecast_category::text AS forecast_category
	  FROM crm.stages s
	  JOIN crm.pipelines p ON p.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						  AND p.id OPERATOR(pg_catalog.=) s.pipeline_id;

CREATE VIEW crm_report.members WITH (security_invoker = true) AS
	SELECT m.workspace_id, m.user_id, m.name, m.email, m.role::text AS role, m.team, m.active, m.created_at
	  FROM crm.members m;

--
-- Facts
--

CREATE VIEW crm_report.deals WITH (security_invoker = true) AS
	SELECT d.workspace_id, d.id AS deal_id, d.title, d.pipeline_id, p.name AS pipeline_name,
		   d.stage_id, s.name AS stage_name, s.position AS stage_position, s.kind::text AS stage_kind,
		   d.status::text AS status, d.owner, m.name AS owner_name, d.team,
		   d.contact_id, d.company_id, d.priority::text AS priority,
		   d.value, d.currency::text AS currency, w.default_currency::text AS workspace_currency,
		   pg_catalog.round(d.value OPERATOR(pg_catalog.*) CASE WHEN d.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(
				(SELECT x.rate FROM crm.exchange_rates x
				  WHERE x.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND x.base OPERATOR(pg_catalog.=) d.currency
					AND x.quote OPERATOR(pg_catalog.=) w.default_currency AND x.valid_from OPERATOR(pg_catalog.<=) COALESCE(d.closed_at::date, CURRENT_DATE)
				  ORDER BY x.valid_from DESC LIMIT 1),
				(SELECT 1 OPERATOR(pg_catalog./) x.rate FROM crm.exchange_rates x
				  WHERE x.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND x.base OPERATOR(pg_catalog.=) w.default_currency
					AND x.quote OPERATOR(pg_catalog.=) d.currency AND x.valid_from OPERATOR(pg_catalog.<=) COALESCE(d.closed_at::date, CURRENT_DATE)
				  ORDER BY x.valid_from DESC LIMIT 1)) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2)) AS value_in_workspace_currency,
		   COALESCE(d.probability_override, s.probability) AS probability,
		   d.expected_close_date, d.created_at, d.stage_entered_at, d.closed_at,
		   d.won_reason, d.lost_reason, d.updated_at
	  FROM crm.deals d
	  JOIN crm.pipelines p ON p.workspace_id OPERATOR(pg_catalog.=) d.workspace_id
						  AND p.id OPERATOR(pg_catalog.=) d.pipeline_id
	  JOIN crm.stages s ON s.workspace_id OPERATOR(pg_catalog.=) d.workspace_id
					   AND s.id OPERATOR(pg_catalog.=) d.stage_id
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) d.workspace_id
	  LEFT JOIN crm.members m ON m.workspace_id OPERATOR(pg_catalog.=) d.workspace_id
							 AND m.user_id OPERATOR(pg_catalog.=) d.owner;

CREATE VIEW crm_report.deal_stage_history WITH (security_invoker = true) AS
	SELECT h.workspace_id, h.id AS history_id, h.deal_id, h.pipeline_id,
		   h.from_stage_id, f.name AS from_stage_name, h.stage_id, s.name AS stage_name,
		   s.position AS stage_position, s.kind::text AS stage_kind,
		   h.entered_at, h.left_at, h.left_at OPERATOR(pg_catalog.-) h.entered_at AS duration,
		   pg_catalog.round(pg_catalog.date_part('epoch', h.left_at OPERATOR(pg_catalog.-) h.entered_at)::numeric
							OPERATOR(pg_catalog./) 86400, 2) AS duration_days,
		   h.actor
	  FROM crm.deal_stage_history h
	  JOIN crm.stages s ON s.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
					   AND s.id OPERATOR(pg_catalog.=) h.stage_id
	  LEFT JOIN crm.stages f ON f.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
							AND f.id OPERATOR(pg_catalog.=) h.from_stage_id;

CREATE VIEW crm_report.orders WITH (security_invoker = true) AS
	SELECT o.workspace_id, o.id AS order_id, o.contact_id, o.deal_id, o.title, o.status::text AS status,
		   o.source::text AS source, o.value, o.currency::text AS currency,
		   w.default_currency::text AS workspace_currency,
		   pg_catalog.round(o.value OPERATOR(pg_catalog.*) CASE WHEN o.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(
				(SELECT x.rate FROM crm.exchange_rates x
				  WHERE x.workspace_id OPERATOR(pg_catalog.=) o.workspace_id AND x.base OPERATOR(pg_catalog.=) o.currency
					AND x.quote OPERATOR(pg_catalog.=) w.default_currency AND x.valid_from OPERATOR(pg_catalog.<=) o.order_date::date
				  ORDER BY x.valid_from DESC LIMIT 1),
				(SELECT 1 OPERATOR(pg_catalog./) x.rate FROM crm.exchange_rates x
				  WHERE x.workspace_id OPERATOR(pg_catalog.=) o.workspace_id AND x.base OPERATOR(pg_catalog.=) w.default_currency
					AND x.quote OPERATOR(pg_catalog.=) o.currency AND x.valid_from OPERATOR(pg_catalog.<=) o.order_date::date
				  ORDER BY x.valid_from DESC LIMIT 1)) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2)) AS value_in_workspace_currency,
		   o.order_date, o.paid_date, o.created_at
	  FROM crm.orders o
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) o.workspace_id;

CREATE VIEW crm_report.conversations WITH (security_invoker = true) AS
	SELECT c.workspace_id, c.id AS conversation_id, c.contact_id, c.channel, c.inbox, c.status::text AS status,
		   c.started_at, c.last_message_at, r.messages, r.first_contact_message_at, r.first_response_at,
		   pg_catalog.date_part('epoch', r.first_response_at OPERATOR(pg_catalog.-) r.first_contact_message_at)::numeric
			   AS first_response_seconds,
		   c.assignee, c.tags, c.deal_id, c.messages_in, c.messages_out, c.response_count,
		   (c.response_seconds OPERATOR(pg_catalog./) NULLIF(c.response_count, 0))::numeric AS avg_response_seconds
	  FROM crm.conversations c
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.count(m.id) AS messages, q.first_contact_message_at,
			   pg_catalog.min(m.sent_at) FILTER (WHERE m.sender OPERATOR(pg_catalog.<>) 'contact'
												  AND m.sent_at OPERATOR(pg_catalog.>=) q.first_contact_message_at)
				   AS first_response_at
		  FROM (SELECT pg_catalog.min(x.sent_at) AS first_contact_message_at
				  FROM crm.messages x
				 WHERE x.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
				   AND x.conversation_id OPERATOR(pg_catalog.=) c.id AND x.sender OPERATOR(pg_catalog.=) 'contact') q
		  LEFT JOIN crm.messages m ON m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
								  AND m.conversation_id OPERATOR(pg_catalog.=) c.id
		 GROUP BY q.first_contact_message_at) r;

CREATE VIEW crm_report.messages WITH (security_invoker = true) AS
	SELECT m.workspace_id, m.id AS message_id, m.conversation_id, c.contact_id, c.channel,
		   m.sender::text AS sender, m.sent_at, pg_catalog.length(m.body) AS body_length
	  FROM crm.messages m
	  JOIN crm.conversations c ON c.workspace_id OPERATOR(pg_catalog.=) m.workspace_id
							  AND c.id OPERATOR(pg_catalog.=) m.conversation_id;

CREATE VIEW crm_report.activities WITH (security_invoker = true) AS
	SELECT a.workspace_id, a.id AS activity_id, a.type, a.subject, a.actor, a.recorded_by,
		   a.contact_id, a.company_id, a.deal_id, a.occurred_at, a.created_at
	  FROM crm.activities a;

-- From the outbox: the list member events are the history of membership
-- (crm.list_members holds only who is in a list now).
CREATE VIEW crm_report.list_membership_changes WITH (security_invoker = true) AS
	SELECT e.workspace_id, e.id AS event_id, e.object_id AS list_id, l.name AS list_name,
		   CASE e.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 'added' ELSE 'removed' END AS change,
		   CASE e.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 1 ELSE -1 END AS delta,
		   e.payload OPERATOR(pg_catalog.->>) 'object_type' AS object_type,
		   (e.payload OPERATOR(pg_catalog.->>) 'object_id')::bigint AS object_id,
		   e.payload OPERATOR(pg_catalog.->>) 'source' AS source,
		   e.created_at AS changed_at, e.actor
	  FROM crm.events e
	  LEFT JOIN crm.lists l ON l.workspace_id OPERATOR(pg_catalog.=) e.workspace_id
						   AND l.id OPERATOR(pg_catalog.=) e.object_id
	 WHERE e.type OPERATOR(pg_catalog.=) ANY (ARRAY['CRM_LIST_MEMBER_ADDED', 'CRM_LIST_MEMBER_REMOVED']);

--
-- Custom properties, long: one row per defined property a record has, the
-- value in the column of its type, for a tool to pivot.  Keys without a
-- definition are free-form metadata and are left out.
--
CREATE VIEW crm_report.property_values WITH (security_invoker = true) AS
	SELECT r.workspace_id, d.object_type, r.object_id, d.key, d.label, d.type::text AS type,
		   CASE WHEN pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.=) 'array'
				THEN (SELECT pg_catalog.string_agg(e, ', ') FROM pg_catalog.jsonb_array_elements_text(v.value) e)
				ELSE v.value OPERATOR(pg_catalog.#>>) '{}' END AS text_value,
		   CASE WHEN pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.=) 'number'
				THEN (v.value OPERATOR(pg_catalog.#>>) '{}')::numeric END AS number_value,
		   CASE WHEN d.type OPERATOR(pg_catalog.=) ANY (ARRAY['date', 'datetime']::crm.property_type[])
				 AND pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.=) 'string'
				THEN pg_catalog.left(v.value OPERATOR(pg_catalog.#>>) '{}', 10)::date END AS date_value,
		   CASE WHEN d.type OPERATOR(pg_catalog.=) 'datetime' AND pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.=) 'string'
				THEN (v.value OPERATOR(pg_catalog.#>>) '{}')::timestamptz END AS timestamp_value,
		   CASE WHEN pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.=) 'boolean'
				THEN (v.value OPERATOR(pg_catalog.#>>) '{}')::boolean END AS boolean_value
	  FROM (SELECT c.workspace_id, 'contact' AS object_type, c.id AS object_id, c.properties
			  FROM crm.contacts c WHERE c.status OPERATOR(pg_catalog.<>) 'merged'
			UNION ALL
			SELECT x.workspace_id, 'company', x.id, x.properties FROM crm.companies x
			UNION ALL
			SELECT x.workspace_id, 'deal', x.id, x.properties FROM crm.deals x
			UNION ALL
			SELECT x.workspace_id, 'order', x.id, x.properties FROM crm.orders x
			UNION ALL
			SELECT x.workspace_id, 'conversation', x.id, x.properties FROM crm.conversations x
			UNION ALL
			SELECT x.workspace_id, x.type_key, x.id, x.properties FROM crm.object_records x) r
	  JOIN crm.property_definitions d ON d.workspace_id OPERATOR(pg_catalog.=) r.workspace_id
									 AND d.object_type OPERATOR(pg_catalog.=) r.object_type
	 CROSS JOIN LATERAL (SELECT r.properties OPERATOR(pg_catalog.->) d.key AS value) v
	 WHERE v.value IS NOT NULL AND pg_catalog.jsonb_typeof(v.value) OPERATOR(pg_catalog.<>) 'null';

--
-- The summary behind the deal time series (src/report_summaries.c): per UTC
-- day, pipeline, owner and currency, the deals created, won and lost and
-- the value won in the deal's currency, kept exact at commit by statement
-- triggers on crm.deals.  A delta summary: a key's value is the sum of its
-- rows (writers fold their deltas into the rows no other transaction
-- holds, never waiting on each other).  Only the triggers write it (as its owner);
-- reporting roles read it through crm_report.deals_per_day under the same
-- workspace-bound policy as the deals, and only when the summary answers
-- what they would see: crm_internal.report_summarized().
--
CREATE TABLE crm_internal.report_deal_days (
	workspace_id bigint NOT NULL,
	day date NOT NULL,
	pipeline_id bigint NOT NULL,
	owner text,
	currency char(3) NOT NULL,
	created bigint NOT NULL,
	won bigint NOT NULL,
	lost bigint NOT NULL,
	won_value numeric NOT NULL
);
-- a key's rows: one, and one more per writer in flight
CREATE INDEX report_deal_days_key ON crm_internal.report_deal_days (workspace_id, day, pipeline_id, owner, currency);
COMMENT ON TABLE crm_internal.report_deal_days IS
	'deals created, won and lost per UTC day, pipeline, owner and currency, kept by the triggers on crm.deals (src/report_summaries.c); read through crm_report.deals_per_day';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.report_deal_days', '');

-- The gate's planner support function helps with nothing: that the planner
-- calls it loads crm.so before the statement's executor starts, whose hook
-- then runs the two-branch views without JIT (src/report_plans.c).
CREATE FUNCTION crm_internal.report_summarized_support(internal) RETURNS internal
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'crm_report_summarized_support';
COMMENT ON FUNCTION crm_internal.report_summarized_support(internal) IS
	'planner support of crm_internal.report_summarized(): declines every request; being called loads crm.so, whose executor hook runs the time series without JIT (src/report_plans.c)';

CREATE FUNCTION crm_internal.report_summarized() RETURNS boolean
LANGUAGE c STABLE PARALLEL RESTRICTED
SUPPORT crm_internal.report_summarized_support
AS 'MODULE_PATHNAME', 'crm_report_summarized';
COMMENT ON FUNCTION crm_internal.report_summarized() IS
	'whether the query reads the deal time series from crm_internal.report_deal_days: a UTC session, a role granted it, and every deal of the workspace visible';

ALTER TABLE crm_internal.report_deal_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm_internal.report_deal_days
	USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm_internal.module_workspace('deals'))
		   AND (SELECT crm_internal.report_summarized()));

-- What the summary holds, computed from the deals: the rebuild and the
-- consistency test read it
CREATE VIEW crm_internal.report_deal_days_recomputed WITH (security_invoker = true) AS
	SELECT e.workspace_id, e.day, e.pipeline_id, e.owner, e.currency, pg_catalog.sum(e.created)::bigint AS created,
		   pg_catalog.sum(e.won)::bigint AS won, pg_catalog.sum(e.lost)::bigint AS lost,
		   pg_catalog.sum(e.won_value) AS won_value
	  FROM (SELECT d.workspace_id, (d.created_at AT TIME ZONE 'UTC')::date AS day, d.pipeline_id, d.owner, d.currency,
				   1 AS created, 0 AS won, 0 AS lost, 0::numeric AS won_value
			  FROM crm.deals d
			UNION ALL
			SELECT d.workspace_id, (d.closed_at AT TIME ZONE 'UTC')::date, d.pipeline_id, d.owner, d.currency,
				   0, (d.status OPERATOR(pg_catalog.=) 'won')::integer, (d.status OPERATOR(pg_catalog.=) 'lost')::integer,
				   CASE WHEN d.status OPERATOR(pg_catalog.=) 'won' THEN d.value ELSE 0 END
			  FROM crm.deals d
			 WHERE d.status OPERATOR(pg_catalog.<>) 'open' AND d.closed_at IS NOT NULL) e
	 GROUP BY e.workspace_id, e.day, e.pipeline_id, e.owner, e.currency;
COMMENT ON VIEW crm_internal.report_deal_days_recomputed IS
	'what crm_internal.report_deal_days holds, computed from crm.deals (crm.rebuild_report_summaries, the consistency test)';

CREATE FUNCTION crm_internal.report_deals_summarize() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_deals_summarize';
COMMENT ON FUNCTION crm_internal.report_deals_summarize() IS
	'statement trigger on crm.deals: adds the statement''s new rows to crm_internal.report_deal_days and subtracts its old ones';

CREATE TRIGGER report_summary_insert AFTER INSERT ON crm.deals
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_deals_summarize();
CREATE TRIGGER report_summary_update AFTER UPDATE ON crm.deals
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_deals_summarize();
CREATE TRIGGER report_summary_delete AFTER DELETE ON crm.deals
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_deals_summarize();
CREATE TRIGGER report_summary_truncate AFTER TRUNCATE ON crm.deals
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_deals_summarize();

--
-- The summary behind crm_report.contacts_per_month (src/report_summaries.c):
-- per UTC day first seen (or created) and identity source, the contacts
-- neither merged nor deleted, kept exact at commit by statement triggers on
-- crm.contacts.  A delta summary: a key's value is the sum of its rows
-- (writers fold their deltas into the rows no other transaction holds,
-- never waiting on each other).  Read like the deal summary: by reporting
-- roles, under the contacts' workspace policy, when
-- crm_internal.report_summarized() says.
--
CREATE TABLE crm_internal.report_contact_days (
	workspace_id bigint NOT NULL,
	day date NOT NULL,
	source crm.identity_source NOT NULL,
	contacts bigint NOT NULL
);
-- a key's rows: one, and one more per writer in flight
CREATE INDEX report_contact_days_key ON crm_internal.report_contact_days (workspace_id, day, source);
COMMENT ON TABLE crm_internal.report_contact_days IS
	'contacts (neither merged nor deleted) per UTC day first seen and identity source, kept by the triggers on crm.contacts (src/report_summaries.c); read through crm_report.contacts_per_month';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.report_contact_days', '');

ALTER TABLE crm_internal.report_contact_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm_internal.report_contact_days
	USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm.current_workspace())
		   AND (SELECT crm_internal.report_summarized()));

CREATE VIEW crm_internal.report_contact_days_recomputed WITH (security_invoker = true) AS
	SELECT c.workspace_id, (COALESCE(c.first_seen_at, c.created_at) AT TIME ZONE 'UTC')::date AS day,
		   c.identity_source AS source, pg_catalog.count(*) AS contacts
	  FROM crm.contacts c
	 WHERE c.status OPERATOR(pg_catalog.<>) ALL ('{merged,deleted}')
	 GROUP BY 1, 2, 3;
COMMENT ON VIEW crm_internal.report_contact_days_recomputed IS
	'what crm_internal.report_contact_days holds, computed from crm.contacts (crm.rebuild_report_summaries, the consistency test)';

CREATE FUNCTION crm_internal.report_contacts_summarize() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_contacts_summarize';
COMMENT ON FUNCTION crm_internal.report_contacts_summarize() IS
	'statement trigger on crm.contacts: adds the statement''s new rows to crm_internal.report_contact_days and subtracts its old ones';

CREATE TRIGGER report_summary_insert AFTER INSERT ON crm.contacts
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_contacts_summarize();
CREATE TRIGGER report_summary_update AFTER UPDATE ON crm.contacts
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_contacts_summarize();
CREATE TRIGGER report_summary_delete AFTER DELETE ON crm.contacts
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_contacts_summarize();
CREATE TRIGGER report_summary_truncate AFTER TRUNCATE ON crm.contacts
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_contacts_summarize();

--
-- The summary behind crm_report.order_revenue_per_month
-- (src/report_summaries.c): per UTC day of order date and currency, the
-- orders, the booked and paid values in the order's currency and the paid
-- ones' count, kept exact at commit by statement triggers on crm.orders.
-- A delta summary, like the contacts' one: a key's value is the sum of its rows.
-- Read like the deal summary: by reporting roles, under the orders'
-- workspace policy, when crm_internal.report_summarized() says.
--
CREATE TABLE crm_internal.report_order_days (
	workspace_id bigint NOT NULL,
	day date NOT NULL,
	currency char(3) NOT NULL,
	orders bigint NOT NULL,
	booked_value numeric NOT NULL,
	paid_value numeric NOT NULL,
	paid_orders bigint NOT NULL
);
-- a key's rows: one, and one more per writer in flight
CREATE INDEX report_order_days_key ON crm_internal.report_order_days (workspace_id, day, currency);
COMMENT ON TABLE crm_internal.report_order_days IS
	'orders, their booked and paid values and the paid ones per UTC day of order date and currency, kept by the triggers on crm.orders (src/report_summaries.c); read through crm_report.order_revenue_per_month';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.report_order_days', '');

ALTER TABLE crm_internal.report_order_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm_internal.report_order_days
	USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm_internal.module_workspace('orders'))
		   AND (SELECT crm_internal.report_summarized()));

CREATE VIEW crm_internal.report_order_days_recomputed WITH (security_invoker = true) AS
	SELECT o.workspace_id, (o.order_date AT TIME ZONE 'UTC')::date AS day, o.currency, pg_catalog.count(*) AS orders,
		   pg_catalog.sum(CASE WHEN o.status OPERATOR(pg_catalog.<>) ALL ('{canceled,failed,refunded}') THEN o.value ELSE 0 END)
			   AS booked_value,
		   pg_catalog.sum(CASE WHEN o.status OPERATOR(pg_catalog.=) 'paid' THEN o.value ELSE 0 END) AS paid_value,
		   pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'paid') AS paid_orders
	  FROM crm.orders o
	 GROUP BY 1, 2, 3;
COMMENT ON VIEW crm_internal.report_order_days_recomputed IS
	'what crm_internal.report_order_days holds, computed from crm.orders (crm.rebuild_report_summaries, the consistency test)';

CREATE FUNCTION crm_internal.report_orders_summarize() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_orders_summarize';
COMMENT ON FUNCTION crm_internal.report_orders_summarize() IS
	'statement trigger on crm.orders: adds the statement''s new rows to crm_internal.report_order_days and subtracts its old ones';

CREATE TRIGGER report_summary_insert AFTER INSERT ON crm.orders
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_orders_summarize();
CREATE TRIGGER report_summary_update AFTER UPDATE ON crm.orders
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_orders_summarize();
CREATE TRIGGER report_summary_delete AFTER DELETE ON crm.orders
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_orders_summarize();
CREATE TRIGGER report_summary_truncate AFTER TRUNCATE ON crm.orders
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_orders_summarize();

--
-- The summary behind crm_report.conversations_per_day (src/report_summaries.c):
-- per UTC day started and channel, the conversations, the answered ones and
-- their first responses in seconds added up (the view's mean is exact; it has
-- no median, which would need a row per distinct response time) -- kept
-- exact at commit by statement triggers on crm.conversations; the first
-- response is the one the message triggers keep on the conversation.  A
-- delta summary, like the others.
-- Read like the deal summary: by reporting roles, under the conversations'
-- workspace policy, when crm_internal.report_summarized() says.
--
CREATE TABLE crm_internal.report_conversation_days (
	workspace_id bigint NOT NULL,
	day date NOT NULL,
	channel text NOT NULL,
	conversations bigint NOT NULL,
	answered bigint NOT NULL,
	response_seconds numeric NOT NULL
);
-- a key's rows: one, and one more per writer in flight
CREATE INDEX report_conversation_days_key
	ON crm_internal.report_conversation_days (workspace_id, day, channel);
COMMENT ON TABLE crm_internal.report_conversation_days IS
	'conversations per UTC day started and channel: all, the answered ones and the sum of their first responses in seconds, kept by the triggers on crm.conversations (src/report_summaries.c); read through crm_report.conversations_per_day';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.report_conversation_days', '');

ALTER TABLE crm_internal.report_conversation_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm_internal.report_conversation_days
	USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm.current_workspace())
		   AND (SELECT crm_internal.report_summarized()));

CREATE VIEW crm_internal.report_conversation_days_recomputed WITH (security_invoker = true) AS
	SELECT c.workspace_id, (c.started_at AT TIME ZONE 'UTC')::date AS day, c.channel,
		   pg_catalog.count(*) AS conversations, pg_catalog.count(c.first_response_seconds) AS answered,
		   COALESCE(pg_catalog.sum(c.first_response_seconds::numeric), 0) AS response_seconds
	  FROM crm.conversations c
	 GROUP BY 1, 2, 3;
COMMENT ON VIEW crm_internal.report_conversation_days_recomputed IS
	'what crm_internal.report_conversation_days holds, computed from crm.conversations (crm.rebuild_report_summaries, the consistency test)';

CREATE FUNCTION crm_internal.report_conversations_summarize() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_conversations_summarize';
COMMENT ON FUNCTION crm_internal.report_conversations_summarize() IS
	'statement trigger on crm.conversations: adds the statement''s new rows to crm_internal.report_conversation_days and subtracts its old ones';

CREATE TRIGGER report_summary_insert AFTER INSERT ON crm.conversations
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_conversations_summarize();
CREATE TRIGGER report_summary_update AFTER UPDATE ON crm.conversations
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_conversations_summarize();
CREATE TRIGGER report_summary_delete AFTER DELETE ON crm.conversations
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_conversations_summarize();
CREATE TRIGGER report_summary_truncate AFTER TRUNCATE ON crm.conversations
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_conversations_summarize();

--
-- The summary behind crm_report.messages_per_day (src/report_summaries.c):
-- per UTC day sent, channel and sender, the messages -- kept exact at commit
-- by statement triggers on crm.messages.  The channel is the conversation's:
-- a conversation's delete subtracts its messages before the cascade removes
-- them (a BEFORE DELETE row trigger: the cascade's delete of the messages
-- finds no conversation and counts nothing), and its channel change moves
-- them.  A delta summary, read like the others.
--
CREATE TABLE crm_internal.report_message_days (
	workspace_id bigint NOT NULL,
	day date NOT NULL,
	channel text NOT NULL,
	sender crm.message_sender NOT NULL,
	messages bigint NOT NULL
);
-- a key's rows: one, and one more per writer in flight
CREATE INDEX report_message_days_key ON crm_internal.report_message_days (workspace_id, day, channel, sender);
COMMENT ON TABLE crm_internal.report_message_days IS
	'messages per UTC day sent, conversation channel and sender, kept by the triggers on crm.messages and crm.conversations (src/report_summaries.c); read through crm_report.messages_per_day';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.report_message_days', '');

ALTER TABLE crm_internal.report_message_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm_internal.report_message_days
	USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm.current_workspace())
		   AND (SELECT crm_internal.report_summarized()));

CREATE VIEW crm_internal.report_message_days_recomputed WITH (security_invoker = true) AS
	SELECT m.workspace_id, (m.sent_at AT TIME ZONE 'UTC')::date AS day, c.channel, m.sender,
		   pg_catalog.count(*) AS messages
	  FROM crm.messages m
	  JOIN crm.conversations c ON c.workspace_id OPERATOR(pg_catalog.=) m.workspace_id
							  AND c.id OPERATOR(pg_catalog.=) m.conversation_id
	 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW crm_internal.report_message_days_recomputed IS
	'what crm_internal.report_message_days holds, computed from crm.messages and their conversations (crm.rebuild_report_summaries, the consistency test)';

CREATE FUNCTION crm_internal.report_messages_summarize() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_messages_summarize';
COMMENT ON FUNCTION crm_internal.report_messages_summarize() IS
	'statement trigger on crm.messages: adds the statement''s new rows to crm_internal.report_message_days and subtracts its old ones, in their conversation''s channel';

CREATE TRIGGER report_summary_insert AFTER INSERT ON crm.messages
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_messages_summarize();
CREATE TRIGGER report_summary_update AFTER UPDATE ON crm.messages
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_messages_summarize();
CREATE TRIGGER report_summary_delete AFTER DELETE ON crm.messages
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_messages_summarize();
CREATE TRIGGER report_summary_truncate AFTER TRUNCATE ON crm.messages
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_messages_summarize();

CREATE FUNCTION crm_internal.report_conversation_messages_move() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_conversation_messages_move';
COMMENT ON FUNCTION crm_internal.report_conversation_messages_move() IS
	'statement trigger on crm.conversations: a conversation''s channel change moves its messages in crm_internal.report_message_days';
CREATE TRIGGER report_summary_messages_move AFTER UPDATE ON crm.conversations
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_conversation_messages_move();

CREATE FUNCTION crm_internal.report_conversation_messages_gone() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_report_conversation_messages_gone';
COMMENT ON FUNCTION crm_internal.report_conversation_messages_gone() IS
	'row trigger before a conversation''s delete: subtracts its messages from crm_internal.report_message_days before the cascade deletes them';
CREATE TRIGGER report_summary_messages_gone BEFORE DELETE ON crm.conversations
	FOR EACH ROW EXECUTE FUNCTION crm_internal.report_conversation_messages_gone();

-- A small statement's deltas are written at commit (src/report_summaries.c):
-- the statement triggers above keep them in the backend, netted per key, and
-- a transaction callback writes each key's once just before commit, so a
-- long transaction of single-row writes leaves no chain of dead versions on
-- its day's row.  This function writes them now, for a reader of the
-- summary rows in the same transaction.
CREATE FUNCTION crm_internal.write_report_summaries() RETURNS void
	AS 'MODULE_PATHNAME', 'crm_write_report_summaries' LANGUAGE C;
COMMENT ON FUNCTION crm_internal.write_report_summaries() IS
	'writes now the report summary deltas of the transaction''s small statements, which are otherwise written just before commit';

CREATE FUNCTION crm.rebuild_report_summaries() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ws bigint := crm.current_workspace();
	n bigint;
	m bigint;
	k bigint;
	c bigint;
	g bigint;
BEGIN
	PERFORM crm_internal.require_caller_privilege('crm.members', 'UPDATE');
	IF 'admin' <> ALL (crm.current_permissions()) THEN
		RAISE EXCEPTION 'user "%" lacks the permission "admin" to rebuild the report summaries of workspace "%"',
			crm.current_user_id(), (SELECT w.slug FROM crm.workspaces w WHERE w.id = ws)
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'An admin of the workspace rebuilds them.';
	END IF;
	-- writers of deals, contacts, orders, conversations and messages wait until the summaries are rebuilt from what they committed
	LOCK TABLE crm.deals, crm.contacts, crm.orders, crm.conversations, crm.messages IN SHARE MODE;
	-- this transaction's deltas not yet written go in first: the rebuild replaces them
	PERFORM crm_internal.write_report_summaries();
	DELETE FROM crm_internal.report_deal_days s WHERE s.workspace_id = ws;
	INSERT INTO crm_internal.report_deal_days (workspace_id, day, pipeline_id, owner, currency, created, won, lost, won_value)
	SELECT r.workspace_id, r.day, r.pipeline_id, r.owner, r.currency, r.created, r.won, r.lost, r.won_value
	  FROM crm_internal.report_deal_days_recomputed r
	 WHERE r.workspace_id = ws
	 ORDER BY 1, 2, 3, 4, 5;
	GET DIAGNOSTICS n = ROW_COUNT;
	DELETE FROM crm_internal.report_contact_days s WHERE s.workspace_id = ws;
	INSERT INTO crm_internal.report_contact_days (workspace_id, day, source, contacts)
	SELECT r.workspace_id, r.day, r.source, r.contacts
	  FROM crm_internal.report_contact_days_recomputed r
	 WHERE r.workspace_id = ws
	 ORDER BY 1, 2, 3;
	GET DIAGNOSTICS m = ROW_COUNT;
	DELETE FROM crm_internal.report_order_days s WHERE s.workspace_id = ws;
	INSERT INTO crm_internal.report_order_days (workspace_id, day, currency, orders, booked_value, paid_value, paid_orders)
	SELECT r.workspace_id, r.day, r.currency, r.orders, r.booked_value, r.paid_value, r.paid_orders
	  FROM crm_internal.report_order_days_recomputed r
	 WHERE r.workspace_id = ws
	 ORDER BY 1, 2, 3;
	GET DIAGNOSTICS k = ROW_COUNT;
	DELETE FROM crm_internal.report_conversation_days s WHERE s.workspace_id = ws;
	INSERT INTO crm_internal.report_conversation_days (workspace_id, day, channel, conversations, answered, response_seconds)
	SELECT r.workspace_id, r.day, r.channel, r.conversations, r.answered, r.response_seconds
	  FROM crm_internal.report_conversation_days_recomputed r
	 WHERE r.workspace_id = ws
	 ORDER BY 1, 2, 3;
	GET DIAGNOSTICS c = ROW_COUNT;
	DELETE FROM crm_internal.report_message_days s WHERE s.workspace_id = ws;
	INSERT INTO crm_internal.report_message_days (workspace_id, day, channel, sender, messages)
	SELECT r.workspace_id, r.day, r.channel, r.sender, r.messages
	  FROM crm_internal.report_message_days_recomputed r
	 WHERE r.workspace_id = ws
	 ORDER BY 1, 2, 3, 4;
	GET DIAGNOSTICS g = ROW_COUNT;
	RETURN n + m + k + c + g;
END;
$$;
COMMENT ON FUNCTION crm.rebuild_report_summaries() IS
	'recomputes the current workspace''s report summaries (crm_report.deals_per_day, the week and month views, crm_report.contacts_per_month, crm_report.order_revenue_per_month, crm_report.conversations_per_day and crm_report.messages_per_day) from its deals, contacts, orders, conversations and messages; returns the number of summary rows; needs admin';

--
-- Time series.  A deal counts as created on the day of created_at, and as
-- won or lost on the day of closed_at; values are in the workspace's
-- currency (NULL where a rate is missing: see crm_report.deals).
--
CREATE VIEW crm_report.deal_flow WITH (security_invoker = true) AS
	SELECT d.workspace_id, d.deal_id, d.pipeline_id, d.owner, f.event, f.at,
		   d.value_in_workspace_currency
	  FROM crm_report.deals d
	 CROSS JOIN LATERAL (VALUES ('created', d.created_at),
								('won', CASE WHEN d.status OPERATOR(pg_catalog.=) 'won' THEN d.closed_at END),
								('lost', CASE WHEN d.status OPERATOR(pg_catalog.=) 'lost' THEN d.closed_at END)) f(event, at)
	 WHERE f.at IS NOT NULL;

-- The summary's branch or the facts' branch, as crm_internal.report_summarized()
-- says: a one-time filter, so a query runs one of them; parallel restricted,
-- so that it gates the facts' Gather in the leader (in the workers, the
-- workers would start before finding nothing to do).  On the summary, a
-- key's rows are added up, and the value won is converted per day,
-- pipeline, owner and currency with the rate of the day, and rounded once
-- for them.
CREATE VIEW crm_report.deals_per_day WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.day, s.pipeline_id, s.owner,
		   pg_catalog.sum(s.created)::bigint AS created, pg_catalog.sum(s.won)::bigint AS won,
		   pg_catalog.sum(s.lost)::bigint AS lost,
		   COALESCE(pg_catalog.sum(pg_catalog.round(s.won_value OPERATOR(pg_catalog.*)
				CASE WHEN s.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(
					(SELECT x.rate FROM crm.exchange_rates x
					  WHERE x.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND x.base OPERATOR(pg_catalog.=) s.currency
						AND x.quote OPERATOR(pg_catalog.=) w.default_currency AND x.valid_from OPERATOR(pg_catalog.<=) s.day
					  ORDER BY x.valid_from DESC LIMIT 1),
					(SELECT 1 OPERATOR(pg_catalog./) x.rate FROM crm.exchange_rates x
					  WHERE x.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND x.base OPERATOR(pg_catalog.=) w.default_currency
						AND x.quote OPERATOR(pg_catalog.=) s.currency AND x.valid_from OPERATOR(pg_catalog.<=) s.day
					  ORDER BY x.valid_from DESC LIMIT 1)) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2))) FILTER (WHERE s.won OPERATOR(pg_catalog.<>) 0), 0)
			   AS won_value
	  FROM (SELECT d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency, pg_catalog.sum(d.created)::bigint AS created,
				   pg_catalog.sum(d.won)::bigint AS won, pg_catalog.sum(d.lost)::bigint AS lost,
				   pg_catalog.sum(d.won_value) AS won_value
			  FROM crm_internal.report_deal_days d
			 GROUP BY d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency) s
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) s.workspace_id
	 WHERE crm_internal.report_summarized()
	 GROUP BY s.workspace_id, s.day, s.pipeline_id, s.owner
	UNION ALL
	SELECT f.workspace_id, f.at::date AS day, f.pipeline_id, f.owner,
		   pg_catalog.count(*) FILTER (WHERE f.event OPERATOR(pg_catalog.=) 'created') AS created,
		   pg_catalog.count(*) FILTER (WHERE f.event OPERATOR(pg_catalog.=) 'won') AS won,
		   pg_catalog.count(*) FILTER (WHERE f.event OPERATOR(pg_catalog.=) 'lost') AS lost,
		   COALESCE(pg_catalog.sum(f.value_in_workspace_currency) FILTER (WHERE f.event OPERATOR(pg_catalog.=) 'won'), 0) AS won_value
	  FROM crm_report.deal_flow f
	 WHERE NOT crm_internal.report_summarized()
	 GROUP BY f.workspace_id, f.at::date, f.pipeline_id, f.owner;

-- Weeks and months add up days (a day lies in one week and one month in
-- any time zone): one year is at most 366 summary rows per key.
CREATE VIEW crm_report.deals_per_week WITH (security_invoker = true) AS
	SELECT d.workspace_id, pg_catalog.date_trunc('week', d.day)::date AS week_start, d.pipeline_id, d.owner,
		   pg_catalog.sum(d.created)::bigint AS created, pg_catalog.sum(d.won)::bigint AS won,
		   pg_catalog.sum(d.lost)::bigint AS lost, pg_catalog.sum(d.won_value) AS won_value
	  FROM crm_report.deals_per_day d
	 GROUP BY d.workspace_id, pg_catalog.date_trunc('week', d.day)::date, d.pipeline_id, d.owner;

CREATE VIEW crm_report.deals_per_month WITH (security_invoker = true) AS
	SELECT d.workspace_id, pg_catalog.date_trunc('month', d.day)::date AS month_start, d.pipeline_id, d.owner,
		   pg_catalog.sum(d.created)::bigint AS created, pg_catalog.sum(d.won)::bigint AS won,
		   pg_catalog.sum(d.lost)::bigint AS lost, pg_catalog.sum(d.won_value) AS won_value
	  FROM crm_report.deals_per_day d
	 GROUP BY d.workspace_id, pg_catalog.date_trunc('month', d.day)::date, d.pipeline_id, d.owner;

-- Stage-to-stage conversion by entry cohort: the deals created in a month,
-- per stage of their pipeline: how many ever entered the stage, and how many
-- of those went on to a later open stage or a won stage (as in
-- crm.stage_conversion, which counts all deals at once).
CREATE VIEW crm_report.stage_funnel_by_cohort WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.pipeline_id, c.cohort_month, s.id AS stage_id, s.name AS stage_name,
		   s.position AS stage_position, s.kind::text AS stage_kind,
		   pg_catalog.count(DISTINCT h.deal_id) AS entered,
		   pg_catalog.count(DISTINCT h.deal_id) FILTER (WHERE EXISTS (
			   SELECT 1 FROM crm.deal_stage_history n
				 JOIN crm.stages t ON t.workspace_id OPERATOR(pg_catalog.=) n.workspace_id
								  AND t.id OPERATOR(pg_catalog.=) n.stage_id
				WHERE n.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
				  AND n.deal_id OPERATOR(pg_catalog.=) h.deal_id
				  AND n.entered_at OPERATOR(pg_catalog.>=) h.entered_at
				  AND n.id OPERATOR(pg_catalog.<>) h.id
				  AND (t.kind OPERATOR(pg_catalog.=) 'won'
					   OR (t.kind OPERATOR(pg_catalog.=) 'open' AND t.position OPERATOR(pg_catalog.>) s.position)))) AS advanced
	  FROM (SELECT DISTINCT d.workspace_id, d.pipeline_id, pg_catalog.date_trunc('month', d.created_at)::date AS cohort_month
			  FROM crm.deals d) c
	  JOIN crm.stages s ON s.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
					   AND s.pipeline_id OPERATOR(pg_catalog.=) c.pipeline_id
	  LEFT JOIN (crm.deal_stage_history h
				 JOIN crm.deals d ON d.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
								 AND d.id OPERATOR(pg_catalog.=) h.deal_id)
		ON h.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND h.stage_id OPERATOR(pg_catalog.=) s.id
	   AND pg_catalog.date_trunc('month', d.created_at)::date OPERATOR(pg_catalog.=) c.cohort_month
	 GROUP BY s.workspace_id, s.pipeline_id, c.cohort_month, s.id, s.name, s.position, s.kind;

-- Orders by the month of their order date and currency: all orders, the
-- booked ones (not canceled, failed or refunded) and the paid ones.  The
-- summary's days added up, or the facts, as crm_internal.report_summarized()
-- says (see deals_per_day); on the summary, the paid value is converted per
-- day and currency with the rate of the day, and rounded once for them.
CREATE VIEW crm_report.order_revenue_per_month WITH (security_invoker = true) AS
	SELECT s.workspace_id, pg_catalog.date_trunc('month', s.day)::date AS month_start, s.currency::text AS currency,
		   pg_catalog.sum(s.orders)::bigint AS orders, pg_catalog.sum(s.booked_value) AS booked_value,
		   pg_catalog.sum(s.paid_value) AS paid_value,
		   pg_catalog.sum(pg_catalog.round(s.paid_value OPERATOR(pg_catalog.*)
				CASE WHEN s.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(
					(SELECT x.rate FROM crm.exchange_rates x
					  WHERE x.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND x.base OPERATOR(pg_catalog.=) s.currency
						AND x.quote OPERATOR(pg_catalog.=) w.default_currency AND x.valid_from OPERATOR(pg_catalog.<=) s.day
					  ORDER BY x.valid_from DESC LIMIT 1),
					(SELECT 1 OPERATOR(pg_catalog./) x.rate FROM crm.exchange_rates x
					  WHERE x.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND x.base OPERATOR(pg_catalog.=) w.default_currency
						AND x.quote OPERATOR(pg_catalog.=) s.currency AND x.valid_from OPERATOR(pg_catalog.<=) s.day
					  ORDER BY x.valid_from DESC LIMIT 1)) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2))) FILTER (WHERE s.paid_orders OPERATOR(pg_catalog.<>) 0)
			   AS paid_value_in_workspace_currency
	  FROM (SELECT d.workspace_id, d.day, d.currency, pg_catalog.sum(d.orders) AS orders,
				   pg_catalog.sum(d.booked_value) AS booked_value, pg_catalog.sum(d.paid_value) AS paid_value,
				   pg_catalog.sum(d.paid_orders) AS paid_orders
			  FROM crm_internal.report_order_days d
			 GROUP BY d.workspace_id, d.day, d.currency) s
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) s.workspace_id
	 WHERE crm_internal.report_summarized()
	 GROUP BY s.workspace_id, pg_catalog.date_trunc('month', s.day)::date, s.currency
	UNION ALL
	SELECT o.workspace_id, pg_catalog.date_trunc('month', o.order_date)::date AS month_start, o.currency,
		   pg_catalog.count(*) AS orders,
		   COALESCE(pg_catalog.sum(o.value) FILTER (WHERE o.status OPERATOR(pg_catalog.<>) ALL (ARRAY['canceled', 'failed', 'refunded'])), 0)
			   AS booked_value,
		   COALESCE(pg_catalog.sum(o.value) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'paid'), 0) AS paid_value,
		   pg_catalog.sum(o.value_in_workspace_currency) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'paid')
			   AS paid_value_in_workspace_currency
	  FROM crm_report.orders o
	 WHERE NOT crm_internal.report_summarized()
	 GROUP BY o.workspace_id, pg_catalog.date_trunc('month', o.order_date)::date, o.currency;

-- Contacts by the month first seen and source: the summary's days added up,
-- or the facts, as crm_internal.report_summarized() says (see deals_per_day)
CREATE VIEW crm_report.contacts_per_month WITH (security_invoker = true) AS
	SELECT s.workspace_id, pg_catalog.date_trunc('month', s.day)::date AS month_start, s.source::text AS source,
		   pg_catalog.sum(s.contacts)::bigint AS contacts
	  FROM crm_internal.report_contact_days s
	 WHERE crm_internal.report_summarized()
	 GROUP BY s.workspace_id, pg_catalog.date_trunc('month', s.day)::date, s.source
	UNION ALL
	SELECT c.workspace_id, pg_catalog.date_trunc('month', COALESCE(c.first_seen_at, c.created_at))::date AS month_start,
		   c.source, pg_catalog.count(*) AS contacts
	  FROM crm_report.contacts c
	 WHERE c.status OPERATOR(pg_catalog.<>) 'deleted' AND NOT crm_internal.report_summarized()
	 GROUP BY c.workspace_id, pg_catalog.date_trunc('month', COALESCE(c.first_seen_at, c.created_at))::date, c.source;

-- Conversations by the day started and channel: the summary's rows of a
-- day and channel added up, or the facts, as crm_internal.report_summarized()
-- says (see deals_per_day).  No median: see the summary.
CREATE VIEW crm_report.conversations_per_day WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.day, s.channel, pg_catalog.sum(s.conversations)::bigint AS conversations,
		   pg_catalog.sum(s.answered)::bigint AS answered,
		   pg_catalog.round(pg_catalog.sum(s.response_seconds) OPERATOR(pg_catalog./) NULLIF(pg_catalog.sum(s.answered), 0), 1)
			   AS avg_first_response_seconds
	  FROM crm_internal.report_conversation_days s
	 WHERE crm_internal.report_summarized()
	 GROUP BY s.workspace_id, s.day, s.channel
	HAVING pg_catalog.sum(s.conversations) OPERATOR(pg_catalog.<>) 0
	UNION ALL
	SELECT c.workspace_id, c.started_at::date AS day, c.channel,
		   pg_catalog.count(*) AS conversations,
		   pg_catalog.count(c.first_response_at) AS answered,
		   pg_catalog.round(pg_catalog.avg(c.first_response_seconds), 1) AS avg_first_response_seconds
	  FROM crm_report.conversations c
	 WHERE NOT crm_internal.report_summarized()
	 GROUP BY c.workspace_id, c.started_at::date, c.channel;

-- Messages by the day sent, channel and sender: the summary's rows of a key
-- added up, or the facts, as crm_internal.report_summarized() says (see
-- deals_per_day)
CREATE VIEW crm_report.messages_per_day WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.day, s.channel, s.sender::text AS sender, pg_catalog.sum(s.messages)::bigint AS messages
	  FROM crm_internal.report_message_days s
	 WHERE crm_internal.report_summarized()
	 GROUP BY s.workspace_id, s.day, s.channel, s.sender
	HAVING pg_catalog.sum(s.messages) OPERATOR(pg_catalog.<>) 0
	UNION ALL
	SELECT m.workspace_id, m.sent_at::date AS day, m.channel, m.sender, pg_catalog.count(*) AS messages
	  FROM crm_report.messages m
	 WHERE NOT crm_internal.report_summarized()
	 GROUP BY m.workspace_id, m.sent_at::date, m.channel, m.sender;

CREATE VIEW crm_report.activities_per_owner_month WITH (security_invoker = true) AS
	SELECT a.workspace_id, pg_catalog.date_trunc('month', a.occurred_at)::date AS month_start,
		   a.actor, a.type, pg_catalog.count(*) AS activities
	  FROM crm_report.activities a
	 GROUP BY a.workspace_id, pg_catalog.date_trunc('month', a.occurred_at)::date, a.actor, a.type;

--
-- Every view and column described for the people who browse them.
--
DO $$
DECLARE
	docs jsonb := $doc${
	"dates": ["one row per day from 2000-01-01 to 2059-12-31: join a series on day to show empty periods", {
		"day": "the day", "week_start": "the Monday starting its week", "month_start": "the first day of its month",
		"quarter_start": "the first day of its quarter", "year": "calendar year", "quarter": "quarter of the year, 1-4",
		"month": "month of the year, 1-12", "iso_week": "ISO 8601 week number", "iso_day_of_week": "1 Monday to 7 Sunday",
		"month_label": "the month as YYYY-MM", "is_weekend": "Saturday or Sunday"}],
	"contacts": ["contacts (merged duplicates left out): join facts on (workspace_id, contact_id)", {
		"workspace_id": "the workspace", "contact_id": "the contact's id", "name": "full name", "email": "e-mail address",
		"phone": "phone number (E.164)", "city": "city", "country": "ISO 3166-1 alpha-2 country code", "lifecycle_stage": "lead, customer, ...",
		"status": "active, archived or deleted", "source": "how the contact is known: anonymous, self_reported or verified",
		"owner": "user id of the member who owns the contact", "blocked": "blocked from messaging",
		"conversation_count": "number of conversations", "first_seen_at": "first seen", "last_seen_at": "last seen",
		"created_at": "created", "updated_at": "last changed", "deleted_at": "soft-deleted at",
		"street": "street and number", "address_line2": "apartment, floor, building",
		"region": "state, province or county", "postal_code": "postal code, upper-cased"}],
	"companies": ["companies: join facts on (workspace_id, company_id)", {
		"workspace_id": "the workspace", "company_id": "the company's id", "name": "company name", "domain": "web domain",
		"industry": "industry", "employees": "number of employees", "plan": "plan", "spend": "spend",
		"owner": "user id of the member who owns the company", "created_at": "created", "updated_at": "last changed"}],
	"pipelines": ["deal pipelines: join on (workspace_id, pipeline_id)", {
		"workspace_id": "the workspace", "pipeline_id": "the pipeline's id", "pipeline_name": "pipeline name",
		"is_default": "the workspace's default pipeline", "created_at": "created"}],
	"stages": ["stages of the pipelines, in position order: join on (workspace_id, stage_id)", {
		"workspace_id": "the workspace", "stage_id": "the stage's id", "pipeline_id": "its pipeline", "pipeline_name": "its pipeline's name",
		"stage_name": "stage name", "stage_position": "order in the pipeline, from 1", "stage_kind": "open, won or lost",
		"probability": "win probability in percent", "forecast_category": "pipeline, best_case, commit, closed or omitted"}],
	"members": ["members of the workspace: join deals.owner, contacts.owner or activities.actor on user_id", {
		"workspace_id": "the workspace", "user_id": "the member's user id", "name": "display name", "email": "e-mail address",
		"role": "admin, manager, agent or viewer", "team": "team", "active": "an active member", "created_at": "added"}],
	"deals": ["deals with their pipeline, stage, owner and value in the workspace's currency", {
		"workspace_id": "the workspace", "deal_id": "the deal's id", "title": "title", "pipeline_id": "pipeline",
		"pipeline_name": "pipeline name", "stage_id": "current stage", "stage_name": "current stage's name",
		"stage_position": "current stage's position", "stage_kind": "open, won or lost", "status": "open, won or lost",
		"owner": "user id of the owner", "owner_name": "owner's name, when a member", "team": "team",
		"contact_id": "contact", "company_id": "company", "priority": "low, medium or high", "value": "amount in the deal's currency",
		"currency": "the deal's currency (ISO 4217)", "workspace_currency": "the workspace's default currency",
		"value_in_workspace_currency": "amount converted at the rate of the close date (today while open), rounded to the currency's minor unit; NULL without a rate",
		"probability": "win probability in percent (the deal's override, else its stage's)",
		"expected_close_date": "expected close date", "created_at": "created", "stage_entered_at": "entered its current stage",
		"closed_at": "won or lost at", "won_reason": "why won", "lost_reason": "why lost", "updated_at": "last changed"}],
	"deal_stage_history": ["every stay of a deal in a stage, with its duration", {
		"workspace_id": "the workspace", "history_id": "the stay's id", "deal_id": "the deal", "pipeline_id": "the pipeline",
		"from_stage_id": "stage it came from (NULL when created in this stage)", "from_stage_name": "name of the stage it came from",
		"stage_id": "stage", "stage_name": "stage name", "stage_position": "stage position", "stage_kind": "open, won or lost",
		"entered_at": "entered the stage", "left_at": "left the stage (NULL while still there)",
		"duration": "time in the stage (NULL while still there)", "duration_days": "time in the stage in days, 2 decimals",
		"actor": "who moved the deal"}],
	"orders": ["orders with their value in the workspace's currency", {
		"workspace_id": "the workspace", "order_id": "the order's id", "contact_id": "contact", "deal_id": "deal",
		"title": "title", "status": "pending, paid, partially_paid, overdue, refunded, canceled or failed",
		"source": "manual, webhook, api, payments or commerce", "value": "amount in the order's currency", "currency": "the order's currency (ISO 4217)",
		"workspace_currency": "the workspace's default currency",
		"value_in_workspace_currency": "amount converted at the rate of the order date, rounded to the currency's minor unit; NULL without a rate",
		"order_date": "ordered at", "paid_date": "paid at", "created_at": "created"}],
	"conversations": ["conversations with message counts and first response", {
		"workspace_id": "the workspace", "conversation_id": "the conversation's id", "contact_id": "contact",
		"channel": "channel (email, chat, ...)", "inbox": "inbox or chatbot", "status": "open, pending, resolved or closed",
		"started_at": "started", "last_message_at": "last message", "messages": "number of messages",
		"first_contact_message_at": "the contact's first message", "first_response_at": "the first agent or bot message after it",
		"first_response_seconds": "seconds from the contact's first message to the first response",
		"assignee": "the member handling it (user id)", "tags": "its tags", "deal_id": "the deal it belongs to",
		"messages_in": "messages of the contact", "messages_out": "messages of agents and bots",
		"response_count": "agent or bot messages that answered the contact",
		"avg_response_seconds": "mean seconds an answer took (docs/conversations.md); NULL without one"}],
	"messages": ["messages with their conversation's channel", {
		"workspace_id": "the workspace", "message_id": "the message's id", "conversation_id": "conversation",
		"contact_id": "the conversation's contact", "channel": "the conversation's channel",
		"sender": "contact, agent or bot", "sent_at": "sent", "body_length": "length of the text in characters"}],
	"activities": ["activities logged on contacts, companies and deals", {
		"workspace_id": "the workspace", "activity_id": "the activity's id", "type": "call, meeting, email, ...",
		"subject": "subject", "actor": "who did it (a member's user id)", "recorded_by": "who recorded it",
		"contact_id": "contact", "company_id": "company", "deal_id": "deal", "occurred_at": "when it happened", "created_at": "recorded"}],
	"list_membership_changes": ["every addition to and removal from a list, from the event outbox", {
		"workspace_id": "the workspace", "event_id": "the event's id", "list_id": "list", "list_name": "list name (NULL once deleted)",
		"change": "added or removed", "delta": "+1 added, -1 removed: sum it for the size", "object_type": "contact or company",
		"object_id": "the contact's or company's id", "source": "why: manual, filter, import, ...",
		"changed_at": "when", "actor": "who"}],
	"property_values": ["custom properties, one row per record and defined property, for pivoting", {
		"workspace_id": "the workspace", "object_type": "contact, company, deal, order, conversation or a custom object type",
		"object_id": "the record's id", "key": "property key", "label": "property label", "type": "property type",
		"text_value": "the value as text (multi_select: comma-separated)", "number_value": "number, currency and percent values",
		"date_value": "date values (the date part of datetime values)", "timestamp_value": "datetime values",
		"boolean_value": "boolean values"}],
	"deal_flow": ["deal events: created, won and lost, one row each", {
		"workspace_id": "the workspace", "deal_id": "the deal", "pipeline_id": "its pipeline", "owner": "its owner",
		"event": "created, won or lost", "at": "when", "value_in_workspace_currency": "the deal's value in the workspace's currency"}],
	"deals_per_day": ["deals created, won and lost per day, pipeline and owner", {
		"workspace_id": "the workspace", "day": "the day", "pipeline_id": "pipeline", "owner": "owner",
		"created": "deals created", "won": "deals won", "lost": "deals lost", "won_value": "value won, workspace currency"}],
	"deals_per_week": ["deals created, won and lost per week (from Monday), pipeline and owner", {
		"workspace_id": "the workspace", "week_start": "the Monday", "pipeline_id": "pipeline", "owner": "owner",
		"created": "deals created", "won": "deals won", "lost": "deals lost", "won_value": "value won, workspace currency"}],
	"deals_per_month": ["deals created, won and lost per month, pipeline and owner", {
		"workspace_id": "the workspace", "month_start": "the first of the month", "pipeline_id": "pipeline", "owner": "owner",
		"created": "deals created", "won": "deals won", "lost": "deals lost", "won_value": "value won, workspace currency"}],
	"stage_funnel_by_cohort": ["per pipeline, month of creation (cohort) and stage: deals that entered the stage and went on to a later open or a won stage", {
		"workspace_id": "the workspace", "pipeline_id": "pipeline", "cohort_month": "the month the deals were created",
		"stage_id": "stage", "stage_name": "stage name", "stage_position": "stage position", "stage_kind": "open, won or lost",
		"entered": "deals of the cohort that entered the stage", "advanced": "of those, deals that went on to a later open stage or a won stage"}],
	"order_revenue_per_month": ["orders per month of order date and currency", {
		"workspace_id": "the workspace", "month_start": "the first of the month", "currency": "the orders' currency",
		"orders": "all orders", "booked_value": "value of orders not canceled, failed or refunded", "paid_value": "value of paid orders",
		"paid_value_in_workspace_currency": "value of paid orders in the workspace's currency (NULL if a rate is missing)"}],
	"contacts_per_month": ["contacts (not deleted) per month first seen and source", {
		"workspace_id": "the workspace", "month_start": "the month first seen (created when never seen)",
		"source": "anonymous, self_reported or verified", "contacts": "number of contacts"}],
	"conversations_per_day": ["conversations started per day and channel, with first response times", {
		"workspace_id": "the workspace", "day": "the day started", "channel": "channel", "conversations": "conversations started",
		"answered": "of those, answered by an agent or bot", "avg_first_response_seconds": "mean seconds to first response"}],
	"messages_per_day": ["messages per day, channel and sender", {
		"workspace_id": "the workspace", "day": "the day sent", "channel": "channel", "sender": "contact, agent or bot",
		"messages": "number of messages"}],
	"activities_per_owner_month": ["activities per month, actor and type", {
		"workspace_id": "the workspace", "month_start": "the first of the month", "actor": "who did them",
		"type": "activity type", "activities": "number of activities"}]
	}$doc$;
	v record;
	c record;
BEGIN
	FOR v IN SELECT key, value FROM pg_catalog.jsonb_each(docs) LOOP
		EXECUTE pg_catalog.format('COMMENT ON VIEW crm_report.%I IS %L', v.key, v.value OPERATOR(pg_catalog.->>) 0);
		FOR c IN SELECT key, value FROM pg_catalog.jsonb_each_text(v.value OPERATOR(pg_catalog.->) 1) LOOP
			EXECUTE pg_catalog.format('COMMENT ON COLUMN crm_report.%I.%I IS %L', v.key, c.key, c.value);
		END LOOP;
	END LOOP;
	-- every column described: a view or column added without a line above fails the install
	PERFORM 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) a.attrelid
	  WHERE r.relnamespace OPERATOR(pg_catalog.=) 'crm_report'::regnamespace AND a.attnum OPERATOR(pg_catalog.>) 0
		AND pg_catalog.col_description(r.oid, a.attnum) IS NULL;
	IF FOUND THEN
		RAISE EXCEPTION 'a column of crm_report has no comment in sql/reporting.sql';
	END IF;
END;
$$;

--
-- Reporting roles (src/reporting.c, crm.grant_access): SELECT on this table
-- marks a reporting role; its row pins the role, by name, to a workspace
-- (NULL: an operator reading every workspace).  Only the extension's owner
-- reads it; pg_dump keeps its rows and its grants.
--
CREATE TABLE crm_internal.reporting_access (
	role_name name PRIMARY KEY,
	workspace_id bigint REFERENCES crm.workspaces (id) ON DELETE CASCADE
);
COMMENT ON TABLE crm_internal.reporting_access IS
	'reporting roles (crm.grant_access(role, access => ''reporting'')): SELECT on it marks one, its row the workspace it is pinned to (NULL: every workspace)';
CREATE TRIGGER reporting_access_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm_internal.reporting_access
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.invalidate_caches();
SELECT pg_catalog.pg_extension_config_dump('crm_internal.reporting_access', '');

--
-- Wide property views: per workspace and object type, one typed column per
-- defined property (crm_report.<object_type>_properties_w<workspace id>),
-- regenerated in the transaction that changes a definition, by whoever
-- changes it (an admin member's row write included: the trigger function is
-- SECURITY DEFINER, so the writer needs no DDL right).  The views are made
-- members of the extension: DROP EXTENSION drops them and pg_dump leaves
-- them out; a restore's data load writes crm.property_definitions, whose
-- trigger generates them again, and the dumped grants on them follow.
--

-- The column a definition gets: its type's SQL type, from the jsonb value
CREATE FUNCTION crm_internal.report_property_column(key text, type crm.property_type) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN type IN ('number', 'currency', 'percent') THEN
			format('CASE WHEN pg_catalog.jsonb_typeof(r.properties OPERATOR(pg_catalog.->) %1$L) OPERATOR(pg_catalog.=) ''number'''
				   ' THEN (r.properties OPERATOR(pg_catalog.->>) %1$L)::numeric END', key)
		WHEN type = 'boolean' THEN
			format('CASE WHEN pg_catalog.jsonb_typeof(r.properties OPERATOR(pg_catalog.->) %1$L) OPERATOR(pg_catalog.=) ''boolean'''
				   ' THEN (r.properties OPERATOR(pg_catalog.->>) %1$L)::boolean END', key)
		WHEN type = 'date' THEN format('(r.properties OPERATOR(pg_catalog.->>) %L)::date', key)
		WHEN type = 'datetime' THEN format('(r.properties OPERATOR(pg_catalog.->>) %L)::timestamptz', key)
		WHEN type = 'multi_select' THEN
			format('(SELECT pg_catalog.string_agg(e, '', '') FROM pg_catalog.jsonb_array_elements_text('
				   'CASE WHEN pg_catalog.jsonb_typeof(r.properties OPERATOR(pg_catalog.->) %1$L) OPERATOR(pg_catalog.=) ''array'''
				   ' THEN r.properties OPERATOR(pg_catalog.->) %1$L END) e)', key)
		ELSE format('(r.properties OPERATOR(pg_catalog.->>) %L)', key)
	END || ' AS ' || quote_ident(key)
$$;
COMMENT ON FUNCTION crm_internal.report_property_column(text, crm.property_type) IS
	'the select-list entry of a wide property view for one definition: the value as its type''s SQL type';

-- Drops and re-creates a workspace's wide views from its definitions, as
-- given: on a Citus coordinator src/citus_report_views.c reads them as the
-- caller whose statement wrote them (docs/scaling.md)
CREATE FUNCTION crm_internal.report_regenerate(workspace_id bigint, definitions crm.property_definitions[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := report_regenerate.workspace_id;
	suffix text := '_properties_w' || ws;
	v record;
	t record;
	d record;
	source text;
	view_name text;
	cols text;
	r name;
BEGIN
	-- two definition changes in a workspace regenerate one after the other
	PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('crm_report wide views'), ws::integer);
	-- the name's suffix before the pattern (OFFSET 0 keeps the order): the
	-- planner tested the pattern first, on every relation of the database,
	-- 80 ms a call with 10,000 workspaces' views, so that defining
	-- properties in every workspace took time growing with their square
	FOR v IN
		SELECT c.oid::regclass AS rel
		  FROM (SELECT c.oid, c.relname FROM pg_class c
				 WHERE c.relnamespace = 'crm_report'::regnamespace AND c.relkind = 'v'
				   AND right(c.relname, length(suffix)) = suffix OFFSET 0) c
		 WHERE c.relname ~ '^[a-z][a-z0-9_]*_properties_w[0-9]+$'
	LOOP
		IF EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = v.rel
					  AND e.deptype = 'e') THEN
			EXECUTE format('ALTER EXTENSION crm DROP VIEW %s', v.rel);
		END IF;
		EXECUTE format('DROP VIEW %s', v.rel);
	END LOOP;

	FOR t IN
		SELECT DISTINCT p.object_type FROM unnest(report_regenerate.definitions) p WHERE p.workspace_id = ws ORDER BY 1
	LOOP
		view_name := t.object_type || suffix;
		CONTINUE WHEN octet_length(view_name) > 63;	-- a long custom type name: the long view has it
		source := CASE t.object_type
			WHEN 'contact' THEN 'crm.contacts r WHERE r.status OPERATOR(pg_catalog.<>) ''merged'' AND'
			WHEN 'company' THEN 'crm.companies r WHERE'
			WHEN 'deal' THEN 'crm.deals r WHERE'
			WHEN 'order' THEN 'crm.orders r WHERE'
			WHEN 'conversation' THEN 'crm.conversations r WHERE'
			ELSE format('crm.object_records r WHERE r.type_key OPERATOR(pg_catalog.=) %L AND', t.object_type) END;
		SELECT string_agg(crm_internal.report_property_column(p.key, p.type), ', ' ORDER BY p.key) INTO cols
		  FROM unnest(report_regenerate.definitions) p
		 WHERE p.workspace_id = ws AND p.object_type = t.object_type
		   AND p.key NOT IN ('workspace_id', 'record_id');
		EXECUTE format('CREATE VIEW crm_report.%I WITH (security_invoker = true) AS'
					   ' SELECT r.workspace_id, r.id AS record_id%s FROM %s r.workspace_id OPERATOR(pg_catalog.=) %s',
					   view_name, coalesce(', ' || cols, ''), source, ws);
		EXECUTE format('COMMENT ON VIEW crm_report.%I IS %L', view_name,
					   format('the %s properties of workspace %s, one typed column per definition (generated: do not edit)',
							  t.object_type, ws));
		EXECUTE format('COMMENT ON COLUMN crm_report.%I.workspace_id IS ''the workspace''', view_name);
		EXECUTE format('COMMENT ON COLUMN crm_report.%I.record_id IS %L', view_name, 'the ' || t.object_type || '''s id');
		FOR d IN
			SELECT p.key, p.label, p.type FROM unnest(report_regenerate.definitions) p
			 WHERE p.workspace_id = ws AND p.object_type = t.object_type AND p.key NOT IN ('workspace_id', 'record_id')
		LOOP
			EXECUTE format('COMMENT ON COLUMN crm_report.%I.%I IS %L', view_name, d.key,
						   format('%s (%s)', coalesce(d.label, d.key), d.type));
		END LOOP;
		-- a member, unless this runs in the extension's own script (then it is one already)
		IF NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
						  AND e.objid = format('crm_report.%I', view_name)::regclass AND e.deptype = 'e') THEN
			EXECUTE format('ALTER EXTENSION crm ADD VIEW crm_report.%I', view_name);
		END IF;
		-- after joining the extension, so that pg_dump keeps the grants
		FOR r IN
			SELECT a.role_name FROM crm_internal.reporting_access a JOIN pg_roles o ON o.rolname = a.role_name
			 WHERE a.workspace_id = ws OR a.workspace_id IS NULL ORDER BY 1
		LOOP
			EXECUTE format('GRANT SELECT ON crm_report.%I TO %I', view_name, r);
		END LOOP;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm_internal.report_regenerate(bigint, crm.property_definitions[]) IS
	'drops and re-creates the wide property views of a workspace (crm_report.<object_type>_properties_w<id>) from the definitions given (those of other workspaces ignored)';

CREATE FUNCTION crm_internal.report_regenerate(workspace_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- the lock before the read: a definition committed while this waited is in it
	PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('crm_report wide views'), report_regenerate.workspace_id::integer);
	PERFORM crm_internal.report_regenerate(report_regenerate.workspace_id,
		ARRAY(SELECT p FROM crm.property_definitions p WHERE p.workspace_id OPERATOR(pg_catalog.=) report_regenerate.workspace_id));
END;
$$;
COMMENT ON FUNCTION crm_internal.report_regenerate(bigint) IS
	'drops and re-creates the wide property views of a workspace (crm_report.<object_type>_properties_w<id>) from its definitions';

CREATE FUNCTION crm_internal.report_definitions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ws bigint;
BEGIN
	-- on a Citus worker the trigger fires on a shard (property_definitions_102008),
	-- where Citus refuses DDL: the wide views are not kept there (docs/scaling.md)
	IF TG_TABLE_NAME <> 'property_definitions' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		FOR ws IN SELECT DISTINCT n.workspace_id FROM new_rows n ORDER BY 1 LOOP
			PERFORM crm_internal.report_regenerate(ws);
		END LOOP;
	ELSIF TG_OP = 'UPDATE' THEN
		FOR ws IN SELECT n.workspace_id FROM new_rows n UNION SELECT o.workspace_id FROM old_rows o ORDER BY 1 LOOP
			PERFORM crm_internal.report_regenerate(ws);
		END LOOP;
	ELSIF TG_OP = 'DELETE' THEN
		FOR ws IN SELECT DISTINCT o.workspace_id FROM old_rows o ORDER BY 1 LOOP
			PERFORM crm_internal.report_regenerate(ws);
		END LOOP;
	ELSE
		-- TRUNCATE has no transition table: every workspace with a wide view
		FOR ws IN
			SELECT DISTINCT pg_catalog.substring(c.relname, '_w([0-9]+)$')::bigint FROM pg_class c
			 WHERE c.relnamespace = 'crm_report'::regnamespace AND c.relkind = 'v'
			   AND c.relname ~ '^[a-z][a-z0-9_]*_properties_w[0-9]+$' ORDER BY 1
		LOOP
			PERFORM crm_internal.report_regenerate(ws);
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm_internal.report_definitions_changed() IS
	'statement trigger on crm.property_definitions: regenerates the wide property views of the workspaces the statement changed';

CREATE TRIGGER report_definitions_inserted AFTER INSERT ON crm.property_definitions
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_definitions_changed();
CREATE TRIGGER report_definitions_updated AFTER UPDATE ON crm.property_definitions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_definitions_changed();
CREATE TRIGGER report_definitions_deleted AFTER DELETE ON crm.property_definitions
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_definitions_changed();
CREATE TRIGGER report_definitions_truncated AFTER TRUNCATE ON crm.property_definitions
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.report_definitions_changed();
-- A restore loads the definitions with session_replication_role = replica
-- (docs/workspaces.md#dumps), which fires only ALWAYS triggers: the views
-- come back with the data.
ALTER TABLE crm.property_definitions ENABLE ALWAYS TRIGGER report_definitions_inserted;
ALTER TABLE crm.property_definitions ENABLE ALWAYS TRIGGER report_definitions_updated;
ALTER TABLE crm.property_definitions ENABLE ALWAYS TRIGGER report_definitions_deleted;
ALTER TABLE crm.property_definitions ENABLE ALWAYS TRIGGER report_definitions_truncated;
