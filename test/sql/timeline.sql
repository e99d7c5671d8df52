-- Timelines (issue 16, item 4): crm.timeline_entries of a contact, a
-- company and a deal; every kind of entry in order, each with its actor;
-- pages by cursor without skipping or repeating entries that share a
-- time; a company's includes its contacts' entries, a deal's its
-- conversations; read as the caller, so private notes and owner privacy
-- apply.  Own database.
CREATE DATABASE crm_test_timeline;
\c crm_test_timeline
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE ROLE crm_timeline_app;
SELECT crm.grant_access('crm_timeline_app');
SELECT crm.create_workspace('timeline', 'Timeline') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipeline \gset
SELECT crm.define_property('contact', 'plan', 'text') IS NOT NULL AS defined;
SET crm.actor = 'seed';

-- every page of k entries, joined: the same entries as one page of all
CREATE FUNCTION public.walk(object_type text, object_id bigint, k integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur text;
	got text[] := '{}';
	r record;
	n integer;
BEGIN
	LOOP
		n := 0;
		FOR r IN SELECT * FROM crm.timeline_entries(object_type, object_id, k, cur) LOOP
			got := got || (r.source || ':' || r.id);
			cur := r.cursor;
			n := n + 1;
		END LOOP;
		EXIT WHEN n < k;
	END LOOP;
	RETURN array_to_string(got, ' ');
END;
$$;
CREATE FUNCTION public.whole(object_type text, object_id bigint) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(e.source || ':' || e.id, ' ') FROM crm.timeline_entries(object_type, object_id, 1000) e
$$;

-- Hal, and what happens to him: a fixed past first, then changes made now
INSERT INTO crm.contacts (name, email) VALUES ('Hal', 'hal@example.com') RETURNING id AS hal \gset
INSERT INTO crm.contacts (name, email) VALUES ('Hal twin', 'twin@example.com') RETURNING id AS twin \gset
INSERT INTO crm.companies (name) VALUES ('Acme') RETURNING id AS acme \gset
SELECT crm.link_company(:hal, :acme) IS NOT NULL AS linked;
SELECT crm.add_note('Met at the fair', contact_id => :hal, occurred_at => '2024-01-01 09:00+00') AS fair \gset
SELECT crm.add_note('Talked pricing', contact_id => :hal, type => 'call', subject => 'Intro call',
					occurred_at => '2024-01-02 09:00+00') IS NOT NULL AS called;
SELECT crm.add_note('Showed the product', contact_id => :hal, type => 'meeting', subject => 'Demo',
					occurred_at => '2024-01-03 09:00+00') IS NOT NULL AS met;
SELECT crm.add_note('Sent the quote', contact_id => :hal, type => 'email', subject => 'Quote',
					occurred_at => '2024-01-04 09:00+00') IS NOT NULL AS mailed;
SELECT crm.start_conversation(:hal, 'chat', 'support', 'Hi, a question', '2024-01-05 09:00+00') AS chat \gset
SELECT crm.add_message(:chat, 'agent', 'Happy to help', '2024-01-05 09:05+00') IS NOT NULL AS answered;
SELECT crm.add_message(:chat, 'contact', 'Thanks', '2024-01-05 09:06+00') IS NOT NULL AS thanked;
SELECT crm.add_message(:chat, 'contact', 'One more thing', '2024-01-05 09:07+00') IS NOT NULL AS again;
INSERT INTO crm.orders (contact_id, title, value, currency, order_date)
	VALUES (:hal, 'First order', 120, 'USD', '2024-01-06 09:00+00') RETURNING id AS first_order \gset
SELECT crm.log_activity(:hal, 'page_view', 'Pricing page', actor => 'the contact',
						occurred_at => '2024-01-07 09:00+00') IS NOT NULL AS viewed;
UPDATE crm.contacts SET lifecycle_stage = 'opportunity' WHERE id = :hal;
UPDATE crm.contacts SET owner = 'ann' WHERE id = :hal;
SET crm.actor = 'ann';
UPDATE crm.contacts SET properties = '{"plan": "pro"}' WHERE id = :hal;
INSERT INTO crm.deals (title, value, contact_id, company_id) VALUES ('Hal deal', 500, :hal, :acme) RETURNING id AS deal \gset
SELECT (crm.move_deal(:deal, stage_name => 'Proposal')).stage_id IS NOT NULL AS moved;
SELECT id AS vip FROM crm.create_list('VIPs') \gset
SELECT crm.add_to_list(:vip, ARRAY[:hal]) AS joined;
SELECT crm.remove_from_list(:vip, ARRAY[:hal]) AS left;
SET crm.actor = 'seed';
SELECT crm.merge_contacts(:hal, :twin) IS NOT NULL AS merged;

-- Hal's timeline: every kind, newest first, each with its actor
SELECT kind, source, actor, summary, pinned FROM crm.timeline_entries('contact', :hal);
-- the conversation carries its first messages
SELECT payload ->> 'channel' AS channel, payload ->> 'message_count' AS messages,
	   jsonb_path_query_array(payload, '$.messages[*].body') AS first_bodies
  FROM crm.timeline_entries('contact', :hal) WHERE kind = 'conversation';
-- the pages of 1, 2 and 5 are the whole timeline, in order
SELECT public.walk('contact', :hal, 1) = public.whole('contact', :hal) AS by_1,
	   public.walk('contact', :hal, 2) = public.whole('contact', :hal) AS by_2,
	   public.walk('contact', :hal, 5) = public.whole('contact', :hal) AS by_5;

-- ties: six notes and two activities at one instant page without loss
SELECT count(crm.add_note('tie ' || i, contact_id => :hal, occurred_at => '2023-06-01 12:00+00')) AS tied
  FROM generate_series(1, 6) i;
SELECT count(crm.log_activity(:hal, 'task', 'tie task', occurred_at => '2023-06-01 12:00+00')) AS tied
  FROM generate_series(1, 2) i;
SELECT kind, source, summary, cursor ~ '^1685620800000000:(notes|activities):[0-9]+$' AS cursor_ok
  FROM crm.timeline_entries('contact', :hal) WHERE summary LIKE 'tie%';
SELECT public.walk('contact', :hal, 3) = public.whole('contact', :hal) AS by_3,
	   public.walk('contact', :hal, 4) = public.whole('contact', :hal) AS by_4;
-- a page after a tied entry starts with the next one of that instant
SELECT summary, source FROM crm.timeline_entries('contact', :hal, 2,
	(SELECT cursor FROM crm.timeline_entries('contact', :hal, 1000) WHERE summary = 'tie 4'));

-- pinned notes are flagged; the pinned ones first is a filter away
UPDATE crm.notes SET pinned_at = now() WHERE id = :fair;
SELECT kind, summary FROM crm.timeline_entries('contact', :hal) WHERE pinned;

-- Acme's timeline: its own entries and its contacts'
SELECT crm.add_note('Acme renews in June', company_id => :acme, occurred_at => '2024-01-08 09:00+00') IS NOT NULL AS noted;
UPDATE crm.companies SET owner = 'ben' WHERE id = :acme;
SELECT kind, source, summary FROM crm.timeline_entries('company', :acme);
SELECT public.walk('company', :acme, 3) = public.whole('company', :acme) AS company_pages;

-- the deal's timeline: its notes, stage changes, changes, orders, and the
-- conversations linked to it (conversations.deal_id): none until one is linked
SELECT crm.add_note('Budget approved', deal_id => :deal, type => 'call', occurred_at => '2024-01-09 09:00+00') IS NOT NULL AS noted;
INSERT INTO crm.orders (contact_id, deal_id, title, value, currency, order_date)
	VALUES (:hal, :deal, 'Deal order', 500, 'USD', '2024-01-10 09:00+00');
SELECT count(*) AS conversations FROM crm.timeline_entries('deal', :deal) WHERE kind = 'conversation';
UPDATE crm.conversations SET deal_id = :deal WHERE id = :chat;
SELECT kind, source, summary FROM crm.timeline_entries('deal', :deal);

-- bad input
SELECT * FROM crm.timeline_entries('lead', :hal);
SELECT * FROM crm.timeline_entries(NULL, :hal);
SELECT * FROM crm.timeline_entries('contact', 999999);
SELECT * FROM crm.timeline_entries('company', 999999);
SELECT * FROM crm.timeline_entries('deal', 999999);
SELECT * FROM crm.timeline_entries('contact', :hal, 0);
SELECT * FROM crm.timeline_entries('contact', :hal, 1001);
SELECT * FROM crm.timeline_entries('contact', :hal, 5, 'yesterday');
SELECT * FROM crm.timeline_entries('contact', :hal, 5, '1:users:1');
-- a cursor past everything: an empty page
SELECT count(*) AS entries FROM crm.timeline_entries('contact', :hal, 5, '0:activities:0');

RESET crm.actor;
RESET crm.workspace_id;

-- a frontend role, as members: private notes stay their author's, and a
-- restricted member's timelines leave out what owner privacy hides
SELECT (crm.add_member('ada', 'admin')).role FROM (SELECT set_config('crm.workspace_id', :'ws', false)) s;
SELECT (crm.add_member('ann', 'agent')).role;
SELECT (crm.add_member('ben', 'agent')).role;
INSERT INTO crm.contacts (name, owner) VALUES ('Ben''s contact', 'ben') RETURNING id AS bens \gset
SELECT crm.link_company(:bens, :acme) IS NOT NULL AS linked;
SELECT crm.add_note('about ben''s contact', contact_id => :bens, occurred_at => '2024-02-01 09:00+00') IS NOT NULL AS noted;
RESET crm.workspace_id;

SET ROLE crm_timeline_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
INSERT INTO crm.notes (contact_id, body, type, private, occurred_at)
	VALUES (:hal, 'ann only', 'call', true, '2024-02-02 09:00+00') RETURNING id AS ann_private \gset
SELECT kind, actor, summary, payload ->> 'private' AS private FROM crm.timeline_entries('contact', :hal, 1000)
 WHERE summary = 'ann only';
SELECT count(*) FILTER (WHERE summary = 'ann only') AS ann_private_seen FROM crm.timeline_entries('company', :acme, 1000);
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT count(*) FILTER (WHERE summary = 'ann only') AS ann_private_seen, count(*) AS entries
  FROM crm.timeline_entries('contact', :hal, 1000);
SELECT count(*) FILTER (WHERE summary = 'ann only') AS ann_private_seen FROM crm.timeline_entries('company', :acme, 1000);

-- owner privacy: ben, an agent, sees his own contact, not Hal (ann's)
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT kind, summary FROM crm.timeline_entries('company', :acme);
SELECT count(*) FROM crm.timeline_entries('contact', :hal);
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT count(*) FILTER (WHERE summary = 'about ben''s contact') AS bens_seen,
	   count(*) FILTER (WHERE summary = 'Met at the fair') AS hals_seen
  FROM crm.timeline_entries('company', :acme, 1000);
RESET ROLE;

-- the cursor's helper is inlined into the page's query (a function call
-- per entry otherwise): its plan shows the expression, not the call; and
-- its value is the microseconds since the epoch, before 1970 too
EXPLAIN (VERBOSE, COSTS OFF)
SELECT crm_hidden.timeline_cursor(nt.occurred_at, 'notes', nt.id) FROM crm.notes nt;
SELECT crm_hidden.timeline_cursor('1969-12-31 23:59:59.999999+00', 'notes', 7) AS before_epoch,
	   crm_hidden.timeline_cursor('2024-03-01 10:00:00.123456+02', 'orders', 8) AS with_micros;
\c contrib_regression
DROP DATABASE crm_test_timeline;
DROP ROLE crm_timeline_app;
