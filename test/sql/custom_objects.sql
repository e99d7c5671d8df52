-- Custom objects: a school models its Courses, with enrollments as labelled,
-- dated associations to students and teachers; a clinic models Procedures.
\set SHOW_CONTEXT never
\set objects_here 'SELECT (SELECT count(*) FROM crm.object_types WHERE workspace_id = crm.current_workspace()) AS types, (SELECT count(*) FROM crm.object_records WHERE workspace_id = crm.current_workspace()) AS records, (SELECT count(*) FROM crm.object_associations WHERE workspace_id = crm.current_workspace()) AS associations'

SELECT crm.create_workspace('objects-school', 'Riverside School') > 0 AS created;
SELECT crm.create_workspace('objects-clinic', 'Smile Dental Clinic') > 0 AS created;

--
-- The school
--
SELECT crm.use_workspace('objects-school') > 0 AS switched;
INSERT INTO crm.contacts (id, name, email) VALUES
	(82001, 'Maya Chen', 'maya@riverside.test'),
	(82002, 'Leo Park', 'leo@riverside.test'),
	(82003, 'Ana Rivera', 'rivera@riverside.test');

SELECT crm.create_object_type('course', 'Courses', 'book', 'title') > 0 AS created;
SELECT key, name, icon, primary_property FROM crm.object_types WHERE workspace_id = crm.current_workspace();
-- a type's fields are property definitions with its key as object type
SELECT count(crm.define_property('course', k, t::crm.property_type)) AS fields
  FROM (VALUES ('title', 'text'), ('code', 'text'), ('credits', 'number'), ('room', 'text')) f(k, t);

SELECT crm.create_record('course', '{"title": "Algebra I", "code": "MATH-101", "credits": 4}', 'MATH-101') AS algebra \gset
-- the student information system syncs its courses: retries leave one record
SELECT count(DISTINCT crm.upsert_record('course', 'BIO-110', '{"title": "Biology", "code": "BIO-110", "credits": 3}'))
	AS distinct_ids
  FROM generate_series(1, 5);
SELECT crm.upsert_record('course', 'BIO-110') AS biology \gset
-- a later sync changes one field and drops another (null removes a key)
SELECT crm.upsert_record('course', 'BIO-110', '{"room": "Lab 2", "credits": null}') = :biology AS same_record;
SELECT display_name, external_id, properties FROM crm.object_records
 WHERE workspace_id = crm.current_workspace() ORDER BY display_name;

-- Enrollments: students with their enrollment date, and the teacher.
SELECT crm.associate(:algebra, 'contact', 82001, 'student', '2024-09-02 08:00+00') > 0 AS enrolled;
SELECT crm.associate(:algebra, 'contact', 82002, 'student', '2024-09-03 08:00+00') > 0 AS enrolled;
SELECT crm.associate(:algebra, 'contact', 82003, 'teacher', '2024-08-20 08:00+00') > 0 AS assigned;
SELECT crm.associate(:biology, 'contact', 82001, 'student', '2024-09-02 09:00+00') > 0 AS enrolled;

-- The roster of a course.
SELECT c.name, a.label, a.associated_at
  FROM crm.object_associations a
  JOIN crm.contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
 WHERE a.workspace_id = crm.current_workspace() AND a.record_id = :algebra
 ORDER BY a.label, c.name;

-- Maya's records grouped by type.
SELECT t.key AS type, r ->> 'display_name' AS course, r ->> 'label' AS label, r ->> 'associated_at' AS since
  FROM jsonb_each(crm.associated_records('contact', 82001)) t, jsonb_array_elements(t.value) r;

-- Associating again is one association: it updates the label (Leo becomes a
-- teaching assistant) and keeps the date when none is given.
SELECT crm.associate(:algebra, 'contact', 82002, 'assistant') > 0 AS updated;
SELECT a.label, a.associated_at FROM crm.object_associations a
 WHERE a.workspace_id = crm.current_workspace() AND a.record_id = :algebra AND a.contact_id = 82002;

-- Maya drops Biology.
SELECT crm.dissociate(:biology, 'contact', 82001) AS dropped;
SELECT crm.dissociate(:biology, 'contact', 82001) AS dropped_again;
SELECT crm.associated_records('contact', 82001) -> 'course' -> 0 ->> 'display_name' AS still_enrolled;
SELECT crm.associated_records('contact', 82002) -> 'course' -> 0 ->> 'label' AS leo;

-- Records are displayed by the primary property; changing it renames them.
SELECT crm.set_primary_property('course', 'code');
SELECT display_name FROM crm.object_records WHERE workspace_id = crm.current_workspace() ORDER BY display_name;
SELECT crm.set_primary_property('course', 'title');

-- Events: records created and updated, association changes on the record.
SELECT type, count(*) FROM crm.events
 WHERE workspace_id = crm.current_workspace() AND object_type = 'record'
 GROUP BY type ORDER BY type;

:objects_here;

-- Bad input: each call fails with a hint and writes nothing.
-- bad type keys
SELECT crm.create_object_type('Course', 'Courses');
SELECT crm.create_object_type('2nd_course', 'Courses');
SELECT crm.create_object_type('my-course', 'Courses');
-- a built-in object name
SELECT crm.create_object_type('deal', 'Deals');
-- a key that exists
SELECT crm.create_object_type('course', 'More courses');
-- an empty name
SELECT crm.create_object_type('club', ' ');
-- an unknown object type
SELECT crm.create_record('courses', '{"title": "Chemistry"}');
SELECT crm.upsert_record('club', 'CHESS', '{"title": "Chess"}');
SELECT crm.set_primary_property('club', 'title');
-- a bad primary property key
SELECT crm.set_primary_property('course', 'Title');
-- a duplicate external id
SELECT crm.create_record('course', '{"title": "Algebra I again"}', 'MATH-101');
-- properties that are not an object
SELECT crm.create_record('course', '"Chemistry"');
-- a field of the wrong type is refused by the same validation as contacts
SELECT crm.create_record('course', '{"title": "Chemistry", "credits": "four"}');
-- an upsert without an external id
SELECT crm.upsert_record('course', NULL, '{"title": "Chemistry"}');
-- associating to a missing contact
SELECT crm.associate(:algebra, 'contact', 999999999, 'student');
-- associating to a missing deal
SELECT crm.associate(:algebra, 'deal', 999999999);
-- associating to something that is neither a contact nor a deal
SELECT crm.associate(:algebra, 'company', 82001);
-- associating a missing record
SELECT crm.associate(999999999, 'contact', 82001);
-- a missing contact's records
SELECT crm.associated_records('contact', 999999999);
\set VERBOSITY terse
-- direct writes: an association naming a contact as a deal
INSERT INTO crm.object_associations (record_id, target_type, contact_id) VALUES (:algebra, 'deal', 82001);
-- a record of an unknown type
INSERT INTO crm.object_records (type_key, properties) VALUES ('club', '{}');
-- a second association of the same record and contact
INSERT INTO crm.object_associations (record_id, target_type, contact_id) VALUES (:algebra, 'contact', 82001);
\set VERBOSITY default
:objects_here;

--
-- The row path: associations written as rows by a frontend role emit the
-- CRM_RECORD_UPDATED events crm.associate and crm.dissociate emit.
--
SELECT crm.use_workspace('objects-school') > 0 AS switched;
CREATE ROLE crm_objects_app;
SELECT crm.grant_access('crm_objects_app');
SELECT crm.create_record('course', '{"title": "Chemistry"}') AS by_fn \gset
SELECT crm.create_record('course', '{"title": "Physics"}') AS by_rows \gset
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.associate(:by_fn, 'contact', 82002, 'student', '2024-09-05 08:00+00') > 0 AS enrolled;
SELECT crm.associate(:by_fn, 'contact', 82002, 'assistant') > 0 AS relabelled;
SELECT crm.dissociate(:by_fn, 'contact', 82002) AS dropped;
SET ROLE crm_objects_app;
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label, associated_at)
	VALUES (:by_rows, 'contact', 82002, 'student', '2024-09-05 08:00+00');
UPDATE crm.object_associations SET label = 'assistant' WHERE record_id = :by_rows;
DELETE FROM crm.object_associations WHERE record_id = :by_rows;
RESET ROLE;
SELECT r.display_name, e.type, e.payload - 'id' AS payload
  FROM crm.events e JOIN crm.object_records r ON r.id = e.object_id AND e.object_type = 'record'
 WHERE e.id > :last_event AND r.id IN (:by_fn, :by_rows) ORDER BY r.display_name, e.id;
-- a label over 2 kB (54000), a property value over 64 kB (54000): nothing written
SELECT count(*) AS events_before FROM crm.events \gset
SET ROLE crm_objects_app;
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label)
	VALUES (:by_rows, 'contact', 82002, repeat('l', 2049));
UPDATE crm.object_records SET properties = properties || jsonb_build_object('room', repeat('r', 65537))
 WHERE id = :by_rows;
RESET ROLE;
SELECT crm.upsert_record('course', 'PHY-1', jsonb_build_object('title', 'Physics', 'room', repeat('r', 65537)));
SELECT count(*) = :events_before AS nothing_written FROM crm.events;

-- The row path does what the functions do.  A type written as a row gets
-- crm.create_object_type's checks, with its errors, and its trimmed name:
SET ROLE crm_objects_app;
INSERT INTO crm.object_types (key, name) VALUES ('Lesson', 'Lessons');
INSERT INTO crm.object_types (key, name) VALUES ('deal', 'Deals');
INSERT INTO crm.object_types (key, name) VALUES ('lesson', '   ');
INSERT INTO crm.object_types (key, name, icon) VALUES ('lesson', '  Lessons ', 'bell') RETURNING key, name, icon;
-- the key names the type's fields and list filters too: it cannot change (0A000)
UPDATE crm.object_types SET key = 'lessons' WHERE key = 'lesson';
-- a primary property changed as a row must be one of the type's fields (42703) ...
UPDATE crm.object_types SET primary_property = 'teacher' WHERE key = 'course';
UPDATE crm.object_types SET primary_property = 'teacher' WHERE key = 'lesson';
RESET ROLE;
SELECT max(id) AS last_event FROM crm.events \gset
SET ROLE crm_objects_app;
-- ... and renames the records, with their events, as crm.set_primary_property does
UPDATE crm.object_types SET primary_property = 'code' WHERE key = 'course';
SELECT external_id, display_name FROM crm.object_records WHERE type_key = 'course' AND external_id IS NOT NULL ORDER BY id;
UPDATE crm.object_types SET primary_property = 'title' WHERE key = 'course';
RESET ROLE;
SELECT e.type, count(*) AS events FROM crm.events e WHERE e.id > :last_event GROUP BY e.type;
-- A record written as a row: crm.create_record's errors; a JSON null removes
-- the key (on insert and on update, so properties || '{"k": null}' is
-- crm.upsert_record's patch)
SET ROLE crm_objects_app;
INSERT INTO crm.object_records (type_key, external_id, properties) VALUES ('course', '  ', '{"title": "Blank"}');
INSERT INTO crm.object_records (type_key, properties) VALUES ('course', '["Algebra"]');
INSERT INTO crm.object_records (type_key, external_id, properties) VALUES ('course', 'ART-1', '{"title": "Art", "credits": null}')
RETURNING display_name, properties;
UPDATE crm.object_records SET properties = properties || '{"room": "Studio", "title": null}' WHERE external_id = 'ART-1'
RETURNING display_name, properties;
RESET ROLE;
-- An association's label as crm.associate stores it: trimmed, an empty one
-- NULL; an association written again unchanged is no event
SELECT max(id) AS last_event FROM crm.events \gset
SET ROLE crm_objects_app;
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label) VALUES (:by_rows, 'contact', 82003, '  teacher ')
RETURNING label;
UPDATE crm.object_associations SET label = '' WHERE record_id = :by_rows AND contact_id = 82003 RETURNING label;
UPDATE crm.object_associations SET label = NULL WHERE record_id = :by_rows AND contact_id = 82003;
RESET ROLE;
SELECT crm.associate(:by_rows, 'contact', 82003) > 0 AS associated_again;
SELECT e.type, e.payload - 'id' AS payload FROM crm.events e WHERE e.id > :last_event ORDER BY e.id;
DELETE FROM crm.object_records WHERE workspace_id = crm.current_workspace() AND external_id = 'ART-1';
DELETE FROM crm.object_types WHERE workspace_id = crm.current_workspace() AND key = 'lesson';
DROP OWNED BY crm_objects_app;
DROP ROLE crm_objects_app;
DELETE FROM crm.object_records WHERE workspace_id = crm.current_workspace() AND id IN (:by_fn, :by_rows);

--
-- The clinic: procedures performed on patients; its records are invisible to the school.
--
SELECT crm.use_workspace('objects-clinic') > 0 AS switched;
INSERT INTO crm.contacts (id, name, phone) VALUES (83001, 'Omar Haddad', '+1 201 555 0100');
SELECT crm.create_object_type('procedure', 'Procedures', 'tooth', 'name') > 0 AS created;
SELECT crm.create_object_type('insurance_plan', 'Insurance plans', 'shield', 'plan') > 0 AS created;
SELECT crm.create_record('procedure', '{"name": "Teeth whitening", "price": 350, "duration_min": 60}', 'P-WHITE') AS whitening \gset
SELECT crm.create_record('procedure', '{"name": "Root canal", "price": 900, "duration_min": 90}', 'P-ROOT') AS root_canal \gset
SELECT crm.create_record('insurance_plan', '{"plan": "DentaCare Gold", "coverage_pct": 80}') AS gold \gset
SELECT crm.associate(:root_canal, 'contact', 83001, 'patient', '2024-05-14 15:00+00') > 0 AS booked;
SELECT crm.associate(:whitening, 'contact', 83001, 'patient', '2024-06-01 10:00+00') > 0 AS booked;
SELECT crm.associate(:gold, 'contact', 83001, 'member', '2024-01-01 00:00+00') > 0 AS insured;
SELECT t.key AS type, r ->> 'display_name' AS record, r ->> 'label' AS label, r -> 'properties' AS properties
  FROM jsonb_each(crm.associated_records('contact', 83001)) t, jsonb_array_elements(t.value) r;

-- The school's course and contacts do not exist here.
SELECT crm.associate(:whitening, 'contact', 82001, 'patient');
\set VERBOSITY sqlstate
SELECT crm.associate(:algebra, 'contact', 83001);
\set VERBOSITY default
SELECT crm.create_record('course', '{"title": "Dental hygiene"}');
-- The same key may be used by each workspace.
SELECT crm.create_object_type('course', 'Training courses') > 0 AS created;

-- Deleting a record removes its associations; hard-deleting a patient (GDPR)
-- removes theirs and keeps the records.
DELETE FROM crm.object_records WHERE workspace_id = crm.current_workspace() AND id = :whitening;
SELECT type FROM crm.events
 WHERE workspace_id = crm.current_workspace() AND object_type = 'record' AND object_id = :whitening
 ORDER BY id DESC LIMIT 1;
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND id = 83001;
:objects_here;

-- Leave no contacts behind for later tests (they count all contacts).
DELETE FROM crm.contacts
 WHERE workspace_id IN (SELECT id FROM crm.workspaces WHERE slug IN ('objects-school', 'objects-clinic'));
