-- The mark of a merge in progress that a Citus worker's backend receives
-- (crm_internal.merge_moves, src/merge.c): on a distributed schema the merge
-- writes a row there before its moves and deletes it after, and the row's
-- trigger lets the merge's own writes through in the backend that writes the
-- workspace's shard group.  Its trigger fires on one node too, which is how
-- this file checks it: the mark holds until its row is deleted or its
-- (sub)transaction ends, and no frontend can write one.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events RESTART IDENTITY CASCADE;
RESET client_min_messages;
INSERT INTO crm.contacts (id, name, email) VALUES (1, 'Ada', 'ada@example.com'), (2, 'Ada L', 'ada.l@example.com');

-- without a mark, a row write that merges is refused
UPDATE crm.contacts SET status = 'merged', merged_into = 1 WHERE id = 2;

-- a frontend can write no mark, so its row write stays refused
CREATE ROLE crm_moves_app;
SELECT FROM crm.grant_access('crm_moves_app');
SET ROLE crm_moves_app;
INSERT INTO crm_internal.merge_moves (workspace_id, moving_to, unmerge) VALUES (1, 1, false);
UPDATE crm.contacts SET status = 'merged', merged_into = 1 WHERE id = 2;
RESET ROLE;

-- the mark lets the merge's writes through until its row is deleted
BEGIN;
INSERT INTO crm_internal.merge_moves (workspace_id, moving_to, unmerge) VALUES (1, 1, false);
UPDATE crm.contacts SET status = 'merged', merged_into = 1 WHERE id = 2;
DELETE FROM crm_internal.merge_moves;
UPDATE crm.contacts SET merged_into = 2 WHERE id = 2;
ROLLBACK;

-- a savepoint rolled back takes its mark with it
BEGIN;
SAVEPOINT marked;
INSERT INTO crm_internal.merge_moves (workspace_id, moving_to, unmerge) VALUES (1, 1, false);
ROLLBACK TO SAVEPOINT marked;
UPDATE crm.contacts SET status = 'merged', merged_into = 1 WHERE id = 2;
ROLLBACK;

-- and so does the end of the transaction, even when its row was kept
INSERT INTO crm_internal.merge_moves (workspace_id, moving_to, unmerge) VALUES (1, 1, false);
UPDATE crm.contacts SET status = 'merged', merged_into = 1 WHERE id = 2;
DELETE FROM crm_internal.merge_moves;
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;

-- a merge on one node leaves no mark
SELECT crm.merge_contacts(1, 2);
SELECT count(*) AS marks FROM crm_internal.merge_moves;
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;

-- what a Citus coordinator sends a worker for a role other than the owner
-- (crm_hidden.merge_contacts_in, crm_hidden.unmerge_in): the merge and the
-- unmerge themselves, in the workspace given, which must be the request's;
-- a frontend calls them as it calls crm.merge_contacts and crm.unmerge
SELECT crm.unmerge((SELECT max(id) FROM crm.merges)) ->> 'contact' AS unmerged;
INSERT INTO crm.orders (contact_id, title, value) VALUES (2, 'Loaf', 5);
INSERT INTO crm.companies (id, name) VALUES (1, 'Acme'), (2, 'Acme Inc');
SELECT FROM crm.link_company(2, 2);
SET ROLE crm_moves_app;
SELECT set_config('request.jwt.claims', '{"workspace_id": 1}', false) IS NOT NULL AS as_frontend;
SELECT crm_hidden.merge_contacts_in(1, 1, 2);
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;
SELECT contact_id FROM crm.orders;
SELECT crm_hidden.unmerge_in(1, (SELECT max(id) FROM crm.merges)) - 'merge' AS undone;
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;
SELECT contact_id FROM crm.orders;
-- another workspace than the request's, no ids, an unknown merge: refused, nothing written
SELECT crm_hidden.merge_contacts_in(2, 1, 2);
SELECT crm_hidden.merge_contacts_in(NULL, 1, 2);
SELECT crm_hidden.merge_contacts_in(1, 1, NULL);
SELECT crm_hidden.unmerge_in(2, 1);
SELECT crm_hidden.unmerge_in(1, NULL);
SELECT crm_hidden.unmerge_in(1, 999);
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;
-- crm_hidden.merge_companies_in (crm.merge_companies) and
-- crm_hidden.identify_merge_in (crm.identify's merge of two contacts it
-- found, its record saying identify) likewise
SELECT crm_hidden.merge_companies_in(1, 1, 2);
SELECT id, name FROM crm.companies ORDER BY id;
SELECT contact_id, company_id FROM crm.contact_companies;
SELECT crm_hidden.identify_merge_in(1, 1, 2);
SELECT id, status, merged_into FROM crm.contacts ORDER BY id;
SELECT object_type, survivor_id, loser_id, source FROM crm.merges ORDER BY id DESC LIMIT 2;
-- another workspace than the request's, no ids, an unknown company: refused, nothing written
SELECT count(*) AS merges_before FROM crm.merges \gset
SELECT crm_hidden.merge_companies_in(2, 1, 3);
SELECT crm_hidden.merge_companies_in(1, NULL, 3);
SELECT crm_hidden.merge_companies_in(1, 1, 3);
SELECT crm_hidden.identify_merge_in(2, 1, 3);
SELECT crm_hidden.identify_merge_in(1, 1, NULL);
SELECT count(*) = :merges_before AS nothing_written FROM crm.merges;
RESET request.jwt.claims;
RESET ROLE;
SELECT count(*) AS marks FROM crm_internal.merge_moves;

DROP OWNED BY crm_moves_app;
DROP ROLE crm_moves_app;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events RESTART IDENTITY CASCADE;
RESET client_min_messages;
