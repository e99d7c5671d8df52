-- Message statistics by deltas: an INSERT whose messages come after the
-- conversation's last one adds to its statistics; any other write recomputes
-- them.  After each statement below, the kept statistics and the contact's
-- counters must equal crm_hidden.sync_conversation_statistics's and
-- crm_hidden.sync_conversation_counters's recomputation.  Own database.
CREATE DATABASE crm_test_conversations_deltas;
\c crm_test_conversations_deltas
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

INSERT INTO crm.contacts (workspace_id, id, name) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'Ada'), (1, 2, 'Bob');
INSERT INTO crm.conversations (workspace_id, id, contact_id, started_at) OVERRIDING SYSTEM VALUE
VALUES (1, 1, 1, '2030-01-01 09:00+00'), (1, 2, 1, '2030-01-01 09:00+00'), (1, 3, 2, '2030-01-01 09:00+00');

-- the rows that differ from the recomputation (none expected)
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (what text, kept text, recomputed text)
LANGUAGE plpgsql AS $$
DECLARE
	kept_cv jsonb;
	kept_c jsonb;
BEGIN
	SELECT jsonb_object_agg(id, to_jsonb(cv) - 'updated_at') INTO kept_cv FROM crm.conversations cv;
	SELECT jsonb_object_agg(id, to_jsonb(c) - 'updated_at') INTO kept_c FROM crm.contacts c;
	PERFORM crm_hidden.sync_conversation_statistics(array_agg(workspace_id), array_agg(id)) FROM crm.conversations;
	PERFORM crm_hidden.sync_conversation_counters(array_agg(workspace_id), array_agg(id)) FROM crm.contacts;
	RETURN QUERY
	SELECT 'conversation ' || cv.id, (kept_cv -> cv.id::text)::text, (to_jsonb(cv) - 'updated_at')::text
	  FROM crm.conversations cv WHERE kept_cv -> cv.id::text IS DISTINCT FROM to_jsonb(cv) - 'updated_at'
	UNION ALL
	SELECT 'contact ' || c.id, (kept_c -> c.id::text)::text, (to_jsonb(c) - 'updated_at')::text
	  FROM crm.contacts c WHERE kept_c -> c.id::text IS DISTINCT FROM to_jsonb(c) - 'updated_at';
END;
$$;
CREATE VIEW pg_temp.stats AS
SELECT id, first_message_at, last_message_at, messages_in AS "in", messages_out AS "out", last_inbound_at,
	   last_outbound_at, first_response_seconds AS first_wait, response_count AS n, response_seconds AS waited
  FROM crm.conversations ORDER BY id;

-- appended one by one: contact, contact, agent (waited since the first), bot
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'contact', 'hi', '2030-01-01 10:00+00');
SELECT * FROM pg_temp.drift();
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'contact', 'anyone?', '2030-01-01 10:01+00');
SELECT * FROM pg_temp.drift();
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'agent', 'hello', '2030-01-01 10:03+00');
SELECT * FROM pg_temp.drift();
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'bot', 'survey', '2030-01-01 10:04+00');
SELECT * FROM pg_temp.drift();
-- a statement of several rows appended: the contact's run opened before it
-- continues into the statement, and a new run opens and is answered in it
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'contact', 'again', '2030-01-01 11:00+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(1, 'contact', 'still there?', '2030-01-01 11:02+00'), (1, 'agent', 'yes', '2030-01-01 11:10+00'),
	(1, 'contact', 'thanks', '2030-01-01 11:11+00'), (1, 'contact', 'bye', '2030-01-01 11:12+00'),
	(1, 'bot', 'rate us', '2030-01-01 11:12:30+00');
SELECT * FROM pg_temp.drift();
-- a tie on sent_at: after the last message when its id is greater, before
-- it (recomputed) when it is smaller
INSERT INTO crm.messages (workspace_id, id, conversation_id, sender, body, sent_at) OVERRIDING SYSTEM VALUE
VALUES (1, 500, 1, 'contact', 'tie', '2030-01-01 11:12:30+00');
SELECT * FROM pg_temp.drift();
INSERT INTO crm.messages (workspace_id, id, conversation_id, sender, body, sent_at) OVERRIDING SYSTEM VALUE
VALUES (1, 400, 1, 'agent', 'tie before', '2030-01-01 11:12:30+00');
SELECT * FROM pg_temp.drift();
INSERT INTO crm.messages (workspace_id, id, conversation_id, sender, body, sent_at) OVERRIDING SYSTEM VALUE
VALUES (1, 600, 1, 'agent', 'tie after', '2030-01-01 11:12:30+00');
SELECT * FROM pg_temp.drift();
-- out of order: before the last message, recomputed
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (1, 'agent', 'late', '2030-01-01 10:02+00');
SELECT * FROM pg_temp.drift();
-- one statement appending to conversation 2, out of order in 1, first message of 3
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(2, 'agent', 'welcome', '2030-01-02 08:00+00'), (2, 'contact', 'q', '2030-01-02 08:05+00'),
	(1, 'contact', 'early', '2030-01-01 09:30+00'), (3, 'contact', 'hey', '2030-01-03 12:00+00'),
	(2, 'agent', 'a', '2030-01-02 08:35+00');
SELECT * FROM pg_temp.drift();
-- a statement of no rows, then the same appends as a frontend's row writes
INSERT INTO crm.messages (conversation_id, sender, body) SELECT 1, 'contact', 'none' WHERE false;
CREATE ROLE crm_deltas_app;
SELECT crm.grant_access('crm_deltas_app');
SET ROLE crm_deltas_app;
SET crm.workspace_id = 1;
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (3, 'contact', 'hey?', '2030-01-03 12:01+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (3, 'agent', 'hi Bob', '2030-01-03 12:21+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (3, 'contact', 'older', '2030-01-03 11:00+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (2, 'agent', 'b', '2030-01-02 09:00+00');
RESET ROLE;
SELECT * FROM pg_temp.drift();
SELECT * FROM pg_temp.stats;
SELECT id, conversation_count, first_seen_at, last_seen_at, last_conversation_at FROM crm.contacts ORDER BY id;
-- events: an agent's message is its CRM_MESSAGE_CREATED alone (the statistics
-- and last_conversation_at it moves make no event of their own); a
-- contact's also moves last_seen_at, a CRM_CONTACT_UPDATED listing both
SELECT max(id) AS events_before FROM crm.events \gset
SET ROLE crm_deltas_app;
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (3, 'agent', 'more?', '2030-01-04 10:00+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (3, 'contact', 'no', '2030-01-04 10:05+00');
RESET ROLE;
SELECT type, object_type, payload - 'id' AS payload FROM crm.events WHERE id > :events_before ORDER BY id;
SELECT last_conversation_at, last_seen_at FROM crm.contacts WHERE id = 2;
SELECT * FROM pg_temp.drift();
-- deletes and moves still recompute
DELETE FROM crm.messages WHERE conversation_id = 1 AND body IN ('early', 'bye');
UPDATE crm.messages SET conversation_id = 2 WHERE conversation_id = 1 AND body = 'rate us';
SELECT * FROM pg_temp.drift();
SELECT * FROM pg_temp.stats;
DROP OWNED BY crm_deltas_app;
-- A new backend reads a conversation's last messages through their index,
-- whatever the statistics: a plan kept from an empty table (here truncated
-- and analyzed) would scan every message at each append until an ANALYZE.
\c crm_test_conversations_deltas
BEGIN;
TRUNCATE crm.messages CASCADE;
ANALYZE crm.messages;
SELECT seq_scan AS seq0 FROM pg_stat_xact_user_tables WHERE relid = 'crm.messages'::regclass \gset
-- single-row statements, past the plan cache's five custom plans
SELECT format('INSERT INTO crm.messages (workspace_id, conversation_id, sender, body, sent_at) VALUES (1, 3, %L, %L, %L)',
			  CASE WHEN i % 2 = 0 THEN 'contact' ELSE 'agent' END, 'm' || i, '2030-02-01 09:00+00'::timestamptz + i * interval '1 minute')
  FROM generate_series(1, 8) i \gexec
SELECT messages_in, messages_out FROM crm.conversations WHERE id = 3;
SELECT seq_scan - :seq0 AS message_scans FROM pg_stat_xact_user_tables WHERE relid = 'crm.messages'::regclass;
ROLLBACK;

\c contrib_regression
DROP DATABASE crm_test_conversations_deltas;
DROP ROLE crm_deltas_app;
