-- Access levels of crm.grant_access: frontend (a JWT role of PostgREST or
-- PostGraphile), service (a trusted backend) and read_only; what each may
-- write, and the verified badge that only a service role gives.
CREATE DATABASE crm_test_access;
\c crm_test_access
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_access_front;
CREATE ROLE crm_access_service;
CREATE ROLE crm_access_reader;
SELECT crm.grant_access('crm_access_front');
SELECT crm.grant_access('crm_access_service', access => 'service');
SELECT crm.grant_access('crm_access_reader', access => 'read_only');

-- bad calls: an unknown role or level, and a contradiction
SELECT crm.grant_access('crm_nobody');
SELECT crm.grant_access('crm_access_front', access => 'admin');
SELECT crm.grant_access('crm_access_front', read_only => true, access => 'service');

-- what each level may write: the outbox, stage history and search
-- dictionary are the extension's, whatever the level
SELECT r.rolname, t.tbl,
	   has_table_privilege(r.rolname, t.tbl, 'SELECT') AS sel,
	   has_table_privilege(r.rolname, t.tbl, 'INSERT') AS ins,
	   has_table_privilege(r.rolname, t.tbl, 'UPDATE') AS upd,
	   has_table_privilege(r.rolname, t.tbl, 'DELETE') AS del
  FROM pg_roles r
 CROSS JOIN unnest(ARRAY['crm.contacts', 'crm.deals', 'crm.events', 'crm.deal_stage_history', 'crm.search_words',
						 'crm.workspaces', 'crm.contact_references']) t(tbl)
 WHERE r.rolname LIKE 'crm_access_%'
 ORDER BY 1, 2;
-- nothing of crm_internal is theirs to use
SELECT r.rolname, has_schema_privilege(r.rolname, 'crm_internal', 'USAGE') AS internal_usage
  FROM pg_roles r WHERE r.rolname LIKE 'crm_access_%' ORDER BY 1;
SELECT count(*) AS trigger_functions_in_crm FROM pg_proc
 WHERE pronamespace = 'crm'::regnamespace AND prorettype = 'trigger'::regtype;

-- the I/O functions of crm.cql are internal, and work for every role all the same
SET ROLE crm_access_front;
SELECT 'tags CONTAINS ''vip'''::crm.cql AS filter;
SELECT 'tags CONTAINS'::crm.cql;
RESET ROLE;

-- the verified badge: a frontend records what a user says ...
SET ROLE crm_access_front;
INSERT INTO crm.contacts (name, email, identity_source) VALUES ('Ada', 'ada@example.com', 'self_reported')
RETURNING id AS ada, identity_source \gset
SELECT :'identity_source' AS identity_source;
SELECT crm.identify(email => 'grace@example.com', name => 'Grace') AS grace \gset
-- ... but cannot give the badge, by row or by function
INSERT INTO crm.contacts (name, verified_id) VALUES ('Forged', 'sub-1');
UPDATE crm.contacts SET identity_source = 'verified' WHERE id = :ada;
UPDATE crm.contacts SET verified_id = 'sub-1' WHERE id = :ada;
SELECT crm.identify(email => 'ada@example.com', verified_id => 'sub-1');
RESET ROLE;
-- a service role can
SET ROLE crm_access_service;
SELECT crm.identify(email => 'ada@example.com', verified_id => 'sub-1') = :ada AS same_contact;
UPDATE crm.contacts SET identity_source = 'verified', verified_id = 'sub-2' WHERE id = :grace
RETURNING identity_source, verified_id;
RESET ROLE;
-- and the frontend can neither take it away nor change it
SET ROLE crm_access_front;
UPDATE crm.contacts SET identity_source = 'self_reported' WHERE id = :ada;
UPDATE crm.contacts SET verified_id = NULL WHERE id = :ada;
-- other columns of a verified contact stay writable, and so does the
-- badge's own value sent back unchanged (a PATCH of the whole record)
UPDATE crm.contacts SET city = 'London' WHERE id = :ada RETURNING city, identity_source, verified_id;
UPDATE crm.contacts SET verified_id = 'sub-' || '1', identity_source = 'verified' WHERE id = :ada RETURNING verified_id;
-- a merge moves the badge with the person: a frontend may merge
INSERT INTO crm.contacts (name, phone) VALUES ('Ada on the phone', '+44 20 7946 0958') RETURNING id AS ada_phone \gset
SELECT crm.merge_contacts(:ada_phone, :ada) = :ada_phone AS merged;
SELECT identity_source, verified_id, email FROM crm.contacts WHERE id = :ada_phone;
RESET ROLE;
SELECT id = :ada_phone AS survivor, identity_source, verified_id FROM crm.contacts WHERE verified_id IS NOT NULL ORDER BY id;

-- events: the extension writes them; a frontend may not emit its own, a
-- service role may
SET ROLE crm_access_front;
SELECT crm.emit_event('CRM_DEAL_WON', 'deal', 1);
SET ROLE crm_access_service;
SELECT crm.emit_event('CRM_APP_SIGNED_UP', 'contact', :grace, '{"plan": "pro"}');
RESET ROLE;
SELECT type, payload, actor FROM crm.events WHERE type = 'CRM_APP_SIGNED_UP';

-- advisory locks are outside row-level security: a frontend cannot lock
-- another workspace's identity keys
SET ROLE crm_access_front;
SELECT crm_hidden.lock_identity_keys(2, ARRAY['e:ada@example.com']);
SELECT crm_hidden.lock_identity_keys(1, ARRAY['e:ada@example.com']);
RESET ROLE;

-- read_only: reads, writes nothing, not even through a function
SET ROLE crm_access_reader;
SELECT count(*) AS contacts FROM crm.contacts;
INSERT INTO crm.contacts (name) VALUES ('Nope');
SELECT crm.delete_contact(:grace);
SELECT crm.emit_event('CRM_DEAL_WON', 'deal', 1);
RESET ROLE;

-- a level is replaced by the next grant: the service role made a frontend
SELECT crm.grant_access('crm_access_service', access => 'frontend');
SET ROLE crm_access_service;
UPDATE crm.contacts SET verified_id = 'sub-3' WHERE id = :grace;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_access;
DROP ROLE crm_access_front, crm_access_service, crm_access_reader;
