#!/usr/bin/env bash
# The permission matrix, generated from the API contract: for every table of
# schema crm, every write verb and every kind of member (the four roles and
# a member with an exact set), a statement of a frontend role carrying the
# member's token is allowed or refused (42501) as the column "a member
# needs" of docs/api.md says, with the role defaults of docs/members.md.
# The statements change no row (WHERE false): the check is made once per
# statement, before any row.  Functions write through these tables, so they
# are held to the same cells (test/sql/members.sql calls them as each role).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..5"

doc=docs/api.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# table|permission from the contract ("-" for a table no member may write)
sed -n '/^### Tables and views$/,/^##/p' "$doc" | grep '^| `crm\.' \
	| awk -F'|' '{ t = $2; gsub(/[ `]/, "", t); sub(/^crm\./, "", t); n = $3;
				   if (match(n, /^ *`[a-z_]+`/)) { p = substr(n, RSTART, RLENGTH); gsub(/[ `]/, "", p) } else p = "-";
				   if (n !~ /^ *as /) print t "|" p }' >"$tmp/contract"
[ "$(wc -l <"$tmp/contract")" -ge 30 ]
ok $? "the contract names what a member needs for each table ($(wc -l <"$tmp/contract") rows)"

fresh_db crm_perm
q -c "DROP ROLE IF EXISTS crm_perm_app" 2>/dev/null
q -d crm_perm >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
CREATE ROLE crm_perm_app;
SELECT crm.grant_access('crm_perm_app');
SELECT crm.create_workspace('perm', 'Permissions');
SELECT crm.use_workspace('perm');
SELECT crm.add_member('alice', 'admin'), crm.add_member('mia', 'manager'), crm.add_member('bob', 'agent'),
	   crm.add_member('vic', 'viewer');
INSERT INTO crm.members (user_id, role, permissions) VALUES ('cora', 'agent', ARRAY['custom_objects_manage']);
CREATE TABLE public.contract (tab text, permission text);
GRANT SELECT ON public.contract TO crm_perm_app;
SQL
q -d crm_perm -c "\copy public.contract FROM '$tmp/contract' WITH (DELIMITER '|')"

# the catalogue agrees with the contract: each table's permission trigger
q -d crm_perm >"$tmp/catalogue_diff" <<'SQL'
SELECT c.relname || ': contract says ' || coalesce(k.permission, '(no row)') || ', trigger says '
	   || coalesce(encode(t.tgargs, 'escape'), '-')
  FROM pg_class c
  LEFT JOIN public.contract k ON k.tab = c.relname
  LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'permission'
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
   AND coalesce(k.permission, '?') IS DISTINCT FROM coalesce(rtrim(encode(t.tgargs, 'escape'), '\000'), '-')
 ORDER BY 1;
SQL
[ $? = 0 ] && [ ! -s "$tmp/catalogue_diff" ]
ok $? "every table's permission trigger is the one the contract names"
sed 's/^/#   /' "$tmp/catalogue_diff"

# each member, as the frontend role with their token, tries a no-row
# INSERT, UPDATE and DELETE of every table; the outcome per cell
for user in alice mia bob vic cora; do
	q -d crm_perm <<SQL
SELECT id AS ws FROM crm.workspaces WHERE slug = 'perm' \gset
SET ROLE crm_perm_app;
SELECT set_config('request.jwt.claims', json_build_object('sub', '$user', 'workspace_id', :ws)::text, false) IS NULL AS token \gset
CREATE TEMP TABLE cells (tab text, verb text, outcome text);
DO \$\$
DECLARE
	t record;
	v text;
	col text;
	outcome text;
BEGIN
	FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' LOOP
		SELECT a.attname INTO col FROM pg_attribute a
		 WHERE a.attrelid = ('crm.' || t.relname)::regclass AND a.attnum > 0 AND NOT a.attisdropped
		 ORDER BY a.attname <> 'workspace_id', a.attnum LIMIT 1;
		FOREACH v IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE'] LOOP
			outcome := 'ok';
			BEGIN
				EXECUTE CASE v
					WHEN 'INSERT' THEN format('INSERT INTO crm.%I (%I) SELECT %I FROM crm.%I WHERE false', t.relname, col, col, t.relname)
					WHEN 'UPDATE' THEN format('UPDATE crm.%I SET %I = %I WHERE false', t.relname, col, col)
					ELSE format('DELETE FROM crm.%I WHERE false', t.relname) END;
			EXCEPTION WHEN OTHERS THEN
				outcome := SQLSTATE;
			END;
			INSERT INTO cells VALUES (t.relname, v, outcome);
		END LOOP;
	END LOOP;
END
\$\$;
SELECT '$user', tab, verb, outcome FROM cells ORDER BY tab, verb;
SQL
done >"$tmp/cells" 2>"$tmp/cells_err"
[ -s "$tmp/cells" ] && [ ! -s "$tmp/cells_err" ]
ok $? "every member tried every write verb on every table ($(grep -c '|' "$tmp/cells") cells)"
sed 's/^/#   /' "$tmp/cells_err"

# what each cell should be: allowed when the member has the permission the
# contract names, 42501 otherwise (and for tables no member may write)
awk -F'|' '
	FNR == NR { need[$1] = $2; next }
	{
		split("", has)
		if ($1 == "alice") { has["contacts"]; has["crm_manage"]; has["custom_objects_manage"]; has["admin"]; has["see_all"] }
		if ($1 == "mia") { has["contacts"]; has["crm_manage"]; has["custom_objects_manage"]; has["see_all"] }
		if ($1 == "bob") { has["contacts"]; has["crm_manage"] }
		if ($1 == "cora") { has["custom_objects_manage"] }
		p = ($2 in need) ? need[$2] : "?"
		want = (p in has) ? "ok" : "42501"
		if ($4 != want) print $1 " " $3 " crm." $2 ": " $4 ", the contract says " want " (needs " p ")"
	}' "$tmp/contract" "$tmp/cells" >"$tmp/mismatch"
[ ! -s "$tmp/mismatch" ]
ok $? "every cell is what the contract says"
sed 's/^/#   /' "$tmp/mismatch"
[ "$(grep -c '|ok$' "$tmp/cells")" -gt 0 ] && [ "$(grep -c '|42501$' "$tmp/cells")" -gt 0 ]
ok $? "the matrix holds both outcomes ($(grep -c '|ok$' "$tmp/cells") allowed, $(grep -c '|42501$' "$tmp/cells") refused)"

"$PG_BINDIR/dropdb" crm_perm
q -c "DROP ROLE crm_perm_app"
[ "$failures" = 0 ]
