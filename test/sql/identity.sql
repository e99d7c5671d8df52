-- Identity resolution: find-or-create by key, merging what the keys join,
-- PATCH updates with merge on email collision, and duplicate suggestions.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset

-- the same person, spelled differently: one contact
SELECT crm.identify(email => '  Foo@X.com ', name => 'Foo', seen_at => '2024-01-01') AS foo \gset
SELECT crm.identify(email => 'foo@x.com', phone => '+33 6 12 34 56 78', properties => '{"plan": "free"}', seen_at => '2024-02-01') = :foo AS same;
SELECT id, name, email, phone, identity_source, properties, first_seen_at, last_seen_at
  FROM crm.contacts WHERE id = :foo;
-- an older seen_at never moves last_seen_at back
SELECT crm.identify(email => 'foo@x.com', seen_at => '2023-06-01') = :foo AS same;
SELECT first_seen_at, last_seen_at FROM crm.contacts WHERE id = :foo;
-- a repeat visit moves only last_seen_at, with an event saying so; one
-- inside the seen range, or bringing nothing new, writes nothing at all
SELECT max(id) AS last_event FROM crm.events \gset
SELECT updated_at AS foo_touched FROM crm.contacts WHERE id = :foo \gset
SELECT crm.identify(email => 'foo@x.com', seen_at => '2024-03-01') = :foo AS same;
SELECT name, first_seen_at, last_seen_at, updated_at > :'foo_touched' AS touched FROM crm.contacts WHERE id = :foo;
SELECT type, payload FROM crm.events WHERE id > :last_event ORDER BY id;
SELECT max(id) AS last_event FROM crm.events \gset
SELECT updated_at AS foo_touched FROM crm.contacts WHERE id = :foo \gset
SELECT crm.identify(email => 'FOO@x.com', phone => '+33612345678', name => 'Foo', seen_at => '2024-02-15') = :foo AS same;
SELECT updated_at = :'foo_touched' AS untouched FROM crm.contacts WHERE id = :foo;
SELECT count(*) AS new_events FROM crm.events WHERE id > :last_event;

-- a verified login on the phone: the contact becomes verified and its
-- properties now override what was self-reported
SELECT crm.identify(phone => '0033612345678', verified_id => 'user-1', properties => '{"plan": "pro"}') = :foo AS same;
SELECT verified_id, identity_source, properties FROM crm.contacts WHERE id = :foo;
-- a self-reported call cannot override a verified value, only fill gaps
SELECT crm.identify(email => 'foo@x.com', properties => '{"plan": "hacked", "color": "red"}') = :foo AS same;
SELECT identity_source, properties FROM crm.contacts WHERE id = :foo;

-- a widget visitor, later telling us their email: two contacts become one,
-- the verified one survives although it is newer
SELECT crm.identify(identifier => 'visitor-9', name => 'Anonymous visitor') AS visitor \gset
SELECT identity_source FROM crm.contacts WHERE id = :visitor;
SELECT crm.identify(identifier => 'visitor-9', email => 'FOO@x.com') = :foo AS survivor_is_verified;
SELECT id, status, merged_into = :foo AS into_foo FROM crm.contacts WHERE id = :visitor;
SELECT identifier, name FROM crm.contacts WHERE id = :foo;
SELECT type, payload ->> 'duplicate' = :'visitor' AS dup FROM crm.events WHERE type = 'CRM_CONTACT_MERGED';

-- two contacts verified as different people are never merged
SELECT crm.identify(email => 'bar@x.com', verified_id => 'user-2') AS bar \gset
SELECT crm.identify(email => 'bar@x.com', verified_id => 'user-3') AS other \gset
SELECT :other <> :bar AS kept_apart, (SELECT email FROM crm.contacts WHERE id = :other) AS other_email,
	   (SELECT email FROM crm.contacts WHERE id = :bar) AS bar_email;

-- no key at all is refused and writes nothing (a contact known by name only
-- is a plain INSERT)
SELECT crm.identify(name => 'Nobody');
SELECT crm.identify(email => '  ', name => 'Nobody', properties => '{"plan": "free"}');
SELECT count(*) FROM crm.contacts WHERE name = 'Nobody';

-- bad input: clear errors, nothing written
SELECT count(*) AS n_before FROM crm.contacts \gset
SELECT crm.identify(email => 'not-an-email');
SELECT crm.identify(phone => 'call me');
SELECT crm.identify(email => 'a@x.com', properties => '[1, 2]');
-- a role that may not read contacts learns nothing from the key probes; a
-- read-only one may not create
CREATE ROLE crm_identify_blind;
CREATE ROLE crm_identify_reader;
GRANT USAGE ON SCHEMA crm TO crm_identify_blind;
SELECT crm.grant_access('crm_identify_reader', read_only => true);
SET ROLE crm_identify_blind;
SELECT crm.identify(email => 'foo@x.com');
SET ROLE crm_identify_reader;
SELECT crm.identify(email => 'new@x.com');
RESET ROLE;
DROP OWNED BY crm_identify_blind, crm_identify_reader;
DROP ROLE crm_identify_blind, crm_identify_reader;
SELECT count(*) - :n_before AS contacts_written FROM crm.contacts;

-- update_contact: PATCH semantics
SELECT crm.update_contact(:foo, '{"city": "Paris", "tags": ["VIP", "vip"], "properties": {"color": null, "size": 3}}');
SELECT city, tags, properties FROM crm.contacts WHERE id = :foo;
SELECT crm.update_contact(:foo, '{"city": null}');
SELECT city, name FROM crm.contacts WHERE id = :foo;
-- archiving is a patch; merging and deleting are not
SELECT crm.update_contact(:bar, '{"status": "archived"}');
SELECT status FROM crm.contacts WHERE id = :bar;
SELECT crm.update_contact(:bar, '{"status": "active"}');
-- changing the email to one a live contact has merges the two; the older survives
SELECT crm.identify(email => 'baz@x.com', name => 'Baz') AS baz \gset
SELECT crm.update_contact(:baz, '{"email": "Foo@X.com", "country": "FR"}') = :foo AS returns_survivor;
SELECT id = :foo AS is_foo, email, name, country, status FROM crm.contacts WHERE id IN (:foo, :baz) ORDER BY id;

-- bad patches: clear errors, nothing written
SELECT updated_at AS foo_updated FROM crm.contacts WHERE id = :foo \gset
SELECT crm.update_contact(:foo, '{"nickname": "F"}');
SELECT crm.update_contact(:foo, '"city"');
SELECT crm.update_contact(:foo, '{"properties": [1]}');
SELECT crm.update_contact(:foo, '{"status": "merged"}');
SELECT crm.update_contact(:foo, '{"email": "nope"}');
SELECT crm.update_contact(:foo, '{"lifecycle_stage": "king"}');
SELECT crm.update_contact(:baz, '{"city": "Lyon"}');
SELECT crm.update_contact(999, '{"city": "Lyon"}');
SELECT updated_at = :'foo_updated' AS unchanged FROM crm.contacts WHERE id = :foo;

-- find_duplicates: same mailbox, same national number, similar names
INSERT INTO crm.companies (id, name, domain) VALUES (1, 'Acme', 'acme.example');
-- (102's phone was stored before 0.3.0 read numbers with libphonenumber: the
-- row trigger would now refuse a national number without a country)
SET session_replication_role = replica;
INSERT INTO crm.contacts (id, name, email, phone) VALUES (102, 'Dr Grace Hopper', NULL, '+2025550100');
RESET session_replication_role;
INSERT INTO crm.contacts (id, name, email, phone) VALUES
	(100, 'Grace Hopper', 'grace@navy.example', '+12025550100'),
	(101, 'Grace Hoper', 'grace+crm@navy.example', NULL),
	(103, 'Alan Turing', 'alan@acme.example', NULL),
	(104, 'Alan Turin', NULL, NULL),
	(105, 'Someone Else', NULL, NULL);
SELECT crm.link_company(103, 1), crm.link_company(104, 1);
-- first thing in a fresh session, before pg_trgm's library has defined its settings
\c
SELECT * FROM crm.find_duplicates();
SELECT * FROM crm.find_duplicates(0.9, 2);
SELECT * FROM crm.find_duplicates(0);
SELECT * FROM crm.find_duplicates(0.5, 0);
SHOW pg_trgm.similarity_threshold;

-- a contact identify creates is a contact like any other: its creation is
-- an event, its name is in the search dictionary, and it joins the dynamic
-- lists that match it (all of which statement triggers do)
SELECT id AS named_lists FROM crm.create_list('Named', 'contact', 'dynamic', 'name IS NOT NULL') \gset
SELECT crm.identify(email => 'quinn@x.com', name => 'Quinn') AS quinn \gset
SELECT type FROM crm.events WHERE object_type = 'contact' AND object_id = :quinn ORDER BY id;
SELECT count(*) AS quinn_words FROM crm.search_words WHERE word = 'quinn';
SELECT contact_id = :quinn AS is_quinn FROM crm.list_members WHERE list_id = :named_lists AND contact_id = :quinn;
SELECT crm.delete_list(:named_lists);

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.lists RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
