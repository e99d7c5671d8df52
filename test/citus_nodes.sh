# Sourced by test/citus and bench/cases/citus.sh: a Citus coordinator and two
# workers on this machine, each a throwaway cluster of its own (run as the
# unprivileged "postgres" user when we are root, as test/cluster.sh does),
# talking over Unix sockets.  After citus_nodes_start: CITUS_DIR, and
# CITUS_PORTS (coordinator first); citus_nodes_stop stops them.

citus_node_start() { # dir port
	local dir=$1 port=$2
	as_server_user "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_preload_libraries = 'citus'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 128MB
max_prepared_transactions = 60
citus.shard_count = ${CITUS_SHARD_COUNT:-8}
# how the other nodes reach this one (a shard move connects back to it)
citus.local_hostname = '$dir'
CONF
	as_server_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null \
		|| { cat "$dir/server.log"; return 1; }
}

citus_nodes_start() {
	local base i
	base=$((50000 + RANDOM % 9000))
	CITUS_DIR=$(mktemp -d --suffix=.crm-citus)
	chmod 755 "$CITUS_DIR"
	CITUS_PORTS=()
	for i in 0 1 2; do
		mkdir -p "$CITUS_DIR/n$i"
		chmod 755 "$CITUS_DIR/n$i"
		[ "$(id -u)" = 0 ] && chown postgres: "$CITUS_DIR/n$i"
		CITUS_PORTS+=($((base + i)))
		citus_node_start "$CITUS_DIR/n$i" "${CITUS_PORTS[$i]}" || return 1
	done
	export CITUS_DIR
}

# psql against node i (0 the coordinator) and a database
citus_psql() { # node db psql-args...
	local i=$1 db=$2
	shift 2
	psql -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR/n$i" -p "${CITUS_PORTS[$i]}" -U postgres -d "$db" "$@"
}

# A database with citus and crm on every node, the workers added to the coordinator
citus_database() { # db
	local db=$1 i
	for i in 0 1 2; do
		citus_psql "$i" postgres -c "CREATE DATABASE $db" &&
		citus_psql "$i" "$db" -c "CREATE EXTENSION citus; CREATE EXTENSION crm CASCADE;" || return 1
	done
	citus_psql 0 "$db" -c "SELECT citus_set_coordinator_host('$CITUS_DIR/n0', ${CITUS_PORTS[0]})" \
		-c "SELECT citus_add_node('$CITUS_DIR/n1', ${CITUS_PORTS[1]})" \
		-c "SELECT citus_add_node('$CITUS_DIR/n2', ${CITUS_PORTS[2]})" >/dev/null
}

citus_nodes_stop() {
	local i
	[ -n "${CITUS_DIR:-}" ] || return 0
	for i in 0 1 2; do
		[ -d "$CITUS_DIR/n$i/data" ] && as_server_user "$PG_BINDIR/pg_ctl" -D "$CITUS_DIR/n$i/data" -m fast -w stop >/dev/null 2>&1
	done
	[ -n "${KEEP_CLUSTER:-}" ] || rm -rf "$CITUS_DIR"
}
