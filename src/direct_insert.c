/*-------------------------------------------------------------------------
 *
 * direct_insert.c
 *	  Rows written straight into a table's heap and indexes, as the
 *	  outbox (events.c) and the value history (history.c) write theirs.
 *
 * The writers fill one slot per row; the rows go into the heap by pages,
 * as COPY writes them (one multi-insert, one WAL record per page instead
 * of per row), then into each index.  A bulk statement (an import batch
 * of 1,000 contacts writes 1,000 events and 4,000 history rows) spends
 * much less in the heap that way; one row costs what a single insert did.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"

#include "crm.h"

/* Rows per multi-insert, COPY's MAX_BUFFERED_TUPLES */
#define DIRECT_INSERT_ROWS 1000

struct CrmDirectInsert
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	CommandId	cid;
	int			n;
	TupleTableSlot *slots[DIRECT_INSERT_ROWS];
};

/* A writer of rel's rows, which the caller has opened and locked */
CrmDirectInsert *
CrmDirectInsertBegin(Relation rel)
{
	CrmDirectInsert *d = palloc0(sizeof(CrmDirectInsert));

	d->rel = rel;
	d->estate = CreateExecutorState();
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, rel, 1, NULL, 0);
	ExecOpenIndices(d->rri, false);
	d->cid = GetCurrentCommandId(true);
	return d;
}

static void
Flush(CrmDirectInsert *d)
{
	if (d->n == 0)
		return;
	table_multi_insert(d->rel, d->slots, d->n, d->cid, 0, NULL);
	for (int i = 0; i < d->n; i++)
	{
		if (d->rri->ri_NumIndices > 0)
			(void) ExecInsertIndexTuples(d->rri, d->slots[i], d->estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(d->estate);
		ExecClearTuple(d->slots[i]);
	}
	d->n = 0;
}

/*
 * The slot of the next row, cleared: the caller fills its values and
 * stores it with ExecStoreVirtualTuple.  The rows before may be written
 * now, the last ones by CrmDirectInsertEnd.
 */
TupleTableSlot *
CrmDirectInsertNext(CrmDirectInsert *d)
{
	TupleTableSlot *slot;

	if (d->n == DIRECT_INSERT_ROWS)
		Flush(d);
	if (d->slots[d->n] == NULL)
		d->slots[d->n] = MakeSingleTupleTableSlot(RelationGetDescr(d->rel), &TTSOpsHeapTuple);
	slot = d->slots[d->n++];
	ExecClearTuple(slot);
	memset(slot->tts_isnull, false, sizeof(bool) * RelationGetDescr(d->rel)->natts);
	return slot;
}

/* Writes the rows not yet written and frees the writer; rel stays open */
void
CrmDirectInsertEnd(CrmDirectInsert *d)
{
	Flush(d);
	for (int i = 0; i < DIRECT_INSERT_ROWS && d->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(d->slots[i]);
	ExecCloseIndices(d->rri);
	FreeExecutorState(d->estate);
	pfree(d);
}
