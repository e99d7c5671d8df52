/*-------------------------------------------------------------------------
 *
 * lists_members.c
 *	  The row path of crm.list_members: bookkeeping for every membership
 *	  change, whoever makes it (add_to_list, a frontend's plain INSERT or
 *	  DELETE, the dynamic list triggers, merge, a cascade from a deleted
 *	  contact), and the refusal of hand-written members of a dynamic list.
 *
 * One statement trigger, set-based: one CRM_LIST_MEMBER_ADDED / _REMOVED
 * event per member, and each list's change of member_count, written at
 * commit (lists_counts.c), so that two transactions changing the same
 * lists do not queue on their rows; a list that is itself being deleted
 * gets no events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_list_members_changed);

/*
 * A member written by hand into a dynamic list (an INSERT, or an UPDATE
 * moving a row to another list) would vanish at the next re-evaluation:
 * refused, as crm.add_to_list refuses it.  Our own writes, merge moving a
 * contact's rows and cascades from deleted records are not hand-written.
 */
static void
RefuseDynamicMembers(bool update)
{
	static SPIPlanPtr plans[2];
	SPIPlanPtr *plan = &plans[update ? 1 : 0];

	if (*plan == NULL)
	{
		StringInfoData q;

		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT l.name FROM crm.lists l"
							   " WHERE (l.workspace_id, l.id) IN (SELECT n.workspace_id, n.list_id FROM new_rows n");
		if (update)
			appendStringInfoString(&q, " WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.workspace_id = n.workspace_id"
								   " AND o.id = n.id AND o.list_id = n.list_id)");
		appendStringInfoString(&q, ") AND l.kind = 'dynamic' ORDER BY l.name LIMIT 1");
		*plan = PrepareKept(q.data, 0, NULL);
	}
	if (SPI_execute_plan(*plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking members failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("list \"%s\" is dynamic: its members are the records its filter matches",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Change the filter with crm.set_list_filter, or add the records to a static list.")));
}

/*
 * The events of the changed rows, given as (ws, list, type, object, source,
 * delta), and each list's delta, kept for commit (lists_counts.c: the list's
 * row is not locked before then); kind: 0 insert, 1 delete, 2 update.  The
 * plans are kept: they read the transition tables by name, registered anew
 * by each call (as PL/pgSQL's plans do).  The query sums the changes per
 * member; the events go into the outbox by pages, as the row events do
 * (events.c), the removals first, each in (list, object) order.
 */
static void
CountAndEmit(int kind, const char *changes, bool at_commit)
{
	static SPIPlanPtr count_plans[3][2];
	/*
	 * Our own writes of a filter's members (lists_recompute.c) insert only
	 * into lists that exist and delete only rows still there: the lists
	 * need no lookup (a list row updated at every commit has a long chain
	 * of versions to walk).
	 */
	bool		ours = lists_applying > 0;
	SPIPlanPtr *plan = &count_plans[kind][ours ? 1 : 0];
	SPITupleTable *rows;
	uint64		nrows;
	Datum	   *ws;
	Datum	   *lists;
	Datum	   *payloads;
	int			nremoved = 0;
	int			n = 0;
	int64		run = 0,
				run_ws = 0,
				run_list = 0;
	CrmSavedUser saved;

	if (*plan == NULL)
		*plan = PrepareKept(psprintf(
												 "SELECT c.workspace_id, c.list_id, c.delta,"
												 "       %s,"
												 "       jsonb_build_object('list_id', c.list_id, 'object_type', c.object_type,"
												 "                          'object_id', c.object_id, 'source', c.source)"
												 "  FROM (SELECT x.workspace_id, x.list_id, x.object_type, x.object_id, max(x.source) AS source,"
												 "               sum(x.delta)::integer AS delta"
												 "          FROM (%s) x GROUP BY 1, 2, 3, 4 HAVING sum(x.delta) <> 0) c"
												 " ORDER BY c.delta, c.list_id, c.object_id",
												 ours ? "true" :
												 "EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id = c.workspace_id AND l.id = c.list_id)",
												 changes),
										0, NULL);
	if (SPI_execute_plan(*plan, NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: counting members failed");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	ws = palloc(sizeof(Datum) * Max(nrows, 1));
	lists = palloc(sizeof(Datum) * Max(nrows, 1));
	payloads = palloc(sizeof(Datum) * Max(nrows, 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		int64		list = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		int32		delta = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));

		/* one delta per run of a list's rows (list ids are unique across workspaces) */
		if (i > 0 && list != run_list)
		{
			ListCountsAdd(run_ws, run_list, run);
			run = 0;
		}
		if (i == 0 || list != run_list)
		{
			run_ws = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			run_list = list;
		}
		run += delta;
		/* a list that is itself being deleted gets no events */
		if (!DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)))
			continue;
		ws[n] = SPI_getbinval(tup, desc, 1, &isnull);
		lists[n] = SPI_getbinval(tup, desc, 2, &isnull);
		payloads[n] = SPI_getbinval(tup, desc, 5, &isnull);
		if (delta < 0)
			nremoved++;
		n++;
	}
	ListCountsAdd(run_ws, run_list, run);
	/* its events go into the outbox, which is read-only to granted roles */
	CrmBecomeOwner(CrmEventsOwner(), &saved);
	CrmEmitEvents(nremoved, ws, "CRM_LIST_MEMBER_REMOVED", "list", lists, payloads);
	CrmEmitEvents(n - nremoved, ws + nremoved, "CRM_LIST_MEMBER_ADDED", "list", lists + nremoved, payloads + nremoved);
	CrmRestoreUser(&saved);
	if (!at_commit)
		ListCountsFlushNow();
}

/*
 * Whether the deferred trigger that writes the counts at commit is there
 * and enabled: the release script of 0.2.0, which this library also
 * serves, has none, and there the counts are written at once.
 */
static bool
CountsAtCommit(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	int			i;

	for (i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
		if (strcmp(trigdesc->triggers[i].tgname, "list_members_counts") == 0)
			return trigdesc->triggers[i].tgenabled != TRIGGER_DISABLED;
	return false;
}

/* ---- on Citus ------------------------------------------------------------- */

static Oid
MembersRelid(void)
{
	return get_relname_relid("list_members", get_namespace_oid("crm", false));
}

/*
 * Citus cannot ship a query that reads a transition table to a shard, even
 * on this node: on a Citus table the changed rows are read here, and each
 * workspace's are handed to routable statements as arrays, with the
 * workspace a constant.
 */
typedef struct MemberChanges
{
	int			n;
	int			cap;
	int64	   *ws;
	int64	   *list;
	Datum	   *type;			/* text */
	int64	   *object;
	Datum	   *source;			/* text */
	int32	   *delta;
	bool	   *hand;			/* a new row that moves a record into its list */
} MemberChanges;

static void
ChangesAdd(MemberChanges *c, TupleTableSlot *slot, int32 delta, bool hand)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	bool		isnull;
	Datum		object;

	if (c->n == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 16;
		c->ws = c->n ? repalloc(c->ws, sizeof(int64) * c->cap) : palloc(sizeof(int64) * c->cap);
		c->list = c->n ? repalloc(c->list, sizeof(int64) * c->cap) : palloc(sizeof(int64) * c->cap);
		c->type = c->n ? repalloc(c->type, sizeof(Datum) * c->cap) : palloc(sizeof(Datum) * c->cap);
		c->object = c->n ? repalloc(c->object, sizeof(int64) * c->cap) : palloc(sizeof(int64) * c->cap);
		c->source = c->n ? repalloc(c->source, sizeof(Datum) * c->cap) : palloc(sizeof(Datum) * c->cap);
		c->delta = c->n ? repalloc(c->delta, sizeof(int32) * c->cap) : palloc(sizeof(int32) * c->cap);
		c->hand = c->n ? repalloc(c->hand, sizeof(bool) * c->cap) : palloc(sizeof(bool) * c->cap);
	}
	c->ws[c->n] = DatumGetInt64(slot_getattr(slot, Att(desc, "workspace_id"), &isnull));
	c->list[c->n] = DatumGetInt64(slot_getattr(slot, Att(desc, "list_id"), &isnull));
	c->type[c->n] = CStringGetTextDatum(TextDatumGetCString(slot_getattr(slot, Att(desc, "object_type"), &isnull)));
	object = slot_getattr(slot, Att(desc, "contact_id"), &isnull);
	if (isnull)
		object = slot_getattr(slot, Att(desc, "company_id"), &isnull);
	c->object[c->n] = isnull ? 0 : DatumGetInt64(object);
	/* NOT NULL, as object_type */
	c->source[c->n] = CStringGetTextDatum(TextDatumGetCString(slot_getattr(slot, Att(desc, "source"), &isnull)));
	c->delta[c->n] = delta;
	c->hand[c->n] = hand;
	c->n++;
}

/* The rows of the transition tables: old ones -1, new ones +1 */
static void
ReadChanges(TriggerData *td, MemberChanges *c)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	TupleTableSlot *oldslot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	TupleDesc	desc = RelationGetDescr(td->tg_relation);

	if (td->tg_oldtable)
	{
		tuplestore_rescan(td->tg_oldtable);
		while (tuplestore_gettupleslot(td->tg_oldtable, true, false, slot))
			ChangesAdd(c, slot, -1, false);
	}
	if (td->tg_newtable)
	{
		tuplestore_rescan(td->tg_newtable);
		if (td->tg_oldtable)
			tuplestore_rescan(td->tg_oldtable);
		while (tuplestore_gettupleslot(td->tg_newtable, true, false, slot))
		{
			bool		hand = true;

			/* an update's old and new rows come in the same order */
			if (td->tg_oldtable && tuplestore_gettupleslot(td->tg_oldtable, true, false, oldslot))
			{
				bool		n1,
							n2;

				hand = DatumGetInt64(slot_getattr(slot, Att(desc, "list_id"), &n1)) !=
					DatumGetInt64(slot_getattr(oldslot, Att(desc, "list_id"), &n2)) ||
					DatumGetInt64(slot_getattr(slot, Att(desc, "workspace_id"), &n1)) !=
					DatumGetInt64(slot_getattr(oldslot, Att(desc, "workspace_id"), &n2));
			}
			ChangesAdd(c, slot, 1, hand);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(oldslot);
}

/* The lists of workspace ws the changes name, sorted (hand-written ones only if asked) */
static Datum
ChangedLists(const MemberChanges *c, int64 ws, bool hand_only)
{
	IdSet		ids = {0};

	for (int i = 0; i < c->n; i++)
		if (c->ws[i] == ws && (!hand_only || c->hand[i]))
			IdAdd(&ids, c->list[i]);
	IdSort(&ids);
	return IdArray(ids.v, ids.n);
}

typedef enum ChangeField
{
	CHANGE_LIST, CHANGE_TYPE, CHANGE_OBJECT, CHANGE_SOURCE, CHANGE_DELTA
} ChangeField;

/* One field of workspace ws's changes, as an array */
static Datum
ArrayOf(const MemberChanges *c, int64 ws, ChangeField f)
{
	int			n = 0;
	Datum	   *d = palloc(sizeof(Datum) * Max(c->n, 1));

	for (int i = 0; i < c->n; i++)
	{
		if (c->ws[i] != ws)
			continue;
		switch (f)
		{
			case CHANGE_LIST:
				d[n++] = Int64GetDatum(c->list[i]);
				break;
			case CHANGE_TYPE:
				d[n++] = c->type[i];
				break;
			case CHANGE_OBJECT:
				d[n++] = Int64GetDatum(c->object[i]);
				break;
			case CHANGE_SOURCE:
				d[n++] = c->source[i];
				break;
			case CHANGE_DELTA:
				d[n++] = Int32GetDatum(c->delta[i]);
				break;
		}
	}
	if (f == CHANGE_TYPE || f == CHANGE_SOURCE)
		return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (f == CHANGE_DELTA)
		return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* RefuseDynamicMembers for one workspace of a Citus table: the first dynamic list's name, or NULL */
static char *
DynamicListNamed(const MemberChanges *c, int64 ws)
{
	static SPIPlanPtr plan;
	Datum		args[2];

	if (plan == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};

		plan = PrepareKept("SELECT l.name FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = ANY ($2)"
						   " AND l.kind = 'dynamic' ORDER BY l.name LIMIT 1", 2, argtypes);
	}
	args[0] = Int64GetDatum(ws);
	args[1] = ChangedLists(c, ws, true);
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking members failed");
	return SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/*
 * CountAndEmit and the smart tags for one workspace of a Citus table: the
 * lists locked in id order (a deleted one is not found, and gets no
 * events), the changes summed per member, member_count moved and the
 * events written one by one, as a Citus table takes them (events.c).
 */
static void
CountAndEmitCitus(const MemberChanges *c, int64 ws)
{
	static SPIPlanPtr lock_plan,
				sum_plan,
				count_plan;
	Datum		args[6];
	IdSet		live = {0},
				tagged = {0},
				counted = {0},
				smart = {0};
	IdSet		deltas = {0},
				moved = {0},
				moves = {0};
	SPITupleTable *sums;
	uint64		nsums;

	if (lock_plan == NULL)
	{
		Oid			argtypes[6] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID};

		lock_plan = PrepareKept("SELECT l.id, l.tag IS NOT NULL FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = ANY ($2)"
								" ORDER BY l.id FOR NO KEY UPDATE OF l", 2, argtypes);
		/* reads no table: Citus leaves it to PostgreSQL */
		sum_plan = PrepareKept("SELECT x.l, x.o, sum(x.d)::integer,"
							   "  pg_catalog.jsonb_build_object('list_id', x.l, 'object_type', x.t, 'object_id', x.o,"
							   "                                'source', pg_catalog.max(x.s)), x.t"
							   "  FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
							   "                  pg_catalog.unnest($5), pg_catalog.unnest($6)) AS x(l, t, o, s, d)"
							   " GROUP BY x.l, x.t, x.o HAVING sum(x.d) <> 0 ORDER BY 3, 1, 2", 6, argtypes);
		count_plan = PrepareKept("UPDATE crm.lists l SET member_count = l.member_count + ($3::pg_catalog.int8[])[pg_catalog.array_position($2, l.id)]"
								 " WHERE l.workspace_id = $1 AND l.id = ANY ($2)", 3,
								 (Oid[]) {INT8OID, INT8ARRAYOID, INT8ARRAYOID});
	}
	args[0] = Int64GetDatum(ws);
	args[1] = ChangedLists(c, ws, false);
	if (SPI_execute_plan(lock_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking lists failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		IdAdd(&live, id);
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			IdAdd(&tagged, id);
	}
	args[1] = ArrayOf(c, ws, CHANGE_LIST);
	args[2] = ArrayOf(c, ws, CHANGE_TYPE);
	args[3] = ArrayOf(c, ws, CHANGE_OBJECT);
	args[4] = ArrayOf(c, ws, CHANGE_SOURCE);
	args[5] = ArrayOf(c, ws, CHANGE_DELTA);
	if (SPI_execute_plan(sum_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: counting members failed");
	/* kept until SPI_finish: the writes below run SPI again */
	sums = SPI_tuptable;
	nsums = SPI_processed;
	for (uint64 i = 0; i < nsums; i++)
	{
		bool		isnull;
		int64		list = DatumGetInt64(SPI_getbinval(sums->vals[i], sums->tupdesc, 1, &isnull));
		int32		delta = DatumGetInt32(SPI_getbinval(sums->vals[i], sums->tupdesc, 3, &isnull));
		int			k;

		for (k = 0; k < counted.n && counted.v[k] != list; k++)
			;
		if (k == counted.n)
		{
			IdAdd(&counted, list);
			IdAdd(&deltas, 0);
		}
		deltas.v[k] += delta;
	}
	lists_internal_write++;
	PG_TRY();
	{
		CrmSavedUser saved;

		CrmBecomeOwner(CrmEventsOwner(), &saved);
		for (int k = 0; k < counted.n; k++)
			if (deltas.v[k] != 0)
			{
				IdAdd(&moved, counted.v[k]);
				IdAdd(&moves, deltas.v[k]);
			}
		args[1] = IdArray(moved.v, moved.n);
		args[2] = IdArray(moves.v, moves.n);
		if (moved.n > 0 && SPI_execute_plan(count_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm lists: counting members failed");
		CrmRestoreUser(&saved);
	}
	PG_FINALLY();
	{
		lists_internal_write--;
	}
	PG_END_TRY();
	for (uint64 i = 0; i < nsums; i++)
	{
		bool		isnull;
		HeapTuple	tup = sums->vals[i];
		int64		list = DatumGetInt64(SPI_getbinval(tup, sums->tupdesc, 1, &isnull));
		int64		object = DatumGetInt64(SPI_getbinval(tup, sums->tupdesc, 2, &isnull));
		int32		delta = DatumGetInt32(SPI_getbinval(tup, sums->tupdesc, 3, &isnull));
		char	   *type = SPI_getvalue(tup, sums->tupdesc, 5);

		if (!IdContains(live.v, live.n, list))
			continue;
		CrmEmitEvent(ws, delta > 0 ? "CRM_LIST_MEMBER_ADDED" : "CRM_LIST_MEMBER_REMOVED", "list", list,
					 SPI_getbinval(tup, sums->tupdesc, 4, &isnull));
		if (IdContains(tagged.v, tagged.n, list) && strcmp(type, "contact") == 0)
			IdAdd(&smart, object);
	}
	/* the tags of smart tags follow the memberships (smart_tags.c) */
	if (smart.n > 0 && SmartTagsInstalled())
	{
		IdSort(&smart);
		SmartTagsApply(ws, &smart);
	}
}

static void
MembersChangedCitus(TriggerData *td)
{
	MemberChanges c = {0};
	IdSet		workspaces = {0};
	char	   *refused = NULL;

	ReadChanges(td, &c);
	for (int i = 0; i < c.n; i++)
		IdAdd(&workspaces, c.ws[i]);
	IdSort(&workspaces);
	if (td->tg_newtable && lists_applying == 0)
	{
		for (int w = 0; w < workspaces.n; w++)
		{
			char	   *name = DynamicListNamed(&c, workspaces.v[w]);

			if (name && (refused == NULL || strcmp(name, refused) < 0))
				refused = name;
		}
		if (refused)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("list \"%s\" is dynamic: its members are the records its filter matches", refused),
					 errhint("Change the filter with crm.set_list_filter, or add the records to a static list.")));
	}
	for (int w = 0; w < workspaces.n; w++)
		CountAndEmitCitus(&c, workspaces.v[w]);
}

/*
 * crm_internal.list_members_changed(): AFTER INSERT, UPDATE and DELETE
 * statement trigger on crm.list_members, with transition tables new_rows
 * and old_rows.
 */
Datum
crm_list_members_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *added = "SELECT n.workspace_id, n.list_id, n.object_type, coalesce(n.contact_id, n.company_id) AS object_id,"
		" n.source, 1 AS delta FROM new_rows n";
	const char *removed = "SELECT o.workspace_id, o.list_id, o.object_type, coalesce(o.contact_id, o.company_id) AS object_id,"
		" o.source, -1 AS delta FROM old_rows o";
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("list_members_changed: must be fired AFTER each statement")));
	if ((td->tg_newtable == NULL || tuplestore_tuple_count(td->tg_newtable) == 0) &&
		(td->tg_oldtable == NULL || tuplestore_tuple_count(td->tg_oldtable) == 0))
		return PointerGetDatum(NULL);
	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	if (CrmIsCitusTable(MembersRelid()))
	{
		MembersChangedCitus(td);
		SPI_finish();
		CrmRestoreSearchPath(nestlevel);
		return PointerGetDatum(NULL);
	}
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "crm lists: registering transition tables failed");
	if (td->tg_newtable && lists_applying == 0)
		RefuseDynamicMembers(td->tg_oldtable != NULL);
	{
		int			kind = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? 0 : TRIGGER_FIRED_BY_DELETE(td->tg_event) ? 1 : 2;
		const char *changes = kind == 0 ? added : kind == 1 ? removed : psprintf("%s UNION ALL %s", removed, added);

		CountAndEmit(kind, changes, CountsAtCommit(td->tg_relation));
		/* the tags of smart tags follow the memberships (smart_tags.c) */
		if (SmartTagsInstalled())
			SmartTagsAfterMembers(kind, changes);
	}
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	return PointerGetDatum(NULL);
}
