-- One path for custom objects: the same types, records and associations in
-- two workspaces, written once as the owner through the functions
-- (crm.create_object_type, crm.create_record, crm.upsert_record,
-- crm.set_primary_property, crm.associate, crm.dissociate) and once as plain
-- rows by a role granted with crm.grant_access under PostgREST's claims, give
-- the same types, the same records (properties, display names), the same
-- associations to contacts and deals, the same validation errors and the
-- same events, step by step.
BEGIN;
SELECT plan(25);

\set app crm_objects_parity_app
\set slug obparity
\ir parity_setup.psql

-- contacts, a deal, and the course type's fields (property definitions are
-- properties.sql's to compare)
CREATE FUNCTION pg_temp.seed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.contacts (name, email) VALUES ('Maya', 'maya@obparity.example'), ('Leo', 'leo@obparity.example'),
		('Old Leo', 'leo.old@obparity.example');
	SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE name = 'Leo' AND workspace_id = crm.current_workspace()),
							  (SELECT id FROM crm.contacts WHERE name = 'Old Leo' AND workspace_id = crm.current_workspace()));
	SELECT crm.create_pipeline('Sales', 'b2b_sales');
	INSERT INTO crm.deals (title) VALUES ('School deal') $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.seed();
SELECT pg_temp.use(r) FROM ws; SELECT pg_temp.seed();

CREATE FUNCTION pg_temp.types(w bigint) RETURNS TABLE (key text, name text, icon text, primary_property text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT t.key, t.name, t.icon, t.primary_property FROM crm.object_types t WHERE t.workspace_id = w ORDER BY t.key;
END $$;
-- records by type and external id, or by their properties when they have none (ids differ)
CREATE FUNCTION pg_temp.records(w bigint) RETURNS TABLE (type_key text, external_id text, display_name text, properties jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT r.type_key, r.external_id, r.display_name, r.properties
	  FROM crm.object_records r WHERE r.workspace_id = w ORDER BY r.type_key, r.external_id, r.properties::text;
END $$;
-- associations: record, target by name, label, date
CREATE FUNCTION pg_temp.associations(w bigint) RETURNS TABLE (record text, target_type text, target text, label text,
															  associated_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT r.external_id, a.target_type::text, coalesce(c.name, d.title), a.label, a.associated_at
	  FROM crm.object_associations a
	  JOIN crm.object_records r ON r.workspace_id = a.workspace_id AND r.id = a.record_id
	  LEFT JOIN crm.contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
	  LEFT JOIN crm.deals d ON d.workspace_id = a.workspace_id AND d.id = a.deal_id
	 WHERE a.workspace_id = w ORDER BY 1, 2, 3;
END $$;
-- the records' events since the mark: type, the record's external id, the
-- association's target by name, the payload without ids and times of writing
CREATE FUNCTION pg_temp.events(w bigint) RETURNS TABLE (type text, record text, target text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT e.type, r.external_id, coalesce(c.name, d.title),
		   e.payload - 'id' #- '{changes,updated_at}' #- '{associated,target_id}' #- '{dissociated,target_id}'
	  FROM crm.events e
	  LEFT JOIN crm.object_records r ON r.workspace_id = e.workspace_id AND r.id = e.object_id
	  LEFT JOIN crm.contacts c ON c.workspace_id = e.workspace_id
							  AND c.id = coalesce(e.payload #>> '{associated,target_id}', e.payload #>> '{dissociated,target_id}')::bigint
							  AND coalesce(e.payload #>> '{associated,target_type}', e.payload #>> '{dissociated,target_type}') = 'contact'
	  LEFT JOIN crm.deals d ON d.workspace_id = e.workspace_id
						   AND d.id = coalesce(e.payload #>> '{associated,target_id}', e.payload #>> '{dissociated,target_id}')::bigint
						   AND coalesce(e.payload #>> '{associated,target_type}', e.payload #>> '{dissociated,target_type}') = 'deal'
	 WHERE e.workspace_id = w AND e.object_type = 'record' AND e.id > (SELECT id FROM mark)
	 ORDER BY 2, e.id;
END $$;
CREATE FUNCTION pg_temp.same(step text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT results_eq(format('SELECT * FROM pg_temp.types(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.types(%s)', (SELECT f FROM ws)), step || ': the same types')
	UNION ALL
	SELECT results_eq(format('SELECT * FROM pg_temp.records(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.records(%s)', (SELECT f FROM ws)), step || ': the same records')
	UNION ALL
	SELECT results_eq(format('SELECT * FROM pg_temp.associations(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.associations(%s)', (SELECT f FROM ws)), step || ': the same associations') $$;
CREATE FUNCTION pg_temp.contact(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.contacts WHERE workspace_id = w AND name = n $$;
CREATE FUNCTION pg_temp.deal(w bigint) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.deals WHERE workspace_id = w AND title = 'School deal' $$;
CREATE FUNCTION pg_temp.record(w bigint, x text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.object_records WHERE workspace_id = w AND external_id = x $$;

-- 1. a type (its name as typed, with spaces around), its fields, and records:
-- one created, one upserted twice (a JSON null removes a key), one created
-- with a null value
SELECT pg_temp.use(f) FROM ws;
SELECT crm.create_object_type('course', '  Courses ', 'book', 'title') > 0;
SELECT crm.define_property('course', 'title', 'text'), crm.define_property('course', 'code', 'text'),
	   crm.define_property('course', 'credits', 'number');
SELECT crm.create_record('course', '{"title": "Algebra I", "code": "MATH-101", "credits": 4}', 'MATH-101') > 0,
	   crm.upsert_record('course', 'BIO-110', '{"title": "Biology", "code": "BIO-110", "credits": 3}') > 0,
	   crm.upsert_record('course', 'BIO-110', '{"room": "Lab 2", "credits": null}') > 0,
	   crm.create_record('course', '{"title": "Art", "code": "ART-1", "credits": null}', 'ART-1') > 0;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
INSERT INTO crm.object_types (key, name, icon, primary_property) VALUES ('course', '  Courses ', 'book', 'title');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(r) FROM ws;
SELECT crm.define_property('course', 'title', 'text'), crm.define_property('course', 'code', 'text'),
	   crm.define_property('course', 'credits', 'number');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
INSERT INTO crm.object_records (type_key, external_id, properties)
VALUES ('course', 'MATH-101', '{"title": "Algebra I", "code": "MATH-101", "credits": 4}');
-- crm.upsert_record as a frontend's upsert, then its patch as an update:
-- the new keys merged over the stored ones, a JSON null removing one
INSERT INTO crm.object_records AS o (type_key, external_id, properties)
VALUES ('course', 'BIO-110', '{"title": "Biology", "code": "BIO-110", "credits": 3}')
ON CONFLICT (workspace_id, type_key, external_id) DO UPDATE SET properties = o.properties || excluded.properties;
UPDATE crm.object_records SET properties = properties || '{"room": "Lab 2", "credits": null}'
 WHERE type_key = 'course' AND external_id = 'BIO-110';
INSERT INTO crm.object_records (type_key, external_id, properties)
VALUES ('course', 'ART-1', '{"title": "Art", "code": "ART-1", "credits": null}');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('types and records');

-- 2. property validation: a declared number given as text, a blank external
-- id; refused alike, nothing written
SELECT pg_temp.use(f) FROM ws;
SELECT throws_ok($$SELECT crm.create_record('course', '{"title": "Bad", "credits": "four"}', 'BAD-1')$$, '22023', NULL,
				 'a property of the wrong type, by function');
SELECT throws_ok($$SELECT crm.create_record('course', '{"title": "Blank"}', '  ')$$, '22023', NULL,
				 'a blank external id, by function');
SELECT throws_ok($$SELECT crm.create_record('course', '["Algebra"]')$$, '22023',
				 'record properties must be a JSON object, not array', 'properties that are not an object, by function');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
SELECT throws_ok($$INSERT INTO crm.object_records (type_key, external_id, properties)
				   VALUES ('course', 'BAD-1', '{"title": "Bad", "credits": "four"}')$$, '22023', NULL,
				 'and as a row');
SELECT throws_ok($$INSERT INTO crm.object_records (type_key, external_id, properties)
				   VALUES ('course', '  ', '{"title": "Blank"}')$$, '22023', NULL,
				 'and as a row');
SELECT throws_ok($$INSERT INTO crm.object_records (type_key, properties) VALUES ('course', '["Algebra"]')$$, '22023',
				 'record properties must be a JSON object, not array', 'and as a row');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;

-- 3. the primary property changed: every record renamed
SELECT pg_temp.use(f) FROM ws;
SELECT crm.set_primary_property('course', 'code');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
UPDATE crm.object_types SET primary_property = 'code' WHERE key = 'course';
SELECT throws_ok($$UPDATE crm.object_types SET key = 'courses' WHERE key = 'course'$$, '0A000',
				 'the key of object type "course" cannot be changed', 'a type''s key cannot change (no function renames it either)');
SELECT throws_ok($$UPDATE crm.object_types SET primary_property = 'teacher' WHERE key = 'course'$$, '42703',
				 'object type "course" has no property "teacher"', 'a primary property that is not a field, as a row');
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.use(f) FROM ws;
SELECT throws_ok($$SELECT crm.set_primary_property('course', 'teacher')$$, '42703',
				 'object type "course" has no property "teacher"', 'and by function');
SELECT pg_temp.same('primary property');
SELECT is((SELECT string_agg(display_name, ',' ORDER BY display_name) FROM pg_temp.records((SELECT r FROM ws))),
		  'ART-1,BIO-110,MATH-101', 'the primary property changed as a row renames the records');

-- 4. associations: students with labels as typed (spaces, an empty label),
-- a deal, a relabel, an association written again unchanged, a dissociation
SELECT pg_temp.use(f) FROM ws;
SELECT crm.associate(pg_temp.record(f, 'MATH-101'), 'contact', pg_temp.contact(f, 'Maya'), ' student ', '2024-09-02') > 0,
	   crm.associate(pg_temp.record(f, 'MATH-101'), 'contact', pg_temp.contact(f, 'Leo'), '', '2024-09-03') > 0,
	   crm.associate(pg_temp.record(f, 'BIO-110'), 'contact', pg_temp.contact(f, 'Maya'), 'student', '2024-09-02') > 0,
	   crm.associate(pg_temp.record(f, 'MATH-101'), 'deal', pg_temp.deal(f), 'sponsor', '2024-08-01') > 0,
	   crm.associate(pg_temp.record(f, 'MATH-101'), 'contact', pg_temp.contact(f, 'Leo'), 'teacher') > 0,
	   crm.associate(pg_temp.record(f, 'MATH-101'), 'deal', pg_temp.deal(f)) > 0,
	   crm.dissociate(pg_temp.record(f, 'BIO-110'), 'contact', pg_temp.contact(f, 'Maya')) FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label, associated_at)
SELECT pg_temp.record(r, 'MATH-101'), 'contact', pg_temp.contact(r, 'Maya'), ' student ', '2024-09-02' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label, associated_at)
SELECT pg_temp.record(r, 'MATH-101'), 'contact', pg_temp.contact(r, 'Leo'), '', '2024-09-03' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label, associated_at)
SELECT pg_temp.record(r, 'BIO-110'), 'contact', pg_temp.contact(r, 'Maya'), 'student', '2024-09-02' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.object_associations (record_id, target_type, deal_id, label, associated_at)
SELECT pg_temp.record(r, 'MATH-101'), 'deal', pg_temp.deal(r), 'sponsor', '2024-08-01' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
UPDATE crm.object_associations SET label = 'teacher'
 WHERE record_id = (SELECT pg_temp.record(r, 'MATH-101') FROM ws) AND contact_id = (SELECT pg_temp.contact(r, 'Leo') FROM ws);
-- the unchanged association again, as PostgREST's upsert sends it
INSERT INTO crm.object_associations AS a (record_id, target_type, deal_id, label, associated_at)
SELECT pg_temp.record(r, 'MATH-101'), 'deal', pg_temp.deal(r), 'sponsor', '2024-08-01' FROM ws
ON CONFLICT (workspace_id, record_id, deal_id) DO UPDATE SET label = excluded.label, associated_at = excluded.associated_at;
DELETE FROM crm.object_associations
 WHERE record_id = (SELECT pg_temp.record(r, 'BIO-110') FROM ws) AND contact_id = (SELECT pg_temp.contact(r, 'Maya') FROM ws);
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('associations');

-- 5. an association with a merged contact's id belongs to the contact it was
-- merged into
SELECT pg_temp.use(f) FROM ws;
SELECT crm.associate(pg_temp.record(f, 'ART-1'), 'contact', pg_temp.contact(f, 'Old Leo'), 'student', '2024-09-04') > 0 FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_objects_parity_app;
INSERT INTO crm.object_associations (record_id, target_type, contact_id, label, associated_at)
SELECT pg_temp.record(r, 'ART-1'), 'contact', pg_temp.contact(r, 'Old Leo'), 'student', '2024-09-04' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('a merged contact');
SELECT is((SELECT target FROM pg_temp.associations((SELECT r FROM ws)) WHERE record = 'ART-1'), 'Leo',
		  'the row naming the merged contact is stored against the survivor');

-- the events of every step, in order per record
SELECT results_eq(format('SELECT * FROM pg_temp.events(%s)', (SELECT r FROM ws)),
				  format('SELECT * FROM pg_temp.events(%s)', (SELECT f FROM ws)), 'all steps: the same events');
SELECT is((SELECT count(*) FROM pg_temp.events((SELECT r FROM ws)) WHERE payload ? 'associated' OR payload ? 'dissociated'),
		  7::bigint, 'associations written as rows are events: five written, one relabelled, one removed; the unchanged one none');

SELECT * FROM finish();
ROLLBACK;
