# Inserting SCALE contacts whose properties are validated against five
# definitions (select, number, percent, date, url), against a bare table with
# the same columns and indexes and no triggers.  A second line isolates the
# validation trigger: the same crm insert with and without the definitions.

bench_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS public.bare_contacts;
	CREATE TABLE public.bare_contacts (LIKE crm.contacts INCLUDING DEFAULTS INCLUDING IDENTITY
		INCLUDING CONSTRAINTS INCLUDING INDEXES)"

props_rows="SELECT 'Contact ' || i, 'c' || i || '@example.com',
	jsonb_build_object('plan', (ARRAY['free', 'pro', 'enterprise'])[1 + i % 3],
		'seats', i % 500, 'discount', (i % 1000) / 10.0,
		'renewal', '2025-' || lpad((1 + i % 12)::text, 2, '0') || '-' || lpad((1 + i % 28)::text, 2, '0'),
		'homepage', 'https://example' || i || '.com/pricing')
	FROM generate_series(1, $SCALE) i"

props_define="SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise']);
	SELECT crm.define_property('contact', 'seats', 'number');
	SELECT crm.define_property('contact', 'discount', 'percent');
	SELECT crm.define_property('contact', 'renewal', 'date');
	SELECT crm.define_property('contact', 'homepage', 'url');"
props_reset="SET client_min_messages = warning; TRUNCATE crm.contacts CASCADE; TRUNCATE crm.events; DELETE FROM crm.property_definitions WHERE workspace_id = 1;"

bench_sql "$props_reset $props_define"
read -r crm_ms bare_ms < <(bench_pair "$props_reset $props_define" "INSERT INTO crm.contacts (name, email, properties) $props_rows;" \
	"TRUNCATE public.bare_contacts;" "INSERT INTO public.bare_contacts (name, email, properties) $props_rows;")
report "insert contacts, 5 validated properties vs bare table" "$crm_ms" "$bare_ms" throughput ">= 0.7"

if bench_diagnostic "insert contacts, 5 validated properties vs no definitions"; then
	read -r defs_ms nodefs_ms < <(bench_pair "$props_reset $props_define" "INSERT INTO crm.contacts (name, email, properties) $props_rows;" \
		"$props_reset" "INSERT INTO crm.contacts (name, email, properties) $props_rows;")
	report "insert contacts, 5 validated properties vs no definitions" "$defs_ms" "$nodefs_ms" throughput "-"
fi

bench_sql "$props_reset DROP TABLE public.bare_contacts;"
