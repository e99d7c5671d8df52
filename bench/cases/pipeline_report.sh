# crm.pipeline_report() per month over two years of $SCALE deals vs the
# hand-written SQL that computes the same columns (one currency, so it needs
# no rates): the deals closed in each month, and the deals whose stay in
# crm.deal_stage_history covers each month's end in an open stage.  Deals
# and their stays are bulk-loaded with the row triggers off, as a restore
# would; the report itself is what is measured.

bench_sql "DO \$\$ BEGIN PERFORM crm.create_pipeline('Bench report', 'b2b_sales'); END \$\$"
pipeline=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.pipelines WHERE name = 'Bench report'")
bench_sql "ALTER TABLE crm.deals DISABLE TRIGGER USER;
ALTER TABLE crm.deal_stage_history DISABLE TRIGGER USER;
INSERT INTO crm.deals (pipeline_id, stage_id, title, value, currency, status, created_at, closed_at, position, owner)
SELECT $pipeline, s.id, 'report ' || i, (i % 5000) + 0.5, 'USD', s.kind::text::crm.deal_status,
	   timestamptz '2024-01-01 12:00+00' + (i % 700) * interval '1 day',
	   CASE WHEN s.kind <> 'open' THEN timestamptz '2024-01-01 12:00+00' + (i % 700 + 5 + i % 60) * interval '1 day' END,
	   i, 'agent-' || i % 7
  FROM generate_series(1, $SCALE) i
  JOIN crm.stages s ON s.pipeline_id = $pipeline AND s.position = 1 + i % 6;
-- every deal's first stay, in an open stage, until it closed; a closed deal's stay in its won/lost stage
INSERT INTO crm.deal_stage_history (deal_id, pipeline_id, stage_id, entered_at, left_at)
SELECT d.id, d.pipeline_id, CASE WHEN d.status = 'open' THEN d.stage_id ELSE f.id END, d.created_at, d.closed_at
  FROM crm.deals d JOIN crm.stages f ON f.pipeline_id = d.pipeline_id AND f.position = 1
 WHERE d.pipeline_id = $pipeline;
INSERT INTO crm.deal_stage_history (deal_id, pipeline_id, from_stage_id, stage_id, entered_at)
SELECT d.id, d.pipeline_id, f.id, d.stage_id, d.closed_at
  FROM crm.deals d JOIN crm.stages f ON f.pipeline_id = d.pipeline_id AND f.position = 1
 WHERE d.pipeline_id = $pipeline AND d.status <> 'open';
ALTER TABLE crm.deal_stage_history ENABLE TRIGGER USER;
ALTER TABLE crm.deals ENABLE TRIGGER USER;"
bench_sql "VACUUM ANALYZE crm.deals, crm.deal_stage_history"

range="since => '2024-01-01', until => '2025-12-31', period => 'month'"
bare_sql="WITH m AS (
	SELECT gs::date AS p_from, (gs + interval '1 month')::date - 1 AS p_to, (gs + interval '1 month')::timestamptz AS t
	  FROM generate_series(timestamp '2024-01-01', timestamp '2025-12-01', interval '1 month') gs
), c AS (
	SELECT m.p_from, count(*) FILTER (WHERE d.status = 'won') AS won, count(*) FILTER (WHERE d.status = 'lost') AS lost,
		   avg(d.value) FILTER (WHERE d.status = 'won') AS avg_won,
		   avg(extract(epoch FROM d.closed_at - least(d.created_at, f.first)) / 86400) FILTER (WHERE d.status = 'won') AS cycle
	  FROM m JOIN crm.deals d ON d.workspace_id = 1 AND d.pipeline_id = $pipeline AND d.status <> 'open'
							 AND d.closed_at >= m.p_from AND d.closed_at < m.p_to + 1
	  LEFT JOIN LATERAL (SELECT min(h.entered_at) AS first FROM crm.deal_stage_history h
						  WHERE h.workspace_id = 1 AND h.deal_id = d.id) f ON true
	 GROUP BY m.p_from
), o AS (
	SELECT m.p_from, count(*) AS open_deals
	  FROM m JOIN crm.deals d ON d.workspace_id = 1 AND d.pipeline_id = $pipeline
	 WHERE EXISTS (SELECT 1 FROM crm.deal_stage_history h JOIN crm.stages s ON s.workspace_id = h.workspace_id AND s.id = h.stage_id
				   WHERE h.workspace_id = 1 AND h.deal_id = d.id AND s.kind = 'open'
					 AND h.entered_at <= least(m.t, now()) AND (h.left_at IS NULL OR h.left_at > least(m.t, now())))
	 GROUP BY m.p_from
)
SELECT m.p_from, m.p_to, coalesce(o.open_deals, 0), coalesce(c.won, 0), coalesce(c.lost, 0),
	   round(c.won::numeric / nullif(c.won + c.lost, 0), 4), round(c.avg_won, 2), round(c.cycle, 2),
	   round(coalesce(o.open_deals, 0) * c.won::numeric / nullif(c.won + c.lost, 0) * c.avg_won / nullif(c.cycle, 0), 2)
  FROM m LEFT JOIN c USING (p_from) LEFT JOIN o USING (p_from) ORDER BY 1"
read -r crm_ms bare_ms < <(bench_pair "" "SELECT * FROM crm.pipeline_report($pipeline, $range);" "" "$bare_sql;")
# the two must agree before their times mean anything
same=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM (($bare_sql) EXCEPT
	(SELECT period_start, period_end, open_deals, won, lost, win_rate, avg_won_value, avg_cycle_days, velocity
	   FROM crm.pipeline_report($pipeline, $range))) x")
[ "$same" = 0 ] || echo "pipeline_report: the report and the hand-written SQL differ in $same months" >&2
report "crm.pipeline_report() monthly over $SCALE deals vs hand-written SQL" "$crm_ms" "$bare_ms" time "<= 1.2"
