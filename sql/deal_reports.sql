--
-- Deal health and the pipeline report views (SPEC §10).
--

CREATE TYPE crm.deal_health AS ENUM ('healthy', 'stalled', 'at_risk', 'overdue');
COMMENT ON TYPE crm.deal_health IS 'what crm.deal_health() says about an open deal, least to most urgent';

-- Thresholds (docs/deals.md#deal-health):
--   overdue  open and expected_close_date before today;
--   stalled  longer in its stage than the stage's stale_after; without
--            one, longer than 3 deals in 4 stayed: the 75th percentile of
--            the finished stays in the stage once there are 8, else of the
--            finished stays in all the workspace's open stages once there
--            are 8, else 30 days; a learnt threshold is at least 7 days;
--   at_risk  no activity or note for 14 days, or expected to close within
--            7 days with a win probability under 50;
--   healthy  otherwise, and always for won or lost deals.
-- The first that applies wins, in that order.
-- The stalled threshold of a stage without stale_after, from the
-- workspace's history (the thresholds above).
CREATE FUNCTION crm_hidden.learnt_stale_after(stage_id bigint) RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	usual interval;
	samples bigint;
BEGIN
	SELECT percentile_cont(0.75) WITHIN GROUP (ORDER BY h.left_at - h.entered_at), count(*)
	  INTO usual, samples
	  FROM crm.deal_stage_history h
	 WHERE h.workspace_id = ws AND h.stage_id = learnt_stale_after.stage_id AND h.left_at IS NOT NULL;
	IF samples < 8 THEN
		SELECT percentile_cont(0.75) WITHIN GROUP (ORDER BY h.left_at - h.entered_at), count(*)
		  INTO usual, samples
		  FROM crm.deal_stage_history h
		  JOIN crm.stages s ON s.workspace_id = h.workspace_id AND s.id = h.stage_id
		 WHERE h.workspace_id = ws AND s.kind = 'open' AND h.left_at IS NOT NULL;
	END IF;
	IF samples < 8 THEN
		RETURN interval '30 days';
	END IF;
	RETURN greatest(usual, interval '7 days');
END;
$$;
COMMENT ON FUNCTION crm_hidden.learnt_stale_after(bigint) IS
	'how long a deal may stay in a stage before crm.deal_health calls it stalled, when the stage has no stale_after';

CREATE FUNCTION crm.deal_health(deal_id bigint, as_of timestamptz DEFAULT now())
RETURNS crm.deal_health
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	d crm.deals;
	st crm.stages;
	last_touch timestamptz;
	today date;
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION 'as_of must not be NULL'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it out to judge the deal as of now.';
	END IF;
	SELECT * INTO d FROM crm.deals x WHERE x.workspace_id = ws AND x.id = deal_health.deal_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'deal % does not exist', coalesce(deal_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Check the id; deals of other workspaces are not visible here.';
	END IF;
	IF d.status <> 'open' THEN
		RETURN 'healthy';
	END IF;
	today := as_of::date;
	IF d.expected_close_date < today THEN
		RETURN 'overdue';
	END IF;

	SELECT * INTO st FROM crm.stages s WHERE s.workspace_id = ws AND s.id = d.stage_id;
	IF as_of - d.stage_entered_at > coalesce(st.stale_after, crm_hidden.learnt_stale_after(d.stage_id)) THEN
		RETURN 'stalled';
	END IF;

	SELECT greatest(max(a.occurred_at), (SELECT max(n.created_at) FROM crm.notes n
										  WHERE n.workspace_id = ws AND n.deal_id = deal_health.deal_id))
	  INTO last_touch
	  FROM crm.activities a WHERE a.workspace_id = ws AND a.deal_id = deal_health.deal_id;
	IF coalesce(last_touch, d.created_at) < as_of - interval '14 days' THEN
		RETURN 'at_risk';
	END IF;
	IF d.expected_close_date <= today + 7
	   AND coalesce(d.probability_override, st.probability) < 50 THEN
		RETURN 'at_risk';
	END IF;
	RETURN 'healthy';
END;
$$;
COMMENT ON FUNCTION crm.deal_health(bigint, timestamptz) IS
	'healthy, stalled, at_risk or overdue; thresholds in docs/deals.md';

CREATE VIEW crm.pipeline_summary WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.pipeline_id, s.id AS stage_id, s.name AS stage_name, s.position, s.kind,
		   s.probability, d.currency,
		   pg_catalog.count(d.id) AS deals,
		   COALESCE(pg_catalog.sum(d.value), 0) AS value,
		   -- rounded to the minor units of the group's currency
		   pg_catalog.round(COALESCE(pg_catalog.sum(d.value OPERATOR(pg_catalog.*)
				COALESCE(d.probability_override, s.probability) OPERATOR(pg_catalog./) 100), 0),
				COALESCE(crm.currency_exponent(d.currency), 2)) AS weighted_value
	  FROM crm.stages s
	  -- deal pipelines only: contact pipelines have crm.contact_kanban
	  JOIN crm.pipelines p ON p.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						  AND p.id OPERATOR(pg_catalog.=) s.pipeline_id
						  AND p.object_type OPERATOR(pg_catalog.=) 'deal'
	  LEFT JOIN crm.deals d ON d.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						   AND d.stage_id OPERATOR(pg_catalog.=) s.id
	 GROUP BY s.workspace_id, s.pipeline_id, s.id, s.name, s.position, s.kind, s.probability, d.currency;
COMMENT ON VIEW crm.pipeline_summary IS
	'per stage and currency: number of deals, their value and value weighted by win probability';

CREATE VIEW crm.stage_conversion WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.pipeline_id, s.id AS stage_id, s.name AS stage_name, s.position, s.kind,
		   e.entered, a.advanced, e.won,
		   pg_catalog.round(a.advanced::numeric OPERATOR(pg_catalog./) NULLIF(e.entered, 0), 4) AS conversion_rate,
		   e.median_time_in_stage
	  FROM crm.stages s
	  -- deal pipelines only: contact pipelines have crm.contact_kanban
	  JOIN crm.pipelines p ON p.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						  AND p.id OPERATOR(pg_catalog.=) s.pipeline_id
						  AND p.object_type OPERATOR(pg_catalog.=) 'deal'
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.count(DISTINCT h.deal_id) AS entered,
			   pg_catalog.count(DISTINCT h.deal_id) FILTER (WHERE d.status OPERATOR(pg_catalog.=) 'won') AS won,
			   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY h.left_at OPERATOR(pg_catalog.-) h.entered_at)
				   AS median_time_in_stage
		  FROM crm.deal_stage_history h
		  JOIN crm.deals d ON d.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
						  AND d.id OPERATOR(pg_catalog.=) h.deal_id
		 WHERE h.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
		   AND h.stage_id OPERATOR(pg_catalog.=) s.id) e
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.count(DISTINCT h.deal_id) AS advanced
		  FROM crm.deal_stage_history h
		  JOIN crm.stages t ON t.workspace_id OPERATOR(pg_catalog.=) h.workspace_id
						   AND t.id OPERATOR(pg_catalog.=) h.stage_id
		 WHERE h.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
		   AND h.from_stage_id OPERATOR(pg_catalog.=) s.id
		   AND (t.kind OPERATOR(pg_catalog.=) 'won'
				OR (t.kind OPERATOR(pg_catalog.=) 'open' AND t.position OPERATOR(pg_catalog.>) s.position))) a;
COMMENT ON VIEW crm.stage_conversion IS
	'per stage: deals that entered it, moved on to a later open stage or a won stage (advanced), are won now; advanced/entered; median stay';

-- The board, ready to draw: every stage of every pipeline in order, empty
-- ones as a single row without a card (deal_id NULL), with its colour, its
-- number of deals and their value per currency (amounts in different
-- currencies are never added), then the cards in order with their health.
CREATE VIEW crm.kanban WITH (security_invoker = true) AS
	SELECT s.workspace_id, s.pipeline_id, s.id AS stage_id, s.name AS stage_name, s.position AS stage_position,
		   s.kind AS stage_kind, s.color AS stage_color,
		   COALESCE(t.deals, 0) AS stage_deals, COALESCE(t.totals, '{}'::pg_catalog.jsonb) AS stage_totals,
		   CASE WHEN d.id IS NOT NULL
				THEN pg_catalog.row_number() OVER (PARTITION BY s.workspace_id, s.id ORDER BY d.position, d.id) END AS card_rank,
		   d.id AS deal_id, d.title, d.value, d.currency, d.status, d.priority, d.owner,
		   d.expected_close_date, d.contact_id, d.company_id, d.position,
		   CASE WHEN d.id IS NOT NULL THEN crm.deal_health(d.id) END AS health
	  FROM crm.stages s
	  -- deal pipelines only: contact pipelines have crm.contact_kanban
	  JOIN crm.pipelines p ON p.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						  AND p.id OPERATOR(pg_catalog.=) s.pipeline_id
						  AND p.object_type OPERATOR(pg_catalog.=) 'deal'
	  LEFT JOIN crm.deals d ON d.workspace_id OPERATOR(pg_catalog.=) s.workspace_id
						   AND d.stage_id OPERATOR(pg_catalog.=) s.id
	  LEFT JOIN LATERAL (
		SELECT pg_catalog.sum(c.n)::bigint AS deals, pg_catalog.jsonb_object_agg(c.currency, c.value) AS totals
		  FROM (SELECT x.currency, pg_catalog.count(*) AS n, pg_catalog.sum(x.value) AS value
				  FROM crm.deals x
				 WHERE x.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND x.stage_id OPERATOR(pg_catalog.=) s.id
				 GROUP BY x.currency) c) t ON true
	 ORDER BY s.workspace_id, s.pipeline_id, s.position, d.position, d.id;
COMMENT ON VIEW crm.kanban IS
	'the board: every stage in order (an empty one as a row with deal_id NULL) with colour, deal count and value per currency, then its cards in order with their health';

-- The pipeline report (docs/deals.md#the-pipeline-report): per pipeline,
-- and per owner and period when asked, the deals closed in the period
-- (won, lost, win rate, average won value in one currency, average sales
-- cycle of the won ones) and the deals open at its end, with velocity =
-- open x win rate x average won value / average cycle, per day.  It reads
-- the deals as the caller: row-level security, a module switched off and
-- who may see which deal apply as to a SELECT.
CREATE FUNCTION crm.pipeline_report(pipeline_id bigint DEFAULT NULL, owner text DEFAULT NULL,
									since date DEFAULT NULL, until date DEFAULT NULL,
									period text DEFAULT NULL, by_owner boolean DEFAULT false,
									currency text DEFAULT NULL)
RETURNS TABLE (pipeline bigint, pipeline_name text, deal_owner text, period_start date, period_end date,
			   open_deals bigint, won bigint, lost bigint, win_rate numeric, avg_won_value numeric,
			   avg_cycle_days numeric, velocity numeric, value_currency text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	target text;
	minor integer;
	step interval;
	lo date;
	hi date;
	grouped boolean := coalesce(by_owner, false);
BEGIN
	IF period IS NOT NULL AND period NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
		RAISE EXCEPTION 'invalid report period: "%"', period
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use day, week, month, quarter or year, or leave it out for one row over the whole range.';
	END IF;
	IF since > until THEN
		RAISE EXCEPTION 'report range is empty: % is after %', since, until
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass since on or before until.';
	END IF;
	IF pipeline_id IS NOT NULL THEN
		PERFORM crm_hidden.require_pipeline(pipeline_report.pipeline_id);
	END IF;
	IF currency IS NULL THEN
		SELECT w.default_currency INTO target FROM crm.workspaces w WHERE w.id = ws;
	ELSE
		target := crm.normalize_currency(currency);
	END IF;
	minor := coalesce(crm.currency_exponent(target), 2);
	IF period IS NOT NULL THEN
		step := CASE period WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || period)::interval END;
		hi := coalesce(until, CURRENT_DATE);
		SELECT least(coalesce(pipeline_report.since, min(d.closed_at)::date, hi), hi) INTO lo
		  FROM crm.deals d
		 WHERE d.workspace_id = ws AND d.status <> 'open'
		   AND (pipeline_report.pipeline_id IS NULL OR d.pipeline_id = pipeline_report.pipeline_id)
		   AND (pipeline_report.owner IS NULL OR d.owner = pipeline_report.owner);
	END IF;

	RETURN QUERY
	WITH bounds AS (
		SELECT pipeline_report.since AS p_from, pipeline_report.until AS p_to
		 WHERE pipeline_report.period IS NULL
		UNION ALL
		SELECT greatest(gs::date, lo), least((gs + step)::date - 1, hi)
		  FROM generate_series(date_trunc(pipeline_report.period, lo::timestamp),
							   date_trunc(pipeline_report.period, hi::timestamp), step) gs
		 WHERE pipeline_report.period IS NOT NULL
	), periods AS (
		-- closes counted from t_from to before t_to; open deals taken at
		-- t_open, the end of the period or now, whichever is earlier
		SELECT row_number() OVER (ORDER BY b.p_from) AS k, b.p_from, b.p_to,
			   b.p_from::timestamptz AS t_from, (b.p_to + 1)::timestamptz AS t_to,
			   least((b.p_to + 1)::timestamptz, now()) AS t_open
		  FROM bounds b
	), pl AS (
		SELECT p.id, p.name
		  FROM crm.pipelines p
		 WHERE p.workspace_id = ws AND (pipeline_report.pipeline_id IS NULL OR p.id = pipeline_report.pipeline_id)
	), ds AS (
		SELECT d.id, d.pipeline_id, d.status, d.value, d.currency::text AS currency, d.closed_at, d.created_at,
			   CASE WHEN grouped THEN d.owner ELSE pipeline_report.owner END AS g_owner
		  FROM crm.deals d
		 WHERE d.workspace_id = ws
		   AND (pipeline_report.pipeline_id IS NULL OR d.pipeline_id = pipeline_report.pipeline_id)
		   AND (pipeline_report.owner IS NULL OR d.owner = pipeline_report.owner)
	), closed AS (
		-- a won deal's cycle starts at its creation, or at its first stay
		-- when that is earlier (a deal imported with its history)
		SELECT p.k, d.pipeline_id, d.g_owner,
			   count(*) FILTER (WHERE d.status = 'won') AS n_won,
			   count(*) FILTER (WHERE d.status = 'lost') AS n_lost,
			   avg(d.value * CASE WHEN d.currency = target THEN 1
								  ELSE crm.lookup_exchange_rate(d.currency, target, d.closed_at::date) END)
				   FILTER (WHERE d.status = 'won') AS avg_won,
			   avg(extract(epoch FROM d.closed_at - least(d.created_at, f.first_entry)) / 86400)
				   FILTER (WHERE d.status = 'won') AS avg_cycle
		  FROM ds d
		  JOIN periods p ON (p.t_from IS NULL OR d.closed_at >= p.t_from) AND (p.t_to IS NULL OR d.closed_at < p.t_to)
		  LEFT JOIN LATERAL (
			SELECT min(h.entered_at) AS first_entry
			  FROM crm.deal_stage_history h
			 WHERE h.workspace_id = ws AND h.deal_id = d.id) f ON true
		 WHERE d.status IN ('won', 'lost')
		 GROUP BY p.k, d.pipeline_id, d.g_owner
	), opened AS (
		-- open at t_open: the stay that covers it is in an open stage
		SELECT p.k, d.pipeline_id, d.g_owner, count(*) AS n_open
		  FROM ds d
		 CROSS JOIN periods p
		 WHERE EXISTS (
			SELECT 1
			  FROM crm.deal_stage_history h
			  JOIN crm.stages s ON s.workspace_id = h.workspace_id AND s.id = h.stage_id
			 WHERE h.workspace_id = ws AND h.deal_id = d.id AND s.kind = 'open'
			   AND h.entered_at <= p.t_open AND (h.left_at IS NULL OR h.left_at > p.t_open))
		 GROUP BY p.k, d.pipeline_id, d.g_owner
	), keys AS (
		SELECT pl.id, pl.name, p.k, p.p_from, p.p_to, o.g_owner
		  FROM pl
		 CROSS JOIN periods p
		 CROSS JOIN LATERAL (
			SELECT pipeline_report.owner AS g_owner WHERE NOT grouped
			UNION
			SELECT c.g_owner FROM closed c WHERE grouped AND c.pipeline_id = pl.id
			UNION
			SELECT x.g_owner FROM opened x WHERE grouped AND x.pipeline_id = pl.id) o
	)
	SELECT k.id, k.name, k.g_owner, k.p_from, k.p_to,
		   coalesce(o.n_open, 0), coalesce(c.n_won, 0), coalesce(c.n_lost, 0),
		   round(c.n_won::numeric / nullif(c.n_won + c.n_lost, 0), 4),
		   round(c.avg_won, minor),
		   round(c.avg_cycle, 2),
		   round(coalesce(o.n_open, 0) * (c.n_won::numeric / nullif(c.n_won + c.n_lost, 0)) * c.avg_won
				 / nullif(c.avg_cycle, 0), minor),
		   target
	  FROM keys k
	  LEFT JOIN closed c ON c.k = k.k AND c.pipeline_id = k.id AND c.g_owner IS NOT DISTINCT FROM k.g_owner
	  LEFT JOIN opened o ON o.k = k.k AND o.pipeline_id = k.id AND o.g_owner IS NOT DISTINCT FROM k.g_owner
	 ORDER BY k.id, k.k, k.g_owner NULLS LAST;
END;
$$;
COMMENT ON FUNCTION crm.pipeline_report(bigint, text, date, date, text, boolean, text) IS
	'per pipeline (and owner, period): open deals, won, lost, win rate, average won value, average sales cycle in days and velocity per day';
