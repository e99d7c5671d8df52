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
 *	  the number of rows.  The cursor's statement builds each row itself
 *	  (RowSql), naming the workspace as a constant, so that Citus sends it
 *	  whole to the workspace's worker (docs/scaling.md).
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

/*
 * The declared keys of an entity's properties (an uncorrelated subquery,
 * read once per statement), and the undeclared ones.  No set-returning
 * function in FROM per row (jsonb_each): a rescanned Function Scan keeps a
 * tuple descriptor per call in the query's memory, 100 MB over 200k rows.
 */
#define DECLARED(alias, type) \
	"ARRAY(SELECT k.key FROM crm.property_definitions k" \
	" WHERE k.workspace_id = %1$s AND k.object_type = '" type "')"
#define PROPERTIES(alias, type) \
	alias ".properties - ARRAY(SELECT jsonb_object_keys(" alias ".properties - " DECLARED(alias, type) "))"
#define METADATA(alias, type) \
	alias ".properties - " DECLARED(alias, type)

/*
 * An entity's export row: its select list in the row type's order, with
 * what it joins.  Every subquery names the workspace (%1$s) as a constant
 * rather than correlating with the row's: Citus sends the whole statement
 * to the workspace's worker only when each table in it is bound to the
 * workspace by a constant (a function in FROM, which one node would inline,
 * Citus sends as a call).  The aliases are the CQL entities'.
 */
static const char *
RowSql(const char *entity)
{
	if (strcmp(entity, "contact") == 0)
		return "contacts.id, contacts.name, contacts.email, contacts.phone, contacts.identifier,"
			" contacts.verified_id, contacts.identity_source, contacts.avatar_url, contacts.city,"
			" contacts.country, contacts.lifecycle_stage, contacts.status, contacts.merged_into,"
			" contacts.owner, contacts.blocked, contacts.tags, contacts.conversation_count,"
			" (SELECT count(*) FROM crm.activities a WHERE a.workspace_id = %1$s AND a.contact_id = contacts.id),"
			" pc.id, pc.name, contacts.first_seen_at, contacts.last_seen_at, contacts.created_at,"
			" contacts.updated_at, contacts.deleted_at, "
			PROPERTIES("contacts", "contact") ", " METADATA("contacts", "contact") ","
			" contacts.street, contacts.address_line2, contacts.region, contacts.postal_code,"
			" contacts.linkedin, contacts.x, contacts.instagram, contacts.facebook, contacts.github, contacts.website"
			" FROM crm.contacts contacts"
		/* the companies module off: no primary company, rather than 0A000 */
			" LEFT JOIN LATERAL (SELECT co.id, co.name FROM crm.contact_companies cc"
			"  JOIN crm.companies co ON co.workspace_id = %1$s AND co.id = cc.company_id"
			"  WHERE NOT EXISTS (SELECT FROM crm.workspace_modules m"
			"   WHERE m.workspace_id = %1$s AND m.module = 'companies' AND NOT m.enabled)"
			"  AND cc.workspace_id = %1$s AND cc.contact_id = contacts.id AND cc.is_primary) pc ON true";
	if (strcmp(entity, "company") == 0)
		return "companies.id, companies.name, companies.domain, companies.industry, companies.employees,"
			" companies.plan, companies.spend, companies.description, companies.owner, companies.tags,"
			" (SELECT count(*) FROM crm.contact_companies cc WHERE cc.workspace_id = %1$s AND cc.company_id = companies.id),"
			" companies.created_at, companies.updated_at, "
			PROPERTIES("companies", "company") ", " METADATA("companies", "company")
			" FROM crm.companies companies";
	if (strcmp(entity, "deal") == 0)
		return "deals.id, deals.title, deals.pipeline_id, p.name, deals.stage_id, s.name, deals.contact_id,"
			" deals.company_id, deals.owner, deals.team, deals.priority, deals.value, deals.currency,"
			" deals.value_mode, deals.expected_close_date, deals.status, deals.closed_at, deals.lost_reason,"
			" deals.won_reason, deals.stage_entered_at, deals.probability_override, deals.forecast_category_override,"
			" (SELECT count(*) FROM crm.notes n WHERE n.workspace_id = %1$s AND n.deal_id = deals.id),"
			" (SELECT count(*) FROM crm.attachments a WHERE a.workspace_id = %1$s AND a.deal_id = deals.id),"
			" deals.created_at, deals.updated_at, "
			PROPERTIES("deals", "deal") ", " METADATA("deals", "deal")
			" FROM crm.deals deals"
			" JOIN crm.pipelines p ON p.workspace_id = %1$s AND p.id = deals.pipeline_id"
			" JOIN crm.stages s ON s.workspace_id = %1$s AND s.id = deals.stage_id";
	if (strcmp(entity, "order") == 0)
		return "orders.id, orders.contact_id, orders.deal_id, orders.title, orders.value, orders.currency,"
			" orders.status, orders.source, orders.external_id, orders.order_date, orders.paid_date,"
			" orders.created_at, orders.updated_at, "
			PROPERTIES("orders", "order") ", " METADATA("orders", "order") ", orders.company_id"
			" FROM crm.orders orders";
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
	const char *row_sql = RowSql(entity);
	const char *table;
	const char *alias;
	char	   *where;
	char	   *ws;
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
	ws = psprintf(INT64_FORMAT "::bigint", CrmCurrentWorkspace());
	sql = psprintf("SELECT %s WHERE %s ORDER BY %s.id", psprintf(row_sql, ws), where, alias);

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
