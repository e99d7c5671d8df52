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
