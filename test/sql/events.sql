-- The event outbox: one row per mutation in the same transaction, update
-- events carrying only the changed columns, and crm.events_since paging.
-- Own database: stable ids.
CREATE DATABASE crm_test_events;
\c crm_test_events
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- inserts: one CREATED event per row, even for a multi-row statement
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', 'bob@example.com');
INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.com');
SELECT id, type, object_type, object_id, payload FROM crm.events ORDER BY id;

-- updates carry only what changed (never updated_at) ...
UPDATE crm.contacts SET city = 'Berlin', tags = '{VIP}' WHERE id = 1;
UPDATE crm.companies SET employees = 12 WHERE id = 1;
SELECT id, type, object_id, payload FROM crm.events WHERE id > 3 ORDER BY id;
-- ... and an update that changes nothing writes no event
UPDATE crm.contacts SET city = 'Berlin' WHERE id = 1;
UPDATE crm.contacts SET name = name;
SELECT count(*) AS events FROM crm.events;
-- setting a column to NULL is a change too
UPDATE crm.contacts SET city = NULL WHERE id = 1;
SELECT type, payload FROM crm.events ORDER BY id DESC LIMIT 1;

-- domain functions write their events
SELECT crm.link_company(1, 1, 'CEO', true);
SELECT crm.record_consent(1, 'email', 'granted', 'signup');
SELECT crm.log_activity(1, 'call', 'Hello');
SELECT crm.start_conversation(2, 'chat', NULL, NULL, '2024-01-01 00:00+00');
SELECT id, type, object_type, object_id, payload FROM crm.events WHERE id > 6 ORDER BY id;

-- deletes
DELETE FROM crm.companies WHERE id = 1;
SELECT type, object_type, object_id, payload FROM crm.events ORDER BY id DESC LIMIT 1;
-- a rolled-back transaction leaves no event
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('Ghost');
ROLLBACK;
SELECT count(*) AS events FROM crm.events;

-- crm.emit_event for domain events, in the current workspace
SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1, '{"merged": [2]}');
SELECT workspace_id, type, object_type, object_id, payload FROM crm.events ORDER BY id DESC LIMIT 1;

-- events_since pages through the outbox in delivery order
SELECT id, type FROM crm.events_since(0, 5);
SELECT id, type FROM crm.events_since(5, 5);
SELECT id, type FROM crm.events_since(10, 5);
SELECT count(*) FROM crm.events_since((SELECT max(id) FROM crm.events));
-- events of the caller's own open transaction are not delivered before it commits
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('Uncommitted');
SELECT count(*) AS visible_before_commit FROM crm.events_since((SELECT max(id) - 1 FROM crm.events)) e WHERE e.type = 'CRM_CONTACT_CREATED';
COMMIT;

-- each workspace has its own outbox
SELECT crm.create_workspace('other', 'Other');
SET crm.workspace_id = 2;
INSERT INTO crm.contacts (name) VALUES ('Elsewhere');
SELECT workspace_id, type, object_type FROM crm.events_since(0);
RESET crm.workspace_id;
SELECT count(*) AS workspace_1_events FROM crm.events_since(0) WHERE workspace_id <> 1;

-- the writer fills id, xid, created_at and actor as the column defaults would
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('Defaults');
SELECT e.type, e.xid = pg_current_xact_id() AS this_transaction, e.created_at = now() AS at_its_start,
	   e.id = currval(pg_get_serial_sequence('crm.events', 'id')) AS from_the_sequence,
	   e.actor = current_user AS by_current_user
  FROM crm.events e ORDER BY e.id DESC LIMIT 1;
COMMIT;

-- while crm.events is as installed, row writes and crm.emit_event take the
-- direct writer, which fills id, xid, created_at and actor itself: neither
-- the id default nor the guard trigger runs for them; an INSERT runs both
BEGIN;
SET LOCAL track_functions = 'all';
INSERT INTO crm.contacts (name) VALUES ('Fast'), ('Path');
UPDATE crm.contacts SET city = 'Lyon' WHERE name IN ('Fast', 'Path');
SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = 'crm_internal' AND funcname IN ('guard_event_columns', 'next_event_id') ORDER BY 1;
SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1);
SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = 'crm_internal' AND funcname IN ('guard_event_columns', 'next_event_id') ORDER BY 1;
INSERT INTO crm.events (type, object_type, object_id) VALUES ('CRM_CONTACT_MERGED', 'contact', 1);
SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = 'crm_internal' AND funcname IN ('guard_event_columns', 'next_event_id') ORDER BY 1;
SELECT type, actor = current_user AS by_current_user FROM crm.events ORDER BY id DESC LIMIT 4;
ROLLBACK;

-- the actor of every event: crm.actor, else the JWT sub claim (PostgREST's
-- request.jwt.claims, PostGraphile's jwt.claims.sub), else current_user;
-- from row writes (one row and many), from domain functions and from
-- crm.emit_event, written by a service role under RLS
CREATE ROLE crm_events_app;
SELECT crm.grant_access('crm_events_app', access => 'service');
SELECT max(id) AS actor_mark FROM crm.events \gset
SET ROLE crm_events_app;
INSERT INTO crm.contacts (name) VALUES ('By role');
SET request.jwt.claims = '{"sub": "rest-user-1", "workspace_id": 1}';
INSERT INTO crm.contacts (name) VALUES ('By REST 1'), ('By REST 2');
RESET request.jwt.claims;
SET jwt.claims.sub = 'graphql-user-2';
SET jwt.claims.workspace_id = '1';
UPDATE crm.contacts SET city = 'Rome' WHERE name = 'By role';
SELECT crm.log_activity((SELECT id FROM crm.contacts WHERE name = 'By role'), 'call', 'Hi');
SET crm.actor = 'import-job';
DELETE FROM crm.contacts WHERE name = 'By REST 2';
SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1);
RESET crm.actor;
RESET jwt.claims.sub;
RESET jwt.claims.workspace_id;
RESET ROLE;
SELECT type, object_type, actor FROM crm.events WHERE id > :actor_mark ORDER BY id;

-- granted roles only read the outbox, whatever their access level; a
-- frontend may not emit events either (it could forge CRM_DEAL_WON), and
-- its row writes still write theirs
CREATE ROLE crm_events_front;
SELECT crm.grant_access('crm_events_front');
SELECT max(id) AS events_mark FROM crm.events \gset
SET ROLE crm_events_front;
SELECT crm.emit_event('CRM_DEAL_WON', 'deal', 1);
INSERT INTO crm.events (type, object_type, object_id) VALUES ('CRM_DEAL_WON', 'deal', 1);
DELETE FROM crm.events;
UPDATE crm.events SET xid = '1';
INSERT INTO crm.contacts (name) VALUES ('By a frontend') RETURNING name;
SET ROLE crm_events_app;
DELETE FROM crm.events;
INSERT INTO crm.events (type, object_type, object_id) VALUES ('CRM_DEAL_WON', 'deal', 1);
RESET ROLE;
SELECT type, object_type, actor FROM crm.events WHERE id > :events_mark ORDER BY id;

-- the columns the extension owns: a row that sends its own id, xid,
-- created_at or actor is refused, even from its owner, and an update may
-- not change them (a forged xid would make events_since() resend the outbox
-- or never deliver the event; a forged id would collide with a later one)
SELECT count(*) AS events_before FROM crm.events \gset
INSERT INTO crm.events (type, object_type, xid) VALUES ('CRM_CONTACT_UPDATED', 'contact', '1');
INSERT INTO crm.events (type, object_type, id)
	VALUES ('CRM_CONTACT_UPDATED', 'contact', currval(pg_get_serial_sequence('crm.events', 'id')) + 10);
INSERT INTO crm.events (type, object_type, created_at) VALUES ('CRM_CONTACT_UPDATED', 'contact', '2001-01-01 00:00+00');
INSERT INTO crm.events (type, object_type, actor) VALUES ('CRM_CONTACT_UPDATED', 'contact', 'someone-else');
-- one bad row among good ones fails the whole statement
INSERT INTO crm.events (type, object_type, xid)
	VALUES ('CRM_CONTACT_UPDATED', 'contact', DEFAULT), ('CRM_CONTACT_UPDATED', 'contact', '1');
-- an id sent in place of the one the sequence gave the row before
INSERT INTO crm.events (type, object_type) VALUES ('CRM_CONTACT_UPDATED', 'contact') RETURNING id AS taken \gset
DELETE FROM crm.events WHERE id = :taken;
INSERT INTO crm.events (type, object_type, id) VALUES ('CRM_CONTACT_UPDATED', 'contact', :taken);
UPDATE crm.events SET xid = '1' WHERE id = (SELECT max(id) FROM crm.events);
UPDATE crm.events SET actor = 'someone-else' WHERE id = (SELECT max(id) FROM crm.events);
UPDATE crm.events SET id = id + 1000 WHERE id = (SELECT max(id) FROM crm.events);
SELECT count(*) = :events_before AS nothing_written FROM crm.events;
-- and through COPY
UPDATE crm.events SET created_at = '2001-01-01 00:00+00' WHERE id = (SELECT max(id) FROM crm.events);
COPY crm.events (type, object_type, xid) FROM stdin;
CRM_CONTACT_UPDATED	contact	1
\.
-- sending exactly the extension's values is harmless and allowed, and a
-- row that leaves them out gets them (the INSERT path, with the guard)
BEGIN;
SET LOCAL crm.actor = 'import-job';
INSERT INTO crm.events (type, object_type, xid, created_at, actor)
	VALUES ('CRM_CONTACT_UPDATED', 'contact', pg_current_xact_id(), now(), 'import-job');
INSERT INTO crm.events (type, object_type) VALUES ('CRM_CONTACT_UPDATED', 'contact');
SELECT e.xid = pg_current_xact_id() AS this_transaction, e.created_at = now() AS at_its_start, e.actor
  FROM crm.events e ORDER BY e.id DESC LIMIT 2;
ROLLBACK;

-- a trigger a DBA adds to crm.events sees every event: the writer then
-- goes through INSERT, which fires it
CREATE TABLE events_seen (type text, object_type text);
CREATE FUNCTION events_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO events_seen VALUES (NEW.type, NEW.object_type);
	RETURN NULL;
END $$;
CREATE TRIGGER events_seen AFTER INSERT ON crm.events FOR EACH ROW EXECUTE FUNCTION events_seen();
INSERT INTO crm.contacts (name) VALUES ('Watched');
SET crm.actor = 'watcher';
UPDATE crm.contacts SET city = 'Oslo' WHERE name = 'Watched';
RESET crm.actor;
SELECT * FROM events_seen;
-- the INSERT path records the actor too
SELECT type, actor = current_user AS by_current_user, actor FROM crm.events ORDER BY id DESC LIMIT 2;
DROP TRIGGER events_seen ON crm.events;
INSERT INTO crm.contacts (name) VALUES ('Unwatched');
SELECT count(*) AS seen FROM events_seen;
DROP TABLE events_seen;
DROP FUNCTION events_seen();

-- an event type the outbox refuses, from a trigger declared with a bad
-- prefix: the statement fails and writes nothing
CREATE TRIGGER bad_prefix AFTER INSERT ON crm.companies REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.emit_row_events('company', 'crm_company');
INSERT INTO crm.companies (name) VALUES ('Refused');
DROP TRIGGER bad_prefix ON crm.companies;
SELECT count(*) AS refused FROM crm.companies WHERE name = 'Refused';

-- a CHECK a DBA puts in place of the installed one, under the same name,
-- holds too: the writer then goes through INSERT, which checks it
ALTER TABLE crm.events DROP CONSTRAINT events_type_format;
ALTER TABLE crm.events ADD CONSTRAINT events_type_format
	CHECK (type ~ '^CRM_[A-Z_]+$' AND type <> 'CRM_COMPANY_CREATED') NOT VALID;
\set VERBOSITY terse
INSERT INTO crm.companies (name) VALUES ('Stricter');
\set VERBOSITY default
ALTER TABLE crm.events DROP CONSTRAINT events_type_format;
ALTER TABLE crm.events ADD CONSTRAINT events_type_format CHECK (type ~ '^CRM_[A-Z_]+$');
INSERT INTO crm.companies (name) VALUES ('Stricter');
SELECT count(*) AS stricter FROM crm.companies WHERE name = 'Stricter';

-- (NOTIFY crm_events on commit is shown by test/specs/events_since.spec:
-- psql prints the server's process id with each notification)

-- bad input: nothing written
SELECT count(*) AS events_before FROM crm.events;
SELECT * FROM crm.events_since(-1);
SELECT * FROM crm.events_since(NULL);
SELECT * FROM crm.events_since(999999);
SELECT * FROM crm.events_since(0, 0);
SELECT * FROM crm.events_since(0, 100001);
SELECT * FROM crm.events_since(0, NULL);
-- an event id of another workspace is unknown here
SELECT max(id) AS other_event FROM crm.events WHERE workspace_id = 2 \gset
SELECT * FROM crm.events_since(:other_event);
SELECT crm.emit_event('contact_merged', 'contact', 1);
SELECT crm.emit_event(NULL, 'contact', 1);
SELECT crm.emit_event('CRM_X', '', 1);
SELECT crm.emit_event('CRM_X', 'contact', 1, '[]');
SELECT crm.emit_event('CRM_X', 'contact', NULL);
-- the batch the extension's statement triggers write (crm_internal.emit_events),
-- in the rows' workspace: one payload per id, each an object; nothing written on bad input
SELECT crm_internal.emit_events(1, 'CRM_X', 'contact', ARRAY[1, 2], ARRAY['{}'::jsonb]);
SELECT crm_internal.emit_events(1, 'CRM_X', 'contact', ARRAY[1, NULL], ARRAY['{}'::jsonb, '{}']);
SELECT crm_internal.emit_events(1, 'CRM_X', 'contact', ARRAY[1, 2], ARRAY['{}'::jsonb, '[]']);
SELECT crm_internal.emit_events(1, 'crm_x', 'contact', ARRAY[1], ARRAY['{}'::jsonb]);
SELECT crm_internal.emit_events(1, NULL, 'contact', ARRAY[1], ARRAY['{}'::jsonb]);
SELECT crm_internal.emit_events(1, 'CRM_X', '', ARRAY[1], ARRAY['{}'::jsonb]);
SELECT crm_internal.emit_events(NULL, 'CRM_X', 'contact', ARRAY[1], ARRAY['{}'::jsonb]);
SELECT count(*) AS events_after FROM crm.events;
-- an aggregate over no rows writes nothing; two ids write two events in order
SELECT crm_internal.emit_events(1, 'CRM_X', 'contact', NULL, NULL);
SELECT crm_internal.emit_events(1, 'CRM_X', 'contact', ARRAY[2, 1], ARRAY['{"n": 1}'::jsonb, '{"n": 2}']);
SELECT type, object_type, object_id, payload FROM crm.events ORDER BY id DESC LIMIT 2;
DELETE FROM crm.events WHERE type = 'CRM_X';

\c contrib_regression
DROP DATABASE crm_test_events;
DROP ROLE crm_events_app, crm_events_front;
