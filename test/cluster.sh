# Shared by test/run, test/demo and bench/run: a throwaway PostgreSQL cluster.
#
# PostgreSQL refuses to run as root, so when we are root the server runs as
# the unprivileged "postgres" user in a directory it owns; clients connect
# over a Unix socket in that directory with trust authentication.
#
# After cluster_start: PGHOST, PGPORT, PGUSER are exported and
# cluster_stop is registered to run on exit.

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)

as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cluster_start() {
	CLUSTER_DIR=$(mktemp -d --suffix=.crm-cluster)
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
	export PGPORT=${PGPORT:-$((50000 + RANDOM % 10000))}
	export PGHOST=$CLUSTER_DIR
	export PGUSER=postgres
	export PGDATABASE=postgres
	as_server_user "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
		|| { cat "$CLUSTER_DIR/initdb.log"; return 1; }
	cat >>"$CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
port = $PGPORT
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
shared_buffers = 512MB
${CLUSTER_EXTRA_CONF:-}
CONF
	as_server_user "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null \
		|| { cat "$CLUSTER_DIR/server.log"; return 1; }
	trap cluster_stop EXIT
}

cluster_stop() {
	if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
		as_server_user "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1
		[ -n "${KEEP_CLUSTER:-}" ] || rm -rf "$CLUSTER_DIR"
	fi
}

# Install what a fresh Debian 12 machine lacks (only when we are root).
install_prerequisites() {
	local need=()
	command -v "$PG_CONFIG" >/dev/null && [ -f "$("$PG_CONFIG" --pgxs 2>/dev/null)" ] || need+=(postgresql-server-dev-15)
	[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
	[ -f /usr/share/postgresql/15/extension/pgtap.control ] || need+=(postgresql-15-pgtap)
	command -v pg_prove >/dev/null || need+=(libtap-parser-sourcehandler-pgtap-perl)
	# clang: PGXS compiles the JIT bitcode with clang-14, the fuzz harness with clang
	command -v clang >/dev/null && command -v clang-14 >/dev/null || need+=(clang clang-14)
	command -v prove >/dev/null || need+=(perl)
	command -v valgrind >/dev/null || need+=(valgrind)
	[ -d /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux ] || need+=(libclang-rt-14-dev)
	command -v make >/dev/null || need+=(make)
	command -v gcc >/dev/null || need+=(gcc)
	[ ${#need[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${need[*]} (run as root to install them)" >&2
		return 1
	fi
	echo "installing: ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

build_and_install() {
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null && make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}
