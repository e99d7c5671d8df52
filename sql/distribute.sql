--
-- Scaling out on Citus (docs/scaling.md): crm.distribute() makes the tables
-- not keyed by workspace (crm.workspaces, crm.contact_references, the
-- reporting roles' crm_internal.reporting_access) reference tables,
-- copied to every node, and distributes every other table of the extension
-- by workspace_id (the report summaries too), all
-- co-located with crm.contacts: a workspace's rows live in one shard group,
-- so a call for one workspace is routed to one node.
--

--
-- Row-level security on the shards (docs/scaling.md).  Citus applies no
-- policy of the coordinator's table to the queries it routes: each shard's
-- own policies hold, evaluated on its worker, and Citus takes a policy only
-- without a subquery, and only as permissive (it copies AS RESTRICTIVE as
-- permissive).  So each node's policies are rewritten for the shards: a
-- scalar subquery of a function call becomes the call (the functions are
-- STABLE: the same value for the statement), a child's EXISTS over its
-- contact, conversation or list becomes a call of the function below that
-- reads it as the owner, and every restrictive policy is ANDed into each
-- permissive one of its table.  The request's settings reach the worker
-- from the coordinator (src/citus.c).  The functions the rewritten
-- policies call are in sql/privacy.sql.
--

-- One policy's expression with its subqueries rewritten, or an error naming it
CREATE FUNCTION crm_internal.citus_policy_expr(tbl regclass, policy name, expr text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- balanced parentheses, four deep: a call's arguments
	args text := '[^()]*';
	rel text := (SELECT c.relname FROM pg_class c WHERE c.oid = tbl);
BEGIN
	FOR i IN 1 .. 4 LOOP
		args := '(?:[^()]|\(' || args || '\))*';
	END LOOP;
	-- ( SELECT f(...) AS f ) -> f(...)
	expr := regexp_replace(expr, '\( SELECT ([a-z_]+\.[a-z_]+\(' || args || '\)) AS [a-z_]+\)', '\1', 'g');
	expr := regexp_replace(expr, 'EXISTS \( SELECT\s+FROM crm\.contacts c\s+WHERE \(\(c\.workspace_id = ' || rel
						   || '\.workspace_id\) AND \(c\.id = ' || rel || '\.([a-z_]+)\)\)\)',
						   'crm_internal.privacy_contact(workspace_id, \1)', 'g');
	expr := regexp_replace(expr, 'EXISTS \( SELECT\s+FROM crm\.conversations cv\s+WHERE \(\(cv\.workspace_id = ' || rel
						   || '\.workspace_id\) AND \(cv\.id = ' || rel || '\.conversation_id\)\)\)',
						   'crm_internal.privacy_conversation(workspace_id, conversation_id)', 'g');
	expr := regexp_replace(expr, 'list_id IN \( SELECT l\.id\s+FROM crm\.lists l\)',
						   'crm_internal.list_visible(workspace_id, list_id)', 'g');
	IF expr ~* '\mSELECT\M' THEN
		RAISE EXCEPTION 'policy "%" of table % has a subquery the shards cannot evaluate', policy, tbl
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Citus takes no subquery in a policy: write it with a STABLE function of the row''s key (sql/distribute.sql).';
	END IF;
	RETURN expr;
END;
$$;
COMMENT ON FUNCTION crm_internal.citus_policy_expr(regclass, name, text) IS
	'a policy''s expression as the shards evaluate it: each subquery a function call';

-- Rewrites this node's policies of the extension's tables for the shards;
-- a table already rewritten (no restrictive policy, no subquery) is left
CREATE FUNCTION crm_internal.citus_policies() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t regclass;
	p record;
	bound text;
	permissive text[];
	propagation text := current_setting('citus.enable_ddl_propagation');
BEGIN
	-- each node rewrites its own (a worker's copy of a table, the shards it holds)
	PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
	FOR t IN
		SELECT DISTINCT c.oid::regclass
		  FROM pg_policy x
		  JOIN pg_class c ON c.oid = x.polrelid
		  JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
		   AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		 WHERE d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'crm')
		   AND (NOT x.polpermissive OR pg_get_expr(x.polqual, x.polrelid) ~* '\mSELECT\M')
	LOOP
		-- rewritten before anything is dropped: an error leaves the table as it was
		SELECT string_agg('(' || crm_internal.citus_policy_expr(t, x.polname, pg_get_expr(x.polqual, x.polrelid)) || ')',
						  ' AND ' ORDER BY x.polname)
		  INTO bound
		  FROM pg_policy x WHERE x.polrelid = t AND NOT x.polpermissive;
		SELECT array_agg(format('CREATE POLICY %I ON %s USING (%s%s)', x.polname, t,
								crm_internal.citus_policy_expr(t, x.polname, pg_get_expr(x.polqual, x.polrelid)),
								' AND ' || bound) ORDER BY x.polname)
		  INTO permissive
		  FROM pg_policy x WHERE x.polrelid = t AND x.polpermissive;
		FOR p IN SELECT x.polname FROM pg_policy x WHERE x.polrelid = t ORDER BY x.polname LOOP
			EXECUTE format('DROP POLICY %I ON %s', p.polname, t);
		END LOOP;
		FOR i IN 1 .. coalesce(cardinality(permissive), 0) LOOP
			EXECUTE permissive[i];
		END LOOP;
	END LOOP;
	PERFORM set_config('citus.enable_ddl_propagation', propagation, true);
END;
$$;
COMMENT ON FUNCTION crm_internal.citus_policies() IS
	'on a Citus node: rewrites the row-level security policies of the extension''s tables for the shards (no subquery, permissive only)';
REVOKE EXECUTE ON FUNCTION crm_internal.citus_policies() FROM PUBLIC;

-- The report views that read a rate of exchange or a conversation's
-- messages by a correlated subquery (crm_report.deals, crm_report.orders,
-- crm_report.conversations, and the summaries' branches of
-- crm_report.deals_per_day and crm_report.order_revenue_per_month) in the
-- shape Citus routes, on the coordinator, where reports are read: the
-- rates and the messages joined at the outer row's level.  Citus prunes a
-- table to one shard by a constant of its own query level only; the
-- planner carries the query's workspace_id = N through those joins (into
-- the grouped and windowed subqueries, whose partitions lead with the
-- workspace) and not into a correlated subquery.  On one node the views
-- keep their correlated subqueries: an index probe per row that needs a
-- rate, and per conversation read, where a join aggregates every message
-- and rate of the workspace first (docs/scaling.md).
CREATE FUNCTION crm_internal.citus_report_views() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Citus's notice that it does not propagate a view joining the extension
SET client_min_messages = warning
AS $$
BEGIN
	-- the workers' views are not read: Citus sends them the views expanded
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
CREATE OR REPLACE VIEW crm_report.deals WITH (security_invoker = true) AS
	SELECT d.workspace_id, d.id AS deal_id, d.title, d.pipeline_id, p.name AS pipeline_name,
		   d.stage_id, s.name AS stage_name, s.position AS stage_position, s.kind::text AS stage_kind,
		   d.status::text AS status, d.owner, m.name AS owner_name, d.team,
		   d.contact_id, d.company_id, d.priority::text AS priority,
		   d.value, d.currency::text AS currency, w.default_currency::text AS workspace_currency,
		   pg_catalog.round(d.value OPERATOR(pg_catalog.*) CASE WHEN d.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(xr.rate, 1 OPERATOR(pg_catalog./) xi.rate) END,
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
							 AND m.user_id OPERATOR(pg_catalog.=) d.owner
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xr
		ON xr.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND xr.base OPERATOR(pg_catalog.=) d.currency
	   AND xr.quote OPERATOR(pg_catalog.=) w.default_currency AND xr.valid_from OPERATOR(pg_catalog.<=) COALESCE(d.closed_at::date, CURRENT_DATE)
	   AND COALESCE(xr.valid_until, 'infinity') OPERATOR(pg_catalog.>) COALESCE(d.closed_at::date, CURRENT_DATE)
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xi
		ON xi.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND xi.base OPERATOR(pg_catalog.=) w.default_currency
	   AND xi.quote OPERATOR(pg_catalog.=) d.currency AND xi.valid_from OPERATOR(pg_catalog.<=) COALESCE(d.closed_at::date, CURRENT_DATE)
	   AND COALESCE(xi.valid_until, 'infinity') OPERATOR(pg_catalog.>) COALESCE(d.closed_at::date, CURRENT_DATE);

CREATE OR REPLACE VIEW crm_report.orders WITH (security_invoker = true) AS
	SELECT o.workspace_id, o.id AS order_id, o.contact_id, o.deal_id, o.title, o.status::text AS status,
		   o.source::text AS source, o.value, o.currency::text AS currency,
		   w.default_currency::text AS workspace_currency,
		   pg_catalog.round(o.value OPERATOR(pg_catalog.*) CASE WHEN o.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(xr.rate, 1 OPERATOR(pg_catalog./) xi.rate) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2)) AS value_in_workspace_currency,
		   o.order_date, o.paid_date, o.created_at
	  FROM crm.orders o
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) o.workspace_id
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xr
		ON xr.workspace_id OPERATOR(pg_catalog.=) o.workspace_id AND xr.base OPERATOR(pg_catalog.=) o.currency
	   AND xr.quote OPERATOR(pg_catalog.=) w.default_currency AND xr.valid_from OPERATOR(pg_catalog.<=) o.order_date::date
	   AND COALESCE(xr.valid_until, 'infinity') OPERATOR(pg_catalog.>) o.order_date::date
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xi
		ON xi.workspace_id OPERATOR(pg_catalog.=) o.workspace_id AND xi.base OPERATOR(pg_catalog.=) w.default_currency
	   AND xi.quote OPERATOR(pg_catalog.=) o.currency AND xi.valid_from OPERATOR(pg_catalog.<=) o.order_date::date
	   AND COALESCE(xi.valid_until, 'infinity') OPERATOR(pg_catalog.>) o.order_date::date;

CREATE OR REPLACE VIEW crm_report.conversations WITH (security_invoker = true) AS
	SELECT c.workspace_id, c.id AS conversation_id, c.contact_id, c.channel, c.inbox, c.status::text AS status,
		   c.started_at, c.last_message_at, COALESCE(r.messages, 0) AS messages, r.first_contact_message_at,
		   r.first_response_at,
		   pg_catalog.date_part('epoch', r.first_response_at OPERATOR(pg_catalog.-) r.first_contact_message_at)::numeric
			   AS first_response_seconds,
		   c.assignee, c.tags, c.deal_id, c.messages_in, c.messages_out, c.response_count,
		   (c.response_seconds OPERATOR(pg_catalog./) NULLIF(c.response_count, 0))::numeric AS avg_response_seconds
	  FROM crm.conversations c
	  LEFT JOIN (
		SELECT m.workspace_id, m.conversation_id, pg_catalog.count(*) AS messages,
			   pg_catalog.min(m.first_contact) AS first_contact_message_at,
			   pg_catalog.min(m.sent_at) FILTER (WHERE m.sender OPERATOR(pg_catalog.<>) 'contact'
												  AND m.sent_at OPERATOR(pg_catalog.>=) m.first_contact)
				   AS first_response_at
		  FROM (SELECT x.workspace_id, x.conversation_id, x.sender, x.sent_at,
					   pg_catalog.min(x.sent_at) FILTER (WHERE x.sender OPERATOR(pg_catalog.=) 'contact')
						   OVER (PARTITION BY x.workspace_id, x.conversation_id) AS first_contact
				  FROM crm.messages x) m
		 GROUP BY m.workspace_id, m.conversation_id) r
		ON r.workspace_id OPERATOR(pg_catalog.=) c.workspace_id AND r.conversation_id OPERATOR(pg_catalog.=) c.id;

CREATE OR REPLACE VIEW crm_report.deals_per_day WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.day, s.pipeline_id, s.owner,
		   pg_catalog.sum(s.created)::bigint AS created, pg_catalog.sum(s.won)::bigint AS won,
		   pg_catalog.sum(s.lost)::bigint AS lost,
		   COALESCE(pg_catalog.sum(pg_catalog.round(s.won_value OPERATOR(pg_catalog.*)
				CASE WHEN s.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(xr.rate, 1 OPERATOR(pg_catalog./) xi.rate) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2))) FILTER (WHERE s.won OPERATOR(pg_catalog.<>) 0), 0)
			   AS won_value
	  FROM (SELECT d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency, pg_catalog.sum(d.created)::bigint AS created,
				   pg_catalog.sum(d.won)::bigint AS won, pg_catalog.sum(d.lost)::bigint AS lost,
				   pg_catalog.sum(d.won_value) AS won_value
			  FROM crm_internal.report_deal_days d
			 GROUP BY d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency) s
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) s.workspace_id
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xr
		ON xr.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND xr.base OPERATOR(pg_catalog.=) s.currency
	   AND xr.quote OPERATOR(pg_catalog.=) w.default_currency AND xr.valid_from OPERATOR(pg_catalog.<=) s.day
	   AND COALESCE(xr.valid_until, 'infinity') OPERATOR(pg_catalog.>) s.day
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xi
		ON xi.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND xi.base OPERATOR(pg_catalog.=) w.default_currency
	   AND xi.quote OPERATOR(pg_catalog.=) s.currency AND xi.valid_from OPERATOR(pg_catalog.<=) s.day
	   AND COALESCE(xi.valid_until, 'infinity') OPERATOR(pg_catalog.>) s.day
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

CREATE OR REPLACE VIEW crm_report.order_revenue_per_month WITH (security_invoker = true) AS
	SELECT s.workspace_id, pg_catalog.date_trunc('month', s.day)::date AS month_start, s.currency::text AS currency,
		   pg_catalog.sum(s.orders)::bigint AS orders, pg_catalog.sum(s.booked_value) AS booked_value,
		   pg_catalog.sum(s.paid_value) AS paid_value,
		   pg_catalog.sum(pg_catalog.round(s.paid_value OPERATOR(pg_catalog.*)
				CASE WHEN s.currency OPERATOR(pg_catalog.=) w.default_currency THEN 1::numeric ELSE COALESCE(xr.rate, 1 OPERATOR(pg_catalog./) xi.rate) END,
				COALESCE(crm.currency_exponent(w.default_currency), 2))) FILTER (WHERE s.paid_orders OPERATOR(pg_catalog.<>) 0)
			   AS paid_value_in_workspace_currency
	  FROM (SELECT d.workspace_id, d.day, d.currency, pg_catalog.sum(d.orders) AS orders,
				   pg_catalog.sum(d.booked_value) AS booked_value, pg_catalog.sum(d.paid_value) AS paid_value,
				   pg_catalog.sum(d.paid_orders) AS paid_orders
			  FROM crm_internal.report_order_days d
			 GROUP BY d.workspace_id, d.day, d.currency) s
	  JOIN crm.workspaces w ON w.id OPERATOR(pg_catalog.=) s.workspace_id
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xr
		ON xr.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND xr.base OPERATOR(pg_catalog.=) s.currency
	   AND xr.quote OPERATOR(pg_catalog.=) w.default_currency AND xr.valid_from OPERATOR(pg_catalog.<=) s.day
	   AND COALESCE(xr.valid_until, 'infinity') OPERATOR(pg_catalog.>) s.day
	  LEFT JOIN (SELECT x.workspace_id, x.base, x.quote, x.rate, x.valid_from,
				   pg_catalog.lead(x.valid_from) OVER (PARTITION BY x.workspace_id, x.base, x.quote ORDER BY x.valid_from)
					   AS valid_until
			  FROM crm.exchange_rates x) xi
		ON xi.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND xi.base OPERATOR(pg_catalog.=) w.default_currency
	   AND xi.quote OPERATOR(pg_catalog.=) s.currency AND xi.valid_from OPERATOR(pg_catalog.<=) s.day
	   AND COALESCE(xi.valid_until, 'infinity') OPERATOR(pg_catalog.>) s.day
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
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
END;
$$;
COMMENT ON FUNCTION crm_internal.citus_report_views() IS
	'on a Citus coordinator (crm.distribute), the report views that read rates of exchange or messages by a correlated subquery, their rates and messages joined at the outer row''s level instead: the shape Citus routes to one shard for one workspace';
REVOKE EXECUTE ON FUNCTION crm_internal.citus_report_views() FROM PUBLIC;


-- Whether every row of a table belongs to one workspace, so that the table
-- is distributed by workspace_id: a NOT NULL workspace_id, in the primary
-- key when there is one.  The report summaries have no key (a key's rows:
-- one, plus one per writer in flight) and are distributed; a table keyed
-- otherwise (crm_internal.reporting_access, by role, its workspace
-- optional) or without workspace_id is a reference table.
CREATE FUNCTION crm_internal.citus_by_workspace(t regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM pg_attribute a
					WHERE a.attrelid = t AND a.attname = 'workspace_id' AND a.attnotnull AND NOT a.attisdropped)
	   AND NOT EXISTS (SELECT FROM pg_index x
						WHERE x.indrelid = t AND x.indisprimary
						  AND NOT EXISTS (SELECT FROM pg_attribute a
										   WHERE a.attrelid = t AND a.attnum = ANY (x.indkey)
											 AND a.attname = 'workspace_id'))
$$;
COMMENT ON FUNCTION crm_internal.citus_by_workspace(regclass) IS
	'whether crm.distribute() distributes the table by workspace_id: a NOT NULL workspace_id, in its primary key if it has one';
REVOKE EXECUTE ON FUNCTION crm_internal.citus_by_workspace(regclass) FROM PUBLIC;

CREATE FUNCTION crm.distribute() RETURNS TABLE (rel regclass, placement text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
#variable_conflict use_column
DECLARE
	t regclass;
	k record;
	pending regclass[];
	keys text[] := '{}';
	cols text;
	stale regclass[];
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = current_user AND r.rolsuper) THEN
		RAISE EXCEPTION 'permission denied for function distribute'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A superuser runs crm.distribute() on the Citus coordinator.';
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
		RAISE EXCEPTION 'extension "citus" is not installed in database "%"', pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add citus to shared_preload_libraries, run CREATE EXTENSION citus and CREATE EXTENSION crm CASCADE on the coordinator and every worker, add the workers with citus_add_node(), then call crm.distribute() on the coordinator.';
	END IF;

	-- Tables keyed by workspace that an earlier crm.distribute() made
	-- reference tables (the report summaries, before they were distributed):
	-- Citus distributes no reference table, so each one's rows are kept, its
	-- Citus metadata and shards go as a DROP TABLE would take them (an
	-- extension's table itself stays, on the workers too), and it is
	-- distributed below like a new one.
	SELECT pg_catalog.array_agg(p.logicalrelid ORDER BY p.logicalrelid)
	  INTO stale
	  FROM pg_catalog.pg_dist_partition p
	  JOIN pg_catalog.pg_depend d ON d.objid OPERATOR(pg_catalog.=) p.logicalrelid
	   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::regclass AND d.deptype OPERATOR(pg_catalog.=) 'e'
	 WHERE d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'crm')
	   AND p.partmethod OPERATOR(pg_catalog.=) 'n' AND crm_internal.citus_by_workspace(p.logicalrelid);
	FOR i IN 1 .. coalesce(pg_catalog.cardinality(stale), 0) LOOP
		EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE crm_distribute_stale_%s ON COMMIT DROP AS TABLE %s', i, stale[i]);
		PERFORM pg_catalog.master_remove_distributed_table_metadata_from_workers(stale[i], n.nspname, c.relname),
				pg_catalog.citus_drop_all_shards(stale[i], n.nspname, c.relname),
				pg_catalog.master_remove_partition_metadata(stale[i], n.nspname, c.relname)
		   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		  WHERE c.oid OPERATOR(pg_catalog.=) stale[i];
	END LOOP;

	-- the extension's tables Citus does not know yet, crm.contacts first:
	-- the others are co-located with it
	SELECT pg_catalog.array_agg(c.oid::regclass ORDER BY c.oid OPERATOR(pg_catalog.<>) 'crm.contacts'::regclass, c.oid)
	  INTO pending
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::regclass
	   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'crm')
	   AND d.deptype OPERATOR(pg_catalog.=) 'e'
	   AND c.relkind OPERATOR(pg_catalog.=) 'r'
	   -- crm_internal.service_access holds no rows: its grants are the point
	   AND c.relnatts OPERATOR(pg_catalog.>) 0
	   -- each node's own offsets of its placements of crm.events (sql/events.sql)
	   AND c.oid OPERATOR(pg_catalog.<>) 'crm_internal.event_xid_offsets'::pg_catalog.regclass
	   AND c.oid OPERATOR(pg_catalog.<>) ALL (coalesce(stale, '{}'))
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) c.oid);

	-- The extension's triggers fire on the shards and query its tables there
	-- (the events outbox, search words, lists): Citus routes those queries to
	-- the workspace's co-located shard on the same node once nested
	-- execution is allowed on the workers.
	FOR k IN
		SELECT w.nodename, w.nodeport, w.result
		  FROM pg_catalog.run_command_on_workers(pg_catalog.format(
				'ALTER DATABASE %I SET citus.allow_nested_distributed_execution = on', pg_catalog.current_database())) w
		 WHERE NOT w.success
	LOOP
		RAISE EXCEPTION 'worker %:% refused a setting: %', k.nodename, k.nodeport, k.result
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Install crm and citus on every worker (CREATE EXTENSION crm CASCADE), then call crm.distribute() again.';
	END LOOP;

	-- The coordinator gives the workers each request's settings from crm's
	-- executor hook (src/citus.c), which must be in place before a
	-- session's first statement on a distributed table: crm.so is loaded
	-- at the start of every session of this database.
	IF NOT 'crm' OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(
			pg_catalog.replace(pg_catalog.current_setting('session_preload_libraries'), ' ', ''), ',')) THEN
		EXECUTE pg_catalog.format('ALTER DATABASE %I SET session_preload_libraries = %L', pg_catalog.current_database(),
			pg_catalog.concat_ws(',', NULLIF(pg_catalog.current_setting('session_preload_libraries'), ''), 'crm'));
	END IF;

	-- A worker's triggers take ids from its own copy of the extension's
	-- sequences (events, history): each worker draws from a range of its
	-- own, above every id the coordinator has given, as Citus does for the
	-- sequences of the tables it creates.
	FOR k IN
		SELECT w.nodename, w.nodeport, w.result
		  FROM pg_catalog.run_command_on_workers($w$
				DO $do$
				DECLARE
					s regclass;
					g bigint := (SELECT l.groupid FROM pg_catalog.pg_dist_local_group l);
				BEGIN
					FOR s IN SELECT c.oid FROM pg_catalog.pg_class c
							  WHERE c.relkind = 'S' AND c.relnamespace IN ('crm'::regnamespace, 'crm_internal'::regnamespace)
					LOOP
						PERFORM pg_catalog.setval(s, greatest(coalesce(pg_catalog.pg_sequence_last_value(s), 1), g << 48));
					END LOOP;
				END
				$do$
				$w$) w
		 WHERE NOT w.success
	LOOP
		RAISE EXCEPTION 'worker %:% refused to move its sequences: %', k.nodename, k.nodeport, k.result
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Install crm and citus on every worker (CREATE EXTENSION crm CASCADE), then call crm.distribute() again.';
	END LOOP;

	-- Citus applies no policy of the coordinator's table to the queries it
	-- sends to the shards (neither USING nor WITH CHECK): each shard holds
	-- row-level security itself, with the policies Citus copies from the
	-- coordinator's table when it creates the shard (here, or a shard move).
	-- Those are rewritten for a worker first, on every node: no subquery,
	-- permissive only (crm_internal.citus_policies, docs/scaling.md).
	PERFORM crm_internal.citus_policies();
	FOR k IN
		SELECT w.nodename, w.nodeport, w.result
		  FROM pg_catalog.run_command_on_workers('SELECT crm_internal.citus_policies()') w
		 WHERE NOT w.success
	LOOP
		RAISE EXCEPTION 'worker %:% refused to rewrite its policies: %', k.nodename, k.nodeport, k.result
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Install crm and citus on every worker (CREATE EXTENSION crm CASCADE), then call crm.distribute() again.';
	END LOOP;

	IF pending IS NOT NULL THEN
		-- The extension's triggers are written to run on the shards.
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
		-- keys to reference tables need one connection per node
		PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
		-- Citus would turn a local table that references a new reference
		-- table into a Citus local table, recreating it and dropping the
		-- identity sequences the extension owns: the keys touching a
		-- pending table go first and come back once every table is in place.
		FOR k IN
			SELECT c.conrelid::regclass AS tbl, c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS def
			  FROM pg_catalog.pg_constraint c
			 WHERE c.contype OPERATOR(pg_catalog.=) 'f'
			   AND (c.conrelid OPERATOR(pg_catalog.=) ANY (pending) OR c.confrelid OPERATOR(pg_catalog.=) ANY (pending))
			 ORDER BY c.conrelid, c.conname
		LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', k.tbl, k.conname);
			-- a worker where crm is installed holds the key on its own copy of the
			-- table (Citus's shell there): it goes there too, once distributed
			keys := keys OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', k.tbl, k.conname)
						 OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.tbl, k.conname, k.def);
		END LOOP;
		-- The rows a database already holds go into the shards as they are,
		-- with no trigger firing on them (the events guard would refuse their
		-- ids, the event triggers write them again).  Citus would copy them
		-- into shards whose triggers are on: they wait in temporary tables.
		FOR i IN 1 .. pg_catalog.cardinality(pending) LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER USER', pending[i]);
			EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE crm_distribute_%s ON COMMIT DROP AS TABLE %s', i, pending[i]);
			EXECUTE pg_catalog.format('TRUNCATE %s', pending[i]);
		END LOOP;
		FOREACH t IN ARRAY pending LOOP
			IF crm_internal.citus_by_workspace(t) THEN
				PERFORM pg_catalog.create_distributed_table(t, 'workspace_id',
					colocate_with => CASE WHEN t OPERATOR(pg_catalog.=) 'crm.contacts'::regclass THEN 'default' ELSE 'crm.contacts' END);
			ELSE
				PERFORM pg_catalog.create_reference_table(t);
			END IF;
		END LOOP;
		FOR i IN 1 .. pg_catalog.cardinality(pending) LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER USER', pending[i]);
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) pending[i] AND a.attnum OPERATOR(pg_catalog.>) 0
			   AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.<>) 's';
			EXECUTE pg_catalog.format('INSERT INTO %s (%s) SELECT %s FROM crm_distribute_%s', pending[i], cols, cols, i);
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER USER', pending[i]);
		END LOOP;
		FOR i IN 1 .. pg_catalog.cardinality(keys) LOOP
			EXECUTE keys[i];
		END LOOP;
	END IF;
	-- the former reference tables: no key, no trigger, their heap on the
	-- coordinator empty (their rows were in the shards, kept above)
	FOR i IN 1 .. coalesce(pg_catalog.cardinality(stale), 0) LOOP
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
		PERFORM pg_catalog.create_distributed_table(stale[i], 'workspace_id', colocate_with => 'crm.contacts');
		EXECUTE pg_catalog.format('INSERT INTO %s SELECT * FROM crm_distribute_stale_%s', stale[i], i);
	END LOOP;

	-- the report views in the shape Citus routes (every call: an update of
	-- the extension makes them again in one node's)
	PERFORM crm_internal.citus_report_views();

	RETURN QUERY
		SELECT p.logicalrelid::regclass,
			   CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed by workspace_id' END
		  FROM pg_catalog.pg_dist_partition p
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) ANY (ARRAY['crm', 'crm_internal'])
		 ORDER BY p.partmethod OPERATOR(pg_catalog.<>) 'n', c.oid::regclass::text;
END;
$$;
COMMENT ON FUNCTION crm.distribute() IS
	'on a Citus coordinator: makes the global tables reference tables and distributes every other table by workspace_id, co-located; idempotent; a superuser runs it';
REVOKE EXECUTE ON FUNCTION crm.distribute() FROM PUBLIC;
