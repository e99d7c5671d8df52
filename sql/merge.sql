--
-- Merging contacts (SPEC §6): src/merge.c.
--
-- Everything that points at a contact is found, not listed: every foreign key
-- that references crm.contacts (workspace_id, id), plus polymorphic references
-- (object_type/object_id style columns, which cannot carry a foreign key) that
-- a domain script registers with crm.register_contact_reference().  Merge moves
-- those rows to the survivor, GDPR hard delete unlinks or removes them, and the
-- GDPR export lists them, so a new table takes part just by declaring its key.
--

-- Metadata shared by every workspace, so without workspace_id.  The install
-- and upgrade scripts register the extension's own columns (builtin: CREATE
-- EXTENSION recreates them); a DBA registers the columns of their own tables,
-- and those rows are dumped.
CREATE TABLE crm.contact_references (
	rel regclass NOT NULL,
	workspace_column name NOT NULL,
	id_column name NOT NULL,
	type_column name NOT NULL,
	type_value text NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	PRIMARY KEY (rel, id_column, type_column, type_value)
);
COMMENT ON TABLE crm.contact_references IS
	'polymorphic columns that hold a contact id without a foreign key (rows where type_column = type_value); see crm.register_contact_reference()';

-- Keeps merge.c's per-backend cache of references in step with this table.
CREATE FUNCTION crm_internal.contact_references_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_contact_references_changed'
	LANGUAGE C;
CREATE TRIGGER contact_references_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.contact_references
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.contact_references_changed();

CREATE FUNCTION crm.register_contact_reference(rel regclass, id_column name, type_column name, type_value text,
											   workspace_column name DEFAULT 'workspace_id')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	col name;
BEGIN
	FOREACH col IN ARRAY ARRAY[id_column, type_column, workspace_column] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_attribute a
						WHERE a.attrelid = register_contact_reference.rel AND a.attname = col
						  AND a.attnum > 0 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of % does not exist', col, rel
				USING ERRCODE = 'undefined_column',
					  HINT = 'Name the id, type and workspace columns of the table that refers to contacts.';
		END IF;
	END LOOP;
	IF type_value IS NULL OR type_value = '' THEN
		RAISE EXCEPTION 'type value must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the value of the type column that marks a contact, e.g. ''contact''.';
	END IF;
	INSERT INTO crm.contact_references (rel, workspace_column, id_column, type_column, type_value)
		VALUES (rel, workspace_column, id_column, type_column, type_value);
END;
$$;
COMMENT ON FUNCTION crm.register_contact_reference(regclass, name, name, text, name) IS
	'declares a polymorphic column holding contact ids (where type_column = type_value), so merge, GDPR delete and export follow it';

-- One row per place a contact id is stored: foreign keys found in the
-- catalog, then the registered polymorphic columns.
CREATE VIEW crm.contact_reference_map WITH (security_invoker = true) AS
	SELECT c.conrelid::regclass AS rel,
		   w.attname AS workspace_column,
		   k.attname AS id_column,
		   NULL::name AS type_column,
		   NULL::text AS type_value,
		   CASE WHEN c.confdeltype OPERATOR(pg_catalog.=) 'n' OR EXISTS (
				SELECT FROM pg_catalog.pg_trigger t
				 WHERE t.tgrelid OPERATOR(pg_catalog.=) c.confrelid
				   AND t.tgname OPERATOR(pg_catalog.=) (c.conname::text OPERATOR(pg_catalog.||) '_set_null'))
				THEN 'set_null'
				WHEN c.confdeltype OPERATOR(pg_catalog.=) 'c' THEN 'cascade' ELSE 'restrict' END AS on_delete,
		   c.conname AS via
	  FROM pg_catalog.pg_constraint c
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.array_position(c.confkey, ca.attnum) AS pos
		  FROM pg_catalog.pg_attribute ca
		 WHERE ca.attrelid OPERATOR(pg_catalog.=) 'crm.contacts'::regclass
		   AND ca.attname OPERATOR(pg_catalog.=) 'id') ip
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.array_position(c.confkey, ca.attnum) AS pos
		  FROM pg_catalog.pg_attribute ca
		 WHERE ca.attrelid OPERATOR(pg_catalog.=) 'crm.contacts'::regclass
		   AND ca.attname OPERATOR(pg_catalog.=) 'workspace_id') wp
	  JOIN pg_catalog.pg_attribute k ON k.attrelid OPERATOR(pg_catalog.=) c.conrelid
		AND k.attnum OPERATOR(pg_catalog.=) c.conkey[ip.pos]
	  JOIN pg_catalog.pg_attribute w ON w.attrelid OPERATOR(pg_catalog.=) c.conrelid
		AND w.attnum OPERATOR(pg_catalog.=) c.conkey[wp.pos]
	 WHERE c.contype OPERATOR(pg_catalog.=) 'f'
	   AND c.confrelid OPERATOR(pg_catalog.=) 'crm.contacts'::regclass
	   AND pg_catalog.cardinality(c.confkey) OPERATOR(pg_catalog.=) 2
	UNION ALL
	SELECT r.rel, r.workspace_column, r.id_column, r.type_column, r.type_value, 'cascade', 'registered'
	  FROM crm.contact_references r;
COMMENT ON VIEW crm.contact_reference_map IS
	'every column that holds a contact id: foreign keys to crm.contacts (workspace_id, id) and registered polymorphic columns';

CREATE FUNCTION crm.merge_contacts(survivor bigint, duplicate bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_merge_contacts'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.merge_contacts(bigint, bigint) IS
	'merges the duplicate contact into the survivor (re-parenting every reference) and returns the survivor';

-- On a Citus coordinator a merge called by a role other than the owner
-- runs on the workspace's worker, in the backend of the caller's
-- connection (src/merge.c, CrmMergeOnWorker): crm.merge_contacts sends a
-- call of this, routed by the survivor's key.  Anyone may call it: it is
-- crm.merge_contacts in the workspace given, which must be the request's.
CREATE FUNCTION crm_hidden.merge_contacts_in(workspace_id bigint, survivor bigint, duplicate bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_merge_contacts_in'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm_hidden.merge_contacts_in(bigint, bigint, bigint) IS
	'crm.merge_contacts in workspace_id, the request''s workspace: what crm.merge_contacts runs on a Citus worker for a role other than the owner';

-- crm.identify's merge of two contacts it found, on the workspace's worker,
-- as crm_hidden.merge_contacts_in (its merge record says identify)
CREATE FUNCTION crm_hidden.identify_merge_in(workspace_id bigint, survivor bigint, duplicate bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_identify_merge_in'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm_hidden.identify_merge_in(bigint, bigint, bigint) IS
	'crm.identify''s merge of two contacts in workspace_id, the request''s workspace: what crm.identify runs on a Citus worker for a role other than the owner';

CREATE FUNCTION crm.merge_preview(survivor bigint, duplicate bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'crm_merge_preview'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.merge_preview(bigint, bigint) IS
	'what crm.merge_contacts would do: the merged record and the rows that would move or be dropped; changes nothing';

--
-- On Citus the triggers that let a merge's own writes through (the contact
-- rules, the follow triggers, the history) fire on a worker, in a backend
-- that is not the one running the merge.  The merge, on a Citus table only,
-- inserts a row here first, through the connection that then writes the
-- workspace's shard group, and deletes it at the end: the row's trigger, on
-- the worker's shard, marks the merge in progress in that backend until the
-- row is deleted or its (sub)transaction ends.  Only the extension's owner
-- writes this table, so no frontend can mark a merge of its own.  Its rows
-- never outlive their transaction: no foreign key, nothing to dump.
--
CREATE TABLE crm_internal.merge_moves (
	workspace_id bigint NOT NULL,
	moving_to bigint NOT NULL,
	unmerge boolean NOT NULL,
	PRIMARY KEY (workspace_id, moving_to)
);
REVOKE ALL ON crm_internal.merge_moves FROM PUBLIC;
COMMENT ON TABLE crm_internal.merge_moves IS
	'the merges in progress of this transaction on Citus: a row marks the backend that writes its shard group (src/merge.c)';

CREATE FUNCTION crm_internal.merge_moving() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_merge_moving'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.merge_moving() IS
	'AFTER INSERT OR DELETE row trigger on crm_internal.merge_moves: marks this backend as running the merge (on a Citus worker) until the row is deleted';
CREATE TRIGGER merge_moves_moving AFTER INSERT OR DELETE ON crm_internal.merge_moves
	FOR EACH ROW EXECUTE FUNCTION crm_internal.merge_moving();

CREATE FUNCTION crm.resolve_contact(contact_id bigint) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	cur bigint := resolve_contact.contact_id;
	nxt bigint;
	hops integer := 0;
BEGIN
	PERFORM crm_hidden.require_contact(resolve_contact.contact_id);
	LOOP
		SELECT c.merged_into INTO nxt FROM crm.contacts c
		 WHERE c.workspace_id = ws AND c.id = cur;
		EXIT WHEN nxt IS NULL;
		cur := nxt;
		hops := hops + 1;
		IF hops > 100 THEN
			RAISE EXCEPTION 'merge chain of contact % does not end', resolve_contact.contact_id
				USING ERRCODE = 'data_corrupted';
		END IF;
	END LOOP;
	RETURN cur;
END;
$$;
COMMENT ON FUNCTION crm.resolve_contact(bigint) IS 'the live contact an id stands for: itself, or the contact it was merged into';

-- Rows written for a contact while it is being merged must land on the
-- survivor: this BEFORE trigger locks the contact (FOR KEY SHARE, which waits
-- for a merge in progress) and follows merged_into.  A new table that
-- references contacts attaches it the same way.
CREATE FUNCTION crm_internal.follow_merged_contact() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_follow_merged_contact'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.follow_merged_contact() IS
	'BEFORE INSERT OR UPDATE row trigger; argument: the contact id column; replaces a merged contact by its survivor';

CREATE TRIGGER conversations_follow_merged BEFORE INSERT OR UPDATE OF contact_id ON crm.conversations
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_contact('contact_id');
CREATE TRIGGER activities_follow_merged BEFORE INSERT OR UPDATE OF contact_id ON crm.activities
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_contact('contact_id');
CREATE TRIGGER contact_consents_follow_merged BEFORE INSERT OR UPDATE OF contact_id ON crm.contact_consents
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_contact('contact_id');
CREATE TRIGGER contact_companies_follow_merged BEFORE INSERT OR UPDATE OF contact_id ON crm.contact_companies
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_contact('contact_id');

SELECT crm.register_contact_reference('crm.external_ids', 'object_id', 'object_type', 'contact');
UPDATE crm.contact_references SET builtin = true;
SELECT pg_catalog.pg_extension_config_dump('crm.contact_references', 'WHERE NOT builtin');
