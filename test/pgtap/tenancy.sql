-- Tenancy: an application role (crm.grant_access, not the owner, so RLS
-- applies) working in workspace 2 can neither read nor change a row of
-- workspace 1 through any table or view of schema crm, nor through the
-- functions.  Relations are enumerated from the catalog, so tables added
-- later are covered without editing this file.
BEGIN;

-- workspace 1 and 2 each get a row in every table
SELECT crm.create_workspace('tenant-two', 'Tenant two') AS ws2 \gset
CREATE TEMP TABLE ids (ws bigint, contact bigint, company bigint, conversation bigint, event bigint);
CREATE FUNCTION pg_temp.fill() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c bigint; co bigint; cv bigint;
BEGIN
	INSERT INTO crm.contacts (name, email, phone, tags)
		VALUES ('tenant contact', 'tenant@example.com', '+49 30 1234567', '{vip}') RETURNING id INTO c;
	INSERT INTO crm.companies (name, domain) VALUES ('tenant co', 'tenant.example') RETURNING id INTO co;
	PERFORM crm.link_company(c, co, 'ceo', true);
	PERFORM crm.record_consent(c, 'email', 'granted', 'tap');
	PERFORM crm.set_external_id('contact', c, 'stripe', 'cus_tenant');
	PERFORM crm.log_activity(c, 'note', 'tenant note', company_id => co);
	cv := crm.start_conversation(c, 'chat', NULL, 'hello');
	PERFORM crm.add_message(cv, 'agent', 'hi');
	INSERT INTO ids SELECT crm.current_workspace(), c, co, cv, max(id) FROM crm.events WHERE workspace_id = crm.current_workspace();
END $$;
SELECT pg_temp.fill();
SET LOCAL crm.workspace_id = :ws2;
SELECT pg_temp.fill();
RESET crm.workspace_id;

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
-- return nothing; sync_conversation_counters may run, and the fingerprint
-- below shows it changed nothing
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
SELECT pg_temp.try('timeline', format('SELECT * FROM crm.timeline(%s)', :c1));
SELECT pg_temp.try('record_consent', format($q$SELECT crm.record_consent(%s, 'email', 'revoked')$q$, :c1));
SELECT pg_temp.try('link_company', format('SELECT crm.link_company(%s, %s, NULL, false)', :c1, :co1));
SELECT pg_temp.try('unlink_company', format('SELECT crm.unlink_company(%s, %s)', :c1, :co1));
SELECT pg_temp.try('log_activity', format($q$SELECT crm.log_activity(%s, 'note')$q$, :c1));
SELECT pg_temp.try('log_activity company', format($q$SELECT crm.log_activity(NULL, 'note', company_id => %s)$q$, :co1));
SELECT pg_temp.try('start_conversation', format('SELECT crm.start_conversation(%s)', :c1));
SELECT pg_temp.try('add_message', format($q$SELECT crm.add_message(%s, 'contact', 'x')$q$, :cv1));
SELECT pg_temp.try('set_external_id', format($q$SELECT crm.set_external_id('contact', %s, 'zendesk', 'z1')$q$, :c1));
SELECT pg_temp.try('require_contact', format('SELECT crm.require_contact(%s)', :c1));
SELECT pg_temp.try('require_company', format('SELECT crm.require_company(%s)', :co1));
SELECT pg_temp.try('events_since id', format('SELECT * FROM crm.events_since(%s)', :ev1));
SELECT pg_temp.try('events_since 0', 'SELECT * FROM crm.events_since(0) WHERE workspace_id = 1');
SELECT pg_temp.try('sync_conversation_counters',
				   format('SELECT crm.sync_conversation_counters(ARRAY[1::bigint], ARRAY[%s::bigint])', :c1));
SELECT contact AS c2 FROM ids WHERE ws = :ws2 \gset
SELECT pg_temp.try('merge_contacts into 1', format('SELECT crm.merge_contacts(%s, %s)', :c1, :c2));
SELECT pg_temp.try('merge_contacts from 1', format('SELECT crm.merge_contacts(%s, %s)', :c2, :c1));
SELECT pg_temp.try('merge_preview', format('SELECT crm.merge_preview(%s, %s)', :c2, :c1));
SELECT pg_temp.try('resolve_contact', format('SELECT crm.resolve_contact(%s)', :c1));
SELECT pg_temp.try('update_contact', format($q$SELECT crm.update_contact(%s, '{"name": "x"}')$q$, :c1));
SELECT pg_temp.try('delete_contact soft', format('SELECT crm.delete_contact(%s)', :c1));
SELECT pg_temp.try('delete_contact hard', format('SELECT crm.delete_contact(%s, true)', :c1));
SELECT pg_temp.try('export_contact', format('SELECT crm.export_contact(%s)', :c1));
SELECT pg_temp.try('upsert_order', format($q$SELECT crm.upsert_order(%s, 'webhook', 'o-1', 10)$q$, :c1));
SELECT pg_temp.try('identify finds nothing of workspace 1',
				   $q$SELECT 1 FROM crm.contacts WHERE id = crm.identify(email => 'tenant@example.com') AND workspace_id = 1$q$);
SELECT pg_temp.try('write contact_references',
				   $q$INSERT INTO crm.contact_references VALUES ('crm.contacts', 'workspace_id', 'id', 'name', 'x')$q$);
SELECT pg_temp.try('create_workspace', $q$SELECT crm.create_workspace('intruder', 'Intruder')$q$);
SELECT pg_temp.try('grant_access', $q$SELECT crm.grant_access('crm_tap_tenant')$q$);
-- inside a PostgREST request the token's workspace cannot be switched away from
SET LOCAL request.jwt.claims = '{"workspace_id": 2}';
SELECT pg_temp.try('use_workspace in API request', $q$SELECT crm.use_workspace('default')$q$);
RESET request.jwt.claims;
RESET ROLE;

SELECT plan((SELECT count(*)::int FROM outcome) + 2);

SELECT is(nrows, 0::bigint, rel || ': workspace 2 reads no row of another workspace')
  FROM outcome WHERE op = 'read' ORDER BY rel;
SELECT ok(nrows = 0, rel || ': ' || op || ' reaches no row of workspace 1'
			|| coalesce(' (' || state || ')', ''))
  FROM outcome WHERE op IN ('update', 'delete') ORDER BY rel, op;
SELECT ok(state IS NOT NULL, rel || ': inserting a workspace-1 row is refused'
			|| coalesce(' (' || state || ')', ''))
  FROM outcome WHERE op = 'insert' ORDER BY rel;
SELECT ok(state IS NOT NULL OR nrows = 0 OR rel = 'sync_conversation_counters',
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
