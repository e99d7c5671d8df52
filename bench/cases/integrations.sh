# Integration fan-out (issue 20).  A contact update in a workspace where
# five integrations subscribe to contacts (each with a CQL sync filter and
# a field mapping) against the same updates in a workspace with none, one
# UPDATE per transaction, alternately five times.  Target: >= 0.8 (the
# write path writes its event as always; the fan-out runs in the claim).
# Then the fan-out itself: the five integrations claim, and the worker
# acknowledges, every delivery those updates made, against the updates
# alone (reported as time: what delivering costs per update).
INTEG_UPDATES=${INTEG_UPDATES:-$((SCALE / 10))}

none_ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-none', 'None')")
five_ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-five', 'Five')")
for ws in "$none_ws" "$five_ws"; do
	bench_sql "SET crm.workspace_id = $ws; INSERT INTO crm.contacts (email, name, lifecycle_stage)
		SELECT 'seed' || g || '@example.com', 'Seed ' || g, CASE WHEN g % 2 = 0 THEN 'customer' ELSE 'lead' END::crm.lifecycle_stage
		  FROM generate_series(1, $SCALE) g"
done
bench_sql "SET crm.workspace_id = $five_ws;
	INSERT INTO crm.integrations (key, kind, config, sync_filters, field_mappings)
	SELECT 'bench_' || g, 'webhook', '{\"url\": \"http://127.0.0.1:9/hook\"}',
		   '{\"contact\": \"lifecycleStage = CUSTOMER\"}',
		   '{\"contact\": {\"EMAIL\": {\"field\": \"email\", \"transform\": \"upper\"}, \"NAME\": \"name\", \"CITY\": \"city\"}}'
	  FROM generate_series(1, 5) g"
bench_sql "VACUUM ANALYZE crm.contacts"

updates() {  # updates <workspace id>: one contact update per transaction
	echo "SET crm.workspace_id = $1;
	DO \$\$ DECLARE lo bigint := (SELECT min(id) FROM crm.contacts WHERE workspace_id = $1); BEGIN
		FOR i IN 0..$INTEG_UPDATES - 1 LOOP
			UPDATE crm.contacts SET city = 'City ' || (random() * 1000)::int WHERE workspace_id = $1 AND id = lo + (i * 7) % $SCALE;
			COMMIT;
		END LOOP;
	END \$\$;"
}
read -r five_ms none_ms < <(bench_pair "" "$(updates "$five_ws")" "" "$(updates "$none_ws")")
report "contact update, 5 integrations vs none ($INTEG_UPDATES updates)" "$five_ms" "$none_ms" throughput ">= 0.8"

# the deliveries of one run of updates, claimed and acknowledged in
# batches of 500 by each of the five integrations
drain="SET crm.workspace_id = $five_ws;
	DO \$\$ DECLARE n int; BEGIN
		FOR g IN 1..5 LOOP
			LOOP
				SELECT count(crm.ack_delivery(d.id)) INTO n FROM crm.claim_deliveries('bench_' || g, 500) d;
				COMMIT;
				EXIT WHEN n = 0;
			END LOOP;
		END LOOP;
	END \$\$;"
bench_ms "" "$drain" 1 >/dev/null
upd_ms=$(bench_ms "" "$(updates "$five_ws")" 1)
drain_ms=$(bench_ms "" "$drain" 1)
report "fan-out, claim and ack of those updates' deliveries vs the updates" "$drain_ms" "$upd_ms" time "(none)"
bench_sql "DELETE FROM crm.workspaces WHERE slug IN ('bench-none', 'bench-five')"
