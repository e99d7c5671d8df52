--
-- Bulk actions (SPEC §8).  Each takes its target as a CQL query (text: the
-- same rows crm.find_* would return) or, under its name with _by_id, as an
-- id array (bigint[]): one name per function, for PostGraphile leaves
-- overloaded names out of its schema.  Each runs as one UPDATE (atomic, one
-- event batch through the statement triggers) and returns the number of
-- rows it changed; rows that already had the requested state are not
-- touched and not counted.
--

-- The WHERE of a bulk action: a CQL query's, or ids of the current
-- workspace (merged contacts are tombstones and never targets).  The ids
-- are passed to EXECUTE as $1.
CREATE FUNCTION crm_hidden.bulk_where(entity text, query text, ids bigint[]) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	tab text := crm_hidden.cql_table(bulk_where.entity);
	alias text := pg_catalog.split_part(tab, '.', 2);
	caller text;
BEGIN
	-- '{8,9}' would be a CQL syntax error; name the function that takes ids
	-- (the crm.bulk_* SQL function on the call stack)
	IF bulk_where.query ~ '^\s*\{\s*[0-9][0-9\s,]*\}\s*$' THEN
		GET DIAGNOSTICS caller = PG_CONTEXT;
		caller := coalesce(pg_catalog.substring(caller, 'SQL function "(bulk_[a-z_]+)"'), 'bulk_*');
		RAISE EXCEPTION 'bulk action target "%" is an id array, not a CQL query', bulk_where.query
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = pg_catalog.format('Pass ids to crm.%s_by_id(..., ids => %L, ...), or query %L.',
										   caller, pg_catalog.btrim(bulk_where.query),
										   'id IN (' || pg_catalog.btrim(bulk_where.query, ' {}') || ')');
	END IF;
	IF bulk_where.query IS NOT NULL THEN
		RETURN crm_hidden.cql_where(bulk_where.entity, bulk_where.query);
	END IF;
	-- an entity CQL queries can name (stages and pipelines are reached through deals)
	PERFORM crm_hidden.cql_where(bulk_where.entity, '');
	IF bulk_where.ids IS NULL THEN
		RAISE EXCEPTION 'bulk action target must not be NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass a CQL query (text; '''' means all) or an array of ids.';
	END IF;
	-- the workspace as a constant, as crm_hidden.cql_where writes it: Citus routes by constants
	RETURN alias || '.workspace_id = ' || crm.current_workspace() || '::bigint AND ' || alias || '.id = ANY ($1)'
		|| CASE WHEN alias = 'contacts' THEN ' AND contacts.status <> ''merged'''
				-- records of all custom types share a table: only this type's
				WHEN alias = 'object_records' THEN pg_catalog.format(' AND object_records.type_key = %L', bulk_where.entity)
				ELSE '' END;
END;
$$;
COMMENT ON FUNCTION crm_hidden.bulk_where(text, text, bigint[]) IS 'the WHERE clause of a bulk action on a CQL query or on ids ($1)';

-- Tags exist on contacts and companies only.
CREATE FUNCTION crm_hidden.bulk_require_tags(entity text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM crm_hidden.cql_table(bulk_require_tags.entity);
	IF NOT EXISTS (SELECT 1 FROM crm.cql_fields() f WHERE f.entity = bulk_require_tags.entity AND f.type = 'tags') THEN
		RAISE EXCEPTION '% records have no tags', bulk_require_tags.entity
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Tag contacts or companies; use bulk_update with properties for other records.';
	END IF;
END;
$$;

CREATE FUNCTION crm_hidden.bulk_tags_arg(tags text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	norm text[] := crm.normalize_tags(coalesce(bulk_tags_arg.tags, '{}'));
BEGIN
	IF pg_catalog.cardinality(norm) = 0 THEN
		RAISE EXCEPTION 'no tags given: %', coalesce(bulk_tags_arg.tags::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass at least one non-empty tag, e.g. ARRAY[''vip''].';
	END IF;
	RETURN norm;
END;
$$;

-- tag ---------------------------------------------------------------------

CREATE FUNCTION crm_hidden.bulk_tag_apply(entity text, query text, ids bigint[], tags text[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	tab text := crm_hidden.cql_table(bulk_tag_apply.entity);
	alias text := pg_catalog.split_part(tab, '.', 2);
	n integer;
BEGIN
	PERFORM crm_hidden.bulk_require_tags(bulk_tag_apply.entity);
	EXECUTE pg_catalog.format('UPDATE %s SET tags = %s.tags OPERATOR(pg_catalog.||) $2 WHERE %s AND NOT %s.tags OPERATOR(pg_catalog.@>) $2',
							  tab, alias, crm_hidden.bulk_where(bulk_tag_apply.entity, bulk_tag_apply.query, bulk_tag_apply.ids), alias)
		USING bulk_tag_apply.ids, crm_hidden.bulk_tags_arg(bulk_tag_apply.tags);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

CREATE FUNCTION crm.bulk_tag(entity text, query text, tags text[]) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_tag_apply(entity, query, NULL, tags);
END;
COMMENT ON FUNCTION crm.bulk_tag(text, text, text[]) IS 'adds tags to the records a CQL query matches; returns how many changed';

CREATE FUNCTION crm.bulk_tag_by_id(entity text, ids bigint[], tags text[]) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_tag_apply(entity, NULL, ids, tags);
END;
COMMENT ON FUNCTION crm.bulk_tag_by_id(text, bigint[], text[]) IS 'adds tags to the records with these ids; returns how many changed';

-- untag -------------------------------------------------------------------

CREATE FUNCTION crm_hidden.bulk_untag_apply(entity text, query text, ids bigint[], tags text[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	tab text := crm_hidden.cql_table(bulk_untag_apply.entity);
	alias text := pg_catalog.split_part(tab, '.', 2);
	n integer;
BEGIN
	PERFORM crm_hidden.bulk_require_tags(bulk_untag_apply.entity);
	EXECUTE pg_catalog.format(
		'UPDATE %s SET tags = ARRAY(SELECT t FROM pg_catalog.unnest(%s.tags) t WHERE t OPERATOR(pg_catalog.<>) ALL ($2)) '
		'WHERE %s AND %s.tags OPERATOR(pg_catalog.&&) $2', tab, alias, crm_hidden.bulk_where(bulk_untag_apply.entity, bulk_untag_apply.query, bulk_untag_apply.ids), alias)
		USING bulk_untag_apply.ids, crm_hidden.bulk_tags_arg(bulk_untag_apply.tags);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

CREATE FUNCTION crm.bulk_untag(entity text, query text, tags text[]) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_untag_apply(entity, query, NULL, tags);
END;
COMMENT ON FUNCTION crm.bulk_untag(text, text, text[]) IS 'removes tags from the records a CQL query matches; returns how many changed';

CREATE FUNCTION crm.bulk_untag_by_id(entity text, ids bigint[], tags text[]) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_untag_apply(entity, NULL, ids, tags);
END;
COMMENT ON FUNCTION crm.bulk_untag_by_id(text, bigint[], text[]) IS 'removes tags from the records with these ids; returns how many changed';

-- lifecycle ---------------------------------------------------------------

CREATE FUNCTION crm_hidden.bulk_set_lifecycle_apply(query text, ids bigint[], stage crm.lifecycle_stage) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	n integer;
BEGIN
	IF bulk_set_lifecycle_apply.stage IS NULL THEN
		RAISE EXCEPTION 'lifecycle stage must not be NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass a stage such as ''lead'' or ''customer''; use bulk_update to clear it.';
	END IF;
	EXECUTE 'UPDATE crm.contacts SET lifecycle_stage = $2 WHERE ' || crm_hidden.bulk_where('contact', bulk_set_lifecycle_apply.query, bulk_set_lifecycle_apply.ids)
		|| ' AND contacts.lifecycle_stage IS DISTINCT FROM $2'
		USING bulk_set_lifecycle_apply.ids, bulk_set_lifecycle_apply.stage;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

CREATE FUNCTION crm.bulk_set_lifecycle(query text, stage crm.lifecycle_stage) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_set_lifecycle_apply(query, NULL, stage);
END;
COMMENT ON FUNCTION crm.bulk_set_lifecycle(text, crm.lifecycle_stage) IS
	'sets the lifecycle stage of the contacts a CQL query matches; returns how many changed';

CREATE FUNCTION crm.bulk_set_lifecycle_by_id(ids bigint[], stage crm.lifecycle_stage) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_set_lifecycle_apply(NULL, ids, stage);
END;
COMMENT ON FUNCTION crm.bulk_set_lifecycle_by_id(bigint[], crm.lifecycle_stage) IS
	'sets the lifecycle stage of the contacts with these ids; returns how many changed';

-- update ------------------------------------------------------------------

-- patch: {"field": value, ...} with CQL field names (camelCase or
-- snake_case); "properties" is merged into the existing properties (a null
-- removes a key), every other field is replaced.  Values are converted as
-- jsonb_populate_record does.
CREATE FUNCTION crm_hidden.bulk_update_apply(entity text, query text, ids bigint[], patch jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	tab text := crm_hidden.cql_table(bulk_update_apply.entity);
	alias text := pg_catalog.split_part(tab, '.', 2);
	-- written by crm itself, or by the functions that keep their invariants
	-- (a deal's status, close date and board position follow its stage:
	-- moving deals in bulk is {"stageId": n}, which the deal triggers record)
	readonly text[] := ARRAY['id', 'created_at', 'updated_at', 'status', 'merged_into', 'deleted_at', 'conversation_count',
							 'closed_at', 'position', 'stage_entered_at', 'value_mode', 'pipeline_id'];
	kv record;
	col text;
	rec jsonb := '{}';
	props jsonb;
	sets text[] := '{}';
	olds text[] := '{}';
	news text[] := '{}';
	n integer;
BEGIN
	IF bulk_update_apply.patch IS NULL OR pg_catalog.jsonb_typeof(bulk_update_apply.patch) <> 'object'
	   OR bulk_update_apply.patch = '{}' THEN
		RAISE EXCEPTION 'invalid patch: %', coalesce(bulk_update_apply.patch::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass a JSON object of fields and values, e.g. {"city": "Paris", "properties": {"plan": "pro"}}.';
	END IF;
	IF tab = 'crm.object_records' THEN
		RAISE EXCEPTION 'bulk_update does not apply to custom object records (type "%")', bulk_update_apply.entity
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Update records with crm.upsert_record() or an UPDATE of crm.object_records.';
	END IF;
	FOR kv IN SELECT * FROM pg_catalog.jsonb_each(bulk_update_apply.patch) ORDER BY 1 LOOP
		SELECT f.column_name INTO col FROM crm.cql_fields() f
		 WHERE f.entity = bulk_update_apply.entity AND (f.field = kv.key OR f.column_name = kv.key);
		IF col IS NULL THEN
			RAISE EXCEPTION 'unknown % field "%" in patch', bulk_update_apply.entity, kv.key
				USING ERRCODE = 'undefined_column',
					  HINT = 'Fields are: ' || (SELECT pg_catalog.string_agg(f.field, ', ') FROM crm.cql_fields() f
												  WHERE f.entity = bulk_update_apply.entity
												    AND f.column_name <> ALL (readonly)) || '.';
		END IF;
		IF col = ANY (readonly) AND NOT (col = 'status' AND bulk_update_apply.entity = 'order') THEN
			RAISE EXCEPTION 'field "%" cannot be changed by bulk_update', kv.key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = CASE WHEN col = 'status' AND bulk_update_apply.entity = 'deal' THEN 'Move deals to a won or lost stage with {"stageId": n}, or use crm.win_deal / crm.lose_deal.'
								  WHEN col = 'status' THEN 'Delete with crm.bulk_delete; merge with the merge functions.'
								  WHEN col IN ('closed_at', 'position', 'stage_entered_at', 'pipeline_id') THEN 'It follows the deal''s stage: move deals with {"stageId": n} or crm.move_deal.'
								  ELSE 'It is maintained by crm itself.' END;
		END IF;
		IF col = 'properties' THEN
			IF pg_catalog.jsonb_typeof(kv.value) <> 'object' THEN
				RAISE EXCEPTION 'invalid properties patch: %', kv.value
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Pass properties as an object, e.g. {"plan": "pro"}; a null value removes a property.';
			END IF;
			props := kv.value;
			sets := sets || pg_catalog.format('properties = (%1$s.properties OPERATOR(pg_catalog.||) $3) OPERATOR(pg_catalog.-) '
											  'ARRAY(SELECT e.key FROM pg_catalog.jsonb_each($3) e WHERE e.value OPERATOR(pg_catalog.=) ''null''::jsonb)', alias);
			olds := olds || pg_catalog.format('%s.properties', alias);
			news := news || pg_catalog.format('(%1$s.properties OPERATOR(pg_catalog.||) $3) OPERATOR(pg_catalog.-) '
											  'ARRAY(SELECT e.key FROM pg_catalog.jsonb_each($3) e WHERE e.value OPERATOR(pg_catalog.=) ''null''::jsonb)', alias);
		ELSE
			rec := rec || pg_catalog.jsonb_build_object(col, kv.value);
			sets := sets || pg_catalog.format('%1$I = (SELECT r.%1$I FROM pg_catalog.jsonb_populate_record(NULL::%2$s, $2) r)', col, tab);
			olds := olds || pg_catalog.format('%s.%I', alias, col);
			news := news || pg_catalog.format('(SELECT r.%1$I FROM pg_catalog.jsonb_populate_record(NULL::%2$s, $2) r)', col, tab);
		END IF;
	END LOOP;
	EXECUTE pg_catalog.format('UPDATE %s SET %s WHERE %s AND ROW(%s, NULL) IS DISTINCT FROM ROW(%s, NULL)',
							  tab, pg_catalog.array_to_string(sets, ', '), crm_hidden.bulk_where(bulk_update_apply.entity, bulk_update_apply.query, bulk_update_apply.ids),
							  pg_catalog.array_to_string(olds, ', '), pg_catalog.array_to_string(news, ', '))
		USING bulk_update_apply.ids, rec, props;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

CREATE FUNCTION crm.bulk_update(entity text, query text, patch jsonb) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_update_apply(entity, query, NULL, patch);
END;
COMMENT ON FUNCTION crm.bulk_update(text, text, jsonb) IS
	'sets fields (CQL names) of the records a CQL query matches; properties are merged; returns how many changed';

CREATE FUNCTION crm.bulk_update_by_id(entity text, ids bigint[], patch jsonb) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_update_apply(entity, NULL, ids, patch);
END;
COMMENT ON FUNCTION crm.bulk_update_by_id(text, bigint[], jsonb) IS
	'sets fields (CQL names) of the records with these ids; properties are merged; returns how many changed';

-- delete ------------------------------------------------------------------

-- Soft delete: status deleted and deleted_at now; the row, its history and
-- its ids stay, and it drops out of find_contacts and the unique keys.
CREATE FUNCTION crm_hidden.bulk_delete_apply(entity text, query text, ids bigint[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	n integer;
BEGIN
	IF bulk_delete_apply.entity IS DISTINCT FROM 'contact' THEN
		PERFORM crm_hidden.cql_table(bulk_delete_apply.entity);
		RAISE EXCEPTION '% records cannot be soft-deleted', bulk_delete_apply.entity
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'bulk_delete soft-deletes contacts; delete other records with DELETE.';
	END IF;
	EXECUTE 'UPDATE crm.contacts SET status = ''deleted'', deleted_at = pg_catalog.now() WHERE '
		|| crm_hidden.bulk_where('contact', bulk_delete_apply.query, bulk_delete_apply.ids)
		|| ' AND contacts.status OPERATOR(pg_catalog.<) ''merged''::crm.contact_status'
		USING bulk_delete_apply.ids;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

CREATE FUNCTION crm.bulk_delete(entity text, query text) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_delete_apply(entity, query, NULL);
END;
COMMENT ON FUNCTION crm.bulk_delete(text, text) IS 'soft-deletes the contacts a CQL query matches; returns how many changed';

CREATE FUNCTION crm.bulk_delete_by_id(entity text, ids bigint[]) RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_delete_apply(entity, NULL, ids);
END;
COMMENT ON FUNCTION crm.bulk_delete_by_id(text, bigint[]) IS 'soft-deletes the contacts with these ids; returns how many changed';

-- assign ------------------------------------------------------------------
-- "Assign to team member" (issue 22): owner set on the records of a CQL
-- query or of ids, to one member or round robin over several, in one
-- UPDATE: the row path's triggers (permissions, events, lists) see one
-- statement.  Round robin is by record id: the records in id order get the
-- members in the order given, starting again at the first, so the same call
-- on the same rows gives the same owners and shares differ by at most one.

CREATE FUNCTION crm_hidden.bulk_assign_apply(entity text, query text, ids bigint[], members text[], mode text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	tab text;
	unknown text;
	n integer;
BEGIN
	IF bulk_assign_apply.entity IS NULL OR bulk_assign_apply.entity NOT IN ('contact', 'company', 'deal') THEN
		RAISE EXCEPTION 'cannot assign records of "%": only contacts, companies and deals have an owner', coalesce(bulk_assign_apply.entity, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass entity ''contact'', ''company'' or ''deal''.';
	END IF;
	IF bulk_assign_apply.mode IS NULL OR bulk_assign_apply.mode NOT IN ('round_robin', 'one') THEN
		RAISE EXCEPTION 'invalid assignment mode: "%"', coalesce(bulk_assign_apply.mode, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass mode ''one'' (every record to one member) or ''round_robin'' (the records in id order dealt out to the members in turn).';
	END IF;
	IF pg_catalog.cardinality(bulk_assign_apply.members) IS NULL OR pg_catalog.cardinality(bulk_assign_apply.members) = 0
	   OR pg_catalog.array_position(bulk_assign_apply.members, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'members to assign to must be a non-empty array without NULLs'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the members'' user ids, e.g. ARRAY[''ann'', ''ben''].';
	END IF;
	IF bulk_assign_apply.mode = 'one' AND pg_catalog.cardinality(bulk_assign_apply.members) <> 1 THEN
		RAISE EXCEPTION 'mode one assigns to one member, not %', pg_catalog.cardinality(bulk_assign_apply.members)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass one member, or mode => ''round_robin''.';
	END IF;
	-- every member an active member of this workspace; the first that is not named
	SELECT m INTO unknown FROM pg_catalog.unnest(bulk_assign_apply.members) WITH ORDINALITY AS u(m, i)
	 WHERE NOT EXISTS (SELECT 1 FROM crm.members x
						WHERE x.workspace_id = ws AND x.user_id = u.m AND x.active)
	 ORDER BY u.i LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown member: "%"', unknown
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Assign to active members of the workspace (crm.members); add them with crm.add_member.';
	END IF;
	tab := crm_hidden.cql_table(bulk_assign_apply.entity);
	EXECUTE pg_catalog.format(
		'UPDATE %1$s t SET owner = a.member'
		'  FROM (SELECT %2$s.id, ($2::text[])[((pg_catalog.row_number() OVER (ORDER BY %2$s.id) OPERATOR(pg_catalog.-) 1::bigint)'
		'                                     OPERATOR(pg_catalog.%%) $3::bigint OPERATOR(pg_catalog.+) 1::bigint)::integer] AS member'
		'          FROM %1$s %2$s WHERE %3$s) a'
		' WHERE t.workspace_id OPERATOR(pg_catalog.=) $4 AND t.id OPERATOR(pg_catalog.=) a.id'
		'   AND t.owner IS DISTINCT FROM a.member',
		tab, pg_catalog.split_part(tab, '.', 2),
		crm_hidden.bulk_where(bulk_assign_apply.entity, bulk_assign_apply.query, bulk_assign_apply.ids))
		USING bulk_assign_apply.ids, bulk_assign_apply.members, pg_catalog.cardinality(bulk_assign_apply.members), ws;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm_hidden.bulk_assign_apply(text, text, bigint[], text[], text) IS
	'sets the owner of the records of a CQL query or of ids to members, one or round robin by id; returns how many changed';

CREATE FUNCTION crm.bulk_assign(entity text, query text, members text[], mode text DEFAULT 'round_robin') RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_assign_apply(entity, query, NULL, members, mode);
END;
COMMENT ON FUNCTION crm.bulk_assign(text, text, text[], text) IS
	'assigns the records a CQL query matches to team members: mode one (one member) or round_robin (in id order, each member in turn); returns how many changed';

CREATE FUNCTION crm.bulk_assign_by_id(entity text, ids bigint[], members text[], mode text DEFAULT 'round_robin') RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_hidden.require_switch('bulk');
	SELECT crm_hidden.bulk_assign_apply(entity, NULL, ids, members, mode);
END;
COMMENT ON FUNCTION crm.bulk_assign_by_id(text, bigint[], text[], text) IS
	'assigns the records with these ids to team members: mode one (one member) or round_robin (in id order, each member in turn); returns how many changed';
