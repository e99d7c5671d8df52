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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_require_caller_privilege);

/* The owner of a relation: the extension's tables belong to who installed it */
Oid
CrmRelationOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Audit and derived tables (the outbox, stage history, the search
 * dictionary) are read-only to granted roles: the extension's C code writes
 * them as their owner, between these two calls.  An error on the way
 * restores the user with the (sub)transaction's abort.
 */
void
CrmBecomeOwner(Oid owner, CrmSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
CrmRestoreUser(const CrmSavedUser *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/*
 * A service role (crm.grant_access(role, access => 'service')) may write
 * what a frontend may not: a verified identity, its own events.  The grant
 * is the record of it: SELECT on the empty table crm_internal.service_access
 * (its owner and superusers have it too).
 */
bool
CrmRoleIsService(Oid role)
{
	Oid			marker = get_relname_relid("service_access", get_namespace_oid("crm_internal", false));

	return OidIsValid(marker) && pg_class_aclcheck(marker, role, ACL_SELECT) == ACLCHECK_OK;
}

/*
 * crm_internal.require_caller_privilege(rel regclass, privilege text):
 * raises 42501 unless the caller holds the privilege on the table, as it
 * would need to make the function's writes (or, for SELECT, reads) itself.
 */
Datum
crm_require_caller_privilege(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			caller = GetOuterUserId();
	AclMode		mode;
	const char *verb;

	if (strcmp(privilege, "SELECT") == 0)
		mode = ACL_SELECT, verb = "read";
	else if (strcmp(privilege, "INSERT") == 0)
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
				 mode == ACL_SELECT
				 ? errhint("crm.grant_access(role) grants a role access to the CRM.")
				 : errhint("crm.grant_access(role) grants a role the right to change the CRM; read-only access cannot.")));
	PG_RETURN_VOID();
}
