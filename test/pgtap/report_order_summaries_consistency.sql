-- The order summary behind crm_report.order_revenue_per_month
-- (crm_internal.report_order_days) kept by the statement triggers equals
-- a fresh recomputation from the orders after a random mixed workload:
-- inserts one by one and in bulk, status, value, currency and order date
-- changes, crm.upsert_order, hard deletes, updates that move nothing, and
-- statements that fail and write nothing.  Deterministic (setseed).
BEGIN;
SELECT plan(6);
-- the summaries' deltas of this transaction's small statements are written
-- at commit (src/report_summaries.c), and this test never commits: each
-- check writes them first, as a commit would (crm_internal.write_report_summaries)

SELECT crm.create_workspace('order-summary-random', 'Random order summary', 'EUR');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'order-summary-random'), true);
SELECT setseed(0.2628);

CREATE FUNCTION pg_temp.drift() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM (SELECT workspace_id, day, currency, sum(orders)::bigint, sum(booked_value), sum(paid_value), sum(paid_orders)::bigint FROM crm_internal.report_order_days GROUP BY 1, 2, 3) s EXCEPT SELECT * FROM crm_internal.report_order_days_recomputed)
		UNION ALL
		(SELECT * FROM crm_internal.report_order_days_recomputed EXCEPT SELECT * FROM (SELECT workspace_id, day, currency, sum(orders)::bigint, sum(booked_value), sum(paid_value), sum(paid_orders)::bigint FROM crm_internal.report_order_days GROUP BY 1, 2, 3) s)) x
$$;
-- (PL/pgSQL, the count read first: Citus plans no parameter of a SQL
-- function, nor a subquery in OFFSET)
CREATE FUNCTION pg_temp.order_id(k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
	n bigint := greatest((SELECT count(*) FROM crm.orders WHERE workspace_id = ws), 1);
	r bigint;
BEGIN
	SELECT id INTO r FROM crm.orders WHERE workspace_id = ws ORDER BY id OFFSET k % n LIMIT 1;
	RETURN r;
END
$$;

INSERT INTO crm.contacts (name, email) VALUES ('Buyer', 'buyer@osummary.example');
INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date)
SELECT (SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() LIMIT 1), 'O ' || g, round((random() * 500)::numeric, 2), (ARRAY['EUR', 'USD'])[1 + g % 2],
	   (enum_range(NULL::crm.order_status))[1 + g % 7], now() - interval '400 days' + random() * interval '300 days'
  FROM generate_series(1, 200) g;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a bulk insert the summary equals the recomputation');

-- a thousand random single-row writes; a refused one (a negative value) writes nothing
DO $$
DECLARE
	op int;
	o bigint;
	v numeric;
	-- (the buyer read once: Citus takes no subquery in an INSERT's VALUES)
	buyer bigint := (SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() LIMIT 1);
	at timestamptz;
BEGIN
	FOR i IN 1..1000 LOOP
		op := (random() * 7)::int;
		o := pg_temp.order_id((random() * 1000)::int);
		at := now() - random() * interval '500 days';
		BEGIN
			CASE op
			WHEN 0 THEN
				-- (the value drawn first, as in the UPDATE below: with random() in
				-- the VALUES Citus drew other numbers than one node, and the
				-- workload added fewer orders)
				v := CASE WHEN i % 13 = 0 THEN -1 ELSE round((random() * 500)::numeric, 2) END;
				INSERT INTO crm.orders (contact_id, title, value, currency, status, order_date)
				VALUES (buyer, 'New ' || i, v,
						(ARRAY['EUR', 'USD', 'GBP'])[1 + i % 3], (enum_range(NULL::crm.order_status))[1 + i % 7], at);
			WHEN 1 THEN UPDATE crm.orders SET status = (enum_range(NULL::crm.order_status))[1 + i % 7] WHERE id = o;
			-- (the value drawn before the UPDATE: Citus takes no volatile function in one)
			WHEN 2 THEN v := round((random() * 500)::numeric, 2);
						UPDATE crm.orders SET value = v WHERE id = o;
			WHEN 3 THEN UPDATE crm.orders SET order_date = at WHERE id = o;
			WHEN 4 THEN UPDATE crm.orders SET currency = (ARRAY['EUR', 'USD', 'GBP'])[1 + i % 3] WHERE id = o;
			WHEN 5 THEN DELETE FROM crm.orders WHERE id = o;
			WHEN 6 THEN UPDATE crm.orders SET title = title || '.', paid_date = at WHERE id = o;
			ELSE
				PERFORM crm.upsert_order((SELECT id FROM crm.contacts WHERE workspace_id = crm.current_workspace() LIMIT 1),
										 'commerce', 'ext-' || (i % 40), value => round((random() * 500)::numeric, 2),
										 status => (ARRAY['paid', 'pending', 'refunded'])[1 + i % 3], order_date => at);
			END CASE;
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
END;
$$;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a thousand random single-row writes the summary equals the recomputation');
SELECT cmp_ok((SELECT count(*) FROM crm.orders WHERE workspace_id = crm.current_workspace() AND title LIKE 'New %'), '>', 50::bigint,
			  'the workload added orders');

-- bulk statements
UPDATE crm.orders SET status = 'paid' WHERE workspace_id = crm.current_workspace() AND id % 3 = 0;
-- (the date moved in UTC, AT TIME ZONE: Citus takes no STABLE function over a
-- column, as timestamptz + interval is, in an UPDATE)
UPDATE crm.orders SET order_date = ((order_date AT TIME ZONE 'UTC') + interval '20 hours') AT TIME ZONE 'UTC', value = value + 1 WHERE workspace_id = crm.current_workspace() AND id % 4 = 0;
DELETE FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id % 7 = 0;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after bulk updates and a bulk delete the summary equals the recomputation');

SELECT is((SELECT count(*) FROM (SELECT workspace_id, day, currency FROM crm_internal.report_order_days GROUP BY 1, 2, 3 HAVING count(*) > 1 OR sum(orders) = 0) k), 0::bigint,
		  'each key is one row once the writers are done, none at zero');
CREATE TEMP TABLE kept AS
SELECT (SELECT count(*) FROM crm_internal.report_order_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_contact_days WHERE workspace_id = crm.current_workspace())
	 + (SELECT count(*) FROM crm_internal.report_deal_days WHERE workspace_id = crm.current_workspace()) AS n;
SELECT crm_internal.write_report_summaries();
SELECT is(crm.rebuild_report_summaries(), (SELECT n FROM kept), 'a rebuild gives as many rows as the triggers kept');

SELECT * FROM finish();
ROLLBACK;
