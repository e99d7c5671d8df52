/*-------------------------------------------------------------------------
 *
 * merge.h
 *	  What merge.c shares with unmerge.c: the cache of the columns that
 *	  hold contact ids, with the statements that move their rows either
 *	  way, and the merge lock; and with merge_companies.c, the writing of
 *	  the merge record (crm.merges).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MERGE_H
#define CRM_MERGE_H

#include "access/attnum.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* locktag_field4 of the per-workspace merge lock; SQL advisory locks use 1 and 2 */
#define MERGE_LOCK_FIELD4 0x4D52

/*
 * "The row's key (%s) is one of the keys in $4": a hashed subplan, one hash
 * of the keys and one probe per row.  Not key = ANY (ARRAY(...)), which
 * compares each row with every key, nor a top-level IN, which the planner
 * may turn into a join chosen from an estimate of one row per contact.
 */
#define CRM_KEY_IN_KEYS "(%s OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.jsonb_array_elements($4))) IS TRUE"

/*
 * The contact links of the survivor ($2) and the duplicate ($3), read once
 * and grouped by contact, as p: each row sees how many of the two the
 * contact has (n), the duplicate's role and primary flag and the
 * survivor's flag.  A join of the two would be planned from an estimate of
 * one link per company and scan all of one's links for each of the other's.
 */
#define CRM_LINKS_PAIRED \
	"(SELECT c.ctid AS tid, pg_catalog.to_jsonb(c) AS r, c.contact_id, c.company_id, c.role, c.is_primary," \
	"        pg_catalog.count(*) OVER w AS n," \
	"        pg_catalog.max(c.role) FILTER (WHERE c.company_id OPERATOR(pg_catalog.=) $3) OVER w AS d_role," \
	"        pg_catalog.bool_or(c.is_primary) FILTER (WHERE c.company_id OPERATOR(pg_catalog.=) $3) OVER w AS d_primary," \
	"        pg_catalog.bool_or(c.is_primary) FILTER (WHERE c.company_id OPERATOR(pg_catalog.=) $2) OVER w AS s_primary" \
	"   FROM crm.contact_companies c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1" \
	"    AND c.company_id OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])" \
	" WINDOW w AS (PARTITION BY c.contact_id)) p"

/*
 * The seen times of contact $n of workspace $1 written from a row m: widened
 * by the contact's conversations, as crm_hidden.sync_conversation_counters
 * widens them, so that a survivor's reverted times or a restored loser's
 * cover the conversations it has now without a second recount.
 */
#define CRM_SEEN_TIMES_SQL(n) \
	" first_seen_at = LEAST(m.first_seen_at, (SELECT pg_catalog.min(v.started_at) FROM crm.conversations v" \
	"   WHERE v.workspace_id OPERATOR(pg_catalog.=) $1 AND v.contact_id OPERATOR(pg_catalog.=) $" #n "))," \
	" last_seen_at = GREATEST(m.last_seen_at, (SELECT pg_catalog.max(v.started_at) FROM crm.conversations v" \
	"   WHERE v.workspace_id OPERATOR(pg_catalog.=) $1 AND v.contact_id OPERATOR(pg_catalog.=) $" #n "))"

/* A unique key that a moved row could collide with on the survivor */
typedef struct ClashRule
{
	bool		demote;			/* clear a flag instead of dropping the row */
	char	   *flag;			/* the flag column, for demote */
	SPIPlanPtr	apply_plan;		/* DELETE or UPDATE of the duplicate's clashing rows: their rows or keys */
	SPIPlanPtr	count_plan;		/* how many rows apply_plan would touch */
	SPIPlanPtr	undo_plan;		/* unmerge: re-insert the dropped rows, or set the flag again */
} ClashRule;

/*
 * One column that holds contact ids.  A row is known by its key: its primary
 * key without the workspace, contact and type columns, as jsonb (a scalar
 * for one column, an array for more, the whole row when there is none).
 * Statements take ($1 workspace, $2 survivor, $3 duplicate, $4 jsonb).
 */
typedef struct ContactRef
{
	char	   *label;			/* "crm.conversations.contact_id" */
	Oid			relid;			/* its table */
	AttrNumber	idatt;			/* and column */
	bool		is_self;		/* crm.contacts.merged_into: chain collapse */
	int			nclashes;
	ClashRule  *clashes;
	SPIPlanPtr	move_plan;		/* the duplicate's rows to the survivor: keys moved, count */
	SPIPlanPtr	count_plan;
	SPIPlanPtr	back_plan;		/* the rows of keys $4 still on the survivor back to the duplicate */
	SPIPlanPtr	count_back_plan;	/* how many back_plan would move */
} ContactRef;

/*
 * What a merge did, for crm.unmerge: the keys of the rows moved, the rows
 * dropped whole, the rows whose flags the merge changed, each a JSON object
 * by reference label ("crm.deals.contact_id").
 */
typedef struct MergeRecord
{
	StringInfoData moved;
	StringInfoData dropped;
	StringInfoData demoted;
} MergeRecord;

/* A column holding company ids (a foreign key to crm.companies), and the statements on it */
typedef struct CompanyRef
{
	char	   *label;			/* "crm.deals.company_id" */
	char	   *rel;			/* "crm.deals", quoted */
	char	   *wscol;			/* its workspace and company columns, quoted */
	char	   *col;
	char	   *key;			/* the key of a row r (see ContactRef) */
	bool		citus;			/* a Citus table: rows found by key, not by ctid */
	Oid			relid;
	char	   *raw_wscol;		/* its workspace and company columns, unquoted */
	char	   *raw_col;
	char	   *rows;			/* "FROM crm.deals WHERE <the duplicate's rows>" */
	char	   *move;			/* UPDATE ... SET company_id = $2, the keys moved and their count */
	List	   *clashes;		/* the duplicate's rows a unique key keeps off the survivor */
} CompanyRef;

extern ContactRef *crm_merge_refs;
extern int	crm_merge_nrefs;

/* merge.c */
extern void CrmMergePrepare(void);
extern bool CrmMergeOnWorker(void);
extern bool CrmMergeMovesAsOwner(const ContactRef *ref);
extern Datum CrmMergeRouted(const char *sql, int nargs, int64 ws, int64 id, int64 other, Oid result_type);
extern int64 CrmMergeWorkspaceArg(FunctionCallInfo fcinfo);
extern void CrmMergeLock(int64 ws);
extern void CrmMergeLockShared(int64 ws);
extern void CrmMergeBeginMoving(int64 ws, int64 to, bool unmerging);
extern void CrmMergeMovesDone(void);
extern void CrmMergeEndMoving(void);
extern SPIPlanPtr CrmMergeSurvivorPlan(void);
extern char *CrmMergeKeyExpr(Oid relid, const char *alias, const char *wscol, const char *idcol);
extern char *CrmMergeUpdateOfKeys(Oid relid, const char *rel, const char *set, const char *wscol,
								  const char *idcol, const char *typecol, const char *typeval, int param);
extern char *CrmMergeKeysReturned(Oid relid, const char *alias, const char *wscol, const char *idcol);
extern void CrmMergeRecordInit(MergeRecord *rec);
extern int64 CrmMergeRunRecorded(SPIPlanPtr plan, Datum *values, const char *label, Datum *acc);
extern void CrmMergeRecordEntry(StringInfo obj, const char *label, const char *suffix, Datum value, bool isnull);
extern void CrmMergeRecordWrite(int64 ws, const char *object_type, const char *source, int64 survivor,
								int64 duplicate, Datum loser_row, Datum before_s, Datum after_s,
								Datum history, MergeRecord *rec);

/* merge_companies.c */
extern List *CrmCompanyRefs(void);
extern const char *const crm_company_survivor_sql;

#endif							/* CRM_MERGE_H */
