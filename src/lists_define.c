/*-------------------------------------------------------------------------
 *
 * lists_define.c
 *	  The row path of crm.lists: whoever writes a row -- crm.create_list
 *	  and friends, or a frontend's plain INSERT, UPDATE or DELETE -- gets
 *	  the same checks, the same computed columns, the same memberships and
 *	  the same events.  The functions in sql/lists.sql are conveniences over
 *	  these triggers.
 *
 * Write time.  A BEFORE row trigger checks the name, object type, kind and
 * filter (translated for its object type, with the translator's own
 * error), refuses a rename of a list another filter names, and computes
 * depends_on, time_relative, refreshed_at and (so that RETURNING shows it)
 * the member_count a new filter will give; the columns the extension
 * maintains (those and member_count) cannot be written with another value.
 * So nothing stored can make a later, unrelated write fail.  An AFTER row
 * trigger computes the membership of a new dynamic or snapshot list, or of
 * a dynamic list whose filter changed, refuses to delete a list another
 * filter names, and writes CRM_LIST_CREATED / _UPDATED / _DELETED.
 *
 * Races.  A filter that names lists locks them FOR KEY SHARE and is
 * translated again with a fresh snapshot: a concurrent delete or rename of
 * a named list (both take the row's key lock) either finishes first, and
 * the translation sees it, or waits and then finds the new filter.
 *
 * Definitions.  crm_internal.lists_definitions_changed() re-translates the dynamic
 * filters of a workspace when its property definitions or custom object
 * types change and refuses the change that would break one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "lists.h"

PG_FUNCTION_INFO_V1(crm_lists_check);
PG_FUNCTION_INFO_V1(crm_lists_apply);
PG_FUNCTION_INFO_V1(crm_lists_definitions_changed);

/* Inside the extension's own writes of the columns it maintains */
int			lists_internal_write = 0;

/* The columns of crm.lists a trigger reads or sets */
typedef struct ListCols
{
	int			ws,
				id,
				name,
				object_type,
				kind,
				filter,
				owner,
				visibility,
				member_count,
				depends_on,
				time_relative,
				refreshed_at,
				updated_at,
				tag;
} ListCols;

static void
FindCols(TupleDesc desc, ListCols *c)
{
	c->ws = Att(desc, "workspace_id");
	c->id = Att(desc, "id");
	c->name = Att(desc, "name");
	c->object_type = Att(desc, "object_type");
	c->kind = Att(desc, "kind");
	c->filter = Att(desc, "filter");
	c->owner = Att(desc, "owner");
	c->visibility = Att(desc, "visibility");
	c->member_count = Att(desc, "member_count");
	c->depends_on = Att(desc, "depends_on");
	c->time_relative = Att(desc, "time_relative");
	c->refreshed_at = Att(desc, "refreshed_at");
	c->updated_at = Att(desc, "updated_at");
	c->tag = Att(desc, "tag");
}

/* A column's text, NULL for SQL NULL */
static char *
Text(HeapTuple tup, TupleDesc desc, int att)
{
	return SPI_getvalue(tup, desc, att);
}

static bool
TextDiffers(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static void
TriggerCheck(FunctionCallInfo fcinfo, const char *name, bool before)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BEFORE(td->tg_event) != before)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired %s each row", name, before ? "BEFORE" : "AFTER")));
}

/* ---- checks shared by the triggers -------------------------------------- */

/*
 * The names of lists d, for a message: another member's private list is
 * named by its owner only.  Without visibility (a database at 0.2.0)
 * every list is the workspace's.
 */
#define NAMES_OF_D_OWNED \
	"string_agg(CASE WHEN d.visibility = 'workspace' OR d.owner = crm.current_user_id()" \
	" THEN format('\"%s\"', d.name) ELSE format('a private list of \"%s\"', d.owner) END, ', ' ORDER BY d.name)"
#define NAMES_OF_D_ALL "string_agg(format('\"%s\"', d.name), ', ' ORDER BY d.name)"

/*
 * Names are unique per owner, and among the lists visible to the whole
 * workspace, so that IN LIST 'name' names one list for every user: their
 * own, else the workspace's (docs/lists.md, "Names").
 */
static void
CheckName(int64 ws, int64 id, const char *name, const char *owner, const char *visibility, bool owned)
{
	Oid			argtypes[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', owner ? ' ' : 'n', ' '};
	bool		isnull;

	if (name == NULL || strspn(name, " \t\n\r") == strlen(name) ||
		DatumGetInt32(DirectFunctionCall1(textlen, CStringGetTextDatum(name))) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list name: \"%s\"", name ? name : "NULL"),
				 errhint("Name the list with 1 to 200 characters, not only spaces.")));
	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(id);
	values[2] = CStringGetTextDatum(name);
	values[3] = owner ? CStringGetTextDatum(owner) : (Datum) 0;
	values[4] = CStringGetTextDatum(visibility);
	if (SPI_execute_with_args(owned ?
							  "SELECT l.owner IS NOT DISTINCT FROM $4 FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.id <> $2 AND l.name = $3"
							  "   AND (l.owner IS NOT DISTINCT FROM $4 OR (l.visibility = 'workspace' AND $5 = 'workspace'))"
							  " ORDER BY 1 DESC LIMIT 1" :
							  "SELECT $4::text IS NULL FROM crm.lists l"
							  " WHERE l.workspace_id = $1 AND l.id <> $2 AND l.name = $3 AND $5 IS NOT NULL",
							  5, argtypes, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking the name failed");
	if (SPI_processed == 0)
		return;
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("a list named \"%s\" already exists", name),
				 errhint(owner ? "List names are unique per owner: choose another name or use the existing list." :
						 "List names are unique per workspace: choose another name or use the existing list.")));
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("a list named \"%s\" is already visible to the workspace", name),
			 errhint("Keep this one private (visibility => 'private'), or choose another name.")));
}

/*
 * Refuses a name, owner or visibility that would make IN LIST 'name' in a
 * stored filter name another list than it does: a list of the owner's that
 * hides the workspace's list of the same name from the owner's filters,
 * or a list turned private (or given away) that other owners' filters name.
 */
static void
CheckResolution(int64 ws, int64 id, const char *name, const char *owner, bool private_to_owner)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', owner ? ' ' : 'n'};
	bool		isnull;
	Datum		users;

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(id);
	values[2] = CStringGetTextDatum(name);
	values[3] = owner ? CStringGetTextDatum(owner) : (Datum) 0;
	if (owner != NULL)
	{
		if (SPI_execute_with_args("SELECT " NAMES_OF_D_OWNED
								  "  FROM crm.lists d WHERE d.workspace_id = $1 AND d.owner = $4"
								  "   AND EXISTS (SELECT 1 FROM crm.lists x WHERE x.workspace_id = $1"
								  "                  AND x.id = ANY (d.depends_on) AND x.id <> $2 AND x.name = $3)",
								  4, argtypes, values, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: checking names failed");
		users = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("list \"%s\" of \"%s\" would hide the workspace's list \"%s\" from the filters of %s",
							name, owner, name, TextDatumGetCString(users)),
					 errhint("IN LIST names the owner's own list first: choose another name.")));
	}
	if (!private_to_owner)
		return;
	if (SPI_execute_with_args("SELECT " NAMES_OF_D_OWNED
							  "  FROM crm.lists d WHERE d.workspace_id = $1 AND $2 = ANY (d.depends_on)"
							  "   AND d.owner IS DISTINCT FROM $4",
							  4, argtypes, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking references failed");
	users = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot make list \"%s\" private to \"%s\": the filters of %s name it",
						name, owner ? owner : "", TextDatumGetCString(users)),
				 errhint("Change those filters first (crm.set_list_filter), or keep the list visible to the workspace.")));
}

/* Refuses to rename or delete a list another list's filter names */
static void
CheckUnreferenced(int64 ws, int64 id, const char *name, const char *action, bool owned)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	bool		isnull;
	Datum		users;

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(id);
	if (SPI_execute_with_args(psprintf("SELECT %s FROM crm.lists d WHERE d.workspace_id = $1 AND $2 = ANY (d.depends_on)",
									   owned ? NAMES_OF_D_OWNED : NAMES_OF_D_ALL),
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: checking references failed");
	users = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot %s list \"%s\": the filters of %s name it", action, name, TextDatumGetCString(users)),
				 errhint("Change those filters first (crm.set_list_filter), then try again.")));
}

/* A maintained column written with a value of the client's own */
static void
RefuseMaintained(const char *column, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_GENERATED_ALWAYS),
			 errmsg("column \"%s\" of crm.lists is maintained by the extension", column),
			 errdetail("It holds %s.", what),
			 errhint("Leave %s out of the INSERT or UPDATE (or send its current value).", column)));
}

/*
 * The filter of list (ws, id) translated for its object type, with the
 * translator's error; the lists it names are locked against a concurrent
 * delete or rename (see Races above).
 */
static char *
TranslateFilter(int64 ws, int64 id, const char *name, const char *owner, const CqlEntity *e,
				bool dynamic, const char *filter, CrmCqlReads *reads)
{
	char	   *sql = CrmCqlTranslateNewFilter(e->name, filter, ws, owner, NULL, reads, NULL);
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[3];

	if (dynamic && reads->nested)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("filter of dynamic list \"%s\" follows a relation or IN LIST inside another relation", name),
				 errhint("Dynamic lists follow one level: company.industry, EXISTS companies(...), IN LIST. "
						 "Use a snapshot list for deeper filters.")));
	if (reads->nlist_ids == 0)
		return sql;

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(id);
	values[2] = IdArray(reads->list_ids, reads->nlist_ids);
	if (SPI_execute_with_args("SELECT 1 FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = ANY ($3)"
							  " ORDER BY l.id FOR KEY SHARE",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking named lists failed");
	/* what a delete or rename we waited for left: the names as committed now */
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		CrmCqlReads again;

		sql = CrmCqlTranslateNewFilter(e->name, filter, ws, owner, NULL, &again, NULL);
		if (again.nlist_ids != reads->nlist_ids ||
			memcmp(again.list_ids, reads->list_ids, sizeof(int64) * again.nlist_ids) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("the lists named by the filter of list \"%s\" changed concurrently", name),
					 errhint("Try the statement again.")));
	}
	PopActiveSnapshot();

	if (dynamic)
	{
		bool		isnull;

		if (SPI_execute_with_args("WITH RECURSIVE r(id) AS ("
								  "  SELECT pg_catalog.unnest($3)"
								  "  UNION SELECT d.d FROM r JOIN crm.lists x ON x.workspace_id = $1 AND x.id = r.id"
								  "       AND x.kind = 'dynamic' CROSS JOIN LATERAL pg_catalog.unnest(x.depends_on) AS d(d))"
								  " SELECT EXISTS (SELECT 1 FROM r WHERE r.id = $2)",
								  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "crm lists: checking list dependencies failed");
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("filter of list \"%s\" names the list itself through IN LIST", name),
					 errhint("A dynamic list cannot depend on its own members, directly or through other lists.")));
	}
	return sql;
}

/*
 * How many records a filter matches now: the member_count a new or
 * refiltered list is written with, so that RETURNING (a PostgREST
 * representation) shows it; the AFTER trigger computes the members and
 * makes the count exact.
 */
static int64
CountMatches(int64 ws, const CqlEntity *e, const char *sql, const CrmCqlReads *reads)
{
	ListRow		l;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;

	memset(&l, 0, sizeof(l));
	l.ws = ws;
	l.e = e;
	values[0] = Int64GetDatum(ws);
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*) FROM (%s) m", MatchSql(&l, sql, reads)),
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: counting the filter's records failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---- BEFORE INSERT OR UPDATE ---------------------------------------------- */

/*
 * A smart tag (docs/tags.md): the tag of a dynamic contact list, written as
 * contacts.tags writes tags (trimmed, lower-case), seen by the whole
 * workspace, and fixed for the list's life.  Returns the normalised tag.
 */
static char *
CheckSmartTag(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, const ListCols *c,
			  const char *name, const char *kind, const char *visibility)
{
	char	   *tag = Text(newtup, desc, c->tag);
	char	   *old = oldtup ? Text(oldtup, desc, c->tag) : NULL;
	Datum		one;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;

	if (oldtup != NULL && TextDiffers(old, tag))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the tag of list \"%s\"", name),
				 errhint("Drop the smart tag with crm.drop_smart_tag and define the new one with crm.define_smart_tag.")));
	if (tag == NULL)
		return NULL;
	if (strcmp(visibility, "workspace") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("smart tag \"%s\" cannot be private", tag),
				 errhint("A tag on contacts is seen by every member: leave visibility out, or make it 'workspace'.")));
	if (oldtup != NULL)
		return tag;
	one = CStringGetTextDatum(tag);
	deconstruct_array(DatumGetArrayTypeP(CrmNormalizeTags(PointerGetDatum(construct_array(&one, 1, TEXTOID, -1, false, TYPALIGN_INT)))),
					  TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid smart tag: \"%s\"", tag),
				 errhint("A tag is a word or two, such as 'vip'.")));
	tag = TextDatumGetCString(elems[0]);
	if (kind == NULL || strcmp(kind, "dynamic") != 0 ||
		TextDiffers(Text(newtup, desc, c->object_type), "contact"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("smart tag \"%s\" needs a dynamic list of contacts", tag),
				 errhint("Define it with crm.define_smart_tag(tag, filter).")));
	return tag;
}

/* A tag that follows tags could take itself off again: refused */
static void
RefuseTagsInSmartFilter(const char *tag, const CrmCqlReads *reads)
{
	for (int i = 0; i < reads->ncols; i++)
		if (strcmp(reads->cols[i], "tags") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("the filter of smart tag \"%s\" reads tags", tag),
					 errhint("A smart tag's filter may not read tags: use the fields, relations or lists the tags stand for.")));
}

/*
 * The visibility of a new list that names none: a segment -- a dynamic
 * list of the member making it -- is private; every other list is the
 * workspace's, as every list was before lists had owners.
 */
static char *
DefaultVisibility(const char *kind, const char *owner)
{
	const char *user = CrmCurrentUserId();

	if (kind != NULL && strcmp(kind, "dynamic") == 0 && owner != NULL && user != NULL &&
		strcmp(owner, user) == 0)
		return "private";
	return "workspace";
}

static void
CheckVisibility(const char *name, const char *owner, const char *visibility)
{
	if (visibility == NULL ||
		(strcmp(visibility, "private") != 0 && strcmp(visibility, "workspace") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list visibility: \"%s\"", visibility ? visibility : "NULL"),
				 errhint("A list is private (its owner's) or workspace (everyone's).")));
	if (owner == NULL && strcmp(visibility, "private") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("private list \"%s\" needs an owner", name ? name : "NULL"),
				 errhint("Make it as a member (owner defaults to crm.current_user_id()), pass an owner, or make it visible to the workspace.")));
}

/*
 * A filter being written that names the list holds the row's key lock
 * until it commits (TranslateFilter).  A rename or a new owner changes
 * the list's key and waits for it; a new visibility does not, so it takes
 * the row lock that does: CheckResolution then reads, with a new snapshot,
 * the filters committed meanwhile.
 */
static void
LockAgainstFilters(int64 ws, int64 id)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};

	if (SPI_execute_with_args("SELECT 1 FROM crm.lists l WHERE l.workspace_id = $1 AND l.id = $2 FOR UPDATE",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm lists: locking the list failed");
}

/*
 * A list given to another owner keeps what its filter names: IN LIST
 * resolves for the owner, so the names must find the same lists for both.
 */
static void
CheckSameNames(int64 ws, const char *name, const char *old_owner, const char *new_owner,
			   const CqlEntity *e, const char *filter)
{
	CrmCqlReads before,
				after;

	(void) CrmCqlTranslateFor(e->name, filter, ws, old_owner, NULL, &before, NULL);
	(void) CrmCqlTranslateFor(e->name, filter, ws, new_owner, NULL, &after, NULL);
	if (before.nlist_ids != after.nlist_ids ||
		memcmp(before.list_ids, after.list_ids, sizeof(int64) * before.nlist_ids) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the filter of list \"%s\" would name other lists for \"%s\"", name,
						new_owner ? new_owner : "the workspace"),
				 errhint("IN LIST names the owner's own lists first: rename them apart, then give the list away.")));
}

/* The checks only a new row needs: object type, kind and filter agree */
static void
CheckNewList(const char *name, const char *object_type, const char *kind, const char *filter)
{
	if (object_type == NULL || CqlFindEntity(object_type) == NULL ||
		(strcmp(object_type, "contact") != 0 && strcmp(object_type, "company") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list object type: \"%s\"", object_type ? object_type : "NULL"),
				 errhint("A list holds contact or company records.")));
	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list kind: \"NULL\""),
				 errhint("A list is static (members added by hand), dynamic (kept equal to a filter) or snapshot (a filter run once).")));
	if (strcmp(kind, "static") == 0 && filter != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("static list \"%s\" cannot have a filter", name),
				 errhint("Create it with kind => 'dynamic' to keep it equal to the filter, or 'snapshot' to run the filter once.")));
	if (strcmp(kind, "static") != 0 && filter == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s list \"%s\" needs a filter", kind, name),
				 errhint("Pass a CQL query as filter, for example filter => 'tags CONTAINS ''vip'''.")));
}

/* The checks of a changed row: what the table cannot change, and the filter */
static void
CheckChangedList(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, const ListCols *c,
				 const char *name, const char *kind, const char *filter)
{
	char	   *old_kind = Text(oldtup, desc, c->kind);

	if (TextDiffers(Text(oldtup, desc, c->object_type), Text(newtup, desc, c->object_type)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the object type of list \"%s\"", name),
				 errhint("A list holds one type of record: create another list with crm.create_list.")));
	if (TextDiffers(old_kind, kind))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change list \"%s\" from %s to %s", name, old_kind, kind ? kind : "NULL"),
				 errhint("Create a list of the other kind with crm.create_list and delete this one.")));
	if (!TextDiffers(Text(oldtup, desc, c->filter), filter))
		return;
	if (strcmp(kind, "dynamic") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s list \"%s\" has no filter to change", kind, name),
				 errhint(strcmp(kind, "static") == 0 ? "Create a dynamic list with the filter instead." :
						 "A snapshot ran its filter once; create a new snapshot list instead.")));
	if (filter == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dynamic list \"%s\" needs a filter", name),
				 errhint("Pass a CQL query; '' matches every record.")));
}

/*
 * A maintained column may keep its value (old row, or the default of an
 * insert) or carry the computed one; anything else is refused.
 */
static void
CheckMaintained(HeapTuple newtup, HeapTuple oldtup, TupleDesc desc, int att, const char *column,
				const char *dflt, const char *computed, const char *what)
{
	char	   *sent = Text(newtup, desc, att);
	const char *kept = oldtup ? Text(oldtup, desc, att) : dflt;

	if (TextDiffers(sent, kept) && (computed == NULL || TextDiffers(sent, computed)))
		RefuseMaintained(column, what);
}

/*
 * crm_internal.lists_check(): BEFORE INSERT OR UPDATE FOR EACH ROW on
 * crm.lists.  See the file header.
 */
Datum
crm_lists_check(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup,
				oldtup;
	ListCols	c;
	bool		isnull;
	int64		ws,
				id;
	char	   *name,
			   *kind,
			   *filter;
	bool		recompute;
	CrmCqlReads reads;
	MemoryContext outer = CurrentMemoryContext;
	int			nestlevel;
	char	   *depends_text = NULL;
	bool		time_relative = false;
	int64		matches = 0;
	char	   *owner,
			   *visibility,
			   *tag;
	bool		owner_changed,
				visibility_changed;
	int			natts = 0;
	int			atts[8];
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};

	TriggerCheck(fcinfo, "lists_check", true);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "lists_check: not for DELETE");
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	oldtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_trigtuple : NULL;
	/* member_count and refreshed_at, written by us: nothing to check */
	if (lists_internal_write > 0)
		return PointerGetDatum(newtup);

	desc = RelationGetDescr(td->tg_relation);
	FindCols(desc, &c);
	ws = DatumGetInt64(heap_getattr(newtup, c.ws, desc, &isnull));
	if (isnull)
		ws = CrmCurrentWorkspace();
	/*
	 * A row of another workspace is refused by the policy after us: refuse
	 * it first, so that no check below answers about that workspace.
	 */
	if (ws != CrmCurrentWorkspace() &&
		check_enable_rls(RelationGetRelid(td->tg_relation), InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("new row violates row-level security policy for table \"%s\"",
						RelationGetRelationName(td->tg_relation)),
				 errhint("Lists are written in the current workspace (crm.current_workspace()).")));
	id = DatumGetInt64(heap_getattr(newtup, c.id, desc, &isnull));
	name = Text(newtup, desc, c.name);
	kind = Text(newtup, desc, c.kind);
	filter = Text(newtup, desc, c.filter);
	owner = Text(newtup, desc, c.owner);
	/* without the column (a database at 0.2.0): every list is the workspace's */
	visibility = c.visibility ? Text(newtup, desc, c.visibility) : "workspace";
	if (visibility == NULL && oldtup == NULL)
	{
		visibility = c.tag && !heap_attisnull(newtup, c.tag, desc) ? "workspace" : DefaultVisibility(kind, owner);
		values[natts] = CStringGetTextDatum(visibility);
		atts[natts++] = c.visibility;
	}
	CheckVisibility(name, owner, visibility);
	tag = c.tag ? CheckSmartTag(oldtup, newtup, desc, &c, name, kind, visibility) : NULL;
	if (tag != NULL && oldtup == NULL)
	{
		values[natts] = CStringGetTextDatum(tag);
		atts[natts++] = c.tag;
	}
	owner_changed = oldtup == NULL || TextDiffers(Text(oldtup, desc, c.owner), owner);
	visibility_changed = oldtup != NULL && c.visibility &&
		TextDiffers(Text(oldtup, desc, c.visibility), visibility);
	if (owner_changed && c.visibility)
		CrmRequireMayOwn(owner, "crm.lists");

	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	if (visibility_changed)
		LockAgainstFilters(ws, id);
	if (oldtup == NULL || TextDiffers(Text(oldtup, desc, c.name), name) || owner_changed || visibility_changed)
	{
		CheckName(ws, id, name, c.visibility ? owner : NULL, visibility, c.visibility != 0);
		if (c.visibility)
			CheckResolution(ws, id, name, owner,
							oldtup != NULL && strcmp(visibility, "private") == 0 && (owner_changed || visibility_changed));
	}
	if (oldtup == NULL)
		CheckNewList(name, Text(newtup, desc, c.object_type), kind, filter);
	else
	{
		CheckChangedList(oldtup, newtup, desc, &c, name, kind, filter);
		if (TextDiffers(Text(oldtup, desc, c.name), name))
			CheckUnreferenced(ws, id, Text(oldtup, desc, c.name), "rename", c.visibility != 0);
		if (owner_changed && c.visibility && filter != NULL && !TextDiffers(Text(oldtup, desc, c.filter), filter))
			CheckSameNames(ws, name, Text(oldtup, desc, c.owner), owner,
						   CqlFindEntity(Text(newtup, desc, c.object_type)), filter);
	}

	recompute = filter != NULL && (oldtup == NULL || TextDiffers(Text(oldtup, desc, c.filter), filter));
	if (recompute)
	{
		const CqlEntity *e = CqlFindEntity(Text(newtup, desc, c.object_type));
		char	   *sql = TranslateFilter(ws, id, name, owner, e, strcmp(kind, "dynamic") == 0, filter, &reads);

		if (tag != NULL)
			RefuseTagsInSmartFilter(tag, &reads);

		matches = CountMatches(ws, e, sql, &reads);
		MemoryContextSwitchTo(outer);
		values[natts] = IdArray(reads.list_ids, reads.nlist_ids);
		depends_text = OidOutputFunctionCall(F_ARRAY_OUT, values[natts]);
		atts[natts++] = c.depends_on;
		time_relative = reads.time_relative;
		values[natts] = BoolGetDatum(time_relative);
		atts[natts++] = c.time_relative;
		values[natts] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		atts[natts++] = c.refreshed_at;
	}
	MemoryContextSwitchTo(outer);

	CheckMaintained(newtup, oldtup, desc, c.member_count, "member_count", "0", NULL,
					"the number of rows of crm.list_members in the list");
	CheckMaintained(newtup, oldtup, desc, c.depends_on, "depends_on", "{}", depends_text,
					"the lists the filter names with IN LIST");
	CheckMaintained(newtup, oldtup, desc, c.time_relative, "time_relative", "f",
					recompute ? (time_relative ? "t" : "f") : NULL, "whether the filter reads the clock");
	CheckMaintained(newtup, oldtup, desc, c.refreshed_at, "refreshed_at", NULL, NULL,
					"when the membership was last computed from the filter");
	if (recompute)
	{
		values[natts] = Int64GetDatum(matches);
		atts[natts++] = c.member_count;
	}
	if (oldtup && (TextDiffers(Text(oldtup, desc, c.name), name) ||
				   owner_changed || visibility_changed ||
				   TextDiffers(Text(oldtup, desc, c.filter), filter)))
	{
		values[natts] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		atts[natts++] = c.updated_at;
	}
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	if (natts > 0)
		newtup = heap_modify_tuple_by_cols(newtup, desc, natts, atts, values, nulls);
	return PointerGetDatum(newtup);
}

/* ---- AFTER INSERT OR UPDATE OR DELETE -------------------------------------- */

static void
EmitListEvent(int64 ws, const char *type, int64 id, const char *payload_sql, int nargs, Datum *args)
{
	Oid			argtypes[8] = {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	char		nulls[8];
	Datum		values[8];
	StringInfoData q;
	CrmSavedUser saved;

	values[0] = Int64GetDatum(ws);
	values[1] = CStringGetTextDatum(type);
	values[2] = Int64GetDatum(id);
	memset(nulls, ' ', sizeof(nulls));
	for (int i = 0; i < nargs; i++)
	{
		values[3 + i] = args[i];
		if (args[i] == (Datum) 0)
			nulls[3 + i] = 'n';
	}
	initStringInfo(&q);
	/* a list deleted with its workspace gets no event */
	appendStringInfo(&q, "INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload)"
					 " SELECT $1, $2, 'list', $3, %s WHERE EXISTS (SELECT 1 FROM crm.workspaces w WHERE w.id = $1)",
					 payload_sql);
	/* the outbox is read-only to granted roles */
	CrmBecomeOwner(CrmEventsOwner(), &saved);
	if (SPI_execute_with_args(q.data, 3 + nargs, argtypes, values, nulls, false, 0) < 0)
		elog(ERROR, "crm lists: writing the list event failed");
	CrmRestoreUser(&saved);
}

static Datum
TextOrNull(const char *s)
{
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * The row was written with the count of its filter's matches (lists_check),
 * and the membership triggers keep their deltas for commit (lists_counts.c):
 * the count made exact again, the list being locked by the statement that
 * wrote it, and those deltas settled.
 */
static void
ExactCount(const ListRow *l)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];

	values[0] = Int64GetDatum(l->ws);
	values[1] = Int64GetDatum(l->id);
	lists_internal_write++;
	PG_TRY();
	{
		if (SPI_execute_with_args("UPDATE crm.lists l SET member_count = (SELECT pg_catalog.count(*) FROM crm.list_members m"
								  "  WHERE m.workspace_id = $1 AND m.list_id = $2)"
								  " WHERE l.workspace_id = $1 AND l.id = $2",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm lists: counting members failed");
	}
	PG_FINALLY();
	{
		lists_internal_write--;
	}
	PG_END_TRY();
	/* the count holds this transaction's changes of the list: none left for commit */
	ListCountsSettle(l->ws, l->id);
}

/* A new dynamic list's members, or a changed filter's: computed now */
static void
ComputeMembers(const ListRow *l, const char *kind)
{
	CrmCqlReads reads;
	char	   *sql = CrmCqlTranslateFor(l->e->name, l->filter, l->ws, l->owner, NULL, &reads, NULL);

	if (strcmp(kind, "dynamic") == 0)
	{
		/* our own change to crm.lists: recompile now, not at the next message */
		ListsCacheInvalidate(l->ws);
		LockReadTables(l, &reads);
		(void) RefreshMembers(l, sql, &reads, false);
	}
	else
	{
		StringInfoData q;
		Oid			argtypes[2] = {INT8OID, INT8OID};
		Datum		values[2];

		/* a snapshot starts empty: its filter's records, once */
		values[0] = Int64GetDatum(l->ws);
		values[1] = Int64GetDatum(l->id);
		initStringInfo(&q);
		appendStringInfo(&q, "INSERT INTO crm.list_members (workspace_id, list_id, object_type, %s, source)"
						 " SELECT $1, $2, '%s', m.oid, 'snapshot' FROM (%s) m ORDER BY m.oid ON CONFLICT DO NOTHING",
						 l->e->list_column, l->e->name, MatchSql(l, sql, &reads));
		lists_applying++;
		PG_TRY();
		{
			if (SPI_execute_with_args(q.data, 2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "crm lists: computing the snapshot failed");
		}
		PG_FINALLY();
		{
			lists_applying--;
		}
		PG_END_TRY();
	}
	ExactCount(l);
}

/*
 * crm_internal.lists_apply(): AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW
 * on crm.lists.  See the file header.
 */
Datum
crm_lists_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	HeapTuple	oldtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_trigtuple : NULL;
	ListCols	c;
	ListRow		l;
	bool		isnull;
	char	   *kind;
	int			nestlevel;

	TriggerCheck(fcinfo, "lists_apply", false);
	if (lists_internal_write > 0)
		return PointerGetDatum(NULL);
	FindCols(desc, &c);
	l.ws = DatumGetInt64(heap_getattr(tup, c.ws, desc, &isnull));
	l.id = DatumGetInt64(heap_getattr(tup, c.id, desc, &isnull));
	l.name = Text(tup, desc, c.name);
	l.e = CqlFindEntity(Text(tup, desc, c.object_type));
	l.kind = kind = Text(tup, desc, c.kind);
	l.filter = Text(tup, desc, c.filter);
	l.owner = Text(tup, desc, c.owner);

	nestlevel = CrmPinSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm lists: SPI_connect failed");
	/* see the row this statement wrote, also in the translator's read-only lookups */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		Datum		args[2];

		/* checked after the statement's deletes: lists deleted together may name each other */
		CheckUnreferenced(l.ws, l.id, l.name, "delete", c.visibility != 0);
		args[0] = CStringGetTextDatum(l.name);
		args[1] = CStringGetTextDatum(Text(tup, desc, c.member_count));
		EmitListEvent(l.ws, "CRM_LIST_DELETED", l.id,
					  "pg_catalog.jsonb_build_object('id', $3, 'name', $4, 'member_count', $5::bigint)", 2, args);
	}
	else if (oldtup == NULL)
	{
		Datum		args[5];

		if (l.filter)
			ComputeMembers(&l, kind);
		args[0] = CStringGetTextDatum(l.name);
		args[1] = CStringGetTextDatum(l.e->name);
		args[2] = CStringGetTextDatum(kind);
		args[3] = TextOrNull(l.filter);
		args[4] = TextOrNull(Text(tup, desc, c.owner));
		EmitListEvent(l.ws, "CRM_LIST_CREATED", l.id,
					  "pg_catalog.jsonb_build_object('id', $3, 'name', $4, 'object_type', $5, 'kind', $6,"
					  " 'filter', $7, 'owner', $8)", 5, args);
	}
	else
	{
		bool		refiltered = TextDiffers(Text(oldtup, desc, c.filter), l.filter);

		if (refiltered && strcmp(kind, "dynamic") == 0)
			ComputeMembers(&l, kind);
		if (refiltered || TextDiffers(Text(oldtup, desc, c.name), l.name) ||
			TextDiffers(Text(oldtup, desc, c.owner), Text(tup, desc, c.owner)))
		{
			Datum		args[3];

			args[0] = CStringGetTextDatum(l.name);
			args[1] = TextOrNull(Text(tup, desc, c.owner));
			args[2] = TextOrNull(l.filter);
			EmitListEvent(l.ws, "CRM_LIST_UPDATED", l.id,
						  "pg_catalog.jsonb_build_object('id', $3, 'name', $4, 'owner', $5, 'filter', $6)", 3, args);
		}
	}
	PopActiveSnapshot();
	SPI_finish();
	CrmRestoreSearchPath(nestlevel);
	return PointerGetDatum(NULL);
}

/* ---- definitions ------------------------------------------------------------ */

/* A dynamic list's filter translated again; false (and *error set) when it no longer translates */
static bool
TranslateAgain(const ListRow *l, CrmCqlReads *reads, char **sql, ErrorData **error)
{
	MemoryContext old = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		*sql = CrmCqlTranslateFor(l->e->name, l->filter, l->ws, l->owner, NULL, reads, NULL);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		*error = CopyErrorData();
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Columns of crm.property_definitions and crm.object_types no filter
 * translates with (only the validation trigger reads them); the CQL version
 * of workspace_versions.c leaves the same ones out.
 */
static const char *const untranslated_columns[] = {
	"label", "pattern", "required", "track_history", "created_at", "updated_at"
};

static bool
Untranslated(const char *column)
{
	for (int i = 0; i < lengthof(untranslated_columns); i++)
		if (strcmp(column, untranslated_columns[i]) == 0)
			return true;
	return false;
}

/* Whether two versions of a row differ in a column a filter translates with */
static bool
TranslatedChange(TupleDesc desc, TupleTableSlot *o, TupleTableSlot *n)
{
	slot_getallattrs(o);
	slot_getallattrs(n);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || Untranslated(NameStr(att->attname)))
			continue;
		if (o->tts_isnull[i] != n->tts_isnull[i] ||
			(!o->tts_isnull[i] && !datumIsEqual(o->tts_values[i], n->tts_values[i], att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/*
 * The property definitions a statement changed, by workspace, object type
 * and key: a list is recomputed only when its filter looked one of them up.
 * all: a change of crm.object_types, or more definitions than fit.
 */
typedef struct ChangedDefinitions
{
	bool		all;
	int			n;
	int64		ws[64];
	char	   *object_type[64];
	char	   *key[64];
} ChangedDefinitions;

/* The definition a row of crm.property_definitions is, added to c */
static void
NoteDefinition(ChangedDefinitions *c, TupleDesc desc, TupleTableSlot *slot)
{
	bool		isnull;

	if (c->all)
		return;
	if (c->n == lengthof(c->key))
	{
		c->all = true;
		return;
	}
	c->ws[c->n] = DatumGetInt64(slot_getattr(slot, Att(desc, "workspace_id"), &isnull));
	c->object_type[c->n] = TextDatumGetCString(slot_getattr(slot, Att(desc, "object_type"), &isnull));
	c->key[c->n++] = TextDatumGetCString(slot_getattr(slot, Att(desc, "key"), &isnull));
}

/* Whether a filter of workspace ws that read what reads says looked up a changed definition */
static bool
ReadsChangedDefinition(const ChangedDefinitions *c, int64 ws, const CrmCqlReads *reads)
{
	if (c->all || reads->ndefinitions < 0)
		return true;
	for (int i = 0; i < c->n; i++)
		for (int k = 0; k < reads->ndefinitions; k++)
			if (c->ws[i] == ws && strcmp(c->key[i], reads->definition_keys[k]) == 0 &&
				strcmp(c->object_type[i], reads->definition_types[k]) == 0)
				return true;
	return false;
}

/* Every row of a DELETE's old rows, as changed definitions */
static void
NoteDeletedDefinitions(TriggerData *td, ChangedDefinitions *c)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	TupleTableSlot *o = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	tuplestore_select_read_pointer(td->tg_oldtable, tuplestore_alloc_read_pointer(td->tg_oldtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_oldtable);
	while (!c->all && tuplestore_gettupleslot(td->tg_oldtable, true, false, o))
		NoteDefinition(c, desc, o);
	ExecDropSingleTupleTableSlot(o);
}

/*
 * The workspaces whose filters may translate differently after the
 * statement: of every deleted row, and of every updated one that changed in
 * a translated column (a new label changes no filter), and in changed the
 * definitions that did.  An UPDATE's transition tables hold each row's old
 * and new versions in the same order; should the ids not pair up, every
 * workspace touched counts.
 */
static void
TranslatedWorkspaces(TriggerData *td, IdSet *out, ChangedDefinitions *changed)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			ws_att = Att(desc, "workspace_id");
	int			id_att = Att(desc, "id");
	TupleTableSlot *o,
			   *n;

	changed->all = strcmp(CrmTriggerTableName(td->tg_relation), "crm.property_definitions") != 0;
	if (td->tg_newtable == NULL || td->tg_oldtable == NULL)
	{
		CollectWorkspaces(td, out);
		if (td->tg_oldtable != NULL)
			NoteDeletedDefinitions(td, changed);
		else
			changed->all = true;
		return;
	}
	o = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	n = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	tuplestore_select_read_pointer(td->tg_oldtable, tuplestore_alloc_read_pointer(td->tg_oldtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_oldtable);
	tuplestore_select_read_pointer(td->tg_newtable, tuplestore_alloc_read_pointer(td->tg_newtable, EXEC_FLAG_REWIND));
	tuplestore_rescan(td->tg_newtable);
	while (tuplestore_gettupleslot(td->tg_oldtable, true, false, o))
	{
		bool		isnull;

		if (!tuplestore_gettupleslot(td->tg_newtable, true, false, n) ||
			DatumGetInt64(slot_getattr(o, id_att, &isnull)) != DatumGetInt64(slot_getattr(n, id_att, &isnull)))
		{
			out->n = 0;
			CollectWorkspaces(td, out);
			changed->all = true;
			break;
		}
		if (TranslatedChange(desc, o, n))
		{
			IdAdd(out, DatumGetInt64(slot_getattr(o, ws_att, &isnull)));
			IdAdd(out, DatumGetInt64(slot_getattr(n, ws_att, &isnull)));
			NoteDefinition(changed, desc, o);
			NoteDefinition(changed, desc, n);
		}
	}
	ExecDropSingleTupleTableSlot(o);
	ExecDropSingleTupleTableSlot(n);
	IdSort(out);
}

/*
 * AFTER UPDATE OR DELETE statement trigger on crm.property_definitions and
 * crm.object_types: filters that use bare declared property names or
 * associated(type) translate differently, or not at all, once those
 * change.  Every dynamic list of the workspaces touched is translated
 * again: if one no longer translates the change is refused, naming every
 * list it would break (a dynamic list would otherwise break every later
 * write of its records), and one whose filter looked up a changed
 * definition is recomputed, set-based, under the new meaning (a property no
 * filter reads changes no membership).  crm.drop_property() and a row
 * DELETE take this same path.  The compiled lists are checked again at
 * their next use and kept when no filter of theirs read a changed one.
 */
Datum
crm_lists_definitions_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	IdSet		workspaces = {0};
	ChangedDefinitions *changed = palloc0(sizeof(ChangedDefinitions));

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lists_definitions_changed: must be fired AFTER each statement")));
	TranslatedWorkspaces(td, &workspaces, changed);
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
	for (int w = 0; w < workspaces.n; w++)
		ListsCacheRecheck(workspaces.v[w]);
	for (int w = 0; w < workspaces.n; w++)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1];
		int			n;
		ListRow    *rows;
		CrmCqlReads *reads;
		char	  **sqls;
		ErrorData  *first = NULL;
		const char *first_name = NULL;
		StringInfoData broken;

		/* its lists are being deleted with it */
		if (CrmWorkspaceDeleting(workspaces.v[w]))
			continue;
		values[0] = Int64GetDatum(workspaces.v[w]);
		if (SPI_execute_with_args("SELECT l.id, l.name, l.object_type, l.filter::text, l.owner FROM crm.lists l"
								  " WHERE l.workspace_id = $1 AND l.kind = 'dynamic' ORDER BY l.name, l.id",
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
			rows[i].owner = SPI_getvalue(tup, desc, 5);
		}
		initStringInfo(&broken);
		for (int i = 0; i < n; i++)
		{
			ErrorData  *error = NULL;

			if (TranslateAgain(&rows[i], &reads[i], &sqls[i], &error))
				continue;
			appendStringInfo(&broken, "%s\"%s\"", broken.len ? ", " : "", rows[i].name);
			if (first == NULL)
			{
				first = error;
				first_name = rows[i].name;
			}
		}
		if (first)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("the filter of dynamic list \"%s\" no longer applies: %s", first_name, first->message),
					 errdetail("Dynamic lists whose filters the change would break: %s.", broken.data),
					 errhint("Change those lists' filters (crm.set_list_filter) or delete the lists first, "
							 "then drop or redefine the property or object type.")));
		for (int i = 0; i < n; i++)
			if (reads[i].definitions && ReadsChangedDefinition(changed, workspaces.v[w], &reads[i]))
				(void) RefreshMembers(&rows[i], sqls[i], &reads[i], true);
	}
	PopActiveSnapshot();
	SPI_finish();
	return PointerGetDatum(NULL);
}
