/*-------------------------------------------------------------------------
 *
 * citus_report_views.c
 *	  The wide report views after a write of crm.property_definitions on a
 *	  Citus coordinator (docs/scaling.md).
 *
 * On one node the statement trigger report_definitions_changed makes the
 * workspace's wide views (crm_report.<object>_properties_w<id>) again after
 * any statement that wrote its definitions.  On Citus that trigger fires on
 * the worker's shard, where Citus refuses DDL, and returns: the views live
 * on the coordinator, where reports read them.  So after each statement of
 * the coordinator that wrote the distributed crm.property_definitions (a
 * row write, a definition function's, in a transaction block or not), the
 * request's workspace's views are made again here, at the moment one node's
 * trigger would: a rolled back write takes them back with it.  A DELETE of
 * workspaces drops the views of those it deleted, whose definitions went
 * on the workers with them.
 *
 * The definitions are read as the statement's user, then the views made as
 * the extension's owner.  Read as the owner, through the owner's connection,
 * Citus refuses the query once a granted role's connection wrote the shard
 * ("cannot perform query on placements that were modified in this
 * transaction by a different user"); the caller's policies give it its own
 * workspace's definitions, the ones it could write.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "crm.h"

static ExecutorFinish_hook_type prev_executor_finish = NULL;
static bool regenerating = false;

/* Whether the statement wrote crm.<name>, a Citus table here */
static bool
WroteTable(QueryDesc *queryDesc, const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("crm", true));
	ListCell   *lc;

	if (!OidIsValid(relid) || !CrmIsCitusTable(relid))
		return false;
	/* an INSERT, UPDATE or DELETE of no row changed no view (a CTE's write counts its rows elsewhere) */
	if (queryDesc->operation != CMD_SELECT && queryDesc->estate->es_processed == 0)
		return false;
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && rte->relid == relid && rte->rellockmode >= RowExclusiveLock)
			return true;
	}
	return false;
}

/*
 * The settings the views' DDL runs with, until CrmRestoreSearchPath: the
 * views are the coordinator's own, so Citus is not to send their DDL to the
 * workers, which it refuses after a parallel write of several shards in the
 * transaction ("cannot run view command because there was a parallel
 * operation on a distributed table"), nor to say that it does not.
 */
static int
PinViewSettings(void)
{
	int			nestlevel = CrmPinSearchPath();

	(void) set_config_option("citus.enable_ddl_propagation", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("client_min_messages", "warning", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Makes workspace ws's wide views again from its definitions, read as the caller */
static void
RegenerateViews(int64 ws)
{
	Oid			definitions = get_relname_relid("property_definitions", get_namespace_oid("crm", false));
	Oid			argtypes[2] = {INT8OID, get_array_type(get_rel_type_id(definitions))};
	Datum		args[2] = {Int64GetDatum(ws), (Datum) 0};
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	CrmSavedUser saved;
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = PinViewSettings();
	/* two definition changes in a workspace regenerate one after the other; the read after the lock */
	if (SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('crm_report wide views'), $1::pg_catalog.int4)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "locking the wide report views of workspace " INT64_FORMAT " failed", ws);
	/* the workspace a constant: Citus routes the read to its shard by it */
	if (pg_class_aclcheck(definitions, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
	{
		if (SPI_execute(psprintf("SELECT pg_catalog.array_agg(p) FROM crm.property_definitions p"
								 " WHERE p.workspace_id OPERATOR(pg_catalog.=) " INT64_FORMAT, ws),
						false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the property definitions of workspace " INT64_FORMAT " failed", ws);
		args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			args[1] = PointerGetDatum(construct_empty_array(get_rel_type_id(definitions)));
		CrmBecomeOwner(CrmRelationOwner(definitions), &saved);
		if (SPI_execute_with_args("SELECT crm_internal.report_regenerate($1, $2)",
								  2, argtypes, args, nulls, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "regenerating the wide report views of workspace " INT64_FORMAT " failed", ws);
	}
	else
	{
		/* a role that may not read the definitions wrote none of its own: the owner reads them */
		CrmBecomeOwner(CrmRelationOwner(definitions), &saved);
		if (SPI_execute_with_args("SELECT crm_internal.report_regenerate($1)",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "regenerating the wide report views of workspace " INT64_FORMAT " failed", ws);
	}
	CrmRestoreUser(&saved);
	CrmRestoreSearchPath(nestlevel);
	SPI_finish();
}

/*
 * Drops the wide views of the workspaces a statement deleted: their
 * definitions went on the workers, with the workspace.  Which ones is read
 * as the statement's user, who wrote crm.workspaces (a reference table).
 */
static void
DropViewsOfDeletedWorkspaces(void)
{
	Oid			definitions = get_relname_relid("property_definitions", get_namespace_oid("crm", false));
	Oid			argtypes[2] = {INT8OID, get_array_type(get_rel_type_id(definitions))};
	Datum		args[2];
	SPITupleTable *gone;
	uint64		n;
	CrmSavedUser saved;
	int			nestlevel;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = PinViewSettings();
	if (SPI_execute("SELECT DISTINCT substring(c.relname, '_w([0-9]+)$')::bigint FROM pg_class c"
					" WHERE c.relnamespace = 'crm_report'::regnamespace AND c.relkind = 'v'"
					" AND c.relname ~ '^[a-z][a-z0-9_]*_properties_w[0-9]+$'"
					" AND NOT EXISTS (SELECT FROM crm.workspaces w"
					" WHERE w.id = substring(c.relname, '_w([0-9]+)$')::bigint)", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the wide report views of deleted workspaces failed");
	gone = SPI_tuptable;
	n = SPI_processed;
	args[1] = PointerGetDatum(construct_empty_array(get_rel_type_id(definitions)));
	CrmBecomeOwner(CrmRelationOwner(definitions), &saved);
	for (uint64 i = 0; i < n; i++)
	{
		args[0] = SPI_getbinval(gone->vals[i], gone->tupdesc, 1, &isnull);
		if (SPI_execute_with_args("SELECT crm_internal.report_regenerate($1, $2)",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "dropping the wide report views of a deleted workspace failed");
	}
	CrmRestoreUser(&saved);
	CrmRestoreSearchPath(nestlevel);
	SPI_finish();
}

static void
CitusReportViewsFinish(QueryDesc *queryDesc)
{
	if (prev_executor_finish)
		prev_executor_finish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	if (!regenerating &&
		(queryDesc->operation == CMD_INSERT || queryDesc->operation == CMD_UPDATE ||
		 queryDesc->operation == CMD_DELETE || queryDesc->plannedstmt->hasModifyingCTE) &&
		CrmCitusIsCoordinator())
	{
		bool		definitions = WroteTable(queryDesc, "property_definitions");
		bool		workspaces = queryDesc->operation == CMD_DELETE && WroteTable(queryDesc, "workspaces");

		if (!definitions && !workspaces)
			return;
		regenerating = true;
		PG_TRY();
		{
			if (definitions)
				RegenerateViews(CrmCurrentWorkspace());
			if (workspaces)
				DropViewsOfDeletedWorkspaces();
		}
		PG_FINALLY();
		{
			regenerating = false;
		}
		PG_END_TRY();
	}
}

void
CrmCitusReportViewsInit(void)
{
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = CitusReportViewsFinish;
}
