/*-------------------------------------------------------------------------
 *
 * properties_cache.c
 *	  Property definitions in memory, and the per-backend cache of them that
 *	  the validation trigger and CQL read.
 *
 * Every insert or update of a contact, company, conversation, ... runs
 * crm_internal.validate_properties(), so the definitions of a (workspace, object
 * type) and the workspace's strict_properties flag are loaded with SPI once
 * and kept in "crm property cache" with their regexes compiled.  A
 * statement trigger on crm.property_definitions and crm.workspaces sends a
 * relcache invalidation for that table; the first use of an entry after it
 * checks whether its workspace's definitions changed (workspace_versions.c)
 * and rebuilds that entry alone if they did.  Each entry has its own memory context and
 * is charged to crm.cache_budget_mb (src/crm.c); past it, the least recently
 * used entries are evicted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "cql/cql.h"
#include "properties.h"

/* Same order as the labels of the SQL enum crm.property_type */
const char *const property_type_names[] = {
	"text", "number", "currency", "percent", "boolean", "date", "datetime",
	"email", "phone", "url", "select", "multi_select"
};

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static bool cache_valid = false;
static dlist_head lru = DLIST_STATIC_INIT(lru);
static CacheStats stats;
static Oid	definitions_relid = InvalidOid;
static Oid	workspaces_relid = InvalidOid;
static Oid	object_types_relid = InvalidOid;
static Oid	lists_relid = InvalidOid;

/*
 * Bumped whenever definitions, workspaces, object types or lists may have
 * changed: CQL caches translations, which resolve property types, custom
 * types and IN LIST names.
 */
static uint64 definitions_generation = 0;

/*
 * A change to definitions or workspace settings leaves the entries to the
 * version check (CrmWorkspaceVersionsRelcache starts a new epoch); CQL's
 * translations go by the generation
 */
void
CrmPropertiesRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == definitions_relid || relid == workspaces_relid ||
		relid == object_types_relid || relid == lists_relid)
	{
		definitions_generation++;
		/* looked up again by CrmPropertyGeneration (the extension may be created anew) */
		object_types_relid = InvalidOid;
	}
}

static Oid
CrmNamespace(void)
{
	return get_namespace_oid("crm", false);
}

static int
CompareKeys(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	return c != 0 ? c : alen - blen;
}

static int
CompareDefs(const void *a, const void *b)
{
	const PropertyDef *x = a;
	const PropertyDef *y = b;

	return CompareKeys(x->key, x->keylen, y->key, y->keylen);
}

PropertyDef *
FindPropertyDef(ObjectProps *op, const char *key, int keylen)
{
	int			lo = 0;
	int			hi = op->ndefs - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		PropertyDef *d = &op->defs[mid];
		int			c = CompareKeys(key, keylen, d->key, d->keylen);

		if (c == 0)
			return d;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
PropertyTypeFromName(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(property_type_names); i++)
		if (strcmp(name, property_type_names[i]) == 0)
			return i;
	elog(ERROR, "unknown property type \"%s\"", name);
	return -1;					/* keep compiler quiet */
}

/* PostgreSQL 15's regex engine mallocs: free it with the memory context */
static void
FreeRegex(void *arg)
{
	pg_regfree((regex_t *) arg);
}

/* Compile a regex, or return its error code; freed when cxt is reset */
static int
CompileRegex(const char *source, MemoryContext cxt, regex_t **result, char *errbuf, size_t errlen)
{
	int			len = strlen(source);
	pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(source, wide, len);
	regex_t    *re = MemoryContextAlloc(cxt, sizeof(regex_t));
	int			rc;
	MemoryContextCallback *cb;

	rc = pg_regcomp(re, wide, wlen, REG_ADVANCED | REG_NOSUB, DEFAULT_COLLATION_OID);
	pfree(wide);
	if (rc != REG_OKAY)
	{
		pg_regerror(rc, re, errbuf, errlen);
		pfree(re);
		return rc;
	}
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));
	cb->func = FreeRegex;
	cb->arg = re;
	MemoryContextRegisterResetCallback(cxt, cb);
	*result = re;
	return REG_OKAY;
}

/*
 * A pattern must match the whole value, so it is compiled as ^(?:pattern)$.
 * Leading embedded options such as (?i) have to stay in front.
 */
static char *
AnchoredPattern(const char *pattern)
{
	StringInfoData buf;
	const char *body = pattern;
	bool		expanded = false;

	initStringInfo(&buf);
	if (strncmp(body, "***:", 4) == 0)
		body += 4;
	if (body[0] == '(' && body[1] == '?')
	{
		const char *p = body + 2;

		while (*p >= 'a' && *p <= 'z')
			p++;
		if (*p == ')' && p > body + 2)
		{
			expanded = memchr(body + 2, 'x', p - body - 2) != NULL;
			appendBinaryStringInfo(&buf, body, p + 1 - body);
			body = p + 1;
		}
	}
	/* in expanded syntax a trailing # comment would swallow the ")$" */
	appendStringInfo(&buf, "^(?:%s%s)$", body, expanded ? "\n" : "");
	return buf.data;
}

/* Build a definition from its column values, in cxt */
void
FillPropertyDef(PropertyDef *def, const char *key, const char *type, Datum options, bool options_null,
		const char *pattern, bool required, MemoryContext cxt, bool check_pattern)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	def->key = pstrdup(key);
	def->keylen = strlen(key);
	def->type = PropertyTypeFromName(type);
	def->required = required;
	def->track_history = true;
	def->formula = NULL;
	def->noptions = 0;
	def->options = NULL;
	def->optlens = NULL;
	if (!options_null)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(options), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		def->options = palloc(sizeof(char *) * (n + 1));
		def->optlens = palloc(sizeof(int) * (n + 1));
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				continue;
			def->options[def->noptions] = TextDatumGetCString(elems[i]);
			def->optlens[def->noptions] = strlen(def->options[def->noptions]);
			def->noptions++;
		}
	}
	def->pattern = pattern ? pstrdup(pattern) : NULL;
	def->regex = NULL;
	MemoryContextSwitchTo(old);

	if (pattern != NULL)
	{
		char		errbuf[256];
		regex_t    *plain;

		/* "a)|(b" compiles once anchored, so the pattern must compile alone too */
		if (check_pattern &&
			(CompileRegex(pattern, CurrentMemoryContext, &plain, errbuf, sizeof(errbuf)) != REG_OKAY ||
			 CompileRegex(AnchoredPattern(pattern), cxt, &def->regex, errbuf, sizeof(errbuf)) != REG_OKAY))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
					 errmsg("invalid pattern for property \"%s\": \"%s\"", key, pattern),
					 errdetail("The regular expression does not compile: %s.", errbuf),
					 errhint("Patterns use PostgreSQL regular expression syntax and must match the whole value, e.g. [A-Z]{3}-[0-9]+.")));
		if (!check_pattern &&
			CompileRegex(AnchoredPattern(pattern), cxt, &def->regex, errbuf, sizeof(errbuf)) != REG_OKAY)
			elog(ERROR, "stored pattern of property \"%s\" does not compile: %s", key, errbuf);
	}
}

/* Load the definitions of (workspace, object type) with SPI */
static void
LoadObjectProps(ObjectProps *op)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	uint64		i;
	int			rc;

	args[0] = Int64GetDatum(op->key.workspace_id);
	args[1] = CStringGetTextDatum(op->key.object_type);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the cache serves every later statement, so read what is committed now */
	PushActiveSnapshot(GetLatestSnapshot());
	/* track_history by name through to_jsonb: the 0.2.0 schema lacks it */
	rc = SPI_execute_with_args(
		"SELECT d.key, d.type::pg_catalog.text, d.options, d.pattern, d.required,"
		"       COALESCE((pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->) 'track_history')"
		"                           OPERATOR(pg_catalog.<>) 'false'::pg_catalog.jsonb, true),"
		"       pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->>) 'formula'"
		"  FROM crm.property_definitions d"
		" WHERE d.workspace_id OPERATOR(pg_catalog.=) $1"
		"   AND d.object_type OPERATOR(pg_catalog.=) $2",
		2, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loading property definitions failed: %d", rc);

	op->ndefs = (int) SPI_processed;
	op->defs = MemoryContextAllocZero(op->cxt, sizeof(PropertyDef) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		optnull;
		bool		reqnull;
		Datum		options = SPI_getbinval(tup, desc, 3, &optnull);
		bool		required = DatumGetBool(SPI_getbinval(tup, desc, 5, &reqnull));

		FillPropertyDef(&op->defs[i], SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2),
				options, optnull, SPI_getvalue(tup, desc, 4), !reqnull && required,
				op->cxt, false);
		op->defs[i].track_history = DatumGetBool(SPI_getbinval(tup, desc, 6, &reqnull));
		(void) SPI_getbinval(tup, desc, 7, &reqnull);
		if (!reqnull)
		{
			char	   *f = SPI_getvalue(tup, desc, 7);

			op->defs[i].formula = MemoryContextStrdup(op->cxt, f);
			op->defs[i].rollup = CqlIsRollupText(f, strlen(f));
			op->defs[i].rollup_zero = op->defs[i].rollup &&
				(pg_strncasecmp(f + strspn(f, " \t\r\n"), "count", 5) == 0 ||
				 pg_strncasecmp(f + strspn(f, " \t\r\n"), "sum", 3) == 0);
			if (op->defs[i].rollup)
				op->nrollups++;
			else
				op->nformulas++;
		}
	}
	qsort(op->defs, op->ndefs, sizeof(PropertyDef), CompareDefs);

	rc = SPI_execute_with_args(
		"SELECT (w.settings OPERATOR(pg_catalog.->) 'strict_properties')"
		"       OPERATOR(pg_catalog.=) 'true'::pg_catalog.jsonb, w.slug"
		"  FROM crm.workspaces w WHERE w.id OPERATOR(pg_catalog.=) $1",
		1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loading workspace settings failed: %d", rc);
	op->strict = false;
	op->slug = NULL;
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		strict = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		op->strict = !isnull && DatumGetBool(strict);
		op->slug = MemoryContextStrdup(op->cxt,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	}
	PopActiveSnapshot();
	SPI_finish();
}

/* Drop one entry and what it holds */
static void
EvictObjectProps(ObjectProps *op)
{
	dlist_delete(&op->lru);
	crm_cache_bytes -= op->bytes;
	MemoryContextDelete(op->cxt);
	hash_search(cache, &op->key, HASH_REMOVE, NULL);
}

/*
 * Past the budget, the least recently used entries go, never the one the
 * caller is given: it is the only one a caller holds (validation reads it
 * within one row, CQL copies what it needs).
 */
static void
EnforceBudget(ObjectProps *keep)
{
	while (CrmCacheOverBudget() && !dlist_is_empty(&lru))
	{
		ObjectProps *victim = dlist_tail_element(ObjectProps, lru, &lru);

		if (victim == keep)
			break;
		EvictObjectProps(victim);
		stats.evictions++;
	}
}

/*
 * The cached definitions of an object type in a workspace.  A stale entry is
 * dropped here, at the start of a trigger call, never inside the callback,
 * so no caller is left holding freed memory.
 */
ObjectProps *
GetObjectProps(int64 workspace_id, const char *object_type)
{
	ObjectKey	key;
	ObjectProps *op;
	bool		found;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "crm property cache",
											  ALLOCSET_DEFAULT_SIZES);
	if (!cache_valid)
	{
		HASHCTL		ctl;

		while (!dlist_is_empty(&lru))
			EvictObjectProps(dlist_head_element(ObjectProps, lru, &lru));
		MemoryContextReset(cache_context);
		cache_valid = true;
		definitions_relid = get_relname_relid("property_definitions", CrmNamespace());
		workspaces_relid = get_relname_relid("workspaces", CrmNamespace());
		object_types_relid = get_relname_relid("object_types", CrmNamespace());
		lists_relid = get_relname_relid("lists", CrmNamespace());
		ctl.keysize = sizeof(ObjectKey);
		ctl.entrysize = sizeof(ObjectProps);
		ctl.hcxt = cache_context;
		cache = hash_create("crm property definitions", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	memset(&key, 0, sizeof(key));
	key.workspace_id = workspace_id;
	if (strlen(object_type) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid object type: \"%s\"", object_type),
				 errhint("An object type is at most 63 characters.")));
	strlcpy(key.object_type, object_type, NAMEDATALEN);

	op = hash_search(cache, &key, HASH_ENTER, &found);
	if (found)
	{
		if (CrmWorkspaceUnchanged(workspace_id, CRM_VERSION_ALL, &op->epoch, op->version))
		{
			stats.hits++;
			dlist_move_head(&lru, &op->lru);
			return op;
		}
		/* its workspace's definitions changed: this entry alone is built again */
		EvictObjectProps(op);
		op = hash_search(cache, &key, HASH_ENTER, &found);
	}
	op->ndefs = 0;
	op->defs = NULL;
	op->strict = false;
	op->nformulas = 0;
	op->formulas_built = false;
	op->formula_plan = NULL;
	op->nrollups = 0;
	op->rollup_plan = NULL;
	op->cxt = AllocSetContextCreate(cache_context, "crm property entry", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		/* the version before the load: a change committed meanwhile makes the entry older */
		op->epoch = CrmCacheEpoch();
		op->version = CrmWorkspaceVersion(workspace_id, CRM_VERSION_ALL);
		LoadObjectProps(op);
	}
	PG_CATCH();
	{
		/* never leave a half-built entry behind */
		MemoryContextDelete(op->cxt);
		hash_search(cache, &key, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	stats.misses++;
	op->bytes = MemoryContextMemAllocated(op->cxt, true) + sizeof(ObjectProps);
	crm_cache_bytes += op->bytes;
	dlist_push_head(&lru, &op->lru);
	EnforceBudget(op);
	return op;
}

/* For crm_internal.cache_stats(): entries, bytes and counters */
void
CrmPropertiesCacheStats(CacheStats *out)
{
	dlist_iter	it;

	*out = stats;
	out->entries = 0;
	out->bytes = 0;
	dlist_foreach(it, &lru)
	{
		out->entries++;
		out->bytes += dlist_container(ObjectProps, lru, it.cur)->bytes;
	}
}

/*
 * For CQL (src/cql_sql.c): the declared property "key" of an object type in
 * a workspace, copied into the current memory context; false when it is not
 * declared.  Reads through the cache above, so it is as fresh as the
 * validation trigger's view.
 */
bool
CrmLookupProperty(int64 workspace_id, const char *object_type, const char *key,
				  const char **type, int *noptions, const char *const **options)
{
	ObjectProps *op = GetObjectProps(workspace_id, object_type);
	const PropertyDef *def = FindPropertyDef(op, key, strlen(key));
	char	  **opts;

	if (def == NULL)
		return false;
	*type = property_type_names[def->type];
	*noptions = def->noptions;
	opts = palloc(sizeof(char *) * (def->noptions + 1));
	for (int i = 0; i < def->noptions; i++)
		opts[i] = pnstrdup(def->options[i], def->optlens[i]);
	opts[def->noptions] = NULL;
	*options = (const char *const *) opts;
	return true;
}

/*
 * A counter that changes whenever a property definition, a workspace or a
 * custom object type may have changed (their statement triggers send a
 * relcache invalidation): CQL keeps translations only while it stands still.
 */
uint64
CrmPropertyGeneration(void)
{
	if (!OidIsValid(object_types_relid))
	{
		definitions_relid = get_relname_relid("property_definitions", CrmNamespace());
		workspaces_relid = get_relname_relid("workspaces", CrmNamespace());
		object_types_relid = get_relname_relid("object_types", CrmNamespace());
		lists_relid = get_relname_relid("lists", CrmNamespace());
	}
	return definitions_generation;
}
