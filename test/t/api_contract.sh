#!/usr/bin/env bash
# docs/api.md is the API contract: every table, view and function of schema
# crm has a row there (tables and views: what SELECT, INSERT, UPDATE and
# DELETE do for a granted role).  Walks the catalogue of a fresh install
# and fails when an exposed object has no row, so nothing new is exposed
# unreviewed, or when a row names an object that no longer exists; and
# fails when a function name is overloaded, for PostGraphile v4 leaves such
# a name out of its schema (its introspection keeps a function only when
# its name is alone in the namespace).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..6"

doc=docs/api.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the rows of one section: its first cells that name crm.<object>
rows() {
	sed -n "/^### $1\$/,/^##/p" "$doc" | sed -nE 's/^\| `crm\.([a-z0-9_]+)`.*/\1/p' | sort -u
}
rows 'Tables and views' >"$tmp/doc_relations"
rows 'Functions' >"$tmp/doc_functions"

fresh_db crm_contract
q -d crm_contract -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;' >/dev/null
q -d crm_contract -c "SELECT relname FROM pg_class WHERE relnamespace = 'crm'::regnamespace
						AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1" | sort -u >"$tmp/relations"
q -d crm_contract -c "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'crm'::regnamespace" | sort -u >"$tmp/functions"
q -d crm_contract -c "SELECT string_agg(oid::regprocedure::text, ' | ' ORDER BY oid::regprocedure::text) FROM pg_proc
						WHERE pronamespace = 'crm'::regnamespace GROUP BY proname HAVING count(*) > 1 ORDER BY proname" >"$tmp/overloaded"
"$PG_BINDIR/dropdb" crm_contract

check() {  # check <list of offenders> <description> [prefix of each offender]
	[ ! -s "$1" ]
	ok $? "$2"
	sed "s/^/#   ${3-crm.}/" "$1"
}
comm -23 "$tmp/relations" "$tmp/doc_relations" >"$tmp/missing"
check "$tmp/missing" "every table and view of schema crm has a row in $doc ($(wc -l <"$tmp/relations") objects)"
comm -23 "$tmp/functions" "$tmp/doc_functions" >"$tmp/missing"
check "$tmp/missing" "every function of schema crm has a row in $doc ($(wc -l <"$tmp/functions") names)"
comm -13 "$tmp/relations" "$tmp/doc_relations" >"$tmp/stale"
check "$tmp/stale" "every table and view row of $doc names an object that exists"
comm -13 "$tmp/functions" "$tmp/doc_functions" >"$tmp/stale"
check "$tmp/stale" "every function row of $doc names a function that exists"
# object | a member needs | SELECT | INSERT | UPDATE | DELETE, none of them empty
sed -n '/^### Tables and views$/,/^##/p' "$doc" | grep '^| `crm\.' \
	| awk -F'|' 'NF != 8 { print; next } { for (i = 2; i <= 7; i++) if ($i ~ /^ *$/) { print; next } }' >"$tmp/bad"
check "$tmp/bad" "every table and view row says what a member needs and what SELECT, INSERT, UPDATE and DELETE do" ""
check "$tmp/overloaded" "no function name in schema crm is overloaded (PostGraphile drops overloaded names)" ""
[ "$failures" = 0 ]
