# Integration fan-out (issue 20).  A contact update in a workspace where
# five integrations subscribe to contacts (each with a CQL sync filter and
# a field mapping) against the same updates in a workspace with none, one
# UPDATE per transaction, alternately five times.  Target: >= 0.8 (the
# write path writes its event as always; the fan-out runs in the claim).
# Then the fan-out itself: the five integrations claim, and the worker
# acknowledges, every delivery those updates made, against the updates
# alone (reported as time: what delivering costs per update).  Last, the
# webhook worker's deliveries per second against a local receiver.
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

# The fan-out's own cost (informational): BENCH_DIAGNOSTICS=1
if bench_diagnostic "fan-out alone, and with claim and ack, of those updates"; then
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
	# the fan-out alone (crm_internal.integration_pump, as the owner) of one
	# run of updates for the five integrations, then the claims and acks
	pump="SET crm.workspace_id = $five_ws;
		SELECT sum(crm_internal.integration_pump(i, 100000)) FROM crm.integrations i WHERE i.workspace_id = $five_ws"
	upd_ms=$(bench_ms "" "$(updates "$five_ws")" 1)
	pump_ms=$(bench_ms "" "$pump" 1)
	report "fan-out alone of those updates' events vs the updates" "$pump_ms" "$upd_ms" time "(none)"
	bench_ms "" "$drain" 1 >/dev/null
	upd_ms=$(bench_ms "" "$(updates "$five_ws")" 1)
	drain_ms=$(bench_ms "" "$drain" 1)
	report "fan-out, claim and ack of those updates' deliveries vs the updates" "$drain_ms" "$upd_ms" time "(none)"
fi
bench_sql "DELETE FROM crm.workspaces WHERE slug IN ('bench-none', 'bench-five')"

# The webhook worker against the local receiver (test/webhook_receiver.pl,
# no failures, no delay): one integration of kind webhook with a sync
# filter and a mapping, the creation and one update of WORKER_CONTACTS
# contacts (half of them customers: one upsert per event of a customer),
# timed from the worker's start to the last delivery done, the fan-out
# included.  Reported as deliveries per second.
# Informational: BENCH_DIAGNOSTICS=1.
WORKER_CONTACTS=${WORKER_CONTACTS:-$((SCALE / 10))}
if ! bench_diagnostic "webhook worker, deliveries to the local receiver"; then
	:
elif make -s -C worker PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1; then
	wtmp=$(mktemp -d)
	perl test/webhook_receiver.pl "$wtmp/port" "$wtmp/received" 'bench secret' 0 0 &
	rpid=$!
	for _ in $(seq 1 50); do [ -s "$wtmp/port" ] && break; sleep 0.1; done
	wport=$(cat "$wtmp/port")
	wws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-worker', 'Worker')")
	bench_sql "DROP ROLE IF EXISTS crm_bench_worker; CREATE ROLE crm_bench_worker LOGIN;
		SELECT crm.grant_access('crm_bench_worker', access => 'service');
		SET crm.workspace_id = $wws;
		INSERT INTO crm.integrations (key, kind, config, secret, sync_filters, field_mappings)
		VALUES ('bench_hook', 'webhook', jsonb_build_object('url', 'http://127.0.0.1:$wport/hook'), 'bench secret',
				'{\"contact\": \"lifecycleStage = CUSTOMER\"}',
				'{\"contact\": {\"EMAIL\": {\"field\": \"email\", \"transform\": \"upper\"}, \"NAME\": \"name\", \"CITY\": \"city\"}}')"
	bench_sql "SET crm.workspace_id = $wws;
		INSERT INTO crm.contacts (email, name, lifecycle_stage)
		SELECT 'w' || g || '@example.com', 'W ' || g, CASE WHEN g % 2 = 0 THEN 'customer' ELSE 'lead' END::crm.lifecycle_stage
		  FROM generate_series(1, $WORKER_CONTACTS) g"
	bench_sql "UPDATE crm.contacts SET city = 'Oslo' WHERE workspace_id = $wws"
	wtotal=$(psql -X -At -d "$BENCH_DB" -c "SELECT 2 * count(*) FILTER (WHERE lifecycle_stage = 'customer') FROM crm.contacts WHERE workspace_id = $wws")
	printf 'conninfo = host=%s port=%s dbname=%s user=crm_bench_worker\nworkspace = %s\nintegration = bench_hook\nbatch = 100\npoll_interval_ms = 100\n' \
		"$PGHOST" "$PGPORT" "$BENCH_DB" "$wws" >"$wtmp/worker.conf"
	wstart=$(date +%s.%N)
	worker/crm-webhook-worker "$wtmp/worker.conf" 2>"$wtmp/worker.log" &
	wpid=$!
	for _ in $(seq 1 3000); do
		[ "$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM crm.integration_deliveries WHERE workspace_id = $wws AND status = 'done'")" -ge "$wtotal" ] && break
		sleep 0.2
	done
	wend=$(date +%s.%N)
	kill -TERM "$wpid"; wait "$wpid" 2>/dev/null || true
	kill "$rpid"; wait "$rpid" 2>/dev/null || true
	report_abs "webhook worker, $wtotal deliveries to the local receiver" \
		"$(awk -v n="$wtotal" -v a="$wstart" -v b="$wend" 'BEGIN{printf "%.0f", n / (b - a)}')" "deliveries/s" "measured"
	bench_sql "DELETE FROM crm.workspaces WHERE id = $wws; DROP OWNED BY crm_bench_worker; DROP ROLE crm_bench_worker"
	rm -rf "$wtmp"
else
	echo "| webhook worker: not built (libpq-dev, libcurl4-openssl-dev, libssl-dev) |"
fi
