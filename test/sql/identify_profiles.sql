-- crm.identify takes the postal address and the social profiles (issue 22):
-- the values are normalised by the contacts trigger's own C code before the
-- write, so a repeat call compares stored forms and writes nothing; the
-- address is taken as one unit, each profile as the name is (by trust).
\set VERBOSITY default
SELECT crm.create_workspace('identify-profiles', 'Identify profiles') AS ws \gset
SELECT crm.use_workspace('identify-profiles') IS NOT NULL AS switched;

-- a new contact: every part stored as the row path stores it
SELECT crm.identify(email => 'ada@example.com', name => 'Ada', street => '  10 Downing Street ', address_line2 => '',
					city => ' London', region => ' Greater London ', postal_code => ' sw1a   2aa ',
					address_country => 'United Kingdom', linkedin => 'https://uk.linkedin.com/in/Ada-L/?trk=x',
					x => '@AdaL', instagram => 'instagram.com/ada.l', facebook => 'ada.l', github => 'AdaL',
					website => 'Ada.example.COM/', seen_at => '2026-01-10 09:00+00') AS ada \gset
SELECT street, address_line2, city, region, postal_code, country FROM crm.contacts WHERE id = :ada;
SELECT linkedin, x, instagram, facebook, github, website FROM crm.contacts WHERE id = :ada;
-- the same as a frontend's INSERT of the same raw values
INSERT INTO crm.contacts (name, street, address_line2, city, region, postal_code, country, linkedin, x, instagram, facebook, github, website)
VALUES ('Ada row', '  10 Downing Street ', '', ' London', ' Greater London ', ' sw1a   2aa ', 'United Kingdom',
		'https://uk.linkedin.com/in/Ada-L/?trk=x', '@AdaL', 'instagram.com/ada.l', 'ada.l', 'AdaL', 'Ada.example.COM/')
RETURNING id AS ada_row \gset
SELECT count(DISTINCT (street, address_line2, city, region, postal_code, country,
					   linkedin, x, instagram, facebook, github, website)) AS distinct_forms
  FROM crm.contacts WHERE id IN (:ada, :ada_row);
DELETE FROM crm.contacts WHERE id = :ada_row;

-- country is still the phone's country; address_country the address's
SELECT crm.identify(email => 'eve@example.com', phone => '020 7946 0958', country => 'GB',
					address_country => 'fra') AS eve \gset
SELECT phone, country FROM crm.contacts WHERE id = :eve;

-- the same values spelled otherwise, seen inside the known range: nothing
-- changes, nothing is written, no event
SELECT max(id) AS last_event FROM crm.events \gset
SELECT updated_at AS before FROM crm.contacts WHERE id = :ada \gset
SELECT crm.identify(email => 'ADA@example.com', street => '10 Downing Street', city => 'London',
					region => 'Greater London', postal_code => 'SW1A 2AA', address_country => 'GB',
					linkedin => 'linkedin.com/in/ada-l', x => 'https://twitter.com/adal', github => '@adal',
					website => 'https://ada.example.com', seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT updated_at = :'before' AS unchanged FROM crm.contacts WHERE id = :ada;
SELECT count(*) AS new_events FROM crm.events WHERE id > :last_event;

-- empty and blank arguments are no values: the stored ones stay
SELECT crm.identify(email => 'ada@example.com', street => '', city => '   ', postal_code => '', address_country => ' ',
					x => '', github => '  ', website => '', seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT updated_at = :'before' AS unchanged, street, city, country, x, github, website FROM crm.contacts WHERE id = :ada;

-- a newer address at the same trust replaces the stored one as a whole:
-- never the street of one with the city of the other
SELECT crm.identify(email => 'ada@example.com', city => 'Paris', postal_code => '75001', address_country => 'France',
					x => 'ada_paris', seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT street, address_line2, city, region, postal_code, country, x, github FROM crm.contacts WHERE id = :ada;
-- a contact update like any other: the event names the changed columns,
-- the value history records city and country with source identify
SELECT payload -> 'changes' AS changes FROM crm.events
 WHERE type = 'CRM_CONTACT_UPDATED' AND object_id = :ada AND id > :last_event ORDER BY id;
SELECT key, old_value, new_value, source FROM crm.property_history('contact', :ada)
 WHERE key IN ('city', 'country') ORDER BY id;

-- trust: once verified, a self-reported call changes neither the address
-- nor a profile; it only fills a profile the contact has none of
SELECT crm.identify(verified_id => 'auth0|ada', email => 'ada@example.com', street => '5 Rue de Rivoli',
					city => 'Paris', postal_code => '75001', address_country => 'FR',
					seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT updated_at AS before FROM crm.contacts WHERE id = :ada \gset
SELECT crm.identify(email => 'ada@example.com', city => 'Berlin', address_country => 'DE', x => 'someone',
					seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT updated_at = :'before' AS unchanged, street, city, country, x FROM crm.contacts WHERE id = :ada;
UPDATE crm.contacts SET facebook = NULL WHERE id = :ada;
SELECT crm.identify(email => 'ada@example.com', facebook => 'https://m.facebook.com/ada.lovelace', x => 'someone',
					seen_at => '2026-01-10 09:00+00') = :ada AS same;
SELECT facebook, x, city FROM crm.contacts WHERE id = :ada;
-- a contact with no address at all takes even a weaker call's
SELECT crm.identify(verified_id => 'auth0|bo', email => 'bo@example.com', name => 'Bo') AS bo \gset
SELECT crm.identify(email => 'bo@example.com', city => 'Lisbon', address_country => 'PT') = :bo AS same;
SELECT city, country FROM crm.contacts WHERE id = :bo;

-- a merge by identify: the survivor (the older) takes the call's address
SELECT crm.identify(email => 'cy@example.com', name => 'Cy') AS cy \gset
SELECT crm.identify(identifier => 'visitor-3', name => 'Visitor') AS visitor \gset
SELECT crm.identify(identifier => 'visitor-3', email => 'cy@example.com', city => 'Oslo', address_country => 'Norway',
					github => 'cy') = :cy AS survivor;
SELECT status, merged_into = :cy AS into_cy FROM crm.contacts WHERE id = :visitor;
SELECT identifier, city, country, github FROM crm.contacts WHERE id = :cy;

-- bad values: the row path's errors (22023, 22P02, 54000), nothing written
SELECT count(*) AS n_before FROM crm.contacts WHERE workspace_id = :ws \gset
SELECT updated_at AS before FROM crm.contacts WHERE id = :ada \gset
SELECT crm.identify(email => 'ada@example.com', address_country => 'Atlantis');
SELECT crm.identify(email => 'ada@example.com', address_country => 'UK');
SELECT crm.identify(email => 'new@example.com', postal_code => '75001!');
SELECT crm.identify(email => 'new@example.com', x => 'bob builder');
SELECT crm.identify(email => 'new@example.com', linkedin => 'https://www.instagram.com/bob');
SELECT crm.identify(email => 'new@example.com', website => 'https://github.com/bob');
-- (too long even where the call would not store it: Ada is verified)
SELECT crm.identify(email => 'ada@example.com', street => repeat('a', 501));
SELECT crm.identify(email => 'new@example.com', city => repeat('b', 201));
-- an address value without a key is still no identity
SELECT crm.identify(city => 'Paris', github => 'nobody');
SELECT count(*) - :n_before AS contacts_written FROM crm.contacts WHERE workspace_id = :ws;
SELECT updated_at = :'before' AS unchanged FROM crm.contacts WHERE id = :ada;

-- a frontend's call: a role granted the CRM, with a member's claims
CREATE ROLE crm_identify_profiles_app;
SELECT crm.grant_access('crm_identify_profiles_app');
SET ROLE crm_identify_profiles_app;
SELECT set_config('request.jwt.claims', json_build_object('workspace_id', :ws, 'sub', 'user-9')::text, false) IS NOT NULL AS claims;
SELECT crm.identify(email => 'dee@example.com', name => 'Dee', street => ' 1 Main St ', city => 'Boston',
					region => 'MA', postal_code => '02108', address_country => 'usa', github => 'github.com/Dee',
					seen_at => '2026-01-10 09:00+00') AS dee \gset
SELECT name, street, city, region, postal_code, country, github FROM crm.contacts WHERE id = :dee;
SELECT crm.identify(email => 'dee@example.com', city => 'Cambridge', address_country => 'US',
					seen_at => '2026-01-10 09:00+00') = :dee AS same;
SELECT street, city, region, postal_code, country FROM crm.contacts WHERE id = :dee;
SELECT type, actor, payload -> 'changes' AS changes FROM crm.events
 WHERE object_type = 'contact' AND object_id = :dee ORDER BY id;
SELECT crm.identify(email => 'dee@example.com', address_country => 'Freedonia');
SELECT crm.identify(email => 'dee@example.com', instagram => 'https://x.com/dee');
SELECT city, country, instagram FROM crm.contacts WHERE id = :dee;
RESET request.jwt.claims;
RESET ROLE;
DROP OWNED BY crm_identify_profiles_app;
DROP ROLE crm_identify_profiles_app;
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
