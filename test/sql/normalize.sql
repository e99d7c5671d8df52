-- Canonical forms of emails, phones, domains, currencies, colors and tags.

-- happy paths
SELECT crm.normalize_email('  Ada.Lovelace@Example.COM ');
SELECT crm.normalize_email('o''brien+crm@sub.example.co.uk');
SELECT crm.normalize_phone('+44 (20) 7946-0958');
SELECT crm.normalize_phone('0044 20 7946 0958');
SELECT crm.normalize_phone('(201) 555.0123', 'US');
SELECT crm.normalize_domain('https://www.Example.com/about?x=1#top');
SELECT crm.normalize_domain('EXAMPLE.com.');
SELECT crm.normalize_domain('mailto:user@shop.example.org');
SELECT crm.normalize_domain('http://example.com:8080');
SELECT crm.normalize_currency(' eur ');
SELECT crm.currency_exponent('JPY'), crm.currency_exponent('usd'), crm.currency_exponent('BHD');
SELECT count(*) > 150 AS many_currencies FROM crm.currencies();
SELECT crm.normalize_color('#1F77B4');
SELECT crm.normalize_tags(ARRAY[' VIP', 'vip', '', NULL, 'Newsletter', 'Été']);
SELECT crm.normalize_tags('{}');

-- bad input: each a 22P02 naming the value (22023 for a phone that is no
-- valid number: test/sql/phones.sql), with a hint
\set VERBOSITY default
SELECT crm.normalize_email('not-an-email');
SELECT crm.normalize_email('a@b');
SELECT crm.normalize_email('two@@example.com');
SELECT crm.normalize_email('spa ce@example.com');
SELECT crm.normalize_email('dots..x@example.com');
SELECT crm.normalize_email('@example.com');
SELECT crm.normalize_phone('call me');
SELECT crm.normalize_phone('123');
SELECT crm.normalize_phone('+1 234 567 890 123 456 789');
SELECT crm.normalize_domain('not a domain');
SELECT crm.normalize_domain('-bad-.com');
SELECT crm.normalize_domain('localhost');
SELECT crm.normalize_currency('EURO');
SELECT crm.normalize_currency('XYZ');
SELECT crm.currency_exponent('ABC');
SELECT crm.normalize_color('red');
SELECT crm.normalize_color('#12345g');
SELECT crm.normalize_tags(ARRAY[repeat('x', 101)]);
SELECT crm.normalize_tags('{{a,b},{c,d}}');

-- the row trigger applies the same rules and writes nothing on error
INSERT INTO crm.contacts (email, phone, tags) VALUES ('Grace@Navy.MIL', '+1 (202) 555-0100', '{Ops, ops}')
	RETURNING email, phone, tags;
INSERT INTO crm.contacts (email) VALUES ('nobody');
INSERT INTO crm.companies (name, domain) VALUES ('Navy', 'www.navy.mil/home') RETURNING domain;
INSERT INTO crm.companies (name, domain) VALUES ('Bad', 'http://');
SELECT count(*) FROM crm.contacts;
SELECT count(*) FROM crm.companies;
-- blank email and phone mean "none"
INSERT INTO crm.contacts (name, email, phone) VALUES ('Blank', '', '') RETURNING email IS NULL, phone IS NULL;

-- a backend keeps each trigger's parsed rules: a trigger replaced with
-- other rules, and a table whose columns moved, are read afresh
CREATE TABLE normalize_rules (a text, b text);
CREATE TRIGGER normalize_rules BEFORE INSERT ON normalize_rules
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('a:email');
INSERT INTO normalize_rules VALUES ('Ada@Example.COM', 'Bob@Example.COM') RETURNING a, b;
CREATE OR REPLACE TRIGGER normalize_rules BEFORE INSERT ON normalize_rules
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('b:email');
INSERT INTO normalize_rules VALUES ('Ada@Example.COM', 'Bob@Example.COM') RETURNING a, b;
CREATE OR REPLACE TRIGGER normalize_rules BEFORE INSERT ON normalize_rules
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('a:email');
INSERT INTO normalize_rules VALUES ('Ada@Example.COM', 'Bob@Example.COM') RETURNING a, b;
-- column a comes back as the third attribute
ALTER TABLE normalize_rules DROP COLUMN a;
ALTER TABLE normalize_rules ADD COLUMN a text;
INSERT INTO normalize_rules (a, b) VALUES ('Ada@Example.COM', 'Bob@Example.COM') RETURNING a, b;
INSERT INTO normalize_rules (a) VALUES ('nobody');
CREATE OR REPLACE TRIGGER normalize_rules BEFORE INSERT ON normalize_rules
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('c:email');
INSERT INTO normalize_rules (b) VALUES ('Bob@Example.COM');
DROP TABLE normalize_rules;
