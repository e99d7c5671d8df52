# The crm_report time series for one workspace and one year, read by a
# reporting role (RLS on, pinned to the workspace), against the GROUP BY a
# person would write over the base tables as the superuser.  $SCALE deals
# over three years (a third in the year asked for) and $SCALE contacts, and
# $SCALE / 10 orders, $SCALE conversations of two messages each (a
# contact's and an agent's reply), bulk-loaded with the row triggers off as
# a restore would; a second workspace holds as many deals, which the role
# must skip.
# Also reported as absolute times: the target is <= 200 ms per view.
# The deal, contact, order, conversation and message series read their
# summaries (crm_internal.report_deal_days, report_contact_days,
# report_order_days, report_conversation_days, report_message_days),
# which the bulk load (triggers off) leaves empty:
# crm.rebuild_report_summaries() builds them, as a repair would.  First,
# the summary triggers' cost on deal and contact writes: single-row INSERT
# and UPDATE statements with the triggers on against the same statements
# with them off (a session's setup switches them, outside the timed part).
# Each timed view query runs in a fresh session: its time includes
# planning the two-branch view (and, before report5, JIT-compiling it).

bench_sql "SELECT crm.create_workspace('other', 'Other', 'USD'); SELECT crm.create_workspace('bench', 'Bench', 'USD')"
ws=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.workspaces WHERE slug = 'bench'")
other=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.workspaces WHERE slug = 'other'")
for w in "$other" "$ws"; do
	bench_sql "SET crm.workspace_id = $w; DO \$\$ BEGIN PERFORM crm.create_pipeline('Bench report', 'b2b_sales'); END \$\$"
	pipeline=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.pipelines WHERE workspace_id = $w")
	bench_sql "ALTER TABLE crm.deals DISABLE TRIGGER USER;
INSERT INTO crm.deals (workspace_id, pipeline_id, stage_id, title, value, currency, status, owner, created_at, closed_at, position)
SELECT $w, $pipeline, s.id, 'deal ' || i, (i % 5000) + 0.5, 'USD', s.kind::text::crm.deal_status, 'user' || (i % 20),
	   timestamptz '2024-01-01' + (i % 1096) * interval '1 day',
	   CASE WHEN s.kind <> 'open' THEN timestamptz '2024-01-01' + (i % 1096 + i % 60) * interval '1 day' END, i
  FROM generate_series(1, $SCALE) i
  JOIN crm.stages s ON s.workspace_id = $w AND s.pipeline_id = $pipeline AND s.position = 1 + i % 6;
ALTER TABLE crm.deals ENABLE TRIGGER USER;"
done
bench_sql "ALTER TABLE crm.contacts DISABLE TRIGGER USER;
INSERT INTO crm.contacts (workspace_id, name, email, identity_source, first_seen_at)
SELECT $ws, 'contact ' || i, 'c' || i || '@example.com',
	   (ARRAY['anonymous', 'self_reported', 'verified']::crm.identity_source[])[1 + i % 3],
	   timestamptz '2024-01-01' + (i % 1096) * interval '1 day'
  FROM generate_series(1, $SCALE) i;
ALTER TABLE crm.contacts ENABLE TRIGGER USER;
ALTER TABLE crm.orders DISABLE TRIGGER USER;
INSERT INTO crm.orders (workspace_id, contact_id, title, value, currency, status, order_date)
SELECT $ws, 1 + i % $SCALE, 'order ' || i, (i % 300) + 0.99, 'USD',
	   (ARRAY['paid', 'pending', 'refunded']::crm.order_status[])[1 + i % 3],
	   timestamptz '2024-01-01' + (i % 1096) * interval '1 day'
  FROM generate_series(1, $SCALE / 10) i;
ALTER TABLE crm.orders ENABLE TRIGGER USER;
ALTER TABLE crm.conversations DISABLE TRIGGER USER;
INSERT INTO crm.conversations (workspace_id, contact_id, channel, started_at, first_message_at, messages_in, messages_out,
							   last_inbound_at, last_outbound_at, first_response_seconds, response_count, response_seconds)
SELECT $ws, 1 + i % $SCALE, (ARRAY['chat', 'email', 'whatsapp'])[1 + i % 3], t, t, 1, 1, t, t + (i % 3600) * interval '1 second',
	   i % 3600, 1, i % 3600
  FROM generate_series(1, $SCALE) i, LATERAL (SELECT timestamptz '2024-01-01' + (i % 1096) * interval '1 day' + (i % 50000) * interval '1 second' AS t) x;
ALTER TABLE crm.conversations ENABLE TRIGGER USER;
ALTER TABLE crm.messages DISABLE TRIGGER USER;
INSERT INTO crm.messages (workspace_id, conversation_id, sender, body, sent_at)
SELECT c.workspace_id, c.id, s.sender, 'hello', CASE s.sender WHEN 'contact' THEN c.started_at ELSE c.last_outbound_at END
  FROM crm.conversations c, (VALUES ('contact'::crm.message_sender), ('agent')) s(sender) WHERE c.workspace_id = $ws;
ALTER TABLE crm.messages ENABLE TRIGGER USER;
DROP ROLE IF EXISTS bench_bi;
CREATE ROLE bench_bi;
SET crm.workspace_id = $ws;
SELECT crm.grant_access('bench_bi', access => 'reporting');"
bench_sql "SET crm.workspace_id = $ws; SELECT crm.rebuild_report_summaries(); SET crm.workspace_id = $other; SELECT crm.rebuild_report_summaries()"
bench_sql "VACUUM ANALYZE crm.deals, crm.contacts, crm.orders, crm.conversations, crm.messages, crm_internal.report_deal_days,
 crm_internal.report_contact_days, crm_internal.report_order_days, crm_internal.report_conversation_days,
 crm_internal.report_message_days"

# the cost on writes: 300 single-row statements each, the summary triggers on or off
summary_triggers() {
	echo "ALTER TABLE crm.deals $1 TRIGGER report_summary_insert, $1 TRIGGER report_summary_update, $1 TRIGGER report_summary_delete;"
}
stage=$(psql -X -At -d "$BENCH_DB" -c "SELECT id FROM crm.stages WHERE workspace_id = $ws ORDER BY position LIMIT 1")
first=$(psql -X -At -d "$BENCH_DB" -c "SELECT min(id) FROM crm.deals WHERE workspace_id = $ws")
insert_sql="DO \$\$ BEGIN FOR i IN 1..300 LOOP
  INSERT INTO crm.deals (workspace_id, stage_id, title, value, currency, owner, created_at)
  VALUES ($ws, $stage, 'bench write ' || i, i, 'USD', 'user' || (i % 20), timestamptz '2025-06-01' + i * interval '1 hour');
END LOOP; END \$\$;"
update_sql="DO \$\$ BEGIN FOR i IN 1..300 LOOP
  UPDATE crm.deals SET value = value + 1, owner = 'user' || ((i + 1) % 20) WHERE workspace_id = $ws AND id = $first + i * 7;
END LOOP; END \$\$;"
on="SET crm.workspace_id = $ws; $(summary_triggers ENABLE)"
off="SET crm.workspace_id = $ws; $(summary_triggers DISABLE)"
read -r crm_ms bare_ms <<<"$(bench_pair "$on" "$insert_sql" "$off" "$insert_sql" 5)"
report "deal INSERT x300, summary triggers on vs off" "$crm_ms" "$bare_ms" throughput ">= 0.8"
read -r crm_ms bare_ms <<<"$(bench_pair "$on" "$update_sql" "$off" "$update_sql" 5)"
report "deal UPDATE (value, owner) x300, summary on vs off" "$crm_ms" "$bare_ms" throughput ">= 0.8"
bench_sql "$(summary_triggers ENABLE) DELETE FROM crm.deals WHERE workspace_id = $ws AND title LIKE 'bench write %';
SET crm.workspace_id = $ws; SELECT crm.rebuild_report_summaries();"

# the same for contacts: new anonymous contacts of one day (one delta key)
contact_triggers() {
	echo "ALTER TABLE crm.contacts $1 TRIGGER report_summary_insert, $1 TRIGGER report_summary_update, $1 TRIGGER report_summary_delete;"
}
contact_sql="DO \$\$ BEGIN FOR i IN 1..300 LOOP
  INSERT INTO crm.contacts (workspace_id, name, first_seen_at) VALUES ($ws, 'bench write ' || i, timestamptz '2025-06-01 08:00');
END LOOP; END \$\$;"
on="SET crm.workspace_id = $ws; $(contact_triggers ENABLE)"
off="SET crm.workspace_id = $ws; $(contact_triggers DISABLE)"
read -r crm_ms bare_ms <<<"$(bench_pair "$on" "$contact_sql" "$off" "$contact_sql" 5)"
report "contact INSERT x300, summary triggers on vs off" "$crm_ms" "$bare_ms" throughput ">= 0.8"
bench_sql "$(contact_triggers ENABLE) DELETE FROM crm.contacts WHERE workspace_id = $ws AND name LIKE 'bench write %';
SET crm.workspace_id = $ws; SELECT crm.rebuild_report_summaries();"

# the summary answers UTC sessions (docs/reporting.md)
as_bi="SET TimeZone = 'UTC'; SET ROLE bench_bi;"
as_dba="SET TimeZone = 'UTC';"
year="'2025-01-01' AND '2025-12-31'"

crm_sql="SELECT month_start, sum(created), sum(won), sum(lost) FROM crm_report.deals_per_month
 WHERE month_start BETWEEN $year GROUP BY 1 ORDER BY 1"
bare_sql="SELECT date_trunc('month', x.at)::date, count(*) FILTER (WHERE x.e = 'c'), count(*) FILTER (WHERE x.e = 'w'),
	   count(*) FILTER (WHERE x.e = 'l')
  FROM (SELECT 'c' AS e, created_at AS at FROM crm.deals WHERE workspace_id = $ws
		UNION ALL SELECT 'w', closed_at FROM crm.deals WHERE workspace_id = $ws AND status = 'won'
		UNION ALL SELECT 'l', closed_at FROM crm.deals WHERE workspace_id = $ws AND status = 'lost') x
 WHERE x.at >= '2025-01-01' AND x.at < '2026-01-01' GROUP BY 1 ORDER BY 1"
read -r crm_ms bare_ms <<<"$(bench_pair "$as_bi" "$crm_sql;" "$as_dba" "$bare_sql;" 5)"
report "crm_report.deals_per_month, 1 year of $SCALE deals" "$crm_ms" "$bare_ms" time "<= 1.5"
report_abs "  the same, absolute" "$crm_ms" ms "<= 200 ms"
if ! diff <(psql -X -q -At -d "$BENCH_DB" -c "$as_bi $crm_sql") <(psql -X -q -At -d "$BENCH_DB" -c "$as_dba $bare_sql") >/dev/null; then
	echo "reporting.sh: deals_per_month and the hand-written GROUP BY disagree" >&2
	exit 1
fi

crm_sql="SELECT month_start, source, contacts FROM crm_report.contacts_per_month WHERE month_start BETWEEN $year ORDER BY 1, 2"
bare_sql="SELECT date_trunc('month', coalesce(first_seen_at, created_at))::date, identity_source::text, count(*)
  FROM crm.contacts WHERE workspace_id = $ws AND status NOT IN ('merged', 'deleted')
   AND coalesce(first_seen_at, created_at) >= '2025-01-01' AND coalesce(first_seen_at, created_at) < '2026-01-01'
 GROUP BY 1, 2 ORDER BY 1, 2"
read -r crm_ms bare_ms <<<"$(bench_pair "$as_bi" "$crm_sql;" "$as_dba" "$bare_sql;" 5)"
report "crm_report.contacts_per_month, 1 year of $SCALE contacts" "$crm_ms" "$bare_ms" time "<= 1.5"
report_abs "  the same, absolute" "$crm_ms" ms "<= 200 ms"

crm_sql="SELECT month_start, orders, booked_value, paid_value FROM crm_report.order_revenue_per_month
 WHERE month_start BETWEEN $year ORDER BY 1"
bare_sql="SELECT date_trunc('month', order_date)::date, count(*),
	   sum(value) FILTER (WHERE status NOT IN ('canceled', 'failed', 'refunded')), sum(value) FILTER (WHERE status = 'paid')
  FROM crm.orders WHERE workspace_id = $ws AND order_date >= '2025-01-01' AND order_date < '2026-01-01'
 GROUP BY 1 ORDER BY 1"
read -r crm_ms bare_ms <<<"$(bench_pair "$as_bi" "$crm_sql;" "$as_dba" "$bare_sql;" 5)"
report "crm_report.order_revenue_per_month, 1 year of $((SCALE / 10)) orders" "$crm_ms" "$bare_ms" time "<= 1.5"
report_abs "  the same, absolute" "$crm_ms" ms "<= 200 ms"
# conversations_per_day and messages_per_day read crm_internal.report_conversation_days
# and report_message_days (the rebuild above built them)
crm_sql="SELECT day, channel, conversations, answered, avg_first_response_seconds
  FROM crm_report.conversations_per_day WHERE day BETWEEN $year ORDER BY 1, 2"
bare_sql="SELECT started_at::date, channel, count(*), count(first_response_seconds), round(avg(first_response_seconds)::numeric, 1)
  FROM crm.conversations WHERE workspace_id = $ws AND started_at >= '2025-01-01' AND started_at < '2026-01-01'
 GROUP BY 1, 2 ORDER BY 1, 2"
read -r crm_ms bare_ms <<<"$(bench_pair "$as_bi" "$crm_sql;" "$as_dba" "$bare_sql;" 5)"
report "crm_report.conversations_per_day, 1 year of $SCALE conversations" "$crm_ms" "$bare_ms" time "<= 1.5"
report_abs "  the same, absolute" "$crm_ms" ms "<= 200 ms"

crm_sql="SELECT day, channel, sender, messages FROM crm_report.messages_per_day WHERE day BETWEEN $year ORDER BY 1, 2, 3"
bare_sql="SELECT m.sent_at::date, c.channel, m.sender::text, count(*)
  FROM crm.messages m JOIN crm.conversations c ON c.workspace_id = m.workspace_id AND c.id = m.conversation_id
 WHERE m.workspace_id = $ws AND m.sent_at >= '2025-01-01' AND m.sent_at < '2026-01-01'
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
read -r crm_ms bare_ms <<<"$(bench_pair "$as_bi" "$crm_sql;" "$as_dba" "$bare_sql;" 5)"
report "crm_report.messages_per_day, 1 year of $((2 * SCALE)) messages" "$crm_ms" "$bare_ms" time "<= 1.5"
report_abs "  the same, absolute" "$crm_ms" ms "<= 200 ms"
if ! diff <(psql -X -q -At -d "$BENCH_DB" -c "$as_bi $crm_sql") <(psql -X -q -At -d "$BENCH_DB" -c "$as_dba $bare_sql") >/dev/null; then
	echo "reporting.sh: messages_per_day and the hand-written GROUP BY disagree" >&2
	exit 1
fi
bench_sql "DROP OWNED BY bench_bi; DROP ROLE bench_bi"
