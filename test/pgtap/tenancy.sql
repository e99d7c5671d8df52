-- Tenancy: an application role (crm.grant_access, not the owner, so RLS
-- applies) working in workspace 2 can neither read nor change a row of
-- workspace 1 through any table or view of schema crm, nor through the
-- functions.  Relations are enumerated from the catalog, so tables added
-- later are covered without editing this file.
BEGIN;

-- workspace 1 and 2 each get a row in every table
SELECT crm.create_workspace('tenant-two', 'Tenant two') AS ws2 \gset
CREATE TEMP TABLE ids (ws bigint, contact bigint, company bigint, conversation bigint, event bigint,
						pipeline bigint, stage bigint, product bigint, deal bigint, line bigint, ord bigint,
						rec bigint, list bigint, dlist bigint, dview bigint, oview bigint);
ALTER TABLE ids ADD COLUMN integ bigint, ADD COLUMN delivery bigint;
CREATE FUNCTION pg_temp.fill() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c bigint; co bigint; cv bigint; p bigint; st bigint; pr bigint; d bigint; li bigint; o bigint;
	r bigint; l bigint; dl bigint; dv bigint; ov bigint; dup bigint;
	ig bigint; dlv bigint;
BEGIN
	INSERT INTO crm.contacts (name, email, phone, tags)
		VALUES ('tenant contact', 'tenant@example.com', '+49 30 1234567', '{vip}') RETURNING id INTO c;
	INSERT INTO crm.companies (name, domain) VALUES ('tenant co', 'tenant.example') RETURNING id INTO co;
	PERFORM crm.link_company(c, co, 'ceo', true);
	PERFORM crm.record_consent(c, 'email', 'granted', 'tap');
	PERFORM crm.set_external_id('contact', c, 'stripe', 'cus_tenant');
	PERFORM crm.log_activity(c, 'call', 'tenant call', company_id => co);
	cv := crm.start_conversation(c, 'chat', NULL, 'hello');
	PERFORM crm.add_message(cv, 'agent', 'hi');
	-- the sales side: pipeline, deal with a line item, order, custom record, lists
	p := crm.create_pipeline('tenant pipeline', 'b2b_sales');
	SELECT s.id INTO st FROM crm.stages s WHERE s.workspace_id = crm.current_workspace() AND s.pipeline_id = p
	 ORDER BY s.position LIMIT 1;
	INSERT INTO crm.products (name, sku, unit_price, currency) VALUES ('tenant seat', 'T-SEAT', 100, 'EUR') RETURNING id INTO pr;
	INSERT INTO crm.deals (pipeline_id, stage_id, title, contact_id, company_id, currency, expected_close_date)
		VALUES (p, st, 'tenant deal', c, co, 'EUR', date '2030-01-15') RETURNING id INTO d;
	li := (crm.add_line_item(d, pr, 2)).id;
	o := crm.upsert_order(c, 'webhook', 'tenant-o1', 50, 'EUR', 'paid', deal_id => d);
	PERFORM crm.create_object_type('workshop', 'Workshops', NULL, 'title');
	PERFORM crm.define_property('workshop', 'title', 'text', 'Title');
	r := crm.create_record('workshop', '{"title": "tenant workshop"}', 'tw-1');
	PERFORM crm.associate(r, 'contact', c);
	SELECT cl.id INTO l FROM crm.create_list('tenant static') cl;
	PERFORM crm.add_to_list(l, ARRAY[c]);
	SELECT cl.id INTO dl FROM crm.create_list('tenant dynamic', 'contact', 'dynamic', 'tags CONTAINS ''vip''') cl;
	dv := (crm.save_view('tenant deals', 'deal', 'value >= 0', pipeline_id => p)).id;
	-- a merge, for its record in crm.merges
	INSERT INTO crm.contacts (name) VALUES ('tenant duplicate') RETURNING id INTO dup;
	PERFORM crm.merge_contacts(c, dup);
	ov := (crm.save_view('tenant orders', 'order', 'status = PAID')).id;
	-- an import job (its worker would start at commit; this test rolls back)
	PERFORM crm.start_import('contacts', '[{"email": "tenant-job@example.com"}]');
	-- an integration with deliveries (crm.resync queues them: this
	-- transaction's own events are not fanned out before it ends)
	INSERT INTO crm.integrations (key, kind, config, secret)
		VALUES ('tenant_ws' || crm.current_workspace(), 'webhook', '{"url": "http://127.0.0.1/hook"}', 'tenant secret')
		RETURNING id INTO ig;
	PERFORM crm.resync('tenant_ws' || crm.current_workspace());
	SELECT dd.id INTO dlv FROM crm.integration_deliveries dd
	 WHERE dd.workspace_id = crm.current_workspace() AND dd.integration_id = ig ORDER BY dd.id LIMIT 1;
	INSERT INTO ids SELECT crm.current_workspace(), c, co, cv, max(id), p, st, pr, d, li, o, r, l, dl, dv, ov, ig, dlv
	  FROM crm.events WHERE workspace_id = crm.current_workspace();
END $$;
SELECT pg_temp.fill();
SET LOCAL crm.workspace_id = :ws2;
SELECT pg_temp.fill();
RESET crm.workspace_id;
SELECT min(id) AS j1 FROM crm.jobs WHERE workspace_id = 1 \gset
SELECT m.id AS m1 FROM crm.merges m WHERE m.workspace_id = 1 ORDER BY m.id LIMIT 1 \gset

-- every table, view and materialized view of the extension, and the column
-- that names its workspace
CREATE TEMP TABLE rels AS
	SELECT c.oid::regclass AS rel, c.relkind,
		   CASE WHEN c.relname = 'workspaces' THEN 'id' ELSE 'workspace_id' END AS wscol
	  FROM pg_class c
	 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
	   -- extension metadata with no user data, the same in every workspace:
	   -- where contact ids live, for merge
	   AND c.oid <> ALL (ARRAY['crm.contact_references'::regclass, 'crm.contact_reference_map'::regclass]);

-- a fingerprint of everything workspace 1 holds, taken as the owner
CREATE FUNCTION pg_temp.ws1_fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; acc text := ''; part text;
BEGIN
	FOR r IN SELECT * FROM rels WHERE relkind IN ('r', 'p') ORDER BY rel::text LOOP
		EXECUTE format('SELECT coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), ''-'') FROM %s t WHERE %I = 1',
					   r.rel, r.wscol) INTO part;
		acc := acc || r.rel::text || ':' || part || ';';
	END LOOP;
	RETURN md5(acc);
END $$;
CREATE TEMP TABLE fp AS SELECT pg_temp.ws1_fingerprint() AS before;
-- a sample row of workspace 1 per relation, for the insert attempts
CREATE TEMP TABLE samples (rel regclass, row jsonb);
DO $$
DECLARE r record; j jsonb;
BEGIN
	FOR r IN SELECT * FROM rels LOOP
		EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %I = 1 LIMIT 1', r.rel, r.wscol) INTO j;
		INSERT INTO samples VALUES (r.rel, coalesce(j, jsonb_build_object(r.wscol, 1)));
	END LOOP;
END $$;

-- the application role
CREATE ROLE crm_tap_tenant NOLOGIN;
SELECT crm.grant_access('crm_tap_tenant');
CREATE TEMP TABLE outcome (rel text, op text, nrows bigint, state text);
GRANT ALL ON outcome TO crm_tap_tenant;
-- function calls with workspace 1's ids, made by the application role and
-- then again by the owner (who bypasses RLS: the functions themselves must
-- keep to the current workspace)
CREATE TEMP SEQUENCE calls_seq;
CREATE TEMP TABLE calls (n bigint DEFAULT nextval('calls_seq'), fn text, sql text);
GRANT ALL ON calls, calls_seq TO crm_tap_tenant;
GRANT SELECT ON rels, samples, ids TO crm_tap_tenant;

SET LOCAL ROLE crm_tap_tenant;
SET LOCAL crm.workspace_id = :ws2;

-- tables and views: read, update, delete and insert workspace 1's rows
DO $$
DECLARE r record; n bigint; cols text; s jsonb;
BEGIN
	FOR r IN SELECT * FROM rels LOOP
		EXECUTE format('SELECT count(*) FROM %s WHERE %I <> crm.current_workspace()', r.rel, r.wscol) INTO n;
		INSERT INTO outcome VALUES (r.rel, 'read', n, NULL);
		BEGIN
			EXECUTE format('WITH u AS (UPDATE %s SET %I = %I WHERE %I = 1 RETURNING 1) SELECT count(*) FROM u',
						   r.rel, r.wscol, r.wscol, r.wscol) INTO n;
			INSERT INTO outcome VALUES (r.rel, 'update', n, NULL);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO outcome VALUES (r.rel, 'update', 0, SQLSTATE);
		END;
		BEGIN
			EXECUTE format('WITH d AS (DELETE FROM %s WHERE %I = 1 RETURNING 1) SELECT count(*) FROM d',
						   r.rel, r.wscol) INTO n;
			INSERT INTO outcome VALUES (r.rel, 'delete', n, NULL);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO outcome VALUES (r.rel, 'delete', 0, SQLSTATE);
		END;
		-- a copy of a workspace-1 row, keeping workspace_id = 1
		SELECT sm.row INTO s FROM samples sm WHERE sm.rel = r.rel;
		SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(s) k;
		BEGIN
			EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1)',
						   r.rel, cols, cols, r.rel) USING s;
			INSERT INTO outcome VALUES (r.rel, 'insert', 1, NULL);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO outcome VALUES (r.rel, 'insert', 0, SQLSTATE);
		END;
	END LOOP;
END $$;

-- functions, called with workspace 1's ids: each must refuse (P0002) or
-- return nothing; sync_conversation_counters and sync_conversation_statistics
-- may run (they recompute from the rows), and the fingerprint below shows
-- they changed nothing
CREATE FUNCTION pg_temp.try(fn text, sql text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	-- executed as written (a count over it would let the planner skip a
	-- STABLE call whose result is unused)
	EXECUTE sql;
	GET DIAGNOSTICS n = ROW_COUNT;
	INSERT INTO outcome VALUES (fn, 'call', n, NULL);
EXCEPTION WHEN OTHERS THEN
	INSERT INTO outcome VALUES (fn, 'call', NULL, SQLSTATE);
END $$;
SELECT contact AS c1, company AS co1, conversation AS cv1, event AS ev1 FROM ids WHERE ws = 1 \gset
INSERT INTO calls (fn, sql) VALUES ('timeline', format('SELECT * FROM crm.timeline(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('record_consent', format($q$SELECT crm.record_consent(%s, 'email', 'revoked')$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('link_company', format('SELECT crm.link_company(%s, %s, NULL, false)', :c1, :co1));
INSERT INTO calls (fn, sql) VALUES ('unlink_company', format('SELECT crm.unlink_company(%s, %s)', :c1, :co1));
INSERT INTO calls (fn, sql) VALUES ('resolve_company', format('SELECT crm_hidden.resolve_company(%s)', :co1));
INSERT INTO calls (fn, sql) VALUES ('log_activity', format($q$SELECT crm.log_activity(%s, 'call')$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('log_activity company', format($q$SELECT crm.log_activity(NULL, 'call', company_id => %s)$q$, :co1));
INSERT INTO calls (fn, sql) VALUES ('start_conversation', format('SELECT crm.start_conversation(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('add_message', format($q$SELECT crm.add_message(%s, 'contact', 'x')$q$, :cv1));
INSERT INTO calls (fn, sql) VALUES ('set_external_id', format($q$SELECT crm.set_external_id('contact', %s, 'zendesk', 'z1')$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('require_contact', format('SELECT crm_hidden.require_contact(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('require_company', format('SELECT crm_hidden.require_company(%s)', :co1));
INSERT INTO calls (fn, sql) VALUES ('events_since id', format('SELECT * FROM crm.events_since(%s)', :ev1));
INSERT INTO calls (fn, sql) VALUES ('ack_events', format($q$SELECT crm.ack_events('tap', %s)$q$, :ev1));
INSERT INTO calls (fn, sql) VALUES ('purge_events',
				   $q$SELECT 1 WHERE crm.purge_events('infinity') >= 0 AND NOT EXISTS (SELECT FROM crm.events WHERE workspace_id = 1)$q$);
INSERT INTO calls (fn, sql) VALUES ('events_since 0', 'SELECT * FROM crm.events_since(0) WHERE workspace_id = 1');
INSERT INTO calls (fn, sql) VALUES ('sync_conversation_counters',
				   format('SELECT crm_hidden.sync_conversation_counters(ARRAY[1::bigint], ARRAY[%s::bigint])', :c1));
INSERT INTO calls (fn, sql) VALUES ('sync_conversation_statistics',
				   format('SELECT crm_hidden.sync_conversation_statistics(ARRAY[1::bigint], ARRAY[%s::bigint])', :cv1));
INSERT INTO calls (fn, sql) VALUES ('find_conversations', 'SELECT * FROM crm.find_conversations() cv WHERE cv.workspace_id = 1');
SELECT contact AS c2 FROM ids WHERE ws = :ws2 \gset
INSERT INTO calls (fn, sql) VALUES ('merge_contacts into 1', format('SELECT crm.merge_contacts(%s, %s)', :c1, :c2));
INSERT INTO calls (fn, sql) VALUES ('merge_contacts from 1', format('SELECT crm.merge_contacts(%s, %s)', :c2, :c1));
INSERT INTO calls (fn, sql) VALUES ('merge_preview', format('SELECT crm.merge_preview(%s, %s)', :c2, :c1));
SELECT company AS co2 FROM ids WHERE ws = :ws2 \gset
INSERT INTO calls (fn, sql) VALUES ('merge_companies into 1', format('SELECT crm.merge_companies(%s, %s)', :co1, :co2));
INSERT INTO calls (fn, sql) VALUES ('merge_companies from 1', format('SELECT crm.merge_companies(%s, %s)', :co2, :co1));
INSERT INTO calls (fn, sql) VALUES ('merge_companies_preview', format('SELECT crm.merge_companies_preview(%s, %s)', :co2, :co1));
INSERT INTO calls (fn, sql) VALUES ('resolve_contact', format('SELECT crm.resolve_contact(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('unmerge', format('SELECT crm.unmerge(%s)', :m1));
INSERT INTO calls (fn, sql) VALUES ('unmerge_preview', format('SELECT crm.unmerge_preview(%s)', :m1));
INSERT INTO calls (fn, sql) VALUES ('update_contact', format($q$SELECT crm.update_contact(%s, '{"name": "x"}')$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('delete_contact soft', format('SELECT crm.delete_contact(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('delete_contact hard', format('SELECT crm.delete_contact(%s, true)', :c1));
INSERT INTO calls (fn, sql) VALUES ('export_contact', format('SELECT crm.export_contact(%s)', :c1));
INSERT INTO calls (fn, sql) VALUES ('upsert_order', format($q$SELECT crm.upsert_order(%s, 'webhook', 'o-1', 10)$q$, :c1));
-- the sales side: pipelines, deals, line items, orders, custom records,
-- lists, forecasts and bulk actions by id
SELECT pipeline AS p1, stage AS st1, product AS pr1, deal AS d1, line AS li1, ord AS o1, rec AS r1,
	   list AS l1, dlist AS dl1, dview AS dv1, oview AS ov1 FROM ids WHERE ws = 1 \gset
SELECT contact AS c2, stage AS st2, deal AS d2, product AS pr2, rec AS r2, list AS l2 FROM ids WHERE ws = :ws2 \gset
INSERT INTO calls (fn, sql) VALUES ('require_pipeline', format('SELECT crm_hidden.require_pipeline(%s)', :p1));
INSERT INTO calls (fn, sql) VALUES ('add_stage', format($q$SELECT crm.add_stage(%s, 'intruder stage')$q$, :p1));
INSERT INTO calls (fn, sql) VALUES ('reorder_stages', format('SELECT crm.reorder_stages(%s, ARRAY[%s]::bigint[])', :p1, :st1));
INSERT INTO calls (fn, sql) VALUES ('stage_probabilities', format('SELECT * FROM crm.stage_probabilities(%s)', :p1));
INSERT INTO calls (fn, sql) VALUES ('stage_probabilities historical', format($q$SELECT * FROM crm.stage_probabilities(%s, 'historical')$q$, :p1));
INSERT INTO calls (fn, sql) VALUES ('forecast', format('SELECT * FROM crm.forecast(%s)', :p1));
INSERT INTO calls (fn, sql) VALUES ('pipeline_report', format('SELECT * FROM crm.pipeline_report(%s)', :p1));
INSERT INTO calls (fn, sql) VALUES ('deal_health', format('SELECT crm.deal_health(%s)', :d1));
INSERT INTO calls (fn, sql) VALUES ('lock_deal', format('SELECT crm_hidden.lock_deal(%s)', :d1));
INSERT INTO calls (fn, sql) VALUES ('property_history contact', format($q$SELECT * FROM crm.property_history('contact', %s)$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('property_history company', format($q$SELECT * FROM crm.property_history('company', %s)$q$, :co1));
INSERT INTO calls (fn, sql) VALUES ('property_history deal', format($q$SELECT * FROM crm.property_history('deal', %s)$q$, :d1));
INSERT INTO calls (fn, sql) VALUES ('contact_as_of', format('SELECT crm.contact_as_of(%s, now())', :c1));
INSERT INTO calls (fn, sql) VALUES ('company_as_of', format('SELECT crm.company_as_of(%s, now())', :co1));
INSERT INTO calls (fn, sql) VALUES ('deal_as_of', format('SELECT crm.deal_as_of(%s, now())', :d1));
INSERT INTO calls (fn, sql) VALUES ('history_object', format($q$SELECT crm_hidden.history_object('contact', %s)$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('move_deal', format('SELECT crm.move_deal(%s, %s)', :d1, :st1));
INSERT INTO calls (fn, sql) VALUES ('move_deal to a stage of 1', format('SELECT crm.move_deal(%s, %s)', :d2, :st1));
INSERT INTO calls (fn, sql) VALUES ('move_deal before a deal of 1', format('SELECT crm.move_deal(%s, %s, %s)', :d2, :st2, :d1));
INSERT INTO calls (fn, sql) VALUES ('move_contact', format('SELECT crm.move_contact(%s, %s)', :c1, :st2));
INSERT INTO calls (fn, sql) VALUES ('move_contact to a stage of 1', format('SELECT crm.move_contact(%s, %s)', :c2, :st1));
INSERT INTO calls (fn, sql) VALUES ('stage_for_contacts', format('SELECT crm_hidden.stage_for_contacts(%s)', :st1));
INSERT INTO calls (fn, sql) VALUES ('win_deal', format('SELECT crm.win_deal(%s)', :d1));
INSERT INTO calls (fn, sql) VALUES ('lose_deal', format('SELECT crm.lose_deal(%s)', :d1));
INSERT INTO calls (fn, sql) VALUES ('add_line_item', format('SELECT crm.add_line_item(%s, %s, 1)', :d1, :pr1));
INSERT INTO calls (fn, sql) VALUES ('add_line_item product of 1', format('SELECT crm.add_line_item(%s, %s, 1)', :d2, :pr1));
INSERT INTO calls (fn, sql) VALUES ('upsert_order deal of 1',
				   format($q$SELECT crm.upsert_order(%s, 'webhook', 'o-2', 10, deal_id => %s)$q$, :c2, :d1));
INSERT INTO calls (fn, sql) VALUES ('require_deal', format('SELECT crm_hidden.require_deal(%s)', :d1));
INSERT INTO calls (fn, sql) VALUES ('require_record', format('SELECT crm_hidden.require_record(%s)', :r1));
INSERT INTO calls (fn, sql) VALUES ('associate', format($q$SELECT crm.associate(%s, 'contact', %s)$q$, :r1, :c1));
INSERT INTO calls (fn, sql) VALUES ('associate target of 1', format($q$SELECT crm.associate(%s, 'contact', %s)$q$, :r2, :c1));
INSERT INTO calls (fn, sql) VALUES ('dissociate', format($q$SELECT crm.dissociate(%s, 'contact', %s)$q$, :r1, :c1));
INSERT INTO calls (fn, sql) VALUES ('associated_records', format($q$SELECT crm.associated_records('contact', %s)$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('find_records',
				   $q$SELECT * FROM crm.find_records('workshop', 'title = ''tenant workshop''') r WHERE r.workspace_id = 1$q$);
INSERT INTO calls (fn, sql) VALUES ('find_deals', 'SELECT * FROM crm.find_deals() d WHERE d.workspace_id = 1');
INSERT INTO calls (fn, sql) VALUES ('find_orders', 'SELECT * FROM crm.find_orders() o WHERE o.workspace_id = 1');
INSERT INTO calls (fn, sql) VALUES ('find_contacts', 'SELECT * FROM crm.find_contacts() c WHERE c.workspace_id = 1');
INSERT INTO calls (fn, sql) VALUES ('find_companies', 'SELECT * FROM crm.find_companies() c WHERE c.workspace_id = 1');
INSERT INTO calls (fn, sql) VALUES ('search', format($q$SELECT * FROM crm.search('tenant') s WHERE s.id = %s$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('require_list', format('SELECT crm_hidden.require_list(%s)', :l1));
INSERT INTO calls (fn, sql) VALUES ('update_list', format($q$SELECT crm.update_list(%s, 'renamed')$q$, :l1));
INSERT INTO calls (fn, sql) VALUES ('set_list_filter', format($q$SELECT crm.set_list_filter(%s, 'city = ''x''')$q$, :dl1));
INSERT INTO calls (fn, sql) VALUES ('add_to_list', format('SELECT crm.add_to_list(%s, ARRAY[%s]::bigint[])', :l1, :c2));
INSERT INTO calls (fn, sql) VALUES ('add_to_list contact of 1', format('SELECT crm.add_to_list(%s, ARRAY[%s]::bigint[])', :l2, :c1));
INSERT INTO calls (fn, sql) VALUES ('remove_from_list', format('SELECT crm.remove_from_list(%s, ARRAY[%s]::bigint[])', :l1, :c1));
INSERT INTO calls (fn, sql) VALUES ('get_list_members', format('SELECT * FROM crm.get_list_members(%s)', :l1));
INSERT INTO calls (fn, sql) VALUES ('bulk_add_to_list', format($q$SELECT crm.bulk_add_to_list(%s, '')$q$, :l1));
INSERT INTO calls (fn, sql) VALUES ('bulk_add_to_list_by_id', format('SELECT crm.bulk_add_to_list_by_id(%s, ARRAY[%s]::bigint[])', :l1, :c2));
INSERT INTO calls (fn, sql) VALUES ('bulk_add_to_list_by_id contact of 1',
				   format('SELECT 1 WHERE crm.bulk_add_to_list_by_id(%s, ARRAY[%s]::bigint[]) > 0', :l2, :c1));
INSERT INTO calls (fn, sql) VALUES ('refresh_list', format('SELECT crm.refresh_list(%s)', :dl1));
INSERT INTO calls (fn, sql) VALUES ('delete_list', format('SELECT crm.delete_list(%s)', :l1));
INSERT INTO calls (fn, sql) VALUES ('saved_view_deals', format('SELECT * FROM crm.saved_view_deals(%s)', :dv1));
INSERT INTO calls (fn, sql) VALUES ('saved_view_orders', format('SELECT * FROM crm.saved_view_orders(%s)', :ov1));
INSERT INTO calls (fn, sql) VALUES ('require_saved_view', format($q$SELECT crm_hidden.require_saved_view(%s, 'deal')$q$, :dv1));
-- import jobs, and the import's helper that links a contact
INSERT INTO calls (fn, sql) VALUES ('import_job', format('SELECT crm.import_job(%s)', :j1));
INSERT INTO calls (fn, sql) VALUES ('cancel_import', format('SELECT crm.cancel_import(%s)', :j1));
INSERT INTO calls (fn, sql) VALUES ('import_link_company',
				   format($q$SELECT crm_hidden.import_link_company(%s, 'intruder.example')$q$, :c1));
-- integrations: workspace 1's by key, its delivery by id
SELECT integ AS ig1, delivery AS dlv1 FROM ids WHERE ws = 1 \gset
INSERT INTO calls (fn, sql) VALUES ('claim_deliveries', $q$SELECT * FROM crm.claim_deliveries('tenant_ws1')$q$);
INSERT INTO calls (fn, sql) VALUES ('ack_delivery', format('SELECT crm.ack_delivery(%s)', :dlv1));
INSERT INTO calls (fn, sql) VALUES ('fail_delivery', format($q$SELECT crm.fail_delivery(%s, 'x')$q$, :dlv1));
INSERT INTO calls (fn, sql) VALUES ('resync', $q$SELECT crm.resync('tenant_ws1')$q$);
INSERT INTO calls (fn, sql) VALUES ('integration_endpoint', $q$SELECT * FROM crm.integration_endpoint('tenant_ws1')$q$);
INSERT INTO calls (fn, sql) VALUES ('apply_external_change',
				   $q$SELECT crm.apply_external_change('tenant_ws1', 'contact', 'x-1', '{"name": "intruder"}')$q$);
INSERT INTO calls (fn, sql) VALUES ('integration_backlog',
				   format('SELECT 1 WHERE crm_hidden.integration_backlog(%s) IS NOT NULL', :ig1));
-- the helpers of schema crm_hidden, which granted roles may call directly
INSERT INTO calls (fn, sql) VALUES ('close_deal', format($q$SELECT crm_hidden.close_deal(%s, 'won', now(), NULL)$q$, :d1));
INSERT INTO calls (fn, sql) VALUES ('association_target_id contact',
				   format($q$SELECT crm_hidden.association_target_id('contact', %s)$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('association_target_id deal',
				   format($q$SELECT crm_hidden.association_target_id('deal', %s)$q$, :d1));
INSERT INTO calls (fn, sql) VALUES ('refresh_list_members', format('SELECT crm_hidden.refresh_list_members(%s)', :dl1));
INSERT INTO calls (fn, sql) VALUES ('bulk_add_to_list_apply contact of 1',
				   format('SELECT 1 WHERE crm_hidden.bulk_add_to_list_apply(%s, NULL, ARRAY[%s]::bigint[]) > 0', :l2, :c1));
INSERT INTO calls (fn, sql) VALUES ('bulk_update_apply ids',
				   format($q$SELECT 1 WHERE crm_hidden.bulk_update_apply('contact', NULL, ARRAY[%s]::bigint[], '{"city": "x"}') > 0$q$, :c1));
-- a list row value made up by the caller: only its id counts, looked up in the current workspace
INSERT INTO calls (fn, sql) VALUES ('list_add forged row of 1',
				   format($q$SELECT crm_hidden.list_add(jsonb_populate_record(NULL::crm.lists,
							 '{"workspace_id": 1, "id": %s, "name": "forged", "kind": "static", "object_type": "contact"}'),
							 ARRAY[%s]::bigint[], 'manual')$q$, :l1, :c1));
INSERT INTO calls (fn, sql) VALUES ('list_require_objects forged row of 1',
				   format($q$SELECT crm_hidden.list_require_objects(jsonb_populate_record(NULL::crm.lists,
							 '{"workspace_id": 1, "id": %s, "name": "forged", "kind": "static", "object_type": "contact"}'),
							 ARRAY[%s]::bigint[])$q$, :l1, :c1));
-- bulk actions by id: refused or nothing changed (0 rows returned)
INSERT INTO calls (fn, sql) VALUES ('bulk_tag_by_id', format($q$SELECT 1 WHERE crm.bulk_tag_by_id('contact', ARRAY[%s]::bigint[], ARRAY['x']) > 0$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('bulk_untag_by_id', format($q$SELECT 1 WHERE crm.bulk_untag_by_id('contact', ARRAY[%s]::bigint[], ARRAY['vip']) > 0$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('bulk_update_by_id', format($q$SELECT 1 WHERE crm.bulk_update_by_id('deal', ARRAY[%s]::bigint[], '{"title": "x"}') > 0$q$, :d1));
INSERT INTO calls (fn, sql) VALUES ('bulk_assign_by_id', format($q$SELECT 1 WHERE crm.bulk_assign_by_id('contact', ARRAY[%s]::bigint[], ARRAY['x']) > 0$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('bulk_delete_by_id', format($q$SELECT 1 WHERE crm.bulk_delete_by_id('contact', ARRAY[%s]::bigint[]) > 0$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('bulk_set_lifecycle_by_id',
				   format($q$SELECT 1 WHERE crm.bulk_set_lifecycle_by_id(ARRAY[%s]::bigint[], 'customer') > 0$q$, :c1));
INSERT INTO calls (fn, sql) VALUES ('identify finds nothing of workspace 1',
				   $q$SELECT 1 FROM crm.contacts WHERE id = crm.identify(email => 'tenant@example.com') AND workspace_id = 1$q$);
SELECT pg_temp.try(fn, sql) FROM calls ORDER BY n;
SELECT pg_temp.try('write contact_references',
				   $q$INSERT INTO crm.contact_references VALUES ('crm.contacts', 'workspace_id', 'id', 'name', 'x')$q$);
SELECT pg_temp.try('create_workspace', $q$SELECT crm.create_workspace('intruder', 'Intruder')$q$);
SELECT pg_temp.try('grant_access', $q$SELECT crm.grant_access('crm_tap_tenant')$q$);
-- inside a PostgREST request the token's workspace cannot be switched away from
SET LOCAL request.jwt.claims = '{"workspace_id": 2}';
SELECT pg_temp.try('use_workspace in API request', $q$SELECT crm.use_workspace('default')$q$);
RESET request.jwt.claims;
RESET ROLE;
SELECT pg_temp.try('owner: ' || fn, sql) FROM calls ORDER BY n;

SELECT plan((SELECT count(*)::int FROM outcome) + 2);

SELECT is(nrows, 0::bigint, rel || ': workspace 2 reads no row of another workspace')
  FROM outcome WHERE op = 'read' ORDER BY rel;
SELECT ok(nrows = 0, rel || ': ' || op || ' reaches no row of workspace 1'
			|| coalesce(' (' || state || ')', ''))
  FROM outcome WHERE op IN ('update', 'delete') ORDER BY rel, op;
SELECT ok(state IS NOT NULL, rel || ': inserting a workspace-1 row is refused'
			|| coalesce(' (' || state || ')', ''))
  FROM outcome WHERE op = 'insert' ORDER BY rel;
SELECT ok(state IS NOT NULL OR nrows = 0 OR rel IN ('sync_conversation_counters', 'owner: sync_conversation_counters',
														'sync_conversation_statistics', 'owner: sync_conversation_statistics'),
		  rel || ': refused or empty' || coalesce(' (' || state || ')', ''))
  FROM outcome WHERE op = 'call' ORDER BY rel;
SELECT ok((SELECT count(*) FROM samples s JOIN rels r USING (rel)
			WHERE r.relkind = 'r' AND s.row ? 'id' AND (s.row->>r.wscol) = '1'
			  AND s.rel IN ('crm.contacts'::regclass, 'crm.companies'::regclass, 'crm.activities'::regclass,
							'crm.conversations'::regclass, 'crm.messages'::regclass, 'crm.events'::regclass,
							'crm.contact_consents'::regclass)) = 7,
		  'workspace 1 had rows to protect in the core tables');
SELECT is(pg_temp.ws1_fingerprint(), (SELECT before FROM fp), 'workspace 1 is unchanged, row for row');

SELECT * FROM finish();
ROLLBACK;
