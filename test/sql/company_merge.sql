-- Merging companies: survivorship, every row that points at the duplicate
-- re-parented (found from the catalog), key clashes, external ids, history,
-- the event, chains, the preview, bad input that writes nothing, a frontend
-- role and its member's permissions; then the duplicate finder.
-- Own database: stable ids.
CREATE DATABASE crm_test_company_merge;
\c crm_test_company_merge
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- a rich pair: the survivor (1) has gaps the duplicate (2) fills
INSERT INTO crm.companies (id, name, domain, industry, employees, plan, spend, description, owner, tags, properties, created_at) VALUES
	(1, 'Acme', 'acme.com', NULL, 250, '  ', NULL, NULL, 'ann', '{key account}', '{"tier": "gold"}', '2024-01-01'),
	(2, 'ACME Inc.', 'shop.acme.com', 'Manufacturing', 300, 'enterprise', 12000, 'Makers of everything', 'bob',
	 '{key account,emea}', '{"tier": "silver", "region": "emea"}', '2023-01-01'),
	(3, 'Globex', 'globex.io', 'Software', NULL, NULL, NULL, NULL, NULL, '{}', '{}', '2024-01-01');
SELECT setval(pg_get_serial_sequence('crm.companies', 'id'), 10);
INSERT INTO crm.contacts (id, name, email) VALUES
	(1, 'Ada', 'ada@acme.com'), (2, 'Bea', 'bea@acme.com'), (3, 'Cal', 'cal@acme.com');
SELECT setval(pg_get_serial_sequence('crm.contacts', 'id'), 10);
-- Ada works for both (primary at the duplicate); Bea for the duplicate only; Cal for the survivor
SELECT crm.link_company(1, 1, NULL, false), crm.link_company(1, 2, 'cto', true),
	   crm.link_company(2, 2, 'ceo', true), crm.link_company(3, 1, 'buyer', true);
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS sales \gset
INSERT INTO crm.deals (id, title, contact_id, company_id, value) VALUES (1, 'Renewal', 1, 2, 1000), (2, 'Upsell', 3, 1, 500);
INSERT INTO crm.notes (company_id, body) VALUES (2, 'Met their CTO');
SELECT crm.log_activity(2, 'call', 'Called the duplicate', company_id => 2) IS NOT NULL AS logged;
SELECT (crm.create_list('Key accounts', 'company')).id AS list \gset
SELECT (crm.create_list('EMEA', 'company')).id AS emea \gset
SELECT crm.add_to_list(:list, ARRAY[1, 2]) AS added, crm.add_to_list(:emea, ARRAY[2]) AS added;
SELECT crm.set_external_id('company', 1, 'stripe', 'cus_1'), crm.set_external_id('company', 2, 'stripe', 'cus_2'),
	   crm.set_external_id('company', 2, 'hubspot', 'hs_2');
-- history of the duplicate: its plan changed once
UPDATE crm.companies SET plan = 'pro' WHERE id = 2;
UPDATE crm.companies SET plan = 'enterprise' WHERE id = 2;

-- the preview changes nothing
SELECT jsonb_pretty(crm.merge_companies_preview(1, 2) - 'merged') AS preview;
SELECT jsonb_pretty((crm.merge_companies_preview(1, 2) -> 'merged') - 'created_at') AS merged;
SELECT count(*) AS companies FROM crm.companies;
SELECT count(*) AS links_on_duplicate FROM crm.contact_companies WHERE company_id = 2;

SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.merge_companies(1, 2);
SELECT id, name, domain, industry, employees, plan, spend, description, owner, tags, properties, created_at
  FROM crm.companies ORDER BY id;
-- Ada keeps one link, now primary with the duplicate's role; Bea moved over
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies ORDER BY contact_id, company_id;
SELECT id, title, company_id FROM crm.deals ORDER BY id;
SELECT company_id, body FROM crm.notes;
SELECT company_id, type, subject FROM crm.activities WHERE company_id IS NOT NULL;
SELECT l.name, m.company_id FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id ORDER BY 1, 2;
SELECT name, member_count FROM crm.lists ORDER BY name;
-- same system on both: the survivor's id wins, the other is in the event
SELECT object_id, system, external_id FROM crm.external_ids ORDER BY system;
-- the duplicate's history is the survivor's now, marked merged_from
SELECT object_id, key, old_value, new_value, merged_from FROM crm.value_history
 WHERE object_type = 'company' AND key = 'plan' ORDER BY id;
SELECT type, object_id FROM crm.events WHERE id > :last_event AND object_type = 'company' ORDER BY id;
SELECT jsonb_pretty(payload #- '{duplicate_record,created_at}' #- '{duplicate_record,updated_at}') AS payload, actor
  FROM crm.events WHERE type = 'CRM_COMPANY_MERGED';

-- the merge record (crm.merges, for crm.unmerge): the duplicate's row as it
-- was, the survivor's fields the merge filled {old, new}, the keys of every
-- row moved by column, the rows dropped whole on a unique key (Ada's link
-- to the duplicate, its place in Key accounts, its stripe id), the
-- survivor's link whose role and primary flag the merge filled as it was
-- and the duplicate's links whose primary flag that cleared, and the
-- history rows carried
SELECT id, object_type, survivor_id, loser_id, source, actor, undone_at IS NULL AS holds,
	   loser_row ->> 'name' AS loser_name, loser_row ->> 'domain' AS loser_domain
  FROM crm.merges;
SELECT jsonb_pretty(overwritten) AS overwritten FROM crm.merges;
SELECT jsonb_pretty(moved) AS moved FROM crm.merges;
SELECT k AS dropped_from, (SELECT jsonb_agg(r - 'added_at' - 'created_at' - 'updated_at')
							 FROM jsonb_array_elements(dropped -> k) r) AS rows
  FROM crm.merges, jsonb_object_keys(dropped) k ORDER BY k;
SELECT jsonb_pretty(demoted #- '{crm.contact_companies.company_id#filled,0,created_at}') AS filled FROM crm.merges;
SELECT history = (SELECT jsonb_agg(id ORDER BY id) FROM crm.value_history WHERE merged_from = 2) AS history_recorded,
	   jsonb_array_length(history) AS history_rows
  FROM crm.merges;
-- what crm.unmerge would do with it (test/sql/company_unmerge.sql undoes one)
SELECT crm.unmerge_preview(1) -> 'moved_back' AS would_move_back;
-- a preview writes no record
SELECT crm.merge_companies_preview(1, 3) IS NOT NULL AS previewed, (SELECT count(*) FROM crm.merges) AS records;

-- the duplicate is gone: a row written with its id lands on the survivor
-- (crm_internal.follow_merged_company; test/sql/company_unmerge.sql has the
-- frontend's writes), and crm.link_company with its id links the survivor
-- as an INSERT into crm.contact_companies would
INSERT INTO crm.deals (id, title, company_id) VALUES (3, 'Late deal', 2) RETURNING id, company_id;
DELETE FROM crm.deals WHERE id = 3;
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.link_company(1, 2, 'founder');
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE contact_id = 1;
SELECT type, object_id, payload ->> 'company_id' AS company_id, payload ->> 'role' AS role
  FROM crm.events WHERE id > :last_event ORDER BY id;
-- an id no company nor merge names: the house error, as before
SELECT crm.link_company(1, 999);
-- and crm.unlink_company, which follows a merged-away id as crm.link_company
-- does (a member unlinks with one below)
SELECT crm.unlink_company(1, 999);
SELECT crm.unlink_company(1, NULL);
-- merging it again, or into it: the house error for an unknown id
SELECT crm.merge_companies(1, 2);
SELECT crm.merge_companies(2, 1);
SELECT crm.merge_companies_preview(1, 99);

-- chains: 3 into 1 after 2 into 1; the second merge sees what the first moved
INSERT INTO crm.companies (id, name, domain) VALUES (4, 'Acme Europe', 'acme.eu');
SELECT crm.link_company(2, 4, 'ceo', false);
SELECT crm.merge_companies(4, 3), crm.merge_companies(1, 4);
SELECT id, name, domain, industry FROM crm.companies ORDER BY id;
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies ORDER BY contact_id, company_id;
SELECT payload -> 'survivor' AS survivor, payload -> 'duplicate' AS duplicate, payload -> 'moved' AS moved,
	   payload -> 'dropped' AS dropped
  FROM crm.events WHERE type = 'CRM_COMPANY_MERGED' ORDER BY id;
-- each merge of the chain has its record, the moves it made
SELECT id, survivor_id, loser_id, moved, jsonb_typeof(dropped) AS dropped FROM crm.merges ORDER BY id;

-- a DBA's table takes part by its foreign key; a NULL in a unique key
-- clashes only where the index says NULLS NOT DISTINCT: seat NULL twice
-- moves, desk NULL twice keeps the survivor's, seat s1 twice too
CREATE TABLE crm.test_seats (
	workspace_id bigint NOT NULL DEFAULT crm.current_workspace(),
	id bigint GENERATED BY DEFAULT AS IDENTITY,
	company_id bigint,
	seat text,
	desk text,
	PRIMARY KEY (workspace_id, id),
	UNIQUE (workspace_id, company_id, seat),
	UNIQUE NULLS NOT DISTINCT (workspace_id, company_id, desk),
	FOREIGN KEY (workspace_id, company_id) REFERENCES crm.companies (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO crm.companies (id, name) VALUES (7, 'Seats'), (8, 'Seats too');
INSERT INTO crm.test_seats (company_id, seat, desk)
VALUES (7, NULL, 'a'), (7, 's1', NULL), (8, NULL, 'b'), (8, 's2', NULL), (8, 's1', 'c');
SELECT crm.merge_companies_preview(7, 8) -> 'moved' AS moved, crm.merge_companies_preview(7, 8) -> 'dropped' AS dropped;
SELECT crm.merge_companies(7, 8);
SELECT company_id, seat, desk FROM crm.test_seats ORDER BY id;
SELECT dropped -> 'crm.test_seats.company_id' AS dropped_rows FROM crm.merges WHERE loser_id = 8;
-- an unmerge puts both dropped rows back
SELECT crm.unmerge(id) -> 'restored' AS restored FROM crm.merges WHERE loser_id = 8;
SELECT company_id, seat, desk FROM crm.test_seats ORDER BY id;
DROP TABLE crm.test_seats;

-- bad input writes nothing
SELECT count(*) AS events_before FROM crm.events \gset
SELECT crm.merge_companies(1, 1);
SELECT crm.merge_companies(NULL, 1);
SELECT crm.merge_companies_preview(1, NULL);
SELECT crm.merge_companies(1, -5);
SELECT count(*) = :events_before AS nothing_written FROM crm.events;
-- another workspace's company is unknown here
SELECT crm.create_workspace('other', 'Other') AS other_ws \gset
SELECT crm.use_workspace('other');
INSERT INTO crm.companies (id, name) VALUES (50, 'Elsewhere');
SELECT crm.use_workspace('default');
SELECT crm.merge_companies(1, 50);
SELECT crm.merge_companies_preview(50, 1);

-- The row path: a frontend role carrying a member's token.  Merging is a
-- function (the rows cannot say "these are one company"); a DELETE of a
-- company stays what it is: its links and list memberships go, its deals
-- keep their amounts without a company.
CREATE ROLE crm_cmerge_app;
SELECT crm.grant_access('crm_cmerge_app');
SELECT (crm.add_member('ada', 'admin')).role, (crm.add_member('ann', 'agent')).role, (crm.add_member('val', 'viewer')).role;
INSERT INTO crm.companies (id, name, domain, industry) VALUES (20, 'Initech', 'initech.com', NULL), (21, 'Initech LLC', 'initech.co.uk', 'Consulting');
INSERT INTO crm.contacts (id, name, owner) VALUES (20, 'Peter', 'ann'), (21, 'Milton', 'ada');
SELECT crm.link_company(20, 21, 'engineer', true), crm.link_company(21, 21, 'stapler', true);
INSERT INTO crm.deals (id, title, company_id, value) VALUES (20, 'TPS reports', 21, 300);
SET ROLE crm_cmerge_app;
-- a viewer may not write companies: 42501, as for contact merge
SELECT set_config('request.jwt.claims', '{"sub": "val", "workspace_id": 1}', false) IS NOT NULL AS as_val;
SELECT crm.merge_companies(20, 21);
-- a restricted agent (owner privacy) cannot see Milton's link: refused, nothing lost
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', '{"sub": "ann", "workspace_id": 1}', false) IS NOT NULL AS as_ann;
SELECT crm.merge_companies(20, 21);
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
SELECT count(*) AS links_of_21 FROM crm.contact_companies WHERE company_id = 21;
-- the companies module off: refused as every write to companies is
SELECT (crm.set_module('companies', false)).enabled;
SELECT crm.merge_companies(20, 21);
SELECT (crm.set_module('companies', true)).enabled;
-- an admin merges: the actor is the member
SELECT crm.merge_companies(20, 21);
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE company_id >= 20 ORDER BY 1;
SELECT id, company_id FROM crm.deals WHERE id = 20;
SELECT actor, payload -> 'moved' AS moved FROM crm.events WHERE type = 'CRM_COMPANY_MERGED' ORDER BY id DESC LIMIT 1;
-- the member, holding the merged-away id 21, unlinks Milton from it: the
-- link to the survivor goes (once), and linking with the id again links the
-- survivor
BEGIN;
SELECT crm.unlink_company(21, 21) AS unlinked;
SELECT crm.unlink_company(21, 21) AS unlinked_again;
SELECT count(*) AS links_of_milton FROM crm.contact_companies WHERE contact_id = 21 AND company_id >= 20;
SELECT type, object_id, payload ->> 'company_id' AS company_id, payload ->> 'unlinked' AS unlinked
  FROM crm.events ORDER BY id DESC LIMIT 1;
SELECT crm.link_company(21, 21, 'stapler', true);
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE contact_id = 21 AND company_id >= 20;
ROLLBACK;
-- its record names the member; the member reads the records, never writes them
SELECT object_type, survivor_id, loser_id, actor, moved FROM crm.merges ORDER BY id DESC LIMIT 1;
INSERT INTO crm.merges (object_type, survivor_id, loser_id, source, moved, demoted, history, actor)
VALUES ('company', 20, 21, 'explicit', '{}', '{}', '[]', 'ada');
UPDATE crm.merges SET actor = 'ada';
SELECT crm.set_privacy('everyone');
-- a DELETE of a company is a deletion, not a merge: links and list
-- memberships go with it, deals keep their value without a company
INSERT INTO crm.companies (id, name) VALUES (22, 'Initrode');
INSERT INTO crm.contact_companies (contact_id, company_id, role) VALUES (20, 22, 'consultant');
UPDATE crm.deals SET company_id = 22 WHERE id = 20;
DELETE FROM crm.companies WHERE id = 22;
SELECT count(*) AS links_of_22 FROM crm.contact_companies WHERE company_id = 22;
SELECT id, company_id, value FROM crm.deals WHERE id = 20;
RESET ROLE;

-- GDPR: erasing Ada leaves the company record her links' ids and flags,
-- not her role (Milton's link, moved, was only ever a key)
SELECT crm.delete_contact(1, true) AS erased;
SELECT (SELECT jsonb_agg(r - 'created_at') FROM jsonb_array_elements(dropped -> 'crm.contact_companies.company_id') r)
		   AS dropped_links,
	   (SELECT jsonb_agg(r - 'created_at') FROM jsonb_array_elements(demoted -> 'crm.contact_companies.company_id#filled') r)
		   AS filled_links,
	   erased_at IS NULL AS undoable
  FROM crm.merges WHERE id = 1;

-- the duplicate finder: one domain root, similar names, shared contacts
INSERT INTO crm.companies (id, name, domain) VALUES
	(30, 'Umbrella Corporation', 'umbrella.com'), (31, 'Umbrella Corp', NULL),
	(32, 'Hooli', 'hooli.xyz'), (33, 'Hooli Cloud', 'cloud.hooli.xyz'),
	(34, 'Stark Industries', 'stark.com'), (35, 'Wayne Enterprises', 'wayne.com');
INSERT INTO crm.contacts (id, name) VALUES (30, 'Tony');
SELECT crm.link_company(30, 34), crm.link_company(30, 35);
SELECT * FROM crm.company_duplicates() WHERE company_a >= 30;
SELECT * FROM crm.company_duplicates(1);
SELECT * FROM crm.company_duplicates(0);
-- "Umbrella Corporation" and "Umbrella Corp" are one name without their legal forms
SELECT crm_internal.company_name_key('Umbrella Corporation') AS a, crm_internal.company_name_key('The Umbrella Corp.') AS b;
-- a frontend role gets the same pairs; a member restricted by owner-based
-- privacy gets no shared-contact evidence (links of contacts it cannot see)
SET ROLE crm_cmerge_app;
SELECT * FROM crm.company_duplicates() WHERE company_a >= 30;
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', '{"sub": "ann", "workspace_id": 1}', false) IS NOT NULL AS as_ann;
SELECT * FROM crm.company_duplicates() WHERE company_a >= 30;
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('everyone');
RESET ROLE;
-- the trigram threshold of the session is left as it was
SELECT current_setting('pg_trgm.similarity_threshold') AS threshold;
-- names meet in blocks, the first and the last three characters of each
-- word: a typo in the middle (40, 41), in the first word of two (42, 43),
-- a different first word with a long shared one (44, 45); names that share
-- no word's start or end are not compared (46, 47: similarity 0.5 and more
-- as a whole, not proposed); a one-letter name has its blocks too (48, 49)
INSERT INTO crm.companies (id, name) VALUES
	(40, 'Umbrela'), (41, 'Umbrellla Ltd'),
	(42, 'Glorex Widgets'), (43, 'Globex Widgets'),
	(44, 'North Amalgamated Shipping'), (45, 'South Amalgamated Shipping'),
	(46, 'qqabcdefghijklmnopqrstzz'), (47, 'jjabcdefghijklmnopqrstkk'),
	(48, 'X'), (49, 'X AG');
SELECT similarity(crm_internal.company_name_key(x.name), crm_internal.company_name_key(y.name)) >= 0.5 AS similar_46_47
  FROM crm.companies x, crm.companies y WHERE x.id = 46 AND y.id = 47;
SELECT * FROM crm.company_duplicates() WHERE company_a >= 40;
-- the C pair finder alone: one key per id, NULL keys skipped, a pair once
-- (in the first block it shares: "acme" puts both in two)
SELECT * FROM crm_internal.company_name_pairs('{1, 2, 3}', '{"acme", null, "acme"}', 0.5);
-- a pair whose first shared block is skipped as too common (1,002 names
-- share "aaa") is compared in the next one ("qwe")
SELECT p.* FROM crm_internal.company_name_pairs(
		(SELECT array_agg(g::bigint ORDER BY g) FROM generate_series(1, 1002) g),
		(SELECT array_agg(CASE g WHEN 1001 THEN 'aaa qwerty' WHEN 1002 THEN 'aaa qwertx' ELSE 'aaa w' || g END ORDER BY g)
		   FROM generate_series(1, 1002) g), 0.5) p
 WHERE p.b > 1000;
-- the length and signature tests lose no pair: 600 names of two words
-- from 40 (so blocks are large and mostly dissimilar) against every pair
-- sharing a block compared with pg_trgm's similarity()
CREATE TEMP TABLE pair_names AS
SELECT g::bigint AS id, w1 || ' ' || w2 AS key
  FROM generate_series(1, 600) g,
	   LATERAL (SELECT translate(substr(md5('a' || g % 40), 1, 4 + g % 3), '0123456789', 'ghijklmnop') AS w1,
					   translate(substr(md5('b' || g % 37), 1, 3 + g % 4), '0123456789', 'ghijklmnop') || substr(md5(g::text), 1, g % 2) AS w2) w;
WITH blocks AS (
	SELECT DISTINCT n.id, v.blk FROM pair_names n, unnest(string_to_array(n.key, ' ')) w(word),
		   LATERAL (VALUES ('p' || left(w.word, 3)), ('s' || right(w.word, 3))) v(blk)
), expected AS (
	SELECT DISTINCT x.id AS a, y.id AS b, similarity(p.key, q.key) AS sim
	  FROM blocks x JOIN blocks y ON y.blk = x.blk AND y.id > x.id
	  JOIN pair_names p ON p.id = x.id JOIN pair_names q ON q.id = y.id
	 WHERE similarity(p.key, q.key) >= 0.5
), found AS (
	SELECT k.a, k.b, k.sim FROM crm_internal.company_name_pairs(
		(SELECT array_agg(id ORDER BY id) FROM pair_names), (SELECT array_agg(key ORDER BY id) FROM pair_names), 0.5) k
)
SELECT (SELECT count(*) FROM expected) AS expected_pairs,
	   (SELECT count(*) FROM found) AS found_pairs,
	   (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM found) d) AS missed,
	   (SELECT count(*) FROM (SELECT * FROM found EXCEPT SELECT * FROM expected) d) AS extra;
DROP TABLE pair_names;
SELECT * FROM crm_internal.company_name_pairs('{1, 2}', '{"acme"}', 0.5);

DROP OWNED BY crm_cmerge_app;
\c contrib_regression
DROP DATABASE crm_test_company_merge;
DROP ROLE crm_cmerge_app;
