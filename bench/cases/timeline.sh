# Timelines (docs/timelines.md): the first page (50 entries) of a contact
# with SCALE entries spread over every source (notes, activities, history
# of values, conversations with messages, orders, list events), p95 over
# 200 calls in one warmed session; the same for a page deep in the feed
# (by cursor) and for a company of 100 contacts with SCALE/10 entries.
# Against the hand-written single-source query (the contact's 50 newest
# notes through their index), whose ratio says what the merge costs.
# Sourced by bench/run.

q=$(( SCALE / 10 ))
bench_sql "SET client_min_messages = warning; SET crm.workspace_id = 1;
	INSERT INTO crm.contacts (name) SELECT 'Contact ' || i FROM generate_series(1, 101) i;
	INSERT INTO crm.companies (name) VALUES ('Acme');
	INSERT INTO crm.contact_companies (contact_id, company_id) SELECT i, 1 FROM generate_series(2, 101) i;
	-- contact 1: 25% notes, 25% activities, 20% history, 10% conversations (2 messages each),
	-- 10% orders, 10% list events; spread over ~3 years
	INSERT INTO crm.notes (contact_id, body, type, occurred_at)
	SELECT 1, 'note ' || i, (ARRAY['note', 'call', 'meeting', 'email'])[1 + i % 4], now() - i * interval '17 minutes'
	  FROM generate_series(1, $q * 5 / 2) i;
	INSERT INTO crm.activities (contact_id, type, subject, occurred_at)
	SELECT 1, 'page_view', 'page ' || i, now() - i * interval '13 minutes' FROM generate_series(1, $q * 5 / 2) i;
	INSERT INTO crm.value_history (object_type, object_id, key, custom, old_value, new_value, source, actor, changed_at)
	SELECT 'contact', 1, 'plan', true, NULL, to_jsonb('p' || i), 'row', 'bench', now() - i * interval '11 minutes'
	  FROM generate_series(1, $q * 2) i;
	INSERT INTO crm.conversations (contact_id, channel, started_at)
	SELECT 1, 'chat', now() - i * interval '19 minutes' FROM generate_series(1, $q) i;
	INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
	SELECT c.id, 'contact', 'message ' || k, c.started_at + k * interval '1 minute'
	  FROM crm.conversations c, generate_series(1, 2) k;
	INSERT INTO crm.orders (contact_id, title, value, order_date)
	SELECT 1, 'order ' || i, i % 100, now() - i * interval '23 minutes' FROM generate_series(1, $q) i;
	SELECT crm.create_list('Bench list') IS NOT NULL;
	-- past events: the outbox's triggers would stamp them now
	SET session_replication_role = replica;
	INSERT INTO crm.events (type, object_type, object_id, payload, created_at)
	SELECT CASE WHEN i % 2 = 0 THEN 'CRM_LIST_MEMBER_ADDED' ELSE 'CRM_LIST_MEMBER_REMOVED' END, 'list', 1,
		   jsonb_build_object('object_type', 'contact', 'object_id', 1, 'source', 'manual'), now() - i * interval '29 minutes'
	  FROM generate_series(1, $q) i;
	RESET session_replication_role;
	-- the company's 100 contacts: SCALE/10 notes and activities among them
	INSERT INTO crm.notes (contact_id, body, occurred_at)
	SELECT 2 + i % 100, 'note ' || i, now() - i * interval '7 minutes' FROM generate_series(1, $q / 2) i;
	INSERT INTO crm.activities (contact_id, type, occurred_at)
	SELECT 2 + i % 100, 'task', now() - i * interval '5 minutes' FROM generate_series(1, $q / 2) i;"
bench_sql "VACUUM ANALYZE"
entries=$(psql -X -At -d "$BENCH_DB" -c "SET crm.workspace_id = 1; SELECT
	(SELECT count(*) FROM crm.notes WHERE contact_id = 1) + (SELECT count(*) FROM crm.activities WHERE contact_id = 1)
	+ (SELECT count(*) FROM crm.value_history WHERE object_id = 1 AND object_type = 'contact')
	+ (SELECT count(*) FROM crm.conversations WHERE contact_id = 1) + (SELECT count(*) FROM crm.orders WHERE contact_id = 1)
	+ (SELECT count(*) FROM crm.events WHERE type LIKE 'CRM_LIST_MEMBER_%')" | tail -1)
deep=$(psql -X -At -d "$BENCH_DB" -c "SET crm.workspace_id = 1;
	SELECT cursor FROM crm.timeline_entries('contact', 1, 1000) OFFSET 999 LIMIT 1" | tail -1)

# p50 and p95 of 200 calls of SQL $1 in one session, after one warming call;
# and the fastest call, what the page costs when no other process competes
timeline_ms() {
	local sql=$1 script i
	script=$(mktemp)
	{
		printf 'SET crm.workspace_id = 1;\n\\timing on\n%s \\g /dev/null\n\\echo measured\n' "$sql"
		for ((i = 0; i < 200; i++)); do printf '%s \\g /dev/null\n' "$sql"; done
	} >"$script"
	psql -X -q -d "$BENCH_DB" -v ON_ERROR_STOP=1 -f "$script" |
		awk '/^measured/{m=1} m && /^Time: /{print $2}' | sort -g |
		awk '{a[NR]=$1} END{i=int(NR*0.95+0.5); printf "%.2f %.2f %.2f\n", a[int((NR+1)/2)], a[i], a[1]}'
	rm -f "$script"
}
read -r first_p50 first_p95 first_min < <(timeline_ms "SELECT * FROM crm.timeline_entries('contact', 1, 50)")
read -r hand_p50 hand_p95 hand_min < <(timeline_ms "SELECT * FROM crm.notes WHERE workspace_id = 1 AND contact_id = 1 ORDER BY occurred_at DESC, id DESC LIMIT 50")
read -r deep_p50 deep_p95 deep_min < <(timeline_ms "SELECT * FROM crm.timeline_entries('contact', 1, 50, '$deep')")
read -r company_p50 company_p95 company_min < <(timeline_ms "SELECT * FROM crm.timeline_entries('company', 1, 50)")
report "timeline: first page of 50, contact with $entries entries (p50)" "$first_p50" "$hand_p50" time "-"
report "timeline: first page of 50 (fastest of 200)" "$first_min" "$hand_min" time "-"
report_abs "timeline: first page of 50, contact with $entries entries, p95" "$first_p95" ms "p95 <= 5 ms"
report_abs "timeline: page after 1,000 entries (by cursor), p95" "$deep_p95" ms "-"
report_abs "timeline: first page, company of 100 contacts ($q entries), p95" "$company_p95" ms "-"
report_abs "hand-written: 50 newest notes of the contact, p95" "$hand_p95" ms "-"
report_abs "load average at the end" "$(cut -d' ' -f1 /proc/loadavg)" "" "-"
