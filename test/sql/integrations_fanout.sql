-- The set-based fan-out (crm_internal.integration_pump) makes the deliveries
-- that crm_internal.integration_sync makes event by event: integration a is
-- fanned out by the pump, integration b, configured alike, by the per-event
-- reference, over the same events, in two rounds (so that records pushed
-- in the first are held in the second); some changes come from a itself.
CREATE DATABASE crm_test_integrations_fanout;
\c crm_test_integrations_fanout
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

INSERT INTO crm.integrations (key, kind, sync_filters, field_mappings, event_types)
SELECT k, 'custom', '{"contact": "lifecycleStage = CUSTOMER", "company": "industry = \"energy\""}',
	   '{"contact": {"EMAIL": {"field": "email", "transform": "upper"}, "CITY": "city"}}',
	   ARRAY['CRM_CONTACT_CREATED', 'CRM_CONTACT_UPDATED', 'CRM_CONTACT_DELETED', 'CRM_COMPANY_CREATED',
			 'CRM_COMPANY_UPDATED', 'CRM_COMPANY_DELETED', 'CRM_DEAL_CREATED']
  FROM unnest(ARRAY['a', 'b']) k;

-- the reference: integration b, event by event, echoes of a kept quiet
CREATE FUNCTION pg_temp.reference(after_event bigint) RETURNS void LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
	i crm.integrations;
	e record;
BEGIN
	SELECT * INTO i FROM crm.integrations WHERE key = 'b';
	FOR e IN SELECT * FROM crm.events WHERE id > after_event ORDER BY xid, id LOOP
		CONTINUE WHEN e.type <> ALL (i.event_types) OR e.object_id IS NULL;
		IF e.object_type IN ('contact', 'company') THEN
			PERFORM crm_internal.integration_sync(i, e.object_type, e.object_id, e.id, e.type, e.id, e.actor = 'integration:a');
		ELSIF e.actor <> 'integration:a' THEN
			INSERT INTO crm.integration_deliveries (integration_id, event_id, position, object_type, object_id, action, event_type, payload)
			VALUES (i.id, e.id, e.id, e.object_type, e.object_id, 'event', e.type,
					jsonb_build_object('action', 'event', 'type', e.type, 'object_type', e.object_type, 'object_id', e.object_id,
									   'event_id', e.id, 'created_at', e.created_at, 'actor', e.actor, 'data', e.payload));
		END IF;
	END LOOP;
END;
$$;
CREATE FUNCTION pg_temp.pump() RETURNS integer LANGUAGE sql AS $$
	SELECT crm_internal.integration_pump(i, 100000) FROM crm.integrations i WHERE i.key = 'a';
$$;
CREATE VIEW pg_temp.differences AS
SELECT i.key, d.event_id, d.object_type, d.object_id, d.action, d.event_type, d.payload
  FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 WHERE (i.key = 'a' AND (d.event_id, d.object_type, d.object_id, d.action, d.event_type, d.payload) NOT IN
		(SELECT x.event_id, x.object_type, x.object_id, x.action, x.event_type, x.payload FROM crm.integration_deliveries x
		  WHERE x.integration_id = (SELECT id FROM crm.integrations WHERE key = 'b')))
	OR (i.key = 'b' AND (d.event_id, d.object_type, d.object_id, d.action, d.event_type, d.payload) NOT IN
		(SELECT x.event_id, x.object_type, x.object_id, x.action, x.event_type, x.payload FROM crm.integration_deliveries x
		  WHERE x.integration_id = (SELECT id FROM crm.integrations WHERE key = 'a')));

-- round 1: customers and leads, some changed several times, one created by
-- a itself, a company that matches, a deal (an event as it is)
INSERT INTO crm.contacts (name, email, lifecycle_stage)
VALUES ('Ada', 'ada@example.com', 'customer'), ('Bob', 'bob@example.com', 'lead'),
	   ('Cy', 'cy@example.com', 'customer'), ('Di', 'di@example.com', 'lead');
UPDATE crm.contacts SET city = 'Paris' WHERE name = 'Ada';
UPDATE crm.contacts SET city = 'Lyon' WHERE name = 'Ada';
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE name = 'Bob';
UPDATE crm.contacts SET lifecycle_stage = 'lead' WHERE name = 'Bob';
BEGIN;
SET LOCAL crm.actor = 'integration:a';
INSERT INTO crm.contacts (name, email, lifecycle_stage) VALUES ('Eve', 'eve@example.com', 'customer');
COMMIT;
INSERT INTO crm.companies (name, domain, industry) VALUES ('Globex', 'globex.com', 'energy'), ('Initech', 'initech.com', 'software');
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.deals (title) VALUES ('A deal');
SELECT max(id) AS round2 FROM crm.events \gset
SELECT pg_temp.pump() AS pumped;
SELECT pg_temp.reference(0);
SELECT d.event_id, d.object_type, d.object_id, d.action, d.event_type, (d.payload -> 'data') - 'created_at' - 'updated_at' AS data
  FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id WHERE i.key = 'a'
 ORDER BY d.position, d.id;
SELECT count(*) AS differences FROM pg_temp.differences;
SELECT * FROM pg_temp.differences;

-- round 2: held records stop matching (Ada by a change of a's own: quiet,
-- then again by another change: nothing, it is no longer held), Cy is
-- deleted, Eve keeps matching; the company stops matching; Di matches
SELECT (SELECT count(*) FROM crm_internal.integration_objects o JOIN crm.integrations i ON i.id = o.integration_id WHERE i.key = 'a') AS held_a,
	   (SELECT count(*) FROM crm_internal.integration_objects o JOIN crm.integrations i ON i.id = o.integration_id WHERE i.key = 'b') AS held_b;
BEGIN;
SET LOCAL crm.actor = 'integration:a';
UPDATE crm.contacts SET lifecycle_stage = 'lead' WHERE name = 'Ada';
COMMIT;
UPDATE crm.contacts SET city = 'Nice' WHERE name = 'Ada';
DELETE FROM crm.contacts WHERE name = 'Cy';
UPDATE crm.contacts SET city = 'Rome' WHERE name = 'Eve';
UPDATE crm.contacts SET city = 'Oslo' WHERE name = 'Eve';
UPDATE crm.companies SET industry = 'retail' WHERE name = 'Globex';
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE name = 'Di';
SELECT pg_temp.pump() AS pumped;
SELECT pg_temp.reference(:round2);
SELECT d.event_id, d.object_type, d.object_id, d.action, d.event_type, (d.payload -> 'data') - 'created_at' - 'updated_at' AS data
  FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 WHERE i.key = 'a' AND d.event_id > :round2
 ORDER BY d.position, d.id;
SELECT count(*) AS differences FROM pg_temp.differences;
SELECT * FROM pg_temp.differences;
SELECT (SELECT array_agg(o.object_type || ' ' || o.object_id ORDER BY o.object_type, o.object_id) FROM crm_internal.integration_objects o
		 JOIN crm.integrations i ON i.id = o.integration_id WHERE i.key = 'a') AS held_a,
	   (SELECT array_agg(o.object_type || ' ' || o.object_id ORDER BY o.object_type, o.object_id) FROM crm_internal.integration_objects o
		 JOIN crm.integrations i ON i.id = o.integration_id WHERE i.key = 'b') AS held_b;
-- the cursor moved past every event: a second pump finds nothing
SELECT pg_temp.pump() AS pumped_again;

\c contrib_regression
DROP DATABASE crm_test_integrations_fanout;
