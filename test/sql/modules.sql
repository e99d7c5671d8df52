-- Modules: a workspace switches companies, deals, orders or custom objects
-- off; their tables, views, functions and CQL relations then refuse with
-- 0A000, the data stays, other modules and workspaces are untouched, and
-- writes elsewhere that derive rows in the module (a merge moving deals)
-- still work.
CREATE DATABASE crm_test_modules;
\c crm_test_modules
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_modules_app;
SELECT crm.grant_access('crm_modules_app');
SELECT crm.create_workspace('modules', 'Modules') AS ws \gset
SELECT crm.create_workspace('modules-other', 'Other') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Ada again', 'ada2@example.com');
INSERT INTO crm.companies (name, domain) VALUES ('Engines', 'engines.example');
INSERT INTO crm.deals (title, value, contact_id) SELECT 'Engine', 100, id FROM crm.contacts WHERE name = 'Ada again';
RESET crm.workspace_id;

SET ROLE crm_modules_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT * FROM crm.modules();
-- deals off: the tables, the views, the functions and CQL over deals refuse
SELECT module, enabled FROM crm.set_module('deals', false);
SELECT count(*) FROM crm.deals;
SELECT count(*) FROM crm.kanban;
SELECT count(*) FROM crm.pipeline_summary;
INSERT INTO crm.deals (title, value) VALUES ('New', 1);
SELECT crm.create_pipeline('Other');
SELECT count(*) FROM crm.find_deals('value > 10');
-- other modules, and contacts, work
SELECT count(*) AS contacts FROM crm.contacts;
SELECT count(*) AS companies FROM crm.find_companies('domain = ''engines.example''');
-- a merge moves the loser's deals to the survivor: rows the extension derives
SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE name = 'Ada'),
						  (SELECT id FROM crm.contacts WHERE name = 'Ada again')) IS NOT NULL AS merged;
-- companies off too: CQL relations into them refuse
SELECT module, enabled FROM crm.set_module('companies', false);
SELECT count(*) FROM crm.find_contacts('company.domain = ''engines.example''');
SELECT count(*) FROM crm.companies;
SELECT * FROM crm.modules();
-- another workspace keeps its modules
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :other), false) IS NOT NULL AS other_token;
SELECT count(*) AS deals_elsewhere FROM crm.deals;
-- bad calls
SELECT set_config('request.jwt.claims', format('{"sub": "ana", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT crm.set_module('invoices', false);
INSERT INTO crm.workspace_modules (module, enabled) VALUES (NULL, false);
-- on again: the data was kept
SELECT module, enabled FROM crm.set_module('deals', true);
UPDATE crm.workspace_modules SET enabled = true WHERE module = 'companies' RETURNING module, enabled;
SELECT d.title, c.name AS contact FROM crm.deals d JOIN crm.contacts c ON c.id = d.contact_id;
-- a member needs admin to switch modules
SELECT (crm.add_member('ana', 'admin')).role;
SELECT (crm.add_member('bob', 'manager')).role;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
SELECT crm.set_module('orders', false);
RESET request.jwt.claims;
RESET ROLE;

-- the owner (no row-level security) is not held to modules
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
DELETE FROM crm.members;
SELECT (crm.set_module('deals', false)).enabled;
SELECT count(*) AS deals_owner_sees FROM crm.deals;

\c contrib_regression
DROP DATABASE crm_test_modules;
DROP ROLE crm_modules_app;
