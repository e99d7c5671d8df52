/*-------------------------------------------------------------------------
 *
 * lists.h
 *	  What the dynamic list files share: the compiled lists of a workspace
 *	  (lists_cache.c), the statement triggers that keep them exact
 *	  (lists_sync.c), the set-based computation of memberships
 *	  (lists_recompute.c) and the row path of crm.lists (lists_define.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_LISTS_H
#define CRM_LISTS_H

#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "utils/array.h"

#include "cql/cql.h"
#include "cql_sql.h"

/* Dependency rounds (IN LIST of IN LIST ...) before giving up */
#define MAX_SYNC_DEPTH 64
#define MAX_ENTITIES 16
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
	EvalPart   *parts;			/* the evaluation queries, LISTS_PER_QUERY lists each */
	int			nscopes;		/* the entity's scope tests, evaluated once per record */
	int8	   *scope;			/* per list: the scope test its records pass, or -1 */
	int			nsmart;			/* lists with a tag (smart tags, smart_tags.c) */
	MemoryContext cxt;			/* what the entry holds but its plans */
	Size		bytes;			/* charged to crm_cache_bytes, plans included */
	bool		planned;		/* bytes counts every part's generic plan */
	uint64		epoch;			/* last found current (workspace_versions.c) */
	uint64		version;		/* CQL version of the workspace it was built from */
	uint64		lists_version;	/* its lists version (the definitions left out) */
	int			ndefinitions;	/* the declared properties its filters looked up, -1: too many */
	const char **definition_types;
	const char **definition_keys;
	uint64	   *definition_answers; /* what each answered (CrmCqlDefinitionAnswer) */
	dlist_node	lru;			/* most recently used first */
} ListSet;

/* One row of crm.lists, as the whole-list computations need it */
typedef struct ListRow
{
	int64		ws;
	int64		id;
	char	   *name;
	const CqlEntity *e;
	char	   *kind;
	char	   *filter;
	char	   *owner;			/* whose lists its filter's IN LIST names: NULL, the workspace's */
} ListRow;

/* ---- growing arrays of ids ------------------------------------------------ */

typedef struct IdSet
{
	int			n;
	int			cap;
	int64	   *v;
} IdSet;

static inline void
IdAdd(IdSet *s, int64 id)
{
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = s->v ? repalloc(s->v, sizeof(int64) * s->cap) : palloc(sizeof(int64) * s->cap);
	}
	s->v[s->n++] = id;
}

static inline bool
IdContains(const int64 *v, int n, int64 id)
{
	for (int i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* Position of id in sorted v, or -1 */
static inline int
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

static inline Datum
IdArray(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Sorted and without duplicates: locks are taken in id order */
extern void IdSort(IdSet *s);

/* ---- the catalogue as the lists see it ------------------------------------ */

/*
 * The relations a filter of e can follow from its record: the catalogue's,
 * then the one associated() reads.
 */
static inline int
NumRelations(const CqlEntity *e)
{
	return Min(e->nrelations + (e->assoc_relation ? 1 : 0), MAX_RELATIONS);
}

static inline const CqlRelation *
RelationAt(const CqlEntity *e, int k)
{
	return k < e->nrelations ? &e->relations[k] : e->assoc_relation;
}

extern int	EntityIndex(const CqlEntity *e);

/* lists_cache.c */
extern SPIPlanPtr PrepareKeptPlan(const char *sql, int nargs, Oid *argtypes, bool generic);
extern SPIPlanPtr PrepareKept(const char *sql, int nargs, Oid *argtypes);
extern ListSet *GetListSet(int64 ws, const CqlEntity *e);
extern bool ListsNoneIn(const IdSet *workspaces);
extern void ListsCacheInvalidate(int64 ws);
extern void ListsCacheRecheck(int64 ws);

/* lists_sync.c */
extern int	lists_sync_depth;
extern int	Att(TupleDesc desc, const char *name);
extern void CollectWorkspaces(TriggerData *td, IdSet *out);

/* lists_recompute.c */
extern int	lists_applying;
extern void LockLinked(const CqlEntity *e, int64 ws, IdSet *ids);
extern int64 Recompute(ListSet *s, const CqlEntity *e, int64 ws, IdSet *ids, bool lock, int64 only_list);
extern char *MatchSql(const ListRow *l, const char *sql, const CrmCqlReads *reads);
extern int64 RefreshMembers(const ListRow *l, const char *sql, const CrmCqlReads *reads, bool stamp);
extern void LockReadTables(const ListRow *l, const CrmCqlReads *reads);

/* lists_define.c */
extern int	lists_internal_write;

/* lists_counts.c */
extern void ListCountsAdd(int64 ws, int64 list, int64 delta);
extern void ListCountsSettle(int64 ws, int64 list);
extern void ListCountsFlushNow(void);

/* smart_tags.c */
extern bool SmartTagsInstalled(void);
extern void SmartTagsApply(int64 ws, const IdSet *ids);
extern void SmartTagsAfterMembers(int kind, const char *changes);

#endif							/* CRM_LISTS_H */
