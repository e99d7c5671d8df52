-- Retention of deliveries: crm.purge_deliveries() deletes the deliveries
-- delivered longer ago than their integration's retention, with their
-- tries; dead ones only when asked; never a pending, leased or failed one.
CREATE DATABASE crm_test_integrations_retention;
\c crm_test_integrations_retention
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_retention_app;
CREATE ROLE crm_retention_worker;
SELECT crm.grant_access('crm_retention_app');
SELECT crm.grant_access('crm_retention_worker', access => 'service');

-- hook keeps a day, keep the default 30 days; one try each before dead
INSERT INTO crm.integrations (key, kind, retention, max_attempts) VALUES ('hook', 'custom', '1 day', 1)
RETURNING key, retention;
INSERT INTO crm.integrations (key, kind, max_attempts) VALUES ('keep', 'custom', 1) RETURNING key, retention;
INSERT INTO crm.contacts (name) SELECT 'c' || g FROM generate_series(1, 6) g;

-- per integration: c1, c2 delivered, c3 dead, c4 failed (retried later),
-- c5 leased, c6 pending
SELECT count(*) AS claimed FROM crm.claim_deliveries('hook', 4);
SELECT count(*) AS claimed FROM crm.claim_deliveries('keep', 4);
SELECT count(*) AS acked FROM crm.integration_deliveries d, crm.ack_delivery(d.id) a
 WHERE d.status = 'leased' AND d.object_id IN (1, 2);
SELECT count(*) AS dead FROM crm.integration_deliveries d, crm.fail_delivery(d.id, 'HTTP 500') f
 WHERE d.status = 'leased' AND d.object_id = 3 AND f.status = 'dead';
UPDATE crm.integrations SET max_attempts = 5;
SELECT count(*) AS failed FROM crm.integration_deliveries d, crm.fail_delivery(d.id, 'HTTP 503') f
 WHERE d.status = 'leased' AND d.object_id = 4;
UPDATE crm.integration_deliveries SET available_at = now() WHERE object_id = 5;
SELECT count(*) AS claimed FROM crm.claim_deliveries('hook', 1);
SELECT count(*) AS claimed FROM crm.claim_deliveries('keep', 1);
SELECT i.key, d.object_id, d.status FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 ORDER BY i.key, d.object_id;

-- everything happened two days ago
UPDATE crm.integration_deliveries SET created_at = created_at - interval '2 days', done_at = done_at - interval '2 days';
UPDATE crm.integration_attempts SET recorded_at = recorded_at - interval '2 days';
SELECT count(*) AS attempts FROM crm.integration_attempts;

-- hook's two deliveries older than a day go, with their tries; keep's
-- stay (30 days); dead, failed, leased and pending ones stay
SELECT crm.purge_deliveries() AS purged;
SELECT i.key, d.object_id, d.status FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 ORDER BY i.key, d.object_id;
SELECT count(*) AS attempts, count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM crm.integration_deliveries d
	WHERE d.workspace_id = a.workspace_id AND d.id = a.delivery_id)) AS orphans
  FROM crm.integration_attempts a;
SELECT crm.purge_deliveries() AS purged_again;
-- asked: the dead one goes too, still never an open one
SELECT crm.purge_deliveries(include_dead => true) AS purged_dead;
SELECT i.key, d.object_id, d.status FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 ORDER BY i.key, d.object_id;
-- a dead delivery tried again within the retention is kept: its last try counts
UPDATE crm.integration_attempts SET recorded_at = now()
 WHERE delivery_id = (SELECT id FROM crm.integration_deliveries WHERE status = 'dead');
UPDATE crm.integrations SET retention = '1 day' WHERE key = 'keep';
SELECT crm.purge_deliveries(true) AS purged;
SELECT i.key, d.object_id, d.status FROM crm.integration_deliveries d JOIN crm.integrations i ON i.id = d.integration_id
 ORDER BY i.key, d.object_id;
SELECT key, pending, leased, failed, dead, delivered FROM crm.integration_status ORDER BY key;

-- bad retention settings on the row path, a bad argument
UPDATE crm.integrations SET retention = '10 minutes' WHERE key = 'hook';
INSERT INTO crm.integrations (key, kind, retention) VALUES ('x', 'custom', '11 years');
INSERT INTO crm.integrations (key, kind, retention) VALUES ('x', 'custom', NULL);
SELECT crm.purge_deliveries(NULL);

-- a frontend may not purge, nor delete deliveries as rows; an agent may
-- not change the retention, an admin may; the worker (a service role) purges
SELECT (crm.add_member('ann', 'admin')).role, (crm.add_member('ben', 'agent')).role;
SET ROLE crm_retention_app;
SET request.jwt.claims = '{"sub": "ben"}';
SELECT crm.purge_deliveries();
DELETE FROM crm.integration_deliveries WHERE status = 'done';
UPDATE crm.integrations SET retention = '2 days' WHERE key = 'hook';
SET request.jwt.claims = '{"sub": "ann"}';
UPDATE crm.integrations SET retention = '2 days' WHERE key = 'hook' RETURNING key, retention;
RESET request.jwt.claims;
RESET ROLE;
UPDATE crm.integration_attempts SET recorded_at = now() - interval '2 days';
SET ROLE crm_retention_worker;
SELECT crm.purge_deliveries(true) AS purged_by_worker;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_integrations_retention;
DROP ROLE crm_retention_app, crm_retention_worker;
