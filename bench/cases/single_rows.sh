# Rollups and line items as applications send them (issues 23 and 25,
# docs/performance.md "Rollups and line items as applications send them"):
# PostgREST and PostGraphile send each insert as its own request and
# transaction.  pgbench mixes (prepared statements, the Unix socket,
# CONC_SECONDS per point, CONC_CLIENTS default 1: the form the issues judge;
# CONC_CLIENTS='1 4' adds 4 clients), each side
# BENCH_RUNS times, crm and bare alternately, where one transaction is
#  1. one order insert with a contact and a company rollup over orders
#     defined, against the same insert with none defined (the same database
#     otherwise, as bench/cases/rollups.sh compares them);
#  2. one line-item insert into crm.deal_line_items (its deal revalued)
#     against the bare table of bench/cases/line_items.sh.
# Then the same two inserts as 2,000 single-row statements in one DO block
# (one transaction, no round trip: the worst case for crm), in wall and in
# backend CPU time.  Both sides run on the cluster bench/run starts (fsync,
# synchronous_commit and full_page_writes off for both, test/cluster.sh).
# SCALE contacts (at most 20,000), each the employee of one of SCALE/4
# companies; SCALE/10 deals (at most 10,000).
. bench/lib_pgbench.sh
n=$(( SCALE > 20000 ? 20000 : SCALE ))
ndeals=$(( SCALE / 10 > 10000 ? 10000 : (SCALE / 10 > 0 ? SCALE / 10 : 1) ))
clients=${CONC_CLIENTS:-1}
bench_sql "SET client_min_messages = warning;
	SELECT crm.create_pipeline('Bench lines', 'b2b_sales');
	INSERT INTO crm.contacts (name, email) SELECT 'C ' || i, 'c' || i || '@example.com' FROM generate_series(1, $n) i;
	INSERT INTO crm.companies (name) SELECT 'Co ' || i FROM generate_series(1, $n / 4) i;
	INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) SELECT i, 1 + i % ($n / 4), true FROM generate_series(1, $n) i;
	INSERT INTO crm.deals (title, value) SELECT 'bench deal ' || i, 0 FROM generate_series(1, $ndeals) i;
	CREATE TABLE bench_line_items (LIKE crm.deal_line_items INCLUDING ALL,
		FOREIGN KEY (workspace_id, deal_id) REFERENCES crm.deals (workspace_id, id) ON DELETE CASCADE,
		FOREIGN KEY (workspace_id, product_id) REFERENCES crm.products (workspace_id, id) ON DELETE SET NULL (product_id));"
bench_sql "VACUUM ANALYZE"
read -r first_deal last_deal < <(psql -X -At -F' ' -d "$BENCH_DB" -c "SELECT min(id), max(id) FROM crm.deals WHERE title LIKE 'bench deal %'")

# both sides start from vacuumed tables and no orders; "on" then defines
# the two rollups (their backfill rewrites every contact and company, so
# the tables are vacuumed again)
rollups_off="SET client_min_messages = warning;
	DELETE FROM crm.property_definitions WHERE workspace_id = 1 AND key = 'spend_eur';
	TRUNCATE crm.orders, crm.events, crm.value_history;
	VACUUM (ANALYZE) crm.contacts, crm.companies;"
rollups_on="$rollups_off
	SELECT crm.define_formula('contact', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
	SELECT crm.define_formula('company', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
	VACUUM (ANALYZE) crm.contacts, crm.companies;"
# every crm run starts from deals without lines (DELETE, which revalues them: see line_items.sh)
lines_crm="SET client_min_messages = warning; DELETE FROM crm.deal_line_items; TRUNCATE crm.events, crm.value_history;
	VACUUM (ANALYZE) crm.deals, crm.deal_line_items;"
lines_bare="SET client_min_messages = warning; TRUNCATE bench_line_items, crm.events, crm.value_history;
	VACUUM (ANALYZE) crm.deals, bench_line_items;"
# the order mixes' points start from a copy of one of these states, made
# once (bench_state): the rollups' definitions and removals rewrote every
# contact and company before every point.  The later runs keep the SQL
# setups: their tables' history (the line items written and deleted by the
# mixes) is part of what they measured
for state in off on; do
	[ $state = off ] && setup=$rollups_off || setup=$rollups_on
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$setup" >/dev/null
	bench_state_save $state
done

echo "single rows: $CONC_SECONDS s per point, $BENCH_RUNS points a side, load $(cut -d' ' -f1-3 /proc/loadavg) before the mixes"
conc_runs_header
CONC_CLIENTS=$clients conc_alternate "order insert, contact and company rollup vs none" \
	bench/pgbench/order_insert.sql "$(bench_state on)" bench/pgbench/order_insert.sql "$(bench_state off)" ">= 0.8" -D ncontacts="$n"
# exact after the run: each contact's and each company's stored spend is the sum of its orders
bench_state on | psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" >/dev/null
pgbench_point bench/pgbench/order_insert.sql 4 -D ncontacts="$n" >/dev/null
wrong=$(psql -X -At -d "$BENCH_DB" -c "SELECT
	(SELECT count(*) FROM crm.contacts p WHERE (p.properties ->> 'spend_eur')::numeric
		<> (SELECT coalesce(sum(value), 0) FROM crm.orders o WHERE o.contact_id = p.id)) +
	(SELECT count(*) FROM crm.companies p WHERE (p.properties ->> 'spend_eur')::numeric
		<> (SELECT coalesce(sum(value), 0) FROM crm.orders o WHERE o.company_id = p.id))")
echo "order inserts at 4 clients: $wrong stored rollups differ from their orders' sum"
[ "$wrong" = 0 ] || printf 'single rows: %s stored rollups differ from their orders\n' "$wrong" | tee -a "$BENCH_RESULTS" >&2
CONC_CLIENTS=$clients conc_alternate "line-item insert, crm vs bare table" \
	bench/pgbench/line_item_crm.sql "$lines_crm" bench/pgbench/line_item_bare.sql "$lines_bare" ">= 0.7" \
	-D first_deal="$first_deal" -D last_deal="$last_deal"
# the mixes above connect as the superuser, whom row-level security
# passes by; applications connect as a role granted crm.grant_access: the
# same line-item mix as such a role, on both sides (docs/performance.md,
# "Single-row line items as applications send them")
if bench_diagnostic "line-item insert as a frontend role, 1 client (pgbench)"; then
	bench_sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_bench_app') THEN
			CREATE ROLE crm_bench_app LOGIN; END IF; END \$\$;
		SELECT crm.grant_access('crm_bench_app');
		GRANT INSERT ON bench_line_items TO crm_bench_app;
		GRANT USAGE ON SEQUENCE bench_line_items_id_seq TO crm_bench_app;
		ALTER ROLE crm_bench_app IN DATABASE $BENCH_DB SET crm.workspace_id = $(psql -X -At -d "$BENCH_DB" -c "SELECT workspace_id FROM crm.deals WHERE id = $first_deal");"
	CONC_CLIENTS=1 conc_alternate "line-item insert, frontend role" \
		bench/pgbench/line_item_crm.sql "$lines_crm" bench/pgbench/line_item_bare.sql "$lines_bare" ">= 0.7" \
		-D first_deal="$first_deal" -D last_deal="$last_deal" -U crm_bench_app
fi
# at 4 clients every writing commit queues on the database's notify lock
# (docs/events.md): the same at 4 clients with the notifier waking
# LISTEN crm_events every 100 ms instead of a NOTIFY per commit
if bench_diagnostic "order and line-item inserts, notifier 100 ms, 4 clients (pgbench)"; then
	psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB SET crm.notify_events = off; ALTER DATABASE $BENCH_DB SET crm.notify_interval = '100ms'"
	CONC_CLIENTS=4 conc_alternate "order insert, rollups vs none, notifier 100 ms" \
		bench/pgbench/order_insert.sql "$rollups_on" bench/pgbench/order_insert.sql "$rollups_off" ">= 0.8" -D ncontacts="$n"
	CONC_CLIENTS=4 conc_alternate "line-item insert, notifier 100 ms" \
		bench/pgbench/line_item_crm.sql "$lines_crm" bench/pgbench/line_item_bare.sql "$lines_bare" ">= 0.7" \
		-D first_deal="$first_deal" -D last_deal="$last_deal"
	psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB RESET crm.notify_events; ALTER DATABASE $BENCH_DB RESET crm.notify_interval"
	psql -X -q -d "$BENCH_DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'crm notifier'" >/dev/null
fi
echo "load $(cut -d' ' -f1-3 /proc/loadavg) after the mixes"

# the same inserts in one transaction in the server (a DO loop of 2,000 statements)
orders_loop="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (1 + i % $n, 10, 'EUR', 'paid');
	END LOOP; END \$\$;"
# in wall time as rollups.sh measures it (the CPU row below is the stable one)
if bench_diagnostic "in-server loop: 2,000 order inserts, two rollups vs none"; then
	read -r on_ms off_ms < <(bench_pair "$rollups_on" "$orders_loop" "$rollups_off" "$orders_loop")
	report "in-server loop: 2,000 order inserts, two rollups vs none" "$on_ms" "$off_ms" throughput ">= 0.8"
fi
read -r on_ms off_ms < <(bench_cpu_pair "$rollups_on" "$orders_loop" "$rollups_off" "$orders_loop")
report "in-server loop: 2,000 order inserts, rollups, CPU ms" "$on_ms" "$off_ms" throughput ">= 0.8"
psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$rollups_off" >/dev/null
lines_loop_crm="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES ($first_deal + i % $ndeals, 'Row', 2, 19.99, 'percent', 10);
	END LOOP; END \$\$;"
lines_loop_bare="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO bench_line_items (deal_id, name, quantity, unit_price, currency, discount_type, discount, total)
	VALUES ($first_deal + i % $ndeals, 'Row', 2, 19.99, 'USD', 'percent', 10, round(greatest(2 * 19.99 - 2 * 19.99 * 10 / 100.0, 0), 2));
	END LOOP; END \$\$;"
# in wall time as line_items.sh measures it
if bench_diagnostic "in-server loop: 2,000 line-item inserts"; then
	read -r crm_ms bare_ms < <(bench_pair "$lines_crm" "$lines_loop_crm" "$lines_bare" "$lines_loop_bare")
	report "in-server loop: 2,000 line-item inserts" "$crm_ms" "$bare_ms" throughput ">= 0.7"
fi
read -r crm_ms bare_ms < <(bench_cpu_pair "$lines_crm" "$lines_loop_crm" "$lines_bare" "$lines_loop_bare")
report "in-server loop: 2,000 line-item inserts, CPU ms" "$crm_ms" "$bare_ms" throughput ">= 0.7"
