-- Retention of the outbox: consumers acknowledge their position with
-- crm.ack_events, crm.purge_events(before) deletes only what every
-- consumer (integrations' cursors and acknowledged consumers) has passed.
-- Own database: stable ids.
CREATE DATABASE crm_test_events_retention;
\c crm_test_events_retention
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE ROLE crm_ret_service;
SELECT crm.grant_access('crm_ret_service', access => 'service');
CREATE ROLE crm_ret_front;
SELECT crm.grant_access('crm_ret_front');

-- ten events, written "long ago" (created_at is the owner's to backdate here)
INSERT INTO crm.contacts (name) SELECT 'Contact ' || g FROM generate_series(1, 6) g;
UPDATE crm.contacts SET city = 'Paris' WHERE id <= 4;
SET session_replication_role = replica;
UPDATE crm.events SET created_at = '2024-01-01';
RESET session_replication_role;
SELECT count(*) AS events FROM crm.events;

-- nobody registered: everything before the time that has ended goes
BEGIN;
SELECT crm.purge_events('2024-06-01') AS purged;
SELECT count(*) AS left FROM crm.events;
ROLLBACK;
-- ... but nothing written at or after it
SELECT crm.purge_events('2024-01-01') AS purged;

-- a service role registers its consumer at 0: nothing goes
SET ROLE crm_ret_service;
SELECT crm.ack_events('mailer', 0);
SELECT crm.purge_events('infinity') AS purged;
-- it handled up to event 4: events 1-3 go, 4 (its position) stays so that
-- crm.events_since(4) still answers
SELECT crm.ack_events('Mailer ', 4);
SELECT crm.purge_events('infinity') AS purged;
SELECT id FROM crm.events ORDER BY id;
SELECT id FROM crm.events_since(4) ORDER BY id;
-- the earliest consumer decides
SELECT crm.ack_events('search-indexer', 6);
SELECT crm.ack_events('mailer', 9);
SELECT crm.purge_events('infinity') AS purged;
SELECT id FROM crm.events ORDER BY id;
-- dropping a consumer releases its events
SELECT crm.drop_event_consumer('search-indexer') AS dropped, crm.drop_event_consumer('nobody') AS dropped_none;
SELECT crm.purge_events('infinity') AS purged;
SELECT id FROM crm.events ORDER BY id;
RESET ROLE;
SELECT workspace_id, name, after_event_id, after_xid = (SELECT xid FROM crm.events WHERE id = 9) AS at_its_xid
  FROM crm_internal.event_consumers;

-- bad input
SET ROLE crm_ret_service;
SELECT crm.ack_events('mailer', 3);
SELECT crm.ack_events('mailer', 1000);
SELECT crm.ack_events('mailer', -1);
SELECT crm.ack_events('mailer', NULL);
SELECT crm.ack_events('  ', 9);
SELECT crm.ack_events(NULL, 9);
SELECT crm.ack_events(repeat('x', 101), 9);
SELECT crm.purge_events(NULL);
RESET ROLE;
SELECT name, after_event_id FROM crm_internal.event_consumers;

-- a frontend role may read events but not acknowledge, drop or purge
SET ROLE crm_ret_front;
SELECT count(*) AS visible FROM crm.events;
SELECT crm.ack_events('mailer', 10);
SELECT crm.drop_event_consumer('mailer');
SELECT crm.purge_events('infinity');
-- nor read or write the positions themselves
SELECT * FROM crm_internal.event_consumers;
DELETE FROM crm_internal.event_consumers;
RESET ROLE;
SELECT name, after_event_id FROM crm_internal.event_consumers;

-- an integration's cursor is a consumer too: created now, it keeps every
-- event of the transactions after its own
INSERT INTO crm.integrations (key, kind, config) VALUES ('hook', 'webhook', '{"url": "http://127.0.0.1:9/hook"}');
SELECT crm.drop_event_consumer('mailer');
UPDATE crm.contacts SET city = 'Rome' WHERE id = 5;
SELECT crm.purge_events('infinity') AS purged;
SELECT id, type, object_id FROM crm.events ORDER BY id;
-- once it has fanned them out, they may go (but its position stays)
SET ROLE crm_ret_service;
SELECT count(*) AS claimed FROM crm.claim_deliveries('hook');
SELECT crm.purge_events('infinity') AS purged;
SELECT id, type, object_id FROM crm.events ORDER BY id;
-- the next change, fanned out, moves its position on
UPDATE crm.contacts SET city = 'Oslo' WHERE id = 6;
SELECT count(*) AS claimed FROM crm.claim_deliveries('hook');
SELECT crm.purge_events('infinity') AS purged;
SELECT id, type, object_id FROM crm.events ORDER BY id;
RESET ROLE;

-- workspaces are apart: another workspace's consumers and events stay
SELECT crm.create_workspace('other', 'Other') AS other \gset
SET crm.workspace_id = :other;
INSERT INTO crm.contacts (name) VALUES ('Elsewhere');
SELECT crm.ack_events('mailer', 0);
SET crm.workspace_id = 1;
SELECT crm.purge_events('infinity') AS purged;
SET crm.workspace_id = :other;
SELECT crm.purge_events('infinity') AS purged_other;
SELECT count(*) AS other_events FROM crm.events WHERE workspace_id = :other;
-- deleting the workspace forgets its consumers
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE id = :other;
SELECT count(*) AS consumers_left FROM crm_internal.event_consumers WHERE workspace_id = :other;

\c contrib_regression
DROP DATABASE crm_test_events_retention;
DROP ROLE crm_ret_service, crm_ret_front;
