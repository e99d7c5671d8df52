# Helpers for bench/cases/*.sh, sourced by bench/run.
#
# A case measures a crm operation and its bare-PostgreSQL equivalent in the
# same run, on the same machine, and reports the ratio; it never asserts a
# time.  Cases see $SCALE (rows) and $BENCH_DB.

# Run SQL, print nothing.
bench_sql() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1" >/dev/null
}

# Whether a run of bench SQL $1 succeeded, from psql's output $2 and the
# time read from it ($3, "failed" when psql exited with an error); if not,
# says whether the setup or the timed statement failed, with the output.
bench_check() {
	local sql=$1 out=$2 t=$3
	[ -n "$t" ] && [ "$t" != failed ] && return 0
	if grep -q '^Time: ' <<<"$out"; then
		printf 'bench query failed: %s\n%s\n' "$sql" "$out" >&2
	else
		printf 'bench query failed in its setup, before: %s\n%s\n' "$sql" "$out" >&2
	fi
	return 1
}

# A case's state kept as a template database and put back before a run,
# instead of rebuilding it (a rollup's definition and removal rewrite every
# contact: seconds a run, where the copy takes a fraction of one).
# bench_state_save NAME: the case database as it is now, as bench_state_NAME
# (bench/run drops it after the case).
bench_state_save() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS bench_state_$1" \
		-c "CREATE DATABASE bench_state_$1 TEMPLATE $BENCH_DB" >/dev/null
}
# bench_state NAME: psql lines, for a run's setup (bench_pair, bench_ms,
# conc_alternate), that make the case database a copy of the state NAME
# saved and connect to it; the database's settings (ALTER DATABASE ... SET,
# which a copy does not take) are set again on the copy.  The last line, an
# empty statement, lets SQL follow on the same line ("$(bench_state x) SQL").
bench_state() {
	cat <<SQL
\\c postgres
SELECT coalesce(string_agg(format('ALTER DATABASE %I SET %I = %L', '$BENCH_DB', split_part(s, '=', 1),
		substr(s, strpos(s, '=') + 1)), '; '), 'SELECT') AS bench_settings
  FROM pg_db_role_setting, unnest(setconfig) s
 WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = '$BENCH_DB') \\gset
DROP DATABASE $BENCH_DB WITH (FORCE);
CREATE DATABASE $BENCH_DB TEMPLATE bench_state_$1;
:bench_settings;
\\c $BENCH_DB
;
SQL
}

# Median wall time in milliseconds of running SQL $2 ($3 times, default 3),
# each run in its own session after running setup SQL $1 (may be empty)
# outside the timed part.
bench_ms() {
	local setup=$1 sql=$2 runs=${3:-3} i out t times=()
	for ((i = 0; i < runs; i++)); do
		t=
		out=$( { [ -n "$setup" ] && printf '%s\n' "$setup"; printf '\\timing on\n%s\n' "$sql"; } |
			psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1) || t=failed
		[ "$t" = failed ] || t=$(awk '/^Time: /{t=$2} END{print t}' <<<"$out")
		# psql times a statement that fails too ("ERROR: ...", then "Time:
		# 0.4 ms"): only its exit status tells.  Say why and where: a bench
		# that fails by chance must leave its cause behind
		bench_check "$sql" "$out" "$t" || return 1
		times+=("$t")
	done
	printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

# Every case runs crm and bare alternately, at least BENCH_RUNS times each
# (default 5), and report() gives the median ratio with its spread: the
# lowest and highest ratio of a crm run to the bare run next to it.  The
# runs of the last measurement wait in $BENCH_SPREAD for report().
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SPREAD=${BENCH_RESULTS:-/tmp/crm-bench}.spread
# Backend CPU time in milliseconds (user + system, from /proc) of running
# SQL $2 once in a new session after setup SQL $1: under load the wall time
# counts the other jobs' turns on the cores, the backend's CPU time does
# not.  The server runs on this machine (test/cluster.sh).
bench_cpu_ms() {
	local setup=$1 sql=$2 out t
	out=$( { [ -n "$setup" ] && printf '%s\n' "$setup"
		printf 'SELECT pg_backend_pid() AS bench_pid \\gset\n'
		printf '\\setenv BENCH_PID :bench_pid\n'
		printf '\\! echo "cpu0 $(cut -d")" -f2- /proc/$BENCH_PID/stat)"\n'
		# (the ";" ends a statement left open, which psql would send only at the end)
		printf '%s\n;\n' "$sql"
		printf '\\! echo "cpu1 $(cut -d")" -f2- /proc/$BENCH_PID/stat)"\n'; } |
		psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1)
	# utime and stime are fields 14 and 15 of stat, 12 and 13 after the ")"
	t=$(awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu0" {a = $13 + $14} $1 == "cpu1" {b = $13 + $14; ok = 1}
		END {if (ok) printf "%.1f", (b - a) * 1000 / hz}' <<<"$out")
	[ -n "$t" ] || { printf 'bench query failed: %s\n%s\n' "$sql" "$out" >&2; return 1; }
	echo "$t"
}

# bench_use_library SO: installs SO as PG_CONFIG's crm.so by a rename, so that
# running backends keep theirs and the next session loads SO (the A/B
# scripts: bench/ab_identify.sh, bench/rollups_ab.sh)
bench_use_library() {
	local lib
	lib=$("$PG_CONFIG" --pkglibdir)
	install -m 755 "$1" "$lib/crm.so.ab" && mv "$lib/crm.so.ab" "$lib/crm.so"
}

# bench_pair, in backend CPU milliseconds (bench_cpu_ms): "CRM_MS BARE_MS"
bench_cpu_pair() {
	local crm_setup=$1 crm_sql=$2 bare_setup=$3 bare_sql=$4 runs=${5:-$BENCH_RUNS} i crm=() bare=()
	[ "$runs" -ge "$BENCH_RUNS" ] || runs=$BENCH_RUNS
	for ((i = 0; i < runs; i++)); do
		crm+=("$(bench_cpu_ms "$crm_setup" "$crm_sql")") || return 1
		bare+=("$(bench_cpu_ms "$bare_setup" "$bare_sql")") || return 1
	done
	spread_record "${crm[*]}" "${bare[*]}"
	echo "$(median "${crm[@]}")" "$(median "${bare[@]}")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# spread_record "CRM_MS ..." "BARE_MS ...": the paired runs for the next report
spread_record() {
	printf '%s\n%s\n' "$1" "$2" >"$BENCH_SPREAD"
}

# Median wall times in milliseconds of crm SQL $2 and bare SQL $4, each run
# after its setup ($1, $3) in its own session, alternately $5 times (at
# least BENCH_RUNS), so that a change in the machine's load weighs on both
# sides alike.  Prints "CRM_MS BARE_MS".
#
# Given the report's KIND and TARGET ($6, $7), the slower side may run only
# once: when the first pair's ratio is BENCH_FAR (default 4) times past the
# target, either way, and no spread seen between the runs of one case on
# this machine (at most 3.9x: the import case's 2.90-11.41 at load 1)
# could flip the verdict.  The faster side still
# runs every time, each run paired with the slower side's one; the verdict
# says which side ran once ("met, 1 bare").
bench_pair() {
	local crm_setup=$1 crm_sql=$2 bare_setup=$3 bare_sql=$4 runs=${5:-$BENCH_RUNS} kind=${6:-} target=${7:-}
	local i crm=() bare=() once=
	[ "$runs" -ge "$BENCH_RUNS" ] || runs=$BENCH_RUNS
	for ((i = 0; i < runs; i++)); do
		if [ "$once" = crm ]; then
			crm+=("${crm[0]}")
		else
			crm+=("$(bench_ms "$crm_setup" "$crm_sql" 1)") || return 1
		fi
		if [ "$once" = bare ]; then
			bare+=("${bare[0]}")
		else
			bare+=("$(bench_ms "$bare_setup" "$bare_sql" 1)") || return 1
		fi
		[ "$i" -gt 0 ] || [ -z "$target" ] || once=$(far_side "${crm[0]}" "${bare[0]}" "$kind" "$target")
	done
	spread_record "${crm[*]}" "${bare[*]}"
	[ -z "$once" ] || echo "once $once" >>"$BENCH_SPREAD"
	echo "$(median "${crm[@]}")" "$(median "${bare[@]}")"
}

# far_side CRM_MS BARE_MS KIND TARGET: the slower side ("crm" or "bare")
# when the ratio of this pair is BENCH_FAR times past the target, either
# way; nothing otherwise
far_side() {
	awk -v c="$1" -v b="$2" -v kind="$3" -v t="$4" -v far="${BENCH_FAR:-4}" 'BEGIN{
		if (t !~ /^(<=|>=) *[0-9.]+$/ || c <= 0 || b <= 0 || far < 1) exit
		x = substr(t, 3) + 0; r = kind == "throughput" ? b / c : c / b
		if (x > 0 && (r <= x / far || r >= x * far)) print (c > b ? "crm" : "bare")}'
}

# report CASE CRM_MS BARE_MS KIND TARGET
#   KIND time:       ratio = crm/bare time, lower is better (target "<= 1.1")
#   KIND throughput: ratio = bare/crm time = crm throughput relative to bare (target ">= 0.7")
# With the paired runs of the measurement ($BENCH_SPREAD), the spread is the
# lowest and highest paired ratio; when the target lies inside it, the
# spread is wider than the margin and the verdict says "unsure".
report() {
	local name=$1 crm=$2 bare=$3 kind=$4 target=$5 ratio spread="-" verdict lo="null" hi="null" once=
	if [ "$kind" = throughput ]; then
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", b/c}')
	else
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", c/b}')
	fi
	if [ -s "$BENCH_SPREAD" ]; then
		once=$(awk '$1 == "once" {print $2}' "$BENCH_SPREAD")
		read -r lo hi < <(awk -v kind="$kind" 'NR == 1 {n = split($0, c)} NR == 2 {split($0, b)}
			END {for (i = 1; i <= n; i++) {r = kind == "throughput" ? b[i] / c[i] : c[i] / b[i];
				 if (i == 1 || r < lo) lo = r; if (i == 1 || r > hi) hi = r}
				 printf "%.2f %.2f\n", lo, hi}' "$BENCH_SPREAD")
		spread="$lo-$hi"
		rm -f "$BENCH_SPREAD"
	fi
	verdict=$(awk -v r="$ratio" -v lo="$lo" -v hi="$hi" -v t="$target" 'BEGIN{
		if (t !~ /^(<=|>=) *[0-9.]+$/) {print "-"; exit}
		op = substr(t, 1, 2); x = substr(t, 3) + 0
		met = (op == "<=") ? r <= x : r >= x
		if (lo != "null" && lo + 0 <= x && x <= hi + 0) print (met ? "met, unsure" : "missed, unsure")
		else print (met ? "met" : "missed")}')
	[ -z "$once" ] || verdict="$verdict, 1 $once"
	printf '| %-58s | %10.1f | %10.1f | %6sx | %-11s | %-10s | %-14s |\n' "$name" "$crm" "$bare" "$ratio" "$spread" "$kind $target" "$verdict" | tee -a "$BENCH_RESULTS"
	# one JSON object a line, for bench/plot.sh
	printf '{"case": "%s", "crm_ms": %s, "bare_ms": %s, "ratio": %s, "ratio_min": %s, "ratio_max": %s, "kind": "%s", "target": "%s", "verdict": "%s"}\n' \
		"${name//\"/\\\"}" "$crm" "$bare" "$ratio" "$lo" "$hi" "$kind" "$target" "$verdict" >>"${BENCH_JSON:-/dev/null}"
}

# bench_diagnostic CASE: whether to measure a diagnostic row (no target),
# which runs with BENCH_DIAGNOSTICS=1 only, to keep the default run short
# (issue 25 item 7); without it the table says so in the row's place.
# docs/performance.md lists them ("Plan limits at 100k and the bench's time").
bench_diagnostic() {
	[ -z "${BENCH_DIAGNOSTICS:-}" ] || return 0
	printf '| %-58s | %10s | %10s | %7s | %-11s | %-10s | %-14s |\n' "$1" - - - - "-" "BENCH_DIAGNOSTICS=1" |
		tee -a "$BENCH_RESULTS"
	return 1
}

# report_abs CASE VALUE UNIT TARGET: for targets stated in absolute terms (p95 ms)
report_abs() {
	printf '| %-58s | %10s | %10s | %7s | %-11s | %-10s | %-14s |\n' "$1" "$2 $3" "-" "-" "-" "$4" "-" | tee -a "$BENCH_RESULTS"
}

# The contacts of the CQL and search cases (bench/cases/cql.sh, big_tenant.sh):
# names, emails, cities, lifecycle stages, statuses, tags, a select and a
# number property, creation dates over two years, and every third contact
# without a primary company.  The companies number one per 20 contacts.
bench_companies_of() { echo $(( $1 / 20 > 10 ? $1 / 20 : 10 )); }

# bench_contacts_select FROM TO: the generator's rows g = FROM..TO, in the
# columns (name, email, city, lifecycle_stage, status, tags, properties,
# created_at); the same rows go into crm.contacts and a bare table.
bench_contacts_select() {
	cat <<SQL
SELECT (ARRAY['Ada', 'Bob', 'Cy', 'Dana', 'Eve', 'Finn', 'Gus', 'Hana', 'Ivo', 'Jo'])[1 + g % 10] || ' ' ||
	   (ARRAY['Smith', 'Lovelace', 'Hopper', 'Turing', 'Knuth', 'Liskov', 'Ritchie', 'Wirth', 'Dijkstra',
			  'Hamilton', 'Perlman', 'Torvalds', 'Stonebraker', 'Codd', 'Gray'])[1 + (g / 10) % 15] || ' ' || g,
	   'user' || g || (ARRAY['@example.com', '@mail.test', '@corp.test'])[1 + g % 3],
	   (ARRAY['Paris', 'London', 'Rome', 'Berlin', 'Madrid', NULL])[1 + g % 6],
	   (ARRAY['subscriber', 'lead', 'marketing_qualified', 'sales_qualified', 'opportunity', 'customer',
			  'evangelist', 'other'])[1 + g % 8]::crm.lifecycle_stage,
	   CASE WHEN g % 50 = 0 THEN 'archived' ELSE 'active' END::crm.contact_status,
	   CASE WHEN g % 25 = 0 THEN '{vip}' WHEN g % 7 = 0 THEN '{trial}' WHEN g % 5 = 0 THEN '{newsletter}' ELSE '{}' END::text[],
	   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + g % 4], 'seats', g % 50),
	   now() - (g % 730) * interval '1 day' - (g % 24) * interval '1 hour'
  FROM generate_series($1, $2) g
SQL
}
BENCH_CONTACT_COLUMNS="name, email, city, lifecycle_stage, status, tags, properties, created_at"

# bench_cql_load N [BATCH]: N contacts and their companies through the row
# path (set-based INSERT ... SELECT, every trigger on), BATCH contacts a
# statement and a transaction (default: all in one), then seats declared a
# number and ANALYZE.  After each batch of contacts, calls
# bench_cql_loaded FROM TO when the case defines it.  Leaves the wall time
# spent in milliseconds in bench_load_ms (companies, contacts, links: the
# INSERTs only, not the hook).
bench_cql_load() {
	local n=$1 batch=${2:-$1} companies lo hi first t0 t1 t2
	companies=$(bench_companies_of "$n")
	bench_load_ms=(0 0 0)
	t0=$(date +%s%3N)
	bench_sql "
INSERT INTO crm.companies (name, domain, industry, employees)
SELECT 'Company ' || g, 'company' || g || '.example',
	   (ARRAY['SaaS', 'Retail', 'Bank', 'Health', 'Media'])[1 + g % 5], g % 500
  FROM generate_series(1, $companies) g"
	bench_load_ms[0]=$(($(date +%s%3N) - t0))
	for ((lo = 1; lo <= n; lo += batch)); do
		hi=$((lo + batch - 1 < n ? lo + batch - 1 : n))
		# the batch's contacts are those with an id above the last one before it
		first=$(psql -X -At -d "$BENCH_DB" -c "SELECT coalesce(max(id), 0) FROM crm.contacts")
		t0=$(date +%s%3N)
		bench_sql "INSERT INTO crm.contacts ($BENCH_CONTACT_COLUMNS) $(bench_contacts_select "$lo" "$hi")"
		t1=$(date +%s%3N)
		bench_sql "
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, 1 + c.id % $companies, true FROM crm.contacts c
 WHERE c.workspace_id = 1 AND c.id > $first AND c.id % 3 <> 0"
		t2=$(date +%s%3N)
		bench_load_ms[1]=$((bench_load_ms[1] + t1 - t0))
		bench_load_ms[2]=$((bench_load_ms[2] + t2 - t1))
		! declare -F bench_cql_loaded >/dev/null || bench_cql_loaded "$lo" "$hi"
	done
	# seats is a declared number: CQL compares it as (properties ->> 'seats')::numeric (docs/cql.md)
	bench_sql "SELECT crm.define_property('contact', 'seats', 'number'); ANALYZE;"
}

# the same question twice: CQL, and the SQL one would write by hand
cql_cases=(
	"status = ACTIVE AND lifecycleStage IN (LEAD, CUSTOMER) AND createdAt > NOW - 365d|status = 'active' AND lifecycle_stage IN ('lead', 'customer') AND created_at > now() - interval '365 days'"
	"tags CONTAINS 'vip'|status < 'merged' AND tags @> '{vip}'"
	"tags IN ('trial', 'newsletter')|status < 'merged' AND tags && '{trial,newsletter}'"
	"properties.plan = 'enterprise' AND city = 'Rome'|status < 'merged' AND properties @> '{\"plan\": \"enterprise\"}' AND city = 'Rome'"
	"createdAt = LAST_N_DAYS:7|status < 'merged' AND created_at >= current_date - 7 AND created_at < current_date + 1"
	"email ENDS WITH '7@corp.test'|status < 'merged' AND email ILIKE '%7@corp.test'"
	"name CONTAINS 'hopper 12'|status < 'merged' AND name ILIKE '%hopper 12%'"
	"company.industry = 'Bank' AND lifecycleStage = CUSTOMER|status < 'merged' AND lifecycle_stage = 'customer' AND EXISTS (SELECT 1 FROM crm.contact_companies cc JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id WHERE cc.workspace_id = contacts.workspace_id AND cc.contact_id = contacts.id AND cc.is_primary AND co.industry = 'Bank')"
	"EXISTS companies(employees > 495)|status < 'merged' AND EXISTS (SELECT 1 FROM crm.contact_companies cc JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id WHERE cc.workspace_id = contacts.workspace_id AND cc.contact_id = contacts.id AND co.employees > 495)"
	"properties.seats >= 45 AND city = 'Paris' AND tags IS EMPTY|status < 'merged' AND (properties ->> 'seats')::int >= 45 AND city = 'Paris' AND tags = '{}'"
)

# plan shape: node types and index names, without costs or conditions
plan_nodes() {
	grep -oE '(Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan|Seq Scan|Nested Loop|Hash Join|Merge Join|Hash|Sort|Limit|Gather|SubPlan|InitPlan|Aggregate)( using [a-z_]+| on [a-z_]+)?' |
		tr '\n' ';'
}
plan_shape() {
	psql -X -At -d "$BENCH_DB" -c "EXPLAIN (COSTS OFF) $1" | plan_nodes
}

# finder_plan_shape CALL: the shape of the plan a finder's call runs (its
# statement is prepared and kept per query, src/cql_sql.c): auto_explain
# of the nested statements, at NOTICE so that psql shows it; the call runs
# twice and the kept plan's second run is the one read.  The shape of the
# last plan logged that is not the call's own.
finder_plan_shape() {
	{ psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1 >/dev/null <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
$1;
$1;
SQL
	} | awk -v call="$1" '/^NOTICE:/ {if (plan != "" && index(plan, call) == 0) last = plan; plan = ""}
		{plan = plan $0 "\n"}
		END {if (plan != "" && index(plan, call) == 0) last = plan; printf "%s", last}' | plan_nodes
}

# Median times of SQL $1 and SQL $2 run alternately 15 times each in one
# session, leaving out the first 3 rounds (loading the library, warming
# caches and, for crm, its kept plan); alternating keeps a noisy shared
# machine from favouring either side.  Prints "crm_ms bare_ms".
paired_ms() {
	local script i
	script=$(mktemp)
	{
		printf '\\timing on\n'
		for ((i = 0; i < 15; i++)); do printf '%s\n%s\n' "$1" "$2"; done
	} >"$script"
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" -f "$script" |
		awk '/^Time: /{n++; if (n > 6) print (n % 2 ? "a" : "b"), $2}' |
		awk '{v[$1] = v[$1] " " $2} END {print v["a"]; print v["b"]}' | tee "$BENCH_SPREAD" |
		while read -r line; do
			printf '%s\n' $line | sort -g | awk '{a[NR]=$1} END{printf "%s ", a[int((NR+1)/2)]}'
		done
	echo	# read (under set -e) needs the line ended
	rm -f "$script"
}

# bench_cql_cases [LABEL]: each of cql_cases through crm.find_contacts and
# as hand-written SQL, alternately in one warm session (an application's
# session asks the same question again and again; the hand-written SQL is
# sent as text, parsed and planned every time, as a client would send it),
# reported with whether the two plans have the same shape.  LABEL, when
# given, goes after the case's name.
bench_cql_cases() {
	local label=${1:+ $1} pair cql hand cql_lit crm_ms bare_ms plan same_plans=0
	for pair in "${cql_cases[@]}"; do
		cql=${pair%%|*}
		hand=${pair#*|}
		cql_lit=$(printf '%s' "$cql" | sed "s/'/''/g")
		read -r crm_ms bare_ms < <(paired_ms "SELECT count(*) FROM crm.find_contacts('$cql_lit', 'id', 100);" \
			"SELECT count(*) FROM (SELECT * FROM crm.contacts WHERE workspace_id = 1 AND $hand ORDER BY id LIMIT 100) s;")
		# the plan the finder keeps and runs, not that of its statement's text
		if [ "$(finder_plan_shape "SELECT count(*) FROM crm.find_contacts('$cql_lit', 'id', 100)")" = \
			 "$(plan_shape "SELECT * FROM crm.contacts WHERE workspace_id = 1 AND $hand ORDER BY id LIMIT 100")" ]; then
			plan=same; same_plans=$((same_plans + 1))
		else
			plan=differs
		fi
		report "cql: ${cql:0:40} [plan $plan]$label" "$crm_ms" "$bare_ms" time "<= 1.1"
	done
	echo "cql: $same_plans of ${#cql_cases[@]} plans identical to the hand-written SQL's"
}

# crm.search latency: p95 over many typeahead and typo queries in one session
search_p95() {
	local mode=$1 terms=$2 script t
	script=$(mktemp)
	{
		printf '\\timing on\n'
		# warm the session (library, plans) outside the measured calls
		printf "SELECT count(*) FROM crm.search('warm', '%s') \\\\g /dev/null\n" "$mode"
		printf '\\echo measured\n'
		for t in $terms; do
			printf "SELECT count(*) FROM crm.search('%s', '%s');\n" "$t" "$mode"
		done
	} >"$script"
	psql -X -q -d "$BENCH_DB" -v ON_ERROR_STOP=1 -f "$script" |
		awk '/^measured/{m=1} m && /^Time: /{print $2}' | sort -g |
		awk '{a[NR]=$1} END{i=int(NR*0.95+0.5); if(i<1)i=1; printf "%.1f", a[i]}'
	rm -f "$script"
}
prefix_terms="ada bob hop tur knu lis rit wir dij ham per tor sto cod gra smi lov use user1 user2 comp ban hea med sal ret eve fin gus han ivo dan cy jo paris lon rom ber mad ada1 bob2 eve3 hop4 tur5 knu6 lis7 rit8 wir9 dij1 ham2 per3"
fuzzy_terms="lovlace hoper turring knuht liskof ritchy wirht dijkstr hamilten perlmen torvalts stonebraker cod grey smyth adda bobb evve gus hanna"

# search_p95_in_server TERMS [MODE]: "round-trip-p95 in-server-p95" in ms,
# each term called once as psql times it and once under EXPLAIN ANALYZE
# (the time inside the server: the CPU a call costs, steadier under load).
# A call fetches its rows, as an application does (not a count of them);
# the two calls of a term alternate which goes first, since the first pays
# what the second finds done (hint bits, pages read), and that went to the
# round trip only; and the warm-up also loads the phone library (a term
# that could be a phone number: libphonenumber's first use in a backend,
# about 30 ms once per connection, fell on one measured call).
search_p95_in_server() {
	local mode=${2:-prefix} script t n=0 call explain
	script=$(mktemp)
	{
		printf '\\timing on\n'
		printf "SELECT * FROM crm.search('warm', '%s') \\\\g /dev/null\n" "$mode"
		printf "SELECT * FROM crm.search('+44 20 7946 0958', '%s') \\\\g /dev/null\n" "$mode"
		printf '\\echo measured\n'
		for t in $1; do
			call=$(printf "SELECT * FROM crm.search('%s', '%s') \\\\g /dev/null" "$t" "$mode")
			explain=$(printf "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) SELECT * FROM crm.search('%s', '%s');" "$t" "$mode")
			if ((n++ % 2)); then
				printf '\\echo rt\n%s\n%s\n' "$call" "$explain"
			else
				printf '%s\n\\echo rt\n%s\n' "$explain" "$call"
			fi
		done
	} >"$script"
	# the Time: line after "rt" is the round trip's, any other the EXPLAIN's
	psql -X -q -d "$BENCH_DB" -v ON_ERROR_STOP=1 -f "$script" |
		awk '/^measured/{m=1} m && /^rt$/{r=1} m && /^Time: / && r {print "rt", $2; r=0} m && /Execution Time/{print "in", $3}' |
		awk '{v[$1] = v[$1] " " $2} END {print v["rt"]; print v["in"]}' |
		while read -r line; do
			printf '%s\n' $line | sort -g | awk '{a[NR]=$1} END{i=int(NR*0.95+0.5); if(i<1)i=1; printf "%.1f ", a[i]}'
		done
	echo
	rm -f "$script"
}
