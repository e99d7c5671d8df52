/*-------------------------------------------------------------------------
 *
 * merge_companies.c
 *	  Merging one company into another, and its preview.
 *
 * The rows that point at a company are found, not listed: every foreign key
 * to crm.companies (workspace_id, id) is read from pg_constraint, so a table
 * a DBA adds with such a key is re-parented too.  A moved row that would
 * collide on a unique index with a row of the survivor (the same contact
 * linked to both, the same list) is dropped, the survivor's row kept.  The
 * polymorphic references are external ids (object_type 'company': an id of a
 * system the survivor already has is dropped and listed in the event) and
 * property history (moved as the owner, with merged_from).
 *
 * The duplicate is then deleted: companies have no status, so a tombstone
 * would be a live row to every query that lists companies.  The merge
 * record (crm.merges, object_type 'company', written through merge.h as a
 * contact merge's is) keeps its row as it was, the keys of the rows moved
 * (from RETURNING), the rows dropped whole, the survivor's links whose role
 * or primary flag the merge filled as they were, and the history rows
 * carried; the event keeps the row too (duplicate_record).
 *
 * Everything runs as the caller, through the tables and their triggers
 * (permissions, events, history, lists).  Rows the caller cannot see under
 * RLS would be removed with the duplicate by its cascading keys, so the
 * merge counts what is left as the owner and refuses (42501) instead.
 *
 * A row written later for the duplicate (an INSERT or an UPDATE of its
 * company column, a frontend holding the old id) goes to the survivor, as a
 * row written for a merged contact does (crm_follow_merged_company).
 *
 * Concurrency: the same per-workspace advisory lock as contact merges
 * (merge.c), so contact and company merges of a workspace run one at a
 * time, then both company rows FOR UPDATE in id order.  A company another
 * merge deleted while we waited is reported as gone (P0002).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "crm.h"
#include "merge.h"

PG_FUNCTION_INFO_V1(crm_merge_companies);
PG_FUNCTION_INFO_V1(crm_merge_companies_preview);
PG_FUNCTION_INFO_V1(crm_merge_companies_in);
PG_FUNCTION_INFO_V1(crm_follow_merged_company);
PG_FUNCTION_INFO_V1(crm_resolve_company);

static Oid	merge_argtypes[4] = {INT8OID, INT8OID, INT8OID, JSONBOID};

/* The survivor of the merge in progress, locked FOR UPDATE by it (see crm_follow_merged_company) */
static int64 moving_ws = 0;
static int64 moving_to = 0;

/* ----------------------------------------------------------------
 * Statements built from the catalog
 * ----------------------------------------------------------------
 */

/*
 * The duplicate's rows ($3) that clash on one unique index with the
 * survivor's ($2), as "FROM ... d WHERE ...", d.tid their ctid.  Both
 * companies' rows are read once and grouped by the index's other columns:
 * a join of the two would be planned from an estimate of one row per
 * company and scan all of the survivor's rows for each of the duplicate's.
 * A NULL key clashes only under NULLS NOT DISTINCT, as in the index.
 */
static char *
ClashFilter(const char *rel, const char *ws, const char *col, const char *tid, ArrayType *keys, bool nnd)
{
	StringInfoData buf;
	StringInfoData by;
	Datum	   *kd;
	bool	   *kn;
	int			nk;
	int			k;

	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &kd, &kn, &nk);
	initStringInfo(&by);
	for (k = 0; k < nk; k++)
		appendStringInfo(&by, "%s%s", k ? ", " : "", TextDatumGetCString(kd[k]));
	initStringInfo(&buf);
	appendStringInfo(&buf, "FROM (SELECT %s AS tid, %s OPERATOR(pg_catalog.=) $3 AS dup,"
					 " pg_catalog.bool_or(%s OPERATOR(pg_catalog.=) $2) OVER (%s%s) AS clash"
					 " FROM %s t WHERE %s OPERATOR(pg_catalog.=) $1 AND %s OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])",
					 tid, col, col, nk ? "PARTITION BY " : "", by.data, rel, ws, col);
	for (k = 0; k < nk && !nnd; k++)
		appendStringInfo(&buf, " AND %s IS NOT NULL", TextDatumGetCString(kd[k]));
	appendStringInfoString(&buf, ") d WHERE d.dup AND d.clash");
	return buf.data;
}

/*
 * Unique indexes of the referencing table that include the company column,
 * on plain columns and without predicate (the extension's are all so; any
 * other shows as a unique violation, and the merge writes nothing).
 */
static List *
ReadClashes(Oid relid, const char *rel, const char *ws, const char *col, const char *tid,
			int16 wsatt, int16 colatt)
{
	Oid			argtypes[3] = {OIDOID, INT2OID, INT2OID};
	Datum		values[3] = {ObjectIdGetDatum(relid), Int16GetDatum(wsatt), Int16GetDatum(colatt)};
	List	   *clashes = NIL;
	uint64		i;

	if (SPI_execute_with_args("SELECT ARRAY(SELECT pg_catalog.quote_ident(a.attname)"
							  "               FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY u(att, ord)"
							  "               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
							  "                AND a.attnum OPERATOR(pg_catalog.=) u.att"
							  "              WHERE u.att OPERATOR(pg_catalog.<>) ALL (ARRAY[$2, $3])"
							  "              ORDER BY u.ord)::pg_catalog.text[],"
							  "       i.indnullsnotdistinct"
							  "  FROM pg_catalog.pg_index i"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique"
							  "   AND i.indpred IS NULL AND i.indexprs IS NULL"
							  "   AND $3 OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])"
							  " ORDER BY i.indexrelid",
							  3, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm company merge: reading unique indexes of %s failed", rel);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		ArrayType  *keys = DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		bool		nnd = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

		clashes = lappend(clashes, ClashFilter(rel, ws, col, tid, keys, nnd));
	}
	return clashes;
}

/* Every foreign key to crm.companies (workspace_id, id), in name order */
List *
CrmCompanyRefs(void)
{
	SPITupleTable *tt;
	uint64		n;
	uint64		i;
	List	   *refs = NIL;

	if (SPI_execute("SELECT c.conrelid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(r.relname),"
					"       pg_catalog.quote_ident(w.attname), pg_catalog.quote_ident(k.attname),"
					"       n.nspname || '.' || r.relname || '.' || k.attname, w.attnum, k.attnum, w.attname, k.attname"
					"  FROM pg_catalog.pg_constraint c"
					"  JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid"
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace"
					"  JOIN pg_catalog.pg_attribute k ON k.attrelid OPERATOR(pg_catalog.=) c.conrelid"
					"   AND k.attnum OPERATOR(pg_catalog.=) c.conkey[pg_catalog.array_position(c.confkey,"
					"       (SELECT a.attnum FROM pg_catalog.pg_attribute a"
					"         WHERE a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attname OPERATOR(pg_catalog.=) 'id'))]"
					"  JOIN pg_catalog.pg_attribute w ON w.attrelid OPERATOR(pg_catalog.=) c.conrelid"
					"   AND w.attnum OPERATOR(pg_catalog.=) c.conkey[pg_catalog.array_position(c.confkey,"
					"       (SELECT a.attnum FROM pg_catalog.pg_attribute a"
					"         WHERE a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attname OPERATOR(pg_catalog.=) 'workspace_id'))]"
					" WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
					"   AND c.confrelid OPERATOR(pg_catalog.=) 'crm.companies'::pg_catalog.regclass"
					"   AND pg_catalog.cardinality(c.confkey) OPERATOR(pg_catalog.=) 2"
					" ORDER BY 5", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm company merge: reading the foreign keys to crm.companies failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	desc = tt->tupdesc;
		bool		isnull;
		CompanyRef *ref = palloc0(sizeof(CompanyRef));
		char	   *rel = SPI_getvalue(tup, desc, 2);
		char	   *ws = SPI_getvalue(tup, desc, 3);
		char	   *col = SPI_getvalue(tup, desc, 4);
		char	   *raw_ws = SPI_getvalue(tup, desc, 8);
		char	   *raw_col = SPI_getvalue(tup, desc, 9);
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));

		ref->label = SPI_getvalue(tup, desc, 5);
		ref->rel = rel;
		ref->wscol = ws;
		ref->col = col;
		ref->key = CrmMergeKeyExpr(relid, "r", raw_ws, raw_col);
		ref->citus = CrmIsCitusTable(relid);
		ref->relid = relid;
		ref->raw_wscol = raw_ws;
		ref->raw_col = raw_col;
		ref->rows = psprintf("FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 AND %s OPERATOR(pg_catalog.=) $3",
							 rel, ws, col);
		ref->move = psprintf("WITH x AS (UPDATE %s r SET %s = $2 WHERE r.%s OPERATOR(pg_catalog.=) $1"
							 " AND r.%s OPERATOR(pg_catalog.=) $3%s",
							 rel, col, ws, col, CrmMergeKeysReturned(relid, "r", raw_ws, raw_col));
		/* Citus routes no statement that names a ctid: the clashing rows by key there */
		ref->clashes = ReadClashes(relid, rel, ws, col,
								   ref->citus ? CrmMergeKeyExpr(relid, "t", raw_ws, raw_col) : "t.ctid",
								   DatumGetInt16(SPI_getbinval(tup, desc, 6, &isnull)),
								   DatumGetInt16(SPI_getbinval(tup, desc, 7, &isnull)));
		refs = lappend(refs, ref);
	}
	return refs;
}

/* ----------------------------------------------------------------
 * Fixed statements
 * ----------------------------------------------------------------
 */

/* A text field is empty when NULL or blank */
#define FILL(f) "coalesce(NULLIF(pg_catalog.btrim(s." f "), ''), d." f ") AS " f

/* The survivor's set fields win, empty ones are filled from the duplicate */
static const char *merged_sql =
"SELECT pg_catalog.to_jsonb(m), pg_catalog.to_jsonb(d), pg_catalog.to_jsonb(s) FROM crm.companies s, crm.companies d,"
" LATERAL (SELECT s.workspace_id, s.id, s.name, " FILL("domain") ", " FILL("industry") ","
"         coalesce(s.employees, d.employees) AS employees, " FILL("plan") ","
"         coalesce(s.spend, d.spend) AS spend, " FILL("description") ", " FILL("owner") ","
"         ARRAY(SELECT t FROM pg_catalog.unnest(s.tags OPERATOR(pg_catalog.||) d.tags) WITH ORDINALITY u(t, o)"
"                GROUP BY t ORDER BY pg_catalog.min(o)) AS tags,"
"         d.properties OPERATOR(pg_catalog.||) s.properties AS properties,"
"         LEAST(s.created_at, d.created_at) AS created_at) m"
" WHERE s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2"
"   AND d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $3";

const char *const crm_company_survivor_sql =
"UPDATE crm.companies c SET domain = m.domain, industry = m.industry, employees = m.employees, plan = m.plan,"
"       spend = m.spend, description = m.description, owner = m.owner, tags = m.tags,"
"       properties = m.properties, created_at = m.created_at"
"  FROM pg_catalog.jsonb_populate_record(NULL::crm.companies, $4) m"
" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2";

/*
 * A link of a contact to both: the survivor's keeps a role and a primary flag
 * the duplicate's had.  Its row as it was goes to the merge record.
 */
#define LINKS_TO_FILL \
	" p.n OPERATOR(pg_catalog.=) 2 AND p.company_id OPERATOR(pg_catalog.=) $2" \
	" AND ((p.role IS NULL AND p.d_role IS NOT NULL) OR (p.d_primary AND NOT p.is_primary))"
/* The duplicate's primary links the survivor's then takes: a trigger clears their flag */
static const char *primaries_sql =
"SELECT pg_catalog.jsonb_agg(p.contact_id ORDER BY p.contact_id), pg_catalog.count(*) FROM " CRM_LINKS_PAIRED
" WHERE p.n OPERATOR(pg_catalog.=) 2 AND p.company_id OPERATOR(pg_catalog.=) $3 AND p.is_primary AND NOT p.s_primary";
#define LINKS_FILL(match) \
"WITH old AS (SELECT p.tid, p.contact_id, p.r, p.d_role, p.d_primary FROM " CRM_LINKS_PAIRED " WHERE" LINKS_TO_FILL ")," \
" u AS (UPDATE crm.contact_companies s SET role = coalesce(s.role, old.d_role), is_primary = s.is_primary OR old.d_primary" \
"       FROM old WHERE " match " RETURNING 1)" \
" SELECT pg_catalog.jsonb_agg(old.r), (SELECT pg_catalog.count(*) FROM u) FROM old"
static const char *links_sql = LINKS_FILL("s.ctid OPERATOR(pg_catalog.=) old.tid");
/* Citus routes no statement that names a ctid: the survivor's links by key there */
static const char *links_citus_sql =
LINKS_FILL("s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.company_id OPERATOR(pg_catalog.=) $2"
		   " AND s.contact_id OPERATOR(pg_catalog.=) old.contact_id");

/*
 * External ids of a system the survivor has an id of, as "FROM ... d WHERE
 * ...", d.tid their ctid: both companies' ids read once and grouped by
 * system, as ClashFilter does, for a join of the two would be planned from
 * an estimate and could read every company's ids for each of the
 * duplicate's.
 */
#define XID_CLASH XID_CLASH_BY("ctid")
#define XID_CLASH_BY(tid) \
	"FROM (SELECT " tid " AS tid, system, external_id, object_id OPERATOR(pg_catalog.=) $3 AS dup," \
	" pg_catalog.bool_or(object_id OPERATOR(pg_catalog.=) $2) OVER (PARTITION BY system) AS clash" \
	" FROM crm.external_ids WHERE workspace_id OPERATOR(pg_catalog.=) $1" \
	" AND object_type OPERATOR(pg_catalog.=) 'company' AND object_id OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])) d" \
	" WHERE d.dup AND d.clash"
#define XID_AGG \
	"coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('system', x.system, 'external_id', x.external_id)" \
	" ORDER BY x.system, x.external_id), '[]')"
#define XID_LIST "SELECT " XID_AGG " FROM "
#define XID_ROWS \
	"FROM crm.external_ids WHERE workspace_id OPERATOR(pg_catalog.=) $1" \
	" AND object_type OPERATOR(pg_catalog.=) 'company' AND object_id OPERATOR(pg_catalog.=) $3"

static const char *xid_drop_sql =
"WITH x AS (DELETE FROM crm.external_ids WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT d.tid " XID_CLASH "))"
" RETURNING *) SELECT " XID_AGG ", pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)) FROM x";
static const char *xid_drop_citus_sql =
"WITH x AS (DELETE FROM crm.external_ids r WHERE r.workspace_id OPERATOR(pg_catalog.=) $1"
" AND r.object_type OPERATOR(pg_catalog.=) 'company' AND r.object_id OPERATOR(pg_catalog.=) $3"
" AND (r.system, r.external_id) IN (SELECT d.system, d.external_id " XID_CLASH_BY("NULL") ")"
" RETURNING r.*) SELECT " XID_AGG ", pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)) FROM x";
static const char *xid_peek_sql = XID_LIST "(SELECT d.system, d.external_id " XID_CLASH ") x";
static const char *xid_move_sql =
"WITH x AS (UPDATE crm.external_ids SET object_id = $2 WHERE workspace_id OPERATOR(pg_catalog.=) $1"
" AND object_type OPERATOR(pg_catalog.=) 'company' AND object_id OPERATOR(pg_catalog.=) $3"
" RETURNING pg_catalog.jsonb_build_array(system, external_id) AS k, system, external_id)"
" SELECT pg_catalog.jsonb_agg(x.k ORDER BY x.system, x.external_id), pg_catalog.count(*) FROM x";
/* Citus takes no STABLE function (jsonb_build_array) in RETURNING */
static const char *xid_move_citus_sql =
"WITH x AS (UPDATE crm.external_ids SET object_id = $2 WHERE workspace_id OPERATOR(pg_catalog.=) $1"
" AND object_type OPERATOR(pg_catalog.=) 'company' AND object_id OPERATOR(pg_catalog.=) $3"
" RETURNING system, external_id)"
" SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(x.system, x.external_id)"
"        ORDER BY x.system, x.external_id), pg_catalog.count(*) FROM x";

/* ----------------------------------------------------------------
 * Steps
 * ----------------------------------------------------------------
 */

static int64
Count(const char *from, Datum *values)
{
	bool		isnull;
	char	   *sql = psprintf("SELECT pg_catalog.count(*) %s", from);

	if (SPI_execute_with_args(sql, 3, merge_argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm company merge: count failed: %s", sql);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static uint64
Run(const char *sql, int nargs, Datum *values, int expect)
{
	if (SPI_execute_with_args(sql, nargs, merge_argtypes, values, NULL, false, 0) != expect)
		elog(ERROR, "crm company merge: statement failed: %s", sql);
	return SPI_processed;
}

/* A statement returning (jsonb_agg, count): its array added to *acc (0: none yet) */
static int64
Accumulated(const char *sql, int nargs, Datum *values, const char *label, Datum *acc)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, merge_argtypes);
	int64		n;

	if (plan == NULL)
		elog(ERROR, "crm company merge: preparing failed: %s", sql);
	n = CrmMergeRunRecorded(plan, values, label, acc);
	SPI_freeplan(plan);
	return n;
}

/* A statement returning (jsonb_agg, count), its array added to rec under label */
static int64
Recorded(const char *sql, int nargs, Datum *values, StringInfo rec, const char *label, const char *suffix)
{
	Datum		acc = (Datum) 0;
	int64		n = Accumulated(sql, nargs, values, label, &acc);

	CrmMergeRecordEntry(rec, label, suffix, acc, acc == (Datum) 0);
	return n;
}

static Datum
FirstDatum(void)
{
	bool		isnull;

	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

static void
RequireCompanyFailed(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("company " INT64_FORMAT " does not exist", id),
			 errhint("Check the id; companies of other workspaces are not visible here.")));
}

/* The company must be visible to the caller in the current workspace */
static void
RequireCompany(int64 ws, int64 id)
{
	Datum		values[3] = {Int64GetDatum(ws), Int64GetDatum(id), Int64GetDatum(id)};

	if (Count("FROM crm.companies WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2",
			  values) == 0)
		RequireCompanyFailed(id);
}

/* Both rows FOR UPDATE in id order, after the workspace's merge lock */
static void
LockPair(int64 ws, int64 survivor, int64 duplicate)
{
	LOCKTAG		tag;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		ids[2] = {Int64GetDatum(survivor), Int64GetDatum(duplicate)};
	Datum		values[2];
	int64		gone;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) ws >> 32), (uint32) ws, MERGE_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	values[0] = Int64GetDatum(ws);
	values[1] = PointerGetDatum(construct_array(ids, 2, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("SELECT c.id FROM crm.companies c"
							  " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) ANY ($2)"
							  " ORDER BY c.id FOR UPDATE",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm company merge: locking companies failed");
	if (SPI_processed == 2)
		return;
	gone = (SPI_processed == 1 &&
			DatumGetInt64(FirstDatum()) == survivor) ? duplicate : survivor;
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("company " INT64_FORMAT " was deleted while waiting to merge it", gone),
			 errhint("Another session merged or deleted it; its CRM_COMPANY_MERGED event names the survivor.")));
}

/*
 * The duplicate's history goes to the survivor, marked merged_from, with the
 * first values it never changed (history.c); as the owner, like every
 * history write.  Returns the ids moved (jsonb array).
 */
static Datum
MoveHistory(Datum *values)
{
	CrmSavedUser saved;
	bool		isnull;
	Datum		ids;

	CrmHistoryKeepFirstValues(DatumGetInt64(values[0]), "company", DatumGetInt64(values[2]));
	CrmBecomeOwner(CrmRelationOwner(get_relname_relid("value_history", get_namespace_oid("crm", false))), &saved);
	Run("WITH x AS (UPDATE crm.value_history h SET object_id = $2, merged_from = coalesce(h.merged_from, $3)"
		" WHERE h.workspace_id OPERATOR(pg_catalog.=) $1 AND h.object_type OPERATOR(pg_catalog.=) 'company'"
		"   AND h.object_id OPERATOR(pg_catalog.=) $3 RETURNING h.id)"
		" SELECT coalesce(pg_catalog.jsonb_agg(x.id ORDER BY x.id), '[]') FROM x", 3, values, SPI_OK_SELECT);
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	ids = datumCopy(ids, false, -1);
	CrmRestoreUser(&saved);
	return ids;
}

/*
 * The survivor's merged fields ($4), in the merge machinery: its history
 * rows are the merge's (source merge), as a contact merge's are.
 */
static void
UpdateSurvivor(int64 ws, Datum *values)
{
	CrmMergeBeginMoving(ws, 0, false);
	PG_TRY();
	{
		Run(crm_company_survivor_sql, 4, values, SPI_OK_UPDATE);
		CrmMergeMovesDone();
	}
	PG_FINALLY();
	{
		CrmMergeEndMoving();
	}
	PG_END_TRY();
}

/* Rows left on the duplicate are rows the caller cannot see: its deletion would remove them */
static void
RequireNothingLeft(List *refs, Datum *values, int64 duplicate)
{
	CrmSavedUser saved;
	ListCell   *lc;
	int64		left = 0;
	const char *where = NULL;

	CrmBecomeOwner(CrmRelationOwner(get_relname_relid("companies", get_namespace_oid("crm", false))), &saved);
	foreach(lc, refs)
	{
		CompanyRef *ref = lfirst(lc);
		int64		n = Count(ref->rows, values);

		if (n > 0 && where == NULL)
			where = ref->label;
		left += n;
	}
	if (left == 0 && Count(XID_ROWS, values) > 0)
	{
		where = "crm.external_ids";
		left = 1;
	}
	CrmRestoreUser(&saved);
	if (left > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("company " INT64_FORMAT " has rows in %s that you cannot see", duplicate, where),
				 errhint("Ask a member who sees every contact of the workspace to merge these companies.")));
}

/*
 * Every reference's rows of the duplicate: dropped where a unique index
 * keeps the survivor's, moved otherwise (for a preview, counted).
 */
static void
MoveRefs(List *refs, Datum *values, bool preview, int64 *moved, int64 *dropped, MergeRecord *rec)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, refs)
	{
		CompanyRef *ref = lfirst(lc);
		ListCell   *cc;
		Datum		rows = (Datum) 0;

		/* the rows each unique index drops, recorded under the one label */
		foreach(cc, ref->clashes)
		{
			char	   *filter = lfirst(cc);

			if (preview)
				dropped[i] += Count(filter, values);
			else
				dropped[i] += Accumulated(ref->citus ?
										  psprintf("WITH x AS (DELETE FROM %s r WHERE r.%s OPERATOR(pg_catalog.=) $1"
												   " AND r.%s OPERATOR(pg_catalog.=) $3 AND %s IN (SELECT d.tid %s) RETURNING r.*)"
												   " SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), pg_catalog.count(*) FROM x",
												   ref->rel, ref->wscol, ref->col, ref->key, filter) :
										  psprintf("WITH x AS (DELETE FROM %s r WHERE r.ctid OPERATOR(pg_catalog.=)"
												   " ANY (ARRAY(SELECT d.tid %s)) RETURNING r.*)"
												   " SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), pg_catalog.count(*) FROM x",
												   ref->rel, filter),
										  3, values, ref->label, &rows);
		}
		if (!preview)
			CrmMergeRecordEntry(&rec->dropped, ref->label, NULL, rows, rows == (Datum) 0);
		if (preview)
			moved[i] = Count(ref->rows, values) - dropped[i];
		else
			moved[i] = Recorded(ref->move, 3, values, &rec->moved, ref->label, NULL);
		i++;
	}
}

static void
AppendCounts(StringInfo buf, const char *key, List *refs, int64 *counts, int64 xids)
{
	ListCell   *lc;
	int			i = 0;
	bool		first = true;

	appendStringInfo(buf, ", \"%s\": {", key);
	foreach(lc, refs)
	{
		CompanyRef *ref = lfirst(lc);

		if (counts[i] != 0)
		{
			appendStringInfoString(buf, first ? "" : ", ");
			escape_json(buf, ref->label);
			appendStringInfo(buf, ": " INT64_FORMAT, counts[i]);
			first = false;
		}
		i++;
	}
	if (xids != 0)
		appendStringInfo(buf, "%s\"crm.external_ids.object_id\": " INT64_FORMAT, first ? "" : ", ", xids);
	appendStringInfoChar(buf, '}');
}

static Datum
CopyOut(const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	Jsonb	   *copy = SPI_palloc(VARSIZE(jb));

	memcpy(copy, jb, VARSIZE(jb));
	return JsonbPGetDatum(copy);
}

/*
 * The one code path of merge and preview: with preview set it counts what
 * would move and returns the report without writing.
 */
static Datum
MergeCompanies(int64 survivor, int64 duplicate, bool preview)
{
	int64		ws = CrmCurrentWorkspace();
	Datum		values[4];
	bool		citus;
	List	   *refs;
	int64	   *moved;
	int64	   *dropped;
	int64		xid_moved;
	char	   *xid_dropped;
	char	   *merged;
	char	   *before;
	Datum		before_d;
	Datum		before_s;
	Datum		history = (Datum) 0;
	MergeRecord rec;
	StringInfoData report;
	Datum		result;

	if (survivor == duplicate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge company " INT64_FORMAT " into itself", survivor),
				 errhint("Pass two different company ids: the survivor first, then the duplicate.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm company merge: SPI_connect failed");

	citus = CrmIsCitusTable(get_relname_relid("companies", get_namespace_oid("crm", false)));
	RequireCompany(ws, survivor);
	RequireCompany(ws, duplicate);
	if (!preview)
		LockPair(ws, survivor, duplicate);

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(survivor);
	values[2] = Int64GetDatum(duplicate);
	Run(merged_sql, 3, values, SPI_OK_SELECT);
	merged = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	before = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	before_d = DirectFunctionCall1(jsonb_in, CStringGetDatum(before));
	before_s = DirectFunctionCall1(jsonb_in,
								   CStringGetDatum(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)));
	values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(merged));
	CrmMergeRecordInit(&rec);

	refs = CrmCompanyRefs();
	moved = palloc0(sizeof(int64) * (list_length(refs) + 1));
	dropped = palloc0(sizeof(int64) * (list_length(refs) + 1));

	if (!preview)
	{
		history = MoveHistory(values);
		(void) Recorded(primaries_sql, 3, values, &rec.demoted, "crm.contact_companies.company_id", "is_primary");
		(void) Recorded(citus ? links_citus_sql : links_sql, 3, values, &rec.demoted, "crm.contact_companies.company_id", "filled");
	}
	/* the survivor is locked and live: rows moved onto it need no following */
	moving_ws = preview ? 0 : ws;
	moving_to = preview ? 0 : survivor;
	PG_TRY();
	{
		MoveRefs(refs, values, preview, moved, dropped, &rec);
	}
	PG_FINALLY();
	{
		moving_ws = moving_to = 0;
	}
	PG_END_TRY();

	Run(preview ? xid_peek_sql : citus ? xid_drop_citus_sql : xid_drop_sql, 3, values, SPI_OK_SELECT);
	xid_dropped = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (!preview)
	{
		bool		isnull;
		Datum		rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		CrmMergeRecordEntry(&rec.dropped, "crm.external_ids.object_id", NULL, rows, isnull);
	}
	xid_moved = preview ? Count(XID_ROWS, values) - Count(XID_CLASH, values)
		: Recorded(citus ? xid_move_citus_sql : xid_move_sql, 3, values, &rec.moved, "crm.external_ids.object_id", NULL);

	initStringInfo(&report);
	appendStringInfo(&report, "{\"survivor\": " INT64_FORMAT ", \"duplicate\": " INT64_FORMAT,
					 survivor, duplicate);
	AppendCounts(&report, "moved", refs, moved, xid_moved);
	AppendCounts(&report, "dropped", refs, dropped, 0);
	appendStringInfo(&report, ", \"external_ids_dropped\": %s", xid_dropped);

	if (preview)
	{
		appendStringInfo(&report, ", \"merged\": %s}", merged);
		result = CopyOut(report.data);
		SPI_finish();
		return result;
	}

	RequireNothingLeft(refs, values, duplicate);
	Run("DELETE FROM crm.companies WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $3",
		3, values, SPI_OK_DELETE);
	UpdateSurvivor(ws, values);
	Run("SELECT pg_catalog.to_jsonb(c) FROM crm.companies c"
		" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2", 3, values, SPI_OK_SELECT);
	CrmMergeRecordWrite(ws, "company", "explicit", survivor, duplicate, before_d, before_s, FirstDatum(),
						history, &rec);

	appendStringInfo(&report, ", \"duplicate_record\": %s}", before);
	CrmEmitEvent(ws, "CRM_COMPANY_MERGED", "company", survivor,
				 DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data)));
	SPI_finish();
	return Int64GetDatum(survivor);
}

static void
CheckArgs(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("company ids must not be null"),
				 errhint("Pass the survivor's id first, then the duplicate's.")));
}

Datum
crm_merge_companies(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	/* on a Citus coordinator, a role other than the owner's on the worker (CrmMergeOnWorker) */
	if (CrmMergeOnWorker() && PG_GETARG_INT64(0) != PG_GETARG_INT64(1))
	{
		Datum		survivor = CrmMergeRouted("SELECT crm_hidden.merge_companies_in(c.workspace_id, $2, $3)"
											  "  FROM crm.companies c"
											  " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
											  3, CrmCurrentWorkspace(), PG_GETARG_INT64(0), PG_GETARG_INT64(1), INT8OID);

		if (survivor == (Datum) 0)
			RequireCompanyFailed(PG_GETARG_INT64(0));
		return survivor;
	}
	return MergeCompanies(PG_GETARG_INT64(0), PG_GETARG_INT64(1), false);
}

/* crm_hidden.merge_companies_in(workspace_id, survivor, duplicate): crm.merge_companies on a Citus worker */
Datum
crm_merge_companies_in(PG_FUNCTION_ARGS)
{
	(void) CrmMergeWorkspaceArg(fcinfo);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("company ids must not be null"),
				 errhint("Pass the survivor's id first, then the duplicate's.")));
	return MergeCompanies(PG_GETARG_INT64(1), PG_GETARG_INT64(2), false);
}

Datum
crm_merge_companies_preview(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	return MergeCompanies(PG_GETARG_INT64(0), PG_GETARG_INT64(1), true);
}

/* ----------------------------------------------------------------
 * The trigger that sends rows written for a merged company to its survivor
 * ----------------------------------------------------------------
 */

static SPIPlanPtr company_plan = NULL;
static SPIPlanPtr survivor_plan = NULL;

static SPIPlanPtr
KeptPlan(SPIPlanPtr *cache, const char *sql)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, 2, merge_argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "follow_merged_company: preparing failed for: %s", sql);
		*cache = plan;
	}
	return *cache;
}

/*
 * The live company a row written for company id of workspace ws belongs to:
 * id itself when it exists, else the survivor of the holding merge record
 * that deleted it, followed along chains; id when there is none (the
 * foreign key then reports it).  The company row is locked FOR KEY SHARE,
 * which waits for a merge in progress and finds the id gone once it has
 * committed.  As the owner: a frontend role may not lock companies nor read
 * every merge record, and the row's workspace is the filter.
 */
static int64
FollowCompany(int64 ws, int64 id, bool *live)
{
	int64		start = id;
	Oid			relid = get_relname_relid("merges", get_namespace_oid("crm", false));
	CrmSavedUser saved;
	int			hops;

	*live = false;
	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	for (hops = 0; hops < 100; hops++)
	{
		Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
		bool		isnull;

		if (SPI_execute_plan(KeptPlan(&company_plan,
									  "SELECT 1 FROM crm.companies c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
									  " AND c.id OPERATOR(pg_catalog.=) $2 FOR KEY SHARE"),
							 values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "follow_merged_company: reading the company failed");
		if (SPI_processed == 1)
		{
			*live = true;
			break;
		}
		if (SPI_execute_plan(KeptPlan(&survivor_plan,
									  "SELECT m.survivor_id FROM crm.merges m"
									  " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1"
									  "   AND m.object_type OPERATOR(pg_catalog.=) 'company'"
									  "   AND m.loser_id OPERATOR(pg_catalog.=) $2 AND m.undone_at IS NULL"
									  " ORDER BY m.id DESC LIMIT 1"),
							 values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "follow_merged_company: reading the merge records failed");
		if (SPI_processed == 0)
		{
			id = start;
			break;
		}
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	CrmRestoreUser(&saved);
	if (hops >= 100)
	{
		*live = false;
		return start;
	}
	return id;
}

/*
 * crm_internal.follow_merged_company(column): BEFORE INSERT OR UPDATE OF
 * column, for each row, on a table whose foreign key points at companies.
 * An update that leaves the column alone costs nothing; an unmerge moves
 * rows back to the company it restores.
 */
Datum
crm_follow_merged_company(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			idatt;
	int			wsatt;
	bool		isnull;
	int64		ws;
	int64		id;
	int64		to;
	bool		live;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("follow_merged_company: must be fired before insert or update, for each row, with the company column as argument")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	idatt = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
	wsatt = SPI_fnumber(desc, "workspace_id");
	if (idatt <= 0 || wsatt <= 0)
		elog(ERROR, "follow_merged_company: column \"%s\" or workspace_id not found",
			 trigdata->tg_trigger->tgargs[0]);

	id = DatumGetInt64(heap_getattr(tuple, idatt, desc, &isnull));
	if (isnull || CrmUnmergeInProgress())
		return PointerGetDatum(tuple);
	ws = DatumGetInt64(heap_getattr(tuple, wsatt, desc, &isnull));
	if (isnull || (ws == moving_ws && id == moving_to))
		return PointerGetDatum(tuple);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		oldnull;
		Datum		old = heap_getattr(trigdata->tg_trigtuple, idatt, desc, &oldnull);

		if (!oldnull && DatumGetInt64(old) == id)
			return PointerGetDatum(tuple);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "follow_merged_company: SPI_connect failed");
	to = FollowCompany(ws, id, &live);
	SPI_finish();

	if (to != id)
	{
		Datum		v = Int64GetDatum(to);
		bool		n = false;

		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &idatt, &v, &n);
		CrmCheckDefined(tuple->t_data, tuple->t_len);
	}
	return PointerGetDatum(tuple);
}

/*
 * crm_hidden.resolve_company(company_id): the live company of the current
 * workspace an id stands for, locked FOR KEY SHARE: itself, or the survivor
 * its merge records lead to, as a row written with the id would get it.
 * crm.link_company and crm.unlink_company look it up before they write, so
 * a frontend holding a merged-away id needs no retry.
 */
Datum
crm_resolve_company(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	int64		to;
	bool		live;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "resolve_company: SPI_connect failed");
	to = FollowCompany(CrmCurrentWorkspace(), id, &live);
	SPI_finish();
	if (!live)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("company " INT64_FORMAT " does not exist", id),
				 errhint("Check the id; companies of other workspaces are not visible here.")));
	PG_RETURN_INT64(to);
}
