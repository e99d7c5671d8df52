/*-------------------------------------------------------------------------
 *
 * unmerge_companies.c
 *	  Undoing a company merge: the company kind of unmerge.h.
 *
 * A company merge deletes the duplicate (merge_companies.c), so an unmerge
 * inserts it again with its id, through the table as the caller: its
 * triggers write the events, history and list memberships a new company
 * gets.  Then the recorded rows still on the survivor move back, by the
 * foreign keys to crm.companies and the external ids, the dropped rows are
 * inserted again, and the survivor's contact links whose role or primary
 * flag the merge filled get them back where they still hold the merge's.
 *
 * The row path cannot make a merged company live: an INSERT of a company
 * whose id a holding merge record names, or an UPDATE that gives a company
 * that id, while its survivor exists, is refused (0A000), pointing at
 * crm.unmerge, so the id stays free for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "crm.h"
#include "merge.h"
#include "unmerge.h"

PG_FUNCTION_INFO_V1(crm_refuse_merged_company);

static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr keys_plan = NULL;
static SPIPlanPtr survivor_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr roles_plan = NULL;
static SPIPlanPtr promote_plan = NULL;
static SPIPlanPtr refuse_plan = NULL;

#define LINKS "crm.contact_companies.company_id"
#define XIDS "crm.external_ids.object_id"

static void
LockCompany(int64 ws, UnmergeRecord *rec)
{
	CrmMergeLock(ws);
}

/*
 * Both companies as the caller sees them, FOR UPDATE in id order (as merge
 * locks): the survivor must be there, the duplicate not.
 */
static Datum
CheckCompanies(int64 ws, UnmergeRecord *rec)
{
	/* $4 and $5 unused here: null, for Citus copies every parameter it is given */
	Datum		values[5] = {Int64GetDatum(ws), Int64GetDatum(rec->survivor), Int64GetDatum(rec->loser)};
	Datum		survivor_row = (Datum) 0;
	int64		later;

	if (SPI_execute_plan(CrmUnmergePrepare(&lock_plan,
										   "SELECT c.id, pg_catalog.to_jsonb(c) FROM crm.companies c"
										   " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
										   "   AND c.id OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])"
										   " ORDER BY c.id FOR UPDATE", 5),
						 values, "   nn", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: locking the companies failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (id == rec->loser)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("company " INT64_FORMAT ", merged away by merge " INT64_FORMAT ", exists again",
							rec->loser, rec->id),
					 errhint("Merge it into company " INT64_FORMAT " with crm.merge_companies or delete it, then run crm.unmerge again.",
							 rec->survivor)));
		survivor_row = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull),
								 false, -1);
	}
	if (survivor_row != (Datum) 0)
		return survivor_row;
	later = CrmUnmergeLaterMerge(ws, "company", rec->survivor);
	if (later != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("company " INT64_FORMAT ", the survivor of merge " INT64_FORMAT ", was merged itself since",
						rec->survivor, rec->id),
				 errhint("Undo the later merge first: crm.unmerge(" INT64_FORMAT ").", later)));
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("company " INT64_FORMAT " does not exist", rec->survivor),
			 errhint("Merge " INT64_FORMAT " cannot be undone once its survivor is deleted; companies of other workspaces are not visible here.",
					 rec->id)));
	return (Datum) 0;			/* not reached */
}

/* The duplicate's domain ($4) held by another company, or by the survivor's row $5 */
static void
CompanyKeys(Datum *values, bool preview, StringInfo taken)
{
	if (SPI_execute_plan(CrmUnmergePrepare(&keys_plan,
										   "SELECT c.domain, c.id FROM crm.companies c"
										   " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
										   "   AND c.domain OPERATOR(pg_catalog.=) ($4 OPERATOR(pg_catalog.->>) 'domain')"
										   "   AND c.id OPERATOR(pg_catalog.<>) $3"
										   "   AND (c.id OPERATOR(pg_catalog.<>) $2"
										   "        OR ($5 OPERATOR(pg_catalog.->>) 'domain') OPERATOR(pg_catalog.=) c.domain)", 5),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm unmerge: checking the domain failed");
	if (SPI_processed == 0)
		return;
	if (!preview)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("domain \"%s\" of company " INT64_FORMAT " is held by company %s now",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), DatumGetInt64(values[2]),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Change or clear it on company %s, then run crm.unmerge again.",
						 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
	CrmUnmergeAppendTaken(taken, "domain", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
}

static SPIPlanPtr
PrepareRef(const char *sql)
{
	static Oid	argtypes[5] = {INT8OID, INT8OID, INT8OID, JSONBOID, JSONBOID};
	SPIPlanPtr	plan = SPI_prepare(sql, 5, argtypes);

	if (plan == NULL)
		elog(ERROR, "crm unmerge: preparing failed (%s) for: %s", SPI_result_code_string(SPI_result), sql);
	return plan;
}

/* A reference's rows of keys $4 on the survivor: moved back, counted, and its dropped rows inserted again */
static void
FillRef(ContactRef *ref, const char *label, const char *rel, const char *col, const char *onto,
		const char *key, bool drops, const char *citus_back)
{
	char	   *in_keys = psprintf(CRM_KEY_IN_KEYS, key);

	ref->label = (char *) label;
	/* Citus takes no STABLE function (to_jsonb) of a column in an UPDATE's WHERE: its own statement there */
	ref->back_plan = PrepareRef(citus_back ? citus_back :
								psprintf("UPDATE %s r SET %s = $3 WHERE %s AND %s", rel, col, onto, in_keys));
	ref->count_back_plan = PrepareRef(psprintf("SELECT pg_catalog.count(*) FROM %s r WHERE %s AND %s",
											   rel, onto, in_keys));
	if (!drops)
		return;
	ref->nclashes = 1;
	ref->clashes = palloc0(sizeof(ClashRule));
	ref->clashes[0].undo_plan = PrepareRef(psprintf("INSERT INTO %s SELECT * FROM"
													" pg_catalog.jsonb_populate_recordset(NULL::%s, $4)"
													" ON CONFLICT DO NOTHING", rel, rel));
}

/*
 * The references whose rows move back: the foreign keys to crm.companies,
 * read from the catalog on each call as the merge reads them (the plans
 * live until SPI_finish), and the external ids, keyed [system, external_id]
 * as the merge records them.  A reference a unique key could have dropped
 * rows of inserts them again.
 */
static ContactRef *
CompanyRefs(int *nrefs)
{
	List	   *list = CrmCompanyRefs();
	ContactRef *refs = palloc0(sizeof(ContactRef) * (list_length(list) + 1));
	ListCell   *lc;
	int			n = 0;
	Oid			xids;

	foreach(lc, list)
	{
		CompanyRef *cref = lfirst(lc);

		FillRef(&refs[n++], cref->label, cref->rel, cref->col,
				psprintf("r.%s OPERATOR(pg_catalog.=) $1 AND r.%s OPERATOR(pg_catalog.=) $2",
						 cref->wscol, cref->col),
				cref->key, cref->clashes != NIL,
				cref->citus ? CrmMergeUpdateOfKeys(cref->relid, cref->rel, psprintf("%s = $3", cref->col),
												   cref->raw_wscol, cref->raw_col, NULL, NULL, 2) : NULL);
	}
	xids = get_relname_relid("external_ids", get_namespace_oid("crm", false));
	FillRef(&refs[n++], XIDS, "crm.external_ids", "object_id",
			"r.workspace_id OPERATOR(pg_catalog.=) $1 AND r.object_type OPERATOR(pg_catalog.=) 'company'"
			" AND r.object_id OPERATOR(pg_catalog.=) $2", "pg_catalog.jsonb_build_array(r.system, r.external_id)",
			true, CrmIsCitusTable(xids) ? CrmMergeUpdateOfKeys(xids, "crm.external_ids", "object_id = $3",
															   "workspace_id", "object_id", "object_type",
															   "company", 2) : NULL);
	*nrefs = n;
	return refs;
}

/*
 * The survivor's links whose role or primary flag the merge filled from the
 * duplicate's (now inserted again): the role back where it still holds the
 * duplicate's, the primary flag back to the duplicate's link where the
 * survivor's still has it (its trigger then clears the survivor's).
 */
/* a link of p by ctid; on Citus, which routes no statement that names a ctid, by key */
#define LINK_BY_CTID(a) a ".ctid OPERATOR(pg_catalog.=) p.tid"
#define LINK_BY_KEY(a, company) a ".workspace_id OPERATOR(pg_catalog.=) $1 AND " a ".company_id OPERATOR(pg_catalog.=) " company \
	" AND " a ".contact_id OPERATOR(pg_catalog.=) p.contact_id"
/* Citus takes no STABLE function (to_jsonb) of a column in an UPDATE: the contact id made a jsonb number by casts */
#define LINK_CONTACT_CITUS "(p.contact_id::pg_catalog.text)::pg_catalog.jsonb"
#define ROLES_SQL(match) \
	"UPDATE crm.contact_companies s SET role = NULL FROM " CRM_LINKS_PAIRED \
	" WHERE " match " AND p.n OPERATOR(pg_catalog.=) 2" \
	"   AND p.company_id OPERATOR(pg_catalog.=) $2 AND p.role IS NOT DISTINCT FROM p.d_role" \
	"   AND (p.contact_id OPERATOR(pg_catalog.=) ANY (SELECT o.contact_id" \
	"        FROM pg_catalog.jsonb_populate_recordset(NULL::crm.contact_companies, $4) o" \
	"        WHERE o.role IS NULL)) IS TRUE"
#define PROMOTE_SQL(match, contact) \
	"UPDATE crm.contact_companies d SET is_primary = true FROM " CRM_LINKS_PAIRED \
	" WHERE " match " AND p.n OPERATOR(pg_catalog.=) 2" \
	"   AND p.company_id OPERATOR(pg_catalog.=) $3 AND NOT p.is_primary AND p.s_primary" \
	"   AND (" contact " OPERATOR(pg_catalog.=) ANY" \
	"        (SELECT pg_catalog.jsonb_array_elements($4))) IS TRUE"

static void
RestoreLinks(Datum *values, UnmergeRecord *rec)
{
	bool		links_citus = CrmIsCitusTable(get_relname_relid("contact_companies", get_namespace_oid("crm", false)));

	values[3] = CrmUnmergeEntry(rec->demoted, LINKS, "filled");
	if (values[3] != (Datum) 0 &&
		SPI_execute_plan(CrmUnmergePrepare(&roles_plan,
										   links_citus ? ROLES_SQL(LINK_BY_KEY("s", "$2")) : ROLES_SQL(LINK_BY_CTID("s")), 5),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm unmerge: reverting the links' roles failed");
	values[3] = CrmUnmergeEntry(rec->demoted, LINKS, "is_primary");
	if (values[3] != (Datum) 0 &&
		SPI_execute_plan(CrmUnmergePrepare(&promote_plan,
										   links_citus ? PROMOTE_SQL(LINK_BY_KEY("d", "$3"), LINK_CONTACT_CITUS) :
										   PROMOTE_SQL(LINK_BY_CTID("d"), "pg_catalog.to_jsonb(p.contact_id)"), 5),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm unmerge: restoring the primary links failed");
}

/*
 * The writes, as the caller through the tables: the survivor's fields
 * first (it may give the duplicate's domain back), the duplicate inserted
 * with its id, its rows back, its history.
 */
static void
RestoreCompany(Datum *values, UnmergeRecord *rec, Datum revert_row, StringInfo moved, StringInfo restored,
			   StringInfo taken)
{
	int64		ws = DatumGetInt64(values[0]);
	ContactRef *refs;
	int			nrefs;

	refs = CompanyRefs(&nrefs);
	/* no contact moves: 0 is no contact's id, so the follow trigger follows every row */
	CrmMergeBeginMoving(ws, 0, true);
	PG_TRY();
	{
		values[3] = revert_row;
		if (SPI_execute_plan(CrmUnmergePrepare(&survivor_plan, crm_company_survivor_sql, 5),
							 values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "crm unmerge: reverting the survivor failed");
		values[3] = rec->loser_row;
		values[4] = revert_row;
		CompanyKeys(values, false, taken);
		if (SPI_execute_plan(CrmUnmergePrepare(&insert_plan,
											   "INSERT INTO crm.companies SELECT * FROM"
											   " pg_catalog.jsonb_populate_record(NULL::crm.companies, $4)", 5),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm unmerge: inserting the company again failed");
		CrmUnmergeMoveBack(refs, nrefs, values, rec, false, moved, restored);
		RestoreLinks(values, rec);
		if (rec->history != (Datum) 0)
			(void) CrmHistoryUnmerge(ws, "company", rec->survivor, rec->loser, rec->history);
		CrmMergeMovesDone();
	}
	PG_FINALLY();
	{
		CrmMergeEndMoving();
	}
	PG_END_TRY();
}

const UnmergeKind crm_unmerge_company = {
	.object_type = "company",
	.title = "Company",
	.table = "crm.companies",
	.merge_function = "crm.merge_companies",
	.event = "CRM_COMPANY_UNMERGED",
	.lock = LockCompany,
	.check = CheckCompanies,
	.keys = CompanyKeys,
	.refs = CompanyRefs,
	.restore = RestoreCompany,
	.activity_sql = "INSERT INTO crm.activities (workspace_id, company_id, type, subject, actor, payload)"
	" VALUES ($1, $2, 'unmerged', 'Unmerged company ' OPERATOR(pg_catalog.||) $3::pg_catalog.text,"
	"         'system', $4)",
};

/*
 * BEFORE INSERT OR UPDATE OF id row trigger on crm.companies: a company
 * whose id a holding merge record names is live again only through
 * crm.unmerge, not by an INSERT nor by another company taking its id.  A record
 * whose survivor is gone (deleted, truncated) can no longer be undone, and
 * keeps no id from a new row.  One probe of merges_loser per row, with a
 * kept plan.
 */
Datum
crm_refuse_merged_company(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	Datum		values[2];
	bool		isnull;
	Oid			relid;
	CrmSavedUser saved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("refuse_merged_company: must be fired before insert or update, for each row")));
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (CrmUnmergeInProgress())
		return PointerGetDatum(tuple);
	relid = get_relname_relid("merges", get_namespace_oid("crm", false));
	if (!OidIsValid(relid))
		return PointerGetDatum(tuple);
	desc = RelationGetDescr(trigdata->tg_relation);
	values[0] = heap_getattr(tuple, SPI_fnumber(desc, "workspace_id"), desc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);
	values[1] = heap_getattr(tuple, SPI_fnumber(desc, "id"), desc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);
	/* an update that keeps the id (and workspace) takes no id */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		n1,
					n2;
		Datum		oldws = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "workspace_id"), desc, &n1);
		Datum		oldid = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "id"), desc, &n2);

		if (!n1 && !n2 && DatumGetInt64(oldws) == DatumGetInt64(values[0]) &&
			DatumGetInt64(oldid) == DatumGetInt64(values[1]))
			return PointerGetDatum(tuple);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "refuse_merged_company: SPI_connect failed");
	/* the records as their owner: a frontend role reads only some */
	CrmBecomeOwner(CrmRelationOwner(relid), &saved);
	if (SPI_execute_plan(CrmUnmergePrepare(&refuse_plan,
										   "SELECT m.id, m.survivor_id FROM crm.merges m"
										   " WHERE m.workspace_id OPERATOR(pg_catalog.=) $1"
										   "   AND m.object_type OPERATOR(pg_catalog.=) 'company'"
										   "   AND m.loser_id OPERATOR(pg_catalog.=) $2 AND m.undone_at IS NULL"
										   "   AND EXISTS (SELECT FROM crm.companies s WHERE s.workspace_id OPERATOR(pg_catalog.=) $1"
										   "                  AND s.id OPERATOR(pg_catalog.=) m.survivor_id)"
										   " ORDER BY m.id LIMIT 1", 2),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "refuse_merged_company: reading the merge records failed");
	CrmRestoreUser(&saved);
	if (SPI_processed == 1)
	{
		char	   *merge = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("company " INT64_FORMAT " was merged into company %s by merge %s",
						DatumGetInt64(values[1]), SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						merge),
				 errhint("Undo the merge to make it live again: SELECT crm.unmerge(%s).", merge)));
	}
	SPI_finish();
	return PointerGetDatum(tuple);
}
