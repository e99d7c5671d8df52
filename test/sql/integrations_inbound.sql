-- Inbound changes of every object: crm.apply_external_change finds a
-- company by its external id, else by its normalised domain, a deal, an
-- order or a custom object's record by its external id, else creates it,
-- through the row path as the caller, with the mapping reversed; its events
-- carry the integration as the actor and are not sent back to it.
CREATE DATABASE crm_test_integrations_inbound;
\c crm_test_integrations_inbound
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_inbound_app;
SELECT crm.grant_access('crm_inbound_app');

-- hubspot maps companies and deals; the webhook takes every event
INSERT INTO crm.integrations (key, kind, field_mappings) VALUES ('hubspot', 'hubspot',
	'{"company": {"DOMAIN": "domain", "NAME": "name", "SIZE": "employees", "TIER": "properties.tier"},
	  "deal": {"DEALNAME": "title", "AMOUNT": "value", "PRIO": "priority", "ORIGIN": {"transform": "constant", "value": "crm"}}}');
INSERT INTO crm.integrations (key, kind, config) VALUES ('hook', 'webhook', '{"url": "https://example.com/hook"}');
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.com');
INSERT INTO crm.contacts (name, email) VALUES ('Ann', 'ann@example.com');
-- the webhook and hubspot have what exists now
SELECT count(*) > 0 AS hubspot_claimed FROM crm.claim_deliveries('hubspot');
SELECT count(*) > 0 AS hook_claimed FROM crm.claim_deliveries('hook');
SELECT count(*) AS acked FROM crm.integration_deliveries d, crm.ack_delivery(d.id) a WHERE d.status = 'leased';

-- companies: the domain rules find Acme (any spelling of its domain);
-- an unknown domain is a new company named after it; the external id
-- finds it again without a domain
SELECT crm.apply_external_change('hubspot', 'company', 'hs-c1',
	'{"DOMAIN": "https://www.ACME.com/about", "SIZE": 50, "TIER": "gold"}') AS acme \gset
SELECT :acme = (SELECT id FROM crm.companies WHERE domain = 'acme.com') AS found_by_domain;
SELECT crm.apply_external_change('hubspot', 'company', 'hs-c2', '{"DOMAIN": "Globex.com"}') AS globex \gset
SELECT crm.apply_external_change('hubspot', 'company', 'hs-c1', '{"NAME": "Acme Inc", "TIER": null}') = :acme AS same_company;
SELECT id = :acme AS acme, name, domain, employees, properties FROM crm.companies ORDER BY id;
SELECT object_type, system, external_id, object_id = :acme AS acme FROM crm.external_ids ORDER BY external_id;

-- deals: created through the row path (the default pipeline's first stage),
-- found again by the external id; a change that changes nothing writes
-- nothing; a constant is the CRM's to send, not to receive
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d1',
	'{"DEALNAME": "Big deal", "AMOUNT": 1200, "PRIO": "high", "ORIGIN": "ignored"}') AS deal \gset
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d1', '{"AMOUNT": 1500}') = :deal AS same_deal;
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d1', '{"AMOUNT": 1500, "PRIO": "high"}') = :deal AS same_deal;
SELECT count(*) AS no_new_event FROM crm.events WHERE id > :last_event;
SELECT title, value, priority, status, stage_id IS NOT NULL AS staged FROM crm.deals WHERE id = :deal;
-- a deal deleted here and changed there again is created again
DELETE FROM crm.deals WHERE id = :deal;
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d1', '{"DEALNAME": "Big deal again"}') AS deal2 \gset
SELECT :deal2 <> :deal AS new_deal, title FROM crm.deals WHERE id = :deal2;
SELECT object_id = :deal2 AS repointed FROM crm.external_ids WHERE system = 'hubspot' AND external_id = 'hs-d1';

-- orders, unmapped: the integration's fields are the table's columns
SELECT crm.apply_external_change('hook', 'order', 'o-1',
	'{"contact_id": 1, "value": 99.5, "currency": "EUR", "properties.sku": "A-1"}') AS ord \gset
SELECT crm.apply_external_change('hook', 'order', 'o-1', '{"status": "paid"}') = :ord AS same_order;
SELECT contact_id, value, currency, status, paid_date IS NOT NULL AS paid, properties FROM crm.orders WHERE id = :ord;

-- custom object records: the object is the type's key, the fields its properties
SELECT crm.create_object_type('course', 'Courses', 'book', 'title') > 0 AS course_type;
SELECT crm.apply_external_change('hook', 'course', 'lms-7', '{"title": "Algebra I", "level": 1}') AS course \gset
SELECT crm.apply_external_change('hook', 'course', 'lms-7', '{"properties.level": 2}') = :course AS same_record;
SELECT type_key, display_name, properties, external_id FROM crm.object_records WHERE id = :course;
SELECT object_type, object_id = :course AS course FROM crm.external_ids WHERE system = 'hook' AND external_id = 'lms-7';

-- no echo: hubspot gets nothing of its own changes (mapped deals and
-- companies are only remembered as held); the webhook gets them all, with
-- hubspot as the actor, and hubspot gets the webhook's
SELECT object_type, action, event_type FROM crm.claim_deliveries('hubspot', 100) ORDER BY id;
SELECT object_type, event_type, payload ->> 'actor' AS actor FROM crm.claim_deliveries('hook', 100) ORDER BY id;
SELECT current_setting('crm.actor') = '' AS actor_restored;

-- bad inbound changes
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d9', '{"STAGE": "won"}');
SELECT crm.apply_external_change('hook', 'deal', 'x-1', '{"stage": "won"}');
SELECT crm.apply_external_change('hook', 'deal', 'x-1', '{"workspace_id": 2}');
SELECT crm.apply_external_change('hook', 'deal', 'x-1', '{"id": 5}');
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d9', '{"DEALNAME": "X", "PRIO": "critical"}');
SELECT crm.apply_external_change('hook', 'deal', 'x-1', '{"title": "X", "value": "lots"}');
SELECT crm.apply_external_change('hook', 'widget', 'w-1', '{}');
SELECT crm.apply_external_change('hook', 'conversation', 'cv-1', '{}');
SELECT crm.apply_external_change('hook', NULL, 'x-1', '{}');
SELECT crm.apply_external_change('hook', 'order', 'o-2', '{"value": 1}');
SELECT crm.apply_external_change('hook', 'company', '', '{"domain": "x.com"}');
SELECT crm.apply_external_change('hook', 'company', 'c-1', '[]');
-- none of them wrote anything
SELECT (SELECT count(*) FROM crm.deals) AS deals, (SELECT count(*) FROM crm.orders) AS orders,
	   (SELECT count(*) FROM crm.external_ids) AS external_ids;

-- the row path of a frontend: an agent (contacts, crm_manage) applies
-- companies, deals and orders but not custom records; a viewer nothing
SELECT (crm.add_member('ann', 'admin')).role, (crm.add_member('ben', 'agent')).role,
	   (crm.add_member('vic', 'viewer')).role;
SET ROLE crm_inbound_app;
SET request.jwt.claims = '{"sub": "ben"}';
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d2', '{"DEALNAME": "Ben''s deal", "AMOUNT": 10}') > 0 AS ben_deal;
SELECT crm.apply_external_change('hubspot', 'company', 'hs-c3', '{"DOMAIN": "initech.com", "NAME": "Initech"}') > 0 AS ben_company;
SELECT crm.apply_external_change('hook', 'course', 'lms-8', '{"title": "Geometry"}');
SET request.jwt.claims = '{"sub": "vic"}';
SELECT crm.apply_external_change('hubspot', 'deal', 'hs-d2', '{"AMOUNT": 20}');
SET request.jwt.claims = '{"sub": "ann"}';
SELECT crm.apply_external_change('hook', 'course', 'lms-8', '{"title": "Geometry"}') > 0 AS ann_course;
RESET request.jwt.claims;
RESET ROLE;
SELECT title, value FROM crm.deals ORDER BY id;
SELECT name, domain FROM crm.companies ORDER BY id;
SELECT display_name FROM crm.object_records ORDER BY id;
SELECT e.type, e.actor FROM crm.events e WHERE e.id > :last_event AND e.actor LIKE 'integration:%' ORDER BY e.id;

\c contrib_regression
DROP DATABASE crm_test_integrations_inbound;
DROP ROLE crm_inbound_app;
