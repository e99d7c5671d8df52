-- crm.pipeline_report: win rate, average won value, sales cycle and
-- velocity per pipeline, owner and period, against a hand computation on a
-- fixture with fixed dates; deals open at a period's end are read from the
-- stage history; bad input; the same as a frontend role; module off.
CREATE DATABASE crm_test_pipeline_report;
\c crm_test_pipeline_report
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE ROLE crm_report_app;
SELECT crm.grant_access('crm_report_app');
SELECT crm.create_workspace('report', 'Report', 'EUR') AS ws \gset
SELECT crm.create_workspace('report-other', 'Other') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS sales \gset
SELECT crm.create_pipeline('Support', 'support') AS support \gset
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('USD', 'EUR', 0.9, '2026-01-01');

-- the fixture (all at noon UTC):
--   A ana 1000 EUR  created 01-01, won 01-11          cycle 10 days
--   B ana 3000 EUR  created 01-05, won 02-04          cycle 30
--   C bob  500 USD  created 01-10, won 02-10 (450 EUR) cycle 31
--   D bob 2000 EUR  created 01-15, lost 02-20
--   E ana  700 EUR  created 01-20, open
--   F bob  100 EUR  created 02-01, open
--   G ana  900 EUR  created 01-02, won 01-20, reopened 03-01: open, not won
INSERT INTO crm.deals (pipeline_id, title, owner, value, currency, created_at, stage_entered_at) VALUES
	(:sales, 'A', 'ana', 1000, 'EUR', '2026-01-01 12:00+00', '2026-01-01 12:00+00'),
	(:sales, 'B', 'ana', 3000, 'EUR', '2026-01-05 12:00+00', '2026-01-05 12:00+00'),
	(:sales, 'C', 'bob', 500, 'USD', '2026-01-10 12:00+00', '2026-01-10 12:00+00'),
	(:sales, 'D', 'bob', 2000, 'EUR', '2026-01-15 12:00+00', '2026-01-15 12:00+00'),
	(:sales, 'E', 'ana', 700, 'EUR', '2026-01-20 12:00+00', '2026-01-20 12:00+00'),
	(:sales, 'F', 'bob', 100, 'EUR', '2026-02-01 12:00+00', '2026-02-01 12:00+00'),
	(:sales, 'G', 'ana', 900, 'EUR', '2026-01-02 12:00+00', '2026-01-02 12:00+00');
SELECT count(crm.win_deal(id, closed_at => c)) AS won
  FROM (VALUES ('A', timestamptz '2026-01-11 12:00+00'), ('B', '2026-02-04 12:00+00'),
			   ('C', '2026-02-10 12:00+00'), ('G', '2026-01-20 12:00+00')) v(t, c)
  JOIN crm.deals d ON d.title = v.t;
SELECT status FROM crm.lose_deal((SELECT id FROM crm.deals WHERE title = 'D'), closed_at => '2026-02-20 12:00+00');
UPDATE crm.deals SET status = 'open', stage_entered_at = '2026-03-01 12:00+00' WHERE title = 'G';

-- the whole history: Sales 3 won, 1 lost (0.75), average won (1000 + 3000
-- + 450) / 3 = 1483.33 EUR, cycle (10 + 30 + 31) / 3 = 23.67 days, open now
-- E, F, G: velocity 3 x 0.75 x 1483.33 / 23.67 = 141.02 EUR a day.
-- Support: no deals, so no rates (NULL), not a division by zero.
SELECT * FROM crm.pipeline_report();
-- per month: January A won (G was won then but is open now), open at its
-- end B, C, D, E: 4 x 1 x 1000 / 10 = 400; February B, C won, D lost, open
-- at its end E, F (G reopened on 1 March): 2 x 2/3 x 1725 / 30.5 = 75.41;
-- March nothing closed, E, F, G open: no velocity
SELECT pipeline_name, period_start, period_end, open_deals, won, lost, win_rate, avg_won_value, avg_cycle_days, velocity
  FROM crm.pipeline_report(pipeline_id => :sales, since => '2026-01-01', until => '2026-03-31', period => 'month');
-- a range that cuts a month: closes from 15 January, open at 10 February's end (B won on the 4th, C on the 10th)
SELECT period_start, period_end, open_deals, won, lost, win_rate, avg_won_value
  FROM crm.pipeline_report(:sales, since => '2026-01-15', until => '2026-02-10', period => 'month');
-- per owner: ana A, B won, E, G open: 2 x 1 x 2000 / 20 = 200; bob C won,
-- D lost, F open: 1 x 0.5 x 450 / 31 = 7.26
SELECT deal_owner, open_deals, won, lost, win_rate, avg_won_value, avg_cycle_days, velocity
  FROM crm.pipeline_report(:sales, by_owner => true);
-- one owner's deals; per quarter; in another currency (1 USD = 1 / 0.9 EUR)
SELECT deal_owner, open_deals, won, lost, win_rate, avg_won_value, velocity FROM crm.pipeline_report(:sales, owner => 'bob');
SELECT period_start, period_end, won, lost FROM crm.pipeline_report(:sales, since => '2026-01-01', until => '2026-06-30', period => 'quarter');
SELECT avg_won_value, velocity, value_currency FROM crm.pipeline_report(:sales, currency => 'usd');

-- the hand computation in plain SQL over crm.deals and the stage history,
-- for the whole history and for each month of the first quarter
CREATE TEMP VIEW hand AS
SELECT m.p_from, m.p_to, p.id AS pipeline,
	   (SELECT count(*) FROM crm.deals d
		 WHERE d.pipeline_id = p.id
		   AND EXISTS (SELECT 1 FROM crm.deal_stage_history h JOIN crm.stages s ON s.id = h.stage_id
						WHERE h.deal_id = d.id AND s.kind = 'open'
						  AND h.entered_at <= m.t AND coalesce(h.left_at, 'infinity') > m.t)) AS open_deals,
	   count(d.id) FILTER (WHERE d.status = 'won') AS won,
	   count(d.id) FILTER (WHERE d.status = 'lost') AS lost,
	   avg(d.value * CASE d.currency WHEN 'USD' THEN 0.9 ELSE 1 END) FILTER (WHERE d.status = 'won') AS avg_won,
	   avg(extract(epoch FROM d.closed_at - d.created_at) / 86400) FILTER (WHERE d.status = 'won') AS cycle
  FROM crm.pipelines p
 CROSS JOIN (VALUES (NULL::date, NULL::date, now()),
					('2026-01-01', '2026-01-31', '2026-02-01 00:00+00'),
					('2026-02-01', '2026-02-28', '2026-03-01 00:00+00'),
					('2026-03-01', '2026-03-31', '2026-04-01 00:00+00')) m(p_from, p_to, t)
  LEFT JOIN crm.deals d ON d.pipeline_id = p.id AND d.status <> 'open'
					   AND (m.p_from IS NULL OR d.closed_at::date BETWEEN m.p_from AND m.p_to)
 GROUP BY m.p_from, m.p_to, m.t, p.id;
SELECT h.p_from, h.pipeline, r.open_deals = h.open_deals AS open_deals, r.won = h.won AND r.lost = h.lost AS closed,
	   r.win_rate IS NOT DISTINCT FROM round(h.won::numeric / nullif(h.won + h.lost, 0), 4) AS win_rate,
	   r.avg_won_value IS NOT DISTINCT FROM round(h.avg_won, 2) AS avg_won_value,
	   r.avg_cycle_days IS NOT DISTINCT FROM round(h.cycle, 2) AS avg_cycle_days,
	   r.velocity IS NOT DISTINCT FROM round(h.open_deals * h.won::numeric / nullif(h.won + h.lost, 0) * h.avg_won / h.cycle, 2) AS velocity
  FROM hand h
  LEFT JOIN LATERAL (SELECT * FROM crm.pipeline_report(h.pipeline) WHERE h.p_from IS NULL
					 UNION ALL
					 SELECT * FROM crm.pipeline_report(h.pipeline, since => '2026-01-01', until => '2026-03-31', period => 'month')
					  WHERE period_start = h.p_from) r ON true
 ORDER BY h.pipeline, h.p_from NULLS FIRST;

-- a deal imported with its history: the cycle starts at its first stay
INSERT INTO crm.deals (pipeline_id, title, owner, value, created_at, stage_entered_at)
	VALUES (:support, 'Imported', 'cy', 600, '2026-04-01 12:00+00', '2026-03-22 12:00+00');
SELECT status FROM crm.win_deal((SELECT id FROM crm.deals WHERE title = 'Imported'), closed_at => '2026-04-01 12:00+00');
SELECT pipeline_name, open_deals, won, lost, win_rate, avg_won_value, avg_cycle_days, velocity
  FROM crm.pipeline_report(:support);

-- bad input
SELECT * FROM crm.pipeline_report(period => 'fortnight');
SELECT * FROM crm.pipeline_report(since => '2026-03-01', until => '2026-02-01');
SELECT * FROM crm.pipeline_report(pipeline_id => 999);
SELECT * FROM crm.pipeline_report(currency => 'euro');
INSERT INTO crm.deals (pipeline_id, title, value, currency, created_at, stage_entered_at)
	VALUES (:support, 'Pounds', 10, 'GBP', '2026-05-01 12:00+00', '2026-05-01 12:00+00');
SELECT status FROM crm.win_deal((SELECT id FROM crm.deals WHERE title = 'Pounds'), closed_at => '2026-05-02 12:00+00');
SELECT * FROM crm.pipeline_report(:support);
DELETE FROM crm.deals WHERE title = 'Pounds';
RESET crm.workspace_id;

-- a frontend role: the same figures; another workspace's pipeline is not found
SET ROLE crm_report_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT pipeline_name, open_deals, won, lost, win_rate, avg_won_value, avg_cycle_days, velocity FROM crm.pipeline_report();
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :other), false) IS NOT NULL AS other_token;
SELECT * FROM crm.pipeline_report(:sales);
SELECT count(*) AS pipelines_elsewhere FROM crm.pipeline_report();
-- deals switched off: 0A000 like the deals table
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT module, enabled FROM crm.set_module('deals', false);
SELECT * FROM crm.pipeline_report();
SELECT module, enabled FROM crm.set_module('deals', true);
RESET request.jwt.claims;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_pipeline_report;
DROP ROLE crm_report_app;
