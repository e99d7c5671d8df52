/*-------------------------------------------------------------------------
 *
 * crm.c
 *	  Module entry point: registers each feature's settings and caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/guc.h"

#include "crm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	CrmWorkspaceInit();
	CrmPropertiesInit();
	CrmListsInit();
	CrmEventsInit();

	MarkGUCPrefixReserved("crm");
}

/*
 * The search path of the functions declared SET search_path = pg_catalog,
 * pg_temp, for C code that runs unqualified SQL only now and then: setting
 * it on every call through the function's SET clause costs a busy trigger
 * or crm.identify() a measurable share of its time.  The setting ends with
 * CrmRestoreSearchPath, or with the (sub)transaction if an error comes first.
 */
int
CrmPinSearchPath(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
CrmRestoreSearchPath(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

PG_FUNCTION_INFO_V1(crm_invalidate_caches);

/*
 * crm.invalidate_caches(): AFTER ... FOR EACH STATEMENT on a table that
 * per-backend caches are built from.  The relcache invalidation reaches this
 * backend at its next command and the others at commit; each cache's
 * relcache callback drops what it built from the table.
 */
Datum
crm_invalidate_caches(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_caches: must be fired for each statement")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
