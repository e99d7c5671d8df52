#!/usr/bin/env bash
# A/B of crm builds in backend CPU (docs/performance.md, "The order insert
# with a contact and a company rollup (rollby)"): each build's crm.so is
# installed in turn into PG_CONFIG's pkglibdir, alternately, ROUNDS times;
# each run is a new session that sends N single-order transactions (one
# autocommit INSERT a statement, as a frontend sends them) into a database
# of 20,000 contacts, each the primary employee of one of 5,000 companies,
# with a contact and a company SUM rollup defined (AB_ROLLUPS=0: none), from
# no orders and vacuumed tables; AB_BULK=1: the N orders in one statement
# instead.  Prints each run's backend CPU in ms and
# each build's median.  Needs a running cluster (PGHOST, PGPORT, PGUSER;
# test/cluster.sh) whose server runs from PG_CONFIG's installation, and
# restores the first build's crm.so at the end.
# Usage: PG_CONFIG=... bash bench/rollups_ab.sh ROUNDS NAME=path/crm.so ...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rounds=$1
shift
n=${N:-2000}
rollups=${AB_ROLLUPS:-1}
db=crm_rollups_ab_$rollups
if [ -z "$(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
	createdb "$db"
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
SELECT crm.create_workspace('ab', 'A/B') IS NOT NULL;
SELECT crm.use_workspace('ab') IS NOT NULL;
SELECT format('ALTER DATABASE %I SET crm.workspace_id = %s', current_database(), crm.current_workspace()) \gexec
INSERT INTO crm.contacts (name, email) SELECT 'C ' || i, 'c' || i || '@example.com' FROM generate_series(1, 20000) i;
INSERT INTO crm.companies (name) SELECT 'Co ' || i FROM generate_series(1, 5000) i;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT i, 1 + i % 5000, true FROM generate_series(1, 20000) i;
SELECT crm.define_formula('contact', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)')
 WHERE $rollups = 1;
SELECT crm.define_formula('company', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)')
 WHERE $rollups = 1;
SQL
	psql -X -q -d "$db" -c "VACUUM ANALYZE" >/dev/null
fi
inserts=$(mktemp)
trap 'rm -f "$inserts"' EXIT
if [ -n "${AB_BULK:-}" ]; then
	echo "INSERT INTO crm.orders (contact_id, value, currency, status)
	SELECT i * 7919 % 20000 + 1, 10, 'EUR', 'paid' FROM generate_series(1, $n) i;" >"$inserts"
else
	for ((i = 1; i <= n; i++)); do
		echo "INSERT INTO crm.orders (contact_id, value, currency, status) VALUES ($(( (i * 7919) % 20000 + 1 )), 10, 'EUR', 'paid');"
	done >"$inserts"
fi
declare -A runs
for ((r = 0; r < rounds; r++)); do
	for build in "$@"; do
		name=${build%%=*}
		bench_use_library "${build#*=}"
		psql -X -q -d "$db" -c "TRUNCATE crm.orders, crm.events, crm.value_history" \
			-c "VACUUM ANALYZE crm.contacts, crm.companies, crm.orders" >/dev/null
		ms=$(BENCH_DB=$db bench_cpu_ms "SELECT count(*) FROM crm.contacts WHERE id = 1;" "$(cat "$inserts")")
		runs[$name]="${runs[$name]:-} $ms"
		echo "round $r $name $ms ms, load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
first=$1
bench_use_library "${first#*=}"
for build in "$@"; do
	name=${build%%=*}
	# shellcheck disable=SC2086
	echo "$name: median $(printf '%s\n' ${runs[$name]} | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') ms for $n orders (runs:${runs[$name]})"
done
