/*-------------------------------------------------------------------------
 *
 * members.c
 *	  Who may do what in a workspace: its members (crm.members), their
 *	  roles and permissions, checked inside PostgreSQL for every request of
 *	  a frontend, by row and by function alike.
 *
 * A workspace without members is open: a request acts with every
 * permission, as before members existed.  Its first member, an admin,
 * closes it.  From then on a frontend request acts as the active member
 * whose user_id is crm.current_user_id() (crm.user_id, else the token's sub
 * claim), by that member's permissions; anyone else is refused, reads
 * included (crm.current_workspace(), which every row-level policy calls,
 * refuses).  The extension's owner, superusers and service roles act as
 * the system and are not checked.
 *
 * Writes are checked by crm_internal.require_permission(), a trigger on
 * every table (sql/tenancy.sql maps each table to its permission).  Rows
 * the extension derives from a write (an activity, a membership, a
 * reparenting by a merge) are part of that write: only the statement the
 * request made is checked, not those its triggers make.
 *
 * Memberships are cached per (workspace, user), so that a pooled backend
 * serving many users in turn reads each once; any change of crm.members
 * drops them all (a relcache invalidation, crm_internal.invalidate_caches).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_current_user_id);
PG_FUNCTION_INFO_V1(crm_current_permissions);
PG_FUNCTION_INFO_V1(crm_require_permission);

/* The permissions, as bits; their names are the API's */
static const char *const permission_names[] = {
	"contacts", "crm_manage", "custom_objects_manage", "admin", "see_all"
};
#define NUM_PERMISSIONS lengthof(permission_names)
#define ALL_PERMISSIONS ((1 << NUM_PERMISSIONS) - 1)

static char *user_id_setting = NULL;

/* A user's membership of a workspace, valid until crm.members changes */
typedef struct Membership
{
	bool		closed;			/* the workspace has members */
	bool		member;			/* the user is an active member */
	char		role[16];
	int			permissions;	/* bits of permission_names */
	bool		restricted;		/* owner-based privacy holds the member (privacy.c) */
	char	   *team;			/* the member's team, or NULL (in members_cxt) */
} Membership;

/* "<workspace>:<user>" (a user id is at most 256 bytes) -> its membership */
#define MEMBERSHIP_KEY_LEN (24 + 256 + 2)
typedef struct MembershipEntry
{
	char		key[MEMBERSHIP_KEY_LEN];
	uint64		stamp;			/* CrmCacheStamp() when loaded */
	Membership	m;
} MembershipEntry;

static HTAB *memberships = NULL;
static MemoryContext members_cxt = NULL;	/* the teams of the entries */
/* the membership lookup as the owner [0] and as the caller on Citus [1] */
static SPIPlanPtr membership_plans[2];
static SPIPlanPtr privacy_plan = NULL;
static Oid	members_relid = InvalidOid;
static Oid	workspaces_relid = InvalidOid;	/* crm.workspaces.privacy is cached too */

/* Whether system_role acts as the system; dropped when grants may have changed */
static Oid	system_role = InvalidOid;
static bool system_result = false;

void
CrmMembersRelcache(Datum arg, Oid relid)
{
	if ((relid == InvalidOid || relid == members_relid || relid == workspaces_relid) && memberships != NULL)
	{
		hash_destroy(memberships);
		memberships = NULL;
		MemoryContextReset(members_cxt);
	}
	/* a GRANT on crm_internal.service_access invalidates its relcache entry */
	system_role = InvalidOid;
}

/* A user id is at most as long as crm.members.user_id allows */
static bool
CheckUserId(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > CRM_ACTOR_MAX_BYTES)
	{
		GUC_check_errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED);
		GUC_check_errmsg("user id \"%.40s...\" is longer than %d bytes", *newval, CRM_ACTOR_MAX_BYTES);
		GUC_check_errhint("Identify the user by the id crm.members.user_id holds.");
		return false;
	}
	return true;
}

void
CrmMembersInit(void)
{
	DefineCustomStringVariable("crm.user_id",
							   "The app's user on whose behalf this session acts, as crm.members knows them.",
							   "Empty means: the JWT sub claim (request.jwt.claims, jwt.claims.sub).",
							   &user_id_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckUserId, NULL, NULL);
}

/* crm.user_id, else the token's sub claim; NULL when neither names a user */
const char *
CrmCurrentUserId(void)
{
	if (user_id_setting != NULL && *user_id_setting != '\0')
		return user_id_setting;
	return CrmClaimSub();
}

static int
PermissionBit(const char *name)
{
	for (int i = 0; i < NUM_PERMISSIONS; i++)
		if (strcmp(name, permission_names[i]) == 0)
			return 1 << i;
	return 0;
}

/* A member's own set of permissions (text[]) as bits */
static int
PermissionBits(Datum perms)
{
	Datum	   *names;
	int			n;
	int			bits = 0;

	deconstruct_array(DatumGetArrayTypeP(perms), TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &n);
	for (int i = 0; i < n; i++)
		bits |= PermissionBit(TextDatumGetCString(names[i]));
	return bits;
}

/* A role's permissions when the member's own set is NULL (docs/members.md) */
static int
RoleDefaults(const char *role)
{
	if (strcmp(role, "admin") == 0)
		return ALL_PERMISSIONS;
	if (strcmp(role, "manager") == 0)
		return ALL_PERMISSIONS & ~PermissionBit("admin");
	if (strcmp(role, "agent") == 0)
		return PermissionBit("contacts") | PermissionBit("crm_manage");
	return 0;					/* viewer: reads only */
}

/*
 * Whether the request is the system's: the extension's owner, a superuser
 * or a service role.  The role is the request's (the outer one): an API
 * function that is SECURITY DEFINER (crm.delete_contact) is held to its
 * caller's permissions like any other.
 */
static bool
ActsAsSystem(void)
{
	Oid			role = GetOuterUserId();

	if (role != system_role)
	{
		if (!OidIsValid(members_relid))
			members_relid = get_relname_relid("members", get_namespace_oid("crm", false));
		system_result = superuser_arg(role) || role == CrmRelationOwner(members_relid) ||
			CrmRoleIsService(role);
		system_role = role;
	}
	return system_result;
}

/*
 * A workspace's owner-based privacy, read as the owner of crm.workspaces:
 * no granted role writes it, so the owner's read is never refused on Citus.
 */
static bool
PrivacyIsOwner(int64 ws)
{
	Datum		arg = Int64GetDatum(ws);
	CrmSavedUser saved;
	bool		isnull;
	bool		owner;

	CrmBecomeOwner(CrmRelationOwner(workspaces_relid), &saved);
	if (privacy_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT w.privacy OPERATOR(pg_catalog.=) 'owner' FROM crm.workspaces w"
									   " WHERE w.id OPERATOR(pg_catalog.=) $1", 1, (Oid[]) {INT8OID});

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "members: could not prepare the privacy lookup");
		privacy_plan = plan;
	}
	if (SPI_execute_snapshot(privacy_plan, &arg, NULL, CrmCacheSnapshot(), InvalidSnapshot,
							 CrmCacheReadOnly(), false, 1) != SPI_OK_SELECT)
		elog(ERROR, "members: privacy lookup failed");
	owner = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	CrmRestoreUser(&saved);
	return owner;
}

/*
 * Reads the membership of user in ws from crm.members, as its owner.  On a
 * Citus coordinator, in a transaction block, the members are read as the
 * caller, whose policies give it its own workspace's (CrmCitusReadAsCaller):
 * a load after the caller's transaction wrote them (an entry an
 * invalidation dropped, a user named only after a write) is refused as the
 * owner.  The workspace's privacy is read as the owner there (PrivacyIsOwner).
 */
static void
LoadMembership(int64 ws, const char *user, Membership *m)
{
	Datum		args[2] = {Int64GetDatum(ws), CStringGetTextDatum(user ? user : "")};
	CrmSavedUser saved;
	bool		isnull;
	int			rc;
	bool		as_caller = CrmCitusReadAsCaller(members_relid, ws);

	memset(m, 0, sizeof(*m));
	if (!as_caller)
		CrmBecomeOwner(CrmRelationOwner(members_relid), &saved);
	SPI_connect();
	if (membership_plans[as_caller] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(psprintf("SELECT EXISTS (SELECT FROM crm.members WHERE workspace_id OPERATOR(pg_catalog.=) $1),"
												"       m.role::text, m.permissions, m.active, m.team, %s"
												"  FROM (SELECT) x LEFT JOIN crm.members m"
												"    ON m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2",
												as_caller ? "NULL::pg_catalog.bool" :
												"(SELECT w.privacy OPERATOR(pg_catalog.=) 'owner' FROM crm.workspaces w"
												"  WHERE w.id OPERATOR(pg_catalog.=) $1)"),
										   2, (Oid[]) {INT8OID, TEXTOID});

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "members: could not prepare the lookup");
		membership_plans[as_caller] = plan;
	}

	/*
	 * The latest snapshot, not the statement's: what is cached outlives the
	 * statement, and the invalidation of a change committed meanwhile has
	 * already been taken.  Not read-only, to see this transaction's own.
	 */
	rc = SPI_execute_snapshot(membership_plans[as_caller], args, NULL, CrmCacheSnapshot(), InvalidSnapshot,
							  CrmCacheReadOnly(), false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "members: lookup failed (%d)", rc);
	m->closed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (user != NULL)
	{
		char	   *role = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		Datum		perms = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		bool		active_null;
		bool		active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &active_null));

		if (role != NULL && !active_null && active)
		{
			bool		privacy_null;
			bool		privacy = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &privacy_null));
			char	   *team = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);

			m->member = true;
			strlcpy(m->role, role, sizeof(m->role));
			m->permissions = isnull ? RoleDefaults(role) : PermissionBits(perms);
			/* last: PrivacyIsOwner's query replaces SPI_tuptable */
			m->restricted = (m->permissions & PermissionBit("see_all")) == 0 &&
				(as_caller ? PrivacyIsOwner(ws) : privacy && !privacy_null);
			if (m->restricted && team != NULL)
				m->team = MemoryContextStrdup(members_cxt, team);
		}
	}
	SPI_finish();
	if (!as_caller)
		CrmRestoreUser(&saved);
}

/* The membership of the current user in ws, from the cache when it holds it */
static const Membership *
CurrentMembership(int64 ws, const char *user)
{
	char		key[MEMBERSHIP_KEY_LEN];
	MembershipEntry *entry;
	bool		found;

	if (!OidIsValid(members_relid))
		members_relid = get_relname_relid("members", get_namespace_oid("crm", false));
	if (!OidIsValid(workspaces_relid))
		workspaces_relid = get_relname_relid("workspaces", get_namespace_oid("crm", false));
	if (members_cxt == NULL)
		members_cxt = AllocSetContextCreate(CacheMemoryContext, "crm member teams", ALLOCSET_SMALL_SIZES);
	if (memberships == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = MEMBERSHIP_KEY_LEN;
		ctl.entrysize = sizeof(MembershipEntry);
		memberships = hash_create("crm memberships", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	/* no user is "-", which no user id can be after the workspace's colon */
	snprintf(key, sizeof(key), "%lld%s%s", (long long) ws, user ? ":" : "-", user ? user : "");
	entry = hash_search(memberships, key, HASH_FIND, NULL);
	if (entry == NULL || !CrmCacheStampValid(entry->stamp))
	{
		Membership	loaded;
		char	   *old_team = entry ? entry->m.team : NULL;

		LoadMembership(ws, user, &loaded);	/* may fail: enter nothing until it succeeded */
		if (old_team)
			pfree(old_team);
		entry = hash_search(memberships, key, HASH_ENTER, &found);
		entry->m = loaded;
		entry->stamp = CrmCacheStamp();
	}
	return &entry->m;
}

/*
 * The member acting in a closed workspace, or NULL when the workspace is
 * open or the request is the system's.  Anyone else is refused.
 */
static const Membership *
RequireMember(int64 ws)
{
	const char *user;
	const Membership *m;

	if (ActsAsSystem())
		return NULL;
	user = CrmCurrentUserId();
	/* a reporting role naming no user reads its whole (pinned) workspace */
	if (user == NULL && CrmReportsForWorkspace())
		return NULL;
	m = CurrentMembership(ws, user);
	if (!m->closed)
		return NULL;
	if (user == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("workspace %s has members, and this request names no user", CrmWorkspaceLabel(ws)),
				 errhint("Send the user's id as the sub claim of the token, or SET crm.user_id.")));
	if (!m->member)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" is not an active member of workspace %s", user, CrmWorkspaceLabel(ws)),
				 errhint("An admin of the workspace adds members with crm.add_member(user_id, role).")));
	return m;
}

/*
 * Whether owner-based privacy holds the request in ws (privacy.c): a
 * member without see_all of a workspace whose privacy is 'owner'.  The
 * system, open workspaces and the rows the extension derives from a write
 * (inside a trigger or a merge) are not held: depth is the trigger depth
 * of the request's own statement where the caller runs (0 in a policy, 1 in
 * a row trigger of that statement).  *team is the member's team.
 */
bool
CrmPrivacyRestricted(int64 ws, const char **team, int depth)
{
	const Membership *m = RequireMember(ws);

	*team = NULL;
	if (m == NULL || !m->restricted || CrmTriggerDepth() > depth || CrmMergeInProgress())
		return false;
	*team = m->team;
	return true;
}

/* Whether user may own rows in ws: anyone in an open workspace, else an active member */
bool
CrmMayOwnRows(int64 ws, const char *user)
{
	const Membership *m = CurrentMembership(ws, user);

	return !m->closed || m->member;
}

/* Called by crm.current_workspace(): a closed workspace is its members' only */
void
CrmRequireMemberOf(int64 ws)
{
	(void) RequireMember(ws);
}

/* Raises 42501 unless the request may use the permission in ws */
static void
RequirePermission(int64 ws, const char *permission, const char *what)
{
	const Membership *m = RequireMember(ws);
	int			bit = PermissionBit(permission);

	if (bit == 0)
		elog(ERROR, "require_permission: unknown permission \"%s\"", permission);
	if (m != NULL && (m->permissions & bit) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" (%s) lacks the permission \"%s\" to change %s",
						CrmCurrentUserId(), m->role, permission, what),
				 errhint("An admin grants it: crm.update_member('%s', '{\"permissions\": [...]}') or a role that has it.",
						 CrmCurrentUserId())));
}

/* RequirePermission for C callers: a function that writes as the owner or inside a merge */
void
CrmRequirePermission(int64 ws, const char *permission, const char *what)
{
	RequirePermission(ws, permission, what);
}

/*
 * Whether the request may use the permission in ws: always in an open
 * workspace and for the system.  Refuses a request that is not a member.
 */
bool
CrmHasPermission(int64 ws, const char *permission)
{
	const Membership *m = RequireMember(ws);

	return m == NULL || (m->permissions & PermissionBit(permission)) != 0;
}

/*
 * crm_internal.require_permission(permission): BEFORE INSERT OR UPDATE OR
 * DELETE on every table, for each statement (or for each row, with a WHEN
 * that picks the rows needing another permission: a deal's notes).
 * Membership changes committed by others are seen by the next statement.
 */
Datum
crm_require_permission(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	char	   *what;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("require_permission: must be fired as a trigger with the permission as its argument")));

	if (CrmTriggerDepth() == 1 && !CrmMergeInProgress())
	{
		AcceptInvalidationMessages();
		what = CrmTriggerTableName(trigdata->tg_relation);
		RequirePermission(CrmCurrentWorkspace(), trigdata->tg_trigger->tgargs[0], what);
	}
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
							   : trigdata->tg_trigtuple);
	return PointerGetDatum(NULL);
}

/* crm.current_user_id(): who the request acts for, as crm.members knows them */
Datum
crm_current_user_id(PG_FUNCTION_ARGS)
{
	const char *user = CrmCurrentUserId();

	if (user == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(user));
}

/*
 * crm.current_permissions(): what the request may do in the current
 * workspace (all of them in an open workspace and for the system), for a
 * frontend to show only what works.
 */
Datum
crm_current_permissions(PG_FUNCTION_ARGS)
{
	const Membership *m = RequireMember(CrmCurrentWorkspace());
	int			bits = m ? m->permissions : ALL_PERMISSIONS;
	Datum		names[NUM_PERMISSIONS];
	int			n = 0;

	for (int i = 0; i < NUM_PERMISSIONS; i++)
		if (bits & (1 << i))
			names[n++] = CStringGetTextDatum(permission_names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}
