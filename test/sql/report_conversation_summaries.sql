-- The summary behind crm_report.conversations_per_day
-- (crm_internal.report_conversation_days, src/report_summaries.c): per UTC
-- day started, channel and first response, kept exact at commit by
-- statement triggers on crm.conversations through every write a frontend
-- makes -- conversations inserted, answered by a message, unanswered again
-- when the answer goes, moved to another channel or day, deleted, and the
-- contact deleted -- checked after each against a recomputation from the
-- conversations; read by reporting roles in UTC sessions with the same
-- counts and means as the facts, without JIT; rebuilt by
-- crm.rebuild_report_summaries().
CREATE DATABASE crm_test_report_conversation_summaries;
\c crm_test_report_conversation_summaries
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_vsum_app;
CREATE ROLE crm_vsum_bi;
SELECT crm.grant_access('crm_vsum_app');
SELECT crm.create_workspace('vsums', 'Conversation sums', 'EUR') AS ws \gset
SELECT crm.use_workspace('vsums') IS NOT NULL AS in_vsums;
SELECT crm.grant_access('crm_vsum_bi', access => 'reporting');

-- the summary (a key's value: the sum of its rows) against a recomputation
-- from the conversations: keys missing or different on either side (none when exact)
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (side text, day date, channel text, conversations bigint, answered bigint,
											   response_seconds numeric)
LANGUAGE sql AS $$
	WITH s AS (SELECT workspace_id, day, channel, sum(conversations)::bigint AS conversations,
					  sum(answered)::bigint AS answered, sum(response_seconds) AS response_seconds
				 FROM crm_internal.report_conversation_days GROUP BY 1, 2, 3
			   HAVING sum(conversations) <> 0 OR sum(answered) <> 0 OR sum(response_seconds) <> 0)
	(SELECT 'summary only', day, channel, conversations, answered, response_seconds FROM s
	 EXCEPT SELECT 'summary only', day, channel, conversations, answered, response_seconds
			  FROM crm_internal.report_conversation_days_recomputed)
	UNION ALL
	(SELECT 'conversations only', day, channel, conversations, answered, response_seconds
	   FROM crm_internal.report_conversation_days_recomputed
	 EXCEPT SELECT 'conversations only', day, channel, conversations, answered, response_seconds FROM s)
$$;
CREATE FUNCTION pg_temp.summary() RETURNS TABLE (day date, channel text, conversations bigint, answered bigint,
												 response_seconds numeric)
LANGUAGE sql AS $$
	SELECT s.day, s.channel, sum(s.conversations)::bigint, sum(s.answered)::bigint, sum(s.response_seconds)
	  FROM crm_internal.report_conversation_days s
	 WHERE s.workspace_id = (SELECT id FROM crm.workspaces WHERE slug = 'vsums')
	 GROUP BY 1, 2 HAVING sum(s.conversations) <> 0 OR sum(s.answered) <> 0 OR sum(s.response_seconds) <> 0
	 ORDER BY 1, 2
$$;
-- checked as the superuser between the frontend's statements
\set check 'RESET ROLE; SELECT * FROM pg_temp.summary(); SELECT * FROM pg_temp.drift(); SET ROLE crm_vsum_app;'

-- Row path: a frontend role starts conversations on two channels and
-- answers them with messages: email 1 answered after 600 s, email 2 after
-- 1200 s (a bot's second answer changes nothing), chat 3 not answered
SET ROLE crm_vsum_app;
SET crm.workspace_id = :ws;
INSERT INTO crm.contacts (name) VALUES ('Vic'), ('Val');
INSERT INTO crm.conversations (contact_id, channel, started_at)
SELECT c.id, x.channel, x.at FROM crm.contacts c,
	   (VALUES ('Vic', 'email', timestamptz '2026-04-01 09:00'), ('Val', 'email', '2026-04-01 10:00'),
			   ('Vic', 'chat', '2026-04-01 23:30')) x(name, channel, at)
 WHERE c.name = x.name ORDER BY x.at;
SELECT id AS cv1 FROM crm.conversations WHERE started_at = '2026-04-01 09:00' \gset
SELECT id AS cv2 FROM crm.conversations WHERE started_at = '2026-04-01 10:00' \gset
SELECT id AS cv3 FROM crm.conversations WHERE started_at = '2026-04-01 23:30' \gset
:check
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(:cv1, 'contact', 'help', '2026-04-01 09:00'), (:cv1, 'agent', 'hello', '2026-04-01 09:10'),
	(:cv2, 'contact', 'help', '2026-04-01 10:00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv2, 'agent', 'there', '2026-04-01 10:20');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv2, 'bot', 'also', '2026-04-01 10:30');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv3, 'contact', 'anyone?', '2026-04-01 23:31');
:check
RESET ROLE;

-- the reporting role reads the summary: two email conversations answered
-- after 600 and 1200 s (mean 900), one chat unanswered
SET ROLE crm_vsum_bi;
SELECT day, channel, conversations, answered, avg_first_response_seconds
  FROM crm_report.conversations_per_day ORDER BY 1, 2;
RESET ROLE;

-- a third email answered after 30 s: the mean is 610.0; the frontend may
-- not touch the summary
SET ROLE crm_vsum_app;
SELECT crm.start_conversation((SELECT id FROM crm.contacts WHERE name = 'Val'), 'email', first_message => 'hi',
							  started_at => '2026-04-01 12:00') AS cv4 \gset
SELECT crm.add_message(:cv4, 'agent', 'yes?', '2026-04-01 12:00:30') IS NOT NULL AS answered;
SELECT count(*) FROM crm_internal.report_conversation_days;
INSERT INTO crm_internal.report_conversation_days VALUES (:ws, '2026-04-01', 'email', 1, 0, 0);
RESET ROLE;
SET ROLE crm_vsum_bi;
SELECT day, channel, conversations, answered, avg_first_response_seconds
  FROM crm_report.conversations_per_day ORDER BY 1, 2;
-- the same series from the facts: another zone reads the conversations
SET TimeZone = 'Etc/GMT-1';
SELECT day, channel, conversations, answered, avg_first_response_seconds
  FROM crm_report.conversations_per_day ORDER BY 1, 2;
SET TimeZone = 'UTC';
RESET ROLE;

-- the answer deleted: unanswered again; a channel and a day changed; a
-- conversation deleted; the contact deleted with its conversations
SET ROLE crm_vsum_app;
DELETE FROM crm.messages WHERE conversation_id = :cv1 AND sender = 'agent';
:check
UPDATE crm.conversations SET channel = 'whatsapp' WHERE id = :cv2;
UPDATE crm.conversations SET started_at = '2026-04-02 08:00' WHERE id = :cv3;
:check
-- a rename of the inbox or a status change moves nothing
UPDATE crm.conversations SET status = 'resolved', inbox = 'support' WHERE id = :cv2;
:check
DELETE FROM crm.conversations WHERE id = :cv4;
:check
RESET ROLE;
SELECT crm.delete_contact((SELECT id FROM crm.contacts WHERE name = 'Vic'), hard => true) IS NOT NULL AS erased;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- Rebuild: the summary rows of deals, contacts, orders and conversations
DELETE FROM crm_internal.report_conversation_days WHERE workspace_id = :ws;
SELECT * FROM pg_temp.drift();
SELECT crm.rebuild_report_summaries() AS rows_rebuilt;
SELECT * FROM pg_temp.drift();

-- A workspace deleted leaves no summary row; TRUNCATE empties it
SELECT crm.use_workspace('default') IS NOT NULL AS in_default;
DELETE FROM crm.workspaces WHERE id = :ws;
SELECT count(*) AS rows_left FROM crm_internal.report_conversation_days WHERE workspace_id = :ws;
SELECT crm.start_conversation(crm.identify(email => 'tr@example.com'), 'chat') IS NOT NULL AS started;
SELECT count(*) AS rows_before_truncate FROM crm_internal.report_conversation_days;
TRUNCATE crm.conversations CASCADE;
SELECT count(*) AS rows_after_truncate FROM crm_internal.report_conversation_days;

-- No JIT for a view that reads a summary (src/report_plans.c): a fresh
-- session, where crm.so is not loaded yet and no policy applies (the
-- superuser), plans the views with every JIT
-- threshold at 0; the gate's support function loads crm.so while the
-- planner costs it, and the executor hook turns JIT off.  A plain query of
-- the same session keeps it (where the server has JIT at all).
\c crm_test_report_conversation_summaries
SET TimeZone = 'UTC';
CREATE FUNCTION pg_temp.jit(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	p json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
	RETURN (p -> 0 -> 'JIT') IS NOT NULL;
END;
$$;
SET jit = on;
SET jit_above_cost = 0;
SET jit_inline_above_cost = 0;
SET jit_optimize_above_cost = 0;
SELECT pg_temp.jit('SELECT * FROM crm_report.conversations_per_day') AS view_jit,
	   pg_temp.jit('SELECT * FROM crm_report.order_revenue_per_month') AS orders_jit,
	   pg_temp.jit('SELECT * FROM crm_report.deals_per_month') AS deals_jit,
	   pg_temp.jit('SELECT count(*) FROM crm.conversations') = pg_jit_available() AS plain_query_as_configured;
RESET jit_above_cost;
RESET jit_inline_above_cost;
RESET jit_optimize_above_cost;

\c postgres
DROP DATABASE crm_test_report_conversation_summaries;
DROP ROLE crm_vsum_app, crm_vsum_bi;
