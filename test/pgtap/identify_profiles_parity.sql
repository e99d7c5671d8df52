-- crm.identify's address and social profiles against the row path: the same
-- raw values give the same stored forms whether crm.identify (workspace f)
-- or a frontend's INSERT (workspace r) writes them, and a bad value is
-- refused by both with the same SQLSTATE and message.
BEGIN;
SELECT plan(14);

\set app crm_identify_profiles_parity_app
\set slug idparity
\ir parity_setup.psql

-- raw values as a form would send them
CREATE TEMP TABLE raw (email text, street text, address_line2 text, city text, region text, postal_code text,
					   country text, linkedin text, x text, instagram text, facebook text, github text, website text);
INSERT INTO raw VALUES
	('ada@parity.example', '  10 Downing Street ', '', ' London', ' Greater London ', ' sw1a   2aa ', 'United Kingdom',
	 'https://uk.linkedin.com/in/Ada-L/?trk=x', '@AdaL', 'instagram.com/ada.l', 'https://m.facebook.com/profile.php?id=42&x=1',
	 'AdaL', 'Ada.example.COM/'),
	('bob@parity.example', ' 1 rue de Rivoli', 'Bât. B', 'Paris ', NULL, '75001', 'fra',
	 'linkedin.com/company/acme', 'https://twitter.com/Bob_B', '@bob.b', 'fb.com/bob.b', 'https://github.com/Bob-B/', 'http://bob.example:8080/'),
	('cy@parity.example', NULL, NULL, '   ', NULL, '', ' de ', NULL, '', NULL, NULL, NULL, NULL);
GRANT SELECT ON raw TO :"app";

SELECT pg_temp.use(f) FROM ws;
SELECT crm.identify(email => email, street => street, address_line2 => address_line2, city => city, region => region,
					postal_code => postal_code, address_country => country, linkedin => linkedin, x => x,
					instagram => instagram, facebook => facebook, github => github, website => website)
  FROM raw ORDER BY email;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE :"app";
INSERT INTO crm.contacts (email, street, address_line2, city, region, postal_code, country, linkedin, x, instagram,
						  facebook, github, website)
SELECT * FROM raw ORDER BY email
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;

CREATE FUNCTION pg_temp.stored(w bigint) RETURNS TABLE (email text, street text, address_line2 text, city text, region text,
														postal_code text, country text, linkedin text, x text, instagram text,
														facebook text, github text, website text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT email, street, address_line2, city, region, postal_code, country::text, linkedin, x, instagram, facebook, github, website
	  FROM crm.contacts WHERE workspace_id = w ORDER BY email;
END $$;
SELECT results_eq(format('SELECT * FROM pg_temp.stored(%s)', (SELECT f FROM ws)),
				  format('SELECT * FROM pg_temp.stored(%s)', (SELECT r FROM ws)),
				  'crm.identify stores what a frontend''s INSERT stores');
SELECT is((SELECT count(*) FROM pg_temp.stored((SELECT f FROM ws)) WHERE country IS NOT NULL), 3::bigint,
		  'every contact has its country code');

-- bad values: the same refusal on both paths
CREATE TEMP TABLE bad (col text, arg text, val text, code text, msg text);
INSERT INTO bad VALUES
	('country', 'address_country', 'Atlantis', '22023', 'unknown country: "Atlantis"'),
	('postal_code', 'postal_code', '75001!', '22P02', 'invalid postal code: "75001!"'),
	('x', 'x', 'bob builder', '22P02', 'invalid x profile: "bob builder"'),
	('linkedin', 'linkedin', 'https://x.com/bob', '22023', 'linkedin "https://x.com/bob" is an address on x'),
	('website', 'website', 'ftp://bob.example', '22P02', 'invalid website: "ftp://bob.example"'),
	('street', 'street', repeat('a', 501), '54000', 'value of column "street" is too long: 501 bytes');
GRANT SELECT ON bad TO :"app";
SELECT pg_temp.use(f) FROM ws;
SELECT throws_ok(format('SELECT crm.identify(email => %L, %I => %L)', 'dee@parity.example', arg, val), code, msg,
				 'crm.identify(' || arg || ' => ...) is ' || code)
  FROM bad ORDER BY col;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE :"app";
SELECT throws_ok(format('INSERT INTO crm.contacts (email, %I) VALUES (%L, %L)', col, 'dee@parity.example', val), code, msg,
				 'INSERT (' || col || ') is ' || code)
  FROM bad ORDER BY col;
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;

SELECT * FROM finish();
ROLLBACK;
