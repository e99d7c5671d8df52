# The history of values (docs/history.md).
# 1. Contact UPDATEs touching one tracked field (lifecycle_stage), with the
#    history triggers and with them disabled: 2000 single-row statements as
#    an API makes them, and one statement over SCALE rows (bulk).
# 2. EVER / NEVER over SCALE contacts and 10 x SCALE history rows, CQL
#    (crm.count) against the hand-written SQL of the same question (the
#    present, or a value the history recorded, new or old), same plan (both
#    EXPLAINed into the results file).
# 3. Bytes per change: the table and its indexes over its rows.

# (a contact's creation writes no history)
bench_sql "INSERT INTO crm.contacts (name, email, lifecycle_stage)
	SELECT 'Contact ' || i, 'c' || i || '@example.com',
		   (ARRAY['subscriber', 'lead', 'opportunity', 'customer', 'other'])[1 + i % 5]::crm.lifecycle_stage
	  FROM generate_series(1, $SCALE) i"
bench_sql "VACUUM ANALYZE crm.contacts"

# 1. single-row updates: the same 2000 statements on both sides
updates=$(for i in $(seq 1 2000); do
	printf "UPDATE crm.contacts SET lifecycle_stage = '%s' WHERE workspace_id = 1 AND id = %d;\n" \
		"$([ $((i % 2)) = 0 ] && echo lead || echo marketing_qualified)" $(( (i * 7919) % SCALE + 1 ))
done)
on="ALTER TABLE crm.contacts ENABLE TRIGGER contacts_history_update;"
off="ALTER TABLE crm.contacts DISABLE TRIGGER contacts_history_update;"
# the sum of the statements' times (bench_ms keeps the last one's), alternately 5 times
sum_ms() {
	{ printf '%s\n' "$1"; printf '\\timing on\n%s\n' "$2"; } |
		psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1 | awk '/^Time: /{t+=$2} END{print t}'
}
crm_runs=(); bare_runs=()
for i in 1 2 3 4 5; do
	crm_runs+=("$(sum_ms "$on" "$updates")")
	bare_runs+=("$(sum_ms "$off" "$updates")")
done
spread_record "${crm_runs[*]}" "${bare_runs[*]}"
crm_ms=$(printf '%s\n' "${crm_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
bare_ms=$(printf '%s\n' "${bare_runs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
report "2000 one-row contact UPDATEs of lifecycle_stage, history on/off" "$crm_ms" "$bare_ms" throughput ">= 0.85"

bulk="UPDATE crm.contacts SET lifecycle_stage = CASE WHEN lifecycle_stage = 'evangelist' THEN 'other' ELSE 'evangelist' END::crm.lifecycle_stage WHERE workspace_id = 1;"
if bench_diagnostic "UPDATE of lifecycle_stage over $SCALE contacts, history on/off"; then
	read -r crm_ms bare_ms < <(bench_pair "$on" "$bulk" "$off" "$bulk" 1)
	report "UPDATE of lifecycle_stage over $SCALE contacts, history on/off" "$crm_ms" "$bare_ms" throughput "-"
fi
bench_sql "$on"

# 2. ten history rows per contact: lifecycle stages and a custom property
bench_sql "SET client_min_messages = warning; TRUNCATE crm.value_history;
	INSERT INTO crm.value_history (workspace_id, object_type, object_id, key, custom, old_value, new_value,
								   source, actor, changed_at)
	SELECT 1, 'contact', c, CASE WHEN k < 7 THEN 'lifecycle_stage' ELSE 'plan' END, k >= 7,
		   NULL, CASE WHEN k < 7 THEN to_jsonb((ARRAY['subscriber', 'lead', 'marketing_qualified', 'sales_qualified',
		                                              'opportunity', 'evangelist', 'other'])[1 + (c + k) % 7])
		              ELSE to_jsonb((ARRAY['free', 'pro', 'team', 'enterprise'])[1 + (c * k) % 4]) END,
		   'row', 'bench', now() - make_interval(days => 10 - k)
	  FROM generate_series(1, $SCALE) c, generate_series(0, 9) k;
	-- a tenth of the contacts were ever customers
	UPDATE crm.value_history SET new_value = '\"customer\"'
	 WHERE key = 'lifecycle_stage' AND object_id % 10 = 0 AND changed_at < now() - interval '5 days'
	   AND new_value = '\"opportunity\"';"
bench_sql "VACUUM ANALYZE crm.value_history"

ever_hand="SELECT count(*) FROM crm.contacts c WHERE c.workspace_id = 1 AND c.status < 'merged'
	AND (c.lifecycle_stage = 'customer' OR EXISTS (SELECT 1 FROM crm.value_history h
		WHERE h.workspace_id = c.workspace_id AND h.object_type = 'contact' AND h.object_id = c.id
		  AND h.key = 'lifecycle_stage' AND NOT h.custom
		  AND (h.new_value = '\"customer\"' OR h.old_value = '\"customer\"')));"
never_hand="SELECT count(*) FROM crm.contacts c WHERE c.workspace_id = 1 AND c.status < 'merged'
	AND NOT (c.properties @> '{\"plan\": \"enterprise\"}' OR EXISTS (SELECT 1 FROM crm.value_history h
		WHERE h.workspace_id = c.workspace_id AND h.object_type = 'contact' AND h.object_id = c.id
		  AND h.key = 'plan' AND h.custom
		  AND (h.new_value = '\"enterprise\"' OR h.old_value = '\"enterprise\"')));"
ever_cql="SELECT crm.count('contact', 'lifecycleStage EVER = CUSTOMER');"
never_cql="SELECT crm.count('contact', 'properties.plan NEVER IN (''enterprise'')');"

# the plans, for the record (docs/performance.md shows them)
ever_where=$(psql -X -At -d "$BENCH_DB" -c "SET crm.workspace_id = 1; SELECT crm_hidden.cql_where('contact', 'lifecycleStage EVER = CUSTOMER')" | tail -1)
{ echo "-- EVER through CQL:"
  psql -X -At -d "$BENCH_DB" -c "SET crm.workspace_id = 1; EXPLAIN (COSTS OFF) SELECT count(*) FROM crm.contacts WHERE $ever_where"
  echo "-- EVER by hand:"
  psql -X -At -d "$BENCH_DB" -c "EXPLAIN (COSTS OFF) ${ever_hand%;}"; } >"${BENCH_RESULTS}.history-plans" 2>&1 || true

read -r crm_ms bare_ms < <(bench_pair "SET crm.workspace_id = 1;" "$ever_cql" "" "$ever_hand")
report "lifecycleStage EVER = CUSTOMER, $SCALE contacts, 10x history" "$crm_ms" "$bare_ms" time "<= 1.2"
read -r crm_ms bare_ms < <(bench_pair "SET crm.workspace_id = 1;" "$never_cql" "" "$never_hand")
report "properties.plan NEVER IN ('enterprise'), $SCALE contacts, 10x history" "$crm_ms" "$bare_ms" time "<= 1.2"

# 3. bytes per change
bytes=$(psql -X -At -d "$BENCH_DB" -c "SELECT round(pg_total_relation_size('crm.value_history')::numeric / count(*)) FROM crm.value_history")
heap=$(psql -X -At -d "$BENCH_DB" -c "SELECT round(pg_relation_size('crm.value_history')::numeric / count(*)) FROM crm.value_history")
report_abs "history bytes per change: total (heap)" "$bytes ($heap)" "B" "-"
