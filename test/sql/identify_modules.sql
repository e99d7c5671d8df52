-- Identity finished (issue 17.4): crm.identify(source => ...) records the
-- product module in active_modules, a merge unions them, CQL reads them;
-- identify updates the name by trust as a merge chooses; no key is 22023.
\set VERBOSITY default
SELECT crm.create_workspace('modules-id', 'Modules') AS ws \gset
SELECT crm.use_workspace('modules-id') IS NOT NULL AS switched;

-- a module and its last time: recorded, only moved forward
SELECT crm.identify(email => 'ana@example.com', name => 'Ana', source => 'support', seen_at => '2026-01-10 09:00+00') AS ana \gset
SELECT crm.identify(email => 'ana@example.com', source => 'Auth', seen_at => '2026-01-11 09:00+00') = :ana AS same;
SELECT crm.identify(email => 'ana@example.com', source => 'support', seen_at => '2026-01-05 09:00+00') = :ana AS same;
SET TimeZone = 'UTC';
SELECT active_modules FROM crm.contacts WHERE id = :ana;
SELECT crm.identify(email => 'ana@example.com', source => ' support ', seen_at => '2026-01-12 09:00+00') = :ana AS same;
SELECT active_modules ->> 'support' AS support FROM crm.contacts WHERE id = :ana;
-- bad sources and no key: 22023, nothing written
SELECT crm.identify(email => 'ana@example.com', source => 'live chat');
SELECT crm.identify(email => 'ana@example.com', source => '1st');
SELECT crm.identify(name => 'Nobody', source => 'support');
SELECT crm.identify(source => 'support');
SELECT count(*) FROM crm.contacts WHERE workspace_id = :ws;
-- a call that records nothing new writes nothing
SELECT updated_at AS before FROM crm.contacts WHERE id = :ana \gset
SELECT crm.identify(email => 'ana@example.com', source => 'auth', seen_at => '2026-01-11 08:00+00') = :ana AS same;
SELECT updated_at = :'before' AS unchanged FROM crm.contacts WHERE id = :ana;

-- the name, by trust: a source at least as trusted as the stored one
-- replaces it, a weaker one only fills a blank, an empty one never erases
SELECT crm.identify(email => 'ana@example.com', name => 'Ana Lima') = :ana AS same;
SELECT crm.identify(identifier => 'visitor-7', name => 'Website visitor') AS visitor \gset
SELECT crm.identify(identifier => 'visitor-7', email => 'ana@example.com') = :ana AS merged_into_ana;
SELECT crm.identify(email => 'ana@example.com', name => '   ') = :ana AS same;
SELECT name, identity_source FROM crm.contacts WHERE id = :ana;
SELECT crm.identify(verified_id => 'auth0|ana', email => 'ana@example.com', name => 'Ana Lima Costa') = :ana AS same;
SELECT crm.identify(email => 'ana@example.com', name => 'Anonymous Coward') = :ana AS same;
SELECT crm.identify(identifier => 'visitor-7', name => 'Visitor again') = :ana AS same;
SELECT name, identity_source FROM crm.contacts WHERE id = :ana;
SELECT crm.identify(verified_id => 'auth0|ana', name => 'Ana L. Costa') = :ana AS same;
SELECT name FROM crm.contacts WHERE id = :ana;

-- a merge unions the modules, each at the later time
SELECT crm.identify(phone => '+44 20 7946 0123', source => 'sms', seen_at => '2026-02-01 10:00+00') AS bea \gset
SELECT crm.identify(phone => '+44 20 7946 0123', source => 'support', seen_at => '2026-02-02 10:00+00') = :bea AS same;
SELECT crm.merge_contacts(:ana, :bea) = :ana AS survivor;
SELECT active_modules FROM crm.contacts WHERE id = :ana;
SELECT type, payload -> 'changes' -> 'active_modules' AS modules FROM crm.events
 WHERE object_id = :ana AND type = 'CRM_CONTACT_UPDATED' ORDER BY id DESC LIMIT 1;

-- CQL
SELECT crm.identify(email => 'cy@example.com', name => 'Cy', source => 'calendar') AS cy \gset
INSERT INTO crm.contacts (name) VALUES ('Dee');
SELECT name FROM crm.find_contacts('activeModules CONTAINS ''support''', 'name');
SELECT name FROM crm.find_contacts('activeModules CONTAINS ''SMS''', 'name');
SELECT name FROM crm.find_contacts('activeModules IN (''calendar'', ''sms'')', 'name');
SELECT name FROM crm.find_contacts('activeModules ALL (''auth'', ''sms'')', 'name');
SELECT name FROM crm.find_contacts('activeModules NOT CONTAINS ''support''', 'name');
SELECT name FROM crm.find_contacts('activeModules IS EMPTY', 'name');
SELECT name FROM crm.find_contacts('activeModules IS NOT EMPTY', 'name');
SELECT name FROM crm.find_contacts('active_modules = ''forms''', 'name');
SELECT name FROM crm.find_contacts('activeModules > ''a''');
SELECT name FROM crm.find_contacts('', 'activeModules');
SELECT crm.cql_to_sql('contact', 'activeModules CONTAINS ''support''');

-- a frontend's row writes: the same column, checked
CREATE ROLE crm_modules_app;
SELECT crm.grant_access('crm_modules_app');
SET ROLE crm_modules_app;
SELECT set_config('request.jwt.claims', json_build_object('workspace_id', :ws, 'sub', 'user-4')::text, false) IS NOT NULL AS claims;
UPDATE crm.contacts SET active_modules = active_modules || '{"forms": "2026-03-01T12:00:00Z"}' WHERE name = 'Dee'
RETURNING active_modules;
UPDATE crm.contacts SET active_modules = '{"Live Chat": "2026-03-01T12:00:00Z"}' WHERE name = 'Dee';
UPDATE crm.contacts SET active_modules = '{"forms": true}' WHERE name = 'Dee';
UPDATE crm.contacts SET active_modules = '{"forms": "yesterday-ish"}' WHERE name = 'Dee';
UPDATE crm.contacts SET active_modules = '["forms"]' WHERE name = 'Dee';
SELECT active_modules FROM crm.contacts WHERE name = 'Dee';
SELECT actor, payload -> 'changes' -> 'active_modules' AS modules FROM crm.events
 WHERE type = 'CRM_CONTACT_UPDATED' ORDER BY id DESC LIMIT 1;
SELECT crm.identify(email => 'eli@example.com', source => 'forms') IS NOT NULL AS identified;
SELECT name, active_modules ? 'forms' AS forms FROM crm.contacts WHERE email = 'eli@example.com';
RESET request.jwt.claims;
RESET ROLE;
DROP OWNED BY crm_modules_app;
DROP ROLE crm_modules_app;
RESET TimeZone;
SELECT crm.use_workspace('default') IS NOT NULL AS switched;

-- whether identify moves a module's time (crm_hidden.module_used_before):
-- the stored string read the same in every session, so that Citus may route
-- the UPDATE calling it (docs/scaling.md); without an offset it is UTC, a
-- word for a moving time ("now") or no time at all is as good as none
SET TimeZone = 'America/New_York';
SELECT m AS stored, crm_hidden.module_used_before(m, 'support', '2026-01-15 10:00+00') AS moves
  FROM (VALUES ('{"support": "2026-01-15T09:00:00+00:00"}'::jsonb), ('{"support": "2026-01-15T10:00:00Z"}'),
			   ('{"support": "2026-01-15T11:00:00+00:00"}'), ('{"support": "2026-01-15 09:30"}'),
			   ('{"support": "2026-01-15 10:30"}'), ('{"support": "2026-01-15T06:00:00-05:00"}'),
			   ('{"support": "now"}'), ('{"support": "infinity"}'), ('{"support": "-infinity"}'),
			   ('{"support": "nonsense"}'), ('{"support": 1}'), ('{"auth": "2026-01-15T11:00:00Z"}'), ('{}'), ('[]')) v (m);
SET TimeZone = 'Asia/Tokyo';
SELECT crm_hidden.module_used_before('{"support": "2026-01-15 09:30"}', 'support', '2026-01-15 10:00+00') AS moves_in_tokyo_too;
SELECT crm_hidden.module_used_before('{"support": "2026-01-15 09:30"}', NULL, '2026-01-15 10:00+00') AS no_module;
SELECT provolatile FROM pg_proc WHERE oid = 'crm_hidden.module_used_before'::regproc;
RESET TimeZone;
