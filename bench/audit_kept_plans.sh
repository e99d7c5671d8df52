#!/usr/bin/env bash
# Which kept plans scan whole tables when they were planned over empty ones
# (docs/performance.md, "Kept plans planned over empty tables").
#
# A fresh database whose tables are analyzed while empty, two rollups and a
# dynamic list defined, then one pgbench backend: identify calls, then
# transactions that each insert an order, a deal and an activity and update
# a contact's seats.  Prints the throughput and the sequential scans per
# table that read rows.  A kept plan that reads one parent's rows through a
# sequential scan shows as a table scanned about once a transaction or more.
#
# Usage: PG_CONFIG=... bash bench/audit_kept_plans.sh
#   AUDIT_TX=2000        transactions of each pgbench run
#   AUDIT_STATEMENTS=1   also load pg_stat_statements (nested statements
#                        tracked) and print the statements reading most blocks
#   AUDIT_EXPLAIN=1      also log every statement's plan (auto_explain, nested
#                        statements) and print the statements that scanned
#                        crm's tables sequentially, with their counts
set -euo pipefail
cd "$(dirname "$0")/.."
. test/cluster.sh
tx=${AUDIT_TX:-2000}
if [ "${AUDIT_STATEMENTS:-0}" = 1 ]; then
	CLUSTER_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all"
fi
CLUSTER_EXTRA_CONF=${CLUSTER_EXTRA_CONF:-} cluster_start >/dev/null
work=$(mktemp -d)
chmod 755 "$work"
createdb audit
psql -X -q -v ON_ERROR_STOP=1 -d audit <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
SET crm.workspace_id = 1;
SELECT crm.create_pipeline('Sales', 'b2b_sales');
SELECT crm.define_formula('contact', 'last_order', 'MAX(orders.orderDate)');
SELECT crm.define_formula('contact', 'open_deals', 'COUNT(deals(status = OPEN))');
SELECT crm.create_list('Big', 'contact', 'dynamic', 'properties.seats >= 40');
ALTER DATABASE audit SET crm.workspace_id = 1;
VACUUM ANALYZE;
SQL
[ "${AUDIT_STATEMENTS:-0}" != 1 ] || psql -X -q -d audit -c "CREATE EXTENSION pg_stat_statements"
if [ "${AUDIT_EXPLAIN:-0}" = 1 ]; then
	psql -X -q -d audit <<'SQL'
ALTER DATABASE audit SET session_preload_libraries = 'auto_explain';
ALTER DATABASE audit SET auto_explain.log_min_duration = 0;
ALTER DATABASE audit SET auto_explain.log_nested_statements = on;
SQL
fi
cat >"$work/identify.sql" <<'SQL'
\set i random(1, 1000000)
SELECT crm.identify(email => 'u' || :i || '@example.com', name => 'U ' || :i);
SQL
# contacts that identify made (about tx of them)
cat >"$work/writes.sql" <<SQL
\\set c random(1, $((tx * 3 / 4)))
INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (:c, 10, 'EUR', 'paid', now());
INSERT INTO crm.deals (title, value, contact_id) VALUES ('d', 5, :c);
SELECT crm.log_activity(:c, 'call', 'hi');
UPDATE crm.contacts SET properties = properties || jsonb_build_object('seats', :c % 80) WHERE id = :c;
SQL
psql -X -q -d audit -c "SELECT pg_stat_reset()" >/dev/null
[ "${AUDIT_STATEMENTS:-0}" != 1 ] || psql -X -q -d audit -c "SELECT pg_stat_statements_reset()" >/dev/null
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for f in identify writes; do
	printf '%-9s ' "$f:"
	"$PG_BINDIR/pgbench" -n -M prepared -c 1 -t "$tx" -f "$work/$f.sql" audit 2>&1 |
		grep -E "^tps|ERROR|failed" | head -3
done
# the statistics collector's last report reaches the views within a second
sleep 1
psql -X -d audit -c "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup
	FROM pg_stat_user_tables WHERE seq_tup_read > 0 ORDER BY seq_tup_read DESC, relname"
if [ "${AUDIT_STATEMENTS:-0}" = 1 ]; then
	psql -X -d audit -c "SELECT calls, round((shared_blks_hit + shared_blks_read)::numeric / calls, 1) AS blocks_a_call,
		left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS statement
	FROM pg_stat_statements WHERE calls > 0 ORDER BY shared_blks_hit + shared_blks_read DESC LIMIT 12"
fi
if [ "${AUDIT_EXPLAIN:-0}" = 1 ]; then
	echo "sequential scans of crm's tables, by statement (the plan's first line of text):"
	awk '/LOG:  duration/ { if (q != "") for (t in seen) n[t " | " q]++; delete seen; q = "" }
		/Query Text:/ { sub(/.*Query Text: /, ""); q = substr($0, 1, 140) }
		/Seq Scan on / { t = $0; sub(/.*Seq Scan on /, "", t); sub(/ .*/, "", t); seen[t] = 1 }
		END { if (q != "") for (t in seen) n[t " | " q]++; for (k in n) printf "%7d  %s\n", n[k], k }' \
		"$CLUSTER_DIR/server.log" | sort -rn | head -25
fi
rm -rf "$work"
