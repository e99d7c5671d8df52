-- The summary behind crm_report.order_revenue_per_month
-- (crm_internal.report_order_days, src/report_summaries.c): kept exact at
-- commit by statement triggers on crm.orders through every write a
-- frontend makes -- inserts, payments, refunds, cancellations, values and
-- order dates changed, deletes -- and through crm.upsert_order, checked
-- after each against a recomputation from the orders; paid values
-- converted at the rate of each day; read by reporting roles in UTC
-- sessions, while other zones and restricted members read the facts;
-- rebuilt by crm.rebuild_report_summaries().
CREATE DATABASE crm_test_report_order_summaries;
\c crm_test_report_order_summaries
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_osum_app;
CREATE ROLE crm_osum_bi;
SELECT crm.grant_access('crm_osum_app');
SELECT crm.create_workspace('osums', 'Order sums', 'EUR') AS ws \gset
SELECT crm.create_workspace('oother', 'Other', 'USD') AS other \gset
SELECT crm.use_workspace('osums') IS NOT NULL AS in_osums;
SELECT crm.grant_access('crm_osum_bi', access => 'reporting');
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent', team => 'north')).role;
-- USD at 0.5 until March 14, at 0.8 from March 15
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('USD', 'EUR', 0.5, '2026-01-01'), ('USD', 'EUR', 0.8, '2026-03-15');
INSERT INTO crm.contacts (name, email, owner) VALUES ('Buyer', 'buyer@example.com', 'ada');
SELECT id AS buyer FROM crm.contacts WHERE name = 'Buyer' \gset

-- the summary (a key's value: the sum of its rows) against a recomputation
-- from the orders: keys missing on either side (none when exact), no key
-- left at zero, and no key of more than one row once the writers are done
CREATE VIEW pg_temp.summed AS
	SELECT s.workspace_id, s.day, s.currency, sum(s.orders)::bigint AS orders, sum(s.booked_value) AS booked_value,
		   sum(s.paid_value) AS paid_value, sum(s.paid_orders)::bigint AS paid_orders, count(*) AS nrows
	  FROM crm_internal.report_order_days s GROUP BY 1, 2, 3;
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (side text, workspace_id bigint, day date, currency char(3), orders bigint,
											  booked_value numeric, paid_value numeric, paid_orders bigint)
LANGUAGE sql AS $$
	(SELECT 'summary only', workspace_id, day, currency, orders, booked_value, paid_value, paid_orders FROM pg_temp.summed
	 EXCEPT SELECT 'summary only', * FROM crm_internal.report_order_days_recomputed)
	UNION ALL
	(SELECT 'orders only', * FROM crm_internal.report_order_days_recomputed
	 EXCEPT SELECT 'orders only', workspace_id, day, currency, orders, booked_value, paid_value, paid_orders FROM pg_temp.summed)
	UNION ALL
	SELECT 'zero key', workspace_id, day, currency, orders, booked_value, paid_value, paid_orders FROM pg_temp.summed s
	 WHERE s.orders = 0
	UNION ALL
	SELECT 'rows: ' || nrows, workspace_id, day, currency, orders, booked_value, paid_value, paid_orders FROM pg_temp.summed s
	 WHERE s.nrows > 1
$$;
CREATE FUNCTION pg_temp.explain(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT l; END LOOP;
END;
$$;
CREATE FUNCTION pg_temp.summary() RETURNS TABLE (day date, currency char(3), orders bigint, booked_value numeric,
												paid_value numeric, paid_orders bigint)
LANGUAGE sql AS $$
	SELECT s.day, s.currency, s.orders, s.booked_value, s.paid_value, s.paid_orders FROM pg_temp.summed s
	 WHERE s.workspace_id = (SELECT id FROM crm.workspaces WHERE slug = 'osums')
	 ORDER BY s.day, s.currency
$$;

-- Row path: a frontend role with ada's token inserts orders in two
-- currencies (one at 23:30 UTC), pending, paid and canceled
SET ROLE crm_osum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES
	(:buyer, 'o1', 100, 'EUR', 'paid', '2026-03-02 09:00'),
	(:buyer, 'o2', 40, 'USD', 'paid', '2026-03-02 23:30'),
	(:buyer, 'o3', 60, 'USD', 'pending', '2026-03-02 10:00'),
	(:buyer, 'o4', 30, 'EUR', 'canceled', '2026-03-20 10:00');
SELECT id AS o1 FROM crm.orders WHERE title = 'o1' \gset
SELECT id AS o2 FROM crm.orders WHERE title = 'o2' \gset
SELECT id AS o3 FROM crm.orders WHERE title = 'o3' \gset
SELECT id AS o4 FROM crm.orders WHERE title = 'o4' \gset
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- an update that moves nothing changes no summary row; o3 paid; o1
-- refunded (no longer booked nor paid); o4's date moved to March 21 (its
-- row of March 20 is deleted, not left at zero); o2's value changed
SET ROLE crm_osum_app;
UPDATE crm.orders SET title = title || ' (renamed)', paid_date = '2026-04-01';
UPDATE crm.orders SET status = 'paid' WHERE id = :o3;
UPDATE crm.orders SET status = 'refunded' WHERE id = :o1;
UPDATE crm.orders SET order_date = '2026-03-21 10:00' WHERE id = :o4;
UPDATE crm.orders SET value = 50 WHERE id = :o2;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- crm.upsert_order: a new order in April (USD, paid, at 0.8), then its
-- value updated by its external id; a hard delete subtracts an order
SET ROLE crm_osum_app;
SELECT crm.upsert_order(:buyer, 'commerce', 'ext-1', value => 10, currency => 'USD', status => 'paid',
						order_date => '2026-04-02 12:00') AS o5 \gset
SELECT crm.upsert_order(:buyer, 'commerce', 'ext-1', value => 20) = :o5 AS same_order;
DELETE FROM crm.orders WHERE id = :o4;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- a multi-row statement over many days, and a failed statement, which
-- writes nothing
SET ROLE crm_osum_app;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date)
SELECT :buyer, 'bulk ' || i, i, 'EUR', (ARRAY['paid', 'pending'])[1 + i % 2]::crm.order_status,
	   timestamptz '2026-05-01' + i * interval '7 hours'
  FROM generate_series(1, 40) i;
UPDATE crm.orders SET status = 'failed' WHERE title LIKE 'bulk %' AND status = 'pending';
INSERT INTO crm.orders (contact_id, title, value, order_date) VALUES (:buyer, 'ok', 1, '2026-07-01'), (:buyer, 'bad', -1, '2026-07-01');
RESET ROLE;
RESET request.jwt.claims;
SELECT count(*) AS july_rows FROM crm_internal.report_order_days WHERE day >= '2026-07-01';
SELECT sum(orders) AS may_orders, sum(booked_value) AS may_booked, sum(paid_value) AS may_paid, sum(paid_orders) AS may_paid_orders
  FROM pg_temp.summary() WHERE day >= '2026-05-01';
SELECT * FROM pg_temp.drift();

-- the other workspace's orders count in its own rows
SELECT crm.use_workspace('oother') IS NOT NULL AS in_other;
INSERT INTO crm.contacts (name) VALUES ('Other buyer');
INSERT INTO crm.orders (contact_id, title, value, order_date)
SELECT id, 'other', 5, '2026-03-02 09:00' FROM crm.contacts WHERE name = 'Other buyer';
SELECT crm.use_workspace('osums') IS NOT NULL AS in_osums;
SELECT workspace_id = :other AS other_ws, day, currency, orders FROM pg_temp.summed WHERE workspace_id <> :ws;

-- Reading.  The view in a UTC session reads the summary, and gives what
-- the facts give in a zone that is UTC but not fixed (Africa/Abidjan)
SELECT crm_internal.report_summarized() AS superuser_utc;
CREATE TEMP TABLE by_summary AS SELECT * FROM crm_report.order_revenue_per_month;
SET TimeZone = 'Africa/Abidjan';
SELECT crm_internal.report_summarized() AS superuser_abidjan;
SELECT (SELECT count(*) FROM by_summary) AS months,
	   (SELECT count(*) FROM (SELECT * FROM by_summary EXCEPT SELECT * FROM crm_report.order_revenue_per_month) x) AS summary_only,
	   (SELECT count(*) FROM (SELECT * FROM crm_report.order_revenue_per_month EXCEPT SELECT * FROM by_summary) x) AS facts_only;
SET TimeZone = 'UTC';
-- by hand: March in EUR: o1 refunded (100, neither booked nor paid; o4
-- deleted); in USD: o2 (50) and o3 (60) paid on March 2, at 0.5 = 55 EUR;
-- April: o5 (USD 20) paid at 0.8 = 16 EUR; May: 40 orders of 1..40, the
-- even ones paid (420), the odd ones failed (not booked)
SELECT month_start, currency, orders, booked_value, paid_value, paid_value_in_workspace_currency
  FROM crm_report.order_revenue_per_month WHERE workspace_id = :ws ORDER BY 1, 2;
-- the plan reads the summary, not the orders
SELECT count(*) FILTER (WHERE l ~ 'report_order_days') > 0 AS reads_summary,
	   count(*) FILTER (WHERE l ~ 'One-Time Filter') AS one_time_filters
  FROM pg_temp.explain('SELECT * FROM crm_report.order_revenue_per_month') e(l);

-- Who reads the summary.  A DBA's row puts it wrong (5 orders more on
-- March 2 in USD), which shows who reads it: the reporting role in UTC
-- sees the edit; in another zone, and as a member whom owner privacy
-- restricts, they read the facts
INSERT INTO crm_internal.report_order_days VALUES (:ws, '2026-03-02', 'USD', 5, 0, 0, 0);
SELECT side, day, currency, orders FROM pg_temp.drift() ORDER BY 1, 2, 3;
SELECT crm.set_privacy('owner');
SET ROLE crm_osum_bi;
SELECT month_start, currency, orders FROM crm_report.order_revenue_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
SET crm.user_id = 'ann';
SELECT month_start, currency, orders FROM crm_report.order_revenue_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
SET crm.user_id = 'ada';
SELECT month_start, currency, orders FROM crm_report.order_revenue_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
RESET crm.user_id;
SET TimeZone = 'Etc/GMT+3';
SELECT month_start, currency, orders FROM crm_report.order_revenue_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
SET TimeZone = 'UTC';
-- the table itself is out of its reach, for reading and writing
SELECT count(*) FROM crm_internal.report_order_days;
INSERT INTO crm_internal.report_order_days VALUES (:ws, '2026-01-01', 'EUR', 1, 0, 0, 0);
RESET ROLE;
SELECT crm.set_privacy('everyone');

-- a frontend role cannot reach the summary
SET ROLE crm_osum_app;
SELECT count(*) FROM crm_internal.report_order_days;
UPDATE crm_internal.report_order_days SET orders = 0;

-- Rebuild: an admin member rebuilds the summaries; an agent may not
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.rebuild_report_summaries();
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.rebuild_report_summaries() AS rows_rebuilt;
RESET ROLE;
RESET request.jwt.claims;
SELECT * FROM pg_temp.drift();
SELECT count(*) AS order_rows FROM crm_internal.report_order_days WHERE workspace_id = :ws;
SELECT count(*) AS other_rows_kept FROM crm_internal.report_order_days WHERE workspace_id = :other;

-- Written at commit: a transaction's single-row writes are kept in the
-- backend, netted per key, and written once per key when it commits (a
-- long transaction leaves no dead versions on its days' rows).  Inside it,
-- the summary does not hold them yet and the time series read the facts,
-- which do; a savepoint rolled back takes its writes' deltas with it.
BEGIN;
SET LOCAL ROLE crm_osum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), true) IS NOT NULL AS as_ada;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm1', 10, 'EUR', 'paid', '2027-05-04 09:00');
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm2', 20, 'EUR', 'paid', '2027-05-04 10:00');
SAVEPOINT a;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm3', 40, 'EUR', 'paid', '2027-05-04 11:00');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm4', 5, 'USD', 'pending', '2027-05-05 11:00');
RELEASE SAVEPOINT b;
UPDATE crm.orders SET status = 'canceled' WHERE title = 'm2';
RESET ROLE;
SELECT count(*) AS may_rows_before_commit FROM crm_internal.report_order_days WHERE day >= '2027-05-01';
SELECT crm_internal.report_summarized() AS reads_summary;
SELECT month_start, currency, orders, booked_value, paid_value FROM crm_report.order_revenue_per_month
 WHERE workspace_id = :ws AND month_start = '2027-05-01' ORDER BY currency;
COMMIT;
SELECT crm_internal.report_summarized() AS reads_summary;
SELECT day, currency, orders, booked_value, paid_value, paid_orders, nrows FROM pg_temp.summed
 WHERE day >= '2027-05-01' ORDER BY day, currency;
SELECT * FROM pg_temp.drift();

-- the rebuild inside such a transaction takes its pending deltas in first
-- (none is counted twice); a transaction rolled back writes none
BEGIN;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm5', 7, 'EUR', 'paid', '2027-05-04 12:00');
SET LOCAL ROLE crm_osum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), true) IS NOT NULL AS as_ada;
SELECT crm.rebuild_report_summaries() > 0 AS rebuilt;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm6', 8, 'EUR', 'paid', '2027-05-04 13:00');
COMMIT;
BEGIN;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm7', 9, 'EUR', 'paid', '2027-05-04 14:00');
ROLLBACK;
SELECT day, currency, orders, paid_value, nrows FROM pg_temp.summed WHERE day = '2027-05-04';
SELECT * FROM pg_temp.drift();

-- A workspace deleted with its orders leaves no summary row; TRUNCATE empties it
DELETE FROM crm.workspaces WHERE id = :other;
SELECT count(*) AS other_rows FROM crm_internal.report_order_days WHERE workspace_id = :other;
SELECT * FROM pg_temp.drift();
-- (a TRUNCATE after row writes in the same transaction cancels their
-- pending deltas, and after deltas written before commit
-- (crm_internal.write_report_summaries) deletes the rows they wrote:
-- nothing is left either way)
BEGIN;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm8', 9, 'EUR', 'paid', '2027-05-06 14:00');
TRUNCATE crm.orders CASCADE;
ROLLBACK;
BEGIN;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm8', 9, 'EUR', 'paid', '2027-05-06 14:00');
SELECT crm_internal.write_report_summaries();
SELECT count(*) AS rows_written FROM crm_internal.report_order_days;
TRUNCATE crm.orders CASCADE;
COMMIT;
SELECT count(*) AS rows_after_truncate FROM crm_internal.report_order_days;
-- the pending delta of a row written before a TRUNCATE is cancelled, not written at commit
BEGIN;
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date) VALUES (:buyer, 'm9', 9, 'EUR', 'paid', '2027-05-06 14:00');
TRUNCATE crm.orders CASCADE;
COMMIT;
SELECT count(*) AS rows_after_second_truncate FROM crm_internal.report_order_days;

\c postgres
DROP DATABASE crm_test_report_order_summaries;
DROP ROLE crm_osum_app, crm_osum_bi;
