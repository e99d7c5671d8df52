/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  Merging one contact into another, its preview, and the trigger that
 *	  sends rows written for a merged contact to its survivor.
 *
 * Nothing here names the tables that point at contacts.  They are read from
 * the view crm.contact_reference_map (foreign keys to crm.contacts found in
 * pg_constraint, plus registered polymorphic columns), and for each one the
 * statements that move, count and de-duplicate its rows are built from the
 * catalog, prepared once and kept for the life of the backend.  The cache is
 * dropped when a constraint or index changes or the registry is written.
 *
 * Concurrency: merges within a workspace take one transaction-level advisory
 * lock, then lock both contact rows FOR UPDATE in id order.  Serialising
 * merges makes every interleaving of overlapping merges ({A,B} with {B,A} or
 * {B,C}) deadlock-free without retry logic; merges are rare and short.  A
 * contact that another merge absorbed while we waited is followed to its
 * survivor, so the caller's intent (these are one person) still holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_merge_contacts);
PG_FUNCTION_INFO_V1(crm_merge_preview);
PG_FUNCTION_INFO_V1(crm_follow_merged_contact);
PG_FUNCTION_INFO_V1(crm_contact_references_changed);

/* locktag_field4 of the per-workspace merge lock; SQL advisory locks use 1 and 2 */
#define MERGE_LOCK_FIELD4 0x4D52

/* A unique key that a moved row could collide with on the survivor */
typedef struct ClashRule
{
	bool		demote;			/* clear a flag instead of dropping the row */
	char	   *flag;			/* the flag column, for demote */
	SPIPlanPtr	apply_plan;		/* DELETE or UPDATE of the duplicate's clashing rows */
	SPIPlanPtr	count_plan;		/* how many rows apply_plan would touch */
} ClashRule;

/* One column that holds contact ids */
typedef struct ContactRef
{
	char	   *label;			/* "crm.conversations.contact_id" */
	bool		is_self;		/* crm.contacts.merged_into: chain collapse */
	int			nclashes;
	ClashRule  *clashes;
	SPIPlanPtr	move_plan;
	SPIPlanPtr	count_plan;
} ContactRef;

static MemoryContext RefCacheContext = NULL;
static ContactRef *refs = NULL;
static int	nrefs = 0;
static bool refs_valid = false;
static bool refs_complete = false;	/* false after a build that errored out */
static Oid	registry_relid = InvalidOid;
static bool callbacks_registered = false;
static int	merge_depth = 0;

/*
 * The survivor of the merge in progress: locked FOR UPDATE by us and live, so
 * the follow trigger need not look it up for each row being moved onto it.
 */
static int64 moving_ws = 0;
static int64 moving_to = 0;

/* Fixed statements on crm.contacts, prepared on first use */
static SPIPlanPtr read_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr merged_plan = NULL;
static SPIPlanPtr mark_plan = NULL;
static SPIPlanPtr survivor_plan = NULL;
static SPIPlanPtr sync_plan = NULL;
static SPIPlanPtr activity_plan = NULL;
static SPIPlanPtr follow_plan = NULL;

static Oid	merge_argtypes[4] = {INT8OID, INT8OID, INT8OID, JSONBOID};

static SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "crm merge: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "crm merge: SPI_keepplan failed");
	return plan;
}

/* ----------------------------------------------------------------
 * The reference cache
 * ----------------------------------------------------------------
 */

/* Invalidation only marks the cache stale: a merge may be using its plans. */
static void
RefCacheSyscacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	refs_valid = false;
}

void
CrmContactRefsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_relid)
		refs_valid = false;
}

static void
FreeRefCache(void)
{
	int			i,
				j;

	for (i = 0; i < nrefs; i++)
	{
		for (j = 0; j < refs[i].nclashes; j++)
		{
			SPI_freeplan(refs[i].clashes[j].apply_plan);
			SPI_freeplan(refs[i].clashes[j].count_plan);
		}
		SPI_freeplan(refs[i].move_plan);
		SPI_freeplan(refs[i].count_plan);
	}
	if (RefCacheContext != NULL)
		MemoryContextReset(RefCacheContext);
	refs = NULL;
	nrefs = 0;
}

static char *
GetText(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* "col = $n" for the rows of one contact, qualified by alias when given */
static void
AppendRowFilter(StringInfo buf, const char *alias, const char *wscol, const char *idcol,
				const char *typecol, const char *typeval, int param)
{
	const char *a = alias ? alias : "";
	const char *dot = alias ? "." : "";

	appendStringInfo(buf, "%s%s%s OPERATOR(pg_catalog.=) $1 AND %s%s%s OPERATOR(pg_catalog.=) $%d",
					 a, dot, wscol, a, dot, idcol, param);
	if (typecol)
		appendStringInfo(buf, " AND %s%s%s OPERATOR(pg_catalog.=) %s",
						 a, dot, typecol, quote_literal_cstr(typeval));
}

/*
 * The rows of the duplicate that collide on a unique key with a row of the
 * survivor: the survivor's row is kept.  A partial unique index whose only
 * key is the contact and whose predicate is a boolean column ("at most one
 * primary company") is handled by clearing the duplicate's flag instead.
 */
static void
BuildClashRules(ContactRef *ref, Oid relid, const char *rel, const char *wscol,
				const char *idcol, const char *typecol, const char *typeval,
				const char *raw_wscol, const char *raw_idcol)
{
	StringInfoData q;
	int			n;
	int			i;
	int			ret;
	SPITupleTable *tt;
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];

	initStringInfo(&q);
	appendStringInfoString(&q,
						   "SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid),"
						   "       ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k OPERATOR(pg_catalog.+) 1, false)"
						   "               FROM pg_catalog.generate_series(0, i.indnkeyatts OPERATOR(pg_catalog.-) 1) k"
						   "              WHERE i.indkey[k] OPERATOR(pg_catalog.<>) ALL (ARRAY["
						   "                     (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $2),"
						   "                     (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $3)])"
						   "              ORDER BY k)::text[],"
						   "       i.indnullsnotdistinct,"
						   "       (SELECT a.attname FROM pg_catalog.pg_attribute a"
						   "         WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.bool'::pg_catalog.regtype"
						   "           AND NOT a.attisdropped"
						   "           AND pg_catalog.quote_ident(a.attname) OPERATOR(pg_catalog.=) pg_catalog.pg_get_expr(i.indpred, i.indrelid))"
						   "  FROM pg_catalog.pg_index i"
						   " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique"
						   "   AND (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $3)"
						   "       OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])"
						   " ORDER BY i.indexrelid");
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(raw_wscol);
	values[2] = CStringGetTextDatum(raw_idcol);
	ret = SPI_execute_with_args(q.data, 3, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading unique indexes of %s failed", rel);
	n = SPI_processed;

	{
		MemoryContext old = MemoryContextSwitchTo(RefCacheContext);

		ref->clashes = palloc0(sizeof(ClashRule) * Max(n, 1));
		MemoryContextSwitchTo(old);
	}
	ref->nclashes = 0;

	/* Deletes first, then demotes: a dropped row needs no demoting */
	tt = SPI_tuptable;
	for (int pass = 0; pass < 2; pass++)
	{

		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	desc = tt->tupdesc;
			char	   *pred = GetText(tup, desc, 1);
			bool		isnull;
			Datum		keysd = SPI_getbinval(tup, desc, 2, &isnull);
			bool		nnd = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			char	   *flag = GetText(tup, desc, 4);
			ArrayType  *keys = DatumGetArrayTypeP(keysd);
			Datum	   *kd;
			bool	   *kn;
			int			nk;
			bool		demote;
			StringInfoData core,
						apply,
						count;
			ClashRule  *rule;
			MemoryContext old;

			deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &kd, &kn, &nk);
			demote = (nk == 0 && flag != NULL);
			if (demote != (pass == 1))
				continue;

			initStringInfo(&core);
			initStringInfo(&apply);
			initStringInfo(&count);
			if (demote)
			{
				const char *qf = quote_identifier(flag);

				appendStringInfo(&core, " FROM %s d WHERE ", rel);
				AppendRowFilter(&core, "d", wscol, idcol, typecol, typeval, 3);
				appendStringInfo(&core, " AND d.%s AND EXISTS (SELECT 1 FROM %s s WHERE ", qf, rel);
				AppendRowFilter(&core, "s", wscol, idcol, typecol, typeval, 2);
				appendStringInfo(&core, " AND s.%s)", qf);
				appendStringInfo(&apply, "UPDATE %s d SET %s = false", rel, qf);
				/* UPDATE takes its WHERE after SET: re-use the filter part */
				appendStringInfoString(&apply, strstr(core.data, " WHERE "));
				appendStringInfo(&count, "SELECT pg_catalog.count(*)%s", core.data);
			}
			else
			{
				int			k;

				appendStringInfoString(&core, "SELECT d.tid FROM (SELECT ctid AS tid");
				for (k = 0; k < nk; k++)
					appendStringInfo(&core, ", %s AS k%d", TextDatumGetCString(kd[k]), k);
				appendStringInfo(&core, " FROM %s WHERE ", rel);
				AppendRowFilter(&core, NULL, wscol, idcol, typecol, typeval, 3);
				if (pred)
					appendStringInfo(&core, " AND (%s)", pred);
				appendStringInfoString(&core, ") d JOIN (SELECT 1 AS one");
				for (k = 0; k < nk; k++)
					appendStringInfo(&core, ", %s AS k%d", TextDatumGetCString(kd[k]), k);
				appendStringInfo(&core, " FROM %s WHERE ", rel);
				AppendRowFilter(&core, NULL, wscol, idcol, typecol, typeval, 2);
				if (pred)
					appendStringInfo(&core, " AND (%s)", pred);
				appendStringInfoString(&core, ") s ON true");
				for (k = 0; k < nk; k++)
					appendStringInfo(&core, " AND d.k%d %s s.k%d", k,
									 nnd ? "IS NOT DISTINCT FROM" : "OPERATOR(pg_catalog.=)", k);
				appendStringInfo(&apply,
								 "DELETE FROM %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(%s))",
								 rel, core.data);
				appendStringInfo(&count, "SELECT pg_catalog.count(*) FROM (%s) x", core.data);
			}

			old = MemoryContextSwitchTo(RefCacheContext);
			rule = &ref->clashes[ref->nclashes++];
			rule->demote = demote;
			rule->flag = flag ? pstrdup(flag) : NULL;
			MemoryContextSwitchTo(old);
			rule->apply_plan = PrepareKept(apply.data, 3, merge_argtypes);
			rule->count_plan = PrepareKept(count.data, 3, merge_argtypes);
		}
	}
}

static void
BuildRefCache(void)
{
	SPITupleTable *tt;
	int			n;
	int			i;

	if (!callbacks_registered)
	{
		RefCacheContext = AllocSetContextCreate(CacheMemoryContext,
												"crm contact reference cache",
												ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(CONSTROID, RefCacheSyscacheCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(INDEXRELID, RefCacheSyscacheCallback, (Datum) 0);
		callbacks_registered = true;
	}
	FreeRefCache();
	/* set before reading, so an invalidation arriving meanwhile is not lost */
	refs_valid = true;
	refs_complete = false;

	if (SPI_execute("SELECT r.rel::pg_catalog.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
					"       pg_catalog.quote_ident(r.workspace_column), pg_catalog.quote_ident(r.id_column),"
					"       pg_catalog.quote_ident(r.type_column), r.type_value,"
					"       r.rel OPERATOR(pg_catalog.=) 'crm.contacts'::pg_catalog.regclass,"
					"       n.nspname || '.' || c.relname || '.' || r.id_column,"
					"       r.workspace_column, r.id_column"
					"  FROM crm.contact_reference_map r"
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.rel"
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					" ORDER BY 8", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading crm.contact_reference_map failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	registry_relid = get_relname_relid("contact_references", get_namespace_oid("crm", false));

	refs = MemoryContextAllocZero(RefCacheContext, sizeof(ContactRef) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	desc = tt->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *rel = GetText(tup, desc, 2);
		char	   *wscol = GetText(tup, desc, 3);
		char	   *idcol = GetText(tup, desc, 4);
		char	   *typecol = GetText(tup, desc, 5);
		char	   *typeval = GetText(tup, desc, 6);
		ContactRef *ref = &refs[nrefs];
		StringInfoData sql;

		ref->is_self = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		ref->label = MemoryContextStrdup(RefCacheContext, GetText(tup, desc, 8));

		initStringInfo(&sql);
		appendStringInfo(&sql, "UPDATE %s SET %s = $2 WHERE ", rel, idcol);
		AppendRowFilter(&sql, NULL, wscol, idcol, typecol, typeval, 3);
		ref->move_plan = PrepareKept(sql.data, 3, merge_argtypes);

		resetStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM %s WHERE ", rel);
		AppendRowFilter(&sql, NULL, wscol, idcol, typecol, typeval, 3);
		ref->count_plan = PrepareKept(sql.data, 3, merge_argtypes);

		BuildClashRules(ref, relid, rel, wscol, idcol, typecol, typeval,
						GetText(tup, desc, 9), GetText(tup, desc, 10));
		nrefs++;
	}
	refs_complete = true;
}

/* ----------------------------------------------------------------
 * Fixed statements
 * ----------------------------------------------------------------
 */

/* The survivor's non-null fields win, gaps are filled from the duplicate */
#define MERGED_RECORD_SQL \
	"SELECT pg_catalog.to_jsonb(m) FROM (" \
	" SELECT s.workspace_id, s.id," \
	"        coalesce(s.name, d.name) AS name, coalesce(s.email, d.email) AS email," \
	"        coalesce(s.phone, d.phone) AS phone, coalesce(s.identifier, d.identifier) AS identifier," \
	"        coalesce(s.verified_id, d.verified_id) AS verified_id," \
	"        greatest(s.identity_source, d.identity_source) AS identity_source," \
	"        coalesce(s.avatar_url, d.avatar_url) AS avatar_url," \
	"%s" /* MERGED_PROFILE_SQL, or MERGED_CITY_SQL before 0.3.0 */ \
	/* furthest down the funnel; 'other' is off the funnel and loses to any stage */ \
	"        CASE WHEN s.lifecycle_stage IS NULL OR s.lifecycle_stage OPERATOR(pg_catalog.=) 'other' THEN coalesce(d.lifecycle_stage, s.lifecycle_stage)" \
	"             WHEN d.lifecycle_stage IS NULL OR d.lifecycle_stage OPERATOR(pg_catalog.=) 'other' THEN s.lifecycle_stage" \
	"             ELSE greatest(s.lifecycle_stage, d.lifecycle_stage) END AS lifecycle_stage," \
	"        s.status, s.merged_into, coalesce(s.owner, d.owner) AS owner," \
	/* a block is a safety flag: either side's block holds */ \
	"        s.blocked OR d.blocked AS blocked," \
	"        crm.normalize_tags(s.tags OPERATOR(pg_catalog.||) d.tags) AS tags," \
	"%s" /* MERGED_MODULES_SQL where contacts have active_modules */ \
	"        d.properties OPERATOR(pg_catalog.||) s.properties AS properties," \
	"        least(s.first_seen_at, d.first_seen_at) AS first_seen_at," \
	"        greatest(s.last_seen_at, d.last_seen_at) AS last_seen_at," \
	"        s.conversation_count OPERATOR(pg_catalog.+) d.conversation_count AS conversation_count," \
	"        s.created_at, s.updated_at, s.deleted_at" \
	"   FROM crm.contacts s JOIN crm.contacts d" \
	"     ON d.workspace_id OPERATOR(pg_catalog.=) s.workspace_id AND d.id OPERATOR(pg_catalog.=) $3" \
	"%s" /* MERGED_ADDRESS_SQL */ \
	"  WHERE s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2) m"

/*
 * The address is one place: the survivor's whole address when it has any
 * part of one, else the duplicate's, never a street of one with the city
 * of the other.  Social profiles, one per network, fill gaps like names.
 */
#define MERGED_PROFILE_SQL \
	"        a.street, a.address_line2, a.city, a.region, a.postal_code, a.country," \
	"        coalesce(s.linkedin, d.linkedin) AS linkedin, coalesce(s.x, d.x) AS x," \
	"        coalesce(s.instagram, d.instagram) AS instagram, coalesce(s.facebook, d.facebook) AS facebook," \
	"        coalesce(s.github, d.github) AS github, coalesce(s.website, d.website) AS website,"
#define MERGED_ADDRESS_SQL \
	"   CROSS JOIN LATERAL (SELECT a.* FROM (VALUES" \
	"          (0, s.street, s.address_line2, s.city, s.region, s.postal_code, s.country)," \
	"          (1, d.street, d.address_line2, d.city, d.region, d.postal_code, d.country))" \
	"          a (side, street, address_line2, city, region, postal_code, country)" \
	"        ORDER BY pg_catalog.num_nonnulls(a.street, a.address_line2, a.city, a.region, a.postal_code, a.country)" \
	"                 OPERATOR(pg_catalog.=) 0, a.side LIMIT 1) a"
/* a 0.2.0 install: city and country only, each filling a gap */
#define MERGED_CITY_SQL \
	"        coalesce(s.city, d.city) AS city, coalesce(s.country, d.country) AS country,"

/* The modules either used, each at the later of its two times */
#define MERGED_MODULES_SQL \
	"        (SELECT coalesce(pg_catalog.jsonb_object_agg(u.key, u.value), '{}'::pg_catalog.jsonb)" \
	"           FROM (SELECT DISTINCT ON (e.key) e.key, e.value" \
	"                   FROM (SELECT * FROM pg_catalog.jsonb_each(s.active_modules)" \
	"                         UNION ALL SELECT * FROM pg_catalog.jsonb_each(d.active_modules)) e" \
	"                  ORDER BY e.key, (e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.timestamptz DESC) u" \
	"        ) AS active_modules,"

static void
PrepareFixedPlans(void)
{
	/* an install of 0.2.0 runs this library too: its contacts have no active_modules */
	bool		modules = CrmContactsHaveActiveModules();
	bool		profiles = CrmContactsHaveColumn("street");
	Oid			lockargs[2] = {INT8OID, INT8ARRAYOID};

	if (activity_plan != NULL)
		return;
	read_plan = PrepareKept("SELECT c.status::text, c.merged_into FROM crm.contacts c"
							" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
							2, merge_argtypes);
	lock_plan = PrepareKept("SELECT c.id, c.status::text, c.merged_into FROM crm.contacts c"
							" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) ANY ($2)"
							" ORDER BY c.id FOR UPDATE",
							2, lockargs);
	merged_plan = PrepareKept(psprintf(MERGED_RECORD_SQL, profiles ? MERGED_PROFILE_SQL : MERGED_CITY_SQL,
									   modules ? MERGED_MODULES_SQL : "", profiles ? MERGED_ADDRESS_SQL : ""),
							  3, merge_argtypes);
	mark_plan = PrepareKept("UPDATE crm.contacts SET status = 'merged', merged_into = $2"
							" WHERE workspace_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $3",
							3, merge_argtypes);
	survivor_plan = PrepareKept(psprintf("UPDATE crm.contacts c SET name = m.name, email = m.email, phone = m.phone,"
								" identifier = m.identifier, verified_id = m.verified_id,"
								" identity_source = m.identity_source, avatar_url = m.avatar_url, city = m.city,"
								" country = m.country, lifecycle_stage = m.lifecycle_stage, owner = m.owner,"
								" blocked = m.blocked, tags = m.tags, properties = m.properties,"
								" first_seen_at = m.first_seen_at, last_seen_at = m.last_seen_at%s%s"
								" FROM pg_catalog.jsonb_populate_record(NULL::crm.contacts, $4) m"
								" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
								modules ? ", active_modules = m.active_modules" : "",
								profiles ? ", street = m.street, address_line2 = m.address_line2, region = m.region,"
								" postal_code = m.postal_code, linkedin = m.linkedin, x = m.x, instagram = m.instagram,"
								" facebook = m.facebook, github = m.github, website = m.website" : ""),
								4, merge_argtypes);
	sync_plan = PrepareKept("SELECT crm_hidden.sync_conversation_counters(ARRAY[$1, $1], ARRAY[$2, $3])",
							3, merge_argtypes);
	activity_plan = PrepareKept("INSERT INTO crm.activities (workspace_id, contact_id, type, subject, actor, payload)"
								" VALUES ($1, $2, 'merged', 'Merged contact ' OPERATOR(pg_catalog.||) $3::text, 'system', $4)",
								4, merge_argtypes);
}

static int64
CountRows(SPIPlanPtr plan, Datum *values)
{
	bool		isnull;

	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: count failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A contact's status before any lock: what the caller asked about */
static void
CheckMergeable(int64 ws, int64 id)
{
	Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
	char	   *status;

	if (SPI_execute_plan(read_plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: reading contact failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("contact " INT64_FORMAT " does not exist", id),
				 errhint("Check the id; contacts of other workspaces are not visible here.")));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "merged") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contact " INT64_FORMAT " was already merged into contact %s", id,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Use crm.resolve_contact(" INT64_FORMAT ") to find the live contact.", id)));
	if (strcmp(status, "deleted") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contact " INT64_FORMAT " is deleted", id),
				 errhint("Only live (active or archived) contacts can be merged.")));
}

/*
 * Lock both rows in id order.  A contact merged by a concurrent merge while
 * we waited is replaced by its survivor and the locking repeated; returns
 * false when both now name the same contact.
 */
static bool
LockPair(int64 ws, int64 *survivor, int64 *duplicate)
{
	for (;;)
	{
		Datum		ids[2] = {Int64GetDatum(*survivor), Int64GetDatum(*duplicate)};
		Datum		values[2];
		bool		moved = false;
		uint64		i;

		values[0] = Int64GetDatum(ws);
		values[1] = PointerGetDatum(construct_array(ids, 2, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_plan(lock_plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm merge: locking contacts failed");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *status = SPI_getvalue(tup, desc, 2);

			if (strcmp(status, "deleted") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("contact " INT64_FORMAT " was deleted while waiting to merge it", id),
						 errhint("Only live (active or archived) contacts can be merged.")));
			if (strcmp(status, "merged") == 0)
			{
				int64		target = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));

				if (id == *survivor)
					*survivor = target;
				if (id == *duplicate)
					*duplicate = target;
				moved = true;
			}
		}
		if (SPI_processed != 2 && !moved)
			elog(ERROR, "crm merge: contact vanished while locked");
		if (*survivor == *duplicate)
			return false;
		if (!moved)
			return true;
	}
}

static void
AppendCounts(StringInfo buf, const char *key, int64 *counts)
{
	int			i;
	bool		first = true;

	appendStringInfo(buf, ", \"%s\": {", key);
	for (i = 0; i < nrefs; i++)
	{
		if (counts[i] == 0)
			continue;
		appendStringInfo(buf, "%s", first ? "" : ", ");
		escape_json(buf, refs[i].label);
		appendStringInfo(buf, ": " INT64_FORMAT, counts[i]);
		first = false;
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Re-parent (or, for a preview, count) the rows of every reference.  The
 * depth counter keeps a cache invalidation arriving meanwhile from freeing
 * plans in use.
 */
static void
RunRefStatements(Datum *values, bool preview, int64 *moved, int64 *dropped)
{
	int			i,
				j;

	merge_depth++;
	moving_ws = DatumGetInt64(values[0]);
	moving_to = DatumGetInt64(values[1]);
	PG_TRY();
	{
		if (!preview)
		{
			/* release the duplicate's unique keys before the survivor takes them */
			if (SPI_execute_plan(mark_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "crm merge: marking the duplicate failed");
			if (SPI_execute_plan(survivor_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "crm merge: updating the survivor failed");
		}
		for (i = 0; i < nrefs; i++)
		{
			ContactRef *ref = &refs[i];

			for (j = 0; j < ref->nclashes; j++)
			{
				ClashRule  *rule = &ref->clashes[j];

				if (preview)
					dropped[i] += rule->demote ? 0 : CountRows(rule->count_plan, values);
				else
				{
					int			ret = SPI_execute_plan(rule->apply_plan, values, NULL, false, 0);

					if (ret != SPI_OK_DELETE && ret != SPI_OK_UPDATE)
						elog(ERROR, "crm merge: resolving key clashes in %s failed", ref->label);
					if (!rule->demote)
						dropped[i] += SPI_processed;
				}
			}
			if (preview)
				moved[i] = CountRows(ref->count_plan, values) - dropped[i];
			else
			{
				if (SPI_execute_plan(ref->move_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
					elog(ERROR, "crm merge: moving rows of %s failed", ref->label);
				moved[i] = SPI_processed;
			}
		}
	}
	PG_FINALLY();
	{
		merge_depth--;
		moving_ws = moving_to = 0;
	}
	PG_END_TRY();
}

/*
 * The one code path of merge and preview: with preview set it counts what
 * would move and returns the report without writing.
 */
static Datum
MergeContacts(int64 survivor, int64 duplicate, bool preview)
{
	int64		ws = CrmCurrentWorkspace();
	Datum		values[4];
	bool		isnull;
	Datum		merged;
	int64	   *moved;
	int64	   *dropped;
	StringInfoData report;
	Datum		result;

	if (survivor == duplicate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge contact " INT64_FORMAT " into itself", survivor),
				 errhint("Pass two different contact ids: the survivor first, then the duplicate.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm merge: SPI_connect failed");
	PrepareFixedPlans();
	if (!refs_complete || (!refs_valid && merge_depth == 0))
		BuildRefCache();

	CheckMergeable(ws, survivor);
	CheckMergeable(ws, duplicate);

	if (!preview)
	{
		LOCKTAG		tag;

		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) ws >> 32), (uint32) ws, MERGE_LOCK_FIELD4);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		if (!LockPair(ws, &survivor, &duplicate))
		{
			SPI_finish();
			return Int64GetDatum(survivor);
		}
	}

	values[0] = Int64GetDatum(ws);
	values[1] = Int64GetDatum(survivor);
	values[2] = Int64GetDatum(duplicate);
	if (SPI_execute_plan(merged_plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm merge: computing the merged record failed");
	merged = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	values[3] = merged;

	moved = palloc0(sizeof(int64) * Max(nrefs, 1));
	dropped = palloc0(sizeof(int64) * Max(nrefs, 1));

	/*
	 * The duplicate's history first: the survivor's update below then finds
	 * it in place, for the dynamic lists that ask EVER.
	 */
	if (!preview)
		CrmHistoryMerge(ws, survivor, duplicate);
	RunRefStatements(values, preview, moved, dropped);

	initStringInfo(&report);
	appendStringInfo(&report, "{\"survivor\": " INT64_FORMAT ", \"duplicate\": " INT64_FORMAT,
					 survivor, duplicate);
	AppendCounts(&report, "moved", moved);
	AppendCounts(&report, "dropped", dropped);

	if (preview)
	{
		char	   *mtext = JsonbToCString(NULL, &DatumGetJsonbP(merged)->root, 0);

		appendStringInfo(&report, ", \"merged\": %s}", mtext);
		{
			/* built in the SPI context: copy it out before SPI_finish */
			Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data)));
			Jsonb	   *copy = SPI_palloc(VARSIZE(jb));

			memcpy(copy, jb, VARSIZE(jb));
			result = JsonbPGetDatum(copy);
		}
		SPI_finish();
		return result;
	}

	appendStringInfoChar(&report, '}');
	values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(report.data));
	if (SPI_execute_plan(sync_plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm merge: recounting conversations failed");
	if (SPI_execute_plan(activity_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "crm merge: writing the merged activity failed");
	CrmEmitEvent(ws, "CRM_CONTACT_MERGED", "contact", survivor, values[3]);
	SPI_finish();
	return Int64GetDatum(survivor);
}

static void
CheckArgs(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("contact ids must not be null"),
				 errhint("Pass the survivor's id first, then the duplicate's.")));
}

/* A merge is re-parenting rows: contact_rules.c lets it, and only it, set merged */
bool
CrmMergeInProgress(void)
{
	return merge_depth > 0;
}

/* Merge for C callers (crm.identify); returns the survivor */
int64
CrmMergeContacts(int64 survivor, int64 duplicate)
{
	return DatumGetInt64(MergeContacts(survivor, duplicate, false));
}

Datum
crm_merge_contacts(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	return MergeContacts(PG_GETARG_INT64(0), PG_GETARG_INT64(1), false);
}

Datum
crm_merge_preview(PG_FUNCTION_ARGS)
{
	CheckArgs(fcinfo);
	return MergeContacts(PG_GETARG_INT64(0), PG_GETARG_INT64(1), true);
}

/* ----------------------------------------------------------------
 * Triggers
 * ----------------------------------------------------------------
 */

Datum
crm_contact_references_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("contact_references_changed: not called by trigger manager")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

Datum
crm_follow_merged_contact(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			idatt;
	int			wsatt;
	bool		isnull;
	int64		ws;
	int64		id;
	int64		start;
	int			hops;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("follow_merged_contact: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("follow_merged_contact: must be fired before insert or update, for each row, with the contact column as argument")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	idatt = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
	wsatt = SPI_fnumber(desc, "workspace_id");
	if (idatt <= 0 || wsatt <= 0)
		elog(ERROR, "follow_merged_contact: column \"%s\" or workspace_id not found",
			 trigdata->tg_trigger->tgargs[0]);

	id = DatumGetInt64(heap_getattr(tuple, idatt, desc, &isnull));
	if (isnull)
		return PointerGetDatum(tuple);
	ws = DatumGetInt64(heap_getattr(tuple, wsatt, desc, &isnull));
	if (isnull)
		return PointerGetDatum(tuple);
	start = id;
	if (ws == moving_ws && id == moving_to)
		return PointerGetDatum(tuple);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "follow_merged_contact: SPI_connect failed");
	if (follow_plan == NULL)
		follow_plan = PrepareKept("SELECT c.merged_into FROM crm.contacts c"
								  " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2"
								  " FOR KEY SHARE",
								  2, merge_argtypes);
	/* the key-share lock waits for a merge in progress and holds the survivor live */
	for (hops = 0; hops < 100; hops++)
	{
		Datum		values[2] = {Int64GetDatum(ws), Int64GetDatum(id)};
		Datum		next;

		if (SPI_execute_plan(follow_plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "follow_merged_contact: lookup failed");
		if (SPI_processed == 0)
			break;				/* the foreign key check reports it */
		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			break;
		id = DatumGetInt64(next);
	}
	SPI_finish();

	if (id != start)
	{
		Datum		v = Int64GetDatum(id);
		bool		n = false;

		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &idatt, &v, &n);
		CrmCheckDefined(tuple->t_data, tuple->t_len);
	}
	return PointerGetDatum(tuple);
}
