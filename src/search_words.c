/*-------------------------------------------------------------------------
 *
 * search_words.c
 *	  The fuzzy-search dictionary: the distinct words of contact names and
 *	  email local parts and of company names, domains and industries, one
 *	  row per (workspace, word) in crm.search_words.
 *
 * Fuzzy search matches the term against this dictionary (thousands of
 * words) instead of against every row (where a misspelt surname has
 * thousands of trigram candidates), then fetches the rows holding the
 * matched words.
 *
 * crm_internal.keep_search_words(column, ...) is an AFTER INSERT / UPDATE statement
 * trigger that adds the new words of the changed rows (INSERT ... ON
 * CONFLICT DO NOTHING, so the dictionary is exact at commit).  Most writes
 * bring no new word, so the words known to be committed are remembered per
 * backend and a write whose words are all known runs no query: the trigger
 * must cost a contact write next to nothing.  Words a transaction inserted
 * become "known" only when it commits; an aborted (sub)transaction forgets
 * them, and they are simply inserted again (a lookup) by the next write.
 * Ordinary deletes leave words behind: a word whose last row is gone costs
 * one index probe in a search that finds nothing for it.  GDPR erasure
 * (crm.delete_contact(..., hard => true)) deletes the erased person's words
 * that no other contact uses, and the relcache invalidation that deletion
 * sends makes every backend forget what it knew.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_keep_search_words);
PG_FUNCTION_INFO_V1(crm_search_words_of);

/* longer words are left out of the dictionary (and of fuzzy queries) */
#define MAX_WORD_BYTES 63
/* a backend forgets what it knows past this many words, and starts again */
#define MAX_KNOWN_WORDS 200000

typedef struct WordKey
{
	int64		workspace_id;
	int16		field;			/* crm.search_words.field */
	char		word[MAX_WORD_BYTES + 1];	/* zero-padded: hashed as a blob */
} WordKey;

static HTAB *known_words = NULL;	/* committed in crm.search_words */
static HTAB *pending_words = NULL;	/* inserted by the open transaction */
static SPIPlanPtr insert_plan = NULL;
static bool callbacks_registered = false;
static Oid	words_relid = InvalidOid;	/* crm.search_words, once looked up */

static HTAB *
WordTable(const char *name)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(WordKey);
	ctl.entrysize = sizeof(WordKey);
	ctl.hcxt = TopMemoryContext;
	return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
ForgetPending(void)
{
	if (pending_words != NULL)
	{
		hash_destroy(pending_words);
		pending_words = NULL;
	}
}

static void
ForgetKnown(void)
{
	if (known_words != NULL)
	{
		hash_destroy(known_words);
		known_words = NULL;
	}
}

static void
SearchWordsXactCallback(XactEvent event, void *arg)
{
	if (pending_words == NULL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		HASH_SEQ_STATUS seq;
		WordKey    *w;

		if (known_words == NULL || hash_get_num_entries(known_words) > MAX_KNOWN_WORDS)
		{
			ForgetKnown();
			known_words = WordTable("crm known search words");
		}
		hash_seq_init(&seq, pending_words);
		while ((w = hash_seq_search(&seq)) != NULL)
			hash_search(known_words, w, HASH_ENTER, NULL);
		ForgetPending();
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_PREPARE)
		ForgetPending();
}

/* what an aborted subtransaction inserted is gone: forget all pending words */
static void
SearchWordsSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ForgetPending();
}

/* the dictionary dropped, truncated or recreated: nothing known holds */
void
CrmSearchWordsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == words_relid)
		ForgetKnown();
}

/*
 * Calls emit(word, len, arg) for each word of s: a maximal run of letters
 * (ASCII letters and any non-ASCII character), lower-cased by the caller,
 * of 2 to MAX_WORD_BYTES bytes.  With stop_at_at, s ends at its first '@'
 * (an email's local part).
 */
typedef void (*WordEmitter) (const char *word, int len, void *arg);

static void
ForEachWord(const char *s, bool stop_at_at, WordEmitter emit, void *arg)
{
	const char *start = NULL;
	const char *p = s;
	int			nchars = 0;

	for (;;)
	{
		unsigned char c = (unsigned char) *p;
		bool		letter = (c >= 0x80) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (c == '\0' || (stop_at_at && c == '@') || !letter)
		{
			if (start != NULL && nchars >= 2 && p - start <= MAX_WORD_BYTES)
				emit(start, (int) (p - start), arg);
			start = NULL;
			nchars = 0;
			if (c == '\0' || (stop_at_at && c == '@'))
				break;
			p++;
			continue;
		}
		if (start == NULL)
			start = p;
		nchars++;
		p += pg_mblen(p);
	}
}

static char *
LowerText(Datum value)
{
	text	   *t = DatumGetTextPP(value);

	return str_tolower(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), DEFAULT_COLLATION_OID);
}

typedef struct NewWords
{
	int64		workspace_id;
	int16		field;
	HTAB	   *seen;			/* this statement's words, to ask once each */
	Datum	   *ws;
	Datum	   *fields;
	Datum	   *words;
	int			n;
	int			cap;
} NewWords;

static void
CollectWord(const char *word, int len, void *arg)
{
	NewWords   *nw = (NewWords *) arg;
	WordKey		key;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.workspace_id = nw->workspace_id;
	key.field = nw->field;
	memcpy(key.word, word, len);
	if (known_words != NULL && hash_search(known_words, &key, HASH_FIND, NULL) != NULL)
		return;
	if (pending_words != NULL && hash_search(pending_words, &key, HASH_FIND, NULL) != NULL)
		return;
	if (nw->seen == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(WordKey);
		ctl.entrysize = sizeof(WordKey);
		ctl.hcxt = CurrentMemoryContext;
		nw->seen = hash_create("crm statement search words", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	hash_search(nw->seen, &key, HASH_ENTER, &found);
	if (found)
		return;
	if (nw->n == nw->cap)
	{
		nw->cap = nw->cap ? nw->cap * 2 : 16;
		nw->ws = nw->ws ? repalloc(nw->ws, nw->cap * sizeof(Datum)) : palloc(nw->cap * sizeof(Datum));
		nw->fields = nw->fields ? repalloc(nw->fields, nw->cap * sizeof(Datum)) : palloc(nw->cap * sizeof(Datum));
		nw->words = nw->words ? repalloc(nw->words, nw->cap * sizeof(Datum)) : palloc(nw->cap * sizeof(Datum));
	}
	nw->ws[nw->n] = Int64GetDatum(nw->workspace_id);
	nw->fields[nw->n] = Int16GetDatum(nw->field);
	nw->words[nw->n] = PointerGetDatum(cstring_to_text_with_len(word, len));
	nw->n++;
}

static void
RegisterCallbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(SearchWordsXactCallback, NULL);
	RegisterSubXactCallback(SearchWordsSubXactCallback, NULL);
	callbacks_registered = true;
}

/*
 * crm_internal.keep_search_words(column=field, ...): AFTER INSERT OR UPDATE FOR EACH
 * STATEMENT with REFERENCING NEW TABLE (and OLD TABLE on UPDATE, to skip the
 * values an update left alone).  Each argument names a text column
 * and the field number its words are recorded under; "email@=2" takes the
 * column's part before '@'.
 */
Datum
crm_keep_search_words(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	TupleDesc	tupdesc;
	TupleTableSlot *slot;
	TupleTableSlot *oldslot = NULL;
	int			ws_attnum;
	int		   *attnums;
	bool	   *local_part;
	int16	   *fields;
	int			ncols;
	int			i;
	NewWords	nw;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_newtable == NULL ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("keep_search_words: must be an AFTER statement trigger with REFERENCING NEW TABLE")));

	RegisterCallbacks();
	trigger = trigdata->tg_trigger;
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	ws_attnum = SPI_fnumber(tupdesc, "workspace_id");
	ncols = trigger->tgnargs;
	attnums = palloc(sizeof(int) * (ncols + 1));
	local_part = palloc(sizeof(bool) * (ncols + 1));
	fields = palloc(sizeof(int16) * (ncols + 1));
	for (i = 0; i < ncols; i++)
	{
		char	   *col = pstrdup(trigger->tgargs[i]);
		char	   *eq = strchr(col, '=');
		size_t		len;

		if (eq == NULL || atoi(eq + 1) <= 0)
			elog(ERROR, "keep_search_words: argument \"%s\" is not column=field", col);
		fields[i] = (int16) atoi(eq + 1);
		*eq = '\0';
		len = strlen(col);

		local_part[i] = len > 0 && col[len - 1] == '@';
		if (local_part[i])
			col[len - 1] = '\0';
		attnums[i] = SPI_fnumber(tupdesc, col);
		if (attnums[i] <= 0 || TupleDescAttr(tupdesc, attnums[i] - 1)->atttypid != TEXTOID)
			elog(ERROR, "keep_search_words: \"%s\" is not a text column of %s",
				 col, RelationGetRelationName(trigdata->tg_relation));
	}
	if (ws_attnum <= 0)
		elog(ERROR, "keep_search_words: %s has no workspace_id",
			 RelationGetRelationName(trigdata->tg_relation));

	memset(&nw, 0, sizeof(nw));
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	tuplestore_rescan(trigdata->tg_newtable);
	/* an update's rows pair up with their old versions, in the same order */
	if (trigdata->tg_oldtable != NULL)
	{
		oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		tuplestore_rescan(trigdata->tg_oldtable);
	}
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (oldslot != NULL && !tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, oldslot))
			elog(ERROR, "keep_search_words: transition tables of different length");
		nw.workspace_id = DatumGetInt64(slot_getattr(slot, ws_attnum, &isnull));
		for (i = 0; i < ncols; i++)
		{
			Datum		value = slot_getattr(slot, attnums[i], &isnull);

			if (isnull)
				continue;
			/* a value the update left alone brought its words in already */
			if (oldslot != NULL)
			{
				bool		oldnull;
				Datum		old = slot_getattr(oldslot, attnums[i], &oldnull);

				if (!oldnull && datum_image_eq(old, value, false, -1))
					continue;
			}
			nw.field = fields[i];
			ForEachWord(LowerText(value), local_part[i], CollectWord, &nw);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);

	if (nw.n > 0)
	{
		Datum		args[3];
		Oid			argtypes[3] = {INT8ARRAYOID, INT2ARRAYOID, TEXTARRAYOID};
		int			rc;
		CrmSavedUser saved;

		args[0] = PointerGetDatum(construct_array(nw.ws, nw.n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(nw.fields, nw.n, INT2OID, 2, true, TYPALIGN_SHORT));
		args[2] = PointerGetDatum(construct_array(nw.words, nw.n, TEXTOID, -1, false, TYPALIGN_INT));
		words_relid = get_relname_relid("search_words", get_namespace_oid("crm", false));
		/* the dictionary is derived: granted roles may only read it */
		CrmBecomeOwner(CrmRelationOwner(words_relid), &saved);
		SPI_connect();
		if (insert_plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(
				"INSERT INTO crm.search_words (workspace_id, field, word) "
				"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
				"ON CONFLICT (workspace_id, word, field) DO NOTHING", 3, argtypes);

			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "keep_search_words: SPI_prepare failed (%s)",
					 SPI_result_code_string(SPI_result));
			insert_plan = plan;
		}
		rc = SPI_execute_plan(insert_plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "keep_search_words: insert failed (%s)", SPI_result_code_string(rc));
		SPI_finish();
		CrmRestoreUser(&saved);

		if (pending_words == NULL)
			pending_words = WordTable("crm pending search words");
		{
			HASH_SEQ_STATUS seq;
			WordKey    *w;

			hash_seq_init(&seq, nw.seen);
			while ((w = hash_seq_search(&seq)) != NULL)
				hash_search(pending_words, w, HASH_ENTER, NULL);
		}
	}
	return PointerGetDatum(NULL);
}

/*
 * crm_hidden.search_words_of(text) returns text[]: the words of a value as the
 * dictionary holds them (lower case, runs of letters, 2 to 63 bytes), in
 * order, each once.  Fuzzy search splits its term with it.
 */
typedef struct WordList
{
	ArrayBuildState *astate;
	List	   *seen;
} WordList;

static void
ListWord(const char *word, int len, void *arg)
{
	WordList   *wl = (WordList *) arg;
	char	   *w = pnstrdup(word, len);
	ListCell   *lc;

	foreach(lc, wl->seen)
		if (strcmp(lfirst(lc), w) == 0)
			return;
	wl->seen = lappend(wl->seen, w);
	wl->astate = accumArrayResult(wl->astate, PointerGetDatum(cstring_to_text_with_len(word, len)),
								  false, TEXTOID, CurrentMemoryContext);
}

Datum
crm_search_words_of(PG_FUNCTION_ARGS)
{
	WordList	wl = {NULL, NIL};

	ForEachWord(LowerText(PG_GETARG_DATUM(0)), false, ListWord, &wl);
	if (wl.astate == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	PG_RETURN_DATUM(makeArrayResult(wl.astate, CurrentMemoryContext));
}
