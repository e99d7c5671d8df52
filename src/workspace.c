/*-------------------------------------------------------------------------
 *
 * workspace.c
 *	  Who is asking, from the claims each API layer sends: the current
 *	  workspace and the current actor; and how messages name a workspace.
 *
 * A reporting role's workspace is the one it is pinned to (reporting.c).
 * Otherwise the workspace is crm.workspace_id, else the workspace_id claim of
 * PostgREST's request.jwt.claims JSON, else PostGraphile's
 * jwt.claims.workspace_id setting, else workspace 1 (unless
 * crm.require_workspace).  The actor is crm.actor, else the sub claim
 * (request.jwt.claims, then jwt.claims.sub), else current_user.
 *
 * crm.current_workspace() is called for every column default and every RLS
 * check, so the claims JSON is parsed only when the setting's text changes,
 * and the role name is looked up only when the role changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_current_workspace);
PG_FUNCTION_INFO_V1(crm_current_actor);

static char *workspace_id_setting = NULL;
static int64 workspace_id = 0;
static bool require_workspace = false;
static char *actor_setting = NULL;

/*
 * Last request.jwt.claims text seen and what it says: the workspace (0: no
 * claim, -1: an invalid one) and the sub claim (NULL: none; claims_sub_bad:
 * not a string or number, or too long).
 */
static char *claims_seen = NULL;
static int64 claims_workspace = 0;
static char *claims_sub = NULL;
static bool claims_sub_bad = false;

/* The role whose name current_user gives, and that name */
static Oid	actor_role = InvalidOid;
static char *actor_role_name = NULL;

static bool
ParseWorkspaceId(const char *text, int64 *result)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v <= 0)
		return false;
	*result = (int64) v;
	return true;
}

static bool
CheckWorkspaceId(char **newval, void **extra, GucSource source)
{
	int64		v = 0;

	if (*newval != NULL && **newval != '\0' && !ParseWorkspaceId(*newval, &v))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("invalid workspace id: \"%s\"", *newval);
		GUC_check_errhint("crm.workspace_id is a positive integer; use crm.use_workspace(slug) to set it by name.");
		return false;
	}
	return true;
}

static void
AssignWorkspaceId(const char *newval, void *extra)
{
	int64		v = 0;

	if (newval == NULL || *newval == '\0' || !ParseWorkspaceId(newval, &v))
		v = 0;
	workspace_id = v;
}

static bool
CheckActor(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > CRM_ACTOR_MAX_BYTES)
	{
		GUC_check_errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED);
		GUC_check_errmsg("actor \"%.40s...\" is longer than %d bytes", *newval, CRM_ACTOR_MAX_BYTES);
		GUC_check_errhint("Identify the actor by a user id or e-mail address.");
		return false;
	}
	return true;
}

/* A renamed role renames the actor of later events */
static void
RoleCacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	actor_role = InvalidOid;
}

void
CrmWorkspaceInit(void)
{
	DefineCustomStringVariable("crm.workspace_id",
							   "The workspace this session works in.",
							   "Empty means: take workspace_id from the JWT claims (request.jwt.claims, jwt.claims.workspace_id), else workspace 1.",
							   &workspace_id_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckWorkspaceId,
							   AssignWorkspaceId,
							   NULL);

	DefineCustomBoolVariable("crm.require_workspace",
							 "Refuse to fall back to the default workspace.",
							 "When on, a session must set crm.workspace_id or carry a workspace_id JWT claim.",
							 &require_workspace,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("crm.actor",
							   "Who acts in this session, as events and histories record it.",
							   "Empty means: the JWT sub claim (request.jwt.claims, jwt.claims.sub), else current_user.",
							   &actor_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckActor,
							   NULL,
							   NULL);

	CacheRegisterSyscacheCallback(AUTHOID, RoleCacheCallback, (Datum) 0);
}

/* Say where malformed JSON came from: jsonb_in's own error names no setting */
static void
ClaimsErrorCallback(void *arg)
{
	errcontext("while reading setting request.jwt.claims");
}

/* A claim of a JSON object, or NULL when it has none */
static JsonbValue *
FindClaim(Jsonb *jb, const char *name)
{
	JsonbValue	key;

	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
}

/* A string or number claim as text; NULL for null, false for anything else */
static bool
ClaimText(JsonbValue *val, char **result)
{
	*result = NULL;
	if (val == NULL || val->type == jbvNull)
		return true;
	if (val->type == jbvString)
		*result = pnstrdup(val->val.string.val, val->val.string.len);
	else if (val->type == jbvNumeric)
		*result = DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(val->val.numeric)));
	else
		return false;
	return true;
}

/*
 * Reads workspace_id and sub from the claims JSON into claims_workspace and
 * claims_sub.  An invalid claim is remembered and reported by the function
 * that needs it: a session that set crm.workspace_id still gets its actor,
 * one that set crm.actor its workspace.
 */
static void
ReadClaims(const char *claims)
{
	Jsonb	   *jb;
	char	   *text;
	int64		ws = 0;
	char	   *sub = NULL;
	bool		sub_bad = false;
	ErrorContextCallback errcallback;

	errcallback.callback = ClaimsErrorCallback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
	error_context_stack = errcallback.previous;

	if (JB_ROOT_IS_OBJECT(jb))
	{
		JsonbValue *val = FindClaim(jb, "workspace_id");

		if (!ClaimText(val, &text) || (val != NULL && (text == NULL || !ParseWorkspaceId(text, &ws))))
			ws = -1;
		sub_bad = !ClaimText(FindClaim(jb, "sub"), &sub);
	}

	if (claims_seen != NULL)
		pfree(claims_seen);
	if (claims_sub != NULL)
		pfree(claims_sub);
	claims_seen = MemoryContextStrdup(TopMemoryContext, claims);
	claims_sub = (sub != NULL && *sub != '\0') ? MemoryContextStrdup(TopMemoryContext, sub) : NULL;
	claims_sub_bad = sub_bad;
	claims_workspace = ws;
}

static void
CheckActorLength(const char *actor, const char *source)
{
	if (strlen(actor) > CRM_ACTOR_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sub claim \"%.40s...\" in %s is longer than %d bytes", actor, source, CRM_ACTOR_MAX_BYTES),
				 errhint("Identify the user by an id of at most %d bytes.", CRM_ACTOR_MAX_BYTES)));
}

/* PostgREST's claims JSON, read again only when its text changed; NULL if unset */
static const char *
CurrentClaims(void)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);

	if (claims == NULL || *claims == '\0')
		return NULL;
	if (claims_seen == NULL || strcmp(claims, claims_seen) != 0)
		ReadClaims(claims);
	return claims_seen;
}

/* A PostGraphile claim setting (jwt.claims.<name>), or NULL when unset or empty */
static const char *
PostGraphileClaim(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return (value != NULL && *value != '\0') ? value : NULL;
}

int64
CrmCurrentWorkspace(void)
{
	const char *claims;
	const char *pg_claim;
	int64		ws;

	/* a reporting role's workspace is the DBA's to choose, not its own SETs' */
	ws = CrmReportingWorkspace();
	if (ws > 0)
		return ws;
	if (workspace_id > 0)
		return workspace_id;

	claims = CurrentClaims();
	if (claims != NULL && claims_workspace != 0)
	{
		if (claims_workspace < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid workspace_id claim in request.jwt.claims: %s", claims),
					 errhint("The workspace_id claim must be a positive integer.")));
		return claims_workspace;
	}

	pg_claim = PostGraphileClaim("jwt.claims.workspace_id");
	if (pg_claim != NULL)
	{
		if (!ParseWorkspaceId(pg_claim, &ws))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid workspace_id claim in jwt.claims.workspace_id: \"%s\"", pg_claim),
					 errhint("The workspace_id claim must be a positive integer.")));
		return ws;
	}

	if (require_workspace)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no workspace selected"),
				 errdetail("crm.require_workspace is on and neither crm.workspace_id nor a workspace_id JWT claim is set."),
				 errhint("Run SELECT crm.use_workspace('slug') or SET crm.workspace_id = <id>.")));
	return 1;
}

/*
 * The token's sub claim: request.jwt.claims, then jwt.claims.sub; NULL when
 * neither has one.  The result stays valid until the next call.
 */
const char *
CrmClaimSub(void)
{
	const char *sub;

	if (CurrentClaims() != NULL)
	{
		if (claims_sub_bad)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid sub claim in request.jwt.claims: %s", claims_seen),
					 errhint("The sub claim must be a string.")));
		if (claims_sub != NULL)
		{
			CheckActorLength(claims_sub, "request.jwt.claims");
			return claims_sub;
		}
	}

	sub = PostGraphileClaim("jwt.claims.sub");
	if (sub != NULL)
		CheckActorLength(sub, "jwt.claims.sub");
	return sub;
}

/*
 * The actor: crm.actor, else the JWT sub claim, else current_user.  The
 * result stays valid until the next call.
 */
const char *
CrmCurrentActor(void)
{
	const char *sub;
	Oid			role;

	if (actor_setting != NULL && *actor_setting != '\0')
		return actor_setting;
	sub = CrmClaimSub();
	if (sub != NULL)
		return sub;

	/* the request's role: the extension's security-definer code does not change it */
	role = GetOuterUserId();
	if (role != actor_role)
	{
		char	   *name = GetUserNameFromId(role, false);

		if (actor_role_name != NULL)
			pfree(actor_role_name);
		actor_role_name = MemoryContextStrdup(TopMemoryContext, name);
		actor_role = role;
	}
	return actor_role_name;
}

/*
 * Why C: this runs for every column default and RLS check.  A workspace
 * with members is theirs only (members.c): every policy refuses anyone else.
 */
Datum
crm_current_workspace(PG_FUNCTION_ARGS)
{
	int64		ws = CrmCurrentWorkspace();

	CrmRequireMemberOf(ws);
	PG_RETURN_INT64(ws);
}

/* Why C: the default of every event row, cached like the workspace. */
Datum
crm_current_actor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CrmCurrentActor()));
}

/*
 * A workspace as messages name it: its slug in quotes (ids differ between
 * databases), read as the owner of crm.workspaces; its id if it has none.
 */
char *
CrmWorkspaceLabel(int64 ws)
{
	Datum		arg = Int64GetDatum(ws);
	MemoryContext caller = CurrentMemoryContext;
	Oid			workspaces = get_relname_relid("workspaces", get_namespace_oid("crm", false));
	char	   *slug = NULL;
	char	   *label;
	CrmSavedUser saved;

	CrmBecomeOwner(CrmRelationOwner(workspaces), &saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT slug FROM crm.workspaces WHERE id OPERATOR(pg_catalog.=) $1",
							  1, (Oid[]) {INT8OID}, &arg, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		slug = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	label = MemoryContextStrdup(caller, slug ? psprintf("\"%s\"", slug) : psprintf("%lld", (long long) ws));
	SPI_finish();
	CrmRestoreUser(&saved);
	return label;
}
