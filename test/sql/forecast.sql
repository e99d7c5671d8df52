-- Forecasting: stage probabilities (configured, historical Markov chain,
-- blended) and crm.forecast, checked against the hand-computed example of
-- docs/forecasting.md.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_forecast;
\c crm_test_forecast
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('forecast-test', 'Forecast test', 'USD') IS NOT NULL AS created;
SELECT crm.use_workspace('forecast-test') IS NOT NULL AS switched;
SELECT crm.create_pipeline('Worked') AS p \gset
SELECT crm.add_stage(:p, 'A', 10) AS a \gset
SELECT crm.add_stage(:p, 'B', 40, 'open', 'best_case') AS b \gset
SELECT crm.add_stage(:p, 'C', 70, 'open', 'commit') AS c \gset
SELECT crm.add_stage(:p, 'Won', 100, 'won') AS won \gset
SELECT crm.add_stage(:p, 'Lost', 0, 'lost') AS lost \gset

-- five closed deals:
--   d1  A -> B -> C -> Won
--   d2  A -> C -> Won             (skips B)
--   d3  A -> B -> A -> Lost       (moves backwards)
--   d4  A -> Lost
--   d5  B -> C -> Lost
INSERT INTO crm.deals (title, stage_id, value, currency, stage_entered_at) VALUES
	('d1', :a, 400, 'USD', '2020-01-01'), ('d2', :a, 100, 'EUR', '2020-01-01'), ('d3', :a, 0, 'USD', '2020-01-01'),
	('d4', :a, 0, 'USD', '2020-01-01'), ('d5', :b, 0, 'USD', '2020-01-01');
SELECT id AS d1 FROM crm.deals WHERE title = 'd1' \gset
SELECT id AS d2 FROM crm.deals WHERE title = 'd2' \gset
SELECT id AS d3 FROM crm.deals WHERE title = 'd3' \gset
SELECT id AS d4 FROM crm.deals WHERE title = 'd4' \gset
SELECT id AS d5 FROM crm.deals WHERE title = 'd5' \gset
-- d1 and d2 closed in 2020: moved then (a close is never before the stage entry)
UPDATE crm.deals SET stage_id = :b, stage_entered_at = '2020-01-02' WHERE id = :d1;
UPDATE crm.deals SET stage_id = :c, stage_entered_at = '2020-01-03' WHERE id = :d1;
UPDATE crm.deals SET stage_id = :c, stage_entered_at = '2020-01-10' WHERE id = :d2;
SELECT count(*) AS moves FROM (
	SELECT crm.win_deal(:d1, closed_at => '2020-01-05 12:00+00'), crm.win_deal(:d2, closed_at => '2020-02-03 12:00+00'),
		   crm.move_deal(:d3, :b), crm.move_deal(:d3, :a), crm.lose_deal(:d3),
		   crm.lose_deal(:d4),
		   crm.move_deal(:d5, :c), crm.lose_deal(:d5)) m;
-- the transitions the chain is estimated from
SELECT f.name AS from_stage, t.name AS to_stage, count(*)
  FROM crm.deal_stage_history h JOIN crm.stages f ON f.id = h.from_stage_id JOIN crm.stages t ON t.id = h.stage_id
 WHERE h.pipeline_id = :p GROUP BY f.name, t.name, f.position, t.position ORDER BY f.position, t.position;

-- configured; historical: x_C = 2/3, x_B = 22/39, x_A = 14/39; blended with weight n/(n+10)
SELECT c.stage_name, c.probability AS configured, h.probability AS historical, b.probability AS blended
  FROM crm.stage_probabilities(:p) c
  JOIN crm.stage_probabilities(:p, 'historical') h USING (stage_id)
  JOIN crm.stage_probabilities(:p, 'blended') b USING (stage_id);
-- only deals closed since a date: the three lost ones, so nothing in the chain is ever won
SELECT stage_name, probability FROM crm.stage_probabilities(:p, 'historical', '2021-01-01');

-- open deals, in two currencies, with a probability override and an omitted deal
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES
	('eur', 'usd', 1.10, '2019-12-01'), ('EUR', 'USD', 1.20, '2020-02-01');
INSERT INTO crm.deals (title, stage_id, value, currency, expected_close_date, probability_override, forecast_category_override) VALUES
	('e1', :c, 1000, 'USD', '2020-01-15', NULL, NULL),
	('e2', :a, 500, 'EUR', '2020-01-20', NULL, NULL),
	('e3', :b, 200, 'USD', '2020-02-10', 90, NULL),
	('e4', :b, 300, 'EUR', '2020-02-15', NULL, 'omitted'),
	('e5', :a, 50, 'USD', NULL, NULL, NULL);
SELECT * FROM crm.forecast(:p, '2020-01-01', '2020-02-29');
SELECT period_start, weighted_value FROM crm.forecast(:p, '2020-01-01', '2020-02-29', method => 'historical');
SELECT period_start, weighted_value FROM crm.forecast(:p, '2020-01-01', '2020-02-29', method => 'blended');
-- other periods, ranges and currencies (EUR through the inverse of the EUR->USD rate)
SELECT * FROM crm.forecast(NULL, '2019-12-01', '2020-03-31', 'quarter');
SELECT period_start, open_count, pipeline_value FROM crm.forecast(from_date => '2019-12-01', to_date => '2020-03-31');
SELECT period_start, pipeline_value, weighted_value, closed_won FROM crm.forecast(:p, '2020-02-01', '2020-02-29', currency => 'eur');
SELECT crm.lookup_exchange_rate('EUR', 'USD', '2020-01-31'), crm.lookup_exchange_rate('usd', 'eur', '2020-02-01'), crm.lookup_exchange_rate('JPY', 'JPY');

-- bad input: each a clear error
SELECT * FROM crm.forecast(:p, '2020-01-05', '2020-01-05', currency => 'GBP');
SELECT * FROM crm.forecast(:p, period => 'fortnight');
SELECT * FROM crm.forecast(:p, method => 'crystal_ball');
SELECT * FROM crm.forecast(:p, '2020-03-01', '2020-01-01');
SELECT * FROM crm.forecast(999999999);
SELECT * FROM crm.forecast(:p, currency => 'XYZ');
SELECT * FROM crm.stage_probabilities(999999999);
SELECT * FROM crm.stage_probabilities(NULL);
SELECT * FROM crm.stage_probabilities(:p, 'crystal_ball');
SELECT * FROM crm.stage_probabilities(:p, NULL);
SELECT * FROM crm.stage_probabilities(:p, 'historical', 'infinity');
SELECT crm.lookup_exchange_rate('EUR', 'GBP', '2020-01-01');
SELECT crm.lookup_exchange_rate('EUR', 'USD', '2019-01-01');
SELECT crm.lookup_exchange_rate('EUR', 'USD', NULL);
\set VERBOSITY terse
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'GBP', 0, '2020-01-01');
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'EUR', 1, '2020-01-01');
\set VERBOSITY default
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'ABC', 1, '2020-01-01');
-- a rate is a finite number (22023)
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'GBP', 'Infinity', '2020-01-01');
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'GBP', 'NaN', '2020-01-01');
-- a pipeline of another workspace is not there
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
SELECT * FROM crm.stage_probabilities(:p);

\c contrib_regression
DROP DATABASE crm_test_forecast;
