/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  Plan limits of a workspace (crm.workspace_limits): counts that may not
 *	  be exceeded at commit, and switches that turn whole features off.
 *
 * A limit is a row (workspace, name, value); no row or a NULL value is no
 * limit.  Each counted table has a deferred constraint trigger
 * (sql/tenancy.sql) whose WHEN clause, crm_internal.limited(), asks this
 * backend's cache whether the row's workspace has that limit: in a
 * workspace without limits nothing is queued and nothing is counted.  With
 * one, the trigger fires at commit, takes a transaction-level advisory
 * lock on (workspace, limit, scope) and counts with the latest snapshot, so
 * of two transactions adding the last allowed row the second counts the
 * first's row once the first has committed, whatever its isolation level.
 * One count covers every row a commit queued for the same key.
 *
 * max_contacts is not counted at commit but kept: counting a workspace's
 * live contacts at every commit cost a scan of them (51 s for 10,000
 * identify calls at 100,000 contacts).  A workspace with the limit has a
 * row in crm_internal.limit_counts, counted when the limit is set (under a
 * SHARE lock on crm.contacts, so that no transaction that wrote contacts
 * without knowing the limit is still in flight) and dropped when it is
 * unset.  The triggers' WHEN clause, crm_internal.limited(ws, limit, delta),
 * adds each row's +1 or -1 to this backend's pending change, per
 * subtransaction level as lists_counts.c keeps its deltas; the first firing
 * at commit takes the same lock, adds the change to the row and checks the
 * sum.  The cost no longer grows with the workspace.
 *
 * Switches (export, bulk, import) are limits of 0 (off) or 1 (on), checked
 * by crm_hidden.require_switch() at the start of the functions they gate.
 *
 * The limits of recently used workspaces are cached; any change of
 * crm.workspace_limits drops the cache (crm_internal.invalidate_caches).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_limited);
PG_FUNCTION_INFO_V1(crm_enforce_limit);
PG_FUNCTION_INFO_V1(crm_require_switch);
PG_FUNCTION_INFO_V1(crm_workspace_limits_check);
PG_FUNCTION_INFO_V1(crm_workspace_limits_counts);
PG_FUNCTION_INFO_V1(crm_limit_counts_truncated);

/* The limits and switches, with what each counts; names are the API's */
typedef struct LimitDef
{
	const char *name;
	bool		is_switch;
	const char *noun;			/* what is counted, plural */
	const char *scope_column;	/* the row's column the count is per, or NULL */
	const char *scope_label;	/* how messages name that scope, or NULL */
	const char *count_sql;		/* $1 the workspace, $2 the scope as text */
	const char *kept_table;		/* the count is kept (limit_counts): of crm.<this> */
} LimitDef;

static const LimitDef limit_defs[] = {
	{"max_contacts", false, "contacts", NULL, NULL,
		"SELECT count(*) FROM crm.contacts c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
		" AND c.status OPERATOR(pg_catalog.<) 'merged'::crm.contact_status", "contacts"},
	{"max_pipelines", false, "pipelines", NULL, NULL,
		"SELECT count(*) FROM crm.pipelines p WHERE p.workspace_id OPERATOR(pg_catalog.=) $1"},
	{"max_stages_per_pipeline", false, "stages", "pipeline_id", " in pipeline %s",
		"SELECT count(*) FROM crm.stages s WHERE s.workspace_id OPERATOR(pg_catalog.=) $1"
		" AND s.pipeline_id OPERATOR(pg_catalog.=) $2::pg_catalog.int8"},
	{"max_custom_properties", false, "custom properties", NULL, NULL,
		"SELECT count(*) FROM crm.property_definitions d WHERE d.workspace_id OPERATOR(pg_catalog.=) $1"},
	{"max_object_types", false, "object types", NULL, NULL,
		"SELECT count(*) FROM crm.object_types t WHERE t.workspace_id OPERATOR(pg_catalog.=) $1"},
	{"max_segments_per_user", false, "segments", "owner", " of user \"%s\"",
		"SELECT count(*) FROM crm.lists l WHERE l.workspace_id OPERATOR(pg_catalog.=) $1"
		" AND l.kind OPERATOR(pg_catalog.=) 'dynamic'::crm.list_kind AND l.owner OPERATOR(pg_catalog.=) $2"},
	{"export", true},
	{"bulk", true},
	{"import", true},
};
#define NUM_LIMITS lengthof(limit_defs)

/* The advisory lock class of the limit checks, apart from the user's 1 and 2 */
#define CRM_LIMIT_LOCK_CLASS 0x4c4d

/* A workspace's limits, as cached */
typedef struct WorkspaceLimits
{
	int64		ws;				/* hash key */
	uint32		set;			/* bit i: limit_defs[i] has a value */
	int64		values[NUM_LIMITS];
} WorkspaceLimits;

static HTAB *limits_cache = NULL;
static bool limits_valid = false;
static Oid	limits_relid = InvalidOid;

/*
 * Rows queued for a check so far (crm_internal.limited), and the check last
 * made: a later row with the same key in the same commit needs no recount
 * unless another row was queued since.
 */
static uint64 queued = 0;
static struct
{
	LocalTransactionId lxid;
	SubTransactionId subxid;
	uint64		queued;
	int64		ws;
	int			limit;
	char	   *scope;
} last_check;

/*
 * This transaction's change of the kept counts, per (workspace, limit) and
 * the nesting level that made it, in TopTransactionContext
 */
typedef struct PendingCount
{
	int64		ws;
	int			limit;
	int			level;
	int64		delta;
} PendingCount;

static PendingCount *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool pending_callbacks = false;

void
CrmLimitsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == limits_relid)
		limits_valid = false;
}

static int
LimitIndex(const char *name)
{
	for (int i = 0; i < NUM_LIMITS; i++)
		if (strcmp(name, limit_defs[i].name) == 0)
			return i;
	return -1;
}

static Oid
LimitsRelid(void)
{
	if (!OidIsValid(limits_relid))
		limits_relid = get_relname_relid("workspace_limits", get_namespace_oid("crm", false));
	return limits_relid;
}

/*
 * Reads the limits of ws from crm.workspace_limits, as its owner, with the
 * latest snapshot: the cache outlives this statement, so it must not keep
 * what an older snapshot (a REPEATABLE READ transaction's, or a statement's
 * taken before the invalidation arrived) still sees.
 */
static void
LoadLimits(WorkspaceLimits *entry)
{
	Datum		arg = Int64GetDatum(entry->ws);
	SPIPlanPtr	plan;
	CrmSavedUser saved;

	entry->set = 0;
	CrmBecomeOwner(CrmRelationOwner(LimitsRelid()), &saved);
	SPI_connect();
	plan = SPI_prepare("SELECT name, value FROM crm.workspace_limits"
					   " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND value IS NOT NULL",
					   1, (Oid[]) {INT8OID});
	/* not read-only: the command id advances to see this transaction's own changes */
	if (plan == NULL ||
		SPI_execute_snapshot(plan, &arg, NULL, GetLatestSnapshot(), InvalidSnapshot, false, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "limits: lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		int			i = LimitIndex(SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1));
		bool		isnull;

		if (i < 0)
			continue;			/* the check trigger refuses unknown names */
		entry->values[i] = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
		entry->set |= 1 << i;
	}
	SPI_finish();
	CrmRestoreUser(&saved);
}

/* The limits of ws, from the cache when it holds them */
static const WorkspaceLimits *
LimitsOf(int64 ws)
{
	WorkspaceLimits *entry;
	bool		found;

	AcceptInvalidationMessages();
	/* a backend serving many workspaces starts over rather than grow without bound */
	if (limits_cache != NULL && (!limits_valid || hash_get_num_entries(limits_cache) >= 1024))
	{
		hash_destroy(limits_cache);
		limits_cache = NULL;
	}
	if (limits_cache == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(int64), .entrysize = sizeof(WorkspaceLimits)};

		limits_cache = hash_create("crm workspace limits", 16, &ctl, HASH_ELEM | HASH_BLOBS);
		limits_valid = true;
	}
	entry = hash_search(limits_cache, &ws, HASH_FIND, NULL);
	if (entry == NULL)
	{
		WorkspaceLimits loaded = {.ws = ws};

		LoadLimits(&loaded);	/* may fail: enter nothing until it succeeded */
		entry = hash_search(limits_cache, &ws, HASH_ENTER, &found);
		*entry = loaded;
	}
	return entry;
}

static int
RequireLimitName(const char *name, bool is_switch)
{
	int			i = LimitIndex(name);

	if (i < 0 || limit_defs[i].is_switch != is_switch)
		elog(ERROR, "limits: unknown %s \"%s\"", is_switch ? "switch" : "limit", name);
	return i;
}

static void
PendingXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			pending = NULL;
			npending = maxpending = 0;
			break;
		default:
			break;
	}
}

/* A subtransaction rolled back drops its changes; one committed hands them up */
static void
PendingSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			kept = 0;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (int i = 0; i < npending; i++)
			if (pending[i].level < level)
				pending[kept++] = pending[i];
		npending = kept;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < npending; i++)
			if (pending[i].level >= level)
				pending[i].level = level - 1;
	}
}

static void
AddPending(int64 ws, int limit, int64 delta)
{
	int			level = GetCurrentTransactionNestLevel();
	PendingCount *last = npending > 0 ? &pending[npending - 1] : NULL;

	/* a statement's rows go into one entry */
	if (last != NULL && last->ws == ws && last->limit == limit && last->level == level)
	{
		last->delta += delta;
		return;
	}
	if (!pending_callbacks)
	{
		RegisterXactCallback(PendingXactCallback, NULL);
		RegisterSubXactCallback(PendingSubXactCallback, NULL);
		pending_callbacks = true;
	}
	if (npending == maxpending)
	{
		maxpending = maxpending ? maxpending * 2 : 8;
		pending = pending ? repalloc(pending, maxpending * sizeof(PendingCount))
			: MemoryContextAlloc(TopTransactionContext, maxpending * sizeof(PendingCount));
	}
	pending[npending++] = (PendingCount) {.ws = ws, .limit = limit, .level = level, .delta = delta};
}

static int64
PendingSum(int64 ws, int limit)
{
	int64		sum = 0;

	for (int i = 0; i < npending; i++)
		if (pending[i].ws == ws && pending[i].limit == limit)
			sum += pending[i].delta;
	return sum;
}

/*
 * The pending change of (ws, limit) is in the kept count now.  Inside a
 * subtransaction it is cancelled at that level rather than dropped, so that
 * a rollback of the level, which undoes the count's write, brings it back.
 */
static void
SettlePending(int64 ws, int limit, int64 sum)
{
	int			kept = 0;

	if (sum == 0)
		return;
	if (GetCurrentTransactionNestLevel() > 1)
	{
		AddPending(ws, limit, -sum);
		return;
	}
	for (int i = 0; i < npending; i++)
		if (pending[i].ws != ws || pending[i].limit != limit)
			pending[kept++] = pending[i];
	npending = kept;
}

/*
 * crm_internal.limited(workspace_id, limit [, delta]): the WHEN clause of
 * the limit triggers, so that a row is queued for a check at commit only
 * where the limit is set.  A kept count's triggers pass the row's change of
 * it (+1, -1), added to this transaction's pending change.
 */
Datum
crm_limited(PG_FUNCTION_ARGS)
{
	int		   *index = fcinfo->flinfo->fn_extra;
	bool		limited;
	int64		ws = PG_GETARG_INT64(0);

	/* the limit of a trigger's WHEN clause is a constant: look it up once per call site */
	if (index == NULL)
	{
		index = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(int));
		*index = RequireLimitName(text_to_cstring(PG_GETARG_TEXT_PP(1)), false);
		if ((limit_defs[*index].kept_table != NULL) != (PG_NARGS() > 2))
			elog(ERROR, "limits: the triggers of %s must %spass the row's change of the count",
				 limit_defs[*index].name, PG_NARGS() > 2 ? "not " : "");
		fcinfo->flinfo->fn_extra = index;
	}
	limited = (LimitsOf(ws)->set & (1 << *index)) != 0;

	if (limited)
	{
		queued++;
		if (PG_NARGS() > 2)
			AddPending(ws, *index, PG_GETARG_INT32(2));
	}
	PG_RETURN_BOOL(limited);
}

/* Whether this check repeats the last one of this commit with nothing queued since */
static bool
AlreadyChecked(int64 ws, int limit, const char *scope)
{
	return last_check.lxid == MyProc->lxid && last_check.subxid == GetCurrentSubTransactionId() &&
		last_check.queued == queued && last_check.ws == ws && last_check.limit == limit &&
		(scope == NULL) == (last_check.scope == NULL) &&
		(scope == NULL || strcmp(scope, last_check.scope) == 0);
}

static void
RememberCheck(int64 ws, int limit, const char *scope)
{
	if (last_check.scope != NULL)
		pfree(last_check.scope);
	last_check.scope = scope ? MemoryContextStrdup(TopMemoryContext, scope) : NULL;
	last_check.lxid = MyProc->lxid;
	last_check.subxid = GetCurrentSubTransactionId();
	last_check.queued = queued;
	last_check.ws = ws;
	last_check.limit = limit;
}

/* Serializes the checks of one (workspace, limit, scope) until commit */
static void
LockLimit(int64 ws, int limit, const char *scope)
{
	LOCKTAG		tag;
	uint32		key = hash_combine(hash_uint32((uint32) limit),
								   scope ? hash_bytes((const unsigned char *) scope, strlen(scope)) : 0);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (ws ^ (ws >> 32)), key, CRM_LIMIT_LOCK_CLASS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The rows the limit counts, committed by anyone or written by this transaction */
static int64
CountNow(int64 ws, const LimitDef *def, const char *scope)
{
	Datum		args[2] = {Int64GetDatum(ws), scope ? CStringGetTextDatum(scope) : (Datum) 0};
	char		nulls[2] = {' ', scope ? ' ' : 'n'};
	SPIPlanPtr	plan;
	CrmSavedUser saved;
	bool		isnull;
	int64		count;

	CrmBecomeOwner(CrmRelationOwner(LimitsRelid()), &saved);
	SPI_connect();
	plan = SPI_prepare(def->count_sql, 2, (Oid[]) {INT8OID, TEXTOID});
	if (plan == NULL)
		elog(ERROR, "limits: SPI_prepare failed for %s", def->name);
	/* not read-only: the snapshot's command id advances to see this transaction's rows */
	if (SPI_execute_snapshot(plan, args, nulls, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "limits: count failed for %s", def->name);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	CrmRestoreUser(&saved);
	return count;
}

static void
LimitExceeded(int64 ws, const LimitDef *def, const char *scope, int64 value, int64 count)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("limit %s of workspace %s is %lld: this would make %lld %s%s",
					def->name, CrmWorkspaceLabel(ws), (long long) value, (long long) count, def->noun,
					def->scope_label ? psprintf(def->scope_label, scope) : ""),
			 errhint("Raise it with crm.set_limit('%s', n), or delete %s first.", def->name, def->noun)));
}

static void
CheckLimit(int64 ws, int limit, const char *scope)
{
	const LimitDef *def = &limit_defs[limit];
	const WorkspaceLimits *limits;
	int64		value;
	int64		count;

	LockLimit(ws, limit, scope);
	limits = LimitsOf(ws);		/* after the lock: a limit raised meanwhile counts */
	if ((limits->set & (1 << limit)) == 0)
		return;
	value = limits->values[limit];
	count = CountNow(ws, def, scope);
	if (count > value)
		LimitExceeded(ws, def, scope, value, count);
}

/*
 * Runs a statement on crm_internal.limit_counts as its owner, with the
 * latest snapshot: the caller holds the limit's lock, so the row's last
 * version is seen and nobody else writes it, in any isolation level.
 * Returns the first column of the first row returned, or -1 for none.
 */
static int64
KeptCountStatement(SPIPlanPtr *plan, const char *sql, int64 ws, int limit, int64 value)
{
	Datum		args[3] = {Int64GetDatum(ws), CStringGetTextDatum(limit_defs[limit].name), Int64GetDatum(value)};
	CrmSavedUser saved;
	int64		result = -1;
	bool		isnull;

	CrmBecomeOwner(CrmRelationOwner(LimitsRelid()), &saved);
	SPI_connect();
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, 3, (Oid[]) {INT8OID, TEXTOID, INT8OID});

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "limits: SPI_prepare failed for \"%s\"", sql);
		*plan = p;
	}
	/* fire_triggers: the key to crm.workspaces checks an inserted row at the statement's end */
	if (SPI_execute_snapshot(*plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot, false, true, 0) < 0)
		elog(ERROR, "limits: \"%s\" failed", sql);
	if (SPI_tuptable != NULL && SPI_processed > 0)
		result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	CrmRestoreUser(&saved);
	return result;
}

/* The kept count of (ws, limit) moved by delta; -1 when the workspace has none */
static int64
AddToKeptCount(int64 ws, int limit, int64 delta)
{
	static SPIPlanPtr plan = NULL;

	return KeptCountStatement(&plan,
							  "UPDATE crm_internal.limit_counts SET count = count OPERATOR(pg_catalog.+) $3"
							  " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2"
							  " RETURNING count", ws, limit, delta);
}

/*
 * A kept count's check: this transaction's pending change added to the
 * count under the limit's lock, refused when it grew past the limit.  A
 * transaction whose change is 0 has nothing to write or check.
 */
static void
FlushKeptCount(int64 ws, int limit)
{
	const LimitDef *def = &limit_defs[limit];
	const WorkspaceLimits *limits;
	int64		delta = PendingSum(ws, limit);
	int64		value;
	int64		count;

	if (delta == 0)
		return;
	LockLimit(ws, limit, NULL);
	limits = LimitsOf(ws);		/* after the lock: a limit raised meanwhile counts */
	if ((limits->set & (1 << limit)) == 0)
	{
		/* unset since: its count went with it */
		SettlePending(ws, limit, delta);
		return;
	}
	value = limits->values[limit];
	count = AddToKeptCount(ws, limit, delta);
	/* none kept (a limit row restored without its trigger): counted, as the other limits */
	if (count < 0)
		count = CountNow(ws, def, NULL);
	if (delta > 0 && count > value)
		LimitExceeded(ws, def, NULL, value, count);
	SettlePending(ws, limit, delta);
}

/*
 * The count of (ws, limit) kept from now: counted under a SHARE lock on the
 * counted table, which waits for every transaction that has written it (one
 * that wrote rows before it knew of the limit would never add them) and
 * holds off new writers until this transaction ends.  What this
 * transaction wrote is in the count, so its pending change is settled.
 */
static void
StartKeptCount(int64 ws, int limit)
{
	static SPIPlanPtr plan = NULL;
	const LimitDef *def = &limit_defs[limit];

	/* the table first: a writer in flight may yet take the limit's lock at its commit */
	LockRelationOid(get_relname_relid(def->kept_table, get_namespace_oid("crm", false)), ShareLock);
	LockLimit(ws, limit, NULL);
	(void) KeptCountStatement(&plan,
							  "INSERT INTO crm_internal.limit_counts AS k (workspace_id, name, count) VALUES ($1, $2, $3)"
							  " ON CONFLICT (workspace_id, name) DO UPDATE SET count = excluded.count",
							  ws, limit, CountNow(ws, def, NULL));
	SettlePending(ws, limit, PendingSum(ws, limit));
}

static void
DropKeptCount(int64 ws, int limit)
{
	static SPIPlanPtr plan = NULL;

	LockLimit(ws, limit, NULL);
	(void) KeptCountStatement(&plan,
							  "DELETE FROM crm_internal.limit_counts"
							  " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2",
							  ws, limit, 0);
}

/* The value of a row's column as text, NULL when it is null */
static char *
ColumnText(HeapTuple tuple, TupleDesc desc, const char *column)
{
	int			attnum = SPI_fnumber(desc, column);

	if (attnum <= 0)
		elog(ERROR, "limits: no column \"%s\"", column);
	return SPI_getvalue(tuple, desc, attnum);
}

/*
 * crm_internal.enforce_limit(limit): a deferred constraint trigger, AFTER
 * INSERT (or an UPDATE that brings a row into the count) for each row, its
 * WHEN clause crm_internal.limited(NEW.workspace_id, limit).  A kept
 * count's triggers fire on the rows leaving it too (AFTER DELETE, an
 * UPDATE out of it), so that the change is written at commit: the first
 * firing writes and checks it, the others find none pending.
 */
Datum
crm_enforce_limit(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	int			limit;
	int64		ws;
	bool		isnull;
	char	   *scope = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("enforce_limit: must be fired after each row, with the limit as its argument")));
	limit = RequireLimitName(trigdata->tg_trigger->tgargs[0], false);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	ws = DatumGetInt64(SPI_getbinval(tuple, desc, SPI_fnumber(desc, "workspace_id"), &isnull));
	if (limit_defs[limit].kept_table != NULL)
	{
		FlushKeptCount(ws, limit);
		return PointerGetDatum(NULL);
	}
	if (limit_defs[limit].scope_column != NULL)
	{
		scope = ColumnText(tuple, desc, limit_defs[limit].scope_column);
		if (scope == NULL)
			return PointerGetDatum(NULL);	/* not counted: a list without owner */
	}
	if (!AlreadyChecked(ws, limit, scope))
	{
		CheckLimit(ws, limit, scope);
		RememberCheck(ws, limit, scope);
	}
	return PointerGetDatum(NULL);
}

/*
 * crm_hidden.require_switch(switch): raises 53400 when the current
 * workspace has the switch off; called first by the functions it gates.
 */
Datum
crm_require_switch(PG_FUNCTION_ARGS)
{
	const char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			i = LimitIndex(name);
	int64		ws = CrmCurrentWorkspace();
	const WorkspaceLimits *limits;

	if (i < 0 || !limit_defs[i].is_switch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown switch \"%s\"", name),
				 errhint("Switches are export, bulk and import.")));
	limits = LimitsOf(ws);
	if ((limits->set & (1 << i)) != 0 && limits->values[i] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("limit %s of workspace %s is off", name, CrmWorkspaceLabel(ws)),
				 errhint("The workspace's plan leaves out %s: an admin turns it on with crm.set_limit('%s', 1).",
						 name, name)));
	PG_RETURN_VOID();
}

/* The names the API accepts, for hints */
static char *
LimitNames(bool switches)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < NUM_LIMITS; i++)
		if (limit_defs[i].is_switch == switches)
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", limit_defs[i].name);
	return buf.data;
}

/*
 * crm_internal.workspace_limits_check(): BEFORE INSERT OR UPDATE row
 * trigger on crm.workspace_limits: a known name, and a value it can take.
 */
Datum
crm_workspace_limits_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	char	   *name;
	char	   *value;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("workspace_limits_check: must be fired before each row")));
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	name = ColumnText(tuple, desc, "name");
	value = ColumnText(tuple, desc, "value");
	i = name ? LimitIndex(name) : -1;
	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown limit \"%s\"", name ? name : "NULL"),
				 errhint("Limits are %s; switches are %s (crm.set_limit(name, value)).",
						 LimitNames(false), LimitNames(true))));
	if (value != NULL && limit_defs[i].is_switch && strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value %s for switch \"%s\"", value, name),
				 errhint("A switch is 1 (on), 0 (off) or NULL (on: no limit): crm.set_limit('%s', 0).", name)));
	if (value != NULL && value[0] == '-')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value %s for limit \"%s\"", value, name),
				 errhint("A limit is a count of 0 or more, or NULL for no limit: crm.set_limit('%s', 100).", name)));
	return PointerGetDatum(tuple);
}

/* The kept count a row of crm.workspace_limits sets (its ws in *ws), or -1 */
static int
KeptLimitOf(HeapTuple tuple, TupleDesc desc, int64 *ws)
{
	char	   *name = ColumnText(tuple, desc, "name");
	int			i = name ? LimitIndex(name) : -1;
	bool		isnull;

	if (i < 0 || limit_defs[i].kept_table == NULL || ColumnText(tuple, desc, "value") == NULL)
		return -1;
	*ws = DatumGetInt64(SPI_getbinval(tuple, desc, SPI_fnumber(desc, "workspace_id"), &isnull));
	return i;
}

/*
 * crm_internal.workspace_limits_counts(): AFTER INSERT OR UPDATE OR DELETE
 * row trigger on crm.workspace_limits: a kept count starts when its limit
 * is set (from no row or NULL) and goes when it is unset.
 */
Datum
crm_workspace_limits_counts(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int64		old_ws = 0;
	int64		new_ws = 0;
	int			old_limit = -1;
	int			new_limit = -1;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("workspace_limits_counts: must be fired after each row")));
	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		new_limit = KeptLimitOf(trigdata->tg_trigtuple, desc, &new_ws);
	else
		old_limit = KeptLimitOf(trigdata->tg_trigtuple, desc, &old_ws);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		new_limit = KeptLimitOf(trigdata->tg_newtuple, desc, &new_ws);
	if (old_limit >= 0 && (old_limit != new_limit || old_ws != new_ws))
		DropKeptCount(old_ws, old_limit);
	if (new_limit >= 0 && (old_limit != new_limit || old_ws != new_ws))
		StartKeptCount(new_ws, new_limit);
	return PointerGetDatum(NULL);
}

/*
 * crm_internal.limit_counts_truncated(limit): AFTER TRUNCATE on a counted
 * table, whose rows went without row triggers: every kept count of the
 * limit is 0, and what this transaction had pending is gone with the rows.
 */
Datum
crm_limit_counts_truncated(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	int			limit;
	int64	   *workspaces;
	int			n = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("limit_counts_truncated: must be fired after TRUNCATE, with the limit as its argument")));
	limit = RequireLimitName(trigdata->tg_trigger->tgargs[0], false);
	/* the table's ACCESS EXCLUSIVE lock keeps every other writer out */
	(void) KeptCountStatement(&plan,
							  "UPDATE crm_internal.limit_counts SET count = $3 WHERE name OPERATOR(pg_catalog.=) $2",
							  0, limit, 0);
	workspaces = palloc(sizeof(int64) * (npending + 1));
	for (int i = 0; i < npending; i++)
		if (pending[i].limit == limit)
			workspaces[n++] = pending[i].ws;
	for (int i = 0; i < n; i++)
		SettlePending(workspaces[i], limit, PendingSum(workspaces[i], limit));
	return PointerGetDatum(NULL);
}
