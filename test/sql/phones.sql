-- Phones with a country (issue 17.5): E.164 through libphonenumber, a
-- workspace's default_country for numbers in national form, a per-call
-- country, and every path (row write, identify, import, CQL, search) giving
-- the same E.164.
\set VERBOSITY default
SELECT crm.create_workspace('phones', 'Phones') AS ws \gset
SELECT crm.use_workspace('phones') IS NOT NULL AS switched;

-- international form needs no country; "00" reads as "+"
SELECT crm.normalize_phone('+44 20 7946 0000'), crm.normalize_phone('0044 (20) 7946-0000'),
	   crm.normalize_phone('+1 201-555-0123'), crm.normalize_phone('+33 6 12 34 56 78');
-- national form with a country (any case, spaces trimmed)
SELECT crm.normalize_phone('020 7946 0000', 'GB'), crm.normalize_phone('(201) 555-0123', ' us '),
	   crm.normalize_phone('06 12 34 56 78', 'FR');
-- a number in international form keeps its own country, whatever country says
SELECT crm.normalize_phone('+1 201 555 0123', 'GB');
SELECT crm.normalize_phone(NULL), crm.normalize_phone(NULL, 'GB');

-- without a country a national number is an error, never a guess
SELECT crm.normalize_phone('020 7946 0000');
-- invalid for its country: wrong length, a range that does not exist
SELECT crm.normalize_phone('020 7946 000', 'GB');
SELECT crm.normalize_phone('+44 20 7946 00000');
SELECT crm.normalize_phone('+1 555 123 4567');
SELECT crm.normalize_phone('+1 555 0100');
SELECT crm.normalize_phone('+999 1234 5678');
SELECT crm.normalize_phone('+4');
-- not a number at all: letters (vanity numbers, extensions) are refused
SELECT crm.normalize_phone('+1 800 FLOWERS');
SELECT crm.normalize_phone('+44 20 7946 0000 ext. 12');
-- a country libphonenumber has no numbering plan for
SELECT crm.normalize_phone('020 7946 0000', 'XX');
SELECT crm.normalize_phone('020 7946 0000', 'GBR');
SELECT crm.normalize_phone('020 7946 0000', '');

-- the workspace's default_country: validated and upper-cased by its trigger
UPDATE crm.workspaces SET default_country = 'Atlantis' WHERE id = :ws;
UPDATE crm.workspaces SET default_country = 'zz' WHERE id = :ws;
SELECT default_country FROM crm.workspaces WHERE id = :ws;
UPDATE crm.workspaces SET default_country = ' gb ' WHERE id = :ws RETURNING default_country;
SELECT crm.normalize_phone('020 7946 0000');
-- a call's country beats the default
SELECT crm.normalize_phone('(201) 555-0123', 'US');
-- (a national number is always read in the default: this one is a London number)
SELECT crm.normalize_phone('(201) 555-0123');

-- the row path: a national number is read in the default country
INSERT INTO crm.contacts (name, phone) VALUES ('Ada', '020 7946 0001') RETURNING phone;
-- an invalid one is refused and writes nothing
INSERT INTO crm.contacts (name, phone) VALUES ('Bad', '020 7946');
SELECT count(*) FROM crm.contacts WHERE workspace_id = :ws AND name = 'Bad';
-- identify: the same E.164, so the same contact
SELECT crm.identify(phone => '+44 20 7946 0001') = (SELECT id FROM crm.contacts WHERE workspace_id = :ws AND name = 'Ada') AS same;
SELECT crm.identify(phone => '(201) 555-0123', name => 'Sam', country => 'us') AS sam \gset
SELECT phone FROM crm.contacts WHERE id = :sam;
SELECT crm.identify(phone => '+1 201 555 0123') = :sam AS same;
SELECT crm.identify(phone => '201 555 0123', country => 'XX');
SELECT crm.identify(phone => '201 555 0123 4');
SELECT count(*) FROM crm.contacts WHERE workspace_id = :ws;
-- import: the same function
SELECT row_number, action, error FROM crm.import_contacts('[{"name": "Cleo", "phone": "020 7946 0002"},
	{"phone": "+44 20 7946 0001", "city": "London"}, {"name": "Eve", "phone": "020 7946"}]');
SELECT name, phone FROM crm.contacts WHERE workspace_id = :ws AND name IN ('Ada', 'Cleo') ORDER BY name;
-- CQL: a phone literal compares as the trigger stores it
SELECT name FROM crm.find_contacts('phone = ''020 7946 0001''');
SELECT name FROM crm.find_contacts('phone IN (''+44 (20) 7946-0002'', ''020 7946 0001'')', 'name');
SELECT name FROM crm.find_contacts('phone IN (''+44 (20) 7946-0002'', ''nothing'')');
SELECT name FROM crm.find_contacts('phone = ''+44 20 7946''');
-- a part of a number is still a substring match, as written
SELECT name FROM crm.find_contacts('phone CONTAINS ''7946''') ORDER BY name;
-- the search finds a whole national number
SELECT label, field, value FROM crm.search('020 7946 0002', 'exact');
SELECT label, field, value FROM crm.search('020 7946 0001', 'prefix', 'contact');
-- a typed property of type phone follows the same rules
SELECT crm.define_property('contact', 'mobile', 'phone') > 0 AS defined;
UPDATE crm.contacts SET properties = '{"mobile": "07700 900123"}' WHERE workspace_id = :ws AND name = 'Ada';
UPDATE crm.contacts SET properties = '{"mobile": "020 7946 0003"}' WHERE workspace_id = :ws AND name = 'Ada' RETURNING properties;

-- a frontend's row writes: national numbers in the workspace's country; a
-- number of another country is written in international form
CREATE ROLE crm_phones_app;
SELECT crm.grant_access('crm_phones_app');
SET ROLE crm_phones_app;
SELECT set_config('request.jwt.claims', json_build_object('workspace_id', :ws, 'sub', 'user-9')::text, false) IS NOT NULL AS claims;
INSERT INTO crm.contacts (name, phone) VALUES ('Fay', '020 7946 0004') RETURNING name, phone;
INSERT INTO crm.contacts (name, phone) VALUES ('Gus', '+33 6 12 34 56 78') RETURNING name, phone;
INSERT INTO crm.contacts (name, phone) VALUES ('Hal', '06 12 34 56 79');
UPDATE crm.contacts SET phone = '+1 201 555' WHERE name = 'Fay';
UPDATE crm.contacts SET phone = '020 7946 0005' WHERE name = 'Fay' RETURNING phone;
SELECT type, actor, payload -> 'changes' -> 'phone' AS phone FROM crm.events
 WHERE type = 'CRM_CONTACT_UPDATED' ORDER BY id DESC LIMIT 1;
-- the workspace setting is the DBA's
UPDATE crm.workspaces SET default_country = 'US';
RESET request.jwt.claims;
RESET ROLE;
DROP OWNED BY crm_phones_app;
DROP ROLE crm_phones_app;

-- no default country: national numbers are refused again; stored ones stay
UPDATE crm.workspaces SET default_country = NULL WHERE id = :ws;
SELECT crm.normalize_phone('020 7946 0000');
UPDATE crm.contacts SET city = 'Leeds' WHERE workspace_id = :ws AND name = 'Ada' RETURNING phone, city;
-- a transaction remembers the E.164 texts it made, so the row trigger does
-- not parse an import's numbers a second time; a national number is read
-- again in the country of the moment, and an ended transaction forgets
BEGIN;
UPDATE crm.workspaces SET default_country = 'GB' WHERE id = :ws;
SELECT crm.normalize_phone('020 7946 0010') AS gb;
UPDATE crm.workspaces SET default_country = NULL WHERE id = :ws;
SELECT crm.normalize_phone('+442079460010') AS remembered;
SAVEPOINT s;
SELECT crm.normalize_phone('020 7946 0010');
ROLLBACK TO SAVEPOINT s;
-- a longer number that starts like a remembered one is parsed, and refused
SELECT crm.normalize_phone('+44 20 7946 0010 9');
ROLLBACK TO SAVEPOINT s;
SELECT crm.normalize_phone('+4420794600109');
ROLLBACK TO SAVEPOINT s;
SELECT crm.normalize_phone('+44 20 7946 0011') AS after_savepoint;
ROLLBACK;
SELECT crm.normalize_phone('+442079460011') AS next_transaction;
SELECT crm.normalize_phone('+1 201 555');
-- an import's numbers: normalised in the stage, stored by the row trigger
BEGIN;
SELECT row_number, action, error FROM crm.import_contacts(
  '[{"name": "Ivy", "phone": "+44 20 7946 0012"}, {"name": "Jo", "phone": "+44 20 7946 00"},
    {"name": "Kit", "phone": "0044 20 7946 0013"}]');
SELECT name, phone FROM crm.contacts WHERE workspace_id = :ws AND name IN ('Ivy', 'Jo', 'Kit') ORDER BY name;
ROLLBACK;
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
