/*-------------------------------------------------------------------------
 *
 * message_statistics.c
 *	  The message statistics of a conversation (counts in and out, first
 *	  and last times, response times) and its contact's seen times, kept
 *	  by an AFTER INSERT statement trigger on crm.messages
 *	  (crm_internal.messages_append).
 *
 * The common write appends: every new message of a conversation sorts
 * (by sent_at, then id) after the messages it already had.  Such a
 * conversation gets deltas computed here from the statement's rows alone,
 * starting from the message before them (its sender and, when the contact
 * wrote it, the start of the contact's unanswered run), in one UPDATE of
 * the conversation; its contact gets one UPDATE of its seen times and
 * last_conversation_at.  A conversation whose new messages land among its
 * old ones (or carry an infinite time) is recomputed from all its
 * messages by crm_hidden.sync_conversation_statistics(), as UPDATEs and
 * DELETEs of messages are (crm_internal.messages_sync_conversations()).
 *
 * Order of work, as the SQL it replaces: lock the conversations in key
 * order; update the contacts, in key order, before the conversations, so
 * that crm_internal.conversations_sync_contacts finds last_conversation_at
 * already covered; then read what precedes each conversation's new
 * messages (a statement after the lock, so in READ COMMITTED it sees every
 * message committed before the lock was granted) and update it.  Every
 * statement runs as the writer, under its row-level security, like the
 * PL/pgSQL trigger did.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_messages_append);

/* A new message, as the statistics read it */
typedef struct NewMessage
{
	int64		ws;
	int64		conversation;
	TimestampTz sent_at;
	int64		id;
	bool		inbound;		/* the contact wrote it */
} NewMessage;

/* A conversation's share of the statement: its messages and its contact */
typedef struct Touched
{
	int64		ws;
	int64		conversation;
	int64		contact;
	int			first;			/* index of its first message in the sorted array */
	int			n;
} Touched;

#define LOCK_SQL \
	"SELECT cv.contact_id FROM crm.conversations cv" \
	" WHERE cv.workspace_id OPERATOR(pg_catalog.=) $1 AND cv.id OPERATOR(pg_catalog.=) $2" \
	" FOR NO KEY UPDATE OF cv"

/*
 * Any message moves its contact's last_conversation_at; the contact's own
 * messages are seeing it.  GREATEST and LEAST skip a NULL argument; the
 * row is written only when one of them moves (no IS DISTINCT FROM, which
 * would look its = operator up on the caller's search_path).
 */
#define CONTACT_SQL \
	"UPDATE crm.contacts c SET last_seen_at = GREATEST(c.last_seen_at, $3)," \
	" first_seen_at = LEAST(c.first_seen_at, $4)," \
	" last_conversation_at = GREATEST(c.last_conversation_at, $5)" \
	" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2" \
	" AND (($3 IS NOT NULL AND (c.last_seen_at IS NULL OR c.last_seen_at OPERATOR(pg_catalog.<) $3))" \
	" OR ($4 IS NOT NULL AND (c.first_seen_at IS NULL OR c.first_seen_at OPERATOR(pg_catalog.>) $4))" \
	" OR ($5 IS NOT NULL AND (c.last_conversation_at IS NULL OR c.last_conversation_at OPERATOR(pg_catalog.<) $5)))"

/*
 * For a conversation ($1, $2) whose new messages start at ($3, $4) and
 * number $5: whether they are its last ones, whether the message before
 * them is the contact's, and then the start of the contact's unanswered run
 */
#define BEFORE_SQL \
	"SELECT (SELECT pg_catalog.count(*) FROM crm.messages m" \
	"         WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2" \
	"           AND m.sent_at OPERATOR(pg_catalog.>=) $3" \
	"           AND (m.sent_at, m.id) OPERATOR(pg_catalog.>=) ($3, $4)) OPERATOR(pg_catalog.=) $5," \
	" p.sender OPERATOR(pg_catalog.=) 'contact'::crm.message_sender," \
	" CASE WHEN p.sender OPERATOR(pg_catalog.=) 'contact'::crm.message_sender THEN" \
	"  CASE WHEN cv.messages_out OPERATOR(pg_catalog.=) 0 THEN cv.first_message_at" \
	"  ELSE (SELECT pg_catalog.min(m.sent_at) FROM crm.messages m" \
	"         WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2" \
	"           AND m.sent_at OPERATOR(pg_catalog.>=) o.sent_at AND (m.sent_at, m.id) OPERATOR(pg_catalog.>) (o.sent_at, o.id)" \
	"           AND (m.sent_at, m.id) OPERATOR(pg_catalog.<) ($3, $4)) END" \
	" END" \
	" FROM crm.conversations cv" \
	" LEFT JOIN LATERAL (SELECT m.sender FROM crm.messages m" \
	"         WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2" \
	"           AND m.sent_at OPERATOR(pg_catalog.<=) $3 AND (m.sent_at, m.id) OPERATOR(pg_catalog.<) ($3, $4)" \
	"         ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) p ON true" \
	" LEFT JOIN LATERAL (SELECT m.sent_at, m.id FROM crm.messages m" \
	"         WHERE p.sender OPERATOR(pg_catalog.=) 'contact'::crm.message_sender" \
	"           AND cv.messages_out OPERATOR(pg_catalog.>) 0" \
	"           AND m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.conversation_id OPERATOR(pg_catalog.=) $2" \
	"           AND m.sender OPERATOR(pg_catalog.<>) 'contact'::crm.message_sender" \
	"           AND m.sent_at OPERATOR(pg_catalog.<=) $3 AND (m.sent_at, m.id) OPERATOR(pg_catalog.<) ($3, $4)" \
	"         ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) o ON true" \
	" WHERE cv.workspace_id OPERATOR(pg_catalog.=) $1 AND cv.id OPERATOR(pg_catalog.=) $2"

#define DELTA_SQL \
	"UPDATE crm.conversations cv" \
	" SET first_message_at = LEAST(cv.first_message_at, $3)," \
	" last_message_at = GREATEST(cv.last_message_at, $4)," \
	" messages_in = cv.messages_in OPERATOR(pg_catalog.+) $5, messages_out = cv.messages_out OPERATOR(pg_catalog.+) $6," \
	" last_inbound_at = GREATEST(cv.last_inbound_at, $7)," \
	" last_outbound_at = GREATEST(cv.last_outbound_at, $8)," \
	" first_response_seconds = COALESCE(cv.first_response_seconds, $9)," \
	" response_count = cv.response_count OPERATOR(pg_catalog.+) $10," \
	" response_seconds = cv.response_seconds OPERATOR(pg_catalog.+) $11" \
	" WHERE cv.workspace_id OPERATOR(pg_catalog.=) $1 AND cv.id OPERATOR(pg_catalog.=) $2"

#define RECOMPUTE_SQL \
	"SELECT crm_hidden.sync_conversation_statistics($1, $2)"

static SPIPlanPtr lock_plan,
			contact_plan,
			before_plan,
			delta_plan,
			recompute_plan;

static SPIPlanPtr
PreparedPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "messages_append: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

static int
CompareMessages(const void *pa, const void *pb)
{
	const NewMessage *a = pa,
			   *b = pb;

	if (a->ws != b->ws)
		return a->ws < b->ws ? -1 : 1;
	if (a->conversation != b->conversation)
		return a->conversation < b->conversation ? -1 : 1;
	if (a->sent_at != b->sent_at)
		return a->sent_at < b->sent_at ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

/* Contacts in key order, for the lock order of crm.contacts */
static int
CompareContacts(const void *pa, const void *pb)
{
	const Touched *a = pa,
			   *b = pb;

	if (a->ws != b->ws)
		return a->ws < b->ws ? -1 : 1;
	return (a->contact > b->contact) - (a->contact < b->contact);
}

/* The new rows, sorted by conversation and then as a conversation orders its messages */
static NewMessage *
ReadNewRows(TriggerData *td, int *count)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	Tuplestorestate *ts = td->tg_newtable;
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int64		rows = tuplestore_tuple_count(ts);
	NewMessage *msgs = palloc(sizeof(NewMessage) * Max(rows, 1));
	int			a_ws = SPI_fnumber(desc, "workspace_id"),
				a_conv = SPI_fnumber(desc, "conversation_id"),
				a_sender = SPI_fnumber(desc, "sender"),
				a_sent = SPI_fnumber(desc, "sent_at"),
				a_id = SPI_fnumber(desc, "id");
	Oid			contact = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										  ObjectIdGetDatum(TupleDescAttr(desc, a_sender - 1)->atttypid),
										  CStringGetDatum("contact"));
	int			n = 0;

	if (!OidIsValid(contact))
		elog(ERROR, "messages_append: crm.message_sender has no label contact");
	/* a read pointer of its own: the events trigger reads the same table */
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull;
		NewMessage *m = &msgs[n++];

		m->ws = DatumGetInt64(slot_getattr(slot, a_ws, &isnull));
		m->conversation = DatumGetInt64(slot_getattr(slot, a_conv, &isnull));
		m->inbound = DatumGetObjectId(slot_getattr(slot, a_sender, &isnull)) == contact;
		m->sent_at = DatumGetTimestampTz(slot_getattr(slot, a_sent, &isnull));
		m->id = DatumGetInt64(slot_getattr(slot, a_id, &isnull));
	}
	ExecDropSingleTupleTableSlot(slot);
	qsort(msgs, n, sizeof(NewMessage), CompareMessages);
	*count = n;
	return msgs;
}

/* Locks each conversation, in key order, and reads its contact */
static void
LockConversations(Touched *convs, int n)
{
	SPIPlanPtr	plan = PreparedPlan(&lock_plan, LOCK_SQL, 2, (Oid[]) {INT8OID, INT8OID});

	for (int i = 0; i < n; i++)
	{
		Datum		args[2] = {Int64GetDatum(convs[i].ws), Int64GetDatum(convs[i].conversation)};
		bool		isnull;

		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "messages_append: lock failed");
		if (SPI_processed != 1)	/* the foreign key saw it: another role's policy hides it */
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("conversation " INT64_FORMAT " is not visible to the writer", convs[i].conversation)));
		convs[i].contact = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* One update per contact: its seen times and the latest time of its conversations */
static void
UpdateContacts(Touched *convs, int n, NewMessage *msgs)
{
	SPIPlanPtr	plan = PreparedPlan(&contact_plan, CONTACT_SQL, 5,
							(Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID});
	Touched    *byc = palloc(sizeof(Touched) * n);

	memcpy(byc, convs, sizeof(Touched) * n);
	qsort(byc, n, sizeof(Touched), CompareContacts);
	for (int i = 0; i < n;)
	{
		Datum		args[5] = {Int64GetDatum(byc[i].ws), Int64GetDatum(byc[i].contact)};
		char		nulls[5] = "     ";
		bool		any_in = false;
		TimestampTz in_first = 0,
					in_last = 0,
					last = 0;
		bool		any = false;
		int			j;

		for (j = i; j < n && byc[j].ws == byc[i].ws && byc[j].contact == byc[i].contact; j++)
			for (int k = byc[j].first; k < byc[j].first + byc[j].n; k++)
			{
				NewMessage *m = &msgs[k];

				if (!any || m->sent_at > last)
					last = m->sent_at;
				any = true;
				if (m->inbound)
				{
					if (!any_in || m->sent_at < in_first)
						in_first = m->sent_at;
					if (!any_in || m->sent_at > in_last)
						in_last = m->sent_at;
					any_in = true;
				}
			}
		args[2] = TimestampTzGetDatum(in_last);
		args[3] = TimestampTzGetDatum(in_first);
		args[4] = TimestampTzGetDatum(last);
		if (!any_in)
			nulls[2] = nulls[3] = 'n';
		if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "messages_append: contact update failed");
		i = j;
	}
}

/*
 * Adds the deltas of an appending conversation's new messages: prev_inbound
 * says the message before them is the contact's, whose unanswered run
 * started at run_since.
 */
static void
AddDeltas(Touched *cv, NewMessage *msgs, bool prev_inbound, TimestampTz run_since)
{
	SPIPlanPtr	plan = PreparedPlan(&delta_plan, DELTA_SQL, 11,
							(Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, INT4OID, FLOAT8OID});
	Datum		args[11];
	char		nulls[12] = "           ";
	int32		n_in = 0,
				n_out = 0,
				n_waits = 0;
	bool		in_run = prev_inbound;
	TimestampTz run_start = run_since,
				in_at = 0,
				out_at = 0;
	double		first_wait = 0,
				waited = 0;
	NewMessage *m = &msgs[cv->first];

	for (int k = 0; k < cv->n; k++, m++)
	{
		if (m->inbound)
		{
			n_in++;
			in_at = m->sent_at;
			if (!in_run)
				run_start = m->sent_at;
			in_run = true;
			continue;
		}
		n_out++;
		out_at = m->sent_at;
		if (in_run)
		{
			/* extract(epoch FROM interval) of microseconds: the same double */
			double		seconds = (double) (m->sent_at - run_start) / USECS_PER_SEC;

			if (n_waits++ == 0)
				first_wait = seconds;
			waited += seconds;
		}
		in_run = false;
	}
	args[0] = Int64GetDatum(cv->ws);
	args[1] = Int64GetDatum(cv->conversation);
	args[2] = TimestampTzGetDatum(msgs[cv->first].sent_at);
	args[3] = TimestampTzGetDatum(msgs[cv->first + cv->n - 1].sent_at);
	args[4] = Int32GetDatum(n_in);
	args[5] = Int32GetDatum(n_out);
	args[6] = TimestampTzGetDatum(in_at);
	args[7] = TimestampTzGetDatum(out_at);
	args[8] = Float8GetDatum(first_wait);
	args[9] = Int32GetDatum(n_waits);
	args[10] = Float8GetDatum(waited);
	nulls[6] = n_in > 0 ? ' ' : 'n';
	nulls[7] = n_out > 0 ? ' ' : 'n';
	nulls[8] = n_waits > 0 ? ' ' : 'n';
	if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "messages_append: conversation update failed");
}

/*
 * Whether a conversation's new messages are its last ones; if so, what
 * precedes them (false, and the caller recomputes, otherwise)
 */
static bool
Appends(Touched *cv, NewMessage *msgs, bool *prev_inbound, TimestampTz *run_since)
{
	SPIPlanPtr	plan = PreparedPlan(&before_plan, BEFORE_SQL, 5,
							(Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID});
	NewMessage *f = &msgs[cv->first];
	Datum		args[5] = {Int64GetDatum(cv->ws), Int64GetDatum(cv->conversation), TimestampTzGetDatum(f->sent_at),
	Int64GetDatum(f->id), Int64GetDatum(cv->n)};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull,
				appended;

	for (int k = cv->first; k < cv->first + cv->n; k++)
		if (TIMESTAMP_NOT_FINITE(msgs[k].sent_at))
			return false;		/* the recomputation's arithmetic decides */
	if (CrmExecuteByIndex(plan, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "messages_append: conversation " INT64_FORMAT " not found", cv->conversation);
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	appended = DatumGetBool(SPI_getbinval(row, desc, 1, &isnull));
	if (!appended)
		return false;
	*prev_inbound = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull)) && !isnull;
	*run_since = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
	if (*prev_inbound && (isnull || TIMESTAMP_NOT_FINITE(*run_since)))
		return false;
	return true;
}

/* Recomputes the given conversations from all their messages */
static void
Recompute(Touched *convs, int n)
{
	SPIPlanPtr	plan = PreparedPlan(&recompute_plan, RECOMPUTE_SQL, 2, (Oid[]) {INT8ARRAYOID, INT8ARRAYOID});
	Datum	   *ws = palloc(sizeof(Datum) * n);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum		args[2];

	for (int i = 0; i < n; i++)
	{
		ws[i] = Int64GetDatum(convs[i].ws);
		ids[i] = Int64GetDatum(convs[i].conversation);
	}
	args[0] = PointerGetDatum(construct_array(ws, n, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "messages_append: recomputation failed");
}

Datum
crm_messages_append(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	NewMessage *msgs;
	Touched    *convs,
			   *full;
	int			nmsgs,
				nconvs = 0,
				nfull = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		td->tg_newtable == NULL)
		elog(ERROR, "messages_append: must be an AFTER INSERT statement trigger with a NEW TABLE");
	if (tuplestore_tuple_count(td->tg_newtable) == 0)
		return PointerGetDatum(NULL);

	SPI_connect();
	msgs = ReadNewRows(td, &nmsgs);
	convs = palloc(sizeof(Touched) * nmsgs);
	for (int i = 0; i < nmsgs; i++)
	{
		if (nconvs == 0 || convs[nconvs - 1].ws != msgs[i].ws ||
			convs[nconvs - 1].conversation != msgs[i].conversation)
		{
			convs[nconvs].ws = msgs[i].ws;
			convs[nconvs].conversation = msgs[i].conversation;
			convs[nconvs].first = i;
			convs[nconvs].n = 0;
			nconvs++;
		}
		convs[nconvs - 1].n++;
	}

	LockConversations(convs, nconvs);
	UpdateContacts(convs, nconvs, msgs);

	full = palloc(sizeof(Touched) * nconvs);
	for (int i = 0; i < nconvs; i++)
	{
		bool		prev_inbound = false;
		TimestampTz run_since = 0;

		if (Appends(&convs[i], msgs, &prev_inbound, &run_since))
			AddDeltas(&convs[i], msgs, prev_inbound, run_since);
		else
			full[nfull++] = convs[i];
	}
	if (nfull > 0)
		Recompute(full, nfull);
	SPI_finish();
	return PointerGetDatum(NULL);
}
