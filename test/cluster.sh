# Shared by test/run, test/demo and bench/run: a throwaway PostgreSQL cluster.
#
# PostgreSQL refuses to run as root, so when we are root the server runs as
# the unprivileged "postgres" user in a directory it owns; clients connect
# over a Unix socket in that directory with trust authentication.
#
# After cluster_start: PGHOST, PGPORT, PGUSER are exported and
# cluster_stop is registered to run on exit.
#
# Nothing here runs when the file is sourced: on a fresh machine pg_config
# exists only once install_prerequisites has installed it.

# The pg_config of Debian's PostgreSQL 15, in its bindir (/usr/bin/pg_config
# comes from libpq-dev and may answer for another major version).
DEBIAN_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

# Sets and exports PG_CONFIG and PG_BINDIR; PG_CONFIG from the environment wins.
pg_locate() {
	if [ -z "${PG_CONFIG:-}" ]; then
		if [ -x "$DEBIAN_PG_CONFIG" ]; then
			PG_CONFIG=$DEBIAN_PG_CONFIG
		else
			PG_CONFIG=$(command -v pg_config) \
				|| { echo "pg_config not found: run as root to install postgresql-server-dev-15, or set PG_CONFIG" >&2; return 1; }
		fi
	fi
	PG_BINDIR=$("$PG_CONFIG" --bindir) || return 1
	export PG_CONFIG PG_BINDIR
}

as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cluster_start() {
	pg_locate || return 1
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
	# the client package ships pg_config and pgxs.mk; the server headers are -dev's
	[ -f "$("${PG_CONFIG:-$DEBIAN_PG_CONFIG}" --includedir-server 2>/dev/null)/postgres.h" ] || need+=(postgresql-server-dev-15)
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
	# src/phone.cpp: the shim over Google's libphonenumber (C++, it brings protobuf and ICU)
	command -v g++ >/dev/null || need+=(g++)
	[ -f /usr/include/phonenumbers/phonenumberutil.h ] || need+=(libphonenumber-dev)
	# worker/, the webhook worker (test/t/webhook.sh): libpq, libcurl and OpenSSL's HMAC
	command -v curl-config >/dev/null || need+=(libcurl4-openssl-dev)
	[ -f /usr/include/openssl/hmac.h ] || need+=(libssl-dev)
	[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
	# node and npm: test/t/api_postgraphile.sh runs PostGraphile from npm (test/api)
	command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
	if [ ${#need[@]} -gt 0 ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "missing packages: ${need[*]} (run as root to install them)" >&2
			return 1
		fi
		echo "installing from Debian: ${need[*]}"
		apt_install "${need[@]}" || return 1
	fi
	pg_locate
}

# apt-get, quiet unless it fails (then its output is shown)
apt_install() {
	local out
	out=$(mktemp --suffix=.crm-apt)
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >"$out" 2>&1; then
		cat "$out" >&2; rm -f "$out"
		echo "apt-get install $* failed" >&2
		return 1
	fi
	rm -f "$out"
}

build_and_install() {
	pg_locate || return 1
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null && make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}
