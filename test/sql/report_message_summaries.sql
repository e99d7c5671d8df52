-- The summary behind crm_report.messages_per_day
-- (crm_internal.report_message_days, src/report_summaries.c): per UTC day
-- sent, conversation channel and sender, kept exact at commit by statement
-- triggers on crm.messages through every write a frontend makes --
-- messages inserted one by one and in a batch, moved to another day, sender
-- or conversation, deleted; the conversation's channel changed; the
-- conversation deleted with its messages (the cascade); the contact
-- deleted with its conversations -- checked after each against a
-- recomputation from the messages; read by reporting roles in UTC
-- sessions with the same counts as the facts; rebuilt by
-- crm.rebuild_report_summaries().
CREATE DATABASE crm_test_report_message_summaries;
\c crm_test_report_message_summaries
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_msum_app;
CREATE ROLE crm_msum_bi;
SELECT crm.grant_access('crm_msum_app');
SELECT crm.create_workspace('msums', 'Message sums', 'EUR') AS ws \gset
SELECT crm.use_workspace('msums') IS NOT NULL AS in_msums;
SELECT crm.grant_access('crm_msum_bi', access => 'reporting');

-- the summary (a key's value: the sum of its rows) against a recomputation
-- from the messages: keys missing or different on either side (none when exact)
CREATE FUNCTION pg_temp.drift() RETURNS TABLE (side text, day date, channel text, sender crm.message_sender, messages bigint)
LANGUAGE sql AS $$
	WITH s AS (SELECT workspace_id, day, channel, sender, sum(messages)::bigint AS messages
				 FROM crm_internal.report_message_days GROUP BY 1, 2, 3, 4 HAVING sum(messages) <> 0)
	(SELECT 'summary only', day, channel, sender, messages FROM s
	 EXCEPT SELECT 'summary only', day, channel, sender, messages FROM crm_internal.report_message_days_recomputed)
	UNION ALL
	(SELECT 'messages only', day, channel, sender, messages FROM crm_internal.report_message_days_recomputed
	 EXCEPT SELECT 'messages only', day, channel, sender, messages FROM s)
$$;
CREATE FUNCTION pg_temp.summary() RETURNS TABLE (day date, channel text, sender crm.message_sender, messages bigint)
LANGUAGE sql AS $$
	SELECT s.day, s.channel, s.sender, sum(s.messages)::bigint FROM crm_internal.report_message_days s
	 WHERE s.workspace_id = (SELECT id FROM crm.workspaces WHERE slug = 'msums')
	 GROUP BY 1, 2, 3 HAVING sum(s.messages) <> 0 ORDER BY 1, 2, 3
$$;
-- checked as the superuser between the frontend's statements
\set check 'RESET ROLE; SELECT * FROM pg_temp.summary(); SELECT * FROM pg_temp.drift(); SET ROLE crm_msum_app;'

-- Row path: a frontend role starts two conversations and writes messages,
-- one by one and then a batch of three (one statement)
SET ROLE crm_msum_app;
SET crm.workspace_id = :ws;
INSERT INTO crm.contacts (name) VALUES ('Mia'), ('Max');
INSERT INTO crm.conversations (contact_id, channel, started_at)
SELECT c.id, x.channel, x.at FROM crm.contacts c,
	   (VALUES ('Mia', 'email', timestamptz '2026-05-01 09:00'), ('Max', 'chat', '2026-05-01 23:00')) x(name, channel, at)
 WHERE c.name = x.name ORDER BY x.at;
SELECT id AS cv1 FROM crm.conversations WHERE channel = 'email' \gset
SELECT id AS cv2 FROM crm.conversations WHERE channel = 'chat' \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv1, 'contact', 'help', '2026-05-01 09:00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv1, 'agent', 'hello', '2026-05-01 09:10');
:check
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(:cv2, 'contact', 'hi', '2026-05-01 23:00'), (:cv2, 'bot', 'wait', '2026-05-01 23:59'),
	(:cv2, 'agent', 'yes?', '2026-05-02 00:05');
:check
RESET ROLE;

-- the reporting role reads the summary, and the same series from the
-- facts in another zone (a day later for the chat's messages after 23:00 UTC)
SET ROLE crm_msum_bi;
SELECT day, channel, sender, messages FROM crm_report.messages_per_day ORDER BY 1, 2, 3;
SET TimeZone = 'Etc/GMT-2';
SELECT day, channel, sender, messages FROM crm_report.messages_per_day ORDER BY 1, 2, 3;
SET TimeZone = 'UTC';
-- the frontend may not read or write the summary
RESET ROLE;
SET ROLE crm_msum_app;
SELECT count(*) FROM crm_internal.report_message_days;
INSERT INTO crm_internal.report_message_days VALUES (:ws, '2026-05-01', 'email', 'agent', 1);

-- a message moved to another day, another sender, another conversation;
-- an edit of its body moves nothing
UPDATE crm.messages SET sent_at = '2026-05-03 08:00' WHERE conversation_id = :cv1 AND sender = 'agent';
:check
UPDATE crm.messages SET sender = 'bot' WHERE conversation_id = :cv1 AND sender = 'agent';
:check
UPDATE crm.messages SET conversation_id = :cv2 WHERE conversation_id = :cv1 AND sender = 'bot';
:check
UPDATE crm.messages SET body = 'edited' WHERE conversation_id = :cv2;
:check
-- the conversation's channel changed: its messages move with it; a status
-- change moves nothing
UPDATE crm.conversations SET channel = 'whatsapp' WHERE id = :cv2;
:check
UPDATE crm.conversations SET status = 'resolved' WHERE id = :cv2;
:check
-- a message deleted
DELETE FROM crm.messages WHERE conversation_id = :cv2 AND sender = 'contact';
:check
-- the conversation deleted: the cascade takes its messages, the summary too
DELETE FROM crm.conversations WHERE id = :cv2;
:check
RESET ROLE;
-- the contact deleted with its conversations and their messages
SELECT crm.delete_contact((SELECT id FROM crm.contacts WHERE name = 'Mia'), hard => true) IS NOT NULL AS erased;
SELECT * FROM pg_temp.summary();
SELECT * FROM pg_temp.drift();

-- Many rows in one statement take the SQL fold: 40 messages in a
-- conversation, then their conversation's channel changed and a day of
-- them deleted
SET ROLE crm_msum_app;
SELECT crm.start_conversation((SELECT id FROM crm.contacts WHERE name = 'Max'), 'sms',
							  started_at => '2026-06-01 00:00') AS cv3 \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT :cv3, (ARRAY['contact', 'agent', 'bot']::crm.message_sender[])[1 + i % 3], 'm' || i,
	   timestamptz '2026-06-01 00:00' + i * interval '2 hours'
  FROM generate_series(1, 40) i;
:check
UPDATE crm.conversations SET channel = 'email' WHERE id = :cv3;
:check
DELETE FROM crm.messages WHERE conversation_id = :cv3 AND sent_at < '2026-06-02';
:check
RESET ROLE;

-- Rebuild: the summary from the messages
DELETE FROM crm_internal.report_message_days WHERE workspace_id = :ws;
SELECT count(*) AS keys_missing FROM pg_temp.drift();
SELECT crm.rebuild_report_summaries() > 0 AS rebuilt;
SELECT * FROM pg_temp.drift();

-- A workspace deleted leaves no summary row; TRUNCATE empties it
SELECT crm.use_workspace('default') IS NOT NULL AS in_default;
DELETE FROM crm.workspaces WHERE id = :ws;
SELECT count(*) AS rows_left FROM crm_internal.report_message_days WHERE workspace_id = :ws;
SELECT crm.start_conversation(crm.identify(email => 'tr@example.com'), 'chat', first_message => 'hi') IS NOT NULL AS started;
SELECT count(*) AS rows_before_truncate FROM crm_internal.report_message_days;
TRUNCATE crm.messages;
SELECT count(*) AS rows_after_truncate FROM crm_internal.report_message_days;

\c postgres
DROP DATABASE crm_test_report_message_summaries;
DROP ROLE crm_msum_app, crm_msum_bi;
