-- SQLSTATEs of the foundation's bad-input errors (the messages and hints
-- are shown in the pg_regress stories).  Each failing call writes nothing.
BEGIN;
SELECT plan(50);

SELECT crm.create_workspace('tap-other', 'Tap other') AS other \gset
INSERT INTO crm.contacts (name, email) VALUES ('Tap', 'tap@example.com') RETURNING id AS c \gset
INSERT INTO crm.companies (name, domain) VALUES ('Tap Co', 'tap.example') RETURNING id AS co \gset
SELECT crm.start_conversation(:c) AS conv \gset
SET LOCAL crm.workspace_id = :other;
INSERT INTO crm.contacts (name) VALUES ('Elsewhere') RETURNING id AS far \gset
RESET crm.workspace_id;
CREATE TEMP TABLE before AS
	SELECT (SELECT count(*) FROM crm.contacts) AS contacts, (SELECT count(*) FROM crm.companies) AS companies,
		   (SELECT count(*) FROM crm.events) AS events, (SELECT count(*) FROM crm.activities) AS activities,
		   (SELECT count(*) FROM crm.contact_consents) AS consents, (SELECT count(*) FROM crm.external_ids) AS xids,
		   (SELECT count(*) FROM crm.contact_companies) AS links, (SELECT count(*) FROM crm.messages) AS messages,
		   (SELECT count(*) FROM crm.workspaces) AS workspaces;

-- normalizers: 22P02 invalid_text_representation
SELECT throws_ok($$SELECT crm.normalize_email('not-an-email')$$, '22P02', 'invalid email address: "not-an-email"');
SELECT throws_ok($$SELECT crm.normalize_phone('call me')$$, '22P02', 'invalid phone number: "call me"');
SELECT throws_ok($$SELECT crm.normalize_domain('localhost')$$, '22P02', 'invalid domain: "localhost"');
SELECT throws_ok($$SELECT crm.normalize_currency('EURO')$$, '22P02', 'unknown currency code: "EURO"');
SELECT throws_ok($$SELECT crm.currency_exponent('XYZ')$$, '22P02', 'unknown currency code: "XYZ"');
SELECT throws_ok($$SELECT crm.normalize_color('red')$$, '22P02', 'invalid color: "red"');
SELECT throws_ok($$SELECT crm.normalize_tags(ARRAY[repeat('x', 101)])$$, '22001', NULL);
SELECT throws_ok($$SELECT crm.normalize_tags('{{a,b},{c,d}}')$$, '2202E', 'tags must be a one-dimensional array');

-- the row trigger raises the same
SELECT throws_ok($$INSERT INTO crm.contacts (email) VALUES ('bad@')$$, '22P02', 'invalid email address: "bad@"');
SELECT throws_ok($$INSERT INTO crm.contacts (phone) VALUES ('12')$$, '22023', 'phone number "12" is in national form and no country is given');
SELECT throws_ok($$INSERT INTO crm.companies (name, domain) VALUES ('x', 'https://')$$, '22P02', 'invalid domain: "https://"');
-- uniqueness among live contacts and per workspace domain
SELECT throws_ok($$INSERT INTO crm.contacts (email) VALUES ('TAP@example.com')$$, '23505', NULL);
SELECT throws_ok($$INSERT INTO crm.companies (name, domain) VALUES ('x', 'www.tap.example')$$, '23505', NULL);
SELECT throws_ok(format($$INSERT INTO crm.contact_companies (contact_id, company_id) VALUES (%s, 999999)$$, :c), '23503', NULL);

-- workspaces
SELECT throws_ok($$SELECT crm.create_workspace('Bad Slug', 'x')$$, '22023', 'invalid workspace slug: "Bad Slug"');
SELECT throws_ok($$SELECT crm.create_workspace('ok', ' ')$$, '22023', 'workspace name must not be empty');
SELECT throws_ok($$SELECT crm.create_workspace('ok', 'x', 'XYZ')$$, '22P02', 'unknown currency code: "XYZ"');
SELECT throws_ok($$SELECT crm.create_workspace('ok', 'x', NULL)$$, '22023', 'default currency must not be null');
SELECT throws_ok($$SELECT crm.create_workspace('tap-other', 'x')$$, '23505', 'workspace "tap-other" already exists');
SELECT throws_ok($$SELECT crm.use_workspace('nope')$$, 'P0002', 'workspace "nope" does not exist');
SELECT throws_ok($$SET LOCAL crm.workspace_id = 'abc'$$, '22023', 'invalid workspace id: "abc"');
SELECT throws_ok($$SET LOCAL request.jwt.claims = '{"workspace_id": "x"}'; SELECT crm.current_workspace()$$,
				 '22023', 'invalid workspace_id claim in request.jwt.claims: {"workspace_id": "x"}');
SELECT throws_ok($$SET LOCAL request.jwt.claims = '{"workspace_id": 2}'; SELECT crm.use_workspace('default')$$,
				 '42501', 'cannot switch workspace inside an API request');
RESET request.jwt.claims;
SELECT throws_ok($$SET LOCAL crm.require_workspace = on; SELECT crm.current_workspace()$$, '22023', 'no workspace selected');
RESET crm.require_workspace;

-- missing ids and ids of another workspace: P0002
SELECT throws_ok($$SELECT crm.record_consent(999999, 'email', 'granted')$$, 'P0002', 'contact 999999 does not exist');
SELECT throws_ok(format($$SELECT crm.record_consent(%s, 'email', 'granted')$$, :far), 'P0002', format('contact %s does not exist', :far));
SELECT throws_ok($$SELECT crm.link_company(999999, 1)$$, 'P0002', 'contact 999999 does not exist');
SELECT throws_ok(format($$SELECT crm.link_company(%s, 999999)$$, :c), 'P0002', 'company 999999 does not exist');
SELECT throws_ok(format($$SELECT crm.unlink_company(%s, 999999)$$, :c), 'P0002', 'company 999999 does not exist');
SELECT throws_ok($$SELECT crm.log_activity(999999, 'note')$$, 'P0002', 'contact 999999 does not exist');
SELECT throws_ok($$SELECT * FROM crm.timeline(999999)$$, 'P0002', 'contact 999999 does not exist');
SELECT throws_ok($$SELECT crm.start_conversation(999999)$$, 'P0002', 'contact 999999 does not exist');
SELECT throws_ok($$SELECT crm.add_message(999999, 'agent', 'x')$$, 'P0002', 'conversation 999999 does not exist');
SELECT throws_ok($$SELECT crm.set_external_id('company', 999999, 'stripe', 'x')$$, 'P0002', 'company 999999 does not exist');
SELECT throws_ok($$SELECT * FROM crm.events_since(999999999)$$, 'P0002', 'event 999999999 does not exist');

-- invalid parameters: 22023
SELECT throws_ok(format($$SELECT crm.record_consent(%s, 'E-Mail', 'granted')$$, :c), '22023', 'invalid consent channel: "E-Mail"');
SELECT throws_ok(format($$SELECT crm.record_consent(%s, 'email', NULL)$$, :c), '22023', 'consent status must not be null');
SELECT throws_ok(format($$SELECT crm.set_external_id('contact', %s, 'Sales Force', 'x')$$, :c), '22023', 'invalid external system name: "Sales Force"');
SELECT throws_ok(format($$SELECT crm.set_external_id('contact', %s, 'stripe', '')$$, :c), '22023', 'external id must not be empty');
SELECT throws_ok(format($$SELECT crm.log_activity(%s, 'Phone Call')$$, :c), '22023', 'invalid activity type: "Phone Call"');
SELECT throws_ok($$SELECT crm.log_activity(NULL, 'note')$$, '22023', 'an activity needs a contact, a company or a deal');
SELECT throws_ok(format($$SELECT * FROM crm.timeline(%s, 0)$$, :c), '22023', 'invalid limit: 0');
SELECT throws_ok(format($$SELECT crm.start_conversation(%s, 'Live Chat')$$, :c), '22023', 'invalid conversation channel: "Live Chat"');
SELECT throws_ok(format($$SELECT crm.add_message(%s, 'agent', NULL)$$, :conv), '22023', 'message body must not be null');
SELECT throws_ok($$SELECT * FROM crm.events_since(-1)$$, '22023', 'invalid event id: -1');
SELECT throws_ok($$SELECT * FROM crm.events_since(0, 0)$$, '22023', 'invalid limit: 0');
SELECT throws_ok($$SELECT crm.emit_event('lower_case', 'contact', 1)$$, '22023', 'invalid event type: "lower_case"');

-- an external id that names another object: 23505
INSERT INTO crm.contacts (name) VALUES ('Tap 2') RETURNING id AS c2 \gset
SELECT crm.set_external_id('contact', :c, 'stripe', 'cus_tap');
SELECT throws_ok(format($$SELECT crm.set_external_id('contact', %s, 'stripe', 'cus_tap')$$, :c2), '23505',
				 'stripe id "cus_tap" already belongs to another contact');
DELETE FROM crm.external_ids WHERE external_id = 'cus_tap';
DELETE FROM crm.contacts WHERE id = :c2;
DELETE FROM crm.events WHERE object_id = :c2 AND object_type = 'contact';

-- nothing above wrote a row
SELECT is((SELECT row(contacts, companies, activities, consents, xids, links, messages, workspaces)::text FROM before),
		  (SELECT row((SELECT count(*) FROM crm.contacts), (SELECT count(*) FROM crm.companies),
					  (SELECT count(*) FROM crm.activities), (SELECT count(*) FROM crm.contact_consents),
					  (SELECT count(*) FROM crm.external_ids), (SELECT count(*) FROM crm.contact_companies),
					  (SELECT count(*) FROM crm.messages), (SELECT count(*) FROM crm.workspaces))::text),
		  'failed calls wrote no rows');
SELECT is((SELECT count(*) FROM crm.events), (SELECT events FROM before), 'failed calls wrote no events');

SELECT * FROM finish();
ROLLBACK;
