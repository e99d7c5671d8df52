-- CQL ranges over a declared number.  Without an index on
-- (properties ->> 'k')::numeric they read the value with
-- crm_hidden.cql_number(properties, 'k'), which must give what the cast
-- gives (or raise what it raises) for every JSON value, so that a finder's
-- answers are the cast's; with such an index they write the cast, and the
-- finder's kept plan follows the index as it comes and goes.
SET client_min_messages = warning;
-- tests share one database: the ids later tests print are left as they were
SELECT last_value AS workspaces_seq, is_called AS workspaces_called FROM crm.workspaces_id_seq \gset
SELECT last_value AS contacts_seq, is_called AS contacts_called FROM crm.contacts_id_seq \gset
SELECT crm.create_workspace('cql-numbers', 'CQL numbers') IS NOT NULL AS created;
SELECT crm.use_workspace('cql-numbers') IS NOT NULL AS switched;

-- 1. cql_number against the cast, as text (so that the scale counts too)
CREATE FUNCTION pg_temp.both(p jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a text;
	b text;
BEGIN
	BEGIN
		a := coalesce(crm_hidden.cql_number(p, 'k')::text, 'NULL');
	EXCEPTION WHEN OTHERS THEN
		a := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
	END;
	BEGIN
		b := coalesce(((p ->> 'k')::numeric)::text, 'NULL');
	EXCEPTION WHEN OTHERS THEN
		b := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
	END;
	RETURN CASE WHEN a = b THEN 'same: ' || a ELSE 'DIFFERS: ' || a || ' / ' || b END;
END;
$$;
SELECT pg_temp.both(v), v AS properties
  FROM (VALUES ('{}'::jsonb), ('{"k": null}'), ('{"k": 45}'), ('{"k": 44.99}'), ('{"k": 1.50}'),
			   ('{"k": -0.0}'), ('{"k": 1e60}'), ('{"k": -1e-20}'),
			   ('{"k": 123456789012345678901234567890.123456789}'), ('{"k": "10"}'), ('{"k": " 7.5 "}'),
			   ('{"k": "NaN"}'), ('{"k": "abc"}'), ('{"k": ""}'), ('{"k": true}'), ('{"k": false}'),
			   ('{"k": {"a": 1}}'), ('{"k": [1]}'), ('{"K": 1, "k ": 2}'), ('[1, 2]'), ('5'), ('"k"')) AS t(v);
SELECT crm_hidden.cql_number(NULL, 'k') IS NULL AS null_properties, crm_hidden.cql_number('{"k": 1}', NULL) IS NULL AS null_key;

-- 2. a finder's answers against the cast's on a declared number holding
-- whole, fractional, negative and very large numbers, null, nothing, and
-- (written past the validation trigger, as rows from before the definition
-- could not be) numeric strings
SELECT crm.define_property('contact', 'seats', 'number') > 0 AS seats;
INSERT INTO crm.contacts (name, city, tags, properties)
SELECT 'n' || i, CASE WHEN i % 2 = 0 THEN 'Paris' ELSE 'Rome' END, CASE WHEN i % 3 = 0 THEN '{vip}' ELSE '{}' END::text[], p
  FROM unnest(ARRAY['{"seats": 45}', '{"seats": 44.99}', '{"seats": 45.000}', '{"seats": -3}', '{"seats": 0}',
					'{"seats": 1e300}', '{"seats": -1e300}', '{"seats": 0.000001}', '{"seats": 123456789012345678901234567890.5}',
					'{"seats": null}', '{}', '{"plan": "pro"}', '{"seats": 1.5}', '{"seats": 100}']::jsonb[])
	   WITH ORDINALITY AS t(p, i);
ALTER TABLE crm.contacts DISABLE TRIGGER contacts_validate_properties;
INSERT INTO crm.contacts (name, city, properties) VALUES ('s1', 'Paris', '{"seats": "50"}'), ('s2', 'Paris', '{"seats": " 7 "}');
ALTER TABLE crm.contacts ENABLE TRIGGER contacts_validate_properties;

CREATE TEMP TABLE number_cases (n int, q text, hand text);
INSERT INTO number_cases VALUES
	(1, 'seats >= 45', $$(properties ->> 'seats')::numeric >= 45$$),
	(2, 'seats > 45', $$(properties ->> 'seats')::numeric > 45$$),
	(3, 'seats < 45', $$(properties ->> 'seats')::numeric < 45$$),
	(4, 'seats <= 44.99', $$(properties ->> 'seats')::numeric <= 44.99$$),
	(5, 'properties.seats >= 45 AND city = ''Paris'' AND tags IS EMPTY',
		$$(properties ->> 'seats')::numeric >= 45 AND city = 'Paris' AND tags = '{}'$$),
	(6, 'seats BETWEEN 0 AND 45', $$(properties ->> 'seats')::numeric BETWEEN 0 AND 45$$),
	(7, 'seats NOT BETWEEN 0 AND 45', $$(properties ->> 'seats')::numeric NOT BETWEEN 0 AND 45$$),
	(8, 'seats > 1e299', $$(properties ->> 'seats')::numeric > 1e299$$),
	(9, 'seats < -1e299 OR seats > 123456789012345678901234567890', $$(properties ->> 'seats')::numeric < -1e299 OR (properties ->> 'seats')::numeric > 123456789012345678901234567890$$),
	(10, 'seats > 0 AND seats < 0.00001', $$(properties ->> 'seats')::numeric > 0 AND (properties ->> 'seats')::numeric < 0.00001$$),
	(11, 'NOT seats >= 45', $$NOT (properties ->> 'seats')::numeric >= 45$$),
	(12, 'tags IS EMPTY', $$tags = '{}'$$);

CREATE FUNCTION pg_temp.compare(label text) RETURNS TABLE (n int, q text, rows bigint, same boolean) LANGUAGE plpgsql AS $$
DECLARE
	c record;
	found bigint[];
	want bigint[];
BEGIN
	FOR c IN SELECT * FROM number_cases ORDER BY 1 LOOP
		SELECT array_agg(f.id ORDER BY f.id) INTO found FROM crm.find_contacts(c.q, 'id', 1000) f;
		EXECUTE 'SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE workspace_id = crm.current_workspace()'
			' AND status < ''merged'' AND (' || c.hand || ')' INTO want;
		n := c.n;
		q := c.q;
		rows := coalesce(cardinality(want), 0);
		same := found IS NOT DISTINCT FROM want;
		RETURN NEXT;
	END LOOP;
END;
$$;
SELECT * FROM pg_temp.compare('no index');
SELECT crm.cql_to_sql('contact', 'seats BETWEEN 0 AND 45');

-- a value the cast refuses: the same error either way
ALTER TABLE crm.contacts DISABLE TRIGGER contacts_validate_properties;
INSERT INTO crm.contacts (name, properties) VALUES ('b', '{"seats": true}');
ALTER TABLE crm.contacts ENABLE TRIGGER contacts_validate_properties;
\set VERBOSITY terse
SELECT count(*) FROM crm.find_contacts('seats > 1');
SELECT count(*) FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND (properties ->> 'seats')::numeric > 1;
\set VERBOSITY default
DELETE FROM crm.contacts WHERE name = 'b' AND workspace_id = crm.current_workspace();

-- 3. an index on the cast: the translation writes the cast, and the kept
-- finder plan (made above without the index) is made again and uses it
SELECT count(*) FROM crm.find_contacts('seats > 1e299');
CREATE INDEX cql_numbers_seats ON crm.contacts (((properties ->> 'seats')::numeric));
ANALYZE crm.contacts;
SELECT crm.cql_to_sql('contact', 'seats BETWEEN 0 AND 45');
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM crm.find_contacts('seats > 1e299');
SELECT pg_stat_get_xact_numscans('crm.cql_numbers_seats'::regclass) > 0 AS index_used;
COMMIT;
SELECT * FROM pg_temp.compare('index');
-- and a partial index whose predicate has it
DROP INDEX crm.cql_numbers_seats;
SELECT crm.cql_to_sql('contact', 'seats > 100');
CREATE INDEX cql_numbers_big ON crm.contacts (id) WHERE (properties ->> 'seats')::numeric > 100;
SELECT crm.cql_to_sql('contact', 'seats > 100');
DROP INDEX crm.cql_numbers_big;

-- 4. tags IS EMPTY is written tags = '{}': the tag columns CQL reads are NOT NULL
SELECT a.attrelid::regclass, a.attname, a.attnotnull
  FROM pg_attribute a
 WHERE a.attrelid IN ('crm.contacts'::regclass, 'crm.companies'::regclass, 'crm.conversations'::regclass)
   AND a.attname = 'tags'
 ORDER BY 1;

DELETE FROM crm.workspaces WHERE slug = 'cql-numbers';
SELECT setval('crm.workspaces_id_seq', :workspaces_seq, :'workspaces_called') IS NOT NULL AS workspaces_seq,
	   setval('crm.contacts_id_seq', :contacts_seq, :'contacts_called') IS NOT NULL AS contacts_seq;
