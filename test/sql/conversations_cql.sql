-- Conversations as CRM data (issue 16 item 1) and their statistics (issue
-- 22): assignee, tags, deal link, status, typed properties and the message
-- statistics on the row path of a frontend role with a member's claims;
-- CRM_CONVERSATION_* events; the CQL entity conversation and the contact
-- forms EXISTS conversations(...), COUNT(conversations(...)),
-- lastConversationAt and stats.*; dynamic lists kept exact when
-- conversations and messages change, move (merge) or go.
CREATE DATABASE crm_test_conversations;
\c crm_test_conversations
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_conv_app;
SELECT crm.grant_access('crm_conv_app');
SELECT crm.create_workspace('conv', 'Conversations') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent')).role;
SELECT (crm.add_member('gone', 'agent')).role;
UPDATE crm.members SET active = false WHERE user_id = 'gone';
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipe \gset
SELECT crm.define_property('conversation', 'topic', 'select', options => ARRAY['billing', 'sales']) > 0 AS topic;
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', 'bob@example.com'), ('Cy', 'cy@example.com');
SELECT min(id) AS ada, min(id) + 1 AS bob, max(id) AS cy FROM crm.contacts WHERE workspace_id = :ws \gset
SELECT id AS lead FROM crm.stages WHERE pipeline_id = :pipe AND name = 'Lead' \gset
INSERT INTO crm.deals (stage_id, title, contact_id) VALUES (:lead, 'Bob''s deal', :bob) RETURNING id AS deal \gset

-- the lists a frontend builds over conversations
SELECT name FROM crm.create_list('Sales bot, open', 'contact', 'dynamic', 'EXISTS conversations(chatbot = ''sales-bot'' AND status = OPEN)');
SELECT name FROM crm.create_list('Two on WhatsApp', 'contact', 'dynamic', 'COUNT(conversations(channel = WHATSAPP)) >= 2');
SELECT name FROM crm.create_list('Slow answers', 'contact', 'dynamic', 'stats.avgResponseMinutes > 60');
SELECT name FROM crm.create_list('Chatty on WhatsApp', 'contact', 'dynamic', 'stats.whatsapp.messagesIn >= 3');
SELECT name FROM crm.create_list('Billing', 'contact', 'dynamic', 'EXISTS conversations(topic = billing)');
CREATE TEMP VIEW shown AS
SELECT l.name, (SELECT array_agg(c.name ORDER BY c.name) FROM crm.list_members m
				  JOIN crm.contacts c ON c.workspace_id = m.workspace_id AND c.id = m.contact_id
				 WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id) AS contacts
  FROM crm.lists l WHERE l.workspace_id = crm.current_workspace() ORDER BY l.id;
GRANT SELECT ON shown TO crm_conv_app;
CREATE TEMP VIEW stats AS
SELECT cv.id, cv.channel, cv.inbox, cv.status, cv.messages_in AS "in", cv.messages_out AS "out",
	   cv.first_message_at, cv.last_message_at, cv.last_inbound_at, cv.last_outbound_at,
	   cv.first_response_seconds AS first_s, cv.response_count AS responses, cv.response_seconds AS waited_s
  FROM crm.conversations cv WHERE cv.workspace_id = crm.current_workspace() ORDER BY cv.id;
GRANT SELECT ON stats TO crm_conv_app;

-- as a member through the frontend role
SET ROLE crm_conv_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT max(id) AS events_before FROM crm.events \gset
INSERT INTO crm.conversations (contact_id, channel, inbox, assignee, tags, properties, started_at)
VALUES (:ada, 'whatsapp', 'sales-bot', ' ann ', '{Hot, hot, VIP }', '{"topic": "billing"}', '2026-01-05 09:00+00')
RETURNING id AS c1, assignee, tags \gset
SELECT :c1 AS c1, :'assignee' AS assignee, :'tags' AS tags;
-- the contact writes twice, an agent answers 90 minutes after the first, the contact again, a bot after 10 minutes
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(:c1, 'contact', 'hello', '2026-01-05 09:00+00'),
	(:c1, 'contact', 'anyone?', '2026-01-05 09:30+00'),
	(:c1, 'agent', 'here', '2026-01-05 10:30+00'),
	(:c1, 'contact', 'price?', '2026-01-05 10:40+00'),
	(:c1, 'bot', 'see the link', '2026-01-05 10:50+00');
SELECT * FROM stats;
SELECT name, conversation_count, last_conversation_at, last_seen_at FROM crm.contacts WHERE id = :ada;
SELECT * FROM shown;
SELECT type, object_type, object_id, payload - 'id' AS payload FROM crm.events
 WHERE id > :events_before AND (type LIKE 'CRM_CONVERSATION%' OR type LIKE 'CRM_MESSAGE%') ORDER BY id;

-- a second WhatsApp conversation, started as a row, with its first message;
-- Ada now has two, and her avgResponseMinutes stays (no answer yet)
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES (:ada, 'WhatsApp'::text, '2026-01-06 08:00+00');
INSERT INTO crm.conversations (contact_id, channel, started_at) VALUES (:ada, 'whatsapp', '2026-01-06 08:00+00') RETURNING id AS c2 \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:c2, 'contact', 'me again', '2026-01-06 08:00+00');
SELECT * FROM shown;

-- status, assignee, tags and deal as row updates: events with the changes
SELECT max(id) AS events_before FROM crm.events \gset
UPDATE crm.conversations SET status = 'resolved', assignee = 'ada', tags = '{done}' WHERE id = :c1;
SELECT type, payload -> 'changes' AS changes FROM crm.events WHERE id > :events_before AND type LIKE 'CRM_CONVERSATION%' ORDER BY id;
SELECT * FROM shown;
UPDATE crm.conversations SET status = 'open' WHERE id = :c1;

-- bad values, refused with the house errors; nothing written
SELECT max(id) AS events_before FROM crm.events \gset
UPDATE crm.conversations SET assignee = 'nobody' WHERE id = :c1;
UPDATE crm.conversations SET assignee = 'gone' WHERE id = :c1;
INSERT INTO crm.conversations (contact_id, assignee) VALUES (:bob, 'stranger');
UPDATE crm.conversations SET deal_id = 999999 WHERE id = :c1;
UPDATE crm.conversations SET messages_in = 100 WHERE id = :c1;
INSERT INTO crm.conversations (contact_id, response_count) VALUES (:bob, 3);
UPDATE crm.conversations SET last_message_at = now() WHERE id = :c1;
UPDATE crm.conversations SET properties = '{"topic": "gossip"}' WHERE id = :c1;
UPDATE crm.conversations SET status = 'archived' WHERE id = :c1;
UPDATE crm.conversations SET tags = ARRAY[repeat('x', 300)] WHERE id = :c1;
UPDATE crm.contacts SET last_conversation_at = now() WHERE id = :ada;
-- sending the current values back (a PATCH of a whole record) is no change
UPDATE crm.conversations SET messages_in = messages_in, response_seconds = response_seconds WHERE id = :c1;
SELECT count(*) AS events_written FROM crm.events WHERE id > :events_before;
SELECT assignee, tags, status, deal_id, properties FROM crm.conversations WHERE id = :c1;

-- Bob: a deal's conversation by email, a WhatsApp one; CQL on conversations
INSERT INTO crm.conversations (contact_id, channel, inbox, deal_id, started_at)
VALUES (:bob, 'email', 'support', :deal, '2026-01-07 12:00+00') RETURNING id AS c3 \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES
	(:c3, 'contact', 'quote please', '2026-01-07 12:00+00'),
	(:c3, 'agent', 'attached', '2026-01-07 12:20+00');
SELECT id, channel, deal_id FROM crm.find_conversations('dealId IS NOT NULL AND deal.title = ''Bob''''s deal''');
SELECT id FROM crm.find_conversations('channel = WHATSAPP AND messageCount >= 5 AND tags CONTAINS ''done''');
SELECT id FROM crm.find_conversations('contact.name = ''Ada''', 'startedAt DESC, id DESC');
SELECT id FROM crm.find_conversations('firstResponseMinutes < 30');
SELECT id FROM crm.find_conversations('topic = billing AND assignee = ''ada''');
SELECT id FROM crm.find_conversations('status = CLOSED');
SELECT name FROM crm.find_contacts('lastConversationAt > 2026-01-06') ORDER BY name;
SELECT name FROM crm.find_contacts('stats.messagesIn >= 1 AND stats.lastInboundAt >= 2026-01-07') ORDER BY name;
SELECT name FROM crm.find_contacts('stats.email.firstResponseMinutes <= 20') ORDER BY name;
SELECT id, title FROM crm.find_deals('EXISTS conversations(channel = EMAIL)');
SELECT crm.count('conversation', 'inbox = ''sales-bot''') AS sales_bot_conversations;
SELECT * FROM shown;

-- bad CQL
SELECT crm.find_contacts('stats.nosuch > 1');
SELECT crm.find_contacts('stats.what-sapp.messagesIn > 1');
SELECT crm.find_conversations('status = SHUT');
SELECT crm.find_conversations('nosuch = 1');

-- a message moved and deleted: the statistics follow both conversations
UPDATE crm.messages SET conversation_id = :c2 WHERE conversation_id = :c1 AND body = 'price?';
DELETE FROM crm.messages WHERE conversation_id = :c1 AND sender = 'bot';
SELECT * FROM stats;
SELECT * FROM shown;
-- a conversation deleted: Ada leaves the lists that needed it
DELETE FROM crm.conversations WHERE id = :c1;
SELECT name, conversation_count, last_conversation_at FROM crm.contacts WHERE id = :ada;
SELECT * FROM shown;
RESET ROLE;

-- merge: Ada merged into Cy; her conversation moves to Cy, and the lists follow
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.start_conversation(:cy, 'whatsapp', 'sales-bot', 'hi from Cy', '2026-01-08 09:00+00') AS c4 \gset
SELECT * FROM shown;
SELECT crm.merge_contacts(:cy, :ada) IS NOT NULL AS merged;
SELECT contact_id = :cy AS moved FROM crm.conversations WHERE id = :c2;
SELECT name, conversation_count, last_conversation_at FROM crm.contacts WHERE id IN (:ada, :cy) ORDER BY id;
SELECT * FROM shown;

-- a deal deleted clears the link; the conversation stays
DELETE FROM crm.deals WHERE id = :deal;
SELECT id, deal_id FROM crm.conversations WHERE id = :c3;

-- "a chatbot's contacts" is one index range
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT DISTINCT cv.contact_id FROM crm.conversations cv
 WHERE cv.workspace_id = :ws AND cv.inbox = 'sales-bot';
RESET enable_seqscan;
SELECT c.name FROM crm.contacts c
 WHERE c.workspace_id = crm.current_workspace()
   AND c.id IN (SELECT cv.contact_id FROM crm.conversations cv
				 WHERE cv.workspace_id = crm.current_workspace() AND cv.inbox = 'sales-bot');

-- response times with simultaneous messages: the order is sent_at, then id
SELECT crm.start_conversation(:bob, 'sms', NULL, NULL, '2026-02-01 10:00+00') AS c5 \gset
SELECT crm.add_message(:c5, 'agent', 'welcome', '2026-02-01 10:00+00') > 0 AS agent_first;
SELECT crm.add_message(:c5, 'contact', 'q1', '2026-02-01 10:05+00') > 0 AS q1;
SELECT crm.add_message(:c5, 'agent', 'a1', '2026-02-01 10:05+00') > 0 AS a1_same_time;
SELECT "in", "out", first_s, responses, waited_s FROM stats WHERE id = :c5;

\c contrib_regression
DROP DATABASE crm_test_conversations;
DROP ROLE crm_conv_app;
