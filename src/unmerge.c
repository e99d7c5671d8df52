/*-------------------------------------------------------------------------
 *
 * unmerge.c
 *	  Undoing a merge from its record in crm.merges, and the preview of
 *	  that: the steps every object type shares, and those of contacts.
 *	  Companies describe theirs in unmerge_companies.c (unmerge.h).
 *
 * A merge records the duplicate's row as it was, the survivor's fields it
 * overwrote, and by reference (merge.h) the keys of the rows it moved, the
 * rows it dropped and the flags it cleared.  An unmerge moves back the
 * recorded rows that still point at the survivor, reverts the survivor's
 * fields that still hold what the merge wrote (reporting the others), makes
 * the duplicate live again with its keys, and takes its history back.  Rows
 * written for the survivor since stay with it.
 *
 * Concurrency: the same per-workspace lock as merge, then both contacts FOR
 * UPDATE in id order, then the record: an unmerge and a merge or identify on
 * the same people queue, in the one order, and the second sees the first's
 * outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "crm.h"
#include "merge.h"
#include "unmerge.h"

PG_FUNCTION_INFO_V1(crm_unmerge);
PG_FUNCTION_INFO_V1(crm_unmerge_preview);
PG_FUNCTION_INFO_V1(crm_unmerge_in);

typedef UnmergeRecord Record;

static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr lock_record_plan = NULL;
static SPIPlanPtr contacts_plan = NULL;
static SPIPlanPtr later_plan = NULL;
static SPIPlanPtr fields_plan = NULL;
static SPIPlanPtr keys_plan = NULL;
static SPIPlanPtr restore_plan = NULL;
static SPIPlanPtr activity_plans[2] = {NULL, NULL};
static SPIPlanPtr undone_plan = NULL;
static SPIPlanPtr keylock_plan = NULL;

static Oid	unmerge_argtypes[5] = {INT8OID, INT8OID, INT8OID, JSONBOID, JSONBOID};

SPIPlanPtr
CrmUnmergePrepare(SPIPlanPtr *cache, const char *sql, int nargs)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, unmerge_argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "crm unmerge: preparing failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), sql);
		*cache = plan;
	}
	return *cache;
}

static Datum
GetJsonb(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? (Datum) 0 : datumCopy(d, false, -1);
}

static Oid
MergesOwner(void)
{
	Oid			relid = get_relname_relid("merges", get_namespace_oid("crm", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database has no merge records"),
				 errhint("Update the extension: ALTER EXTENSION crm UPDATE.")));
	return CrmRelationOwner(relid);
}

/*
 * The record, read as the owner in the current workspace (lock set: FOR
 * UPDATE); checks what makes it impossible to undo.  Whether the caller may
 * see it is a question of its contacts (CheckContacts).
 */
static void
MergeNotFound(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("merge " INT64_FORMAT " does not exist", id),
			 errhint("Find the merge in crm.merges (loser_id is the contact or company it absorbed); records older than the workspace's merge_retention_days are purged.")));
}

static const UnmergeKind *
ReadRecord(int64 ws, int64 id, bool lock, Record *rec)
{
	const UnmergeKind *kind;
	Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
	CrmSavedUser saved;
	bool		isnull;
	char	   *object_type;
	char	   *undone;
	bool		erased;

	CrmBecomeOwner(MergesOwner(), &saved);
	if (SPI_execute_plan(lock ? CrmUnmergePrepare(&lock_record_plan,
										"SELECT m.survivor_id, m.loser_id, m.object_type, m.undone_at::pg_catalog.text,"
										"       m.loser_row IS NULL, m.loser_row, m.overwritten, m.moved, m.dropped,"
										"       m.demoted, m.history"
										"  FROM crm.merges m"
										" WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.id OPERATOR(pg_catalog.=) $2"
										"   FOR UPDATE", 2)
						 : CrmUnmergePrepare(&record_plan,
								   "SELECT m.survivor_id, m.loser_id, m.object_type, m.undone_at::pg_catalog.text,"
								   "       m.loser_row IS NULL, m.loser_row, m.overwritten, m.moved, m.dropped,"
								   "       m.demoted, m.history"
								   "  FROM crm.merges m"
								   " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.id OPERATOR(pg_catalog.=) $2", 2),
						 values, NULL, !lock, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: reading the merge record failed");
	CrmRestoreUser(&saved);
	if (SPI_processed == 0)
		MergeNotFound(id);
	rec->id = id;
	rec->survivor = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	rec->loser = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	object_type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	undone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	erased = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	rec->loser_row = GetJsonb(6);
	rec->overwritten = GetJsonb(7);
	rec->moved = GetJsonb(8);
	rec->dropped = GetJsonb(9);
	rec->demoted = GetJsonb(10);
	rec->history = GetJsonb(11);

	if (strcmp(object_type, crm_unmerge_company.object_type) == 0)
		kind = &crm_unmerge_company;
	else if (strcmp(object_type, crm_unmerge_contact.object_type) == 0)
		kind = &crm_unmerge_contact;
	else
		elog(ERROR, "crm unmerge: merge " INT64_FORMAT " has the unknown object type %s", id, object_type);
	if (undone != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("merge " INT64_FORMAT " was already undone", id),
				 errhint("%s " INT64_FORMAT " is live again; merge it anew with %s if that was wrong.",
						 kind->title, rec->loser, kind->merge_function)));
	if (erased)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("merge " INT64_FORMAT " can no longer be undone: its copy of contact " INT64_FORMAT " was erased",
						id, rec->loser),
				 errhint("An erasure of either person (crm.delete_contact(id, hard => true), or a row DELETE of the contact) erases the merge record's copy of them.")));
	return kind;
}

/*
 * The latest merge that absorbed loser and holds, as the caller sees it:
 * the one to undo first; 0 when there is none.
 */
int64
CrmUnmergeLaterMerge(int64 ws, const char *object_type, int64 loser)
{
	Datum		values[3] = {Int64GetDatum(ws), Int64GetDatum(loser), CStringGetTextDatum(object_type)};
	Oid			argtypes[3] = {INT8OID, INT8OID, TEXTOID};
	bool		isnull;

	if (later_plan == NULL)
	{
		later_plan = SPI_prepare("SELECT m.id FROM crm.merges m"
								 " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.loser_id OPERATOR(pg_catalog.=) $2"
								 "   AND m.object_type OPERATOR(pg_catalog.=) $3 AND m.undone_at IS NULL"
								 " ORDER BY m.id DESC LIMIT 1", 3, argtypes);
		if (later_plan == NULL || SPI_keepplan(later_plan) != 0)
			elog(ERROR, "crm unmerge: preparing the later merge's lookup failed");
	}
	/* not read-only: a fresh snapshot, taken after the merge lock, sees the merge that took it before us */
	if (SPI_execute_plan(later_plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Both contacts as the caller sees them, locked in id order (as merge locks):
 * a contact the caller cannot see does not exist for them.  The survivor
 * must be live and the duplicate still merged into it.
 */
static Datum
CheckContacts(int64 ws, Record *rec)
{
	Datum		values[3] = {Int64GetDatum(ws), Int64GetDatum(rec->survivor), Int64GetDatum(rec->loser)};
	bool		found_s = false,
				found_l = false;
	Datum		survivor_row = (Datum) 0;
	char	   *s_status = NULL;
	char	   *l_status = NULL;
	int64		l_into = 0;

	if (SPI_execute_plan(CrmUnmergePrepare(&contacts_plan,
								 "SELECT c.id, c.status::pg_catalog.text, c.merged_into, pg_catalog.to_jsonb(c)"
								 "  FROM crm.contacts c"
								 " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])"
								 " ORDER BY c.id FOR UPDATE", 3),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: locking the contacts failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

		if (id == rec->survivor)
		{
			found_s = true;
			s_status = SPI_getvalue(tup, desc, 2);
			survivor_row = datumCopy(SPI_getbinval(tup, desc, 4, &isnull), false, -1);
		}
		else
		{
			Datum		into = SPI_getbinval(tup, desc, 3, &isnull);

			found_l = true;
			l_status = SPI_getvalue(tup, desc, 2);
			l_into = isnull ? 0 : DatumGetInt64(into);
		}
	}
	if (!found_s || !found_l)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("contact " INT64_FORMAT " does not exist", found_s ? rec->loser : rec->survivor),
				 errhint("Check the merge id; contacts of other workspaces, and those owner-based privacy hides from you, are not visible here.")));
	if (strcmp(s_status, "merged") == 0)
	{
		int64		later = CrmUnmergeLaterMerge(ws, "contact", rec->survivor);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("contact " INT64_FORMAT ", the survivor of merge " INT64_FORMAT ", was merged itself since",
						rec->survivor, rec->id),
				 later ? errhint("Undo the later merge first: crm.unmerge(" INT64_FORMAT ").", later)
				 : errhint("The later merge has no record left; merge " INT64_FORMAT " cannot be undone.", rec->id)));
	}
	if (strcmp(s_status, "deleted") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("contact " INT64_FORMAT ", the survivor of merge " INT64_FORMAT ", is deleted",
						rec->survivor, rec->id),
				 errhint("Restore it first: UPDATE crm.contacts SET status = 'active' WHERE id = " INT64_FORMAT ".",
						 rec->survivor)));
	if (strcmp(l_status, "merged") != 0 || l_into != rec->survivor)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("contact " INT64_FORMAT " is no longer merged into contact " INT64_FORMAT,
						rec->loser, rec->survivor),
				 errhint("A later merge or erasure changed it; merge " INT64_FORMAT " cannot be undone.", rec->id)));
	return survivor_row;
}

/* The array at key label of a record's JSON object; 0 when absent */
Datum
CrmUnmergeEntry(Datum object, const char *label, const char *suffix)
{
	JsonbValue	k;
	JsonbValue *v;
	char	   *key = suffix ? psprintf("%s#%s", label, suffix) : (char *) label;

	if (object == (Datum) 0)
		return (Datum) 0;
	k.type = jbvString;
	k.val.string.val = key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&DatumGetJsonbP(object)->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvBinary)
		return (Datum) 0;
	return JsonbPGetDatum(JsonbValueToJsonb(v));
}

static int64
Count(SPIPlanPtr plan, Datum *values)
{
	bool		isnull;

	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm unmerge: count failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
AppendCount(StringInfo obj, const char *label, int64 n)
{
	if (n == 0)
		return;
	appendStringInfoString(obj, obj->len > 1 ? ", " : "");
	escape_json(obj, label);
	appendStringInfo(obj, ": " INT64_FORMAT, n);
}

/*
 * The rows of every reference back to the duplicate (or, for a preview,
 * how many would go): the moved rows still on the survivor, the dropped
 * rows inserted again, the cleared flags set again.
 */
void
CrmUnmergeMoveBack(ContactRef *refs, int nrefs, Datum *values, Record *rec, bool preview,
				   StringInfo moved, StringInfo restored)
{
	for (int i = 0; i < nrefs; i++)
	{
		ContactRef *ref = &refs[i];
		Datum		keys = CrmUnmergeEntry(rec->moved, ref->label, NULL);
		Datum		rows = CrmUnmergeEntry(rec->dropped, ref->label, NULL);

		if (keys != (Datum) 0)
		{
			values[3] = keys;
			if (preview)
				AppendCount(moved, ref->label, Count(ref->count_back_plan, values));
			else
			{
				bool		as_owner = CrmMergeMovesAsOwner(ref);
				CrmSavedUser saved;
				int			ret;

				if (as_owner)
					CrmBecomeOwner(CrmRelationOwner(ref->relid), &saved);
				ret = SPI_execute_plan(ref->back_plan, values, NULL, false, 0);
				if (as_owner)
					CrmRestoreUser(&saved);
				if (ret != SPI_OK_UPDATE)
					elog(ERROR, "crm unmerge: moving rows of %s back failed", ref->label);
				AppendCount(moved, ref->label, SPI_processed);
			}
		}
		for (int j = 0; j < ref->nclashes && !preview; j++)
		{
			ClashRule  *rule = &ref->clashes[j];
			Datum		arg = rule->demote ? CrmUnmergeEntry(rec->demoted, ref->label, rule->flag) : rows;
			int			ret;

			if (arg == (Datum) 0)
				continue;
			values[3] = arg;
			ret = SPI_execute_plan(rule->undo_plan, values, NULL, false, 0);
			if (ret != SPI_OK_INSERT && ret != SPI_OK_UPDATE)
				elog(ERROR, "crm unmerge: restoring rows of %s failed", ref->label);
			if (!rule->demote)
			{
				AppendCount(restored, ref->label, SPI_processed);
				rows = (Datum) 0;	/* once, whichever rule dropped them */
			}
		}
		if (preview && rows != (Datum) 0)
			AppendCount(restored, ref->label,
						DatumGetInt32(DirectFunctionCall1(jsonb_array_length, rows)));
	}
}

/* A key of the duplicate that a live contact holds now: refused, naming it */
static void
CheckKeys(Datum *values, bool preview, StringInfo report)
{
	if (SPI_execute_plan(CrmUnmergePrepare(&keys_plan,
								 "SELECT k.key, k.value, c.id FROM pg_catalog.jsonb_each_text($4) k"
								 "  JOIN crm.contacts c ON c.workspace_id OPERATOR(pg_catalog.=) $1"
								 "   AND c.id OPERATOR(pg_catalog.<>) $3"
								 "   AND CASE k.key WHEN 'email' THEN c.email OPERATOR(pg_catalog.=) k.value"
								 "                  WHEN 'phone' THEN c.phone OPERATOR(pg_catalog.=) k.value"
								 "                  WHEN 'identifier' THEN c.identifier OPERATOR(pg_catalog.=) k.value"
								 "                  ELSE c.verified_id OPERATOR(pg_catalog.=) k.value END"
								 " WHERE k.key OPERATOR(pg_catalog.=) ANY (ARRAY['email', 'phone', 'identifier', 'verified_id'])"
								 "   AND (c.id OPERATOR(pg_catalog.<>) $2 OR ($5 OPERATOR(pg_catalog.->>) k.key) OPERATOR(pg_catalog.=) k.value)"
								 " ORDER BY k.key", 5),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: checking the keys failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *val = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *holder = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		if (!preview)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("%s \"%s\" of contact " INT64_FORMAT " is held by contact %s now",
							key, val, DatumGetInt64(values[2]), holder),
					 errhint("Change or clear it on contact %s, then run crm.unmerge again.", holder)));
		CrmUnmergeAppendTaken(report, key, val, holder);
	}
}

/* "key": {"value", "held_by"} in a preview's keys_taken */
void
CrmUnmergeAppendTaken(StringInfo report, const char *key, const char *value, const char *holder)
{
	appendStringInfoString(report, report->len > 1 ? ", " : "");
	escape_json(report, key);
	appendStringInfo(report, ": {\"value\": ");
	escape_json(report, value);
	appendStringInfo(report, ", \"held_by\": %s}", holder);
}

/*
 * The writes of an unmerge, with the duplicate as the contact rows move to:
 * the follow trigger lets them through, the contact rules let it live again.
 * No recount at the end: moving the conversations back fired their statement
 * trigger, which recounted both contacts, and the seen times the two
 * contacts' updates write are widened by their conversations there.
 */
static void
RestoreContact(Datum *values, Record *rec, Datum revert_row, StringInfo moved, StringInfo restored,
			   StringInfo taken)
{
	int64		ws = DatumGetInt64(values[0]);

	CrmMergeBeginMoving(ws, rec->loser, true);
	PG_TRY();
	{
		/* rows first: the contacts' updates below then find them in place for the lists */
		CrmUnmergeMoveBack(crm_merge_refs, crm_merge_nrefs, values, rec, false, moved, restored);
		values[3] = revert_row;
		if (SPI_execute_plan(CrmMergeSurvivorPlan(), values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm unmerge: reverting the survivor failed");
		values[3] = rec->loser_row;
		values[4] = revert_row;
		CheckKeys(values, false, taken);
		if (SPI_execute_plan(CrmUnmergePrepare(&restore_plan,
									 "UPDATE crm.contacts c SET status = m.status, merged_into = NULL, released_keys = NULL,"
									 " name = m.name, email = m.email, phone = m.phone, identifier = m.identifier,"
									 " verified_id = m.verified_id, identity_source = m.identity_source,"
									 " avatar_url = m.avatar_url, city = m.city, country = m.country,"
									 " lifecycle_stage = m.lifecycle_stage, owner = m.owner, blocked = m.blocked,"
									 " tags = m.tags, properties = m.properties," CRM_SEEN_TIMES_SQL(3) ","
									 " active_modules = m.active_modules"
									 "  FROM pg_catalog.jsonb_populate_record(NULL::crm.contacts, $4) m"
									 " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $3", 5),
							 values, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "crm unmerge: restoring the contact failed");
		if (rec->history != (Datum) 0)
			(void) CrmHistoryUnmerge(ws, "contact", rec->survivor, rec->loser, rec->history);
		CrmMergeMovesDone();
	}
	PG_FINALLY();
	{
		CrmMergeEndMoving();
	}
	PG_END_TRY();
}

/*
 * The loser's identity keys, then the merge lock: the order crm.identify
 * and an email change take them in, so an identify of the keys coming back
 * waits for us and finds them.
 */
static void
LockContact(int64 ws, Record *rec)
{
	Datum		values[5];

	values[0] = Int64GetDatum(ws);
	values[3] = rec->loser_row;
	if (SPI_execute_plan(CrmUnmergePrepare(&keylock_plan,
								 "SELECT crm_hidden.lock_identity_keys($1, ARRAY["
								 " 'e:' OPERATOR(pg_catalog.||) ($4 OPERATOR(pg_catalog.->>) 'email'),"
								 " 'p:' OPERATOR(pg_catalog.||) ($4 OPERATOR(pg_catalog.->>) 'phone'),"
								 " 'i:' OPERATOR(pg_catalog.||) ($4 OPERATOR(pg_catalog.->>) 'identifier'),"
								 " 'v:' OPERATOR(pg_catalog.||) ($4 OPERATOR(pg_catalog.->>) 'verified_id')])", 5),
						 values, (const char[]) {' ', 'n', 'n', ' ', 'n'}, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: locking the identity keys failed");
	CrmMergeLock(ws);
}

static ContactRef *
ContactRefs(int *nrefs)
{
	*nrefs = crm_merge_nrefs;
	return crm_merge_refs;
}

const UnmergeKind crm_unmerge_contact = {
	.object_type = "contact",
	.title = "Contact",
	.table = "crm.contacts",
	.merge_function = "crm.merge_contacts",
	.event = "CRM_CONTACT_UNMERGED",
	.lock = LockContact,
	.check = CheckContacts,
	.keys = CheckKeys,
	.refs = ContactRefs,
	.restore = RestoreContact,
	.activity_sql = "INSERT INTO crm.activities (workspace_id, contact_id, type, subject, actor, payload)"
	" VALUES ($1, $2, 'unmerged', 'Unmerged contact ' OPERATOR(pg_catalog.||) $3::pg_catalog.text,"
	"         'system', $4)",
};

static Datum
Unmerge(int64 id, bool preview)
{
	int64		ws = CrmCurrentWorkspace();
	const UnmergeKind *kind;
	Record		rec;
	Datum		survivor_row;
	Datum		values[5];
	Datum		fields;
	Datum		revert_row;
	StringInfoData moved,
				restored,
				taken,
				report;
	char	   *fields_text;
	Datum		result;
	CrmSavedUser saved;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm unmerge: SPI_connect failed");
	CrmMergePrepare();

	/*
	 * The kind's locks, the merge lock last; after it, the record again:
	 * what a merge or unmerge that held it before us left.
	 */
	kind = ReadRecord(ws, id, false, &rec);
	if (!preview)
	{
		/* the writes run inside the merge machinery, which the permission triggers let through */
		CrmRequirePermission(ws, "contacts", kind->table);
		kind->lock(ws, &rec);
		kind = ReadRecord(ws, id, true, &rec);
	}
	survivor_row = kind->check(ws, &rec);

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(rec.survivor);
	values[2] = Int64GetDatum(rec.loser);
	values[3] = survivor_row;
	values[4] = rec.overwritten;
	/* a pure function, but in crm_internal: called as the owner */
	CrmBecomeOwner(MergesOwner(), &saved);
	if (SPI_execute_plan(CrmUnmergePrepare(&fields_plan, "SELECT crm_internal.unmerge_fields($4, $5)", 5),
						 values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm unmerge: reverting the survivor's fields failed");
	CrmRestoreUser(&saved);
	fields = GetJsonb(1);
	revert_row = DirectFunctionCall2(jsonb_object_field, fields, CStringGetTextDatum("row"));
	/* {"reverted": [...], "conflicts": {...}}, inlined into the report without its braces */
	fields_text = JsonbToCString(NULL, &DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, fields,
																		   CStringGetTextDatum("row")))->root, 0);
	fields_text[strlen(fields_text) - 1] = '\0';

	initStringInfo(&moved);
	initStringInfo(&restored);
	initStringInfo(&taken);
	appendStringInfoChar(&moved, '{');
	appendStringInfoChar(&restored, '{');
	appendStringInfoChar(&taken, '{');

	if (preview)
	{
		ContactRef *refs;
		int			nrefs;

		values[3] = rec.loser_row;
		values[4] = revert_row;
		kind->keys(values, true, &taken);
		refs = kind->refs(&nrefs);
		CrmUnmergeMoveBack(refs, nrefs, values, &rec, true, &moved, &restored);
	}
	else
		kind->restore(values, &rec, revert_row, &moved, &restored, &taken);
	appendStringInfoChar(&moved, '}');
	appendStringInfoChar(&restored, '}');
	appendStringInfoChar(&taken, '}');

	/* {"merge", "survivor", "<object_type>", "reverted", "conflicts", "moved_back", "restored"(, "keys_taken")} */
	initStringInfo(&report);
	appendStringInfo(&report, "{\"merge\": " INT64_FORMAT ", \"survivor\": " INT64_FORMAT
					 ", \"%s\": " INT64_FORMAT ", %s, \"moved_back\": %s, \"restored\": %s",
					 id, rec.survivor, kind->object_type, rec.loser, fields_text + 1, moved.data, restored.data);
	if (preview)
		appendStringInfo(&report, ", \"keys_taken\": %s", taken.data);
	appendStringInfoChar(&report, '}');

	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data));
	if (!preview)
	{
		values[3] = result;
		if (SPI_execute_plan(CrmUnmergePrepare(&activity_plans[kind == &crm_unmerge_company], kind->activity_sql, 5),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm unmerge: writing the unmerged activity failed");
		CrmBecomeOwner(MergesOwner(), &saved);
		if (SPI_execute_plan(CrmUnmergePrepare(&undone_plan,
									 "UPDATE crm.merges SET undone_at = pg_catalog.now(), undone_by = crm.current_actor(),"
									 "       undo_report = $4"
									 " WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2", 5),
							 (Datum[]) {values[0], Int64GetDatum(id), values[2], result, (Datum) 0},
							 /* the unused fifth is NULL: Citus copies every parameter */
							 "    n", false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm unmerge: marking the merge undone failed");
		CrmRestoreUser(&saved);
		CrmEmitEvent(ws, kind->event, kind->object_type, rec.loser, result);
	}
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	return result;
}

static int64
MergeIdArg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("merge id must not be null"),
				 errhint("Pass the id of a row of crm.merges.")));
	return PG_GETARG_INT64(0);
}

Datum
crm_unmerge(PG_FUNCTION_ARGS)
{
	int64		id = MergeIdArg(fcinfo);

	/* on a Citus coordinator, a role other than the owner's on the worker (CrmMergeOnWorker) */
	if (CrmMergeOnWorker())
	{
		Datum		report = CrmMergeRouted("SELECT crm_hidden.unmerge_in(m.workspace_id, $2)"
											"  FROM crm.merges m"
											" WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.id OPERATOR(pg_catalog.=) $2",
											2, CrmCurrentWorkspace(), id, 0, JSONBOID);

		if (report == (Datum) 0)
			MergeNotFound(id);
		return report;
	}
	return Unmerge(id, false);
}

/* crm_hidden.unmerge_in(workspace_id, merge_id): crm.unmerge on a Citus worker */
Datum
crm_unmerge_in(PG_FUNCTION_ARGS)
{
	(void) CrmMergeWorkspaceArg(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("merge id must not be null"),
				 errhint("Pass the id of a row of crm.merges.")));
	return Unmerge(PG_GETARG_INT64(1), false);
}

Datum
crm_unmerge_preview(PG_FUNCTION_ARGS)
{
	return Unmerge(MergeIdArg(fcinfo), true);
}
