/*-------------------------------------------------------------------------
 *
 * owners.c
 *	  Rows a member owns -- lists and segments, saved views of deals and
 *	  orders -- and who sees them (docs/lists.md, docs/saved-views.md).
 *
 * Such a row has an owner (the app's user id, crm.current_user_id() of the
 * member who made it) and a visibility: private rows are their owner's,
 * workspace rows everyone's.  Members with the admin permission see every
 * row, and so does whatever sees the whole workspace: an open workspace,
 * the extension's owner, superusers and service roles.  The extension's
 * own triggers see every row too -- a private dynamic list stays exact when
 * another member's write changes its records -- and so does a merge, which
 * moves the duplicate's memberships in every list to the survivor.
 *
 * A member makes rows for themselves or for nobody; an admin may give a
 * row to anyone.  The contacts, companies and deals of a workspace that has
 * members belong to active members or to nobody.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_visible_to_user);
PG_FUNCTION_INFO_V1(crm_require_may_own);
PG_FUNCTION_INFO_V1(crm_owner_is_member);

/*
 * Whether crm.lists has owners' visibility: a database still at 0.2.0
 * runs this library with the lists of before (no visibility column).
 */
bool
CrmListsHaveVisibility(void)
{
	Oid			relid = get_relname_relid("lists", get_namespace_oid("crm", false));

	return OidIsValid(relid) && get_attnum(relid, "visibility") != InvalidAttrNumber;
}

/* Whether the request sees a row of this owner and visibility */
bool
CrmVisibleToUser(const char *owner, const char *visibility)
{
	const char *user;

	if (visibility == NULL || strcmp(visibility, "private") != 0)
		return true;
	user = CrmCurrentUserId();
	if (owner != NULL && user != NULL && strcmp(owner, user) == 0)
		return true;
	/* the extension's own work: triggers, and a merge moving every reference */
	if (CrmTriggerDepth() > 0 || CrmMergeInProgress())
		return true;
	return CrmHasPermission(CrmCurrentWorkspace(), "admin");
}

/* Refuses (42501) a row owned by someone other than the member writing it */
void
CrmRequireMayOwn(const char *owner, const char *table)
{
	const char *user = CrmCurrentUserId();

	if (owner == NULL || (user != NULL && strcmp(owner, user) == 0))
		return;
	if (CrmHasPermission(CrmCurrentWorkspace(), "admin"))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("user \"%s\" may not give a row of %s to \"%s\"", user ? user : "", table, owner),
			 errhint("Leave owner out: a row belongs to the member who makes it. An admin may give it to another member.")));
}

/*
 * crm_hidden.visible_to_user(owner, visibility): the row-level policy of
 * crm.lists and crm.saved_views.
 */
Datum
crm_visible_to_user(PG_FUNCTION_ARGS)
{
	char	   *owner = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *visibility = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(CrmVisibleToUser(owner, visibility));
}

/* crm_hidden.require_may_own(owner, table): the check of a row's owner, for triggers in SQL */
Datum
crm_require_may_own(PG_FUNCTION_ARGS)
{
	char	   *owner = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *table = PG_ARGISNULL(1) ? "a table" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	CrmRequireMayOwn(owner, table);
	PG_RETURN_VOID();
}

/*
 * crm_internal.owner_is_member(): BEFORE INSERT, and UPDATE of a changed
 * owner, row trigger on contacts, companies and deals.  In a workspace that
 * has members, a new owner is an active one (23503, like a foreign key):
 * a row given to a mistyped or departed user would be nobody's to work.
 * Only a change is checked, so a row a departed member still owns takes any
 * other write; merges and unmerges move and restore owners as they were.
 */
Datum
crm_owner_is_member(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	char	   *owner;
	bool		isnull;
	int64		ws;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("owner_is_member: must be fired before insert or update for each row")));
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (CrmMergeInProgress() || CrmTriggerDepth() > 1)
		return PointerGetDatum(tuple);
	desc = trigdata->tg_relation->rd_att;
	owner = SPI_getvalue(tuple, desc, SPI_fnumber(desc, "owner"));
	ws = DatumGetInt64(heap_getattr(tuple, SPI_fnumber(desc, "workspace_id"), desc, &isnull));
	if (owner == NULL || isnull || CrmMayOwnRows(ws, owner))
		return PointerGetDatum(tuple);
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("owner \"%s\" is not an active member of workspace %s", owner, CrmWorkspaceLabel(ws)),
			 errhint("Give the row to the user_id of an active member (SELECT user_id FROM crm.members WHERE active), or leave owner NULL.")));
	return PointerGetDatum(tuple);	/* not reached */
}
