/*-------------------------------------------------------------------------
 *
 * reporting.c
 *	  Reporting roles: a BI tool's direct SQL login, pinned to one workspace
 *	  without claims (crm.grant_access(role, access => 'reporting')).
 *
 * SELECT on crm_internal.reporting_access marks a reporting role (a grant
 * follows the role through renames and dumps); the table's row for the
 * role's name holds its workspace, or NULL for an operator reading every
 * workspace (access => 'reporting_all', which also gets BYPASSRLS).  A
 * pinned role's crm.current_workspace() is its workspace whatever it SETs:
 * crm.workspace_id and the claims are the session's to change, the grant
 * and the row only the DBA's.  A marked role without its row (renamed
 * since the grant) is refused rather than left unpinned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "crm.h"

/* What a role is, cached for the last role asked about */
typedef enum ReportingKind
{
	REPORTING_NONE,				/* not a reporting role */
	REPORTING_PINNED,			/* reads pinned_workspace only */
	REPORTING_ALL,				/* an operator: every workspace */
	REPORTING_UNPINNED			/* marked, but no row for its name */
} ReportingKind;

static Oid	access_relid = InvalidOid;
static Oid	cached_role = InvalidOid;
static uint64 cached_stamp = 0;	/* CrmCacheStamp() when loaded */
static ReportingKind cached_kind = REPORTING_NONE;
static int64 pinned_workspace = 0;

/* A grant or a row change of crm_internal.reporting_access */
void
CrmReportingRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == access_relid)
	{
		cached_role = InvalidOid;
		access_relid = InvalidOid;	/* looked up again: the table may be gone */
	}
}

/* Reads the role's row as the table's owner: NULL workspace is "all" */
static ReportingKind
LoadReportingKind(Oid role)
{
	Datum		arg = CStringGetDatum(GetUserNameFromId(role, false));
	ReportingKind kind = REPORTING_UNPINNED;
	CrmSavedUser saved;
	bool		isnull;

	CrmBecomeOwner(CrmRelationOwner(access_relid), &saved);
	SPI_connect();
	/* what is cached outlives the statement (a parallel worker's, the query) */
	if (SPI_execute_snapshot(SPI_prepare("SELECT workspace_id FROM crm_internal.reporting_access"
										 " WHERE role_name OPERATOR(pg_catalog.=) $1",
										 1, (Oid[]) {NAMEOID}),
							 &arg, NULL, CrmCacheSnapshot(), InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reporting: lookup failed");
	if (SPI_processed == 1)
	{
		Datum		ws = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		kind = isnull ? REPORTING_ALL : REPORTING_PINNED;
		pinned_workspace = isnull ? 0 : DatumGetInt64(ws);
	}
	SPI_finish();
	CrmRestoreUser(&saved);
	return kind;
}

static ReportingKind
ReportingKindOf(Oid role)
{
	if (role == cached_role && CrmCacheStampValid(cached_stamp))
		return cached_kind;
	if (!OidIsValid(access_relid))
		access_relid = get_relname_relid("reporting_access", get_namespace_oid("crm_internal", false));
	/* the owner and superusers hold SELECT too, and are no reporting role */
	if (!OidIsValid(access_relid) || superuser_arg(role) || role == CrmRelationOwner(access_relid)
		|| pg_class_aclcheck(access_relid, role, ACL_SELECT) != ACLCHECK_OK)
		cached_kind = REPORTING_NONE;
	else
		cached_kind = LoadReportingKind(role);
	cached_role = role;
	cached_stamp = CrmCacheStamp();
	return cached_kind;
}

/*
 * The workspace a reporting role is pinned to, or 0 when the request's role
 * is not pinned (crm.current_workspace() then reads the settings and claims).
 */
int64
CrmReportingWorkspace(void)
{
	Oid			role = GetOuterUserId();

	switch (ReportingKindOf(role))
	{
		case REPORTING_PINNED:
			return pinned_workspace;
		case REPORTING_UNPINNED:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("reporting role \"%s\" is pinned to no workspace", GetUserNameFromId(role, false)),
					 errdetail("The role was renamed after crm.grant_access(role, access => 'reporting') recorded its name."),
					 errhint("Run crm.grant_access('%s', access => 'reporting') again in the workspace it reports on.",
							 GetUserNameFromId(role, false))));
			break;
		default:
			break;
	}
	return 0;
}

/*
 * Whether the request is a reporting role's that names no user: it reads
 * its whole workspace, members or not (a role naming a user with
 * crm.user_id or a sub claim is that member, and sees what the member sees).
 */
bool
CrmReportsForWorkspace(void)
{
	return ReportingKindOf(GetOuterUserId()) != REPORTING_NONE;
}
