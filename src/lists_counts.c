/*-------------------------------------------------------------------------
 *
 * lists_counts.c
 *	  crm.lists.member_count written at commit.
 *
 * A membership change (lists_members.c) used to add its delta to the list's
 * row at once, which locked the row until commit: concurrent updates of
 * different contacts that moved them in or out of the same dynamic lists
 * queued on those rows for the rest of each other's transaction.  The
 * deltas are now kept in this backend, per (workspace, list) and
 * subtransaction level, and written at commit by
 * crm_internal.list_counts_flush(), a deferred constraint trigger on
 * crm.list_members: the rows are locked (in id order) only from there to
 * the end of the commit, and the count is exact at every commit.  They are
 * written as an UPDATE of member_count would write them, through the table
 * access methods rather than the executor (UpdateCountsDirect).  Inside
 * the transaction that made them, its own changes are not in the column
 * until it commits.
 *
 * A subtransaction rolled back drops its deltas, as PostgreSQL drops the
 * deferred trigger events it queued; one committed hands them to its
 * parent.  A count written from scratch in the transaction (a filter
 * computed, ExactCount in lists_define.c) already holds the transaction's
 * deltas of that list: ListCountsSettle() cancels them at the current
 * level, so a rollback of that level brings them back with the old count.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_list_counts_flush);

typedef struct CountDelta
{
	int64		ws;
	int64		list;
	int64		delta;
	int			level;			/* transaction nesting level that made it */
} CountDelta;

/* this transaction's deltas, in TopTransactionContext */
static CountDelta *deltas = NULL;
static int	ndeltas = 0;
static int	maxdeltas = 0;
static bool callbacks_registered = false;

static void
CountsXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			deltas = NULL;
			ndeltas = maxdeltas = 0;
			break;
		default:
			break;
	}
}

static void
CountsSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;
	int			kept = 0;

	if (ndeltas == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (i = 0; i < ndeltas; i++)
			if (deltas[i].level < level)
				deltas[kept++] = deltas[i];
		ndeltas = kept;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < ndeltas; i++)
			if (deltas[i].level >= level)
				deltas[i].level = level - 1;
	}
}

static void
AppendDelta(int64 ws, int64 list, int64 delta)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(CountsXactCallback, NULL);
		RegisterSubXactCallback(CountsSubXactCallback, NULL);
		callbacks_registered = true;
	}
	if (ndeltas == maxdeltas)
	{
		maxdeltas = maxdeltas ? maxdeltas * 2 : 16;
		deltas = deltas ? repalloc(deltas, maxdeltas * sizeof(CountDelta))
			: MemoryContextAlloc(TopTransactionContext, maxdeltas * sizeof(CountDelta));
	}
	deltas[ndeltas].ws = ws;
	deltas[ndeltas].list = list;
	deltas[ndeltas].delta = delta;
	deltas[ndeltas].level = GetCurrentTransactionNestLevel();
	ndeltas++;
}

/* A statement's change of a list's members, written at commit */
void
ListCountsAdd(int64 ws, int64 list, int64 delta)
{
	if (delta != 0)
		AppendDelta(ws, list, delta);
}

/* The list's count was just written from scratch: its pending deltas are in it */
void
ListCountsSettle(int64 ws, int64 list)
{
	int64		pending = 0;
	int			i;

	for (i = 0; i < ndeltas; i++)
		if (deltas[i].ws == ws && deltas[i].list == list)
			pending += deltas[i].delta;
	if (pending != 0)
		AppendDelta(ws, list, -pending);
}

static int
CompareDeltas(const void *a, const void *b)
{
	const CountDelta *x = a;
	const CountDelta *y = b;

	if (x->ws != y->ws)
		return x->ws < y->ws ? -1 : 1;
	if (x->list != y->list)
		return x->list < y->list ? -1 : 1;
	return 0;
}

/*
 * The deltas into the rows, one by one in (workspace, id) order, without
 * the executor (direct_update.c): member_count is in no index, constraint
 * or trigger condition of crm.lists, and its row triggers pass our own
 * writes (lists_internal_write).  The executor's statements cost three
 * times as much at every commit (docs/performance.md, "List churn: the
 * write of each move").  A list deleted since took its members with it.
 */
static void
UpdateCountsDirect(Oid relid, int n, const Datum *ws, const Datum *ids, const Datum *sums)
{
	Relation	rel = table_open(relid, RowExclusiveLock);
	Relation	pkey = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	AttrNumber	count_att = get_attnum(relid, "member_count");
	CrmDirectUpdate *d = CrmDirectUpdateBegin(rel, pkey);

	for (int i = 0; i < n; i++)
	{
		ScanKeyData keys[2];
		TupleTableSlot *old;
		TupleTableSlot *new;
		bool		isnull;

		CrmDirectUpdateKey(d, &keys[0], 1, ws[i], false);
		CrmDirectUpdateKey(d, &keys[1], 2, ids[i], false);
		CrmDirectUpdateProbe(d, keys, 2);
		old = CrmDirectUpdateLockNext(d, LockWaitBlock);
		if (old == NULL)
			continue;
		new = CrmDirectUpdateValues(d, true);
		new->tts_values[count_att - 1] =
			Int64GetDatum(DatumGetInt64(slot_getattr(old, count_att, &isnull)) + DatumGetInt64(sums[i]));
		ExecStoreVirtualTuple(new);
		CrmDirectUpdateWrite(d);
	}
	CrmDirectUpdateEnd(d);
	index_close(pkey, NoLock);
	table_close(rel, NoLock);
}

/*
 * The deltas summed per list, in (workspace, id) order, into the rows:
 * locked in that order first, so two commits never wait for each other
 * both ways.
 */
static void
Flush(void)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr update_plan = NULL;
	Oid			argtypes[3] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum	   *ws;
	Datum	   *ids;
	Datum	   *sums;
	Datum		values[3];
	int			n = 0;
	int			i;
	int			nestlevel;
	Oid			relid;
	CrmSavedUser saved;

	qsort(deltas, ndeltas, sizeof(CountDelta), CompareDeltas);
	ws = palloc(sizeof(Datum) * ndeltas);
	ids = palloc(sizeof(Datum) * ndeltas);
	sums = palloc(sizeof(Datum) * ndeltas);
	for (i = 0; i < ndeltas; i++)
	{
		int64		sum = deltas[i].delta;

		while (i + 1 < ndeltas && CompareDeltas(&deltas[i], &deltas[i + 1]) == 0)
			sum += deltas[++i].delta;
		if (sum == 0)
			continue;
		ws[n] = Int64GetDatum(deltas[i].ws);
		ids[n] = Int64GetDatum(deltas[i].list);
		sums[n] = Int64GetDatum(sum);
		n++;
	}
	/*
	 * Written now: a second firing at this commit finds nothing.  Fired early
	 * inside a subtransaction (SET CONSTRAINTS ... IMMEDIATE), the sums are
	 * cancelled at its level instead, so that its rollback, which undoes the
	 * UPDATE, brings them back.
	 */
	if (GetCurrentTransactionNestLevel() <= 1)
		ndeltas = 0;
	else
		for (i = 0; i < n; i++)
			AppendDelta(DatumGetInt64(ws[i]), DatumGetInt64(ids[i]), -DatumGetInt64(sums[i]));
	if (n == 0)
		return;
	relid = get_relname_relid("lists", get_namespace_oid("crm", false));
	if (!CrmIsCitusTable(relid))
	{
		UpdateCountsDirect(relid, n, ws, ids, sums);
		return;
	}
	/* on Citus, the rows are the shard's: statements Citus routes */
	values[0] = PointerGetDatum(construct_array(ws, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(sums, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/* a deferred trigger runs under the committing session's search_path */
	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	if (lock_plan == NULL)
	{
		lock_plan = PrepareKept("SELECT 1 FROM crm.lists l"
								" WHERE (l.workspace_id, l.id) IN (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)))"
								" ORDER BY l.workspace_id, l.id FOR NO KEY UPDATE OF l",
								2, argtypes);
		update_plan = PrepareKept("UPDATE crm.lists l SET member_count = l.member_count OPERATOR(pg_catalog.+) d.delta"
								  "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS d(ws, id, delta)"
								  " WHERE l.workspace_id OPERATOR(pg_catalog.=) d.ws AND l.id OPERATOR(pg_catalog.=) d.id",
								  3, argtypes);
	}
	/* lists the writer may not see (another member's segment) are counted too */
	CrmBecomeOwner(CrmEventsOwner(), &saved);
	lists_internal_write++;
	PG_TRY();
	{
		if (SPI_execute_plan(lock_plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: locking lists failed");
		if (SPI_execute_plan(update_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm lists: counting members failed");
	}
	PG_FINALLY();
	{
		lists_internal_write--;
	}
	PG_END_TRY();
	CrmRestoreUser(&saved);
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
}

/*
 * The deltas written now: for an install whose crm.list_members has no
 * list_members_counts trigger (0.2.0, its release script, running this
 * library), as they were written then.
 */
void
ListCountsFlushNow(void)
{
	if (ndeltas > 0)
		Flush();
}

/*
 * crm_internal.list_counts_flush(): deferred constraint trigger, AFTER
 * INSERT OR UPDATE OR DELETE FOR EACH ROW on crm.list_members.  The first
 * firing at commit writes every list's delta; the others find none.
 */
Datum
crm_list_counts_flush(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("list_counts_flush: must be fired as a trigger")));
	if (ndeltas > 0)
		Flush();
	return PointerGetDatum(NULL);
}
