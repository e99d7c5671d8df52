--
-- Timelines of contacts, companies and deals (issue 16, item 4;
-- docs/timelines.md): one feed, newest first, of what people wrote
-- (crm.notes), what the system logged (crm.activities: stage changes,
-- merges, apps' own types), conversations with their first messages, the
-- changes of lifecycle, owner and properties (crm.value_history), orders,
-- and list joins and leaves (the CRM_LIST_MEMBER_* events).
--
-- Each source is read through an index on (workspace, subject, time DESC),
-- LIMIT-ed, and the page is the merge of those few rows: the first page
-- costs the same with ten entries or a million.  The page's order is
-- (at, source, id) descending, the cursor those three: stable under ties,
-- for an id is unique within its source table.  Read as the caller, so
-- the workspace, privacy and private-note policies decide what it shows.
--

-- A record's list joins and leaves, read from the outbox by the record.
CREATE INDEX events_list_membership ON crm.events
	(workspace_id, (payload OPERATOR(pg_catalog.->>) 'object_type'), (payload OPERATOR(pg_catalog.->>) 'object_id'),
	 created_at DESC, id DESC)
	WHERE type OPERATOR(pg_catalog.=) ANY (ARRAY['CRM_LIST_MEMBER_ADDED', 'CRM_LIST_MEMBER_REMOVED']);
-- A record's changes, newest first across keys.
CREATE INDEX value_history_timeline ON crm.value_history (workspace_id, object_type, object_id, changed_at DESC, id DESC);

-- The cursor of an entry: its time in microseconds since the epoch, its
-- source table and its id.  No SET search_path (its operators are named
-- in full), so that the planner inlines it into the page's query rather
-- than calling it per entry; and only immutable functions inside, for an
-- IMMUTABLE SQL function whose body is not is never inlined (the epoch of
-- a timestamptz through extract() is STABLE, that of an interval is not:
-- the same microseconds, taken from the difference to the epoch).
CREATE FUNCTION crm_hidden.timeline_cursor(at timestamptz, source text, id bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (pg_catalog.extract('epoch', at OPERATOR(pg_catalog.-) '1970-01-01 00:00:00+00'::timestamptz)
		OPERATOR(pg_catalog.*) 1000000)::bigint::text
	OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) source OPERATOR(pg_catalog.||) ':'
	OPERATOR(pg_catalog.||) id::text;
COMMENT ON FUNCTION crm_hidden.timeline_cursor(timestamptz, text, bigint) IS
	'the cursor crm.timeline_entries() gives an entry: microseconds since the epoch, source table and id';

CREATE FUNCTION crm.timeline_entries(object_type text, object_id bigint, lim integer DEFAULT 50,
									 before text DEFAULT NULL)
RETURNS TABLE (at timestamptz, kind text, source text, id bigint, actor text, summary text,
			   contact_id bigint, pinned boolean, payload jsonb, cursor text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- the plans of its three statements are made once per session: see below
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	ws bigint := crm.current_workspace();
	subj_type text := timeline_entries.object_type;
	subj_id bigint := timeline_entries.object_id;
	n integer := timeline_entries.lim;
	b_at timestamptz;
	b_src text;
	b_id bigint;
	top timestamptz := 'infinity';
	people bigint[] := '{}';
	people_text text[] := '{}';
	deal_contact bigint;
BEGIN
	IF subj_type IS NULL OR subj_type <> ALL (ARRAY['contact', 'company', 'deal']) THEN
		RAISE EXCEPTION 'unknown timeline object type: "%"', coalesce(subj_type, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A timeline is of a contact, a company or a deal.';
	END IF;
	IF n IS NULL OR n < 1 OR n > 1000 THEN
		RAISE EXCEPTION 'invalid limit: %', coalesce(n::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Ask for between 1 and 1000 entries; page with the last entry''s cursor as before.';
	END IF;
	IF before IS NOT NULL THEN
		IF before !~ '^-?[0-9]{1,18}:(activities|conversations|events|notes|orders|value_history):[0-9]{1,19}$' THEN
			RAISE EXCEPTION 'invalid timeline cursor: "%"', before
				USING ERRCODE = 'invalid_text_representation',
					  HINT = 'Pass the cursor column of the last entry you received.';
		END IF;
		b_at := 'epoch'::timestamptz + (split_part(before, ':', 1)::bigint / 1000000) * interval '1 second'
				+ (split_part(before, ':', 1)::bigint % 1000000) * interval '1 microsecond';
		b_src := split_part(before, ':', 2);
		b_id := split_part(before, ':', 3)::bigint;
		top := b_at;
	END IF;

	CASE subj_type
	WHEN 'contact' THEN
		PERFORM crm_hidden.require_contact(subj_id);
	WHEN 'company' THEN
		PERFORM crm_hidden.require_company(subj_id);
		-- its contacts as the caller sees them: a hidden contact's entries stay hidden
		SELECT coalesce(array_agg(cc.contact_id), '{}') INTO people
		  FROM crm.contact_companies cc
		  JOIN crm.contacts c ON c.workspace_id = cc.workspace_id AND c.id = cc.contact_id
		 WHERE cc.workspace_id = ws AND cc.company_id = subj_id;
		-- the list events name their contacts in text
		people_text := people::text[];
	ELSE
		PERFORM crm_hidden.require_deal(subj_id);
		SELECT d.contact_id INTO deal_contact FROM crm.deals d WHERE d.workspace_id = ws AND d.id = subj_id;
	END CASE;

	-- One statement per object type, each with its own subject conditions,
	-- so that PL/pgSQL keeps a generic plan of each (a CASE on the type
	-- would leave no index condition in it).  Generic plans are forced: a
	-- custom plan per call costs more to make than the page to read, and
	-- the plan is the same for every subject (an index scan per source).
	IF subj_type = 'contact' THEN
		RETURN QUERY
		SELECT e.at, e.kind, e.source, e.id, e.actor, e.summary, e.contact_id, e.pinned, e.payload,
			   crm_hidden.timeline_cursor(e.at, e.source, e.id)
		  FROM (
			(SELECT nt.occurred_at AS at, nt.type AS kind, 'notes'::text AS source, nt.id, nt.author AS actor,
					coalesce(nt.subject, left(nt.body, 200)) AS summary, nt.contact_id, nt.pinned_at IS NOT NULL AS pinned,
					jsonb_build_object('subject', nt.subject, 'body', nt.body, 'private', nt.private,
									   'pinned_at', nt.pinned_at, 'company_id', nt.company_id, 'deal_id', nt.deal_id) AS payload
			   FROM crm.notes nt
			  WHERE nt.workspace_id = ws
				AND nt.contact_id = subj_id
				AND nt.occurred_at <= top
				AND (b_at IS NULL OR nt.occurred_at < b_at
					 OR ('notes' COLLATE "C" < b_src OR ('notes' = b_src AND nt.id < b_id)))
			  ORDER BY nt.occurred_at DESC, nt.id DESC LIMIT n)
			UNION ALL
			(SELECT a.occurred_at, CASE a.type WHEN 'stage_changed' THEN 'stage_change' WHEN 'merged' THEN 'merge' ELSE a.type END,
					'activities', a.id, a.actor, coalesce(a.subject, a.type), a.contact_id, false,
					a.payload || jsonb_build_object('type', a.type, 'subject', a.subject, 'body', a.body,
													'company_id', a.company_id, 'deal_id', a.deal_id)
			   FROM crm.activities a
			  WHERE a.workspace_id = ws
				AND a.contact_id = subj_id
				-- a conversation is its own entry, with its messages
				AND a.type <> 'conversation_started'
				AND a.occurred_at <= top
				AND (b_at IS NULL OR a.occurred_at < b_at
					 OR ('activities' COLLATE "C" < b_src OR ('activities' = b_src AND a.id < b_id)))
			  ORDER BY a.occurred_at DESC, a.id DESC LIMIT n)
			UNION ALL
			(SELECT h.changed_at,
					CASE WHEN h.custom THEN 'property_change' WHEN h.key = 'lifecycle_stage' THEN 'lifecycle_change'
						 WHEN h.key = 'owner' THEN 'owner_change' ELSE 'property_change' END,
					'value_history', h.id, h.actor,
					h.key || ': ' || coalesce(h.old_value #>> '{}', '∅') || ' → ' || coalesce(h.new_value #>> '{}', '∅'),
					CASE h.object_type WHEN 'contact' THEN h.object_id END, false,
					jsonb_build_object('object_type', h.object_type, 'object_id', h.object_id, 'key', h.key,
									   'custom', h.custom, 'old_value', h.old_value, 'new_value', h.new_value,
									   'source', h.source, 'merged_from', h.merged_from)
			   FROM crm.value_history h
			  WHERE h.workspace_id = ws
				AND h.object_type = 'contact' AND h.object_id = subj_id
				AND h.changed_at <= top
				AND (b_at IS NULL OR h.changed_at < b_at
					 OR ('value_history' COLLATE "C" < b_src OR ('value_history' = b_src AND h.id < b_id)))
			  ORDER BY h.changed_at DESC, h.id DESC LIMIT n)
			UNION ALL
			(SELECT cv.started_at, 'conversation', 'conversations', cv.id, NULL::text,
					cv.channel || ' conversation' || coalesce(' in ' || cv.inbox, ''), cv.contact_id, false,
					jsonb_build_object('channel', cv.channel, 'inbox', cv.inbox, 'status', cv.status,
									   'last_message_at', cv.last_message_at)
					|| jsonb_build_object(
						'message_count', (SELECT count(*) FROM crm.messages ms
										   WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id),
						'messages', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', m.id, 'sender', m.sender,
																					 'sent_at', m.sent_at, 'body', left(m.body, 500))
																ORDER BY m.sent_at, m.id), '[]')
									   FROM (SELECT ms.id, ms.sender, ms.sent_at, ms.body FROM crm.messages ms
											  WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id
											  ORDER BY ms.sent_at, ms.id LIMIT 3) m))
			   FROM crm.conversations cv
			  WHERE cv.workspace_id = ws
				AND cv.contact_id = subj_id
				AND cv.started_at <= top
				AND (b_at IS NULL OR cv.started_at < b_at
					 OR ('conversations' COLLATE "C" < b_src OR ('conversations' = b_src AND cv.id < b_id)))
			  ORDER BY cv.started_at DESC, cv.id DESC LIMIT n)
			UNION ALL
			(SELECT o.order_date, 'order', 'orders', o.id, NULL::text,
					coalesce(o.title, 'order') || ': ' || o.value::text || ' ' || o.currency || ' (' || o.status::text || ')',
					o.contact_id, false,
					jsonb_build_object('title', o.title, 'value', o.value, 'currency', o.currency, 'status', o.status,
									   'source', o.source, 'deal_id', o.deal_id, 'paid_date', o.paid_date)
			   FROM crm.orders o
			  WHERE o.workspace_id = ws
				AND o.contact_id = subj_id
				AND o.order_date <= top
				AND (b_at IS NULL OR o.order_date < b_at
					 OR ('orders' COLLATE "C" < b_src OR ('orders' = b_src AND o.id < b_id)))
			  ORDER BY o.order_date DESC, o.id DESC LIMIT n)
			UNION ALL
			(SELECT ev.created_at, CASE ev.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 'list_joined' ELSE 'list_left' END,
					'events', ev.id, ev.actor,
					CASE ev.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 'joined ' ELSE 'left ' END
					|| coalesce((SELECT l.name FROM crm.lists l WHERE l.workspace_id = ev.workspace_id AND l.id = ev.object_id),
								'list ' || ev.object_id::text),
					CASE ev.payload ->> 'object_type' WHEN 'contact' THEN (ev.payload ->> 'object_id')::bigint END, false,
					jsonb_build_object('list_id', ev.object_id, 'source', ev.payload -> 'source',
									   'object_type', ev.payload -> 'object_type', 'object_id', ev.payload -> 'object_id')
			   FROM crm.events ev
			  WHERE ev.workspace_id = ws
				AND ev.type = ANY (ARRAY['CRM_LIST_MEMBER_ADDED', 'CRM_LIST_MEMBER_REMOVED'])
				AND ev.payload ->> 'object_type' = 'contact' AND ev.payload ->> 'object_id' = subj_id::text
				AND ev.created_at <= top
				AND (b_at IS NULL OR ev.created_at < b_at
					 OR ('events' COLLATE "C" < b_src OR ('events' = b_src AND ev.id < b_id)))
			  ORDER BY ev.created_at DESC, ev.id DESC LIMIT n)
		  ) e
		 ORDER BY e.at DESC, e.source COLLATE "C" DESC, e.id DESC
		 LIMIT n;
	ELSIF subj_type = 'company' THEN
		RETURN QUERY
		SELECT e.at, e.kind, e.source, e.id, e.actor, e.summary, e.contact_id, e.pinned, e.payload,
			   crm_hidden.timeline_cursor(e.at, e.source, e.id)
		  FROM (
			(SELECT nt.occurred_at AS at, nt.type AS kind, 'notes'::text AS source, nt.id, nt.author AS actor,
					coalesce(nt.subject, left(nt.body, 200)) AS summary, nt.contact_id, nt.pinned_at IS NOT NULL AS pinned,
					jsonb_build_object('subject', nt.subject, 'body', nt.body, 'private', nt.private,
									   'pinned_at', nt.pinned_at, 'company_id', nt.company_id, 'deal_id', nt.deal_id) AS payload
			   FROM crm.notes nt
			  WHERE nt.workspace_id = ws
				AND (nt.company_id = subj_id OR nt.contact_id = ANY (people))
				AND nt.occurred_at <= top
				AND (b_at IS NULL OR nt.occurred_at < b_at
					 OR ('notes' COLLATE "C" < b_src OR ('notes' = b_src AND nt.id < b_id)))
			  ORDER BY nt.occurred_at DESC, nt.id DESC LIMIT n)
			UNION ALL
			(SELECT a.occurred_at, CASE a.type WHEN 'stage_changed' THEN 'stage_change' WHEN 'merged' THEN 'merge' ELSE a.type END,
					'activities', a.id, a.actor, coalesce(a.subject, a.type), a.contact_id, false,
					a.payload || jsonb_build_object('type', a.type, 'subject', a.subject, 'body', a.body,
													'company_id', a.company_id, 'deal_id', a.deal_id)
			   FROM crm.activities a
			  WHERE a.workspace_id = ws
				AND (a.company_id = subj_id OR a.contact_id = ANY (people))
				-- a conversation is its own entry, with its messages
				AND a.type <> 'conversation_started'
				AND a.occurred_at <= top
				AND (b_at IS NULL OR a.occurred_at < b_at
					 OR ('activities' COLLATE "C" < b_src OR ('activities' = b_src AND a.id < b_id)))
			  ORDER BY a.occurred_at DESC, a.id DESC LIMIT n)
			UNION ALL
			(SELECT h.changed_at,
					CASE WHEN h.custom THEN 'property_change' WHEN h.key = 'lifecycle_stage' THEN 'lifecycle_change'
						 WHEN h.key = 'owner' THEN 'owner_change' ELSE 'property_change' END,
					'value_history', h.id, h.actor,
					h.key || ': ' || coalesce(h.old_value #>> '{}', '∅') || ' → ' || coalesce(h.new_value #>> '{}', '∅'),
					CASE h.object_type WHEN 'contact' THEN h.object_id END, false,
					jsonb_build_object('object_type', h.object_type, 'object_id', h.object_id, 'key', h.key,
									   'custom', h.custom, 'old_value', h.old_value, 'new_value', h.new_value,
									   'source', h.source, 'merged_from', h.merged_from)
			   FROM crm.value_history h
			  WHERE h.workspace_id = ws
				AND (h.object_type = 'company' AND h.object_id = subj_id
					 OR h.object_type = 'contact' AND h.object_id = ANY (people))
				AND h.changed_at <= top
				AND (b_at IS NULL OR h.changed_at < b_at
					 OR ('value_history' COLLATE "C" < b_src OR ('value_history' = b_src AND h.id < b_id)))
			  ORDER BY h.changed_at DESC, h.id DESC LIMIT n)
			UNION ALL
			(SELECT cv.started_at, 'conversation', 'conversations', cv.id, NULL::text,
					cv.channel || ' conversation' || coalesce(' in ' || cv.inbox, ''), cv.contact_id, false,
					jsonb_build_object('channel', cv.channel, 'inbox', cv.inbox, 'status', cv.status,
									   'last_message_at', cv.last_message_at)
					|| jsonb_build_object(
						'message_count', (SELECT count(*) FROM crm.messages ms
										   WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id),
						'messages', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', m.id, 'sender', m.sender,
																					 'sent_at', m.sent_at, 'body', left(m.body, 500))
																ORDER BY m.sent_at, m.id), '[]')
									   FROM (SELECT ms.id, ms.sender, ms.sent_at, ms.body FROM crm.messages ms
											  WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id
											  ORDER BY ms.sent_at, ms.id LIMIT 3) m))
			   FROM crm.conversations cv
			  WHERE cv.workspace_id = ws
				AND cv.contact_id = ANY (people)
									  -- the conversations linked to the deal where they can be
									  -- (conversations.deal_id), else its contact's
				AND cv.started_at <= top
				AND (b_at IS NULL OR cv.started_at < b_at
					 OR ('conversations' COLLATE "C" < b_src OR ('conversations' = b_src AND cv.id < b_id)))
			  ORDER BY cv.started_at DESC, cv.id DESC LIMIT n)
			UNION ALL
			(SELECT o.order_date, 'order', 'orders', o.id, NULL::text,
					coalesce(o.title, 'order') || ': ' || o.value::text || ' ' || o.currency || ' (' || o.status::text || ')',
					o.contact_id, false,
					jsonb_build_object('title', o.title, 'value', o.value, 'currency', o.currency, 'status', o.status,
									   'source', o.source, 'deal_id', o.deal_id, 'paid_date', o.paid_date)
			   FROM crm.orders o
			  WHERE o.workspace_id = ws
				AND o.contact_id = ANY (people)
				AND o.order_date <= top
				AND (b_at IS NULL OR o.order_date < b_at
					 OR ('orders' COLLATE "C" < b_src OR ('orders' = b_src AND o.id < b_id)))
			  ORDER BY o.order_date DESC, o.id DESC LIMIT n)
			UNION ALL
			(SELECT ev.created_at, CASE ev.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 'list_joined' ELSE 'list_left' END,
					'events', ev.id, ev.actor,
					CASE ev.type WHEN 'CRM_LIST_MEMBER_ADDED' THEN 'joined ' ELSE 'left ' END
					|| coalesce((SELECT l.name FROM crm.lists l WHERE l.workspace_id = ev.workspace_id AND l.id = ev.object_id),
								'list ' || ev.object_id::text),
					CASE ev.payload ->> 'object_type' WHEN 'contact' THEN (ev.payload ->> 'object_id')::bigint END, false,
					jsonb_build_object('list_id', ev.object_id, 'source', ev.payload -> 'source',
									   'object_type', ev.payload -> 'object_type', 'object_id', ev.payload -> 'object_id')
			   FROM crm.events ev
			  WHERE ev.workspace_id = ws
				AND ev.type = ANY (ARRAY['CRM_LIST_MEMBER_ADDED', 'CRM_LIST_MEMBER_REMOVED'])
				AND (ev.payload ->> 'object_type' = 'company' AND ev.payload ->> 'object_id' = subj_id::text
					 OR ev.payload ->> 'object_type' = 'contact' AND ev.payload ->> 'object_id' = ANY (people_text))
				AND ev.created_at <= top
				AND (b_at IS NULL OR ev.created_at < b_at
					 OR ('events' COLLATE "C" < b_src OR ('events' = b_src AND ev.id < b_id)))
			  ORDER BY ev.created_at DESC, ev.id DESC LIMIT n)
		  ) e
		 ORDER BY e.at DESC, e.source COLLATE "C" DESC, e.id DESC
		 LIMIT n;
	ELSE
		RETURN QUERY
		SELECT e.at, e.kind, e.source, e.id, e.actor, e.summary, e.contact_id, e.pinned, e.payload,
			   crm_hidden.timeline_cursor(e.at, e.source, e.id)
		  FROM (
			(SELECT nt.occurred_at AS at, nt.type AS kind, 'notes'::text AS source, nt.id, nt.author AS actor,
					coalesce(nt.subject, left(nt.body, 200)) AS summary, nt.contact_id, nt.pinned_at IS NOT NULL AS pinned,
					jsonb_build_object('subject', nt.subject, 'body', nt.body, 'private', nt.private,
									   'pinned_at', nt.pinned_at, 'company_id', nt.company_id, 'deal_id', nt.deal_id) AS payload
			   FROM crm.notes nt
			  WHERE nt.workspace_id = ws
				AND nt.deal_id = subj_id
				AND nt.occurred_at <= top
				AND (b_at IS NULL OR nt.occurred_at < b_at
					 OR ('notes' COLLATE "C" < b_src OR ('notes' = b_src AND nt.id < b_id)))
			  ORDER BY nt.occurred_at DESC, nt.id DESC LIMIT n)
			UNION ALL
			(SELECT a.occurred_at, CASE a.type WHEN 'stage_changed' THEN 'stage_change' WHEN 'merged' THEN 'merge' ELSE a.type END,
					'activities', a.id, a.actor, coalesce(a.subject, a.type), a.contact_id, false,
					a.payload || jsonb_build_object('type', a.type, 'subject', a.subject, 'body', a.body,
													'company_id', a.company_id, 'deal_id', a.deal_id)
			   FROM crm.activities a
			  WHERE a.workspace_id = ws
				AND a.deal_id = subj_id
				-- a conversation is its own entry, with its messages
				AND a.type <> 'conversation_started'
				AND a.occurred_at <= top
				AND (b_at IS NULL OR a.occurred_at < b_at
					 OR ('activities' COLLATE "C" < b_src OR ('activities' = b_src AND a.id < b_id)))
			  ORDER BY a.occurred_at DESC, a.id DESC LIMIT n)
			UNION ALL
			(SELECT h.changed_at,
					CASE WHEN h.custom THEN 'property_change' WHEN h.key = 'lifecycle_stage' THEN 'lifecycle_change'
						 WHEN h.key = 'owner' THEN 'owner_change' ELSE 'property_change' END,
					'value_history', h.id, h.actor,
					h.key || ': ' || coalesce(h.old_value #>> '{}', '∅') || ' → ' || coalesce(h.new_value #>> '{}', '∅'),
					CASE h.object_type WHEN 'contact' THEN h.object_id END, false,
					jsonb_build_object('object_type', h.object_type, 'object_id', h.object_id, 'key', h.key,
									   'custom', h.custom, 'old_value', h.old_value, 'new_value', h.new_value,
									   'source', h.source, 'merged_from', h.merged_from)
			   FROM crm.value_history h
			  WHERE h.workspace_id = ws
				AND h.object_type = 'deal' AND h.object_id = subj_id
				-- the stage is the stage_change entries' (crm.activities)
				AND (h.custom OR h.key <> 'stage_id')
				AND h.changed_at <= top
				AND (b_at IS NULL OR h.changed_at < b_at
					 OR ('value_history' COLLATE "C" < b_src OR ('value_history' = b_src AND h.id < b_id)))
			  ORDER BY h.changed_at DESC, h.id DESC LIMIT n)
			UNION ALL
			(SELECT cv.started_at, 'conversation', 'conversations', cv.id, NULL::text,
					cv.channel || ' conversation' || coalesce(' in ' || cv.inbox, ''), cv.contact_id, false,
					jsonb_build_object('channel', cv.channel, 'inbox', cv.inbox, 'status', cv.status,
									   'last_message_at', cv.last_message_at)
					|| jsonb_build_object(
						'message_count', (SELECT count(*) FROM crm.messages ms
										   WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id),
						'messages', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', m.id, 'sender', m.sender,
																					 'sent_at', m.sent_at, 'body', left(m.body, 500))
																ORDER BY m.sent_at, m.id), '[]')
									   FROM (SELECT ms.id, ms.sender, ms.sent_at, ms.body FROM crm.messages ms
											  WHERE ms.workspace_id = cv.workspace_id AND ms.conversation_id = cv.id
											  ORDER BY ms.sent_at, ms.id LIMIT 3) m))
			   FROM crm.conversations cv
			  WHERE cv.workspace_id = ws
				-- the conversations linked to the deal where they can be
				-- (conversations.deal_id), else its contact's
				AND CASE WHEN to_jsonb(cv) ? 'deal_id' THEN to_jsonb(cv) ->> 'deal_id' = subj_id::text
						 ELSE cv.contact_id = deal_contact END
				AND cv.started_at <= top
				AND (b_at IS NULL OR cv.started_at < b_at
					 OR ('conversations' COLLATE "C" < b_src OR ('conversations' = b_src AND cv.id < b_id)))
			  ORDER BY cv.started_at DESC, cv.id DESC LIMIT n)
			UNION ALL
			(SELECT o.order_date, 'order', 'orders', o.id, NULL::text,
					coalesce(o.title, 'order') || ': ' || o.value::text || ' ' || o.currency || ' (' || o.status::text || ')',
					o.contact_id, false,
					jsonb_build_object('title', o.title, 'value', o.value, 'currency', o.currency, 'status', o.status,
									   'source', o.source, 'deal_id', o.deal_id, 'paid_date', o.paid_date)
			   FROM crm.orders o
			  WHERE o.workspace_id = ws
				AND o.deal_id = subj_id
				AND o.order_date <= top
				AND (b_at IS NULL OR o.order_date < b_at
					 OR ('orders' COLLATE "C" < b_src OR ('orders' = b_src AND o.id < b_id)))
			  ORDER BY o.order_date DESC, o.id DESC LIMIT n)
		  ) e
		 ORDER BY e.at DESC, e.source COLLATE "C" DESC, e.id DESC
		 LIMIT n;
	END IF;
END;
$$;
COMMENT ON FUNCTION crm.timeline_entries(text, bigint, integer, text) IS
	E'@simpleCollections only\na contact''s, company''s or deal''s timeline, newest first: notes, calls, meetings, emails, conversations, stage, lifecycle, owner and property changes, orders, list joins and leaves, merges; page by passing the last entry''s cursor as before';
