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
-- nothing of crm_internal is theirs to use; crm_hidden, the helpers the API's
-- functions call with the caller's rights, is usable at every level
SELECT r.rolname, has_schema_privilege(r.rolname, 'crm_internal', 'USAGE') AS internal_usage,
	   has_schema_privilege(r.rolname, 'crm_hidden', 'USAGE') AS hidden_usage,
	   (SELECT bool_and(has_function_privilege(r.rolname, p.oid, 'EXECUTE')) FROM pg_proc p
		 WHERE p.pronamespace = 'crm_hidden'::regnamespace) AS hidden_execute
  FROM pg_roles r WHERE r.rolname LIKE 'crm_access_%' ORDER BY 1;
-- schema crm holds the API only: the helpers live in crm_hidden and crm_internal
SELECT n.nspname, count(*) AS functions FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('crm', 'crm_hidden')
   AND (p.proname IN ('bulk_where', 'cql_where', 'cql_order_by', 'lock_deal', 'require_contact', 'search_words_of',
					  'sync_conversation_counters') OR n.nspname = 'crm_hidden')
 GROUP BY 1 ORDER BY 1;
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

-- the API's functions call the helpers of crm_hidden as the caller: a
-- frontend runs them (tags through crm_hidden.bulk_tag_apply, a count
-- through crm_hidden.cql_where, a datetime filter through
-- crm_hidden.cql_timestamptz, a won deal through crm_hidden.close_deal, a
-- fuzzy search through crm_hidden.search_words_of, a new conversation's
-- counters through crm_hidden.sync_conversation_counters) ...
SET ROLE crm_access_front;
SELECT crm.bulk_tag_by_id('contact', ARRAY[:grace]::bigint[], ARRAY['Beta']) AS tagged;
SELECT crm.count('contact', 'tags CONTAINS ''beta''') AS beta_contacts;
SELECT name FROM crm.find_contacts('tags CONTAINS ''beta''');
-- a datetime property's CQL translates to crm_hidden.cql_timestamptz, run as the caller
SELECT crm.define_property('contact', 'last_login', 'datetime') > 0 AS defined;
UPDATE crm.contacts SET properties = '{"last_login": "2026-03-01T09:00:00Z"}' WHERE id = :grace;
SELECT name FROM crm.find_contacts('lastLogin > 2026-01-01T00:00:00Z');
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipeline \gset
INSERT INTO crm.deals (pipeline_id, title) VALUES (:pipeline, 'Engine') RETURNING id AS deal \gset
SELECT status, closed_at IS NOT NULL AS closed, won_reason FROM crm.win_deal(:deal, reason => 'signed');
SELECT type FROM crm.events WHERE object_type = 'deal' AND object_id = :deal ORDER BY id;
SELECT object_type, label FROM crm.search('grce', 'fuzzy');
INSERT INTO crm.conversations (contact_id, channel) VALUES (:grace, 'chat');
SELECT conversation_count FROM crm.contacts WHERE id = :grace;
-- ... and may call one directly, which grants nothing a row write does not:
-- ids are looked up in the current workspace, and writes go through the
-- rows as the caller (a list row value made up to say "static" is not
-- believed: the list as stored is dynamic)
SELECT crm_hidden.require_contact(:grace + 1000);
SELECT crm_hidden.like_escape('50%_off');
SELECT id AS dynamic_list FROM crm.create_list('Betas', 'contact', 'dynamic', 'tags CONTAINS ''beta''') \gset
SELECT crm_hidden.list_add(jsonb_populate_record(NULL::crm.lists,
		   jsonb_build_object('id', :dynamic_list, 'name', 'Betas', 'kind', 'static', 'object_type', 'contact')),
		   ARRAY[:ada_phone]::bigint[], 'manual');
SELECT count(*) AS members FROM crm.list_members WHERE list_id = :dynamic_list;
-- ... but nothing of crm_internal, not even a pure helper
SELECT crm_internal.cql_order_by('contact', 'name');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT crm_internal.require_caller_privilege('crm.contacts', 'UPDATE');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;

-- read_only: reads, writes nothing, not even through a function
SET ROLE crm_access_reader;
SELECT count(*) AS contacts FROM crm.contacts;
INSERT INTO crm.contacts (name) VALUES ('Nope');
SELECT crm.delete_contact(:grace);
SELECT crm.emit_event('CRM_DEAL_WON', 'deal', 1);
-- it reads through a hidden helper, and a write through one is refused by the table
SELECT crm.count('contact', 'tags CONTAINS ''beta''') AS beta_contacts;
SELECT crm.bulk_tag_by_id('contact', ARRAY[:grace]::bigint[], ARRAY['gamma']);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT crm.win_deal(:deal);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT crm_hidden.sync_conversation_counters(ARRAY[crm.current_workspace()], ARRAY[:grace]::bigint[]);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
-- nothing written: the tags as the frontend left them
SELECT tags FROM crm.contacts WHERE id = :grace;

-- a level is replaced by the next grant: the service role made a frontend
SELECT crm.grant_access('crm_access_service', access => 'frontend');
SET ROLE crm_access_service;
UPDATE crm.contacts SET verified_id = 'sub-3' WHERE id = :grace;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_access;
DROP ROLE crm_access_front, crm_access_service, crm_access_reader;
