#!/usr/bin/env bash
# pg_dump -> pg_restore into a fresh database keeps every row of every crm
# table and every sequence value.  The restore runs with
# session_replication_role = replica, as docs/workspaces.md says: otherwise
# the extension's triggers would fire again for the restored rows (new
# events, conversation_started activities, recounted counters).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..8"

fresh_db crm_dump_src
q -d crm_dump_src -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;'
q -d crm_dump_src -f test/sample.sql -f test/sample_sales.sql >/dev/null
ok $? "sample data loaded"
# rows in workspace 1 too, plus a merged contact (self-reference) and a deleted one
q -d crm_dump_src >/dev/null <<'SQL'
INSERT INTO crm.contacts (name, email) VALUES ('Dump One', 'one@dump.example'), ('Dump Two', 'two@dump.example');
SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE email = 'two@dump.example'),
						  (SELECT id FROM crm.contacts WHERE email = 'one@dump.example'));
UPDATE crm.contacts SET status = 'deleted' WHERE email = 'two@dump.example';
SELECT crm.create_workspace('empty', 'Empty');
-- a table of the DBA's own that refers to contacts polymorphically, registered
CREATE TABLE public.tickets (workspace_id bigint NOT NULL, id bigint PRIMARY KEY, requester_type text, requester_id bigint);
SELECT crm.register_contact_reference('public.tickets', 'requester_id', 'requester_type', 'contact');
INSERT INTO public.tickets VALUES (1, 1, 'contact', (SELECT id FROM crm.contacts WHERE email = 'two@dump.example'));
-- a wide property view (generated, a member of the extension) and a reporting role pinned to acme
SELECT crm.use_workspace('acme');
SELECT crm.define_property('contact', 'dump_tier', 'text');
SET client_min_messages = warning;
DROP ROLE IF EXISTS crm_dump_bi;
CREATE ROLE crm_dump_bi;
SELECT crm.grant_access('crm_dump_bi', access => 'reporting');
SQL

# every table's row count and content hash, every sequence's state
fingerprint() {
	q -d "$1" <<'SQL'
DO $$
DECLARE r record; line text;
BEGIN
	CREATE TEMP TABLE fp (line text);
	FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
			  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY c.oid::regclass::text LOOP
		IF r.relkind = 'S' THEN
			EXECUTE format('SELECT %L || '' last_value='' || last_value || '' is_called='' || is_called FROM %s', r.rel, r.rel) INTO line;
		ELSE
			-- workspace 1 is created by CREATE EXTENSION, not restored: its
			-- created_at is the restore's (docs/workspaces.md, Dumps)
			EXECUTE format('SELECT %L || '' rows='' || count(*) || '' md5='' || coalesce(md5(string_agg(j::text, '','' ORDER BY j::text)), ''-'')
							  FROM (SELECT CASE WHEN %L = ''crm.workspaces'' AND (to_jsonb(t)->>''id'') = ''1''
											   THEN to_jsonb(t) - ''created_at'' ELSE to_jsonb(t) END AS j FROM %s t) s',
						   r.rel, r.rel, r.rel) INTO line;
		END IF;
		INSERT INTO fp VALUES (line);
	END LOOP;
END $$;
SELECT line FROM fp ORDER BY line;
SQL
}
fingerprint crm_dump_src >/tmp/crm_dump_src.$$
"$PG_BINDIR/pg_dump" -Fc -d crm_dump_src -f /tmp/crm_dump.$$ 2>/tmp/crm_dump_err.$$
ok $? "pg_dump"
fresh_db crm_dump_dst
PGOPTIONS='-c session_replication_role=replica' "$PG_BINDIR/pg_restore" -d crm_dump_dst /tmp/crm_dump.$$
ok $? "pg_restore into a fresh database"
fingerprint crm_dump_dst >/tmp/crm_dump_dst.$$
[ "$(grep -c ' rows=' /tmp/crm_dump_src.$$)" -ge 10 ] && [ "$(grep -c 'last_value=' /tmp/crm_dump_src.$$)" -ge 8 ]
ok $? "fingerprint covers every table and sequence ($(wc -l </tmp/crm_dump_src.$$) relations)"
diff /tmp/crm_dump_src.$$ /tmp/crm_dump_dst.$$ | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "every row and every sequence value survived the round trip"
# the restored database keeps working: new ids do not collide
q -d crm_dump_dst -c "SELECT crm.use_workspace('acme'); INSERT INTO crm.contacts (name, email) VALUES ('After restore', 'after@restore.example');" >/dev/null
ok $? "inserting after the restore continues the sequences"
[ "$(q -d crm_dump_dst -At -c "SELECT count(*) FROM crm.contact_references WHERE rel = 'public.tickets'::regclass AND NOT builtin")" = 1 ] \
	&& [ "$(q -d crm_dump_dst -At -c "SELECT count(*) FROM crm.contact_references WHERE builtin")" \
		 = "$(q -d crm_dump_src -At -c "SELECT count(*) FROM crm.contact_references WHERE builtin")" ]
ok $? "a registered contact reference of the DBA's survives, the built-in ones are not doubled"

# the wide view is generated again from the restored definitions, with its grant, and the role is pinned
reporting() {
	q -d "$1" -At -c "SELECT string_agg(c.relname || ' ' || has_table_privilege('crm_dump_bi', c.oid, 'SELECT'), ',' ORDER BY c.relname)
					  FROM pg_class c WHERE c.relnamespace = 'crm_report'::regnamespace AND c.relname LIKE '%\_properties\_w%'" \
		-c "SET ROLE crm_dump_bi" -c "SET crm.workspace_id = 1" -c "SELECT crm.current_workspace() = (SELECT id FROM crm.workspaces WHERE slug = 'acme')"
}
src=$(reporting crm_dump_src | tr '\n' ' '); dst=$(reporting crm_dump_dst | tr '\n' ' ')
[ "$dst" = "$src" ] && [[ "$src" == *"_properties_w"*" true"* ]]
ok $? "the wide property views come back with the definitions, granted; the reporting role stays pinned ($dst)"

rm -f /tmp/crm_dump*.$$
"$PG_BINDIR/dropdb" crm_dump_src; "$PG_BINDIR/dropdb" crm_dump_dst
q -d postgres -c "DROP ROLE crm_dump_bi" >/dev/null
[ "$failures" = 0 ]
