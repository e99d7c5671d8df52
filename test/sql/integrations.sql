-- Integration sync: integrations subscribe to events with a CQL sync filter
-- and a field mapping per object type; each committed event fans out into
-- deliveries when a worker claims them; claims lease, acks settle, failures
-- back off and die; one object's deliveries go in order; the status view
-- and the action log say how it went; resync queues records by hand; an
-- inbound change is applied and not echoed back.
CREATE DATABASE crm_test_integrations;
\c crm_test_integrations
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_integ_app;
CREATE ROLE crm_integ_worker;
SELECT crm.grant_access('crm_integ_app');
SELECT crm.grant_access('crm_integ_worker', access => 'service');

-- a mailchimp audience of customers, mapped; a webhook of contact events
INSERT INTO crm.integrations (key, kind, secret, sync_filters, field_mappings)
VALUES ('mailchimp', 'mailchimp', 'mc-secret', '{"contact": "lifecycleStage = CUSTOMER"}',
		'{"contact": {"EMAIL": {"field": "email", "transform": "upper"},
					  "FNAME": "name",
					  "STAGE": "lifecycle_stage",
					  "CITY": {"field": "city", "transform": "default", "value": "unknown"},
					  "PHONE": {"field": "phone", "transform": "e164"},
					  "SINCE": {"field": "created_at", "transform": "date"},
					  "PLAN": {"field": "properties.plan", "transform": "trim"},
					  "SOURCE": {"transform": "constant", "value": "crm"}}}')
RETURNING id, key, kind, enabled, secret, secret_set;
INSERT INTO crm.integrations (key, kind, config, event_types)
VALUES (' Hook ', 'WEBHOOK', '{"url": "https://example.com/hook"}', ARRAY['CRM_CONTACT_CREATED', 'CRM_CONTACT_UPDATED'])
RETURNING id, key, kind, event_types, secret_set;

INSERT INTO crm.contacts (name, email, phone, lifecycle_stage, properties, created_at)
VALUES ('Ada', 'ada@example.com', '+33612345678', 'customer', '{"plan": " pro "}', '2026-01-15 10:00+00'),
	   ('Bob', 'bob@example.com', NULL, 'lead', '{}', '2026-01-16 10:00+00');
INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.com');

-- the customer is upserted with its mapped data; the lead is not pushed
SELECT id, object_type, object_id, action, event_type, status, attempts, payload - 'created_at' AS payload
  FROM crm.claim_deliveries('mailchimp', 10);
-- the webhook gets both creations as events, not the company's
SELECT id, object_id, action, event_type, status, payload -> 'data' AS data
  FROM crm.claim_deliveries('hook');
SELECT (crm.ack_delivery(id, '{"status": 200}')).status FROM crm.integration_deliveries WHERE status = 'leased' ORDER BY id;

-- Bob becomes a customer: an upsert; Ada stops being one: a removal
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE email = 'bob@example.com';
UPDATE crm.contacts SET lifecycle_stage = 'lead', city = 'Paris' WHERE email = 'ada@example.com';
SELECT object_id, action, event_type, payload -> 'data' AS data FROM crm.claim_deliveries('mailchimp') ORDER BY object_id;
SELECT (crm.ack_delivery(id)).status FROM crm.integration_deliveries WHERE status = 'leased' ORDER BY id;
-- a contact deleted while pushed: a removal (the record is gone: no data)
DELETE FROM crm.contacts WHERE email = 'bob@example.com';
SELECT object_id, action, event_type, payload -> 'data' AS data FROM crm.claim_deliveries('mailchimp');
-- a deleted contact that was never pushed, or an update that keeps a
-- contact out of the filter, sends nothing
UPDATE crm.contacts SET city = 'Lyon' WHERE email = 'ada@example.com';
SELECT count(*) AS nothing FROM crm.claim_deliveries('mailchimp');

-- one object's deliveries in order: Cy's update waits until its creation
-- is settled; other objects are not held up
SELECT object_id, event_type, payload -> 'data' AS data FROM crm.claim_deliveries('hook') ORDER BY id;
SELECT (crm.ack_delivery(id)).status FROM crm.integration_deliveries WHERE status = 'leased' ORDER BY id;
INSERT INTO crm.contacts (name) VALUES ('Cy');
SELECT id AS cy FROM crm.contacts WHERE name = 'Cy' \gset
UPDATE crm.contacts SET city = 'Nice' WHERE name = 'Cy';
SELECT id, object_id, event_type, payload -> 'data' AS data FROM crm.claim_deliveries('hook') ORDER BY id;
SELECT count(*) AS held_back FROM crm.claim_deliveries('hook');
-- a failure: retried later with backoff, and the next one still waits
SELECT id AS first_cy FROM crm.integration_deliveries WHERE integration_id = 2 AND object_id = :cy ORDER BY id LIMIT 1 \gset
SELECT status, attempts, last_error, available_at - now() > interval '29 seconds' AS backoff
  FROM crm.fail_delivery(:first_cy, 'HTTP 503');
SELECT count(*) AS still_held_back FROM crm.claim_deliveries('hook');
-- once due again (here: made due), the first is claimed, then the second
UPDATE crm.integration_deliveries SET available_at = now() - interval '1 second' WHERE id = :first_cy;
SELECT id = :first_cy AS first_again, attempts FROM crm.claim_deliveries('hook');
SELECT (crm.ack_delivery(:first_cy, '{"status": 200}')).status;
SELECT object_id, event_type, attempts FROM crm.claim_deliveries('hook');

-- backoff doubles, at most retry_max; after max_attempts the delivery is dead
UPDATE crm.integrations SET max_attempts = 3, retry_delay = '10 seconds', retry_max = '15 seconds' WHERE key = 'hook';
UPDATE crm.contacts SET city = 'Rome' WHERE name = 'Cy';
SELECT id AS last_cy FROM crm.integration_deliveries WHERE integration_id = 2 AND object_id = :cy AND status = 'leased' \gset
SELECT (crm.ack_delivery(:last_cy)).status;
SELECT id AS doomed FROM crm.claim_deliveries('hook') \gset
SELECT status, attempts, round(extract(epoch FROM available_at - clock_timestamp())) AS wait FROM crm.fail_delivery(:doomed, 'timeout');
UPDATE crm.integration_deliveries SET available_at = now() WHERE id = :doomed;
SELECT attempts FROM crm.claim_deliveries('hook');
SELECT status, attempts, round(extract(epoch FROM available_at - clock_timestamp())) AS wait FROM crm.fail_delivery(:doomed, 'timeout');
UPDATE crm.integration_deliveries SET available_at = now() WHERE id = :doomed;
SELECT attempts FROM crm.claim_deliveries('hook');
SELECT status, attempts, last_error FROM crm.fail_delivery(:doomed, 'HTTP 410');
-- a dead delivery holds nothing up
UPDATE crm.contacts SET city = 'Oslo' WHERE name = 'Cy';
SELECT id AS leased, event_type, payload -> 'data' -> 'changes' AS changes FROM crm.claim_deliveries('hook') \gset
SELECT :'event_type' AS event_type, :'changes' AS changes;

-- a lease that runs out: claimed again, the expiry logged
SELECT count(*) AS while_leased FROM crm.claim_deliveries('hook');
UPDATE crm.integration_deliveries SET available_at = now() - interval '1 second' WHERE id = :leased;
SELECT id = :leased AS reclaimed, attempts FROM crm.claim_deliveries('hook');
SELECT attempt, outcome, response, error FROM crm.integration_attempts WHERE delivery_id = :leased ORDER BY id;
SELECT (crm.ack_delivery(:leased, '{"status": 204}')).status;
-- a delivery whose lease runs out max_attempts (3) times is dead: it no longer holds its object up
UPDATE crm.contacts SET city = 'Lima' WHERE name = 'Cy';
SELECT id AS poison, attempts FROM crm.claim_deliveries('hook') \gset
UPDATE crm.integration_deliveries SET available_at = now() - interval '1 second' WHERE id = :poison;
SELECT id = :poison AS again, attempts FROM crm.claim_deliveries('hook');
UPDATE crm.integration_deliveries SET available_at = now() - interval '1 second' WHERE id = :poison;
SELECT id = :poison AS again, attempts FROM crm.claim_deliveries('hook');
UPDATE crm.integration_deliveries SET available_at = now() - interval '1 second' WHERE id = :poison;
UPDATE crm.contacts SET city = 'Quito' WHERE name = 'Cy';
SELECT count(*) AS none_while_it_dies FROM crm.claim_deliveries('hook');
SELECT status, attempts, leased_until, last_error FROM crm.integration_deliveries WHERE id = :poison;
SELECT attempt, outcome FROM crm.integration_attempts WHERE delivery_id = :poison ORDER BY id;
SELECT id AS quito, payload -> 'data' -> 'changes' AS next_of_cy FROM crm.claim_deliveries('hook') \gset
SELECT :'next_of_cy' AS next_of_cy, (crm.ack_delivery(:quito)).status;

-- the action log of the dead delivery, and the status of each integration
SELECT attempt, outcome, error FROM crm.integration_attempts WHERE delivery_id = :doomed ORDER BY id;
SELECT key, kind, enabled, pending, leased, failed, dead, delivered, lag IS NULL AS caught_up,
	   last_success_at IS NOT NULL AS succeeded, last_error
  FROM crm.integration_status ORDER BY integration_id;

-- a disabled integration claims nothing, and catches up when enabled again
UPDATE crm.integrations SET enabled = false WHERE key = 'hook';
UPDATE crm.contacts SET city = 'Bern' WHERE name = 'Cy';
SELECT count(*) AS disabled FROM crm.claim_deliveries('hook');
SELECT key, lag IS NOT NULL AS lagging FROM crm.integration_status WHERE key = 'hook';
UPDATE crm.integrations SET enabled = true WHERE key = 'hook';
SELECT payload -> 'data' -> 'changes' AS changes FROM crm.claim_deliveries('hook');

-- resync: every contact the query and the sync filter match, queued now
INSERT INTO crm.contacts (name, email, lifecycle_stage) VALUES ('Di', 'di@example.com', 'customer'), ('Ed', 'ed@example.com', 'customer');
SELECT count(*) AS fanned_out FROM crm.claim_deliveries('mailchimp');
SELECT (crm.ack_delivery(id)).status FROM crm.integration_deliveries WHERE status = 'leased' AND integration_id = 1 ORDER BY id;
SELECT crm.resync('mailchimp', 'name = "Di"');
SELECT crm.resync('mailchimp', '');
SELECT object_id, action, event_type, event_id, payload -> 'data' ->> 'FNAME' AS fname FROM crm.claim_deliveries('mailchimp') ORDER BY object_id;
SELECT (crm.ack_delivery(id)).status FROM crm.integration_deliveries WHERE status = 'leased' AND integration_id = 1 ORDER BY id;
-- Di's second resync waited for the first
SELECT object_id, action, event_type FROM crm.claim_deliveries('mailchimp');

-- inbound: a contact created in mailchimp, found again by its external id,
-- through the mapping reversed; its events are not sent back to mailchimp
-- (the webhook gets them, with the integration as the actor)
SELECT (crm.ack_delivery(id)).status FROM crm.integration_deliveries WHERE status = 'leased' ORDER BY id;
SELECT crm.apply_external_change('mailchimp', 'contact', 'mc-77',
	'{"EMAIL": "fay@example.com", "FNAME": "Fay", "STAGE": "customer", "CITY": "Porto", "PLAN": "gold", "SOURCE": "ignored"}') AS fay \gset
SELECT name, email, lifecycle_stage, city, properties FROM crm.contacts WHERE id = :fay;
SELECT object_type, system, external_id FROM crm.external_ids WHERE object_id = :fay;
SELECT crm.apply_external_change('mailchimp', 'contact', 'mc-77', '{"CITY": "Braga"}') = :fay AS same_contact;
SELECT city FROM crm.contacts WHERE id = :fay;
SELECT count(*) AS no_echo FROM crm.claim_deliveries('mailchimp');
SELECT event_type, payload ->> 'actor' AS actor FROM crm.claim_deliveries('hook') ORDER BY id;
SELECT current_setting('crm.actor') = '' AS actor_restored;
-- mailchimp holds Fay now: when she stops matching there, she is removed
UPDATE crm.contacts SET lifecycle_stage = 'lead' WHERE id = :fay;
SELECT object_id = :fay AS fay, action, payload -> 'data' ->> 'STAGE' AS stage FROM crm.claim_deliveries('mailchimp');
-- an existing contact is matched by the identity rules (its email)
SELECT crm.apply_external_change('mailchimp', 'contact', 'mc-78', '{"EMAIL": "di@example.com", "FNAME": "Diana"}')
	 = (SELECT id FROM crm.contacts WHERE email = 'di@example.com') AS identified;
-- bad inbound changes
SELECT crm.apply_external_change('mailchimp', 'contact', 'mc-79', '{"NICKNAME": "x"}');
SELECT crm.apply_external_change('mailchimp', 'deal', 'mc-79', '{}');
SELECT crm.apply_external_change('mailchimp', 'contact', ' ', '{}');
SELECT crm.apply_external_change('nope', 'contact', 'mc-79', '{}');

-- bad integrations are refused on the row path, with the CQL error itself
INSERT INTO crm.integrations (key, kind) VALUES ('Bad Key', 'custom');
INSERT INTO crm.integrations (key, kind) VALUES ('zapier', 'zapier');
INSERT INTO crm.integrations (key, kind) VALUES ('hook2', 'webhook');
INSERT INTO crm.integrations (key, kind, config) VALUES ('hook2', 'webhook', '{"url": "ftp://example.com"}');
INSERT INTO crm.integrations (key, kind, event_types) VALUES ('x', 'custom', ARRAY['contact_updated']);
INSERT INTO crm.integrations (key, kind, sync_filters) VALUES ('x', 'custom', '{"contact": "lifecycleStage = NOPE"}');
INSERT INTO crm.integrations (key, kind, sync_filters) VALUES ('x', 'custom', '{"contact": "nosuchfield = 1"}');
INSERT INTO crm.integrations (key, kind, sync_filters) VALUES ('x', 'custom', '{"contact": "name ="}');
INSERT INTO crm.integrations (key, kind, sync_filters) VALUES ('x', 'custom', '{"contact": 1}');
INSERT INTO crm.integrations (key, kind, sync_filters) VALUES ('x', 'custom', '{"widget": "name = x"}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": "nope"}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": {"field": "name", "transform": "reverse"}}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": {"field": "name", "transform": "date"}}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": {"transform": "constant"}}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": {"transform": "lower"}}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": {"field": "name", "extra": 1}}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": {"A": "workspace_id"}}');
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('x', 'custom', '{"contact": ["email"]}');
INSERT INTO crm.integrations (key, kind, config) VALUES ('x', 'custom', '[]');
INSERT INTO crm.integrations (key, kind, max_attempts) VALUES ('x', 'custom', 0);
UPDATE crm.integrations SET sync_filters = '{"contact": "lifecycleStage = NOPE"}' WHERE key = 'mailchimp';
INSERT INTO crm.integrations (key, kind) VALUES ('mailchimp', 'custom');
SELECT count(*) AS integrations, (SELECT sync_filters FROM crm.integrations WHERE key = 'mailchimp') FROM crm.integrations;
-- bad calls of the functions
SELECT * FROM crm.claim_deliveries('nope');
SELECT * FROM crm.claim_deliveries('hook', 0);
SELECT crm.ack_delivery(999999);
SELECT crm.ack_delivery(:doomed);
SELECT crm.fail_delivery(:leased, 'late');
SELECT crm.resync('mailchimp', 'nosuchfield = 1');
SELECT crm.resync('mailchimp', '', 'widget');

-- the secret is write-only: reads as NULL, kept apart, changed or removed
SELECT key, secret, secret_set FROM crm.integrations ORDER BY id;
SELECT secret FROM crm.integration_endpoint('mailchimp');
UPDATE crm.integrations SET secret = 'rotated' WHERE key = 'mailchimp' RETURNING secret, secret_set;
SELECT secret FROM crm.integration_endpoint('mailchimp');
UPDATE crm.integrations SET enabled = true WHERE key = 'mailchimp' RETURNING secret_set;
UPDATE crm.integrations SET secret = '' WHERE key = 'mailchimp' RETURNING secret_set;
SELECT secret FROM crm.integration_endpoint('mailchimp');

-- the row path of a frontend: members with admin configure integrations,
-- others read them (never the secret) and their status; deliveries and the
-- log are the worker's; the worker's functions need a service role
SELECT (crm.add_member('ann', 'admin')).role, (crm.add_member('ben', 'agent')).role;
SET ROLE crm_integ_app;
SET request.jwt.claims = '{"sub": "ben"}';
INSERT INTO crm.integrations (key, kind) VALUES ('ben_hook', 'custom');
UPDATE crm.integrations SET enabled = false WHERE key = 'hook';
SELECT key, secret, secret_set FROM crm.integrations ORDER BY id;
SELECT key, pending, dead FROM crm.integration_status ORDER BY integration_id;
SELECT crm.resync('mailchimp');
SET request.jwt.claims = '{"sub": "ann"}';
INSERT INTO crm.integrations (key, kind, secret, sync_filters)
VALUES ('segment', 'segment', 'seg-secret', '{"company": "domain = \"acme.com\""}') RETURNING key, secret, secret_set;
SELECT count(*) AS secrets_hidden FROM crm_internal.integration_state;
INSERT INTO crm.integration_deliveries (integration_id, position, object_type, action, event_type, payload)
VALUES (1, 1, 'contact', 'event', 'CRM_CONTACT_CREATED', '{}');
UPDATE crm.integration_deliveries SET status = 'done' WHERE status = 'dead';
DELETE FROM crm.integration_deliveries;
DELETE FROM crm.integration_attempts;
SELECT * FROM crm.claim_deliveries('hook');
SELECT crm.ack_delivery(:leased);
SELECT crm.integration_endpoint('hook');
SELECT crm.resync('segment', '', 'company');
RESET request.jwt.claims;
RESET ROLE;
SELECT status, count(*) FROM crm.integration_deliveries GROUP BY status ORDER BY status;
-- the worker (a service role) claims what the frontend's resync queued
SET ROLE crm_integ_worker;
SELECT object_type, action, payload -> 'data' ->> 'domain' AS domain FROM crm.claim_deliveries('segment');
SELECT key, secret FROM crm.integration_endpoint('segment');
RESET ROLE;

-- only a service role reads a secret: the stored secret is in crm_internal,
-- which no granted role may use; the column always reads NULL;
-- crm.integration_endpoint, which both may call, refuses a frontend (42501
-- above); and no event or history row carries a secret
SELECT r.rolname, has_schema_privilege(r.rolname, 'crm_internal', 'USAGE') AS internal_usage,
	   has_table_privilege(r.rolname, 'crm_internal.integration_state', 'SELECT') AS state_select,
	   has_function_privilege(r.rolname, 'crm.integration_endpoint(text)', 'EXECUTE') AS endpoint_execute
  FROM pg_roles r WHERE r.rolname IN ('crm_integ_app', 'crm_integ_worker') ORDER BY 1;
SELECT (SELECT count(*) FROM crm.integrations WHERE secret IS NOT NULL) AS secrets_in_rows,
	   (SELECT count(*) FROM crm.events WHERE payload::text LIKE '%-secret%') AS secrets_in_events,
	   (SELECT count(*) FROM crm.value_history h WHERE h::text LIKE '%-secret%') AS secrets_in_history,
	   (SELECT count(*) FROM crm_internal.integration_state WHERE secret = 'seg-secret') AS kept_apart;

-- deleting an integration deletes its deliveries, log and state
DELETE FROM crm.members;
DELETE FROM crm.integrations WHERE key = 'hook';
SELECT (SELECT count(*) FROM crm.integration_deliveries WHERE integration_id = 2) AS deliveries,
	   (SELECT count(*) FROM crm.integration_attempts WHERE integration_id = 2) AS attempts,
	   (SELECT count(*) FROM crm_internal.integration_state WHERE integration_id = 2) AS state;

\c contrib_regression
DROP DATABASE crm_test_integrations;
DROP ROLE crm_integ_app, crm_integ_worker;
