# crm.identify and crm.find_contacts for one workspace on a Citus coordinator
# with two workers (test/citus_nodes.sh, all on this machine) against the
# same calls on bench/run's single node, in the same run (issue 21's
# measure: within 1.5x, the extra hop; docs/scaling.md).  Both hold
# CITUS_SCALE contacts in each of four workspaces; the calls run in
# workspace 1, each its own transaction; the sides alternate five times
# (medians).  Kept small (the three nodes share the machine): CITUS_SCALE
# and CITUS_CALLS say how small.  Skipped where Citus is not installed.
CITUS_SCALE=${CITUS_SCALE:-2000}
CITUS_CALLS=${CITUS_CALLS:-300}

if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
	report_abs "Citus: not installed (../shared/citus/install)" - - "-"
else
	. test/citus_nodes.sh
	# the nodes go with bench/run's cluster, whatever fails
	trap 'citus_nodes_stop; cluster_stop' EXIT
	citus_nodes_start >/dev/null && citus_database bench >/dev/null 2>&1 &&
		citus_psql 0 bench -c "SELECT count(*) FROM crm.distribute()" >/dev/null || { echo "the Citus nodes did not start" >&2; exit 1; }
	citus_workspaces="INSERT INTO crm.workspaces (slug, name) SELECT 'w' || g, 'W' || g FROM generate_series(2, 4) g"
	citus_load="DO \$\$ BEGIN
		FOR w IN 1..4 LOOP
			PERFORM set_config('crm.workspace_id', w::text, false);
			INSERT INTO crm.contacts (email, name)
			SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $CITUS_SCALE) g;
			COMMIT;
		END LOOP;
	END \$\$;"
	bench_sql "$citus_workspaces"
	bench_sql "$citus_load"
	bench_sql "VACUUM ANALYZE"
	citus_psql 0 bench -c "$citus_workspaces" -c "$citus_load" -c "VACUUM ANALYZE" >/dev/null

	# The timed runs: the single node through bench_ms, Citus the same way on its coordinator
	citus_ms() { PGHOST=$CITUS_DIR/n0 PGPORT=${CITUS_PORTS[0]} bench_ms "" "$1" 1; }
	for c in identify find; do
		if [ $c = identify ]; then
			call="PERFORM crm.identify(email => 'seed' || (1 + i * 7 % $CITUS_SCALE) || '@example.com')"
		else
			call="PERFORM count(*) FROM crm.find_contacts('email = ''seed' || (1 + i * 7 % $CITUS_SCALE) || '@example.com''')"
		fi
		sql="SET crm.workspace_id = 1;
		DO \$\$ BEGIN
			FOR i IN 1..$CITUS_CALLS LOOP
				$call;
				COMMIT;
			END LOOP;
		END \$\$;"
		one=() dist=()
		for r in 1 2 3 4 5; do
			one+=("$(bench_ms "" "$sql" 1)")
			dist+=("$(citus_ms "$sql")")
		done
		report "Citus: crm.$([ $c = identify ] && echo 'identify()' || echo 'find_contacts()') ($CITUS_CALLS calls, 3 nodes vs 1)" \
			"$(printf '%s\n' "${dist[@]}" | sort -g | sed -n 3p)" "$(printf '%s\n' "${one[@]}" | sort -g | sed -n 3p)" time "<= 1.5"
	done

	# The same identify calls as an application makes them: one statement a
	# call from the client, each its own transaction, timed end to end.
	# crm.identify on the coordinator sends the whole call to the
	# workspace's worker itself (src/citus_calls.c); for comparison, Citus's
	# own function call delegation of a wrapper taking the workspace as an
	# argument (create_distributed_function by it, co-located with
	# crm.contacts), which Citus delegates for a call the client makes only.
	# The wrapper is this case's, not crm's (docs/scaling.md).
	citus_psql 0 bench >/dev/null <<'SQL'
CREATE FUNCTION public.identify_in(ws bigint, email text) RETURNS bigint LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM set_config('crm.workspace_id', ws::text, true);
	RETURN crm.identify(email => identify_in.email);
END $f$;
SELECT create_distributed_function('public.identify_in(bigint,text)', 'ws', colocate_with => 'crm.contacts');
SQL
	# And the hop alone: a read of the same contacts by their unique key, which Citus
	# routes to the worker's shard as a plain statement (its fast-path
	# router plan), against the same read on one node: what any call from
	# the coordinator costs before crm does anything (docs/scaling.md).
	calls=$(mktemp) delegated=$(mktemp) reads=$(mktemp)
	{ echo "SET crm.workspace_id = 1;"
	  for ((i = 1; i <= CITUS_CALLS; i++)); do echo "SELECT crm.identify(email => 'seed$((1 + i * 7 % CITUS_SCALE))@example.com');"; done; } >"$calls"
	for ((i = 1; i <= CITUS_CALLS; i++)); do echo "SELECT public.identify_in(1, 'seed$((1 + i * 7 % CITUS_SCALE))@example.com');"; done >"$delegated"
	for ((i = 1; i <= CITUS_CALLS; i++)); do echo "SELECT id FROM crm.contacts WHERE workspace_id = 1 AND email = 'seed$((1 + i * 7 % CITUS_SCALE))@example.com';"; done >"$reads"
	client_ms() { # psql-connection-args... file: wall time of the file's statements, one at a time
		local file=${*: -1} t0
		t0=$(date +%s%N)
		psql -X -q -v ON_ERROR_STOP=1 "${@:1:$#-1}" -f "$file" >/dev/null || return 1
		echo $(( ($(date +%s%N) - t0) / 1000000 ))
	}
	one=() dist=() dele=() read_one=() read_dist=()
	for r in 1 2 3 4 5; do
		one+=("$(client_ms -d "$BENCH_DB" "$calls")")
		dist+=("$(client_ms -h "$CITUS_DIR/n0" -p "${CITUS_PORTS[0]}" -U postgres -d bench "$calls")")
		dele+=("$(client_ms -h "$CITUS_DIR/n0" -p "${CITUS_PORTS[0]}" -U postgres -d bench "$delegated")")
		read_one+=("$(client_ms -d "$BENCH_DB" "$reads")")
		read_dist+=("$(client_ms -h "$CITUS_DIR/n0" -p "${CITUS_PORTS[0]}" -U postgres -d bench "$reads")")
	done
	rm -f "$calls" "$delegated" "$reads"
	spread_record "${dist[*]}" "${one[*]}"
	report "Citus: crm.identify() from the client ($CITUS_CALLS calls, 3 nodes vs 1)" \
		"$(median "${dist[@]}")" "$(median "${one[@]}")" time "<= 1.5"
	spread_record "${dele[*]}" "${one[*]}"
	report "Citus: identify delegated to the worker ($CITUS_CALLS calls, 3 nodes vs 1)" \
		"$(median "${dele[@]}")" "$(median "${one[@]}")" time "<= 1.5"
	spread_record "${read_dist[*]}" "${read_one[*]}"
	report "Citus: the hop alone, a routed unique-key read ($CITUS_CALLS statements, 3 nodes vs 1)" \
		"$(median "${read_dist[@]}")" "$(median "${read_one[@]}")" time "-"
	# what the hop adds to each statement, against what 1.5x of a one-node identify allows
	report_abs "Citus: the hop's cost a statement / half a one-node identify" \
		"$(awk -v d="$(median "${read_dist[@]}")" -v o="$(median "${read_one[@]}")" -v i="$(median "${one[@]}")" -v n="$CITUS_CALLS" \
			'BEGIN {printf "%.3f / %.3f", (d - o) / n, i / n / 2}')" ms "-"
	citus_nodes_stop
	trap cluster_stop EXIT
	bench_sql "DELETE FROM crm.contacts; DELETE FROM crm.workspaces WHERE id > 1"
fi
