#!/usr/bin/env bash
# One notes system (issue 16, item 3; docs/timelines.md): the update from
# 0.2.0 moves the activities of type note into crm.notes (each note once
# on the timeline), keeps the other activities, and leaves behind only a
# note that hangs off nothing it could hang off; after it, a new activity
# of type note is refused (0A000).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..5"

db=crm_notes_migration
fresh_db "$db"
q -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION crm VERSION '0.2.0' CASCADE;" \
	&& q -d "$db" >/dev/null <<'SQL'
SET crm.workspace_id = 1;
INSERT INTO crm.contacts (id, name) VALUES (1, 'Ada');
INSERT INTO crm.companies (id, name) VALUES (1, 'Acme');
SELECT crm.log_activity(1, 'note', 'Met at the fair', 'Wants the pro plan', 'agent-7', '2024-01-10 10:00+00');
SELECT crm.log_activity(1, 'note', 'Subject only', occurred_at => '2024-01-11 10:00+00');
SELECT crm.log_activity(NULL, 'note', NULL, '   ', company_id => 1, occurred_at => '2024-01-12 10:00+00');
SELECT crm.log_activity(1, 'call', 'Intro call', occurred_at => '2024-01-14 10:00+00');
-- no contact, company nor deal: nowhere to go
INSERT INTO crm.activities (type, subject) VALUES ('note', 'orphan');
SQL
ok $? "0.2.0 installed with note activities"

q -d "$db" -c "SET client_min_messages = warning; ALTER EXTENSION crm UPDATE TO '0.3.0';"
ok $? "ALTER EXTENSION crm UPDATE TO '0.3.0'"

got=$(q -d "$db" -F'|' -c "SET crm.workspace_id = 1;
	SELECT contact_id, company_id, deal_id, type, subject, body, author, occurred_at AT TIME ZONE 'UTC'
	  FROM crm.notes ORDER BY occurred_at")
want="1|||note|Met at the fair|Wants the pro plan|agent-7|2024-01-10 10:00:00
1|||note||Subject only|postgres|2024-01-11 10:00:00
|1||note||note|postgres|2024-01-12 10:00:00"
[ "$got" = "$want" ]
ok $? "the note activities are notes, with their text, author and time"
[ "$got" = "$want" ] || diff <(echo "$want") <(echo "$got") | sed 's/^/# /'

got=$(q -d "$db" -F'|' -c "SET crm.workspace_id = 1;
	SELECT type, subject FROM crm.activities ORDER BY id;
	SELECT count(*) FROM crm.events WHERE type = 'CRM_NOTE_CREATED';
	SELECT count(*) FROM crm.timeline_entries('contact', 1) WHERE kind = 'note'")
want="call|Intro call
note|orphan
3
2"
[ "$got" = "$want" ]
ok $? "the other activities stay; the orphan stays; one CRM_NOTE_CREATED each; the timeline shows each note once"
[ "$got" = "$want" ] || diff <(echo "$want") <(echo "$got") | sed 's/^/# /'

q -d "$db" -c "SET crm.workspace_id = 1; SELECT crm.log_activity(1, 'note', 'after');" 2>&1 | grep -q 'activity type "note" is not logged as an activity'
ok $? "after the update, an activity of type note is refused"

"$PG_BINDIR/dropdb" --if-exists "$db" 2>/dev/null
[ "$failures" = 0 ]
