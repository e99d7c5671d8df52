/*-------------------------------------------------------------------------
 *
 * lists_members.c
 *	  The row path of crm.list_members: bookkeeping for every membership
 *	  change, whoever makes it (add_to_list, a frontend's plain INSERT or
 *	  DELETE, the dynamic list triggers, merge, a cascade from a deleted
 *	  contact), and the refusal of hand-written members of a dynamic list.
 *
 * One statement trigger, set-based: one CRM_LIST_MEMBER_ADDED / _REMOVED
 * event per member, and each list's change of member_count, written at
 * commit (lists_counts.c), so that two transactions changing the same
 * lists do not queue on their rows; a list that is itself being deleted
 * gets no events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_list_members_changed);

/*
 * A member written by hand into a dynamic list (an INSERT, or an UPDATE
 * moving a row to another list) would vanish at the next re-evaluation:
 * refused, as crm.add_to_list refuses it.  Our own writes, merge moving a
 * contact's rows and cascades from deleted records are not hand-written.
 */
static void
RefuseDynamicMembers(bool update)
{
	static SPIPlanPtr plans[2];
	SPIPlanPtr *plan = &plans[update ? 1 : 0];

	if (*plan == NULL)
	{
		StringInfoData q;

		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT l.name FROM crm.lists l"
							   " WHERE (l.workspace_id, l.id) IN (SELECT n.workspace_id, n.list_id FROM new_rows n");
		if (update)
			appendStringInfoString(&q, " WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.workspace_id = n.workspace_id"
								   " AND o.id = n.id AND o.list_id = n.list_id)");
		appendStringInfoString(&q, ") AND l.kind = 'dynamic' ORDER BY l.name LIMIT 1");
		*plan = PrepareKept(q.data, 0, NULL);
	}
	if (SPI_execute_plan(*plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking members failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("list \"%s\" is dynamic: its members are the records its filter matches",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Change the filter with crm.set_list_filter, or add the records to a static list.")));
}

/*
 * The events of the changed rows, given as (ws, list, type, object, source,
 * delta), and each list's delta, kept for commit (lists_counts.c: the list's
 * row is not locked before then); kind: 0 insert, 1 delete, 2 update.  The
 * plans are kept: they read the transition tables by name, registered anew
 * by each call (as PL/pgSQL's plans do).
 */
static void
CountAndEmit(int kind, const char *changes, bool at_commit)
{
	static SPIPlanPtr count_plans[3];
	uint64		i;

	if (count_plans[kind] == NULL)
		count_plans[kind] = PrepareKept(psprintf(
												 "WITH c AS ("
												 "  SELECT x.workspace_id, x.list_id, x.object_type, x.object_id, max(x.source) AS source,"
												 "         sum(x.delta)::integer AS delta"
												 "    FROM (%s) x GROUP BY 1, 2, 3, 4 HAVING sum(x.delta) <> 0),"
												 " e AS ("
												 "  INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload)"
												 "  SELECT c.workspace_id,"
												 "         CASE WHEN c.delta > 0 THEN 'CRM_LIST_MEMBER_ADDED' ELSE 'CRM_LIST_MEMBER_REMOVED' END,"
												 "         'list', c.list_id,"
												 "         jsonb_build_object('list_id', c.list_id, 'object_type', c.object_type,"
												 "                            'object_id', c.object_id, 'source', c.source)"
												 "    FROM c"
												 "   WHERE EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id = c.workspace_id AND l.id = c.list_id)"
												 "   ORDER BY c.delta, c.list_id, c.object_id)"
												 " SELECT c.workspace_id, c.list_id, sum(c.delta)::bigint FROM c GROUP BY 1, 2",
												 changes),
										0, NULL);
	{
		CrmSavedUser saved;

		/* its events go into the outbox, which is read-only to granted roles */
		CrmBecomeOwner(CrmEventsOwner(), &saved);
		if (SPI_execute_plan(count_plans[kind], NULL, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: counting members failed");
		CrmRestoreUser(&saved);
	}
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ListCountsAdd(DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
					  DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
					  DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull)));
	}
	if (!at_commit)
		ListCountsFlushNow();
}

/*
 * Whether the deferred trigger that writes the counts at commit is there
 * and enabled: the release script of 0.2.0, which this library also
 * serves, has none, and there the counts are written at once.
 */
static bool
CountsAtCommit(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	int			i;

	for (i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
		if (strcmp(trigdesc->triggers[i].tgname, "list_members_counts") == 0)
			return trigdesc->triggers[i].tgenabled != TRIGGER_DISABLED;
	return false;
}

/*
 * crm_internal.list_members_changed(): AFTER INSERT, UPDATE and DELETE
 * statement trigger on crm.list_members, with transition tables new_rows
 * and old_rows.
 */
Datum
crm_list_members_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *added = "SELECT n.workspace_id, n.list_id, n.object_type, coalesce(n.contact_id, n.company_id) AS object_id,"
		" n.source, 1 AS delta FROM new_rows n";
	const char *removed = "SELECT o.workspace_id, o.list_id, o.object_type, coalesce(o.contact_id, o.company_id) AS object_id,"
		" o.source, -1 AS delta FROM old_rows o";
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("list_members_changed: must be fired AFTER each statement")));
	if ((td->tg_newtable == NULL || tuplestore_tuple_count(td->tg_newtable) == 0) &&
		(td->tg_oldtable == NULL || tuplestore_tuple_count(td->tg_oldtable) == 0))
		return PointerGetDatum(NULL);
	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "crm lists: registering transition tables failed");
	if (td->tg_newtable && lists_applying == 0)
		RefuseDynamicMembers(td->tg_oldtable != NULL);
	{
		int			kind = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? 0 : TRIGGER_FIRED_BY_DELETE(td->tg_event) ? 1 : 2;
		const char *changes = kind == 0 ? added : kind == 1 ? removed : psprintf("%s UNION ALL %s", removed, added);

		CountAndEmit(kind, changes, CountsAtCommit(td->tg_relation));
		/* the tags of smart tags follow the memberships (smart_tags.c) */
		if (SmartTagsInstalled())
			SmartTagsAfterMembers(kind, changes);
	}
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	return PointerGetDatum(NULL);
}
