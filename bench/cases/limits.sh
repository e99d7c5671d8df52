# What the plan limits cost: crm.identify() and a bulk INSERT of contacts
# with the limit triggers of crm.contacts enabled against the same with
# them disabled, in a workspace without limits (where the WHEN clause
# queues nothing: the target is no measurable cost) and in one with a
# max_contacts limit it stays under (the kept count written and checked
# once per commit).  The two sides run alternately, five times each
# (medians).  The unchecked side's rows are added with the triggers off,
# the checked side's with them on.  Before each run the rows of the runs
# before are deleted without any trigger (no row refers to them: a run's
# contacts are plain inserts and identify's new contacts), which took
# 3-4 s a run through the row path's delete triggers, more than the
# identify run itself; with max_contacts set, the limit is then unset and
# set again, which counts the workspace again (src/limits.c).
IDENTIFY_CALLS=${IDENTIFY_CALLS:-$((SCALE / 10))}
BULK_ROWS=${BULK_ROWS:-$((SCALE / 4))}
half=$((IDENTIFY_CALLS / 2))

bench_sql "INSERT INTO crm.contacts (email, name) SELECT 'seed' || g || '@example.com', 'Seed ' || g FROM generate_series(1, $SCALE) g"
bench_sql "VACUUM ANALYZE crm.contacts"

triggers="limit_contacts limit_contacts_restored limit_contacts_left limit_contacts_deleted"
on="ALTER TABLE crm.contacts $(printf 'ENABLE TRIGGER %s, ' $triggers | sed 's/, $//');"
off="ALTER TABLE crm.contacts $(printf 'DISABLE TRIGGER %s, ' $triggers | sed 's/, $//');"
clean="SET session_replication_role = replica;
	DELETE FROM crm.contacts WHERE email LIKE 'idb%' OR email LIKE 'bulk%';
	RESET session_replication_role;
	VACUUM crm.contacts;"
identify="
DO \$\$ BEGIN
	FOR i IN 1..$IDENTIFY_CALLS LOOP
		PERFORM crm.identify(email => 'IDB' || (i % $half) || '@Example.com', name => 'User ' || i);
		COMMIT;
	END LOOP;
END \$\$;"
bulk="INSERT INTO crm.contacts (email, name) SELECT 'bulk' || g || '@example.com', 'Bulk ' || g FROM generate_series(1, $BULK_ROWS) g;"

read -r crm_ms bare_ms < <(bench_pair "$clean $on" "$identify" "$clean $off" "$identify")
report "identify, no limits: limit triggers vs none ($IDENTIFY_CALLS calls)" "$crm_ms" "$bare_ms" throughput ">= 0.95"
read -r crm_ms bare_ms < <(bench_pair "$clean $on" "$bulk" "$clean $off" "$bulk")
report "bulk INSERT, no limits: limit triggers vs none ($BULK_ROWS rows)" "$crm_ms" "$bare_ms" throughput ">= 0.95"

limit="SELECT crm.set_limit('max_contacts', $((SCALE * 10)));"
bench_sql "$limit"
clean="$clean SELECT crm.set_limit('max_contacts', NULL); $limit"
read -r crm_ms bare_ms < <(bench_pair "$clean $on" "$identify" "$clean $off" "$identify")
report "identify, max_contacts set: counted vs unchecked ($IDENTIFY_CALLS calls)" "$crm_ms" "$bare_ms" throughput ">= 0.5"
read -r crm_ms bare_ms < <(bench_pair "$clean $on" "$bulk" "$clean $off" "$bulk")
report "bulk INSERT, max_contacts set: counted vs unchecked ($BULK_ROWS rows)" "$crm_ms" "$bare_ms" throughput ">= 0.9"
# no clean-up: bench/run drops the case's database (deleting the 100,000
# seeds took longer than the case's bulk rows)
