# crm.identify() by a member of a closed workspace (20 members; the
# request's membership and permission checked on every statement) against
# the same calls in an open workspace (no members), both as a frontend role
# with PostgREST's claims, alternately five times each.  Target: >= 0.95.
MEMBERS_CALLS=${MEMBERS_CALLS:-$((SCALE / 10))}
half=$((MEMBERS_CALLS / 2))

bench_sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_bench_app') THEN CREATE ROLE crm_bench_app; END IF; END \$\$"
bench_sql "SELECT crm.grant_access('crm_bench_app')"
open_ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-open', 'Open')")
closed_ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT crm.create_workspace('bench-closed', 'Closed')")
bench_sql "SET crm.workspace_id = $closed_ws; SELECT crm.add_member('owner', 'admin');
	SELECT crm.add_member('agent-' || g, 'agent') FROM generate_series(1, 19) g"
for ws in "$open_ws" "$closed_ws"; do
	bench_sql "SET crm.workspace_id = $ws; INSERT INTO crm.contacts (email, name)
		SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $SCALE / 10) g"
done
bench_sql "VACUUM ANALYZE crm.contacts"

calls() {  # calls <workspace id>: identify as agent-7 of that workspace
	echo "SET ROLE crm_bench_app;
	SET request.jwt.claims = '{\"sub\": \"agent-7\", \"workspace_id\": $1}';
	DO \$\$ BEGIN
		FOR i IN 1..$MEMBERS_CALLS LOOP
			PERFORM crm.identify(email => 'MB' || (i % $half) || '@Example.com', name => 'User ' || i);
			COMMIT;
		END LOOP;
	END \$\$;"
}
cleanup() { echo "DELETE FROM crm.contacts WHERE email LIKE 'mb%'; VACUUM crm.contacts;"; }
read -r closed_ms open_ms < <(bench_pair "$(cleanup)" "$(calls "$closed_ws")" "$(cleanup)" "$(calls "$open_ws")")
report "identify by a member (closed) vs open workspace ($MEMBERS_CALLS calls)" "$closed_ms" "$open_ms" throughput ">= 0.95"
# the workspaces stay (bench/run drops the case's database; deleting their
# contacts took longer than a run); the role is the cluster's
bench_sql "DROP OWNED BY crm_bench_app; DROP ROLE crm_bench_app"
