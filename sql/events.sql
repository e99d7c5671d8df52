--
-- The event outbox (SPEC §9).
--
-- Every mutation of a CRM object writes a row here in its own transaction.
-- Consumers poll crm.events_since(last_id): it returns only events of
-- transactions older than every transaction still running, ordered by
-- (transaction, id), so an event whose transaction took an early id but
-- commits late is never skipped.
--

-- No foreign key to crm.workspaces: every write in the CRM writes an event,
-- and a key check would lock the workspace row each time.  Events go with
-- their workspace through the workspaces_purge_events trigger instead.
--
-- id, xid, created_at and actor belong to the extension: the writers in
-- src/events.c fill them, and a row written by anyone else gets them from
-- the defaults or is refused by the events_guard trigger.  A forged xid
-- would make events_since() resend the stream or never deliver the event,
-- a forged id would collide with a later event.  The id comes from
-- crm_internal.next_event_id() rather than an identity column so the guard
-- can tell a sent id from one the sequence just gave.
CREATE SEQUENCE crm.events_id_seq;
CREATE FUNCTION crm_internal.next_event_id() RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_next_event_id'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm_internal.next_event_id() IS 'default of crm.events.id: the next value of crm.events_id_seq, remembered for the events_guard trigger';

CREATE TABLE crm.events (
	workspace_id bigint NOT NULL DEFAULT crm.current_workspace(),
	id bigint NOT NULL DEFAULT crm_internal.next_event_id(),
	type text NOT NULL
		CONSTRAINT events_type_format CHECK (type OPERATOR(pg_catalog.~) '^CRM_[A-Z_]+$'),
	object_type text NOT NULL,
	object_id bigint,
	payload jsonb NOT NULL DEFAULT '{}',
	xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor text NOT NULL DEFAULT crm.current_actor(),
	PRIMARY KEY (workspace_id, id)
);
ALTER SEQUENCE crm.events_id_seq OWNED BY crm.events.id;
CREATE INDEX events_delivery ON crm.events (workspace_id, xid, id);
COMMENT ON TABLE crm.events IS 'transactional outbox: one row per mutation; read with crm.events_since()';
COMMENT ON COLUMN crm.events.xid IS 'the writing transaction, which orders delivery in crm.events_since()';
COMMENT ON COLUMN crm.events.actor IS 'who acted: crm.current_actor() when the event was written';

SELECT pg_catalog.pg_extension_config_dump('crm.events', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.events', 'id'), '');

ALTER TABLE crm.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_isolation ON crm.events
	USING (workspace_id OPERATOR(pg_catalog.=) crm.current_workspace());

-- On a Citus worker each placement of crm.events (the shard on this node)
-- stores its transactions' ids moved up by an offset of its own, chosen
-- when the placement is first written or read: above every id it holds,
-- which a shard move copied from another worker, whose transaction ids are
-- not ordered with this one's (src/events.c, docs/scaling.md).  Each
-- node's own table, not distributed: its rows name this node's relations.
-- crm.events itself (one node, a coordinator) has no offset.
CREATE TABLE crm_internal.event_xid_offsets (
	shard oid PRIMARY KEY,
	xid_offset bigint NOT NULL CONSTRAINT event_xid_offsets_nonnegative CHECK (xid_offset OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE crm_internal.event_xid_offsets IS
	'on a Citus node: the offset each placement of crm.events adds to its transactions'' ids, so that they follow the ids a shard move brought';

-- The delivery horizon of the events stored in table shard (a row's
-- tableoid): the oldest running transaction's id, plus the placement's offset
CREATE FUNCTION crm_hidden.event_horizon(shard regclass) RETURNS xid8
	AS 'MODULE_PATHNAME', 'crm_event_horizon'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION crm_hidden.event_horizon(regclass) IS
	'the delivery horizon of the events of a placement of crm.events (a row''s tableoid): events at or above it may still be joined by earlier ones';

-- A domain event in the current workspace (src/events.c).  The extension's
-- own triggers call it as the table owner; of the granted roles only a
-- service role may (a frontend could otherwise forge CRM_DEAL_WON).
CREATE FUNCTION crm.emit_event(type text, object_type text, object_id bigint, payload jsonb DEFAULT '{}')
RETURNS void
	AS 'MODULE_PATHNAME', 'crm_emit_event'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.emit_event(text, text, bigint, jsonb) IS 'appends a domain event to the outbox of the current workspace (the extension itself, or a service role)';

-- The row triggers' crm.emit_event, in the row's workspace: on a Citus
-- worker a trigger does not see the client's crm.workspace_id.
CREATE FUNCTION crm_internal.emit_event_in(workspace_id bigint, type text, object_type text, object_id bigint,
										   payload jsonb DEFAULT '{}')
RETURNS void
	AS 'MODULE_PATHNAME', 'crm_emit_event_in'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm_internal.emit_event_in(bigint, text, text, bigint, jsonb) IS
	'appends a domain event to the outbox of the given workspace (the extension''s row triggers)';

-- The events of a statement trigger's rows in one write, in their workspace
-- (as emit_event_in): the ids and the payloads aggregated in the same
-- order.  Reached from the extension's
-- SECURITY DEFINER triggers only.
CREATE FUNCTION crm_internal.emit_events(workspace_id bigint, type text, object_type text, object_ids bigint[], payloads jsonb[])
RETURNS void
	AS 'MODULE_PATHNAME', 'crm_emit_events'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm_internal.emit_events(bigint, text, text, bigint[], jsonb[]) IS
	'appends one event of the given workspace per object id, with the payload at the same position, in one write';

-- One NOTIFY per statement and workspace (src/events.c): the payload is the
-- workspace, so NOTIFY's de-duplication folds a transaction's events into
-- one wake-up.
CREATE FUNCTION crm_internal.notify_events() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_notify_events'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.notify_events() IS 'statement trigger on crm.events: NOTIFY crm_events, payload the workspace id';

CREATE TRIGGER events_notify AFTER INSERT ON crm.events
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.notify_events();

-- Refuses a row that sets id, xid, created_at or actor to anything but the
-- extension's value, and an update that changes them (src/events.c).  The
-- statement writers of src/events.c fill them themselves and skip it.
CREATE FUNCTION crm_internal.guard_event_columns() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_guard_event_columns'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.guard_event_columns() IS
	'row trigger on crm.events: id, xid, created_at and actor are the extension''s values';

CREATE TRIGGER events_guard BEFORE INSERT OR UPDATE ON crm.events
	FOR EACH ROW EXECUTE FUNCTION crm_internal.guard_event_columns();

CREATE FUNCTION crm.events_since(after_id bigint DEFAULT 0, lim integer DEFAULT 1000)
RETURNS SETOF crm.events
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	horizon xid8;
	after_xid xid8;
BEGIN
	-- The horizon of the node that writes the workspace's events: read with
	-- them, so that on Citus the worker holding the workspace's shards
	-- evaluates it, whose transactions wrote them (their xid is the
	-- worker's).  No event yet: nothing to deliver, and no horizon needed.
	-- A shard moved to another worker stores the new worker's ids moved up
	-- past those it brought (crm_hidden.event_horizon).
	SELECT crm_hidden.event_horizon(e.tableoid) INTO horizon
	  FROM crm.events e WHERE e.workspace_id = ws LIMIT 1;
	IF lim IS NULL OR lim < 1 OR lim > 100000 THEN
		RAISE EXCEPTION 'invalid limit: %', lim
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Ask for between 1 and 100000 events at a time.';
	END IF;
	IF after_id IS NULL OR after_id < 0 THEN
		RAISE EXCEPTION 'invalid event id: %', after_id
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass 0 to start from the beginning, or the id of the last event you received.';
	END IF;
	IF after_id > 0 THEN
		SELECT e.xid INTO after_xid FROM crm.events e
		 WHERE e.workspace_id = ws AND e.id = after_id;
		IF after_xid IS NULL THEN
			RAISE EXCEPTION 'event % does not exist', after_id
				USING ERRCODE = 'no_data_found',
					  HINT = 'Pass the id of an event you received from crm.events_since(), or 0 to start over.';
		END IF;
	ELSE
		after_xid := '0'::xid8;
	END IF;
	-- Transactions below the horizon have all ended, so no event can appear
	-- later in the (xid, id) order before the last one returned.
	RETURN QUERY
		SELECT e.* FROM crm.events e
		 WHERE e.workspace_id = ws
		   AND (e.xid, e.id) > (after_xid, after_id)
		   AND e.xid < horizon
		 ORDER BY e.xid, e.id
		 LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.events_since(bigint, integer) IS
	'events after the given one, in delivery order, never skipping one whose transaction commits late';

-- Statement-level outbox writer for a table's inserts, updates and deletes
-- (src/events.c): one INSERT per statement, whatever the number of rows.
-- Arguments: the object type ('contact') and the event prefix ('CRM_CONTACT').
-- An update event carries the changed columns; an update that changes
-- nothing but updated_at emits nothing; rows deleted together with their
-- workspace emit nothing.
CREATE FUNCTION crm_internal.emit_row_events() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_emit_row_events'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.emit_row_events() IS
	'statement trigger writing <prefix>_CREATED/_UPDATED/_DELETED events; arguments: object type, event prefix';

-- On Citus crm.workspaces is a reference table: a DELETE runs on each
-- node's placement of it (crm.workspaces_<shard id>) and this trigger fires
-- on each, where crm.events is distributed.  Each placement deletes the
-- events of this node's placements of crm.events only, by a statement
-- naming the workspace (routed to the local shard), so that no node
-- reaches another's events while that node's placement is deleting too
-- (a distributed deadlock), and no query joins the transition table with
-- a distributed table, which Citus cannot plan.
CREATE FUNCTION crm_internal.purge_workspace_events() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[];
	ws bigint;
BEGIN
	IF TG_TABLE_NAME = 'workspaces' THEN
		DELETE FROM crm.events e USING old_workspaces o WHERE e.workspace_id = o.id;
	ELSE
		EXECUTE 'SELECT pg_catalog.array_agg(o.id) FROM old_workspaces o'
				' WHERE pg_catalog.to_regclass(pg_catalog.format(''crm.events_%s'','
				' pg_catalog.get_shard_id_for_distribution_column(''crm.events'', o.id))) IS NOT NULL'
			INTO ids;
		FOREACH ws IN ARRAY coalesce(ids, '{}') LOOP
			DELETE FROM crm.events e WHERE e.workspace_id = ws;
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm_internal.purge_workspace_events() IS
	'deletes the events of deleted workspaces (on a Citus placement of crm.workspaces, those of the node''s own placements of crm.events)';

CREATE TRIGGER workspaces_purge_events AFTER DELETE ON crm.workspaces
	REFERENCING OLD TABLE AS old_workspaces
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.purge_workspace_events();

-- Retention (issue 25, item 4).  The outbox keeps an event until every
-- consumer has passed it: each integration's cursor
-- (crm_internal.integration_state) and each consumer that acknowledges its
-- position with crm.ack_events.  crm.purge_events(before) deletes what is
-- older than that and than `before`; a consumer that never registered is
-- not waited for.
CREATE TABLE crm_internal.event_consumers (
	workspace_id bigint NOT NULL REFERENCES crm.workspaces (id) ON DELETE CASCADE,
	name text NOT NULL,
	after_xid xid8 NOT NULL,
	after_event_id bigint NOT NULL,
	acked_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (workspace_id, name)
);
COMMENT ON TABLE crm_internal.event_consumers IS
	'per workspace and consumer: the last event it acknowledged (crm.ack_events), which crm.purge_events keeps';
SELECT pg_catalog.pg_extension_config_dump('crm_internal.event_consumers', '');

-- The position is the acknowledged event's (xid, id), the order
-- crm.events_since delivers in.  Only an event crm.events_since could have
-- returned (its transaction below the horizon) is accepted: every event
-- before it in that order has then committed, so nothing the consumer
-- has not seen can ever fall behind its position.
CREATE FUNCTION crm.ack_events(consumer text, event_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	key text := lower(btrim(ack_events.consumer));
	at_xid xid8 := '0'::xid8;
	pending boolean;
BEGIN
	PERFORM crm_internal.require_service('acknowledge events');
	IF key IS NULL OR key = '' OR length(key) > 100 THEN
		RAISE EXCEPTION 'invalid consumer name: "%"', coalesce(consumer, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name the consumer with 1 to 100 characters, the same name at every acknowledgement.';
	END IF;
	IF event_id IS NULL OR event_id < 0 THEN
		RAISE EXCEPTION 'invalid event id: %', coalesce(event_id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the id of the last event you handled, or 0 before the first.';
	END IF;
	IF event_id > 0 THEN
		-- the horizon read with the event, on the node that wrote it (crm.events_since)
		SELECT e.xid, e.xid >= crm_hidden.event_horizon(e.tableoid) INTO at_xid, pending
		  FROM crm.events e WHERE e.workspace_id = ws AND e.id = ack_events.event_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'event % does not exist', event_id
				USING ERRCODE = 'no_data_found',
					  HINT = 'Acknowledge the id of an event crm.events_since() returned.';
		END IF;
		IF pending THEN
			RAISE EXCEPTION 'event % is not delivered yet', event_id
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Acknowledge an event crm.events_since() returned: it holds an event back while an older transaction is still running.';
		END IF;
	END IF;
	-- shared with other consumers, exclusive with crm.purge_events
	PERFORM pg_advisory_xact_lock_shared(hashtextextended('crm.event_consumers', ws));
	-- acked_at as the insert's default gives it: Citus takes no now() in DO UPDATE SET
	INSERT INTO crm_internal.event_consumers AS c (workspace_id, name, after_xid, after_event_id)
	VALUES (ws, key, at_xid, ack_events.event_id)
	ON CONFLICT (workspace_id, name) DO UPDATE
	   SET after_xid = excluded.after_xid, after_event_id = excluded.after_event_id, acked_at = excluded.acked_at;
END;
$$;
COMMENT ON FUNCTION crm.ack_events(text, bigint) IS
	'records that the named consumer of the current workspace has handled the events up to this one (0: none yet); crm.purge_events keeps every event after it';

CREATE FUNCTION crm.drop_event_consumer(consumer text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
BEGIN
	PERFORM crm_internal.require_service('drop event consumers');
	DELETE FROM crm_internal.event_consumers c
	 WHERE c.workspace_id = ws AND c.name = lower(btrim(drop_event_consumer.consumer));
	RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION crm.drop_event_consumer(text) IS
	'forgets a consumer of the current workspace: crm.purge_events no longer keeps events for it; false if there was none';

-- Deletes the current workspace's events written before `before` that
-- every consumer has passed: below the earliest position of the
-- integrations' cursors and the acknowledged consumers, and below the
-- horizon (ended transactions).  The event at a position itself stays, so
-- crm.events_since(its id) keeps working.  One range of the delivery index.
CREATE FUNCTION crm.purge_events(before timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	keep_xid xid8;
	keep_id bigint;
	horizon xid8;
	n bigint;
BEGIN
	PERFORM crm_internal.require_service('purge events');
	IF before IS NULL THEN
		RAISE EXCEPTION 'invalid purge time: NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the time before which events may go, say now() - interval ''90 days''.';
	END IF;
	-- no consumer acknowledges while the positions are read and used
	PERFORM pg_advisory_xact_lock(hashtextextended('crm.event_consumers', ws));
	-- the horizon of the node holding the workspace's events, read with them
	-- as crm.events_since reads it (on Citus the worker's transaction ids,
	-- moved up on a moved placement); no event, nothing to purge
	SELECT crm_hidden.event_horizon(e.tableoid) INTO horizon
	  FROM crm.events e WHERE e.workspace_id = ws LIMIT 1;
	IF horizon IS NULL THEN
		RETURN 0;
	END IF;
	SELECT p.after_xid, p.after_event_id INTO keep_xid, keep_id
	  FROM (SELECT s.after_xid, s.after_event_id FROM crm_internal.integration_state s WHERE s.workspace_id = ws
			UNION ALL
			SELECT c.after_xid, c.after_event_id FROM crm_internal.event_consumers c WHERE c.workspace_id = ws) p
	 ORDER BY p.after_xid, p.after_event_id
	 LIMIT 1;
	IF keep_xid IS NULL OR keep_xid >= horizon THEN
		keep_xid := horizon;
		keep_id := 0;
	END IF;
	DELETE FROM crm.events e
	 WHERE e.workspace_id = ws
	   AND (e.xid, e.id) < (keep_xid, keep_id)
	   AND e.created_at < purge_events.before;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.purge_events(timestamptz) IS
	'deletes the current workspace''s events written before the given time that every integration and acknowledged consumer has passed; returns how many';
