# crm.identify() against a bare INSERT ... ON CONFLICT DO UPDATE into a table
# with the same columns and indexes (CREATE TABLE ... LIKE crm.contacts
# INCLUDING ALL, without triggers).  Each call is its own transaction, as an
# app's request would be; half the calls create a contact, half find one
# and give it a newer name, which identify takes (issue 17: a newer name
# given is kept, an empty one never): the bare upsert takes it too.
# The two sides run alternately, five times each (medians), so that the
# load of a shared machine weighs on both alike.
IDENTIFY_CALLS=${IDENTIFY_CALLS:-$((SCALE / 10))}
half=$((IDENTIFY_CALLS / 2))

bench_sql "CREATE TABLE bench_bare_contacts (LIKE crm.contacts INCLUDING ALL)"
bench_sql "INSERT INTO crm.contacts (email, name) SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $SCALE) g"
bench_sql "INSERT INTO bench_bare_contacts (email, name) SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $SCALE) g"
bench_sql "VACUUM ANALYZE crm.contacts"
bench_sql "VACUUM ANALYZE bench_bare_contacts"

crm_loop="
DO \$\$ BEGIN
	FOR i IN 1..$IDENTIFY_CALLS LOOP
		PERFORM crm.identify(email => 'IDB' || (i % $half) || '@Example.com', name => 'User ' || i);
		COMMIT;
	END LOOP;
END \$\$;"
bare_loop="
DO \$\$ BEGIN
	FOR i IN 1..$IDENTIFY_CALLS LOOP
		INSERT INTO bench_bare_contacts AS c (email, name, first_seen_at, last_seen_at)
		VALUES (lower('IDB' || (i % $half) || '@Example.com'), 'User ' || i, now(), now())
		ON CONFLICT (workspace_id, email) WHERE status < 'merged'::crm.contact_status DO UPDATE
		   SET name = coalesce(excluded.name, c.name),
			   last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);
		COMMIT;
	END LOOP;
END \$\$;"
# before each run the contacts of the runs before go, without the row
# path's delete triggers (no row refers to them): through them the delete
# took about as long as the run
clean="SET session_replication_role = replica; DELETE FROM crm.contacts WHERE email LIKE 'idb%';
	RESET session_replication_role; VACUUM crm.contacts;"
read -r crm_ms bare_ms < <(bench_pair "$clean" "$crm_loop" \
	"DELETE FROM bench_bare_contacts WHERE email LIKE 'idb%'; VACUUM bench_bare_contacts;" "$bare_loop")
report "crm.identify() vs INSERT ON CONFLICT ($IDENTIFY_CALLS calls)" "$crm_ms" "$bare_ms" throughput ">= 0.7"
# The same loops in backend CPU time (bench_cpu_ms): on a shared machine the
# wall time counts the other jobs' turns on the cores, the CPU time does not.
read -r crm_ms bare_ms < <(bench_cpu_pair "$clean" "$crm_loop" \
	"DELETE FROM bench_bare_contacts WHERE email LIKE 'idb%'; VACUUM bench_bare_contacts;" "$bare_loop")
report "crm.identify() vs INSERT ON CONFLICT, backend CPU ms" "$crm_ms" "$bare_ms" throughput ">= 0.7"
# no clean-up: bench/run drops the case's database (deleting the 105,000
# contacts through the row path took longer than a run)
