# Applications call crm from many connections at once, each call a round
# trip: pgbench mixes (bench/pgbench/*.sql; prepared statements, the Unix
# socket) at 1, 4 and 16 clients, each crm mix against its bare-PostgreSQL
# mix in the same run, alternately, CONC_SECONDS (3) per point.  Reported:
# throughput ratio, p50/p99 latency of each side, and the crm side's failed
# transactions, serialization failures, deadlocks and aborted clients
# (target: 0); CONC_MIXES names the mixes to run (identify, kanban, churn;
# default all).  BENCH_DIAGNOSTICS=1 adds the diagnostic variants (2
# minutes at the default points): identify with crm.notify_events = off and
# with the notifier, the list churn with notify off.  After the kanban mix the positions of every stage must be a
# total order; after the list churn every list's members must equal its
# recomputation.  Sourced by bench/run.
. bench/lib_pgbench.sh
export BENCH_CONC_RESULTS=${BENCH_CONC_RESULTS:-$BENCH_RESULTS}
nseed=$((SCALE / 2))
npairs=$((SCALE / 4))
conc_fail() { printf 'concurrency: %s\n' "$1" | tee -a "$BENCH_RESULTS" >&2; }
# CONC_MIXES: the mixes to run (default all: identify kanban churn)
conc_mix() { [[ " ${CONC_MIXES:-identify kanban churn} " == *" $1 "* ]]; }

echo "concurrency: $CONC_SECONDS s per point, load $(cut -d' ' -f1-3 /proc/loadavg) before the mixes"
conc_header
if conc_mix identify; then
	# identify: seeded returning visitors, and pairs of contacts (one with the
	# email, one with the phone) for the merging calls; the bare table the same
	bench_sql "CREATE TABLE bench_bare_contacts (LIKE crm.contacts INCLUDING ALL)"
	for t in crm.contacts bench_bare_contacts; do
		bench_sql "INSERT INTO $t (email, name, identity_source) SELECT 'seed' || g || '@example.com', 'Seed ' || g, 'self_reported' FROM generate_series(1, $nseed) g;
			INSERT INTO $t (email, identity_source) SELECT 'pm' || g || '@example.com', 'self_reported' FROM generate_series(1, $npairs) g;
			INSERT INTO $t (phone, identity_source) SELECT '+336' || lpad(g::text, 8, '0'), 'self_reported' FROM generate_series(1, $npairs) g;
	"
		bench_sql "VACUUM ANALYZE $t"
	done
	# each run merges pairs of its own half: a pair merged once is one contact after
	conc_pair identify bench/pgbench/identify_crm.sql bench/pgbench/identify_bare.sql ">= 0.7" \
		-D nseed=$nseed -D npairs=$((npairs / 3)) -D pairbase=0
	if bench_diagnostic "identify, notify off and notifier 100 ms (pgbench)"; then
		# the same with crm.notify_events = off (docs/events.md): no commit queues on the notify lock
		psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB SET crm.notify_events = off"
		conc_pair "identify, notify off" bench/pgbench/identify_crm.sql bench/pgbench/identify_bare.sql ">= 0.7" \
			-D nseed=$nseed -D npairs=$((npairs / 3)) -D pairbase=$((npairs / 3))
		# ... and with the notifier waking LISTEN crm_events every 100 ms instead
		psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB SET crm.notify_interval = '100ms'"
		conc_pair "identify, notifier 100 ms" bench/pgbench/identify_crm.sql bench/pgbench/identify_bare.sql ">= 0.7" \
			-D nseed=$nseed -D npairs=$((npairs / 3)) -D pairbase=$((2 * npairs / 3))
		psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB RESET crm.notify_events; ALTER DATABASE $BENCH_DB RESET crm.notify_interval"
		psql -X -q -d "$BENCH_DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'crm notifier'" >/dev/null
	fi
	merged=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM crm.contacts WHERE status = 'merged'")
	dups=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM (SELECT email FROM crm.contacts WHERE status < 'merged' AND email IS NOT NULL GROUP BY email HAVING count(*) > 1) d")
	echo "identify: $merged contacts merged, $dups emails held twice"
	[ "$dups" = 0 ] || conc_fail "identify left $dups emails on two live contacts"
	bench_sql "DROP TABLE bench_bare_contacts; SET client_min_messages = warning; TRUNCATE crm.contacts, crm.events CASCADE"
fi

if conc_mix kanban; then
	# kanban: 400 cards on the four open stages of one pipeline, and a bare copy
	bench_sql "DO \$\$ BEGIN PERFORM crm.create_pipeline('Bench kanban', 'b2b_sales'); END \$\$;
		INSERT INTO crm.deals (pipeline_id, stage_id, title)
		SELECT p.id, s.id, 'card ' || g FROM crm.pipelines p, generate_series(1, 400) g
		  JOIN LATERAL (SELECT id FROM crm.stages WHERE pipeline_id = p.id AND kind = 'open' ORDER BY position OFFSET g % 4 LIMIT 1) s ON true
		 WHERE p.name = 'Bench kanban';
		CREATE TABLE bench_bare_deals AS SELECT id, stage_id, position FROM crm.deals;
		ALTER TABLE bench_bare_deals ADD PRIMARY KEY (id);
		CREATE INDEX ON bench_bare_deals (stage_id, position);
		-- a card dropped above the first card of a stage; when that card moved
		-- away before the move got the stage (22023), to the end, as a board re-drops it
		CREATE FUNCTION bench_drop_above(deal bigint, stage bigint) RETURNS bigint LANGUAGE plpgsql AS \$\$
		BEGIN
			RETURN (crm.move_deal(deal, stage, (SELECT id FROM crm.deals WHERE stage_id = stage AND id <> deal
													ORDER BY position LIMIT 1))).position;
		EXCEPTION WHEN invalid_parameter_value THEN
			RETURN (crm.move_deal(deal, stage)).position;
		END \$\$;"
	bench_sql "VACUUM ANALYZE crm.deals, bench_bare_deals"
	read -r first_deal last_deal first_stage last_stage n_open < <(psql -X -At -F' ' -d "$BENCH_DB" -c "
		SELECT (SELECT min(id) FROM crm.deals), (SELECT max(id) FROM crm.deals), min(s.id), max(s.id), count(*)
		  FROM crm.stages s JOIN crm.pipelines p ON p.id = s.pipeline_id WHERE p.name = 'Bench kanban' AND s.kind = 'open'")
	[ $((last_stage - first_stage + 1)) = "$n_open" ] || conc_fail "the open stages' ids are not contiguous"
	conc_pair kanban bench/pgbench/kanban_crm.sql bench/pgbench/kanban_bare.sql "-" \
		-D first_deal="$first_deal" -D last_deal="$last_deal" -D first_stage="$first_stage" -D last_stage="$last_stage"
	ties=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM (SELECT stage_id, position FROM crm.deals GROUP BY 1, 2 HAVING count(*) > 1) t")
	echo "kanban: $ties positions shared by two cards of a stage"
	[ "$ties" = 0 ] || conc_fail "kanban: $ties positions shared by two cards of a stage (not a total order)"
	bench_sql "DROP TABLE bench_bare_deals; DROP FUNCTION bench_drop_above(bigint, bigint); SET client_min_messages = warning; TRUNCATE crm.deals, crm.events CASCADE"
fi

if conc_mix churn; then
	# list churn: 100 dynamic lists that all read seats (made first, so the
	# contacts' INSERT computes their members in one pass), 10,000 contacts; the
	# updates with the lists against the same updates with them switched to
	# snapshot lists (kept, never evaluated), behind the row checks' back; the
	# lists are recomputed before each run with them, outside the timed part
	bench_sql "SELECT crm.create_list('churn ' || k, 'contact', 'dynamic',
			format('properties.seats >= %s AND %s', k % 50,
				(ARRAY['tags CONTAINS ''vip''', 'city = ''Paris''', 'properties.plan = ''pro''', 'city IN (''Rome'', ''London'')'])[1 + k % 4]))
		  FROM generate_series(1, 100) k;
		INSERT INTO crm.contacts (name, city, tags, properties)
		SELECT 'Churn ' || g, (ARRAY['Paris', 'London', 'Rome', NULL])[1 + g % 4],
			   CASE WHEN g % 5 = 0 THEN '{vip}' ELSE '{}' END::text[],
			   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + g % 3], 'seats', g % 50)
		  FROM generate_series(1, 10000) g;"
	bench_sql "VACUUM ANALYZE crm.contacts, crm.list_members"
	read -r first_contact last_contact < <(psql -X -At -F' ' -d "$BENCH_DB" -c "SELECT min(id), max(id) FROM crm.contacts")
	set_kind() {
		bench_sql "ALTER TABLE crm.lists DISABLE TRIGGER lists_check;
			UPDATE crm.lists SET kind = '$1' WHERE name LIKE 'churn %';
			ALTER TABLE crm.lists ENABLE TRIGGER lists_check;"
	}
	refresh_all="SELECT coalesce(sum(crm.refresh_list(id)), 0) FROM crm.lists WHERE name LIKE 'churn %'"
	# each point with NOTIFY on (the default), and off with BENCH_DIAGNOSTICS:
	# on, every writing commit queues on the database's notify lock, which is
	# then the churn's only wait
	bench_diagnostic "list churn, 100 lists, notify off (pgbench)" && notify_modes="on off" || notify_modes=on
	for notify in $notify_modes; do
		psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB SET crm.notify_events = $notify"
		for c in ${CONC_CLIENTS:-1 4 16}; do
			set_kind snapshot
			none=$(pgbench_point bench/pgbench/lists_churn.sql "$c" -D first_contact="$first_contact" -D last_contact="$last_contact")
			set_kind dynamic
			psql -X -At -d "$BENCH_DB" -c "$refresh_all" >/dev/null
			with=$(pgbench_point bench/pgbench/lists_churn.sql "$c" -D first_contact="$first_contact" -D last_contact="$last_contact")
			# a time ratio, as the single-session list cases: none tps / lists tps
			report_conc "list churn, 100 lists$([ $notify = off ] && echo ', notify off')" "$c" "$with" "$none" ">= 0.77"
		done
	done
	psql -X -q -d "$BENCH_DB" -c "ALTER DATABASE $BENCH_DB RESET crm.notify_events"
	# member_count as the commits left it, against the members
	counts=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM crm.lists l WHERE l.name LIKE 'churn %'
		AND l.member_count <> (SELECT count(*) FROM crm.list_members m WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id)")
	echo "list churn: $counts lists whose member_count differs from their members"
	[ "$counts" = 0 ] || conc_fail "list churn: $counts lists whose member_count differs from their members"
	drift=$(psql -X -At -d "$BENCH_DB" -c "$refresh_all")
	echo "list churn: $drift memberships differ from recomputation"
	[ "$drift" = 0 ] || conc_fail "list churn: $drift memberships differ from recomputation"
	# apart: the DELETE queues the members' count trigger, which a TRUNCATE in the same transaction refuses
	bench_sql "SET client_min_messages = warning; DELETE FROM crm.lists WHERE name LIKE 'churn %'"
	bench_sql "SET client_min_messages = warning; TRUNCATE crm.contacts, crm.events CASCADE"
fi
