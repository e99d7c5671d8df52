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

DROP OWNED BY crm_moves_app;
DROP ROLE crm_moves_app;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events RESTART IDENTITY CASCADE;
RESET client_min_messages;
