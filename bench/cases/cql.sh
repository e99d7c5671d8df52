# CQL: crm.find_contacts(cql) against the hand-written SQL for the same
# question (ratio of median times, and whether the two plans match), and
# crm.search prefix/fuzzy p95 latency.  Sourced by bench/run.

bench_sql "
INSERT INTO crm.companies (name, domain, industry, employees)
SELECT 'Company ' || g, 'company' || g || '.example',
	   (ARRAY['SaaS', 'Retail', 'Bank', 'Health', 'Media'])[1 + g % 5], g % 500
  FROM generate_series(1, greatest($SCALE / 20, 10)) g;
INSERT INTO crm.contacts (name, email, city, lifecycle_stage, status, tags, properties, created_at)
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
  FROM generate_series(1, $SCALE) g;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, 1 + c.id % greatest($SCALE / 20, 10), true FROM crm.contacts c WHERE c.id % 3 <> 0;
-- seats is a declared number: CQL compares it as (properties ->> 'seats')::numeric (docs/cql.md)
SELECT crm.define_property('contact', 'seats', 'number');
ANALYZE;"

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
plan_shape() {
	psql -X -At -d "$BENCH_DB" -c "EXPLAIN (COSTS OFF) $1" |
		grep -oE '(Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan|Seq Scan|Nested Loop|Hash Join|Merge Join|Hash|Sort|Limit|Gather|SubPlan|InitPlan|Aggregate)( using [a-z_]+| on [a-z_]+)?' |
		tr '\n' ';'
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

same_plans=0
for pair in "${cql_cases[@]}"; do
	cql=${pair%%|*}
	hand=${pair#*|}
	cql_lit=$(printf '%s' "$cql" | sed "s/'/''/g")
	# an application's session asks the same question again and again: each
	# side runs it repeatedly in one warm session, the hand-written SQL sent
	# as text (parsed and planned every time, as a client would send it)
	read -r crm_ms bare_ms < <(paired_ms "SELECT count(*) FROM crm.find_contacts('$cql_lit', 'id', 100);" \
		"SELECT count(*) FROM (SELECT * FROM crm.contacts WHERE workspace_id = 1 AND $hand ORDER BY id LIMIT 100) s;")
	translated=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm_hidden.cql_where('contact', '$cql_lit')")
	if [ "$(plan_shape "SELECT * FROM crm.contacts WHERE $translated ORDER BY contacts.id LIMIT 100")" = \
		 "$(plan_shape "SELECT * FROM crm.contacts WHERE workspace_id = 1 AND $hand ORDER BY id LIMIT 100")" ]; then
		plan=same; same_plans=$((same_plans + 1))
	else
		plan=differs
	fi
	report "cql: ${cql:0:40} [plan $plan]" "$crm_ms" "$bare_ms" time "<= 1.1"
done
echo "cql: $same_plans of ${#cql_cases[@]} plans identical to the hand-written SQL's"

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
report_abs "search: prefix p95 (${SCALE} contacts)" "$(search_p95 prefix "$prefix_terms")" ms "p95 <= 10 ms"
report_abs "search: fuzzy p95 (${SCALE} contacts)" "$(search_p95 fuzzy "$fuzzy_terms")" ms "p95 <= 10 ms"
