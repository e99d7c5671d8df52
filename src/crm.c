/*-------------------------------------------------------------------------
 *
 * crm.c
 *	  Module entry point: registers each feature's settings and caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * One relcache callback for all of crm's caches: a backend has 10 slots for
 * every extension it loads (Citus alone takes several).
 */
static void
CrmRelcacheCallback(Datum arg, Oid relid)
{
	CrmPropertiesRelcache(arg, relid);
	CrmListsRelcache(arg, relid);
	CrmEventsRelcache(arg, relid);
	CrmMembersRelcache(arg, relid);
	CrmModulesRelcache(arg, relid);
	CrmLimitsRelcache(arg, relid);
	CrmSearchWordsRelcache(arg, relid);
	CrmContactRefsRelcache(arg, relid);
	CrmReportingRelcache(arg, relid);
	CrmHistoryRelcache(arg, relid);
	CrmCitusRelcache(arg, relid);
	CrmWorkspaceVersionsRelcache(arg, relid);
	CrmNormalizeRelcache(arg, relid);
	CrmFindPlansRelcache(arg, relid);
}

void
_PG_init(void)
{
	CrmWorkspaceInit();
	CrmMembersInit();
	CrmReportPlansInit();
	CrmReportSummariesInit();
	CrmCitusInit();
	CrmEventsInit();
	CrmNotifierInit();
	CacheRegisterRelcacheCallback(CrmRelcacheCallback, (Datum) 0);

	DefineCustomIntVariable("crm.cache_budget_mb",
							"Memory the per-workspace caches of a backend may hold.",
							"Property definitions and compiled dynamic lists, per (workspace, object type); the least recently used entries are evicted past it. 0 keeps only the entry in use.",
							&crm_cache_budget_mb,
							48, 0, MAX_KILOBYTES / 1024,
							PGC_USERSET,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("crm");
}

/*
 * The per-workspace caches (properties_cache.c, lists_cache.c) share one
 * budget: each charges what its entries hold and evicts its own least
 * recently used entries while the sum is over it.
 */
int			crm_cache_budget_mb = 48;
int64		crm_cache_bytes = 0;

bool
CrmCacheOverBudget(void)
{
	return crm_cache_bytes > (int64) crm_cache_budget_mb * 1024 * 1024;
}

PG_FUNCTION_INFO_V1(crm_invalidate_caches);

/*
 * crm_internal.invalidate_caches(): AFTER ... FOR EACH STATEMENT on a table that
 * per-backend caches are built from.  The relcache invalidation reaches this
 * backend at its next command and the others at commit; each cache's
 * relcache callback drops what it built from the table.
 */
Datum
crm_invalidate_caches(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			table;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_caches: must be fired for each statement")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	/* on a Citus worker the trigger fires on a shard: the caches know its table */
	table = CrmCitusTableOfShard(trigdata->tg_relation);
	if (OidIsValid(table))
		CacheInvalidateRelcacheByRelid(table);
	return PointerGetDatum(NULL);
}

/*
 * A cache that outlives the statement reads its table with the latest
 * snapshot (docs/development.md, "Per-backend caches").  In parallel mode —
 * a worker, or the leader while a parallel plan runs — no snapshot may be
 * taken nor a command run that is not read-only: the cache reads with the
 * query's snapshot, and what it loads is good for that command only
 * (CrmCacheStamp), for an invalidation taken before that snapshot may be
 * newer than what it reads.  crm.current_workspace() and the module and
 * privacy policies are parallel safe, so their caches load there.
 */
Snapshot
CrmCacheSnapshot(void)
{
	return IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot();
}

bool
CrmCacheReadOnly(void)
{
	return IsInParallelMode();
}

/* What a cache entry loaded now is good for: 0 for good, else this command */
uint64
CrmCacheStamp(void)
{
	if (!IsInParallelMode())
		return 0;
	return ((uint64) MyProc->lxid << 32) | GetCurrentCommandId(false);
}

/* Whether an entry stamped so may still be used */
bool
CrmCacheStampValid(uint64 stamp)
{
	return stamp == 0 || stamp == CrmCacheStamp();
}

/*
 * The caller's own subtransaction (a PL/pgSQL exception block) must find
 * itself afterwards: memory context and resource owner are put back on every
 * way out.
 */
bool
CrmTrySubtransaction(bool (*step) (void *arg), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		keep = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		keep = step(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return keep;
}

PG_FUNCTION_INFO_V1(crm_cache_stats);

/* crm_internal.cache_stats(): one row per per-workspace cache */
Datum
crm_cache_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *names[2] = {"property definitions", "dynamic lists"};
	CacheStats	st[2];

	InitMaterializedSRF(fcinfo, 0);
	CrmPropertiesCacheStats(&st[0]);
	CrmListsCacheStats(&st[1]);
	for (int i = 0; i < 2; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(names[i]);
		values[1] = Int64GetDatum(st[i].entries);
		values[2] = Int64GetDatum(st[i].bytes);
		values[3] = Int64GetDatum(st[i].hits);
		values[4] = Int64GetDatum(st[i].misses);
		values[5] = Int64GetDatum(st[i].evictions);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
