--
-- CQL (SPEC §7): the crm.cql type, translation to SQL, and the finders,
-- counters and reports built on it.  The language is in src/cql/ (C);
-- docs/cql.md is the reference.
--

CREATE TYPE crm.cql;

-- Its I/O functions are reached by OID, like trigger functions: internals.
CREATE FUNCTION crm_internal.cql_in(cstring) RETURNS crm.cql
	AS 'MODULE_PATHNAME', 'crm_cql_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm_internal.cql_out(crm.cql) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crm_cql_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm_internal.cql_recv(internal) RETURNS crm.cql
	AS 'MODULE_PATHNAME', 'crm_cql_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm_internal.cql_send(crm.cql) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crm_cql_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.cql (
	INPUT = crm_internal.cql_in,
	OUTPUT = crm_internal.cql_out,
	RECEIVE = crm_internal.cql_recv,
	SEND = crm_internal.cql_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'S',
	-- text's operators apply to it (the cast below is binary), and they
	-- need a collation: ANALYZE of a cql column compares values with them
	COLLATABLE = true
);
COMMENT ON TYPE crm.cql IS 'a CQL query; its input function checks the syntax, so a stored filter always parses';

-- Same representation as text: cql is text that has been checked.
CREATE CAST (crm.cql AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (text AS crm.cql) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION crm.cql_to_sql(entity text, query text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_to_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_to_sql(text, text) IS
	'translates a CQL query over an entity (contact, company, deal, order, conversation or a custom object type key) to a SQL boolean expression over its table';

CREATE FUNCTION crm.cql_check(entity text, query text,
	OUT valid boolean, OUT sqlstate text, OUT message text, OUT hint text, OUT "position" integer)
	AS 'MODULE_PATHNAME', 'crm_cql_check' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_check(text, text) IS
	'whether a CQL query is valid for an entity and, if not, the error it would raise (for editors)';

CREATE FUNCTION crm_hidden.cql_where(entity text, query text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_where' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.cql_where(text, text) IS
	'the WHERE clause crm.find_* use: current workspace, live contacts unless the query names status, and the query';

CREATE FUNCTION crm_internal.cql_order_by(entity text, order_by text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_order_by' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_internal.cql_order_by(text, text) IS
	'validates "field [ASC|DESC], ..." (at most three keys) and returns the ORDER BY list, id last for stable paging';

CREATE FUNCTION crm_hidden.cql_group_key(entity text, field text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_group_key' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.cql_group_key(text, text) IS 'the SQL expression crm.count_by groups a field by';

CREATE FUNCTION crm_hidden.cql_table(entity text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_cql_table' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.cql_table(text) IS 'the table an entity''s CQL queries run over (crm.object_records for a custom object type)';

CREATE FUNCTION crm_hidden.cql_timestamptz(value text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'crm_cql_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.cql_timestamptz(text) IS
	'a declared datetime property''s text as timestamptz, NULL when it is not a date-time (never an error)';

CREATE FUNCTION crm_hidden.cql_number(properties jsonb, key text) RETURNS numeric
	AS 'MODULE_PATHNAME', 'crm_cql_number' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.cql_number(jsonb, text) IS
	'(properties ->> key)::numeric without printing and parsing a JSON number: a range over a declared number where no index has the cast';

-- Translations depend on custom object types (find_records, associated());
-- a change to them invalidates every backend's cached translations and
-- finder plans, as a change to property definitions does.
CREATE TRIGGER object_types_invalidate_cql AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.object_types
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.invalidate_caches();

CREATE FUNCTION crm.cql_fields(OUT entity text, OUT field text, OUT column_name text, OUT type text,
	OUT enum_values text[], OUT sortable boolean) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'crm_cql_fields' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cql_fields() IS 'the CQL field catalogue: every field of every entity with its type';

-- The finders are C (src/cql_sql.c): each call's statement is translated,
-- prepared and kept per (query, order_by, limit, offset, workspace), so a
-- repeated call costs what running the hand-written statement costs.
CREATE FUNCTION crm.find_contacts(query text DEFAULT '', order_by text DEFAULT 'id',
								  lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.contacts
AS 'MODULE_PATHNAME', 'crm_find_contacts' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_contacts(text, text, integer, integer) IS
	'contacts of the current workspace matching a CQL query; merged and deleted ones only when the query names status';

CREATE FUNCTION crm.find_companies(query text DEFAULT '', order_by text DEFAULT 'id',
								   lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.companies
AS 'MODULE_PATHNAME', 'crm_find_companies' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_companies(text, text, integer, integer) IS
	'companies of the current workspace matching a CQL query';

CREATE FUNCTION crm.find_deals(query text DEFAULT '', order_by text DEFAULT 'id',
							   lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.deals
AS 'MODULE_PATHNAME', 'crm_find_deals' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_deals(text, text, integer, integer) IS
	'deals of the current workspace matching a CQL query';

CREATE FUNCTION crm.find_orders(query text DEFAULT '', order_by text DEFAULT 'id',
								lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.orders
AS 'MODULE_PATHNAME', 'crm_find_orders' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_orders(text, text, integer, integer) IS
	'orders of the current workspace matching a CQL query';

CREATE FUNCTION crm.find_conversations(query text DEFAULT '', order_by text DEFAULT 'id',
									   lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.conversations
AS 'MODULE_PATHNAME', 'crm_find_conversations' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_conversations(text, text, integer, integer) IS
	'conversations of the current workspace matching a CQL query';

CREATE FUNCTION crm.find_records(type_key text, query text DEFAULT '', order_by text DEFAULT 'id',
								 lim integer DEFAULT 100, off integer DEFAULT 0)
RETURNS SETOF crm.object_records
AS 'MODULE_PATHNAME', 'crm_find_records' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.find_records(text, text, text, integer, integer) IS
	'records of one custom object type of the current workspace matching a CQL query over its properties';

CREATE FUNCTION crm.count(entity text, query text DEFAULT '') RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	n bigint;
BEGIN
	-- the C helpers are STRICT: a NULL would reach EXECUTE as a NULL string
	IF count.entity IS NULL THEN
		RAISE EXCEPTION 'cql entity must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Entities are: contact, company, deal, order, conversation, or a custom object type key of crm.object_types.';
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) FROM ' || crm_hidden.cql_table(count.entity)
		|| ' WHERE ' || crm_hidden.cql_where(count.entity, coalesce(count.query, ''))
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
	-- the C helpers are STRICT: a NULL would reach EXECUTE as a NULL string
	IF count_by.entity IS NULL THEN
		RAISE EXCEPTION 'cql entity must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Entities are: contact, company, deal, order, conversation, or a custom object type key of crm.object_types.';
	END IF;
	IF count_by.field IS NULL THEN
		RAISE EXCEPTION 'count_by field must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Name the field to group by, e.g. ''lifecycleStage'' or ''company.name''.';
	END IF;
	RETURN QUERY EXECUTE
		'SELECT k, pg_catalog.count(*) FROM (SELECT ' || crm_hidden.cql_group_key(count_by.entity, count_by.field)
		|| ' AS k FROM ' || crm_hidden.cql_table(count_by.entity)
		|| ' WHERE ' || crm_hidden.cql_where(count_by.entity, coalesce(count_by.query, ''))
		|| ') s GROUP BY k ORDER BY 2 DESC, 1 NULLS LAST';
END;
$$;
COMMENT ON FUNCTION crm.count_by(text, text, text) IS
	'records matching a CQL query counted by one field (tags count once per tag), largest group first';
