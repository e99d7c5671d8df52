# Helpers for the shell TAP tests (sourced; needs the cluster that test/run
# started: PGHOST, PGPORT, PGUSER in the environment).
PG_BINDIR=$("${PG_CONFIG:-pg_config}" --bindir)
n=0
failures=0
ok() {  # ok <condition-exit-status> <description>
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failures=$((failures + 1)); fi
}
q() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fresh_db() { "$PG_BINDIR/dropdb" --if-exists "$1" 2>/dev/null; "$PG_BINDIR/createdb" "$1"; }
