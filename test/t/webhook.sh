#!/usr/bin/env bash
# The webhook worker (worker/, docs/integrations.md) against a local HTTP
# receiver (test/webhook_receiver.pl) that answers every fourth request
# 503, each after 10 ms: 40 contacts changed five times each, one transaction per change; the
# worker is killed (SIGKILL) mid-run and started again.  Every delivery
# must arrive at least once, in order per object, with a valid signature,
# and end delivered; the failures must have been retried.
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..9"

tmp=$(mktemp -d)
cleanup() {
	[ -n "${wpid:-}" ] && kill -9 "$wpid" 2>/dev/null
	[ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

make -s -C worker PG_CONFIG="${PG_CONFIG:-pg_config}" >"$tmp/build.log" 2>&1
ok $? "the worker builds (worker/Makefile: libpq, libcurl, OpenSSL)"
sed 's/^/#   /' "$tmp/build.log"

perl test/webhook_receiver.pl "$tmp/port" "$tmp/received" 'hook secret' 4 10 &
rpid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.2; done
port=$(cat "$tmp/port" 2>/dev/null)
[ -n "$port" ]
ok $? "the receiver listens on 127.0.0.1:$port"

fresh_db crm_webhook
q -c "DROP ROLE IF EXISTS crm_hook_worker" >/dev/null 2>&1
q -d crm_webhook >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
CREATE ROLE crm_hook_worker LOGIN;
SELECT crm.grant_access('crm_hook_worker', access => 'service');
INSERT INTO crm.integrations (key, kind, config, secret, lease_timeout, retry_delay, retry_max, max_attempts)
VALUES ('hook', 'webhook', jsonb_build_object('url', 'http://127.0.0.1:$port/hook'), 'hook secret',
		'2 seconds', '1 second', '1 second', 50);
SQL
q -d crm_webhook >/dev/null <<'SQL'
DO $$ BEGIN
	FOR i IN 1..40 LOOP
		INSERT INTO crm.contacts (name) VALUES ('hook ' || i);
		COMMIT;
	END LOOP;
	FOR r IN 1..4 LOOP
		FOR i IN 1..40 LOOP
			UPDATE crm.contacts SET city = 'city ' || r WHERE name = 'hook ' || i;
			COMMIT;
		END LOOP;
	END LOOP;
END $$;
SQL

cat >"$tmp/worker.conf" <<CONF
# the worker's settings (docs/integrations.md)
conninfo = host=$PGHOST port=$PGPORT dbname=crm_webhook user=crm_hook_worker
integration = hook
batch = 10
poll_interval_ms = 200
CONF
worker/crm-webhook-worker "$tmp/worker.conf" 2>"$tmp/worker1.log" &
wpid=$!
# killed once 60 requests arrived, while it holds a batch if it can be caught so
for _ in $(seq 300); do
	[ "$(wc -l <"$tmp/received" 2>/dev/null || echo 0)" -ge 60 ] \
		&& [ "$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_deliveries WHERE status = 'leased'")" -gt 0 ] && break
	sleep 0.05
done
kill -9 "$wpid"
wait "$wpid" 2>/dev/null
wpid=
# the killed worker's last statement may still commit: count once its backend is gone
for _ in $(seq 100); do
	[ "$(q -d crm_webhook -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'crm_hook_worker'")" = 0 ] && break
	sleep 0.05
done
done_at_kill=$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_deliveries WHERE status = 'done'")
leased_at_kill=$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_deliveries WHERE status = 'leased'")
[ "$done_at_kill" -gt 0 ] && [ "$done_at_kill" -lt 200 ]
ok $? "the worker was killed mid-run ($done_at_kill of 200 delivered, $leased_at_kill leased)"

worker/crm-webhook-worker "$tmp/worker.conf" 2>"$tmp/worker2.log" &
wpid=$!
for _ in $(seq 600); do
	[ "$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_deliveries WHERE status = 'done'")" = 200 ] && break
	sleep 0.2
done
kill -TERM "$wpid"
wait "$wpid"
stopped=$?
wpid=
[ "$(q -d crm_webhook -c "SELECT count(*) FILTER (WHERE status = 'done') || '/' || count(*) FROM crm.integration_deliveries")" = 200/200 ]
ok $? "after the restart every delivery is delivered (200 of 200), none dead"
[ "$stopped" = 0 ]
ok $? "the worker stops on SIGTERM"

q -d crm_webhook >/dev/null <<SQL
CREATE TABLE received (n int, delivery_id bigint, object_type text, object_id bigint, event_id bigint,
					   action text, valid int, status int);
\copy received FROM '$tmp/received'
SQL
# every delivery reached the receiver with a 200 at least once; signatures
q -d crm_webhook -c "SELECT (SELECT count(*) FROM crm.integration_deliveries d
							  WHERE NOT EXISTS (SELECT FROM received r WHERE r.delivery_id = d.id AND r.status = 200))
						 || ' ' || (SELECT count(*) FROM received WHERE valid <> 1)
						 || ' ' || (SELECT count(*) FROM received)
						 || ' ' || (SELECT count(DISTINCT delivery_id) FROM received WHERE status = 200)" >"$tmp/arrived"
read -r missing invalid requests distinct <"$tmp/arrived"
[ "$missing" = 0 ] && [ "$invalid" = 0 ] && [ "$distinct" = 200 ]
ok $? "every delivery arrived at least once with a valid signature ($requests requests, $distinct deliveries, $missing missing, $invalid bad signatures)"
# in order per object: the events each contact's requests carried never go back
q -d crm_webhook -c "SELECT count(*) FROM (SELECT event_id, lag(event_id) OVER (PARTITION BY object_id ORDER BY n) AS before
											FROM received) s WHERE event_id < before" >"$tmp/disorder"
[ "$(cat "$tmp/disorder")" = 0 ]
ok $? "each contact's deliveries arrived in order ($(cat "$tmp/disorder") out of order)"
failed=$(q -d crm_webhook -c "SELECT count(*) FROM received WHERE status = 503")
retried=$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_attempts WHERE outcome = 'failed'")
expired=$(q -d crm_webhook -c "SELECT count(*) FROM crm.integration_attempts WHERE outcome = 'expired'")
# the one request in flight when the worker was killed may have been answered 503 and never failed
[ "$failed" -gt 0 ] && [ "$retried" -ge $((failed - 1)) ] && { [ "$leased_at_kill" = 0 ] || [ "$expired" -ge "$leased_at_kill" ]; }
ok $? "the 503s were logged as failed tries and retried, the killed worker's leases claimed again ($failed answered 503, $retried failed tries, $expired expired leases)"

# the worker runs crm.purge_deliveries() every purge_interval_s: delivered
# longer ago than the retention, the deliveries go with their tries
q -d crm_webhook >/dev/null <<'SQL'
UPDATE crm.integrations SET retention = '1 hour';
UPDATE crm.integration_deliveries SET done_at = done_at - interval '2 hours';
SQL
echo "purge_interval_s = 1" >>"$tmp/worker.conf"
worker/crm-webhook-worker "$tmp/worker.conf" 2>"$tmp/worker3.log" &
wpid=$!
for _ in $(seq 1 100); do
	grep -q "purged 200 delivered" "$tmp/worker3.log" && break
	sleep 0.1
done
kill -TERM "$wpid"; wait "$wpid" 2>/dev/null; wpid=
[ "$(q -d crm_webhook -c "SELECT (SELECT count(*) FROM crm.integration_deliveries) || '/' || (SELECT count(*) FROM crm.integration_attempts)")" = 0/0 ]
ok $? "the worker purges the deliveries past their retention, with their tries ($(grep -c purged "$tmp/worker3.log") purge runs logged)"
sed 's/^/#   /' "$tmp/worker3.log"

"$PG_BINDIR/dropdb" crm_webhook
q -c "DROP ROLE crm_hook_worker"
[ "$failures" = 0 ]
