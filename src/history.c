/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The history of values (crm.value_history): the statement trigger
 *	  behind crm_internal.record_history(), and what a merge does to it.
 *
 * Contacts, companies and deals carry it as AFTER INSERT, UPDATE and DELETE
 * statement triggers with transition tables.  The old and new versions of
 * each row are read pairwise and compared in C, only in the columns the
 * trigger names and, for "properties", key by key in the custom properties
 * whose definition keeps track_history; an update that changed none of them
 * costs no query.  The changes of a statement go straight into the heap
 * and indexes of crm.value_history when it is as installed (as events.c
 * writes crm.events), otherwise as one INSERT of arrays through a kept
 * plan; as the owner either way: the table is read-only to granted roles.
 * A record's creation writes nothing: its first value of a key is the old
 * value of the key's first change, or its present value when the key never
 * changed (docs/history.md); a delete removes the history of the rows it
 * deleted.  A merge, which carries the duplicate's changes to the survivor,
 * first writes the first values the duplicate never changed, for they are
 * not in its rows' old values.
 *
 * The source of a change is known without asking the caller: a merge in
 * progress (merge.c), crm.identify (which says so with
 * CrmSetHistorySource), and otherwise the functions on the call stack:
 * crm.import_contacts, the crm.bulk_* functions, any other function, or
 * none at all for a row written by the request itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "properties.h"

PG_FUNCTION_INFO_V1(crm_record_history);
PG_FUNCTION_INFO_V1(crm_history_tracked);

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr delete_citus_plan = NULL;
static SPIPlanPtr merge_plan = NULL;
static SPIPlanPtr firsts_plan = NULL;
static SPIPlanPtr unmerge_plan = NULL;

/*
 * crm.value_history and its id sequence, and whether the table is as
 * installed (-1: not yet judged), forgotten when the table changes
 */
static Oid	history_relid = InvalidOid;
static Oid	history_seqid = InvalidOid;
static int	history_as_installed = -1;

void
CrmHistoryRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == history_relid)
	{
		history_relid = history_seqid = InvalidOid;
		history_as_installed = -1;
	}
}

/* Set by a C entry point that writes for a reason of its own (crm.identify) */
static const char *history_source = NULL;

const char *
CrmSetHistorySource(const char *source)
{
	const char *previous = history_source;

	history_source = source;
	return previous;
}

/* The changes of one statement, as the arrays the INSERT takes */
typedef struct Changes
{
	int			n;
	int			cap;
	Datum	   *workspaces;
	Datum	   *ids;
	Datum	   *keys;
	Datum	   *custom;
	Datum	   *olds;
	bool	   *oldnulls;
	Datum	   *news;
	bool	   *newnulls;
} Changes;

static void
ChangesAdd(Changes *c, Datum ws, Datum id, const char *key, int keylen, bool custom,
		   Jsonb *oldval, Jsonb *newval)
{
	if (c->n == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 16;
#define GROW(f, t) c->f = c->f ? repalloc(c->f, sizeof(t) * c->cap) : palloc(sizeof(t) * c->cap)
		GROW(workspaces, Datum);
		GROW(ids, Datum);
		GROW(keys, Datum);
		GROW(custom, Datum);
		GROW(olds, Datum);
		GROW(oldnulls, bool);
		GROW(news, Datum);
		GROW(newnulls, bool);
#undef GROW
	}
	c->workspaces[c->n] = ws;
	c->ids[c->n] = id;
	c->keys[c->n] = PointerGetDatum(cstring_to_text_with_len(key, keylen));
	c->custom[c->n] = BoolGetDatum(custom);
	c->olds[c->n] = PointerGetDatum(oldval);
	c->oldnulls[c->n] = oldval == NULL;
	c->news[c->n] = PointerGetDatum(newval);
	c->newnulls[c->n] = newval == NULL;
	c->n++;
}

static Datum
ToArray(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

/*
 * Where the change comes from.  The error context stack names the functions
 * the statement runs in ("PL/pgSQL function crm.import_contacts(...)",
 * "SQL function \"bulk_tag\""); a row written by the request has none.
 */
static const char *
ChangeSource(void)
{
	char	   *stack;

	if (CrmMergeInProgress())
		return "merge";
	if (history_source != NULL)
		return history_source;
	stack = GetErrorContextStack();
	if (stack == NULL || stack[0] == '\0')
		return "row";
	if (strstr(stack, "import_contact") != NULL || strstr(stack, "import_companies") != NULL)
		return "import";
	if (strstr(stack, "function \"bulk_") != NULL || strstr(stack, "function crm.bulk_") != NULL ||
		strstr(stack, "function crm_hidden.bulk_") != NULL)
		return "bulk";
	return "function";
}

/* to_jsonb(anyelement) set up for one column's type */
static FmgrInfo *
ToJsonbFn(Form_pg_attribute att)
{
	FmgrInfo   *flinfo = palloc0(sizeof(FmgrInfo));
	Node	   *arg = (Node *) makeNullConst(att->atttypid, att->atttypmod, att->attcollation);

	fmgr_info(F_TO_JSONB, flinfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(arg),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   flinfo);
	return flinfo;
}

/* A column value as jsonb; NULL (no value) for SQL NULL and for an empty array */
static Jsonb *
ColumnJsonb(Datum value, bool isnull, FmgrInfo *fn)
{
	Jsonb	   *jb;

	if (isnull)
		return NULL;
	jb = DatumGetJsonbP(FunctionCall1(fn, value));
	if (JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb) && JB_ROOT_COUNT(jb) == 0)
		return NULL;
	return jb;
}

/* What the trigger tracks on its table */
typedef struct Tracked
{
	const char *object_type;
	int			ws_att;
	int			id_att;
	int			props_att;		/* 0: custom properties not tracked */
	int			ncols;
	int		   *atts;
	const char **names;
	FmgrInfo  **fns;
} Tracked;

static int
RequireColumn(TupleDesc desc, const char *name)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("record_history: column \"%s\" not found", name)));
	return attnum;
}

static void
ReadTracked(TupleDesc desc, Trigger *tg, Tracked *t)
{
	if (tg->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("record_history: arguments are the object type, then the tracked columns")));
	t->object_type = tg->tgargs[0];
	t->ws_att = RequireColumn(desc, "workspace_id");
	t->id_att = RequireColumn(desc, "id");
	t->props_att = 0;
	t->ncols = 0;
	t->atts = palloc(sizeof(int) * tg->tgnargs);
	t->names = palloc(sizeof(char *) * tg->tgnargs);
	t->fns = palloc(sizeof(FmgrInfo *) * tg->tgnargs);
	for (int i = 1; i < tg->tgnargs; i++)
	{
		int			att = RequireColumn(desc, tg->tgargs[i]);

		if (strcmp(tg->tgargs[i], "properties") == 0)
		{
			t->props_att = att;
			continue;
		}
		t->atts[t->ncols] = att;
		t->names[t->ncols] = tg->tgargs[i];
		t->fns[t->ncols] = NULL;	/* set up when the column first changed */
		t->ncols++;
	}
}

/* Whether a custom property's definition keeps its history (undeclared keys do) */
static bool
PropertyTracked(ObjectProps *op, const char *key, int keylen)
{
	PropertyDef *def = op ? FindPropertyDef(op, key, keylen) : NULL;

	return def == NULL || def->track_history;
}

/*
 * The custom properties that differ between two objects (either may be
 * NULL: an insert), key by key: changed and added keys from the new
 * object, removed ones from the old.
 */
static void
DiffProperties(Changes *c, Datum ws, Datum id, Jsonb *oldp, Jsonb *newp, ObjectProps *op)
{
	for (int pass = 0; pass < 2; pass++)
	{
		Jsonb	   *from = pass == 0 ? newp : oldp;
		Jsonb	   *other = pass == 0 ? oldp : newp;
		JsonbIterator *it;
		JsonbValue	k;
		JsonbIteratorToken tok;

		if (from == NULL || !JB_ROOT_IS_OBJECT(from))
			continue;
		it = JsonbIteratorInit(&from->root);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			JsonbValue	v;
			JsonbValue	ov;
			char	   *key;
			int			keylen;
			Jsonb	   *val;
			Jsonb	   *oval = NULL;

			if (tok != WJB_KEY)
				continue;
			key = k.val.string.val;
			keylen = k.val.string.len;
			tok = JsonbIteratorNext(&it, &v, true);
			if (!PropertyTracked(op, key, keylen))
				continue;
			if (other != NULL && JB_ROOT_IS_OBJECT(other) &&
				getKeyJsonValueFromContainer(&other->root, key, keylen, &ov) != NULL)
			{
				if (pass == 1)
					continue;	/* kept: compared in the first pass */
				oval = JsonbValueToJsonb(&ov);
			}
			val = JsonbValueToJsonb(&v);
			if (oval != NULL && VARSIZE(oval) == VARSIZE(val) &&
				memcmp(VARDATA(oval), VARDATA(val), VARSIZE(val) - VARHDRSZ) == 0)
				continue;
			if (pass == 0)
				ChangesAdd(c, ws, id, key, keylen, true, oval, val);
			else
				ChangesAdd(c, ws, id, key, keylen, true, val, NULL);
		}
	}
}

static Jsonb *
PropsOf(TupleTableSlot *slot, int att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

/* One row's changes: oldslot NULL for an inserted row */
static void
CompareRow(Changes *c, Tracked *t, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	bool		isnull;
	Datum		ws = slot_getattr(newslot, t->ws_att, &isnull);
	Datum		id = slot_getattr(newslot, t->id_att, &isnull);

	for (int i = 0; i < t->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(newslot->tts_tupleDescriptor, t->atts[i] - 1);
		bool		newnull,
					oldnull = true;
		Datum		newval = slot_getattr(newslot, t->atts[i], &newnull);
		Datum		oldval = (Datum) 0;
		Jsonb	   *oldjb,
				   *newjb;

		if (oldslot != NULL)
		{
			oldval = slot_getattr(oldslot, t->atts[i], &oldnull);
			if (oldnull && newnull)
				continue;
			if (!oldnull && !newnull && datum_image_eq(oldval, newval, att->attbyval, att->attlen))
				continue;
		}
		if (t->fns[i] == NULL)
			t->fns[i] = ToJsonbFn(att);
		oldjb = ColumnJsonb(oldval, oldnull, t->fns[i]);
		newjb = ColumnJsonb(newval, newnull, t->fns[i]);
		if (oldjb == NULL && newjb == NULL)
			continue;
		ChangesAdd(c, ws, id, t->names[i], strlen(t->names[i]), false, oldjb, newjb);
	}

	if (t->props_att > 0)
	{
		Jsonb	   *newp = PropsOf(newslot, t->props_att);
		Jsonb	   *oldp = oldslot ? PropsOf(oldslot, t->props_att) : NULL;

		if (oldp != NULL && newp != NULL && VARSIZE(oldp) == VARSIZE(newp) &&
			memcmp(VARDATA(oldp), VARDATA(newp), VARSIZE(newp) - VARHDRSZ) == 0)
			return;
		if ((newp == NULL || JB_ROOT_COUNT(newp) == 0) && (oldp == NULL || JB_ROOT_COUNT(oldp) == 0))
			return;
		DiffProperties(c, ws, id, oldp, newp,
					   GetObjectProps(DatumGetInt64(ws), t->object_type));
	}
}

static SPIPlanPtr
KeepPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "record_history: could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		*cache = plan;
	}
	return *cache;
}

/* The columns of crm.value_history as installed, in order */
static const struct
{
	const char *name;
	Oid			type;
}			history_columns[] = {
	{"workspace_id", INT8OID}, {"id", INT8OID}, {"object_type", TEXTOID}, {"object_id", INT8OID},
	{"key", TEXTOID}, {"custom", BOOLOID}, {"old_value", JSONBOID}, {"new_value", JSONBOID},
	{"source", TEXTOID}, {"actor", TEXTOID}, {"changed_at", TIMESTAMPTZOID}, {"merged_from", INT8OID},
};

/*
 * crm.value_history exactly as installed: these columns, its two CHECKs,
 * no trigger (so no foreign key), a plain table, no Citus table.  Anything else sends the
 * writer through its INSERT, which honours whatever was added.
 */
static bool
TableAsInstalled(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION || desc->natts != lengthof(history_columns) ||
		rel->trigdesc != NULL)
		return false;
	/* a Citus table's heap is a shell: its rows go to the workspace's shard */
	if (CrmIsCitusTable(RelationGetRelid(rel)))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != history_columns[i].type ||
			strcmp(NameStr(att->attname), history_columns[i].name) != 0)
			return false;
	}
	if (desc->constr == NULL || desc->constr->num_check != 2 || desc->constr->has_generated_stored)
		return false;
	for (int i = 0; i < 2; i++)
		if (strcmp(desc->constr->check[i].ccname, "value_history_object_type") != 0 &&
			strcmp(desc->constr->check[i].ccname, "value_history_source") != 0)
			return false;
	return true;
}

/* Judged once per relcache build; and the object type the CHECK accepts */
static bool
HistoryAsInstalled(Relation rel, const char *object_type)
{
	if (history_as_installed < 0)
		history_as_installed = TableAsInstalled(rel);
	/* the sources are this file's own */
	return history_as_installed &&
		(strcmp(object_type, "contact") == 0 || strcmp(object_type, "company") == 0 ||
		 strcmp(object_type, "deal") == 0);
}

/*
 * The changes straight into the heap and the indexes of crm.value_history,
 * as events.c writes crm.events: an INSERT's executor start-up costs more
 * than the one or two rows a request's statement records.  False, nothing
 * written, when the table is not as installed.
 */
static bool
WriteChangesDirect(Changes *c, const char *object_type, Datum source, Datum actor, Datum when)
{
	Oid			relid,
				seqid;
	Relation	rel;
	CrmDirectInsert *writer;
	Datum		otype;

	if (!OidIsValid(history_relid))
	{
		Oid			nsp = get_namespace_oid("crm", false);

		history_relid = get_relname_relid("value_history", nsp);
		history_seqid = get_relname_relid("value_history_id_seq", nsp);
		history_as_installed = -1;
	}
	/* copied: taking the lock processes invalidations, which may clear them */
	relid = history_relid;
	seqid = history_seqid;
	if (!OidIsValid(relid) || !OidIsValid(seqid))
		return false;
	rel = table_open(relid, RowExclusiveLock);
	if (!HistoryAsInstalled(rel, object_type))
	{
		table_close(rel, NoLock);
		return false;
	}
	otype = CStringGetTextDatum(object_type);
	writer = CrmDirectInsertBegin(rel);
	for (int i = 0; i < c->n; i++)
	{
		TupleTableSlot *slot = CrmDirectInsertNext(writer);

		CHECK_FOR_INTERRUPTS();
		slot->tts_values[0] = c->workspaces[i];
		slot->tts_values[1] = Int64GetDatum(nextval_internal(seqid, false));
		slot->tts_values[2] = otype;
		slot->tts_values[3] = c->ids[i];
		slot->tts_values[4] = c->keys[i];
		slot->tts_values[5] = c->custom[i];
		slot->tts_values[6] = c->olds[i];
		slot->tts_isnull[6] = c->oldnulls[i];
		slot->tts_values[7] = c->news[i];
		slot->tts_isnull[7] = c->newnulls[i];
		slot->tts_values[8] = source;
		slot->tts_values[9] = actor;
		slot->tts_values[10] = when;
		slot->tts_isnull[11] = true;
		ExecStoreVirtualTuple(slot);
		if (!c->oldnulls[i])
			CrmCheckDefined(DatumGetPointer(c->olds[i]), VARSIZE(DatumGetPointer(c->olds[i])));
		if (!c->newnulls[i])
			CrmCheckDefined(DatumGetPointer(c->news[i]), VARSIZE(DatumGetPointer(c->news[i])));
	}
	CrmDirectInsertEnd(writer);
	table_close(rel, NoLock);
	return true;
}

/* The statement's changes in one INSERT, as the owner; SPI connected here */
static void
InsertChanges(Changes *c, const char *object_type)
{
	Oid			argtypes[10] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, BOOLARRAYOID, JSONBARRAYOID,
	JSONBARRAYOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		args[10];

	args[7] = CStringGetTextDatum(ChangeSource());
	args[8] = CStringGetTextDatum(CrmCurrentActor());
	args[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (WriteChangesDirect(c, object_type, args[7], args[8], args[9]))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "record_history: SPI_connect failed");
	KeepPlan(&insert_plan,
			 "INSERT INTO crm.value_history (workspace_id, object_type, object_id, key, custom,"
			 "                               old_value, new_value, source, actor, changed_at)"
			 " SELECT u.ws, $7, u.id, u.key, u.custom, u.old, u.new, $8, $9, $10"
			 "   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			 "                   pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))"
			 "        AS u(ws, id, key, custom, old, new)",
			 10, argtypes);
	args[0] = ToArray(c->workspaces, NULL, c->n, INT8OID);
	args[1] = ToArray(c->ids, NULL, c->n, INT8OID);
	args[2] = ToArray(c->keys, NULL, c->n, TEXTOID);
	args[3] = ToArray(c->custom, NULL, c->n, BOOLOID);
	args[4] = ToArray(c->olds, c->oldnulls, c->n, JSONBOID);
	args[5] = ToArray(c->news, c->newnulls, c->n, JSONBOID);
	args[6] = CStringGetTextDatum(object_type);
	if (SPI_execute_plan(insert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "record_history: history insert failed");
	SPI_finish();
}

/*
 * On Citus, a workspace's deleted rows' history: the workspace a value,
 * so that the delete is routed to its shard on this worker.  Joined with
 * an array of workspaces it would go to every shard, from a worker's
 * trigger, through connections of the worker's own (which Citus 13.0.5
 * fails to commit inside the coordinator's two-phase commit).
 */
static void
DeleteHistoryCitus(Datum *workspaces, Datum *ids, int n, const char *object_type)
{
	Oid			argtypes[3] = {INT8OID, INT8ARRAYOID, TEXTOID};
	Datum		args[3];
	Datum	   *mine = palloc(sizeof(Datum) * n);
	bool	   *done = palloc0(sizeof(bool) * n);

	KeepPlan(&delete_citus_plan,
			 "DELETE FROM crm.value_history h WHERE h.workspace_id OPERATOR(pg_catalog.=) $1"
			 " AND h.object_type OPERATOR(pg_catalog.=) $3 AND h.object_id OPERATOR(pg_catalog.=) ANY ($2)",
			 3, argtypes);
	args[2] = CStringGetTextDatum(object_type);
	for (int i = 0; i < n; i++)
	{
		int			m = 0;

		if (done[i])
			continue;
		for (int j = i; j < n; j++)
			if (!done[j] && DatumGetInt64(workspaces[j]) == DatumGetInt64(workspaces[i]))
			{
				mine[m++] = ids[j];
				done[j] = true;
			}
		args[0] = workspaces[i];
		args[1] = ToArray(mine, NULL, m, INT8OID);
		if (SPI_execute_plan(delete_citus_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "record_history: history delete failed");
	}
}

/* Deleted rows take their history with them */
static void
DeleteHistory(Datum *workspaces, Datum *ids, int n, const char *object_type)
{
	Oid			argtypes[3] = {INT8ARRAYOID, INT8ARRAYOID, TEXTOID};
	Datum		args[3];

	if (CrmIsCitusTable(get_relname_relid("value_history", get_namespace_oid("crm", false))))
	{
		DeleteHistoryCitus(workspaces, ids, n, object_type);
		return;
	}
	KeepPlan(&delete_plan,
			 "DELETE FROM crm.value_history h"
			 " USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS d(ws, id)"
			 " WHERE h.workspace_id OPERATOR(pg_catalog.=) d.ws AND h.object_type OPERATOR(pg_catalog.=) $3"
			 "   AND h.object_id OPERATOR(pg_catalog.=) d.id",
			 3, argtypes);
	args[0] = ToArray(workspaces, NULL, n, INT8OID);
	args[1] = ToArray(ids, NULL, n, INT8OID);
	args[2] = CStringGetTextDatum(object_type);
	if (SPI_execute_plan(delete_plan, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "record_history: history delete failed");
}

/* A transition table read from its start through a read pointer of our own */
static void
Rewind(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

static void
RecordDeleted(TriggerData *trigdata, Tracked *t, TupleTableSlot *slot)
{
	int			n = 0;
	int			cap = 16;
	Datum	   *workspaces = palloc(sizeof(Datum) * cap);
	Datum	   *ids = palloc(sizeof(Datum) * cap);
	CrmSavedUser saved;

	Rewind(trigdata->tg_oldtable);
	while (tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, slot))
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (n == cap)
		{
			cap *= 2;
			workspaces = repalloc(workspaces, sizeof(Datum) * cap);
			ids = repalloc(ids, sizeof(Datum) * cap);
		}
		workspaces[n] = slot_getattr(slot, t->ws_att, &isnull);
		ids[n] = slot_getattr(slot, t->id_att, &isnull);
		n++;
	}
	if (n == 0)
		return;
	CrmBecomeOwner(trigdata->tg_relation->rd_rel->relowner, &saved);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "record_history: SPI_connect failed");
	DeleteHistory(workspaces, ids, n, t->object_type);
	SPI_finish();
	CrmRestoreUser(&saved);
}

/*
 * crm_internal.record_history(object_type, column, ...): AFTER INSERT,
 * UPDATE or DELETE ... FOR EACH STATEMENT with transition tables new_rows /
 * old_rows.  The columns are the standard fields tracked; "properties"
 * tracks the custom properties whose definition keeps track_history.
 */
Datum
crm_record_history(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	TupleTableSlot *slot;
	TupleTableSlot *oldslot = NULL;
	Tracked		t;
	Changes		c = {0};
	CrmSavedUser saved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("record_history: must be fired after the statement")));
	desc = RelationGetDescr(trigdata->tg_relation);
	ReadTracked(desc, trigdata->tg_trigger, &t);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		if (trigdata->tg_oldtable == NULL)
			elog(ERROR, "record_history: DELETE trigger needs REFERENCING OLD TABLE");
		RecordDeleted(trigdata, &t, slot);
		ExecDropSingleTupleTableSlot(slot);
		return PointerGetDatum(NULL);
	}
	if (trigdata->tg_newtable == NULL ||
		(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && trigdata->tg_oldtable == NULL))
		elog(ERROR, "record_history: needs REFERENCING NEW TABLE (and OLD TABLE for UPDATE)");

	Rewind(trigdata->tg_newtable);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		Rewind(trigdata->tg_oldtable);
	}
	/* the two transition tables hold the rows of each update pairwise */
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (oldslot != NULL &&
			!tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, oldslot))
			elog(ERROR, "record_history: transition tables of different length");
		CompareRow(&c, &t, oldslot, slot);
	}

	if (c.n > 0)
	{
		/* the history is read-only to granted roles */
		CrmBecomeOwner(trigdata->tg_relation->rd_rel->relowner, &saved);
		InsertChanges(&c, t.object_type);
		CrmRestoreUser(&saved);
	}
	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}

/* The table of an object type's records; NULL for another type */
static const char *
ObjectTable(const char *object_type)
{
	if (strcmp(object_type, "contact") == 0)
		return "contacts";
	if (strcmp(object_type, "company") == 0)
		return "companies";
	if (strcmp(object_type, "deal") == 0)
		return "deals";
	return NULL;
}

/*
 * The trigger recording a table's updates (the AFTER UPDATE statement
 * trigger calling crm_internal.record_history): its arguments say what is
 * tracked.  NULL when there is none.
 */
static Trigger *
UpdateTrigger(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	/* by the catalog, not by name lookup: the caller may not use crm_internal */
	Oid			nsp = get_namespace_oid("crm_internal", true);

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *tg = &td->triggers[i];
		char	   *fname;

		if (!TRIGGER_FOR_UPDATE(tg->tgtype) || TRIGGER_FOR_ROW(tg->tgtype) || !TRIGGER_FOR_AFTER(tg->tgtype) ||
			get_func_namespace(tg->tgfoid) != nsp)
			continue;
		fname = get_func_name(tg->tgfoid);
		if (fname != NULL && strcmp(fname, "record_history") == 0)
			return tg;
	}
	return NULL;
}

static Relation
OpenObjectTable(const char *object_type)
{
	const char *table = ObjectTable(object_type);

	if (table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid object type for history: \"%s\"", object_type),
				 errhint("History is kept for contact, company and deal.")));
	return table_open(get_relname_relid(table, get_namespace_oid("crm", false)), AccessShareLock);
}

/*
 * crm_hidden.history_tracked(object_type, key, custom): whether changes of
 * the field (or custom property) are recorded, so that a record's first
 * value of it counts as a change for CQL's CHANGED (a record created with a
 * value got it then, though its creation wrote no row).
 */
Datum
crm_history_tracked(PG_FUNCTION_ARGS)
{
	char	   *object_type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *key = PG_GETARG_TEXT_PP(1);
	bool		custom = PG_GETARG_BOOL(2);
	Relation	rel = OpenObjectTable(object_type);
	Trigger    *tg = UpdateTrigger(rel);
	bool		tracked = false;

	if (tg != NULL)
	{
		Tracked		t;

		ReadTracked(RelationGetDescr(rel), tg, &t);
		if (custom)
			tracked = t.props_att > 0 &&
				PropertyTracked(GetObjectProps(CrmCurrentWorkspace(), object_type),
								VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
		for (int i = 0; i < t.ncols && !custom && !tracked; i++)
			tracked = strlen(t.names[i]) == VARSIZE_ANY_EXHDR(key) &&
				memcmp(t.names[i], VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) == 0;
	}
	table_close(rel, AccessShareLock);
	PG_RETURN_BOOL(tracked);
}

/*
 * A merge's first values of the duplicate, dated at its creation: straight
 * into the table when it is as installed, else one row INSERT each (a few
 * rows; on Citus an INSERT ... SELECT of arrays from the coordinator broke
 * the merge's distributed commit, test/citus).  Inside SPI.
 */
static void
InsertFirstValues(Changes *c, const char *object_type, Datum when)
{
	Oid			argtypes[9] = {INT8OID, TEXTOID, INT8OID, TEXTOID, BOOLOID, JSONBOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		args[9];
	char		nulls[9] = "         ";

	args[1] = CStringGetTextDatum(object_type);
	args[6] = CStringGetTextDatum("merge");
	args[7] = CStringGetTextDatum(CrmCurrentActor());
	args[8] = when;
	if (WriteChangesDirect(c, object_type, args[6], args[7], args[8]))
		return;
	KeepPlan(&firsts_plan,
			 "INSERT INTO crm.value_history (workspace_id, object_type, object_id, key, custom,"
			 "                               new_value, source, actor, changed_at)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			 9, argtypes);
	for (int i = 0; i < c->n; i++)
	{
		args[0] = c->workspaces[i];
		args[2] = c->ids[i];
		args[3] = c->keys[i];
		args[4] = c->custom[i];
		args[5] = c->news[i];
		nulls[5] = c->newnulls[i] ? 'n' : ' ';
		if (SPI_execute_plan(firsts_plan, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm merge: writing the duplicate's first values failed");
	}
}

/* A row read as a composite (SELECT r FROM table r) in a slot of the table */
static TupleTableSlot *
RowSlot(Relation rel, Datum row, HeapTupleData *tup)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(row);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

	tup->t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup->t_self);
	tup->t_tableOid = RelationGetRelid(rel);
	tup->t_data = th;
	ExecStoreHeapTuple(tup, slot, false);
	return slot;
}

/*
 * Leaves out of c the keys of the rows the last SPI query returned (key,
 * custom): the keys the duplicate changed itself, whose first value is the
 * old value of their first change
 */
static void
LeaveOutChanged(Changes *c)
{
	int			kept = 0;

	for (int i = 0; i < c->n; i++)
	{
		text	   *mine = DatumGetTextPP(c->keys[i]);
		bool		changed = false;
		bool		isnull;

		for (uint64 r = 0; r < SPI_processed && !changed; r++)
		{
			HeapTuple	row = SPI_tuptable->vals[r];
			text	   *key = DatumGetTextPP(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));

			changed = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull)) == DatumGetBool(c->custom[i]) &&
				VARSIZE_ANY_EXHDR(key) == VARSIZE_ANY_EXHDR(mine) &&
				memcmp(VARDATA_ANY(key), VARDATA_ANY(mine), VARSIZE_ANY_EXHDR(mine)) == 0;
		}
		if (changed)
			continue;
		c->workspaces[kept] = c->workspaces[i];
		c->ids[kept] = c->ids[i];
		c->keys[kept] = c->keys[i];
		c->custom[kept] = c->custom[i];
		c->olds[kept] = c->olds[i];
		c->oldnulls[kept] = c->oldnulls[i];
		c->news[kept] = c->news[i];
		c->newnulls[kept] = c->newnulls[i];
		kept++;
	}
	c->n = kept;
}

/*
 * Before a merge carries a duplicate's history: the first values of the
 * keys the duplicate never changed itself are in none of its rows (its
 * creation wrote none), so they are written now, dated at its creation, as
 * its first values (old value NULL).  Then EVER and CHANGED on the survivor
 * see the values the duplicate was created with.  Inside SPI.
 */
void
CrmHistoryKeepFirstValues(int64 ws, const char *object_type, int64 id)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		args[3];
	Relation	rel = OpenObjectTable(object_type);
	Trigger    *tg = UpdateTrigger(rel);
	Oid			relid = get_relname_relid("value_history", get_namespace_oid("crm", false));
	CrmSavedUser saved;
	Tracked		t;
	Changes		c = {0};
	HeapTupleData tup;
	TupleTableSlot *slot;
	bool		isnull;
	Datum		created = (Datum) 0;

	if (tg == NULL || !OidIsValid(relid))
	{
		table_close(rel, AccessShareLock);
		return;
	}
	ReadTracked(RelationGetDescr(rel), tg, &t);
	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	args[0] = Int64GetDatum(ws);
	args[1] = Int64GetDatum(id);
	args[2] = CStringGetTextDatum(object_type);
	if (SPI_execute_with_args(psprintf("SELECT r, r.created_at FROM crm.%s r"
									   " WHERE r.workspace_id OPERATOR(pg_catalog.=) $1"
									   "   AND r.id OPERATOR(pg_catalog.=) $2", ObjectTable(object_type)),
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading the duplicate's first values failed");
	if (SPI_processed == 1)
	{
		slot = RowSlot(rel, SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), &tup);
		created = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		CompareRow(&c, &t, NULL, slot);
		ExecDropSingleTupleTableSlot(slot);
	}
	/* the keys the duplicate changed itself hold their first value already */
	if (c.n > 0 &&
		SPI_execute_with_args("SELECT h.key, h.custom FROM crm.value_history h"
							  " WHERE h.workspace_id OPERATOR(pg_catalog.=) $1"
							  "   AND h.object_type OPERATOR(pg_catalog.=) $3"
							  "   AND h.object_id OPERATOR(pg_catalog.=) $2 AND h.merged_from IS NULL",
							  3, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading the duplicate's history failed");
	LeaveOutChanged(&c);
	if (c.n > 0)
		InsertFirstValues(&c, object_type, created);
	CrmRestoreUser(&saved);
	table_close(rel, AccessShareLock);
}

/*
 * A merge carries the duplicate's history to the survivor, each row marked
 * with the contact it came from (merged_from); inside SPI.  Returns the ids
 * of the rows carried (a jsonb array, NULL for none) for the merge record.
 */
Datum
CrmHistoryMerge(int64 ws, int64 survivor, int64 duplicate)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	Oid			relid = get_relname_relid("value_history", get_namespace_oid("crm", false));
	CrmSavedUser saved;
	bool		isnull;
	Datum		ids;

	if (!OidIsValid(relid))
		return (Datum) 0;
	CrmHistoryKeepFirstValues(ws, "contact", duplicate);
	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	KeepPlan(&merge_plan,
			 "WITH m AS (UPDATE crm.value_history h SET object_id = $2, merged_from = COALESCE(h.merged_from, $3)"
			 " WHERE h.workspace_id OPERATOR(pg_catalog.=) $1 AND h.object_type OPERATOR(pg_catalog.=) 'contact'"
			 "   AND h.object_id OPERATOR(pg_catalog.=) $3 RETURNING h.id)"
			 " SELECT pg_catalog.jsonb_agg(m.id ORDER BY m.id) FROM m",
			 3, argtypes);
	args[0] = Int64GetDatum(ws);
	args[1] = Int64GetDatum(survivor);
	args[2] = Int64GetDatum(duplicate);
	if (SPI_execute_plan(merge_plan, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: moving the duplicate's history failed");
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	CrmRestoreUser(&saved);
	return isnull ? (Datum) 0 : ids;
}

/*
 * An unmerge takes back the history rows its merge carried (ids, a jsonb
 * array): to the duplicate, and merged_from as it was before (NULL for the
 * duplicate's own rows, the earlier duplicate's id for rows it had been
 * carried itself).  Returns how many moved back.
 */
int64
CrmHistoryUnmerge(int64 ws, const char *object_type, int64 survivor, int64 duplicate, Datum ids)
{
	Oid			argtypes[5] = {INT8OID, INT8OID, INT8OID, JSONBOID, TEXTOID};
	Datum		args[5];
	Oid			relid = get_relname_relid("value_history", get_namespace_oid("crm", false));
	CrmSavedUser saved;
	int64		n;

	if (!OidIsValid(relid))
		return 0;
	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	KeepPlan(&unmerge_plan,
			 "UPDATE crm.value_history h SET object_id = $3,"
			 "       merged_from = NULLIF(h.merged_from, $3)"
			 " WHERE h.workspace_id OPERATOR(pg_catalog.=) $1 AND h.object_type OPERATOR(pg_catalog.=) $5"
			 "   AND h.object_id OPERATOR(pg_catalog.=) $2"
			 "   AND h.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text($4)::pg_catalog.int8))",
			 5, argtypes);
	args[0] = Int64GetDatum(ws);
	args[1] = Int64GetDatum(survivor);
	args[2] = Int64GetDatum(duplicate);
	args[3] = ids;
	args[4] = CStringGetTextDatum(object_type);
	if (SPI_execute_plan(unmerge_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm unmerge: moving history back failed");
	n = SPI_processed;
	CrmRestoreUser(&saved);
	return n;
}
