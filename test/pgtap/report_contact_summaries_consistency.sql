-- The contact summary behind crm_report.contacts_per_month
-- (crm_internal.report_contact_days) kept by the statement triggers
-- equals a fresh recomputation from the contacts after a random mixed
-- workload: inserts one by one and in bulk, first seen moved, identity
-- raised, archive, soft delete and restore, merges, erasures, updates
-- that move nothing, and statements that fail and write nothing.
-- Deterministic (setseed).
BEGIN;
SELECT plan(6);
-- the summaries' deltas of this transaction's small statements are written
-- at commit (src/report_summaries.c), and this test never commits: each
-- check writes them first, as a commit would (crm_internal.write_report_summaries)

SELECT crm.create_workspace('contact-summary-random', 'Random contact summary', 'EUR');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'contact-summary-random'), true);
SELECT setseed(0.2627);

CREATE FUNCTION pg_temp.drift() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM (SELECT workspace_id, day, source, sum(contacts)::bigint FROM crm_internal.report_contact_days GROUP BY 1, 2, 3) s EXCEPT SELECT * FROM crm_internal.report_contact_days_recomputed)
		UNION ALL
		(SELECT * FROM crm_internal.report_contact_days_recomputed EXCEPT SELECT * FROM (SELECT workspace_id, day, source, sum(contacts)::bigint FROM crm_internal.report_contact_days GROUP BY 1, 2, 3) s)) x
$$;
-- (PL/pgSQL, the count read first: Citus plans no parameter of a SQL
-- function, nor a subquery in OFFSET)
CREATE FUNCTION pg_temp.contact(k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
	n bigint := greatest((SELECT count(*) FROM crm.contacts WHERE workspace_id = ws), 1);
	r bigint;
BEGIN
	SELECT id INTO r FROM crm.contacts WHERE workspace_id = ws ORDER BY id OFFSET k % n LIMIT 1;
	RETURN r;
END
$$;

INSERT INTO crm.contacts (name, email, first_seen_at)
SELECT 'P ' || g, 'p' || g || '@csummary.example',
	   CASE WHEN g % 4 = 0 THEN NULL ELSE now() - interval '400 days' + random() * interval '300 days' END
  FROM generate_series(1, 200) g;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a bulk insert the summary equals the recomputation');

-- a thousand random single-row writes; a refused one (a bad email) writes nothing
DO $$
DECLARE
	op int;
	c bigint;
	at timestamptz;
BEGIN
	FOR i IN 1..1000 LOOP
		op := (random() * 9)::int;
		c := pg_temp.contact((random() * 1000)::int);
		at := now() - random() * interval '500 days';
		BEGIN
			CASE op
			WHEN 0 THEN
				INSERT INTO crm.contacts (name, email, first_seen_at)
				VALUES ('New ' || i, CASE WHEN i % 13 = 0 THEN 'bad' ELSE 'n' || i || '@csummary.example' END, at);
			WHEN 1 THEN UPDATE crm.contacts SET first_seen_at = at WHERE id = c;
			WHEN 2 THEN UPDATE crm.contacts SET identity_source = (ARRAY['self_reported', 'verified'])[1 + i % 2]::crm.identity_source WHERE id = c;
			WHEN 3 THEN UPDATE crm.contacts SET status = 'archived' WHERE id = c;
			WHEN 4 THEN PERFORM crm.delete_contact(c);
			WHEN 5 THEN UPDATE crm.contacts SET status = 'active' WHERE id = c AND status IN ('archived', 'deleted');
			WHEN 6 THEN PERFORM crm.merge_contacts(c, pg_temp.contact((random() * 1000)::int));
			WHEN 7 THEN PERFORM crm.delete_contact(c, hard => true);
			WHEN 8 THEN UPDATE crm.contacts SET name = name || '.', last_seen_at = at WHERE id = c;
			ELSE
				PERFORM crm.identify(email => 'id' || (i % 50) || '@csummary.example', seen_at => at);
			END CASE;
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
END;
$$;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a thousand random single-row writes the summary equals the recomputation');
SELECT cmp_ok((SELECT count(DISTINCT status) FROM crm.contacts WHERE workspace_id = crm.current_workspace()), '>=', 3::bigint,
			  'the workload archived, deleted or merged contacts');

-- bulk statements
-- (the date moved in UTC, AT TIME ZONE: Citus takes no STABLE function over a
-- column, as timestamptz - interval is, in an UPDATE)
UPDATE crm.contacts SET first_seen_at = ((first_seen_at AT TIME ZONE 'UTC') - interval '1 day') AT TIME ZONE 'UTC' WHERE workspace_id = crm.current_workspace() AND id % 3 = 0;
UPDATE crm.contacts SET status = 'deleted' WHERE workspace_id = crm.current_workspace() AND status = 'active' AND id % 5 = 0;
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND id % 7 = 0 AND status <> 'merged'
   AND NOT EXISTS (SELECT FROM crm.contacts m WHERE m.workspace_id = crm.contacts.workspace_id AND m.merged_into = crm.contacts.id);
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after bulk updates and a bulk delete the summary equals the recomputation');

SELECT is((SELECT count(*) FROM (SELECT workspace_id, day, source FROM crm_internal.report_contact_days GROUP BY 1, 2, 3 HAVING count(*) > 1 OR sum(contacts) = 0) k), 0::bigint,
		  'each key is one row once the writers are done, none at zero');
CREATE TEMP TABLE kept AS
SELECT (SELECT count(*) FROM crm_internal.report_contact_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_deal_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_order_days WHERE workspace_id = crm.current_workspace()) AS n;
SELECT crm_internal.write_report_summaries();
SELECT is(crm.rebuild_report_summaries(), (SELECT n FROM kept), 'a rebuild gives as many rows as the triggers kept');

SELECT * FROM finish();
ROLLBACK;
