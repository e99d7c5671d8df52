#!/usr/bin/env bash
# An import job survives a crash of the server: a job of 50k rows in batches
# of 500, run by two workers (a batch normalised while the one before it
# writes), is stopped mid-way with pg_ctl stop -m immediate, the server
# starts again, crm.resume_jobs() starts a worker (which starts its helper),
# and every row is imported exactly once with the counts right; rows that
# share an email across batches are one contact, the later row's name on it.  Also: the end of a job is NOTIFYed on channel
# crm_import with the job id as payload.  Then the same for an export job
# (issue 22): stopped mid-way, resumed, every contact exported exactly once
# in id order, NOTIFY crm_export.
set -u
cd "$(dirname "$0")/../.."
db=crm_import_job_restart
bindir=${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}
datadir=$PGHOST/data
psql -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
createdb "$db" && psql -X -q -d "$db" -c 'CREATE EXTENSION crm CASCADE' >/dev/null 2>&1
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
as_server_user() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
n=0
check() {	# check NAME GOT WANT
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; echo "#   got:  $2"; echo "#   want: $3"; fi
}
wait_job() {	# wait_job ID: its status once it ended (or "timed out")
	local s
	for _ in $(seq 1 600); do
		s=$(q -c "SELECT status FROM crm.jobs WHERE id = $1")
		case "$s" in queued|running) sleep 0.1 ;; *) echo "$s"; return ;; esac
	done
	echo "timed out"
}
echo "1..19"

# a listener hears the end of a job: channel crm_import, payload the job id
out=$(q <<'SQL'
LISTEN crm_import;
SELECT crm.start_import('contacts', '[{"email": "listen@example.com"}]') AS job \gset
SELECT pg_sleep(2);
SELECT 'job ' || :job;
SQL
)
job=$(printf '%s\n' "$out" | sed -n 's/^job //p')
case "$out" in *"Asynchronous notification \"crm_import\" with payload \"$job\" received"*) r=yes ;; *) r=no ;; esac
check "NOTIFY crm_import with the job id as payload" "$r" "yes"

# rows 50001-50500 repeat the emails of rows 1-500 (ten batches later)
job=$(q -c "SELECT crm.start_import('contacts',
		(SELECT jsonb_agg(jsonb_build_object('email', 'r' || ((g - 1) % 50000 + 1) || '@example.com', 'name', 'Row ' || g) ORDER BY g)
		   FROM generate_series(1, 50500) g), '{\"batch_size\": 500}')")
# stop the server once some batches are done, the workers in the middle of two
workers=0
for _ in $(seq 1 600); do
	done_rows=$(q -c "SELECT processed_rows FROM crm.jobs WHERE id = $job")
	w=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'crm job'")
	[ "${w:-0}" -gt "$workers" ] && workers=$w
	[ "${done_rows:-0}" -ge 5000 ] && [ "$workers" -ge 2 ] && break
	sleep 0.05
done
check "a contacts import runs with two workers" "$workers" "2"
as_server_user "$bindir/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1
as_server_user "$bindir/pg_ctl" -D "$datadir" -l "$PGHOST/server.log" -w start >/dev/null 2>&1
for _ in $(seq 1 100); do q -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done

out=$(q -c "SELECT status, processed_rows < total_rows FROM crm.jobs WHERE id = $job")
check "after the crash the job is running, part done" "$out" "running|t"
out=$(q -c "SELECT (SELECT count(*) FROM crm.contacts) - 1 = processed_rows,
				   (SELECT count(*) FROM crm.job_reports WHERE job_id = $job) = processed_rows,
				   (SELECT count(*) FROM crm_internal.job_rows WHERE job_id = $job) = total_rows - processed_rows
			  FROM crm.jobs WHERE id = $job")
check "the batches committed are the cursor's: contacts, reports and rows left agree" "$out" "t|t|t"
sleep 1
out=$(q -c "SELECT status FROM crm.jobs WHERE id = $job")
check "no worker runs after a restart until resumed" "$out" "running"
check "crm.resume_jobs() starts one worker" "$(q -c 'SELECT crm.resume_jobs()')" "1"
workers=0
for _ in $(seq 1 40); do
	w=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'crm job'")
	[ "${w:-0}" -gt "$workers" ] && workers=$w
	[ "$workers" -ge 2 ] && break
	sleep 0.05
done
check "the resumed job's worker starts its helper" "$workers" "2"
check "the job ends" "$(wait_job "$job")" "done"
out=$(q -c "SELECT total_rows, processed_rows, inserted, updated, merged, rejected FROM crm.jobs WHERE id = $job")
check "counts: every row inserted once, the repeated emails updated" "$out" "50500|50500|50000|500|0|0"
out=$(q -c "SELECT count(*), count(DISTINCT email), max(email) FROM crm.contacts WHERE email LIKE 'r%@example.com'")
check "every row imported exactly once" "$out" "50000|50000|r9@example.com"
out=$(q -c "SELECT count(*) FILTER (WHERE name = 'Row ' || (substring(email from 'r(\d+)@')::int + 50000)),
				   count(*) FILTER (WHERE name = 'Row ' || substring(email from 'r(\d+)@'))
			  FROM crm.contacts WHERE email LIKE 'r%@example.com'")
check "a repeated email is one contact with the later row's name" "$out" "500|49500"
out=$(q -c "SELECT count(*), count(DISTINCT ordinal), min(ordinal), max(ordinal), count(*) FILTER (WHERE action = 'inserted'),
				   count(*) FILTER (WHERE action = 'updated' AND ordinal > 50000)
			  FROM crm.job_reports WHERE job_id = $job")
check "a report row for each input row" "$out" "50500|50500|1|50500|50000|500"
out=$(q -c "SELECT count(*) FROM crm.job_reports r JOIN crm.job_reports s ON s.job_id = r.job_id AND s.ordinal = r.ordinal - 50000
			 WHERE r.job_id = $job AND r.ordinal > 50000 AND r.record_id = s.record_id")
check "the later row's report names the contact of the earlier one" "$out" "500"
out=$(q -c "SELECT count(*), min(payload ->> 'inserted'), min(payload ->> 'updated') FROM crm.events WHERE type = 'CRM_IMPORT_FINISHED' AND object_id = $job")
check "one CRM_IMPORT_FINISHED with the counts" "$out" "1|50000|500"

# an export job of the 50001 contacts in batches of 200, crashed and resumed
out=$(q <<'SQL'
LISTEN crm_export;
SELECT crm.start_export('contacts', '', '{"batch_size": 1}') AS job \gset
SELECT pg_sleep(2);
SELECT 'job ' || :job;
SQL
)
job=$(printf '%s\n' "$out" | sed -n 's/^job //p')
case "$out" in *"Asynchronous notification \"crm_export\" with payload \"$job\" received"*) r=no ;; *) r=yes ;; esac
check "no NOTIFY crm_export while the export runs" "$r" "yes"
q -c "SELECT crm.cancel_job($job)" >/dev/null
job=$(q -c "SELECT crm.start_export('contacts', '', '{\"batch_size\": 200}')")
for _ in $(seq 1 600); do
	done_rows=$(q -c "SELECT processed_rows FROM crm.jobs WHERE id = $job")
	[ "${done_rows:-0}" -ge 4000 ] && break
	sleep 0.05
done
as_server_user "$bindir/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1
as_server_user "$bindir/pg_ctl" -D "$datadir" -l "$PGHOST/server.log" -w start >/dev/null 2>&1
for _ in $(seq 1 100); do q -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
out=$(q -c "SELECT status, processed_rows > 0 AND processed_rows < 50001,
				   (SELECT count(*) FROM crm_internal.job_results r WHERE r.job_id = $job) = processed_rows,
				   (SELECT max((r.data ->> 'id')::bigint) FROM crm_internal.job_results r WHERE r.job_id = $job) = last_id
			  FROM crm.jobs WHERE id = $job")
check "after the crash the export is running; its rows and cursor agree" "$out" "running|t|t|t"
out=$(q <<SQL
LISTEN crm_export;
SELECT crm.resume_jobs() AS started \gset
DO \$\$ BEGIN WHILE (SELECT status FROM crm.jobs WHERE id = $job) IN ('queued', 'running') LOOP PERFORM pg_sleep(0.1); END LOOP; END \$\$;
SELECT pg_sleep(0.5);
SELECT 'status ' || status FROM crm.jobs WHERE id = $job;
SQL
)
case "$out" in *"status done"*"Asynchronous notification \"crm_export\" with payload \"$job\" received"*|*"Asynchronous notification \"crm_export\" with payload \"$job\" received"*"status done"*) r=yes ;; *) r=no ;; esac
check "the resumed export ends, NOTIFY crm_export with the job id" "$r" "yes"
out=$(q -c "SELECT count(*), count(DISTINCT r.data ->> 'id'), min(r.ordinal), max(r.ordinal),
				   bool_and((r.data ->> 'id')::bigint = c.id)
			  FROM crm.export_result($job) r
			  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm.contacts WHERE status <> 'merged') c ON c.n = r.ordinal")
check "every contact exported exactly once, in id order" "$out" "50001|50001|1|50001|t"
out=$(q -c "SELECT count(*), min(payload ->> 'rows') FROM crm.events WHERE type = 'CRM_EXPORT_FINISHED' AND object_id = $job")
check "one CRM_EXPORT_FINISHED with the count" "$out" "1|50001"

psql -X -q -c "DROP DATABASE $db" >/dev/null 2>&1
