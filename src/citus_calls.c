/*-------------------------------------------------------------------------
 *
 * citus_calls.c
 *	  Whole API calls sent to the workspace's Citus worker (docs/scaling.md).
 *
 * On a Citus coordinator every statement crm.identify runs (the key locks,
 * the probes, the insert or update, the events) is planned there and sent
 * to the worker holding the workspace: one network round trip each.  The
 * coordinator instead sends the whole call, as one routed SELECT of
 * crm_hidden.identify_in(settings, arguments...) over the workspace's
 * contacts shard, and the call runs on the worker, whose statements are
 * local to it.  Citus's own function call delegation cannot do this: it
 * routes a call by an argument, and crm.identify takes its workspace from
 * the request's settings, not from an argument.
 *
 * The request's settings go with the call (the worker sees none of the
 * coordinator's session otherwise, and none outside a transaction block),
 * with crm.workspace_id the workspace the coordinator resolved, so that the
 * worker's checks, policies and events see the same request as one node.
 * Setting them is nothing a caller could not do itself with set_config().
 *
 * A contact the call creates there takes its id from the worker's range of
 * the sequence (crm.distribute() gives each worker one), as the rows crm's
 * triggers insert on a worker do, not from the coordinator's sequence:
 * crm.identify_on_worker = off keeps the call on the coordinator.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_identify_in);

static bool identify_on_worker = true;

void
CrmCitusCallsInit(void)
{
	DefineCustomBoolVariable("crm.identify_on_worker",
							 "On a Citus coordinator, send each crm.identify call whole to the workspace's worker.",
							 "Off, the call runs on the coordinator, one round trip per statement, and a contact it creates takes its id from the coordinator's sequence; a restricted member's call in a transaction block still goes to the worker.",
							 &identify_on_worker,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* crm.identify's arguments: email .. website (sql/identity.sql) */
#define IDENTIFY_NARGS 21

static const Oid identify_argtypes[IDENTIFY_NARGS] = {
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
};

/*
 * The routed statement, prepared once per backend: $1 the settings, $2..$22
 * identify's arguments, $23 the workspace.  The aggregate over a key no
 * contact has gives one row whether or not the workspace has contacts, and
 * pins the statement to the workspace's shard group (one index probe).  One
 * table and no subquery: Citus plans it on its fast path.
 */
static SPIPlanPtr identify_plan = NULL;

static SPIPlanPtr
IdentifyPlan(void)
{
	if (identify_plan == NULL)
	{
		StringInfoData sql;
		Oid			types[IDENTIFY_NARGS + 2];
		SPIPlanPtr	plan;

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT crm_hidden.identify_in($1");
		for (int i = 0; i < IDENTIFY_NARGS; i++)
			appendStringInfo(&sql, ", $%d", i + 2);
		appendStringInfo(&sql, "), pg_catalog.max(c.id) FROM crm.contacts c"
						 " WHERE c.workspace_id OPERATOR(pg_catalog.=) $%d"
						 " AND c.id OPERATOR(pg_catalog.=) 0", IDENTIFY_NARGS + 2);
		types[0] = TEXTARRAYOID;
		memcpy(types + 1, identify_argtypes, sizeof(identify_argtypes));
		types[IDENTIFY_NARGS + 1] = INT8OID;
		plan = SPI_prepare(sql.data, IDENTIFY_NARGS + 2, types);
		if (plan == NULL)
			elog(ERROR, "crm identify: preparing the call on the worker failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		identify_plan = plan;
	}
	return identify_plan;
}

/* The request's settings as name, value pairs, crm.workspace_id the workspace ws */
Datum
CrmCitusRequestSettings(int64 ws)
{
	int			n = CrmCitusRequestSettingsCount();
	Datum	   *elems = palloc(sizeof(Datum) * n * 2);

	for (int i = 0; i < n; i++)
	{
		const char *name = CrmCitusRequestSetting(i);
		const char *value = GetConfigOption(name, true, false);

		if (strcmp(name, "crm.workspace_id") == 0)
			value = psprintf(INT64_FORMAT, ws);
		elems[2 * i] = CStringGetTextDatum(name);
		elems[2 * i + 1] = CStringGetTextDatum(value ? value : "");
	}
	return PointerGetDatum(construct_array(elems, n * 2, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * On a Citus coordinator of a distributed crm, runs crm.identify's call on
 * the workspace's worker and sets *result to what it returned; false
 * elsewhere (the caller identifies here).
 */
bool
CrmCitusIdentifyOnWorker(FunctionCallInfo fcinfo, int64 *result)
{
	Datum		values[IDENTIFY_NARGS + 2];
	char		nulls[IDENTIFY_NARGS + 2];
	int64		ws;
	bool		isnull;
	const char *team;

	if (PG_NARGS() != IDENTIFY_NARGS || !CrmCitusIsCoordinator() ||
		!CrmIsCitusTable(get_relname_relid("contacts", get_namespace_oid("crm", false))))
		return false;
	ws = CrmCurrentWorkspace();
	/*
	 * Off, a restricted member's call in a transaction block goes anyway:
	 * identify reads the keys' contacts past the member's policies, as the
	 * owner, and the owner's connection is refused once the transaction
	 * wrote the workspace; on the worker that read is local to the call.
	 */
	if (!identify_on_worker && !(IsTransactionBlock() && CrmPrivacyRestricted(ws, &team, INT_MAX)))
		return false;
	values[0] = CrmCitusRequestSettings(ws);
	nulls[0] = ' ';
	for (int i = 0; i < IDENTIFY_NARGS; i++)
	{
		values[i + 1] = PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[IDENTIFY_NARGS + 1] = Int64GetDatum(ws);
	nulls[IDENTIFY_NARGS + 1] = ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm identify: SPI_connect failed");
	if (SPI_execute_plan(IdentifyPlan(), values, nulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm identify: the call on the workspace's worker returned no row");
	*result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "crm identify: the call on the workspace's worker returned no contact");
	SPI_finish();
	return true;
}

/*
 * Applies the request's settings sent with a call, at the GUC nest level the
 * caller opened; api names the function whose call sent them, for the hints.
 */
void
CrmCitusApplyRequestSettings(ArrayType *settings, const char *api)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(settings, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (ARR_NDIM(settings) > 1 || n % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("settings must be a one-dimensional array of name, value pairs"),
				 errhint("%s sends this call from a Citus coordinator; call %s instead.", api, api)));
	for (int i = 0; i < n; i += 2)
	{
		char	   *name;
		bool		known = false;

		if (nulls[i] || nulls[i + 1])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a setting's name and value must not be null"),
					 errhint("%s sends this call from a Citus coordinator; call %s instead.", api, api)));
		name = TextDatumGetCString(elems[i]);
		for (int j = 0; j < CrmCitusRequestSettingsCount(); j++)
			known |= strcmp(name, CrmCitusRequestSetting(j)) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("setting \"%s\" is not one of the request's", name),
					 errhint("Only crm's request settings and the JWT claims go with a call sent to a worker.")));
		(void) set_config_option(name, TextDatumGetCString(elems[i + 1]), PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * crm_hidden.identify_in(settings, email, ..., website): crm.identify under
 * the request's settings sent by the coordinator, on the workspace's worker.
 * The settings hold for the call only.
 */
Datum
crm_identify_in(PG_FUNCTION_ARGS)
{
	LOCAL_FCINFO(call, IDENTIFY_NARGS);
	int			nestlevel;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("settings must not be null"),
				 errhint("crm.identify sends this call from a Citus coordinator; call crm.identify instead.")));
	nestlevel = NewGUCNestLevel();
	CrmCitusApplyRequestSettings(PG_GETARG_ARRAYTYPE_P(0), "crm.identify");
	InitFunctionCallInfoData(*call, NULL, IDENTIFY_NARGS, InvalidOid, NULL, NULL);
	for (int i = 0; i < IDENTIFY_NARGS; i++)
	{
		call->args[i].value = PG_GETARG_DATUM(i + 1);
		call->args[i].isnull = PG_ARGISNULL(i + 1);
	}
	result = crm_identify(call);
	AtEOXact_GUC(true, nestlevel);
	return result;
}
