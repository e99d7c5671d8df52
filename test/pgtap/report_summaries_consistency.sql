-- The deal summary behind the crm_report time series
-- (crm_internal.report_deal_days) kept by the statement triggers equals a
-- fresh recomputation from the deals after a random mixed workload:
-- inserts one by one and in bulk, wins, losses and reopenings (the close
-- date moving), owner, value, currency and pipeline changes one by one and
-- in bulk, contacts merged and erased under their deals, hard deletes, and
-- statements that fail and write nothing.  Both trigger paths run: small
-- statements netted in C, large ones in one aggregate pass.  Deterministic
-- (setseed).
BEGIN;
SELECT plan(7);
-- the summaries' deltas of this transaction's small statements are written
-- at commit (src/report_summaries.c), and this test never commits: each
-- check writes them first, as a commit would (crm_internal.write_report_summaries)

SELECT crm.create_workspace('summary-random', 'Random summary', 'EUR');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'summary-random'), true);
SELECT setseed(0.2626);
INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('USD', 'EUR', 0.9, '2020-01-01');
SELECT crm.create_pipeline('Sales', 'b2b_sales');
SELECT crm.create_pipeline('Partners', 'b2b_sales');

CREATE FUNCTION pg_temp.drift() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM crm_internal.report_deal_days EXCEPT SELECT * FROM crm_internal.report_deal_days_recomputed)
		UNION ALL
		(SELECT * FROM crm_internal.report_deal_days_recomputed EXCEPT SELECT * FROM crm_internal.report_deal_days)) x
$$;
-- a stage of the workspace: kind, k-th of them
-- (PL/pgSQL, the count read first: Citus plans no parameter of a SQL
-- function, nor a subquery in OFFSET)
CREATE FUNCTION pg_temp.stage(want text, k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
	n bigint := (SELECT count(*) FROM crm.stages t WHERE t.workspace_id = ws AND t.kind::text = want);
	r bigint;
BEGIN
	SELECT s.id INTO r FROM crm.stages s WHERE s.workspace_id = ws AND s.kind::text = want
	 ORDER BY s.pipeline_id, s.position OFFSET k % n LIMIT 1;
	RETURN r;
END
$$;
CREATE FUNCTION pg_temp.deal(k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
	n bigint := greatest((SELECT count(*) FROM crm.deals WHERE workspace_id = ws), 1);
	r bigint;
BEGIN
	SELECT id INTO r FROM crm.deals WHERE workspace_id = ws ORDER BY id OFFSET k % n LIMIT 1;
	RETURN r;
END
$$;

INSERT INTO crm.contacts (name, email)
SELECT 'P ' || g, 'p' || g || '@summary.example' FROM generate_series(1, 60) g;
-- the open stages and the contacts in order, as pg_temp.stage and OFFSET read
-- them, in arrays read first (Citus plans no correlated subquery next to
-- generate_series)
SELECT array_agg(id ORDER BY pipeline_id, position) AS opens FROM crm.stages
 WHERE workspace_id = crm.current_workspace() AND kind = 'open' \gset
SELECT array_agg(id ORDER BY id) AS people FROM crm.contacts WHERE workspace_id = crm.current_workspace() \gset
INSERT INTO crm.deals (stage_id, title, contact_id, value, currency, owner, created_at, stage_entered_at)
SELECT (:'opens'::bigint[])[1 + g % cardinality(:'opens'::bigint[])], 'Deal ' || g,
	   (:'people'::bigint[])[1 + g % 60],
	   round((random() * 5000)::numeric, 2), (ARRAY['EUR', 'USD'])[1 + g % 2],
	   (ARRAY['ann', 'bob', 'cy', 'dee', NULL])[1 + g % 5], t, t
  FROM generate_series(1, 150) g, LATERAL (SELECT now() - interval '400 days' + random() * interval '300 days' AS t) c;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a bulk insert the summary equals the recomputation');

-- a thousand random single-row writes; a refused one (a close before its
-- stage entry, a negative value) writes nothing
DO $$
DECLARE
	op int;
	d bigint;
	st bigint;
	v numeric;
	at timestamptz;
BEGIN
	FOR i IN 1..1000 LOOP
		op := (random() * 9)::int;
		d := pg_temp.deal((random() * 1000)::int);
		at := now() - random() * interval '90 days';
		BEGIN
			CASE op
			-- (a stage and a value read before the statement that writes them:
			-- Citus takes no volatile function in an UPDATE, nor a function
			-- reading a distributed table in an INSERT's VALUES)
			WHEN 0 THEN
				st := pg_temp.stage('open', i);
				v := round((random() * 900)::numeric, 2);
				INSERT INTO crm.deals (stage_id, title, value, currency, owner, created_at, stage_entered_at)
				VALUES (st, 'New ' || i, v,
						(ARRAY['EUR', 'USD'])[1 + i % 2], (ARRAY['ann', 'bob', NULL])[1 + i % 3], at, at);
			WHEN 1 THEN PERFORM crm.win_deal(d, 'random', at);
			WHEN 2 THEN PERFORM crm.lose_deal(d, 'random', at);
			WHEN 3 THEN
				st := pg_temp.stage('open', i);
				UPDATE crm.deals SET stage_id = st, stage_entered_at = now() WHERE id = d;
			WHEN 4 THEN UPDATE crm.deals SET owner = (ARRAY['ann', 'bob', 'cy', 'eve', NULL])[1 + i % 5] WHERE id = d;
			WHEN 5 THEN v := CASE WHEN i % 17 = 0 THEN -1 ELSE round((random() * 3000)::numeric, 2) END;
						UPDATE crm.deals SET value = v WHERE id = d;
			WHEN 6 THEN UPDATE crm.deals SET currency = (ARRAY['EUR', 'USD', 'GBP'])[1 + i % 3] WHERE id = d;
			WHEN 7 THEN DELETE FROM crm.deals WHERE id = d;
			WHEN 8 THEN UPDATE crm.deals SET title = title || '.' WHERE id = d;
			ELSE
				-- into the other pipeline's first open stage
				UPDATE crm.deals SET pipeline_id = s.pipeline_id, stage_id = s.id, stage_entered_at = now()
				  FROM crm.stages s
				 WHERE crm.deals.id = d AND s.workspace_id = crm.deals.workspace_id AND s.kind = 'open'
				   AND s.pipeline_id <> crm.deals.pipeline_id AND s.position = 1;
			END CASE;
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
END;
$$;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a thousand random single-row writes the summary equals the recomputation');
SELECT cmp_ok((SELECT count(*) FROM crm.deals WHERE workspace_id = crm.current_workspace() AND status = 'won'), '>', 5::bigint,
			  'the workload won deals');

-- bulk statements: the aggregate pass
UPDATE crm.deals SET owner = 'zed' WHERE workspace_id = crm.current_workspace() AND id % 3 = 0;
UPDATE crm.deals SET value = value + 1 WHERE workspace_id = crm.current_workspace() AND status = 'won';
DELETE FROM crm.deals WHERE workspace_id = crm.current_workspace() AND id % 7 = 0;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after bulk updates and a bulk delete the summary equals the recomputation');

-- merges re-parent deals; an erasure keeps them
-- (the contacts read first, each call a statement of its own: Citus would
-- send a call in a query over crm.contacts to the worker with the query)
DO $$
DECLARE
	ws bigint := crm.current_workspace();
	c bigint[] := ARRAY(SELECT id FROM crm.contacts WHERE workspace_id = ws ORDER BY id);
	e bigint;
BEGIN
	FOR n IN 1 .. 10 LOOP
		PERFORM crm.merge_contacts(c[n], c[n + 30]);
	END LOOP;
	FOR e IN SELECT id FROM crm.contacts WHERE workspace_id = ws AND status <> 'merged' ORDER BY id LIMIT 5 LOOP
		PERFORM crm.delete_contact(e, hard => true);
	END LOOP;
END
$$;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after merges and erasures the summary equals the recomputation');

SELECT is((SELECT count(*) FROM crm_internal.report_deal_days
			WHERE created = 0 AND won = 0 AND lost = 0 AND won_value = 0), 0::bigint, 'no summary row is left at zero');
-- (the rebuild counts the contact and order summaries' rows too)
SELECT crm_internal.write_report_summaries();
CREATE TEMP TABLE kept AS
SELECT (SELECT count(*) FROM crm_internal.report_deal_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_contact_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_order_days WHERE workspace_id = crm.current_workspace()) AS n;
SELECT crm_internal.write_report_summaries();
SELECT is(crm.rebuild_report_summaries(), (SELECT n FROM kept), 'a rebuild gives as many rows as the triggers kept');

SELECT * FROM finish();
ROLLBACK;
