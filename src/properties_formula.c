/*-------------------------------------------------------------------------
 *
 * properties_formula.c
 *	  Computed (formula) properties: a definition with a formula
 *	  (crm.property_definitions.formula, docs/properties.md) stores the
 *	  formula's value in the record's properties, recomputed by the record's
 *	  own write.
 *
 * The formulas of a (workspace, object type) are compiled by CQL
 * (src/cql/cql_formula.c) into one SQL expression of the row, the row's
 * properties with every computed key replaced:
 *
 *   (r.properties - '{k1,k2}') || jsonb_strip_nulls(jsonb_build_object('k1', <f1>, 'k2', <f2>))
 *
 * The validation trigger (properties_validate.c) runs it as one kept plan
 * per (workspace, object type) over the new row, so a client's value for a
 * computed key never survives the write.  The same expression backfills a
 * new or changed formula in one UPDATE (crm_internal.property_formulas, an
 * AFTER trigger on the definitions) and refreshes the formulas that read
 * the clock (crm.refresh_formulas()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "crm.h"
#include "cql_sql.h"
#include "cql/cql.h"
#include "properties.h"

PG_FUNCTION_INFO_V1(crm_property_formulas);
PG_FUNCTION_INFO_V1(crm_refresh_formulas);

/* jsonb_build_object takes at most 100 arguments: 50 keys and values */
#define KEYS_PER_OBJECT 50

/* A formula's value as the JSON the validation trigger would accept for its type */
static void
AppendJsonValue(StringInfo buf, const char *sql, const char *type)
{
	if (strcmp(type, "datetime") == 0)
		appendStringInfo(buf, "pg_catalog.to_char((%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", sql);
	else
		appendStringInfo(buf, "(%s)", sql);
}

/*
 * How many passes of the merge expression bring every formula to its value:
 * 1 when none reads another, else one more than the longest chain of
 * formulas reading formulas (definitions with a cycle are refused, see
 * CheckFormulas; the bound n guards against one all the same).
 */
static int
FormulaPasses(int n, char **keys, int *nreads, char ***reads)
{
	int		   *level = palloc0(sizeof(int) * Max(n, 1));
	int			passes = 1;
	bool		moved = true;

	for (int round = 0; moved && round < n; round++)
	{
		moved = false;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nreads[i]; j++)
				for (int k = 0; k < n; k++)
					if (k != i && strcmp(reads[i][j], keys[k]) == 0 && level[i] < level[k] + 1)
					{
						level[i] = level[k] + 1;
						moved = true;
					}
	}
	for (int i = 0; i < n; i++)
		passes = Max(passes, Min(level[i], n) + 1);
	return passes;
}

/*
 * The row's properties (alias.properties) with the values of the formulas
 * of (workspace, object type), or NULL when it has none.  *time_relative:
 * a formula reads the clock; *passes (when asked): how many runs of the
 * expression a chain of formulas reading formulas needs (FormulaPasses).
 */
char *
CrmFormulaMergeSql(int64 workspace_id, const char *object_type, const char *alias, bool *time_relative,
				   int *passes)
{
	ObjectProps *op = GetObjectProps(workspace_id, object_type);
	int			n = 0;
	char	  **keys;
	char	  **formulas;
	int		   *nreads;
	char	 ***reads;
	StringInfoData buf;
	StringInfoData drop;

	*time_relative = false;
	if (passes)
		*passes = 1;
	if (op->nformulas == 0)
		return NULL;
	/* copied: compiling reads definitions through the cache, which may be rebuilt */
	keys = palloc(sizeof(char *) * op->nformulas);
	formulas = palloc(sizeof(char *) * op->nformulas);
	nreads = palloc0(sizeof(int) * op->nformulas);
	reads = palloc0(sizeof(char **) * op->nformulas);
	for (int i = 0; i < op->ndefs; i++)
		if (op->defs[i].formula && !op->defs[i].rollup)
		{
			keys[n] = pstrdup(op->defs[i].key);
			formulas[n++] = pstrdup(op->defs[i].formula);
		}

	initStringInfo(&buf);
	initStringInfo(&drop);
	for (int i = 0; i < n; i++)
	{
		const char *type;
		bool		clock;
		char	   *sql = CrmCqlCompileFormula(object_type, formulas[i], workspace_id, alias, &type, &clock,
												&nreads[i], &reads[i]);

		*time_relative |= clock;
		appendStringInfo(&drop, "%s%s", i ? "," : "", keys[i]);
		if (i % KEYS_PER_OBJECT == 0)
			appendStringInfoString(&buf, i ? ") OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(" :
								   "pg_catalog.jsonb_build_object(");
		else
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "%s, ", quote_literal_cstr(keys[i]));
		AppendJsonValue(&buf, sql, type);
	}
	appendStringInfoChar(&buf, ')');
	if (passes)
		*passes = FormulaPasses(n, keys, nreads, reads);
	/* null means absent: a formula whose value is null leaves the key out */
	return psprintf("((%s.properties OPERATOR(pg_catalog.-) %s::pg_catalog.text[])"
					" OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(%s))",
					alias, quote_literal_cstr(psprintf("{%s}", drop.data)), buf.data);
}

static void
FreePlan(void *arg)
{
	SPI_freeplan((SPIPlanPtr) arg);
}

/* The kept plan computing a row's properties; freed with the cache */
static SPIPlanPtr
PrepareFormulaPlan(int64 workspace_id, const char *object_type, Oid rowtype, int *passes)
{
	bool		clock;
	char	   *merge = CrmFormulaMergeSql(workspace_id, object_type, "r", &clock, passes);
	SPIPlanPtr	plan;

	if (merge == NULL)
		return NULL;
	plan = SPI_prepare(psprintf("SELECT %s FROM (SELECT ($1).*) AS r", merge), 1, &rowtype);
	if (plan == NULL)
		elog(ERROR, "preparing the formulas of %s failed: %s", object_type, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * The row with its computed properties: called by the validation trigger
 * for an object type that has formulas.  Returns the tuple unchanged when
 * the values are already the stored ones.
 */
HeapTuple
CrmComputeFormulas(ObjectProps *op, Relation rel, HeapTuple tuple, int attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int64		workspace_id = op->key.workspace_id;
	char		object_type[NAMEDATALEN];
	Datum		row;
	Datum		props;
	Datum		computed;
	bool		isnull;
	bool		changed = false;
	int			rc;
	SPIPlanPtr	plan;
	int			passes;

	strlcpy(object_type, op->key.object_type, NAMEDATALEN);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!op->formulas_built)
	{
		/* the SQL CQL writes spells some operators bare: plan it with the pinned path */
		int			nest = CrmPinSearchPath();
		int			npasses;
		SPIPlanPtr	prepared = PrepareFormulaPlan(workspace_id, object_type, desc->tdtypeid, &npasses);

		CrmRestoreSearchPath(nest);

		/* compiling may have rebuilt the cache: find the entry again */
		op = GetObjectProps(workspace_id, object_type);
		if (prepared != NULL)
		{
			MemoryContextCallback *cb = MemoryContextAlloc(GetMemoryChunkContext(op->defs),
														   sizeof(MemoryContextCallback));

			cb->func = FreePlan;
			cb->arg = prepared;
			MemoryContextRegisterResetCallback(GetMemoryChunkContext(op->defs), cb);
		}
		op->formula_plan = prepared;
		op->formula_passes = npasses;
		op->formulas_built = true;
	}
	if (op->formula_plan == NULL)
	{
		SPI_finish();
		return tuple;
	}
	plan = op->formula_plan;
	passes = op->formula_passes;
	/*
	 * One pass computes every formula from the row as it stands; a formula
	 * reading another is right once that one is, so a chain of k formulas
	 * settles in k passes (fewer when a pass changes nothing).
	 */
	for (int pass = 0; pass < passes; pass++)
	{
		row = heap_copy_tuple_as_datum(tuple, desc);
		rc = SPI_execute_plan(plan, &row, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "computing the formulas of %s failed: %d", object_type, rc);
		computed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		props = heap_getattr(tuple, attnum, desc, &isnull);
		if (!isnull && DatumGetBool(DirectFunctionCall2(jsonb_eq, props, computed)))
			break;
		computed = datumCopy(computed, false, -1);
		isnull = false;
		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &computed, &isnull);
		changed = true;
	}
	if (!changed)
	{
		SPI_finish();
		return tuple;
	}
	/* out of SPI's memory, which SPI_finish frees */
	tuple = SPI_copytuple(tuple);
	SPI_finish();
	CrmCheckDefined(tuple->t_data, tuple->t_len);
	return tuple;
}

/*
 * One UPDATE of the object type's records in the workspace: every record
 * whose computed values differ from the formulas' (clear_key NULL), or
 * every record holding clear_key, which loses it (a dropped formula).  As
 * the tables' owner when as_owner (a definition covers every record of the
 * workspace, whoever may see them), else as the caller.  Returns the
 * records written.
 */
static uint64
UpdateRecords(int64 workspace_id, const char *object_type, const char *clear_key, bool as_owner,
			  bool only_clock)
{
	const char *type_column;
	const char *table = CrmObjectTable(object_type, &type_column);
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(workspace_id), CStringGetTextDatum(object_type)};
	StringInfoData sql;
	char	   *merge = NULL;
	const char *alias = "r";
	bool		clock = false;
	CrmSavedUser saved;
	uint64		n;
	int			nest;

	if (table == NULL)
		return 0;
	if (clear_key == NULL)
	{
		merge = CrmFormulaMergeSql(workspace_id, object_type, "r", &clock, NULL);
		if (merge == NULL || (only_clock && !clock))
			return 0;
	}
	initStringInfo(&sql);
	if (clear_key)
		appendStringInfo(&sql, "UPDATE crm.%s AS r SET properties = r.properties OPERATOR(pg_catalog.-) %s"
						 " WHERE r.workspace_id OPERATOR(pg_catalog.=) $1 AND r.properties OPERATOR(pg_catalog.?) %s",
						 table, quote_literal_cstr(clear_key), quote_literal_cstr(clear_key));
	else if (CrmIsCitusTable(get_relname_relid(table, get_namespace_oid("crm", false))))
	{
		/*
		 * Citus refuses a STABLE function (jsonb_build_object) of the
		 * updated row's columns in an UPDATE: the values are read by a
		 * sub-select of the same record, which it routes with the UPDATE.
		 */
		char	   *computed = psprintf("(SELECT %s FROM crm.%s AS r WHERE r.workspace_id OPERATOR(pg_catalog.=) $1"
										" AND r.id OPERATOR(pg_catalog.=) t.id)", merge, table);

		appendStringInfo(&sql, "UPDATE crm.%s AS t SET properties = %s"
						 " WHERE t.workspace_id OPERATOR(pg_catalog.=) $1 AND t.properties IS DISTINCT FROM %s",
						 table, computed, computed);
		alias = "t";
	}
	else
		appendStringInfo(&sql, "UPDATE crm.%s AS r SET properties = %s"
						 " WHERE r.workspace_id OPERATOR(pg_catalog.=) $1 AND r.properties IS DISTINCT FROM %s",
						 table, merge, merge);
	if (type_column)
		appendStringInfo(&sql, " AND %s.%s OPERATOR(pg_catalog.=) $2", alias, type_column);
	if (as_owner)
		CrmBecomeOwner(CrmRelationOwner(get_relname_relid(table, get_namespace_oid("crm", false))), &saved);
	nest = CrmPinSearchPath();
	if (SPI_execute_with_args(sql.data, 2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "updating the computed properties of %s failed", object_type);
	n = SPI_processed;
	CrmRestoreSearchPath(nest);
	if (as_owner)
		CrmRestoreUser(&saved);
	return n;
}

void
CrmFormulasBackfill(int64 workspace_id, const char *object_type, const char *clear_key, bool as_owner)
{
	(void) UpdateRecords(workspace_id, object_type, clear_key, as_owner, false);
}

/*
 * Compiles a formula in a subtransaction: NULL and *error set when it no
 * longer compiles (a property it reads was dropped or changed type).
 */
static char **
TryCompile(int64 ws, const char *object_type, const char *formula, int *nkeys, ErrorData **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	  **keys = NULL;

	*error = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		const char *type;
		bool		clock;

		if (CqlIsRollupText(formula, strlen(formula)))
		{
			CrmRollupSql r;

			/* reads the related records' fields, none of its own */
			CrmCqlCompileRollup(object_type, formula, ws, "c", &r);
			*nkeys = 0;
			keys = palloc(sizeof(char *));
		}
		else
			(void) CrmCqlCompileFormula(object_type, formula, ws, "r", &type, &clock, nkeys, &keys);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		keys = NULL;
	}
	PG_END_TRY();
	return keys;
}

/*
 * A cycle among the formulas (a reads b, ..., reads a) from formula i, by
 * depth-first search over "reads" (edges[i][k]: formula i reads formula
 * k); on finding one, 42P17 naming it.  state: 0 unseen, 1 on the path,
 * 2 done.
 */
static void
RefuseCycle(const char *object_type, int n, char **keys, bool **edges, int *state, int *path, int depth, int i)
{
	state[i] = 1;
	path[depth] = i;
	for (int k = 0; k < n; k++)
	{
		if (!edges[i][k] || state[k] == 2)
			continue;
		if (state[k] == 1)
		{
			StringInfoData cycle;
			int			from = depth;

			while (path[from] != k)
				from--;
			initStringInfo(&cycle);
			for (int d = from; d <= depth; d++)
				appendStringInfo(&cycle, "\"%s\" reads ", keys[path[d]]);
			appendStringInfo(&cycle, "\"%s\"", keys[k]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("the formulas of %s properties would form a cycle: %s", object_type, cycle.data),
					 errhint("A formula may read other formulas and rollups, but no formula may come back to itself: write one of them over stored values.")));
		}
		RefuseCycle(object_type, n, keys, edges, state, path, depth + 1, k);
	}
	state[i] = 2;
}

/*
 * After a definition of the object type changed: every formula still
 * compiles (2BP01 naming the formula that reads a dropped or retyped
 * property), and no formula reads itself through others (42P17).  A
 * formula may read rollups, stored before formulas are computed
 * (properties_validate.c), and other formulas, computed first
 * (FormulaPasses).
 */
static void
CheckFormulas(int64 ws, const char *object_type, const char *changed)
{
	ObjectProps *op = GetObjectProps(ws, object_type);
	int			n = 0;
	char	  **keys = palloc(sizeof(char *) * Max(op->nformulas + op->nrollups, 1));
	char	  **formulas = palloc(sizeof(char *) * Max(op->nformulas + op->nrollups, 1));
	bool	  **edges;
	int		   *state;
	int		   *path;

	for (int i = 0; i < op->ndefs; i++)
		if (op->defs[i].formula && !op->defs[i].rollup)
		{
			keys[n] = pstrdup(op->defs[i].key);
			formulas[n++] = pstrdup(op->defs[i].formula);
		}
	/* rollups too must still compile; they read no formula of this record */
	for (int i = 0, m = n; i < op->ndefs; i++)
		if (op->defs[i].rollup)
		{
			keys[m] = pstrdup(op->defs[i].key);
			formulas[m++] = pstrdup(op->defs[i].formula);
		}
	edges = palloc(sizeof(bool *) * Max(n, 1));
	for (int i = 0; i < op->nformulas + op->nrollups; i++)
	{
		ErrorData  *error;
		int			nread = 0;
		char	  **read = TryCompile(ws, object_type, formulas[i], &nread, &error);

		if (error)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot change %s property \"%s\": the formula of \"%s\" reads it", object_type,
							changed, keys[i]),
					 errdetail("With the change the formula %s would fail: %s", quote_literal_cstr(formulas[i]),
							   error->message),
					 errhint("Change or drop the formula of \"%s\" first (crm.define_formula, crm.drop_property).", keys[i])));
		if (i >= n)
			continue;
		edges[i] = palloc0(sizeof(bool) * Max(n, 1));
		for (int j = 0; j < nread; j++)
			for (int k = 0; k < n; k++)
				if (strcmp(read[j], keys[k]) == 0)
					edges[i][k] = true;
	}
	state = palloc0(sizeof(int) * Max(n, 1));
	path = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (state[i] == 0)
			RefuseCycle(object_type, n, keys, edges, state, path, 0, i);
}

/*
 * AFTER INSERT OR UPDATE OR DELETE row trigger on crm.property_definitions:
 * a new or changed formula is computed for every record of its type in
 * the workspace, a dropped one cleared from them, in one statement each.
 */
Datum
crm_property_formulas(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	char	   *old_formula = NULL;
	char	   *new_formula = NULL;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("property_formulas: must be fired after insert, update or delete, for each row")));
	desc = RelationGetDescr(trigdata->tg_relation);
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		oldtup = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		newtup = trigdata->tg_newtuple;
	if (oldtup)
		old_formula = SPI_getvalue(oldtup, desc, SPI_fnumber(desc, "formula"));
	if (newtup)
		new_formula = SPI_getvalue(newtup, desc, SPI_fnumber(desc, "formula"));

	/* the definitions cache must see this row: check it now, not at the next statement */
	CommandCounterIncrement();
	CrmPropertiesRelcache((Datum) 0, InvalidOid);
	CrmWorkspaceVersionsRelcache((Datum) 0, InvalidOid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (oldtup)
		CheckFormulas(DatumGetInt64(heap_getattr(oldtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull)),
					  SPI_getvalue(oldtup, desc, SPI_fnumber(desc, "object_type")),
					  SPI_getvalue(oldtup, desc, SPI_fnumber(desc, "key")));
	if (newtup)
		CheckFormulas(DatumGetInt64(heap_getattr(newtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull)),
					  SPI_getvalue(newtup, desc, SPI_fnumber(desc, "object_type")),
					  SPI_getvalue(newtup, desc, SPI_fnumber(desc, "key")));
	if (old_formula == NULL && new_formula == NULL)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	if (oldtup && old_formula)
	{
		char	   *key = SPI_getvalue(oldtup, desc, SPI_fnumber(desc, "key"));
		char	   *object_type = SPI_getvalue(oldtup, desc, SPI_fnumber(desc, "object_type"));
		int64		ws = DatumGetInt64(heap_getattr(oldtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull));
		bool		same_place = newtup && new_formula &&
			strcmp(key, SPI_getvalue(newtup, desc, SPI_fnumber(desc, "key"))) == 0 &&
			strcmp(object_type, SPI_getvalue(newtup, desc, SPI_fnumber(desc, "object_type"))) == 0 &&
			ws == DatumGetInt64(heap_getattr(newtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull));

		/* dropped, or moved to another key: its values go; turned plain: they stay */
		if (newtup == NULL || (new_formula && !same_place))
			CrmFormulasBackfill(ws, object_type, key, true);
	}
	if (newtup && new_formula && CqlIsRollupText(new_formula, strlen(new_formula)))
		CrmRollupBackfill(DatumGetInt64(heap_getattr(newtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull)),
						  SPI_getvalue(newtup, desc, SPI_fnumber(desc, "object_type")),
						  SPI_getvalue(newtup, desc, SPI_fnumber(desc, "key")), new_formula);
	else if (newtup && new_formula)
		CrmFormulasBackfill(DatumGetInt64(heap_getattr(newtup, SPI_fnumber(desc, "workspace_id"), desc, &isnull)),
							SPI_getvalue(newtup, desc, SPI_fnumber(desc, "object_type")), NULL, true);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * crm.refresh_formulas(): the formulas that read the clock (TODAY, NOW,
 * DAYS_SINCE) move with it; recomputes them for the records of the current
 * workspace the caller may write, and returns how many changed.
 */
Datum
crm_refresh_formulas(PG_FUNCTION_ARGS)
{
	int64		ws = CrmCurrentWorkspace();
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(ws)};
	int64		total = 0;
	int			ntypes;
	char	  **types;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT DISTINCT d.object_type FROM crm.property_definitions d"
							  " WHERE d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.formula IS NOT NULL"
							  " ORDER BY 1", 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the formulas failed");
	ntypes = (int) SPI_processed;
	types = palloc(sizeof(char *) * Max(ntypes, 1));
	for (int i = 0; i < ntypes; i++)
		types[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	for (int i = 0; i < ntypes; i++)
		total += (int64) UpdateRecords(ws, types[i], NULL, false, true);
	SPI_finish();
	PG_RETURN_INT64(total);
}
