-- The summary behind the crm_report deal time series
-- (crm_internal.report_deal_days, src/report_summaries.c): kept exact at
-- commit by statement triggers on crm.deals through every write a
-- frontend makes -- inserts, wins, losses, re-owning, a close date moved,
-- merges, erasure, deletes -- checked after each against a recomputation
-- from the deals; read by reporting roles in UTC sessions, while other
-- zones and restricted members read the facts; rebuilt by
-- crm.rebuild_report_summaries().
CREATE DATABASE crm_test_report_summaries;
\c crm_test_report_summaries
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_sum_app;
CREATE ROLE crm_sum_bi;
SELECT crm.grant_access('crm_sum_app');
SELECT crm.create_workspace('sums', 'Sums', 'EUR') AS ws \gset
SELECT crm.create_workspace('other', 'Other', 'USD') AS other \gset
SELECT crm.use_workspace('sums') IS NOT NULL AS in_sums;
SELECT crm.grant_access('crm_sum_bi', access => 'reporting');
SELECT crm.create_pipeline('Sales') AS p \gset
SELECT crm.add_stage(:p, 'Lead', 10) AS lead \gset
SELECT crm.add_stage(:p, 'Won', 100, 'won') AS won \gset
SELECT crm.add_stage(:p, 'Lost', 0, 'lost') AS lost \gset
SELECT crm.create_pipeline('Partners') AS p2 \gset
SELECT crm.add_stage(:p2, 'Talk', 10) AS talk \gset
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('USD', 'EUR', 0.5, '2025-01-01');
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent', team => 'north')).role;
SELECT (crm.add_member('abe', 'agent', team => 'south')).role;

-- the summary against a recomputation from the deals: rows missing on
-- either side (none when exact), and no row left at zero
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (side text, workspace_id bigint, day date, pipeline_id bigint,
											  owner text, currency char(3), created bigint, won bigint, lost bigint, won_value numeric)
LANGUAGE sql AS $$
	(SELECT 'summary only', * FROM crm_internal.report_deal_days EXCEPT SELECT 'summary only', * FROM crm_internal.report_deal_days_recomputed)
	UNION ALL
	(SELECT 'deals only', * FROM crm_internal.report_deal_days_recomputed EXCEPT SELECT 'deals only', * FROM crm_internal.report_deal_days)
	UNION ALL
	SELECT 'zero row', * FROM crm_internal.report_deal_days s WHERE s.created = 0 AND s.won = 0 AND s.lost = 0 AND s.won_value = 0
$$;
CREATE FUNCTION pg_temp.explain(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT l; END LOOP;
END;
$$;
CREATE FUNCTION pg_temp.summary() RETURNS SETOF crm_internal.report_deal_days
LANGUAGE sql AS $$
	SELECT * FROM crm_internal.report_deal_days s WHERE s.workspace_id = (SELECT id FROM crm.workspaces WHERE slug = 'sums')
	 ORDER BY s.day, s.pipeline_id, s.owner, s.currency
$$;

-- Row path: a frontend role with ada's token inserts, ann's deals and abe's,
-- in two currencies, one without an owner, one in the other pipeline
SET ROLE crm_sum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at, stage_entered_at) VALUES
	('a1', :lead, 1000, 'EUR', 'ann', '2026-03-02 09:00', '2026-03-02 09:00'),
	('a2', :lead, 400, 'USD', 'ann', '2026-03-02 23:30', '2026-03-02 23:30'),
	('b1', :lead, 250.50, 'EUR', 'abe', '2026-03-03 10:00', '2026-03-03 10:00'),
	('n1', :lead, 75, 'EUR', NULL, '2026-03-03 11:00', '2026-03-03 11:00'),
	('t1', :talk, 10, 'EUR', 'abe', '2026-03-04 08:00', '2026-03-04 08:00');
SELECT id AS a1 FROM crm.deals WHERE title = 'a1' \gset
SELECT id AS a2 FROM crm.deals WHERE title = 'a2' \gset
SELECT id AS b1 FROM crm.deals WHERE title = 'b1' \gset
SELECT id AS n1 FROM crm.deals WHERE title = 'n1' \gset
SELECT id AS t1 FROM crm.deals WHERE title = 't1' \gset
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- wins and losses by moving to a won or lost stage, and through the functions
SET ROLE crm_sum_app;
UPDATE crm.deals SET stage_id = :won, stage_entered_at = '2026-03-10 12:00' WHERE id = :a1;
UPDATE crm.deals SET stage_id = :lost, stage_entered_at = '2026-03-11 12:00', lost_reason = 'price' WHERE id = :b1;
SELECT (crm.win_deal(:a2, 'fit', '2026-03-10 15:00')).status AS a2;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- an update that moves nothing changes no summary row; a won deal's value
-- and owner changed in one statement move its created and won counts to abe
SET ROLE crm_sum_app;
UPDATE crm.deals SET title = title || ' (renamed)';
UPDATE crm.deals SET value = 1200, owner = 'abe' WHERE id = :a1;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- its close date moved: not by the row (the stage history holds it), but
-- reopened -- the row of its close day is deleted, not left at zero -- and
-- won again on a later day
SET ROLE crm_sum_app;
UPDATE crm.deals SET closed_at = '2026-03-12 09:00' WHERE id = :a1;
UPDATE crm.deals SET stage_id = :lead, stage_entered_at = '2026-03-13 09:00' WHERE id = :a1;
RESET ROLE;
SELECT day, owner, currency, created, won, lost, won_value FROM pg_temp.summary() WHERE day = '2026-03-10';
SELECT * FROM pg_temp.drift();
SET ROLE crm_sum_app;
SELECT (crm.win_deal(:a1, 'second try', '2026-03-14 10:00')).status AS a1;
RESET ROLE;
SELECT day, owner, currency, created, won, lost, won_value FROM pg_temp.summary() WHERE day >= '2026-03-10';
SELECT * FROM pg_temp.drift();

-- a merge re-parents deals (no summary change); an erased contact keeps its
-- deals and amounts; a hard delete of a deal subtracts it
SET ROLE crm_sum_app;
INSERT INTO crm.contacts (name, email) VALUES ('Keep', 'keep@example.com'), ('Dup', 'dup@example.com');
UPDATE crm.deals SET contact_id = (SELECT id FROM crm.contacts WHERE name = 'Dup') WHERE id IN (:a2, :n1);
SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE name = 'Keep'), (SELECT id FROM crm.contacts WHERE name = 'Dup')) IS NOT NULL AS merged;
SELECT count(*) AS deals_of_keep FROM crm.deals WHERE contact_id = (SELECT id FROM crm.contacts WHERE name = 'Keep');
SELECT crm.delete_contact((SELECT id FROM crm.contacts WHERE name = 'Keep'), hard => true) IS NOT NULL AS erased;
SELECT count(*) AS deals_kept FROM crm.deals WHERE id IN (:a2, :n1) AND contact_id IS NULL;
DELETE FROM crm.deals WHERE id = :t1;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- a multi-row statement over many keys, and a failed statement, which writes nothing
SET ROLE crm_sum_app;
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at, stage_entered_at)
SELECT 'bulk ' || i, :lead, i, 'EUR', (ARRAY['ann', 'abe'])[1 + i % 2],
	   timestamptz '2026-04-01' + i * interval '7 hours', timestamptz '2026-04-01' + i * interval '7 hours'
  FROM generate_series(1, 40) i;
UPDATE crm.deals SET owner = 'ann' WHERE title LIKE 'bulk %' AND owner = 'abe';
INSERT INTO crm.deals (title, stage_id, value, owner, created_at) VALUES ('ok', :lead, 1, 'ann', '2026-05-01'), ('bad', :lead, -1, 'ann', '2026-05-01');
RESET ROLE;
RESET request.jwt.claims;
SELECT count(*) AS may_rows, (SELECT count(*) FROM pg_temp.drift()) AS drift FROM crm_internal.report_deal_days WHERE day >= '2026-05-01';
SELECT sum(created) AS april_created, count(*) FILTER (WHERE owner = 'abe') AS abe_rows
  FROM crm_internal.report_deal_days WHERE day >= '2026-04-01' AND day < '2026-05-01';
SELECT * FROM pg_temp.drift();

-- the other workspace's deals count in its own rows
SELECT crm.use_workspace('other') IS NOT NULL AS in_other;
SELECT crm.create_pipeline('Other sales', 'b2b_sales') IS NOT NULL AS other_pipeline;
INSERT INTO crm.deals (title, value, owner, created_at) VALUES ('o1', 5, 'ann', '2026-03-02 09:00');
SELECT crm.use_workspace('sums') IS NOT NULL AS in_sums;
SELECT workspace_id = :other AS other_ws, day, created FROM crm_internal.report_deal_days WHERE workspace_id <> :ws;

-- Reading.  The views in a UTC session read the summary, and give what
-- the facts give: Africa/Abidjan is UTC since 1912, but not a fixed zone,
-- so it reads the facts, cutting the same days
SELECT crm_internal.report_summarized() AS superuser_utc;
CREATE TEMP TABLE by_summary AS SELECT * FROM crm_report.deals_per_day;
CREATE TEMP TABLE by_summary_week AS SELECT * FROM crm_report.deals_per_week;
CREATE TEMP TABLE by_summary_month AS SELECT * FROM crm_report.deals_per_month;
SET TimeZone = 'Africa/Abidjan';
SELECT crm_internal.report_summarized() AS superuser_abidjan;
SELECT (SELECT count(*) FROM by_summary) AS days,
	   (SELECT count(*) FROM (SELECT * FROM by_summary EXCEPT SELECT * FROM crm_report.deals_per_day) x) AS summary_only,
	   (SELECT count(*) FROM (SELECT * FROM crm_report.deals_per_day EXCEPT SELECT * FROM by_summary) x) AS facts_only,
	   (SELECT count(*) FROM (SELECT * FROM by_summary_week EXCEPT SELECT * FROM crm_report.deals_per_week) x) AS weeks_differ,
	   (SELECT count(*) FROM (SELECT * FROM crm_report.deals_per_week EXCEPT SELECT * FROM by_summary_week) x) AS weeks_differ_back,
	   (SELECT count(*) FROM (SELECT * FROM by_summary_month EXCEPT SELECT * FROM crm_report.deals_per_month) x) AS months_differ,
	   (SELECT count(*) FROM (SELECT * FROM crm_report.deals_per_month EXCEPT SELECT * FROM by_summary_month) x) AS months_differ_back;
SET TimeZone = 'UTC';
-- by hand: March 2 created a1 (abe's since) and a2 (ann's), March 3 b1
-- (abe's) and n1 (no owner); a2 (USD 400 at 0.5 = 200 EUR) won on March
-- 10, b1 lost on March 11, a1 (EUR 1200) won on March 14 after its
-- reopening; the 40 April deals are all ann's now (17 in the week of March 30)
SELECT day, pipeline_id = :p AS sales, owner, created, won, lost, won_value
  FROM crm_report.deals_per_day WHERE workspace_id = :ws AND day < '2026-04-01' ORDER BY day, pipeline_id, owner;
SELECT month_start, owner, created, won, lost, won_value
  FROM crm_report.deals_per_month WHERE workspace_id = :ws ORDER BY 1, 2;
SELECT week_start, sum(created) AS created, sum(won) AS won, sum(won_value) AS won_value
  FROM crm_report.deals_per_week WHERE workspace_id = :ws AND week_start < '2026-04-01' GROUP BY 1 ORDER BY 1;
-- the plan reads the summary, not the deals
SELECT count(*) FILTER (WHERE l ~ 'report_deal_days') > 0 AS reads_summary,
	   count(*) FILTER (WHERE l ~ 'One-Time Filter') AS one_time_filters
  FROM pg_temp.explain('SELECT * FROM crm_report.deals_per_month') e(l);

-- Written at commit without the executor: commits one after another add to
-- the key's one row, a NULL owner's key too, through a frontend role's row
-- writes; a row brought to zero is deleted; a row another transaction holds
-- is passed over (report_summary_commit.spec)
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SET ROLE crm_sum_app;
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at) VALUES ('y1', :lead, 5, 'EUR', NULL, '2026-04-20 08:00');
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at) VALUES ('y2', :lead, 6, 'EUR', NULL, '2026-04-20 09:00');
BEGIN;
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at) VALUES ('y3', :lead, 7, 'EUR', NULL, '2026-04-20 10:00');
UPDATE crm.deals SET value = 8 WHERE title = 'y3';
COMMIT;
RESET ROLE;
SELECT owner, count(*) AS nrows, sum(created) AS created FROM crm_internal.report_deal_days
 WHERE workspace_id = :ws AND day = '2026-04-20' GROUP BY owner;
SET ROLE crm_sum_app;
DELETE FROM crm.deals WHERE title = 'y1';
DELETE FROM crm.deals WHERE title IN ('y2', 'y3');
RESET ROLE;
RESET request.jwt.claims;
SELECT count(*) AS rows_at_zero FROM crm_internal.report_deal_days WHERE workspace_id = :ws AND day = '2026-04-20';
SELECT * FROM pg_temp.drift();

-- Who reads the summary.  A DBA's edit puts it wrong (2 deals more on
-- March 2, and March 3 gone), which shows who reads it: the superuser and
-- the reporting role in UTC see the edit; in another zone, and as a member
-- whom owner privacy restricts (ann: her deals only), they read the facts
UPDATE crm_internal.report_deal_days SET created = created + 2 WHERE workspace_id = :ws AND day = '2026-03-02' AND currency = 'EUR';
DELETE FROM crm_internal.report_deal_days WHERE workspace_id = :ws AND day = '2026-03-03';
SELECT side, day, owner, currency, created FROM pg_temp.drift() ORDER BY 1, 2, 3;
SELECT crm.set_privacy('owner');
SET ROLE crm_sum_bi;
SELECT day, owner, created FROM crm_report.deals_per_day WHERE day < '2026-03-05' ORDER BY 1, 2;
SET crm.user_id = 'ann';
SELECT day, owner, created FROM crm_report.deals_per_day WHERE day < '2026-03-05' ORDER BY 1, 2;
SELECT month_start, owner, created, won, won_value FROM crm_report.deals_per_month ORDER BY 1, 2;
SET crm.user_id = 'ada';
SELECT day, owner, created FROM crm_report.deals_per_day WHERE day < '2026-03-05' ORDER BY 1, 2;
RESET crm.user_id;
SET TimeZone = 'Etc/GMT+3';
SELECT day, owner, created FROM crm_report.deals_per_day WHERE day < '2026-03-05' ORDER BY 1, 2;
SET TimeZone = 'UTC';
-- the table itself is out of its reach, for reading and writing
SELECT count(*) FROM crm_internal.report_deal_days;
INSERT INTO crm_internal.report_deal_days VALUES (:ws, '2026-01-01', :p, 'x', 'EUR', 1, 0, 0, 0);
RESET ROLE;
SELECT crm.set_privacy('everyone');

-- a frontend role reads no crm_report view, and cannot reach the summary
SET ROLE crm_sum_app;
SELECT count(*) FROM crm_report.deals_per_day;
SELECT count(*) FROM crm_internal.report_deal_days;
UPDATE crm_internal.report_deal_days SET created = 0;

-- Rebuild: an admin member rebuilds the summary; an agent may not
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.rebuild_report_summaries();
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.rebuild_report_summaries() AS rows_rebuilt;
RESET ROLE;
RESET request.jwt.claims;
SELECT * FROM pg_temp.drift();
SELECT count(*) AS other_rows_kept FROM crm_internal.report_deal_days WHERE workspace_id = :other;

-- Delta rows: a key holds a row per writer that was in flight (two rows of
-- one key, +1 and -1, stand for them here); the views add them up, a
-- single-row write adds to one of them, a statement of more than 32 rows
-- folds them into one, and a row brought to zero is deleted
SELECT crm.use_workspace('sums') IS NOT NULL AS in_sums;
INSERT INTO crm_internal.report_deal_days VALUES
	(:ws, '2026-03-02', :p, 'ann', 'EUR', 1, 0, 0, 0), (:ws, '2026-03-02', :p, 'ann', 'EUR', -1, 0, 0, 0);
SELECT count(*) AS nrows, sum(created) AS created FROM crm_internal.report_deal_days
 WHERE workspace_id = :ws AND day = '2026-03-02' AND owner = 'ann' AND currency = 'EUR';
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at)
	VALUES ('x0', :lead, 1, 'EUR', 'ann', '2026-03-02 12:00');
SELECT count(*) AS nrows, sum(created) AS created FROM crm_internal.report_deal_days
 WHERE workspace_id = :ws AND day = '2026-03-02' AND owner = 'ann' AND currency = 'EUR';
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at)
	SELECT 'x' || i, :lead, 1, 'EUR', 'ann', '2026-03-02 13:00' FROM generate_series(1, 40) i;
SELECT count(*) AS nrows, sum(created) AS created FROM crm_internal.report_deal_days
 WHERE workspace_id = :ws AND day = '2026-03-02' AND owner = 'ann' AND currency = 'EUR';
SELECT * FROM pg_temp.drift();
-- an infinite time (the SQL fold cuts it, not the C path), a day of its own
INSERT INTO crm.deals (title, stage_id, value, currency, owner, created_at) VALUES ('xinf', :lead, 1, 'EUR', 'ann', 'infinity');
SELECT day, created FROM crm_internal.report_deal_days WHERE workspace_id = :ws AND day = 'infinity';
DELETE FROM crm.deals WHERE title ~ '^x';
SELECT * FROM pg_temp.drift();

-- A workspace deleted with its deals leaves no summary row; TRUNCATE empties it
DELETE FROM crm.workspaces WHERE id = :other;
SELECT count(*) AS other_rows FROM crm_internal.report_deal_days WHERE workspace_id = :other;
SELECT * FROM pg_temp.drift();
TRUNCATE crm.deals CASCADE;
SELECT count(*) AS rows_after_truncate FROM crm_internal.report_deal_days;

\c postgres
DROP DATABASE crm_test_report_summaries;
DROP ROLE crm_sum_app, crm_sum_bi;
