/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The outbox writers: the statement trigger that turns a table's inserts,
 *	  updates and deletes into crm.events rows, the one that wakes
 *	  listeners with NOTIFY crm_events, and the guard that keeps the
 *	  columns the extension owns (id, xid, created_at, actor) its own.
 *
 * Every write to a CRM table fires these, so they are in C: one pass over
 * the statement's transition tables, no JSON work for inserts and deletes,
 * and for updates only the changed columns converted.  The rows go into
 * crm.events straight through the heap and its indexes when the table is
 * as installed (see WriteEventsDirect), and otherwise through one prepared
 * INSERT per statement, which honours whatever was added to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_emit_row_events);
PG_FUNCTION_INFO_V1(crm_emit_event);
PG_FUNCTION_INFO_V1(crm_emit_event_in);
PG_FUNCTION_INFO_V1(crm_emit_events);
PG_FUNCTION_INFO_V1(crm_notify_events);
PG_FUNCTION_INFO_V1(crm_next_event_id);
PG_FUNCTION_INFO_V1(crm_guard_event_columns);

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr insert_one_plan = NULL;

/*
 * crm.notify_events: whether a transaction that writes events sends NOTIFY
 * crm_events.  PostgreSQL takes one database-wide lock at the commit of
 * every transaction that notifies, so busy writers queue on it; off, the
 * consumers poll crm.events_since instead (docs/events.md).
 */
static bool notify_events = true;

void
CrmEventsInit(void)
{
	DefineCustomBoolVariable("crm.notify_events",
							 "Send NOTIFY crm_events from every transaction that writes events.",
							 "Off, consumers poll crm.events_since: no commit waits for the database-wide notify lock.",
							 &notify_events,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* NOTIFY crm_events, payload the workspace, unless switched off */
static void
NotifyWorkspace(int64 ws)
{
	if (notify_events)
		Async_Notify("crm_events", psprintf(INT64_FORMAT, ws));
	CrmNotifierEnsure();
}
static SPIPlanPtr workspace_plan = NULL;

/*
 * crm.events, its id sequence and whether it is as installed (see
 * EventsAsInstalled; -1 not yet judged), forgotten when the table changes
 */
static Oid	events_relid = InvalidOid;
static Oid	events_seqid = InvalidOid;
static Oid	events_owner = InvalidOid;
static int	events_as_installed = -1;

/*
 * The ids crm_internal.next_event_id() gave, until a row claims each: a row
 * whose id is none of them was sent by its writer.  Several wait when a
 * statement computes its rows' defaults before it inserts the first, as
 * Citus does for an INSERT ... SELECT (its COPY into the shard).  Ids no row
 * claimed (a statement that failed in between) are forgotten when they fill
 * the array.
 */
#define MAX_ISSUED_EVENT_IDS 1024
static int64 issued_event_ids[MAX_ISSUED_EVENT_IDS];
static int	issued_event_n = 0;

/* The CHECK of crm.events as pg_get_expr() prints it */
#define EVENTS_TYPE_CHECK "(type ~ '^CRM_[A-Z_]+$'::text)"

/* The columns of crm.events as installed, in order */
static const struct
{
	const char *name;
	Oid			type;
}			event_columns[] = {
	{"workspace_id", INT8OID}, {"id", INT8OID}, {"type", TEXTOID}, {"object_type", TEXTOID},
	{"object_id", INT8OID}, {"payload", JSONBOID}, {"xid", XID8OID}, {"created_at", TIMESTAMPTZOID},
	{"actor", TEXTOID},
};

/* Its triggers as installed, in name order */
static const char *const event_triggers[] = {"events_guard", "events_notify"};

void
CrmEventsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == events_relid)
	{
		events_relid = events_seqid = InvalidOid;
		events_as_installed = -1;
	}
}

/* Growing arrays of the events one statement writes */
typedef struct EventBatch
{
	int			n;
	int			cap;
	Datum	   *workspaces;
	Datum	   *ids;
	Datum	   *payloads;
} EventBatch;

static void
BatchAdd(EventBatch *b, Datum ws, Datum id, Jsonb *payload)
{
	if (b->n == b->cap)
	{
		b->cap = b->cap ? b->cap * 2 : 64;
		b->workspaces = b->workspaces ? repalloc(b->workspaces, sizeof(Datum) * b->cap) : palloc(sizeof(Datum) * b->cap);
		b->ids = b->ids ? repalloc(b->ids, sizeof(Datum) * b->cap) : palloc(sizeof(Datum) * b->cap);
		b->payloads = b->payloads ? repalloc(b->payloads, sizeof(Datum) * b->cap) : palloc(sizeof(Datum) * b->cap);
	}
	b->workspaces[b->n] = ws;
	b->ids[b->n] = id;
	CrmCheckDefined(payload, VARSIZE(payload));
	b->payloads[b->n] = JsonbPGetDatum(payload);
	b->n++;
}

static void
PushKey(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

static void
PushId(JsonbParseState **state, Datum id)
{
	JsonbValue	v;

	PushKey(state, "id");
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, id));
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* {"id": <id>} */
static Jsonb *
IdPayload(Datum id)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	PushId(&state, id);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* A transition table read from its start through a read pointer of our own */
static void
RewindTransitionTable(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

/*
 * to_jsonb(anyelement) set up for one column type, so a changed column is
 * converted exactly as to_jsonb(row) would convert it, without converting
 * (and sorting the keys of) the whole row.
 */
static FmgrInfo *
ColumnToJsonbFn(Form_pg_attribute att)
{
	FmgrInfo   *flinfo = palloc0(sizeof(FmgrInfo));
	Node	   *arg = (Node *) makeNullConst(att->atttypid, att->atttypmod, att->attcollation);

	fmgr_info(F_TO_JSONB, flinfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(arg),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   flinfo);
	return flinfo;
}

/* Push one column's new value as the value of the key just pushed */
static void
PushColumnValue(JsonbParseState **state, Datum value, bool isnull, FmgrInfo *tojsonb)
{
	JsonbValue	v;
	Jsonb	   *jb;

	if (isnull)
	{
		v.type = jbvNull;
		pushJsonbValue(state, WJB_VALUE, &v);
		return;
	}
	jb = DatumGetJsonbP(FunctionCall1(tojsonb, value));
	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, &v))
			elog(ERROR, "emit_row_events: scalar jsonb expected");
	}
	else
	{
		/* arrays (tags) and objects (properties) are copied in whole */
		v.type = jbvBinary;
		v.val.binary.data = &jb->root;
		v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * Whether the row is private (a private note, docs/timelines.md): its
 * events name what changed but carry no values, since the outbox is read
 * by every consumer of the workspace and a private row is its author's.
 */
static bool
RowIsPrivate(TupleTableSlot *slot, int private_attnum)
{
	bool		isnull;
	Datum		v;

	if (private_attnum <= 0)
		return false;
	v = slot_getattr(slot, private_attnum, &isnull);
	return !isnull && DatumGetBool(v);
}

/*
 * {"id": <id>, "changes": {<column>: <new value>, ...}} for the columns an
 * update changed, leaving out updated_at; NULL when nothing else changed.
 * A quiet column (kept by the extension from other rows, whose own events say
 * so) is listed among the changes but makes no event on its own.  tojsonb
 * caches a converter per column for the statement's rows.
 */
static Jsonb *
ChangesPayload(TupleTableSlot *oldslot, TupleTableSlot *newslot, TupleDesc tupdesc,
			   int touch_attnum, const bool *quiet, int private_attnum, Datum id, FmgrInfo **tojsonb)
{
	JsonbParseState *state = NULL;
	bool		any = false;
	bool		loud = false;
	bool		hidden = RowIsPrivate(oldslot, private_attnum) || RowIsPrivate(newslot, private_attnum);
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		oldnull,
					newnull;
		Datum		oldval,
					newval;

		if (att->attisdropped || i + 1 == touch_attnum)
			continue;
		oldval = slot_getattr(oldslot, i + 1, &oldnull);
		newval = slot_getattr(newslot, i + 1, &newnull);
		if (oldnull && newnull)
			continue;
		if (!oldnull && !newnull &&
			datum_image_eq(oldval, newval, att->attbyval, att->attlen))
			continue;

		if (!any)
		{
			pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			PushId(&state, id);
			PushKey(&state, "changes");
			pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			any = true;
		}
		loud |= !quiet[i];
		PushKey(&state, NameStr(att->attname));
		if (hidden)
		{
			/* a private row's change is named, its value is not */
			JsonbValue	v = {.type = jbvNull};

			pushJsonbValue(&state, WJB_VALUE, &v);
			continue;
		}
		if (tojsonb[i] == NULL)
			tojsonb[i] = ColumnToJsonbFn(att);
		PushColumnValue(&state, newval, newnull, tojsonb[i]);
	}
	if (!loud)
		return NULL;
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	if (hidden)
	{
		JsonbValue	v = {.type = jbvBool,.val.boolean = true};

		PushKey(&state, "redacted");
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* Rows deleted along with their workspace leave no event */
static bool
WorkspaceExists(Datum ws)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (workspace_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT 1 FROM crm.workspaces WHERE id OPERATOR(pg_catalog.=) $1",
									   1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare workspace lookup: %s", SPI_result_code_string(SPI_result));
		workspace_plan = plan;
	}
	values[0] = ws;
	if (SPI_execute_plan(workspace_plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "workspace lookup failed");
	return SPI_processed > 0;
}

static SPIPlanPtr
PrepareInsert(const char *sql, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 5, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare event insert: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * crm.events and its id sequence, looked up once per relcache build.  The
 * lookups may process invalidations (an ANALYZE of crm.events by
 * autovacuum sends one), whose callback clears events_relid: it is set
 * last, once the others are.
 */
static void
LookupEvents(void)
{
	Oid			nsp,
				relid,
				seqid,
				owner;

	if (OidIsValid(events_relid))
		return;
	nsp = get_namespace_oid("crm", false);
	relid = get_relname_relid("events", nsp);
	seqid = get_relname_relid("events_id_seq", nsp);
	owner = OidIsValid(relid) ? CrmRelationOwner(relid) : InvalidOid;
	events_seqid = seqid;
	events_owner = owner;
	events_as_installed = -1;
	events_relid = relid;
}

/*
 * crm.events exactly as the extension installs it: these columns, its one
 * CHECK (the expression CheckEventType applies) and its two triggers, a
 * plain table that is no Citus table.  Anything added or replaced (a trigger of the DBA's, a
 * constraint, a column) sends the writer through INSERT.  Judged once per
 * relcache build of the table.
 */
static bool
EventsAsInstalled(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	char	   *check;

	if (events_as_installed >= 0)
		return events_as_installed;
	events_as_installed = false;

	if (rel->rd_rel->relkind != RELKIND_RELATION || desc->natts != lengthof(event_columns))
		return false;
	/* a Citus table's heap is a shell: its rows go to the workspace's shard */
	if (CrmIsCitusTable(RelationGetRelid(rel)))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != event_columns[i].type ||
			strcmp(NameStr(att->attname), event_columns[i].name) != 0)
			return false;
	}
	if (desc->constr == NULL || desc->constr->num_check != 1 || desc->constr->has_generated_stored ||
		strcmp(desc->constr->check[0].ccname, "events_type_format") != 0)
		return false;
	if (trig == NULL || trig->numtriggers != lengthof(event_triggers))
		return false;
	for (int i = 0; i < trig->numtriggers; i++)
		if (strcmp(trig->triggers[i].tgname, event_triggers[i]) != 0)
			return false;
	check = TextDatumGetCString(DirectFunctionCall2(pg_get_expr,
													CStringGetTextDatum(desc->constr->check[0].ccbin),
													ObjectIdGetDatum(RelationGetRelid(rel))));
	events_as_installed = strcmp(check, EVENTS_TYPE_CHECK) == 0;
	return events_as_installed;
}

/* What the CHECK events_type_format says: ^CRM_[A-Z_]+$ */
static bool
EventTypeIsValid(const char *type)
{
	const char *c = type + 4;

	if (strncmp(type, "CRM_", 4) != 0 || *c == '\0')
		return false;
	while (*c == '_' || (*c >= 'A' && *c <= 'Z'))
		c++;
	return *c == '\0';
}

static void
CheckEventType(Relation rel, const char *type)
{
	if (EventTypeIsValid(type))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("new row for relation \"%s\" violates check constraint \"%s\"",
					RelationGetRelationName(rel), "events_type_format"),
			 errdetail("The event type is \"%s\".", type),
			 errhint("Event types are CRM_ followed by upper-case letters and underscores, such as CRM_CONTACT_UPDATED."),
			 errtableconstraint(rel, "events_type_format")));
}

/* Under CRM_VALGRIND: the row about to be stored has no undefined byte */
static void
CheckRowDefined(TupleTableSlot *slot)
{
#ifdef CRM_VALGRIND
	bool		shouldFree;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &shouldFree);

	CrmCheckDefined(tuple->t_data, tuple->t_len);
	if (shouldFree)
		heap_freetuple(tuple);
#endif
}

/*
 * The events of a statement straight into the heap and the indexes of
 * crm.events, with the values its defaults give (the id sequence, the
 * transaction's id and start time, the actor), and the NOTIFY of its
 * trigger (its guard trigger has nothing to check here): an
 * INSERT's plan, executor start-up, per-statement CHECK parse and trigger
 * queue cost more than the rows themselves, on every write of the CRM.
 * Returns false, having written nothing, when the table is not as
 * installed or the INSERT would check something this does not: the caller
 * then runs the INSERT.
 */
static bool
WriteEventsDirect(EventBatch *b, const char *type, const char *object_type, Oid relid, Oid seqid)
{
	Relation	rel;
	CrmDirectInsert *writer;
	int64		last_ws = 0;
	Datum		actor;
	Datum		fxid;

	if (!OidIsValid(seqid))
		return false;

	rel = table_open(relid, RowExclusiveLock);
	if (!EventsAsInstalled(rel))
	{
		table_close(rel, NoLock);
		return false;
	}
	CheckEventType(rel, type);
	actor = CStringGetTextDatum(CrmCurrentActor());

	/* the transaction's id before the events' ids: see notifier.c */
	fxid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	writer = CrmDirectInsertBegin(rel);
	for (int i = 0; i < b->n; i++)
	{
		int64		ws = DatumGetInt64(b->workspaces[i]);
		TupleTableSlot *slot = CrmDirectInsertNext(writer);

		CHECK_FOR_INTERRUPTS();
		slot->tts_values[0] = b->workspaces[i];
		slot->tts_values[1] = Int64GetDatum(nextval_internal(seqid, false));
		slot->tts_values[2] = CStringGetTextDatum(type);
		slot->tts_values[3] = CStringGetTextDatum(object_type);
		slot->tts_values[4] = b->ids[i];
		slot->tts_values[5] = b->payloads[i];
		slot->tts_values[6] = fxid;
		slot->tts_values[7] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		slot->tts_values[8] = actor;
		ExecStoreVirtualTuple(slot);
		CheckRowDefined(slot);

		/* the statement trigger's NOTIFY: statements write one workspace's rows */
		if (ws != last_ws)
		{
			NotifyWorkspace(ws);
			last_ws = ws;
		}
	}
	CrmDirectInsertEnd(writer);
	table_close(rel, NoLock);
	return true;
}

/*
 * Most statements write one row (an API call, crm.identify): they get a
 * plain VALUES insert, cheaper to start than the unnest of arrays that
 * writes a bulk statement's events in one go.
 */
static void
InsertEventsBySql(EventBatch *b, const char *type, const char *object_type, bool citus)
{
	Datum		values[5];

	/*
	 * A Citus table takes one row per statement: Citus computes the ids of
	 * a multi-row insert before the guard sees the first row, and the guard
	 * accepts only the id issued last.
	 */
	if (b->n == 1 || citus)
	{
		Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, INT8OID, JSONBOID};

		if (insert_one_plan == NULL)
			insert_one_plan = PrepareInsert(
				"INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload) "
				"VALUES ($1, $2, $3, $4, $5)", argtypes);
		values[1] = CStringGetTextDatum(type);
		values[2] = CStringGetTextDatum(object_type);
		for (int i = 0; i < b->n; i++)
		{
			values[0] = b->workspaces[i];
			values[3] = b->ids[i];
			values[4] = b->payloads[i];
			if (SPI_execute_plan(insert_one_plan, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "event insert failed");
		}
		return;
	}

	if (insert_plan == NULL)
	{
		Oid			argtypes[5] = {INT8ARRAYOID, TEXTOID, TEXTOID, INT8ARRAYOID, JSONBARRAYOID};

		insert_plan = PrepareInsert(
			"INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload) "
			"SELECT u.w, $2, $3, u.o, u.p FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(w, o, p)",
			argtypes);
	}
	values[0] = PointerGetDatum(construct_array(b->workspaces, b->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = CStringGetTextDatum(type);
	values[2] = CStringGetTextDatum(object_type);
	values[3] = PointerGetDatum(construct_array(b->ids, b->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_array(b->payloads, b->n, JSONBOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(insert_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "event insert failed");
}

/*
 * An event a Citus coordinator writes (a merge's, crm.emit_event()'s, a job's): an
 * INSERT would take its id from the coordinator's sequence, which the guard
 * on the worker refuses, and the columns it checks next (the transaction's
 * id and start, the actor) would be the coordinator's.  They are taken on
 * the worker instead, by a routed SELECT of the event's object (a co-located
 * row: Citus evaluates the functions of a routed SELECT on the worker), and
 * the row inserted with them through the same connection.  An INSERT ... SELECT would be
 * pulled through the coordinator and committed in two phases.  False when
 * the object has no such row (the event is then written as elsewhere).
 */
static bool
InsertEventFromObject(EventBatch *b, const char *type, const char *object_type)
{
	/* the object types a coordinator writes events about, and their tables (keyed by workspace and id) */
	static const char *const objects[][2] = {
		{"contact", "contacts"}, {"company", "companies"}, {"deal", "deals"}, {"list", "lists"}, {"job", "jobs"}
	};
#define NOBJECTS lengthof(objects)
	static SPIPlanPtr id_plans[NOBJECTS];
	static SPIPlanPtr insert_plan = NULL;
	Oid			argtypes[9] = {INT8OID, TEXTOID, TEXTOID, INT8OID, JSONBOID, INT8OID, XID8OID, TIMESTAMPTZOID, TEXTOID};
	Oid			keytypes[2] = {INT8OID, INT8OID};
	Datum		values[9];
	char		nulls[10] = "         ";
	bool		isnull;
	int			t;

	if (b->n != 1 || !CrmCitusIsCoordinator())
		return false;
	for (t = 0; t < NOBJECTS && strcmp(object_type, objects[t][0]) != 0; t++)
		;
	if (t == NOBJECTS)
		return false;
	if (id_plans[t] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(psprintf("SELECT crm_internal.next_event_id(), pg_catalog.pg_current_xact_id(),"
												" pg_catalog.now(), crm.current_actor() FROM crm.%s o"
												" WHERE o.workspace_id OPERATOR(pg_catalog.=) $1 AND o.id OPERATOR(pg_catalog.=) $2",
												objects[t][1]), 2, keytypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare event id: %s", SPI_result_code_string(SPI_result));
		id_plans[t] = plan;
	}
	if (insert_plan == NULL)
	{
		insert_plan = SPI_prepare("INSERT INTO crm.events (workspace_id, id, type, object_type, object_id, payload,"
								  " xid, created_at, actor) VALUES ($1, $6, $2, $3, $4, $5, $7, $8, $9)", 9, argtypes);
		if (insert_plan == NULL || SPI_keepplan(insert_plan) != 0)
			elog(ERROR, "could not prepare event insert: %s", SPI_result_code_string(SPI_result));
	}
	values[0] = b->workspaces[0];
	values[1] = b->ids[0];
	if (SPI_execute_plan(id_plans[t], values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "event id failed");
	if (SPI_processed != 1)
		return false;
	for (int i = 0; i < 4; i++)
	{
		values[5 + i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		nulls[5 + i] = isnull ? 'n' : ' ';
	}
	values[1] = CStringGetTextDatum(type);
	values[2] = CStringGetTextDatum(object_type);
	values[3] = b->ids[0];
	values[4] = b->payloads[0];
	if (SPI_execute_plan(insert_plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "event insert failed");
	return true;
}

/*
 * The writer runs as the owner, whom row-level security does not bind: a
 * caller it binds writes events of its own workspace only, as the policy
 * of crm.events would demand of its INSERT.
 */
static void
CheckBatchWorkspaces(EventBatch *b, Oid relid)
{
	int64		ws;

	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return;
	ws = CrmCurrentWorkspace();
	for (int i = 0; i < b->n; i++)
		if (DatumGetInt64(b->workspaces[i]) != ws)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("new row violates row-level security policy for table \"events\""),
					 errdetail("The event is about workspace " INT64_FORMAT "; this session works in workspace " INT64_FORMAT ".",
							   DatumGetInt64(b->workspaces[i]), ws)));
}

/*
 * Writes a statement's events (inside SPI).  The outbox is the extension's
 * to write, granted roles may only read it: the rows go in as its owner.
 * The OIDs are copied first: taking a lock processes invalidations, and a
 * relcache reset on the way clears the cached ones.
 */
static void
InsertEvents(EventBatch *b, const char *type, const char *object_type)
{
	CrmSavedUser saved;
	Oid			relid,
				seqid;

	LookupEvents();
	relid = events_relid;
	seqid = events_seqid;
	if (!OidIsValid(relid))
		elog(ERROR, "table crm.events does not exist");
	CheckBatchWorkspaces(b, relid);

	CrmBecomeOwner(events_owner, &saved);
	if (!WriteEventsDirect(b, type, object_type, relid, seqid) &&
		!(CrmIsCitusTable(relid) && InsertEventFromObject(b, type, object_type)))
		InsertEventsBySql(b, type, object_type, CrmIsCitusTable(relid));
	CrmRestoreUser(&saved);
}

/*
 * crm_internal.emit_row_events(object_type, event_prefix [, quiet column ...]):
 * AFTER ... FOR EACH STATEMENT with transition tables new_rows/old_rows.
 * Writes <prefix>_CREATED / _UPDATED (with the changed columns) / _DELETED;
 * an update that changes only quiet columns writes nothing.
 */
Datum
crm_emit_row_events(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	const char *object_type;
	const char *suffix;
	int			ws_attnum,
				id_attnum,
				touch_attnum,
				private_attnum;
	TupleTableSlot *slot;
	EventBatch	batch = {0};
	Datum		last_ws = (Datum) 0;
	bool		last_ws_exists = false;
	bool		have_last_ws = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("emit_row_events: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs < 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("emit_row_events: must be fired after the statement, with arguments object type and event prefix")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	object_type = trigdata->tg_trigger->tgargs[0];
	ws_attnum = SPI_fnumber(tupdesc, "workspace_id");
	id_attnum = SPI_fnumber(tupdesc, "id");
	touch_attnum = SPI_fnumber(tupdesc, "updated_at");
	private_attnum = SPI_fnumber(tupdesc, "private");
	if (private_attnum > 0 && TupleDescAttr(tupdesc, private_attnum - 1)->atttypid != BOOLOID)
		private_attnum = 0;
	if (ws_attnum <= 0 || id_attnum <= 0)
		elog(ERROR, "emit_row_events: table \"%s\" needs workspace_id and id columns",
			 RelationGetRelationName(trigdata->tg_relation));

	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		suffix = "_CREATED";
		if (trigdata->tg_newtable == NULL)
			elog(ERROR, "emit_row_events: INSERT trigger needs REFERENCING NEW TABLE");
		RewindTransitionTable(trigdata->tg_newtable);
		while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
		{
			bool		isnull;
			Datum		ws = slot_getattr(slot, ws_attnum, &isnull);
			Datum		id = slot_getattr(slot, id_attnum, &isnull);

			CHECK_FOR_INTERRUPTS();
			BatchAdd(&batch, ws, id, IdPayload(id));
		}
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		TupleTableSlot *oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		FmgrInfo  **tojsonb = palloc0(sizeof(FmgrInfo *) * tupdesc->natts);
		bool	   *quiet = palloc0(sizeof(bool) * tupdesc->natts);
		int			i;

		for (i = 2; i < trigdata->tg_trigger->tgnargs; i++)
		{
			int			attnum = SPI_fnumber(tupdesc, trigdata->tg_trigger->tgargs[i]);

			if (attnum <= 0)
				elog(ERROR, "emit_row_events: table \"%s\" has no column \"%s\"",
					 RelationGetRelationName(trigdata->tg_relation), trigdata->tg_trigger->tgargs[i]);
			quiet[attnum - 1] = true;
		}

		suffix = "_UPDATED";
		if (trigdata->tg_newtable == NULL || trigdata->tg_oldtable == NULL)
			elog(ERROR, "emit_row_events: UPDATE trigger needs REFERENCING OLD TABLE and NEW TABLE");
		RewindTransitionTable(trigdata->tg_oldtable);
		RewindTransitionTable(trigdata->tg_newtable);

		/* the two transition tables hold the rows of each update pairwise */
		while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
		{
			bool		isnull;
			Datum		ws;
			Datum		id;
			Jsonb	   *payload;

			CHECK_FOR_INTERRUPTS();
			if (!tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, oldslot))
				elog(ERROR, "emit_row_events: transition tables of different length");
			ws = slot_getattr(slot, ws_attnum, &isnull);
			id = slot_getattr(slot, id_attnum, &isnull);
			payload = ChangesPayload(oldslot, slot, tupdesc, touch_attnum, quiet, private_attnum, id, tojsonb);
			if (payload != NULL)
				BatchAdd(&batch, ws, id, payload);
		}
		ExecDropSingleTupleTableSlot(oldslot);
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		suffix = "_DELETED";
		if (trigdata->tg_oldtable == NULL)
			elog(ERROR, "emit_row_events: DELETE trigger needs REFERENCING OLD TABLE");
		RewindTransitionTable(trigdata->tg_oldtable);
		while (tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, slot))
		{
			bool		isnull;
			Datum		ws = slot_getattr(slot, ws_attnum, &isnull);
			Datum		id = slot_getattr(slot, id_attnum, &isnull);

			CHECK_FOR_INTERRUPTS();
			if (!have_last_ws || DatumGetInt64(ws) != DatumGetInt64(last_ws))
			{
				last_ws = ws;
				last_ws_exists = WorkspaceExists(ws);
				have_last_ws = true;
			}
			if (last_ws_exists)
				BatchAdd(&batch, ws, id, IdPayload(id));
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("emit_row_events: must be fired by INSERT, UPDATE or DELETE")));

	if (batch.n > 0)
		InsertEvents(&batch, psprintf("%s%s", trigdata->tg_trigger->tgargs[1], suffix), object_type);

	SPI_finish();
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}

/* The owner of crm.events, as whom the extension's C code writes it */
Oid
CrmEventsOwner(void)
{
	LookupEvents();
	if (!OidIsValid(events_owner))
		elog(ERROR, "table crm.events does not exist");
	return events_owner;
}

/*
 * One domain event (a merge, a stage change) in its workspace, for C code
 * of the extension; inside SPI.
 */
void
CrmEmitEvent(int64 ws, const char *type, const char *object_type, int64 object_id, Datum payload)
{
	EventBatch	batch = {0};

	BatchAdd(&batch, Int64GetDatum(ws), Int64GetDatum(object_id), DatumGetJsonbP(payload));
	InsertEvents(&batch, type, object_type);
}

/*
 * A statement's domain events of one type (the membership changes of a
 * statement on crm.list_members): written by pages as the row events are.
 */
void
CrmEmitEvents(int n, const Datum *workspaces, const char *type, const char *object_type,
			  const Datum *object_ids, const Datum *payloads)
{
	EventBatch	batch = {0};

	for (int i = 0; i < n; i++)
		BatchAdd(&batch, workspaces[i], object_ids[i], DatumGetJsonbP(payloads[i]));
	if (batch.n > 0)
		InsertEvents(&batch, type, object_type);
}

/* The events' owner, a superuser or a service role may emit events */
static void
CheckMayEmit(void)
{
	Oid			role = GetUserId();

	LookupEvents();
	if (has_privs_of_role(role, events_owner) || CrmRoleIsService(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not emit events", GetUserNameFromId(role, false)),
			 errhint("The CRM writes the events of every change itself; a role granted with crm.grant_access(role, access => 'service') may emit its own.")));
}

/* The arguments of crm.emit_event, from argument a on: type, object type, id, payload */
static void
CheckEventArgs(FunctionCallInfo fcinfo, int a)
{
	if (PG_ARGISNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type: NULL"),
				 errhint("An event type is upper-case and starts with CRM_, such as CRM_CONTACT_UPDATED.")));
	if (PG_ARGISNULL(a + 1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(a + 1)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event object type must not be empty"),
				 errhint("Name the kind of object the event is about, such as contact or company.")));
	if (PG_ARGISNULL(a + 2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event object id must not be null"),
				 errhint("Pass the id of the object the event is about.")));
	if (!PG_ARGISNULL(a + 3) && !JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(a + 3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event payload must be a JSON object, not %s",
						TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, PG_GETARG_DATUM(a + 3)))),
				 errhint("Pass payload as a jsonb object such as '{\"id\": 42}'.")));
}

/* Checks and writes the event whose arguments start at argument a, in workspace ws */
static void
EmitEventArgs(FunctionCallInfo fcinfo, int a, int64 ws)
{
	char	   *type;
	Jsonb	   *payload;

	CheckMayEmit();
	CheckEventArgs(fcinfo, a);
	type = text_to_cstring(PG_GETARG_TEXT_PP(a));
	if (!EventTypeIsValid(type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type: \"%s\"", type),
				 errhint("An event type is upper-case and starts with CRM_, such as CRM_CONTACT_UPDATED.")));
	payload = PG_ARGISNULL(a + 3) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P_COPY(a + 3);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	CrmEmitEvent(ws, type, text_to_cstring(PG_GETARG_TEXT_PP(a + 1)),
				 PG_GETARG_INT64(a + 2), JsonbPGetDatum(payload));
	SPI_finish();
}

/*
 * crm.emit_event(type, object_type, object_id, payload): appends a domain
 * event in the current workspace.  The extension's triggers call it as the
 * owner; a granted role only if it is a service role, since a frontend
 * could otherwise forge CRM_DEAL_WON.
 */
Datum
crm_emit_event(PG_FUNCTION_ARGS)
{
	EmitEventArgs(fcinfo, 0, CrmCurrentWorkspace());
	PG_RETURN_VOID();
}

/*
 * crm_internal.emit_event_in(workspace_id, type, object_type, object_id,
 * payload): crm.emit_event in the workspace of the row a trigger handles.
 * On a Citus worker a trigger runs without the client's crm.workspace_id,
 * where the current workspace is not the row's (docs/scaling.md).
 */
Datum
crm_emit_event_in(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event workspace must not be null"),
				 errhint("Pass the workspace_id of the row the event is about.")));
	EmitEventArgs(fcinfo, 1, PG_GETARG_INT64(0));
	PG_RETURN_VOID();
}

/*
 * crm_internal.emit_events(workspace_id, type, object_type, object_ids,
 * payloads): one event of the row's workspace (as emit_event_in) per id,
 * with the payload at the same position, written in one batch.  A statement trigger over a transition
 * table aggregates its rows into the two arrays: a company merge moves 400
 * links, and crm.emit_event per row paid a call and a one-row write each.
 * NULL arrays (an aggregate over no rows) write nothing.
 */
Datum
crm_emit_events(PG_FUNCTION_ARGS)
{
	char	   *type;
	Datum	   *ids;
	Datum	   *payloads;
	bool	   *idnulls;
	bool	   *payloadnulls;
	int			nids;
	int			npayloads;
	int			i;
	int64		ws;
	EventBatch	batch = {0};

	CheckMayEmit();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event workspace must not be null"),
				 errhint("Pass the workspace_id of the rows the events are about.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type: NULL"),
				 errhint("An event type is upper-case and starts with CRM_, such as CRM_CONTACT_UPDATED.")));
	if (PG_ARGISNULL(2) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(2)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event object type must not be empty"),
				 errhint("Name the kind of object the events are about, such as contact or company.")));
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_VOID();
	type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!EventTypeIsValid(type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type: \"%s\"", type),
				 errhint("An event type is upper-case and starts with CRM_, such as CRM_CONTACT_UPDATED.")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &ids, &idnulls, &nids);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), JSONBOID, -1, false, TYPALIGN_INT,
					  &payloads, &payloadnulls, &npayloads);
	if (nids != npayloads)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d event object ids but %d payloads", nids, npayloads),
				 errhint("Pass one payload for each object id, in the same order.")));
	ws = PG_GETARG_INT64(0);
	for (i = 0; i < nids; i++)
	{
		if (idnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event object id must not be null"),
					 errhint("Pass the id of the object each event is about.")));
		if (payloadnulls[i] || !JB_ROOT_IS_OBJECT(DatumGetJsonbP(payloads[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event payload %d must be a JSON object", i + 1),
					 errhint("Pass each payload as a jsonb object such as '{\"id\": 42}'.")));
		BatchAdd(&batch, Int64GetDatum(ws), ids[i], DatumGetJsonbPCopy(payloads[i]));
	}
	if (batch.n == 0)
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	InsertEvents(&batch, type, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * crm_internal.notify_events(): AFTER INSERT ON crm.events FOR EACH STATEMENT with
 * REFERENCING NEW TABLE.  One NOTIFY crm_events per workspace written; the
 * payload is the workspace id, so NOTIFY's de-duplication folds a
 * transaction's events into one wake-up per workspace.
 */
Datum
crm_notify_events(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	TupleTableSlot *slot;
	int			ws_attnum;
	int64		last = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_newtable == NULL ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notify_events: must be a statement trigger with REFERENCING NEW TABLE")));

	/*
	 * On a Citus worker the trigger fires on a shard (crm.events_102017): no
	 * client listens there, and a NOTIFY would keep a transaction that wrote
	 * several shards from committing (PREPARE TRANSACTION refuses it).
	 */
	if (strcmp(RelationGetRelationName(trigdata->tg_relation), "events") != 0)
		return PointerGetDatum(NULL);

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	ws_attnum = SPI_fnumber(tupdesc, "workspace_id");
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	RewindTransitionTable(trigdata->tg_newtable);
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		isnull;
		int64		ws = DatumGetInt64(slot_getattr(slot, ws_attnum, &isnull));

		CHECK_FOR_INTERRUPTS();
		/* statements write one workspace's rows; Async_Notify folds repeats */
		if (ws != last)
		{
			NotifyWorkspace(ws);
			last = ws;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}

/*
 * crm_internal.next_event_id(): the default of crm.events.id, as an
 * identity column would give it (no privilege on the sequence needed), and
 * remembered so the guard knows the row did not bring its own.
 */
Datum
crm_next_event_id(PG_FUNCTION_ARGS)
{
	int64		id;

	LookupEvents();
	if (!OidIsValid(events_seqid))
		elog(ERROR, "sequence crm.events_id_seq does not exist");
	/* the transaction's id before the event's: see notifier.c */
	(void) GetTopFullTransactionId();
	id = nextval_internal(events_seqid, false);
	if (issued_event_n == MAX_ISSUED_EVENT_IDS)
		issued_event_n = 0;
	issued_event_ids[issued_event_n++] = id;
	PG_RETURN_INT64(id);
}

/* What each column the extension owns always holds, for the error's detail */
static const struct
{
	const char *name;
	const char *detail;
}			owned_columns[] = {
	{"id", "crm.events.id comes from crm.events_id_seq, so no later event can collide with it."},
	{"xid", "crm.events.xid is the writing transaction's id, which orders delivery in crm.events_since()."},
	{"created_at", "crm.events.created_at is the start time of the writing transaction."},
	{"actor", "crm.events.actor is crm.current_actor(): crm.actor, else the JWT sub claim, else current_user."},
};

static char *
ColumnValueText(TupleDesc desc, int attnum, Datum value)
{
	Oid			typoutput;
	bool		typisvarlena;

	getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &typoutput, &typisvarlena);
	return OidOutputFunctionCall(typoutput, value);
}

/* The id of the event an update would change, as text */
static char *
OldEventId(TupleDesc desc, HeapTuple tuple)
{
	int			attnum = SPI_fnumber(desc, "id");
	bool		isnull;
	Datum		id = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? "null" : ColumnValueText(desc, attnum, id);
}

/* Whether value is the extension's own for owned column i of a row inserted now */
static bool
IsOwnValue(int i, Datum value)
{
	switch (i)
	{
		case 0:
			{
				/* one issued id, one row; the newest first, the common case */
				for (int k = issued_event_n - 1; k >= 0; k--)
					if (issued_event_ids[k] == DatumGetInt64(value))
					{
						issued_event_ids[k] = issued_event_ids[--issued_event_n];
						return true;
					}
				return false;
			}
		case 1:
			return FullTransactionIdEquals(DatumGetFullTransactionId(value), GetTopFullTransactionId());
		case 2:
			return DatumGetTimestampTz(value) == GetCurrentTransactionStartTimestamp();
		case 3:
			{
				text	   *t = DatumGetTextPP(value);
				const char *actor = CrmCurrentActor();

				return VARSIZE_ANY_EXHDR(t) == strlen(actor) &&
					memcmp(VARDATA_ANY(t), actor, strlen(actor)) == 0;
			}
	}
	return false;
}

/*
 * crm_internal.guard_event_columns(): BEFORE INSERT OR UPDATE ... FOR EACH
 * ROW on crm.events.  A row may leave id, xid, created_at and actor to
 * their defaults (or send exactly what they give); an update may not change
 * them.  A NULL is left to the NOT NULL constraints.
 */
Datum
crm_guard_event_columns(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	bool		is_update;
	HeapTuple	newtuple;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("guard_event_columns: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("guard_event_columns: must be fired before each row inserted or updated")));

	desc = RelationGetDescr(trigdata->tg_relation);
	is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	newtuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

	for (int i = 0; i < lengthof(owned_columns); i++)
	{
		const char *col = owned_columns[i].name;
		int			attnum = SPI_fnumber(desc, col);
		Form_pg_attribute att;
		bool		isnull;
		Datum		value;

		if (attnum <= 0)
			elog(ERROR, "guard_event_columns: crm.events has no column \"%s\"", col);
		att = TupleDescAttr(desc, attnum - 1);
		value = heap_getattr(newtuple, attnum, desc, &isnull);

		if (is_update)
		{
			bool		oldnull;
			Datum		old = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &oldnull);

			if (isnull == oldnull &&
				(isnull || datum_image_eq(old, value, att->attbyval, att->attlen)))
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("cannot change crm.events.%s of event %s to \"%s\"", col,
							OldEventId(desc, trigdata->tg_trigtuple),
							isnull ? "null" : ColumnValueText(desc, attnum, value)),
					 errdetail("%s", owned_columns[i].detail),
					 errhint("An event records what happened: leave id, xid, created_at and actor out of the UPDATE.")));
		}
		if (isnull || IsOwnValue(i, value))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("cannot set crm.events.%s to \"%s\"", col, ColumnValueText(desc, attnum, value)),
				 errdetail("%s", owned_columns[i].detail),
				 i == 3 ?
				 errhint("Leave actor out of the INSERT; a trusted backend names the actor with SET crm.actor.") :
				 errhint("Leave %s out of the INSERT, or write the event with crm.emit_event().", col)));
	}
	return PointerGetDatum(newtuple);
}
