#!/usr/bin/env bash
# README.md's "Reference" table names every function and view of schema crm
# a user can call or read (issue 18, item 6).  Walks the catalogue of a
# fresh install and fails when one is missing from the table, or when the
# table names something that does not exist.  A cell may shorten names
# that share a prefix: `crm.find_contacts/companies` is find_contacts and
# find_companies, `crm.bulk_tag/bulk_untag` bulk_tag and bulk_untag.
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..3"

doc=README.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the names in the first cell of the reference table's rows (rows of kind
# "settings" name GUCs, not objects)
sed -n '/^## Reference$/,/^## /p' "$doc" | grep '^| `crm\.' | awk -F'|' '$3 !~ /setting/ { print $2 }' \
	| grep -oE 'crm\.[a-z0-9_]+(/[a-z0-9_]+)*' | sed 's/^crm\.//' \
	| awk -F/ '{
		first = $1; print first
		split(first, seg, "_"); head = seg[1] "_"
		prefix = first; sub(/_[^_]*$/, "_", prefix)
		for (i = 2; i <= NF; i++) print (index($i, head) == 1 ? $i : prefix $i)
	}' | sort -u >"$tmp/documented"
[ -s "$tmp/documented" ]
ok $? "$doc has a reference table ($(wc -l <"$tmp/documented") names)"

fresh_db crm_readme
q -d crm_readme -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;' >/dev/null
q -d crm_readme -c "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'crm'::regnamespace
					UNION SELECT relname FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind IN ('v', 'm')" \
	| sort -u >"$tmp/exposed"
q -d crm_readme -c "SELECT relname FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f')
					UNION SELECT proname FROM pg_proc WHERE pronamespace = 'crm'::regnamespace
					UNION SELECT typname FROM pg_type WHERE typnamespace = 'crm'::regnamespace" \
	| sort -u >"$tmp/existing"
"$PG_BINDIR/dropdb" crm_readme

comm -23 "$tmp/exposed" "$tmp/documented" >"$tmp/missing"
[ ! -s "$tmp/missing" ]
ok $? "every function and view of schema crm is in $doc's reference table ($(wc -l <"$tmp/exposed") names)"
sed 's/^/#   missing: crm./' "$tmp/missing"
comm -13 "$tmp/existing" "$tmp/documented" >"$tmp/stale"
[ ! -s "$tmp/stale" ]
ok $? "every name in $doc's reference table exists"
sed 's/^/#   stale: crm./' "$tmp/stale"
[ "$failures" = 0 ]
