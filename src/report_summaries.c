/*-------------------------------------------------------------------------
 *
 * report_summaries.c
 *	  The summaries behind the crm_report time series, kept exact at commit
 *	  by statement triggers, and the test of whether a query may read them:
 *	  deals created, won and lost per UTC day, pipeline, owner and currency
 *	  (crm_internal.report_deal_days, on crm.deals) and contacts per UTC
 *	  day first seen and source (crm_internal.report_contact_days, on
 *	  crm.contacts) and orders per UTC day of order date and currency
 *	  (crm_internal.report_order_days, on crm.orders).  Each summary is a ReportSummary: its SQL and the
 *	  columns it reads; the machinery below is shared.
 *
 * One pass per statement.  The trigger adds the statement's new rows and
 * subtracts its old ones, netted by key, and upserts the deltas with
 * INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n: two writers of
 * the same day and pipeline wait on the row and both count.  A statement
 * of a few rows (a frontend's row write, a function's) is netted in C and
 * upserted key by key; a larger one in one aggregate query over its
 * transition tables; an UPDATE that changes no column the summary reads
 * does nothing.  Both upsert in the same key order, so two multi-key
 * statements cannot deadlock on the summary.  A row that comes back all
 * zero is deleted, not left behind.
 *
 * A day is a UTC day, so the summaries answer a session whose TimeZone is
 * UTC; a reader in another zone, or one whom owner privacy restricts,
 * reads the facts (crm_internal.report_summarized()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_report_deals_summarize);
PG_FUNCTION_INFO_V1(crm_report_contacts_summarize);
PG_FUNCTION_INFO_V1(crm_report_orders_summarize);

/*
 * A summary: the aggregate upsert of a statement by operation (0 INSERT,
 * 1 UPDATE, 2 DELETE) over its transition tables, returning the tid of
 * each row it left at zero; the delete of such a row; the columns of the
 * base table its rows depend on; and, optionally, a small statement's
 * path netted in C (false: take the aggregate pass after all).
 */
typedef struct ReportSummary
{
	const char *name;
	const char *upsert_sql[3];
	const char *zero_sql;		/* NULL: a delta summary, compacted */
	const char *compact_sql[3];
	const char *truncate_sql;
	const char *const *columns;
	int			ncolumns;
	bool		(*upsert_small) (TriggerData *td);
	SPIPlanPtr	upsert_plans[3];
	SPIPlanPtr	compact_plans[3];
	SPIPlanPtr	zero_plan;
} ReportSummary;

static void DeleteZeroRows(ReportSummary *summary);
PG_FUNCTION_INFO_V1(crm_report_summarized);

/* A deal's events in a transition table, signed: +1 for new rows, -1 for old */
#define DEAL_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.created_at AT TIME ZONE 'UTC')::date AS day, t.pipeline_id, t.owner, t.currency," \
	" " sign "1 AS created, 0 AS won, 0 AS lost, 0::numeric AS won_value FROM " tab " t" \
	" UNION ALL SELECT t.workspace_id, (t.closed_at AT TIME ZONE 'UTC')::date, t.pipeline_id, t.owner, t.currency," \
	" 0, " sign "(t.status OPERATOR(pg_catalog.=) 'won')::integer, " sign "(t.status OPERATOR(pg_catalog.=) 'lost')::integer," \
	" CASE WHEN t.status OPERATOR(pg_catalog.=) 'won' THEN " sign "t.value ELSE 0 END FROM " tab " t" \
	" WHERE t.status OPERATOR(pg_catalog.<>) 'open' AND t.closed_at IS NOT NULL"

/*
 * An upsert returns the tid of each row it left all zero, to be deleted by
 * it: the summary has no index on its counts, so their updates stay HOT
 */
#define ZERO_CONDITION \
	"created OPERATOR(pg_catalog.=) 0 AND won OPERATOR(pg_catalog.=) 0 AND lost OPERATOR(pg_catalog.=) 0" \
	" AND won_value OPERATOR(pg_catalog.=) 0"
#define ZERO_ROW_RETURNING \
	" RETURNING CASE WHEN s.created OPERATOR(pg_catalog.=) 0 AND s.won OPERATOR(pg_catalog.=) 0" \
	" AND s.lost OPERATOR(pg_catalog.=) 0 AND s.won_value OPERATOR(pg_catalog.=) 0 THEN s.ctid END"

#define UPSERT_HEAD \
	"INSERT INTO crm_internal.report_deal_days AS s" \
	" (workspace_id, day, pipeline_id, owner, currency, created, won, lost, won_value)" \
	" SELECT d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency, pg_catalog.sum(d.created), pg_catalog.sum(d.won)," \
	" pg_catalog.sum(d.lost), pg_catalog.sum(d.won_value) FROM ("

#define UPSERT_TAIL \
	") d GROUP BY 1, 2, 3, 4, 5" \
	" HAVING pg_catalog.sum(d.created) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(d.won) OPERATOR(pg_catalog.<>) 0" \
	" OR pg_catalog.sum(d.lost) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(d.won_value) OPERATOR(pg_catalog.<>) 0" \
	" ORDER BY d.workspace_id, d.day, d.pipeline_id, d.owner COLLATE pg_catalog.\"C\", d.currency COLLATE pg_catalog.\"C\"" \
	" ON CONFLICT (workspace_id, day, pipeline_id, owner, currency) DO UPDATE" \
	" SET created = s.created OPERATOR(pg_catalog.+) excluded.created, won = s.won OPERATOR(pg_catalog.+) excluded.won," \
	" lost = s.lost OPERATOR(pg_catalog.+) excluded.lost, won_value = s.won_value OPERATOR(pg_catalog.+) excluded.won_value" \
	ZERO_ROW_RETURNING

/* The columns a deal's summary rows depend on */
static const char *const deal_columns[] = {
	"workspace_id", "created_at", "closed_at", "status", "pipeline_id", "owner", "currency", "value"
};

/* A small statement's deltas, netted and upserted one by one, in the same key order */
static const char upsert_one_sql[] =
	"INSERT INTO crm_internal.report_deal_days AS s"
	" (workspace_id, day, pipeline_id, owner, currency, created, won, lost, won_value)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" ON CONFLICT (workspace_id, day, pipeline_id, owner, currency) DO UPDATE"
	" SET created = s.created OPERATOR(pg_catalog.+) excluded.created, won = s.won OPERATOR(pg_catalog.+) excluded.won,"
	" lost = s.lost OPERATOR(pg_catalog.+) excluded.lost, won_value = s.won_value OPERATOR(pg_catalog.+) excluded.won_value"
	ZERO_ROW_RETURNING;
static SPIPlanPtr upsert_one_plan;

/* Statements of up to this many rows (old and new) are netted in C */
#define SMALL_STATEMENT 32

typedef struct DealDelta
{
	int64		ws;
	DateADT		day;
	int64		pipeline;
	Datum		owner;			/* text, or 0 for NULL */
	Datum		currency;		/* bpchar */
	int64		created;
	int64		won;
	int64		lost;
	Datum		won_value;		/* numeric */
} DealDelta;

typedef struct DeltaSet
{
	DealDelta	d[2 * SMALL_STATEMENT];
	int			n;
} DeltaSet;

/* The labels of a deal's status, looked up once per type */
static Oid	status_type = InvalidOid;
static Oid	status_won,
			status_lost,
			status_open;

static Oid
StatusLabel(Oid type, const char *label)
{
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid, ObjectIdGetDatum(type),
									  CStringGetDatum(label));

	if (!OidIsValid(oid))
		elog(ERROR, "report_deals_summarize: deal status has no label %s", label);
	return oid;
}

/* Text (or bpchar) datums: NULL last, then bytewise, as COLLATE "C" orders */
static int
CompareText(Datum a, Datum b)
{
	text	   *ta,
			   *tb;
	int			la,
				lb,
				c;

	if (a == 0 || b == 0)
		return (a == 0) - (b == 0);
	ta = DatumGetTextPP(a);
	tb = DatumGetTextPP(b);
	la = VARSIZE_ANY_EXHDR(ta);
	lb = VARSIZE_ANY_EXHDR(tb);
	c = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));
	return c != 0 ? c : (la > lb) - (la < lb);
}

static int
CompareDelta(const void *pa, const void *pb)
{
	const DealDelta *a = pa,
			   *b = pb;

	if (a->ws != b->ws)
		return a->ws < b->ws ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->pipeline != b->pipeline)
		return a->pipeline < b->pipeline ? -1 : 1;
	if (CompareText(a->owner, b->owner) != 0)
		return CompareText(a->owner, b->owner);
	return CompareText(a->currency, b->currency);
}

/* Adds one event to the set, netted with the same key's */
static void
AddDelta(DeltaSet *set, const DealDelta *e)
{
	DealDelta  *d = NULL;

	for (int i = 0; i < set->n && d == NULL; i++)
		if (CompareDelta(&set->d[i], e) == 0)
			d = &set->d[i];
	if (d == NULL)
	{
		d = &set->d[set->n++];
		*d = *e;
		return;
	}
	d->created += e->created;
	d->won += e->won;
	d->lost += e->lost;
	d->won_value = DirectFunctionCall2(numeric_add, d->won_value, e->won_value);
}

/* The UTC day of a finite timestamptz */
static DateADT
UtcDay(TimestampTz ts)
{
	int64		day = ts / USECS_PER_DAY;

	if (ts < 0 && ts % USECS_PER_DAY != 0)
		day--;
	return (DateADT) day;
}

/*
 * The events of a transition table's rows, signed, into the set; false
 * when a row has a time the SQL path must cut (an infinite one).
 */
static bool
CollectDeltas(TriggerData *td, Tuplestorestate *ts, int sign, DeltaSet *set)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int			a[lengthof(deal_columns)];
	Datum		zero = NumericGetDatum(int64_to_numeric(0));
	bool		ok = true;

	for (int i = 0; i < lengthof(deal_columns); i++)
		a[i] = SPI_fnumber(desc, deal_columns[i]);
	if (status_type != TupleDescAttr(desc, a[3] - 1)->atttypid)
	{
		Oid			type = TupleDescAttr(desc, a[3] - 1)->atttypid;

		status_won = StatusLabel(type, "won");
		status_lost = StatusLabel(type, "lost");
		status_open = StatusLabel(type, "open");
		status_type = type;
	}
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
	while (ok && tuplestore_gettupleslot(ts, true, false, slot))
	{
		DealDelta	e;
		bool		isnull,
					closed_null;
		TimestampTz created_at = DatumGetTimestampTz(slot_getattr(slot, a[1], &isnull));
		TimestampTz closed_at = DatumGetTimestampTz(slot_getattr(slot, a[2], &closed_null));
		Oid			status = DatumGetObjectId(slot_getattr(slot, a[3], &isnull));

		if (TIMESTAMP_NOT_FINITE(created_at) || (!closed_null && TIMESTAMP_NOT_FINITE(closed_at)))
		{
			ok = false;
			break;
		}
		e.ws = DatumGetInt64(slot_getattr(slot, a[0], &isnull));
		e.pipeline = DatumGetInt64(slot_getattr(slot, a[4], &isnull));
		e.owner = slot_getattr(slot, a[5], &isnull);
		e.owner = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(e.owner));
		e.currency = PointerGetDatum(PG_DETOAST_DATUM_COPY(slot_getattr(slot, a[6], &isnull)));
		e.day = UtcDay(created_at);
		e.created = sign;
		e.won = e.lost = 0;
		e.won_value = zero;
		AddDelta(set, &e);
		if (status != status_open && !closed_null)
		{
			e.day = UtcDay(closed_at);
			e.created = 0;
			e.won = status == status_won ? sign : 0;
			e.lost = status == status_lost ? sign : 0;
			if (status == status_won)
			{
				e.won_value = datumCopy(slot_getattr(slot, a[7], &isnull), false, -1);
				if (sign < 0)
					e.won_value = DirectFunctionCall1(numeric_uminus, e.won_value);
			}
			AddDelta(set, &e);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return ok;
}

/* Deletes the rows the upsert just brought to zero (tids in the result; NULL for the others) */
static void
DeleteZeroRows(ReportSummary *summary)
{
	SPITupleTable *result = SPI_tuptable;
	uint64		n = SPI_processed;

	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		tid = SPI_getbinval(result->vals[i], result->tupdesc, 1, &isnull);

		if (isnull)
			continue;
		if (summary->zero_plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(summary->zero_sql, 1, (Oid[]) {TIDOID});

			if (plan == NULL)
				elog(ERROR, "%s: %s", summary->name, SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			summary->zero_plan = plan;
		}
		if (SPI_execute_plan(summary->zero_plan, &tid, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "%s: delete failed", summary->name);
	}
}

static ReportSummary deal_summary;

/* Upserts a small statement's netted deltas */
static void
UpsertDeltas(DeltaSet *set)
{
	Datum		zero = NumericGetDatum(int64_to_numeric(0));

	if (upsert_one_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(upsert_one_sql, 9, (Oid[]) {INT8OID, DATEOID, INT8OID, TEXTOID,
			BPCHAROID, INT8OID, INT8OID, INT8OID, NUMERICOID});

		if (plan == NULL)
			elog(ERROR, "report_deals_summarize: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		upsert_one_plan = plan;
	}
	qsort(set->d, set->n, sizeof(DealDelta), CompareDelta);
	for (int i = 0; i < set->n; i++)
	{
		DealDelta  *d = &set->d[i];
		Datum		values[9];
		char		nulls[9] = "         ";

		if (d->created == 0 && d->won == 0 && d->lost == 0 &&
			DatumGetInt32(DirectFunctionCall2(numeric_cmp, d->won_value, zero)) == 0)
			continue;
		values[0] = Int64GetDatum(d->ws);
		values[1] = DateADTGetDatum(d->day);
		values[2] = Int64GetDatum(d->pipeline);
		values[3] = d->owner;
		nulls[3] = d->owner == 0 ? 'n' : ' ';
		values[4] = d->currency;
		values[5] = Int64GetDatum(d->created);
		values[6] = Int64GetDatum(d->won);
		values[7] = Int64GetDatum(d->lost);
		values[8] = d->won_value;
		if (SPI_execute_plan(upsert_one_plan, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "report_deals_summarize: upsert failed");
		DeleteZeroRows(&deal_summary);
	}
}

/* A small statement on crm.deals netted in C; false when it has an infinite time */
static bool
UpsertDealsSmall(TriggerData *td)
{
	DeltaSet   *set = palloc(sizeof(DeltaSet));

	set->n = 0;
	if ((td->tg_newtable != NULL && !CollectDeltas(td, td->tg_newtable, 1, set)) ||
		(td->tg_oldtable != NULL && !CollectDeltas(td, td->tg_oldtable, -1, set)))
		return false;			/* the SQL path cuts it */
	UpsertDeltas(set);
	return true;
}

static ReportSummary deal_summary = {
	.name = "report_deals_summarize",
	.upsert_sql = {
		UPSERT_HEAD DEAL_EVENTS("new_rows", "") UPSERT_TAIL,
		UPSERT_HEAD DEAL_EVENTS("new_rows", "") " UNION ALL " DEAL_EVENTS("old_rows", "-") UPSERT_TAIL,
		UPSERT_HEAD DEAL_EVENTS("old_rows", "-") UPSERT_TAIL,
	},
	.zero_sql = "DELETE FROM crm_internal.report_deal_days WHERE ctid OPERATOR(pg_catalog.=) $1 AND " ZERO_CONDITION,
	.truncate_sql = "DELETE FROM crm_internal.report_deal_days",
	.columns = deal_columns,
	.ncolumns = lengthof(deal_columns),
	.upsert_small = UpsertDealsSmall,
};

/*
 * The summaries of contacts and orders are delta summaries: a key's value
 * is the sum of its rows.  A statement inserts its netted deltas as new
 * rows, then compacts each key it touched: it deletes the key's rows no
 * other transaction holds (FOR UPDATE SKIP LOCKED) and inserts their sum,
 * unless it is zero.  No writer waits on another's summary row, so
 * transactions adding contacts or orders of the same day never block each
 * other nor deadlock (every new anonymous contact of a day shares a key);
 * a key has at most a row per writer in flight, and one when they are done.
 */
#define DELTA_INSERT(table, keys, values, sums, nonzero, events) \
	"INSERT INTO crm_internal." table " (" keys ", " values ") SELECT " keys ", " sums \
	" FROM (" events ") e GROUP BY " keys " HAVING " nonzero
#define DELTA_COMPACT(table, keys, values, sums, nonzero, match, events) \
	"WITH k AS (SELECT DISTINCT " keys " FROM (" events ") e)," \
	" v AS (SELECT s.ctid AS t FROM crm_internal." table " s, k WHERE " match " FOR UPDATE OF s SKIP LOCKED)," \
	" e AS (DELETE FROM crm_internal." table " s USING v WHERE s.ctid OPERATOR(pg_catalog.=) v.t" \
	" RETURNING s.*) INSERT INTO crm_internal." table " (" keys ", " values ") SELECT " keys ", " sums \
	" FROM e GROUP BY " keys " HAVING " nonzero
/* the summary's arguments expanded into the macros' (they hold commas) */
#define DELTA_EXPAND(macro, ...) macro(__VA_ARGS__)
#define DELTA_SQL(macro, events_new, events_old) { \
	macro(events_new), macro(events_new " UNION ALL " events_old), macro(events_old) }

/*
 * Contacts counted per UTC day first seen (or created) and identity source,
 * as crm_report.contacts_per_month counts them: neither merged nor deleted.
 */
#define CONTACT_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (COALESCE(t.first_seen_at, t.created_at) AT TIME ZONE 'UTC')::date AS day," \
	" t.identity_source AS source, " sign "1 AS contacts FROM " tab " t" \
	" WHERE t.status OPERATOR(pg_catalog.<>) ALL ('{merged,deleted}')"
#define CONTACT_ARGS "report_contact_days", "workspace_id, day, source", "contacts", \
	"pg_catalog.sum(contacts)", "pg_catalog.sum(contacts) OPERATOR(pg_catalog.<>) 0"
#define CONTACT_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.source OPERATOR(pg_catalog.=) k.source"
#define CONTACT_INSERT(events) DELTA_EXPAND(DELTA_INSERT, CONTACT_ARGS, events)
#define CONTACT_COMPACT(events) DELTA_EXPAND(DELTA_COMPACT, CONTACT_ARGS, CONTACT_MATCH, events)

static const char *const contact_columns[] = {
	"workspace_id", "first_seen_at", "created_at", "status", "identity_source"
};

static ReportSummary contact_summary = {
	.name = "report_contacts_summarize",
	.upsert_sql = DELTA_SQL(CONTACT_INSERT, CONTACT_EVENTS("new_rows", ""), CONTACT_EVENTS("old_rows", "-")),
	.compact_sql = DELTA_SQL(CONTACT_COMPACT, CONTACT_EVENTS("new_rows", ""), CONTACT_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_contact_days",
	.columns = contact_columns,
	.ncolumns = lengthof(contact_columns),
};

/*
 * Orders per UTC day of order date and currency, as
 * crm_report.order_revenue_per_month adds them up: all, booked (not
 * canceled, failed or refunded) and paid, with the paid ones' count so
 * that a month without one converts to NULL as on the facts.
 */
#define ORDER_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.order_date AT TIME ZONE 'UTC')::date AS day, t.currency, " sign "1 AS orders," \
	" CASE WHEN t.status OPERATOR(pg_catalog.<>) ALL ('{canceled,failed,refunded}') THEN " sign "t.value ELSE 0 END AS booked_value," \
	" CASE WHEN t.status OPERATOR(pg_catalog.=) 'paid' THEN " sign "t.value ELSE 0 END AS paid_value," \
	" CASE WHEN t.status OPERATOR(pg_catalog.=) 'paid' THEN " sign "1 ELSE 0 END AS paid_orders FROM " tab " t"
#define ORDER_ARGS "report_order_days", "workspace_id, day, currency", "orders, booked_value, paid_value, paid_orders", \
	"pg_catalog.sum(orders), pg_catalog.sum(booked_value), pg_catalog.sum(paid_value), pg_catalog.sum(paid_orders)", \
	"(pg_catalog.sum(orders) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(booked_value) OPERATOR(pg_catalog.<>) 0" \
	" OR pg_catalog.sum(paid_value) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(paid_orders) OPERATOR(pg_catalog.<>) 0)"
#define ORDER_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.currency OPERATOR(pg_catalog.=) k.currency"
#define ORDER_INSERT(events) DELTA_EXPAND(DELTA_INSERT, ORDER_ARGS, events)
#define ORDER_COMPACT(events) DELTA_EXPAND(DELTA_COMPACT, ORDER_ARGS, ORDER_MATCH, events)

static const char *const order_columns[] = {
	"workspace_id", "order_date", "currency", "status", "value"
};

static ReportSummary order_summary = {
	.name = "report_orders_summarize",
	.upsert_sql = DELTA_SQL(ORDER_INSERT, ORDER_EVENTS("new_rows", ""), ORDER_EVENTS("old_rows", "-")),
	.compact_sql = DELTA_SQL(ORDER_COMPACT, ORDER_EVENTS("new_rows", ""), ORDER_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_order_days",
	.columns = order_columns,
	.ncolumns = lengthof(order_columns),
};

/*
 * Whether an UPDATE left every summarized column of every row as it was (a
 * rename, a stage move between open stages, a contact re-parented): then
 * there is nothing to upsert.  The transition tables hold the old and new
 * version of each row at the same position.  Equal bytes are equal values;
 * different bytes of the same value (1.0 and 1.00) count as a change,
 * which costs only the upsert that nets to nothing.
 */
static bool
UpdateMovesNothing(TriggerData *td, const ReportSummary *summary)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	Tuplestorestate *olds = td->tg_oldtable;
	Tuplestorestate *news = td->tg_newtable;
	TupleTableSlot *o = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *n = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int		   *atts = palloc(summary->ncolumns * sizeof(int));
	bool		same = true;

	for (int i = 0; i < summary->ncolumns; i++)
		if ((atts[i] = SPI_fnumber(desc, summary->columns[i])) <= 0)
			elog(ERROR, "%s: %s has no column %s", summary->name, RelationGetRelationName(td->tg_relation),
				 summary->columns[i]);
	/* read pointers of our own: other triggers of the statement read these too */
	tuplestore_select_read_pointer(olds, tuplestore_alloc_read_pointer(olds, EXEC_FLAG_REWIND));
	tuplestore_select_read_pointer(news, tuplestore_alloc_read_pointer(news, EXEC_FLAG_REWIND));
	tuplestore_rescan(olds);
	tuplestore_rescan(news);
	while (same && tuplestore_gettupleslot(olds, true, false, o))
	{
		if (!tuplestore_gettupleslot(news, true, false, n))
		{
			same = false;
			break;
		}
		for (int i = 0; i < summary->ncolumns && same; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, atts[i] - 1);
			bool		onull,
						nnull;
			Datum		ov = slot_getattr(o, atts[i], &onull);
			Datum		nv = slot_getattr(n, atts[i], &nnull);

			same = onull == nnull && (onull || datumIsEqual(ov, nv, att->attbyval, att->attlen));
		}
	}
	if (same && tuplestore_gettupleslot(news, true, false, n))
		same = false;
	ExecDropSingleTupleTableSlot(o);
	ExecDropSingleTupleTableSlot(n);
	return same;
}

/* A delta summary: the keys the statement touched, compacted */
static void
Compact(int op, ReportSummary *summary)
{
	if (summary->compact_plans[op] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(summary->compact_sql[op], 0, NULL);

		if (plan == NULL)
			elog(ERROR, "%s: %s", summary->name, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		summary->compact_plans[op] = plan;
	}
	if (SPI_execute_plan(summary->compact_plans[op], NULL, NULL, false, 0) < 0)
		elog(ERROR, "%s: compaction failed", summary->name);
}

/* A large statement's deltas, in one aggregate pass over its transition tables */
static void
UpsertStatement(TriggerData *td, int op, ReportSummary *summary)
{
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "%s: no transition tables", summary->name);
	if (summary->upsert_plans[op] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(summary->upsert_sql[op], 0, NULL);

		if (plan == NULL)
			elog(ERROR, "%s: %s", summary->name, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		summary->upsert_plans[op] = plan;
	}
	if (SPI_execute_plan(summary->upsert_plans[op], NULL, NULL, false, 0) < 0)
		elog(ERROR, "%s: upsert failed", summary->name);
	if (summary->zero_sql != NULL)
		DeleteZeroRows(summary);
	else
		Compact(op, summary);
}

/* Whether the session cuts days in UTC: a zone with a fixed offset of 0 */
static bool
SessionInUtc(void)
{
	long		gmtoff;

	return pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

/*
 * crm_internal.report_summarized(): whether this query reads the deal time
 * series from the summaries.  They hold UTC days and every owner's deals:
 * so only in a UTC session, for a role that may read them (a reporting
 * role), and when the request sees every deal of its workspace -- no row
 * security on it (superuser, reporting_all) or no owner privacy holding it.
 * A restricted member reads the facts under their policies.
 */
Datum
crm_report_summarized(PG_FUNCTION_ARGS)
{
	Oid			summary;
	int64		ws;
	const char *team;

	if (!SessionInUtc())
		PG_RETURN_BOOL(false);
	summary = get_relname_relid("report_deal_days", get_namespace_oid("crm_internal", false));
	if (!OidIsValid(summary) || pg_class_aclcheck(summary, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_BOOL(false);
	if (check_enable_rls(summary, InvalidOid, true) != RLS_ENABLED)
		PG_RETURN_BOOL(true);
	ws = CrmCurrentWorkspace();
	PG_RETURN_BOOL(!CrmPrivacyRestricted(ws, &team, 0));
}

/*
 * The statement trigger of a summary: AFTER INSERT, UPDATE or DELETE with
 * transition tables new_rows/old_rows (TRUNCATE: every row goes).  Writes
 * as the table's owner: no request role may write the summary.
 */
static Datum
Summarize(FunctionCallInfo fcinfo, ReportSummary *summary)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CrmSavedUser saved;
	int			op;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be a statement trigger", summary->name)));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		op = 0;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = 1;
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		op = 2;
	else
		op = -1;				/* TRUNCATE */
	if (op == 1 && UpdateMovesNothing(td, summary))
		return PointerGetDatum(NULL);

	CrmBecomeOwner(RelationGetForm(td->tg_relation)->relowner, &saved);
	SPI_connect();
	if (op < 0)
		SPI_execute(summary->truncate_sql, false, 0);
	else
	{
		int64		rows = (td->tg_newtable ? tuplestore_tuple_count(td->tg_newtable) : 0) +
			(td->tg_oldtable ? tuplestore_tuple_count(td->tg_oldtable) : 0);

		if (summary->upsert_small == NULL || rows > SMALL_STATEMENT || !summary->upsert_small(td))
			UpsertStatement(td, op, summary);
	}
	SPI_finish();
	CrmRestoreUser(&saved);
	return PointerGetDatum(NULL);
}

/* crm_internal.report_deals_summarize(): the statement triggers on crm.deals */
Datum
crm_report_deals_summarize(PG_FUNCTION_ARGS)
{
	return Summarize(fcinfo, &deal_summary);
}

/* crm_internal.report_contacts_summarize(): the statement triggers on crm.contacts */
Datum
crm_report_contacts_summarize(PG_FUNCTION_ARGS)
{
	return Summarize(fcinfo, &contact_summary);
}

/* crm_internal.report_orders_summarize(): the statement triggers on crm.orders */
Datum
crm_report_orders_summarize(PG_FUNCTION_ARGS)
{
	return Summarize(fcinfo, &order_summary);
}
