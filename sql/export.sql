--
-- Contacts out as flat rows (SPEC §6): standard fields, tags, and one column
-- per declared contact property, for \copy ... TO 'file.csv' CSV HEADER.
--
-- The columns depend on the workspace's property definitions, and a set-
-- returning function's columns are fixed when the calling statement is
-- planned, so crm.export_contacts builds a temporary view whose columns are
-- the current ones and returns its name; \copy then reads the view with no
-- column list to write (docs/identity.md).  The view lives in the session's
-- pg_temp schema, is security_invoker (RLS applies to the reader), and reads
-- current data each time it is queried.
--

CREATE FUNCTION crm.export_contacts(cql text DEFAULT '') RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	where_sql text;
	props text;
BEGIN
	PERFORM crm_hidden.require_switch('export');
	where_sql := crm_hidden.cql_where('contact', coalesce(export_contacts.cql, ''));
	SELECT pg_catalog.string_agg(pg_catalog.format(', contacts.properties OPERATOR(pg_catalog.->>) %L AS %I', d.key, d.key),
								 '' ORDER BY d.key)
	  INTO props
	  FROM crm.property_definitions d
	 WHERE d.workspace_id = crm.current_workspace() AND d.object_type = 'contact';
	IF pg_catalog.to_regclass('pg_temp.contacts_export') IS NOT NULL THEN
		EXECUTE 'DROP VIEW pg_temp.contacts_export';
	END IF;
	EXECUTE 'CREATE VIEW pg_temp.contacts_export WITH (security_invoker = true) AS '
		|| 'SELECT contacts.id, contacts.name, contacts.email, contacts.phone, contacts.identifier, '
		|| 'contacts.verified_id, contacts.avatar_url, contacts.city, contacts.country, contacts.lifecycle_stage, '
		|| 'contacts.status, contacts.owner, pg_catalog.array_to_string(contacts.tags, '', '') AS tags, '
		|| 'contacts.first_seen_at, contacts.last_seen_at, contacts.created_at, contacts.updated_at'
		|| coalesce(props, '')
		|| ' FROM crm.contacts WHERE ' || where_sql || ' ORDER BY contacts.id';
	RETURN 'contacts_export';
END;
$$;
COMMENT ON FUNCTION crm.export_contacts(text) IS
	'creates the temporary view contacts_export (standard fields, tags, one column per declared property) of the contacts a CQL query matches, for \copy ... CSV HEADER; returns its name';
