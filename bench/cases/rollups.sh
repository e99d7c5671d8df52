# Computed properties (docs/properties.md): what rollups cost the writes of
# the related rows, and what a CQL filter on a stored rollup plans to.
#  1. single-order inserts (one statement each) that change a contact rollup
#     and a deal rollup, against the same inserts with no rollup defined; the
#     same with a contact and a company rollup (the issue's measure: the
#     order's company is its contact's primary one); and what finding that
#     company costs an order insert without rollups (trigger orders_set_company);
#  2. 10,000 orders in one statement, with and without the rollups: the
#     triggers run once per statement, one UPDATE per rollup;
#  3. the plan of crm.find_contacts on a stored rollup against hand-written
#     SQL over the same jsonb key (printed, compared as text).
# SCALE contacts (at most 20,000: the machine is shared), one deal each,
# each the employee of one of SCALE/4 companies.

n=$(( SCALE > 20000 ? 20000 : SCALE ))
bench_sql "SET client_min_messages = warning;
	SELECT crm.create_pipeline('Sales', 'b2b_sales');
	INSERT INTO crm.contacts (name, email) SELECT 'C ' || i, 'c' || i || '@example.com' FROM generate_series(1, $n) i;
	INSERT INTO crm.deals (title, value, currency, contact_id) SELECT 'D ' || i, 100, 'EUR', i FROM generate_series(1, $n) i;
	INSERT INTO crm.companies (name) SELECT 'Co ' || i FROM generate_series(1, $n / 4) i;
	INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) SELECT i, 1 + i % ($n / 4), true FROM generate_series(1, $n) i;
	ANALYZE;"

# defining or dropping a rollup rewrites every contact or deal (its backfill); an application does
# that once, not before each batch of orders, so both sides start from vacuumed tables
rollups_on="SELECT crm.define_formula('contact', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
	SELECT crm.define_formula('deal', 'paid_orders', 'COUNT(orders(status = PAID))');
	VACUUM (ANALYZE) crm.contacts, crm.deals;"
rollups_off="SET client_min_messages = warning;
	DELETE FROM crm.property_definitions WHERE workspace_id = 1 AND key IN ('spend_eur', 'paid_orders');
	TRUNCATE crm.orders, crm.events;
	VACUUM (ANALYZE) crm.contacts, crm.deals, crm.companies;"
company_rollups_on="SELECT crm.define_formula('contact', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
	SELECT crm.define_formula('company', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
	VACUUM (ANALYZE) crm.contacts, crm.companies;"
# the three states each run starts from, made once and copied before each
# run (bench_state): the definitions' backfills and removals took most of
# the case's time when made again before every crm run
psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$rollups_off" >/dev/null
bench_state_save off
psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$rollups_on" >/dev/null
bench_state_save on
psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$rollups_off $company_rollups_on" >/dev/null
bench_state_save company_on
# 2,000 single-row statements, each a new order of contact i and its deal i
singles="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO crm.orders (contact_id, deal_id, value, currency, status)
	VALUES (1 + i % $n, 1 + i % $n, 10, 'EUR', 'paid');
	END LOOP; END \$\$;"

read -r on_ms off_ms < <(bench_pair "$(bench_state on)" "$singles" "$(bench_state off)" "$singles" 5)
report "2,000 single-order inserts, a contact and a deal rollup vs none" "$on_ms" "$off_ms" throughput ">= 0.8"

read -r on_ms off_ms < <(bench_pair "$(bench_state company_on)" "$singles" "$(bench_state off)" "$singles" 5)
report "2,000 single-order inserts, a contact and a company rollup vs none" "$on_ms" "$off_ms" throughput ">= 0.8"

# an order's company found at insert (the deal's, else the contact's primary), against the trigger off
read -r on_ms off_ms < <(bench_pair "$(bench_state off) ALTER TABLE crm.orders ENABLE TRIGGER orders_set_company;" "$singles" \
	"$(bench_state off) ALTER TABLE crm.orders DISABLE TRIGGER orders_set_company;" "$singles" 5)
bench_sql "ALTER TABLE crm.orders ENABLE TRIGGER orders_set_company;"
report "2,000 single-order inserts, no rollup: company found vs not" "$on_ms" "$off_ms" throughput "-"

bulk="INSERT INTO crm.orders (contact_id, deal_id, value, currency, status)
	SELECT 1 + i % $n, 1 + i % $n, 10, 'EUR', 'paid' FROM generate_series(1, 10000) i;"
read -r on_ms off_ms < <(bench_pair "$(bench_state on)" "$bulk" "$(bench_state off)" "$bulk" 5)
report "10,000 orders in one statement, two rollups vs none" "$on_ms" "$off_ms" throughput "-"

# the statement triggers ran once per statement, not per row: the orders'
# insert, and the UPDATE of crm.deals it made for the deals' rollup (whose
# own statement trigger finds no rollup over deals); the contacts' UPDATE
# fires none (through stdin: VACUUM runs outside a transaction block)
bench_state on | psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" >/dev/null
calls=$(psql -X -At -d "$BENCH_DB" <<SQL
SET track_functions = 'all';
SELECT pg_stat_reset();
$bulk
SELECT pg_sleep(0.6);
SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'crm_internal' AND funcname = 'rollups_sync';
SQL
)
report_abs "rollups_sync calls for the 10,000-order statement" "$(tail -1 <<<"$calls")" "calls" "2"

# a CQL filter on the stored rollup and the same filter written by hand
bench_sql "CREATE INDEX contacts_spend_eur ON crm.contacts (((properties OPERATOR(pg_catalog.->>) 'spend_eur')::numeric)); ANALYZE crm.contacts;"
where=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.cql_to_sql('contact', 'spendEur > 15')")
cql_plan=$(psql -X -At -d "$BENCH_DB" -c "EXPLAIN (COSTS OFF) SELECT id FROM crm.contacts WHERE $where")
hand_plan=$(psql -X -At -d "$BENCH_DB" -c "EXPLAIN (COSTS OFF) SELECT id FROM crm.contacts WHERE (properties ->> 'spend_eur')::numeric > 15")
printf 'CQL spendEur > 15 is: %s\nits plan:\n%s\nhand-written plan:\n%s\n' "$where" "$cql_plan" "$hand_plan"
report_abs "CQL filter on a stored rollup: same plan as hand SQL" "$([ "$cql_plan" = "$hand_plan" ] && echo same || echo different)" "" "same"
