-- An injection corpus: hostile strings used as CQL values, property keys,
-- tags and field names.  Whatever the string, a value means exactly "equal
-- to / contains this text", and nothing else happens.
BEGIN;
SELECT plan(11);

-- CQL string literal of a text: single quotes doubled
CREATE FUNCTION pg_temp.lit(t text) RETURNS text LANGUAGE sql AS $$ SELECT '''' || replace(t, '''', '''''') || '''' $$;
-- The payloads (joined by " | ") for which the CQL query cql, an expression
-- of the payload $1, does not find exactly the contacts of the workspace the
-- SQL condition cond (of $1 too) selects.  Each payload's two queries are
-- statements of their own, naming the workspace: Citus runs each on the
-- workspace's worker (a join of the temporary table with crm.contacts it
-- cannot plan).  Made before the first write, as Citus wants its function
-- commands before a statement on many shards.
CREATE FUNCTION pg_temp.misses(cql text, cond text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
	got bigint[];
	want bigint[];
	bad text[] := '{}';
BEGIN
	FOR r IN SELECT n, p FROM payloads ORDER BY n LOOP
		EXECUTE format('SELECT coalesce(array_agg(id ORDER BY id), ''{}'') FROM crm.find_contacts(%s, ''id'', 100000)', cql)
			INTO got USING r.p;
		EXECUTE format('SELECT coalesce(array_agg(id ORDER BY id), ''{}'') FROM crm.contacts'
					   ' WHERE workspace_id = crm.current_workspace() AND (%s)', cond)
			INTO want USING r.p;
		IF got IS DISTINCT FROM want THEN
			bad := bad || r.p;
		END IF;
	END LOOP;
	RETURN NULLIF(array_to_string(bad, ' | '), '');
END $$;

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

SELECT is(pg_temp.misses($q$'name = ' || pg_temp.lit($1)$q$,
						$q$name = $1$q$),
		  NULL, 'name = <payload> finds exactly the contacts with that name');
SELECT is(pg_temp.misses($q$'name = ' || '"' || replace($1, '"', '""') || '"'$q$,
						$q$name = $1$q$),
		  NULL, 'the same with a double-quoted literal');
SELECT is(pg_temp.misses($q$'name CONTAINS ' || pg_temp.lit($1)$q$,
						$q$strpos(lower(name), lower($1)) > 0$q$),
		  NULL, 'name CONTAINS <payload> matches the text literally: %, _ and \ are not wildcards');
SELECT is(pg_temp.misses($q$'name STARTS WITH ' || pg_temp.lit($1)$q$,
						$q$lower(name) LIKE lower(replace(replace(replace($1, E'\\', E'\\\\'), '%', E'\\%'), '_', E'\\_')) || '%'$q$),
		  NULL, 'name STARTS WITH <payload> matches a literal prefix');
SELECT is(pg_temp.misses($q$'properties.k = ' || pg_temp.lit($1)$q$,
						$q$properties ->> 'k' = $1$q$),
		  NULL, 'properties.k = <payload>: the JSON built for @> keeps the text intact');
SELECT is(pg_temp.misses($q$'properties.' || pg_temp.lit($1) || ' = ''v'''$q$,
						$q$properties ->> $1 = 'v'$q$),
		  NULL, 'properties.<payload key> = ''v'': hostile keys stay keys');
SELECT is(pg_temp.misses($q$'tags CONTAINS ' || pg_temp.lit($1)$q$,
						$q$tags @> ARRAY[lower(btrim($1))]$q$),
		  NULL, 'tags CONTAINS <payload>');

-- with standard_conforming_strings off, backslashes still mean themselves (E'' literals)
SET LOCAL standard_conforming_strings = off;
SELECT is(pg_temp.misses($q$'name = ' || pg_temp.lit($1)$q$,
						$q$name = $1$q$),
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
