-- One path for conversations: the same conversations in two workspaces,
-- written once as the owner through crm.start_conversation and
-- crm.add_message and once as plain rows by a role granted with
-- crm.grant_access under PostgREST's claims, give the same conversations and
-- messages, the same last_message_at, the same contact counters (count,
-- first and last seen), the same conversation_started activities and the
-- same events; status changes, a move to another contact and a delete (rows
-- either way: there are no functions for them) keep the counters the same.
BEGIN;
SELECT plan(13);

\set app crm_conversations_parity_app
\set slug cvparity
\ir parity_setup.psql

CREATE FUNCTION pg_temp.seed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@cvparity.example'), ('Bob', 'bob@cvparity.example') $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.seed();
SELECT pg_temp.use(r) FROM ws; SELECT pg_temp.seed();

-- a workspace's conversations by their inbox (ids differ), with their messages
CREATE FUNCTION pg_temp.conversations(w bigint) RETURNS TABLE (inbox text, contact text, channel text, status text,
															   started_at timestamptz, last_message_at timestamptz,
															   properties jsonb, messages text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT cv.inbox, p.name, cv.channel, cv.status::text, cv.started_at, cv.last_message_at, cv.properties,
		   (SELECT string_agg(m.sender || '@' || to_char(m.sent_at AT TIME ZONE 'UTC', 'HH24:MI') || ':' || m.body, ' | '
							  ORDER BY m.sent_at, m.body)
			  FROM crm.messages m WHERE m.workspace_id = w AND m.conversation_id = cv.id)
	  FROM crm.conversations cv JOIN crm.contacts p ON p.workspace_id = cv.workspace_id AND p.id = cv.contact_id
	 WHERE cv.workspace_id = w ORDER BY cv.inbox;
END $$;
-- the contacts' counters and their conversation_started activities
CREATE FUNCTION pg_temp.contacts(w bigint) RETURNS TABLE (name text, conversation_count integer, first_seen_at timestamptz,
														  last_seen_at timestamptz, activities text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT p.name, p.conversation_count, p.first_seen_at, p.last_seen_at,
		   (SELECT string_agg(a.type || '/' || a.subject || '/' || a.actor || '/' || (a.payload - 'conversation_id')::text, ' | '
							  ORDER BY a.occurred_at)
			  FROM crm.activities a WHERE a.workspace_id = w AND a.contact_id = p.id)
	  FROM crm.contacts p WHERE p.workspace_id = w ORDER BY p.name;
END $$;
-- its events since the mark: type, the contact's name (for activities, their
-- contact's), the payload without ids and times of writing (a conversation
-- moved names its new contact); in order per contact (one statement
-- recounting two contacts updates them in plan order)
CREATE FUNCTION pg_temp.events(w bigint) RETURNS TABLE (type text, contact text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT e.type, coalesce(p.name, ap.name),
		   CASE WHEN e.payload #> '{changes,contact_id}' IS NULL THEN e.payload - 'id' #- '{changes,updated_at}'
				ELSE jsonb_set(e.payload - 'id' #- '{changes,updated_at}', '{changes,contact_id}',
							   to_jsonb((SELECT x.name FROM crm.contacts x WHERE x.workspace_id = e.workspace_id
										   AND x.id = (e.payload #>> '{changes,contact_id}')::bigint))) END
	  FROM crm.events e
	  LEFT JOIN crm.contacts p ON e.object_type = 'contact' AND p.workspace_id = e.workspace_id AND p.id = e.object_id
	  LEFT JOIN crm.activities a ON e.object_type = 'activity' AND a.workspace_id = e.workspace_id AND a.id = e.object_id
	  LEFT JOIN crm.contacts ap ON ap.workspace_id = a.workspace_id AND ap.id = a.contact_id
	 WHERE e.workspace_id = w AND e.id > (SELECT id FROM mark)
	 ORDER BY 2, e.id;
END $$;
CREATE FUNCTION pg_temp.same(step text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT results_eq(format('SELECT * FROM pg_temp.conversations(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.conversations(%s)', (SELECT f FROM ws)), step || ': the same conversations')
	UNION ALL
	SELECT results_eq(format('SELECT * FROM pg_temp.contacts(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.contacts(%s)', (SELECT f FROM ws)), step || ': the same counters and activities') $$;
CREATE FUNCTION pg_temp.id(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.contacts WHERE workspace_id = w AND name = n $$;
CREATE FUNCTION pg_temp.conversation(w bigint, i text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.conversations WHERE workspace_id = w AND inbox = i $$;

-- 1. conversations started: one with a first message and properties, one without
SELECT pg_temp.use(f) FROM ws;
SELECT crm.start_conversation(pg_temp.id(f, 'Ada'), 'email', 'billing', 'My invoice is wrong', '2024-03-01 09:00+00',
							  '{"topic": "invoice"}') > 0,
	   crm.start_conversation(pg_temp.id(f, 'Bob'), 'chat', 'sales', NULL, '2024-03-02 10:00+00') > 0 FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_conversations_parity_app;
WITH cv AS (
	INSERT INTO crm.conversations (contact_id, channel, inbox, started_at, properties)
	SELECT pg_temp.id(r, 'Ada'), 'email', 'billing', '2024-03-01 09:00+00', '{"topic": "invoice"}' FROM ws
	RETURNING id, started_at)
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) SELECT id, 'contact', 'My invoice is wrong', started_at FROM cv
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.conversations (contact_id, channel, inbox, started_at)
SELECT pg_temp.id(r, 'Bob'), 'chat', 'sales', '2024-03-02 10:00+00' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('started');

-- 2. messages: an agent's reply, the contact's answer, one sent earlier than
-- the last (last_message_at does not go back), a bot in the other conversation
SELECT pg_temp.use(f) FROM ws;
SELECT crm.add_message(pg_temp.conversation(f, 'billing'), 'agent', 'Fixing it now', '2024-03-01 09:05+00') > 0,
	   crm.add_message(pg_temp.conversation(f, 'billing'), 'contact', 'Thanks!', '2024-03-01 09:20+00') > 0,
	   crm.add_message(pg_temp.conversation(f, 'billing'), 'agent', 'Late note', '2024-03-01 09:10+00') > 0,
	   crm.add_message(pg_temp.conversation(f, 'sales'), 'bot', 'Hello from the bot', '2024-03-04 08:00+00') > 0 FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_conversations_parity_app;
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT pg_temp.conversation(r, 'billing'), 'agent', 'Fixing it now', '2024-03-01 09:05+00' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT pg_temp.conversation(r, 'billing'), 'contact', 'Thanks!', '2024-03-01 09:20+00' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT pg_temp.conversation(r, 'billing'), 'agent', 'Late note', '2024-03-01 09:10+00' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT pg_temp.conversation(r, 'sales'), 'bot', 'Hello from the bot', '2024-03-04 08:00+00' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('messages');
SELECT is((SELECT last_seen_at FROM pg_temp.contacts((SELECT r FROM ws)) WHERE name = 'Ada'), '2024-03-01 09:20+00'::timestamptz,
		  'the contact''s own message is when the contact was last seen, on the row path too');
SELECT is((SELECT last_seen_at FROM pg_temp.contacts((SELECT r FROM ws)) WHERE name = 'Bob'), '2024-03-02 10:00+00'::timestamptz,
		  'a bot''s message does not see the contact');

-- 3. status changes, a conversation moved to another contact, one deleted:
-- rows either way, the counters recounted the same
-- (the ids read first: Citus takes no volatile function in an UPDATE's WHERE)
CREATE FUNCTION pg_temp.later_changes(w bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	billing bigint := pg_temp.conversation(w, 'billing');
	sales bigint := pg_temp.conversation(w, 'sales');
	ada bigint := pg_temp.id(w, 'Ada');
BEGIN
	UPDATE crm.conversations SET status = 'pending' WHERE id = billing;
	UPDATE crm.conversations SET status = 'resolved' WHERE id = billing;
	UPDATE crm.conversations SET contact_id = ada WHERE id = sales;
	DELETE FROM crm.conversations WHERE id = billing;
END $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.later_changes(f) FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_conversations_parity_app;
SELECT pg_temp.later_changes(r) FROM ws;
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('status, move, delete');
SELECT is((SELECT string_agg(name || '=' || conversation_count, ',') FROM pg_temp.contacts((SELECT r FROM ws))), 'Ada=1,Bob=0',
		  'moving and deleting conversations recounts both contacts');

-- 4. bad input refused the same way by either path, writing nothing
SELECT pg_temp.use(f) FROM ws;
SELECT throws_ok(format($$SELECT crm.start_conversation(%s, 'Web Chat')$$, pg_temp.id(f, 'Ada')), '22023',
				 'invalid conversation channel: "Web Chat"', 'a channel that is not a lower-case word, by function') FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_conversations_parity_app;
SELECT throws_ok(format($$INSERT INTO crm.conversations (contact_id, channel) VALUES (%s, 'Web Chat')$$, pg_temp.id(r, 'Ada')),
				 '22023', 'invalid conversation channel: "Web Chat"', 'and as a row, with the same error') FROM ws;
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;

-- the events of every step, in order
SELECT results_eq(format('SELECT * FROM pg_temp.events(%s)', (SELECT r FROM ws)),
				  format('SELECT * FROM pg_temp.events(%s)', (SELECT f FROM ws)), 'all steps: the same events');
SELECT is((SELECT count(*) FROM pg_temp.events((SELECT r FROM ws)) WHERE type = 'CRM_ACTIVITY_CREATED'), 2::bigint,
		  'each conversation started is a conversation_started activity and its event');

SELECT * FROM finish();
ROLLBACK;
