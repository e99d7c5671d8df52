# Owner-based privacy (docs/members.md): crm.find_contacts and crm.search
# by an agent who owns 1% of $SCALE contacts, under crm.set_privacy('owner'),
# against the hand-written query with the same predicate run by the owner
# (no row-level security); then the same calls in the workspace set back to
# 'everyone' against the hand-written query without it.  Target: <= 1.2.
# Sourced by bench/run; SCALE up to 1000000 for this case.

bench_sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_bench_app') THEN CREATE ROLE crm_bench_app; END IF; END \$\$"
bench_sql "SELECT crm.grant_access('crm_bench_app')"
ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-privacy', 'Privacy')")
bench_sql "SET crm.workspace_id = $ws;
SELECT crm.create_pipeline('Sales', 'b2b_sales');
INSERT INTO crm.contacts (name, email, owner)
SELECT 'Seed ' || g, 'seed' || g || '@example.com', CASE WHEN g % 100 = 0 THEN 'agent-1' ELSE 'agent-' || (2 + g % 49) END
  FROM generate_series(1, $SCALE) g;
INSERT INTO crm.deals (title, owner, contact_id)
SELECT 'Deal ' || g, 'agent-1', c.id FROM generate_series(1, 20) g
  JOIN crm.contacts c ON c.workspace_id = $ws AND c.email = 'seed' || (g * 37 + 1) || '@example.com';
SELECT crm.add_member('owner', 'admin');
SELECT crm.add_member('agent-' || g, 'agent') FROM generate_series(1, 50) g;
SELECT crm.set_privacy('owner');"
bench_sql "VACUUM ANALYZE"
deal_contacts=$(psql -X -At -d "$BENCH_DB" -c "SELECT array_agg(contact_id ORDER BY contact_id) FROM crm.deals WHERE workspace_id = $ws")

# Median times of crm SQL $1 (as agent $3 of the workspace, a frontend role
# with PostgREST's claims) and bare SQL $2 (as the owner), alternately 15
# times each in one session, leaving out the first 3 rounds.
privacy_paired_ms() {
	local script i
	script=$(mktemp)
	{
		for ((i = 0; i < 15; i++)); do
			printf "SET ROLE crm_bench_app;\nSET request.jwt.claims = '{\"sub\": \"%s\", \"workspace_id\": %s}';\n" "$3" "$ws"
			printf '\\timing on\n%s\n\\timing off\nRESET ROLE;\nRESET request.jwt.claims;\n' "$1"
			printf '\\timing on\n%s\n\\timing off\n' "$2"
		done
	} >"$script"
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" -f "$script" |
		awk '/^Time: /{n++; if (n > 6) print (n % 2 ? "a" : "b"), $2}' |
		awk '{v[$1] = v[$1] " " $2} END {print v["a"]; print v["b"]}' | tee "$BENCH_SPREAD" |
		while read -r line; do
			printf '%s\n' $line | sort -g | awk '{a[NR]=$1} END{printf "%s ", a[int((NR+1)/2)]}'
		done
	echo
	rm -f "$script"
}

mine="(owner = 'agent-1' OR id = ANY ('$deal_contacts'::bigint[]))"
find_bare() {  # find_bare <predicate>: the hand-written find_contacts('', 'id', 100)
	echo "SELECT count(*) FROM (SELECT * FROM crm.contacts WHERE workspace_id = $ws AND status < 'merged' AND $1 ORDER BY id LIMIT 100) s;"
}
search_bare() {  # search_bare <predicate>: the contact parts of crm.search('seed 12', 'prefix', 'contact', 20)
	echo "SELECT count(*) FROM (SELECT DISTINCT ON (id) * FROM (
		(SELECT id, name FROM crm.contacts WHERE workspace_id = $ws AND status < 'merged' AND $1
		   AND lower(name) COLLATE \"C\" LIKE 'seed 12%' ORDER BY lower(name) COLLATE \"C\" LIMIT 20)
		UNION ALL
		(SELECT id, email FROM crm.contacts WHERE workspace_id = $ws AND status < 'merged' AND $1
		   AND email COLLATE \"C\" LIKE 'seed 12%' ORDER BY email COLLATE \"C\" LIMIT 20)) h ORDER BY id LIMIT 20) s;"
}
find_crm="SELECT count(*) FROM crm.find_contacts('', 'id', 100);"
search_crm="SELECT count(*) FROM crm.search('seed 12', 'prefix', 'contact', 20);"

read -r crm_ms bare_ms < <(privacy_paired_ms "$find_crm" "$(find_bare "$mine")" agent-1)
report "privacy owner: find_contacts, agent owning 1%" "$crm_ms" "$bare_ms" time "<= 1.2"
read -r crm_ms bare_ms < <(privacy_paired_ms "$search_crm" "$(search_bare "$mine")" agent-1)
report "privacy owner: search prefix, agent owning 1%" "$crm_ms" "$bare_ms" time "<= 1.2"
read -r crm_ms bare_ms < <(privacy_paired_ms "$find_crm" "$(find_bare true)" owner)
report "privacy owner: find_contacts, admin (sees all)" "$crm_ms" "$bare_ms" time "<= 1.2"

bench_sql "SET crm.workspace_id = $ws; SELECT crm.set_privacy('everyone')"
read -r crm_ms bare_ms < <(privacy_paired_ms "$find_crm" "$(find_bare true)" agent-1)
report "privacy everyone: find_contacts, agent" "$crm_ms" "$bare_ms" time "<= 1.2"
read -r crm_ms bare_ms < <(privacy_paired_ms "$search_crm" "$(search_bare true)" agent-1)
report "privacy everyone: search prefix, agent" "$crm_ms" "$bare_ms" time "<= 1.2"

# no DELETE of the workspace: at 1M contacts it outlasts the case; bench/run drops the database
bench_sql "DROP OWNED BY crm_bench_app; DROP ROLE crm_bench_app"
