-- The summary behind crm_report.contacts_per_month
-- (crm_internal.report_contact_days, src/report_summaries.c): kept exact
-- at commit by statement triggers on crm.contacts through every write a
-- frontend makes -- inserts, first seen moved, identity raised, archive,
-- soft delete and restore, merges, erasure -- and through crm.identify,
-- checked after each against a recomputation from the contacts; read by
-- reporting roles in UTC sessions, while other zones and restricted
-- members read the facts; rebuilt by crm.rebuild_report_summaries().
CREATE DATABASE crm_test_report_contact_summaries;
\c crm_test_report_contact_summaries
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_csum_app;
CREATE ROLE crm_csum_bi;
SELECT crm.grant_access('crm_csum_app');
SELECT crm.create_workspace('csums', 'Contact sums', 'EUR') AS ws \gset
SELECT crm.create_workspace('cother', 'Other', 'USD') AS other \gset
SELECT crm.use_workspace('csums') IS NOT NULL AS in_csums;
SELECT crm.grant_access('crm_csum_bi', access => 'reporting');
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent', team => 'north')).role;

-- the summary (a key's value: the sum of its rows) against a recomputation
-- from the contacts: keys missing on either side (none when exact), no key
-- left at zero, and no key of more than one row once the writers are done
CREATE VIEW pg_temp.summed AS
	SELECT s.workspace_id, s.day, s.source, sum(s.contacts)::bigint AS contacts, count(*) AS nrows
	  FROM crm_internal.report_contact_days s GROUP BY 1, 2, 3;
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (side text, workspace_id bigint, day date, source crm.identity_source, contacts bigint)
LANGUAGE sql AS $$
	(SELECT 'summary only', workspace_id, day, source, contacts FROM pg_temp.summed
	 EXCEPT SELECT 'summary only', * FROM crm_internal.report_contact_days_recomputed)
	UNION ALL
	(SELECT 'contacts only', * FROM crm_internal.report_contact_days_recomputed
	 EXCEPT SELECT 'contacts only', workspace_id, day, source, contacts FROM pg_temp.summed)
	UNION ALL
	SELECT 'zero key', workspace_id, day, source, contacts FROM pg_temp.summed s WHERE s.contacts = 0
	UNION ALL
	SELECT 'rows: ' || nrows, workspace_id, day, source, contacts FROM pg_temp.summed s WHERE s.nrows > 1
$$;
CREATE FUNCTION pg_temp.explain(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT l; END LOOP;
END;
$$;
CREATE FUNCTION pg_temp.summary() RETURNS TABLE (day date, source crm.identity_source, contacts bigint)
LANGUAGE sql AS $$
	SELECT s.day, s.source, s.contacts FROM pg_temp.summed s
	 WHERE s.workspace_id = (SELECT id FROM crm.workspaces WHERE slug = 'csums')
	 ORDER BY s.day, s.source
$$;

-- Row path: a frontend role with ada's token inserts contacts first seen
-- on two days (one at 23:30 UTC), one without a first-seen time (its
-- creation counts), ann's and unowned
SET ROLE crm_csum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
INSERT INTO crm.contacts (name, email, owner, first_seen_at, created_at) VALUES
	('Ann One', 'one@example.com', 'ann', '2026-03-02 09:00', '2026-03-05 09:00'),
	('Ann Two', 'two@example.com', 'ann', '2026-03-02 23:30', '2026-03-05 09:00'),
	('Ada Three', 'three@example.com', 'ada', '2026-03-03 10:00', '2026-03-05 09:00'),
	('No Seen', 'noseen@example.com', NULL, NULL, '2026-04-01 08:00');
SELECT id AS c1 FROM crm.contacts WHERE name = 'Ann One' \gset
SELECT id AS c2 FROM crm.contacts WHERE name = 'Ann Two' \gset
SELECT id AS c3 FROM crm.contacts WHERE name = 'Ada Three' \gset
SELECT id AS c4 FROM crm.contacts WHERE name = 'No Seen' \gset
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- an update that moves nothing changes no summary row; first seen moved
-- back moves the contact's day; identity raised (to what a frontend may
-- record) moves its source; an archived contact still counts
SET ROLE crm_csum_app;
UPDATE crm.contacts SET name = name || ' (renamed)', last_seen_at = '2026-06-01';
UPDATE crm.contacts SET first_seen_at = '2026-02-27 12:00' WHERE id = :c3;
UPDATE crm.contacts SET identity_source = 'self_reported' WHERE id = :c1;
UPDATE crm.contacts SET status = 'archived' WHERE id = :c2;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- crm.identify: a new person seen on March 9, then seen earlier (first
-- seen only moves back: the row of March 9 is deleted, not left at zero)
SET ROLE crm_csum_app;
SELECT crm.identify(email => 'new@example.com', seen_at => '2026-03-09 10:00') AS c5 \gset
RESET ROLE;
SELECT * FROM pg_temp.summary() WHERE day >= '2026-03-09';
SET ROLE crm_csum_app;
SELECT crm.identify(email => 'new@example.com', seen_at => '2026-03-08 10:00') = :c5 AS same_contact;
RESET ROLE;
SELECT * FROM pg_temp.summary() WHERE day >= '2026-03-08';
SELECT * FROM pg_temp.drift();

-- a soft delete subtracts and a restore adds back; a merge subtracts the
-- duplicate; a hard delete (erasure) subtracts the person
SET ROLE crm_csum_app;
SELECT crm.delete_contact(:c4) IS NOT NULL AS deleted;
RESET ROLE;
SELECT day, source, contacts FROM pg_temp.summary() WHERE day >= '2026-04-01';
SET ROLE crm_csum_app;
UPDATE crm.contacts SET status = 'active' WHERE id = :c4;
RESET ROLE;
SELECT day, source, contacts FROM pg_temp.summary() WHERE day >= '2026-04-01';
SET ROLE crm_csum_app;
SELECT crm.merge_contacts(:c1, :c2) IS NOT NULL AS merged;
SELECT crm.delete_contact(:c5, hard => true) IS NOT NULL AS erased;
RESET ROLE;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- a multi-row statement over many days, and a failed statement, which
-- writes nothing
SET ROLE crm_csum_app;
INSERT INTO crm.contacts (name, email, first_seen_at)
SELECT 'Bulk ' || i, 'bulk' || i || '@example.com', timestamptz '2026-05-01' + i * interval '7 hours'
  FROM generate_series(1, 40) i;
UPDATE crm.contacts SET identity_source = 'self_reported' WHERE name LIKE 'Bulk %' AND id % 2 = 0;
INSERT INTO crm.contacts (name, email, first_seen_at) VALUES ('ok', 'ok@example.com', '2026-07-01'), ('bad', 'not an email', '2026-07-01');
RESET ROLE;
RESET request.jwt.claims;
SELECT count(*) AS july_rows FROM crm_internal.report_contact_days WHERE day >= '2026-07-01';
SELECT source, sum(contacts) AS may_contacts FROM pg_temp.summary() WHERE day >= '2026-05-01' GROUP BY 1 ORDER BY 1;
SELECT * FROM pg_temp.drift();

-- the other workspace's contacts count in its own rows
SELECT crm.use_workspace('cother') IS NOT NULL AS in_other;
INSERT INTO crm.contacts (name, first_seen_at) VALUES ('Other', '2026-03-02 09:00');
SELECT crm.use_workspace('csums') IS NOT NULL AS in_csums;
SELECT workspace_id = :other AS other_ws, day, source, contacts FROM pg_temp.summed WHERE workspace_id <> :ws;

-- Reading.  The view in a UTC session reads the summary, and gives what
-- the facts give in a zone that is UTC but not fixed (Africa/Abidjan)
SELECT crm_internal.report_summarized() AS superuser_utc;
CREATE TEMP TABLE by_summary AS SELECT * FROM crm_report.contacts_per_month;
SET TimeZone = 'Africa/Abidjan';
SELECT crm_internal.report_summarized() AS superuser_abidjan;
SELECT (SELECT count(*) FROM by_summary) AS months,
	   (SELECT count(*) FROM (SELECT * FROM by_summary EXCEPT SELECT * FROM crm_report.contacts_per_month) x) AS summary_only,
	   (SELECT count(*) FROM (SELECT * FROM crm_report.contacts_per_month EXCEPT SELECT * FROM by_summary) x) AS facts_only;
SET TimeZone = 'UTC';
-- by hand: Ada Three moved to February; Ann One (self-reported) survived
-- the merge of Ann Two in March; No Seen restored in April; 40 in May (the
-- even ids self-reported); nothing in July (the statement failed)
SELECT month_start, source, contacts FROM crm_report.contacts_per_month WHERE workspace_id = :ws ORDER BY 1, 2;
-- the plan reads the summary, not the contacts
SELECT count(*) FILTER (WHERE l ~ 'report_contact_days') > 0 AS reads_summary,
	   count(*) FILTER (WHERE l ~ 'One-Time Filter') AS one_time_filters
  FROM pg_temp.explain('SELECT * FROM crm_report.contacts_per_month') e(l);

-- Who reads the summary.  A DBA's row puts it wrong (5 contacts more on
-- March 2), which shows who reads it: the reporting role in UTC sees the
-- edit; in another zone, and as a member whom owner privacy restricts
-- (ann: her contacts only), they read the facts
INSERT INTO crm_internal.report_contact_days VALUES (:ws, '2026-03-02', 'self_reported', 5);
SELECT side, day, source, contacts FROM pg_temp.drift() ORDER BY 1, 2, 3;
SELECT crm.set_privacy('owner');
SET ROLE crm_csum_bi;
SELECT month_start, source, contacts FROM crm_report.contacts_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
SET crm.user_id = 'ann';
SELECT month_start, source, contacts FROM crm_report.contacts_per_month ORDER BY 1, 2;
SET crm.user_id = 'ada';
SELECT month_start, source, contacts FROM crm_report.contacts_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
RESET crm.user_id;
SET TimeZone = 'Etc/GMT+3';
SELECT month_start, source, contacts FROM crm_report.contacts_per_month WHERE month_start < '2026-04-01' ORDER BY 1, 2;
SET TimeZone = 'UTC';
-- the table itself is out of its reach, for reading and writing
SELECT count(*) FROM crm_internal.report_contact_days;
INSERT INTO crm_internal.report_contact_days VALUES (:ws, '2026-01-01', 'anonymous', 1);
RESET ROLE;
SELECT crm.set_privacy('everyone');

-- a frontend role cannot reach the summary
SET ROLE crm_csum_app;
SELECT count(*) FROM crm_internal.report_contact_days;
UPDATE crm_internal.report_contact_days SET contacts = 0;

-- Rebuild: an admin member rebuilds both summaries (this workspace has no
-- deals: the rows are the contacts'); an agent may not
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.rebuild_report_summaries();
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.rebuild_report_summaries() AS rows_rebuilt;
RESET ROLE;
RESET request.jwt.claims;
SELECT * FROM pg_temp.drift();
SELECT count(*) AS other_rows_kept FROM crm_internal.report_contact_days WHERE workspace_id = :other;

-- Written at commit: a frontend's single-row inserts in one transaction are
-- written once per key when it commits (nothing before); a savepoint rolled
-- back takes its contact's count with it
BEGIN;
SET LOCAL ROLE crm_csum_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), true) IS NOT NULL AS as_ada;
INSERT INTO crm.contacts (name, first_seen_at) VALUES ('Txn One', '2027-02-01 08:00');
INSERT INTO crm.contacts (name, first_seen_at) VALUES ('Txn Two', '2027-02-01 09:00');
SAVEPOINT s;
INSERT INTO crm.contacts (name, first_seen_at) VALUES ('Txn Three', '2027-02-01 10:00');
ROLLBACK TO SAVEPOINT s;
RESET ROLE;
SELECT count(*) AS rows_before_commit FROM crm_internal.report_contact_days WHERE day >= '2027-01-01';
COMMIT;
SELECT day, source, contacts, nrows FROM pg_temp.summed WHERE day >= '2027-01-01';
SELECT * FROM pg_temp.drift();

-- A workspace deleted with its contacts leaves no summary row, one whose
-- contact was added earlier in the same transaction too; TRUNCATE empties it
BEGIN;
INSERT INTO crm.contacts (workspace_id, name, first_seen_at) VALUES (:other, 'Late', '2027-03-01 08:00');
DELETE FROM crm.workspaces WHERE id = :other;
COMMIT;
SELECT count(*) AS other_rows FROM crm_internal.report_contact_days WHERE workspace_id = :other;
SELECT * FROM pg_temp.drift();
TRUNCATE crm.contacts CASCADE;
SELECT count(*) AS rows_after_truncate FROM crm_internal.report_contact_days;

\c postgres
DROP DATABASE crm_test_report_contact_summaries;
DROP ROLE crm_csum_app, crm_csum_bi;
