#!/usr/bin/env bash
# The CSV export path of docs/import-export.md: \copy (SELECT ... FROM
# crm.export_contacts(query)) TO 'f.csv' CSV HEADER in one statement, from
# any session (no temporary object in between), with the declared
# properties as columns named in the select list or taken from the
# workspace's wide view of crm_report; a frontend role exports the same.
set -u
cd "$(dirname "$0")/../.."
db=crm_export_csv
out=$(mktemp -d)
chmod 777 "$out"
psql -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
psql -X -q -c "DROP ROLE IF EXISTS crm_export_csv_app" >/dev/null 2>&1
createdb "$db" && psql -X -q -d "$db" -c 'CREATE EXTENSION crm CASCADE' >/dev/null 2>&1
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
n=0
check() {	# check NAME GOT WANT
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; echo "#   got:  $2"; echo "#   want: $3"; fi
}
echo "1..10"

q >/dev/null <<'SQL'
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro']);
SELECT crm.define_property('contact', 'seats', 'number');
INSERT INTO crm.contacts (name, email, city, lifecycle_stage, tags, properties) VALUES
	('Zoë "Zo" Ångström', 'zoe@example.com', 'Göteborg', 'customer', '{nordic,vip}', '{"plan": "pro", "seats": 3, "utm": "ads"}'),
	('O''Brien, Seán', 'sean@example.ie', NULL, 'lead', '{}', '{"plan": "free"}'),
	('Not Exported', 'no@example.com', 'Rome', 'subscriber', '{}', '{}');
INSERT INTO crm.companies (name, domain, tags) VALUES ('Engines, Ltd', 'engines.example', '{steam}');
CREATE ROLE crm_export_csv_app;
SELECT crm.grant_access('crm_export_csv_app');
SQL

# one statement, no view to build first
q -c "\\copy (SELECT * FROM crm.export_contacts('lifecycleStage IN (CUSTOMER, LEAD)')) TO '$out/contacts.csv' CSV HEADER"
check "the header: every column of crm.contact_export, in order" "$(head -1 "$out/contacts.csv")" \
	"id,name,email,phone,identifier,verified_id,identity_source,avatar_url,city,country,lifecycle_stage,status,merged_into,owner,blocked,tags,conversation_count,activity_count,primary_company_id,primary_company_name,first_seen_at,last_seen_at,created_at,updated_at,deleted_at,properties,metadata,street,address_line2,region,postal_code,linkedin,x,instagram,facebook,github,website"
check "only the contacts the query matches" "$(tail -n +2 "$out/contacts.csv" | wc -l | tr -d ' ')" "2"
check "accents, quotes and tags survive; declared properties and metadata apart" \
	"$(grep -c '^1,"Zoë ""Zo"" Ångström",zoe@example.com,,,,anonymous,,Göteborg,,customer,active,,,f,"{nordic,vip}",0,0,,,.*,"{""plan"": ""pro"", ""seats"": 3}","{""utm"": ""ads""}",,,,,,,,,,$' "$out/contacts.csv")" "1"

# a column per declared property, named in the select list
q -c "\\copy (SELECT id, name, array_to_string(tags, ', ') AS tags, properties ->> 'plan' AS plan, properties ->> 'seats' AS seats FROM crm.export_contacts('lifecycleStage IN (CUSTOMER, LEAD)')) TO '$out/flat.csv' CSV HEADER"
check "properties as columns by name" "$(cat "$out/flat.csv" | tr '\n' ';')" \
	'id,name,tags,plan,seats;1,"Zoë ""Zo"" Ångström","nordic, vip",pro,3;2,"O'"'"'Brien, Seán","",free,;'

# every declared property as a column: the workspace's wide view (crm_report, docs/reporting.md)
q -c "\\copy (SELECT e.id, e.name, w.* FROM crm.export_contacts() e LEFT JOIN crm_report.contact_properties_w1 w ON w.record_id = e.id) TO '$out/wide.csv' CSV HEADER"
check "the wide view adds a typed column per declared property" "$(cat "$out/wide.csv" | tr '\n' ';')" \
	'id,name,workspace_id,record_id,plan,seats;1,"Zoë ""Zo"" Ångström",1,1,pro,3;2,"O'"'"'Brien, Seán",1,2,free,;3,Not Exported,1,3,,;'

# companies too, and a frontend role through RLS with its token's workspace
q -c "SET ROLE crm_export_csv_app" -c "SELECT set_config('request.jwt.claims', '{\"workspace_id\": 1}', false) IS NULL" \
	-c "\\copy (SELECT id, name, tags, contact_count FROM crm.export_companies()) TO '$out/companies.csv' CSV HEADER" >/dev/null
check "a frontend role exports companies" "$(cat "$out/companies.csv" | tr '\n' ';')" 'id,name,tags,contact_count;1,"Engines, Ltd",{steam},0;'

# bad CQL: the translator's error, and no file
err=$(q -c "\\copy (SELECT * FROM crm.export_contacts('lifecycleStag = LEAD')) TO '$out/bad.csv' CSV HEADER" 2>&1)
case "$err" in *'unknown contact field "lifecycleStag"'*) r=yes ;; *) r=no ;; esac
check "bad CQL is an error naming the field" "$r" "yes"
# COPY writes its header before the first row is asked for, and the query's error comes then
check "the failed export writes no row" "$(tail -n +2 "$out/bad.csv" | wc -l | tr -d ' ')" "0"

# the switch off: refused
q -c "SELECT crm.set_limit('export', 0)" >/dev/null
err=$(q -c "\\copy (SELECT * FROM crm.export_contacts()) TO '$out/off.csv' CSV HEADER" 2>&1)
case "$err" in *'limit export of workspace'*'is off'*) r=yes ;; *) r=no ;; esac
check "the export switch off refuses the export" "$r" "yes"
q -c "SELECT crm.set_limit('export', 1)" >/dev/null

check "the data can be read back through psql alone" \
	"$(q <<SQL
CREATE TEMP TABLE back (LIKE crm.contact_export);
\\copy back FROM '$out/contacts.csv' CSV HEADER
SELECT string_agg(name || '|' || coalesce(properties ->> 'plan', '') || '|' || coalesce(properties ->> 'seats', '') || '|' || metadata::text, ';' ORDER BY id) FROM back;
SQL
)" 'Zoë "Zo" Ångström|pro|3|{"utm": "ads"};O'"'"'Brien, Seán|free||{}'
psql -X -q -c "DROP DATABASE $db" >/dev/null 2>&1
psql -X -q -c "DROP ROLE crm_export_csv_app" >/dev/null 2>&1
rm -rf "$out"
