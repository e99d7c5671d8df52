--
-- Forecasting (SPEC §10): stage probabilities in C (src/forecast.c),
-- exchange rates, and crm.forecast() per period.  See docs/forecasting.md.
--

CREATE TABLE crm.exchange_rates (
	workspace_id bigint NOT NULL DEFAULT crm.current_workspace()
		REFERENCES crm.workspaces (id) ON DELETE CASCADE,
	base char(3) NOT NULL,
	quote char(3) NOT NULL,
	rate numeric NOT NULL
		CONSTRAINT exchange_rates_rate_positive CHECK (rate OPERATOR(pg_catalog.>) 0),
	valid_from date NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (workspace_id, base, quote, valid_from),
	CONSTRAINT exchange_rates_two_currencies CHECK (base OPERATOR(pg_catalog.<>) quote)
);
COMMENT ON TABLE crm.exchange_rates IS
	'1 base = rate quote, from valid_from until the next rate of the pair; the inverse pair is used when only it exists';

CREATE TRIGGER exchange_rates_normalize BEFORE INSERT OR UPDATE ON crm.exchange_rates
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('base:currency', 'quote:currency', 'rate:finite');

CREATE FUNCTION crm.lookup_exchange_rate(base text, quote text, on_date date DEFAULT CURRENT_DATE)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	b text := crm.normalize_currency(base);
	q text := crm.normalize_currency(quote);
	r numeric;
BEGIN
	IF on_date IS NULL THEN
		RAISE EXCEPTION 'exchange rate date must not be NULL'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the date the rate should be valid on.';
	END IF;
	IF b = q THEN
		RETURN 1;
	END IF;
	SELECT x.rate INTO r FROM crm.exchange_rates x
	 WHERE x.workspace_id = ws AND x.base = b AND x.quote = q AND x.valid_from <= on_date
	 ORDER BY x.valid_from DESC LIMIT 1;
	IF r IS NULL THEN
		SELECT 1 / x.rate INTO r FROM crm.exchange_rates x
		 WHERE x.workspace_id = ws AND x.base = q AND x.quote = b AND x.valid_from <= on_date
		 ORDER BY x.valid_from DESC LIMIT 1;
	END IF;
	IF r IS NULL THEN
		RAISE EXCEPTION 'no exchange rate from % to % on %', b, q, on_date
			USING ERRCODE = 'no_data_found',
				  HINT = format('INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES (%L, %L, <rate>, <date on or before %s>).',
								b, q, on_date);
	END IF;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION crm.lookup_exchange_rate(text, text, date) IS
	'how many quote for one base on a date (the latest rate valid then, or the inverse pair''s); error if none';

CREATE FUNCTION crm.stage_probabilities(pipeline_id bigint, method text DEFAULT 'configured',
										since timestamptz DEFAULT NULL)
RETURNS TABLE (stage_id bigint, stage_name text, probability numeric)
	AS 'MODULE_PATHNAME', 'crm_stage_probabilities'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION crm.stage_probabilities(bigint, text, timestamptz) IS
	'win probability (0-100) per stage: configured, historical (absorbing Markov chain over closed deals since "since") or blended';

-- One pass over the deals, grouped by currency and date, then each group
-- converted at the rate of its date and rolled up per period:
--   open_count      open deals not omitted from the forecast
--   pipeline_value  their value (categories pipeline, best_case, commit)
--   weighted_value  their value x win probability
--   best_case       open best_case + commit deals, plus closed won
--   commit          open commit deals, plus closed won
--   closed_won      deals won in the period (by close date)
--   slipped         open best_case/commit deals whose expected close date has passed
-- An open deal counts in the period of its expected close date (none: left
-- out), a closed one in that of its close date.
CREATE FUNCTION crm.forecast(pipeline_id bigint DEFAULT NULL, from_date date DEFAULT NULL,
							 to_date date DEFAULT NULL, period text DEFAULT 'month',
							 method text DEFAULT 'configured', currency text DEFAULT NULL)
RETURNS TABLE (period_start date, open_count bigint, pipeline_value numeric, weighted_value numeric,
			   best_case numeric, commit numeric, closed_won numeric, slipped numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	target text;
	step interval;
	minor integer;
	pid bigint;
	stage_ids bigint[] := '{}';
	stage_probs numeric[] := '{}';
BEGIN
	IF period IS NULL OR period NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
		RAISE EXCEPTION 'invalid forecast period: "%"', coalesce(period, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use day, week, month, quarter or year.';
	END IF;
	IF method IS NULL OR method NOT IN ('configured', 'historical', 'blended') THEN
		RAISE EXCEPTION 'unknown forecast method: "%"', coalesce(method, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use configured (the stages'' settings), historical (learned from closed deals) or blended.';
	END IF;
	IF from_date > to_date THEN
		RAISE EXCEPTION 'forecast range is empty: % is after %', from_date, to_date
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass from_date on or before to_date.';
	END IF;
	IF pipeline_id IS NOT NULL THEN
		PERFORM crm_hidden.require_pipeline(forecast.pipeline_id);
	END IF;
	IF currency IS NULL THEN
		SELECT w.default_currency INTO target FROM crm.workspaces w WHERE w.id = ws;
	ELSE
		target := crm.normalize_currency(currency);
	END IF;
	minor := crm.currency_exponent(target);
	step := CASE period WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || period)::interval END;
	-- each pipeline's probabilities asked here, not in the query: on Citus
	-- the query runs on the workspace's worker, where the function would not
	-- know the workspace
	FOR pid IN
		SELECT pl.id FROM crm.pipelines pl
		 WHERE pl.workspace_id = ws AND (forecast.pipeline_id IS NULL OR pl.id = forecast.pipeline_id)
	LOOP
		SELECT stage_ids || array_agg(p.stage_id), stage_probs || array_agg(p.probability)
		  INTO stage_ids, stage_probs
		  FROM crm.stage_probabilities(pid, forecast.method) p;
	END LOOP;

	RETURN QUERY
	WITH probs AS MATERIALIZED (
		SELECT p.stage_id, p.probability, s.kind, s.forecast_category
		  FROM unnest(stage_ids, stage_probs) AS p(stage_id, probability)
		  JOIN crm.stages s ON s.workspace_id = ws AND s.id = p.stage_id
	), deals AS (
		SELECT d.currency::text AS currency, d.value, d.status,
			   CASE WHEN d.status = 'open' THEN d.expected_close_date ELSE d.closed_at::date END AS on_date,
			   CASE d.status WHEN 'won' THEN 'closed' WHEN 'lost' THEN 'omitted'
					ELSE coalesce(d.forecast_category_override, p.forecast_category)::text END AS category,
			   coalesce(d.probability_override, p.probability) AS probability
		  FROM crm.deals d
		  JOIN probs p ON p.stage_id = d.stage_id
		 WHERE d.workspace_id = ws AND d.status <> 'lost'
	), groups AS (
		SELECT g.currency, g.on_date,
			   count(*) FILTER (WHERE g.status = 'open' AND g.category <> 'omitted') AS n_open,
			   sum(g.value) FILTER (WHERE g.status = 'open' AND g.category <> 'omitted') AS pipe,
			   sum(g.value * g.probability / 100) FILTER (WHERE g.status = 'open' AND g.category <> 'omitted') AS weighted,
			   sum(g.value) FILTER (WHERE g.category IN ('best_case', 'commit', 'closed')) AS best,
			   sum(g.value) FILTER (WHERE g.category IN ('commit', 'closed')) AS committed,
			   sum(g.value) FILTER (WHERE g.status = 'won') AS won,
			   sum(g.value) FILTER (WHERE g.status = 'open' AND g.category IN ('best_case', 'commit')
									AND g.on_date < CURRENT_DATE) AS slip
		  FROM deals g
		 WHERE g.on_date IS NOT NULL
		   AND (forecast.from_date IS NULL OR g.on_date >= forecast.from_date)
		   AND (forecast.to_date IS NULL OR g.on_date <= forecast.to_date)
		 GROUP BY g.currency, g.on_date
	), converted AS (
		SELECT date_trunc(forecast.period, g.on_date)::date AS ps, g.*,
			   CASE WHEN g.currency = target THEN 1 ELSE crm.lookup_exchange_rate(g.currency, target, g.on_date) END AS rate
		  FROM groups g
	), periods AS (
		SELECT gs::date AS ps
		  FROM (SELECT date_trunc(forecast.period, coalesce(forecast.from_date, min(c.on_date)))::date AS lo,
					   date_trunc(forecast.period, coalesce(forecast.to_date, max(c.on_date)))::date AS hi
				  FROM converted c) b
		 CROSS JOIN LATERAL generate_series(b.lo, b.hi, step) gs
	)
	SELECT p.ps,
		   coalesce(sum(c.n_open), 0)::bigint,
		   round(coalesce(sum(c.pipe * c.rate), 0), minor),
		   round(coalesce(sum(c.weighted * c.rate), 0), minor),
		   round(coalesce(sum(c.best * c.rate), 0), minor),
		   round(coalesce(sum(c.committed * c.rate), 0), minor),
		   round(coalesce(sum(c.won * c.rate), 0), minor),
		   round(coalesce(sum(c.slip * c.rate), 0), minor)
	  FROM periods p
	  LEFT JOIN converted c ON c.ps = p.ps
	 GROUP BY p.ps
	 ORDER BY p.ps;
END;
$$;
COMMENT ON FUNCTION crm.forecast(bigint, date, date, text, text, text) IS
	'per period: open deals, pipeline, weighted, best case, commit, closed won and slipped value in one currency';
