/*-------------------------------------------------------------------------
 *
 * modules.c
 *	  Modules a workspace may switch off (companies, deals, orders,
 *	  custom_objects): their tables, views, functions and CQL relations
 *	  refuse with 0A000 while their data stays.
 *
 * The row-level policy of each table of a module compares workspace_id with
 * crm_internal.module_workspace(module) instead of crm.current_workspace():
 * the same value while the module is on, an error when it is off.  Every
 * read and write of the table, by row, view, function or CQL, goes through
 * that policy, and the plans do not change.  What the extension derives
 * from another write (a merge moving a contact's deals, a list trigger
 * reading companies) runs inside a trigger or a merge and is not refused:
 * switching a module off never wedges a write elsewhere.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_module_workspace);

/* The modules, as bits; their names are the API's */
static const char *const module_names[] = {"companies", "deals", "orders", "custom_objects"};

/* workspace -> the modules switched off there, until crm.workspace_modules changes */
typedef struct ModulesEntry
{
	int64		ws;
	int			off;
	uint64		stamp;			/* CrmCacheStamp() when loaded */
} ModulesEntry;

static HTAB *modules_off = NULL;
static SPIPlanPtr modules_plan = NULL;
static Oid	modules_relid = InvalidOid;

void
CrmModulesRelcache(Datum arg, Oid relid)
{
	if ((relid == InvalidOid || relid == modules_relid) && modules_off != NULL)
	{
		hash_destroy(modules_off);
		modules_off = NULL;
	}
}

static int
ModuleBit(const char *name)
{
	for (int i = 0; i < lengthof(module_names); i++)
		if (strcmp(name, module_names[i]) == 0)
			return 1 << i;
	return 0;
}

/*
 * Whether the caller reads ws's switches itself rather than as the table's
 * owner (CrmCitusReadAsCaller): a new backend's crm.save_view and then
 * crm.saved_view_deals on a Citus coordinator.
 */
static bool
ReadAsCaller(int64 ws)
{
	return CrmCitusReadAsCaller(modules_relid, ws);
}

/* The modules switched off in ws, read as the table's owner (or the caller, above) */
static int
LoadModulesOff(int64 ws)
{
	Datum		arg = Int64GetDatum(ws);
	CrmSavedUser saved;
	int			off = 0;
	bool		as_caller = ReadAsCaller(ws);

	if (!as_caller)
		CrmBecomeOwner(CrmRelationOwner(modules_relid), &saved);
	SPI_connect();
	if (modules_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT module FROM crm.workspace_modules"
									   " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND NOT enabled",
									   1, (Oid[]) {INT8OID});

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "modules: could not prepare the lookup");
		modules_plan = plan;
	}
	/* the latest snapshot: the cache outlives the statement (as in members.c) */
	if (SPI_execute_snapshot(modules_plan, &arg, NULL, CrmCacheSnapshot(), InvalidSnapshot,
							 CrmCacheReadOnly(), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "modules: lookup failed");
	for (uint64 i = 0; i < SPI_processed; i++)
		off |= ModuleBit(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (!as_caller)
		CrmRestoreUser(&saved);
	return off;
}

static bool
ModuleIsOff(int64 ws, int bit)
{
	ModulesEntry *entry;

	if (!OidIsValid(modules_relid))
		modules_relid = get_relname_relid("workspace_modules", get_namespace_oid("crm", false));
	if (modules_off == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ModulesEntry);
		modules_off = hash_create("crm modules switched off", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(modules_off, &ws, HASH_FIND, NULL);
	if (entry == NULL || !CrmCacheStampValid(entry->stamp))
	{
		int			off = LoadModulesOff(ws);	/* may fail: enter nothing until it succeeded */

		entry = hash_search(modules_off, &ws, HASH_ENTER, NULL);
		entry->off = off;
		entry->stamp = CrmCacheStamp();
	}
	return (entry->off & bit) != 0;
}

/*
 * crm_internal.module_workspace(module): the current workspace (as
 * crm.current_workspace() gives it, members checked), or 0A000 when the
 * module is off there, unless the extension is deriving rows from another
 * write.
 */
Datum
crm_module_workspace(PG_FUNCTION_ARGS)
{
	char	   *module = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			bit = ModuleBit(module);
	int64		ws = CrmCurrentWorkspace();

	if (bit == 0)
		elog(ERROR, "module_workspace: unknown module \"%s\"", module);
	CrmRequireMemberOf(ws);
	if (ModuleIsOff(ws, bit) && CrmTriggerDepth() == 0 && !CrmMergeInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("module \"%s\" is switched off in this workspace", module),
				 errhint("An admin switches it on with crm.set_module('%s', true); its data is kept.", module)));
	PG_RETURN_INT64(ws);
}
