-- Members: a workspace is open until its first member, an admin, closes
-- it; then a frontend request acts as the member its token names, by that
-- member's permissions, through rows and functions alike, and anyone else
-- is refused, reads included.  Trusted roles act as the system.
CREATE DATABASE crm_test_members;
\c crm_test_members
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_members_app;
CREATE ROLE crm_members_service;
SELECT crm.grant_access('crm_members_app');
SELECT crm.grant_access('crm_members_service', access => 'service');
SELECT crm.create_workspace('members', 'Members') AS ws \gset
SELECT crm.create_workspace('other', 'Other') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id AS ada \gset
RESET crm.workspace_id;

-- open: every request has every permission; the user is the token's sub
SET ROLE crm_members_app;
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS token;
SELECT crm.current_user_id(), crm.current_permissions();
-- the first member must be an admin
SELECT crm.add_member('bob', 'agent');
SELECT count(*) AS members FROM crm.members;
SELECT user_id, role, name, email FROM crm.add_member('alice', 'admin', 'Alice', ' Alice@Example.COM ');
-- now closed: alice is its admin
SELECT (crm.add_member('bob', 'agent', 'Bob', team => 'north')).role;
SELECT (crm.add_member('mia', 'manager')).role;
SELECT (crm.add_member('vic', 'viewer')).role;
INSERT INTO crm.members (user_id, role, permissions) VALUES ('cora', 'agent', ARRAY['contacts', 'contacts', 'custom_objects_manage'])
RETURNING user_id, role, permissions;
SELECT user_id, role, team, permissions, active FROM crm.members ORDER BY id;

-- bad members
INSERT INTO crm.members (user_id, role, permissions) VALUES ('zed', 'agent', ARRAY['contacts', 'superpowers']);
INSERT INTO crm.members (user_id) VALUES ('  ');
INSERT INTO crm.members (user_id) VALUES ('bob');
SELECT crm.update_member('nobody', '{"role": "admin"}');
SELECT crm.update_member('bob', '{"rank": "high"}');
SELECT crm.update_member('bob', '[]');
-- the last admin can neither leave nor lose the role
SELECT crm.update_member('alice', '{"role": "manager"}');
SELECT crm.remove_member('alice');
UPDATE crm.members SET active = false WHERE user_id = 'alice';
SELECT count(*) FILTER (WHERE role = 'admin' AND active) AS admins FROM crm.members;

-- each role, through rows and functions
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
SELECT crm.current_permissions();
INSERT INTO crm.contacts (name) VALUES ('By Bob') RETURNING name;
SELECT crm.identify(email => 'grace@example.com', name => 'Grace') > 0 AS identified;
INSERT INTO crm.deals (title, value) VALUES ('Bob''s deal', 100) RETURNING title, status;
INSERT INTO crm.pipelines (name) VALUES ('Bob''s pipeline');
SELECT crm.create_pipeline('Bob''s pipeline');
SELECT crm.define_property('contact', 'tier', 'text');
SELECT crm.add_member('eve', 'admin');
SELECT crm.create_object_type('ticket', 'Ticket');

SELECT set_config('request.jwt.claims', format('{"sub": "vic", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_vic;
SELECT crm.current_permissions();
SELECT count(*) AS contacts_vic_sees FROM crm.contacts;
SELECT count(*) AS found FROM crm.find_contacts('email ENDS WITH ''example.com''');
INSERT INTO crm.contacts (name) VALUES ('By Vic');
UPDATE crm.contacts SET city = 'Paris' WHERE name = 'Ada';
DELETE FROM crm.contacts WHERE name = 'Ada';
SELECT crm.identify(email => 'vic@example.com');
SELECT crm.bulk_tag('contact', 'name = ''Ada''', ARRAY['vip']);
-- crm.delete_contact is SECURITY DEFINER: held to its caller's permissions all the same
SELECT crm.delete_contact(:ada);

SELECT set_config('request.jwt.claims', format('{"sub": "cora", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_cora;
SELECT crm.current_permissions();
SELECT crm.create_object_type('ticket', 'Ticket') > 0 AS ticket_type;
INSERT INTO crm.notes (contact_id, body) VALUES (:ada, 'a contact''s note') RETURNING body;
-- a deal's note is the deal's: crm_manage
INSERT INTO crm.notes (deal_id, body) SELECT id, 'a deal''s note' FROM crm.deals LIMIT 1;
SELECT crm.win_deal((SELECT id FROM crm.deals LIMIT 1));

SELECT set_config('request.jwt.claims', format('{"sub": "mia", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_mia;
SELECT crm.current_permissions();
SELECT (crm.win_deal((SELECT id FROM crm.deals LIMIT 1))).status;
SELECT crm.remove_member('vic');

-- who is not an active member is refused everything, reads too
SELECT set_config('request.jwt.claims', format('{"sub": "mallory", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_mallory;
SELECT count(*) FROM crm.contacts;
SELECT crm.current_permissions();
SELECT set_config('request.jwt.claims', format('{"workspace_id": %s}', :ws), false) IS NOT NULL AS no_sub;
SELECT count(*) FROM crm.contacts;
-- crm.user_id names the user for a backend without tokens
SELECT set_config('crm.user_id', 'bob', false) IS NOT NULL AS user_bob;
SELECT crm.current_user_id(), count(*) > 0 AS reads FROM crm.contacts;
-- no longer than crm.members.user_id can be
SELECT set_config('crm.user_id', repeat('u', 257), false);
SELECT crm.current_user_id();
RESET crm.user_id;
-- an inactive member is no member
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
SELECT (crm.update_member('bob', '{"active": false, "permissions": ["contacts"]}')).permissions;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
SELECT count(*) FROM crm.contacts;
-- another workspace stays open, and its own
SELECT set_config('request.jwt.claims', format('{"sub": "mallory", "workspace_id": %s}', :other), false) IS NOT NULL AS in_other;
SELECT crm.current_permissions() = ARRAY['contacts', 'crm_manage', 'custom_objects_manage', 'admin', 'see_all'] AS open;
SELECT count(*) AS members_seen FROM crm.members;
RESET request.jwt.claims;
RESET ROLE;

-- trusted roles act as the system: a service role and the owner
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SET ROLE crm_members_service;
SELECT crm.current_permissions() = ARRAY['contacts', 'crm_manage', 'custom_objects_manage', 'admin', 'see_all'] AS service_all;
INSERT INTO crm.pipelines (name) VALUES ('By the backend') RETURNING name;
RESET ROLE;
SELECT count(*) AS contacts_owner_sees FROM crm.contacts;

-- owners are active members, on every row path (PostgREST PATCH, PostGraphile mutation)
SET ROLE crm_members_app;
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
INSERT INTO crm.contacts (name, owner) VALUES ('Owned by zed', 'zed');
INSERT INTO crm.companies (name, owner) VALUES ('Zed Corp', 'zed');
INSERT INTO crm.pipelines (name) VALUES ('Owners') RETURNING name;
INSERT INTO crm.deals (title, owner) VALUES ('Zed deal', 'zed');
INSERT INTO crm.contacts (name, owner) VALUES ('Owned by bob', 'bob');
INSERT INTO crm.contacts (name, owner) VALUES ('Owned', 'alice') RETURNING name, owner;
INSERT INTO crm.deals (title, owner) VALUES ('Alice deal', 'alice') RETURNING title, owner;
UPDATE crm.contacts SET owner = 'zed' WHERE name = 'Owned';
UPDATE crm.deals SET owner = 'zed' WHERE title = 'Alice deal';
SELECT count(*) AS nothing_written FROM crm.contacts WHERE owner IN ('zed', 'bob');
-- a row of a member who has since left keeps its owner and takes other writes
SELECT (crm.update_member('bob', '{"active": true}')).active;
UPDATE crm.contacts SET owner = 'bob' WHERE name = 'Owned' RETURNING name, owner;
SELECT (crm.update_member('bob', '{"active": false}')).active;
UPDATE crm.contacts SET name = 'Owned still', owner = 'bob' WHERE name = 'Owned' RETURNING name, owner;
UPDATE crm.contacts SET owner = NULL WHERE name = 'Owned still' RETURNING name, owner;
UPDATE crm.contacts SET owner = 'bob' WHERE name = 'Owned still';
RESET request.jwt.claims;
RESET ROLE;
-- the system is held to it too; a merge carries a departed owner over
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
UPDATE crm.contacts SET owner = 'zed' WHERE name = 'Owned still';
SELECT (crm.update_member('bob', '{"active": true}')).active;
INSERT INTO crm.contacts (name, email, owner) VALUES ('Dup of bob', 'dup.bob@example.com', 'bob') RETURNING name, owner;
INSERT INTO crm.contacts (name, email) VALUES ('Survivor', 'survivor@example.com') RETURNING name, owner;
SELECT (crm.update_member('bob', '{"active": false}')).active;
SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE name = 'Survivor'),
                          (SELECT id FROM crm.contacts WHERE name = 'Dup of bob')) IS NOT NULL AS merged;
SELECT name, owner FROM crm.contacts WHERE name = 'Survivor';
RESET crm.workspace_id;

-- removing every member opens the workspace again
DELETE FROM crm.members WHERE workspace_id = :ws;
RESET crm.workspace_id;
SET ROLE crm_members_app;
SELECT set_config('request.jwt.claims', format('{"sub": "mallory", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_mallory;
SELECT count(*) > 0 AS open_again FROM crm.contacts;
RESET request.jwt.claims;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_members;
DROP ROLE crm_members_app, crm_members_service;
