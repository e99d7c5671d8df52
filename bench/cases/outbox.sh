# The outbox that lives for years (issue 25, item 4).  OUTBOX_EVENTS events
# (default 10 x SCALE: 1M at the default SCALE; the 10M figures of
# docs/performance.md are OUTBOX_EVENTS=10000000 bash bench/run
# bench/cases/outbox.sh) in one workspace, spread over ~5 years, in
# transactions of 100,000.  They are built cheaply: one INSERT ... SELECT
# generate_series a batch, as the bench's owner with
# session_replication_role = replica (the guard and NOTIFY triggers off;
# id, xid and actor from their defaults, created_at given).  Then:
#   - crm.events_since(cursor, 100): p50/p99 over 1,000 calls at random
#     cursors and at the tail, at 100k events and at the full size, each
#     call followed by the same read written by hand (target p99 5 ms);
#   - insert cost: OUTBOX_PINGS crm.emit_event calls (a commit every 10) in
#     this database against the same in a database with an empty outbox,
#     alternately BENCH_RUNS times (target: flat, <= 1.2);
#   - crm.purge_events with a consumer at the middle: the oldest 10% go;
#     events_since again before VACUUM; the VACUUM.
OUTBOX_EVENTS=${OUTBOX_EVENTS:-$((SCALE * 10))}
OUTBOX_PINGS=${OUTBOX_PINGS:-20000}

bench_sql "CREATE FUNCTION bench_events_since(calls int, lim int, tail boolean,
	OUT crm_p50 numeric, OUT crm_p99 numeric, OUT bare_p50 numeric, OUT bare_p99 numeric)
LANGUAGE plpgsql AS \$\$
DECLARE lo bigint; hi bigint; c bigint; cx xid8; t timestamptz; n int; h xid8;
	crm float8[] := '{}'; bare float8[] := '{}';
BEGIN
	SELECT min(id), max(id) INTO lo, hi FROM crm.events WHERE workspace_id = 1;
	FOR i IN 1..calls LOOP
		c := CASE WHEN tail THEN greatest(lo, hi - lim) ELSE lo + floor(random() * greatest(hi - lo - lim, 1))::bigint END;
		SELECT e.id, e.xid INTO c, cx FROM crm.events e WHERE e.workspace_id = 1 AND e.id >= c ORDER BY e.id LIMIT 1;
		t := clock_timestamp();
		SELECT count(*) INTO n FROM crm.events_since(c, lim);
		crm := crm || extract(epoch FROM clock_timestamp() - t)::float8 * 1000;
		-- the same read by hand: the cursor's xid, the horizon, one index range
		t := clock_timestamp();
		SELECT e.xid INTO cx FROM crm.events e WHERE e.workspace_id = 1 AND e.id = c;
		h := pg_snapshot_xmin(pg_current_snapshot());
		SELECT count(*) INTO n FROM (SELECT * FROM crm.events e WHERE e.workspace_id = 1 AND (e.xid, e.id) > (cx, c)
									  AND e.xid < h ORDER BY e.xid, e.id LIMIT lim) s;
		bare := bare || extract(epoch FROM clock_timestamp() - t)::float8 * 1000;
	END LOOP;
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2),
		   round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric, 2) INTO crm_p50, crm_p99 FROM unnest(crm) x;
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2),
		   round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric, 2) INTO bare_p50, bare_p99 FROM unnest(bare) x;
END \$\$"
since() {  # since <random|tail> <label>: p50/p99 of 1,000 calls, and of the same read by hand
	local p50 p99 b50 b99
	IFS='|' read -r p50 p99 b50 b99 < <(psql -X -At -d "$BENCH_DB" -c \
		"SELECT * FROM bench_events_since(1000, 100, $([ "$1" = tail ] && echo true || echo false))")
	report_abs "outbox: events_since p99 (p50), $1 cursor, $2" "$p99 ($p50)" ms "p99 <= 5 ms"
	report_abs "  the same read by hand: p99 (p50)" "$b99 ($b50)" ms "-"
}
# OUTBOX_PINGS crm.emit_event calls, a commit every 10, in database $1
pings() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<SQL 2>&1 | awk '/^Time: /{t=$2} END{print t}'
\\timing on
DO \$\$ BEGIN
	FOR i IN 1..$OUTBOX_PINGS LOOP
		PERFORM crm.emit_event('CRM_BENCH_PING', 'bench', i);
		IF i % 10 = 0 THEN COMMIT; END IF;
	END LOOP;
END \$\$;
SQL
}
# an empty outbox to compare the full one with, in a database of its own
empty_db="${BENCH_DB}_empty"
dropdb --if-exists "$empty_db"
createdb -T bench_template "$empty_db"

# a first 100,000 events to read
bench_sql "SET session_replication_role = replica;
	INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload, created_at)
	SELECT 1, 'CRM_CONTACT_UPDATED', 'contact', g, jsonb_build_object('id', g), timestamptz '2020-12-01' + g * interval '15 seconds'
	  FROM generate_series(1, 100000) g"
bench_sql "VACUUM ANALYZE crm.events"
since random "100k events"
since tail "100k events"
start=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM crm.events")

t0=$(date +%s.%N)
for ((lo = 1; lo <= OUTBOX_EVENTS; lo += 100000)); do
	bench_sql "SET session_replication_role = replica;
	INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload, created_at)
	SELECT 1, 'CRM_CONTACT_UPDATED', 'contact', g % 100000,
		   jsonb_build_object('id', g % 100000, 'changes', jsonb_build_object('city', 'City ' || g % 1000)),
		   timestamptz '2021-01-01' + g * interval '15 seconds'
	  FROM generate_series($lo, least($lo + 99999, $OUTBOX_EVENTS)) g"
done
build_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b - a}')
bench_sql "VACUUM ANALYZE crm.events"
size=$(psql -X -At -d "$BENCH_DB" -c "SELECT pg_size_pretty(pg_total_relation_size('crm.events'))")

n_label="$((OUTBOX_EVENTS / 1000))k events (${size}, built in ${build_s} s)"
full=(); empty=()
for ((i = 0; i < BENCH_RUNS; i++)); do
	full+=("$(pings "$BENCH_DB")")
	empty+=("$(pings "$empty_db")")
done
spread_record "${full[*]}" "${empty[*]}"
report "outbox: $OUTBOX_PINGS emit_event, $n_label vs empty" "$(median "${full[@]}")" "$(median "${empty[@]}")" time "<= 1.2"
dropdb "$empty_db"
since random "$((OUTBOX_EVENTS / 1000))k events"
since tail "$((OUTBOX_EVENTS / 1000))k events"

# a consumer in the middle; the oldest 10% written before the cut go
mid=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.events WHERE workspace_id = 1 ORDER BY id OFFSET $((start + OUTBOX_EVENTS / 2)) LIMIT 1")
cut=$(psql -X -At -d "$BENCH_DB" -c "SELECT timestamptz '2021-01-01' + $((OUTBOX_EVENTS / 10)) * interval '15 seconds'")
bench_sql "SELECT crm.ack_events('bench-consumer', $mid)"
before=$(psql -X -At -d "$BENCH_DB" -c "SELECT count(*) FROM crm.events")
purge_ms=$(bench_ms "" "SELECT crm.purge_events('$cut');" 1)
purged=$(psql -X -At -d "$BENCH_DB" -c "SELECT $before - count(*) FROM crm.events")
report_abs "outbox: purge_events, the oldest $purged events" "$purge_ms" ms "-"
since random "after the purge, before VACUUM"
vacuum_ms=$(bench_ms "" "VACUUM crm.events;" 1)
report_abs "outbox: VACUUM after the purge" "$vacuum_ms" ms "-"
