/*-------------------------------------------------------------------------
 *
 * report_summaries.c
 *	  The summaries behind the crm_report time series, kept exact at commit
 *	  by statement triggers, and the test of whether a query may read them:
 *	  deals created, won and lost per UTC day, pipeline, owner and currency
 *	  (crm_internal.report_deal_days, on crm.deals) and contacts per UTC
 *	  day first seen and source (crm_internal.report_contact_days, on
 *	  crm.contacts) and orders per UTC day of order date and currency
 *	  (crm_internal.report_order_days, on crm.orders) and conversations per
 *	  UTC day started and channel, with their first responses added up
 *	  (report_conversation_days, on crm.conversations) and messages per UTC
 *	  day sent, channel and sender (report_message_days, on crm.messages,
 *	  with the conversation's channel).  Each summary is a
 *	  ReportSummary: its SQL and the columns it reads; the machinery below
 *	  is shared.
 *
 * One pass per statement.  The trigger folds the statement's new rows,
 * added, and its old ones, subtracted, netted by key, into the summary's
 * rows (DELTA_FOLD below): writers of the same key never wait on each
 * other.  An UPDATE that changes no column the summary reads does nothing.
 *
 * A day is a UTC day, so the summaries answer a session whose TimeZone is
 * UTC; a reader in another zone, or one whom owner privacy restricts,
 * reads the facts (crm_internal.report_summarized()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
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
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_report_deals_summarize);
PG_FUNCTION_INFO_V1(crm_report_contacts_summarize);
PG_FUNCTION_INFO_V1(crm_report_orders_summarize);
PG_FUNCTION_INFO_V1(crm_report_conversations_summarize);
PG_FUNCTION_INFO_V1(crm_report_messages_summarize);
PG_FUNCTION_INFO_V1(crm_report_conversation_messages_move);
PG_FUNCTION_INFO_V1(crm_report_conversation_messages_gone);
PG_FUNCTION_INFO_V1(crm_write_report_summaries);
PG_FUNCTION_INFO_V1(crm_report_summaries_flush);

typedef struct ReportSummary ReportSummary;

/*
 * A small statement's deltas, netted in C: a key (NULL allowed) and its
 * values, each int8 or numeric as the summary says.
 */
#define MAX_KEYS 5
#define MAX_VALUES 4
typedef struct SummaryDelta
{
	Datum		key[MAX_KEYS];
	bool		keynull[MAX_KEYS];
	Datum		value[MAX_VALUES];
	int			level;			/* pending: the transaction nesting level that made it */
} SummaryDelta;

/* Statements of up to this many rows (old and new) are netted in C */
#define SMALL_STATEMENT 32

typedef struct DeltaSet
{
	ReportSummary *summary;
	SummaryDelta *d;			/* room for two a row */
	int			n;
} DeltaSet;

/*
 * A summary: the fold of a statement by operation (0 INSERT, 1 UPDATE,
 * 2 DELETE) over its transition tables, the delete of a TRUNCATE, the
 * columns of the base table its rows depend on, and the small path.
 */
struct ReportSummary
{
	const char *name;
	const char *fold_sql[3];
	const char *truncate_sql;
	const char *const *columns;
	int			ncolumns;
	/* the small path: one key's fold, a new row, the delete of a zero row */
	const char *fold_one_sql;
	const char *insert_one_sql;
	const char *delete_sql;
	int			nkeys;
	int			nvalues;
	Oid			types[MAX_KEYS + MAX_VALUES];	/* InvalidOid: set by collect */
	/* the direct write: the summary's table (its index <table>_key) and value columns */
	const char *table;
	const char *value_columns[MAX_VALUES];
	/* adds a row's deltas, signed, to the set; false: let the SQL fold cut it */
	bool		(*collect) (DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign);
	SPIPlanPtr	fold_plans[3];
	SPIPlanPtr	fold_one_plan;
	SPIPlanPtr	insert_one_plan;
	SPIPlanPtr	delete_plan;
	/* the transaction's small statements' deltas, in TopTransactionContext */
	SummaryDelta *pending;
	int			npending;
	int			maxpending;
};

PG_FUNCTION_INFO_V1(crm_report_summarized);

/*
 * Every summary is a delta summary: a key's value is the sum of its rows.
 * A statement of more than a few rows folds its netted deltas (e) into the
 * key's rows that no other transaction holds (l, FOR UPDATE SKIP LOCKED):
 * the first of them is updated to the sum (f, the rows' and the delta's),
 * the others are deleted, and a key none is free for gets a new row.  No
 * writer waits on another's summary row, so transactions adding rows of
 * the same key never block each other nor deadlock (every new anonymous
 * contact of a day shares a key, a salesperson's deals of a day too); a key
 * has a row per writer that was in flight, and one once a statement like
 * this folds them.  A key whose sum is zero loses the rows it held.
 */
#define DELTA_FOLD(table, keys, values, sums, nonzero, fvalues, match, events) \
	"WITH e (" keys ", " values ") AS (SELECT " keys ", " sums " FROM (" events ") x GROUP BY " keys " HAVING " nonzero ")," \
	" l AS MATERIALIZED (SELECT s.ctid AS t, s.* FROM crm_internal." table " s, e k WHERE " match \
	" FOR UPDATE OF s SKIP LOCKED)," \
	" f (" keys ", keep, " values ", live) AS (SELECT " keys ", pg_catalog.min(t), " sums ", " nonzero \
	" FROM (SELECT NULL::pg_catalog.tid AS t, e.* FROM e UNION ALL SELECT l.* FROM l) x GROUP BY " keys ")," \
	" u AS (UPDATE crm_internal." table " s SET (" values ") = ROW(" fvalues ") FROM f" \
	" WHERE s.ctid OPERATOR(pg_catalog.=) f.keep AND f.live)," \
	" d AS (DELETE FROM crm_internal." table " s USING l WHERE s.ctid OPERATOR(pg_catalog.=) l.t" \
	" AND NOT EXISTS (SELECT FROM f WHERE f.live AND f.keep OPERATOR(pg_catalog.=) l.t))" \
	" INSERT INTO crm_internal." table " (" keys ", " values ") SELECT " keys ", " values " FROM f" \
	" WHERE f.keep IS NULL AND f.live"
/* the summary's arguments expanded into the macro's (they hold commas) */
#define DELTA_EXPAND(macro, ...) macro(__VA_ARGS__)
#define DELTA_SQL(macro, events_new, events_old) { \
	macro(events_new), macro(events_new " UNION ALL " events_old), macro(events_old) }

/*
 * A key's rows (s) and a delta's key (k).  The keys are indexed and NOT
 * NULL but for a deal's owner, matched NULL to NULL as the GROUP BY groups.
 */
#define DEAL_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.pipeline_id OPERATOR(pg_catalog.=) k.pipeline_id AND s.currency OPERATOR(pg_catalog.=) k.currency" \
	" AND (s.owner OPERATOR(pg_catalog.=) k.owner OR (s.owner IS NULL AND k.owner IS NULL))"
#define CONTACT_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.source OPERATOR(pg_catalog.=) k.source"
#define ORDER_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.currency OPERATOR(pg_catalog.=) k.currency"

/*
 * The small path.  A statement of a few rows (a frontend's row write, a
 * function's) is netted in C, and each key's delta is added to one of the
 * key's rows no other transaction holds, found through the key's index
 * (a HOT update: the summaries index their keys only), or to a new row when
 * every one is held; a row the delta brings to zero is deleted.  Three
 * plans of a few nodes each, against the fold's dozen: what a single-row
 * write pays.  Rows that concurrent writers added are folded by the next
 * large statement on the key, or by crm.rebuild_report_summaries().
 */

/* The OID of an enum's label, to compare a row's status with */
static Oid
EnumLabel(Oid type, const char *label)
{
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid, ObjectIdGetDatum(type),
									  CStringGetDatum(label));

	if (!OidIsValid(oid))
		elog(ERROR, "report summaries: enum %u has no label %s", type, label);
	return oid;
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

/* Whether two keys' datums are the same value: by value, or the same bytes */
static bool
SameKeyDatum(Datum a, Datum b, Oid type)
{
	if (type == TEXTOID || type == BPCHAROID)
	{
		text	   *ta = DatumGetTextPP(a);
		text	   *tb = DatumGetTextPP(b);

		return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
			memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(ta)) == 0;
	}
	return a == b;				/* int8, date, enum: by value */
}

/* Whether two deltas have the same key */
static bool
SameKey(const ReportSummary *summary, const SummaryDelta *d, const SummaryDelta *e)
{
	for (int k = 0; k < summary->nkeys; k++)
		if (d->keynull[k] != e->keynull[k] ||
			(!d->keynull[k] && !SameKeyDatum(d->key[k], e->key[k], summary->types[k])))
			return false;
	return true;
}

/* e's values, times sign, added to d's */
static void
AddValues(const ReportSummary *summary, SummaryDelta *d, const SummaryDelta *e, int sign)
{
	for (int v = 0; v < summary->nvalues; v++)
	{
		Datum		x = e->value[v];

		if (summary->types[summary->nkeys + v] == INT8OID)
			d->value[v] = Int64GetDatum(DatumGetInt64(d->value[v]) + sign * DatumGetInt64(x));
		else
			d->value[v] = DirectFunctionCall2(sign > 0 ? numeric_add : numeric_sub, d->value[v], x);
	}
}

/* Adds a delta to the set, netted with the same key's */
static void
AddDelta(DeltaSet *set, const SummaryDelta *e)
{
	for (int i = 0; i < set->n; i++)
		if (SameKey(set->summary, &set->d[i], e))
		{
			AddValues(set->summary, &set->d[i], e, 1);
			return;
		}
	set->d[set->n++] = *e;
}

/* A key's datum copied out of the slot (the slot is reused) */
static Datum
KeyDatum(TupleTableSlot *slot, int att, bool *isnull)
{
	Datum		v = slot_getattr(slot, att, isnull);
	Form_pg_attribute a = TupleDescAttr(slot->tts_tupleDescriptor, att - 1);

	return *isnull ? (Datum) 0 : datumCopy(v, a->attbyval, a->attlen);
}

static Datum
SignedInt(int sign, bool on)
{
	return Int64GetDatum(on ? sign : 0);
}

static Datum
SignedNumeric(int sign, bool on, TupleTableSlot *slot, int att)
{
	bool		isnull;
	Datum		v;

	if (!on)
		return NumericGetDatum(int64_to_numeric(0));
	v = datumCopy(slot_getattr(slot, att, &isnull), false, -1);
	return sign < 0 ? DirectFunctionCall1(numeric_uminus, v) : v;
}

/* A transition table's rows, signed, into the set; false to take the fold */
static bool
CollectDeltas(TriggerData *td, Tuplestorestate *ts, int sign, DeltaSet *set)
{
	ReportSummary *summary = set->summary;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int		   *atts = palloc(summary->ncolumns * sizeof(int));
	bool		ok = true;

	for (int i = 0; i < summary->ncolumns; i++)
		atts[i] = SPI_fnumber(desc, summary->columns[i]);
	/* read pointers of our own: other triggers of the statement read these too */
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
	while (ok && tuplestore_gettupleslot(ts, true, false, slot))
		ok = summary->collect(set, slot, atts, sign);
	ExecDropSingleTupleTableSlot(slot);
	return ok;
}

static SPIPlanPtr
KeepPlan(ReportSummary *summary, SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "%s: %s", summary->name, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* Whether every value is zero */
static bool
ValuesAreZero(const ReportSummary *summary, const Datum *values)
{
	for (int v = 0; v < summary->nvalues; v++)
	{
		if (summary->types[summary->nkeys + v] == INT8OID)
		{
			if (DatumGetInt64(values[v]) != 0)
				return false;
		}
		else if (!DatumGetBool(DirectFunctionCall2(numeric_eq, values[v],
												   NumericGetDatum(int64_to_numeric(0)))))
			return false;
	}
	return true;
}

/* The table column of each value of the summary */
static void
ValueColumns(const ReportSummary *summary, Relation rel, AttrNumber *atts)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int v = 0; v < summary->nvalues; v++)
	{
		atts[v] = InvalidAttrNumber;
		for (int a = 0; a < desc->natts; a++)
			if (!TupleDescAttr(desc, a)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, a)->attname), summary->value_columns[v]) == 0)
				atts[v] = a + 1;
		if (atts[v] == InvalidAttrNumber)
			elog(ERROR, "%s: %s has no column %s", summary->name, summary->table, summary->value_columns[v]);
	}
}

/*
 * A key's delta added to the first of its rows no other transaction holds
 * (FOR UPDATE SKIP LOCKED), found through the key's index; a row brought
 * to zero deleted; a new row when every one is held.
 */
static void
WriteDelta(ReportSummary *summary, CrmDirectUpdate *d, Relation index, const AttrNumber *atts,
		   const SummaryDelta *delta)
{
	ScanKeyData keys[MAX_KEYS];
	Datum		sums[MAX_VALUES];
	TupleTableSlot *old;
	TupleTableSlot *new;

	for (int k = 0; k < summary->nkeys; k++)
		CrmDirectUpdateKey(d, &keys[k], k + 1, delta->key[k], delta->keynull[k]);
	CrmDirectUpdateProbe(d, keys, summary->nkeys);
	old = CrmDirectUpdateLockNext(d, LockWaitSkip);
	new = CrmDirectUpdateValues(d, old != NULL);
	if (old == NULL)
		for (int k = 0; k < summary->nkeys; k++)
		{
			new->tts_values[index->rd_index->indkey.values[k] - 1] = delta->key[k];
			new->tts_isnull[index->rd_index->indkey.values[k] - 1] = delta->keynull[k];
		}
	for (int v = 0; v < summary->nvalues; v++)
	{
		Datum	   *value = &new->tts_values[atts[v] - 1];

		if (old == NULL)
			*value = delta->value[v];
		else if (summary->types[summary->nkeys + v] == INT8OID)
			*value = DirectFunctionCall2(int8pl, *value, delta->value[v]);
		else
			*value = DirectFunctionCall2(numeric_add, *value, delta->value[v]);
		new->tts_isnull[atts[v] - 1] = false;
		sums[v] = *value;
	}
	ExecStoreVirtualTuple(new);
	if (old == NULL)
		CrmDirectUpdateInsert(d);
	else if (ValuesAreZero(summary, sums))
		CrmDirectUpdateDelete(d);
	else
		CrmDirectUpdateWrite(d);
}

/*
 * The set's deltas written without the executor, as the SQL of FoldDeltas
 * writes them: the summaries have no trigger, CHECK or foreign key, and
 * their one index holds the key, which a delta does not change.
 */
static void
WriteDeltasDirect(DeltaSet *set)
{
	ReportSummary *summary = set->summary;
	Oid			nsp = get_namespace_oid("crm_internal", false);
	Relation	rel = table_open(get_relname_relid(summary->table, nsp), RowExclusiveLock);
	Relation	index = index_open(get_relname_relid(psprintf("%s_key", summary->table), nsp),
								   RowExclusiveLock);
	AttrNumber	atts[MAX_VALUES];
	CrmDirectUpdate *d;

	ValueColumns(summary, rel, atts);
	d = CrmDirectUpdateBegin(rel, index);
	for (int i = 0; i < set->n; i++)
		if (!ValuesAreZero(summary, set->d[i].value))
			WriteDelta(summary, d, index, atts, &set->d[i]);
	CrmDirectUpdateEnd(d);
	index_close(index, NoLock);
	table_close(rel, NoLock);
}

/* Each netted key's delta added to a free row of the key, or a new row */
static void
FoldDeltas(DeltaSet *set)
{
	ReportSummary *summary = set->summary;
	int			nargs = summary->nkeys + summary->nvalues;
	int			nestlevel = NewGUCNestLevel();

	/*
	 * The key's lookup through its index, whatever the statistics: a plan
	 * kept while the summary was a page or two scans it sequentially, and
	 * goes on doing so as the table grows until an ANALYZE replans it.
	 */
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	for (int i = 0; i < set->n; i++)
	{
		SummaryDelta *d = &set->d[i];
		Datum		values[MAX_KEYS + MAX_VALUES];
		char		nulls[MAX_KEYS + MAX_VALUES];
		bool		isnull;

		for (int k = 0; k < summary->nkeys; k++)
		{
			values[k] = d->key[k];
			nulls[k] = d->keynull[k] ? 'n' : ' ';
		}
		for (int v = 0; v < summary->nvalues; v++)
		{
			values[summary->nkeys + v] = d->value[v];
			nulls[summary->nkeys + v] = ' ';
		}
		if (ValuesAreZero(summary, d->value))
			continue;
		if (SPI_execute_plan(KeepPlan(summary, &summary->fold_one_plan, summary->fold_one_sql, nargs, summary->types),
							 values, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "%s: fold failed", summary->name);
		if (SPI_processed == 0)
		{
			if (SPI_execute_plan(KeepPlan(summary, &summary->insert_one_plan, summary->insert_one_sql, nargs,
										  summary->types), values, nulls, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "%s: insert failed", summary->name);
		}
		else if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		{
			Datum		row[2] = {d->key[0], SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)};

			if (SPI_execute_plan(KeepPlan(summary, &summary->delete_plan, summary->delete_sql, 2,
										  (Oid[]) {INT8OID, TIDOID}), row, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "%s: delete failed", summary->name);
		}
	}
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Deltas written at commit.  Every single-row write of a day adds to the
 * same summary row: updated in place once per statement, inside one long
 * transaction that row leaves a version per statement that no one can
 * prune before the transaction ends, and every lookup of the key walks
 * them all (quadratic over the transaction).  So a small statement's
 * netted deltas are kept in this backend, per summary, key and
 * subtransaction level, and written once per key just before commit (or
 * PREPARE TRANSACTION), by the transaction callback below, after the
 * deferred triggers have run, as lists_counts.c writes list counts.  No
 * trigger event is queued for it: a transaction that wrote no delta pays
 * nothing at commit (a deferred constraint trigger per row did, on every
 * written row).  crm_internal.write_report_summaries() writes them before
 * commit.  A subtransaction rolled back drops its deltas; one committed
 * hands them to its parent.  While a transaction holds deltas, the time
 * series read the facts in it (crm_report_summarized below): its own
 * writes count there.
 */
static ReportSummary deal_summary;
static ReportSummary contact_summary;
static ReportSummary order_summary;
static ReportSummary conversation_summary;
static ReportSummary message_summary;

static ReportSummary *const pending_summaries[] = {
	&deal_summary, &contact_summary, &order_summary, &conversation_summary, &message_summary
};

/* A transaction's pending deltas this many keys of a summary are written at once */
#define MAX_PENDING 1024

static bool pending_callbacks = false;

/* The summaries' owner, who writes the deltas (the summarized tables' owner) */
static Oid	pending_owner = InvalidOid;

/* crm.report_summaries_at_commit: off, a small statement writes its deltas at once */
static bool summaries_at_commit = true;

static void PendingWriteAll(Oid owner);
static void WriteDeltas(DeltaSet *set);
static bool SchemaIsDistributed(void);

static bool
AnyPending(void)
{
	for (int i = 0; i < lengthof(pending_summaries); i++)
		if (pending_summaries[i]->npending > 0)
			return true;
	return false;
}

static void
PendingXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* the deferred triggers have run: no more deltas can come */
			if (AnyPending())
			{
				/* as AfterTriggerFireDeferred gives the deferred triggers */
				PushActiveSnapshot(GetTransactionSnapshot());
				PendingWriteAll(pending_owner);
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			for (int i = 0; i < lengthof(pending_summaries); i++)
			{
				pending_summaries[i]->pending = NULL;
				pending_summaries[i]->npending = pending_summaries[i]->maxpending = 0;
			}
			break;
		default:
			break;
	}
}

static void
PendingSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	for (int i = 0; i < lengthof(pending_summaries); i++)
	{
		ReportSummary *summary = pending_summaries[i];
		int			kept = 0;

		for (int j = 0; j < summary->npending; j++)
		{
			SummaryDelta *d = &summary->pending[j];

			if (d->level < level)
				summary->pending[kept++] = *d;
			else if (event == SUBXACT_EVENT_COMMIT_SUB)
			{
				d->level = level - 1;
				summary->pending[kept++] = *d;
			}
		}
		summary->npending = kept;
	}
}

/* A delta kept until commit, netted with its key's at the current level */
static void
PendingAdd(ReportSummary *summary, const SummaryDelta *delta, int sign)
{
	SummaryDelta copy = *delta;	/* delta may be in the array that grows */
	const SummaryDelta *e = &copy;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	int			level = GetCurrentTransactionNestLevel();
	SummaryDelta *d;

	if (!pending_callbacks)
	{
		RegisterXactCallback(PendingXactCallback, NULL);
		RegisterSubXactCallback(PendingSubXactCallback, NULL);
		pending_callbacks = true;
	}
	for (int i = 0; i < summary->npending; i++)
		if (summary->pending[i].level == level && SameKey(summary, &summary->pending[i], e))
		{
			AddValues(summary, &summary->pending[i], e, sign);
			MemoryContextSwitchTo(old);
			return;
		}
	if (summary->npending == summary->maxpending)
	{
		summary->maxpending = summary->maxpending ? summary->maxpending * 2 : 16;
		summary->pending = summary->pending ?
			repalloc(summary->pending, summary->maxpending * sizeof(SummaryDelta)) :
			palloc(summary->maxpending * sizeof(SummaryDelta));
	}
	d = &summary->pending[summary->npending++];
	*d = *e;
	d->level = level;
	/* the key's and the values' datums live as long as the transaction */
	for (int k = 0; k < summary->nkeys; k++)
		if (!d->keynull[k] && !get_typbyval(summary->types[k]))
			d->key[k] = datumCopy(d->key[k], false, -1);
	for (int v = 0; v < summary->nvalues; v++)
	{
		d->value[v] = summary->types[summary->nkeys + v] == INT8OID ? Int64GetDatum(0) :
			NumericGetDatum(int64_to_numeric(0));
	}
	AddValues(summary, d, e, sign);
	MemoryContextSwitchTo(old);
}

/*
 * The summary's pending deltas written: netted over the levels, each key's
 * added to one of its rows.  Inside a subtransaction (SET CONSTRAINTS ...
 * IMMEDIATE, the rebuild) the sums are cancelled at its level instead of
 * dropped, so that its rollback, which undoes the writes, brings them back.
 */
static void
PendingWrite(ReportSummary *summary)
{
	DeltaSet   *set;

	if (summary->npending == 0)
		return;
	set = palloc(sizeof(DeltaSet));
	set->summary = summary;
	set->d = palloc(sizeof(SummaryDelta) * summary->npending);
	set->n = 0;
	for (int i = 0; i < summary->npending; i++)
		AddDelta(set, &summary->pending[i]);
	if (GetCurrentTransactionNestLevel() <= 1)
		summary->npending = 0;
	else
		for (int i = 0; i < set->n; i++)
			PendingAdd(summary, &set->d[i], -1);
	WriteDeltas(set);
}

/* The deltas of every summary written: on Citus by SQL, as the summaries' owner */
static void
PendingWriteAll(Oid owner)
{
	CrmSavedUser saved;
	int			nestlevel;

	if (!AnyPending())
		return;
	if (!SchemaIsDistributed())
	{
		for (int i = 0; i < lengthof(pending_summaries); i++)
			PendingWrite(pending_summaries[i]);
		return;
	}
	/* at commit, and called, this runs under the session's search_path */
	nestlevel = CrmPinSearchPath();
	CrmBecomeOwner(owner, &saved);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "report summaries: SPI_connect failed");
	for (int i = 0; i < lengthof(pending_summaries); i++)
		PendingWrite(pending_summaries[i]);
	SPI_finish();
	CrmRestoreUser(&saved);
	CrmRestoreSearchPath(nestlevel);
}

/*
 * A summary's deltas cancelled at the current level: its rows were just
 * emptied (TRUNCATE) and what the transaction added before is gone with them.
 */
static void
PendingCancel(ReportSummary *summary)
{
	int			n = summary->npending;

	for (int i = 0; i < n; i++)
		PendingAdd(summary, &summary->pending[i], -1);
}

/* Whether crm.distribute() has run: crm.workspaces is a Citus reference table */
static bool
SchemaIsDistributed(void)
{
	Oid			nsp = get_namespace_oid("crm", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("workspaces", nsp) : InvalidOid;

	return OidIsValid(relid) && CrmIsCitusTable(relid);
}

/*
 * A set's deltas written: without the executor on one node; on Citus by
 * the statements of FoldDeltas, which Citus routes to the workspace's
 * shard (inside SPI, as the summaries' owner).
 */
static void
WriteDeltas(DeltaSet *set)
{
	if (SchemaIsDistributed())
		FoldDeltas(set);
	else
		WriteDeltasDirect(set);
}

/* A small statement netted in C and folded key by key; false: take the fold */
static bool
FoldSmall(TriggerData *td, ReportSummary *summary, int64 rows)
{
	DeltaSet   *set = palloc(sizeof(DeltaSet));

	set->summary = summary;
	set->d = palloc(sizeof(SummaryDelta) * 2 * (rows + 1));
	set->n = 0;
	if ((td->tg_newtable != NULL && !CollectDeltas(td, td->tg_newtable, 1, set)) ||
		(td->tg_oldtable != NULL && !CollectDeltas(td, td->tg_oldtable, -1, set)))
		return false;			/* an infinite time: the SQL cuts it */
	/*
	 * On Citus the deltas are written at once, into the workspace's shard
	 * on this worker: the coordinator, which reads the summary in the same
	 * transaction, cannot know what a worker's backend keeps for commit.
	 */
	if (!summaries_at_commit || SchemaIsDistributed())
		WriteDeltas(set);
	else
	{
		pending_owner = RelationGetForm(td->tg_relation)->relowner;
		for (int i = 0; i < set->n; i++)
			PendingAdd(summary, &set->d[i], 1);
		if (summary->npending > MAX_PENDING && GetCurrentTransactionNestLevel() <= 1)
			PendingWrite(summary);
	}
	return true;
}

/*
 * The fold of one key: its delta added to a row of the key no one else
 * holds.  The workspace is named on both sides: on Citus each statement is
 * then routed to the workspace's shard.
 */
#define FOLD_ONE(table, set, match, zero) \
	"UPDATE crm_internal." table " s SET " set " WHERE s.workspace_id OPERATOR(pg_catalog.=) $1" \
	" AND s.ctid OPERATOR(pg_catalog.=) (SELECT l.ctid FROM crm_internal." \
	table " l WHERE " match " LIMIT 1 FOR UPDATE OF l SKIP LOCKED) RETURNING s.ctid, " zero
/* the delete of a key's row the fold brought to zero, by its workspace and ctid */
#define DELETE_ONE(table) \
	"DELETE FROM crm_internal." table " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND ctid OPERATOR(pg_catalog.=) $2"

/*
 * Deals created on the UTC day of created_at, won or lost (with the value
 * won, in the deal's currency) on the day of closed_at, per pipeline, owner
 * and currency.
 */
#define DEAL_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.created_at AT TIME ZONE 'UTC')::date AS day, t.pipeline_id, t.owner, t.currency," \
	" " sign "1 AS created, 0 AS won, 0 AS lost, 0::numeric AS won_value FROM " tab " t" \
	" UNION ALL SELECT t.workspace_id, (t.closed_at AT TIME ZONE 'UTC')::date, t.pipeline_id, t.owner, t.currency," \
	" 0, " sign "(t.status OPERATOR(pg_catalog.=) 'won')::integer, " sign "(t.status OPERATOR(pg_catalog.=) 'lost')::integer," \
	" CASE WHEN t.status OPERATOR(pg_catalog.=) 'won' THEN " sign "t.value ELSE 0 END FROM " tab " t" \
	" WHERE t.status OPERATOR(pg_catalog.<>) 'open' AND t.closed_at IS NOT NULL"
#define DEAL_ARGS "report_deal_days", "workspace_id, day, pipeline_id, owner, currency", "created, won, lost, won_value", \
	"pg_catalog.sum(created), pg_catalog.sum(won), pg_catalog.sum(lost), pg_catalog.sum(won_value)", \
	"(pg_catalog.sum(created) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(won) OPERATOR(pg_catalog.<>) 0" \
	" OR pg_catalog.sum(lost) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(won_value) OPERATOR(pg_catalog.<>) 0)", \
	"f.created, f.won, f.lost, f.won_value"
#define DEAL_FOLD(events) DELTA_EXPAND(DELTA_FOLD, DEAL_ARGS, DEAL_MATCH, events)

/* The columns a deal's summary rows depend on */
static const char *const deal_columns[] = {
	"workspace_id", "created_at", "closed_at", "status", "pipeline_id", "owner", "currency", "value"
};

/* A deal's events: created on its day, and won or lost on the day it closed */
static bool
CollectDeal(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	SummaryDelta e;
	bool		isnull,
				closed_null;
	TimestampTz created_at = DatumGetTimestampTz(slot_getattr(slot, atts[1], &isnull));
	TimestampTz closed_at = DatumGetTimestampTz(slot_getattr(slot, atts[2], &closed_null));
	Oid			type = TupleDescAttr(slot->tts_tupleDescriptor, atts[3] - 1)->atttypid;
	Oid			status = DatumGetObjectId(slot_getattr(slot, atts[3], &isnull));
	bool		won = status == EnumLabel(type, "won");
	bool		lost = status == EnumLabel(type, "lost");

	if (TIMESTAMP_NOT_FINITE(created_at) || (!closed_null && TIMESTAMP_NOT_FINITE(closed_at)))
		return false;
	e.key[0] = KeyDatum(slot, atts[0], &e.keynull[0]);
	e.key[1] = DateADTGetDatum(UtcDay(created_at));
	e.keynull[1] = false;
	e.key[2] = KeyDatum(slot, atts[4], &e.keynull[2]);
	e.key[3] = KeyDatum(slot, atts[5], &e.keynull[3]);
	e.key[4] = KeyDatum(slot, atts[6], &e.keynull[4]);
	e.value[0] = SignedInt(sign, true);
	e.value[1] = e.value[2] = SignedInt(sign, false);
	e.value[3] = SignedNumeric(sign, false, slot, atts[7]);
	AddDelta(set, &e);
	if ((won || lost) && !closed_null)
	{
		e.key[1] = DateADTGetDatum(UtcDay(closed_at));
		e.value[0] = SignedInt(sign, false);
		e.value[1] = SignedInt(sign, won);
		e.value[2] = SignedInt(sign, lost);
		e.value[3] = SignedNumeric(sign, won, slot, atts[7]);
		AddDelta(set, &e);
	}
	return true;
}

static ReportSummary deal_summary = {
	.name = "report_deals_summarize",
	.fold_sql = DELTA_SQL(DEAL_FOLD, DEAL_EVENTS("new_rows", ""), DEAL_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_deal_days",
	.columns = deal_columns,
	.ncolumns = lengthof(deal_columns),
	.fold_one_sql = FOLD_ONE("report_deal_days",
							 "created = s.created OPERATOR(pg_catalog.+) $6, won = s.won OPERATOR(pg_catalog.+) $7,"
							 " lost = s.lost OPERATOR(pg_catalog.+) $8, won_value = s.won_value OPERATOR(pg_catalog.+) $9",
							 "l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.day OPERATOR(pg_catalog.=) $2"
							 " AND l.pipeline_id OPERATOR(pg_catalog.=) $3 AND l.currency OPERATOR(pg_catalog.=) $5"
							 " AND (l.owner OPERATOR(pg_catalog.=) $4 OR (l.owner IS NULL AND $4 IS NULL))",
							 "s.created OPERATOR(pg_catalog.=) 0 AND s.won OPERATOR(pg_catalog.=) 0"
							 " AND s.lost OPERATOR(pg_catalog.=) 0 AND s.won_value OPERATOR(pg_catalog.=) 0"),
	.insert_one_sql = "INSERT INTO crm_internal.report_deal_days"
	" (workspace_id, day, pipeline_id, owner, currency, created, won, lost, won_value)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
	.delete_sql = DELETE_ONE("report_deal_days"),
	.nkeys = 5,
	.nvalues = 4,
	.types = {INT8OID, DATEOID, INT8OID, TEXTOID, BPCHAROID, INT8OID, INT8OID, INT8OID, NUMERICOID},
	.collect = CollectDeal,
	.table = "report_deal_days",
	.value_columns = {"created", "won", "lost", "won_value"},
};

/*
 * Contacts counted per UTC day first seen (or created) and identity source,
 * as crm_report.contacts_per_month counts them: neither merged nor deleted.
 */
#define CONTACT_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (COALESCE(t.first_seen_at, t.created_at) AT TIME ZONE 'UTC')::date AS day," \
	" t.identity_source AS source, " sign "1 AS contacts FROM " tab " t" \
	" WHERE t.status OPERATOR(pg_catalog.<>) ALL ('{merged,deleted}')"
#define CONTACT_ARGS "report_contact_days", "workspace_id, day, source", "contacts", \
	"pg_catalog.sum(contacts)", "pg_catalog.sum(contacts) OPERATOR(pg_catalog.<>) 0", "f.contacts"
#define CONTACT_FOLD(events) DELTA_EXPAND(DELTA_FOLD, CONTACT_ARGS, CONTACT_MATCH, events)

static const char *const contact_columns[] = {
	"workspace_id", "first_seen_at", "created_at", "status", "identity_source"
};

/* A contact counts on the day first seen (or created), unless merged or deleted */
static bool
CollectContact(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	SummaryDelta e;
	bool		seen_null,
				isnull;
	TimestampTz seen = DatumGetTimestampTz(slot_getattr(slot, atts[1], &seen_null));
	Oid			type = TupleDescAttr(slot->tts_tupleDescriptor, atts[3] - 1)->atttypid;
	Oid			status = DatumGetObjectId(slot_getattr(slot, atts[3], &isnull));

	if (seen_null)
		seen = DatumGetTimestampTz(slot_getattr(slot, atts[2], &isnull));
	if (TIMESTAMP_NOT_FINITE(seen))
		return false;
	if (status == EnumLabel(type, "merged") || status == EnumLabel(type, "deleted"))
		return true;
	/* the source's enum type, known from the table */
	set->summary->types[2] = TupleDescAttr(slot->tts_tupleDescriptor, atts[4] - 1)->atttypid;
	e.key[0] = KeyDatum(slot, atts[0], &e.keynull[0]);
	e.key[1] = DateADTGetDatum(UtcDay(seen));
	e.keynull[1] = false;
	e.key[2] = KeyDatum(slot, atts[4], &e.keynull[2]);
	e.value[0] = SignedInt(sign, true);
	AddDelta(set, &e);
	return true;
}

static ReportSummary contact_summary = {
	.name = "report_contacts_summarize",
	.fold_sql = DELTA_SQL(CONTACT_FOLD, CONTACT_EVENTS("new_rows", ""), CONTACT_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_contact_days",
	.columns = contact_columns,
	.ncolumns = lengthof(contact_columns),
	.fold_one_sql = FOLD_ONE("report_contact_days", "contacts = s.contacts OPERATOR(pg_catalog.+) $4",
							 "l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.day OPERATOR(pg_catalog.=) $2"
							 " AND l.source OPERATOR(pg_catalog.=) $3",
							 "s.contacts OPERATOR(pg_catalog.=) 0"),
	.insert_one_sql = "INSERT INTO crm_internal.report_contact_days (workspace_id, day, source, contacts)"
	" VALUES ($1, $2, $3, $4)",
	.delete_sql = DELETE_ONE("report_contact_days"),
	.nkeys = 3,
	.nvalues = 1,
	.types = {INT8OID, DATEOID, InvalidOid, INT8OID},
	.collect = CollectContact,
	.table = "report_contact_days",
	.value_columns = {"contacts"},
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
	" OR pg_catalog.sum(paid_value) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(paid_orders) OPERATOR(pg_catalog.<>) 0)", \
	"f.orders, f.booked_value, f.paid_value, f.paid_orders"
#define ORDER_FOLD(events) DELTA_EXPAND(DELTA_FOLD, ORDER_ARGS, ORDER_MATCH, events)

static const char *const order_columns[] = {
	"workspace_id", "order_date", "currency", "status", "value"
};

/* An order on the day of its order date: all, booked, paid */
static bool
CollectOrder(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	SummaryDelta e;
	bool		isnull;
	TimestampTz at = DatumGetTimestampTz(slot_getattr(slot, atts[1], &isnull));
	Oid			type = TupleDescAttr(slot->tts_tupleDescriptor, atts[3] - 1)->atttypid;
	Oid			status = DatumGetObjectId(slot_getattr(slot, atts[3], &isnull));
	bool		paid = status == EnumLabel(type, "paid");
	bool		booked = status != EnumLabel(type, "canceled") && status != EnumLabel(type, "failed") &&
		status != EnumLabel(type, "refunded");

	if (TIMESTAMP_NOT_FINITE(at))
		return false;
	e.key[0] = KeyDatum(slot, atts[0], &e.keynull[0]);
	e.key[1] = DateADTGetDatum(UtcDay(at));
	e.keynull[1] = false;
	e.key[2] = KeyDatum(slot, atts[2], &e.keynull[2]);
	e.value[0] = SignedInt(sign, true);
	e.value[1] = SignedNumeric(sign, booked, slot, atts[4]);
	e.value[2] = SignedNumeric(sign, paid, slot, atts[4]);
	e.value[3] = SignedInt(sign, paid);
	AddDelta(set, &e);
	return true;
}

static ReportSummary order_summary = {
	.name = "report_orders_summarize",
	.fold_sql = DELTA_SQL(ORDER_FOLD, ORDER_EVENTS("new_rows", ""), ORDER_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_order_days",
	.columns = order_columns,
	.ncolumns = lengthof(order_columns),
	.fold_one_sql = FOLD_ONE("report_order_days",
							 "orders = s.orders OPERATOR(pg_catalog.+) $4, booked_value = s.booked_value OPERATOR(pg_catalog.+) $5,"
							 " paid_value = s.paid_value OPERATOR(pg_catalog.+) $6, paid_orders = s.paid_orders OPERATOR(pg_catalog.+) $7",
							 "l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.day OPERATOR(pg_catalog.=) $2"
							 " AND l.currency OPERATOR(pg_catalog.=) $3",
							 "s.orders OPERATOR(pg_catalog.=) 0 AND s.booked_value OPERATOR(pg_catalog.=) 0"
							 " AND s.paid_value OPERATOR(pg_catalog.=) 0 AND s.paid_orders OPERATOR(pg_catalog.=) 0"),
	.insert_one_sql = "INSERT INTO crm_internal.report_order_days"
	" (workspace_id, day, currency, orders, booked_value, paid_value, paid_orders) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	.delete_sql = DELETE_ONE("report_order_days"),
	.nkeys = 3,
	.nvalues = 4,
	.types = {INT8OID, DATEOID, BPCHAROID, INT8OID, NUMERICOID, NUMERICOID, INT8OID},
	.collect = CollectOrder,
	.table = "report_order_days",
	.value_columns = {"orders", "booked_value", "paid_value", "paid_orders"},
};

/*
 * Conversations per UTC day started and channel, as
 * crm_report.conversations_per_day counts them: all, the answered ones and
 * the sum of their first responses in seconds, so that the view's mean is
 * exact.  A row per day and channel: an exact median would need every
 * distinct response time (a row each), which at a million conversations
 * a year is too many rows to read in 200 ms (docs/reporting.md).  The
 * first response is the conversation's, which the message triggers keep:
 * a conversation moves from unanswered to answered by their UPDATE.
 */
#define CONVERSATION_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.started_at AT TIME ZONE 'UTC')::date AS day, t.channel, " sign "1 AS conversations," \
	" CASE WHEN t.first_response_seconds IS NULL THEN 0 ELSE " sign "1 END AS answered," \
	" COALESCE(t.first_response_seconds::numeric OPERATOR(pg_catalog.*) " sign "1, 0) AS response_seconds FROM " tab " t"
#define CONVERSATION_ARGS "report_conversation_days", "workspace_id, day, channel", "conversations, answered, response_seconds", \
	"pg_catalog.sum(conversations), pg_catalog.sum(answered), pg_catalog.sum(response_seconds)", \
	"(pg_catalog.sum(conversations) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(answered) OPERATOR(pg_catalog.<>) 0" \
	" OR pg_catalog.sum(response_seconds) OPERATOR(pg_catalog.<>) 0)", \
	"f.conversations, f.answered, f.response_seconds"
#define CONVERSATION_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.channel OPERATOR(pg_catalog.=) k.channel"
#define CONVERSATION_FOLD(events) DELTA_EXPAND(DELTA_FOLD, CONVERSATION_ARGS, CONVERSATION_MATCH, events)

static const char *const conversation_columns[] = {
	"workspace_id", "started_at", "channel", "first_response_seconds"
};

/* A conversation counts on the day it started, with its first response if answered */
static bool
CollectConversation(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	SummaryDelta e;
	bool		isnull,
				unanswered;
	TimestampTz at = DatumGetTimestampTz(slot_getattr(slot, atts[1], &isnull));
	Datum		seconds = slot_getattr(slot, atts[3], &unanswered);

	if (TIMESTAMP_NOT_FINITE(at))
		return false;
	e.key[0] = KeyDatum(slot, atts[0], &e.keynull[0]);
	e.key[1] = DateADTGetDatum(UtcDay(at));
	e.keynull[1] = false;
	e.key[2] = KeyDatum(slot, atts[2], &e.keynull[2]);
	e.value[0] = SignedInt(sign, true);
	e.value[1] = SignedInt(sign, !unanswered);
	/* the cast the SQL fold makes: float8 to numeric */
	e.value[2] = unanswered ? NumericGetDatum(int64_to_numeric(0)) : DirectFunctionCall1(float8_numeric, seconds);
	if (sign < 0)
		e.value[2] = DirectFunctionCall1(numeric_uminus, e.value[2]);
	AddDelta(set, &e);
	return true;
}

static ReportSummary conversation_summary = {
	.name = "report_conversations_summarize",
	.fold_sql = DELTA_SQL(CONVERSATION_FOLD, CONVERSATION_EVENTS("new_rows", ""), CONVERSATION_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_conversation_days",
	.columns = conversation_columns,
	.ncolumns = lengthof(conversation_columns),
	.fold_one_sql = FOLD_ONE("report_conversation_days",
							 "conversations = s.conversations OPERATOR(pg_catalog.+) $4, answered = s.answered OPERATOR(pg_catalog.+) $5,"
							 " response_seconds = s.response_seconds OPERATOR(pg_catalog.+) $6",
							 "l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.day OPERATOR(pg_catalog.=) $2"
							 " AND l.channel OPERATOR(pg_catalog.=) $3",
							 "s.conversations OPERATOR(pg_catalog.=) 0 AND s.answered OPERATOR(pg_catalog.=) 0"
							 " AND s.response_seconds OPERATOR(pg_catalog.=) 0"),
	.insert_one_sql = "INSERT INTO crm_internal.report_conversation_days"
	" (workspace_id, day, channel, conversations, answered, response_seconds) VALUES ($1, $2, $3, $4, $5, $6)",
	.delete_sql = DELETE_ONE("report_conversation_days"),
	.nkeys = 3,
	.nvalues = 3,
	.types = {INT8OID, DATEOID, TEXTOID, INT8OID, INT8OID, NUMERICOID},
	.collect = CollectConversation,
	.table = "report_conversation_days",
	.value_columns = {"conversations", "answered", "response_seconds"},
};

/*
 * Messages per UTC day sent, channel and sender, as
 * crm_report.messages_per_day counts them.  The channel is the
 * conversation's: a message's row is counted while its conversation
 * exists, and a conversation takes its messages with it.  Its delete
 * subtracts them before the cascade removes them (a BEFORE DELETE row
 * trigger on crm.conversations, ConversationMessagesGone below), and the
 * cascade's own delete of the messages then finds no conversation and
 * counts nothing; a conversation's channel change moves its messages
 * (an AFTER UPDATE statement trigger on crm.conversations).
 */
#define MESSAGE_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.sent_at AT TIME ZONE 'UTC')::date AS day, c.channel, t.sender, " sign "1 AS messages" \
	" FROM " tab " t JOIN crm.conversations c ON c.workspace_id OPERATOR(pg_catalog.=) t.workspace_id" \
	" AND c.id OPERATOR(pg_catalog.=) t.conversation_id"
#define MESSAGE_ARGS "report_message_days", "workspace_id, day, channel, sender", "messages", \
	"pg_catalog.sum(messages)", "pg_catalog.sum(messages) OPERATOR(pg_catalog.<>) 0", "f.messages"
#define MESSAGE_MATCH \
	"s.workspace_id OPERATOR(pg_catalog.=) k.workspace_id AND s.day OPERATOR(pg_catalog.=) k.day" \
	" AND s.channel OPERATOR(pg_catalog.=) k.channel AND s.sender OPERATOR(pg_catalog.=) k.sender"
#define MESSAGE_FOLD(events) DELTA_EXPAND(DELTA_FOLD, MESSAGE_ARGS, MESSAGE_MATCH, events)

static const char *const message_columns[] = {
	"workspace_id", "sent_at", "sender", "conversation_id"
};

static SPIPlanPtr channel_plan;

/* A message on the day it was sent, in its conversation's channel, if the conversation is there */
static bool
CollectMessage(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	SummaryDelta e;
	bool		isnull;
	TimestampTz at = DatumGetTimestampTz(slot_getattr(slot, atts[1], &isnull));
	Datum		args[2];

	if (TIMESTAMP_NOT_FINITE(at))
		return false;
	args[0] = slot_getattr(slot, atts[0], &isnull);
	args[1] = slot_getattr(slot, atts[3], &isnull);
	if (SPI_execute_plan(KeepPlan(set->summary, &channel_plan,
								  "SELECT c.channel FROM crm.conversations c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
								  " AND c.id OPERATOR(pg_catalog.=) $2", 2, (Oid[]) {INT8OID, INT8OID}),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "%s: channel lookup failed", set->summary->name);
	if (SPI_processed == 0)
		return true;			/* its conversation's delete subtracted it */
	/* the sender's enum type, known from the table */
	set->summary->types[3] = TupleDescAttr(slot->tts_tupleDescriptor, atts[2] - 1)->atttypid;
	e.key[0] = args[0];
	e.keynull[0] = false;
	e.key[1] = DateADTGetDatum(UtcDay(at));
	e.keynull[1] = false;
	e.key[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &e.keynull[2]);
	if (!e.keynull[2])
		e.key[2] = datumCopy(e.key[2], false, -1);
	e.key[3] = KeyDatum(slot, atts[2], &e.keynull[3]);
	e.value[0] = SignedInt(sign, true);
	AddDelta(set, &e);
	return true;
}

static ReportSummary message_summary = {
	.name = "report_messages_summarize",
	.fold_sql = DELTA_SQL(MESSAGE_FOLD, MESSAGE_EVENTS("new_rows", ""), MESSAGE_EVENTS("old_rows", "-")),
	.truncate_sql = "DELETE FROM crm_internal.report_message_days",
	.columns = message_columns,
	.ncolumns = lengthof(message_columns),
	.fold_one_sql = FOLD_ONE("report_message_days", "messages = s.messages OPERATOR(pg_catalog.+) $5",
							 "l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.day OPERATOR(pg_catalog.=) $2"
							 " AND l.channel OPERATOR(pg_catalog.=) $3 AND l.sender OPERATOR(pg_catalog.=) $4",
							 "s.messages OPERATOR(pg_catalog.=) 0"),
	.insert_one_sql = "INSERT INTO crm_internal.report_message_days (workspace_id, day, channel, sender, messages)"
	" VALUES ($1, $2, $3, $4, $5)",
	.delete_sql = DELETE_ONE("report_message_days"),
	.nkeys = 4,
	.nvalues = 1,
	.types = {INT8OID, DATEOID, TEXTOID, InvalidOid, INT8OID},
	.collect = CollectMessage,
	.table = "report_message_days",
	.value_columns = {"messages"},
};

/*
 * A conversation's channel changed: its messages move from the old
 * channel's keys to the new one's.  Always the SQL fold (no small path).
 */
#define CHANNEL_MOVES(sign, from) \
	"SELECT m.workspace_id, (m.sent_at AT TIME ZONE 'UTC')::date AS day, " from ".channel, m.sender, " sign "1 AS messages" \
	" FROM new_rows n JOIN old_rows o ON o.workspace_id OPERATOR(pg_catalog.=) n.workspace_id AND o.id OPERATOR(pg_catalog.=) n.id" \
	" JOIN crm.messages m ON m.workspace_id OPERATOR(pg_catalog.=) n.workspace_id AND m.conversation_id OPERATOR(pg_catalog.=) n.id" \
	" WHERE n.channel OPERATOR(pg_catalog.<>) o.channel"

static const char *const channel_columns[] = {"channel"};

static bool
CollectNothing(DeltaSet *set, TupleTableSlot *slot, const int *atts, int sign)
{
	return false;
}

static ReportSummary channel_move = {
	.name = "report_conversation_messages_move",
	.fold_sql = {NULL, MESSAGE_FOLD(CHANNEL_MOVES("", "n") " UNION ALL " CHANNEL_MOVES("-", "o")), NULL},
	.columns = channel_columns,
	.ncolumns = lengthof(channel_columns),
	.collect = CollectNothing,
};

/* A deleted conversation's messages, subtracted before the cascade removes them */
#define MESSAGES_GONE \
	MESSAGE_FOLD("SELECT m.workspace_id, (m.sent_at AT TIME ZONE 'UTC')::date AS day, $3::pg_catalog.text AS channel," \
				 " m.sender, -1 AS messages FROM crm.messages m" \
				 " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2")

static SPIPlanPtr gone_plan;

/*
 * On Citus: a conversation's messages per UTC day and sender, signed, added
 * to the set in the given channel.  The query names the workspace and is
 * routed to its shard; the folds above read the transition tables or find
 * rows by ctid in a CTE, which Citus cannot send to a shard.
 */
static SPIPlanPtr conversation_messages_plan;

static void
CollectConversationMessages(DeltaSet *set, Datum ws, Datum conversation, Datum channel, int sign)
{
	ReportSummary *summary = set->summary;

	if (SPI_execute_plan(KeepPlan(summary, &conversation_messages_plan,
								  "SELECT (m.sent_at AT TIME ZONE 'UTC')::date, m.sender, pg_catalog.count(*) FROM crm.messages m"
								  " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2"
								  " GROUP BY 1, 2", 2, (Oid[]) {INT8OID, INT8OID}),
						 (Datum[]) {ws, conversation}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "%s: messages lookup failed", summary->name);
	summary->types[3] = SPI_gettypeid(SPI_tuptable->tupdesc, 2);
	set->d = set->n == 0 ? palloc(sizeof(SummaryDelta) * (SPI_processed + 1)) :
		repalloc(set->d, sizeof(SummaryDelta) * (set->n + SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		SummaryDelta e;
		bool		isnull;

		e.key[0] = ws;
		e.keynull[0] = false;
		e.key[1] = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &e.keynull[1]);
		e.key[2] = channel;
		e.keynull[2] = false;
		e.key[3] = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &e.keynull[3]);
		e.value[0] = Int64GetDatum(sign * DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull)));
		AddDelta(set, &e);
	}
}

/*
 * On Citus, the AFTER UPDATE statement trigger's channel moves: each
 * conversation whose channel changed takes its messages from the old
 * channel's keys to the new one's.  The transition tables hold a row's old
 * and new version at the same position.
 */
static void
MoveChannelsCitus(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	TupleTableSlot *o = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *n = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int			ws_att = SPI_fnumber(desc, "workspace_id");
	int			id_att = SPI_fnumber(desc, "id");
	int			channel_att = SPI_fnumber(desc, "channel");
	DeltaSet   *set = palloc0(sizeof(DeltaSet));

	set->summary = &message_summary;
	tuplestore_select_read_pointer(td->tg_oldtable, tuplestore_alloc_read_pointer(td->tg_oldtable, EXEC_FLAG_REWIND));
	tuplestore_select_read_pointer(td->tg_newtable, tuplestore_alloc_read_pointer(td->tg_newtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_oldtable);
	tuplestore_rescan(td->tg_newtable);
	while (tuplestore_gettupleslot(td->tg_oldtable, true, false, o) &&
		   tuplestore_gettupleslot(td->tg_newtable, true, false, n))
	{
		bool		isnull;
		Datum		ws = slot_getattr(n, ws_att, &isnull);
		Datum		id = slot_getattr(n, id_att, &isnull);
		Datum		from = datumCopy(slot_getattr(o, channel_att, &isnull), false, -1);
		Datum		to = datumCopy(slot_getattr(n, channel_att, &isnull), false, -1);

		if (SameKeyDatum(from, to, TEXTOID))
			continue;
		CollectConversationMessages(set, ws, id, from, -1);
		CollectConversationMessages(set, ws, id, to, 1);
	}
	ExecDropSingleTupleTableSlot(o);
	ExecDropSingleTupleTableSlot(n);
	FoldDeltas(set);
}

/*
 * Whether an UPDATE left every summarized column of every row as it was (a
 * rename, a stage move between open stages, a contact re-parented): then
 * there is nothing to fold.  The transition tables hold the old and new
 * version of each row at the same position.  Equal bytes are equal values;
 * different bytes of the same value (1.0 and 1.00) count as a change,
 * which costs only the fold that nets to nothing.
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

/* A statement's deltas folded into the summary, in one pass over its transition tables */
static void
Fold(TriggerData *td, int op, ReportSummary *summary)
{
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "%s: no transition tables", summary->name);
	if (summary->fold_plans[op] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(summary->fold_sql[op], 0, NULL);

		if (plan == NULL)
			elog(ERROR, "%s: %s", summary->name, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		summary->fold_plans[op] = plan;
	}
	if (SPI_execute_plan(summary->fold_plans[op], NULL, NULL, false, 0) < 0)
		elog(ERROR, "%s: fold failed", summary->name);
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

	/* the facts hold this transaction's writes that the summaries do not yet */
	if (!SessionInUtc() || AnyPending())
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
	{
		SPI_execute(summary->truncate_sql, false, 0);
		PendingCancel(summary);
	}
	else
	{
		int64		rows = (td->tg_newtable ? tuplestore_tuple_count(td->tg_newtable) : 0) +
			(td->tg_oldtable ? tuplestore_tuple_count(td->tg_oldtable) : 0);

		/*
		 * On Citus every statement takes the small path, whose statements
		 * name one workspace each and are routed to its shard: the fold
		 * reads the transition tables, which Citus cannot ship to a shard.
		 */
		if ((rows > SMALL_STATEMENT && !SchemaIsDistributed()) || !FoldSmall(td, summary, rows))
			Fold(td, op, summary);
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

/* crm_internal.report_conversations_summarize(): the statement triggers on crm.conversations */
Datum
crm_report_conversations_summarize(PG_FUNCTION_ARGS)
{
	return Summarize(fcinfo, &conversation_summary);
}

/* crm_internal.report_messages_summarize(): the statement triggers on crm.messages */
Datum
crm_report_messages_summarize(PG_FUNCTION_ARGS)
{
	return Summarize(fcinfo, &message_summary);
}

/*
 * crm_internal.report_conversation_messages_move(): AFTER UPDATE statement
 * trigger on crm.conversations: a channel change moves the messages
 */
Datum
crm_report_conversation_messages_move(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be an AFTER UPDATE statement trigger", channel_move.name)));
	if (SchemaIsDistributed())
	{
		CrmSavedUser saved;

		CrmBecomeOwner(RelationGetForm(td->tg_relation)->relowner, &saved);
		SPI_connect();
		MoveChannelsCitus(td);
		SPI_finish();
		CrmRestoreUser(&saved);
		return PointerGetDatum(NULL);
	}
	return Summarize(fcinfo, &channel_move);
}

/*
 * crm_internal.report_conversation_messages_gone(): BEFORE DELETE row
 * trigger on crm.conversations: subtracts the conversation's messages
 * while they are there (the cascade that deletes them finds no
 * conversation, and counts nothing), as the table's owner.
 */
Datum
crm_report_conversation_messages_gone(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	CrmSavedUser saved;
	Datum		args[3];
	char		nulls[3] = "   ";
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("report_conversation_messages_gone: must be a BEFORE DELETE row trigger")));
	desc = RelationGetDescr(td->tg_relation);
	args[0] = heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "workspace_id"), desc, &isnull);
	args[1] = heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "id"), desc, &isnull);
	args[2] = heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "channel"), desc, &isnull);
	if (isnull)
		nulls[2] = 'n';
	CrmBecomeOwner(RelationGetForm(td->tg_relation)->relowner, &saved);
	SPI_connect();
	if (SchemaIsDistributed())
	{
		DeltaSet   *set = palloc0(sizeof(DeltaSet));

		set->summary = &message_summary;
		CollectConversationMessages(set, args[0], args[1], args[2], -1);
		FoldDeltas(set);
		SPI_finish();
		CrmRestoreUser(&saved);
		return PointerGetDatum(td->tg_trigtuple);
	}
	if (gone_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(MESSAGES_GONE, 3, (Oid[]) {INT8OID, INT8OID, TEXTOID});

		if (p == NULL)
			elog(ERROR, "report_conversation_messages_gone: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		gone_plan = p;
	}
	if (SPI_execute_plan(gone_plan, args, nulls, false, 0) < 0)
		elog(ERROR, "report_conversation_messages_gone: fold failed");
	SPI_finish();
	CrmRestoreUser(&saved);
	return PointerGetDatum(td->tg_trigtuple);
}

/*
 * crm_internal.write_report_summaries(): the transaction's pending deltas
 * written now rather than at commit, for a reader of the summary rows in
 * the same transaction (crm.rebuild_report_summaries, the consistency
 * tests).
 */
Datum
crm_write_report_summaries(PG_FUNCTION_ARGS)
{
	PendingWriteAll(pending_owner);
	PG_RETURN_VOID();
}

/*
 * crm_internal.report_summaries_flush(): the deferred constraint trigger
 * that wrote the deltas at commit before the transaction callback did.
 * The update script from 0.2.0 still creates it, before it drops it with
 * its triggers, so the symbol stays; fired, it writes the pending deltas.
 */
Datum
crm_report_summaries_flush(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("report_summaries_flush: must be fired as a trigger")));
	PendingWriteAll(pending_owner);
	return PointerGetDatum(NULL);
}

void
CrmReportSummariesInit(void)
{
	DefineCustomBoolVariable("crm.report_summaries_at_commit",
							 "Write the report summaries' deltas of small statements once per key at commit.",
							 "Off, each statement writes its own at once: a long transaction of single-row writes then leaves a dead version of its day's summary row per statement.",
							 &summaries_at_commit,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
}
