-- Custom object invariants: SQLSTATEs of bad input, nothing written by a
-- failed call, and the primary property checked against the type's
-- property definitions.
BEGIN;
SELECT plan(29);

SELECT crm.create_workspace('tap-objects', 'Academy');
SELECT crm.use_workspace('tap-objects');
INSERT INTO crm.contacts (id, name) VALUES (86001, 'Student');

CREATE TEMP VIEW counts AS
	SELECT (SELECT count(*) FROM crm.object_types WHERE workspace_id = crm.current_workspace()) AS types,
		   (SELECT count(*) FROM crm.object_records WHERE workspace_id = crm.current_workspace()) AS records,
		   (SELECT count(*) FROM crm.object_associations WHERE workspace_id = crm.current_workspace()) AS associations;

SELECT crm.create_object_type('course', 'Courses', NULL, 'title');
SELECT crm.define_property('course', 'title', 'text', 'Title');
SELECT crm.define_property('course', 'code', 'text', 'Code');
SELECT crm.define_property('course', 'credits', 'number', 'Credits');
SELECT crm.create_record('course', '{"title": "Algebra I", "code": "MATH-101"}', 'MATH-101');

-- a record's properties are validated against its type's definitions
SELECT throws_ok($$SELECT crm.create_record('course', '{"title": "Geometry", "credits": "many"}')$$,
	'22023', NULL, 'a record property of the wrong type is refused');
SELECT is((SELECT records FROM counts), 1::bigint, 'the refused record was not written');

SELECT throws_ok($$SELECT crm.set_primary_property('course', 'teacher')$$,
	'42703', 'object type "course" has no property "teacher"',
	'the primary property must be a defined property of the type');
SELECT is((SELECT primary_property FROM crm.object_types WHERE workspace_id = crm.current_workspace()),
	'title', 'a refused change keeps the primary property');
SELECT lives_ok($$SELECT crm.set_primary_property('course', 'code')$$, 'a defined property can become primary');
SELECT is((SELECT display_name FROM crm.object_records WHERE workspace_id = crm.current_workspace()),
	'MATH-101', 'records are renamed after the new primary property');

SELECT throws_ok($$SELECT crm.create_object_type('Course', 'Courses')$$,
	'22023', 'invalid object type key: "Course"', 'a key must be lower-case');
SELECT throws_ok($$SELECT crm.create_object_type('order', 'Orders')$$,
	'22023', 'object type key "order" is a built-in object', 'a key may not name a built-in object');
SELECT throws_ok($$INSERT INTO crm.object_types (key, name) VALUES ('company', 'Firms')$$,
	'22023', 'object type key "company" is a built-in object', 'the table refuses a built-in object name too, with the function''s error');
SELECT throws_ok($$SELECT crm.create_object_type('course', 'Courses again')$$,
	'23505', 'object type "course" already exists', 'a key is unique per workspace');
SELECT throws_ok($$SELECT crm.create_record('lesson', '{}')$$,
	'P0002', 'object type "lesson" does not exist', 'records need an existing type');
SELECT throws_ok($$SELECT crm.create_record('course', '{"title": "Dup"}', 'MATH-101')$$,
	'23505', 'course with external id "MATH-101" already exists', 'an external id is unique per type');
SELECT throws_ok($$SELECT crm.upsert_record('course', '', '{}')$$,
	'22023', 'an upserted record needs an external id', 'an upsert needs an external id');
SELECT throws_ok($$SELECT crm.create_record('course', '[]')$$,
	'22023', 'record properties must be a JSON object, not array', 'properties must be an object');
SELECT throws_ok(
	$$SELECT crm.associate((SELECT id FROM crm.object_records WHERE workspace_id = crm.current_workspace()),
						   'contact', 999999999)$$,
	'P0002', 'contact 999999999 does not exist', 'associating to a missing contact is refused');
SELECT throws_ok(
	$$SELECT crm.associate((SELECT id FROM crm.object_records WHERE workspace_id = crm.current_workspace()),
						   'deal', 999999999)$$,
	'P0002', 'deal 999999999 does not exist', 'associating to a missing deal is refused');
SELECT throws_ok(
	$$SELECT crm.associate((SELECT id FROM crm.object_records WHERE workspace_id = crm.current_workspace()),
						   'company', 86001)$$,
	'22023', 'unknown association target type: "company"', 'only contacts and deals are targets');
SELECT throws_ok($$SELECT crm.associate(999999999, 'contact', 86001)$$,
	'P0002', 'record 999999999 does not exist', 'associating a missing record is refused');
SELECT results_eq($$SELECT types, records, associations FROM counts$$, $$VALUES (1::bigint, 1::bigint, 0::bigint)$$,
	'failed calls wrote nothing');

SELECT crm.associate(r.id, 'contact', 86001, 'student') FROM crm.object_records r
 WHERE r.workspace_id = crm.current_workspace();
SELECT crm.associate(r.id, 'contact', 86001, NULL) FROM crm.object_records r
 WHERE r.workspace_id = crm.current_workspace();
SELECT is((SELECT count(*) FROM crm.object_associations WHERE workspace_id = crm.current_workspace()), 1::bigint,
	'one association per record and contact');
SELECT is((SELECT label FROM crm.object_associations WHERE workspace_id = crm.current_workspace()), 'student',
	're-associating without a label keeps the label');
SELECT is(crm.associated_records('contact', 86001) -> 'course' -> 0 ->> 'display_name', 'MATH-101',
	'a contact''s records are grouped by type');

-- An application role confined to another workspace by RLS.
SELECT crm.create_workspace('tap-objects-other', 'Other academy');
CREATE ROLE crm_tap_objects_app LOGIN;
-- (on Citus crm.grant_access follows the role committed: docs/scaling.md, "What does not work yet")
-- citus_pgtap: COMMIT; BEGIN;
SELECT crm.grant_access('crm_tap_objects_app');
-- citus_pgtap: COMMIT; BEGIN;
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'tap-objects-other'), true);
SET LOCAL ROLE crm_tap_objects_app;
SELECT is((SELECT count(*) FROM crm.object_records), 0::bigint, 'another workspace sees none of these records');
SELECT throws_ok($$SELECT crm.associated_records('contact', 86001)$$,
	'P0002', 'contact 86001 does not exist', 'another workspace cannot read these associations');
SELECT ok(crm.create_object_type('course', 'Courses', NULL, 'title') > 0, 'another workspace may reuse the key');
SELECT ok(crm.upsert_record('course', 'C-1', '{"title": "Pottery"}') > 0, 'the role writes records under RLS');
SELECT is((SELECT display_name FROM crm.object_records WHERE external_id = 'C-1'), 'Pottery',
	'and they get their display name');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT crm.use_workspace('tap-objects');

DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND id = 86001;
SELECT results_eq($$SELECT records, associations FROM counts$$, $$VALUES (1::bigint, 0::bigint)$$,
	'a hard-deleted contact loses its associations, the record stays');
SELECT is((SELECT count(*) FROM crm.events WHERE workspace_id = crm.current_workspace() AND object_type = 'record'
			AND type = 'CRM_RECORD_CREATED'), 1::bigint, 'one CRM_RECORD_CREATED event');

SELECT * FROM finish();
ROLLBACK;
