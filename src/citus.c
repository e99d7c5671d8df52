/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Whether a table of the extension is a Citus table (docs/scaling.md).
 *
 * On a Citus coordinator a distributed table's heap is an empty shell, and
 * on a worker the extension's own copy of it is one too: the rows live in
 * shards.  The C fast paths that read or write a heap directly (the events
 * and history writers, crm.identify's key probes, the list membership scan)
 * ask here first and take their query path on a Citus table, which Citus
 * routes to the workspace's shard.  The answer is kept per table until the
 * table's relcache entry is invalidated, which create_distributed_table
 * does: a backend without Citus pays one catalog lookup per table per
 * relcache build.
 *
 * A worker does not see the request either: Citus sends the workers no
 * setting of the coordinator's session but the SET LOCAL commands of the
 * transaction, and PostgREST and PostGraphile set theirs with set_config().
 * So before each statement of a transaction block on the coordinator, the
 * request's settings that changed since the last statement are given to
 * Citus as SET LOCAL commands, which it sends to every worker the
 * transaction uses: the shards' policies and crm's triggers there see the
 * same workspace, user and claims as on one node.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "crm.h"

/* a few dozen tables ask (the merge asks for every table that references contacts): a small array does */
#define CITUS_CACHE_SIZE 64

static struct
{
	Oid			relid;
	bool		citus;
}			citus_cache[CITUS_CACHE_SIZE];
static int	citus_cache_n = 0;

void
CrmCitusRelcache(Datum arg, Oid relid)
{
	for (int i = 0; i < citus_cache_n; i++)
		if (relid == InvalidOid || citus_cache[i].relid == relid)
		{
			citus_cache[i] = citus_cache[--citus_cache_n];
			i--;
		}
}

/* Whether pg_dist_partition (Citus's metadata, synced to every node) lists relid */
static bool
LookupCitusTable(Oid relid)
{
	Oid			dist;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	dist = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(dist))
		return false;
	rel = table_open(dist, AccessShareLock);
	/* logicalrelid is its first column */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Whether this node is a Citus coordinator (group 0 in pg_dist_local_group):
 * what it inserts into a distributed table is evaluated here and sent to a
 * worker, a default included.  Asked once per backend.
 */
bool
CrmCitusIsCoordinator(void)
{
	static int	coordinator = -1;

	if (coordinator < 0)
	{
		Oid			relid = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
		bool		found = false;

		if (OidIsValid(relid) && OidIsValid(get_extension_oid("citus", true)))
		{
			Relation	rel = table_open(relid, AccessShareLock);
			SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
			HeapTuple	tup = systable_getnext(scan);
			bool		isnull;

			/* groupid is its first column */
			found = HeapTupleIsValid(tup) &&
				DatumGetInt32(heap_getattr(tup, 1, RelationGetDescr(rel), &isnull)) == 0;
			systable_endscan(scan);
			table_close(rel, AccessShareLock);
		}
		coordinator = found;
	}
	return coordinator == 1;
}

bool
CrmIsCitusTable(Oid relid)
{
	bool		citus;

	for (int i = 0; i < citus_cache_n; i++)
		if (citus_cache[i].relid == relid)
			return citus_cache[i].citus;
	citus = LookupCitusTable(relid);
	if (citus_cache_n < CITUS_CACHE_SIZE)
	{
		citus_cache[citus_cache_n].relid = relid;
		citus_cache[citus_cache_n].citus = citus;
		citus_cache_n++;
	}
	return citus;
}

/*
 * Whether a read of ws's rows of relid that crm makes as the table's owner
 * (a cache's load, identify's probe) runs as the caller instead: on a
 * Citus coordinator, in a transaction block, where the request reaches the
 * workers and the shard's policy gives the caller the rows of its own
 * workspace, which ws is.  Read as the owner, through the owner's
 * connection, Citus refuses the query once the caller's connection wrote
 * the workspace's shard group in the transaction ("cannot perform query on
 * placements that were modified in this transaction by a different user").
 * A read that the caller's policies narrow further (a restricted member's
 * contacts) asks more itself.
 */
bool
CrmCitusReadAsCaller(Oid relid, int64 ws)
{
	return IsTransactionBlock() && CrmCitusIsCoordinator() && CrmIsCitusTable(relid) &&
		ws == CrmCurrentWorkspace() &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

/*
 * The Citus table whose shard rel is, else InvalidOid.  On a worker crm's
 * triggers fire on the shard (crm.contacts_102008), whose name and oid
 * differ from the table's, which is what the extension's code and caches
 * know.  Citus names a shard <table>_<shard id>: a name ending in a digit
 * is looked at, no table of the extension's own is.
 */
Oid
CrmCitusTableOfShard(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	const char *us = strrchr(name, '_');
	Oid			table;

	if (us == NULL || us[1] == '\0' || strspn(us + 1, "0123456789") != strlen(us + 1))
		return InvalidOid;
	table = get_relname_relid(pnstrdup(name, us - name), RelationGetNamespace(rel));
	return OidIsValid(table) && CrmIsCitusTable(table) ? table : InvalidOid;
}

/* The schema-qualified name of the table whose trigger fired, the shard's table for a shard */
char *
CrmTriggerTableName(Relation rel)
{
	Oid			table = CrmCitusTableOfShard(rel);

	return psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)),
					OidIsValid(table) ? get_rel_name(table) : RelationGetRelationName(rel));
}

/*
 * What a worker needs of the request: crm's own settings, PostgREST's
 * claims and PostGraphile's (src/workspace.c, src/members.c read them).
 */
static const char *const request_settings[] = {
	"crm.workspace_id", "crm.user_id", "crm.actor",
	"request.jwt.claims", "jwt.claims.workspace_id", "jwt.claims.sub",
};

int
CrmCitusRequestSettingsCount(void)
{
	return lengthof(request_settings);
}

const char *
CrmCitusRequestSetting(int i)
{
	return request_settings[i];
}

/* The values Citus holds for this transaction ("" for none) */
static LocalTransactionId request_lxid = InvalidLocalTransactionId;
static char *request_sent[lengthof(request_settings)];
static bool request_sending = false;

static ExecutorStart_hook_type prev_executor_start = NULL;

/* Runs SET LOCAL name TO value through ProcessUtility, where Citus takes it */
static void
SetLocalForCitus(const char *name, const char *value)
{
	char	   *sql = psprintf("SET LOCAL %s TO %s", name, quote_literal_cstr(value));
	RawStmt    *raw = linitial_node(RawStmt, raw_parser(sql, RAW_PARSE_DEFAULT));
	PlannedStmt *stmt = makeNode(PlannedStmt);

	stmt->commandType = CMD_UTILITY;
	stmt->utilityStmt = raw->stmt;
	stmt->stmt_location = -1;
	ProcessUtility(stmt, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL, None_Receiver, NULL);
}

/*
 * Gives Citus the request's settings that changed since it was last given
 * them in this transaction.  Citus propagates SET LOCAL only while
 * citus.propagate_set_commands is local: it is, for these commands only.
 */
static void
SendRequestToWorkers(void)
{
	int			nestlevel = -1;

	if (request_lxid != MyProc->lxid)
	{
		for (int i = 0; i < lengthof(request_settings); i++)
			request_sent[i] = "";
		request_lxid = MyProc->lxid;
	}
	for (int i = 0; i < lengthof(request_settings); i++)
	{
		const char *value = GetConfigOption(request_settings[i], true, false);

		if (value == NULL)
			value = "";
		if (strcmp(value, request_sent[i]) == 0)
			continue;
		if (nestlevel < 0)
		{
			nestlevel = NewGUCNestLevel();
			(void) set_config_option("citus.propagate_set_commands", "local", PGC_USERSET,
									 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		}
		SetLocalForCitus(request_settings[i], value);
		request_sent[i] = MemoryContextStrdup(TopTransactionContext, value);
	}
	/* the SET LOCALs above set what was already set: undoing them is alike */
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/*
 * A rolled back subtransaction takes its SET LOCALs back on the workers
 * (PostGraphile runs each mutation in a savepoint): all are given again.
 */
static void
CitusSubXact(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		request_lxid = InvalidLocalTransactionId;
}

/*
 * Whether a write (TRIGGER_TYPE_INSERT, _UPDATE, _DELETE) of rel feeds
 * per-backend caches: it fires the statement trigger
 * crm_internal.invalidate_caches() (src/crm.c).
 */
static bool
FeedsCaches(Relation rel, int16 event)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Oid			fn = trigdesc->triggers[i].tgfoid;

		if (TRIGGER_TYPE_MATCHES(trigdesc->triggers[i].tgtype, TRIGGER_TYPE_STATEMENT,
								 TRIGGER_TYPE_AFTER, event) &&
			strcmp(get_func_name(fn), "invalidate_caches") == 0 &&
			get_func_namespace(fn) == get_namespace_oid("crm_internal", false))
			return true;
	}
	return false;
}

/*
 * A write of a table that caches are built from fires its invalidating
 * trigger on the worker's shard, which reaches that worker's backends only.
 * On the coordinator the write invalidates the table there too (this
 * backend at the statement's end, the others at commit), so that a
 * long-lived session, a pooled connection, does not go on with a removed
 * member, a module or export switched off, or a changed limit.
 */
static void
InvalidateCachesOfWrite(QueryDesc *queryDesc)
{
	int16		event = queryDesc->operation == CMD_INSERT ? TRIGGER_TYPE_INSERT :
		queryDesc->operation == CMD_UPDATE ? TRIGGER_TYPE_UPDATE : TRIGGER_TYPE_DELETE;
	ListCell   *lc;

	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Relation	rel;

		if (rte->rtekind != RTE_RELATION || rte->rellockmode < RowExclusiveLock ||
			!CrmIsCitusTable(rte->relid))
			continue;
		rel = RelationIdGetRelation(rte->relid);
		if (RelationIsValid(rel))
		{
			if (FeedsCaches(rel, event))
				CacheInvalidateRelcacheByRelid(rte->relid);
			RelationClose(rel);
		}
	}
}

static void
CitusExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if ((queryDesc->operation == CMD_INSERT || queryDesc->operation == CMD_UPDATE ||
		 queryDesc->operation == CMD_DELETE) && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		CrmCitusIsCoordinator())
		InvalidateCachesOfWrite(queryDesc);
	/* a transaction block's statement on the coordinator of a distributed crm */
	if (!request_sending && IsTransactionBlock() && !IsParallelWorker() &&
		CrmCitusIsCoordinator() && CrmIsCitusTable(get_relname_relid("contacts", get_namespace_oid("crm", true))))
	{
		request_sending = true;
		PG_TRY();
		{
			SendRequestToWorkers();
		}
		PG_FINALLY();
		{
			request_sending = false;
		}
		PG_END_TRY();
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
CrmCitusInit(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = CitusExecutorStart;
	RegisterSubXactCallback(CitusSubXact, NULL);
	CrmCitusCallsInit();
	CrmCitusEventsInit();
	CrmCitusReportViewsInit();
}
