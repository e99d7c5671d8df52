/*-------------------------------------------------------------------------
 *
 * integrations.c
 *	  The caller check of the delivery functions (sql/integrations.sql).
 *
 * crm.claim_deliveries, crm.ack_delivery and crm.fail_delivery move a
 * delivery through its states as the table's owner (SECURITY DEFINER):
 * deliveries are the worker's state, which no frontend writes.  Inside
 * them current_user is the owner, so the caller is the outer user, which
 * only C can read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_require_service);

/*
 * crm_internal.require_service(action text): raises 42501 unless the caller
 * is a service role, the owner or a superuser (CrmRoleIsService).
 */
Datum
crm_require_service(PG_FUNCTION_ARGS)
{
	Oid			caller = GetOuterUserId();

	if (!CrmRoleIsService(caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not %s",
						GetUserNameFromId(caller, false), text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("The delivery worker connects as a role granted crm.grant_access(role, access => 'service').")));
	PG_RETURN_VOID();
}
