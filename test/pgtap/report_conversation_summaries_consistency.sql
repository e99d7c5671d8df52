-- The conversation summary behind crm_report.conversations_per_day
-- (crm_internal.report_conversation_days) and the message summary behind
-- crm_report.messages_per_day (report_message_days) kept by the statement
-- triggers equal a fresh recomputation from the conversations and messages after a random
-- mixed workload -- conversations started, messages of every sender in
-- and out of order, messages deleted and moved in time, channels changed,
-- conversations deleted, contacts merged -- and the view read from it
-- equals the same series computed from crm_report.conversations (and
-- crm_report.messages).
-- Deterministic (setseed).
BEGIN;
SELECT plan(8);
-- the summaries' deltas of this transaction's small statements are written
-- at commit (src/report_summaries.c), and this test never commits: each
-- check writes them first, as a commit would (crm_internal.write_report_summaries)

SELECT crm.create_workspace('conversation-summary-random', 'Random conversation summary', 'EUR');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'conversation-summary-random'), true);
SET LOCAL TimeZone = 'UTC';
SELECT setseed(0.4242);

CREATE FUNCTION pg_temp.drift() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM (SELECT workspace_id, day, channel, sum(conversations)::bigint, sum(answered)::bigint, sum(response_seconds)
						  FROM crm_internal.report_conversation_days GROUP BY 1, 2, 3
		 HAVING sum(conversations) <> 0 OR sum(answered) <> 0 OR sum(response_seconds) <> 0) s
		 EXCEPT SELECT * FROM crm_internal.report_conversation_days_recomputed)
		UNION ALL
		(SELECT * FROM crm_internal.report_conversation_days_recomputed
		 EXCEPT SELECT * FROM (SELECT workspace_id, day, channel, sum(conversations)::bigint, sum(answered)::bigint, sum(response_seconds)
								 FROM crm_internal.report_conversation_days GROUP BY 1, 2, 3
		 HAVING sum(conversations) <> 0 OR sum(answered) <> 0 OR sum(response_seconds) <> 0) s)) x
$$;
CREATE FUNCTION pg_temp.message_drift() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		(SELECT * FROM (SELECT workspace_id, day, channel, sender, sum(messages)::bigint
						  FROM crm_internal.report_message_days GROUP BY 1, 2, 3, 4 HAVING sum(messages) <> 0) s
		 EXCEPT SELECT * FROM crm_internal.report_message_days_recomputed)
		UNION ALL
		(SELECT * FROM crm_internal.report_message_days_recomputed
		 EXCEPT SELECT * FROM (SELECT workspace_id, day, channel, sender, sum(messages)::bigint
								 FROM crm_internal.report_message_days GROUP BY 1, 2, 3, 4 HAVING sum(messages) <> 0) s)) x
$$;
-- (the count read first: Citus plans no subquery in OFFSET)
CREATE FUNCTION pg_temp.pick(t text, k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	r bigint;
BEGIN
	EXECUTE format('SELECT greatest(count(*), 1) FROM crm.%I WHERE workspace_id = crm.current_workspace()', t) INTO n;
	EXECUTE format('SELECT id FROM crm.%I WHERE workspace_id = crm.current_workspace() ORDER BY id OFFSET $1 %% $2 LIMIT 1', t)
	   INTO r USING k, n;
	RETURN r;
END;
$$;

INSERT INTO crm.contacts (name, email) SELECT 'Q ' || g, 'q' || g || '@vsummary.example' FROM generate_series(1, 40) g;
-- the g-th contact, as pg_temp.pick('contacts', g) reads it, from an array read
-- first (on Citus a function reading a distributed table inside an INSERT ...
-- SELECT finds the worker's connection busy)
SELECT array_agg(id ORDER BY id) AS people FROM crm.contacts WHERE workspace_id = crm.current_workspace() \gset
INSERT INTO crm.conversations (contact_id, channel, started_at)
SELECT (:'people'::bigint[])[1 + g % 40], (ARRAY['chat', 'email', 'sms'])[1 + g % 3], timestamptz '2026-03-01' + (g % 5) * interval '1 day' + g * interval '7 minutes'
  FROM generate_series(1, 60) g;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after a bulk insert the summary equals the recomputation');

DO $$
DECLARE
	op int;
	cv bigint;
	m bigint;
	at timestamptz;
BEGIN
	FOR i IN 1..600 LOOP
		op := (random() * 8)::int;
		cv := pg_temp.pick('conversations', (random() * 1000)::int);
		at := timestamptz '2026-03-01' + random() * interval '6 days';
		BEGIN
			CASE op
			WHEN 0 THEN PERFORM crm.start_conversation(pg_temp.pick('contacts', i), (ARRAY['chat', 'email'])[1 + i % 2],
													   first_message => 'hi', started_at => at);
			WHEN 1, 2 THEN PERFORM crm.add_message(cv, (ARRAY['contact', 'agent', 'bot'])[1 + i % 3]::crm.message_sender, 'm', at);
			-- (the message picked before the statement: Citus takes no volatile
			-- function in an UPDATE's or a DELETE's WHERE)
			WHEN 3 THEN m := pg_temp.pick('messages', i);
						DELETE FROM crm.messages WHERE id = m;
			WHEN 4 THEN m := pg_temp.pick('messages', i * 3);
						UPDATE crm.messages SET sent_at = at WHERE id = m;
			WHEN 5 THEN UPDATE crm.conversations SET channel = (ARRAY['chat', 'email', 'sms'])[1 + i % 3] WHERE id = cv;
			WHEN 6 THEN DELETE FROM crm.conversations WHERE id = cv AND i % 4 = 0;
			WHEN 7 THEN PERFORM crm.merge_contacts(pg_temp.pick('contacts', i), pg_temp.pick('contacts', i * 7));
			ELSE
				UPDATE crm.conversations SET started_at = at WHERE id = cv;
			END CASE;
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
END;
$$;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after 600 random single-row writes the summary equals the recomputation');
SELECT is(pg_temp.message_drift(), 0::bigint, 'after 600 random single-row writes the message summary equals the recomputation');

-- bulk statements: a channel renamed, conversations moved a day, some deleted
UPDATE crm.conversations SET channel = 'whatsapp' WHERE workspace_id = crm.current_workspace() AND channel = 'sms';
-- (moved AT TIME ZONE 'UTC', this test's zone: Citus takes no STABLE function
-- over a column, as timestamptz + interval is, in an UPDATE)
UPDATE crm.conversations SET started_at = ((started_at AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC' WHERE workspace_id = crm.current_workspace() AND id % 3 = 0;
DELETE FROM crm.messages WHERE workspace_id = crm.current_workspace() AND id % 5 = 0;
DELETE FROM crm.conversations WHERE workspace_id = crm.current_workspace() AND id % 7 = 0;
SELECT crm_internal.write_report_summaries();
SELECT is(pg_temp.drift(), 0::bigint, 'after bulk updates and deletes the summary equals the recomputation');
SELECT is(pg_temp.message_drift(), 0::bigint, 'after bulk updates and deletes the message summary equals the recomputation');
SELECT cmp_ok((SELECT count(*) FROM crm.messages WHERE workspace_id = crm.current_workspace()), '>', 20::bigint,
			  'the workload left messages to count');

-- the view read from the summary (the superuser reads it in UTC) against the facts
-- (the workspace a constant: Citus plans no outer join, as the view's, with a
-- qual naming no column, as workspace_id = crm.current_workspace() is, on PG15;
-- and the difference read first, as Citus sends a statement naming one
-- workspace whole to its worker, where this test has no plan)
SELECT crm.current_workspace() AS ws \gset
SELECT crm_internal.write_report_summaries();
SELECT count(*) AS conversation_days_apart FROM (
	(SELECT day, channel, conversations, answered, avg_first_response_seconds
	   FROM crm_report.conversations_per_day WHERE workspace_id = :ws
	 EXCEPT SELECT started_at::date, channel, count(*), count(first_response_at), round(avg(first_response_seconds), 1)
			  FROM crm_report.conversations WHERE workspace_id = :ws GROUP BY 1, 2)
	UNION ALL
	(SELECT started_at::date, channel, count(*), count(first_response_at), round(avg(first_response_seconds), 1)
	   FROM crm_report.conversations WHERE workspace_id = :ws GROUP BY 1, 2
	 EXCEPT SELECT day, channel, conversations, answered, avg_first_response_seconds
	   FROM crm_report.conversations_per_day WHERE workspace_id = :ws)) x \gset
SELECT is(:conversation_days_apart::bigint, 0::bigint,
	'conversations_per_day from the summary equals the series computed from the conversations');

-- messages_per_day read from the summary against the facts
SELECT crm_internal.write_report_summaries();
SELECT count(*) AS message_days_apart FROM (
	(SELECT day, channel, sender, messages FROM crm_report.messages_per_day WHERE workspace_id = :ws
	 EXCEPT SELECT sent_at::date, channel, sender, count(*) FROM crm_report.messages
			 WHERE workspace_id = :ws GROUP BY 1, 2, 3)
	UNION ALL
	(SELECT sent_at::date, channel, sender, count(*) FROM crm_report.messages
	  WHERE workspace_id = :ws GROUP BY 1, 2, 3
	 EXCEPT SELECT day, channel, sender, messages FROM crm_report.messages_per_day WHERE workspace_id = :ws)) x \gset
SELECT is(:message_days_apart::bigint, 0::bigint, 'messages_per_day from the summary equals the series computed from the messages');

SELECT * FROM finish();
ROLLBACK;
