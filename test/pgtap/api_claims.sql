-- SQLSTATEs of the claims, the actor and the event columns the extension
-- owns (messages and hints are shown in test/sql/workspaces.sql and
-- test/sql/events.sql), checked as a role granted with crm.grant_access
-- under each API layer's settings.  A refused write writes nothing.
-- The owner's setup, the granted role's requests and the owner's checks are
-- transactions of their own, as on Citus (test/citus_pgtap), where a role
-- may not read what another wrote in the same transaction; the workspace
-- and the role are dropped at the end.
SELECT plan(25);

SELECT crm.create_workspace('tap-claims', 'Tap claims') AS ws \gset
CREATE ROLE crm_tap_claims_app LOGIN;
SELECT crm.grant_access('crm_tap_claims_app');

BEGIN;
SET LOCAL ROLE crm_tap_claims_app;

-- PostgREST: one JSON setting
SET LOCAL request.jwt.claims = '{"sub": "rest-user", "workspace_id": 2}';
SELECT is(crm.current_workspace(), 2::bigint, 'request.jwt.claims: workspace_id');
SELECT is(crm.current_actor(), 'rest-user', 'request.jwt.claims: sub');
RESET request.jwt.claims;

-- PostGraphile: one setting per claim, for the transaction
SELECT set_config('jwt.claims.workspace_id', :'ws', true) AS pg_ws, set_config('jwt.claims.sub', 'graphql-user', true) AS pg_sub,
	   set_config('jwt.claims.role', 'crm_tap_claims_app', true) AS pg_role \gset
SELECT is(crm.current_workspace(), :'ws'::bigint, 'jwt.claims.workspace_id');
SELECT is(crm.current_actor(), 'graphql-user', 'jwt.claims.sub');
SELECT throws_ok($$SELECT crm.use_workspace('default')$$, '42501', 'cannot switch workspace inside an API request');
INSERT INTO crm.contacts (name) VALUES ('Tap claims');
SELECT results_eq($$SELECT workspace_id, actor FROM crm.events ORDER BY id DESC LIMIT 1$$,
				  format('VALUES (%s::bigint, %L::text)', :'ws', 'graphql-user'),
				  'a row write records the workspace and the actor of the PostGraphile claims');
SELECT crm.record_consent((SELECT id FROM crm.contacts WHERE name = 'Tap claims'), 'email', 'granted') AS consent \gset
SELECT is((SELECT actor FROM crm.events ORDER BY id DESC LIMIT 1), 'graphql-user',
		  'an event a domain function writes (as the owner) records the actor of the request');
SELECT throws_ok($$SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1)$$, '42501',
				 'role "crm_tap_claims_app" may not emit events');

-- bad claims: 22023; too long: 54000
SELECT throws_ok($$SET LOCAL jwt.claims.workspace_id = 'abc'; SELECT crm.current_workspace()$$,
				 '22023', 'invalid workspace_id claim in jwt.claims.workspace_id: "abc"');
SELECT throws_ok($$SET LOCAL request.jwt.claims = '{"sub": {"id": 1}}'; SELECT crm.current_actor()$$,
				 '22023', 'invalid sub claim in request.jwt.claims: {"sub": {"id": 1}}');
SELECT throws_ok($$SELECT set_config('jwt.claims.sub', repeat('y', 257), true); SELECT crm.current_actor()$$,
				 '54000', NULL);
SELECT throws_ok($$SET LOCAL crm.actor = '$$ || repeat('z', 257) || $$'$$, '54000', NULL);

-- granted roles only read the outbox: 42501
SELECT throws_ok($$INSERT INTO crm.events (type, object_type, object_id) VALUES ('CRM_DEAL_WON', 'deal', 1)$$,
				 '42501', 'permission denied for table events');
SELECT throws_ok($$DELETE FROM crm.events$$, '42501', 'permission denied for table events');
SELECT throws_ok($$UPDATE crm.events SET xid = '1'$$, '42501', 'permission denied for table events');

COMMIT;

-- the columns of crm.events the extension owns, for whoever may write it
-- (the owner, a DBA's COPY): 428C9, nothing written
BEGIN;
SELECT set_config('crm.workspace_id', :'ws', true) IS NOT NULL AS in_workspace;
CREATE TEMP TABLE events_before AS SELECT count(*) AS n FROM crm.events;
SELECT throws_ok($$INSERT INTO crm.events (type, object_type, xid) VALUES ('CRM_CONTACT_UPDATED', 'contact', '1')$$,
				 '428C9', 'cannot set crm.events.xid to "1"');
SELECT throws_ok($$INSERT INTO crm.events (type, object_type, id) VALUES ('CRM_CONTACT_UPDATED', 'contact', 9000000000)$$,
				 '428C9', 'cannot set crm.events.id to "9000000000"');
SELECT throws_ok($$INSERT INTO crm.events (type, object_type, created_at) VALUES ('CRM_CONTACT_UPDATED', 'contact', '2001-01-01 00:00+00')$$,
				 '428C9', NULL);
SELECT throws_ok($$INSERT INTO crm.events (type, object_type, actor) VALUES ('CRM_CONTACT_UPDATED', 'contact', 'mallory')$$,
				 '428C9', 'cannot set crm.events.actor to "mallory"');
SELECT throws_ok($$UPDATE crm.events SET xid = '1'$$, '428C9', NULL);
SELECT throws_ok($$UPDATE crm.events SET actor = 'mallory'$$, '428C9', NULL);
SELECT throws_ok($$UPDATE crm.events SET created_at = now() - interval '1 day'$$, '428C9', NULL);
SELECT throws_ok($$UPDATE crm.events SET id = id + 1000000$$, '428C9', NULL);
SELECT is((SELECT count(*) FROM crm.events), (SELECT n FROM events_before), 'no refused write wrote an event');
-- what the guard lets through: the defaults, or exactly their values
INSERT INTO crm.events (type, object_type, xid, created_at, actor)
	VALUES ('CRM_CONTACT_UPDATED', 'contact', pg_current_xact_id(), now(), crm.current_actor());
SELECT is((SELECT count(*) FROM crm.events), (SELECT n + 1 FROM events_before),
		  'an INSERT that sends exactly the extension''s values is written');

COMMIT;

SELECT * FROM finish();
DELETE FROM crm.workspaces WHERE id = :'ws';
DROP OWNED BY crm_tap_claims_app;
DROP ROLE crm_tap_claims_app;
