/*-------------------------------------------------------------------------
 *
 * workspace_drop.c
 *	  The workspaces this transaction is deleting.
 *
 * Deleting a workspace cascades to every table of the CRM, in an order
 * PostgreSQL picks (its foreign keys' trigger order).  The cascade's deletes
 * of orders, deals or conversations fire the rollup and list triggers, which
 * would update the records they roll up to and evaluate the workspace's
 * dynamic lists against property definitions the cascade may already have
 * deleted ("unknown contact field").  A BEFORE DELETE row trigger on
 * crm.workspaces records the workspace here, and those triggers skip it:
 * everything they would write is being deleted too.
 *
 * The set lives until the end of the transaction; a subtransaction that
 * aborts takes back what it added.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_workspace_deleting);

typedef struct Deleting
{
	int64		workspace_id;
	SubTransactionId subxid;	/* the subtransaction that deleted it */
} Deleting;

static Deleting *deleting = NULL;
static int	ndeleting = 0;
static int	maxdeleting = 0;
static bool callbacks_registered = false;

static void
DeletingXact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		ndeleting = 0;
}

/* Subtransaction ids grow: what an aborted one or its children added is at or after it */
static void
DeletingSubXact(SubXactEvent event, SubTransactionId mySubid,
				SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (ndeleting > 0 && deleting[ndeleting - 1].subxid >= mySubid)
		ndeleting--;
}

/* Whether this transaction is deleting the workspace */
bool
CrmWorkspaceDeleting(int64 workspace_id)
{
	for (int i = 0; i < ndeleting; i++)
		if (deleting[i].workspace_id == workspace_id)
			return true;
	return false;
}

/*
 * BEFORE DELETE FOR EACH ROW on crm.workspaces: remember the workspace for
 * the cascade's triggers.
 */
Datum
crm_workspace_deleting(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	bool		isnull;
	Datum		id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("workspace_deleting: must be fired before delete, for each row")));
	id = heap_getattr(td->tg_trigtuple, 1, RelationGetDescr(td->tg_relation), &isnull);
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple);
	if (!callbacks_registered)
	{
		RegisterXactCallback(DeletingXact, NULL);
		RegisterSubXactCallback(DeletingSubXact, NULL);
		callbacks_registered = true;
	}
	if (ndeleting == maxdeleting)
	{
		maxdeleting = Max(8, maxdeleting * 2);
		deleting = deleting == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(Deleting) * maxdeleting)
			: repalloc(deleting, sizeof(Deleting) * maxdeleting);
	}
	deleting[ndeleting].workspace_id = DatumGetInt64(id);
	deleting[ndeleting].subxid = GetCurrentSubTransactionId();
	ndeleting++;
	return PointerGetDatum(td->tg_trigtuple);
}
