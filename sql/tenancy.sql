--
-- Tenancy and dumps for every table, applied last so no table is missed
-- (SPEC §0): each table holding workspace_id gets row-level security on
-- crm.current_workspace(), and each table and identity sequence holding
-- user data is registered with pg_extension_config_dump so pg_dump keeps it.
-- crm.workspaces registered itself (its default row is created by the script).
--

DO $$
DECLARE
	-- the tables of a module a workspace may switch off (sql/modules.sql)
	modules jsonb := '{"companies": "companies", "contact_companies": "companies",
					   "pipelines": "deals", "stages": "deals", "deals": "deals", "deal_line_items": "deals",
					   "products": "deals", "deal_stage_history": "deals", "checklist_items": "deals",
					   "orders": "orders", "object_types": "custom_objects", "object_records": "custom_objects",
					   "object_associations": "custom_objects",
					   "contact_stages": "deals", "contact_stage_history": "deals"}';
	t record;
	seq text;
BEGIN
	FOR t IN
		SELECT c.oid::regclass AS rel, c.relname
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) 'crm'::regnamespace
		   AND c.relkind OPERATOR(pg_catalog.=) 'r'
		   AND a.attname OPERATOR(pg_catalog.=) 'workspace_id'
		   AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['workspaces', 'events'])
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
							WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid
							  AND p.polname OPERATOR(pg_catalog.=) 'workspace_isolation')
		 ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
		EXECUTE pg_catalog.format(
			'CREATE POLICY workspace_isolation ON %s USING (workspace_id OPERATOR(pg_catalog.=) %s)', t.rel,
			CASE WHEN modules OPERATOR(pg_catalog.?) t.relname::text
				 THEN pg_catalog.format('crm_internal.module_workspace(%L)', modules OPERATOR(pg_catalog.->>) t.relname::text)
				 ELSE 'crm.current_workspace()' END);
		PERFORM pg_catalog.pg_extension_config_dump(t.rel, '');
		FOR seq IN
			SELECT pg_catalog.pg_get_serial_sequence(t.rel::text, a.attname)
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) t.rel AND a.attidentity OPERATOR(pg_catalog.<>) ''
		LOOP
			PERFORM pg_catalog.pg_extension_config_dump(seq, '');
		END LOOP;
	END LOOP;
END;
$$;

--
-- The permission a member needs to change each table (docs/members.md),
-- checked once per statement of the request (src/members.c).  A deal's
-- notes and attachments are the deal's: changing them needs crm_manage too.
-- Every table is mapped or named as written only by the extension, so no
-- new table escapes the check.
--
DO $$
DECLARE
	map jsonb := '{"contacts": "contacts", "companies": "contacts", "contact_companies": "contacts",
				   "contact_consents": "contacts", "external_ids": "contacts", "activities": "contacts",
				   "conversations": "contacts", "messages": "contacts", "lists": "contacts",
				   "list_members": "contacts", "notes": "contacts", "attachments": "contacts",
				   "deals": "crm_manage", "deal_line_items": "crm_manage", "checklist_items": "crm_manage",
				   "orders": "crm_manage", "products": "crm_manage",
				   "object_types": "custom_objects_manage", "object_records": "custom_objects_manage",
				   "object_associations": "custom_objects_manage",
				   "property_definitions": "admin", "pipelines": "admin", "stages": "admin",
				   "members": "admin", "exchange_rates": "admin", "workspace_modules": "admin",
				   "saved_views": "crm_manage", "workspace_limits": "admin",
				   "contact_stages": "contacts",
				   "integrations": "admin"}';
	t record;
	unmapped text;
BEGIN
	SELECT c.relname INTO unmapped
	  FROM pg_catalog.pg_class c
	 WHERE c.relnamespace OPERATOR(pg_catalog.=) 'crm'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
	   AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['workspaces', 'events', 'deal_stage_history',
														 'search_words', 'contact_references', 'value_history',
														 'jobs', 'job_reports', 'merges',
														 'contact_stage_history',
														 'integration_deliveries', 'integration_attempts'])
	   AND NOT map OPERATOR(pg_catalog.?) c.relname::text;
	IF FOUND THEN
		RAISE EXCEPTION 'table crm.% has no permission in sql/tenancy.sql', unmapped;
	END IF;
	FOR t IN SELECT key AS tab, value AS permission FROM pg_catalog.jsonb_each_text(map) LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER permission BEFORE INSERT OR UPDATE OR DELETE ON crm.%I'
								  ' FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.require_permission(%L)',
								  t.tab, t.permission);
	END LOOP;
	FOR t IN SELECT unnest(ARRAY['notes', 'attachments']) AS tab LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER permission_deal BEFORE INSERT OR UPDATE ON crm.%I FOR EACH ROW'
								  ' WHEN (NEW.deal_id IS NOT NULL)'
								  ' EXECUTE FUNCTION crm_internal.require_permission(''crm_manage'')', t.tab);
		EXECUTE pg_catalog.format('CREATE TRIGGER permission_deal_delete BEFORE DELETE ON crm.%I FOR EACH ROW'
								  ' WHEN (OLD.deal_id IS NOT NULL)'
								  ' EXECUTE FUNCTION crm_internal.require_permission(''crm_manage'')', t.tab);
	END LOOP;
END;
$$;

--
-- Plan limits (sql/limits.sql, src/limits.c): a row entering a count is
-- queued for a check at commit, only where its workspace has that limit
-- (the WHEN clause).  Live contacts count (not merged, not deleted): one
-- restored from deleted is checked too.  A segment is a dynamic list with
-- an owner, counted per owner.
--
CREATE CONSTRAINT TRIGGER limit_contacts AFTER INSERT ON crm.contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.status OPERATOR(pg_catalog.<) 'merged'
					   AND crm_internal.limited(NEW.workspace_id, 'max_contacts', 1))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_contacts');
CREATE CONSTRAINT TRIGGER limit_contacts_restored AFTER UPDATE OF status ON crm.contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.status OPERATOR(pg_catalog.>=) 'merged' AND NEW.status OPERATOR(pg_catalog.<) 'merged'
					   AND crm_internal.limited(NEW.workspace_id, 'max_contacts', 1))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_contacts');
-- max_contacts is kept (crm_internal.limit_counts): a contact leaving the
-- count (merged, deleted) is written at commit too
CREATE CONSTRAINT TRIGGER limit_contacts_left AFTER UPDATE OF status ON crm.contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.status OPERATOR(pg_catalog.<) 'merged' AND NEW.status OPERATOR(pg_catalog.>=) 'merged'
					   AND crm_internal.limited(OLD.workspace_id, 'max_contacts', -1))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_contacts');
CREATE CONSTRAINT TRIGGER limit_contacts_deleted AFTER DELETE ON crm.contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.status OPERATOR(pg_catalog.<) 'merged'
					   AND crm_internal.limited(OLD.workspace_id, 'max_contacts', -1))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_contacts');
CREATE TRIGGER limit_contacts_truncated AFTER TRUNCATE ON crm.contacts
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.limit_counts_truncated('max_contacts');
CREATE CONSTRAINT TRIGGER limit_pipelines AFTER INSERT ON crm.pipelines DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (crm_internal.limited(NEW.workspace_id, 'max_pipelines'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_pipelines');
CREATE CONSTRAINT TRIGGER limit_stages AFTER INSERT ON crm.stages DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (crm_internal.limited(NEW.workspace_id, 'max_stages_per_pipeline'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_stages_per_pipeline');
CREATE CONSTRAINT TRIGGER limit_stages_moved AFTER UPDATE OF pipeline_id ON crm.stages DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.pipeline_id OPERATOR(pg_catalog.<>) NEW.pipeline_id
					   AND crm_internal.limited(NEW.workspace_id, 'max_stages_per_pipeline'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_stages_per_pipeline');
CREATE CONSTRAINT TRIGGER limit_custom_properties AFTER INSERT ON crm.property_definitions DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (crm_internal.limited(NEW.workspace_id, 'max_custom_properties'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_custom_properties');
CREATE CONSTRAINT TRIGGER limit_object_types AFTER INSERT ON crm.object_types DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (crm_internal.limited(NEW.workspace_id, 'max_object_types'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_object_types');
CREATE CONSTRAINT TRIGGER limit_segments AFTER INSERT ON crm.lists DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.kind OPERATOR(pg_catalog.=) 'dynamic' AND NEW.owner IS NOT NULL
					   AND crm_internal.limited(NEW.workspace_id, 'max_segments_per_user'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_segments_per_user');
CREATE CONSTRAINT TRIGGER limit_segments_changed AFTER UPDATE OF kind, owner ON crm.lists DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.kind OPERATOR(pg_catalog.=) 'dynamic' AND NEW.owner IS NOT NULL
					   AND (OLD.kind OPERATOR(pg_catalog.<>) 'dynamic' OR OLD.owner IS DISTINCT FROM NEW.owner)
					   AND crm_internal.limited(NEW.workspace_id, 'max_segments_per_user'))
	EXECUTE FUNCTION crm_internal.enforce_limit('max_segments_per_user');

--
-- Access for application roles.  The extension grants nothing to PUBLIC: a
-- DBA grants a role the CRM with one call, at one of three levels, and RLS
-- keeps it to its workspace (docs/api.md):
--   frontend   a JWT role of PostgREST or PostGraphile: reads, writes rows
--   service    a trusted backend: also verifies identities, emits its own events
--   read_only  reads
--   reporting  a BI tool's login: reads crm and the crm_report views of the
--              workspace the granting session is in, pinned to it
--              (src/reporting.c); reporting_all reads every workspace
-- Whatever the level, the outbox, stage and value history and search dictionary are
-- the extension's to write, and so are workspaces and contact_references.
--

-- An empty table whose SELECT grant marks a service role (src/access.c):
-- the record of the level is the catalog's, dumped with the grants.
CREATE TABLE crm_internal.service_access ();
COMMENT ON TABLE crm_internal.service_access IS
	'holds no rows: a role granted SELECT on it has service access (crm.grant_access(role, access => ''service''))';

CREATE FUNCTION crm.grant_access(role_name name, read_only boolean DEFAULT false, access text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	level text := coalesce(lower(btrim(access)), CASE WHEN read_only THEN 'read_only' ELSE 'frontend' END);
	superuser boolean := (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user);
	pinned_to text;
	gone name[];
	citus_mode text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name) THEN
		RAISE EXCEPTION 'role "%" does not exist', role_name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with CREATE ROLE.';
	END IF;
	IF level NOT IN ('frontend', 'service', 'read_only', 'reporting', 'reporting_all') THEN
		RAISE EXCEPTION 'invalid access level: "%"', access
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass access => ''frontend'' (a JWT role of PostgREST or PostGraphile), ''service'' (a trusted backend), ''read_only'', ''reporting'' (a BI tool in this workspace) or ''reporting_all'' (every workspace).';
	END IF;
	-- reading every workspace is bypassing row-level security (or ending it)
	IF level = 'reporting_all' AND NOT superuser THEN
		RAISE EXCEPTION 'only a superuser may grant reporting on every workspace'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Run crm.grant_access as a superuser, or grant access => ''reporting'' for one workspace.';
	END IF;
	-- 'all' when the role is an operator now: it holds BYPASSRLS from us
	pinned_to := (SELECT coalesce(a.workspace_id::text, 'all') FROM crm_internal.reporting_access a
				   WHERE a.role_name = grant_access.role_name);
	IF pinned_to = 'all' AND NOT superuser THEN
		RAISE EXCEPTION 'only a superuser may take back reporting on every workspace from role "%"', role_name
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Run crm.grant_access as a superuser.';
	END IF;
	IF read_only AND level <> 'read_only' THEN
		RAISE EXCEPTION 'read_only => true contradicts access => ''%''', level
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass one of them: access => ''read_only'' is the same as read_only => true.';
	END IF;

	-- On Citus the coordinator grants: Citus creates the role on the workers
	-- and sends the grants to every shard, one connection per node (the
	-- reference tables among them take no parallel grant after another's).
	IF EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
		IF EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = 'crm.contacts'::regclass)
		   AND (SELECT l.groupid FROM pg_dist_local_group l) <> 0 THEN
			RAISE EXCEPTION 'crm.grant_access runs on the Citus coordinator, not on a worker'
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Run it on the coordinator: Citus creates the role there on every worker and sends the grants to the shards.';
		END IF;
		-- The workers' grants below go through connections of their own;
		-- a role this transaction created or changed reaches the workers
		-- at its commit, which undoes them there (the role's first write
		-- on a shard then lacks crm_hidden): refused, not half granted.
		-- (pg_authid is the superuser's, as Citus's administration is.)
		BEGIN
			IF EXISTS (SELECT FROM pg_catalog.pg_authid a
						WHERE a.rolname OPERATOR(pg_catalog.=) role_name
						  AND pg_catalog.age(a.xmin) OPERATOR(pg_catalog.=) 0) THEN
				RAISE EXCEPTION 'role "%" was created or changed in this transaction', role_name
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'On Citus, commit the CREATE ROLE (or ALTER ROLE) first, then call crm.grant_access in a transaction of its own.';
			END IF;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;
		END;
		citus_mode := current_setting('citus.multi_shard_modify_mode');
		PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
		-- Citus sends the grants on its tables and on schema crm; the other
		-- schemas, the functions (crm's triggers on a shard call crm_hidden
		-- as the writer), the sequences and the service mark are each
		-- node's own: the workers get the same first, each in a transaction
		-- of its own (Citus's connections of this one will hold their locks)
		PERFORM FROM run_command_on_workers(
			'SET citus.enable_ddl_propagation = off;'
			|| format(' GRANT USAGE ON SCHEMA crm_hidden TO %1$I;'
					  ' GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA crm, crm_hidden TO %1$I;'
					  ' REVOKE EXECUTE ON FUNCTION crm.grant_access(name, boolean, text), crm.prune_history(),'
					  ' crm.purge_merge_records() FROM %1$I;', role_name)
			-- the views, which Citus does not distribute (a merge run on the
			-- worker reads crm.contact_reference_map); not the tables, whose
			-- grants an earlier call in this transaction may hold
			|| (SELECT format(' GRANT SELECT ON %s TO %I;', string_agg(format('%I.%I', v.schemaname, v.viewname), ', '), role_name)
				  FROM pg_views v WHERE v.schemaname = 'crm')
			|| CASE WHEN level IN ('frontend', 'service')
					THEN format(' GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO %I;', role_name) ELSE '' END
			|| format(CASE WHEN level = 'service' THEN ' GRANT SELECT ON crm_internal.service_access TO %I;'
						   ELSE ' REVOKE SELECT ON crm_internal.service_access FROM %I;' END, role_name)
			|| format(CASE WHEN level IN ('reporting', 'reporting_all')
						   THEN ' GRANT USAGE ON SCHEMA crm_report TO %1$I; GRANT SELECT ON ALL TABLES IN SCHEMA crm_report TO %1$I;'
						   ELSE ' REVOKE SELECT ON ALL TABLES IN SCHEMA crm_report FROM %1$I; REVOKE USAGE ON SCHEMA crm_report FROM %1$I;'
					  END, role_name)) r
		 WHERE NOT r.success;
		IF FOUND THEN
			RAISE EXCEPTION 'a worker refused the grants to role "%"', role_name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Check that every worker is up and has crm installed, then call crm.grant_access again.';
		END IF;
	END IF;

	EXECUTE format('GRANT USAGE ON SCHEMA crm TO %I', role_name);
	EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA crm TO %I', role_name);
	EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA crm TO %I', role_name);
	-- the helpers the API's functions call as the caller (every level: a
	-- read_only role's writes through them are refused by the tables)
	EXECUTE format('GRANT USAGE ON SCHEMA crm_hidden TO %I', role_name);
	EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA crm_hidden TO %I', role_name);
	IF level IN ('read_only', 'reporting', 'reporting_all') THEN
		EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA crm FROM %I', role_name);
	ELSE
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA crm TO %I', role_name);
		EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO %I', role_name);
	END IF;
	IF level = 'service' THEN
		EXECUTE format('GRANT SELECT ON crm_internal.service_access TO %I', role_name);
	ELSE
		EXECUTE format('REVOKE SELECT ON crm_internal.service_access FROM %I', role_name);
	END IF;
	-- A reporting role: the crm_report views, the mark, and its workspace
	-- (src/reporting.c); any other level takes all three back.
	-- (rows of roles renamed or dropped since go too, named first: on Citus
	-- the table is a reference table, which a DELETE joins with no catalog)
	gone := ARRAY(SELECT a.role_name FROM crm_internal.reporting_access a);
	gone := ARRAY(SELECT g.n FROM unnest(gone) g (n) WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = g.n));
	DELETE FROM crm_internal.reporting_access a
	 WHERE a.role_name = grant_access.role_name OR a.role_name = ANY (gone);
	IF level IN ('reporting', 'reporting_all') THEN
		EXECUTE format('GRANT USAGE ON SCHEMA crm_report TO %I', role_name);
		EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA crm_report TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.reporting_access TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.report_deal_days TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.report_contact_days TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.report_order_days TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.report_conversation_days TO %I', role_name);
		EXECUTE format('GRANT SELECT ON crm_internal.report_message_days TO %I', role_name);
		INSERT INTO crm_internal.reporting_access (role_name, workspace_id)
		VALUES (role_name, CASE WHEN level = 'reporting' THEN crm.current_workspace() END);
	ELSIF pinned_to IS NOT NULL OR has_table_privilege(role_name, 'crm_internal.reporting_access', 'SELECT') THEN
		-- only from a reporting role: a revoke leaves an explicit ACL behind
		EXECUTE format('REVOKE SELECT ON ALL TABLES IN SCHEMA crm_report FROM %I', role_name);
		EXECUTE format('REVOKE USAGE ON SCHEMA crm_report FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.reporting_access FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.report_deal_days FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.report_contact_days FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.report_order_days FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.report_conversation_days FROM %I', role_name);
		EXECUTE format('REVOKE SELECT ON crm_internal.report_message_days FROM %I', role_name);
	END IF;
	IF level = 'reporting_all' THEN
		EXECUTE format('ALTER ROLE %I BYPASSRLS', role_name);
	ELSIF pinned_to = 'all' THEN
		EXECUTE format('ALTER ROLE %I NOBYPASSRLS', role_name);
	END IF;
	-- Creating, renaming or deleting (with everything in it) a workspace stays
	-- with the DBA, and so does granting access.  contact_references is
	-- metadata shared by all workspaces.  The outbox, stage and value history
	-- and the search dictionary are audit and derived data: the extension
	-- writes them as their owner.  Pruning history is the DBA's scheduler's.
	EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON crm.workspaces, crm.contact_references, crm.events,'
				   ' crm.deal_stage_history, crm.search_words, crm.value_history FROM %I', role_name);
	EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.grant_access(name, boolean, text), crm.prune_history() FROM %I', role_name);
	-- merge records are the merges' own, purged by the DBA's scheduler
	EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON crm.merges FROM %I', role_name);
	EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.purge_merge_records() FROM %I', role_name);
	-- a contact's stays in pipeline stages are its moves' record; a merge
	-- (as the caller) re-parents them (crm_internal.contact_stage_history_follow)
	EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON crm.contact_stage_history FROM %I', role_name);
	IF level IN ('frontend', 'service') THEN
		IF citus_mode IS NOT NULL THEN
			-- Citus sends no column grant to the shards (a granted role's
			-- merge, on the worker, moves the column as the table's owner)
			PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
			EXECUTE format('GRANT UPDATE (contact_id) ON crm.contact_stage_history TO %I', role_name);
			PERFORM set_config('citus.enable_ddl_propagation', 'on', true);
		ELSE
			EXECUTE format('GRANT UPDATE (contact_id) ON crm.contact_stage_history TO %I', role_name);
		END IF;
	END IF;
	IF citus_mode IS NOT NULL THEN
		PERFORM set_config('citus.multi_shard_modify_mode', citus_mode, true);
	END IF;
END;
$$;
COMMENT ON FUNCTION crm.grant_access(name, boolean, text) IS
	'grants a role the CRM at an access level: frontend (the default), service, read_only, reporting (pinned to the current workspace, with crm_report) or reporting_all (every workspace); RLS still confines the others to their workspace';
REVOKE EXECUTE ON FUNCTION crm.grant_access(name, boolean, text) FROM PUBLIC;
