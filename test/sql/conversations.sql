-- Conversations and messages: the contact's conversation_count and seen
-- timestamps follow them, and starting one writes a conversation_started
-- activity.  Own database: stable ids.
CREATE DATABASE crm_test_conversations;
\c crm_test_conversations
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', 'bob@example.com');
SELECT id, conversation_count, first_seen_at, last_seen_at FROM crm.contacts ORDER BY id;

-- a conversation with a first message from the contact
SELECT crm.start_conversation(1, 'chat', 'support', 'My invoice is wrong', '2024-03-01 09:00+00');
SELECT id, contact_id, channel, inbox, status, started_at, last_message_at FROM crm.conversations;
SELECT conversation_id, sender, body, sent_at FROM crm.messages ORDER BY id;
SELECT conversation_count, first_seen_at, last_seen_at FROM crm.contacts WHERE id = 1;
SELECT type, subject, actor, occurred_at, payload FROM crm.activities ORDER BY id;

-- an agent reply moves the conversation, not the contact's last_seen_at
SELECT crm.add_message(1, 'agent', 'Sorry, fixing it now', '2024-03-01 09:05+00');
SELECT last_message_at FROM crm.conversations WHERE id = 1;
SELECT conversation_count, first_seen_at, last_seen_at FROM crm.contacts WHERE id = 1;
-- the contact answering does
SELECT crm.add_message(1, 'contact', 'Thanks!', '2024-03-01 09:10+00');
SELECT conversation_count, first_seen_at, last_seen_at FROM crm.contacts WHERE id = 1;
-- a bot message likewise leaves the contact alone
SELECT crm.add_message(1, 'bot', 'Rate us', '2024-03-01 10:00+00');
SELECT last_message_at FROM crm.conversations WHERE id = 1;
SELECT last_seen_at FROM crm.contacts WHERE id = 1;

-- a second conversation without a message, earlier than anything seen so far
SELECT crm.start_conversation(1, 'email', NULL, NULL, '2024-02-15 08:00+00');
SELECT conversation_count, first_seen_at, last_seen_at FROM crm.contacts WHERE id = 1;
-- a backfilled contact message older than first_seen_at widens it
SELECT crm.add_message(2, 'contact', 'Old email', '2024-02-01 07:00+00');
SELECT conversation_count, first_seen_at, last_seen_at FROM crm.contacts WHERE id = 1;

-- several conversations in one statement, for two contacts
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES
	(1, 'whatsapp', '2024-04-01 12:00+00'), (2, 'chat', '2024-04-02 12:00+00'), (2, 'sms', '2024-04-03 12:00+00');
SELECT id, conversation_count, first_seen_at, last_seen_at FROM crm.contacts ORDER BY id;
SELECT contact_id, count(*) AS started FROM crm.activities WHERE type = 'conversation_started' GROUP BY 1 ORDER BY 1;

-- moving a conversation to another contact recounts both; deleting recounts
UPDATE crm.conversations SET contact_id = 2 WHERE id = 3;
SELECT id, conversation_count FROM crm.contacts ORDER BY id;
DELETE FROM crm.conversations WHERE contact_id = 2 AND channel = 'sms';
SELECT id, conversation_count FROM crm.contacts ORDER BY id;
-- status changes keep the counters and touch updated_at
UPDATE crm.conversations SET status = 'resolved' WHERE id = 1 RETURNING status, updated_at > created_at AS touched;
SELECT id, conversation_count FROM crm.contacts ORDER BY id;
-- deleting a conversation deletes its messages
SELECT count(*) AS messages FROM crm.messages;
DELETE FROM crm.conversations WHERE id = 2;
SELECT count(*) AS messages FROM crm.messages;

-- bad input: missing ids, other workspaces, bad channel, sender, body, properties
SELECT crm.create_workspace('other', 'Other');
SET crm.workspace_id = 2;
INSERT INTO crm.contacts (name) VALUES ('Elsewhere') RETURNING id AS elsewhere \gset
SELECT crm.start_conversation(:elsewhere) AS other_conversation \gset
RESET crm.workspace_id;
SELECT (SELECT count(*) FROM crm.conversations) AS conversations_before,
	   (SELECT count(*) FROM crm.messages) AS messages_before,
	   (SELECT count(*) FROM crm.activities) AS activities_before;
SELECT crm.start_conversation(999);
SELECT crm.start_conversation(NULL);
SELECT crm.start_conversation(:elsewhere);
SELECT crm.start_conversation(1, 'Live Chat');
SELECT crm.start_conversation(1, NULL);
SELECT crm.add_message(999, 'agent', 'hello');
SELECT crm.add_message(NULL, 'agent', 'hello');
SELECT crm.add_message(:other_conversation, 'agent', 'hello');
SELECT crm.add_message(1, 'customer', 'hello');
SELECT crm.add_message(1, NULL, 'hello');
SELECT crm.add_message(1, 'agent', NULL);
\set VERBOSITY terse
SELECT crm.start_conversation(1, 'chat', NULL, 'hi', now(), '[]');
INSERT INTO crm.conversations (contact_id, status) VALUES (1, 'archived');
\set VERBOSITY default
SELECT (SELECT count(*) FROM crm.conversations) AS conversations_after,
	   (SELECT count(*) FROM crm.messages) AS messages_after,
	   (SELECT count(*) FROM crm.activities) AS activities_after;
SELECT id, conversation_count FROM crm.contacts WHERE workspace_id = 1 ORDER BY id;

-- The row path: a frontend role writing a conversation and its message as
-- rows gets what crm.start_conversation and crm.add_message do (counters,
-- last_message_at, the activity); a bad channel gets the function's error.
CREATE ROLE crm_conversations_app;
SELECT crm.grant_access('crm_conversations_app');
SELECT conversation_count AS count_before FROM crm.contacts WHERE workspace_id = 1 AND id = 1 \gset
SET ROLE crm_conversations_app;
INSERT INTO crm.conversations (contact_id, channel) VALUES (1, 'Web Chat');
INSERT INTO crm.conversations (contact_id, channel) VALUES (1, NULL);
INSERT INTO crm.conversations (contact_id, channel, inbox, started_at) VALUES (1, 'sms', 'rows', '2030-05-01 10:00+00')
RETURNING channel, inbox, status;
UPDATE crm.conversations SET channel = 'SMS' WHERE workspace_id = 1 AND inbox = 'rows';
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT id, 'contact', 'Sent from my phone', '2030-05-01 10:05+00' FROM crm.conversations WHERE workspace_id = 1 AND inbox = 'rows';
-- the counters are the extension's: a value of the client's own is refused,
-- the current one sent back is no change
UPDATE crm.contacts SET conversation_count = 99 WHERE workspace_id = 1 AND id = 1;
UPDATE crm.contacts SET conversation_count = conversation_count, city = 'Lyon' WHERE workspace_id = 1 AND id = 1 RETURNING city;
INSERT INTO crm.contacts (name, conversation_count) VALUES ('Chatty', 12);
-- (on INSERT an explicit NULL count and a last conversation time of the
-- client's are refused too; zero and NULL, the resting values, are not)
INSERT INTO crm.contacts (name, conversation_count) VALUES ('Chatty', NULL);
INSERT INTO crm.contacts (name, last_conversation_at) VALUES ('Chatty', '2030-01-01');
INSERT INTO crm.contacts (name, email, conversation_count, last_conversation_at)
VALUES ('Quiet', 'quiet@conv.example', 0, NULL) RETURNING name, conversation_count, last_conversation_at;
DELETE FROM crm.contacts WHERE email = 'quiet@conv.example';
INSERT INTO crm.conversations (contact_id, channel, last_message_at) VALUES (1, 'chat', '2031-01-01');
UPDATE crm.conversations SET last_message_at = '2031-01-01' WHERE workspace_id = 1 AND inbox = 'rows';
SELECT crm_hidden.sync_conversation_counters(ARRAY[1::bigint], ARRAY[1::bigint]);
RESET ROLE;
SELECT channel, last_message_at = '2030-05-01 10:05+00' AS last_message_at_kept
  FROM crm.conversations WHERE workspace_id = 1 AND inbox = 'rows';
SELECT conversation_count - :count_before AS new_conversations, last_seen_at = '2030-05-01 10:05+00' AS seen_by_message
  FROM crm.contacts WHERE workspace_id = 1 AND id = 1;
SELECT type, subject FROM crm.activities WHERE workspace_id = 1 AND payload ->> 'inbox' = 'rows';

-- crm.start_conversation takes the conversation's later fields as named
-- arguments (positional 0.2.0 calls unchanged) and checks them as the row
-- write does: the same INSERT, the same triggers
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
INSERT INTO crm.deals (id, title, value, contact_id) VALUES (50, 'Fleet', 100, 1);
SELECT crm.start_conversation(1, 'whatsapp', 'sales-bot', NULL, '2030-06-01 09:00+00', '{}', 'pending', 'ann',
							  ARRAY['Pricing', 'vip', 'pricing'], 50) AS full_id \gset
SELECT contact_id, channel, inbox, status, assignee, tags, deal_id, started_at FROM crm.conversations WHERE id = :full_id;
SELECT crm.start_conversation(1, status => 'resolved', started_at => '2030-06-02 09:00+00') AS named_id \gset
SELECT channel, status, assignee, tags, deal_id FROM crm.conversations WHERE id = :named_id;
SELECT type, payload ->> 'channel' AS channel FROM crm.activities
 WHERE type = 'conversation_started' AND (payload ->> 'conversation_id')::bigint IN (:full_id, :named_id) ORDER BY id;
SELECT count(*) AS conversations_before FROM crm.conversations \gset
SELECT crm.start_conversation(1, deal_id => 999);
SELECT crm.start_conversation(1, tags => ARRAY[repeat('x', 101)]);
SELECT crm.start_conversation(1, assignee => repeat('a', 257));
SELECT crm.start_conversation(1, status => 'snoozed');
SELECT count(*) - :conversations_before AS written_by_refusals FROM crm.conversations;
-- the same fields through the function as a frontend role
SET ROLE crm_conversations_app;
SELECT crm.start_conversation(1, 'email', first_message => 'Quote please', started_at => '2030-06-03 09:00+00',
							  assignee => ' bob ', deal_id => 50) AS app_id \gset
RESET ROLE;
SELECT channel, status, assignee, deal_id, messages_in, first_message_at FROM crm.conversations WHERE id = :app_id;
SELECT type, object_id = :app_id AS this_one FROM crm.events
 WHERE type = 'CRM_CONVERSATION_CREATED' ORDER BY id DESC LIMIT 1;
DROP OWNED BY crm_conversations_app;

\c contrib_regression
DROP DATABASE crm_test_conversations;
DROP ROLE crm_conversations_app;
