-- An injection corpus: hostile strings used as CQL values, property keys,
-- tags and field names.  Whatever the string, a value means exactly "equal
-- to / contains this text", and nothing else happens.
BEGIN;
SELECT plan(11);

CREATE TEMP TABLE payloads (n serial, p text);
INSERT INTO payloads (p) VALUES
	(''''), (''''''), ('x''; DROP TABLE crm.contacts; --'), ('x'' OR ''1''=''1'), ('$$'), ('$q$ OR true $q$'),
	('--'), ('/*'), ('*/'), ('/* x */'), (';'), ('; SELECT pg_sleep(10);'), (E'\\'), (E'\\'''),
	(E'\\''; DROP TABLE crm.contacts; --'), (E'x\\'), ('%'), ('_'), (E'%_\\'), ('"'), ('""'), ('") OR ("1"="1'),
	(E'\n'), (E'tab\there'), (E'\x01\x1f'), ('{"a": 1}'), ('$.a ? (@ > 1)'), ('ARRAY[1]'),
	-- Unicode look-alikes of quotes, backslash and semicolon, a right-to-left override, combining marks
	('ʼ OR 1=1 ʼ'), ('＇'), ('‘x’'), ('＂'), ('＼'), ('；'), (E'\u202Eevil'), (E'e\u0301'), ('日本語');

-- a contact named after each payload, tagged with it, with it as a property value and key
INSERT INTO crm.contacts (name, tags, properties)
SELECT p, ARRAY[p], jsonb_build_object('k', p, p, 'v') FROM payloads WHERE btrim(p) <> '';
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM crm.contacts;

-- CQL string literal of a text: single quotes doubled
CREATE FUNCTION pg_temp.lit(t text) RETURNS text LANGUAGE sql AS $$ SELECT '''' || replace(t, '''', '''''') || '''' $$;
-- a CQL query's rows next to the expected rows, as arrays
CREATE FUNCTION pg_temp.same(cql text, expected bigint[]) RETURNS boolean LANGUAGE sql AS $$
	SELECT coalesce(array_agg(id ORDER BY id), '{}') = coalesce(expected, '{}') FROM crm.find_contacts(cql, 'id', 100000)
$$;

SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('name = ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE name = p))),
		  NULL, 'name = <payload> finds exactly the contacts with that name');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('name = ' || '"' || replace(p, '"', '""') || '"',
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE name = p))),
		  NULL, 'the same with a double-quoted literal');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('name CONTAINS ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE strpos(lower(name), lower(p)) > 0))),
		  NULL, 'name CONTAINS <payload> matches the text literally: %, _ and \ are not wildcards');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('name STARTS WITH ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE lower(name) LIKE lower(replace(replace(replace(p, E'\\', E'\\\\'), '%', E'\\%'), '_', E'\\_')) || '%'))),
		  NULL, 'name STARTS WITH <payload> matches a literal prefix');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('properties.k = ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE properties ->> 'k' = p))),
		  NULL, 'properties.k = <payload>: the JSON built for @> keeps the text intact');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('properties.' || pg_temp.lit(p) || ' = ''v''',
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE properties ->> p = 'v'))),
		  NULL, 'properties.<payload key> = ''v'': hostile keys stay keys');
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('tags CONTAINS ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE tags @> ARRAY[lower(btrim(p))]))),
		  NULL, 'tags CONTAINS <payload>');

-- with standard_conforming_strings off, backslashes still mean themselves (E'' literals)
SET LOCAL standard_conforming_strings = off;
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE NOT pg_temp.same('name = ' || pg_temp.lit(p),
								   (SELECT array_agg(id ORDER BY id) FROM crm.contacts WHERE name = p))),
		  NULL, 'name = <payload> with standard_conforming_strings off');
RESET standard_conforming_strings;

-- a payload where a field name goes is a CQL error, never SQL
SELECT is((SELECT string_agg(p, ' | ' ORDER BY n) FROM payloads
			WHERE (crm.cql_check('contact', p || ' = 1')).sqlstate NOT IN ('42601', '42703', '22023')),
		  NULL, 'a payload as a field name is always a CQL syntax or unknown-field error');

-- a NUL byte cannot reach the translator: PostgreSQL text refuses it
SELECT throws_ok($$SELECT crm.cql_to_sql('contact', convert_from('\x6e616d65203d2027002027'::bytea, 'UTF8'))$$,
				 '22021', NULL, 'a NUL byte is rejected before CQL sees it');

SELECT is((SELECT count(*) FROM crm.contacts), (SELECT n FROM before), 'no statement changed the data');

SELECT * FROM finish();
ROLLBACK;
