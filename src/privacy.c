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
 * kinds of permissive policy, which PostgreSQL ORs, and a restrictive one:
 *
 *	 workspace_id = (SELECT crm_internal.privacy_open(ws))		 everyone else
 *	 workspace_id = (SELECT crm_internal.privacy_owned(ws)) AND ... the restricted
 *	 workspace_id = (SELECT ws)									 restrictive
 *
 * The first is the workspace when the request is not restricted, else NULL;
 * the second the reverse.  Each is an InitPlan, computed once per statement
 * (by the leader of a parallel plan): the arm that does not apply finds
 * nothing at once, the other is an index key or a comparison per row, and
 * the restrictive one keeps the workspace an index key for ordered scans.
 * Their answer comes from the membership cache of members.c.  The CQL
 * translation says a restricted member's predicate too (src/cql_sql.c), so
 * that the planner reads the (workspace_id, owner) index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_privacy_open);
PG_FUNCTION_INFO_V1(crm_privacy_owned);
PG_FUNCTION_INFO_V1(crm_privacy_team);
PG_FUNCTION_INFO_V1(crm_privacy_new_owner);
PG_FUNCTION_INFO_V1(crm_privacy_deals);
PG_FUNCTION_INFO_V1(crm_privacy_deal_contacts);
PG_FUNCTION_INFO_V1(crm_privacy_deals_in);

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
 * The deals a restricted member sees, as an array of their ids or of their
 * contacts' ids, read as the owner of crm.deals with the same predicate as
 * the deals' policies (a policy reading crm.deals under its own policy
 * would refuse every contact while the deals module is off).  A statement
 * asks up to twice (the translation's predicate, the policy): the answer is
 * kept for the rest of the command.
 */
typedef struct DealIds
{
	LocalTransactionId lxid;
	CommandId	cid;
	int64		ws;
	Datum		ids;			/* bigint[] in deal_ids_cxt */
} DealIds;

static DealIds deal_ids[2];
static MemoryContext deal_ids_cxt = NULL;
static SPIPlanPtr deal_ids_plans[2];
static SPIPlanPtr deal_ids_routed = NULL;

/*
 * On a Citus coordinator: the ids read on the workspace's worker by a routed
 * SELECT of crm_hidden.privacy_deals_in in the caller's connection, which
 * reads the deals there as their owner, locally, within the transaction.
 * The owner's read from here would go through the owner's connection, which
 * Citus refuses once the caller's connection wrote the deals' shard ("cannot
 * perform query on placements that were modified in this transaction by a
 * different user").  The request's settings go with the call, as for
 * crm.identify (src/citus_calls.c).  The aggregate over a member no
 * workspace has gives one row and pins the statement to the workspace's
 * shard group; the members' policy is the workspace alone (the deals' would
 * refuse the read while the deals module is off, and the contacts' asks
 * for these ids).
 */
static Datum
DealIdsOnWorker(int64 ws, int contacts)
{
	Datum		args[3];
	bool		isnull;
	Datum		result;

	if (deal_ids_routed == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT crm_hidden.privacy_deals_in($1, $2, $3), pg_catalog.max(m.id) FROM crm.members m"
									   " WHERE m.workspace_id OPERATOR(pg_catalog.=) $2 AND m.id OPERATOR(pg_catalog.=) 0",
									   3, (Oid[]) {TEXTARRAYOID, INT8OID, BOOLOID});

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "privacy: could not prepare the deals lookup on the worker");
		deal_ids_routed = plan;
	}
	args[0] = CrmCitusRequestSettings(ws);
	args[1] = Int64GetDatum(ws);
	args[2] = BoolGetDatum(contacts != 0);
	if (SPI_execute_plan(deal_ids_routed, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "privacy: the deals lookup on the worker failed");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "privacy: the deals lookup on the worker found no restricted member");
	return result;
}

/* The ids read here as the owner of crm.deals, inside SPI */
static Datum
DealIdsAsOwner(int64 ws, int contacts, const char *team)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	CrmSavedUser saved;
	bool		isnull;
	Datum		result;

	args[0] = Int64GetDatum(ws);
	args[1] = CStringGetTextDatum(CrmCurrentUserId());
	args[2] = team ? CStringGetTextDatum(team) : (Datum) 0;
	nulls[2] = team ? ' ' : 'n';
	CrmBecomeOwner(CrmRelationOwner(get_relname_relid("deals", get_namespace_oid("crm", false))), &saved);
	if (deal_ids_plans[contacts] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(contacts ?
									   "SELECT coalesce(pg_catalog.array_agg(DISTINCT contact_id), '{}') FROM crm.deals"
									   " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND contact_id IS NOT NULL"
									   "   AND (owner OPERATOR(pg_catalog.=) $2 OR team OPERATOR(pg_catalog.=) $3)" :
									   "SELECT coalesce(pg_catalog.array_agg(id), '{}') FROM crm.deals"
									   " WHERE workspace_id OPERATOR(pg_catalog.=) $1"
									   "   AND (owner OPERATOR(pg_catalog.=) $2 OR team OPERATOR(pg_catalog.=) $3)",
									   3, (Oid[]) {INT8OID, TEXTOID, TEXTOID});

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "privacy: could not prepare the deals lookup");
		deal_ids_plans[contacts] = plan;
	}
	if (SPI_execute_plan(deal_ids_plans[contacts], args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "privacy: the deals lookup failed");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	CrmRestoreUser(&saved);
	return result;
}

static Datum
DealIdsOf(int64 ws, int contacts)
{
	DealIds    *c = &deal_ids[contacts];
	const char *team;
	Datum		result;
	Oid			members = get_relname_relid("members", get_namespace_oid("crm", false));

	if (c->ids != (Datum) 0 && c->lxid == MyProc->lxid && c->cid == GetCurrentCommandId(false) && c->ws == ws)
		return c->ids;
	if (!CrmPrivacyRestricted(ws, &team, 0) || CrmCurrentUserId() == NULL)
		return (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "privacy: SPI_connect failed");
	if (CrmCitusIsCoordinator() && CrmIsCitusTable(members) &&
		pg_class_aclcheck(members, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
		result = DealIdsOnWorker(ws, contacts);
	else
		result = DealIdsAsOwner(ws, contacts, team);
	if (deal_ids_cxt == NULL)
		deal_ids_cxt = AllocSetContextCreate(TopMemoryContext, "crm privacy deal ids", ALLOCSET_SMALL_SIZES);
	if (c->ids != (Datum) 0)
		pfree(DatumGetPointer(c->ids));
	c->ids = (Datum) 0;
	{
		MemoryContext old = MemoryContextSwitchTo(deal_ids_cxt);

		c->ids = datumCopy(result, false, -1);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	c->lxid = MyProc->lxid;
	c->cid = GetCurrentCommandId(false);
	c->ws = ws;
	return c->ids;
}

/* crm_internal.privacy_deals(ws): the ids of the deals a restricted member sees, else NULL */
Datum
crm_privacy_deals(PG_FUNCTION_ARGS)
{
	Datum		ids = DealIdsOf(PG_GETARG_INT64(0), 0);

	if (ids == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(ids, false, -1));
}

/* crm_internal.privacy_deal_contacts(ws): the contacts of those deals, else NULL */
Datum
crm_privacy_deal_contacts(PG_FUNCTION_ARGS)
{
	Datum		ids = DealIdsOf(PG_GETARG_INT64(0), 1);

	if (ids == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(ids, false, -1));
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
				 errmsg("user \"%s\" may not create a row of %s owned by \"%s\"",
						user, CrmTriggerTableName(trigdata->tg_relation), owner),
				 errdetail("Owner-based privacy shows them only what they own%s.",
						   row_team != NULL || team != NULL ? " or their team's" : ""),
				 errhint("Leave owner out (the row is then theirs); a member with see_all assigns rows to others.")));
	return PointerGetDatum(tuple);
}

/*
 * crm_hidden.privacy_deals_in(settings, ws, contacts): privacy_deals(ws)
 * (privacy_deal_contacts when contacts) under the request's settings sent
 * by a Citus coordinator (DealIdsOnWorker), on the workspace's worker; NULL
 * for a request privacy does not hold.  The settings hold for
 * the call only.  Anyone may call it: it is those functions under settings
 * the caller could set itself.
 */
Datum
crm_privacy_deals_in(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	Datum		ids;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("settings, workspace and contacts must not be null"),
				 errhint("crm's policies send this call from a Citus coordinator; read the table instead.")));
	/* a coordinator would send it on again */
	if (CrmCitusIsCoordinator())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm_hidden.privacy_deals_in runs on a Citus worker, not on the coordinator"),
				 errhint("crm's policies send this call from a Citus coordinator; read the table instead.")));
	nestlevel = NewGUCNestLevel();
	CrmCitusApplyRequestSettings(PG_GETARG_ARRAYTYPE_P(0), "crm_internal.privacy_deals");
	ids = DealIdsOf(PG_GETARG_INT64(1), PG_GETARG_BOOL(2) ? 1 : 0);
	result = ids == (Datum) 0 ? (Datum) 0 : datumCopy(ids, false, -1);
	AtEOXact_GUC(true, nestlevel);
	if (result == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
