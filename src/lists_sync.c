/*-------------------------------------------------------------------------
 *
 * lists_sync.c
 *	  crm_internal.lists_sync(): the statement trigger on every table a dynamic
 *	  list's filter can read, which re-evaluates the workspace's dynamic
 *	  lists for the records the statement could have changed.
 *
 * Related rows.  What a filter reads besides its root row is reported by
 * the translator: the catalogue relations it follows (company.x, EXISTS
 * companies(...), EXISTS contacts(...)) and the lists it names with IN
 * LIST.  The same trigger sits on every table a filter can read; from the
 * catalogue it maps the changed rows of that table to the records whose
 * filters could change (a link table gives its from column; a relation's
 * target table goes back through the link table or the foreign key) and
 * re-evaluates those.  A new relation in the catalogue needs only the
 * trigger on its tables.
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_lists_sync);

int			lists_sync_depth = 0;

/* Plans mapping related rows back to records, per entity and relation */
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

int
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

/* Values of a column in the old and the new rows of the statement */
static void
OldAndNew(TriggerData *td, int ws_att, const char *column, int64 ws, IdSet *out)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);

	CollectColumn(td->tg_oldtable, desc, ws_att, Att(desc, column), ws, 0, NULL, 0, NULL, 0, out);
	CollectColumn(td->tg_newtable, desc, ws_att, Att(desc, column), ws, 0, NULL, 0, NULL, 0, out);
}

/* Runs a mapping plan (ws, target ids) -> record ids, adding them to ids */
static void
MapBack(SPIPlanPtr plan, int64 ws, const IdSet *targets, IdSet *ids)
{
	Datum		args[2];

	args[0] = Int64GetDatum(ws);
	args[1] = IdArray(targets->v, targets->n);
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: mapping related rows to records failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		IdAdd(ids, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
}

/* Relation k of e reached through a link table: target ids -> record ids */
static SPIPlanPtr
BackPlan(const CqlEntity *e, int k, const CqlRelation *r)
{
	int			ei = EntityIndex(e);

	if (back_plan[ei][k] == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};

		back_plan[ei][k] = PrepareKept(psprintf("SELECT DISTINCT l.%s FROM %s l WHERE l.workspace_id = $1 AND l.%s = ANY ($2)",
												r->link_from, r->link_table, r->link_to),
									   2, argtypes);
	}
	return back_plan[ei][k];
}

/* A lookup (a deal's stage): lookup row ids -> the records of the related rows pointing at them */
static SPIPlanPtr
LookupPlanFor(const CqlRelation *via, const CqlRelation *rel)
{
	StringInfoData q;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	const char *related = CqlFindEntity(via->target)->table;
	SPIPlanPtr	plan;

	for (int i = 0; i < nlookup_plans; i++)
		if (lookup_plans[i].via == via && lookup_plans[i].rel == rel)
			return lookup_plans[i].plan;
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
	return plan;
}

/* Records of e whose dynamic lists a change to table relname can affect */
static void
AffectedRecords(ListSet *s, const CqlEntity *e, const char *relname, TriggerData *td,
				int64 ws, IdSet *ids, IdSet *share, const CqlEntity **share_entity)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			ws_att = Att(desc, "workspace_id");

	/* the records themselves */
	if (strcmp(relname, e->table) == 0)
		CollectChanged(s, td, ws, ids);
	/* the relations the filters follow: a link row, or a related row */
	for (int k = 0; k < NumRelations(e); k++)
	{
		const CqlRelation *r = RelationAt(e, k);
		const CqlEntity *target = CqlFindEntity(r->target);

		if (!(s->relmask & (1u << k)))
			continue;
		if (r->link_table && strcmp(relname, r->link_table) == 0)
		{
			OldAndNew(td, ws_att, r->link_from, ws, ids);
			OldAndNew(td, ws_att, r->link_to, ws, share);
			*share_entity = target;
		}
		else if (strcmp(relname, target->table) == 0 && r->target_fk)
			OldAndNew(td, ws_att, r->target_fk, ws, ids);
		else if (strcmp(relname, target->table) == 0 && r->link_table)
		{
			IdSet		targets = {0};

			OldAndNew(td, ws_att, "id", ws, &targets);
			if (targets.n > 0)
				MapBack(BackPlan(e, k, r), ws, &targets, ids);
		}
	}
	/* lookups inside a relation (the stage of a deal) */
	for (int k = 0; k < s->nlookups; k++)
	{
		IdSet		targets = {0};

		if (strcmp(relname, CqlFindEntity(s->lookup_rel[k]->target)->table) != 0)
			continue;
		OldAndNew(td, ws_att, "id", ws, &targets);
		if (targets.n > 0)
			MapBack(LookupPlanFor(s->lookup_via[k], s->lookup_rel[k]), ws, &targets, ids);
	}
	/*
	 * Memberships: of lists that filters name (IN LIST), and of dynamic
	 * lists themselves when someone else than lists_recompute.c wrote them
	 * (merge moving a row, a hand-written DELETE; a hand-written INSERT is
	 * refused by lists_members.c): re-evaluation puts them right.
	 */
	if (strcmp(relname, "crm.list_members") == 0 && e->list_column)
	{
		int			list_att = Att(desc, "list_id");
		int			col = Att(desc, e->list_column);
		int			nown = lists_applying ? 0 : s->nlists;

		CollectColumn(td->tg_oldtable, desc, ws_att, col, ws, list_att, s->depended, s->ndepended, s->ids, nown, ids);
		CollectColumn(td->tg_newtable, desc, ws_att, col, ws, list_att, s->depended, s->ndepended, s->ids, nown, ids);
	}
}

void
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
	char	   *relname = CrmTriggerTableName(td->tg_relation);
	IdSet		workspaces = {0};
	int			nent;
	const CqlEntity *const *all = CqlEntities(&nent);

	CollectWorkspaces(td, &workspaces);
	for (int w = 0; w < workspaces.n; w++)
	{
		int64		ws = workspaces.v[w];

		if (CrmWorkspaceDeleting(ws))
			continue;
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
				LockLinked(share_entity, ws, &share);
			/* the writer of the records' own table already holds their locks */
			Recompute(s, e, ws, &ids, strcmp(relname, e->table) != 0, 0);
			/* a smart tag written or removed by hand is put right (smart_tags.c) */
			if (s->nsmart > 0 && strcmp(relname, e->table) == 0)
				SmartTagsApply(ws, &ids);
		}
	}
}

/* No workspace the statement wrote has a dynamic list (the cache knows) */
static bool
NoDynamicLists(TriggerData *td)
{
	IdSet		workspaces = {0};

	CollectWorkspaces(td, &workspaces);
	return ListsNoneIn(&workspaces);
}

Datum
crm_lists_sync(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "crm_internal.lists_sync must be an AFTER ... FOR EACH STATEMENT trigger");
	/* nothing changed: nothing to do (the common case of empty statements) */
	if ((td->tg_newtable == NULL || tuplestore_tuple_count(td->tg_newtable) == 0) &&
		(td->tg_oldtable == NULL || tuplestore_tuple_count(td->tg_oldtable) == 0))
		return PointerGetDatum(NULL);
	if (lists_sync_depth >= MAX_SYNC_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("dynamic lists did not settle after %d rounds of IN LIST dependencies", MAX_SYNC_DEPTH),
				 errhint("Shorten chains of lists whose filters name other lists with IN LIST.")));
	if (NoDynamicLists(td))
		return PointerGetDatum(NULL);
	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	lists_sync_depth++;
	PG_TRY();
	{
		SyncStatement(td);
	}
	PG_FINALLY();
	{
		lists_sync_depth--;
	}
	PG_END_TRY();
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	return PointerGetDatum(NULL);
}
