--
-- Tenancy and dumps for every table, applied last so no table is missed
-- (SPEC §0): each table holding workspace_id gets row-level security on
-- crm.current_workspace(), and each table and identity sequence holding
-- user data is registered with pg_extension_config_dump so pg_dump keeps it.
-- crm.workspaces registered itself (its default row is created by the script).
--

DO $$
DECLARE
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
							WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid)
		 ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
		EXECUTE pg_catalog.format(
			'CREATE POLICY workspace_isolation ON %s USING (workspace_id OPERATOR(pg_catalog.=) crm.current_workspace())',
			t.rel);
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
-- Access for application roles.  The extension grants nothing to PUBLIC:
-- a DBA grants a role the CRM with one call, and RLS keeps it to its
-- workspace.
--
CREATE FUNCTION crm.grant_access(role_name name, read_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name) THEN
		RAISE EXCEPTION 'role "%" does not exist', role_name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with CREATE ROLE.';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA crm TO %I', role_name);
	EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA crm TO %I', role_name);
	IF NOT read_only THEN
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA crm TO %I', role_name);
		EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO %I', role_name);
	END IF;
	EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA crm TO %I', role_name);
	-- Creating, renaming or deleting (with everything in it) a workspace stays
	-- with the DBA, and so does granting access.
	EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON crm.workspaces FROM %I', role_name);
	-- crm.contact_references is extension metadata shared by all workspaces.
	EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON crm.contact_references FROM %I', role_name);
	EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.grant_access(name, boolean) FROM %I', role_name);
END;
$$;
COMMENT ON FUNCTION crm.grant_access(name, boolean) IS
	'grants a role the use of the CRM (read-only or read-write); RLS still confines it to its workspace';
REVOKE EXECUTE ON FUNCTION crm.grant_access(name, boolean) FROM PUBLIC;
