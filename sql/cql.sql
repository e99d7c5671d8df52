--
-- CQL (SPEC §7): the crm.cql type, translation to SQL, and the finders,
-- counters and reports built on it.  The language is in src/cql/ (C);
-- docs/cql.md is the reference.
--

CREATE TYPE crm.cql;

CREATE FUNCTION crm.cql_in(cstring) RETURNS crm.cql
	AS 'MODULE_PATHNAME', 'crm_cql_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.cql_out(crm.cql) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crm_cql_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.cql_recv(internal) RETURNS crm.cql
	AS 'MODULE_PATHNAME', 'crm_cql_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.cql_send(crm.cql) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crm_cql_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.cql (
	INPUT = crm.cql_in,
	OUTPUT = crm.cql_out,
	RECEIVE = crm.cql_recv,
	SEND = crm.cql_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'S'
);
COMMENT ON TYPE crm.cql IS 'a CQL query; its input function checks the syntax, so a stored filter always parses';

-- Same representation as text: cql is text that has been checked.
CREATE CAST (crm.cql AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (text AS crm.cql) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION crm.cql_to_sql(entity text, query text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_to_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_to_sql(text, text) IS
	'translates a CQL query over an entity (contact, company) to a SQL boolean expression over its table';

CREATE FUNCTION crm.cql_check(entity text, query text,
	OUT valid boolean, OUT sqlstate text, OUT message text, OUT hint text, OUT "position" integer)
	AS 'MODULE_PATHNAME', 'crm_cql_check' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_check(text, text) IS
	'whether a CQL query is valid for an entity and, if not, the error it would raise (for editors)';

CREATE FUNCTION crm.cql_where(entity text, query text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_where' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_where(text, text) IS
	'the WHERE clause crm.find_* use: current workspace, live contacts unless the query names status, and the query';

CREATE FUNCTION crm.cql_order_by(entity text, order_by text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_order_by' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_order_by(text, text) IS
	'validates "field [ASC|DESC], ..." (at most three keys) and returns the ORDER BY list, id last for stable paging';

CREATE FUNCTION crm.cql_group_key(entity text, field text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_group_key' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_group_key(text, text) IS 'the SQL expression crm.count_by groups a field by';

CREATE FUNCTION crm.cql_table(entity text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_table' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_table(text) IS 'the table an entity''s CQL queries run over';

CREATE FUNCTION crm.cql_fields(OUT entity text, OUT field text, OUT column_name text, OUT type text,
	OUT enum_values text[], OUT sortable boolean) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'crm_cql_fields' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_fields() IS 'the CQL field catalogue: every field of every entity with its type';

-- Shared guard of the finders: paging arguments.
CREATE FUNCTION crm.cql_check_paging(lim integer, off integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	IF lim IS NULL OR lim < 0 THEN
		RAISE EXCEPTION 'invalid limit: %', coalesce(lim::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a limit of 0 or more.';
	END IF;
	IF off IS NULL OR off < 0 THEN
		RAISE EXCEPTION 'invalid offset: %', coalesce(off::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass an offset of 0 or more.';
	END IF;
END;
$$;

CREATE FUNCTION crm.find_contacts(query text DEFAULT '', order_by text DEFAULT 'id',
								  lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.contacts
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM crm.cql_check_paging(find_contacts.lim, find_contacts.off);
	RETURN QUERY EXECUTE
		'SELECT contacts.* FROM crm.contacts WHERE '
		|| crm.cql_where('contact', coalesce(find_contacts.query, ''))
		|| ' ORDER BY ' || crm.cql_order_by('contact', coalesce(find_contacts.order_by, 'id'))
		|| ' LIMIT $1 OFFSET $2'
		USING find_contacts.lim, find_contacts.off;
END;
$$;
COMMENT ON FUNCTION crm.find_contacts(text, text, integer, integer) IS
	'contacts of the current workspace matching a CQL query; merged and deleted ones only when the query names status';

CREATE FUNCTION crm.find_companies(query text DEFAULT '', order_by text DEFAULT 'id',
								   lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.companies
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM crm.cql_check_paging(find_companies.lim, find_companies.off);
	RETURN QUERY EXECUTE
		'SELECT companies.* FROM crm.companies WHERE '
		|| crm.cql_where('company', coalesce(find_companies.query, ''))
		|| ' ORDER BY ' || crm.cql_order_by('company', coalesce(find_companies.order_by, 'id'))
		|| ' LIMIT $1 OFFSET $2'
		USING find_companies.lim, find_companies.off;
END;
$$;
COMMENT ON FUNCTION crm.find_companies(text, text, integer, integer) IS
	'companies of the current workspace matching a CQL query';

CREATE FUNCTION crm.count(entity text, query text DEFAULT '') RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	n bigint;
BEGIN
	EXECUTE 'SELECT pg_catalog.count(*) FROM ' || crm.cql_table(count.entity)
		|| ' WHERE ' || crm.cql_where(count.entity, coalesce(count.query, ''))
		INTO n;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.count(text, text) IS 'the number of records of an entity matching a CQL query';

CREATE FUNCTION crm.count_by(entity text, query text, field text)
RETURNS TABLE (value text, count bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY EXECUTE
		'SELECT k, pg_catalog.count(*) FROM (SELECT ' || crm.cql_group_key(count_by.entity, count_by.field)
		|| ' AS k FROM ' || crm.cql_table(count_by.entity)
		|| ' WHERE ' || crm.cql_where(count_by.entity, coalesce(count_by.query, ''))
		|| ') s GROUP BY k ORDER BY 2 DESC, 1 NULLS LAST';
END;
$$;
COMMENT ON FUNCTION crm.count_by(text, text, text) IS
	'records matching a CQL query counted by one field (tags count once per tag), largest group first';
