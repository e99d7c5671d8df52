-- C functions declared without SET search_path (crm.identify, the list
-- trigger crm.lists_sync) are correct under a caller's search path that
-- puts planted objects before pg_catalog.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.lists RESTART IDENTITY CASCADE;
RESET client_min_messages;

-- an = that says every text and every bigint match, and a jsonb that is text
CREATE SCHEMA planted;
CREATE FUNCTION planted.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION planted.always(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR planted.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.always);
CREATE OPERATOR planted.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted.always);
CREATE DOMAIN planted.jsonb AS text;
GRANT USAGE ON SCHEMA planted TO PUBLIC;

SELECT id AS paris FROM crm.create_list('Paris', 'contact', 'dynamic', 'city = ''Paris''') \gset

-- a new session, so that crm.identify and the list trigger prepare their
-- statements under the planted path; what they return is checked after it
\c
SET search_path = planted, pg_catalog;
SELECT 'x'::text = 'y'::text AS planted_equal_says;
SELECT crm.identify(email => 'ann@example.com', name => 'Ann') AS ann \gset
SELECT crm.identify(email => 'bob@example.com', name => 'Bob') AS bob \gset
SELECT crm.identify(email => 'ANN@example.com', properties => '{"plan": "pro"}') AS ann_again \gset
SELECT crm.identify(phone => '+33 6 12 34 56 78') AS phone_only \gset
-- the email of one and the phone of another: they merge, the oldest survives
SELECT crm.identify(email => 'bob@example.com', phone => '+33612345678') AS bob_again \gset
-- list membership follows at commit under the planted path too
UPDATE crm.contacts SET city = 'Paris' WHERE id OPERATOR(pg_catalog.=) :ann;
SELECT count(*) AS ann_in_paris FROM crm.list_members \gset
UPDATE crm.contacts SET city = 'Rome' WHERE id OPERATOR(pg_catalog.=) :ann;
UPDATE crm.contacts SET city = 'Paris' WHERE id OPERATOR(pg_catalog.=) :bob;
-- the path the caller set is the one left after each call
SHOW search_path;

RESET search_path;
SELECT :ann <> :bob AS two_people, :ann_again = :ann AS same_ann, :bob_again = :bob AS bob_survives,
	   :ann_in_paris AS ann_in_paris;
SELECT id = :bob AS is_bob, id = :phone_only AS is_phone_only, name, email, phone, status, properties
  FROM crm.contacts ORDER BY id;
SELECT contact_id = :bob AS is_bob FROM crm.list_members WHERE list_id = :paris;

DROP SCHEMA planted CASCADE;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.lists RESTART IDENTITY CASCADE;
RESET client_min_messages;
