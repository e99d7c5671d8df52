# Single-row order inserts and the orders' report summary
# (crm_internal.report_order_days, src/report_summaries.c), every order on
# the same UTC day: N inserts, each its own statement, in ONE transaction
# (a DO loop), for N = 1,000, 5,000 and 20,000, and N inserts committed one
# by one.  crm: the summary's deltas kept in the backend and written once
# per key at commit (a transaction callback, just before commit); against:
# the same build with crm.report_summaries_at_commit off, which writes each statement's
# delta at once into the day's row -- in one transaction a new version of
# that row per statement, none of which can be pruned before the end, so
# every lookup walks them all.  Backend CPU time (the machine is shared);
# the per-insert time of both sides is printed for each N: the crm side's
# should stay flat as N grows.

bench_sql "SELECT crm.create_workspace('txn', 'Txn', 'EUR')"
bench_sql "SET crm.workspace_id = 1; INSERT INTO crm.contacts (name, email) VALUES ('Buyer', 'buyer@example.com')"
fresh="SET crm.workspace_id = 1; SET client_min_messages = warning;
	TRUNCATE crm.orders CASCADE;
	VACUUM (ANALYZE) crm.orders, crm_internal.report_order_days;"
at_commit="SET crm.report_summaries_at_commit = on; $fresh"
at_once="SET crm.report_summaries_at_commit = off; $fresh"

for n in 1000 5000 20000; do
	[ "$n" -lt 20000 ] || bench_diagnostic "$n single-order inserts in one transaction: at commit vs at once (CPU)" || continue
	one_txn="DO \$\$ BEGIN FOR i IN 1..$n LOOP
		INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (1, 10, 'EUR', 'paid', '2026-03-01');
		END LOOP; END \$\$;"
	read -r crm_ms bare_ms < <(bench_cpu_pair "$at_commit" "$one_txn" "$at_once" "$one_txn")
	report "$n single-order inserts in one transaction: at commit vs at once (CPU)" "$crm_ms" "$bare_ms" time "-"
	printf 'per insert, N = %s, one transaction: at commit %s us, at once %s us\n' "$n" \
		"$(awk -v t="$crm_ms" -v n="$n" 'BEGIN{printf "%.0f", t * 1000 / n}')" \
		"$(awk -v t="$bare_ms" -v n="$n" 'BEGIN{printf "%.0f", t * 1000 / n}')"
done

# committed one by one: the flush's cost per transaction (one lookup of the
# key, just before commit) against writing at once
n=5000
each_txn="DO \$\$ BEGIN FOR i IN 1..$n LOOP
	INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (1, 10, 'EUR', 'paid', '2026-03-01');
	COMMIT; END LOOP; END \$\$;"
read -r crm_ms bare_ms < <(bench_cpu_pair "$at_commit" "$each_txn" "$at_once" "$each_txn")
report "$n single-order inserts, each committed: at commit vs at once (CPU)" "$crm_ms" "$bare_ms" time "<= 1.1"
# the summary is exact either way
report_abs "summary orders = orders after the runs" \
	"$(psql -X -At -d "$BENCH_DB" -c "SELECT (SELECT coalesce(sum(orders), 0) FROM crm_internal.report_order_days) = (SELECT count(*) FROM crm.orders)")" "" "t"
