-- Workspaces and the current workspace: crm.workspace_id, then PostgREST's
-- request.jwt.claims, then workspace 1 unless crm.require_workspace is on.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_workspaces;
\c crm_test_workspaces
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- workspace 1 exists after install and is the fallback
SELECT id, slug, name, default_currency, settings FROM crm.workspaces;
SELECT crm.current_workspace();

-- creating workspaces: the currency is normalised, the name trimmed
SELECT crm.create_workspace('acme', '  Acme GmbH ', 'eur');
SELECT crm.create_workspace('globex', 'Globex');
SELECT id, slug, name, default_currency FROM crm.workspaces ORDER BY id;

-- use_workspace sets crm.workspace_id for the session
SELECT crm.use_workspace('acme');
SHOW crm.workspace_id;
SELECT crm.current_workspace();
-- column defaults follow it
INSERT INTO crm.contacts (name) VALUES ('Ada in acme') RETURNING workspace_id, name;
-- (this session is a superuser, which bypasses row-level security: the
-- tenancy test shows what an application role sees)
SELECT crm.use_workspace('globex');
SELECT count(*) AS acme_contacts_seen_from_globex FROM crm.contacts WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;

-- the setting directly
SET crm.workspace_id = 2;
SELECT crm.current_workspace();
RESET crm.workspace_id;

-- PostgREST claims: workspace_id as a number or as a string
SET request.jwt.claims = '{"sub": "u1", "workspace_id": 2}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"sub": "u1", "workspace_id": "3"}';
SELECT crm.current_workspace();
-- claims without workspace_id fall back to workspace 1
SET request.jwt.claims = '{"sub": "u1", "role": "web"}';
SELECT crm.current_workspace();
-- crm.workspace_id wins over the claim
SET request.jwt.claims = '{"workspace_id": 3}';
SET crm.workspace_id = 2;
SELECT crm.current_workspace();
RESET crm.workspace_id;
-- inside an API request the token decides: use_workspace refuses
SELECT crm.use_workspace('default');
SELECT crm.current_workspace();
RESET request.jwt.claims;

-- bad claims: each an error naming the claims, with a hint
SET request.jwt.claims = '{"workspace_id": "abc"}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": 0}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": -2}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": 2.5}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": null}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": [2]}';
SELECT crm.current_workspace();
SET request.jwt.claims = '{"workspace_id": "99999999999999999999"}';
SELECT crm.current_workspace();
-- not JSON at all: the context names the setting
SET request.jwt.claims = 'eyJhbGciOi';
\set SHOW_CONTEXT errors
SELECT crm.current_workspace();
\set SHOW_CONTEXT never
RESET request.jwt.claims;

-- bad crm.workspace_id values are refused by SET itself
SET crm.workspace_id = 'acme';
SET crm.workspace_id = 0;
SET crm.workspace_id = -1;
SET crm.workspace_id = '1.5';
SELECT crm.current_workspace();

-- crm.require_workspace = on: no silent fallback to workspace 1
SET crm.require_workspace = on;
SELECT crm.current_workspace();
-- and nothing can be written without a workspace
INSERT INTO crm.contacts (name) VALUES ('nowhere');
SET request.jwt.claims = '{"workspace_id": 2}';
SELECT crm.current_workspace();
RESET request.jwt.claims;
SET crm.workspace_id = 3;
SELECT crm.current_workspace();
RESET crm.workspace_id;
RESET crm.require_workspace;

-- an unknown workspace id: it holds nothing, and writes fail on the foreign key
SET crm.workspace_id = 99;
SELECT count(*) FROM crm.contacts WHERE workspace_id = crm.current_workspace();
INSERT INTO crm.contacts (name) VALUES ('orphan');
RESET crm.workspace_id;

-- create_workspace and use_workspace errors
SELECT crm.create_workspace('acme', 'Another Acme');
SELECT crm.create_workspace('Bad Slug', 'x');
SELECT crm.create_workspace('', 'x');
SELECT crm.create_workspace(NULL, 'x');
SELECT crm.create_workspace('-dash', 'x');
SELECT crm.create_workspace(repeat('a', 64), 'x');
SELECT crm.create_workspace('blank', '   ');
SELECT crm.create_workspace('nullname', NULL);
SELECT crm.create_workspace('money', 'Money', 'EURO');
SELECT crm.create_workspace('money', 'Money', 'QQQ');
SELECT crm.create_workspace('money', 'Money', NULL);
SELECT crm.use_workspace('nope');
SELECT crm.use_workspace(NULL);
-- none of the failed calls wrote a workspace or changed the session's workspace
SELECT id, slug FROM crm.workspaces ORDER BY id;
SELECT crm.current_workspace();
-- workspaces are written through crm.create_workspace; the table checks too
-- (terse: the failing row shown in DETAIL carries a timestamp)
\set VERBOSITY terse
INSERT INTO crm.workspaces (slug, name, default_currency) VALUES ('lower', 'x', 'usd');
INSERT INTO crm.workspaces (slug, name, settings) VALUES ('arr', 'x', '[]');
\set VERBOSITY default
SELECT count(*) AS workspaces FROM crm.workspaces;


-- deleting a workspace deletes everything in it, and its deletion events
-- with it (they would name a workspace that no longer exists)
SELECT crm.create_workspace('doomed', 'Doomed') AS doomed \gset
SET crm.workspace_id = :doomed;
INSERT INTO crm.contacts (name, email) VALUES ('Gone', 'gone@example.com');
INSERT INTO crm.companies (name, domain) VALUES ('Gone Ltd', 'gone.example');
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'doomed';
SELECT (SELECT count(*) FROM crm.contacts WHERE workspace_id = :doomed) AS contacts,
	   (SELECT count(*) FROM crm.companies WHERE workspace_id = :doomed) AS companies,
	   (SELECT count(*) FROM crm.events WHERE workspace_id = :doomed) AS events;
\c contrib_regression
DROP DATABASE crm_test_workspaces;
