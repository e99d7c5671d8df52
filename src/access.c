/*-------------------------------------------------------------------------
 *
 * access.c
 *	  The security-definer boundary: functions that write what no granted
 *	  role may write itself (the outbox, the search dictionary) run as the
 *	  extension's owner, and check here what their caller may do.
 *
 * Inside a SECURITY DEFINER function current_user is the owner; the role
 * that called it (the JWT role PostgREST or PostGraphile switched to, or
 * the session's) is the outer user, which SECURITY DEFINER does not change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_require_caller_privilege);

/*
 * crm_internal.require_caller_privilege(rel regclass, privilege text):
 * raises 42501 unless the caller holds the privilege on the table, as it
 * would need to make the function's writes itself.
 */
Datum
crm_require_caller_privilege(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			caller = GetOuterUserId();
	AclMode		mode;
	const char *verb;

	if (strcmp(privilege, "INSERT") == 0)
		mode = ACL_INSERT, verb = "insert";
	else if (strcmp(privilege, "UPDATE") == 0)
		mode = ACL_UPDATE, verb = "update";
	else if (strcmp(privilege, "DELETE") == 0)
		mode = ACL_DELETE, verb = "delete";
	else
		elog(ERROR, "require_caller_privilege: unknown privilege \"%s\"", privilege);

	if (pg_class_aclcheck(relid, caller, mode) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not %s rows of crm.%s",
						GetUserNameFromId(caller, false), verb, get_rel_name(relid)),
				 errhint("crm.grant_access(role) grants a role the right to change the CRM; read-only access cannot.")));
	PG_RETURN_VOID();
}
