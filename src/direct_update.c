/*-------------------------------------------------------------------------
 *
 * direct_update.c
 *	  Rows the extension keeps for itself, found through an index, locked,
 *	  and updated, deleted or added without the executor: the lists' counts
 *	  (lists_counts.c) and the report summaries' deltas (report_summaries.c),
 *	  both written at commit.
 *
 * What an UPDATE of such a row does comes down to an index probe, the lock
 * of the row's last version (as LockRows does in READ COMMITTED), the new
 * version written (a HOT update where the page has room) and its index
 * entries if it could not be HOT.  The executor's statement costs several
 * times that at every commit: started, the table's checks evaluated, its
 * row triggers called.  So the callers write only tables, and columns,
 * that no CHECK, foreign key or trigger of theirs reads, and no index but
 * the one probed, on columns they do not change.
 *
 * The rows are read with a snapshot taken when the writer begins, after
 * this transaction's own writes so far, and locked in their last version:
 * what is written is a delta added to a sum, so a concurrent commit's
 * version is the one to add to, in any isolation level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"

struct CrmDirectUpdate
{
	Relation	rel;
	Relation	index;
	EState	   *estate;
	ResultRelInfo *rri;
	Snapshot	snapshot;
	IndexScanDesc scan;			/* the probe under way, or NULL */
	TupleTableSlot *old;		/* the row locked */
	TupleTableSlot *new;		/* the values to write */
};

/* A writer of rel's rows found through index, both opened and locked by the caller */
CrmDirectUpdate *
CrmDirectUpdateBegin(Relation rel, Relation index)
{
	CrmDirectUpdate *d = palloc0(sizeof(CrmDirectUpdate));

	d->rel = rel;
	d->index = index;
	d->estate = CreateExecutorState();
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, rel, 1, NULL, 0);
	ExecOpenIndices(d->rri, false);
	d->old = table_slot_create(rel, NULL);
	d->new = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	/* what this transaction wrote before is seen: its own new rows included */
	CommandCounterIncrement();
	d->snapshot = RegisterSnapshot(GetLatestSnapshot());
	return d;
}

/*
 * The key of index column col (from 1): equal to value by the column's
 * operator class, or NULL when isnull (the SQL's "IS NULL").
 */
void
CrmDirectUpdateKey(CrmDirectUpdate *d, ScanKey key, int col, Datum value, bool isnull)
{
	Relation	index = d->index;
	Oid			type = index->rd_opcintype[col - 1];
	Oid			op;

	if (isnull)
	{
		ScanKeyEntryInitialize(key, SK_ISNULL | SK_SEARCHNULL, col, InvalidStrategy, InvalidOid,
							   InvalidOid, InvalidOid, (Datum) 0);
		return;
	}
	op = get_opfamily_member(index->rd_opfamily[col - 1], type, type, BTEqualStrategyNumber);
	if (!OidIsValid(op))
		elog(ERROR, "crm: index \"%s\" has no equality for column %d", RelationGetRelationName(index), col);
	ScanKeyEntryInitialize(key, 0, col, BTEqualStrategyNumber, type, index->rd_indcollation[col - 1],
						   get_opcode(op), value);
}

/* Ends the probe under way */
static void
EndProbe(CrmDirectUpdate *d)
{
	if (d->scan != NULL)
		index_endscan(d->scan);
	d->scan = NULL;
}

/* A probe of the rows whose index entries match keys */
void
CrmDirectUpdateProbe(CrmDirectUpdate *d, ScanKey keys, int nkeys)
{
	EndProbe(d);
	d->scan = index_beginscan(d->rel, d->index, d->snapshot, nkeys, 0);
	index_rescan(d->scan, keys, nkeys, NULL, 0);
}

/*
 * The probe's next row, locked in its last version; NULL when none is
 * left.  A row deleted since is passed over, and with LockWaitSkip a row
 * another transaction holds too, as FOR UPDATE SKIP LOCKED does.
 */
TupleTableSlot *
CrmDirectUpdateLockNext(CrmDirectUpdate *d, LockWaitPolicy wait)
{
	TM_FailureData tmfd;

	while (d->scan != NULL && index_getnext_slot(d->scan, ForwardScanDirection, d->old))
	{
		TM_Result	result = table_tuple_lock(d->rel, &d->old->tts_tid, d->snapshot, d->old,
											  GetCurrentCommandId(true), LockTupleNoKeyExclusive, wait,
											  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);

		if (result == TM_Ok)
			return d->old;
		if (result != TM_Deleted && result != TM_WouldBlock)
			elog(ERROR, "crm: could not lock a row of \"%s\" (%d)", RelationGetRelationName(d->rel),
				 (int) result);
	}
	EndProbe(d);
	return NULL;
}

/*
 * The values to write, to change and store with ExecStoreVirtualTuple: the
 * locked row's, or (old false) all NULL, for a new row.
 */
TupleTableSlot *
CrmDirectUpdateValues(CrmDirectUpdate *d, bool old)
{
	int			natts = RelationGetDescr(d->rel)->natts;

	ExecClearTuple(d->new);
	if (old)
	{
		slot_getallattrs(d->old);
		memcpy(d->new->tts_values, d->old->tts_values, sizeof(Datum) * natts);
		memcpy(d->new->tts_isnull, d->old->tts_isnull, sizeof(bool) * natts);
	}
	else
		memset(d->new->tts_isnull, true, sizeof(bool) * natts);
	return d->new;
}

/* The index entries of a version that is not a HOT update's, or a new row's */
static void
InsertIndexEntries(CrmDirectUpdate *d)
{
	/* not as an UPDATE's: that hint reads the statement's range table, and there is none */
	if (d->rri->ri_NumIndices > 0)
		(void) ExecInsertIndexTuples(d->rri, d->new, d->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(d->estate);
}

/* The locked row's new version: the values */
void
CrmDirectUpdateWrite(CrmDirectUpdate *d)
{
	bool		update_indexes;

	simple_table_tuple_update(d->rel, &d->old->tts_tid, d->new, d->snapshot, &update_indexes);
	if (update_indexes)
		InsertIndexEntries(d);
}

/* The locked row deleted */
void
CrmDirectUpdateDelete(CrmDirectUpdate *d)
{
	simple_table_tuple_delete(d->rel, &d->old->tts_tid, d->snapshot);
}

/* The values added as a new row */
void
CrmDirectUpdateInsert(CrmDirectUpdate *d)
{
	simple_table_tuple_insert(d->rel, d->new);
	InsertIndexEntries(d);
}

/* Frees the writer; the relations stay open */
void
CrmDirectUpdateEnd(CrmDirectUpdate *d)
{
	EndProbe(d);
	UnregisterSnapshot(d->snapshot);
	ExecDropSingleTupleTableSlot(d->old);
	ExecDropSingleTupleTableSlot(d->new);
	ExecCloseIndices(d->rri);
	FreeExecutorState(d->estate);
	pfree(d);
}
