#!/usr/bin/env bash
# Two builds of crm.so compared on the identify loop of bench/cases/identify.sh
# (10,000 calls, one transaction each, half creating a contact and half
# finding one, 100,000 seeded contacts), in backend CPU (bench_cpu_ms), in one
# kept cluster: the installed library is replaced by A's, then B's, before
# each round, so that the two sides differ by the library only and meet the
# same data and the same load.  Each round runs in a new session, which loads
# the library then in place (a rename: running backends keep theirs).
# Prints each round's pair and the load; ends with B installed.
#
# Usage: PG_CONFIG=... bash bench/ab_identify.sh A.so B.so [ROUNDS]
#   e.g. A.so built from main (git archive | tar -x; make), B.so from the branch
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-7}
. test/cluster.sh
. bench/lib.sh
pg_locate
export BENCH_DB=bench SCALE=${SCALE:-100000}
CLUSTER_EXTRA_CONF="work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
checkpoint_timeout = 30min" cluster_start
bench_use_library "$B"
createdb "$BENCH_DB"
psql -X -q -d "$BENCH_DB" -c "SET client_min_messages = warning; CREATE EXTENSION crm CASCADE"
psql -X -q -d "$BENCH_DB" -c "INSERT INTO crm.contacts (email, name) SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $SCALE) g"
psql -X -q -d "$BENCH_DB" -c "VACUUM ANALYZE crm.contacts"
calls=$((SCALE / 10)) half=$((SCALE / 20))
loop="DO \$\$ BEGIN
	FOR i IN 1..$calls LOOP
		PERFORM crm.identify(email => 'IDB' || (i % $half) || '@Example.com', name => 'User ' || i);
		COMMIT;
	END LOOP;
END \$\$;"
clean="SET session_replication_role = replica; DELETE FROM crm.contacts WHERE email LIKE 'idb%';
	RESET session_replication_role; VACUUM crm.contacts;"
# a round of each first, not counted: the caches and the table's pages
for s in "$A" "$B"; do bench_use_library "$s"; bench_cpu_ms "$clean" "$loop" >/dev/null; done
for ((r = 1; r <= ROUNDS; r++)); do
	bench_use_library "$A"; a=$(bench_cpu_ms "$clean" "$loop")
	bench_use_library "$B"; b=$(bench_cpu_ms "$clean" "$loop")
	echo "round $r: A $a ms, B $b ms, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
bench_use_library "$B"
