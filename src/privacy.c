/*-------------------------------------------------------------------------
 *
 * privacy.c
 *	  Owner-based privacy: in a workspace whose privacy is 'owner'
 *	  (crm.set_privacy), a member without see_all sees and changes only the
 *	  deals they own or their team's, the contacts they own or of a deal
 *	  they see, and what hangs off those (docs/members.md).
 *
 * It is enforced by the row-level policies (sql/privacy.sql), so every read
 * path is covered at once: SELECT, PostgREST, PostGraphile, the SQL the
 * CQL translator emits, the API's functions.  Each governed table has two
 * kinds of permissive policy, which PostgreSQL ORs:
 *
 *	 workspace_id = crm_internal.privacy_open(ws)			  everyone else
 *	 workspace_id = crm_internal.privacy_owned(ws) AND ...	  the restricted
 *
 * The first is the workspace when the request is not restricted, else NULL;
 * the second the reverse.  Both are STABLE, so the planner keeps them as
 * index keys evaluated once per scan: the arm that does not apply finds
 * nothing at once, and the other is planned on the (workspace_id, owner)
 * index (a single policy "open() OR owner = uid" could not be).  Their
 * answer comes from the membership cache of members.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_privacy_open);
PG_FUNCTION_INFO_V1(crm_privacy_owned);
PG_FUNCTION_INFO_V1(crm_privacy_team);
PG_FUNCTION_INFO_V1(crm_privacy_new_owner);

/* crm_internal.privacy_open(ws): ws when privacy does not hold the request, else NULL */
Datum
crm_privacy_open(PG_FUNCTION_ARGS)
{
	int64		ws = PG_GETARG_INT64(0);
	const char *team;

	if (CrmPrivacyRestricted(ws, &team, 0))
		PG_RETURN_NULL();
	PG_RETURN_INT64(ws);
}

/* crm_internal.privacy_owned(ws): ws when privacy holds the request, else NULL */
Datum
crm_privacy_owned(PG_FUNCTION_ARGS)
{
	int64		ws = PG_GETARG_INT64(0);
	const char *team;

	if (!CrmPrivacyRestricted(ws, &team, 0))
		PG_RETURN_NULL();
	PG_RETURN_INT64(ws);
}

/* crm_internal.privacy_team(ws): the restricted member's team, else NULL */
Datum
crm_privacy_team(PG_FUNCTION_ARGS)
{
	int64		ws = PG_GETARG_INT64(0);
	const char *team;

	if (!CrmPrivacyRestricted(ws, &team, 0) || team == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(team));
}

/*
 * crm_internal.privacy_new_owner(): BEFORE INSERT FOR EACH ROW on contacts
 * and deals.  A restricted member's new row without an owner is theirs; one
 * they give to someone else, which their policies would not show them, is
 * refused here with a hint rather than by the policy (a deal of their own
 * team may have another owner).
 */
Datum
crm_privacy_new_owner(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	const char *team;
	const char *user;
	char	   *owner;
	char	   *row_team;
	int			col;
	Datum		value;
	bool		isnull = false;
	bool		wsnull;
	Datum		ws;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_new_owner: must be fired before insert for each row")));
	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	col = SPI_fnumber(desc, "owner");
	ws = heap_getattr(tuple, SPI_fnumber(desc, "workspace_id"), desc, &wsnull);
	user = CrmCurrentUserId();
	if (col <= 0 || wsnull || user == NULL || !CrmPrivacyRestricted(DatumGetInt64(ws), &team, 1))
		return PointerGetDatum(tuple);

	owner = SPI_getvalue(tuple, desc, col);
	if (owner == NULL)
	{
		value = CStringGetTextDatum(user);
		return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &col, &value, &isnull));
	}
	row_team = SPI_fnumber(desc, "team") > 0 ? SPI_getvalue(tuple, desc, SPI_fnumber(desc, "team")) : NULL;
	if (strcmp(owner, user) != 0 && (team == NULL || row_team == NULL || strcmp(team, row_team) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" may not create a row of crm.%s owned by \"%s\"",
						user, RelationGetRelationName(trigdata->tg_relation), owner),
				 errdetail("Owner-based privacy shows them only what they own%s.",
						   row_team != NULL || team != NULL ? " or their team's" : ""),
				 errhint("Leave owner out (the row is then theirs); a member with see_all assigns rows to others.")));
	return PointerGetDatum(tuple);
}
