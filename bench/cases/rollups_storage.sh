# Where a computed value could be stored (docs/performance.md, "Computed
# properties"): what writing a contact's and a company's value costs a
# single-order insert, for each storage, against the same order inserts
# alone.  No rollup is defined: each loop writes the two values itself, as
# one UPDATE per record, so that the figure is the write of the storage and
# its triggers and indexes, not the rollup's delta query.
#  1. in properties, as rollups are stored today (spend_eur defined as a
#     number property: validation, value history, events, lists, the GIN
#     index and every other index of the wide row), then the same with the
#     definitions' track_history off;
#  2. in a jsonb column of the record's own, without an index (a HOT update
#     unless another indexed column changes), then with an expression index
#     on the contact's value, as a user who filters by it would add; the
#     unindexed column again with room on the pages (fillfactor 70), for an
#     update of a freshly vacuumed full page cannot be HOT;
#  3. in a narrow side table per object (workspace, record, values), with its
#     primary key only: no trigger of the record's table runs.
# SCALE contacts (at most 20,000), each the employee of one of SCALE/4 companies.

n=$(( SCALE > 20000 ? 20000 : SCALE ))
bench_sql "SET client_min_messages = warning;
	INSERT INTO crm.contacts (name, email) SELECT 'C ' || i, 'c' || i || '@example.com' FROM generate_series(1, $n) i;
	INSERT INTO crm.companies (name) SELECT 'Co ' || i FROM generate_series(1, $n / 4) i;
	INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) SELECT i, 1 + i % ($n / 4), true FROM generate_series(1, $n) i;
	SELECT crm.define_property('contact', 'spend_eur', 'number');
	SELECT crm.define_property('company', 'spend_eur', 'number');"
# apart: the rows above leave the report summaries' commit-time trigger
# pending, and a table with pending trigger events cannot be altered
bench_sql "ALTER TABLE crm.contacts ADD COLUMN bench_computed jsonb NOT NULL DEFAULT '{}';
	ALTER TABLE crm.companies ADD COLUMN bench_computed jsonb NOT NULL DEFAULT '{}';
	CREATE SCHEMA bench_side;
	CREATE TABLE bench_side.contact_computed (workspace_id bigint, contact_id bigint, \"values\" jsonb NOT NULL,
		PRIMARY KEY (workspace_id, contact_id));
	CREATE TABLE bench_side.company_computed (workspace_id bigint, company_id bigint, \"values\" jsonb NOT NULL,
		PRIMARY KEY (workspace_id, company_id));
	INSERT INTO bench_side.contact_computed SELECT 1, id, '{\"spend_eur\": 0}' FROM crm.contacts;
	INSERT INTO bench_side.company_computed SELECT 1, id, '{\"spend_eur\": 0}' FROM crm.companies;
	ANALYZE;"

reset="SET client_min_messages = warning;
	TRUNCATE crm.orders, crm.events, crm.value_history;
	VACUUM (ANALYZE) crm.contacts, crm.companies, bench_side.contact_computed, bench_side.company_computed;"
orders_only="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (1 + i % $n, 10, 'EUR', 'paid');
	END LOOP; END \$\$;"
# the order, then its contact's and its company's value where STORE puts it
with_writes() {
	printf '%s' "DO \$\$ DECLARE co bigint; BEGIN FOR i IN 1..2000 LOOP
	INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (1 + i % $n, 10, 'EUR', 'paid')
		RETURNING company_id INTO co;
	$1
	END LOOP; END \$\$;"
}
in_properties=$(with_writes "UPDATE crm.contacts SET properties = properties || jsonb_build_object('spend_eur', coalesce((properties ->> 'spend_eur')::numeric, 0) + 10) WHERE workspace_id = 1 AND id = 1 + i % $n;
	UPDATE crm.companies SET properties = properties || jsonb_build_object('spend_eur', coalesce((properties ->> 'spend_eur')::numeric, 0) + 10) WHERE workspace_id = 1 AND id = co;")
in_column=$(with_writes "UPDATE crm.contacts SET bench_computed = bench_computed || jsonb_build_object('spend_eur', coalesce((bench_computed ->> 'spend_eur')::numeric, 0) + 10) WHERE workspace_id = 1 AND id = 1 + i % $n;
	UPDATE crm.companies SET bench_computed = bench_computed || jsonb_build_object('spend_eur', coalesce((bench_computed ->> 'spend_eur')::numeric, 0) + 10) WHERE workspace_id = 1 AND id = co;")
in_side=$(with_writes "UPDATE bench_side.contact_computed SET \"values\" = \"values\" || jsonb_build_object('spend_eur', (\"values\" ->> 'spend_eur')::numeric + 10) WHERE workspace_id = 1 AND contact_id = 1 + i % $n;
	UPDATE bench_side.company_computed SET \"values\" = \"values\" || jsonb_build_object('spend_eur', (\"values\" ->> 'spend_eur')::numeric + 10) WHERE workspace_id = 1 AND company_id = co;")

read -r on_ms off_ms < <(bench_pair "$reset" "$in_properties" "$reset" "$orders_only" 5)
report "order + contact and company value in properties vs order" "$on_ms" "$off_ms" throughput ">= 0.8"
bench_sql "UPDATE crm.property_definitions SET track_history = false WHERE key = 'spend_eur'"
read -r on_ms off_ms < <(bench_pair "$reset" "$in_properties" "$reset" "$orders_only" 5)
report "the same, the values' history off (track_history)" "$on_ms" "$off_ms" throughput ">= 0.8"
read -r on_ms off_ms < <(bench_pair "$reset" "$in_column" "$reset" "$orders_only" 5)
report "order + value in an unindexed column of the record vs order" "$on_ms" "$off_ms" throughput ">= 0.8"
hot=$(psql -X -At -d "$BENCH_DB" -c "SELECT n_tup_hot_upd || ' of ' || n_tup_upd FROM pg_stat_user_tables WHERE relid = 'crm.contacts'::regclass")
report_abs "contacts updates that were HOT (the two cases so far)" "$hot" "" "-"
read -r on_ms off_ms < <(bench_pair "$reset" "$in_side" "$reset" "$orders_only" 5)
report "order + value in a side table (primary key only) vs order" "$on_ms" "$off_ms" throughput ">= 0.8"
# room on the records' pages, so that the column's update can be HOT
bench_sql "ALTER TABLE crm.contacts SET (fillfactor = 70); ALTER TABLE crm.companies SET (fillfactor = 70);"
bench_sql "VACUUM FULL crm.contacts, crm.companies"
bench_sql "SELECT pg_stat_reset()"
read -r on_ms off_ms < <(bench_pair "$reset" "$in_column" "$reset" "$orders_only" 5)
report "the same, the records' tables at fillfactor 70" "$on_ms" "$off_ms" throughput ">= 0.8"
hot=$(psql -X -At -d "$BENCH_DB" -c "SELECT n_tup_hot_upd || ' of ' || n_tup_upd FROM pg_stat_user_tables WHERE relid = 'crm.contacts'::regclass")
report_abs "contacts updates that were HOT at fillfactor 70" "$hot" "" "-"
bench_sql "CREATE INDEX contacts_bench_spend ON crm.contacts (((bench_computed ->> 'spend_eur')::numeric)); ANALYZE crm.contacts;"
read -r on_ms off_ms < <(bench_pair "$reset" "$in_column" "$reset" "$orders_only" 5)
report "order + value in the column, contact's value indexed vs order" "$on_ms" "$off_ms" throughput ">= 0.8"
