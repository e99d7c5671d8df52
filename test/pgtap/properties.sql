-- SQLSTATEs of custom property validation and definitions, and that a
-- failed call writes nothing.
BEGIN;
SELECT plan(37);

SELECT lives_ok($$SELECT crm.define_property('contact', 't_text', 'text')$$, 'define text');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_num', 'number')$$, 'define number');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_cur', 'currency')$$, 'define currency');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_pct', 'percent')$$, 'define percent');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_bool', 'boolean')$$, 'define boolean');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_date', 'date')$$, 'define date');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_dt', 'datetime')$$, 'define datetime');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_email', 'email')$$, 'define email');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_phone', 'phone')$$, 'define phone');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_url', 'url')$$, 'define url');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_sel', 'select', options => ARRAY['a', 'b'])$$, 'define select');
SELECT lives_ok($$SELECT crm.define_property('contact', 't_multi', 'multi_select', options => ARRAY['a', 'b'])$$, 'define multi_select');

-- one bad value per type: 22023
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_text": 1}')$$,
	'22023', 'invalid value for contact property "t_text": 1', 'text wants a string');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_num": "1"}')$$,
	'22023', 'invalid value for contact property "t_num": "1"', 'number wants a number');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_cur": true}')$$,
	'22023', 'invalid value for contact property "t_cur": true', 'currency wants a number');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_pct": 150}')$$,
	'22023', 'invalid value for contact property "t_pct": 150', 'percent is 0 to 100');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_bool": 0}')$$,
	'22023', 'invalid value for contact property "t_bool": 0', 'boolean wants true/false');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_date": "2023-02-29"}')$$,
	'22023', 'invalid value for contact property "t_date": "2023-02-29"', 'date must exist');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_dt": "yesterday"}')$$,
	'22023', 'invalid value for contact property "t_dt": "yesterday"', 'datetime is ISO 8601');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_email": "a@b"}')$$,
	'22023', 'invalid value for contact property "t_email": "a@b"', 'email is checked');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_phone": "12"}')$$,
	'22023', 'invalid value for contact property "t_phone": "12"', 'phone is checked');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_url": "mailto:a@b.com"}')$$,
	'22023', 'invalid value for contact property "t_url": "mailto:a@b.com"', 'url is http(s)');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_sel": "c"}')$$,
	'22023', 'invalid value for contact property "t_sel": "c"', 'select in options');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', '{"t_multi": ["a", "c"]}')$$,
	'22023', 'invalid value for contact property "t_multi": ["a", "c"]', 'multi_select subset of options');

-- required: 23502; strict: 22023
SELECT lives_ok($$SELECT crm.define_property('company', 'region', 'text', required => true)$$, 'define required');
SELECT throws_ok($$INSERT INTO crm.companies (name) VALUES ('Acme')$$,
	'23502', 'missing required company property "region"', 'required key missing');
UPDATE crm.workspaces SET settings = '{"strict_properties": true}' WHERE id = 1;
SELECT throws_ok($$INSERT INTO crm.companies (name, properties) VALUES ('Acme', '{"region": "eu", "x": 1}')$$,
	'22023', 'undeclared company property "x"', 'strict refuses undeclared keys');
UPDATE crm.workspaces SET settings = '{}' WHERE id = 1;

-- re-validation refusal: 23514
INSERT INTO crm.contacts (name, properties) VALUES ('y', '{"t_text": "hello"}');
SELECT throws_ok($$SELECT crm.define_property('contact', 't_text', 'number')$$,
	'23514', NULL, 'a change stored values do not fit is refused');
SELECT is((SELECT type::text FROM crm.property_definitions WHERE key = 't_text'), 'text',
	'the refused change left the definition alone');

-- bad definitions
SELECT throws_ok($$SELECT crm.define_property('contact', '9 lives', 'text')$$,
	'22023', 'invalid property key: "9_lives"', 'bad key');
SELECT throws_ok($$SELECT crm.define_property('contact', 'email', 'text')$$,
	'22023', 'property key "email" is a standard column of contact', 'standard column');
SELECT throws_ok($$SELECT crm.define_property('gizmo', 'x', 'text')$$,
	'22023', 'unknown object type: "gizmo"', 'unknown object type');
SELECT throws_ok($$SELECT crm.define_property('contact', 'y', 'select', options => '{}')$$,
	'22023', 'select property "y" needs options', 'empty options');
SELECT throws_ok($$SELECT crm.define_property('contact', 'y', 'text', pattern => '(')$$,
	'2201B', 'invalid pattern for property "y": "("', 'bad regex');
SELECT throws_ok($$SELECT crm.drop_property('contact', 'nope')$$,
	'P0002', 'contact property "nope" is not defined', 'dropping an unknown property');

-- nothing written by the failures above
SELECT is((SELECT count(*) FROM crm.contacts WHERE name = 'x'), 0::bigint, 'no contact written');
SELECT is((SELECT count(*) FROM crm.property_definitions WHERE key IN ('bad', 'x', 'email')), 0::bigint,
	'no definition written');

SELECT * FROM finish();
ROLLBACK;
