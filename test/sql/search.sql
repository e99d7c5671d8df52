-- crm.search: exact, prefix (typeahead) and fuzzy over contacts and
-- companies, ranked; crm.tags: tags in use with counts.
-- in a workspace of its own, so other tests' rows do not show up
SELECT crm.create_workspace('search-test', 'Search test') IS NOT NULL AS created;
SELECT crm.use_workspace('search-test') IS NOT NULL AS switched;
INSERT INTO crm.companies (name, domain, industry, tags) VALUES
	('Acme Corp', 'acme.com', 'SaaS', '{partner}'),
	('Lovelace Labs', 'lovelace.io', 'Research', '{partner,eu}'),
	('Analytical Engines', 'engines.co.uk', 'Hardware', '{}');
INSERT INTO crm.contacts (name, email, phone, tags) VALUES
	('Ada Lovelace', 'ada@lovelace.io', '+44 20 7946 0958', '{vip,newsletter}'),
	('Adam Smith', 'adam@acme.com', '+1 201-555-0123', '{vip}'),
	('Grace Hopper', 'grace@navy.mil', NULL, '{navy,vip}'),
	('Lovely Day', 'day@example.org', NULL, '{}'),
	('100% Real_Name', 'real@example.org', NULL, '{}');
INSERT INTO crm.contacts (name, email) VALUES ('Ada Deleted', 'ada.old@lovelace.io');
UPDATE crm.contacts SET status = 'deleted' WHERE email = 'ada.old@lovelace.io';

-- prefix (the default): a value or one of its words starts with the term
SELECT object_type, label, field, value, score FROM crm.search('ada');
SELECT object_type, label, field, value, score FROM crm.search('love');
SELECT object_type, label, field, value, score FROM crm.search('LOVE', 'prefix', 'company');
-- one or two letters: names starting with them
SELECT object_type, label, field, value, score FROM crm.search('Ad');
-- phones match by digits, however they are typed
SELECT object_type, label, field, value, score FROM crm.search('(20) 7946', 'prefix', 'contact');
-- LIKE wildcards in the term are literal
SELECT object_type, label, field, value, score FROM crm.search('100%');
SELECT object_type, label, field, value, score FROM crm.search('l_ve');

-- exact: whole values, case-insensitively; emails and phones in canonical form
SELECT object_type, label, field, value, score FROM crm.search('ADA@LOVELACE.IO', 'exact');
SELECT object_type, label, field, value, score FROM crm.search('grace hopper', 'exact');
SELECT object_type, label, field, value, score FROM crm.search('+1 (201) 555.0123', 'exact');
SELECT object_type, label, field, value, score FROM crm.search('saas', 'exact');

-- fuzzy: typos, ranked by trigram similarity
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('lovlace', 'fuzzy');
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('grase hoper', 'fuzzy');

-- fuzzy matches words: a misspelt word finds the records holding the
-- dictionary word it is closest to (missing, extra and swapped letters, a
-- wrong vowel); a term with no letters finds nothing
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('hoper', 'fuzzy');
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('smitth', 'fuzzy');
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('lovleace', 'fuzzy', 'contact');
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('anelytical', 'fuzzy');
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('harware', 'fuzzy');
SELECT count(*) FROM crm.search('555 123', 'fuzzy');

-- the dictionary: words of names, email local parts, company names, domains
-- and industries (fields 1 to 5), lower case, two letters or more
SELECT string_agg(word || ':' || field, ' ' ORDER BY word, field) FROM crm.search_words WHERE workspace_id = crm.current_workspace();
SELECT crm_hidden.search_words_of('Jean-Luc O''Neil, jean.luc@x.io 42 É');
-- a rolled-back write leaves no word, and the next write adds it
BEGIN;
INSERT INTO crm.contacts (name) VALUES ('Zebulon Quixote');
ROLLBACK;
SELECT count(*) FROM crm.search_words WHERE word IN ('zebulon', 'quixote');
INSERT INTO crm.contacts (name) VALUES ('Zebulon Quixote');
SELECT string_agg(word, ' ' ORDER BY word) FROM crm.search_words WHERE word IN ('zebulon', 'quixote');
-- likewise a rolled-back savepoint
BEGIN;
SAVEPOINT s;
INSERT INTO crm.contacts (name) VALUES ('Ottoline Marsh');
ROLLBACK TO SAVEPOINT s;
INSERT INTO crm.contacts (name) VALUES ('Ottoline Brook');
COMMIT;
INSERT INTO crm.contacts (name) VALUES ('Rosamund Marsh');
SELECT string_agg(word, ' ' ORDER BY word) FROM crm.search_words WHERE word IN ('ottoline', 'marsh', 'brook', 'rosamund');
-- an update's new words are found
UPDATE crm.contacts SET name = 'Zebulon Pike' WHERE name = 'Zebulon Quixote';
SELECT object_type, label, field, value, round(score::numeric, 3) AS score FROM crm.search('zebulon pyke', 'fuzzy');
-- an update reads the words of the values it changed, not of those it left
-- alone: with 'pike' gone from the dictionary, a new city does not bring it
-- back, a new name does
DELETE FROM crm.search_words WHERE word = 'pike';
UPDATE crm.contacts SET city = 'Denver' WHERE name = 'Zebulon Pike';
SELECT count(*) AS pike_words FROM crm.search_words WHERE word = 'pike';
UPDATE crm.contacts SET name = 'Zebulon M. Pike' WHERE name = 'Zebulon Pike';
SELECT count(*) AS pike_words FROM crm.search_words WHERE word = 'pike';

-- limits, empty terms, deleted contacts never appear
SELECT count(*) FROM crm.search('a', 'prefix', 'all', 1);
SELECT count(*) FROM crm.search('   ');
SELECT count(*) FROM crm.search('Ada Deleted', 'exact');

-- tags in use, most used first; a prefix narrows them
SELECT * FROM crm.tags();
SELECT * FROM crm.tags('contact', 'N');
SELECT * FROM crm.tags('company');
SELECT * FROM crm.tags('contact', '%');

-- a frontend role, under row-level security: the typeahead finds the same,
-- and its conditions are index conditions (a condition that is not
-- leakproof, such as lower(name) LIKE 'ada%', would be a filter over every
-- contact of the workspace)
CREATE ROLE crm_search_front;
SELECT crm.grant_access('crm_search_front');
SET ROLE crm_search_front;
SELECT object_type, label, field, value, score FROM crm.search('ada', 'prefix', 'contact');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT c.id FROM crm.contacts c
 WHERE c.workspace_id = crm.current_workspace() AND crm_hidden.search_key(c.name) COLLATE "C" ^@ 'ada'
 ORDER BY crm_hidden.search_key(c.name) COLLATE "C" LIMIT 20;
EXPLAIN (COSTS OFF)
SELECT co.id FROM crm.companies co
 WHERE co.workspace_id = crm.current_workspace() AND co.domain COLLATE "C" ^@ 'love'
 ORDER BY co.domain COLLATE "C" LIMIT 20;
RESET enable_seqscan;
RESET ROLE;
DROP OWNED BY crm_search_front;
DROP ROLE crm_search_front;

-- bad input: each a 22023 with a hint
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT * FROM crm.search('x', 'sideways');
SELECT * FROM crm.search('x', 'prefix', 'deal');
SELECT * FROM crm.search('x', 'prefix', 'all', 0);
SELECT * FROM crm.tags('deal');
\set VERBOSITY terse
\set SHOW_CONTEXT errors

-- crm.search never compiles its plans: in a big workspace the generic plan's
-- cost passes jit_above_cost, and compiling took a hundred times the search
SELECT 'jit=off' = ANY (proconfig) AS search_without_jit
  FROM pg_proc WHERE oid = 'crm.search(text, text, text, integer)'::regprocedure;

-- leave the shared regression database as we found it
-- (rows first: deleting a workspace cascades to rows whose triggers log events)
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'search-test';
