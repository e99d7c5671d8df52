-- Segments and saved views per user: a list made by a member is theirs,
-- private when it is a segment; names are unique per owner, and IN LIST
-- names the caller's own list first, then the workspace's.  Saved views of
-- deals and orders follow the same rules and return their rows through
-- the finders.  Activities and notes carry who wrote them.
CREATE DATABASE crm_test_views;
\c crm_test_views
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE ROLE crm_views_app;
SELECT crm.grant_access('crm_views_app');
SELECT crm.create_workspace('views', 'Views') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS sales \gset
SELECT crm.create_pipeline('Renewals', 'b2b_sales') AS renewals \gset
INSERT INTO crm.contacts (name, email, lifecycle_stage, tags) VALUES
	('Ada', 'ada@example.com', 'lead', '{vip}'),
	('Bob', 'bob@example.com', 'lead', '{}'),
	('Cy', 'cy@example.com', 'customer', '{vip}');
INSERT INTO crm.deals (pipeline_id, title, value, expected_close_date) VALUES
	(:sales, 'Big', 5000, date_trunc('month', now())::date + 3),
	(:sales, 'Small', 100, date_trunc('month', now())::date - 40),
	(:renewals, 'Renewal', 700, date_trunc('month', now())::date + 5);
INSERT INTO crm.orders (contact_id, title, value, order_date, status)
SELECT c.id, o.title, o.value, o.order_date, 'paid'
  FROM crm.contacts c, (VALUES ('Paid now', 50, now()), ('Old', 20, now() - interval '400 days')) o(title, value, order_date)
 WHERE c.name = 'Ada';
-- a list made before members: nobody's, visible to the workspace
SELECT name, owner, visibility FROM crm.create_list('Newsletter');
RESET crm.workspace_id;

-- the workspace closes with its admin; ann and ben are agents, vic a viewer
SET ROLE crm_views_app;
SELECT set_config('request.jwt.claims', format('{"sub": "root", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_root;
SELECT (crm.add_member('root', 'admin')).role, (crm.add_member('ann', 'agent')).role,
	   (crm.add_member('ben', 'agent')).role, (crm.add_member('vic', 'viewer')).role;

-- ann's segment is hers and private; her static list is the workspace's
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT name, kind, owner, visibility, member_count
  FROM crm.create_list('My leads', 'contact', 'dynamic', 'lifecycleStage = LEAD');
INSERT INTO crm.lists (name) VALUES ('Invitees') RETURNING name, kind, owner, visibility;
-- ben has a "My leads" of his own: names are unique per owner
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
INSERT INTO crm.lists (name, kind, filter) VALUES ('My leads', 'dynamic', 'tags CONTAINS ''vip''')
RETURNING name, owner, visibility, member_count;
SELECT name, owner, visibility FROM crm.lists ORDER BY id;
SELECT l.name, m.contact_id FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id ORDER BY 1, 2;
-- IN LIST 'My leads' is ben's own list for ben
SELECT name FROM crm.find_contacts('IN LIST ''My leads''') ORDER BY id;
-- a second "My leads" of ben's, and a workspace list named like ann's workspace list
INSERT INTO crm.lists (name, kind, filter) VALUES ('My leads', 'dynamic', '');
INSERT INTO crm.lists (name) VALUES ('Invitees');
-- ... private, it may: ben's own comes first for ben
INSERT INTO crm.lists (name, visibility) VALUES ('Invitees', 'private') RETURNING name, owner, visibility;
-- a list ben would give to ann
INSERT INTO crm.lists (name, owner) VALUES ('For Ann', 'ann');
-- a private list of nobody
INSERT INTO crm.lists (name, owner, visibility) VALUES ('Nobody''s', NULL, 'private');
INSERT INTO crm.lists (name, visibility) VALUES ('Secret', 'hidden');
-- ben can neither read nor change ann's private segment
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT id AS ann_leads FROM crm.lists WHERE name = 'My leads' \gset
-- the same query in the same session is ann's own list (the finder keeps a plan per user)
SELECT name FROM crm.find_contacts('IN LIST ''My leads''') ORDER BY id;
SELECT crm.add_to_list((SELECT id FROM crm.lists WHERE name = 'Invitees'), ARRAY[1, 2]::bigint[]) AS invited;
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
UPDATE crm.lists SET name = 'Taken' WHERE id = :ann_leads;
DELETE FROM crm.lists WHERE id = :ann_leads;
SELECT crm.get_list_members(:ann_leads);
SELECT crm.delete_list(:ann_leads);
-- nor name it: ben's filters see his own lists and the workspace's
SELECT crm.create_list('Ann''s leads too', 'contact', 'dynamic', 'IN LIST ''Ann leads''');
-- a private segment stays exact when ben changes its records
UPDATE crm.contacts SET lifecycle_stage = 'lead' WHERE name = 'Cy';
-- a merge by ben moves the memberships of ann's private lists too
SELECT crm.identify(email => 'ada.twin@example.com', name => 'Ada twin') AS twin \gset
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT id AS ann_vips FROM crm.create_list('Ann''s VIPs', visibility => 'private') \gset
SELECT crm.add_to_list(:ann_vips, ARRAY[:twin]::bigint[]) AS added;
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT crm.merge_contacts(1, :twin) AS survivor;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT object_id FROM crm.get_list_members(:ann_vips);
SELECT crm.delete_list(:ann_vips);
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
-- the viewer sees the workspace's lists only; the admin sees them all
SELECT set_config('request.jwt.claims', format('{"sub": "vic", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_vic;
SELECT name, owner, visibility, member_count FROM crm.lists ORDER BY id;
SELECT count(*) AS memberships_vic_sees FROM crm.list_members;
SELECT set_config('request.jwt.claims', format('{"sub": "root", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_root;
SELECT name, owner, visibility, member_count FROM crm.lists ORDER BY id;
SELECT count(*) AS memberships_root_sees FROM crm.list_members;

-- ann's filters name her own lists first: a list of hers may not hide the
-- workspace's list one of her filters names
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT name, visibility, member_count FROM crm.create_list('Not invited', 'contact', 'dynamic', 'NOT IN LIST ''Newsletter''');
SELECT crm.create_list('Newsletter', visibility => 'private');
-- ann's workspace list named by ben's filter cannot turn private
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT name, member_count FROM crm.create_list('Uninvited', 'contact', 'dynamic', 'NOT IN LIST ''Invitees''');
SELECT name, member_count FROM crm.create_list('Not ann''s guests', 'contact', 'dynamic', 'NOT IN LIST ''Invitees''',
											   visibility => 'workspace');
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT name, member_count FROM crm.create_list('Partners');
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT name, member_count FROM crm.create_list('Not partners', 'contact', 'dynamic', 'NOT IN LIST ''Partners''');
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT name, visibility FROM crm.update_list((SELECT id FROM crm.lists WHERE name = 'Partners'), visibility => 'private');
-- a segment shared with the workspace
UPDATE crm.lists SET visibility = 'workspace' WHERE id = :ann_leads RETURNING name, visibility;
-- the admin may give a list away when its filter names the same lists
-- for the new owner: "Invitees" is ann's own list for ann, not ben's
SELECT set_config('request.jwt.claims', format('{"sub": "root", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_root;
SELECT name, owner FROM crm.update_list((SELECT id FROM crm.lists WHERE name = 'Uninvited'), owner => 'ann');
SELECT name, owner, visibility FROM crm.update_list((SELECT id FROM crm.lists WHERE name = 'Not invited'), owner => 'ben');
RESET ROLE;
SELECT l.name, l.owner, l.visibility, array(SELECT coalesce(d.owner, '-') || ':' || d.name FROM crm.lists d WHERE d.id = ANY (l.depends_on)) AS names
  FROM crm.lists l ORDER BY l.id;

-- Saved views: ann's are hers and private; a workspace view is everyone's
SET ROLE crm_views_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT name, entity, owner, visibility, pipeline_id = :sales AS in_sales, period, filter, sort
  FROM crm.save_view('Closing in Sales', 'deal', 'value > 50', pipeline_id => :sales, period => 'THIS_MONTH', sort => 'value DESC');
INSERT INTO crm.saved_views (name, entity, filter, sort, visibility)
VALUES ('Big deals', 'deal', 'value >= 700', 'value DESC', 'workspace') RETURNING name, owner, visibility;
SELECT id AS closing FROM crm.saved_views WHERE name = 'Closing in Sales' \gset
SELECT id AS big FROM crm.saved_views WHERE name = 'Big deals' \gset
SELECT title, value FROM crm.saved_view_deals(:closing);
SELECT title, value FROM crm.saved_view_deals(:big);
SELECT title, value FROM crm.saved_view_deals(:big, lim => 1, off => 1);
-- a view of orders
SELECT id AS paid FROM crm.save_view('Paid this year', 'order', 'status = PAID', period => 'THIS_YEAR') \gset
SELECT title FROM crm.saved_view_orders(:paid);
-- ... is not a view of deals
SELECT title FROM crm.saved_view_deals(:paid);
-- ben has his own "Closing in Sales", sees ann's workspace view, not her private one
SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT name, visibility FROM crm.save_view('Closing in Sales', 'deal', period => 'NEXT_MONTH');
SELECT name, owner, visibility FROM crm.saved_views ORDER BY id;
SELECT title FROM crm.saved_view_deals(:big);
SELECT title FROM crm.saved_view_deals(:closing);
UPDATE crm.saved_views SET name = 'Mine now' WHERE id = :closing;
-- bad views are refused when written, with the finder's own error
SELECT crm.save_view('Typo', 'deal', 'valeu > 5');
SELECT crm.save_view('Bad sort', 'deal', sort => 'colour');
INSERT INTO crm.saved_views (name, entity, filter) VALUES ('Bad syntax', 'order', 'status = = PAID');
SELECT crm.save_view('Orders by pipeline', 'order', pipeline_id => :sales);
SELECT crm.save_view('Bad period', 'deal', period => 'since monday');
SELECT crm.save_view('Bad period', 'deal', period => 'SOMEDAY');
SELECT crm.save_view('Contacts', 'contact');
SELECT crm.save_view('  ', 'deal');
SELECT crm.save_view('No pipeline', 'deal', pipeline_id => -1);
SELECT crm.save_view('Closing in Sales', 'deal');
INSERT INTO crm.saved_views (name, entity, owner) VALUES ('Ann''s now', 'deal', 'ann');
INSERT INTO crm.saved_views (name, entity, owner, visibility) VALUES ('Orphan', 'deal', NULL, 'private');
UPDATE crm.saved_views SET filter = 'nope = 1' WHERE name = 'Closing in Sales' AND owner = 'ben';
SELECT count(*) AS ben_views FROM crm.saved_views WHERE owner = 'ben';
-- the viewer may not save views (crm_manage), and sees the workspace's
SELECT set_config('request.jwt.claims', format('{"sub": "vic", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_vic;
SELECT crm.save_view('Vic''s', 'deal');
SELECT name FROM crm.saved_views ORDER BY id;
-- a deleted pipeline takes its views with it
RESET ROLE;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
DELETE FROM crm.deals WHERE pipeline_id = :sales;
DELETE FROM crm.pipelines WHERE id = :sales;
SELECT name, owner FROM crm.saved_views ORDER BY id;
RESET crm.workspace_id;

-- Who wrote activities and notes: the request, not what it says
SET ROLE crm_views_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
INSERT INTO crm.activities (contact_id, type, actor) VALUES (1, 'call', 'the contact') RETURNING type, actor, recorded_by;
SELECT crm.log_activity(1, 'meeting', actor => 'someone') AS meeting \gset
SELECT actor, recorded_by FROM crm.activities WHERE id = :meeting;
-- forged
INSERT INTO crm.activities (contact_id, type, recorded_by) VALUES (1, 'call', 'ben');
UPDATE crm.activities SET recorded_by = 'ben' WHERE type = 'call';
-- unchanged is fine
UPDATE crm.activities SET subject = 'Called', recorded_by = 'ann' WHERE type = 'call' RETURNING subject, recorded_by;
INSERT INTO crm.notes (contact_id, body) VALUES (1, 'ann''s note') RETURNING body, author;
INSERT INTO crm.notes (contact_id, body, author) VALUES (1, 'for the record', 'Reception desk') RETURNING body, author;
RESET ROLE;
RESET request.jwt.claims;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
INSERT INTO crm.notes (contact_id, body) VALUES (1, 'by the DBA') RETURNING author;
SET crm.actor = 'importer';
INSERT INTO crm.activities (contact_id, type) VALUES (1, 'email') RETURNING recorded_by;
RESET crm.actor;
SELECT type, recorded_by FROM crm.activities ORDER BY id;

\c postgres
DROP DATABASE crm_test_views;
DROP ROLE crm_views_app;
