# Dynamic lists: a contact UPDATE of 10% of SCALE contacts (one statement)
# with 0, 10 and 100 dynamic lists, and the C triggers against a PL/pgSQL
# reference trigger that runs each list's translated SQL for each updated
# row.  Two updates: one rewrites properties.seats, which every list reads
# (seats moves between n and n + 0.5, which no "seats >= k" with a whole k
# tells apart), so every filter is evaluated for every row; the other
# rewrites properties with a key no list reads.  Neither changes a
# membership, so the figures are the cost of keeping lists exact, not of
# writing members.  A last row compares the seats update with and without
# the 100 lists alternately, on the same table.
# Sourced by bench/run.

bench_sql "
INSERT INTO crm.companies (name, domain, industry, employees)
SELECT 'Company ' || g, 'company' || g || '.example',
	   (ARRAY['SaaS', 'Retail', 'Bank', 'Health', 'Media'])[1 + g % 5], g % 500
  FROM generate_series(1, greatest($SCALE / 20, 10)) g;
INSERT INTO crm.contacts (name, email, city, lifecycle_stage, tags, properties, last_seen_at)
SELECT 'Person ' || g, 'user' || g || '@example.com',
	   (ARRAY['Paris', 'London', 'Rome', 'Berlin', 'Madrid', NULL])[1 + g % 6],
	   (ARRAY['subscriber', 'lead', 'marketing_qualified', 'sales_qualified', 'opportunity', 'customer',
			  'evangelist', 'other'])[1 + g % 8]::crm.lifecycle_stage,
	   CASE WHEN g % 25 = 0 THEN '{vip}' WHEN g % 7 = 0 THEN '{trial}' WHEN g % 5 = 0 THEN '{newsletter}' ELSE '{}' END::text[],
	   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + g % 4], 'seats', g % 50),
	   now() - (g % 90) * interval '1 day'
  FROM generate_series(1, $SCALE) g;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, 1 + c.id % greatest($SCALE / 20, 10), true FROM crm.contacts c WHERE c.id % 3 <> 0;
ANALYZE;"

# 100 filters that each read properties plus another field or a relation
lists_make="SELECT crm.create_list('bench ' || k, 'contact', 'dynamic',
	format('properties.seats >= %s AND %s', k % 50,
		(ARRAY['tags CONTAINS ''vip''', 'lifecycleStage = CUSTOMER', 'city = ''Paris''',
			   'company.industry = ''SaaS''', 'properties.plan = ''pro''', 'lastSeenAt > NOW - 30d',
			   'tags IN (''trial'', ''newsletter'')', 'lifecycleStage IN (lead, opportunity)'])[1 + k % 8]))
	FROM generate_series(1, \$N) k;"
lists_drop="SET client_min_messages = warning; DELETE FROM crm.lists WHERE name LIKE 'bench %';"
seats_sql="UPDATE crm.contacts SET properties = jsonb_set(properties, '{seats}',
	to_jsonb(floor((properties ->> 'seats')::numeric) + CASE WHEN (properties ->> 'seats')::numeric % 1 = 0 THEN 0.5 ELSE 0 END))
	WHERE id % 10 = 3;"
touch_sql="UPDATE crm.contacts SET properties = properties || jsonb_build_object('touch', clock_timestamp()) WHERE id % 10 = 3;"

measure_lists() {	# N lists -> median ms of the seats update, of the touch update
	local n=$1
	bench_sql "$lists_drop ${lists_make//\$N/$n}" >/dev/null
	echo "$(bench_ms "" "$seats_sql") $(bench_ms "" "$touch_sql")"
}
bench_sql "$seats_sql $touch_sql"	# warm the table and indexes once
# one state after the other (informational: the alternating rows below
# carry the target): BENCH_DIAGNOSTICS=1
if bench_diagnostic "contact UPDATE of seats (10%), 0, 10 and 100 lists, in turn"; then
	read -r none_ms none_touch_ms < <(measure_lists 0)
	read -r ten_ms ten_touch_ms < <(measure_lists 10)
	read -r hundred_ms hundred_touch_ms < <(measure_lists 100)
	report "contact UPDATE of seats (10% of rows), 10 lists vs none" "$ten_ms" "$none_ms" time "-"
	report "contact UPDATE of seats (10% of rows), 100 lists vs none" "$hundred_ms" "$none_ms" time "-"
	report "contact UPDATE of an unread key (10%), 100 lists vs none" "$hundred_touch_ms" "$none_touch_ms" time "-"
else
	bench_sql "$lists_drop ${lists_make//\$N/100}" >/dev/null
fi

# The reference: a row trigger running every list's SQL for the row and
# writing the difference, with the C triggers switched off; both on the
# same 100 lists and the same 1% of the rows.
bench_sql "
CREATE TABLE public.bench_list_sql AS
SELECT l.id, crm.cql_to_sql('contact', l.filter) AS sql FROM crm.lists l WHERE l.name LIKE 'bench %';
CREATE FUNCTION public.bench_reference_sync() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
	l record;
	hit boolean;
	member boolean;
BEGIN
	FOR l IN SELECT * FROM public.bench_list_sql LOOP
		EXECUTE format('SELECT contacts.status < ''merged'' AND (%s) FROM crm.contacts contacts WHERE contacts.workspace_id = \$1 AND contacts.id = \$2', l.sql)
			INTO hit USING NEW.workspace_id, NEW.id;
		member := EXISTS (SELECT 1 FROM crm.list_members m WHERE m.workspace_id = NEW.workspace_id AND m.list_id = l.id AND m.contact_id = NEW.id);
		IF hit AND NOT member THEN
			INSERT INTO crm.list_members (workspace_id, list_id, object_type, contact_id, source) VALUES (NEW.workspace_id, l.id, 'contact', NEW.id, 'filter');
		ELSIF member AND NOT coalesce(hit, false) THEN
			DELETE FROM crm.list_members m WHERE m.workspace_id = NEW.workspace_id AND m.list_id = l.id AND m.contact_id = NEW.id;
		END IF;
	END LOOP;
	RETURN NULL;
END;
\$\$;" >/dev/null
small_update="UPDATE crm.contacts SET properties = jsonb_set(properties, '{seats}',
	to_jsonb(floor((properties ->> 'seats')::numeric) + CASE WHEN (properties ->> 'seats')::numeric % 1 = 0 THEN 0.5 ELSE 0 END))
	WHERE id % 100 = 7;"
# alternately: the reference (crm's side of the ratio) and the C triggers;
# the reference once when the first pair is 40x apart (bench_pair)
read -r ref_ms c_ms < <(bench_pair "ALTER TABLE crm.contacts DISABLE TRIGGER contacts_lists_update;
	CREATE TRIGGER bench_reference AFTER UPDATE ON crm.contacts FOR EACH ROW EXECUTE FUNCTION public.bench_reference_sync();" \
	"$small_update" \
	"DROP TRIGGER IF EXISTS bench_reference ON crm.contacts; ALTER TABLE crm.contacts ENABLE TRIGGER contacts_lists_update;" \
	"$small_update" "" time ">= 10")
bench_sql "DROP TRIGGER IF EXISTS bench_reference ON crm.contacts; ALTER TABLE crm.contacts ENABLE TRIGGER contacts_lists_update;
	DROP FUNCTION public.bench_reference_sync(); DROP TABLE public.bench_list_sql;" >/dev/null
report "PL/pgSQL per-row reference vs C list triggers (100 lists, 1%)" "$ref_ms" "$c_ms" time ">= 10"

# The seats update again, the two sides alternating on the same table: the
# rows above measure "none" first, before the later phases' updates have
# bloated the table and while nothing vacuums the new memberships.  The 100
# lists are switched to snapshot lists (kept, never evaluated: no dynamic
# list) and back between runs, behind the row checks' back (a list's kind
# cannot change through the API); a seats update changes no membership.
alt_none=()
alt_lists=()
alt_touch_none=()
alt_touch_lists=()
for ((i = 0; i < BENCH_RUNS; i++)); do
	bench_sql "ALTER TABLE crm.lists DISABLE TRIGGER lists_check;
		UPDATE crm.lists SET kind = 'snapshot' WHERE name LIKE 'bench %';
		ALTER TABLE crm.lists ENABLE TRIGGER lists_check;"
	alt_none+=("$(bench_ms "" "$seats_sql" 1)")
	alt_touch_none+=("$(bench_ms "" "$touch_sql" 1)")
	bench_sql "ALTER TABLE crm.lists DISABLE TRIGGER lists_check;
		UPDATE crm.lists SET kind = 'dynamic' WHERE name LIKE 'bench %';
		ALTER TABLE crm.lists ENABLE TRIGGER lists_check;"
	alt_lists+=("$(bench_ms "" "$seats_sql" 1)")
	alt_touch_lists+=("$(bench_ms "" "$touch_sql" 1)")
done
# the 100 lists stay: bench/run drops the case's database (deleting their
# members through the row path took a tenth of the case)
spread_record "${alt_lists[*]}" "${alt_none[*]}"
report "seats (10%), 100 lists vs none, alternating" "$(median "${alt_lists[@]}")" "$(median "${alt_none[@]}")" time "<= 1.3"
spread_record "${alt_touch_lists[*]}" "${alt_touch_none[*]}"
report "unread key (10%), 100 lists vs none, alternating" "$(median "${alt_touch_lists[@]}")" "$(median "${alt_touch_none[@]}")" time "<= 1.3"
