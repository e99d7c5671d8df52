#!/usr/bin/env bash
# CREATE EXTENSION crm CASCADE works in a fresh database, and DROP EXTENSION
# crm leaves no object behind.  The schema "crm" named in crm.control is
# created by CREATE EXTENSION but is not a member of the extension, so DROP
# EXTENSION keeps it: the test checks that it is empty and drops it without
# CASCADE, after which the catalogs match the fresh database exactly.
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..8"

fresh_db crm_drop
# every object of the database, by catalog, name and owner schema
snapshot() {
	q -d crm_drop <<'SQL'
SELECT 'class ' || c.oid::regclass::text || ' ' || c.relkind::text FROM pg_class c UNION ALL
SELECT 'proc ' || p.oid::regprocedure::text FROM pg_proc p UNION ALL
SELECT 'type ' || t.oid::regtype::text FROM pg_type t UNION ALL
SELECT 'namespace ' || n.nspname FROM pg_namespace n UNION ALL
SELECT 'operator ' || o.oid::regoperator::text FROM pg_operator o UNION ALL
SELECT 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text FROM pg_policy p UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text FROM pg_trigger t UNION ALL
SELECT 'extension ' || e.extname FROM pg_extension e UNION ALL
SELECT 'cast ' || c.castsource::regtype::text || '->' || c.casttarget::regtype::text FROM pg_cast c UNION ALL
SELECT 'opclass ' || o.opcname FROM pg_opclass o UNION ALL
SELECT 'event trigger ' || e.evtname FROM pg_event_trigger e UNION ALL
SELECT 'default acl ' || d.defaclrole::regrole::text FROM pg_default_acl d UNION ALL
SELECT 'init priv ' || i.objoid || '/' || i.classoid::regclass::text FROM pg_init_privs i
ORDER BY 1;
SQL
}
snapshot >/tmp/crm_drop_before.$$
[ "$(wc -l </tmp/crm_drop_before.$$)" -gt 1000 ]
ok $? "catalog snapshot of the fresh database ($(wc -l </tmp/crm_drop_before.$$) objects)"

q -d crm_drop -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;'
ok $? "CREATE EXTENSION crm CASCADE in a fresh database"
version=$(sed -n 's/^EXTVERSION = //p' Makefile)
[ "$(q -d crm_drop -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")" = "$version" ]
ok $? "version $version installed, with pg_trgm"
q -d crm_drop -c "SELECT crm.create_workspace('w', 'W'); INSERT INTO crm.contacts (email) VALUES ('a@b.example');" >/dev/null
ok $? "the extension works"

q -d crm_drop -c 'DROP EXTENSION crm; DROP EXTENSION pg_trgm;'
ok $? "DROP EXTENSION crm (without CASCADE)"
left=$(q -d crm_drop -c "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace)
	+ (SELECT count(*) FROM pg_proc WHERE pronamespace = 'crm'::regnamespace)
	+ (SELECT count(*) FROM pg_type WHERE typnamespace = 'crm'::regnamespace)
	+ (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'crm'::regnamespace)")
[ "$left" = 0 ]
ok $? "schema crm is left empty ($left objects)"
q -d crm_drop -c 'DROP SCHEMA crm;'
ok $? "the empty schema crm drops without CASCADE"
snapshot >/tmp/crm_drop_after.$$ || echo "snapshot failed" >>/tmp/crm_drop_after.$$
diff /tmp/crm_drop_before.$$ /tmp/crm_drop_after.$$ | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "the catalogs match the fresh database: nothing left behind"

rm -f /tmp/crm_drop_*.$$
"$PG_BINDIR/dropdb" crm_drop
[ "$failures" = 0 ]
