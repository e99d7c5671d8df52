/*-------------------------------------------------------------------------
 *
 * maintained.c
 *	  Columns the extension maintains (counters, last-activity times): a
 *	  request may not write them with a value of its own.
 *
 * The extension keeps them from its triggers: a conversation recounts its
 * contact, a message moves its conversation's last_message_at.  Those
 * writes run inside a trigger (trigger depth above 1) or inside a merge; a
 * statement a granted role makes itself, by row or through a function,
 * runs at depth 1 and may not set them.  The table's owner may.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_refuse_maintained);

/* How deep in triggers the caller runs: 1 in a trigger of the request's own statement */
int
CrmTriggerDepth(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetInt32(pg_trigger_depth(fcinfo));
}

/*
 * The table's owner and superusers (the DBA, the extension's own SECURITY
 * DEFINER code) may set them: granted roles may not.
 */
static bool
WritesAsOwner(Relation rel)
{
	Oid			user = GetUserId();

	return superuser_arg(user) || user == rel->rd_rel->relowner;
}

/*
 * crm_internal.refuse_maintained(column, what): BEFORE INSERT OR UPDATE row
 * trigger, whose WHEN clause fires it only when the column is given a value
 * of the client's (INSERT) or changed (UPDATE).
 */
Datum
crm_refuse_maintained(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	char	  **args;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("refuse_maintained: must be a row trigger with a column and a description")));
	args = trigdata->tg_trigger->tgargs;
	if (CrmTriggerDepth() == 1 && !CrmMergeInProgress() && !WritesAsOwner(trigdata->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column \"%s\" of crm.%s is maintained by the extension",
						args[0], RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("It holds %s.", args[1]),
				 errhint("Leave %s out of the INSERT or UPDATE (or send its current value).", args[0])));
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
						   : trigdata->tg_trigtuple);
}
