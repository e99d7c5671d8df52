# crm.forecast() over $SCALE deals vs the hand-written GROUP BY that computes
# the same columns (one currency, so the hand-written query needs no rates).
# The deals are bulk-loaded with the row triggers off, as a restore would;
# the forecast itself is what is measured.

bench_sql "DO \$\$ BEGIN PERFORM crm.create_pipeline('Bench forecast', 'b2b_sales'); END \$\$"
pipeline=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.pipelines WHERE name = 'Bench forecast'")
bench_sql "ALTER TABLE crm.deals DISABLE TRIGGER USER;
INSERT INTO crm.deals (pipeline_id, stage_id, title, value, currency, status, closed_at, expected_close_date,
					   position, probability_override, forecast_category_override)
SELECT $pipeline, s.id, 'forecast ' || i, (i % 5000) + 0.5, 'USD', s.kind::text::crm.deal_status,
	   CASE WHEN s.kind <> 'open' THEN date '2024-01-01' + (i % 730) END,
	   date '2024-01-01' + (i * 7 % 730), i,
	   CASE WHEN i % 10 = 0 THEN 33 END, CASE WHEN i % 17 = 0 THEN 'commit'::crm.forecast_category END
  FROM generate_series(1, $SCALE) i
  JOIN crm.stages s ON s.pipeline_id = $pipeline AND s.position = 1 + i % 6;
ALTER TABLE crm.deals ENABLE TRIGGER USER;"
bench_sql "VACUUM ANALYZE crm.deals"

bare_sql="SELECT date_trunc('month', x.on_date)::date AS period_start,
	   count(*) FILTER (WHERE x.status = 'open' AND x.cat <> 'omitted') AS open_count,
	   round(coalesce(sum(x.value) FILTER (WHERE x.status = 'open' AND x.cat <> 'omitted'), 0), 2) AS pipeline_value,
	   round(coalesce(sum(x.value * x.prob / 100) FILTER (WHERE x.status = 'open' AND x.cat <> 'omitted'), 0), 2) AS weighted_value,
	   round(coalesce(sum(x.value) FILTER (WHERE x.cat IN ('best_case', 'commit', 'closed')), 0), 2) AS best_case,
	   round(coalesce(sum(x.value) FILTER (WHERE x.cat IN ('commit', 'closed')), 0), 2) AS commit,
	   round(coalesce(sum(x.value) FILTER (WHERE x.status = 'won'), 0), 2) AS closed_won,
	   round(coalesce(sum(x.value) FILTER (WHERE x.status = 'open' AND x.cat IN ('best_case', 'commit')
										  AND x.on_date < current_date), 0), 2) AS slipped
  FROM (SELECT d.value, d.status,
			   CASE WHEN d.status = 'open' THEN d.expected_close_date ELSE d.closed_at::date END AS on_date,
			   CASE d.status WHEN 'won' THEN 'closed' ELSE coalesce(d.forecast_category_override, s.forecast_category)::text END AS cat,
			   coalesce(d.probability_override, s.probability) AS prob
		  FROM crm.deals d JOIN crm.stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
		 WHERE d.workspace_id = 1 AND d.pipeline_id = $pipeline AND d.status <> 'lost') x
 WHERE x.on_date IS NOT NULL
 GROUP BY 1 ORDER BY 1"
read -r crm_ms bare_ms < <(bench_pair "" "SELECT * FROM crm.forecast($pipeline, currency => 'USD');" "" "$bare_sql;")
report "crm.forecast() over $SCALE deals vs hand-written GROUP BY" "$crm_ms" "$bare_ms" time "<= 1.2"

# the same answer, not just the same speed
if ! diff <(psql -X -At -d "$BENCH_DB" -c "SELECT * FROM crm.forecast($pipeline, currency => 'USD')") \
		<(psql -X -At -d "$BENCH_DB" -c "$bare_sql") >/dev/null; then
	echo "forecast.sh: crm.forecast() and the hand-written GROUP BY disagree" >&2
	exit 1
fi
