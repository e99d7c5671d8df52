/*-------------------------------------------------------------------------
 *
 * workspace.c
 *	  The current workspace: crm.workspace_id, else PostgREST's JWT claim
 *	  workspace_id, else workspace 1 (unless crm.require_workspace).
 *
 * crm.current_workspace() is called for every column default and every RLS
 * check, so the claims JSON is parsed only when the setting's text changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_current_workspace);

static char *workspace_id_setting = NULL;
static int64 workspace_id = 0;
static bool require_workspace = false;

/* Last request.jwt.claims text seen and the workspace it named (0: none) */
static char *claims_seen = NULL;
static int64 claims_workspace = 0;

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

void
CrmWorkspaceInit(void)
{
	DefineCustomStringVariable("crm.workspace_id",
							   "The workspace this session works in.",
							   "Empty means: take workspace_id from request.jwt.claims, else workspace 1.",
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
}

/* Say where malformed JSON came from: jsonb_in's own error names no setting */
static void
ClaimsErrorCallback(void *arg)
{
	errcontext("while reading workspace_id from setting request.jwt.claims");
}

/* The workspace_id claim of a JSON object, or 0 when it has none */
static int64
WorkspaceFromClaims(const char *claims)
{
	Jsonb	   *jb;
	JsonbValue	key;
	JsonbValue *val;
	int64		ws = 0;
	ErrorContextCallback errcallback;

	errcallback.callback = ClaimsErrorCallback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
	error_context_stack = errcallback.previous;
	if (!JB_ROOT_IS_OBJECT(jb))
		return 0;

	key.type = jbvString;
	key.val.string.val = "workspace_id";
	key.val.string.len = strlen("workspace_id");
	val = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
	if (val == NULL)
		return 0;

	if (val->type == jbvNumeric)
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(val->val.numeric)));

		if (!ParseWorkspaceId(s, &ws))
			ws = -1;
	}
	else if (val->type == jbvString)
	{
		char	   *s = pnstrdup(val->val.string.val, val->val.string.len);

		if (!ParseWorkspaceId(s, &ws))
			ws = -1;
	}
	else
		ws = -1;

	if (ws < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid workspace_id claim in request.jwt.claims: %s", claims),
				 errhint("The workspace_id claim must be a positive integer.")));
	return ws;
}

int64
CrmCurrentWorkspace(void)
{
	const char *claims;

	if (workspace_id > 0)
		return workspace_id;

	claims = GetConfigOption("request.jwt.claims", true, false);
	if (claims != NULL && *claims != '\0')
	{
		if (claims_seen == NULL || strcmp(claims, claims_seen) != 0)
		{
			int64		ws = WorkspaceFromClaims(claims);

			if (claims_seen != NULL)
				pfree(claims_seen);
			claims_seen = MemoryContextStrdup(TopMemoryContext, claims);
			claims_workspace = ws;
		}
		if (claims_workspace > 0)
			return claims_workspace;
	}

	if (require_workspace)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no workspace selected"),
				 errdetail("crm.require_workspace is on and neither crm.workspace_id nor a workspace_id JWT claim is set."),
				 errhint("Run SELECT crm.use_workspace('slug') or SET crm.workspace_id = <id>.")));
	return 1;
}

/* Why C: this runs for every column default and RLS check. */
Datum
crm_current_workspace(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(CrmCurrentWorkspace());
}
