/*-------------------------------------------------------------------------
 *
 * lists.c
 *	  Dynamic lists kept exact at commit: the statement trigger that
 *	  re-evaluates every dynamic list for the records a statement touched,
 *	  the per-backend cache of compiled filters it runs, and the set-based
 *	  computation of a list's membership when it is created, changed or
 *	  refreshed.
 *
 * Evaluation.  For one workspace and object type, the filters of all its
 * dynamic lists are translated once (src/cql) into ONE prepared query (per
 * LISTS_PER_QUERY lists): for the records of an id array it returns each
 * record's id and, per list, whether the filter matches it -- computed by
 * the executor's expression machinery, so the semantics are exactly those
 * of the translated SQL that crm.find_* runs.  What several filters compute
 * from the record (a property's value, company.industry = 'SaaS') is
 * computed once per record in a LATERAL projection they read (see
 * CqlShared), and the scope (status < 'merged') once per record too.  The
 * current memberships of the same records are read by an index-only scan
 * of our own of the index on (workspace_id, record) INCLUDE (list_id) into
 * a bitmap of (record, list), and the differences are computed here.  So a
 * statement costs a few index lookups per touched record plus the filters'
 * expressions, never one query per list per row.  Only real differences
 * are written: one DELETE and one INSERT on crm.list_members, whose own
 * statement triggers keep member_count and write the
 * CRM_LIST_MEMBER_ADDED/REMOVED events (sql/lists.sql).
 *
 * Related rows.  What a filter reads besides its root row is reported by
 * the translator: the catalogue relations it follows (company.x, EXISTS
 * companies(...), EXISTS contacts(...)) and the lists it names with IN
 * LIST.  The same trigger (crm.lists_sync) sits on every table a filter
 * can read; from the catalogue it maps the changed rows of that table to
 * the records whose filters could change (a link table gives its from
 * column; a relation's target table goes back through the link table or
 * the foreign key) and re-evaluates those.  A new relation in the catalogue
 * needs only the trigger on its tables.
 *
 * Recursion.  Writing memberships fires this trigger on crm.list_members,
 * which re-evaluates the records whose lists other filters name with IN
 * LIST.  Filters may not name their own list, directly or through others
 * (checked when a filter is set), so each round settles one more level of
 * the dependency graph and the chain stops when nothing changes; the
 * nesting is bounded (MAX_SYNC_DEPTH) all the same.
 *
 * Concurrency.  Related-table triggers lock the records they re-evaluate
 * (FOR NO KEY UPDATE) and, for a link row, the linked record (FOR SHARE),
 * so a writer of the record and a writer of its related rows run one
 * after the other, and the later one, in READ COMMITTED, evaluates with a
 * snapshot that sees the earlier one.  Creating or changing a dynamic list
 * takes SHARE locks on the tables its filter reads: writers that could not
 * yet see the list finish first, and later ones see it.
 *
 * Cache.  "crm list cache" holds one entry per (workspace, object type);
 * a statement trigger on crm.lists sends a relcache invalidation and every
 * backend's callback marks the cache stale (the pg_cron job_metadata.c
 * model, as src/properties.c does).  It is rebuilt only at the outermost
 * trigger level, so no caller is left holding a freed plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "cql/cql.h"

PG_FUNCTION_INFO_V1(crm_lists_sync);
PG_FUNCTION_INFO_V1(crm_list_apply_filter);
PG_FUNCTION_INFO_V1(crm_refresh_list_members);
PG_FUNCTION_INFO_V1(crm_lists_definitions_changed);

/* Dependency rounds (IN LIST of IN LIST ...) before giving up */
#define MAX_SYNC_DEPTH 64
#define MAX_ENTITIES 8
#define MAX_RELATIONS 8
#define MAX_LOOKUPS 8
/* Filters per evaluation query: a target list holds at most 1664 columns */
#define LISTS_PER_QUERY 1000
/* Bits of the (record, list) membership map of one batch of records */
#define MEMBER_BITS (1024 * 1024)

typedef struct ListSetKey
{
	int64		workspace_id;
	int			entity;			/* index into CqlEntities() */
} ListSetKey;

/* The dynamic lists of one workspace and object type, compiled */
typedef struct ListSet
{
	ListSetKey	key;			/* hash key: must be first */
	int			nlists;
	int64	   *ids;			/* the dynamic lists, by id */
	int			ndepended;
	int64	   *depended;		/* lists their filters name with IN LIST */
	uint32		relmask;		/* catalogue relations their filters follow */
	int			nlookups;		/* lookups inside them: EXISTS deals(stage = WON) */
	const CqlRelation *lookup_via[MAX_LOOKUPS];
	const CqlRelation *lookup_rel[MAX_LOOKUPS];
	int			ncols;
	const char **cols;			/* columns of the record their filters read whole */
	int			nkeys;			/* keys of jsonb columns they read only by key */
	const char **key_cols;
	const char **keys;
	int			nparts;
	struct EvalPart *parts;		/* the evaluation queries, LISTS_PER_QUERY lists each */
	int			nscopes;		/* the entity's scope tests, evaluated once per record */
	int8	   *scope;			/* per list: the scope test its records pass, or -1 */
} ListSet;

/*
 * One evaluation query: for the records of an id array, the scope tests,
 * then whether the filter of each of lists [first, first + n) of its
 * ListSet matches them now.
 */
typedef struct EvalPart
{
	int			first;
	int			n;
	char	   *sql;			/* prepared on first use: many statements need none */
	SPIPlanPtr	plan;			/* (ws, ids) -> (id, scope..., filter first, ...) */
} EvalPart;

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static bool cache_valid = false;
static uint64 cache_generation = 0;	/* of property definitions and object types */
static Oid	lists_relid = InvalidOid;
static int	sync_depth = 0;
static int	applying = 0;		/* inside our own writes of memberships */

/* Plans that do not depend on the lists, per entity (and relation) */
static SPIPlanPtr lock_plan[MAX_ENTITIES];
static SPIPlanPtr share_plan[MAX_ENTITIES];
static SPIPlanPtr apply_plan[MAX_ENTITIES];
static SPIPlanPtr back_plan[MAX_ENTITIES][MAX_RELATIONS];

/* Two-step mapping plans of lookups, by (root relation, lookup) */
typedef struct LookupPlan
{
	const CqlRelation *via;
	const CqlRelation *rel;
	SPIPlanPtr	plan;
} LookupPlan;
static LookupPlan lookup_plans[MAX_ENTITIES * MAX_LOOKUPS];
static int	nlookup_plans = 0;

static void
ListCacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == lists_relid)
		cache_valid = false;
}

void
CrmListsInit(void)
{
	CacheRegisterRelcacheCallback(ListCacheCallback, (Datum) 0);
}

/*
 * The relations a filter of e can follow from its record: the catalogue's,
 * then the one associated() reads.
 */
static int
NumRelations(const CqlEntity *e)
{
	return Min(e->nrelations + (e->assoc_relation ? 1 : 0), MAX_RELATIONS);
}

static const CqlRelation *
RelationAt(const CqlEntity *e, int k)
{
	return k < e->nrelations ? &e->relations[k] : e->assoc_relation;
}

static int
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
static SPIPlanPtr
PrepareKeptPlan(const char *sql, int nargs, Oid *argtypes, bool generic)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, generic ? CURSOR_OPT_GENERIC_PLAN : 0);

	if (plan == NULL)
		elog(ERROR, "crm lists: SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "crm lists: SPI_keepplan failed");
	return plan;
}

static SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	return PrepareKeptPlan(sql, nargs, argtypes, false);
}

/* ---- growing arrays of ids --------------------------------------------- */

typedef struct IdSet
{
	int			n;
	int			cap;
	int64	   *v;
} IdSet;

static void
IdAdd(IdSet *s, int64 id)
{
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = s->v ? repalloc(s->v, sizeof(int64) * s->cap) : palloc(sizeof(int64) * s->cap);
	}
	s->v[s->n++] = id;
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* Sorted and without duplicates: locks are taken in id order */
static void
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

static bool
IdContains(const int64 *v, int n, int64 id)
{
	for (int i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* Position of id in sorted v, or -1 */
static int
IdIndex(const int64 *v, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (v[mid] == id)
			return mid;
		if (v[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static Datum
IdArray(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- the cache ----------------------------------------------------------- */

static void
FreeCache(void)
{
	HASH_SEQ_STATUS seq;
	ListSet    *s;

	if (cache == NULL)
		return;
	hash_seq_init(&seq, cache);
	while ((s = hash_seq_search(&seq)) != NULL)
		for (int p = 0; p < s->nparts; p++)
			if (s->parts[p].plan)
				SPI_freeplan(s->parts[p].plan);
	cache = NULL;
	MemoryContextReset(cache_context);
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

static void
LoadListSet(ListSet *s, const CqlEntity *e)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	int			n;
	int64	   *ids;
	char	  **filters;
	IdSet		depended = {0};
	StringInfoData conds;
	CqlShared  *shared;
	int8	   *scope;
	int			nscopes = 0;
	int			scope_col = e->scope_sql ? nscopes++ : -1;
	int			member_col = e->member_sql ? nscopes++ : -1;
	int			nparts;
	EvalPart   *parts;
	MemoryContext old;
	const char *cols[64];
	int			ncols = 0;
	const char *key_cols[128];
	const char *keys[128];
	int			nkeys = 0;

	values[0] = Int64GetDatum(s->key.workspace_id);
	values[1] = CStringGetTextDatum(e->name);
	if (SPI_execute_with_args("SELECT l.id, l.filter::text FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.object_type = $2 AND l.kind = 'dynamic'"
							  " ORDER BY l.id", 2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading lists failed");
	n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	filters = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		filters[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}

	nparts = (n + LISTS_PER_QUERY - 1) / LISTS_PER_QUERY;
	parts = palloc0(sizeof(EvalPart) * Max(nparts, 1));
	scope = palloc(sizeof(int8) * Max(n, 1));
	shared = palloc(sizeof(CqlShared));
	initStringInfo(&conds);
	for (int p = 0; p < nparts; p++)
	{
		int			first = p * LISTS_PER_QUERY;
		int			last = Min(n, first + LISTS_PER_QUERY);

		/* first pass: what the filters read, and which expressions they share */
		CqlSharedInit(shared, "crm_shared");
		for (int i = first; i < last; i++)
		{
			CrmCqlReads reads;

			(void) CrmCqlTranslateFor(e->name, filters[i], s->key.workspace_id, NULL, &reads, shared);
			for (int r = 0; r < reads.nrels; r++)
				for (int k = 0; k < NumRelations(e); k++)
					if ((const CqlRelation *) reads.rels[r] == RelationAt(e, k))
						s->relmask |= 1u << k;
			for (int r = 0; r < reads.nlookups; r++)
			{
				bool		seen = false;

				for (int k = 0; k < s->nlookups; k++)
					seen |= s->lookup_via[k] == reads.lookup_via[r] && s->lookup_rel[k] == reads.lookup_rel[r];
				if (seen)
					continue;
				if (s->nlookups == MAX_LOOKUPS)
					elog(ERROR, "crm lists: more than %d lookups in the dynamic lists of one workspace", MAX_LOOKUPS);
				s->lookup_via[s->nlookups] = reads.lookup_via[r];
				s->lookup_rel[s->nlookups++] = reads.lookup_rel[r];
			}
			for (int k = 0; k < reads.nlist_ids; k++)
				if (!IdContains(depended.v, depended.n, reads.list_ids[k]))
					IdAdd(&depended, reads.list_ids[k]);
			for (int k = 0; k < reads.ncols; k++)
			{
				bool		seen = false;

				for (int j = 0; j < ncols; j++)
					seen |= strcmp(cols[j], reads.cols[k]) == 0;
				/* more than that: compare every column */
				if (!seen && ncols < lengthof(cols))
					cols[ncols++] = reads.cols[k];
				else if (!seen)
					ncols = -1000;
			}
			for (int k = 0; k < reads.nkeys; k++)
			{
				bool		seen = false;

				for (int j = 0; j < nkeys; j++)
					seen |= strcmp(key_cols[j], reads.key_cols[k]) == 0 && strcmp(keys[j], reads.keys[k]) == 0;
				if (seen)
					continue;
				if (nkeys < lengthof(keys))
				{
					key_cols[nkeys] = reads.key_cols[k];
					keys[nkeys++] = reads.keys[k];
					continue;
				}
				/* more than that: compare the whole column */
				for (int j = 0; j < ncols; j++)
					seen |= strcmp(cols[j], reads.key_cols[k]) == 0;
				if (!seen && ncols >= 0 && ncols < lengthof(cols))
					cols[ncols++] = reads.key_cols[k];
				else if (!seen)
					ncols = -1000;
			}

			/*
			 * The records crm.find_* would return (live contacts unless the
			 * filter names status), never a merged contact.
			 */
			scope[i] = e->scope_sql && !reads.mentions_scope ? scope_col : member_col;
		}
		CqlSharedAssign(shared);
		/*
		 * Second pass: the scope tests (a list's records pass the one it
		 * names in s->scope, which the trigger ANDs with its filter), then
		 * the filters, reading the shared columns.
		 */
		resetStringInfo(&conds);
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
							 CrmCqlTranslateFor(e->name, filters[i], s->key.workspace_id, NULL, NULL, shared));
		parts[p].first = first;
		parts[p].n = last - first;
		parts[p].sql = EvalSql(e, &conds, shared);
	}

	old = MemoryContextSwitchTo(cache_context);
	s->nlists = n;
	s->ids = palloc(sizeof(int64) * Max(n, 1));
	memcpy(s->ids, ids, sizeof(int64) * n);
	s->ndepended = depended.n;
	s->depended = palloc(sizeof(int64) * Max(depended.n, 1));
	if (depended.n)
		memcpy(s->depended, depended.v, sizeof(int64) * depended.n);
	/* the scope (status) decides membership too */
	if (e->scope_field && ncols >= 0 && ncols < lengthof(cols))
		cols[ncols++] = e->scope_field;
	s->ncols = ncols;
	s->cols = palloc(sizeof(char *) * Max(ncols, 1));
	for (int j = 0; j < ncols; j++)
		s->cols[j] = pstrdup(cols[j]);
	/* a key of a column also read whole needs no look of its own */
	s->nkeys = 0;
	s->key_cols = palloc(sizeof(char *) * Max(nkeys, 1));
	s->keys = palloc(sizeof(char *) * Max(nkeys, 1));
	for (int k = 0; k < nkeys; k++)
	{
		bool		whole = false;

		for (int j = 0; j < ncols; j++)
			whole |= strcmp(cols[j], key_cols[k]) == 0;
		if (whole)
			continue;
		s->key_cols[s->nkeys] = pstrdup(key_cols[k]);
		s->keys[s->nkeys++] = pstrdup(keys[k]);
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

/* The compiled dynamic lists of a workspace and entity; SPI is connected */
static ListSet *
GetListSet(int64 ws, const CqlEntity *e)
{
	ListSetKey	key;
	ListSet    *s;
	bool		found;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "crm list cache", ALLOCSET_DEFAULT_SIZES);
	/* declared properties and custom types change what filters translate to */
	if (cache_valid && cache_generation != CrmPropertyGeneration())
		cache_valid = false;
	if (!cache_valid && sync_depth <= 1 && applying == 0)
	{
		HASHCTL		ctl;

		FreeCache();
		cache_valid = true;
		cache_generation = CrmPropertyGeneration();
		lists_relid = get_relname_relid("lists", get_namespace_oid("crm", false));
		ctl.keysize = sizeof(ListSetKey);
		ctl.entrysize = sizeof(ListSet);
		ctl.hcxt = cache_context;
		cache = hash_create("crm dynamic lists", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.workspace_id = ws;
	key.entity = EntityIndex(e);
	s = hash_search(cache, &key, HASH_ENTER, &found);
	if (!found)
	{
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
		PG_TRY();
		{
			LoadListSet(s, e);
		}
		PG_CATCH();
		{
			/* never leave a half-built entry behind (it has no plans yet) */
			hash_search(cache, &key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return s;
}

/* ---- evaluation and writing ---------------------------------------------- */

static void
PreparePlans(const CqlEntity *e, int ei)
{
	StringInfoData q;
	Oid			argtypes[5] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};

	if (lock_plan[ei])
		return;
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM %s t WHERE t.workspace_id = $1 AND t.id = ANY ($2) ORDER BY t.id FOR NO KEY UPDATE",
					 e->table);
	lock_plan[ei] = PrepareKept(q.data, 2, argtypes);
	resetStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM %s t WHERE t.workspace_id = $1 AND t.id = ANY ($2) ORDER BY t.id FOR SHARE",
					 e->table);
	share_plan[ei] = PrepareKept(q.data, 2, argtypes);
	if (!e->list_column)
		return;
	/*
	 * One statement, so that the membership triggers (counts, events, IN
	 * LIST dependents) run once both halves are written: a dependent
	 * re-evaluated between them would see half a change.
	 */
	resetStringInfo(&q);
	appendStringInfo(&q, "WITH d AS (DELETE FROM crm.list_members m"
					 "  USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS d(lid, oid)"
					 " WHERE m.workspace_id = $1 AND m.list_id = d.lid AND m.%s = d.oid RETURNING 1),"
					 " i AS (INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
					 " SELECT $1, a.lid, '%s', a.oid, 'filter'"
					 "   FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS a(lid, oid)"
					 /* a list being deleted (its members cascading away) gets none */
					 "  WHERE EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = a.lid)"
					 "  ORDER BY a.lid, a.oid ON CONFLICT DO NOTHING RETURNING 1)"
					 " SELECT (SELECT pg_catalog.count(*) FROM d), (SELECT pg_catalog.count(*) FROM i)",
					 e->list_column, e->list_column, e->name);
	apply_plan[ei] = PrepareKept(q.data, 5, argtypes);
}

/*
 * Receives the rows of the evaluation queries for one batch of records and
 * turns them, against the current memberships, into the differences to
 * write.
 */
typedef struct DiffReceiver
{
	DestReceiver pub;
	const ListSet *s;
	const int64 *ids;			/* the batch, sorted */
	int			nids;
	const EvalPart *part;		/* the evaluation query being read */
	uint8	   *member;			/* bit record * s->nlists + list: a member now */
	bool	   *seen;			/* the record was evaluated (it still exists) */
	IdSet	   *add_l,
			   *add_o,
			   *del_l,
			   *del_o;
	MemoryContext cxt;			/* where the id sets grow: not the executor's */
	int64		only_list;
	int64		changed;
} DiffReceiver;

static void
DiffStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
DiffShutdown(DestReceiver *self)
{
}

static void
DiffDestroy(DestReceiver *self)
{
}

static void
AddDifference(DiffReceiver *d, bool add, int64 list, int64 record)
{
	MemoryContext old = MemoryContextSwitchTo(d->cxt);

	IdAdd(add ? d->add_l : d->del_l, list);
	IdAdd(add ? d->add_o : d->del_o, record);
	MemoryContextSwitchTo(old);
	if (d->only_list == 0 || list == d->only_list)
		d->changed++;
}

/*
 * (record, scope tests, filter of list 1, ...): a list matches when the
 * record passes its scope test and its filter, both true (not NULL); each
 * list whose answer differs from the membership is a change.
 */
static bool
ReceiveEval(TupleTableSlot *slot, DestReceiver *self)
{
	DiffReceiver *d = (DiffReceiver *) self;
	const ListSet *s = d->s;
	bool		in_scope[2];
	int64		id;
	int			r;

	slot_getallattrs(slot);
	id = DatumGetInt64(slot->tts_values[0]);
	r = IdIndex(d->ids, d->nids, id);
	if (r < 0)
		elog(ERROR, "crm lists: record " INT64_FORMAT " was not asked for", id);
	d->seen[r] = true;
	for (int k = 0; k < s->nscopes; k++)
		in_scope[k] = !slot->tts_isnull[1 + k] && DatumGetBool(slot->tts_values[1 + k]);
	for (int k = 0; k < d->part->n; k++)
	{
		int			l = d->part->first + k;
		int			att = 1 + s->nscopes + k;
		uint64		bit = (uint64) r * s->nlists + l;
		bool		matches = (s->scope[l] < 0 || in_scope[s->scope[l]]) &&
			!slot->tts_isnull[att] && DatumGetBool(slot->tts_values[att]);
		bool		is_member = (d->member[bit / 8] & (1 << (bit % 8))) != 0;

		if (matches != is_member)
			AddDifference(d, matches, s->ids[l], id);
	}
	return true;
}

static void
RunInto(SPIPlanPtr plan, Datum *args, DiffReceiver *d)
{
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(2);

	for (int i = 0; i < 2; i++)
	{
		params->params[i].value = args[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = SPI_getargtypeid(plan, i);
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	/* the snapshot the caller pushed, which the memberships were read with */
	options.read_only = true;
	options.dest = &d->pub;
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "crm lists: evaluating dynamic lists failed");
}

/* Marks (record r, list lid) as a current membership, when lid is a dynamic list of s */
static inline void
SetMember(const ListSet *s, uint8 *member, int r, int64 lid)
{
	int			l = IdIndex(s->ids, s->nlists, lid);

	if (l >= 0)
	{
		uint64		bit = (uint64) r * s->nlists + l;

		member[bit / 8] |= 1 << (bit % 8);
	}
}

/*
 * The current memberships of the records in the dynamic lists of s, as bits
 * (record * s->nlists + list), by an index-only scan of our own of the index
 * on (workspace_id, <record column>) INCLUDE (list_id) of crm.list_members,
 * as nodeIndexonlyscan.c does it: list_id from the index entry when the heap
 * page is all-visible, else from the heap row (which also marks the entries
 * of dead rows, so that later scans skip them).  No plan is involved, so none
 * made while the table was small or its statistics stale can turn these
 * lookups into a scan of every membership of the workspace.
 */
static void
ReadMembers(const ListSet *s, const CqlEntity *e, int64 ws, const int64 *ids, int nids, uint8 *member)
{
	Oid			relid = get_relname_relid("list_members", get_namespace_oid("crm", false));
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	ws_att = get_attnum(relid, "workspace_id");
	AttrNumber	rec_att = get_attnum(relid, e->list_column);
	AttrNumber	list_att = get_attnum(relid, "list_id");
	Snapshot	snapshot = GetActiveSnapshot();
	Oid			indexid = InvalidOid;
	Relation	index;
	bool		covering;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Buffer		vmbuffer = InvalidBuffer;
	ScanKeyData keys[2];
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	i = index_open(lfirst_oid(lc), AccessShareLock);

		if (IndexRelationGetNumberOfKeyAttributes(i) == 2 &&
			i->rd_index->indkey.values[0] == ws_att && i->rd_index->indkey.values[1] == rec_att &&
			i->rd_rel->relam == BTREE_AM_OID)
			indexid = lfirst_oid(lc);
		index_close(i, AccessShareLock);
	}
	if (!OidIsValid(indexid))
		elog(ERROR, "crm lists: no index on crm.list_members (workspace_id, %s)", e->list_column);

	index = index_open(indexid, AccessShareLock);
	covering = IndexRelationGetNumberOfAttributes(index) == 3 && index->rd_index->indkey.values[2] == list_att;
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ws));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(0));
	scan = index_beginscan(rel, index, snapshot, 2, 0);
	scan->xs_want_itup = covering;
	for (int r = 0; r < nids; r++)
	{
		ItemPointer tid;

		keys[1].sk_argument = Int64GetDatum(ids[r]);
		index_rescan(scan, keys, 2, NULL, 0);
		while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			Datum		lid;

			if (covering && VM_ALL_VISIBLE(rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				/* all-visible: visible to our snapshot too */
				lid = index_getattr(scan->xs_itup, 3, scan->xs_itupdesc, &isnull);
				PredicateLockPage(rel, ItemPointerGetBlockNumber(tid), snapshot);
			}
			else if (index_fetch_heap(scan, slot))
				lid = slot_getattr(slot, list_att, &isnull);
			else
				continue;
			if (!isnull)
				SetMember(s, member, r, DatumGetInt64(lid));
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	list_free(indexes);
}

/*
 * The differences between what the filters of s match now and the current
 * memberships, for a batch of records: the memberships first, as a bitmap
 * of (record, list), then each evaluation query's answers against it.
 * Records that no longer exist leave every dynamic list.
 */
static void
DiffBatch(ListSet *s, const CqlEntity *e, int64 ws, const int64 *ids, int nids, DiffReceiver *d)
{
	Datum		args[2];
	uint64		nbits = (uint64) nids * s->nlists;

	d->ids = ids;
	d->nids = nids;
	d->member = palloc0(nbits / 8 + 1);
	d->seen = palloc0(sizeof(bool) * nids);
	ReadMembers(s, e, ws, ids, nids, d->member);
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids, nids);
	d->pub.receiveSlot = ReceiveEval;
	for (int p = 0; p < s->nparts; p++)
	{
		d->part = &s->parts[p];
		RunInto(s->parts[p].plan, args, d);
	}
	for (int r = 0; r < nids; r++)
		for (int l = 0; l < s->nlists && !d->seen[r]; l++)
		{
			uint64		bit = (uint64) r * s->nlists + l;

			if (d->member[bit / 8] & (1 << (bit % 8)))
				AddDifference(d, false, s->ids[l], ids[r]);
		}
	pfree(d->member);
	pfree(d->seen);
	pfree(DatumGetPointer(args[1]));
}

/*
 * Bring every dynamic list of s up to date for these records (sorted,
 * distinct); lock them first when the caller did not write them itself.
 * Returns the number of memberships changed in list only_list (all when 0).
 */
static int64
Recompute(ListSet *s, const CqlEntity *e, int64 ws, IdSet *ids, bool lock, int64 only_list)
{
	int			ei = EntityIndex(e);
	Datum		args[2];
	IdSet		add_l = {0},
				add_o = {0},
				del_l = {0},
				del_o = {0};
	DiffReceiver d;
	int			batch;

	if (s->nlists == 0 || ids->n == 0)
		return 0;
	PreparePlans(e, ei);
	for (int p = 0; p < s->nparts; p++)
		if (s->parts[p].plan == NULL)
		{
			Oid			evaltypes[2] = {INT8OID, INT8ARRAYOID};

			s->parts[p].plan = PrepareKeptPlan(s->parts[p].sql, 2, evaltypes, true);
		}
	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(ids->v, ids->n);
	if (lock && SPI_execute_plan(lock_plan[ei], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking records failed");

	memset(&d, 0, sizeof(d));
	d.pub.rStartup = DiffStartup;
	d.pub.rShutdown = DiffShutdown;
	d.pub.rDestroy = DiffDestroy;
	d.pub.mydest = DestNone;
	d.s = s;
	d.add_l = &add_l;
	d.add_o = &add_o;
	d.del_l = &del_l;
	d.del_o = &del_o;
	d.only_list = only_list;
	d.cxt = CurrentMemoryContext;
	/*
	 * One snapshot for the memberships and the filters, taken after the
	 * locks (as SPI would for a statement that is not read-only): in READ
	 * COMMITTED it sees what the writers we waited for committed.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	batch = Max(1, MEMBER_BITS / s->nlists);
	for (int i = 0; i < ids->n; i += batch)
		DiffBatch(s, e, ws, ids->v + i, Min(batch, ids->n - i), &d);
	PopActiveSnapshot();
	if (add_l.n == 0 && del_l.n == 0)
		return 0;

	applying++;
	PG_TRY();
	{
		Datum		aargs[5];

		aargs[0] = args[0];
		aargs[1] = IdArray(del_l.v, del_l.n);
		aargs[2] = IdArray(del_o.v, del_o.n);
		aargs[3] = IdArray(add_l.v, add_l.n);
		aargs[4] = IdArray(add_o.v, add_o.n);
		if (SPI_execute_plan(apply_plan[ei], aargs, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: writing members failed");
	}
	PG_FINALLY();
	{
		applying--;
	}
	PG_END_TRY();
	return d.changed;
}

/* ---- the trigger ----------------------------------------------------------- */

/* Values of one column of a transition table (rows of workspace ws) */
static void
CollectColumn(Tuplestorestate *ts, TupleDesc desc, int ws_att, int att, int64 ws,
			  int list_att, const int64 *lists1, int n1, const int64 *lists2, int n2, IdSet *out)
{
	TupleTableSlot *slot;
	int			ptr;

	if (ts == NULL || att <= 0)
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, ws_att, &isnull);

		/* ws 0: every workspace (workspace ids start at 1) */
		if (isnull || (ws != 0 && DatumGetInt64(d) != ws))
			continue;
		if (list_att > 0)
		{
			int64		lid = DatumGetInt64(slot_getattr(slot, list_att, &isnull));

			if (!IdContains(lists1, n1, lid) && !IdContains(lists2, n2, lid))
				continue;
		}
		d = slot_getattr(slot, att, &isnull);
		if (!isnull)
			IdAdd(out, DatumGetInt64(d));
	}
	ExecDropSingleTupleTableSlot(slot);
}

static int
Att(TupleDesc desc, const char *name)
{
	int			a = SPI_fnumber(desc, name);

	return a > 0 ? a : 0;
}

/*
 * Whether key of two jsonb objects holds the same value.  Equal bytes are
 * equal values; different bytes of the same value (1.0 and 1.00) count as a
 * change, which only costs an evaluation.
 */
static bool
JsonbKeyEqual(Jsonb *a, Jsonb *b, const char *key)
{
	JsonbValue *va,
			   *vb;

	if (!JB_ROOT_IS_OBJECT(a) || !JB_ROOT_IS_OBJECT(b))
		return false;
	va = getKeyJsonValueFromContainer(&a->root, key, strlen(key), NULL);
	vb = getKeyJsonValueFromContainer(&b->root, key, strlen(key), NULL);
	if (va == NULL || vb == NULL)
		return va == vb;
	if (va->type != vb->type)
		return false;
	switch (va->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return va->val.boolean == vb->val.boolean;
		case jbvString:
			return va->val.string.len == vb->val.string.len &&
				memcmp(va->val.string.val, vb->val.string.val, va->val.string.len) == 0;
		case jbvNumeric:
			return VARSIZE_ANY(va->val.numeric) == VARSIZE_ANY(vb->val.numeric) &&
				memcmp(va->val.numeric, vb->val.numeric, VARSIZE_ANY(va->val.numeric)) == 0;
		case jbvBinary:
			return va->val.binary.len == vb->val.binary.len &&
				memcmp(va->val.binary.data, vb->val.binary.data, va->val.binary.len) == 0;
		default:
			return false;
	}
}

/*
 * Ids of the updated records of workspace ws whose columns read by the
 * filters changed (old and new transition rows come in the same order);
 * every inserted record.  An update of columns no filter reads costs no
 * evaluation, nor one of properties whose keys no filter reads.
 */
static void
CollectChanged(ListSet *s, TriggerData *td, int64 ws, IdSet *out)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			ws_att = Att(desc, "workspace_id");
	int			id_att = Att(desc, "id");
	int			atts[64];
	int			natts = 0;
	int		   *key_atts;
	Jsonb	   *oj = NULL,
			   *nj = NULL;
	TupleTableSlot *nslot,
			   *oslot;

	if (td->tg_oldtable == NULL || s->ncols < 0)
	{
		CollectColumn(td->tg_newtable, desc, ws_att, id_att, ws, 0, NULL, 0, NULL, 0, out);
		return;
	}
	for (int i = 0; i < s->ncols; i++)
		if ((atts[natts] = Att(desc, s->cols[i])) > 0)
			natts++;
	key_atts = palloc(sizeof(int) * Max(s->nkeys, 1));
	for (int k = 0; k < s->nkeys; k++)
		key_atts[k] = Att(desc, s->key_cols[k]);
	nslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	oslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	tuplestore_select_read_pointer(td->tg_newtable, tuplestore_alloc_read_pointer(td->tg_newtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_newtable);
	tuplestore_select_read_pointer(td->tg_oldtable, tuplestore_alloc_read_pointer(td->tg_oldtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_oldtable);
	while (tuplestore_gettupleslot(td->tg_newtable, true, false, nslot) &&
		   tuplestore_gettupleslot(td->tg_oldtable, true, false, oslot))
	{
		bool		isnull;
		bool		changed = false;

		if (DatumGetInt64(slot_getattr(nslot, ws_att, &isnull)) != ws)
			continue;
		for (int i = 0; i < natts && !changed; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, atts[i] - 1);
			bool		onull,
						nnull;
			Datum		o = slot_getattr(oslot, atts[i], &onull);
			Datum		n = slot_getattr(nslot, atts[i], &nnull);

			changed = onull != nnull || (!onull && !datumIsEqual(o, n, a->attbyval, a->attlen));
		}
		/* each jsonb column detoasted once per row, however many keys */
		for (int k = 0, att = 0; k < s->nkeys && !changed; k++)
		{
			bool		onull,
						nnull;
			Datum		o,
						n;

			if (key_atts[k] == 0)
				continue;
			if (key_atts[k] != att)
			{
				att = key_atts[k];
				if (oj)
					pfree(oj);
				if (nj)
					pfree(nj);
				oj = nj = NULL;
				o = slot_getattr(oslot, att, &onull);
				n = slot_getattr(nslot, att, &nnull);
				if (onull || nnull)
					changed = onull != nnull;
				else if (!datumIsEqual(o, n, false, -1))
				{
					oj = DatumGetJsonbPCopy(o);
					nj = DatumGetJsonbPCopy(n);
				}
			}
			/* no copies: the column is null in both or unchanged */
			if (!changed && oj)
				changed = !JsonbKeyEqual(oj, nj, s->keys[k]);
		}
		if (oj)
			pfree(oj);
		if (nj)
			pfree(nj);
		oj = nj = NULL;
		if (changed)
			IdAdd(out, DatumGetInt64(slot_getattr(nslot, id_att, &isnull)));
	}
	ExecDropSingleTupleTableSlot(nslot);
	ExecDropSingleTupleTableSlot(oslot);
}

/* Records of e whose dynamic lists a change to table relname can affect */
static void
AffectedRecords(ListSet *s, const CqlEntity *e, const char *relname, TriggerData *td,
				int64 ws, IdSet *ids, IdSet *share, const CqlEntity **share_entity)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			ws_att = Att(desc, "workspace_id");
	Tuplestorestate *olds = td->tg_oldtable;
	Tuplestorestate *news = td->tg_newtable;

	if (strcmp(relname, e->table) == 0)
		CollectChanged(s, td, ws, ids);
	for (int k = 0; k < NumRelations(e); k++)
	{
		const CqlRelation *r = RelationAt(e, k);
		const CqlEntity *target = CqlFindEntity(r->target);

		if (!(s->relmask & (1u << k)))
			continue;
		if (r->link_table && strcmp(relname, r->link_table) == 0)
		{
			CollectColumn(olds, desc, ws_att, Att(desc, r->link_from), ws, 0, NULL, 0, NULL, 0, ids);
			CollectColumn(news, desc, ws_att, Att(desc, r->link_from), ws, 0, NULL, 0, NULL, 0, ids);
			CollectColumn(olds, desc, ws_att, Att(desc, r->link_to), ws, 0, NULL, 0, NULL, 0, share);
			CollectColumn(news, desc, ws_att, Att(desc, r->link_to), ws, 0, NULL, 0, NULL, 0, share);
			*share_entity = target;
		}
		else if (strcmp(relname, target->table) == 0 && r->target_fk)
		{
			CollectColumn(olds, desc, ws_att, Att(desc, r->target_fk), ws, 0, NULL, 0, NULL, 0, ids);
			CollectColumn(news, desc, ws_att, Att(desc, r->target_fk), ws, 0, NULL, 0, NULL, 0, ids);
		}
		else if (strcmp(relname, target->table) == 0 && r->link_table)
		{
			/* the records linked to the changed targets */
			IdSet		targets = {0};
			int			ei = EntityIndex(e);
			Datum		args[2];

			CollectColumn(olds, desc, ws_att, Att(desc, "id"), ws, 0, NULL, 0, NULL, 0, &targets);
			CollectColumn(news, desc, ws_att, Att(desc, "id"), ws, 0, NULL, 0, NULL, 0, &targets);
			if (targets.n == 0)
				continue;
			if (back_plan[ei][k] == NULL)
			{
				StringInfoData q;
				Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};

				initStringInfo(&q);
				appendStringInfo(&q, "SELECT DISTINCT l.%s FROM %s l WHERE l.workspace_id = $1 AND l.%s = ANY ($2)",
								 r->link_from, r->link_table, r->link_to);
				back_plan[ei][k] = PrepareKept(q.data, 2, argtypes);
			}
			args[0] = Int64GetDatum(ws);
			args[1] = IdArray(targets.v, targets.n);
			if (SPI_execute_plan(back_plan[ei][k], args, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "crm lists: reading links failed");
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;

				IdAdd(ids, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
			}
		}
	}
	/*
	 * Lookups (the stage of a deal): the related rows that point at the
	 * changed lookup rows, then the records those belong to.
	 */
	for (int k = 0; k < s->nlookups; k++)
	{
		const CqlRelation *via = s->lookup_via[k];
		const CqlRelation *rel = s->lookup_rel[k];
		IdSet		targets = {0};
		Datum		args[2];
		SPIPlanPtr	plan = NULL;

		if (strcmp(relname, CqlFindEntity(rel->target)->table) != 0)
			continue;
		CollectColumn(olds, desc, ws_att, Att(desc, "id"), ws, 0, NULL, 0, NULL, 0, &targets);
		CollectColumn(news, desc, ws_att, Att(desc, "id"), ws, 0, NULL, 0, NULL, 0, &targets);
		if (targets.n == 0)
			continue;
		for (int i = 0; i < nlookup_plans && !plan; i++)
			if (lookup_plans[i].via == via && lookup_plans[i].rel == rel)
				plan = lookup_plans[i].plan;
		if (plan == NULL)
		{
			StringInfoData q;
			Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
			const char *related = CqlFindEntity(via->target)->table;

			if (nlookup_plans == lengthof(lookup_plans))
				elog(ERROR, "crm lists: too many lookup plans");
			initStringInfo(&q);
			if (via->link_table)
				appendStringInfo(&q, "SELECT DISTINCT l.%s FROM %s l JOIN %s r ON r.workspace_id = l.workspace_id AND r.id = l.%s"
								 " WHERE l.workspace_id = $1 AND r.%s = ANY ($2)",
								 via->link_from, via->link_table, related, via->link_to, rel->source_fk);
			else
				appendStringInfo(&q, "SELECT DISTINCT r.%s FROM %s r WHERE r.workspace_id = $1 AND r.%s = ANY ($2)"
								 " AND r.%s IS NOT NULL",
								 via->target_fk, related, rel->source_fk, via->target_fk);
			plan = PrepareKept(q.data, 2, argtypes);
			lookup_plans[nlookup_plans].via = via;
			lookup_plans[nlookup_plans].rel = rel;
			lookup_plans[nlookup_plans++].plan = plan;
		}
		args[0] = Int64GetDatum(ws);
		args[1] = IdArray(targets.v, targets.n);
		if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: reading lookups failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			IdAdd(ids, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
		}
	}
	/*
	 * Memberships: of lists that filters name (IN LIST), and of dynamic
	 * lists themselves when someone else than this file wrote them (merge
	 * moving a row, a hand-written INSERT): re-evaluation puts them right.
	 */
	if (strcmp(relname, "crm.list_members") == 0 && e->list_column)
	{
		int			list_att = Att(desc, "list_id");
		int			col = Att(desc, e->list_column);
		int			nown = applying ? 0 : s->nlists;

		CollectColumn(olds, desc, ws_att, col, ws, list_att, s->depended, s->ndepended, s->ids, nown, ids);
		CollectColumn(news, desc, ws_att, col, ws, list_att, s->depended, s->ndepended, s->ids, nown, ids);
	}
}

static void
CollectWorkspaces(TriggerData *td, IdSet *out)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			ws_att = Att(desc, "workspace_id");

	CollectColumn(td->tg_oldtable, desc, ws_att, ws_att, 0, 0, NULL, 0, NULL, 0, out);
	CollectColumn(td->tg_newtable, desc, ws_att, ws_att, 0, 0, NULL, 0, NULL, 0, out);
	IdSort(out);
}

static void
SyncStatement(TriggerData *td)
{
	char	   *relname = psprintf("%s.%s", get_namespace_name(RelationGetNamespace(td->tg_relation)),
								   RelationGetRelationName(td->tg_relation));
	IdSet		workspaces = {0};
	int			nent;
	const CqlEntity *const *all = CqlEntities(&nent);

	CollectWorkspaces(td, &workspaces);
	for (int w = 0; w < workspaces.n; w++)
	{
		int64		ws = workspaces.v[w];

		for (int i = 0; i < nent; i++)
		{
			const CqlEntity *e = all[i];
			ListSet    *s;
			IdSet		ids = {0},
						share = {0};
			const CqlEntity *share_entity = NULL;

			if (!e->list_column)
				continue;
			s = GetListSet(ws, e);
			if (s->nlists == 0)
				continue;
			AffectedRecords(s, e, relname, td, ws, &ids, &share, &share_entity);
			if (ids.n == 0)
				continue;
			IdSort(&ids);
			if (share.n && share_entity)
			{
				Datum		args[2];
				int			si = EntityIndex(share_entity);

				IdSort(&share);
				PreparePlans(share_entity, si);
				args[0] = Int64GetDatum(ws);
				args[1] = IdArray(share.v, share.n);
				if (SPI_execute_plan(share_plan[si], args, NULL, false, 0) != SPI_OK_SELECT)
					elog(ERROR, "crm lists: locking linked records failed");
			}
			/* the writer of the records' own table already holds their locks */
			Recompute(s, e, ws, &ids, strcmp(relname, e->table) != 0, 0);
		}
	}
}

/*
 * The common case, answered from the cache without SPI or the pinned search
 * path that the work needs: no workspace the statement wrote has a dynamic
 * list.
 */
static bool
NoDynamicLists(TriggerData *td)
{
	IdSet		workspaces = {0};
	int			nent;
	const CqlEntity *const *all = CqlEntities(&nent);

	if (!cache_valid || cache_generation != CrmPropertyGeneration())
		return false;
	CollectWorkspaces(td, &workspaces);
	for (int w = 0; w < workspaces.n; w++)
		for (int i = 0; i < nent; i++)
		{
			ListSetKey	key;
			ListSet    *s;

			if (!all[i]->list_column)
				continue;
			memset(&key, 0, sizeof(key));
			key.workspace_id = workspaces.v[w];
			key.entity = EntityIndex(all[i]);
			s = hash_search(cache, &key, HASH_FIND, NULL);
			if (s == NULL || s->nlists > 0)
				return false;
		}
	return true;
}

Datum
crm_lists_sync(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "crm.lists_sync must be an AFTER ... FOR EACH STATEMENT trigger");
	/* nothing changed: nothing to do (the common case of empty statements) */
	if ((td->tg_newtable == NULL || tuplestore_tuple_count(td->tg_newtable) == 0) &&
		(td->tg_oldtable == NULL || tuplestore_tuple_count(td->tg_oldtable) == 0))
		return PointerGetDatum(NULL);
	if (sync_depth >= MAX_SYNC_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("dynamic lists did not settle after %d rounds of IN LIST dependencies", MAX_SYNC_DEPTH),
				 errhint("Shorten chains of lists whose filters name other lists with IN LIST.")));
	if (NoDynamicLists(td))
		return PointerGetDatum(NULL);
	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	sync_depth++;
	PG_TRY();
	{
		SyncStatement(td);
	}
	PG_FINALLY();
	{
		sync_depth--;
	}
	PG_END_TRY();
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	return PointerGetDatum(NULL);
}

/* ---- whole-list computation -------------------------------------------------- */

typedef struct ListRow
{
	int64		ws;
	int64		id;
	char	   *name;
	const CqlEntity *e;
	char	   *kind;
	char	   *filter;
} ListRow;

static void
ReadList(int64 list_id, ListRow *l)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	l->ws = CrmCurrentWorkspace();
	values[0] = Int64GetDatum(l->ws);
	values[1] = Int64GetDatum(list_id);
	if (SPI_execute_with_args("SELECT l.name, l.object_type, l.kind::text, l.filter::text FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.id = $2 FOR NO KEY UPDATE",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: reading the list failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("list " INT64_FORMAT " does not exist", list_id),
				 errhint("Check the id (SELECT id, name FROM crm.lists); lists of other workspaces are not visible here.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	l->id = list_id;
	l->name = SPI_getvalue(tup, desc, 1);
	l->e = CqlFindEntity(SPI_getvalue(tup, desc, 2));
	l->kind = SPI_getvalue(tup, desc, 3);
	(void) SPI_getbinval(tup, desc, 4, &isnull);
	l->filter = isnull ? NULL : SPI_getvalue(tup, desc, 4);
	if (l->e == NULL || l->filter == NULL)
		elog(ERROR, "crm lists: list " INT64_FORMAT " has no filter or an unknown object type", list_id);
}

/* "<table> <alias> WHERE workspace AND [scope AND] (filter)" for a whole-table scan */
static char *
MatchSql(const ListRow *l, const char *sql, const CrmCqlReads *reads)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s.id AS oid FROM %s %s WHERE %s.workspace_id = $1 AND ",
					 l->e->alias, l->e->table, l->e->alias, l->e->alias);
	if (l->e->scope_sql && !reads->mentions_scope)
	{
		appendStringInfo(&q, l->e->scope_sql, l->e->alias);
		appendStringInfoString(&q, " AND ");
	}
	else if (l->e->member_sql)
	{
		appendStringInfo(&q, l->e->member_sql, l->e->alias);
		appendStringInfoString(&q, " AND ");
	}
	appendStringInfo(&q, "(%s)", sql);
	return q.data;
}

/*
 * A dynamic list's membership made equal to its filter, set-based: one
 * statement finds the records whose membership differs (a FULL JOIN of the
 * filter's matches and the current members), which are then locked and
 * re-evaluated through the same compiled query as the triggers use, so a
 * concurrent writer of one of them is waited for, not overwritten.
 */
static int64
RefreshMembers(const ListRow *l, const char *sql, const CrmCqlReads *reads)
{
	StringInfoData q;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	IdSet		ids = {0};
	ListSet    *s;
	int64		changed;

	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT coalesce(m.oid, c.oid) FROM (%s) m"
					 "  FULL JOIN (SELECT lm.%s AS oid FROM crm.list_members lm"
					 "              WHERE lm.workspace_id = $1 AND lm.list_id = $2) c ON m.oid = c.oid"
					 " WHERE m.oid IS NULL OR c.oid IS NULL",
					 MatchSql(l, sql, reads), l->e->list_column);
	values[0] = Int64GetDatum(l->ws);
	values[1] = Int64GetDatum(l->id);
	if (SPI_execute_with_args(q.data, 2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: computing list differences failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		IdAdd(&ids, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	IdSort(&ids);
	s = GetListSet(l->ws, l->e);
	if (!IdContains(s->ids, s->nlists, l->id))
		elog(ERROR, "crm lists: list " INT64_FORMAT " is missing from the compiled lists", l->id);
	changed = Recompute(s, l->e, l->ws, &ids, true, l->id);
	if (SPI_execute_with_args("UPDATE crm.lists l SET refreshed_at = pg_catalog.now()"
							  " WHERE l.workspace_id = $1 AND l.id = $2",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm lists: recording the refresh failed");
	return changed;
}

/* SHARE locks on every table the filter reads: see "Concurrency" above */
static void
LockReadTables(const ListRow *l, const CrmCqlReads *reads)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "LOCK TABLE %s", l->e->table);
	for (int i = 0; i < reads->nrels; i++)
	{
		const CqlRelation *r = reads->rels[i];

		if (r->link_table)
			appendStringInfo(&q, ", %s", r->link_table);
		appendStringInfo(&q, ", %s", CqlFindEntity(r->target)->table);
	}
	for (int i = 0; i < reads->nlookups; i++)
		appendStringInfo(&q, ", %s", CqlFindEntity(reads->lookup_rel[i]->target)->table);
	if (reads->nlist_ids)
		appendStringInfoString(&q, ", crm.list_members");
	appendStringInfoString(&q, " IN SHARE MODE");
	if (SPI_execute(q.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "crm lists: locking tables failed");
}

/*
 * Checks a dynamic or snapshot list's filter against its object type,
 * records what it depends on, and computes the membership: a dynamic list
 * through RefreshMembers, a snapshot once (source 'snapshot').
 */
Datum
crm_list_apply_filter(PG_FUNCTION_ARGS)
{
	int64		list_id = PG_GETARG_INT64(0);
	ListRow		l;
	CrmCqlReads reads;
	char	   *sql;
	bool		dynamic;
	int64		changed = 0;
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8ARRAYOID, BOOLOID};
	Datum		values[4];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	ReadList(list_id, &l);
	dynamic = strcmp(l.kind, "dynamic") == 0;
	sql = CrmCqlTranslateFor(l.e->name, l.filter, l.ws, NULL, &reads, NULL);
	if (dynamic && reads.nested)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("filter of dynamic list \"%s\" follows a relation or IN LIST inside another relation", l.name),
				 errhint("Dynamic lists follow one level: company.industry, EXISTS companies(...), IN LIST. "
						 "Use a snapshot list for deeper filters.")));
	values[0] = Int64GetDatum(l.ws);
	values[1] = Int64GetDatum(l.id);
	values[2] = IdArray(reads.list_ids, reads.nlist_ids);
	values[3] = BoolGetDatum(reads.time_relative);
	if (dynamic && reads.nlist_ids > 0)
	{
		bool		isnull;

		if (SPI_execute_with_args("WITH RECURSIVE r(id) AS ("
								  "  SELECT pg_catalog.unnest($3)"
								  "  UNION SELECT d.d FROM r JOIN crm.lists x ON x.workspace_id = $1 AND x.id = r.id"
								  "       AND x.kind = 'dynamic' CROSS JOIN LATERAL pg_catalog.unnest(x.depends_on) AS d(d))"
								  " SELECT EXISTS (SELECT 1 FROM r WHERE r.id = $2)",
								  4, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: checking list dependencies failed");
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("filter of list \"%s\" names the list itself through IN LIST", l.name),
					 errhint("A dynamic list cannot depend on its own members, directly or through other lists.")));
	}
	if (SPI_execute_with_args("UPDATE crm.lists l SET depends_on = $3, time_relative = $4,"
							  "       refreshed_at = pg_catalog.now()"
							  " WHERE l.workspace_id = $1 AND l.id = $2",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm lists: recording list dependencies failed");
	CommandCounterIncrement();
	/* our own change to crm.lists: recompile now, not at the next message */
	cache_valid = false;
	if (dynamic)
	{
		LockReadTables(&l, &reads);
		changed = RefreshMembers(&l, sql, &reads);
	}
	else
	{
		StringInfoData q;

		/* a snapshot starts empty: its filter's records, once */
		initStringInfo(&q);
		appendStringInfo(&q, "INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
						 " SELECT $1, $2, '%s', m.oid, 'snapshot' FROM (%s) m ORDER BY m.oid ON CONFLICT DO NOTHING",
						 l.e->list_column, l.e->name, MatchSql(&l, sql, &reads));
		if (SPI_execute_with_args(q.data, 2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm lists: computing the snapshot failed");
		changed = SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT64(changed);
}

Datum
crm_refresh_list_members(PG_FUNCTION_ARGS)
{
	int64		list_id = PG_GETARG_INT64(0);
	ListRow		l;
	CrmCqlReads reads;
	char	   *sql;
	int64		changed;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	ReadList(list_id, &l);
	if (strcmp(l.kind, "dynamic") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s list \"%s\" has no filter to refresh", l.kind, l.name),
				 errhint("Only dynamic lists follow their filter.")));
	sql = CrmCqlTranslateFor(l.e->name, l.filter, l.ws, NULL, &reads, NULL);
	changed = RefreshMembers(&l, sql, &reads);
	SPI_finish();
	PG_RETURN_INT64(changed);
}

/* A dynamic list's filter translated again; one that no longer translates refuses the change */
static char *
TranslateOrRefuse(const ListRow *l, CrmCqlReads *reads)
{
	MemoryContext old = CurrentMemoryContext;
	char	   *sql = NULL;

	PG_TRY();
	{
		sql = CrmCqlTranslateFor(l->e->name, l->filter, l->ws, NULL, reads, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(old);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("the filter of dynamic list \"%s\" no longer applies: %s", l->name, ed->message),
				 errhint("Change that list's filter (crm.set_list_filter) or delete the list first, "
						 "then drop or redefine the property or object type.")));
	}
	PG_END_TRY();
	return sql;
}

/*
 * AFTER UPDATE OR DELETE statement trigger on crm.property_definitions and
 * crm.object_types: filters that use bare declared property names or
 * associated(type) translate differently, or not at all, once those
 * change.  Every dynamic list of the workspaces touched is translated
 * again: one that no longer translates refuses the change (a dynamic list
 * would otherwise break every later write of its records), and one that
 * reads definitions is recomputed, set-based, under the new meaning.
 */
Datum
crm_lists_definitions_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	IdSet		workspaces = {0};

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "crm.lists_definitions_changed must be an AFTER ... FOR EACH STATEMENT trigger");
	CollectWorkspaces(td, &workspaces);
	if (workspaces.n == 0)
		return PointerGetDatum(NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	/*
	 * See the definitions this statement wrote (their invalidation was sent
	 * before us), also in the read-only lookups of the translator.
	 */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	cache_valid = false;
	for (int w = 0; w < workspaces.n; w++)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1];
		int			n;
		ListRow    *rows;
		CrmCqlReads *reads;
		char	  **sqls;

		values[0] = Int64GetDatum(workspaces.v[w]);
		if (SPI_execute_with_args("SELECT l.id, l.name, l.object_type, l.filter::text FROM crm.lists l"
								  " WHERE l.workspace_id = $1 AND l.kind = 'dynamic' ORDER BY l.id",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: reading lists failed");
		n = (int) SPI_processed;
		rows = palloc0(sizeof(ListRow) * Max(n, 1));
		reads = palloc0(sizeof(CrmCqlReads) * Max(n, 1));
		sqls = palloc0(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			rows[i].ws = workspaces.v[w];
			rows[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			rows[i].name = SPI_getvalue(tup, desc, 2);
			rows[i].e = CqlFindEntity(SPI_getvalue(tup, desc, 3));
			rows[i].kind = "dynamic";
			rows[i].filter = SPI_getvalue(tup, desc, 4);
		}
		for (int i = 0; i < n; i++)
			sqls[i] = TranslateOrRefuse(&rows[i], &reads[i]);
		for (int i = 0; i < n; i++)
			if (reads[i].definitions)
				(void) RefreshMembers(&rows[i], sqls[i], &reads[i]);
	}
	PopActiveSnapshot();
	SPI_finish();
	return PointerGetDatum(NULL);
}
