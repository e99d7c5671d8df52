-- Workspaces and the current workspace: crm.workspace_id, then PostgREST's
-- request.jwt.claims, then PostGraphile's jwt.claims.workspace_id, then
-- workspace 1 unless crm.require_workspace is on.  The current actor:
-- crm.actor, then the JWT sub claim, then current_user.
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

-- PostGraphile claims: one setting per claim, jwt.claims.<name>, set for
-- the request's transaction (set_config(name, value, true))
BEGIN;
SELECT set_config('jwt.claims.workspace_id', '3', true);
SELECT crm.current_workspace();
-- inside a PostGraphile request the token decides too
SELECT crm.use_workspace('default');
ROLLBACK;
-- after the transaction the setting is empty: workspace 1 again
SHOW jwt.claims.workspace_id;
SELECT crm.current_workspace();
SET jwt.claims.workspace_id = '2';
SELECT crm.current_workspace();
-- PostgREST's claim wins over PostGraphile's ...
SET request.jwt.claims = '{"workspace_id": 3}';
SELECT crm.current_workspace();
-- ... but claims without workspace_id leave it to PostGraphile's
SET request.jwt.claims = '{"sub": "u1"}';
SELECT crm.current_workspace();
RESET request.jwt.claims;
-- crm.workspace_id wins over both
SET crm.workspace_id = 3;
SELECT crm.current_workspace();
RESET crm.workspace_id;
RESET jwt.claims.workspace_id;
-- a PostGraphile token without workspace_id still makes it a request
SET jwt.claims.role = 'web';
SELECT crm.use_workspace('default');
RESET jwt.claims.role;
-- bad PostGraphile claims
SET jwt.claims.workspace_id = 'abc';
SELECT crm.current_workspace();
SET jwt.claims.workspace_id = '0';
SELECT crm.current_workspace();
SET jwt.claims.workspace_id = '2.5';
SELECT crm.current_workspace();
SET jwt.claims.workspace_id = '99999999999999999999';
SELECT crm.current_workspace();
RESET jwt.claims.workspace_id;

-- the actor: current_user when nothing else says
SELECT crm.current_actor() = current_user AS is_current_user;
CREATE ROLE crm_ws_actor;
GRANT USAGE ON SCHEMA crm TO crm_ws_actor;
SET ROLE crm_ws_actor;
SELECT crm.current_actor();
RESET ROLE;
-- a renamed role acts under its new name
ALTER ROLE crm_ws_actor RENAME TO crm_ws_actor_renamed;
SET ROLE crm_ws_actor_renamed;
SELECT crm.current_actor();
RESET ROLE;
-- PostGraphile's sub claim
SET jwt.claims.sub = 'graphql-user-7';
SELECT crm.current_actor();
-- PostgREST's sub claim wins over it, a number as text
SET request.jwt.claims = '{"sub": "rest-user-1", "workspace_id": 2}';
SELECT crm.current_actor();
SET request.jwt.claims = '{"sub": 42}';
SELECT crm.current_actor();
-- PostgREST claims without sub (or an empty or null one) leave it to PostGraphile's
SET request.jwt.claims = '{"role": "web"}';
SELECT crm.current_actor();
SET request.jwt.claims = '{"sub": ""}';
SELECT crm.current_actor();
SET request.jwt.claims = '{"sub": null}';
SELECT crm.current_actor();
-- crm.actor wins over everything (a trusted backend naming the user)
SET crm.actor = 'billing-job';
SELECT crm.current_actor();
RESET crm.actor;
RESET jwt.claims.sub;
-- a bad workspace_id claim does not hide the actor of a session that chose
-- its workspace itself
SET request.jwt.claims = '{"sub": "rest-user-1", "workspace_id": "abc"}';
SET crm.workspace_id = 2;
SELECT crm.current_workspace(), crm.current_actor();
RESET crm.workspace_id;
-- bad actors: an object or array sub, one longer than 256 bytes
SET request.jwt.claims = '{"sub": {"id": 1}}';
SELECT crm.current_actor();
SET request.jwt.claims = '{"sub": [1]}';
SELECT crm.current_actor();
-- (the workspace of such a token is still readable, and the actor of a
-- session that names it itself)
SET request.jwt.claims = '{"sub": [1], "workspace_id": 2}';
SELECT crm.current_workspace();
SET crm.actor = 'billing-job';
SELECT crm.current_actor();
RESET crm.actor;
SELECT set_config('request.jwt.claims', json_build_object('sub', repeat('x', 257))::text, false) IS NOT NULL AS set;
SELECT crm.current_actor();
RESET request.jwt.claims;
SELECT set_config('jwt.claims.sub', repeat('y', 257), false) IS NOT NULL AS set;
SELECT crm.current_actor();
RESET jwt.claims.sub;
SET crm.actor = 'a';
SELECT set_config('crm.actor', repeat('z', 257), false);
SELECT crm.current_actor();
RESET crm.actor;
-- 256 bytes are fine
SELECT length(set_config('crm.actor', repeat('z', 256), false)) AS actor_length;
RESET crm.actor;
REVOKE USAGE ON SCHEMA crm FROM crm_ws_actor_renamed;
DROP ROLE crm_ws_actor_renamed;

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
SET jwt.claims.workspace_id = '2';
SELECT crm.current_workspace();
RESET jwt.claims.workspace_id;
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

-- ... also when its dynamic lists read rollups and formulas: the cascade
-- deletes the definitions, orders and lists in the order PostgreSQL picks,
-- and the rollup and list triggers skip the workspace being deleted
SELECT crm.create_workspace('rolled', 'Rolled') AS rolled \gset
SET crm.workspace_id = :rolled;
SELECT crm.define_formula('contact', 'orders_count', 'COUNT(orders)') > 0 AS defined,
	   crm.define_formula('company', 'open_deals', 'COUNT(deals(status = OPEN))') > 0 AS defined_too;
SELECT (crm.create_list('buyers', 'contact', 'dynamic', 'ordersCount >= 1')).member_count,
	   (crm.create_list('busy', 'company', 'dynamic', 'openDeals >= 1')).member_count;
INSERT INTO crm.contacts (name, email) VALUES ('Buyer', 'buyer@example.com');
INSERT INTO crm.orders (contact_id, value, currency, status)
	SELECT id, 10, 'EUR', 'paid' FROM crm.contacts WHERE workspace_id = :rolled;
-- a delete rolled back to a savepoint leaves the rollups and lists working
BEGIN;
SAVEPOINT s;
DELETE FROM crm.workspaces WHERE id = :rolled;
ROLLBACK TO SAVEPOINT s;
INSERT INTO crm.orders (contact_id, value, currency, status)
	SELECT id, 5, 'EUR', 'paid' FROM crm.contacts WHERE workspace_id = :rolled;
COMMIT;
SELECT c.properties -> 'orders_count' AS orders_count,
	   (SELECT count(*) FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id AND l.workspace_id = m.workspace_id
		 WHERE l.workspace_id = :rolled AND l.name = 'buyers') AS buyers
  FROM crm.contacts c WHERE c.workspace_id = :rolled;
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE id = :rolled;
SELECT (SELECT count(*) FROM crm.contacts WHERE workspace_id = :rolled) AS contacts,
	   (SELECT count(*) FROM crm.lists WHERE workspace_id = :rolled) AS lists,
	   (SELECT count(*) FROM crm.property_definitions WHERE workspace_id = :rolled) AS definitions;
\c contrib_regression
DROP DATABASE crm_test_workspaces;
