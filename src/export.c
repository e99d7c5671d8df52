/*-------------------------------------------------------------------------
 *
 * export.c
 *	  crm_export_rows(entity, query), declared as crm_hidden.export_contact_rows,
 *	  export_company_rows, export_deal_rows and export_order_rows: the rows
 *	  crm.export_contacts, export_companies, export_deals and export_orders
 *	  return, streamed.
 *
 *	  A set-returning function in FROM is materialised into a tuplestore
 *	  whatever its mode, so the API functions are SQL functions that the
 *	  planner inlines and that call this one in their select list, where a
 *	  value-per-call function is asked for one row at a time.  It runs the
 *	  CQL query, translated as crm.find_* translate it, through an SPI
 *	  cursor and fetches it in batches: memory holds one batch, whatever
 *	  the number of rows.  Each row is built by the SQL function
 *	  crm_hidden.<entity>_export_row(row), which the planner inlines too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "crm.h"
#include "cql_sql.h"

/* rows fetched at a time: enough to amortise the SPI round trip */
#define EXPORT_BATCH 500

extern Datum crm_require_switch(PG_FUNCTION_ARGS);

PG_FUNCTION_INFO_V1(crm_export_rows);

typedef struct ExportState
{
	char	   *portal;			/* the cursor's name */
	MemoryContext batch_context;	/* the batch fetched last */
	HeapTuple  *rows;
	uint64		nrows;
	uint64		next;
	TupleDesc	desc;			/* the function's row type */
	ExprContext *econtext;		/* where CloseCursor is registered */
	bool		done;
} ExportState;

/* an entity's row builder, named for the export function's row type */
static const char *
RowFunction(const char *entity)
{
	if (strcmp(entity, "contact") == 0)
		return "crm_hidden.contact_export_row";
	if (strcmp(entity, "company") == 0)
		return "crm_hidden.company_export_row";
	if (strcmp(entity, "deal") == 0)
		return "crm_hidden.deal_export_row";
	if (strcmp(entity, "order") == 0)
		return "crm_hidden.order_export_row";
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown export entity \"%s\"", entity),
			 errhint("Exports are crm.export_contacts, export_companies, export_deals and export_orders.")));
	return NULL;				/* keep the compiler quiet */
}

/* a query left unfinished (LIMIT) closes its cursor at once */
static void
CloseCursor(Datum arg)
{
	Portal		portal = SPI_cursor_find((const char *) DatumGetPointer(arg));

	if (portal)
		SPI_cursor_close(portal);
}

static void
OpenCursor(FuncCallContext *funcctx, ReturnSetInfo *rsinfo, const char *entity, text *query)
{
	ExportState *st = palloc0(sizeof(ExportState));
	const char *row_function = RowFunction(entity);
	const char *table;
	const char *alias;
	char	   *where;
	char	   *sql;
	Portal		portal;
	TupleDesc	desc;
	int			nestlevel;

	st->desc = funcctx->tuple_desc;
	st->batch_context = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "crm export batch",
											  ALLOCSET_DEFAULT_SIZES);
	/*
	 * The API function has no SET clause, which would keep the planner from
	 * inlining it: the query is translated and planned under the pinned path.
	 */
	nestlevel = CrmPinSearchPath();

	/*
	 * No JIT: the cursor's cost counts every row the query may return, so
	 * even a batch of 1,000 (an export job's, or a LIMIT) paid 0.6-2 s of
	 * compilation, and a whole export ran slower with it than without.
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	where = CrmCqlWhere(entity, VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query), &table, &alias);
	sql = psprintf("SELECT x.* FROM %s CROSS JOIN LATERAL %s(%s) x WHERE %s ORDER BY %s.id",
				   table, row_function, alias, where, alias);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, CURSOR_OPT_NO_SCROLL);
	CrmRestoreSearchPath(nestlevel);
	desc = portal->tupDesc;
	/* the row builder's columns are the function's: checked once */
	if (convert_tuples_by_position(desc, st->desc, "export rows do not match the function's row type") != NULL)
		elog(ERROR, "export rows of %s need a conversion", entity);
	st->portal = MemoryContextStrdup(funcctx->multi_call_memory_ctx, portal->name);
	SPI_finish();

	st->econtext = rsinfo->econtext;
	RegisterExprContextCallback(st->econtext, CloseCursor, PointerGetDatum(st->portal));
	funcctx->user_fctx = st;
}

/* the next batch into st->rows; false at the end */
static bool
FetchBatch(ExportState *st)
{
	Portal		portal;
	MemoryContext old;

	MemoryContextReset(st->batch_context);
	st->rows = NULL;
	st->nrows = st->next = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_find(st->portal);
	if (portal == NULL)
		elog(ERROR, "export cursor \"%s\" is gone", st->portal);
	SPI_cursor_fetch(portal, true, EXPORT_BATCH);
	old = MemoryContextSwitchTo(st->batch_context);
	st->nrows = SPI_processed;
	if (st->nrows > 0)
	{
		st->rows = palloc(st->nrows * sizeof(HeapTuple));
		for (uint64 i = 0; i < st->nrows; i++)
			st->rows[i] = heap_copytuple(SPI_tuptable->vals[i]);
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	return st->nrows > 0;
}

/*
 * export_<entity>_rows(entity, query) RETURNS SETOF crm.<entity>_export: value per call,
 * so that a caller's select list streams it.  The export switch and the
 * query's errors are raised at the first call, before any row.
 */
Datum
crm_export_rows(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ExportState *st;

	if (SRF_IS_FIRSTCALL())
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		char	   *entity;
		MemoryContext old;
		TupleDesc	desc;

		if (PG_ARGISNULL(0))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("export entity must not be NULL"),
					 errhint("Call crm.export_contacts, export_companies, export_deals or export_orders.")));
		entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
		DirectFunctionCall1(crm_require_switch, CStringGetTextDatum("export"));
		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "export_rows must return a row type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		OpenCursor(funcctx, rsinfo, entity,
				   PG_ARGISNULL(1) ? cstring_to_text("") : PG_GETARG_TEXT_PP(1));
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = (ExportState *) funcctx->user_fctx;

	if (!st->done && st->next >= st->nrows && !FetchBatch(st))
	{
		st->done = true;
		UnregisterExprContextCallback(st->econtext, CloseCursor, PointerGetDatum(st->portal));
		CloseCursor(PointerGetDatum(st->portal));
	}
	if (st->done)
		SRF_RETURN_DONE(funcctx);
	/* a composite datum of the function's type, in the caller's context */
	SRF_RETURN_NEXT(funcctx, heap_copy_tuple_as_datum(st->rows[st->next++], st->desc));
}
