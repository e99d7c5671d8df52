#!/usr/bin/env bash
# The psql-only CSV import path of docs/identity.md: \copy a UTF-8 file into a
# staging table, jsonb_agg the rows, crm.import_contacts.  The file has
# accents, quotes, a comma inside a quoted cell, empty cells, a duplicate, and
# a header naming an unknown property.
set -u
cd "$(dirname "$0")/../.."
db=crm_import_csv
psql -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
createdb "$db" && psql -X -q -d "$db" -c 'CREATE EXTENSION crm CASCADE' >/dev/null 2>&1
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
n=0
check() {	# check NAME GOT WANT
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; echo "#   got:  $2"; echo "#   want: $3"; fi
}
echo "1..7"

stage='CREATE TABLE import_csv (name text, email text, phone text, city text, tags text,
                                "properties.plan" text, favourite_colour text);
\copy import_csv FROM test/data/contacts.csv WITH (FORMAT csv, HEADER true, ENCODING '"'"'UTF8'"'"')'

# an unknown header: every row is rejected, the error lists the valid keys
out=$(q <<SQL
$stage
SELECT string_agg(action, ',' ORDER BY row_number), min(error)
  FROM crm.import_contacts((SELECT jsonb_agg(to_jsonb(s)) FROM import_csv s));
SQL
)
check "unknown header: all rows rejected" "${out%%|*}" "rejected,rejected,rejected,rejected"
case "$out" in *'unknown key "favourite_colour"; valid keys are: name, email, phone'*) r=yes ;; *) r=no ;; esac
check "the error names the header and lists the valid keys" "$r" "yes"
check "nothing was imported" "$(q -c 'SELECT count(*) FROM crm.contacts')" "0"

# renamed as a free-form property, the same file imports
out=$(q <<SQL
ALTER TABLE import_csv RENAME COLUMN favourite_colour TO "properties.favourite_colour";
SELECT string_agg(action, ',' ORDER BY row_number)
  FROM crm.import_contacts((SELECT jsonb_agg(to_jsonb(s)) FROM import_csv s));
SQL
)
check "rows inserted, the duplicate row updates the first" "$out" "inserted,inserted,inserted,updated"
check "accents and quotes survive" \
	"$(q -c "SELECT name || '|' || city || '|' || array_to_string(tags, ';') || '|' || (properties->>'plan') || '|' || (properties->>'favourite_colour') FROM crm.contacts WHERE email = 'zoe@example.com'")" \
	'Zoë "Zo" Ångström|Göteborg|nordic;vip|pro|blue'
check "a comma inside a quoted cell and empty cells" \
	"$(q -c "SELECT name || '|' || coalesce(phone, 'NULL') || '|' || city || '|' || properties::text FROM crm.contacts WHERE email = 'sean@example.ie'")" \
	"O'Brien, Seán|NULL|Dún Laoghaire|{\"plan\": \"free\"}"
check "a row of empty cells is a contact with a name only" \
	"$(q -c "SELECT coalesce(email, 'NULL') || '|' || properties::text || '|' || tags::text FROM crm.contacts WHERE name = 'Empty Cells'")" \
	"NULL|{}|{}"
psql -X -q -c "DROP DATABASE $db" >/dev/null 2>&1
