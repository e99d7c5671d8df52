-- Plan limits: a workspace's limits are rows of crm.workspace_limits,
-- written with crm.set_limit or as rows (an admin's); counts hold at
-- commit for every writer, switches turn the export, bulk and import
-- functions off.  Without limits nothing is counted.
CREATE DATABASE crm_test_limits;
\c crm_test_limits
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_limits_app;
CREATE ROLE crm_limits_service;
SELECT crm.grant_access('crm_limits_app');
SELECT crm.grant_access('crm_limits_service', access => 'service');
SELECT crm.create_workspace('acme', 'Acme') AS ws \gset
SELECT crm.create_workspace('other', 'Other') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;

-- no limits: nothing to count
SELECT count(*) AS limits FROM crm.workspace_limits;
INSERT INTO crm.contacts (name) SELECT 'c' || i FROM generate_series(1, 3) i;

-- max_contacts counts live contacts at commit: the 4th of 4 passes, the 5th not
SELECT name, value FROM crm.set_limit('max_contacts', 4);
INSERT INTO crm.contacts (name) VALUES ('c4') RETURNING name;
INSERT INTO crm.contacts (name) VALUES ('c5');
SELECT crm.identify(email => 'grace@example.com');
SELECT * FROM crm.import_contacts('[{"email": "ivy@example.com"}]');
SELECT count(*) AS contacts FROM crm.contacts;
-- a deleted or merged contact does not count
SELECT crm.delete_contact(id) > 0 AS deleted FROM crm.contacts WHERE name = 'c1';
INSERT INTO crm.contacts (name) VALUES ('c6') RETURNING name;
SELECT crm.merge_contacts(s.id, d.id) > 0 AS merged
  FROM crm.contacts s, crm.contacts d WHERE s.name = 'c2' AND d.name = 'c3';
SELECT crm.identify(email => 'grace@example.com') > 0 AS identified;
-- one restored from deleted counts again
UPDATE crm.contacts SET status = 'active', deleted_at = NULL WHERE name = 'c1';
SELECT count(*) FILTER (WHERE status < 'merged') AS live, count(*) AS stored FROM crm.contacts;
-- checked at commit: a transaction may pass the limit on its way
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('temporary');
DELETE FROM crm.contacts WHERE name = 'temporary';
COMMIT;
-- or now, with SET CONSTRAINTS
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('c7');
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK;
-- or now with crm.check_limits() (the same on Citus, where SET CONSTRAINTS
-- reaches no worker): passed on the way is fine, and the check at commit
-- is still made
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('temporary');
DELETE FROM crm.contacts WHERE name = 'temporary';
SELECT crm.check_limits();
INSERT INTO crm.contacts (name) VALUES ('c7');
SELECT crm.check_limits();
ROLLBACK;
BEGIN;
SELECT crm.check_limits();
INSERT INTO crm.contacts (name) VALUES ('c7');
COMMIT;
-- a workspace without limits queued nothing to check
SELECT set_config('crm.workspace_id', :'other', false) IS NOT NULL AS in_other;
BEGIN;
INSERT INTO crm.contacts (name) SELECT 'o' || i FROM generate_series(1, 3) i;
SELECT crm.check_limits();
ROLLBACK;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;
-- a lower limit than the count keeps the rows and refuses new ones
SELECT name, value FROM crm.set_limit('max_contacts', 2);
UPDATE crm.contacts SET city = 'Paris' WHERE name = 'c4' RETURNING name, city;
INSERT INTO crm.contacts (name) VALUES ('c8');
-- NULL is no limit, and so is no row
SELECT name, value FROM crm.set_limit('max_contacts', NULL);
INSERT INTO crm.contacts (name) VALUES ('c8') RETURNING name;
SELECT name, value FROM crm.set_limit('max_contacts', 0);
DELETE FROM crm.workspace_limits WHERE name = 'max_contacts';
INSERT INTO crm.contacts (name) VALUES ('c9') RETURNING name;

-- max_pipelines, max_stages_per_pipeline (per pipeline)
SELECT name, value FROM crm.set_limit('max_pipelines', 1);
SELECT name, value FROM crm.set_limit('max_stages_per_pipeline', 3);
SELECT crm.create_pipeline('Sales') AS sales \gset
SELECT crm.create_pipeline('Support');
SELECT crm.add_stage(:sales, 'Lead') > 0 AS lead, crm.add_stage(:sales, 'Demo') > 0 AS demo,
       crm.add_stage(:sales, 'Won', kind => 'won') > 0 AS won;
SELECT crm.add_stage(:sales, 'Lost', kind => 'lost');
INSERT INTO crm.stages (pipeline_id, name) VALUES (:sales, 'Lost');
SELECT name, value FROM crm.set_limit('max_pipelines', 2);
-- a template's stages count too: the pipeline and its stages are refused
SELECT crm.create_pipeline('Onboarding', 'onboarding');
SELECT crm.create_pipeline('Support') > 0 AS support;
SELECT p.name, count(s.id) AS stages FROM crm.pipelines p LEFT JOIN crm.stages s ON s.pipeline_id = p.id
 GROUP BY p.name ORDER BY p.name;

-- max_custom_properties (every object type), max_object_types
SELECT name, value FROM crm.set_limit('max_custom_properties', 1);
SELECT crm.define_property('contact', 'tier', 'text') > 0 AS tier;
SELECT crm.define_property('company', 'size', 'number');
INSERT INTO crm.property_definitions (object_type, key, label, type) VALUES ('deal', 'source', 'Source', 'text');
SELECT name, value FROM crm.set_limit('max_object_types', 0);
SELECT crm.create_object_type('ticket', 'Ticket');

-- max_segments_per_user: dynamic lists with an owner, per owner
SELECT name, value FROM crm.set_limit('max_segments_per_user', 1);
SELECT (crm.create_list('Bob''s VIPs', kind => 'dynamic', filter => 'name = ''c4''', owner => 'bob')).name;
SELECT (crm.create_list('Bob''s leads', kind => 'dynamic', filter => 'name = ''c6''', owner => 'bob')).name;
-- static lists, lists without owner and other owners' segments do not count
SELECT (crm.create_list('Bob''s static', owner => 'bob')).kind;
SELECT (crm.create_list('Shared', kind => 'dynamic', filter => 'name = ''c6''')).owner IS NULL AS no_owner;
SELECT (crm.create_list('Ann''s leads', kind => 'dynamic', filter => 'name = ''c6''', owner => 'ann')).owner;
-- giving bob another segment counts as making one
SELECT crm.update_list(id, owner => 'bob') FROM crm.lists WHERE name = 'Ann''s leads';
UPDATE crm.lists SET owner = 'bob' WHERE name = 'Shared';
SELECT owner, count(*) AS segments FROM crm.lists WHERE kind = 'dynamic' GROUP BY owner ORDER BY owner;

-- switches: 0 turns the functions off, 1 or NULL on
SELECT name, value FROM crm.set_limit('export', 0);
SELECT name, value FROM crm.set_limit('bulk', 0);
SELECT name, value FROM crm.set_limit('import', 0);
SELECT crm.export_contacts();
SELECT crm.export_contact(id) FROM crm.contacts WHERE name = 'c4';
SELECT crm.bulk_tag('contact', 'name = ''c4''', ARRAY['vip']);
SELECT crm.bulk_delete_by_id('contact', ARRAY[1]);
SELECT crm.bulk_add_to_list(id, 'name = ''c4''') FROM crm.lists WHERE name = 'Bob''s static';
SELECT * FROM crm.import_contacts('[{"email": "ivy@example.com"}]');
-- the rows stay writable: the switches gate the conveniences
UPDATE crm.contacts SET tags = tags || '{vip}' WHERE name = 'c4' RETURNING tags;
SELECT name, value FROM crm.set_limit('export', 1);
SELECT name, value FROM crm.set_limit('bulk', NULL);
SELECT count(*) AS exported FROM crm.export_contacts();
SELECT crm.bulk_tag('contact', 'name = ''c6''', ARRAY['vip']);

-- bad names and values: 22023, through the function and as rows
SELECT crm.set_limit('max_deals', 10);
SELECT crm.set_limit(NULL, 10);
SELECT crm.set_limit('max_contacts', -1);
SELECT crm.set_limit('export', 2);
INSERT INTO crm.workspace_limits (name, value) VALUES ('Max_Contacts', 10);
UPDATE crm.workspace_limits SET value = -5 WHERE name = 'max_pipelines';
SELECT name, value FROM crm.workspace_limits ORDER BY name;

-- each workspace has its own limits
SELECT set_config('crm.workspace_id', :'other', false) IS NOT NULL AS in_other;
SELECT count(*) AS limits_of_other FROM crm.workspace_limits WHERE workspace_id = crm.current_workspace();
SELECT crm.create_pipeline('One') > 0 AS one, crm.create_pipeline('Two') > 0 AS two, crm.create_pipeline('Three') > 0 AS three;
SELECT count(*) AS exported FROM crm.export_contacts();
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;

-- a frontend's members: an admin writes limits by function or row, an agent
-- neither; the limits hold for everyone's writes
SELECT (crm.add_member('alice', 'admin')).role, (crm.add_member('bob', 'agent')).role;
RESET crm.workspace_id;
SET ROLE crm_limits_app;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
SELECT crm.set_limit('max_contacts', 1000);
INSERT INTO crm.workspace_limits (name, value) VALUES ('max_contacts', 1000);
UPDATE crm.workspace_limits SET value = 10 WHERE name = 'max_pipelines';
DELETE FROM crm.workspace_limits WHERE name = 'max_pipelines';
SELECT name, value FROM crm.workspace_limits ORDER BY name;
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
SELECT count(*) FILTER (WHERE status < 'merged') AS live FROM crm.contacts;
SELECT name, value FROM crm.set_limit('max_contacts', 7);
-- PostgREST's upsert: POST /workspace_limits?on_conflict=workspace_id,name
INSERT INTO crm.workspace_limits (name, value) VALUES ('max_object_types', 5)
ON CONFLICT (workspace_id, name) DO UPDATE SET value = excluded.value RETURNING name, value;
UPDATE crm.workspace_limits SET value = 1 WHERE name = 'max_object_types' RETURNING name, value;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
INSERT INTO crm.contacts (name) VALUES ('by bob') RETURNING name;
INSERT INTO crm.contacts (name) VALUES ('by bob again');
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('by bob, checked now');
SELECT crm.check_limits();
ROLLBACK;
SELECT crm.identify(email => 'bob.customer@example.com');
SELECT * FROM crm.import_contacts('[{"email": "ivy@example.com"}]');
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
DELETE FROM crm.workspace_limits WHERE name = 'max_contacts' RETURNING name;
RESET request.jwt.claims;
RESET ROLE;
-- a service role acts as the system, and is held to the plan all the same
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_acme;
SET ROLE crm_limits_service;
SELECT crm.create_object_type('ticket', 'Ticket') > 0 AS ticket;
SELECT crm.create_object_type('asset', 'Asset');
RESET ROLE;

-- max_contacts is kept, not counted at every commit (crm_internal.limit_counts):
-- set on a workspace that already has contacts it starts from their count,
-- and every path keeps it equal to the live contacts
SELECT crm.create_workspace('kept', 'Kept') AS kept \gset
SELECT set_config('crm.workspace_id', :'kept', false) IS NOT NULL AS in_kept;
\set kept_vs_live 'SELECT (SELECT k.count FROM crm_internal.limit_counts k WHERE k.workspace_id = crm.current_workspace() AND k.name = \'max_contacts\') AS kept, (SELECT count(*) FROM crm.contacts c WHERE c.workspace_id = crm.current_workspace() AND c.status < \'merged\') AS live'
INSERT INTO crm.contacts (name, email, phone)
SELECT 'k' || i, 'k' || i || '@example.com', '+3361234560' || i FROM generate_series(1, 5) i;
:kept_vs_live;
SELECT name, value FROM crm.set_limit('max_contacts', 8);
:kept_vs_live;
-- identify, an import: 8 of 8
SELECT crm.identify(email => 'new@example.com') > 0 AS identified;
SELECT count(*) AS imported FROM crm.import_contacts('[{"email": "i1@example.com"}, {"email": "i2@example.com"}]');
:kept_vs_live;
INSERT INTO crm.contacts (name) VALUES ('ninth');
:kept_vs_live;
-- a merge takes one out, its unmerge brings it back: refused past the limit
SELECT crm.merge_contacts(a.id, b.id) > 0 AS merged FROM crm.contacts a, crm.contacts b WHERE a.name = 'k1' AND b.name = 'k2';
:kept_vs_live;
INSERT INTO crm.contacts (name) VALUES ('eighth again') RETURNING name;
SELECT crm.unmerge(max(id)) IS NOT NULL AS unmerged FROM crm.merges WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE name = 'eighth again';
SELECT crm.unmerge(max(id)) IS NOT NULL AS unmerged FROM crm.merges WHERE workspace_id = crm.current_workspace();
:kept_vs_live;
-- deleted (soft), erased (hard), restored, a row deleted
SELECT crm.delete_contact(id) > 0 AS deleted FROM crm.contacts WHERE name = 'k3';
SELECT crm.delete_contact(id, hard => true) > 0 AS erased FROM crm.contacts WHERE name = 'k4';
:kept_vs_live;
UPDATE crm.contacts SET status = 'active', deleted_at = NULL WHERE name = 'k3' RETURNING name, status;
DELETE FROM crm.contacts WHERE name = 'k5';
:kept_vs_live;
-- a savepoint rolled back takes its rows' change with it, even once checked
BEGIN;
SAVEPOINT a;
INSERT INTO crm.contacts (name) VALUES ('rolled back');
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK TO a;
INSERT INTO crm.contacts (name) VALUES ('kept 1');
SAVEPOINT b;
INSERT INTO crm.contacts (name) VALUES ('kept 2');
RELEASE b;
COMMIT;
:kept_vs_live;
INSERT INTO crm.contacts (name) VALUES ('ninth');
-- a frontend's member writing rows is counted the same
SELECT (crm.add_member('alice', 'admin')).role, (crm.add_member('bob', 'agent')).role;
RESET crm.workspace_id;
SET ROLE crm_limits_app;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :kept), false) IS NOT NULL AS as_bob;
DELETE FROM crm.contacts WHERE name = 'kept 2';
INSERT INTO crm.contacts (name) VALUES ('by bob') RETURNING name;
INSERT INTO crm.contacts (name) VALUES ('by bob again');
UPDATE crm.contacts SET status = 'deleted' WHERE name = 'by bob' RETURNING status;
UPDATE crm.contacts SET status = 'active' WHERE name = 'by bob' RETURNING status;
RESET request.jwt.claims;
RESET ROLE;
SELECT set_config('crm.workspace_id', :'kept', false) IS NOT NULL AS in_kept;
:kept_vs_live;
-- unset, the count goes; set again, it is counted again
SELECT name, value FROM crm.set_limit('max_contacts', NULL);
SELECT count(*) AS kept_counts FROM crm_internal.limit_counts WHERE workspace_id = crm.current_workspace();
INSERT INTO crm.contacts (name) SELECT 'u' || i FROM generate_series(1, 3) i;
SELECT name, value FROM crm.set_limit('max_contacts', 9);
:kept_vs_live;
-- raised, it is the same count
SELECT name, value FROM crm.set_limit('max_contacts', 20);
:kept_vs_live;
-- a TRUNCATE leaves no contact in any workspace
BEGIN;
SET client_min_messages = warning;
TRUNCATE crm.contacts CASCADE;
RESET client_min_messages;
:kept_vs_live;
ROLLBACK;

-- crm.check_limits() leaves the caller's mode: after SET CONSTRAINTS ...
-- IMMEDIATE the next row past the limit is refused at once, not at COMMIT
SELECT name, value FROM crm.set_limit('max_contacts', 11);
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
SELECT crm.check_limits();
INSERT INTO crm.contacts (name) VALUES ('at once');
ROLLBACK;
BEGIN;
SET CONSTRAINTS crm.limit_contacts IMMEDIATE;
SELECT crm.check_limits();
INSERT INTO crm.contacts (name) VALUES ('at once');
ROLLBACK;
-- and deferred stays deferred: refused at COMMIT
BEGIN;
SELECT crm.check_limits();
INSERT INTO crm.contacts (name) VALUES ('at commit') RETURNING name;
COMMIT;
:kept_vs_live;

\c contrib_regression
DROP DATABASE crm_test_limits;
DROP ROLE crm_limits_app, crm_limits_service;
