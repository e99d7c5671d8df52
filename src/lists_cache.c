/*-------------------------------------------------------------------------
 *
 * lists_cache.c
 *	  The dynamic lists of a workspace, compiled: the per-backend cache of
 *	  their filters translated into evaluation queries, and what the
 *	  filters read, which the statement triggers (lists_sync.c) use to
 *	  decide which records a change can affect.
 *
 * Evaluation.  For one workspace and object type, the filters of all its
 * dynamic lists are translated once (src/cql) into ONE prepared query (per
 * LISTS_PER_QUERY lists): for the records of an id array it returns each
 * record's id and, per list, whether the filter matches it -- computed by
 * the executor's expression machinery, so the semantics are exactly those
 * of the translated SQL that crm.find_* runs.  What several filters compute
 * from the record (a property's value, company.industry = 'SaaS') is
 * computed once per record in a LATERAL projection they read (see
 * CqlShared), and the scope (status < 'merged') once per record too.
 * lists_recompute.c runs the queries and writes the differences.
 *
 * Cache.  "crm list cache" holds one entry per (workspace, object type);
 * a statement trigger on crm.lists (and on the definitions, object types
 * and workspaces its filters translate with) sends a relcache invalidation,
 * and the first use of an entry after it checks whether its workspace
 * changed (workspace_versions.c); an entry whose workspace did is rebuilt,
 * only at the outermost trigger level, so no caller is left holding a freed
 * plan.  Our own change marks its workspace's entries (ListsCacheInvalidate).  Entries and
 * their kept plans are charged to crm.cache_budget_mb (src/crm.c) and the
 * least recently used are evicted past it, at the outermost level too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "executor/spi_priv.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "crm.h"
#include "lists.h"

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static bool cache_valid = false;
static dlist_head lru = DLIST_STATIC_INIT(lru);
static CacheStats stats;

/* Invalidations reach the entries through their version check (GetListSet) */
void
CrmListsRelcache(Datum arg, Oid relid)
{
}

/* The position of e in CqlEntities(): the cache and the plans are indexed by it */
int
EntityIndex(const CqlEntity *e)
{
	int			n;
	const CqlEntity *const *all = CqlEntities(&n);

	for (int i = 0; i < n; i++)
		if (all[i] == e)
			return i;
	elog(ERROR, "crm lists: unknown entity");
	return -1;
}

/*
 * A plan kept for the session.  Generic ones are never re-planned for the
 * values of an execution: the id arrays' lengths vary with every statement,
 * and a custom plan for a long one would be made anew each time (and may
 * scan a whole index rather than look each record up).
 */
SPIPlanPtr
PrepareKeptPlan(const char *sql, int nargs, Oid *argtypes, bool generic)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, generic ? CURSOR_OPT_GENERIC_PLAN : 0);

	if (plan == NULL)
		elog(ERROR, "crm lists: SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "crm lists: SPI_keepplan failed");
	return plan;
}

SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	return PrepareKeptPlan(sql, nargs, argtypes, false);
}



static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* Sorted and without duplicates: locks are taken in id order */
void
IdSort(IdSet *s)
{
	int			k = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(int64), CompareInt64);
	for (int i = 0; i < s->n; i++)
		if (k == 0 || s->v[k - 1] != s->v[i])
			s->v[k++] = s->v[i];
	s->n = k;
}


/* ---- the cache ----------------------------------------------------------- */

/* Drop one entry, its plans and what it holds */
static void
EvictListSet(ListSet *s)
{
	for (int p = 0; p < s->nparts; p++)
		if (s->parts[p].plan)
			SPI_freeplan(s->parts[p].plan);
	dlist_delete(&s->lru);
	crm_cache_bytes -= s->bytes;
	MemoryContextDelete(s->cxt);
	hash_search(cache, &s->key, HASH_REMOVE, NULL);
}

static void
FreeCache(void)
{
	while (!dlist_is_empty(&lru))
		EvictListSet(dlist_head_element(ListSet, lru, &lru));
	cache = NULL;
	MemoryContextReset(cache_context);
}

/* What a kept plan holds: its source, query trees and generic plan */
static Size
PlanBytes(SPIPlanPtr plan, bool *complete)
{
	Size		bytes = MemoryContextMemAllocated(plan->plancxt, true);
	ListCell   *lc;

	foreach(lc, plan->plancache_list)
	{
		CachedPlanSource *ps = lfirst(lc);

		bytes += MemoryContextMemAllocated(ps->context, true);
		if (ps->gplan)
			bytes += MemoryContextMemAllocated(ps->gplan->context, true);
		else
			*complete = false;
	}
	return bytes;
}

/*
 * Plans are prepared on first use and planned on first execution, after the
 * entry was charged: its charge is brought up to date at its next use.
 */
static void
ChargeListSet(ListSet *s)
{
	Size		bytes = MemoryContextMemAllocated(s->cxt, true) + sizeof(ListSet);
	bool		complete = true;

	for (int p = 0; p < s->nparts; p++)
		if (s->parts[p].plan)
			bytes += PlanBytes(s->parts[p].plan, &complete);
		else
			complete = false;
	crm_cache_bytes += (int64) bytes - (int64) s->bytes;
	s->bytes = bytes;
	s->planned = complete;
}

/*
 * Past the budget, the least recently used entries go, never the one the
 * caller is given.  Only at the outermost trigger level, like a rebuild: a
 * caller further out may hold another entry and be running its plan.
 */
static void
EnforceBudget(ListSet *keep)
{
	if (lists_sync_depth > 1 || lists_applying != 0)
		return;
	while (CrmCacheOverBudget() && !dlist_is_empty(&lru))
	{
		ListSet    *victim = dlist_tail_element(ListSet, lru, &lru);

		if (victim == keep)
			break;
		EvictListSet(victim);
		stats.evictions++;
	}
}

/* For crm_internal.cache_stats(): entries, bytes and counters */
void
CrmListsCacheStats(CacheStats *out)
{
	dlist_iter	it;

	*out = stats;
	out->entries = 0;
	out->bytes = 0;
	dlist_foreach(it, &lru)
	{
		out->entries++;
		out->bytes += dlist_container(ListSet, lru, it.cur)->bytes;
	}
}

/*
 * The evaluation query of some dynamic lists (see the file header): $1
 * workspace, $2 record ids; returns each record's id and, per list, whether
 * its filter matches the record.
 */
static char *
EvalSql(const CqlEntity *e, StringInfo conds, const CqlShared *shared)
{
	StringInfoData q;
	StringInfoData proj;

	/*
	 * What several filters compute from the row, once per row: OFFSET 0
	 * keeps the planner from folding the projection back into each filter.
	 */
	initStringInfo(&proj);
	if (shared->ncolumns > 0)
	{
		appendStringInfoString(&proj, " CROSS JOIN LATERAL (SELECT ");
		for (int i = 0; i < shared->n; i++)
			if (shared->column[i] >= 0)
				appendStringInfo(&proj, "%s%s AS v%d", shared->column[i] ? ", " : "",
								 shared->exprs[i], shared->column[i]);
		appendStringInfo(&proj, " OFFSET 0) %s", shared->alias);
	}
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s.id%s FROM %s %s%s"
					 " WHERE %s.workspace_id = $1 AND %s.id = ANY ($2::bigint[])",
					 e->alias, conds->data, e->table, e->alias, proj.data, e->alias, e->alias);
	return q.data;
}

/* What the filters of one ListSet read, gathered over its lists */
typedef struct ReadsUnion
{
	IdSet		depended;		/* lists named with IN LIST */
	int			ncols;			/* < 0: too many to tell, compare every column */
	const char *cols[64];
	int			nkeys;
	const char *key_cols[128];
	const char *keys[128];
	int			ndefs;			/* declared properties looked up, < 0: too many to tell */
	const char *def_types[256];
	const char *def_keys[256];
	uint64		def_answers[256];
} ReadsUnion;

/* Step 1: the workspace's dynamic lists of entity e, by id */
static int
ReadDynamicLists(int64 ws, const CqlEntity *e, int64 **ids, char ***filters, char ***owners)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	int			n;

	values[0] = Int64GetDatum(ws);
	values[1] = CStringGetTextDatum(e->name);
	if (SPI_execute_with_args("SELECT l.id, l.filter::text, l.owner FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.object_type = $2 AND l.kind = 'dynamic'"
							  " ORDER BY l.id", 2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading lists failed");
	n = (int) SPI_processed;
	*ids = palloc(sizeof(int64) * Max(n, 1));
	*filters = palloc(sizeof(char *) * Max(n, 1));
	*owners = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*ids)[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		(*filters)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		/* IN LIST names resolve for the list's owner */
		(*owners)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
	}
	return n;
}

/* The tagged dynamic lists (smart tags) among them; none before 0.3.0 */
static int
CountSmartTags(int64 ws, const CqlEntity *e)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	if (!SmartTagsInstalled() || strcmp(e->name, "contact") != 0)
		return 0;
	values[0] = Int64GetDatum(ws);
	values[1] = CStringGetTextDatum(e->name);
	if (SPI_execute_with_args("SELECT pg_catalog.count(*)::integer FROM crm.lists l"
							  " WHERE l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.object_type OPERATOR(pg_catalog.=) $2"
							  " AND l.kind OPERATOR(pg_catalog.=) 'dynamic' AND l.tag IS NOT NULL",
							  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading smart tags failed");
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A column the filters read whole; past the array's size, every column counts */
static void
UnionColumn(ReadsUnion *u, const char *col)
{
	for (int j = 0; j < u->ncols; j++)
		if (strcmp(u->cols[j], col) == 0)
			return;
	if (u->ncols >= 0 && u->ncols < lengthof(u->cols))
		u->cols[u->ncols++] = col;
	else
		u->ncols = -1000;
}

/*
 * The declared properties a filter looked up, with their answers, added to
 * u's: past the array's size, or with two answers for one property (it
 * changed while the lists were compiled), the entry goes by the whole CQL
 * version instead
 */
static void
UnionDefinitions(ReadsUnion *u, const CrmCqlReads *reads)
{
	if (reads->ndefinitions < 0)
		u->ndefs = -1;
	for (int k = 0; k < reads->ndefinitions && u->ndefs >= 0; k++)
	{
		int			j;

		for (j = 0; j < u->ndefs; j++)
			if (strcmp(u->def_keys[j], reads->definition_keys[k]) == 0 &&
				strcmp(u->def_types[j], reads->definition_types[k]) == 0)
				break;
		if (j < u->ndefs)
		{
			if (u->def_answers[j] != reads->definition_answers[k])
				u->ndefs = -1;
		}
		else if (u->ndefs == lengthof(u->def_keys))
			u->ndefs = -1;
		else
		{
			u->def_types[u->ndefs] = reads->definition_types[k];
			u->def_keys[u->ndefs] = reads->definition_keys[k];
			u->def_answers[u->ndefs++] = reads->definition_answers[k];
		}
	}
}

/* Step 2: what one filter reads, added to s (relations, lookups) and u */
static void
UnionReads(ListSet *s, const CqlEntity *e, const CrmCqlReads *reads, ReadsUnion *u)
{
	for (int r = 0; r < reads->nrels; r++)
		for (int k = 0; k < NumRelations(e); k++)
			if ((const CqlRelation *) reads->rels[r] == RelationAt(e, k))
				s->relmask |= 1u << k;
	for (int r = 0; r < reads->nlookups; r++)
	{
		bool		seen = false;

		for (int k = 0; k < s->nlookups; k++)
			seen |= s->lookup_via[k] == reads->lookup_via[r] && s->lookup_rel[k] == reads->lookup_rel[r];
		if (seen)
			continue;
		if (s->nlookups == MAX_LOOKUPS)
			elog(ERROR, "crm lists: more than %d lookups in the dynamic lists of one workspace", MAX_LOOKUPS);
		s->lookup_via[s->nlookups] = reads->lookup_via[r];
		s->lookup_rel[s->nlookups++] = reads->lookup_rel[r];
	}
	for (int k = 0; k < reads->nlist_ids; k++)
		if (!IdContains(u->depended.v, u->depended.n, reads->list_ids[k]))
			IdAdd(&u->depended, reads->list_ids[k]);
	for (int k = 0; k < reads->ncols; k++)
		UnionColumn(u, reads->cols[k]);
	UnionDefinitions(u, reads);
	for (int k = 0; k < reads->nkeys; k++)
	{
		bool		seen = false;

		for (int j = 0; j < u->nkeys; j++)
			seen |= strcmp(u->key_cols[j], reads->key_cols[k]) == 0 && strcmp(u->keys[j], reads->keys[k]) == 0;
		if (seen)
			continue;
		if (u->nkeys < lengthof(u->keys))
		{
			u->key_cols[u->nkeys] = reads->key_cols[k];
			u->keys[u->nkeys++] = reads->keys[k];
		}
		else
			UnionColumn(u, reads->key_cols[k]);	/* too many keys: the whole column */
	}
}

/*
 * Step 3: the evaluation query of lists [first, last).  The filters are
 * translated twice: the first pass finds what they read and which
 * expressions they share, the second writes the scope tests (a list's
 * records pass the one it names in scope[], which the trigger ANDs with its
 * filter), then the filters, reading the shared columns.
 */
static char *
BuildPart(ListSet *s, const CqlEntity *e, char **filters, char **owners, int first, int last,
		  int scope_col, int member_col, int8 *scope, ReadsUnion *u)
{
	CqlShared  *shared = palloc(sizeof(CqlShared));
	StringInfoData conds;

	CqlSharedInit(shared, "crm_shared");
	for (int i = first; i < last; i++)
	{
		CrmCqlReads reads;

		(void) CrmCqlTranslateFor(e->name, filters[i], s->key.workspace_id, owners[i], NULL, &reads, shared);
		UnionReads(s, e, &reads, u);
		/*
		 * The records crm.find_* would return (live contacts unless the
		 * filter names status), never a merged contact.
		 */
		scope[i] = e->scope_sql && !reads.mentions_scope ? scope_col : member_col;
	}
	CqlSharedAssign(shared);
	initStringInfo(&conds);
	if (scope_col >= 0)
	{
		appendStringInfoString(&conds, ", ");
		appendStringInfo(&conds, e->scope_sql, e->alias);
	}
	if (member_col >= 0)
	{
		appendStringInfoString(&conds, ", ");
		appendStringInfo(&conds, e->member_sql, e->alias);
	}
	for (int i = first; i < last; i++)
		appendStringInfo(&conds, ", (%s)",
						 CrmCqlTranslateFor(e->name, filters[i], s->key.workspace_id, owners[i], NULL, NULL, shared));
	return EvalSql(e, &conds, shared);
}

/* Step 4: the compiled lists copied into the cache's memory */
static void
StoreListSet(ListSet *s, const CqlEntity *e, int n, const int64 *ids, const int8 *scope,
			 int nscopes, int nparts, const EvalPart *parts, ReadsUnion *u)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);

	s->nlists = n;
	s->ids = palloc(sizeof(int64) * Max(n, 1));
	memcpy(s->ids, ids, sizeof(int64) * n);
	s->ndepended = u->depended.n;
	s->depended = palloc(sizeof(int64) * Max(u->depended.n, 1));
	if (u->depended.n)
		memcpy(s->depended, u->depended.v, sizeof(int64) * u->depended.n);
	/* the scope (status) decides membership too */
	if (e->scope_field && u->ncols >= 0 && u->ncols < lengthof(u->cols))
		u->cols[u->ncols++] = e->scope_field;
	s->ncols = u->ncols;
	s->cols = palloc(sizeof(char *) * Max(u->ncols, 1));
	for (int j = 0; j < u->ncols; j++)
		s->cols[j] = pstrdup(u->cols[j]);
	/* a key of a column also read whole needs no look of its own */
	s->nkeys = 0;
	s->key_cols = palloc(sizeof(char *) * Max(u->nkeys, 1));
	s->keys = palloc(sizeof(char *) * Max(u->nkeys, 1));
	for (int k = 0; k < u->nkeys; k++)
	{
		bool		whole = false;

		for (int j = 0; j < u->ncols; j++)
			whole |= strcmp(u->cols[j], u->key_cols[k]) == 0;
		if (whole)
			continue;
		s->key_cols[s->nkeys] = pstrdup(u->key_cols[k]);
		s->keys[s->nkeys++] = pstrdup(u->keys[k]);
	}
	s->ndefinitions = u->ndefs;
	s->definition_types = palloc(sizeof(char *) * Max(u->ndefs, 1));
	s->definition_keys = palloc(sizeof(char *) * Max(u->ndefs, 1));
	s->definition_answers = palloc(sizeof(uint64) * Max(u->ndefs, 1));
	for (int k = 0; k < u->ndefs; k++)
	{
		s->definition_types[k] = pstrdup(u->def_types[k]);
		s->definition_keys[k] = pstrdup(u->def_keys[k]);
		s->definition_answers[k] = u->def_answers[k];
	}
	s->nscopes = nscopes;
	s->scope = palloc(sizeof(int8) * Max(n, 1));
	memcpy(s->scope, scope, sizeof(int8) * n);
	s->nparts = nparts;
	s->parts = palloc0(sizeof(EvalPart) * Max(nparts, 1));
	for (int p = 0; p < nparts; p++)
	{
		s->parts[p].first = parts[p].first;
		s->parts[p].n = parts[p].n;
		s->parts[p].sql = pstrdup(parts[p].sql);
	}
	MemoryContextSwitchTo(old);
}

/* The dynamic lists of s's workspace and entity e, compiled into s */
static void
LoadListSet(ListSet *s, const CqlEntity *e)
{
	int64	   *ids;
	char	  **filters;
	char	  **owners;
	int			n = ReadDynamicLists(s->key.workspace_id, e, &ids, &filters, &owners);
	int			nscopes = 0;
	int			scope_col = e->scope_sql ? nscopes++ : -1;
	int			member_col = e->member_sql ? nscopes++ : -1;
	int			nparts = (n + LISTS_PER_QUERY - 1) / LISTS_PER_QUERY;
	EvalPart   *parts = palloc0(sizeof(EvalPart) * Max(nparts, 1));
	int8	   *scope = palloc(sizeof(int8) * Max(n, 1));
	int			nsmart = 0;
	ReadsUnion	u;

	memset(&u, 0, sizeof(u));
	/* with smart tags, a write of tags is checked against them (smart_tags.c) */
	if (n > 0 && (nsmart = CountSmartTags(s->key.workspace_id, e)) > 0)
		UnionColumn(&u, "tags");
	for (int p = 0; p < nparts; p++)
	{
		parts[p].first = p * LISTS_PER_QUERY;
		parts[p].n = Min(n, parts[p].first + LISTS_PER_QUERY) - parts[p].first;
		parts[p].sql = BuildPart(s, e, filters, owners, parts[p].first, parts[p].first + parts[p].n,
								 scope_col, member_col, scope, &u);
	}
	StoreListSet(s, e, n, ids, scope, nscopes, nparts, parts, &u);
	s->nsmart = nsmart;
}

/*
 * The plans of an entry being rebuilt, by query text: a query that comes
 * out of the new translation the same (a property no filter reads changed
 * type, a list of another object type changed) keeps its plan, generic plan
 * included, instead of being prepared and planned again.  PostgreSQL's plan
 * cache still replans it on a catalog change.
 */
typedef struct OldPlans
{
	int			n;
	char	  **sql;
	SPIPlanPtr *plan;
} OldPlans;

/* Moves s's prepared plans into old (allocated in the caller's context) */
static void
TakePlans(ListSet *s, OldPlans *old)
{
	old->sql = palloc(sizeof(char *) * Max(s->nparts, 1));
	old->plan = palloc(sizeof(SPIPlanPtr) * Max(s->nparts, 1));
	for (int p = 0; p < s->nparts; p++)
		if (s->parts[p].plan)
		{
			old->sql[old->n] = pstrdup(s->parts[p].sql);
			old->plan[old->n++] = s->parts[p].plan;
			s->parts[p].plan = NULL;
		}
}

/* Hands s the old plans of its unchanged queries (s NULL: none) and frees the rest */
static void
GivePlans(ListSet *s, OldPlans *old)
{
	for (int i = 0; i < old->n; i++)
	{
		if (s != NULL)
			for (int p = 0; p < s->nparts; p++)
				if (s->parts[p].plan == NULL && strcmp(s->parts[p].sql, old->sql[i]) == 0)
				{
					s->parts[p].plan = old->plan[i];
					old->plan[i] = NULL;
					break;
				}
		if (old->plan[i])
			SPI_freeplan(old->plan[i]);
	}
	old->n = 0;
}

/*
 * Whether s still holds after an invalidation.  Its filters translate the
 * same while the workspace's lists, object types and workspace row are
 * unchanged (the lists version) and every declared property they looked up
 * answers as it did: a property no filter reads may change type, appear or
 * go without a recompile.  Found so, it holds for the workspace's new CQL
 * version too.
 */
static bool
ListSetCurrent(ListSet *s, int64 ws)
{
	uint64		now = CrmCacheEpoch();
	uint64		version;

	if (s->epoch == now)
		return true;
	version = CrmWorkspaceVersion(ws, CRM_VERSION_CQL);
	if (version != s->version)
	{
		if (s->ndefinitions < 0 || CrmWorkspaceVersion(ws, CRM_VERSION_LISTS) != s->lists_version)
			return false;
		for (int k = 0; k < s->ndefinitions; k++)
			if (CrmCqlDefinitionAnswer(ws, s->definition_types[k], s->definition_keys[k]) !=
				s->definition_answers[k])
				return false;
	}
	/* read-only in parallel mode: what was read holds for the command only */
	if (!IsInParallelMode())
	{
		s->version = version;
		s->epoch = now;
	}
	return true;
}

/* The compiled dynamic lists of a workspace and entity; SPI is connected */
ListSet *
GetListSet(int64 ws, const CqlEntity *e)
{
	ListSetKey	key;
	ListSet    *s;
	bool		found;
	OldPlans	old = {0};

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "crm list cache", ALLOCSET_DEFAULT_SIZES);
	if (!cache_valid && lists_sync_depth <= 1 && lists_applying == 0)
	{
		HASHCTL		ctl;

		FreeCache();
		cache_valid = true;
		ctl.keysize = sizeof(ListSetKey);
		ctl.entrysize = sizeof(ListSet);
		ctl.hcxt = cache_context;
		cache = hash_create("crm dynamic lists", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.workspace_id = ws;
	key.entity = EntityIndex(e);
	s = hash_search(cache, &key, HASH_ENTER, &found);
	/*
	 * After an invalidation an entry is used again once what its filters
	 * translate with is found unchanged (ListSetCurrent); a changed one is
	 * rebuilt at the outermost level only, and used as it is further in.
	 * The rebuild keeps the plans of the queries that come out the same.
	 */
	if (found && !ListSetCurrent(s, ws) && lists_sync_depth <= 1 && lists_applying == 0)
	{
		TakePlans(s, &old);
		EvictListSet(s);
		s = hash_search(cache, &key, HASH_ENTER, &found);
	}
	if (found)
	{
		stats.hits++;
		dlist_move_head(&lru, &s->lru);
		if (!s->planned)
			ChargeListSet(s);
		EnforceBudget(s);
		return s;
	}
	s->nlists = 0;
	s->ids = NULL;
	s->ndepended = 0;
	s->depended = NULL;
	s->relmask = 0;
	s->nlookups = 0;
	s->ncols = -1;
	s->cols = NULL;
	s->nkeys = 0;
	s->key_cols = NULL;
	s->keys = NULL;
	s->nparts = 0;
	s->parts = NULL;
	s->nscopes = 0;
	s->scope = NULL;
	s->nsmart = 0;
	s->ndefinitions = -1;
	s->bytes = 0;
	s->planned = false;
	s->cxt = AllocSetContextCreate(cache_context, "crm list entry", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		/* the version before the load: a change committed meanwhile makes the entry older */
		s->epoch = CrmCacheEpoch();
		s->version = CrmWorkspaceVersion(ws, CRM_VERSION_CQL);
		s->lists_version = CrmWorkspaceVersion(ws, CRM_VERSION_LISTS);
		LoadListSet(s, e);
	}
	PG_CATCH();
	{
		/* never leave a half-built entry behind (it has no plans yet) */
		MemoryContextDelete(s->cxt);
		hash_search(cache, &key, HASH_REMOVE, NULL);
		GivePlans(NULL, &old);
		PG_RE_THROW();
	}
	PG_END_TRY();
	GivePlans(s, &old);
	stats.misses++;
	dlist_push_head(&lru, &s->lru);
	ChargeListSet(s);
	EnforceBudget(s);
	return s;
}

/*
 * The common case, answered from the cache without SPI or the pinned search
 * path that the work needs: no workspace of these has a dynamic list.
 */
bool
ListsNoneIn(const IdSet *workspaces)
{
	int			nent;
	const CqlEntity *const *all = CqlEntities(&nent);

	if (!cache_valid)
		return false;
	for (int w = 0; w < workspaces->n; w++)
		for (int i = 0; i < nent; i++)
		{
			ListSetKey	key;
			ListSet    *s;

			if (!all[i]->list_column)
				continue;
			memset(&key, 0, sizeof(key));
			key.workspace_id = workspaces->v[w];
			key.entity = EntityIndex(all[i]);
			s = hash_search(cache, &key, HASH_FIND, NULL);
			if (s == NULL || s->nlists > 0 || s->epoch != CrmCacheEpoch())
				return false;
		}
	return true;
}

/* The entries of workspace ws, by entity */
static ListSet *
WorkspaceEntry(int64 ws, int entity)
{
	ListSetKey	key;

	if (cache == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.workspace_id = ws;
	key.entity = entity;
	return hash_search(cache, &key, HASH_FIND, NULL);
}

/*
 * Our own change to a workspace's definitions: check its entries again at
 * their next use, with the workspace's version read again, not at the next
 * message.  An entry whose filters read no changed definition is kept.
 */
void
ListsCacheRecheck(int64 ws)
{
	int			nent;

	(void) CqlEntities(&nent);
	CrmWorkspaceVersionForget(ws);
	for (int i = 0; i < nent; i++)
	{
		ListSet    *s = WorkspaceEntry(ws, i);

		if (s != NULL)
			s->epoch = 0;
	}
}

/*
 * Our own change to a workspace's lists: recompile its entries at their
 * next use (at the outermost level), not at the next message; the other
 * workspaces' entries stay.
 */
void
ListsCacheInvalidate(int64 ws)
{
	int			nent;

	(void) CqlEntities(&nent);
	CrmWorkspaceVersionForget(ws);
	for (int i = 0; i < nent; i++)
	{
		ListSet    *s = WorkspaceEntry(ws, i);

		/* by a CQL version it matches no more, whatever its definitions answer */
		if (s != NULL)
		{
			s->epoch = s->version = 0;
			s->ndefinitions = -1;
		}
	}
}
