# One workspace of millions of contacts (issue 25, item 3): do identify,
# CQL and search keep their targets?  Not in the default run (bench/run
# takes it only when named, or with BIG_TENANT=1): at the default
# BIG_CONTACTS=5000000 it loads for the better part of an hour and needs
# tens of GB of disk (docs/performance.md, "One workspace of 5M contacts").
#
# The workspace is bench/cases/cql.sh's data (bench/lib.sh's generator:
# names, emails, cities, stages, tags, a select and a number property, a
# company for two contacts in three), loaded through the row path with
# set-based INSERT ... SELECT in batches of BIG_BATCH contacts, every
# trigger on; beside it a bare table like crm.contacts (INCLUDING ALL,
# without triggers) gets the same rows, batch after batch, for identify's
# bare upsert.  Then, on the big workspace: identify against the bare
# upsert (BIG_IDENTIFY_CALLS calls a run, each its own transaction, half new
# emails and half returning contacts spread over the whole workspace,
# alternately at least five runs a side), cql.sh's ten questions against
# the hand-written SQL with the plans compared, and the search prefix and
# fuzzy p95, round trip and in the server.
BIG_CONTACTS=${BIG_CONTACTS:-5000000}
BIG_BATCH=${BIG_BATCH:-250000}
BIG_IDENTIFY_CALLS=${BIG_IDENTIFY_CALLS:-10000}
big=$BIG_CONTACTS

big_note() { echo "big tenant: $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"; }

big_note "$big contacts in batches of $BIG_BATCH; free disk $(df -h --output=avail "$PGHOST" | tail -1 | tr -d ' ')"
bench_sql "CREATE TABLE bench_bare_contacts (LIKE crm.contacts INCLUDING ALL)"
big_bare_ms=0
bench_cql_loaded() {
	local t0
	t0=$(date +%s%3N)
	bench_sql "INSERT INTO bench_bare_contacts ($BENCH_CONTACT_COLUMNS) $(bench_contacts_select "$1" "$2")"
	big_bare_ms=$((big_bare_ms + $(date +%s%3N) - t0))
	big_note "loaded $2"
}
bench_cql_load "$big" "$BIG_BATCH"
unset -f bench_cql_loaded
t0=$(date +%s%3N)
bench_sql "VACUUM ANALYZE crm.contacts"
big_vacuum_ms=$(($(date +%s%3N) - t0))
t0=$(date +%s%3N)
bench_sql "VACUUM ANALYZE bench_bare_contacts"
big_bare_vacuum_ms=$(($(date +%s%3N) - t0))
big_note "loaded: companies ${bench_load_ms[0]} ms, contacts ${bench_load_ms[1]} ms, company links ${bench_load_ms[2]} ms; bare contacts $big_bare_ms ms; VACUUM ANALYZE $big_vacuum_ms / $big_bare_vacuum_ms ms"
report "big tenant: INSERT $big contacts, crm vs bare (batches of $BIG_BATCH)" "${bench_load_ms[1]}" "$big_bare_ms" time "-"
psql -X -d "$BENCH_DB" -c "
SELECT pg_size_pretty(pg_database_size(current_database())) AS database,
	   pg_size_pretty(pg_total_relation_size('crm.contacts')) AS contacts,
	   pg_size_pretty(pg_indexes_size('crm.contacts')) AS \"contacts' indexes\",
	   pg_size_pretty(pg_total_relation_size('bench_bare_contacts')) AS bare,
	   pg_size_pretty(pg_total_relation_size('crm.contact_companies')) AS links,
	   pg_size_pretty(pg_total_relation_size('crm.events')) AS events"
psql -X -d "$BENCH_DB" -c "
SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('crm', 'public') AND c.relkind IN ('r', 'i')
 ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 12"

# identify: the odd calls a new email (a run's own, from its sequence, the
# same on both sides), the even ones a contact of the workspace drawn all
# over it, with a newer name, which both sides take (bench/cases/identify.sh)
bench_sql "CREATE SEQUENCE bench_crm_runs; CREATE SEQUENCE bench_bare_runs"
big_email() {
	echo "CASE WHEN i % 2 = 1 THEN 'IDB' || r || '-' || i || '@Example.com'
		ELSE 'User' || (1 + (i * 7919 + r * 104729) % $big) ||
			 (ARRAY['@Example.com', '@Mail.test', '@Corp.test'])[1 + (1 + (i * 7919 + r * 104729) % $big) % 3] END"
}
big_note "identify, $BIG_IDENTIFY_CALLS calls a run"
read -r crm_ms bare_ms < <(bench_pair "" "
DO \$\$ DECLARE r bigint := nextval('bench_crm_runs'); BEGIN
	FOR i IN 1..$BIG_IDENTIFY_CALLS LOOP
		PERFORM crm.identify(email => $(big_email), name => 'User ' || i);
		COMMIT;
	END LOOP;
END \$\$;" "" "
DO \$\$ DECLARE r bigint := nextval('bench_bare_runs'); BEGIN
	FOR i IN 1..$BIG_IDENTIFY_CALLS LOOP
		INSERT INTO bench_bare_contacts AS c (email, name, first_seen_at, last_seen_at)
		VALUES (lower($(big_email)), 'User ' || i, now(), now())
		ON CONFLICT (workspace_id, email) WHERE status < 'merged'::crm.contact_status DO UPDATE
		   SET name = coalesce(excluded.name, c.name),
			   last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);
		COMMIT;
	END LOOP;
END \$\$;")
report "big tenant: identify vs INSERT ON CONFLICT ($big, $BIG_IDENTIFY_CALLS calls)" "$crm_ms" "$bare_ms" throughput ">= 0.7"
# the returning half found its contacts: one new contact per odd call, no more
psql -X -At -d "$BENCH_DB" -c "SELECT 'big tenant: contacts after identify ' || count(*) || ', as expected: ' ||
	(count(*) = $big + (SELECT last_value FROM bench_crm_runs) * (($BIG_IDENTIFY_CALLS + 1) / 2)) FROM crm.contacts"
bench_sql "VACUUM ANALYZE crm.contacts"

big_note "CQL"
bench_cql_cases "($big)"
big_note "search"
report_abs "big tenant: search prefix p95 ($big)" "$(search_p95 prefix "$prefix_terms")" ms "p95 <= 10 ms"
report_abs "big tenant: search fuzzy p95 ($big)" "$(search_p95 fuzzy "$fuzzy_terms")" ms "p95 <= 10 ms"
read -r rt in < <(search_p95_in_server "$prefix_terms" prefix)
report_abs "big tenant: search prefix p95 round trip / in server ($big)" "$rt / $in" ms "p95 <= 10 ms"
read -r rt in < <(search_p95_in_server "$fuzzy_terms" fuzzy)
report_abs "big tenant: search fuzzy p95 round trip / in server ($big)" "$rt / $in" ms "p95 <= 10 ms"
big_note "done; database $(psql -X -At -d "$BENCH_DB" -c "SELECT pg_size_pretty(pg_database_size(current_database()))"), cluster $(du -sh "$PGHOST" 2>/dev/null | cut -f1)"
