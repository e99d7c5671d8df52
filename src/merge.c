/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  Merging one contact into another, its preview, and the trigger that
 *	  sends rows written for a merged contact to its survivor.
 *
 * Nothing here names the tables that point at contacts.  They are read from
 * the view crm.contact_reference_map (foreign keys to crm.contacts found in
 * pg_constraint, plus registered polymorphic columns), and for each one the
 * statements that move, count and de-duplicate its rows are built from the
 * catalog, prepared once and kept for the life of the backend.  The cache is
 * dropped when a constraint or index changes or the registry is written.
 *
 * Concurrency: contact merges within a workspace share one transaction-level
 * advisory lock (company merges and unmerges take it alone), then lock both
 * contact rows FOR UPDATE in id order, so merges of unrelated contacts run
 * side by side and overlapping ones ({A,B} with {B,A} or {B,C}) queue on the
 * row they share.  A contact that another merge absorbed while we waited is
 * followed to its survivor, so the caller's intent (these are one person)
 * still holds; the rows of that try are let go first and the survivors
 * locked afresh in id order, so no merge holds a row while it waits for a
 * lower one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "crm.h"
#include "merge.h"

PG_FUNCTION_INFO_V1(crm_merge_contacts);
PG_FUNCTION_INFO_V1(crm_merge_preview);
PG_FUNCTION_INFO_V1(crm_merge_contacts_in);
PG_FUNCTION_INFO_V1(crm_identify_merge_in);
PG_FUNCTION_INFO_V1(crm_follow_merged_contact);
PG_FUNCTION_INFO_V1(crm_contact_references_changed);
PG_FUNCTION_INFO_V1(crm_merge_moving);

static MemoryContext RefCacheContext = NULL;
ContactRef *crm_merge_refs = NULL;
int			crm_merge_nrefs = 0;
static bool refs_valid = false;
static bool refs_complete = false;	/* false after a build that errored out */
static Oid	registry_relid = InvalidOid;
static bool callbacks_registered = false;
static int	merge_depth = 0;
static bool unmerging = false;

/*
 * The survivor of the merge in progress: locked FOR UPDATE by us and live, so
 * the follow trigger need not look it up for each row being moved onto it.
 */
static int64 moving_ws = 0;
static int64 moving_to = 0;

/* Fixed statements on crm.contacts, prepared on first use */
static SPIPlanPtr read_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr merged_plan = NULL;
static SPIPlanPtr mark_plan = NULL;
static SPIPlanPtr survivor_plan = NULL;
static SPIPlanPtr activity_plan = NULL;
static SPIPlanPtr follow_plan = NULL;
static SPIPlanPtr snapshot_plan = NULL;
static SPIPlanPtr record_plan = NULL;

/* how the merge in progress came about, for its record; NULL: from the call stack */
static const char *merge_source = NULL;

static Oid	merge_argtypes[4] = {INT8OID, INT8OID, INT8OID, JSONBOID};

static void BeginMoving(int64 ws, int64 to, bool unmerge);
static bool MovesOnCitus(void);

/*
 * A kept plan, generic from its first execution: every statement here finds
 * its rows by workspace and contact id through an index that leads with
 * both, whatever the ids, so the custom plans the plan cache would make for
 * a backend's first five merges only cost planning (a tenth of a merge).
 * Not on Citus, which routes a statement by its parameters' values: a
 * generic plan has none ("could not create distributed plan").
 */
static SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  MovesOnCitus() ? 0 : CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "crm merge: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "crm merge: SPI_keepplan failed");
	return plan;
}

/* ----------------------------------------------------------------
 * The reference cache
 * ----------------------------------------------------------------
 */

/* Invalidation only marks the cache stale: a merge may be using its plans. */
static void
RefCacheSyscacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	refs_valid = false;
}

void
CrmContactRefsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_relid)
		refs_valid = false;
}

static void
FreeRefCache(void)
{
	int			i,
				j;

	for (i = 0; i < crm_merge_nrefs; i++)
	{
		for (j = 0; j < crm_merge_refs[i].nclashes; j++)
		{
			SPI_freeplan(crm_merge_refs[i].clashes[j].apply_plan);
			SPI_freeplan(crm_merge_refs[i].clashes[j].count_plan);
			SPI_freeplan(crm_merge_refs[i].clashes[j].undo_plan);
		}
		SPI_freeplan(crm_merge_refs[i].move_plan);
		SPI_freeplan(crm_merge_refs[i].count_plan);
		SPI_freeplan(crm_merge_refs[i].back_plan);
		SPI_freeplan(crm_merge_refs[i].count_back_plan);
	}
	if (RefCacheContext != NULL)
		MemoryContextReset(RefCacheContext);
	crm_merge_refs = NULL;
	crm_merge_nrefs = 0;
}

static char *
GetText(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/*
 * A row's key as jsonb (see merge.h): pkcols are its primary key's columns
 * without the workspace, contact and type columns, quoted.
 */
static char *
KeyExpr(const char *alias, Datum *pkcols, int npk, const char *idcol)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (npk == 0)
		appendStringInfo(&buf, "(pg_catalog.to_jsonb(%s) OPERATOR(pg_catalog.-) %s)",
						 alias, quote_literal_cstr(idcol));
	else if (npk == 1)
		appendStringInfo(&buf, "pg_catalog.to_jsonb(%s.%s)", alias, TextDatumGetCString(pkcols[0]));
	else
	{
		appendStringInfoString(&buf, "pg_catalog.jsonb_build_array(");
		for (int k = 0; k < npk; k++)
			appendStringInfo(&buf, "%s%s.%s", k ? ", " : "", alias, TextDatumGetCString(pkcols[k]));
		appendStringInfoChar(&buf, ')');
	}
	return buf.data;
}

/*
 * The end of "WITH x AS (UPDATE ... ": the keys of the rows written, in key
 * order, and their count.  Citus takes no STABLE function (to_jsonb) in a
 * RETURNING clause: there the rows come back whole and their keys are made
 * on the coordinator.
 */
static void
AppendKeysReturned(StringInfo buf, const char *alias, Datum *pkcols, int npk, const char *idcol, bool citus)
{
	if (citus)
	{
		char	   *key = KeyExpr("x", pkcols, npk, idcol);

		appendStringInfo(buf, " RETURNING %s.*) SELECT pg_catalog.jsonb_agg(%s ORDER BY %s), pg_catalog.count(*) FROM x",
						 alias, key, key);
	}
	else if (npk == 0)
		appendStringInfo(buf, " RETURNING %s AS k) SELECT pg_catalog.jsonb_agg(x.k ORDER BY x.k), pg_catalog.count(*) FROM x",
						 KeyExpr(alias, pkcols, npk, idcol));
	else if (npk == 1)
	{
		/*
		 * The column itself, aggregated as jsonb and sorted by its own type:
		 * comparing the column costs a fraction of comparing jsonb, and
		 * jsonb_agg converts it as to_jsonb would, without to_jsonb's
		 * look-up of the type for every row.
		 */
		const char *col = TextDatumGetCString(pkcols[0]);

		appendStringInfo(buf, " RETURNING %s.%s AS o0) SELECT pg_catalog.jsonb_agg(x.o0 ORDER BY x.o0),"
						 " pg_catalog.count(*) FROM x", alias, col);
	}
	else
	{
		/* sorted by the key's own columns, in the order their jsonb sorts */
		appendStringInfo(buf, " RETURNING %s AS k", KeyExpr(alias, pkcols, npk, idcol));
		for (int k = 0; k < npk; k++)
			appendStringInfo(buf, ", %s.%s AS o%d", alias, TextDatumGetCString(pkcols[k]), k);
		appendStringInfoString(buf, ") SELECT pg_catalog.jsonb_agg(x.k ORDER BY ");
		for (int k = 0; k < npk; k++)
			appendStringInfo(buf, "%sx.o%d", k ? ", " : "", k);
		appendStringInfoString(buf, "), pg_catalog.count(*) FROM x");
	}
}

/* "col = $n" for the rows of one contact, qualified by alias when given */
static void
AppendRowFilter(StringInfo buf, const char *alias, const char *wscol, const char *idcol,
				const char *typecol, const char *typeval, int param)
{
	const char *a = alias ? alias : "";
	const char *dot = alias ? "." : "";

	appendStringInfo(buf, "%s%s%s OPERATOR(pg_catalog.=) $1 AND %s%s%s OPERATOR(pg_catalog.=) $%d",
					 a, dot, wscol, a, dot, idcol, param);
	if (typecol)
		appendStringInfo(buf, " AND %s%s%s OPERATOR(pg_catalog.=) %s",
						 a, dot, typecol, quote_literal_cstr(typeval));
}

/*
 * "UPDATE rel r SET set" of one contact's rows (param) whose keys are in $4.
 * Citus takes no STABLE function (to_jsonb) of a column in an UPDATE's
 * WHERE: there the keys are matched in a subquery, joined by the primary key.
 */
static void
AppendUpdateOfKeys(StringInfo buf, const char *rel, const char *set, const char *wscol, const char *idcol,
				   const char *typecol, const char *typeval, int param, Datum *pkcols, int npk,
				   const char *raw_idcol, bool citus)
{
	appendStringInfo(buf, "UPDATE %s r SET %s", rel, set);
	if (!citus || npk == 0)
	{
		appendStringInfoString(buf, " WHERE ");
		AppendRowFilter(buf, "r", wscol, idcol, typecol, typeval, param);
		appendStringInfo(buf, " AND " CRM_KEY_IN_KEYS, KeyExpr("r", pkcols, npk, raw_idcol));
		return;
	}
	appendStringInfoString(buf, " FROM (SELECT ");
	for (int k = 0; k < npk; k++)
		appendStringInfo(buf, "%ss.%s", k ? ", " : "", TextDatumGetCString(pkcols[k]));
	appendStringInfo(buf, " FROM %s s WHERE ", rel);
	AppendRowFilter(buf, "s", wscol, idcol, typecol, typeval, param);
	appendStringInfo(buf, " AND " CRM_KEY_IN_KEYS ") k WHERE ", KeyExpr("s", pkcols, npk, raw_idcol));
	AppendRowFilter(buf, "r", wscol, idcol, typecol, typeval, param);
	for (int k = 0; k < npk; k++)
		appendStringInfo(buf, " AND r.%s OPERATOR(pg_catalog.=) k.%s",
						 TextDatumGetCString(pkcols[k]), TextDatumGetCString(pkcols[k]));
}

/*
 * The rows of the duplicate that collide on a unique key with a row of the
 * survivor: the survivor's row is kept.  A partial unique index whose only
 * key is the contact and whose predicate is a boolean column ("at most one
 * primary company") is handled by clearing the duplicate's flag instead.
 */
static void
BuildClashRules(ContactRef *ref, Oid relid, const char *rel, const char *wscol,
				const char *idcol, const char *typecol, const char *typeval,
				const char *raw_wscol, const char *raw_idcol, Datum *pkcols, int npk)
{
	StringInfoData q;
	int			n;
	int			i;
	int			ret;
	SPITupleTable *tt;
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		citus = CrmIsCitusTable(relid);

	initStringInfo(&q);
	appendStringInfoString(&q,
						   "SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid),"
						   "       ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k OPERATOR(pg_catalog.+) 1, false)"
						   "               FROM pg_catalog.generate_series(0, i.indnkeyatts OPERATOR(pg_catalog.-) 1) k"
						   "              WHERE i.indkey[k] OPERATOR(pg_catalog.<>) ALL (ARRAY["
						   "                     (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $2),"
						   "                     (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $3)])"
						   "              ORDER BY k)::text[],"
						   "       i.indnullsnotdistinct,"
						   "       (SELECT a.attname FROM pg_catalog.pg_attribute a"
						   "         WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.bool'::pg_catalog.regtype"
						   "           AND NOT a.attisdropped"
						   "           AND pg_catalog.quote_ident(a.attname) OPERATOR(pg_catalog.=) pg_catalog.pg_get_expr(i.indpred, i.indrelid))"
						   "  FROM pg_catalog.pg_index i"
						   " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique"
						   "   AND (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $3)"
						   "       OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])"
						   " ORDER BY i.indexrelid");
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(raw_wscol);
	values[2] = CStringGetTextDatum(raw_idcol);
	ret = SPI_execute_with_args(q.data, 3, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading unique indexes of %s failed", rel);
	n = SPI_processed;

	{
		MemoryContext old = MemoryContextSwitchTo(RefCacheContext);

		ref->clashes = palloc0(sizeof(ClashRule) * Max(n, 1));
		MemoryContextSwitchTo(old);
	}
	ref->nclashes = 0;

	/* Deletes first, then demotes: a dropped row needs no demoting */
	tt = SPI_tuptable;
	for (int pass = 0; pass < 2; pass++)
	{

		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	desc = tt->tupdesc;
			char	   *pred = GetText(tup, desc, 1);
			bool		isnull;
			Datum		keysd = SPI_getbinval(tup, desc, 2, &isnull);
			bool		nnd = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			char	   *flag = GetText(tup, desc, 4);
			ArrayType  *keys = DatumGetArrayTypeP(keysd);
			Datum	   *kd;
			bool	   *kn;
			int			nk;
			bool		demote;
			StringInfoData core,
						apply,
						count,
						undo;
			ClashRule  *rule;
			MemoryContext old;

			deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &kd, &kn, &nk);
			demote = (nk == 0 && flag != NULL);
			if (demote != (pass == 1))
				continue;

			initStringInfo(&core);
			initStringInfo(&apply);
			initStringInfo(&count);
			initStringInfo(&undo);
			if (demote)
			{
				const char *qf = quote_identifier(flag);

				appendStringInfo(&core, " FROM %s d WHERE ", rel);
				AppendRowFilter(&core, "d", wscol, idcol, typecol, typeval, 3);
				appendStringInfo(&core, " AND d.%s AND EXISTS (SELECT 1 FROM %s s WHERE ", qf, rel);
				AppendRowFilter(&core, "s", wscol, idcol, typecol, typeval, 2);
				appendStringInfo(&core, " AND s.%s)", qf);
				appendStringInfo(&apply, "WITH x AS (UPDATE %s d SET %s = false", rel, qf);
				/* UPDATE takes its WHERE after SET: re-use the filter part */
				appendStringInfoString(&apply, strstr(core.data, " WHERE "));
				/* the keys of the demoted rows, for an unmerge to promote them again */
				AppendKeysReturned(&apply, "d", pkcols, npk, raw_idcol, citus);
				appendStringInfo(&count, "SELECT pg_catalog.count(*)%s", core.data);
				AppendUpdateOfKeys(&undo, rel, psprintf("%s = true", qf), wscol, idcol, typecol, typeval, 3,
								   pkcols, npk, raw_idcol, citus);
			}
			else
			{
				int			k;
				StringInfoData by;

				/*
				 * Both contacts' rows read once and grouped by the index's other
				 * columns: a join of the two would be planned from an estimate of
				 * one row per contact and scan all of the survivor's rows for each
				 * of the duplicate's.  A NULL key clashes only under NULLS NOT
				 * DISTINCT, as in the index.
				 */
				initStringInfo(&by);
				for (k = 0; k < nk; k++)
					appendStringInfo(&by, "%s%s", k ? ", " : "", TextDatumGetCString(kd[k]));
				/* Citus routes no statement that names a ctid: its rows by key there */
				appendStringInfo(&core, "SELECT w.tid FROM (SELECT %s AS tid, %s OPERATOR(pg_catalog.=) $3 AS dup,"
								 " pg_catalog.bool_or(%s OPERATOR(pg_catalog.=) $2) OVER (%s%s) AS clash FROM %s t"
								 " WHERE %s OPERATOR(pg_catalog.=) $1 AND %s OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])",
								 citus ? KeyExpr("t", pkcols, npk, raw_idcol) : "ctid",
								 idcol, idcol, nk ? "PARTITION BY " : "", by.data, rel, wscol, idcol);
				if (typecol)
					appendStringInfo(&core, " AND %s OPERATOR(pg_catalog.=) %s", typecol, quote_literal_cstr(typeval));
				if (pred)
					appendStringInfo(&core, " AND (%s)", pred);
				for (k = 0; k < nk && !nnd; k++)
					appendStringInfo(&core, " AND (%s) IS NOT NULL", TextDatumGetCString(kd[k]));
				appendStringInfoString(&core, ") w WHERE w.dup AND w.clash");
				/* the dropped rows whole, for an unmerge to insert them again */
				if (citus)
				{
					appendStringInfo(&apply, "WITH x AS (DELETE FROM %s r WHERE ", rel);
					AppendRowFilter(&apply, "r", wscol, idcol, typecol, typeval, 3);
					appendStringInfo(&apply, " AND %s IN (%s) RETURNING r.*)",
									 KeyExpr("r", pkcols, npk, raw_idcol), core.data);
				}
				else
					appendStringInfo(&apply,
									 "WITH x AS (DELETE FROM %s r WHERE r.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(%s)) RETURNING r.*)",
									 rel, core.data);
				appendStringInfoString(&apply, " SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), pg_catalog.count(*) FROM x");
				appendStringInfo(&count, "SELECT pg_catalog.count(*) FROM (%s) x", core.data);
				appendStringInfo(&undo, "INSERT INTO %s SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $4)"
								 " ON CONFLICT DO NOTHING", rel, rel);
			}

			old = MemoryContextSwitchTo(RefCacheContext);
			rule = &ref->clashes[ref->nclashes++];
			rule->demote = demote;
			rule->flag = flag ? pstrdup(flag) : NULL;
			MemoryContextSwitchTo(old);
			rule->apply_plan = PrepareKept(apply.data, 3, merge_argtypes);
			rule->count_plan = PrepareKept(count.data, 3, merge_argtypes);
			rule->undo_plan = PrepareKept(undo.data, 4, merge_argtypes);
		}
	}
}

/* The primary key's columns but the workspace, contact and type columns */
static void
ReadKeyColumns(Oid relid, const char *wscol, const char *idcol, const char *typecol,
			   Datum **pkcols, int *npk)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	bool		isnull;
	Datum		arr;
	bool	   *nulls;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(wscol);
	values[2] = CStringGetTextDatum(idcol);
	values[3] = CStringGetTextDatum(typecol ? typecol : "");
	if (SPI_execute_with_args("SELECT coalesce(pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY k.ord),"
							  "                '{}')::pg_catalog.text[]"
							  "  FROM pg_catalog.pg_index i"
							  "  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)"
							  "  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
							  "   AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary"
							  "   AND a.attname::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (ARRAY[$2, $3, $4])",
							  4, argtypes, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: reading the primary key of relation %u failed", relid);
	arr = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT, pkcols, &nulls, npk);
}

/*
 * "UPDATE rel r SET set" of the rows of object $param whose keys are in $4,
 * for a Citus table (AppendUpdateOfKeys): the unmerge of a company moves
 * its rows back so.  Raw (unquoted) column names; typecol may be NULL.
 */
char *
CrmMergeUpdateOfKeys(Oid relid, const char *rel, const char *set, const char *wscol, const char *idcol,
					 const char *typecol, const char *typeval, int param)
{
	StringInfoData buf;
	Datum	   *pkcols;
	int			npk;

	ReadKeyColumns(relid, wscol, idcol, typecol, &pkcols, &npk);
	initStringInfo(&buf);
	AppendUpdateOfKeys(&buf, rel, set, quote_identifier(wscol), quote_identifier(idcol),
					   typecol ? quote_identifier(typecol) : NULL, typeval, param, pkcols, npk, idcol, true);
	return buf.data;
}

/*
 * The key expression (see merge.h) of the rows of a table that holds
 * object ids in idcol: its primary key without the workspace and id columns
 */
char *
CrmMergeKeyExpr(Oid relid, const char *alias, const char *wscol, const char *idcol)
{
	Datum	   *pkcols;
	int			npk;

	ReadKeyColumns(relid, wscol, idcol, NULL, &pkcols, &npk);
	return KeyExpr(alias, pkcols, npk, idcol);
}

/*
 * The end of "WITH x AS (UPDATE <relid> <alias> ...": the keys of the rows
 * written, in key order, and their count, as a contact merge's moves return
 * them
 */
char *
CrmMergeKeysReturned(Oid relid, const char *alias, const char *wscol, const char *idcol)
{
	Datum	   *pkcols;
	int			npk;
	StringInfoData buf;

	ReadKeyColumns(relid, wscol, idcol, NULL, &pkcols, &npk);
	initStringInfo(&buf);
	AppendKeysReturned(&buf, alias, pkcols, npk, idcol, CrmIsCitusTable(relid));
	return buf.data;
}

static void
BuildRefCache(void)
{
	SPITupleTable *tt;
	int			n;
	int			i;

	if (!callbacks_registered)
	{
		RefCacheContext = AllocSetContextCreate(CacheMemoryContext,
												"crm contact reference cache",
												ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(CONSTROID, RefCacheSyscacheCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(INDEXRELID, RefCacheSyscacheCallback, (Datum) 0);
		callbacks_registered = true;
	}
	FreeRefCache();
	/* set before reading, so an invalidation arriving meanwhile is not lost */
	refs_valid = true;
	refs_complete = false;

	if (SPI_execute("SELECT r.rel::pg_catalog.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
					"       pg_catalog.quote_ident(r.workspace_column), pg_catalog.quote_ident(r.id_column),"
					"       pg_catalog.quote_ident(r.type_column), r.type_value,"
					"       r.rel OPERATOR(pg_catalog.=) 'crm.contacts'::pg_catalog.regclass,"
					"       n.nspname || '.' || c.relname || '.' || r.id_column,"
					"       r.workspace_column, r.id_column, r.type_column"
					"  FROM crm.contact_reference_map r"
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.rel"
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					" ORDER BY 8", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading crm.contact_reference_map failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	registry_relid = get_relname_relid("contact_references", get_namespace_oid("crm", false));

	crm_merge_refs = MemoryContextAllocZero(RefCacheContext, sizeof(ContactRef) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	desc = tt->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *rel = GetText(tup, desc, 2);
		char	   *wscol = GetText(tup, desc, 3);
		char	   *idcol = GetText(tup, desc, 4);
		char	   *typecol = GetText(tup, desc, 5);
		char	   *typeval = GetText(tup, desc, 6);
		ContactRef *ref = &crm_merge_refs[crm_merge_nrefs];
		StringInfoData sql;
		Datum	   *pkcols;
		int			npk;
		char	   *key;

		ref->is_self = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		ref->label = MemoryContextStrdup(RefCacheContext, GetText(tup, desc, 8));
		ref->relid = relid;
		ref->idatt = get_attnum(relid, GetText(tup, desc, 10));

		ReadKeyColumns(relid, GetText(tup, desc, 9), GetText(tup, desc, 10), GetText(tup, desc, 11),
					   &pkcols, &npk);
		key = KeyExpr("r", pkcols, npk, GetText(tup, desc, 10));

		/* the keys of the rows moved, for the merge record */
		initStringInfo(&sql);
		appendStringInfo(&sql, "WITH x AS (UPDATE %s r SET %s = $2 WHERE ", rel, idcol);
		AppendRowFilter(&sql, "r", wscol, idcol, typecol, typeval, 3);
		AppendKeysReturned(&sql, "r", pkcols, npk, GetText(tup, desc, 10), CrmIsCitusTable(relid));
		ref->move_plan = PrepareKept(sql.data, 3, merge_argtypes);

		resetStringInfo(&sql);
		AppendUpdateOfKeys(&sql, rel, psprintf("%s = $3", idcol), wscol, idcol, typecol, typeval, 2,
						   pkcols, npk, GetText(tup, desc, 10), CrmIsCitusTable(relid));
		ref->back_plan = PrepareKept(sql.data, 4, merge_argtypes);

		resetStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM %s r WHERE ", rel);
		AppendRowFilter(&sql, "r", wscol, idcol, typecol, typeval, 2);
		appendStringInfo(&sql, " AND " CRM_KEY_IN_KEYS, key);
		ref->count_back_plan = PrepareKept(sql.data, 4, merge_argtypes);

		resetStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM %s WHERE ", rel);
		AppendRowFilter(&sql, NULL, wscol, idcol, typecol, typeval, 3);
		ref->count_plan = PrepareKept(sql.data, 3, merge_argtypes);

		BuildClashRules(ref, relid, rel, wscol, idcol, typecol, typeval,
						GetText(tup, desc, 9), GetText(tup, desc, 10), pkcols, npk);
		crm_merge_nrefs++;
	}
	refs_complete = true;
}

/* ----------------------------------------------------------------
 * Fixed statements
 * ----------------------------------------------------------------
 */

/* The survivor's non-null fields win, gaps are filled from the duplicate */
#define MERGED_RECORD_SQL \
	"SELECT pg_catalog.to_jsonb(m) FROM (" \
	" SELECT s.workspace_id, s.id," \
	"        coalesce(s.name, d.name) AS name, coalesce(s.email, d.email) AS email," \
	"        coalesce(s.phone, d.phone) AS phone, coalesce(s.identifier, d.identifier) AS identifier," \
	"        coalesce(s.verified_id, d.verified_id) AS verified_id," \
	"        greatest(s.identity_source, d.identity_source) AS identity_source," \
	"        coalesce(s.avatar_url, d.avatar_url) AS avatar_url," \
	"%s" /* MERGED_PROFILE_SQL, or MERGED_CITY_SQL before 0.3.0 */ \
	/* furthest down the funnel; 'other' is off the funnel and loses to any stage */ \
	"        CASE WHEN s.lifecycle_stage IS NULL OR s.lifecycle_stage OPERATOR(pg_catalog.=) 'other' THEN coalesce(d.lifecycle_stage, s.lifecycle_stage)" \
	"             WHEN d.lifecycle_stage IS NULL OR d.lifecycle_stage OPERATOR(pg_catalog.=) 'other' THEN s.lifecycle_stage" \
	"             ELSE greatest(s.lifecycle_stage, d.lifecycle_stage) END AS lifecycle_stage," \
	"        s.status, s.merged_into, coalesce(s.owner, d.owner) AS owner," \
	/* a block is a safety flag: either side's block holds */ \
	"        s.blocked OR d.blocked AS blocked," \
	"        crm.normalize_tags(s.tags OPERATOR(pg_catalog.||) d.tags) AS tags," \
	"%s" /* MERGED_MODULES_SQL where contacts have active_modules */ \
	"        d.properties OPERATOR(pg_catalog.||) s.properties AS properties," \
	"        least(s.first_seen_at, d.first_seen_at) AS first_seen_at," \
	"        greatest(s.last_seen_at, d.last_seen_at) AS last_seen_at," \
	"        s.conversation_count OPERATOR(pg_catalog.+) d.conversation_count AS conversation_count," \
	"        s.created_at, s.updated_at, s.deleted_at" \
	"   FROM crm.contacts s JOIN crm.contacts d" \
	"     ON d.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND d.id OPERATOR(pg_catalog.=) $3" \
	"%s" /* MERGED_ADDRESS_SQL */ \
	"  WHERE s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2) m"

/*
 * The address is one place: the survivor's whole address when it has any
 * part of one, else the duplicate's, never a street of one with the city
 * of the other.  Social profiles, one per network, fill gaps like names.
 */
#define MERGED_PROFILE_SQL \
	"        a.street, a.address_line2, a.city, a.region, a.postal_code, a.country," \
	"        coalesce(s.linkedin, d.linkedin) AS linkedin, coalesce(s.x, d.x) AS x," \
	"        coalesce(s.instagram, d.instagram) AS instagram, coalesce(s.facebook, d.facebook) AS facebook," \
	"        coalesce(s.github, d.github) AS github, coalesce(s.website, d.website) AS website,"
#define MERGED_ADDRESS_SQL \
	"   CROSS JOIN LATERAL (SELECT a.* FROM (VALUES" \
	"          (0, s.street, s.address_line2, s.city, s.region, s.postal_code, s.country)," \
	"          (1, d.street, d.address_line2, d.city, d.region, d.postal_code, d.country))" \
	"          a (side, street, address_line2, city, region, postal_code, country)" \
	"        ORDER BY pg_catalog.num_nonnulls(a.street, a.address_line2, a.city, a.region, a.postal_code, a.country)" \
	"                 OPERATOR(pg_catalog.=) 0, a.side LIMIT 1) a"
/* a 0.2.0 install: city and country only, each filling a gap */
#define MERGED_CITY_SQL \
	"        coalesce(s.city, d.city) AS city, coalesce(s.country, d.country) AS country,"

/* The modules either used, each at the later of its two times */
#define MERGED_MODULES_SQL \
	"        (SELECT coalesce(pg_catalog.jsonb_object_agg(u.key, u.value), '{}'::pg_catalog.jsonb)" \
	"           FROM (SELECT DISTINCT ON (e.key) e.key, e.value" \
	"                   FROM (SELECT * FROM pg_catalog.jsonb_each(s.active_modules)" \
	"                         UNION ALL SELECT * FROM pg_catalog.jsonb_each(d.active_modules)) e" \
	"                  ORDER BY e.key, (e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.timestamptz DESC) u" \
	"        ) AS active_modules,"

static void
PrepareFixedPlans(void)
{
	/* an install of 0.2.0 runs this library too: its contacts have no active_modules */
	bool		modules = CrmContactsHaveActiveModules();
	bool		profiles = CrmContactsHaveColumn("street");
	Oid			lockargs[2] = {INT8OID, INT8ARRAYOID};

	if (activity_plan != NULL)
		return;
	read_plan = PrepareKept("SELECT c.status::text, c.merged_into FROM crm.contacts c"
							" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
							2, merge_argtypes);
	lock_plan = PrepareKept("SELECT c.id, c.status::text, c.merged_into FROM crm.contacts c"
							" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) ANY ($2)"
							" ORDER BY c.id FOR UPDATE",
							2, lockargs);
	merged_plan = PrepareKept(psprintf(MERGED_RECORD_SQL, profiles ? MERGED_PROFILE_SQL : MERGED_CITY_SQL,
									   modules ? MERGED_MODULES_SQL : "", profiles ? MERGED_ADDRESS_SQL : ""),
							  3, merge_argtypes);
	mark_plan = PrepareKept("UPDATE crm.contacts SET status = 'merged', merged_into = $2"
							" WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $3",
							3, merge_argtypes);
	survivor_plan = PrepareKept(psprintf("UPDATE crm.contacts c SET name = m.name, email = m.email, phone = m.phone,"
								" identifier = m.identifier, verified_id = m.verified_id,"
								" identity_source = m.identity_source, avatar_url = m.avatar_url, city = m.city,"
								" country = m.country, lifecycle_stage = m.lifecycle_stage, owner = m.owner,"
								" blocked = m.blocked, tags = m.tags, properties = m.properties,"
								CRM_SEEN_TIMES_SQL(2) "%s%s"
								" FROM pg_catalog.jsonb_populate_record(NULL::crm.contacts, $4) m"
								" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
								modules ? ", active_modules = m.active_modules" : "",
								profiles ? ", street = m.street, address_line2 = m.address_line2, region = m.region,"
								" postal_code = m.postal_code, linkedin = m.linkedin, x = m.x, instagram = m.instagram,"
								" facebook = m.facebook, github = m.github, website = m.website" : ""),
								4, merge_argtypes);
	snapshot_plan = PrepareKept("SELECT pg_catalog.to_jsonb(s), pg_catalog.to_jsonb(d) FROM crm.contacts s, crm.contacts d"
								" WHERE s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2"
								"   AND d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $3",
								3, merge_argtypes);
	activity_plan = PrepareKept("INSERT INTO crm.activities (workspace_id, contact_id, type, subject, actor, payload)"
								" VALUES ($1, $2, 'merged', 'Merged contact ' OPERATOR(pg_catalog.||) $3::text, 'system', $4)",
								4, merge_argtypes);
}

static int64
CountRows(SPIPlanPtr plan, Datum *values)
{
	bool		isnull;

	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: count failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A contact's status before any lock: what the caller asked about */
static void
CheckMergeable(int64 ws, int64 id)
{
	Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
	char	   *status;

	if (SPI_execute_plan(read_plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading contact failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("contact " INT64_FORMAT " does not exist", id),
				 errhint("Check the id; contacts of other workspaces are not visible here.")));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "merged") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contact " INT64_FORMAT " was already merged into contact %s", id,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Use crm.resolve_contact(" INT64_FORMAT ") to find the live contact.", id)));
	if (strcmp(status, "deleted") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contact " INT64_FORMAT " is deleted", id),
				 errhint("Only live (active or archived) contacts can be merged.")));
}

/*
 * One try at locking both rows in id order: false, with the ids replaced by
 * their survivors, when a concurrent merge absorbed either while we waited.
 */
static bool
LockPairOnce(int64 ws, int64 *survivor, int64 *duplicate)
{
	Datum		ids[2] = {Int64GetDatum(*survivor), Int64GetDatum(*duplicate)};
	Datum		values[2];
	bool		moved = false;
	uint64		i;

	values[0] = Int64GetDatum(ws);
	values[1] = PointerGetDatum(construct_array(ids, 2, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(lock_plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: locking contacts failed");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *status = SPI_getvalue(tup, desc, 2);

		if (strcmp(status, "deleted") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("contact " INT64_FORMAT " was deleted while waiting to merge it", id),
					 errhint("Only live (active or archived) contacts can be merged.")));
		if (strcmp(status, "merged") == 0)
		{
			int64		target = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));

			if (id == *survivor)
				*survivor = target;
			if (id == *duplicate)
				*duplicate = target;
			moved = true;
		}
	}
	if (SPI_processed != 2 && !moved)
		elog(ERROR, "crm merge: contact vanished while locked");
	return !moved;
}

typedef struct LockPairArgs
{
	int64		ws;
	int64	   *survivor;
	int64	   *duplicate;
} LockPairArgs;

static bool
LockPairStep(void *arg)
{
	LockPairArgs *a = (LockPairArgs *) arg;

	return LockPairOnce(a->ws, a->survivor, a->duplicate);
}

/*
 * Lock both rows in id order.  Contact merges of a workspace run side by
 * side (they share the merge lock), so a contact may be absorbed by another
 * merge while we wait for it: each try runs in a subtransaction, and a try
 * that found a contact merged away is rolled back, which lets go of the
 * rows it locked, before the survivors are locked, again in id order.
 * Keeping the first try's locks would hold a higher id while waiting for a
 * lower one, against a merge that locks them the other way round.  Returns
 * false when both now name the same contact.
 */
static bool
LockPair(int64 ws, int64 *survivor, int64 *duplicate)
{
	LockPairArgs args = {ws, survivor, duplicate};

	while (*survivor != *duplicate)
		if (CrmTrySubtransaction(LockPairStep, &args))
			return true;
	return false;
}

static void
AppendCounts(StringInfo buf, const char *key, int64 *counts)
{
	int			i;
	bool		first = true;

	appendStringInfo(buf, ", \"%s\": {", key);
	for (i = 0; i < crm_merge_nrefs; i++)
	{
		if (counts[i] == 0)
			continue;
		appendStringInfo(buf, "%s", first ? "" : ", ");
		escape_json(buf, crm_merge_refs[i].label);
		appendStringInfo(buf, ": " INT64_FORMAT, counts[i]);
		first = false;
	}
	appendStringInfoChar(buf, '}');
}

/* Appends "label": jsonb to a JSON object being built, when value is not NULL */
void
CrmMergeRecordEntry(StringInfo obj, const char *label, const char *suffix, Datum value, bool isnull)
{
	if (isnull)
		return;
	appendStringInfoString(obj, obj->len > 1 ? ", " : "");
	escape_json(obj, suffix ? psprintf("%s#%s", label, suffix) : label);
	appendStringInfoString(obj, ": ");
	appendStringInfoString(obj, JsonbToCString(NULL, &DatumGetJsonbP(value)->root, 0));
}

/*
 * Runs a statement returning (jsonb_agg, count): adds the jsonb array to
 * *acc (0: none yet), returns the count
 */
int64
CrmMergeRunRecorded(SPIPlanPtr plan, Datum *values, const char *label, Datum *acc)
{
	bool		isnull;
	Datum		agg;

	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: moving rows of %s failed", label);
	agg = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*acc = *acc ? DirectFunctionCall2(jsonb_concat, *acc, agg) : datumCopy(agg, false, -1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
}


/*
 * Re-parent (or, for a preview, count) the rows of every reference.  The
 * depth counter keeps a cache invalidation arriving meanwhile from freeing
 * plans in use.
 */
static void
RunRefStatements(Datum *values, bool preview, int64 *moved, int64 *dropped, MergeRecord *rec)
{
	int			i,
				j;

	/* a preview writes nothing, on Citus neither: its moves are counts */
	if (preview)
		BeginMoving(DatumGetInt64(values[0]), DatumGetInt64(values[1]), false);
	else
		CrmMergeBeginMoving(DatumGetInt64(values[0]), DatumGetInt64(values[1]), false);
	PG_TRY();
	{
		if (!preview)
		{
			/* release the duplicate's unique keys before the survivor takes them */
			if (SPI_execute_plan(mark_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "crm merge: marking the duplicate failed");
			if (SPI_execute_plan(survivor_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "crm merge: updating the survivor failed");
		}
		for (i = 0; i < crm_merge_nrefs; i++)
		{
			ContactRef *ref = &crm_merge_refs[i];
			Datum		rows = (Datum) 0;

			for (j = 0; j < ref->nclashes; j++)
			{
				ClashRule  *rule = &ref->clashes[j];
				Datum		keys = (Datum) 0;

				if (preview)
					dropped[i] += rule->demote ? 0 : CountRows(rule->count_plan, values);
				else if (rule->demote)
				{
					(void) CrmMergeRunRecorded(rule->apply_plan, values, ref->label, &keys);
					CrmMergeRecordEntry(&rec->demoted, ref->label, rule->flag, keys, keys == (Datum) 0);
				}
				else
					dropped[i] += CrmMergeRunRecorded(rule->apply_plan, values, ref->label, &rows);
			}
			if (!preview)
				CrmMergeRecordEntry(&rec->dropped, ref->label, NULL, rows, rows == (Datum) 0);
			if (preview)
				moved[i] = CountRows(ref->count_plan, values) - dropped[i];
			else
			{
				Datum		keys = (Datum) 0;

				if (CrmMergeMovesAsOwner(ref))
				{
					CrmSavedUser saved;

					CrmBecomeOwner(CrmRelationOwner(ref->relid), &saved);
					moved[i] = CrmMergeRunRecorded(ref->move_plan, values, ref->label, &keys);
					CrmRestoreUser(&saved);
				}
				else
					moved[i] = CrmMergeRunRecorded(ref->move_plan, values, ref->label, &keys);
				CrmMergeRecordEntry(&rec->moved, ref->label, NULL, keys, keys == (Datum) 0);
			}
		}
		if (!preview)
			CrmMergeMovesDone();
	}
	PG_FINALLY();
	{
		CrmMergeEndMoving();
	}
	PG_END_TRY();
}

/* The contacts as rows (jsonb), before or after the merge */
static void
ContactsAsJsonb(Datum *values, Datum *survivor, Datum *duplicate)
{
	bool		isnull;

	if (SPI_execute_plan(snapshot_plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: reading the contacts failed");
	*survivor = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
	*duplicate = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull), false, -1);
}

/* How this merge came about: the caller says so, or the functions it runs in */
static const char *
MergeSource(void)
{
	char	   *stack;

	if (merge_source != NULL)
		return merge_source;
	stack = GetErrorContextStack();
	if (stack == NULL)
		return "explicit";
	if (strstr(stack, "import_contact") != NULL)
		return "import";
	if (strstr(stack, "update_contact") != NULL)
		return "email_change";
	if (strstr(stack, "bulk_") != NULL)
		return "bulk";
	return "explicit";
}

/* An empty record, its three objects opened */
void
CrmMergeRecordInit(MergeRecord *rec)
{
	initStringInfo(&rec->moved);
	initStringInfo(&rec->dropped);
	initStringInfo(&rec->demoted);
	appendStringInfoChar(&rec->moved, '{');
	appendStringInfoChar(&rec->dropped, '{');
	appendStringInfoChar(&rec->demoted, '{');
}

/*
 * The merge record (crm.merges) of either object type, written as its owner:
 * no granted role writes it.  The rows are jsonb: the loser as it was, the
 * survivor before and after (crm_internal.merge_overwritten keeps the fields
 * of the type that differ).  An install of 0.2.0, which runs this library
 * too, has no such table.
 */
void
CrmMergeRecordWrite(int64 ws, const char *object_type, const char *source, int64 survivor, int64 duplicate,
					Datum loser_row, Datum before_s, Datum after_s, Datum history, MergeRecord *rec)
{
	Oid			nsp = get_namespace_oid("crm", false);
	Oid			relid = get_relname_relid("merges", nsp);
	Oid			argtypes[12] = {INT8OID, INT8OID, INT8OID, TEXTOID, JSONBOID, JSONBOID, JSONBOID,
	JSONBOID, JSONBOID, JSONBOID, JSONBOID, TEXTOID};
	Datum		values[12];
	CrmSavedUser saved;

	if (!OidIsValid(relid))
		return;
	appendStringInfoChar(&rec->moved, '}');
	appendStringInfoChar(&rec->dropped, '}');
	appendStringInfoChar(&rec->demoted, '}');
	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(survivor);
	values[2] = Int64GetDatum(duplicate);
	values[3] = CStringGetTextDatum(source);
	values[4] = loser_row;
	values[5] = before_s;
	values[6] = after_s;
	values[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->moved.data));
	values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->dropped.data));
	values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->demoted.data));
	values[10] = history;
	if (history == (Datum) 0)
		values[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum("[]"));
	values[11] = CStringGetTextDatum(object_type);

	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	if (record_plan == NULL)
		record_plan = PrepareKept("INSERT INTO crm.merges (workspace_id, object_type, survivor_id, loser_id, source,"
								  "                        loser_row, overwritten, moved, dropped, demoted, history, actor)"
								  " VALUES ($1, $12, $2, $3, $4, $5, crm_internal.merge_overwritten($12, $6, $7),"
								  "         $8, $9, $10, $11, crm.current_actor())",
								  12, argtypes);
	if (SPI_execute_plan(record_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "crm merge: writing the merge record failed");
	CrmRestoreUser(&saved);
}

/* A contact merge's record: the survivor as the merge left it */
static void
WriteMergeRecord(int64 ws, int64 survivor, int64 duplicate, Datum before_s, Datum before_d,
				 Datum history, MergeRecord *rec)
{
	Datum		values[3];
	Datum		after_s,
				after_d;

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(survivor);
	values[2] = Int64GetDatum(duplicate);
	ContactsAsJsonb(values, &after_s, &after_d);
	CrmMergeRecordWrite(ws, "contact", MergeSource(), survivor, duplicate, before_d, before_s, after_s,
						history, rec);
}

/*
 * The one code path of merge and preview: with preview set it counts what
 * would move and returns the report without writing.
 */
static Datum
MergeContacts(int64 survivor, int64 duplicate, bool preview)
{
	int64		ws = CrmCurrentWorkspace();
	Datum		values[4];
	bool		isnull;
	Datum		merged;
	int64	   *moved;
	int64	   *dropped;
	StringInfoData report;
	Datum		result;
	Datum		before_s = (Datum) 0,
				before_d = (Datum) 0,
				history = (Datum) 0;
	MergeRecord rec;

	if (survivor == duplicate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge contact " INT64_FORMAT " into itself", survivor),
				 errhint("Pass two different contact ids: the survivor first, then the duplicate.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm merge: SPI_connect failed");
	CrmMergePrepare();

	CheckMergeable(ws, survivor);
	CheckMergeable(ws, duplicate);

	if (!preview)
	{
		CrmMergeLockShared(ws);
		if (!LockPair(ws, &survivor, &duplicate))
		{
			SPI_finish();
			return Int64GetDatum(survivor);
		}
	}

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(survivor);
	values[2] = Int64GetDatum(duplicate);
	/*
	 * Not read-only: a fresh snapshot, so that the merged record takes the
	 * rows as LockPair found them after waiting for a writer of either one
	 * (the statement's snapshot predates that writer's commit).
	 */
	if (SPI_execute_plan(merged_plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: computing the merged record failed");
	merged = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	values[3] = merged;

	moved = palloc0(sizeof(int64) * Max(crm_merge_nrefs, 1));
	dropped = palloc0(sizeof(int64) * Max(crm_merge_nrefs, 1));
	CrmMergeRecordInit(&rec);

	/*
	 * The duplicate's history first: the survivor's update below then finds
	 * it in place, for the dynamic lists that ask EVER.
	 */
	if (!preview)
	{
		ContactsAsJsonb(values, &before_s, &before_d);
		history = CrmHistoryMerge(ws, survivor, duplicate);
		if (history != (Datum) 0)
			history = datumCopy(history, false, -1);
	}
	RunRefStatements(values, preview, moved, dropped, &rec);

	initStringInfo(&report);
	appendStringInfo(&report, "{\"survivor\": " INT64_FORMAT ", \"duplicate\": " INT64_FORMAT,
					 survivor, duplicate);
	AppendCounts(&report, "moved", moved);
	AppendCounts(&report, "dropped", dropped);

	if (preview)
	{
		char	   *mtext = JsonbToCString(NULL, &DatumGetJsonbP(merged)->root, 0);

		appendStringInfo(&report, ", \"merged\": %s}", mtext);
		{
			/* built in the SPI context: copy it out before SPI_finish */
			Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data)));
			Jsonb	   *copy = SPI_palloc(VARSIZE(jb));

			memcpy(copy, jb, VARSIZE(jb));
			result = JsonbPGetDatum(copy);
		}
		SPI_finish();
		return result;
	}

	WriteMergeRecord(ws, survivor, duplicate, before_s, before_d, history, &rec);
	appendStringInfoChar(&report, '}');
	values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data));

	/*
	 * No recount here: moving the conversations fired their statement
	 * trigger, which recounted both contacts, and a duplicate without
	 * conversations changes no counter.
	 */
	if (SPI_execute_plan(activity_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "crm merge: writing the merged activity failed");
	CrmEmitEvent(ws, "CRM_CONTACT_MERGED", "contact", survivor, values[3]);
	SPI_finish();
	return Int64GetDatum(survivor);
}

static void
CheckArgs(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("contact ids must not be null"),
				 errhint("Pass the survivor's id first, then the duplicate's.")));
}

/* A merge is re-parenting rows: contact_rules.c lets it, and only it, set merged */
bool
CrmMergeInProgress(void)
{
	return merge_depth > 0;
}

/* An unmerge restores a merged contact: contact_rules.c lets it, and only it, make one live */
bool
CrmUnmergeInProgress(void)
{
	return merge_depth > 0 && unmerging;
}

/*
 * Rows moving onto a contact: the follow trigger lets rows written for it
 * through, and the contact rules let the statuses change.  Nests: the depth
 * keeps a cache invalidation arriving meanwhile from freeing plans in use.
 */
static void
BeginMoving(int64 ws, int64 to, bool unmerge)
{
	merge_depth++;
	moving_ws = ws;
	moving_to = to;
	unmerging = unmerge;
}

void
CrmMergeEndMoving(void)
{
	merge_depth--;
	moving_ws = moving_to = 0;
	unmerging = false;
}

/*
 * On Citus those triggers fire in a worker's backend: the merge marks it
 * through a row of crm_internal.merge_moves (sql/merge.sql), written as the
 * table's owner in the workspace's shard group.  Inside SPI.
 */
static void
MarkMoves(int64 ws, int64 to, bool unmerge, bool begin)
{
	static SPIPlanPtr insert_plan = NULL;
	static SPIPlanPtr delete_plan = NULL;
	Oid			argtypes[3] = {INT8OID, INT8OID, BOOLOID};
	Datum		values[3] = {Int64GetDatum(ws), Int64GetDatum(to), BoolGetDatum(unmerge)};
	Oid			relid = get_relname_relid("merge_moves", get_namespace_oid("crm_internal", false));
	CrmSavedUser saved;
	int			ret;

	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	if (insert_plan == NULL)
	{
		insert_plan = PrepareKept("INSERT INTO crm_internal.merge_moves (workspace_id, moving_to, unmerge)"
								  " VALUES ($1, $2, $3)", 3, argtypes);
		delete_plan = PrepareKept("DELETE FROM crm_internal.merge_moves"
								  " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND moving_to OPERATOR(pg_catalog.=) $2",
								  2, argtypes);
	}
	ret = SPI_execute_plan(begin ? insert_plan : delete_plan, values, NULL, false, 0);
	CrmRestoreUser(&saved);
	if (ret != (begin ? SPI_OK_INSERT : SPI_OK_DELETE))
		elog(ERROR, "crm merge: marking the merge on the workspace's shards failed");
}

/* Whether this database's contacts are distributed: the merge marks its shards */
static bool
MovesOnCitus(void)
{
	return CrmIsCitusTable(get_relname_relid("contacts", get_namespace_oid("crm", false)));
}

/*
 * Whether the merge marks the worker's backend: on the coordinator, whose
 * writes run there.  A merge running on a worker (CrmMergeOnWorker) writes
 * the shards of this backend's node itself, and marks only itself.
 */
static bool
MarksWorker(void)
{
	return MovesOnCitus() && CrmCitusIsCoordinator();
}

void
CrmMergeBeginMoving(int64 ws, int64 to, bool unmerge)
{
	if (MarksWorker())
		MarkMoves(ws, to, unmerge, true);
	BeginMoving(ws, to, unmerge);
}

/* The moves are done: before CrmMergeEndMoving, on success only (inside SPI) */
void
CrmMergeMovesDone(void)
{
	if (MarksWorker())
		MarkMoves(moving_ws, moving_to, unmerging, false);
}

/*
 * The merges a worker's backend runs for a coordinator, marked by rows of
 * crm_internal.merge_moves: the subtransaction of each, so that its abort,
 * and the transaction's end, end the moves its row began.
 */
#define MAX_REMOTE_MOVES 8
static SubTransactionId remote_moves[MAX_REMOTE_MOVES];
static int	remote_nmoves = 0;
static bool remote_callbacks = false;

static void
EndRemoteMoves(int keep)
{
	while (remote_nmoves > keep)
	{
		remote_nmoves--;
		CrmMergeEndMoving();
	}
}

static void
RemoteMovesXact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		EndRemoteMoves(0);
}

static void
RemoteMovesSubXact(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int			keep = remote_nmoves;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (keep > 0 && remote_moves[keep - 1] >= mySubid)
		keep--;
	EndRemoteMoves(keep);
}

Datum
crm_merge_moving(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("merge_moving: must be fired after insert or delete, for each row")));
	/* the merging backend marked itself already */
	if (merge_depth > remote_nmoves)
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		/* a row this backend's transaction did not mark ends nothing */
		if (remote_nmoves > 0)
			EndRemoteMoves(remote_nmoves - 1);
		return PointerGetDatum(NULL);
	}
	if (remote_nmoves == MAX_REMOTE_MOVES)
		elog(ERROR, "merge_moving: too many merges nested");
	if (!remote_callbacks)
	{
		RegisterXactCallback(RemoteMovesXact, NULL);
		RegisterSubXactCallback(RemoteMovesSubXact, NULL);
		remote_callbacks = true;
	}
	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	remote_moves[remote_nmoves++] = GetCurrentSubTransactionId();
	BeginMoving(DatumGetInt64(heap_getattr(tuple, 1, desc, &isnull)),
				DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull)),
				DatumGetBool(heap_getattr(tuple, 3, desc, &isnull)));
	return PointerGetDatum(NULL);
}

/* Inside SPI: the fixed statements and the reference cache, up to date */
void
CrmMergePrepare(void)
{
	PrepareFixedPlans();
	if (!refs_complete || (!refs_valid && merge_depth == 0))
		BuildRefCache();
}

/*
 * The transaction-level lock of a workspace's merges.  Contact merges share
 * it and serialise only on the contact rows they lock (LockPair); company
 * merges and unmerges take it exclusively, so they run alone and an unmerge
 * sees every merge that took it before.
 */
static void
MergeLock(int64 ws, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) ws >> 32), (uint32) ws, MERGE_LOCK_FIELD4);
	(void) LockAcquire(&tag, mode, false, false);
}

void
CrmMergeLock(int64 ws)
{
	MergeLock(ws, ExclusiveLock);
}

void
CrmMergeLockShared(int64 ws)
{
	MergeLock(ws, ShareLock);
}

/* The survivor update (values[3] the row as jsonb) */
SPIPlanPtr
CrmMergeSurvivorPlan(void)
{
	return survivor_plan;
}


/* Merge for C callers (crm.identify); returns the survivor */
int64
CrmMergeContacts(int64 survivor, int64 duplicate)
{
	int64		result;

	/* on a Citus coordinator, a role other than the owner's on the worker (CrmMergeOnWorker) */
	if (CrmMergeOnWorker())
	{
		Datum		merged = CrmMergeRouted("SELECT crm_hidden.identify_merge_in(c.workspace_id, $2, $3)"
											"  FROM crm.contacts c"
											" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
											3, CrmCurrentWorkspace(), survivor, duplicate, INT8OID);

		if (merged == (Datum) 0)
			elog(ERROR, "crm identify: contact " INT64_FORMAT " to merge into is gone", survivor);
		return DatumGetInt64(merged);
	}
	merge_source = "identify";
	PG_TRY();
	{
		result = DatumGetInt64(MergeContacts(survivor, duplicate, false));
	}
	PG_FINALLY();
	{
		merge_source = NULL;
	}
	PG_END_TRY();
	return result;
}

/*
 * On a Citus coordinator, whether a merge runs on the workspace's worker:
 * when the caller is not the extension's owner.  Run from here, the merge
 * writes its mark and record as the owner, through a connection of the
 * owner's, and Citus refuses the caller's writes to a shard group another
 * user wrote in the transaction; on the worker, in the backend of the
 * caller's connection, they are local.
 */
bool
CrmMergeOnWorker(void)
{
	return CrmCitusIsCoordinator() && MovesOnCitus() && !superuser() &&
		GetUserId() != CrmRelationOwner(get_relname_relid("merge_moves", get_namespace_oid("crm_internal", false)));
}

/*
 * Whether a merge or unmerge running on a Citus worker moves the rows of
 * ref as their table's owner: when the caller may not update the column
 * (crm.contact_stage_history's, which a merge moves under a column grant
 * that Citus sends to no worker nor shard).  The merge's checks ran as
 * the caller; on one node the column grant gives the same.  A company
 * unmerge's references name no table (relid unset): the caller moves them
 * under its table grants, which Citus sends to the shards.
 */
bool
CrmMergeMovesAsOwner(const ContactRef *ref)
{
	return OidIsValid(ref->relid) && !CrmCitusIsCoordinator() && MovesOnCitus() &&
		pg_attribute_aclcheck(ref->relid, ref->idatt, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
		pg_class_aclcheck(ref->relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK;
}

/*
 * Sends sql, a SELECT of one row keyed by ($1 workspace, $2 id; $3 other
 * when nargs is 3) that calls
 * a function of its workspace_id column, to the workspace's worker (Citus
 * routes it by the key and runs the function there); the value it returns,
 * or NULL when no row has the key.
 */
Datum
CrmMergeRouted(const char *sql, int nargs, int64 ws, int64 id, int64 other, Oid result_type)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(ws), Int64GetDatum(id), Int64GetDatum(other)};
	Datum		result = (Datum) 0;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm merge: SPI_connect failed");
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: running the merge on the workspace's worker failed");
	if (SPI_processed == 1)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, result_type == INT8OID ? FLOAT8PASSBYVAL : false,
									   result_type == INT8OID ? 8 : -1);
		else
			result = (Datum) 0;
	}
	SPI_finish();
	return result;
}

/* The workspace's id argument, which a merge run on a worker must be the request's */
int64
CrmMergeWorkspaceArg(FunctionCallInfo fcinfo)
{
	int64		ws = CrmCurrentWorkspace();

	if (PG_ARGISNULL(0) || PG_GETARG_INT64(0) != ws)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workspace %s is not the request's workspace " INT64_FORMAT,
						PG_ARGISNULL(0) ? "NULL" : psprintf(INT64_FORMAT, PG_GETARG_INT64(0)), ws),
				 errhint("On Citus, merge in a transaction block (BEGIN ... COMMIT, as PostgREST and PostGraphile make each request): the coordinator gives the workers the request's workspace there.")));
	return ws;
}

Datum
crm_merge_contacts(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	if (CrmMergeOnWorker() && PG_GETARG_INT64(0) != PG_GETARG_INT64(1))
	{
		int64		ws = CrmCurrentWorkspace();
		Datum		survivor = CrmMergeRouted("SELECT crm_hidden.merge_contacts_in(c.workspace_id, $2, $3)"
											  "  FROM crm.contacts c"
											  " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
											  3, ws, PG_GETARG_INT64(0), PG_GETARG_INT64(1), INT8OID);

		if (survivor == (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("contact " INT64_FORMAT " does not exist", PG_GETARG_INT64(0)),
					 errhint("Check the id; contacts of other workspaces are not visible here.")));
		return survivor;
	}
	return MergeContacts(PG_GETARG_INT64(0), PG_GETARG_INT64(1), false);
}

/* The arguments of a merge sent to a Citus worker: (workspace_id, survivor, duplicate) */
static void
CheckWorkerMergeArgs(FunctionCallInfo fcinfo)
{
	(void) CrmMergeWorkspaceArg(fcinfo);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("contact ids must not be null"),
				 errhint("Pass the survivor's id first, then the duplicate's.")));
}

/* crm_hidden.merge_contacts_in(workspace_id, survivor, duplicate): crm.merge_contacts on a Citus worker */
Datum
crm_merge_contacts_in(PG_FUNCTION_ARGS)
{
	CheckWorkerMergeArgs(fcinfo);
	return MergeContacts(PG_GETARG_INT64(1), PG_GETARG_INT64(2), false);
}

/* crm_hidden.identify_merge_in(workspace_id, survivor, duplicate): crm.identify's merge on a Citus worker */
Datum
crm_identify_merge_in(PG_FUNCTION_ARGS)
{
	CheckWorkerMergeArgs(fcinfo);
	return Int64GetDatum(CrmMergeContacts(PG_GETARG_INT64(1), PG_GETARG_INT64(2)));
}

Datum
crm_merge_preview(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	return MergeContacts(PG_GETARG_INT64(0), PG_GETARG_INT64(1), true);
}

/* ----------------------------------------------------------------
 * Triggers
 * ----------------------------------------------------------------
 */

Datum
crm_contact_references_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("contact_references_changed: not called by trigger manager")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

Datum
crm_follow_merged_contact(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			idatt;
	int			wsatt;
	bool		isnull;
	int64		ws;
	int64		id;
	int64		start;
	int			hops;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("follow_merged_contact: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("follow_merged_contact: must be fired before insert or update, for each row, with the contact column as argument")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	idatt = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
	wsatt = SPI_fnumber(desc, "workspace_id");
	if (idatt <= 0 || wsatt <= 0)
		elog(ERROR, "follow_merged_contact: column \"%s\" or workspace_id not found",
			 trigdata->tg_trigger->tgargs[0]);

	id = DatumGetInt64(heap_getattr(tuple, idatt, desc, &isnull));
	if (isnull)
		return PointerGetDatum(tuple);
	ws = DatumGetInt64(heap_getattr(tuple, wsatt, desc, &isnull));
	if (isnull)
		return PointerGetDatum(tuple);
	start = id;
	if (ws == moving_ws && id == moving_to)
		return PointerGetDatum(tuple);
	/*
	 * A dynamic list's members written by its re-evaluation: the filter saw
	 * the record live (scope) after it was locked, by the writer of the
	 * record or by the re-evaluation, so no merge can have moved it since.
	 */
	if (CrmListsWritingFilterMembers())
		return PointerGetDatum(tuple);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "follow_merged_contact: SPI_connect failed");
	if (follow_plan == NULL)
		/*
		 * A range on the id in its order: without statistics every index
		 * leading with workspace_id costs what the primary key does for an
		 * equality, and one of them would read the whole workspace; only the
		 * primary key returns the ids in order without a sort.
		 */
		follow_plan = PrepareKept("SELECT c.merged_into FROM crm.contacts c"
								  " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
								  "   AND c.id OPERATOR(pg_catalog.>=) $2 AND c.id OPERATOR(pg_catalog.<=) $2"
								  " ORDER BY c.id LIMIT 1 FOR KEY SHARE",
								  2, merge_argtypes);
	/* the key-share lock waits for a merge in progress and holds the survivor live */
	for (hops = 0; hops < 100; hops++)
	{
		Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
		Datum		next;

		/* by the primary key even when the plan was kept from an empty table */
		if (CrmExecuteByIndex(follow_plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "follow_merged_contact: lookup failed");
		if (SPI_processed == 0)
			break;				/* the foreign key check reports it */
		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			break;
		id = DatumGetInt64(next);
	}
	SPI_finish();

	if (id != start)
	{
		Datum		v = Int64GetDatum(id);
		bool		n = false;

		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &idatt, &v, &n);
		CrmCheckDefined(tuple->t_data, tuple->t_len);
	}
	return PointerGetDatum(tuple);
}
