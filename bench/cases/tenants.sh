# Many tenants (issue 25, item 3): TENANTS workspaces (default 10,000) with
# 20 dynamic lists and 30 contact property definitions each.  ONE backend
# touches every workspace -- a contact insert and an update that run the
# property validation and the list triggers -- and reports its memory:
# the crm cache contexts, the plan contexts (the compiled lists' kept
# plans live under CacheMemoryContext), the whole backend, and what
# crm_internal.cache_stats() charged to crm.cache_budget_mb.  Then the
# first write after an invalidation (a property definition changed in that
# workspace, and in another one) against a warm write.  Run once with the
# default budget; TENANTS_BUDGETS="default 100000" adds an unbounded run
# (about 130 kB a workspace: keep TENANTS small for it).  Absolute figures,
# not ratios: bare PostgreSQL has no such cache.
TENANTS=${TENANTS:-10000}
TENANTS_BUDGETS=${TENANTS_BUDGETS:-default}

bench_sql "INSERT INTO crm.workspaces (slug, name) SELECT 'tenant-' || g, 'Tenant ' || g FROM generate_series(1, $TENANTS) g"
# Definitions and lists as rows, without their triggers: the workspaces are
# empty, so the checks and memberships the triggers compute have nothing to
# do, and through them the set-up alone would take most of an hour.  The
# filters are ones the row path accepts (with the triggers, TENANTS=200
# gives the same figures).  The reporting views of each workspace's
# definitions (crm_report, an ENABLE ALWAYS trigger) are made all the same:
# 250 workspaces a transaction keeps their locks within
# max_locks_per_transaction.
for ((lo = 1; lo <= TENANTS; lo += 250)); do
	range="BETWEEN $lo AND $((lo + 249))"
	bench_sql "
SET session_replication_role = replica;
INSERT INTO crm.property_definitions (workspace_id, object_type, key, type, label, pattern)
SELECT w.id, 'contact', 'p' || k,
	   (CASE k % 3 WHEN 0 THEN 'number' WHEN 1 THEN 'text' ELSE 'boolean' END)::crm.property_type,
	   'P' || k, CASE WHEN k % 3 = 1 AND k < 10 THEN '[a-z]+[0-9]*' END
  FROM crm.workspaces w, generate_series(1, 30) k WHERE w.slug LIKE 'tenant-%' AND substr(w.slug, 8)::int $range;
INSERT INTO crm.lists (workspace_id, name, kind, visibility, filter)
SELECT w.id, 'L' || k, 'dynamic', 'workspace',
	   CASE k % 4 WHEN 0 THEN format('properties.p%s >= %s', (k % 10) * 3, k)
				  WHEN 1 THEN format('properties.p%s = ''v%s''', (k % 10) * 3 + 1, k)
				  WHEN 2 THEN format('properties.p%s = true AND city = ''C%s''', (k % 10) * 3 + 2, k)
				  ELSE format('tags CONTAINS ''t%s''', k) END
  FROM crm.workspaces w, generate_series(1, 20) k WHERE w.slug LIKE 'tenant-%' AND substr(w.slug, 8)::int $range;"
done

touch_all="
DO \$\$
DECLARE w bigint;
BEGIN
	FOR w IN SELECT id FROM crm.workspaces WHERE slug LIKE 'tenant-%' ORDER BY id LOOP
		PERFORM set_config('crm.workspace_id', w::text, false);
		INSERT INTO crm.contacts (name, email, city, properties)
		VALUES ('T', 't' || w || '@example.com', 'C1', '{\"p3\": 12, \"p1\": \"v1\", \"p2\": true}');
		UPDATE crm.contacts SET properties = properties || '{\"p6\": 40}' WHERE email = 't' || w || '@example.com';
		COMMIT;
	END LOOP;
END \$\$;"
one="tenant-$((TENANTS / 2))"
other="tenant-$((TENANTS / 3))"
# the write changes p6, which the list "properties.p6 >= 12" reads: the lists
# are evaluated (with p9, read by none, a first write never planned them)
write() { echo "UPDATE crm.contacts SET properties = properties || jsonb_build_object('p6', $2) WHERE workspace_id = (SELECT id FROM crm.workspaces WHERE slug = '$1');"; }
# a new label (no filter reads it); a new type of p30, which no filter reads either
redefine() { echo "SELECT crm.use_workspace('$one') IS NOT NULL; SELECT crm.define_property('contact', 'p30', 'number', 'P30 v$1') > 0; RESET crm.workspace_id;"; }
retype() { local t=number; [ $(($1 % 2)) = 1 ] && t=text; echo "SELECT crm.use_workspace('$one') IS NOT NULL; SELECT crm.define_property('contact', 'p30', '$t', 'P30') > 0; RESET crm.workspace_id;"; }
# a new type of p6, which the list "properties.p6 >= 12" reads (number and
# percent translate alike: the list is compiled again, its plan kept)
retype_read() { local t=number; [ $(($1 % 2)) = 1 ] && t=percent; echo "SELECT crm.use_workspace('$one') IS NOT NULL; SELECT crm.define_property('contact', 'p6', '$t', 'P6') > 0; RESET crm.workspace_id;"; }
# five of each, medians: a warm write; the first write after a definition's
# label changed in the same workspace; the first write in another one after
# it; the first write in the same workspace after the type of a property no
# filter reads changed, and of one a filter reads
# and, after each five, how many list entries this backend has compiled so
# far (a figure the load does not move: the definition calls included)
built() { echo "SELECT 'built', misses FROM crm_internal.cache_stats() WHERE cache = 'dynamic lists';"; }
rounds() {
	local i
	echo "$(write "$one" 0)"
	for i in 1 2 3 4 5; do printf '\\timing on\n%s\n\\timing off\n' "$(write "$one" $i)"; done
	built
	for i in 1 2 3 4 5; do printf '%s\n\\timing on\n%s\n\\timing off\n' "$(redefine $i)" "$(write "$one" $i)"; done
	built
	for i in 6 7 8 9 10; do printf '%s\n\\timing on\n%s\n\\timing off\n' "$(redefine $i)" "$(write "$other" $i)"; done
	built
	for i in 11 12 13 14 15; do printf '%s\n\\timing on\n%s\n\\timing off\n' "$(retype $i)" "$(write "$one" $i)"; done
	built
	for i in 16 17 18 19 20; do printf '%s\n\\timing on\n%s\n\\timing off\n' "$(retype_read $i)" "$(write "$one" $i)"; done
	built
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

for budget in $TENANTS_BUDGETS; do
	setting=""
	[ "$budget" = default ] || setting="SET crm.cache_budget_mb = $budget;"
	bench_sql "DELETE FROM crm.contacts WHERE email LIKE 't%@example.com'"
	out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1 <<SQL
$setting
\\timing on
$touch_all
\\timing off
SELECT 'mem', (SELECT sum(total_bytes) FROM pg_backend_memory_contexts WHERE name LIKE 'crm%'),
	   (SELECT sum(total_bytes) FROM pg_backend_memory_contexts WHERE name LIKE 'CachedPlan%'),
	   (SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
	   (SELECT sum(bytes) FROM crm_internal.cache_stats()), (SELECT sum(entries) FROM crm_internal.cache_stats()),
	   (SELECT sum(evictions) FROM crm_internal.cache_stats()), current_setting('crm.cache_budget_mb');
$(rounds)
SQL
)
	times=($(awk '/^Time: /{print $2}' <<<"$out"))
	# list entries compiled over each five: the differences of the counts
	compiled=($(awk -F'|' '$1 == "built" {if (n++) print $2 - last; last = $2}' <<<"$out"))
	mem=$(grep '^mem|' <<<"$out") || { printf 'tenants: failed\n%s\n' "$out" >&2; exit 1; }
	IFS='|' read -r _ crm plans total charged entries evictions setting_shown <<<"$mem"
	report_abs "tenants $TENANTS, budget $setting_shown: touch all, ms" "${times[0]}" ms "-"
	report_abs "tenants: crm cache contexts, MB" "$(awk -v b="$crm" 'BEGIN{printf "%.1f", b/1048576}')" MB "-"
	report_abs "tenants: kept plan contexts, MB" "$(awk -v b="$plans" 'BEGIN{printf "%.1f", b/1048576}')" MB "-"
	report_abs "tenants: whole backend, MB" "$(awk -v b="$total" 'BEGIN{printf "%.1f", b/1048576}')" MB "<= 64"
	report_abs "tenants: charged to the budget ($entries entries, $evictions evictions)" "$(awk -v b="$charged" 'BEGIN{printf "%.1f", b/1048576}')" MB "-"
	report_abs "tenants: warm write (median of 5)" "$(median "${times[@]:1:5}")" ms "-"
	report_abs "tenants: first write after a label change, same workspace (${compiled[0]} lists compiled)" "$(median "${times[@]:6:5}")" ms "<= 5"
	report_abs "tenants: first write after a label change, other workspace (${compiled[1]})" "$(median "${times[@]:11:5}")" ms "<= 5"
	report_abs "tenants: ... after a type change no filter reads, same workspace (${compiled[2]})" "$(median "${times[@]:16:5}")" ms "<= 5"
	report_abs "tenants: ... after a type change a filter reads, same workspace (${compiled[3]})" "$(median "${times[@]:21:5}")" ms "<= 5"
done
