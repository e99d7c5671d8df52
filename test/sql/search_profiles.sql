-- crm.search over social profiles and the postal address (docs/search.md):
-- a pasted profile URL or a handle finds the contact, cities, regions,
-- postal codes and street words come after names; a frontend's row write
-- makes a contact findable in its own transaction, and erasure makes it
-- unfindable.
-- in a workspace of its own, so other tests' rows do not show up
SELECT crm.create_workspace('search-profiles', 'Search profiles') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
INSERT INTO crm.contacts (name, email, street, city, region, postal_code, country, linkedin, x, instagram, github, website) VALUES
	('Grace Hopper', 'grace@navy.mil', '10 Downing Street', 'London', 'Greater London', 'sw1a  2aa', 'GB',
	 'grace-hopper', '@GraceH', NULL, 'ghopper', 'grace.example.com'),
	('Alan Turing', 'alan@bletchley.uk', '221B Baker Street', 'London', NULL, 'NW1 6XE', 'GB',
	 'https://uk.linkedin.com/in/alan-turing', NULL, 'alan.turing', NULL, NULL),
	('Ada Lovelace', 'ada@lovelace.io', 'Rue de Rivoli 5', 'Paris', 'Île-de-France', '75001', 'FR',
	 NULL, 'adalove', NULL, NULL, 'https://lovelace.io/about'),
	('Paris Hilton', 'paris@hilton.test', NULL, 'Los Angeles', 'California', '90210', 'US', NULL, NULL, NULL, NULL, NULL),
	('Acme Buyer', 'buyer@acme.test', NULL, NULL, NULL, NULL, NULL, 'https://www.linkedin.com/company/Acme', NULL, NULL, NULL, NULL);

-- the prefixes of stored URLs a term stands for: linkedin /in/ and
-- /company/, x, instagram, facebook, github, website, www. website
SELECT crm_hidden.search_profile_prefixes('@GraceH');
SELECT crm_hidden.search_profile_prefixes('alan.turing');
SELECT crm_hidden.search_profile_prefixes('https://mobile.twitter.com/GraceH?s=20');
SELECT crm_hidden.search_profile_prefixes('lovelace.io/about');
-- a term that is no profile stands for none: spaces, another page of a network
SELECT crm_hidden.search_profile_prefixes('grace hopper');
SELECT crm_hidden.search_profile_prefixes('https://www.linkedin.com/feed/');
-- the end of a prefix's range in C collation, multibyte too
SELECT crm_hidden.search_prefix_end('ada'), crm_hidden.search_prefix_end('az'),
	   crm_hidden.search_prefix_end('île'), crm_hidden.search_prefix_end('') IS NULL AS empty_has_none;

-- a pasted profile URL, in any of its network's forms, finds its contact
SELECT label, field, value, score FROM crm.search('https://www.linkedin.com/in/Grace-Hopper/?trk=public_profile');
SELECT label, field, value, score FROM crm.search('twitter.com/graceh');
SELECT label, field, value, score FROM crm.search('http://instagram.com/alan.turing/');
SELECT label, field, value, score FROM crm.search('https://LOVELACE.io/about');
SELECT label, field, value, score FROM crm.search('linkedin.com/company/acme');
-- a URL on another network finds nobody through this one's column
SELECT count(*) FROM crm.search('https://www.instagram.com/graceh');
-- a handle, with or without @, on every network it fits; as it is typed
SELECT label, field, value, score FROM crm.search('@graceh');
SELECT label, field, value, score FROM crm.search('ghop');
SELECT label, field, value, score FROM crm.search('alan.tur');
SELECT label, field, value, score FROM crm.search('acme', 'prefix', 'contact');
SELECT label, field, value, score FROM crm.search('ghopper', 'exact');
-- one row per contact, its best field: name, email and profile all start with grace
SELECT label, field, value, score FROM crm.search('grace');
-- a contact the first tier found (website) is not repeated by the later
-- ones (a later word of the name and the email)
SELECT label, field, value, score FROM crm.search('lovelace');

-- places come after names and words: cities, regions and postal codes
-- starting with the term, streets with a word starting with it
SELECT label, field, value, score FROM crm.search('lond');
SELECT label, field, value, score FROM crm.search('paris');
SELECT label, field, value, score FROM crm.search('califo');
SELECT label, field, value, score FROM crm.search('île');
SELECT label, field, value, score FROM crm.search('SW1A');
SELECT label, field, value, score FROM crm.search('sw1a   2aa');
SELECT label, field, value, score FROM crm.search('baker');
SELECT label, field, value, score FROM crm.search('downing str');
-- exact: the whole value (a street case-insensitively, a postal code as stored)
SELECT label, field, value, score FROM crm.search('LONDON', 'exact');
SELECT label, field, value, score FROM crm.search('10 downing street', 'exact');
-- a word of the street is not the whole street (contacts_street_key, no trigrams)
SELECT count(*) FROM crm.search('downing', 'exact');
SELECT label, field, value, score FROM crm.search('10  downing street', 'exact');
SELECT label, field, value, score FROM crm.search('nw1 6xe', 'exact');
SELECT label, field, value, score FROM crm.search('https://x.com/adalove', 'exact');
-- a place many share is cut at lim like everything else
SELECT count(*) FROM crm.search('london', 'exact', 'all', 1);
-- companies only: no contact field is read
SELECT count(*) FROM crm.search('london', 'prefix', 'company');
-- country codes are not searched (CQL country = 'GB' is the way)
SELECT count(*) FROM crm.search('GB', 'exact');

-- a frontend's row writes, under row-level security with a member's
-- claims: the contact is findable by its profile and its new city in the
-- same transaction, and no longer by the old ones
CREATE ROLE crm_search_profiles_app;
SELECT crm.grant_access('crm_search_profiles_app');
RESET crm.workspace_id;
SET ROLE crm_search_profiles_app;
SELECT set_config('request.jwt.claims', json_build_object('workspace_id', :ws, 'sub', 'user-5')::text, false) IS NOT NULL AS claims;
BEGIN;
INSERT INTO crm.contacts (name, linkedin, city, postal_code) VALUES ('Margaret Hamilton', 'linkedin.com/in/mhamilton', 'Boston', '02139');
SELECT label, field, value, score FROM crm.search('https://www.linkedin.com/in/MHamilton');
SELECT label, field, value, score FROM crm.search('bost');
UPDATE crm.contacts SET city = 'Cambridge', linkedin = 'margaret-hamilton', github = 'mhamilton' WHERE name = 'Margaret Hamilton';
SELECT count(*) AS by_old_city FROM crm.search('bost');
SELECT count(*) AS by_old_linkedin FROM crm.search('https://www.linkedin.com/in/mhamilton');
SELECT label, field, value, score FROM crm.search('cambr');
SELECT label, field, value, score FROM crm.search('mhamilton');
COMMIT;
SELECT object_type, payload -> 'changes' ? 'github' AS github_changed FROM crm.events
 WHERE type = 'CRM_CONTACT_UPDATED' ORDER BY id DESC LIMIT 1;
-- under row-level security the ranges are index conditions in the generic
-- plan crm.search keeps, the range end being a parameter
SET plan_cache_mode = force_generic_plan;
SET enable_seqscan = off;
PREPARE by_profile(text) AS
SELECT c.id FROM crm.contacts c
 WHERE c.workspace_id = crm.current_workspace() AND c.linkedin IS NOT NULL
   AND c.linkedin COLLATE "C" >= $1 AND c.linkedin COLLATE "C" < crm_hidden.search_prefix_end($1)
 ORDER BY c.linkedin COLLATE "C" LIMIT 20;
EXPLAIN (COSTS OFF) EXECUTE by_profile('https://www.linkedin.com/in/m');
PREPARE by_city(text) AS
SELECT c.id FROM crm.contacts c
 WHERE c.workspace_id = crm.current_workspace() AND c.city IS NOT NULL
   AND crm_hidden.search_key(c.city) COLLATE "C" >= $1 AND crm_hidden.search_key(c.city) COLLATE "C" < crm_hidden.search_prefix_end($1)
 ORDER BY crm_hidden.search_key(c.city) COLLATE "C" LIMIT 20;
EXPLAIN (COSTS OFF) EXECUTE by_city('cam');
-- the exact mode's whole street: an equality of contacts_street_key
PREPARE by_street(text) AS
SELECT c.id FROM crm.contacts c
 WHERE c.workspace_id = crm.current_workspace() AND c.street IS NOT NULL
   AND crm_hidden.search_key(c.street) COLLATE "C" = $1 LIMIT 20;
EXPLAIN (COSTS OFF) EXECUTE by_street('10 downing street');
DEALLOCATE by_profile;
DEALLOCATE by_city;
DEALLOCATE by_street;
RESET enable_seqscan;
RESET plan_cache_mode;
-- the dictionary stays the extension's: the frontend cannot write it
DELETE FROM crm.search_words;
RESET request.jwt.claims;
RESET ROLE;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;

-- erasure: the person is found by none of their profiles and places any more
SELECT crm.delete_contact(id, hard => true) IS NOT NULL AS erased FROM crm.contacts
 WHERE workspace_id = crm.current_workspace() AND name = 'Grace Hopper';
SELECT count(*) AS by_profile FROM crm.search('https://www.linkedin.com/in/grace-hopper');
SELECT count(*) AS by_handle FROM crm.search('@graceh');
SELECT count(*) AS by_postal_code FROM crm.search('SW1A 2AA', 'exact');
SELECT count(*) AS by_street FROM crm.search('downing');
SELECT count(*) AS by_region FROM crm.search('greater london', 'exact');
-- the other Londoner still is
SELECT label, field, value, score FROM crm.search('london', 'exact');

-- bad input keeps its errors; a term that is no profile is no error
SELECT count(*) FROM crm.search('https://www.linkedin.com/feed/');
SELECT count(*) FROM crm.search('@');
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT * FROM crm.search('@graceh', 'handle');
\set VERBOSITY terse
\set SHOW_CONTEXT errors

-- leave the shared regression database as we found it
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'search-profiles';
DROP OWNED BY crm_search_profiles_app;
DROP ROLE crm_search_profiles_app;
