/*-------------------------------------------------------------------------
 *
 * lists_recompute.c
 *	  Dynamic list memberships made equal to their filters: for the records
 *	  a statement touched (lists_sync.c), and for a whole list when it is
 *	  created, its filter changes (lists_define.c) or it is refreshed.
 *
 * The current memberships of the records are read by an index-only scan
 * of our own of the index on (workspace_id, record) INCLUDE (list_id) into
 * a bitmap of (record, list), the evaluation queries (lists_cache.c) say
 * what the filters match now, and the differences are computed here.  So a
 * statement costs a few index lookups per touched record plus the filters'
 * expressions, never one query per list per row.  Only real differences
 * are written: one DELETE and one INSERT on crm.list_members, whose own
 * statement triggers keep member_count and write the
 * CRM_LIST_MEMBER_ADDED/REMOVED events (sql/lists.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_refresh_list_members);

int			lists_applying = 0;	/* inside our own writes of memberships */

/* pg_trigger_depth() of Recompute's write of memberships; -1: none running */
static int	filter_write_depth = -1;

/* Plans that do not depend on the lists, per entity */
static SPIPlanPtr lock_plan[MAX_ENTITIES];
static SPIPlanPtr share_plan[MAX_ENTITIES];
static SPIPlanPtr apply_plan[MAX_ENTITIES];
/* the same, for a change that only adds or only removes members */
static SPIPlanPtr insert_plan[MAX_ENTITIES];
static SPIPlanPtr delete_plan[MAX_ENTITIES];
/* On Citus: the memberships read and written by routable statements */
static SPIPlanPtr members_plan[MAX_ENTITIES];
static SPIPlanPtr apply_citus_plan[MAX_ENTITIES];


static void
PreparePlans(const CqlEntity *e, int ei)
{
	StringInfoData q;
	Oid			argtypes[5] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};

	if (lock_plan[ei])
		return;
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM %s t WHERE t.workspace_id = $1 AND t.id = ANY ($2) ORDER BY t.id FOR NO KEY UPDATE",
					 e->table);
	lock_plan[ei] = PrepareKept(q.data, 2, argtypes);
	resetStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM %s t WHERE t.workspace_id = $1 AND t.id = ANY ($2) ORDER BY t.id FOR SHARE",
					 e->table);
	share_plan[ei] = PrepareKept(q.data, 2, argtypes);
	if (!e->list_column)
		return;
	/*
	 * One statement, so that the membership triggers (counts, events, IN
	 * LIST dependents) run once both halves are written: a dependent
	 * re-evaluated between them would see half a change.
	 */
	resetStringInfo(&q);
	appendStringInfo(&q, "WITH d AS (DELETE FROM crm.list_members m"
					 "  USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS d(lid, oid)"
					 " WHERE m.workspace_id = $1 AND m.list_id = d.lid AND m.%s = d.oid RETURNING 1),"
					 " i AS (INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
					 " SELECT $1, a.lid, '%s', a.oid, 'filter'"
					 "   FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS a(lid, oid)"
					 /* a list being deleted (its members cascading away) gets none */
					 "  WHERE EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = a.lid)"
					 "  ORDER BY a.lid, a.oid ON CONFLICT DO NOTHING RETURNING 1)"
					 " SELECT (SELECT pg_catalog.count(*) FROM d), (SELECT pg_catalog.count(*) FROM i)",
					 e->list_column, e->list_column, e->name);
	apply_plan[ei] = PrepareKept(q.data, 5, argtypes);
	/*
	 * One record's update moves it across its filters one way (a seats
	 * threshold crossed upwards adds, downwards removes): the half with
	 * nothing to write is left out of the statement rather than run empty.
	 */
	resetStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
					 " SELECT $1, a.lid, '%s', a.oid, 'filter'"
					 "   FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS a(lid, oid)"
					 "  WHERE EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = a.lid)"
					 "  ORDER BY a.lid, a.oid ON CONFLICT DO NOTHING",
					 e->list_column, e->name);
	insert_plan[ei] = PrepareKept(q.data, 3, argtypes);
	resetStringInfo(&q);
	appendStringInfo(&q, "DELETE FROM crm.list_members m"
					 "  USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS d(lid, oid)"
					 " WHERE m.workspace_id = $1 AND m.list_id = d.lid AND m.%s = d.oid",
					 e->list_column);
	delete_plan[ei] = PrepareKept(q.data, 3, argtypes);
}

/* pg_trigger_depth(), which the trigger manager keeps */
static int
TriggerDepth(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetInt32(pg_trigger_depth(fcinfo));
}

/*
 * Whether a row trigger runs for a row of Recompute's own write of
 * memberships (crm_follow_merged_contact skips its lookup): the depth of
 * that statement's row triggers, not of the statements its triggers run.
 */
bool
CrmListsWritingFilterMembers(void)
{
	return filter_write_depth >= 0 && TriggerDepth() == filter_write_depth + 1;
}


/*
 * The same write for a Citus table.  Citus ships a statement to the
 * workspace's shard only when every table in it is filtered by a constant
 * or parameter workspace, and plans no correlated subquery beside a set
 * returning function: the pairs are matched by array position and the
 * live lists read by a plain IN.
 */
static SPIPlanPtr
PrepareApplyCitus(const CqlEntity *e, int ei)
{
	Oid			argtypes[5] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};

	if (apply_citus_plan[ei] == NULL)
		apply_citus_plan[ei] = PrepareKept(psprintf(
													"WITH d AS (DELETE FROM crm.list_members m"
													" WHERE m.workspace_id = $1 AND m.list_id = ANY ($2) AND m.%s = ANY ($3)"
													"   AND (m.list_id, m.%s) IN (SELECT * FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)))"
													" RETURNING 1),"
													" i AS (INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
													" SELECT $1, a.lid, '%s', a.oid, 'filter'"
													"   FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS a(lid, oid)"
													"  WHERE a.lid IN (SELECT l.id FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = ANY ($4))"
													"  ORDER BY a.lid, a.oid ON CONFLICT DO NOTHING RETURNING 1)"
													" SELECT (SELECT pg_catalog.count(*) FROM d), (SELECT pg_catalog.count(*) FROM i)",
													e->list_column, e->list_column, e->list_column, e->name),
										   5, argtypes);
	return apply_citus_plan[ei];
}

/* Writes the differences: one statement, or one half of it when the other is empty */
static void
ApplyDifferences(const CqlEntity *e, int ei, Datum ws, IdSet *del_l, IdSet *del_o, IdSet *add_l, IdSet *add_o)
{
	Datum		args[5];
	SPIPlanPtr	plan;
	int			expected = SPI_OK_SELECT;

	args[0] = ws;
	if (CrmIsCitusTable(get_relname_relid("list_members", get_namespace_oid("crm", false))))
		plan = PrepareApplyCitus(e, ei);
	else if (del_l->n == 0)
	{
		plan = insert_plan[ei];
		expected = SPI_OK_INSERT;
		args[1] = IdArray(add_l->v, add_l->n);
		args[2] = IdArray(add_o->v, add_o->n);
	}
	else if (add_l->n == 0)
	{
		plan = delete_plan[ei];
		expected = SPI_OK_DELETE;
		args[1] = IdArray(del_l->v, del_l->n);
		args[2] = IdArray(del_o->v, del_o->n);
	}
	else
		plan = apply_plan[ei];
	if (expected == SPI_OK_SELECT)
	{
		args[1] = IdArray(del_l->v, del_l->n);
		args[2] = IdArray(del_o->v, del_o->n);
		args[3] = IdArray(add_l->v, add_l->n);
		args[4] = IdArray(add_o->v, add_o->n);
	}
	if (SPI_execute_plan(plan, args, NULL, false, 0) != expected)
		elog(ERROR, "crm lists: writing members failed");
}

/*
 * Receives the rows of the evaluation queries for one batch of records and
 * turns them, against the current memberships, into the differences to
 * write.
 */
typedef struct DiffReceiver
{
	DestReceiver pub;
	const ListSet *s;
	const int64 *ids;			/* the batch, sorted */
	int			nids;
	const EvalPart *part;		/* the evaluation query being read */
	uint8	   *member;			/* bit record * s->nlists + list: a member now */
	bool	   *seen;			/* the record was evaluated (it still exists) */
	IdSet	   *add_l,
			   *add_o,
			   *del_l,
			   *del_o;
	MemoryContext cxt;			/* where the id sets grow: not the executor's */
	int64		only_list;
	int64		changed;
} DiffReceiver;

static void
DiffStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
DiffShutdown(DestReceiver *self)
{
}

static void
DiffDestroy(DestReceiver *self)
{
}

static void
AddDifference(DiffReceiver *d, bool add, int64 list, int64 record)
{
	MemoryContext old = MemoryContextSwitchTo(d->cxt);

	IdAdd(add ? d->add_l : d->del_l, list);
	IdAdd(add ? d->add_o : d->del_o, record);
	MemoryContextSwitchTo(old);
	if (d->only_list == 0 || list == d->only_list)
		d->changed++;
}

/*
 * (record, scope tests, filter of list 1, ...): a list matches when the
 * record passes its scope test and its filter, both true (not NULL); each
 * list whose answer differs from the membership is a change.
 */
static bool
ReceiveEval(TupleTableSlot *slot, DestReceiver *self)
{
	DiffReceiver *d = (DiffReceiver *) self;
	const ListSet *s = d->s;
	bool		in_scope[2];
	int64		id;
	int			r;

	slot_getallattrs(slot);
	id = DatumGetInt64(slot->tts_values[0]);
	r = IdIndex(d->ids, d->nids, id);
	if (r < 0)
		elog(ERROR, "crm lists: record " INT64_FORMAT " was not asked for", id);
	d->seen[r] = true;
	for (int k = 0; k < s->nscopes; k++)
		in_scope[k] = !slot->tts_isnull[1 + k] && DatumGetBool(slot->tts_values[1 + k]);
	for (int k = 0; k < d->part->n; k++)
	{
		int			l = d->part->first + k;
		int			att = 1 + s->nscopes + k;
		uint64		bit = (uint64) r * s->nlists + l;
		bool		matches = (s->scope[l] < 0 || in_scope[s->scope[l]]) &&
			!slot->tts_isnull[att] && DatumGetBool(slot->tts_values[att]);
		bool		is_member = (d->member[bit / 8] & (1 << (bit % 8))) != 0;

		if (matches != is_member)
			AddDifference(d, matches, s->ids[l], id);
	}
	return true;
}

static void
RunInto(SPIPlanPtr plan, Datum *args, DiffReceiver *d)
{
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(2);

	for (int i = 0; i < 2; i++)
	{
		params->params[i].value = args[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = SPI_getargtypeid(plan, i);
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	/* the snapshot the caller pushed, which the memberships were read with */
	options.read_only = true;
	options.dest = &d->pub;
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "crm lists: evaluating dynamic lists failed");
}

/* Marks (record r, list lid) as a current membership, when lid is a dynamic list of s */
static inline void
SetMember(const ListSet *s, uint8 *member, int r, int64 lid)
{
	int			l = IdIndex(s->ids, s->nlists, lid);

	if (l >= 0)
	{
		uint64		bit = (uint64) r * s->nlists + l;

		member[bit / 8] |= 1 << (bit % 8);
	}
}

/*
 * ReadMembers through a query, for a Citus table, whose heap on this node
 * is an empty shell: Citus routes it to the workspace's shard.  It reads
 * with the snapshot the caller pushed, as the scan does.
 */
static void
ReadMembersByQuery(const ListSet *s, const CqlEntity *e, int64 ws, const int64 *ids, int nids, uint8 *member)
{
	int			ei = EntityIndex(e);
	Datum		args[2];

	if (members_plan[ei] == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};

		members_plan[ei] = PrepareKept(psprintf("SELECT m.%s, m.list_id FROM crm.list_members m"
												" WHERE m.workspace_id = $1 AND m.%s = ANY ($2)",
												e->list_column, e->list_column),
									   2, argtypes);
	}
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids, nids);
	if (SPI_execute_plan(members_plan[ei], args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading memberships failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull,
					lnull;
		Datum		oid = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		Datum		lid = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &lnull);
		int			r = isnull ? -1 : IdIndex(ids, nids, DatumGetInt64(oid));

		if (r >= 0 && !lnull)
			SetMember(s, member, r, DatumGetInt64(lid));
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(args[1]));
}

/*
 * The current memberships of the records in the dynamic lists of s, as bits
 * (record * s->nlists + list), by an index-only scan of our own of the index
 * on (workspace_id, <record column>) INCLUDE (list_id) of crm.list_members
 * (for contacts, their key (workspace_id, contact_id, list_id)),
 * as nodeIndexonlyscan.c does it: list_id from the index entry when the heap
 * page is all-visible, else from the heap row (which also marks the entries
 * of dead rows, so that later scans skip them).  No plan is involved, so none
 * made while the table was small or its statistics stale can turn these
 * lookups into a scan of every membership of the workspace.
 */
static void
ReadMembers(const ListSet *s, const CqlEntity *e, int64 ws, const int64 *ids, int nids, uint8 *member)
{
	Oid			relid = get_relname_relid("list_members", get_namespace_oid("crm", false));
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	ws_att = get_attnum(relid, "workspace_id");
	AttrNumber	rec_att = get_attnum(relid, e->list_column);
	AttrNumber	list_att = get_attnum(relid, "list_id");
	Snapshot	snapshot = GetActiveSnapshot();
	Oid			indexid = InvalidOid;
	Relation	index;
	bool		covering;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Buffer		vmbuffer = InvalidBuffer;
	ScanKeyData keys[2];
	List	   *indexes;
	ListCell   *lc;

	if (CrmIsCitusTable(relid))
	{
		table_close(rel, AccessShareLock);
		ReadMembersByQuery(s, e, ws, ids, nids, member);
		return;
	}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	i = index_open(lfirst_oid(lc), AccessShareLock);

		/* (workspace_id, record) INCLUDE (list_id), or the key (workspace_id, record, list_id) */
		if (IndexRelationGetNumberOfKeyAttributes(i) <= 3 && IndexRelationGetNumberOfAttributes(i) >= 2 &&
			i->rd_index->indkey.values[0] == ws_att && i->rd_index->indkey.values[1] == rec_att &&
			i->rd_rel->relam == BTREE_AM_OID)
			indexid = lfirst_oid(lc);
		index_close(i, AccessShareLock);
	}
	if (!OidIsValid(indexid))
		elog(ERROR, "crm lists: no index on crm.list_members (workspace_id, %s)", e->list_column);

	index = index_open(indexid, AccessShareLock);
	covering = IndexRelationGetNumberOfAttributes(index) == 3 && index->rd_index->indkey.values[2] == list_att;
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ws));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(0));
	scan = index_beginscan(rel, index, snapshot, 2, 0);
	scan->xs_want_itup = covering;
	for (int r = 0; r < nids; r++)
	{
		ItemPointer tid;

		keys[1].sk_argument = Int64GetDatum(ids[r]);
		index_rescan(scan, keys, 2, NULL, 0);
		while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			Datum		lid;

			if (covering && VM_ALL_VISIBLE(rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				/* all-visible: visible to our snapshot too */
				lid = index_getattr(scan->xs_itup, 3, scan->xs_itupdesc, &isnull);
				PredicateLockPage(rel, ItemPointerGetBlockNumber(tid), snapshot);
			}
			else if (index_fetch_heap(scan, slot))
				lid = slot_getattr(slot, list_att, &isnull);
			else
				continue;
			if (!isnull)
				SetMember(s, member, r, DatumGetInt64(lid));
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	list_free(indexes);
}

/*
 * The differences between what the filters of s match now and the current
 * memberships, for a batch of records: the memberships first, as a bitmap
 * of (record, list), then each evaluation query's answers against it.
 * Records that no longer exist leave every dynamic list.
 */
static void
DiffBatch(ListSet *s, const CqlEntity *e, int64 ws, const int64 *ids, int nids, DiffReceiver *d)
{
	Datum		args[2];
	uint64		nbits = (uint64) nids * s->nlists;

	d->ids = ids;
	d->nids = nids;
	d->member = palloc0(nbits / 8 + 1);
	d->seen = palloc0(sizeof(bool) * nids);
	ReadMembers(s, e, ws, ids, nids, d->member);
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids, nids);
	d->pub.receiveSlot = ReceiveEval;
	for (int p = 0; p < s->nparts; p++)
	{
		d->part = &s->parts[p];
		RunInto(s->parts[p].plan, args, d);
	}
	for (int r = 0; r < nids; r++)
		for (int l = 0; l < s->nlists && !d->seen[r]; l++)
		{
			uint64		bit = (uint64) r * s->nlists + l;

			if (d->member[bit / 8] & (1 << (bit % 8)))
				AddDifference(d, false, s->ids[l], ids[r]);
		}
	pfree(d->member);
	pfree(d->seen);
	pfree(DatumGetPointer(args[1]));
}

/*
 * Bring every dynamic list of s up to date for these records (sorted,
 * distinct); lock them first when the caller did not write them itself.
 * Returns the number of memberships changed in list only_list (all when 0).
 */
int64
Recompute(ListSet *s, const CqlEntity *e, int64 ws, IdSet *ids, bool lock, int64 only_list)
{
	int			ei = EntityIndex(e);
	Datum		args[2];
	IdSet		add_l = {0},
				add_o = {0},
				del_l = {0},
				del_o = {0};
	DiffReceiver d;
	int			batch;
	int			saved_depth;

	if (s->nlists == 0 || ids->n == 0)
		return 0;
	PreparePlans(e, ei);
	for (int p = 0; p < s->nparts; p++)
		if (s->parts[p].plan == NULL)
		{
			Oid			evaltypes[2] = {INT8OID, INT8ARRAYOID};

			/*
			 * Not generic on Citus, which routes a query with a subquery
			 * (the shared predicates) by its parameters' values only.
			 */
			s->parts[p].plan = PrepareKeptPlan(s->parts[p].sql, 2, evaltypes,
											   !CrmIsCitusTable(DatumGetObjectId(DirectFunctionCall1(regclassin,
																									  CStringGetDatum(e->table)))));
		}
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids->v, ids->n);
	if (lock && SPI_execute_plan(lock_plan[ei], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking records failed");

	memset(&d, 0, sizeof(d));
	d.pub.rStartup = DiffStartup;
	d.pub.rShutdown = DiffShutdown;
	d.pub.rDestroy = DiffDestroy;
	d.pub.mydest = DestNone;
	d.s = s;
	d.add_l = &add_l;
	d.add_o = &add_o;
	d.del_l = &del_l;
	d.del_o = &del_o;
	d.only_list = only_list;
	d.cxt = CurrentMemoryContext;
	/*
	 * One snapshot for the memberships and the filters, taken after the
	 * locks (as SPI would for a statement that is not read-only): in READ
	 * COMMITTED it sees what the writers we waited for committed.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	batch = Max(1, MEMBER_BITS / s->nlists);
	for (int i = 0; i < ids->n; i += batch)
		DiffBatch(s, e, ws, ids->v + i, Min(batch, ids->n - i), &d);
	PopActiveSnapshot();
	if (add_l.n == 0 && del_l.n == 0)
		return 0;

	lists_applying++;
	saved_depth = filter_write_depth;
	filter_write_depth = TriggerDepth();
	PG_TRY();
	{
		ApplyDifferences(e, ei, args[0], &del_l, &del_o, &add_l, &add_o);
	}
	PG_FINALLY();
	{
		filter_write_depth = saved_depth;
		lists_applying--;
	}
	PG_END_TRY();
	return d.changed;
}

/* Locks linked records FOR SHARE (a link row changed): see lists_sync.c */
void
LockLinked(const CqlEntity *e, int64 ws, IdSet *ids)
{
	Datum		args[2];
	int			ei = EntityIndex(e);

	IdSort(ids);
	PreparePlans(e, ei);
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids->v, ids->n);
	if (SPI_execute_plan(share_plan[ei], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking linked records failed");
}

/* ---- whole lists ----------------------------------------------------------- */

static void
ReadList(int64 list_id, ListRow *l)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	l->ws = CrmCurrentWorkspace();
	values[0] = Int64GetDatum(l->ws);
	values[1] = Int64GetDatum(list_id);
	if (SPI_execute_with_args("SELECT l.name, l.object_type, l.kind::text, l.filter::text, l.owner FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.id = $2 FOR NO KEY UPDATE",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading the list failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("list " INT64_FORMAT " does not exist", list_id),
				 errhint("Check the id (SELECT id, name FROM crm.lists); lists of other workspaces are not visible here.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	l->id = list_id;
	l->name = SPI_getvalue(tup, desc, 1);
	l->e = CqlFindEntity(SPI_getvalue(tup, desc, 2));
	l->kind = SPI_getvalue(tup, desc, 3);
	(void) SPI_getbinval(tup, desc, 4, &isnull);
	l->filter = isnull ? NULL : SPI_getvalue(tup, desc, 4);
	l->owner = SPI_getvalue(tup, desc, 5);
	if (l->e == NULL || l->filter == NULL)
		elog(ERROR, "crm lists: list " INT64_FORMAT " has no filter or an unknown object type", list_id);
}

/* "<table> <alias> WHERE workspace AND [scope AND] (filter)" for a whole-table scan */
char *
MatchSql(const ListRow *l, const char *sql, const CrmCqlReads *reads)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s.id AS oid FROM %s %s WHERE %s.workspace_id = $1 AND ",
					 l->e->alias, l->e->table, l->e->alias, l->e->alias);
	if (l->e->scope_sql && !reads->mentions_scope)
	{
		appendStringInfo(&q, l->e->scope_sql, l->e->alias);
		appendStringInfoString(&q, " AND ");
	}
	else if (l->e->member_sql)
	{
		appendStringInfo(&q, l->e->member_sql, l->e->alias);
		appendStringInfoString(&q, " AND ");
	}
	appendStringInfo(&q, "(%s)", sql);
	return q.data;
}

/*
 * A dynamic list's membership made equal to its filter, set-based: one
 * statement finds the records whose membership differs (a FULL JOIN of the
 * filter's matches and the current members), which are then locked and
 * re-evaluated through the same compiled query as the triggers use, so a
 * concurrent writer of one of them is waited for, not overwritten.
 */
int64
RefreshMembers(const ListRow *l, const char *sql, const CrmCqlReads *reads, bool stamp)
{
	StringInfoData q;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	IdSet		ids = {0};
	ListSet    *s;
	int64		changed;

	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT coalesce(m.oid, c.oid) FROM (%s) m"
					 "  FULL JOIN (SELECT lm.%s AS oid FROM crm.list_members lm"
					 "              WHERE lm.workspace_id = $1 AND lm.list_id = $2) c ON m.oid = c.oid"
					 " WHERE m.oid IS NULL OR c.oid IS NULL",
					 MatchSql(l, sql, reads), l->e->list_column);
	values[0] = Int64GetDatum(l->ws);
	values[1] = Int64GetDatum(l->id);
	if (SPI_execute_with_args(q.data, 2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: computing list differences failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		IdAdd(&ids, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	IdSort(&ids);
	s = GetListSet(l->ws, l->e);
	if (!IdContains(s->ids, s->nlists, l->id))
		elog(ERROR, "crm lists: list " INT64_FORMAT " is missing from the compiled lists", l->id);
	changed = Recompute(s, l->e, l->ws, &ids, true, l->id);
	if (!stamp)
		return changed;
	/* refreshed_at is ours to write (lists_define.c) */
	lists_internal_write++;
	PG_TRY();
	{
		if (SPI_execute_with_args("UPDATE crm.lists l SET refreshed_at = pg_catalog.now()"
								  " WHERE l.workspace_id = $1 AND l.id = $2",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm lists: recording the refresh failed");
	}
	PG_FINALLY();
	{
		lists_internal_write--;
	}
	PG_END_TRY();
	return changed;
}

/*
 * On Citus: the workspace's shards of the tables, on this worker, where the
 * writers of its rows take their locks.  A LOCK TABLE of the distributed
 * tables would be Citus's distributed lock, which takes the tables on every
 * node through connections of its own: the coordinator's next write of
 * them in the same transaction then waits for that connection, a
 * distributed deadlock.
 */
static void
LockShards(int64 ws, const char **tables, int ntables)
{
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum	   *names = palloc(sizeof(Datum) * ntables);
	Datum		values[2];

	for (int i = 0; i < ntables; i++)
		names[i] = CStringGetTextDatum(tables[i]);
	values[0] = Int64GetDatum(ws);
	values[1] = PointerGetDatum(construct_array(names, ntables, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT pg_catalog.shard_name(t::pg_catalog.regclass,"
							  "  pg_catalog.get_shard_id_for_distribution_column(t::pg_catalog.regclass, $1))::pg_catalog.regclass"
							  " FROM pg_catalog.unnest($2) AS t", 2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: finding the workspace's shards failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		LockRelationOid(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)),
						ShareLock);
	}
}

/* SHARE locks on every table the filter reads: see "Concurrency" above */
void
LockReadTables(const ListRow *l, const CrmCqlReads *reads)
{
	const char **tables = palloc(sizeof(char *) * (2 + 2 * reads->nrels + reads->nlookups));
	int			n = 0;
	StringInfoData q;

	tables[n++] = l->e->table;
	for (int i = 0; i < reads->nrels; i++)
	{
		const CqlRelation *r = reads->rels[i];

		if (r->link_table)
			tables[n++] = r->link_table;
		tables[n++] = CqlFindEntity(r->target)->table;
	}
	for (int i = 0; i < reads->nlookups; i++)
		tables[n++] = CqlFindEntity(reads->lookup_rel[i]->target)->table;
	if (reads->nlist_ids)
		tables[n++] = "crm.list_members";
	if (CrmIsCitusTable(DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(l->e->table)))))
	{
		LockShards(l->ws, tables, n);
		return;
	}
	initStringInfo(&q);
	for (int i = 0; i < n; i++)
		appendStringInfo(&q, "%s%s", i ? ", " : "LOCK TABLE ", tables[i]);
	appendStringInfoString(&q, " IN SHARE MODE");
	if (SPI_execute(q.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "crm lists: locking tables failed");
}

/*
 * Checks a dynamic or snapshot list's filter against its object type,
 * records what it depends on, and computes the membership: a dynamic list
 * through RefreshMembers, a snapshot once (source 'snapshot').
 */


Datum
crm_refresh_list_members(PG_FUNCTION_ARGS)
{
	int64		list_id = PG_GETARG_INT64(0);
	ListRow		l;
	CrmCqlReads reads;
	char	   *sql;
	int64		changed;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	ReadList(list_id, &l);
	if (strcmp(l.kind, "dynamic") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s list \"%s\" has no filter to refresh", l.kind, l.name),
				 errhint("Only dynamic lists follow their filter.")));
	sql = CrmCqlTranslateFor(l.e->name, l.filter, l.ws, l.owner, NULL, &reads, NULL);
	changed = RefreshMembers(&l, sql, &reads, true);
	SPI_finish();
	PG_RETURN_INT64(changed);
}

/* A dynamic list's filter translated again; one that no longer translates refuses the change */
