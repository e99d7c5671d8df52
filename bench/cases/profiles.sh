# Inserting SCALE contacts with a postal address (the country as an English
# name) and three social profiles, each normalised by the contacts trigger
# (src/profiles.c), against a bare table with the same columns and indexes
# and no triggers.  A second line isolates the normalisation: the same crm
# insert without the address and profile columns.

bench_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS public.bare_contacts;
	CREATE TABLE public.bare_contacts (LIKE crm.contacts INCLUDING DEFAULTS INCLUDING IDENTITY
		INCLUDING CONSTRAINTS INCLUDING INDEXES)"

profile_rows="SELECT 'Contact ' || i, 'c' || i || '@example.com', ' ' || i || ' Main Street ', 'City ' || i % 100,
	'sw' || i % 90 || ' ' || i % 9 || 'aa', (ARRAY['France', 'gb', 'DEU', 'United States'])[1 + i % 4],
	'https://www.linkedin.com/in/Person-' || i || '/', '@person_' || i, 'Person' || i || '.example.com/'
	FROM generate_series(1, $SCALE) i"
plain_rows="SELECT 'Contact ' || i, 'c' || i || '@example.com' FROM generate_series(1, $SCALE) i"
columns="name, email, street, city, postal_code, country, linkedin, x, website"
reset="SET client_min_messages = warning; TRUNCATE crm.contacts CASCADE; TRUNCATE crm.events;"

if bench_diagnostic "insert contacts with address and 3 profiles vs bare table"; then
	read -r crm_ms bare_ms < <(bench_pair "$reset" "INSERT INTO crm.contacts ($columns) $profile_rows;" \
		"TRUNCATE public.bare_contacts;" "INSERT INTO public.bare_contacts ($columns) $profile_rows;")
	report "insert contacts with address and 3 profiles vs bare table" "$crm_ms" "$bare_ms" throughput "-"
fi

if bench_diagnostic "insert contacts with address and 3 profiles vs without"; then
	read -r crm_ms plain_ms < <(bench_pair "$reset" "INSERT INTO crm.contacts ($columns) $profile_rows;" \
		"$reset" "INSERT INTO crm.contacts (name, email) $plain_rows;")
	report "insert contacts with address and 3 profiles vs without" "$crm_ms" "$plain_ms" throughput "-"
fi

bench_sql "$reset DROP TABLE public.bare_contacts;"
