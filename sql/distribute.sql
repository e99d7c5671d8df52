--
-- Scaling out on Citus (docs/scaling.md): crm.distribute() makes the tables
-- not keyed by workspace (crm.workspaces, crm.contact_references, the
-- reporting roles' crm_internal.reporting_access) reference tables,
-- copied to every node, and distributes every other table of the extension
-- by workspace_id, all
-- co-located with crm.contacts: a workspace's rows live in one shard group,
-- so a call for one workspace is routed to one node.
--

CREATE FUNCTION crm.distribute() RETURNS TABLE (rel regclass, placement text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
#variable_conflict use_column
DECLARE
	t regclass;
	k record;
	pending regclass[];
	keys text[] := '{}';
	cols text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = current_user AND r.rolsuper) THEN
		RAISE EXCEPTION 'permission denied for function distribute'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A superuser runs crm.distribute() on the Citus coordinator.';
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
		RAISE EXCEPTION 'extension "citus" is not installed in database "%"', pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add citus to shared_preload_libraries, run CREATE EXTENSION citus and CREATE EXTENSION crm CASCADE on the coordinator and every worker, add the workers with citus_add_node(), then call crm.distribute() on the coordinator.';
	END IF;

	-- the extension's tables Citus does not know yet, crm.contacts first:
	-- the others are co-located with it
	SELECT pg_catalog.array_agg(c.oid::regclass ORDER BY c.oid OPERATOR(pg_catalog.<>) 'crm.contacts'::regclass, c.oid)
	  INTO pending
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::regclass
	   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'crm')
	   AND d.deptype OPERATOR(pg_catalog.=) 'e'
	   AND c.relkind OPERATOR(pg_catalog.=) 'r'
	   -- crm_internal.service_access holds no rows: its grants are the point
	   AND c.relnatts OPERATOR(pg_catalog.>) 0
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) c.oid);

	-- The extension's triggers fire on the shards and query its tables there
	-- (the events outbox, search words, lists): Citus routes those queries to
	-- the workspace's co-located shard on the same node once nested
	-- execution is allowed on the workers.
	FOR k IN
		SELECT w.nodename, w.nodeport, w.result
		  FROM pg_catalog.run_command_on_workers(pg_catalog.format(
				'ALTER DATABASE %I SET citus.allow_nested_distributed_execution = on', pg_catalog.current_database())) w
		 WHERE NOT w.success
	LOOP
		RAISE EXCEPTION 'worker %:% refused a setting: %', k.nodename, k.nodeport, k.result
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Install crm and citus on every worker (CREATE EXTENSION crm CASCADE), then call crm.distribute() again.';
	END LOOP;

	-- A worker's triggers take ids from its own copy of the extension's
	-- sequences (events, history): each worker draws from a range of its
	-- own, above every id the coordinator has given, as Citus does for the
	-- sequences of the tables it creates.
	FOR k IN
		SELECT w.nodename, w.nodeport, w.result
		  FROM pg_catalog.run_command_on_workers($w$
				DO $do$
				DECLARE
					s regclass;
					g bigint := (SELECT l.groupid FROM pg_catalog.pg_dist_local_group l);
				BEGIN
					FOR s IN SELECT c.oid FROM pg_catalog.pg_class c
							  WHERE c.relkind = 'S' AND c.relnamespace IN ('crm'::regnamespace, 'crm_internal'::regnamespace)
					LOOP
						PERFORM pg_catalog.setval(s, greatest(coalesce(pg_catalog.pg_sequence_last_value(s), 1), g << 48));
					END LOOP;
				END
				$do$
				$w$) w
		 WHERE NOT w.success
	LOOP
		RAISE EXCEPTION 'worker %:% refused to move its sequences: %', k.nodename, k.nodeport, k.result
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Install crm and citus on every worker (CREATE EXTENSION crm CASCADE), then call crm.distribute() again.';
	END LOOP;

	-- Citus applies no policy of the coordinator's table to the queries it
	-- sends to the shards (neither USING nor WITH CHECK): the shards hold row
	-- level security themselves, enabled with no policy, so that a granted
	-- role reads and writes nothing there (docs/scaling.md).  The policies
	-- would be copied onto a shard Citus creates later (a shard move), made
	-- permissive and evaluated on a worker, which knows no request: they go
	-- from every table of the extension Citus holds or is about to.
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
	FOR k IN
		SELECT p.polrelid::regclass AS tbl, p.polname
		  FROM pg_catalog.pg_policy p
		 WHERE p.polrelid OPERATOR(pg_catalog.=) ANY (pending)
			OR p.polrelid IN (SELECT d.logicalrelid FROM pg_catalog.pg_dist_partition d
							   JOIN pg_catalog.pg_depend x ON x.objid OPERATOR(pg_catalog.=) d.logicalrelid
							  WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
								AND x.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::regclass
								AND x.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'crm')
								AND x.deptype OPERATOR(pg_catalog.=) 'e')
		 ORDER BY p.polrelid, p.polname
	LOOP
		EXECUTE pg_catalog.format('DROP POLICY %I ON %s', k.polname, k.tbl);
	END LOOP;
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);

	IF pending IS NOT NULL THEN
		-- The extension's triggers are written to run on the shards.
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
		-- keys to reference tables need one connection per node
		PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
		-- Citus would turn a local table that references a new reference
		-- table into a Citus local table, recreating it and dropping the
		-- identity sequences the extension owns: the keys touching a
		-- pending table go first and come back once every table is in place.
		FOR k IN
			SELECT c.conrelid::regclass AS tbl, c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS def
			  FROM pg_catalog.pg_constraint c
			 WHERE c.contype OPERATOR(pg_catalog.=) 'f'
			   AND (c.conrelid OPERATOR(pg_catalog.=) ANY (pending) OR c.confrelid OPERATOR(pg_catalog.=) ANY (pending))
			 ORDER BY c.conrelid, c.conname
		LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', k.tbl, k.conname);
			-- a worker where crm is installed holds the key on its own copy of the
			-- table (Citus's shell there): it goes there too, once distributed
			keys := keys OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', k.tbl, k.conname)
						 OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.tbl, k.conname, k.def);
		END LOOP;
		-- The rows a database already holds go into the shards as they are,
		-- with no trigger firing on them (the events guard would refuse their
		-- ids, the event triggers write them again).  Citus would copy them
		-- into shards whose triggers are on: they wait in temporary tables.
		FOR i IN 1 .. pg_catalog.cardinality(pending) LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER USER', pending[i]);
			EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE crm_distribute_%s ON COMMIT DROP AS TABLE %s', i, pending[i]);
			EXECUTE pg_catalog.format('TRUNCATE %s', pending[i]);
		END LOOP;
		FOREACH t IN ARRAY pending LOOP
			-- keyed by workspace: distributed; otherwise (keyed by role) global
			IF EXISTS (SELECT FROM pg_catalog.pg_index x
						 JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) x.indrelid
						  AND a.attnum OPERATOR(pg_catalog.=) ANY (x.indkey)
						WHERE x.indrelid OPERATOR(pg_catalog.=) t AND x.indisprimary
						  AND a.attname OPERATOR(pg_catalog.=) 'workspace_id') THEN
				PERFORM pg_catalog.create_distributed_table(t, 'workspace_id',
					colocate_with => CASE WHEN t OPERATOR(pg_catalog.=) 'crm.contacts'::regclass THEN 'default' ELSE 'crm.contacts' END);
			ELSE
				PERFORM pg_catalog.create_reference_table(t);
			END IF;
		END LOOP;
		FOR i IN 1 .. pg_catalog.cardinality(pending) LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER USER', pending[i]);
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) pending[i] AND a.attnum OPERATOR(pg_catalog.>) 0
			   AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.<>) 's';
			EXECUTE pg_catalog.format('INSERT INTO %s (%s) SELECT %s FROM crm_distribute_%s', pending[i], cols, cols, i);
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER USER', pending[i]);
		END LOOP;
		FOR i IN 1 .. pg_catalog.cardinality(keys) LOOP
			EXECUTE keys[i];
		END LOOP;
	END IF;

	RETURN QUERY
		SELECT p.logicalrelid::regclass,
			   CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed by workspace_id' END
		  FROM pg_catalog.pg_dist_partition p
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) ANY (ARRAY['crm', 'crm_internal'])
		 ORDER BY p.partmethod OPERATOR(pg_catalog.<>) 'n', c.oid::regclass::text;
END;
$$;
COMMENT ON FUNCTION crm.distribute() IS
	'on a Citus coordinator: makes the global tables reference tables and distributes every other table by workspace_id, co-located; idempotent; a superuser runs it';
REVOKE EXECUTE ON FUNCTION crm.distribute() FROM PUBLIC;
