#!/usr/bin/env bash
# The events notifier (src/notifier.c): with crm.notify_events = off and
# crm.notify_interval = 100ms, no writer sends NOTIFY, and one background
# worker per database wakes LISTEN crm_events once the events are
# deliverable by crm.events_since: after a write, not while an older
# transaction holding an earlier event is open, once for a burst; it
# starts at a writer's commit and again after it was stopped; a DROP
# DATABASE does not wait for it.  The bounds
# are generous (a loaded machine): this checks that and who, not how fast.
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..11"
db=crm_notifier
tmp=$(mktemp -d)
stop_notifier() {
	q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					  WHERE backend_type = 'crm notifier' AND datname = '$db'" >/dev/null
}
trap 'stop_notifier; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fresh_db $db
q -d $db >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
ALTER DATABASE $db SET crm.notify_events = off;
ALTER DATABASE $db SET crm.notify_interval = '100ms';
SQL

# listen <file> <seconds>: a session that LISTENs and prints what it receives
listen() {
	{ echo "LISTEN crm_events;"; echo "SELECT 'listening';";
	  for ((i = 0; i < $2 * 10; i++)); do sleep 0.1; echo "SELECT;"; done; } |
		"$PG_BINDIR/psql" -X -q -At -d $db >"$1" 2>&1 &
	for ((i = 0; i < 100; i++)); do grep -q listening "$1" && return; sleep 0.1; done
}
# notified <file> <count> <seconds>: wait until the file holds count notifications
notified() {
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(grep -c 'Asynchronous notification "crm_events"' "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
count() { grep -c 'Asynchronous notification "crm_events"' "$1"; }
notifier_pids() { q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'crm notifier' AND datname = '$db' ORDER BY pid"; }

listen "$tmp/l1" 60
start=$(date +%s%N)
q -d $db -c "INSERT INTO crm.contacts (name) VALUES ('first')"
notified "$tmp/l1" 1 15
ok $? "a write wakes the listener ($(count "$tmp/l1") notification)"
echo "# woke after about $((($(date +%s%N) - start) / 1000000)) ms (interval 100 ms)"
pid=$(notifier_pids)
sender=$(grep -o 'server process with PID [0-9]*' "$tmp/l1" | head -1 | grep -o '[0-9]*$')
[ -n "$pid" ] && [ "$sender" = "$pid" ]
ok $? "the notification comes from the notifier ($sender), not from the writer: one worker runs ($pid)"

# nothing new: nothing more (20 intervals)
sleep 2
[ "$(count "$tmp/l1")" = 1 ]
ok $? "no new event, no notification ($(count "$tmp/l1") in all)"

# a burst from three sessions: one worker still, and the listener is woken
for s in 1 2 3; do q -d $db -c "INSERT INTO crm.contacts (name) SELECT 'burst $s ' || g FROM generate_series(1, 50) g" & done
wait $(jobs -p | tail -3)
notified "$tmp/l1" 2 15
ok $? "a burst of three writers wakes the listener ($(count "$tmp/l1") notifications in all)"
[ "$(notifier_pids | wc -l)" = 1 ]
ok $? "one notifier for the database"

# an event behind an open, older transaction is not deliverable yet: no
# NOTIFY until that transaction ends, then one (after the burst has settled:
# no notification for a second)
before=-1
for ((i = 0; i < 20 && before != $(count "$tmp/l1"); i++)); do before=$(count "$tmp/l1"); sleep 1; done
{ echo "BEGIN;"; echo "INSERT INTO crm.contacts (name) VALUES ('early');"; echo "SELECT 'open';";
  sleep 3; echo "COMMIT;"; } | "$PG_BINDIR/psql" -X -q -At -d $db >"$tmp/early" 2>&1 &
early=$!
for ((i = 0; i < 100; i++)); do grep -q open "$tmp/early" && break; sleep 0.1; done
q -d $db -c "INSERT INTO crm.contacts (name) VALUES ('late')"
sleep 1.5
[ "$(count "$tmp/l1")" = "$before" ]
ok $? "while an older transaction is open, the later commit wakes nobody"
wait $early
notified "$tmp/l1" $((before + 1)) 15
ok $? "its commit wakes the listener, and crm.events_since has both events"
q -d $db -c "SELECT string_agg(c.name, ',' ORDER BY e.xid, e.id) FROM crm.events_since(0) e JOIN crm.contacts c ON c.id = e.object_id WHERE c.name IN ('early', 'late')" >"$tmp/both"
echo "# delivered: $(cat "$tmp/both")"

# stopped, the next writer starts another
stop_notifier
for ((i = 0; i < 50; i++)); do [ -z "$(notifier_pids)" ] && break; sleep 0.1; done
listen "$tmp/l2" 20
q -d $db -c "INSERT INTO crm.contacts (name) VALUES ('after the stop')"
notified "$tmp/l2" 1 15
ok $? "after the notifier was stopped, the next write starts another, which wakes the listener"
new=$(notifier_pids)
[ -n "$new" ] && [ "$new" != "$pid" ]
ok $? "a new worker ($new, was $pid)"

# DROP DATABASE while the worker runs (with an interval longer than the
# five seconds the drop waits for the database's sessions): the worker
# leaves, and the drop goes through
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
q -d postgres -c "ALTER DATABASE $db SET crm.notify_interval = '10s'" >/dev/null
stop_notifier
for ((i = 0; i < 50; i++)); do [ -z "$(notifier_pids)" ] && break; sleep 0.1; done
q -d $db -c "INSERT INTO crm.contacts (name) VALUES ('before the drop')"
for ((i = 0; i < 100; i++)); do [ -n "$(notifier_pids)" ] && break; sleep 0.1; done
running=$(notifier_pids)
[ -n "$running" ]
ok $? "a notifier runs before the drop ($running)"
"$PG_BINDIR/dropdb" $db 2>"$tmp/drop"
ok $? "DROP DATABASE does not wait for it to be stopped $(tr '\n' ' ' <"$tmp/drop")"
exit $((failures > 0))
