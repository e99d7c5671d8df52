-- Owner-based privacy: in a workspace set to crm.set_privacy('owner'), a
-- member without see_all sees and changes only the deals they own or their
-- team's, the contacts they own or of a deal they see, and what hangs off
-- those, through every read path; admins and managers (see_all), the
-- system and 'everyone' workspaces see the whole workspace.
CREATE DATABASE crm_test_privacy;
\c crm_test_privacy
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE crm_privacy_app;
CREATE ROLE crm_privacy_service;
SELECT crm.grant_access('crm_privacy_app');
SELECT crm.grant_access('crm_privacy_service', access => 'service');
SELECT crm.create_workspace('privacy', 'Privacy') AS ws \gset
SELECT crm.create_workspace('elsewhere', 'Elsewhere') AS other \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipeline \gset
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent', team => 'north')).role;
SELECT (crm.add_member('abe', 'agent', team => 'south')).role;
SELECT (crm.add_member('max', 'manager')).role;
SELECT (crm.add_member('val', 'viewer')).role;

-- ann owns Ann C and Ann's deals; Deal C is abe's but on ann's deal; the
-- north team's deal (max's) brings North C; Free C has no owner
INSERT INTO crm.contacts (name, email, owner) VALUES
	('Ann C', 'ann.c@example.com', 'ann'), ('Abe C', 'abe.c@example.com', 'abe'),
	('Free C', 'free.c@example.com', NULL), ('North C', 'north.c@example.com', 'max'),
	('Deal C', 'deal.c@example.com', 'abe'), ('Val C', 'val.c@example.com', 'val');
SELECT id AS ann_c FROM crm.contacts WHERE name = 'Ann C' \gset
SELECT id AS abe_c FROM crm.contacts WHERE name = 'Abe C' \gset
SELECT id AS free_c FROM crm.contacts WHERE name = 'Free C' \gset
INSERT INTO crm.companies (name) VALUES ('Acme') RETURNING id AS acme \gset
INSERT INTO crm.deals (title, value, owner, team, contact_id, expected_close_date)
SELECT t, 100, o, tm, (SELECT id FROM crm.contacts WHERE name = c), '2030-01-15'
  FROM (VALUES ('Ann deal', 'ann', NULL, 'Ann C'), ('Ann2 deal', 'ann', NULL, 'Deal C'),
			   ('Abe deal', 'abe', 'south', 'Abe C'), ('North deal', 'max', 'north', 'North C')) v(t, o, tm, c);
SELECT id AS abe_deal FROM crm.deals WHERE title = 'Abe deal' \gset
INSERT INTO crm.products (name, unit_price) VALUES ('Widget', 10) RETURNING id AS widget \gset
SELECT count(crm.add_line_item(d.id, :widget)) AS line_items FROM crm.deals d;
INSERT INTO crm.checklist_items (deal_id, title) SELECT id, 'check ' || title FROM crm.deals;
INSERT INTO crm.notes (contact_id, body) SELECT id, 'note ' || name FROM crm.contacts;
INSERT INTO crm.notes (deal_id, body) SELECT id, 'note ' || title FROM crm.deals;
INSERT INTO crm.notes (company_id, body) VALUES (:acme, 'note Acme');
INSERT INTO crm.attachments (contact_id, filename, url)
SELECT id, 'file ' || name, 'https://files.example/' || id FROM crm.contacts;
INSERT INTO crm.activities (contact_id, type, subject) SELECT id, 'call', 'call ' || name FROM crm.contacts;
INSERT INTO crm.orders (contact_id, title, value) SELECT id, 'order ' || name, 5 FROM crm.contacts;
SELECT count(crm.start_conversation(id, first_message => 'hello ' || name)) AS conversations FROM crm.contacts;
SELECT count(crm.record_consent(id, 'email', 'granted')) AS consents FROM crm.contacts;
SELECT count(crm.link_company(id, :acme)) AS links FROM crm.contacts;
SELECT count(crm.set_external_id('contact', id, 'shop', 'x-' || name)) AS external_ids FROM crm.contacts;
SELECT id AS everyone_list FROM crm.create_list('Everyone') \gset
SELECT crm.add_to_list(:everyone_list, array_agg(id)) AS listed FROM crm.contacts;
SELECT id AS company_list FROM crm.create_list('Customers', 'company') \gset
SELECT crm.add_to_list(:company_list, ARRAY[:acme]) AS companies_listed;

-- whether a statement's plan reads an index (the predicate stays indexable)
CREATE FUNCTION public.plan_reads(q text, index_name text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF line LIKE '%' || index_name || '%' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END;
$$;

-- what a request sees, table by table (labels name the parent)
CREATE FUNCTION public.seen() RETURNS TABLE (what text, items text)
LANGUAGE sql STABLE AS $$
	SELECT 'contacts', string_agg(name, ', ' ORDER BY name) FROM crm.contacts
	UNION ALL SELECT 'contacts_live', string_agg(name, ', ' ORDER BY name) FROM crm.contacts_live
	UNION ALL SELECT 'deals', string_agg(title, ', ' ORDER BY title) FROM crm.deals
	UNION ALL SELECT 'deals_with_counts', string_agg(title || ':' || note_count || '/' || checklist_total, ', ' ORDER BY title) FROM crm.deals_with_counts
	UNION ALL SELECT 'notes', string_agg(body, ', ' ORDER BY body) FROM crm.notes
	UNION ALL SELECT 'attachments', string_agg(filename, ', ' ORDER BY filename) FROM crm.attachments
	UNION ALL SELECT 'activities', string_agg(DISTINCT coalesce(subject, type), ', ') FROM crm.activities
	UNION ALL SELECT 'orders', string_agg(title, ', ' ORDER BY title) FROM crm.orders
	UNION ALL SELECT 'conversations', count(*)::text FROM crm.conversations
	UNION ALL SELECT 'messages', string_agg(body, ', ' ORDER BY body) FROM crm.messages
	UNION ALL SELECT 'contact_consents', count(*)::text FROM crm.contact_consents
	UNION ALL SELECT 'current_consents', count(*)::text FROM crm.current_consents
	UNION ALL SELECT 'contact_companies', count(*)::text FROM crm.contact_companies
	UNION ALL SELECT 'companies_with_counts', string_agg(name || ':' || contact_count, ', ') FROM crm.companies_with_counts
	UNION ALL SELECT 'external_ids', string_agg(external_id, ', ' ORDER BY external_id) FROM crm.external_ids
	UNION ALL SELECT 'list_members', count(*)::text FROM crm.list_members
	UNION ALL SELECT 'checklist_items', string_agg(title, ', ' ORDER BY title) FROM crm.checklist_items
	UNION ALL SELECT 'deal_line_items', count(*)::text FROM crm.deal_line_items
	UNION ALL SELECT 'deal_stage_history', count(*)::text FROM crm.deal_stage_history
	UNION ALL SELECT 'kanban', string_agg(title, ', ' ORDER BY title) FROM crm.kanban
	UNION ALL SELECT 'pipeline_summary', sum(deals)::text FROM crm.pipeline_summary
	UNION ALL SELECT 'stage_conversion', sum(entered)::text FROM crm.stage_conversion
	UNION ALL SELECT 'events', (count(*) > 0)::text FROM crm.events
$$;
-- and through the functions
CREATE FUNCTION public.found() RETURNS TABLE (what text, items text)
LANGUAGE sql AS $$
	SELECT 'find_contacts', string_agg(name, ', ' ORDER BY name) FROM crm.find_contacts('')
	UNION ALL SELECT 'find_contacts owner', string_agg(name, ', ' ORDER BY name) FROM crm.find_contacts('owner = ''abe''')
	UNION ALL SELECT 'find_deals', string_agg(title, ', ' ORDER BY title) FROM crm.find_deals('')
	UNION ALL SELECT 'find_orders', count(*)::text FROM crm.find_orders('')
	UNION ALL SELECT 'count contact', crm.count('contact')::text
	UNION ALL SELECT 'count deal', crm.count('deal', 'value > 0')::text
	UNION ALL SELECT 'count_by deal owner', string_agg(value || ':' || count, ', ' ORDER BY value) FROM crm.count_by('deal', '', 'owner')
	UNION ALL SELECT 'search', string_agg(DISTINCT label, ', ') FROM crm.search('example', object => 'contact', lim => 100)
	UNION ALL SELECT 'forecast', sum(open_count)::text FROM crm.forecast(from_date => '2030-01-01', to_date => '2030-12-31')
$$;
SELECT * FROM public.seen();
RESET crm.workspace_id;

SET ROLE crm_privacy_app;
-- everyone (the default): every member sees the workspace
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.privacy(), crm.count('contact') AS contacts, crm.count('deal') AS deals;
-- only an admin switches
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('private');
SELECT crm.set_privacy(NULL);
SELECT crm.set_privacy(' Owner ');
SELECT crm.privacy();

-- ann (agent, north): her contacts, her deals' contacts, the north deal
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.privacy(), crm.current_permissions();
SELECT * FROM public.seen();
SELECT * FROM public.found();
SELECT string_agg(name, ', ' ORDER BY name) AS exported FROM crm.export_contacts();
SELECT type, subject FROM crm.timeline(:ann_c) ORDER BY id;
SELECT count(*) FROM crm.timeline(:abe_c);
SELECT crm.export_contact(:ann_c) -> 'profile' ->> 'name' AS exported;
SELECT crm.export_contact(:abe_c);

-- ann's writes: hers go through, anyone else's rows are missing to her
INSERT INTO crm.contacts (name, email) VALUES ('New by Ann', 'new.ann@example.com') RETURNING name, owner;
INSERT INTO crm.contacts (name, owner) VALUES ('Given away', 'abe');
UPDATE crm.contacts SET owner = 'abe' WHERE name = 'New by Ann';
UPDATE crm.contacts SET city = 'Oslo' WHERE id = :abe_c;
UPDATE crm.contacts SET city = 'Bergen' WHERE name = 'Deal C' RETURNING name, owner, city;
DELETE FROM crm.notes WHERE body = 'note Abe C';
INSERT INTO crm.notes (contact_id, body) VALUES (:abe_c, 'sneaky');
INSERT INTO crm.notes (contact_id, body) VALUES (:ann_c, 'called Ann C') RETURNING body, author;
INSERT INTO crm.deals (title, value) VALUES ('Ann new deal', 50) RETURNING title, owner;
INSERT INTO crm.deals (title, value, owner, team) VALUES ('North team deal', 50, 'max', 'north') RETURNING title, owner, team;
INSERT INTO crm.deals (title, value, owner) VALUES ('Abe''s by Ann', 50, 'abe');
UPDATE crm.deals SET value = 1 WHERE title = 'Abe deal';
UPDATE crm.deals SET expected_close_date = '2030-02-01' WHERE title = 'North deal' RETURNING title, expected_close_date;
SELECT crm.delete_contact(:abe_c);
SELECT crm.update_contact(:abe_c, '{"city": "Oslo"}');
SELECT crm.log_activity(:abe_c, 'call');
SELECT crm.merge_contacts(:ann_c, :abe_c);
SELECT crm.identify(email => 'abe.c@example.com', name => 'Abe again');
SELECT crm.identify(email => 'ann.c@example.com') = :ann_c AS identified_hers;
INSERT INTO crm.contacts (name, email) VALUES ('Abe dup', 'abe.c@example.com');
INSERT INTO crm.contacts (name, email) VALUES ('Abe dup', 'abe.c@example.com')
	ON CONFLICT (workspace_id, email) DO UPDATE SET name = excluded.name;
SELECT row_number, action, contact_id, error FROM crm.import_contacts('[{"email": "abe.c@example.com", "name": "Abe import"}]');
SELECT crm.move_deal(:abe_deal);
SELECT crm.bulk_tag('contact', '', ARRAY['vip']) AS tagged;
SELECT crm.bulk_tag_by_id('contact', ARRAY[:ann_c, :abe_c], ARRAY['hot']) AS tagged;
SELECT crm.bulk_delete_by_id('contact', ARRAY[:abe_c]) AS deleted;

-- abe (agent, south): his contacts (Deal C too: he owns it)
SELECT set_config('request.jwt.claims', format('{"sub": "abe", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_abe;
SELECT * FROM public.seen();
SELECT * FROM public.found();
SELECT string_agg(name, ', ' ORDER BY name) AS exported FROM crm.export_contacts();

-- val (viewer, no see_all): only what she owns
SELECT set_config('request.jwt.claims', format('{"sub": "val", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_val;
SELECT * FROM public.seen();
SELECT * FROM public.found();
SELECT string_agg(name, ', ' ORDER BY name) AS exported FROM crm.export_contacts();

-- max (manager: see_all) and ada (admin) see everything
SELECT set_config('request.jwt.claims', format('{"sub": "max", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_max;
SELECT crm.current_permissions();
-- a page of contacts in id order stays an ordered index scan, without a sort
SELECT NOT public.plan_reads('SELECT id FROM crm.contacts ORDER BY id LIMIT 100', 'Sort') AS ordered_scan;
SELECT * FROM public.seen();
SELECT * FROM public.found();
SELECT string_agg(name, ', ' ORDER BY name) AS exported FROM crm.export_contacts();

-- nothing of anyone else's changed
RESET ROLE;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS as_system;
SELECT name, owner, city, tags, status FROM crm.contacts ORDER BY id;
SELECT title, owner, team, value FROM crm.deals ORDER BY id;
SELECT body FROM crm.notes WHERE contact_id = :abe_c;
RESET crm.workspace_id;
SET ROLE crm_privacy_app;

-- ann's plans read the owner index, not the whole workspace: a SELECT
-- that says her predicate, the translations of find_contacts and
-- find_deals; with other agents' contacts about
RESET ROLE;
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS as_system;
SELECT count(crm.add_member('agent-' || g, 'agent')) AS other_agents FROM generate_series(0, 49) g;
INSERT INTO crm.contacts (name, owner) SELECT 'Other ' || g, 'agent-' || (g % 50) FROM generate_series(1, 5000) g;
INSERT INTO crm.deals (title, owner, team) SELECT 'Other deal ' || g, 'agent-' || (g % 50), 'team-' || (g % 20) FROM generate_series(1, 2000) g;
ANALYZE crm.contacts, crm.deals;
RESET crm.workspace_id;
SET ROLE crm_privacy_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SET enable_seqscan = off;
SELECT public.plan_reads('SELECT id FROM crm.contacts WHERE owner = ''ann''', 'contacts_owner') AS select_reads_owner_index,
	   public.plan_reads('SELECT id FROM crm.contacts WHERE ' || crm_hidden.cql_where('contact', ''),
						 'contacts_owner') AS find_reads_owner_index,
	   public.plan_reads('SELECT id FROM crm.deals WHERE ' || crm_hidden.cql_where('deal', ''), 'deals_owner') AS find_deals_reads_owner_index,
	   public.plan_reads('SELECT id FROM crm.deals WHERE ' || crm_hidden.cql_where('deal', ''), 'deals_team') AS find_deals_reads_team_index;
RESET enable_seqscan;

SELECT crm.count('contact') AS ann_contacts;

-- switching back is seen by the next statement
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('everyone');
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT crm.privacy(), crm.count('contact') AS contacts, crm.count('deal') AS deals;
RESET ROLE;

\c contrib_regression
DROP DATABASE crm_test_privacy;
DROP ROLE crm_privacy_app, crm_privacy_service;
