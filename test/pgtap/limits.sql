-- SQLSTATEs of the plan limits (messages and hints are shown in
-- test/sql/limits.sql): a count past its limit is 53400 at commit (here
-- at SET CONSTRAINTS ALL IMMEDIATE, inside the test's transaction) and
-- writes nothing; every function a switch gates refuses with 53400 while
-- it is off; bad names and values are 22023; an agent may not write
-- limits (42501).
BEGIN;
SELECT plan(36);

SELECT crm.create_workspace('tap-limits', 'Tap limits') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', true) IS NOT NULL AS in_workspace;
INSERT INTO crm.contacts (name, email) VALUES ('One', 'one@example.com'), ('Two', 'two@example.com');
SELECT crm.create_list('Static') IS NOT NULL AS list;

-- counts
SELECT is((crm.set_limit('max_contacts', 2)).value, 2::bigint, 'set_limit returns the row');
SELECT throws_ok($$INSERT INTO crm.contacts (name) VALUES ('Three'); SET CONSTRAINTS ALL IMMEDIATE$$,
				 '53400', 'limit max_contacts of workspace "tap-limits" is 2: this would make 3 contacts');
SELECT is((SELECT count(*) FROM crm.contacts WHERE workspace_id = :ws), 2::bigint, 'the refused insert wrote nothing');
SELECT throws_ok($$SELECT crm.identify(email => 'three@example.com'); SET CONSTRAINTS ALL IMMEDIATE$$, '53400',
				 NULL, 'identify past max_contacts');
SELECT lives_ok($$UPDATE crm.contacts SET city = 'Oslo' WHERE workspace_id = crm.current_workspace(); SET CONSTRAINTS ALL IMMEDIATE$$,
				'updates go on at the limit');
SELECT crm.set_limit('max_pipelines', 0) IS NOT NULL AS no_pipelines;
SELECT throws_ok($$SELECT crm.create_pipeline('Sales'); SET CONSTRAINTS ALL IMMEDIATE$$, '53400', NULL, 'max_pipelines 0');
SELECT crm.set_limit('max_object_types', 0) IS NOT NULL AS no_types;
SELECT throws_ok($$SELECT crm.create_object_type('ticket', 'Ticket'); SET CONSTRAINTS ALL IMMEDIATE$$, '53400', NULL, 'max_object_types 0');
SELECT crm.set_limit('max_custom_properties', 0) IS NOT NULL AS no_properties;
SELECT throws_ok($$SELECT crm.define_property('contact', 'tier', 'text'); SET CONSTRAINTS ALL IMMEDIATE$$, '53400',
				 NULL, 'max_custom_properties 0');
SELECT crm.set_limit('max_segments_per_user', 0) IS NOT NULL AS no_segments;
SELECT throws_ok($$SELECT crm.create_list('Mine', kind => 'dynamic', filter => 'name = ''One''', owner => 'u1');
				   SET CONSTRAINTS ALL IMMEDIATE$$, '53400', NULL, 'max_segments_per_user 0');
SELECT lives_ok($$SELECT crm.create_list('Shared', kind => 'dynamic', filter => 'name = ''One'''); SET CONSTRAINTS ALL IMMEDIATE$$,
				'a dynamic list without owner is no segment');

-- switches: every gated function refuses while its switch is off
SELECT crm.set_limit('export', 0), crm.set_limit('bulk', 0), crm.set_limit('import', 0);
SELECT throws_ok(format('SELECT %s', f), '53400', NULL, f) FROM (VALUES
	($$crm.export_contacts()$$), ($$crm.export_companies()$$), ($$crm.export_deals()$$), ($$crm.export_orders()$$),
	($$crm.export_contact((SELECT min(id) FROM crm.contacts WHERE workspace_id = crm.current_workspace()))$$),
	($$crm.import_contacts('[{"email": "new@example.com"}]')$$),
	($$crm.bulk_tag('contact', '', ARRAY['x'])$$), ($$crm.bulk_tag_by_id('contact', ARRAY[1], ARRAY['x'])$$),
	($$crm.bulk_untag('contact', '', ARRAY['x'])$$), ($$crm.bulk_untag_by_id('contact', ARRAY[1], ARRAY['x'])$$),
	($$crm.bulk_set_lifecycle('', 'lead')$$), ($$crm.bulk_set_lifecycle_by_id(ARRAY[1], 'lead')$$),
	($$crm.bulk_update('contact', '', '{"city": "Rome"}')$$), ($$crm.bulk_update_by_id('contact', ARRAY[1], '{"city": "Rome"}')$$),
	($$crm.bulk_delete('contact', '')$$), ($$crm.bulk_delete_by_id('contact', ARRAY[1])$$),
	($$crm.bulk_add_to_list((SELECT id FROM crm.lists WHERE name = 'Static' AND workspace_id = crm.current_workspace()), '')$$),
	($$crm.bulk_add_to_list_by_id((SELECT id FROM crm.lists WHERE name = 'Static' AND workspace_id = crm.current_workspace()), ARRAY[1])$$)
) AS t(f);
SELECT crm.set_limit('bulk', 1) IS NOT NULL AS bulk_on;
SELECT lives_ok($$SELECT crm.bulk_tag('contact', '', ARRAY['x'])$$, 'bulk on');

-- bad names and values
SELECT throws_ok($$SELECT crm.set_limit('max_deals', 1)$$, '22023', 'unknown limit "max_deals"');
SELECT throws_ok($$SELECT crm.set_limit('max_contacts', -1)$$, '22023', 'invalid value -1 for limit "max_contacts"');
SELECT throws_ok($$INSERT INTO crm.workspace_limits (name, value) VALUES ('import', 5)$$, '22023',
				 'invalid value 5 for switch "import"');

-- an agent may not write limits, by function or row; an admin may
SELECT (crm.add_member('ada', 'admin')).role, (crm.add_member('ben', 'agent')).role;
CREATE ROLE crm_tap_limits_app;
SELECT crm.grant_access('crm_tap_limits_app');
SET LOCAL ROLE crm_tap_limits_app;
SET LOCAL crm.user_id = 'ben';
SELECT throws_ok($$SELECT crm.set_limit('max_contacts', 100)$$, '42501', NULL, 'an agent: set_limit');
SELECT throws_ok($$DELETE FROM crm.workspace_limits$$, '42501', NULL, 'an agent: DELETE');
SET LOCAL crm.user_id = 'ada';
SELECT lives_ok($$SELECT crm.set_limit('max_contacts', 100)$$, 'an admin: set_limit');
SELECT is((SELECT value FROM crm.workspace_limits WHERE name = 'max_contacts'), 100::bigint, 'the admin''s limit is stored');

SELECT * FROM finish();
ROLLBACK;
