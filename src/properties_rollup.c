/*-------------------------------------------------------------------------
 *
 * properties_rollup.c
 *	  Rollup properties: a computed property whose formula is one aggregate
 *	  over a to-many relation, COUNT(deals(status = OPEN)) or
 *	  SUM(orders(status = PAID AND currency = 'EUR').value), stored in the
 *	  record's properties and kept exact by the writes of the related table.
 *
 * crm_internal.rollups_sync() is a statement trigger (insert, update,
 * delete, with transition tables) on each table a rollup can read: orders,
 * deals, conversations.  Per statement and rollup over that table it runs
 * one statement:
 *
 *   COUNT, SUM  a delta per touched record from the rows that left (old
 *               rows matching the condition, counted negative) and came
 *               (new rows matching), added to the stored value by an UPDATE
 *               of those records.  Two writers of one record queue on its
 *               row lock and the second adds its delta to the first's
 *               result, so the value is exact at commit.
 *   MIN, MAX,   the touched records are locked first (in id order), then
 *   AVG         their values recomputed from the related rows with a new
 *               snapshot, which sees what a writer that held the lock
 *               before committed.
 *
 * Re-parenting (an order moved to another contact, a merge) is an update
 * that leaves one record and comes to another.  Deleting a record clears
 * the references to it first (crm_internal.clear_references, a BEFORE
 * DELETE trigger): that update leaves the record being deleted, which is
 * not written then (crm_rollups_clearing), or the delete would find its
 * row changed under it.  The records are written as
 * the tables' owner (every record of the workspace, whoever writes the
 * order), with rollup_writing set: the validation trigger otherwise keeps
 * a rollup's stored value against a client's write (CrmKeepRollups).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "executor/tuptable.h"

#include "crm.h"
#include "cql_sql.h"
#include "properties.h"

PG_FUNCTION_INFO_V1(crm_rollups_sync);
PG_FUNCTION_INFO_V1(crm_rollups_clearing);

enum
{
	AGG_COUNT, AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG
};
static const char *const agg_sql[] = {"count", "sum", "min", "max", "avg"};

/* Depth of the rollup writes under way: the validation trigger lets them store rollup values */
int			rollup_writing = 0;

/* Every rollup of every workspace, for the triggers of the related tables */
typedef struct Rollup
{
	int64		workspace_id;
	char	   *object_type;
	char	   *key;
	char	   *parent;			/* the records' table: contacts */
	const char *type_column;	/* custom records: their type column */
	CrmRollupSql sql;			/* over the related rows' alias c */
	/*
	 * kept plans by the records touched (one, more), transition tables (new,
	 * old, both) and step (see SyncAdditive and SyncRollup)
	 */
	SPIPlanPtr	plans[2][3][3];
	/* on Citus: the touched records by transition tables, then lock and update */
	SPIPlanPtr	citus_plans[3][3];
} Rollup;

static MemoryContext rollup_context = NULL;

/*
 * The record whose references crm_internal.clear_references is clearing,
 * in this (sub)transaction: an error there leaves it set, but a later
 * statement runs in another transaction or subtransaction.
 */
static Oid	clearing_relid = InvalidOid;
static int64 clearing_id = 0;
static FullTransactionId clearing_xid;
static SubTransactionId clearing_subxid = InvalidSubTransactionId;

static void
FreePlan(void *arg)
{
	SPI_freeplan((SPIPlanPtr) arg);
}
static uint64 rollup_generation = 0;
static bool rollups_loaded = false;
static int	nrollups = 0;
static Rollup *rollups = NULL;

/*
 * On Citus, a workspace's rollups, loaded by its first statement: reading
 * every workspace's would be a query over every shard.
 */
typedef struct WorkspaceRollups
{
	int64		workspace_id;
	int			n;
	Rollup	   *rollups;
	struct WorkspaceRollups *next;
} WorkspaceRollups;

static WorkspaceRollups *workspace_rollups = NULL;

/* A value as the JSON the validation trigger accepts for its type */
static char *
JsonValue(const char *sql, const char *type)
{
	if (strcmp(type, "datetime") == 0)
		return psprintf("pg_catalog.to_char((%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", sql);
	return psprintf("(%s)", sql);
}

static void WriteRecordsKept(const Rollup *r, const char *sql, int nargs, Oid *argtypes, Datum *args,
							 const char *nulls, SPIPlanPtr *slot);

/*
 * The aggregate of one record's related rows as the jsonb object {key:
 * value}, empty when the value is null, by a sub-select (p: the record).
 * The object is built inside the sub-select: Citus refuses a STABLE
 * function (jsonb_build_object) of the updated row's columns in an UPDATE.
 * $1 is the workspace in every statement that reads it, which lets Citus
 * route the sub-select with its UPDATE.
 */
static char *
RecomputeSql(const Rollup *r)
{
	char	   *v = r->sql.agg == AGG_COUNT ? "*" : r->sql.value_sql;
	char	   *agg = psprintf("pg_catalog.%s(%s)", agg_sql[r->sql.agg], v);
	const char *k = quote_literal_cstr(r->key);

	if (r->sql.agg == AGG_COUNT || r->sql.agg == AGG_SUM)
		agg = psprintf("COALESCE(%s, 0)", agg);
	return psprintf("(SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(%s, %s))"
					" FROM %s AS c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
					" AND c.%s OPERATOR(pg_catalog.=) p.id%s%s%s)",
					k, JsonValue(agg, r->sql.type), r->sql.table, r->sql.fk,
					r->sql.cond_sql ? " AND (" : "", r->sql.cond_sql ? r->sql.cond_sql : "",
					r->sql.cond_sql ? ")" : "");
}

/* properties with the key set as in object (RecomputeSql), or without it when the object is empty */
static char *
SetKey(const char *props, const char *key, const char *object)
{
	return psprintf("(%s OPERATOR(pg_catalog.-) %s OPERATOR(pg_catalog.||) %s)",
					props, quote_literal_cstr(key), object);
}

/* A new generation of definitions: what was loaded goes */
static bool
RollupsCurrent(void)
{
	uint64		generation = CrmPropertyGeneration();

	if (rollup_context == NULL)
		rollup_context = AllocSetContextCreate(TopMemoryContext, "crm rollup cache", ALLOCSET_SMALL_SIZES);
	if (generation == rollup_generation)
		return true;
	MemoryContextReset(rollup_context);
	rollups_loaded = false;
	nrollups = 0;
	rollups = NULL;
	workspace_rollups = NULL;
	rollup_generation = generation;
	return false;
}

/*
 * The rollups among the definitions the query returns (workspace, type,
 * key, formula), compiled into rollup_context.  A workspace's own, on Citus,
 * with the workspace as its parameter.
 */
static Rollup *
ReadRollups(const char *where, int64 ws, int *count)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(ws)};
	Rollup	   *rs;
	int			k = 0;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(CrmCacheSnapshot());
	/* by name through to_jsonb: the 0.2.0 schema has no formula column */
	if (SPI_execute_with_args(psprintf("SELECT d.workspace_id, d.object_type, d.key, f.formula"
									   "  FROM crm.property_definitions d,"
									   "       LATERAL (SELECT pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->>) 'formula' AS formula) f"
									   " WHERE f.formula OPERATOR(pg_catalog.~*) '^\\s*(count|sum|min|max|avg)\\s*\\('%s"
									   " ORDER BY d.workspace_id, d.object_type, d.key", where),
							  where[0] ? 1 : 0, argtypes, args, NULL, CrmCacheReadOnly(), 0) != SPI_OK_SELECT)
		elog(ERROR, "loading rollups failed");
	{
		int			n = (int) SPI_processed;
		SPITupleTable *tt = SPI_tuptable;

		rs = MemoryContextAllocZero(rollup_context, sizeof(Rollup) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Rollup	   *r = &rs[k];
			const char *parent;

			r->workspace_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			r->object_type = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			r->key = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
			parent = CrmObjectTable(r->object_type, &r->type_column);
			if (parent == NULL)
				continue;
			r->parent = (char *) parent;
			CrmCqlCompileRollup(r->object_type, SPI_getvalue(tt->vals[i], tt->tupdesc, 4), r->workspace_id,
								"c", &r->sql);
			old = MemoryContextSwitchTo(rollup_context);
			r->object_type = pstrdup(r->object_type);
			r->key = pstrdup(r->key);
			r->sql.table = pstrdup(r->sql.table);
			r->sql.fk = pstrdup(r->sql.fk);
			r->sql.value_sql = r->sql.value_sql ? pstrdup(r->sql.value_sql) : NULL;
			r->sql.cond_sql = r->sql.cond_sql ? pstrdup(r->sql.cond_sql) : NULL;
			MemoryContextSwitchTo(old);
			k++;
		}
	}
	PopActiveSnapshot();
	SPI_finish();
	*count = k;
	return rs;
}

static void
LoadRollups(void)
{
	if (RollupsCurrent() && rollups_loaded)
		return;
	rollups = ReadRollups("", 0, &nrollups);
	rollups_loaded = true;
}

static WorkspaceRollups *
LoadWorkspaceRollups(int64 ws)
{
	WorkspaceRollups *w;

	RollupsCurrent();
	for (w = workspace_rollups; w; w = w->next)
		if (w->workspace_id == ws)
			return w;
	w = MemoryContextAllocZero(rollup_context, sizeof(WorkspaceRollups));
	w->workspace_id = ws;
	w->rollups = ReadRollups(" AND d.workspace_id OPERATOR(pg_catalog.=) $1", ws, &w->n);
	w->next = workspace_rollups;
	workspace_rollups = w;
	return w;
}

/*
 * Run a rollup write as the owner of the records' table, with rollup_writing
 * set; with a plan slot, the statement is prepared once and kept (it reads
 * the transition tables by name, which each trigger call registers anew).
 */
static void
WriteRecords(const Rollup *r, const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	WriteRecordsKept(r, sql, nargs, argtypes, args, NULL, NULL);
}

static void
WriteRecordsKept(const Rollup *r, const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls,
				 SPIPlanPtr *slot)
{
	CrmSavedUser saved;
	Oid			relid = get_relname_relid(r->parent, get_namespace_oid("crm", false));

	int			nest;

	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	/* the conditions CQL writes spell some operators bare, and IN is = */
	nest = CrmPinSearchPath();
	rollup_writing++;
	PG_TRY();
	{
		int			rc;

		if (slot && *slot == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);
			MemoryContextCallback *cb;

			if (plan == NULL)
				elog(ERROR, "preparing rollup \"%s\" failed: %s", r->key, SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			cb = MemoryContextAlloc(rollup_context, sizeof(MemoryContextCallback));
			cb->func = FreePlan;
			cb->arg = plan;
			MemoryContextRegisterResetCallback(rollup_context, cb);
			*slot = plan;
		}
		/*
		 * A kept statement reads the touched records and their related rows:
		 * through their indexes, whatever the statistics it was planned with.
		 * A backfill, planned at each call, may read the whole workspace.
		 */
		rc = slot ? CrmExecuteByIndex(*slot, args, nulls, false, 0) :
			SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);

		if (rc != SPI_OK_UPDATE && rc != SPI_OK_SELECT)
			elog(ERROR, "updating rollup \"%s\" failed: %d", r->key, rc);
	}
	PG_FINALLY();
	{
		rollup_writing--;
	}
	PG_END_TRY();
	CrmRestoreSearchPath(nest);
	CrmRestoreUser(&saved);
}

/* The related rows of a transition table that count for the rollup, as "parent, v" */
static char *
Counted(const Rollup *r, const char *table, bool negative)
{
	/* MIN, MAX and AVG only need the records */
	const char *v = r->sql.agg == AGG_SUM ? psprintf("COALESCE(%s, 0)", r->sql.value_sql) :
		"1::pg_catalog.numeric";

	return psprintf("SELECT c.%s AS parent, %s%s AS v FROM %s AS c"
					" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.%s IS NOT NULL%s%s%s",
					r->sql.fk, negative ? "OPERATOR(pg_catalog.-) " : "", v, table, r->sql.fk,
					r->sql.cond_sql ? " AND (" : "", r->sql.cond_sql ? r->sql.cond_sql : "",
					r->sql.cond_sql ? ")" : "");
}

/* The record being deleted whose references are cleared, if it is one of r's records */
static bool
Clearing(const Rollup *r, int64 *id)
{
	if (!OidIsValid(clearing_relid) || clearing_subxid != GetCurrentSubTransactionId() ||
		!FullTransactionIdEquals(clearing_xid, GetTopFullTransactionIdIfAny()) ||
		clearing_relid != get_relname_relid(r->parent, get_namespace_oid("crm", false)))
		return false;
	*id = clearing_id;
	return true;
}

/* Whether a rollup is kept by adding deltas (COUNT, SUM) */
static bool
Additive(const Rollup *r)
{
	return r->sql.agg == AGG_COUNT || r->sql.agg == AGG_SUM;
}

/* Whether two additive rollups write the same records from the same related rows */
static bool
SameRecords(const Rollup *a, const Rollup *b)
{
	return a->workspace_id == b->workspace_id && strcmp(a->object_type, b->object_type) == 0 &&
		strcmp(a->sql.table, b->sql.table) == 0 && strcmp(a->sql.fk, b->sql.fk) == 0 &&
		Additive(a) && Additive(b);
}

/*
 * A related row's share of one additive rollup: its value (or 1) when it
 * meets the rollup's condition, else 0, negative for a row that left.
 */
static char *
Share(const Rollup *r, bool negative)
{
	const char *v = r->sql.agg == AGG_SUM ? psprintf("COALESCE(%s, 0)", r->sql.value_sql) :
		"1::pg_catalog.numeric";

	if (r->sql.cond_sql)
		v = psprintf("CASE WHEN (%s) THEN %s ELSE 0 END", r->sql.cond_sql, v);
	return psprintf("%s(%s)", negative ? "OPERATOR(pg_catalog.-) " : "", v);
}

/* The related rows of a transition table as "parent, v1, ..., vn", a share of each rollup */
static char *
Shares(Rollup **group, int n, const char *table, bool negative)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT c.%s AS parent", group[0]->sql.fk);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, ", %s AS v%d", Share(group[i], negative), i);
	appendStringInfo(&buf, " FROM %s AS c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.%s IS NOT NULL",
					 table, group[0]->sql.fk);
	return buf.data;
}

/*
 * How many records of the workspace the statement's related rows name in
 * the rollup's foreign key: 0, 1 (into *one) or 2 for more than one.  A
 * statement that touches one record writes it by its whole key, a plan whose
 * shape the statistics cannot change (see SyncAdditive).
 */
static int
TouchedRecords(TriggerData *td, const Rollup *r, int64 *one)
{
	Tuplestorestate *stores[2] = {td->tg_newtable, td->tg_oldtable};
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	AttrNumber	fk = SPI_fnumber(desc, r->sql.fk);
	AttrNumber	ws = SPI_fnumber(desc, "workspace_id");
	TupleTableSlot *slot;
	int			n = 0;

	if (fk <= 0 || ws <= 0)
		return 2;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	for (int t = 0; t < 2 && n < 2; t++)
	{
		if (stores[t] == NULL)
			continue;
		tuplestore_rescan(stores[t]);
		while (n < 2 && tuplestore_gettupleslot(stores[t], true, false, slot))
		{
			bool		isnull;
			int64		id;

			if (DatumGetInt64(slot_getattr(slot, ws, &isnull)) != r->workspace_id)
				continue;
			id = DatumGetInt64(slot_getattr(slot, fk, &isnull));
			if (isnull || (n == 1 && id == *one))
				continue;
			*one = id;
			n++;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return n;
}

/*
 * The one touched record ($3) found through its primary key whatever the
 * statistics: without them every index leading with workspace_id costs the
 * same, and the planner may pick one that reads the whole workspace.  The
 * primary key alone returns a range of ids in order without a sort, and a
 * TID scan of the tid it finds is the cheapest of all plans.
 */
static char *
ByKey(const Rollup *r, const char *alias)
{
	return psprintf("FROM crm.%s AS %s WHERE %s.workspace_id OPERATOR(pg_catalog.=) $1"
					"   AND %s.id OPERATOR(pg_catalog.>=) $3 AND %s.id OPERATOR(pg_catalog.<=) $3"
					"   AND %s.id IS DISTINCT FROM $2",
					r->parent, alias, alias, alias, alias, alias);
}

/*
 * Lock the one touched record if what (a condition over the transition
 * tables) holds, into *tid: the latest version's, which the write then reads
 * by a TID scan and which stays while the lock is held.
 */
static bool
LockOne(Rollup *r, const char *what, const char *strength, SPIPlanPtr *slot, Datum *args, const char *nulls,
		ItemPointerData *tid)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	bool		isnull;

	WriteRecordsKept(r, *slot ? NULL :
					 psprintf("SELECT p.ctid %s AND %s ORDER BY p.id LIMIT 1 FOR %s OF p",
							  ByKey(r, "p"), what, strength),
					 3, argtypes, args, nulls, slot);
	if (SPI_processed != 1)
		return false;
	*tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return true;
}

/*
 * The additive rollups of one kind of record over this table (a contact's
 * spend and its count of orders): one UPDATE adds every rollup's delta per
 * touched record, so a record is rewritten (with its indexes, triggers,
 * event and history rows) once per statement, not once per rollup.  A key
 * whose delta is 0 keeps its stored value; a record whose deltas are all 0
 * is not written.  Two writers of one record queue on its row lock and the
 * second adds its deltas to the first's result, so the values are exact at
 * commit.  The plans are kept in the group's first rollup.
 *
 * The records are found by their ids, never by a join to them: planned
 * without statistics (a new installation, tables analyzed while empty), a
 * join put the records on its outer side and visited every record of the
 * workspace at each single-order statement.  One touched record is written
 * at the tid its key finds (ByKey).  More are read from the
 * transition tables first (the CTE d, run once): their ids as an array,
 * found by the primary key, and their deltas as a jsonb object by id, read
 * per record by a binary search of the object's keys.
 */
static void
SyncAdditive(Rollup **group, int n, bool has_new, bool has_old, int touched, int64 one)
{
	Rollup	   *r = group[0];
	SPIPlanPtr *slots = group[0]->plans[touched == 1 ? 0 : 1][(has_new ? 1 : 0) + (has_old ? 2 : 0) - 1];
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, TIDOID};
	Datum		args[4] = {Int64GetDatum(r->workspace_id), (Datum) 0, Int64GetDatum(one), (Datum) 0};
	char		nulls[4] = {' ', 'n', ' ', ' '};
	ItemPointerData tid;
	int64		skip;
	StringInfoData set,
				sums,
				deltas,
				moved;
	char	   *rows = NULL;
	char	   *d = NULL;

	if (touched == 0)
		return;
	if (Clearing(r, &skip))
	{
		if (touched == 1 && skip == one)
			return;
		args[1] = Int64GetDatum(skip);
		nulls[1] = ' ';
	}
	if (slots[0] == NULL || (touched == 1 && (slots[1] == NULL || slots[2] == NULL)))
	{
		initStringInfo(&set);
		initStringInfo(&sums);
		initStringInfo(&deltas);
		initStringInfo(&moved);
		rows = psprintf("%s%s%s", has_new ? Shares(group, n, "new_rows", false) : "",
						has_new && has_old ? " UNION ALL " : "",
						has_old ? Shares(group, n, "old_rows", true) : "");
		appendStringInfoString(&set, "p.properties");
		for (int i = 0; i < n; i++)
		{
			const char *k = quote_literal_cstr(group[i]->key);
			/* record p's delta of rollup i: d's column, or its object's entry for p */
			char	   *di = touched == 1 ? psprintf("d.d%d", i) :
				psprintf("((SELECT d.deltas FROM d) OPERATOR(pg_catalog.->) (p.id)::pg_catalog.text"
						 " OPERATOR(pg_catalog.->) %d)::pg_catalog.numeric", i);

			appendStringInfo(&set, " OPERATOR(pg_catalog.||) CASE WHEN %s OPERATOR(pg_catalog.<>) 0"
							 " THEN pg_catalog.jsonb_build_object(%s, COALESCE((p.properties OPERATOR(pg_catalog.->>) %s)::pg_catalog.numeric, 0)"
							 "   OPERATOR(pg_catalog.+) %s) ELSE '{}'::pg_catalog.jsonb END", di, k, k, di);
			appendStringInfo(&sums, "%spg_catalog.sum(x.v%d) AS d%d", i ? ", " : "", i, i);
			appendStringInfo(&deltas, "%sy.d%d", i ? ", " : "", i);
			appendStringInfo(&moved, touched == 1 ? "%sd.d%d OPERATOR(pg_catalog.<>) 0" :
							 "%spg_catalog.sum(x.v%d) OPERATOR(pg_catalog.<>) 0", i ? " OR " : "", i);
		}
		d = psprintf("(SELECT %s FROM (%s) x WHERE x.parent OPERATOR(pg_catalog.=) $3) d", sums.data, rows);
	}
	if (touched != 1)
	{
		WriteRecordsKept(r, slots[0] ? NULL :
						 psprintf("WITH d AS MATERIALIZED ("
								  "SELECT pg_catalog.array_agg(y.parent) AS ids,"
								  "       pg_catalog.jsonb_object_agg(y.parent, pg_catalog.jsonb_build_array(%s)) AS deltas"
								  "  FROM (SELECT x.parent, %s FROM (%s) x"
								  "         WHERE x.parent IS DISTINCT FROM $2 GROUP BY x.parent HAVING %s) y)"
								  " UPDATE crm.%s AS p SET properties = %s"
								  " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1"
								  "   AND p.id OPERATOR(pg_catalog.=) ANY ((SELECT d.ids FROM d)::pg_catalog.int8[])",
								  deltas.data, sums.data, rows, moved.data, r->parent, set.data),
						 2, argtypes, args, nulls, &slots[0]);
		return;
	}
	/*
	 * The record's tid read by its key, then the record written at that tid:
	 * one statement.  A version of the record committed meanwhile by another
	 * writer fails the TID scan's recheck and is not written: then (and when
	 * no delta moved) it is locked by its key, which waits for that writer,
	 * and written at its latest tid.
	 */
	WriteRecordsKept(r, slots[0] ? NULL :
					 psprintf("UPDATE crm.%s AS p SET properties = %s FROM %s"
							  " WHERE p.ctid OPERATOR(pg_catalog.=) (SELECT q.ctid %s ORDER BY q.id LIMIT 1)"
							  "   AND p.workspace_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) $3 AND (%s)",
							  r->parent, set.data, d, ByKey(r, "q"), moved.data),
					 3, argtypes, args, nulls, &slots[0]);
	if (SPI_processed == 1)
		return;
	/* the record is locked only when a delta is not 0, as the UPDATE writes it only then */
	if (!LockOne(r, d ? psprintf("EXISTS (SELECT FROM %s WHERE %s)", d, moved.data) : NULL,
				 "NO KEY UPDATE", &slots[1], args, nulls, &tid))
		return;
	args[3] = PointerGetDatum(&tid);
	WriteRecordsKept(r, slots[2] ? NULL :
					 psprintf("UPDATE crm.%s AS p SET properties = %s FROM %s"
							  " WHERE p.ctid OPERATOR(pg_catalog.=) $4 AND p.workspace_id OPERATOR(pg_catalog.=) $1"
							  "   AND p.id OPERATOR(pg_catalog.=) $3 AND (%s)",
							  r->parent, set.data, d, moved.data),
					 4, argtypes, args, nulls, &slots[2]);
}

/*
 * A MIN, MAX or AVG rollup: its touched records locked, then recomputed
 * with a snapshot taken after the locks.  One record is locked by its key
 * and recomputed by its tid (LockOne); more by an array of their ids read
 * from the transition tables once, found by the primary key.
 */
static void
SyncRollup(Rollup *r, bool has_new, bool has_old, int touched, int64 one)
{
	SPIPlanPtr *slots = r->plans[touched == 1 ? 0 : 1][(has_new ? 1 : 0) + (has_old ? 2 : 0) - 1];
	Oid			argtypes[4] = {INT8OID, INT8OID, INT8OID, TIDOID};
	Datum		args[4] = {Int64GetDatum(r->workspace_id), (Datum) 0, Int64GetDatum(one), (Datum) 0};
	char		nulls[4] = {' ', 'n', ' ', ' '};
	ItemPointerData tid;
	int64		skip;
	StringInfoData rows;
	char	   *which = NULL;

	if (touched == 0)
		return;
	if (Clearing(r, &skip))
	{
		if (touched == 1 && skip == one)
			return;
		args[1] = Int64GetDatum(skip);
		nulls[1] = ' ';
	}
	initStringInfo(&rows);
	if (has_new)
		appendStringInfoString(&rows, Counted(r, "new_rows", false));
	if (has_old)
		appendStringInfo(&rows, "%s%s", has_new ? " UNION ALL " : "", Counted(r, "old_rows", true));
	if (touched == 1)
	{
		if (!LockOne(r, psprintf("EXISTS (SELECT FROM (%s) x WHERE x.parent OPERATOR(pg_catalog.=) $3)", rows.data),
					 "UPDATE", &slots[0], args, nulls, &tid))
			return;
		args[3] = PointerGetDatum(&tid);
		which = "p.ctid OPERATOR(pg_catalog.=) $4 AND p.id OPERATOR(pg_catalog.=) $3";
	}
	else
	{
		which = psprintf("p.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT x.parent FROM (%s) x"
						 " WHERE x.parent IS DISTINCT FROM $2))", rows.data);
		WriteRecordsKept(r, psprintf("SELECT p.id FROM crm.%s AS p WHERE p.workspace_id OPERATOR(pg_catalog.=) $1"
									 " AND %s ORDER BY p.id FOR UPDATE OF p",
									 r->parent, which),
						 2, argtypes, args, nulls, &slots[0]);
	}
	/* a record whose value did not move is not written: no events, history or list work */
	WriteRecordsKept(r, psprintf("UPDATE crm.%s AS p SET properties = %s"
								 " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1 AND %s"
								 "   AND p.properties IS DISTINCT FROM %s",
								 r->parent, SetKey("p.properties", r->key, RecomputeSql(r)), which,
								 SetKey("p.properties", r->key, RecomputeSql(r))),
					 touched == 1 ? 4 : 2, argtypes, args, nulls, &slots[1]);
}

/* Whether two rollups are of one kind of record of one workspace */
static bool
SameType(const Rollup *a, const Rollup *b)
{
	return a->workspace_id == b->workspace_id && strcmp(a->object_type, b->object_type) == 0;
}

/*
 * The additive group (SameRecords) that rs[i] opens, into group; 0 when
 * rs[i] is in the group of an earlier rollup.  Rollups are sorted by
 * workspace and type: a record's are next to each other.
 */
static int
AdditiveGroup(Rollup *rs, int nrs, int i, Rollup **group)
{
	int			n = 0;

	for (int j = i - 1; j >= 0 && SameType(&rs[i], &rs[j]); j--)
		if (SameRecords(&rs[i], &rs[j]))
			return 0;
	for (int j = i; j < nrs && SameType(&rs[i], &rs[j]); j++)
		if (SameRecords(&rs[i], &rs[j]))
			group[n++] = &rs[j];
	return n;
}

/*
 * SyncAdditive on a Citus shard (see SyncRollupCitus): each touched
 * record's deltas read from the transition tables alone, then one UPDATE
 * naming the workspace, the records and one array of deltas per rollup as
 * parameters.  jsonb_set, which is immutable, sets a key whose delta is
 * not 0 and sets an existing key to itself otherwise (create_missing
 * false: an absent key stays absent).
 */
static void
SyncAdditiveCitus(Rollup **group, int n, bool has_new, bool has_old)
{
	const Rollup *r = group[0];
	SPIPlanPtr *slots = group[0]->citus_plans[(has_new ? 1 : 0) + (has_old ? 2 : 0) - 1];
	Oid		   *argtypes = palloc(sizeof(Oid) * (n + 2));
	Datum	   *args = palloc0(sizeof(Datum) * (n + 2));
	Datum	  **deltas = palloc(sizeof(Datum *) * n);
	Datum	   *parents;
	int			m = 0;
	int64		skip;
	bool		skipping;
	StringInfoData sql;

	argtypes[0] = INT8OID;
	argtypes[1] = INT8ARRAYOID;
	for (int i = 0; i < n; i++)
		argtypes[i + 2] = NUMERICARRAYOID;
	args[0] = Int64GetDatum(r->workspace_id);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT x.parent");
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, ", pg_catalog.sum(x.v%d)", i);
	appendStringInfo(&sql, " FROM (%s%s%s) x GROUP BY x.parent HAVING false",
					 has_new ? Shares(group, n, "new_rows", false) : "",
					 has_new && has_old ? " UNION ALL " : "",
					 has_old ? Shares(group, n, "old_rows", true) : "");
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, " OR pg_catalog.sum(x.v%d) OPERATOR(pg_catalog.<>) 0", i);
	appendStringInfoString(&sql, " ORDER BY x.parent");
	WriteRecordsKept(r, sql.data, 1, argtypes, args, NULL, &slots[0]);

	parents = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (int i = 0; i < n; i++)
		deltas[i] = palloc(sizeof(Datum) * (SPI_processed + 1));
	/* the record being deleted is not written (see Clearing) */
	skipping = Clearing(r, &skip);
	for (uint64 t = 0; t < SPI_processed; t++)
	{
		bool		isnull;

		parents[m] = SPI_getbinval(SPI_tuptable->vals[t], SPI_tuptable->tupdesc, 1, &isnull);
		for (int i = 0; i < n; i++)
			deltas[i][m] = SPI_getbinval(SPI_tuptable->vals[t], SPI_tuptable->tupdesc, i + 2, &isnull);
		if (!skipping || DatumGetInt64(parents[m]) != skip)
			m++;
	}
	if (m == 0)
		return;
	args[1] = PointerGetDatum(construct_array(parents, m, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	for (int i = 0; i < n; i++)
		args[i + 2] = PointerGetDatum(construct_array(deltas[i], m, NUMERICOID, -1, false, TYPALIGN_INT));

	resetStringInfo(&sql);
	{
		StringInfoData set;

		initStringInfo(&set);
		appendStringInfoString(&set, "p.properties");
		for (int i = 0; i < n; i++)
		{
			const char *k = quote_literal_cstr(group[i]->key);
			char	   *d = psprintf("($%d::pg_catalog.numeric[])[pg_catalog.array_position($2, p.id)]", i + 3);
			char	   *prev = set.data;

			initStringInfo(&set);
			appendStringInfo(&set, "pg_catalog.jsonb_set(%s, ARRAY[%s], CASE WHEN %s OPERATOR(pg_catalog.<>) 0"
							 " THEN ((COALESCE((p.properties OPERATOR(pg_catalog.->>) %s)::pg_catalog.numeric, 0)"
							 "   OPERATOR(pg_catalog.+) %s)::pg_catalog.text)::pg_catalog.jsonb"
							 " ELSE COALESCE(p.properties OPERATOR(pg_catalog.->) %s, 'null'::pg_catalog.jsonb) END,"
							 " %s OPERATOR(pg_catalog.<>) 0)",
							 prev, k, d, k, d, k, d);
		}
		appendStringInfo(&sql, "UPDATE crm.%s AS p SET properties = %s"
						 " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) ANY ($2)",
						 r->parent, set.data);
	}
	WriteRecordsKept(r, sql.data, n + 2, argtypes, args, NULL, &slots[1]);
}

/*
 * SyncRollup on a Citus shard.  Citus ships no query that reads a
 * transition table to a shard: the touched records are read from the
 * transition tables alone, which Citus leaves to PostgreSQL, then written
 * by statements naming the workspace and the records as parameters, which
 * it routes to the workspace's shard.
 */
static void
SyncRollupCitus(Rollup *r, bool has_new, bool has_old)
{
	SPIPlanPtr *slots = r->citus_plans[(has_new ? 1 : 0) + (has_old ? 2 : 0) - 1];
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		args[2] = {Int64GetDatum(r->workspace_id)};
	StringInfoData rows;
	int			n = 0;
	int64		skip;
	bool		skipping;
	Datum	   *parents;

	initStringInfo(&rows);
	if (has_new)
		appendStringInfoString(&rows, Counted(r, "new_rows", false));
	if (has_old)
		appendStringInfo(&rows, "%s%s", has_new ? " UNION ALL " : "", Counted(r, "old_rows", true));
	WriteRecordsKept(r, psprintf("SELECT DISTINCT x.parent FROM (%s) x ORDER BY x.parent", rows.data),
					 1, argtypes, args, NULL, &slots[0]);
	parents = palloc(sizeof(Datum) * (SPI_processed + 1));
	/* the record being deleted is not written (see Clearing) */
	skipping = Clearing(r, &skip);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		parents[n] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		if (!skipping || DatumGetInt64(parents[n]) != skip)
			n++;
	}
	if (n == 0)
		return;
	args[1] = PointerGetDatum(construct_array(parents, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	/* lock the touched records, then recompute them with a snapshot taken after the locks */
	WriteRecordsKept(r, psprintf("SELECT p.id FROM crm.%s AS p WHERE p.workspace_id OPERATOR(pg_catalog.=) $1"
								 " AND p.id OPERATOR(pg_catalog.=) ANY ($2) ORDER BY p.id FOR UPDATE OF p",
								 r->parent),
					 2, argtypes, args, NULL, &slots[1]);
	WriteRecordsKept(r, psprintf("UPDATE crm.%s AS p SET properties = %s"
								 " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) ANY ($2)"
								 "   AND p.properties IS DISTINCT FROM %s",
								 r->parent, SetKey("p.properties", r->key, RecomputeSql(r)),
								 SetKey("p.properties", r->key, RecomputeSql(r))),
					 2, argtypes, args, NULL, &slots[2]);
}

static int
CompareWorkspaces(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* The workspaces of a statement's changed rows, sorted, without duplicates */
static int
ChangedWorkspaces(TriggerData *td, int64 **out)
{
	Tuplestorestate *stores[2] = {td->tg_newtable, td->tg_oldtable};
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	AttrNumber	att = SPI_fnumber(RelationGetDescr(td->tg_relation), "workspace_id");
	int			n = 0,
				cap = 4;
	int64	   *ws = palloc(sizeof(int64) * cap);

	for (int t = 0; t < 2; t++)
	{
		if (stores[t] == NULL)
			continue;
		tuplestore_rescan(stores[t]);
		while (tuplestore_gettupleslot(stores[t], true, false, slot))
		{
			bool		isnull;
			int64		w = DatumGetInt64(slot_getattr(slot, att, &isnull));
			int			i;

			for (i = 0; i < n && ws[i] != w; i++)
				;
			if (i < n)
				continue;
			if (n == cap)
				ws = repalloc(ws, sizeof(int64) * (cap *= 2));
			ws[n++] = w;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	qsort(ws, n, sizeof(int64), CompareWorkspaces);
	*out = ws;
	return n;
}

/* crm_rollups_sync on a Citus shard: each workspace's rollups over the table */
static void
RollupsSyncCitus(TriggerData *trigdata)
{
	char	   *table = CrmTriggerTableName(trigdata->tg_relation);
	int64	   *wss;
	int			nws = ChangedWorkspaces(trigdata, &wss);
	WorkspaceRollups **loaded = palloc(sizeof(WorkspaceRollups *) * Max(nws, 1));
	bool		any = false;

	for (int w = 0; w < nws; w++)
	{
		loaded[w] = LoadWorkspaceRollups(wss[w]);
		for (int i = 0; i < loaded[w]->n; i++)
			any |= strcmp(loaded[w]->rollups[i].sql.table, table) == 0;
	}
	if (!any)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_register_trigger_data(trigdata);
	for (int w = 0; w < nws; w++)
	{
		Rollup	  **group = palloc(sizeof(Rollup *) * Max(loaded[w]->n, 1));

		for (int i = 0; i < loaded[w]->n; i++)
		{
			Rollup	   *r = &loaded[w]->rollups[i];
			int			n;

			if (strcmp(r->sql.table, table) != 0)
				continue;
			if (!Additive(r))
			{
				SyncRollupCitus(r, trigdata->tg_newtable != NULL, trigdata->tg_oldtable != NULL);
				continue;
			}
			n = AdditiveGroup(loaded[w]->rollups, loaded[w]->n, i, group);
			if (n > 0)
				SyncAdditiveCitus(group, n, trigdata->tg_newtable != NULL, trigdata->tg_oldtable != NULL);
		}
	}
	SPI_finish();
}

/*
 * AFTER INSERT / UPDATE / DELETE FOR EACH STATEMENT on a table rollups read,
 * with transition tables new_rows and old_rows.
 */
Datum
crm_rollups_sync(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	char	   *table;
	bool		any = false;
	int64	   *wss;
	int			nws;
	Rollup	  **group;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollups_sync: must be fired after insert, update or delete, for each statement")));
	if (OidIsValid(CrmCitusTableOfShard(trigdata->tg_relation)))
	{
		RollupsSyncCitus(trigdata);
		return PointerGetDatum(NULL);
	}
	LoadRollups();
	if (nrollups == 0)
		return PointerGetDatum(NULL);
	table = psprintf("crm.%s", RelationGetRelationName(trigdata->tg_relation));
	/* a workspace being deleted takes its records with it (workspace_drop.c) */
	for (int i = 0; i < nrollups && !any; i++)
		any = strcmp(rollups[i].sql.table, table) == 0 && !CrmWorkspaceDeleting(rollups[i].workspace_id);
	if (!any)
		return PointerGetDatum(NULL);

	/* only the workspaces of the changed rows: another's rollups have nothing to add */
	nws = ChangedWorkspaces(trigdata, &wss);
	group = palloc(sizeof(Rollup *) * nrollups);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_register_trigger_data(trigdata);
	for (int i = 0; i < nrollups; i++)
	{
		Rollup	   *r = &rollups[i];
		int			n = 0;
		int			touched;
		int64		one = 0;

		if (strcmp(r->sql.table, table) != 0 || CrmWorkspaceDeleting(r->workspace_id) ||
			bsearch(&r->workspace_id, wss, nws, sizeof(int64), CompareWorkspaces) == NULL)
			continue;
		if (!Additive(r))
		{
			touched = TouchedRecords(trigdata, r, &one);
			SyncRollup(r, trigdata->tg_newtable != NULL, trigdata->tg_oldtable != NULL, touched, one);
			continue;
		}
		n = AdditiveGroup(rollups, nrollups, i, group);
		if (n == 0)
			continue;
		touched = TouchedRecords(trigdata, r, &one);
		SyncAdditive(group, n, trigdata->tg_newtable != NULL, trigdata->tg_oldtable != NULL, touched, one);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * crm_internal.rollups_clearing(relation, id): clear_references is about to
 * clear the references to this record, which its trigger is deleting;
 * (NULL, NULL) when done.
 */
Datum
crm_rollups_clearing(PG_FUNCTION_ARGS)
{
	clearing_relid = PG_ARGISNULL(0) || PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(0);
	clearing_id = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	clearing_xid = GetTopFullTransactionId();
	clearing_subxid = GetCurrentSubTransactionId();
	PG_RETURN_VOID();
}

/*
 * A new or changed rollup, computed for every record of its type in the
 * workspace in one statement.
 */
void
CrmRollupBackfill(int64 workspace_id, const char *object_type, const char *key, const char *formula)
{
	Rollup		r;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(workspace_id), CStringGetTextDatum(object_type)};
	const char *parent = CrmObjectTable(object_type, &r.type_column);

	if (parent == NULL)
		return;
	r.workspace_id = workspace_id;
	r.object_type = (char *) object_type;
	r.key = (char *) key;
	r.parent = (char *) parent;
	CrmCqlCompileRollup(object_type, formula, workspace_id, "c", &r.sql);
	WriteRecords(&r, psprintf("UPDATE crm.%s AS p SET properties = %s"
							  " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1%s",
							  parent, SetKey("p.properties", key, RecomputeSql(&r)),
							  r.type_column ? psprintf(" AND p.%s OPERATOR(pg_catalog.=) $2", r.type_column) : ""),
				 2, argtypes, args);
}

/* The plan keeping rollup values: $1 the written properties, $2 where rollup values come from */
static SPIPlanPtr
PrepareKeepPlan(ObjectProps *op)
{
	StringInfoData keys;
	StringInfoData build;
	Oid			argtypes[2] = {JSONBOID, JSONBOID};
	SPIPlanPtr	plan;
	int			n = 0;

	initStringInfo(&keys);
	initStringInfo(&build);
	for (int i = 0; i < op->ndefs; i++)
	{
		const PropertyDef *d = &op->defs[i];
		const char *k;

		if (!d->rollup)
			continue;
		k = quote_literal_cstr(d->key);
		appendStringInfo(&keys, "%s%s", n ? "," : "", d->key);
		if (n % 50 == 0)
			appendStringInfoString(&build, n ? ") OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(" :
								   "pg_catalog.jsonb_build_object(");
		else
			appendStringInfoString(&build, ", ");
		/* a new record has no related records yet: a count or sum of 0, no minimum */
		appendStringInfo(&build, "%s, COALESCE($2 OPERATOR(pg_catalog.->) %s%s)", k, k,
						 d->rollup_zero ? ", '0'::pg_catalog.jsonb" : ", 'null'::pg_catalog.jsonb");
		n++;
	}
	plan = SPI_prepare(psprintf("SELECT ($1 OPERATOR(pg_catalog.-) %s::pg_catalog.text[])"
								" OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(%s))",
								quote_literal_cstr(psprintf("{%s}", keys.data)), build.data),
					   2, argtypes);
	if (plan == NULL)
		elog(ERROR, "preparing the rollups of %s failed", op->key.object_type);
	SPI_keepplan(plan);
	return plan;
}

/*
 * A client's write keeps the stored rollup values (an insert: none yet),
 * whatever it says for their keys; the rollup triggers alone change them.
 */
HeapTuple
CrmKeepRollups(ObjectProps *op, Relation rel, HeapTuple tuple, HeapTuple oldtuple, int attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	Datum		kept;

	if (rollup_writing > 0)
		return tuple;
	args[0] = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return tuple;
	if (oldtuple)
		args[1] = heap_getattr(oldtuple, attnum, desc, &isnull);
	if (oldtuple == NULL || isnull)
	{
		args[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (op->rollup_plan == NULL)
	{
		ObjectKey	key = op->key;
		int			nest = CrmPinSearchPath();
		SPIPlanPtr	plan = PrepareKeepPlan(op);
		MemoryContextCallback *cb;

		CrmRestoreSearchPath(nest);
		/* compiling may have rebuilt or evicted the entry: find it again */
		op = GetObjectProps(key.workspace_id, key.object_type);
		if (op->rollup_plan != NULL)
			SPI_freeplan(op->rollup_plan);
		cb = MemoryContextAlloc(GetMemoryChunkContext(op->defs), sizeof(MemoryContextCallback));
		cb->func = FreePlan;
		cb->arg = plan;
		MemoryContextRegisterResetCallback(GetMemoryChunkContext(op->defs), cb);
		op->rollup_plan = plan;
	}
	if (SPI_execute_plan(op->rollup_plan, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "keeping the rollups of %s failed", op->key.object_type);
	kept = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (DatumGetBool(DirectFunctionCall2(jsonb_eq, args[0], kept)))
	{
		SPI_finish();
		return tuple;
	}
	kept = SPI_datumTransfer(kept, false, -1);
	SPI_finish();
	isnull = false;
	tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &kept, &isnull);
	CrmCheckDefined(tuple->t_data, tuple->t_len);
	return tuple;
}
