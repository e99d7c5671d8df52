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
	citus_nodes_stop
	trap cluster_stop EXIT
	bench_sql "DELETE FROM crm.contacts; DELETE FROM crm.workspaces WHERE id > 1"
fi
