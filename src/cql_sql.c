/*-------------------------------------------------------------------------
 *
 * cql_sql.c
 *	  The SQL face of CQL: the crm.cql type, crm.cql_to_sql, crm.cql_check
 *	  and the pieces crm.find_* / count / bulk_* assemble their statements
 *	  from.  The language itself lives in src/cql/ and knows nothing of the
 *	  server; this file supplies its memory, stack check and lower-casing
 *	  and turns its errors into ereports.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif
#include "access/tupconvert.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/regproc.h"

#include "crm.h"
#include "cql/cql.h"
#include "cql_sql.h"

PG_FUNCTION_INFO_V1(crm_cql_in);
PG_FUNCTION_INFO_V1(crm_cql_out);
PG_FUNCTION_INFO_V1(crm_cql_recv);
PG_FUNCTION_INFO_V1(crm_cql_send);
PG_FUNCTION_INFO_V1(crm_cql_to_sql);
PG_FUNCTION_INFO_V1(crm_cql_check);
PG_FUNCTION_INFO_V1(crm_cql_where);
PG_FUNCTION_INFO_V1(crm_cql_order_by);
PG_FUNCTION_INFO_V1(crm_cql_group_key);
PG_FUNCTION_INFO_V1(crm_cql_fields);

static void *
EnvAlloc(void *ctx, size_t size)
{
	return palloc(size);
}

static void
EnvRelease(void *ctx, void *ptr)
{
	pfree(ptr);
}

static void
EnvCheckStack(void *ctx)
{
	check_stack_depth();
}

static char *
EnvLower(void *ctx, const char *s, size_t len)
{
	return str_tolower(s, len, DEFAULT_COLLATION_OID);
}

/* Schema of pg_trgm as a quoted identifier, for OPERATOR(schema.%) */
static const char *
TrgmSchema(void)
{
	Oid			extoid = get_extension_oid("pg_trgm", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pg_trgm\" is not installed"),
				 errhint("crm requires pg_trgm: CREATE EXTENSION pg_trgm.")));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(nsp))
		elog(ERROR, "cache lookup failed for extension %u", extoid);
	return quote_identifier(get_namespace_name(nsp));
}

/*
 * Workspace whose lists, properties and custom types a translation resolves
 * against; 0: the current one.  The list triggers translate filters of the
 * workspace whose rows changed.
 */
static int64 lists_workspace = 0;

/*
 * Whose lists IN LIST 'name' finds (docs/lists.md, "Names"): that user's
 * own lists first, then those visible to the workspace.  A stored filter
 * resolves for its list's owner (lists_owner, NULL: an ownerless list);
 * a query of crm.find_* and friends for the user of the request.
 */
static bool lists_owner_given = false;
static const char *lists_owner = NULL;

static int64
TranslationWorkspace(void)
{
	return lists_workspace ? lists_workspace : CrmCurrentWorkspace();
}

static const char *
TranslationOwner(void)
{
	return lists_owner_given ? lists_owner : CrmCurrentUserId();
}

/*
 * The lists of the workspace, for IN LIST 'name'.  Read with SPI and copied
 * to the caller's memory context, where the translation's arena lives.
 */
static int
EnvLists(void *ctx, const CqlListRef **out)
{
	int64		ws = TranslationWorkspace();
	const char *owner = TranslationOwner();
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(ws), owner ? CStringGetTextDatum(owner) : (Datum) 0};
	CqlListRef *lists;
	int			n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm cql: SPI_connect failed");
	/* the translator takes the first list of a name: the owner's own sort first */
	if (SPI_execute_with_args(CrmListsHaveVisibility() ?
							  "SELECT l.name, l.id, l.object_type FROM crm.lists l"
							  " WHERE l.workspace_id OPERATOR(pg_catalog.=) $1"
							  "   AND (l.visibility OPERATOR(pg_catalog.=) 'workspace' OR l.owner OPERATOR(pg_catalog.=) $2)"
							  " ORDER BY l.owner OPERATOR(pg_catalog.=) $2 IS NOT TRUE, l.name" :
							  "SELECT l.name, l.id, l.object_type FROM crm.lists l"
							  " WHERE l.workspace_id OPERATOR(pg_catalog.=) $1 ORDER BY l.name",
							  2, argtypes, values, owner ? NULL : " n", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm cql: reading lists failed");
	n = (int) SPI_processed;
	lists = SPI_palloc(sizeof(CqlListRef) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		char	   *type = SPI_getvalue(tup, desc, 3);

		lists[i].name = memcpy(SPI_palloc(strlen(name) + 1), name, strlen(name) + 1);
		lists[i].object_type = memcpy(SPI_palloc(strlen(type) + 1), type, strlen(type) + 1);
		lists[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	}
	SPI_finish();
	*out = lists;
	return n;
}

/* A hash of what a property lookup answered: a translation is a function of it */
static uint64
AnswerHash(bool found, const CqlProperty *p)
{
	uint64		h;

	if (!found)
		return 0;
	h = hash_bytes_extended((const unsigned char *) p->type, strlen(p->type), 1);
	for (int i = 0; i < p->noptions; i++)
		h = hash_combine64(h, hash_bytes_extended((const unsigned char *) p->options[i],
												  strlen(p->options[i]) + 1, i + 2));
	return h;
}

/* What the declared property of an object type answers now, hashed as a translation records it */
uint64
CrmCqlDefinitionAnswer(int64 ws, const char *object_type, const char *key)
{
	CqlProperty p;
	bool		found = CrmLookupProperty(ws, object_type, key, &p.type, &p.noptions, &p.options);

	return AnswerHash(found, &p);
}

/*
 * Declared properties of the current workspace, through the properties
 * cache; each answer is recorded in ctx, when the caller asked for what the
 * translation reads (CrmCqlTranslateFor)
 */
static bool
EnvProperty(void *ctx, const char *object_type, const char *key, CqlProperty *out)
{
	CrmCqlReads *rec = ctx;
	bool		found = CrmLookupProperty(TranslationWorkspace(), object_type, key,
										  &out->type, &out->noptions, &out->options);
	uint64		answer;

	if (rec == NULL || rec->ndefinitions < 0)
		return found;
	answer = AnswerHash(found, out);
	for (int i = 0; i < rec->ndefinitions; i++)
		if (strcmp(rec->definition_keys[i], key) == 0 && strcmp(rec->definition_types[i], object_type) == 0)
		{
			/* asked again with another answer: the definition changed meanwhile */
			if (rec->definition_answers[i] != answer)
				rec->ndefinitions = -1;
			return found;
		}
	if (rec->ndefinitions == lengthof(rec->definition_keys))
		rec->ndefinitions = -1;
	else
	{
		rec->definition_types[rec->ndefinitions] = pstrdup(object_type);
		rec->definition_keys[rec->ndefinitions] = pstrdup(key);
		rec->definition_answers[rec->ndefinitions++] = answer;
	}
	return found;
}

static bool
EnvObjectTypeExists(void *ctx, const char *key)
{
	return CrmObjectTypeExists(TranslationWorkspace(), key);
}

/* A phone literal in the form the contacts trigger stores (src/normalize.c) */
static char *
EnvPhone(void *ctx, const char *s, size_t len)
{
	return CrmNormalizePhoneFor(pnstrdup(s, len), TranslationWorkspace());
}

/*
 * Which filter the list triggers translate: one being written to crm.lists
 * (CrmCqlTranslateNewFilter), or one already stored (CrmCqlTranslateFor).
 */
static bool translating_new_filter = false;
/* CrmCqlCompileRollup is translating a rollup's condition */
static bool translating_rollup_condition = false;
static bool translating_stored_filter = false;

/*
 * A country literal in the form the contacts trigger stores (src/profiles.c):
 * 'fr', 'FRA' and 'France' are 'FR'.  A blank one is compared as written
 * (the trigger stores NULL, so it matches nothing); one naming no country
 * is refused with the row path's error, except in a list filter stored
 * before literals were read so (0.2.0 stored countries as written): that
 * one keeps comparing as written, so that it cannot make every later
 * contact write fail.
 */
static char *
EnvCountry(void *ctx, const char *s, size_t len)
{
	char	   *raw = pnstrdup(s, len);
	const char *code;
	size_t		i;

	for (i = 0; i < len && isspace((unsigned char) raw[i]); i++)
		;
	if (i == len)
		return raw;
	code = CrmCountryCode(raw);
	if (code == NULL && translating_stored_filter)
		return raw;
	return code ? pstrdup(code) : CrmNormalizeAddressCountry(raw);
}

/*
 * The tables whose indexes a finder's translation asked about
 * (EnvNumberIndexed): a change to one of them makes its kept plan stale,
 * for the translation may then write another expression.
 */
#define INDEXED_RELS 4
static Oid	indexed_rels[INDEXED_RELS];
static int	n_indexed_rels = 0;

static bool
ContainsExpr(Node *node, void *target)
{
	if (node == NULL)
		return false;
	if (equal(node, target))
		return true;
	return expression_tree_walker(node, ContainsExpr, target);
}

/*
 * Whether an index of table has (column ->> key)::numeric among its
 * expressions or in its predicate.  The node is the one the parser makes
 * of that text, and equal() is how the planner matches it to an index.
 * Unsure (no such table or column): true, the expression an index may have.
 */
static bool
EnvNumberIndexed(void *ctx, const char *table, const char *column, const char *key)
{
	RangeVar   *rv = makeRangeVarFromNameList(stringToQualifiedNameList(table));
	Relation	rel = table_openrv_extended(rv, AccessShareLock, true);
	AttrNumber	att;
	Oid			op;
	Expr	   *get;
	CoerceViaIO *cast;
	List	   *indexes;
	ListCell   *lc;
	bool		found = false;

	if (rel == NULL)
		return true;
	if (n_indexed_rels < INDEXED_RELS)
		indexed_rels[n_indexed_rels] = RelationGetRelid(rel);
	n_indexed_rels++;
	att = get_attnum(RelationGetRelid(rel), column);
	if (att == InvalidAttrNumber)
	{
		table_close(rel, AccessShareLock);
		return true;
	}
	op = OpernameGetOprid(list_make2(makeString("pg_catalog"), makeString("->>")), JSONBOID, TEXTOID);
	get = make_opclause(op, TEXTOID, false,
						(Expr *) makeVar(1, att, JSONBOID, -1, InvalidOid, 0),
						(Expr *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
										   CStringGetTextDatum(key), false, false),
						DEFAULT_COLLATION_OID, DEFAULT_COLLATION_OID);
	cast = makeNode(CoerceViaIO);
	cast->arg = get;
	cast->resulttype = NUMERICOID;
	cast->resultcollid = InvalidOid;
	cast->coerceformat = COERCE_EXPLICIT_CAST;
	cast->location = -1;

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		found = ContainsExpr((Node *) RelationGetIndexExpressions(index), cast) ||
			ContainsExpr((Node *) RelationGetIndexPredicate(index), cast);
		index_close(index, AccessShareLock);
		if (found)
			break;
	}
	table_close(rel, AccessShareLock);
	return found;
}

static void
InitEnv(CqlEnv *env, bool need_trgm)
{
	env->alloc = EnvAlloc;
	env->release = EnvRelease;
	env->ctx = NULL;
	env->check_stack = EnvCheckStack;
	env->lower = EnvLower;
	env->trgm_schema = need_trgm ? TrgmSchema() : "public";
	env->lists = EnvLists;
	env->property = EnvProperty;
	env->object_type_exists = EnvObjectTypeExists;
	env->phone = EnvPhone;
	env->country = EnvCountry;
	env->number_indexed = NULL;
}

static int
SqlState(CqlErrorKind kind)
{
	switch (kind)
	{
		case CQL_ERR_SYNTAX: return ERRCODE_SYNTAX_ERROR;
		case CQL_ERR_UNKNOWN_FIELD: return ERRCODE_UNDEFINED_COLUMN;
		case CQL_ERR_TYPE: return ERRCODE_DATATYPE_MISMATCH;
		case CQL_ERR_VALUE: return ERRCODE_INVALID_PARAMETER_VALUE;
		case CQL_ERR_TOO_LONG: return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case CQL_ERR_TOO_DEEP: return ERRCODE_STATEMENT_TOO_COMPLEX;
		case CQL_ERR_UNSUPPORTED: return ERRCODE_FEATURE_NOT_SUPPORTED;
		case CQL_OK: break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

static void
ReportError(CqlError *e)
{
	ereport(ERROR,
			(errcode(SqlState(e->kind)),
			 errmsg_internal("%s", e->message),
			 e->hint[0] ? errhint("%s", e->hint) : 0));
}

/*
 * The workspace ws as the constant the sub-selects of related rows compare
 * with (CqlState.workspace) when crm's tables are distributed, else NULL.
 * Citus routes a correlated sub-select (a company test, IN LIST) to the
 * workspace's shard by a constant only, and refuses one inside the lists'
 * shared projection (a sub-select without FROM) that it cannot route.
 */
static const char *
CitusWorkspace(int64 ws)
{
	if (ws <= 0 || !CrmIsCitusTable(get_relname_relid("contacts", get_namespace_oid("crm", false))))
		return NULL;
	return psprintf("'" INT64_FORMAT "'::bigint", ws);
}

/* ws: the workspace of the rows, or 0 (see CitusWorkspace) */
static char *
TranslateText(const char *entity, const char *query, size_t len, int64 ws, bool *mentions_scope)
{
	CqlEnv		env;
	CqlState	st;
	char	   *sql;

	InitEnv(&env, true);
	/*
	 * The texts made here are planned when made, or kept by a finder that
	 * follows the tables' indexes (FindPlanFor): they may read a number
	 * without the text round trip where no index wants the cast.  A list's
	 * filter, kept by src/lists_cache.c, keeps the cast.
	 */
	env.number_indexed = EnvNumberIndexed;
	CqlStateInit(&st, &env);
	st.workspace = CitusWorkspace(ws);
	if (!CqlTranslate(&st, entity, query, len, NULL, &sql))
		ReportError(&st.error);
	if (mentions_scope)
		*mentions_scope = st.mentions_scope;
	/* the arena is in the current memory context and goes with it */
	return sql;
}

static char *
Translate(const char *entity, text *query, const char *alias, bool *mentions_scope)
{
	return TranslateText(entity, VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query), 0, mentions_scope);
}

/* The catalogue entry of an entity name: built-in, or the record entry for a custom type */
static const CqlEntity *
EntityOf(const char *entity)
{
	CqlEnv		env;
	CqlState	st;
	const CqlEntity *e;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	e = CqlResolveEntity(&st, entity);
	if (!e)
		ReportError(&st.error);
	return e;
}

/*
 * Owner-based privacy (src/privacy.c): the row-level policies hold a
 * restricted member to their part whatever the query says.  The
 * translation says it too, with the member's id and team as literals, so
 * that the planner sees the selective predicate a hand-written query would
 * have and reads the (workspace_id, owner) index, instead of the whole
 * workspace filtered by the policy.  NULL when privacy does not hold the
 * request or the entity has no owner.
 */
static char *
PrivacySql(const CqlEntity *e)
{
	const char *team;
	const char *user;

	if (strcmp(e->name, "contact") != 0 && strcmp(e->name, "deal") != 0)
		return NULL;
	if (!CrmPrivacyRestricted(CrmCurrentWorkspace(), &team, 0) || (user = CrmCurrentUserId()) == NULL)
		return NULL;
	if (strcmp(e->name, "contact") == 0)
		return psprintf(" AND (%s.owner = %s OR %s.id = ANY ((SELECT crm_hidden.privacy_deal_contacts())::bigint[]))",
						e->alias, quote_literal_cstr(user), e->alias);
	if (team == NULL)
		return psprintf(" AND %s.owner = %s", e->alias, quote_literal_cstr(user));
	return psprintf(" AND (%s.owner = %s OR %s.team = %s)",
					e->alias, quote_literal_cstr(user), e->alias, quote_literal_cstr(team));
}

/*
 * The WHERE of crm.find_* and friends: the current workspace, the entity's
 * default scope (live contacts) unless the query names the scope field, and
 * the translated query.
 */
static char *
WhereClause(const char *entity, const char *query, size_t len)
{
	bool		mentions;
	char	   *sql = TranslateText(entity, query, len, CrmCurrentWorkspace(), &mentions);
	const CqlEntity *e = EntityOf(entity);
	char	   *privacy = PrivacySql(e);
	StringInfoData buf;

	initStringInfo(&buf);
	/*
	 * A kept finder plan belongs to one workspace (its cache key), so it
	 * names it as a constant, as hand-written SQL would: no function call
	 * per row where the workspace is a filter rather than an index bound.
	 * The text crm_hidden.cql_where returns (run by EXECUTE) and an export's
	 * cursor are planned each time, and name the constant too: Citus routes
	 * a statement to one shard by a constant, not by a function's value.
	 * A quoted literal is a bigint constant as parsed; 1::bigint is a cast
	 * call until the planner folds it, which keeps Citus off its fast path.
	 */
	appendStringInfo(&buf, "%s.workspace_id = '" INT64_FORMAT "'::bigint", e->alias, CrmCurrentWorkspace());
	if (privacy)
		appendStringInfoString(&buf, privacy);
	if (e->scope_sql && !mentions)
	{
		appendStringInfoString(&buf, " AND ");
		appendStringInfo(&buf, e->scope_sql, e->alias);
	}
	appendStringInfo(&buf, " AND %s", sql);
	return buf.data;
}

/*
 * The WHERE of an entity's rows a CQL query matches, as crm.find_* write it,
 * with the table and the alias it names the root row by (src/export.c).
 */
char *
CrmCqlWhere(const char *entity, const char *query, size_t len, const char **table, const char **alias)
{
	const CqlEntity *e = EntityOf(entity);

	*table = e->table;
	*alias = e->alias;
	return WhereClause(entity, query, len);
}

/*
 * Translation for the dynamic list triggers (src/lists_*.c): IN LIST resolves
 * against the lists of workspace ws, and what the query reads besides its
 * root row is reported in *reads.  Raises the query's error.
 */
char *
CrmCqlTranslateFor(const char *entity, const char *query, int64 ws, const char *owner,
				   const char *alias, CrmCqlReads *reads, CqlShared *shared)
{
	CqlEnv		env;
	CqlState	st;
	char	   *sql;
	bool		ok;
	int64		saved = lists_workspace;
	bool		saved_given = lists_owner_given;
	const char *saved_owner = lists_owner;
	bool		saved_stored = translating_stored_filter;

	InitEnv(&env, true);
	if (reads)
	{
		reads->ndefinitions = 0;
		env.ctx = reads;
	}
	CqlStateInit(&st, &env);
	st.shared = shared;
	st.workspace = CitusWorkspace(ws);
	st.internal_ok = translating_rollup_condition;
	lists_workspace = ws;
	lists_owner_given = true;
	lists_owner = owner;
	translating_stored_filter = !translating_new_filter;
	PG_TRY();
	{
		ok = CqlTranslate(&st, entity, query, strlen(query), alias, &sql);
	}
	PG_FINALLY();
	{
		lists_workspace = saved;
		lists_owner_given = saved_given;
		lists_owner = saved_owner;
		translating_stored_filter = saved_stored;
	}
	PG_END_TRY();
	if (!ok)
		ReportError(&st.error);
	if (reads)
	{
		reads->mentions_scope = st.mentions_scope;
		reads->nested = st.nested_reads;
		reads->time_relative = st.time_relative;
		reads->nrels = st.nrels;
		for (int i = 0; i < st.nrels; i++)
			reads->rels[i] = st.rels[i];
		reads->ncols = st.nroot_cols;
		for (int i = 0; i < st.nroot_cols; i++)
			reads->cols[i] = st.root_cols[i];
		reads->nkeys = st.nroot_keys;
		for (int i = 0; i < st.nroot_keys; i++)
		{
			reads->key_cols[i] = st.root_key_cols[i];
			/* the state's arena is freed before the caller reads them */
			reads->keys[i] = pstrdup(st.root_keys[i]);
		}
		reads->nlist_ids = st.nlist_ids;
		for (int i = 0; i < st.nlist_ids; i++)
			reads->list_ids[i] = st.list_ids[i];
		reads->nlookups = st.nlookups;
		for (int i = 0; i < st.nlookups; i++)
		{
			reads->lookup_via[i] = st.lookup_via[i];
			reads->lookup_rel[i] = st.lookup_rel[i];
		}
		reads->definitions = st.reads_definitions;
	}
	return sql;
}

/*
 * The same for a filter being written to crm.lists: its literals are held to
 * what a query's are (a country that names none is refused), where a
 * stored filter is translated as it was accepted.
 */
char *
CrmCqlTranslateNewFilter(const char *entity, const char *query, int64 ws, const char *owner,
						 const char *alias, CrmCqlReads *reads, CqlShared *shared)
{
	bool		saved = translating_new_filter;
	char	   *sql;

	translating_new_filter = true;
	PG_TRY();
	{
		sql = CrmCqlTranslateFor(entity, query, ws, owner, alias, reads, shared);
	}
	PG_FINALLY();
	{
		translating_new_filter = saved;
	}
	PG_END_TRY();
	return sql;
}

/*
 * crm.cql: text that is a syntactically valid CQL query.  Which fields exist
 * depends on the entity, so the type checks syntax; translation checks the
 * rest.  On PostgreSQL 16 the error is soft, for pg_input_is_valid().
 */
Datum
crm_cql_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	CqlEnv		env;
	CqlState	st;
	CqlNode    *tree;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	if (!CqlParse(&st, s, strlen(s), &tree))
	{
#if PG_VERSION_NUM >= 160000
		ereturn(fcinfo->context, (Datum) 0,
				(errcode(SqlState(st.error.kind)),
				 errmsg_internal("%s", st.error.message),
				 st.error.hint[0] ? errhint("%s", st.error.hint) : 0));
#else
		ReportError(&st.error);
#endif
	}
	CqlStateFree(&st);
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

Datum
crm_cql_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(text_to_cstring(PG_GETARG_TEXT_PP(0)));
}

Datum
crm_cql_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *s = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	return DirectFunctionCall1(crm_cql_in, CStringGetDatum(s));
}

Datum
crm_cql_send(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Last translation at this call site: a stored filter is translated once per query */
typedef struct TranslationCache
{
	uint64		generation;		/* of property definitions and object types */
	int64		workspace_id;
	char	   *user;			/* IN LIST resolves for them; "" for none */
	char	   *entity;
	text	   *query;
	text	   *result;
} TranslationCache;

Datum
crm_cql_to_sql(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *query = PG_GETARG_TEXT_PP(1);
	TranslationCache *cache = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	text	   *result;

	uint64		generation = CrmPropertyGeneration();
	int64		workspace_id = CrmCurrentWorkspace();
	const char *user = CrmCurrentUserId() ? CrmCurrentUserId() : "";

	if (cache && cache->generation == generation && cache->workspace_id == workspace_id &&
		strcmp(cache->user, user) == 0 && strcmp(cache->entity, entity) == 0 &&
		VARSIZE_ANY_EXHDR(cache->query) == VARSIZE_ANY_EXHDR(query) &&
		memcmp(VARDATA_ANY(cache->query), VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query)) == 0)
		PG_RETURN_TEXT_P(cache->result);

	result = cstring_to_text(Translate(entity, query, NULL, NULL));

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache)
	{
		pfree(cache->user);
		pfree(cache->entity);
		pfree(cache->query);
		pfree(cache->result);
	}
	else
		cache = palloc(sizeof(TranslationCache));
	cache->generation = generation;
	cache->workspace_id = workspace_id;
	cache->user = pstrdup(user);
	cache->entity = pstrdup(entity);
	cache->query = (text *) pg_detoast_datum_copy((struct varlena *) query);
	cache->result = (text *) pg_detoast_datum_copy((struct varlena *) result);
	fcinfo->flinfo->fn_extra = cache;
	MemoryContextSwitchTo(old);
	PG_RETURN_TEXT_P(result);
}

/* One row saying whether the query is valid for the entity, and if not why */
Datum
crm_cql_check(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *query = PG_GETARG_TEXT_PP(1);
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	CqlEnv		env;
	CqlState	st;
	char	   *sql;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	InitEnv(&env, true);
	CqlStateInit(&st, &env);
	if (CqlTranslate(&st, entity, VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query), NULL, &sql))
	{
		values[0] = BoolGetDatum(true);
		nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
	}
	else
	{
		values[0] = BoolGetDatum(false);
		values[1] = CStringGetTextDatum(unpack_sql_state(SqlState(st.error.kind)));
		values[2] = CStringGetTextDatum(st.error.message);
		values[3] = CStringGetTextDatum(st.error.hint);
		nulls[3] = st.error.hint[0] == '\0';
		values[4] = Int32GetDatum(st.error.position);
		nulls[4] = st.error.position == 0;
	}
	CqlStateFree(&st);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
crm_cql_where(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *query = PG_GETARG_TEXT_PP(1);

	PG_RETURN_TEXT_P(cstring_to_text(WhereClause(entity, VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query))));
}

Datum
crm_cql_order_by(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *spec = PG_GETARG_TEXT_PP(1);
	CqlEnv		env;
	CqlState	st;
	char	   *sql;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	if (!CqlOrderBy(&st, entity, VARDATA_ANY(spec), VARSIZE_ANY_EXHDR(spec), NULL, &sql))
		ReportError(&st.error);
	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

Datum
crm_cql_group_key(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *field = PG_GETARG_TEXT_PP(1);
	CqlEnv		env;
	CqlState	st;
	char	   *sql;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	if (!CqlFieldExpr(&st, entity, VARDATA_ANY(field), VARSIZE_ANY_EXHDR(field), NULL, &sql))
		ReportError(&st.error);
	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

/* The catalogue as rows: entity, field, column, type, enum values, sortable */
Datum
crm_cql_fields(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	const CqlEntity *const *all = CqlEntities(&n);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		const CqlEntity *e = all[i];

		for (int j = 0; j < e->nfields; j++)
		{
			const CqlField *f = &e->fields[j];
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};

			values[0] = CStringGetTextDatum(e->name);
			values[1] = CStringGetTextDatum(f->name);
			values[2] = CStringGetTextDatum(f->column);
			values[3] = CStringGetTextDatum(CqlTypeName(f->type));
			if (f->values)
			{
				int			k = 0;
				Datum	   *elems;

				while (f->values[k])
					k++;
				elems = palloc(k * sizeof(Datum));
				for (int m = 0; m < k; m++)
					elems[m] = CStringGetTextDatum(f->values[m]);
				values[4] = PointerGetDatum(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
			}
			else
				nulls[4] = true;
			values[5] = BoolGetDatum(f->sortable);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(crm_cql_table);

/* The table an entity's queries run over (catalogue entries and custom types) */
Datum
crm_cql_table(PG_FUNCTION_ARGS)
{
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const CqlEntity *e = CqlFindEntity(entity);

	if (!e)
		e = EntityOf(entity);
	PG_RETURN_TEXT_P(cstring_to_text(e->table));
}

PG_FUNCTION_INFO_V1(crm_cql_timestamptz);

/*
 * A declared datetime property's text as timestamptz, NULL when it is not
 * one.  Decoded without raising, so that a row of another workspace holding
 * anything under the same key can never make a query fail.
 */
Datum
crm_cql_timestamptz(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				tz;
	struct pg_tm tt;
	fsec_t		fsec;
	TimestampTz result;

	if (strlen(s) >= MAXDATELEN ||
		ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 ||
		dtype != DTK_DATE || tm2timestamp(&tt, fsec, &tz, &result) != 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(result);
}

PG_FUNCTION_INFO_V1(crm_cql_number);

/*
 * (properties ->> key)::numeric without the text round trip: a JSON number
 * is returned as stored, where ->> would print it and the cast parse it
 * again.  Any other value goes the text way, so the answer (or the error,
 * for "abc" or true) is the cast's.
 */
Datum
crm_cql_number(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	text	   *key = PG_GETARG_TEXT_PP(1);
	JsonbValue *v = NULL;
	Datum		t;

	if (JB_ROOT_IS_OBJECT(jb))
		v = getKeyJsonValueFromContainer(&jb->root, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
	if (v == NULL || v->type == jbvNull)
		PG_RETURN_NULL();
	if (v->type == jbvNumeric)
		PG_RETURN_NUMERIC(DatumGetNumericCopy(NumericGetDatum(v->val.numeric)));
	t = DirectFunctionCall2(jsonb_object_field_text, PointerGetDatum(jb), PointerGetDatum(key));
	return DirectFunctionCall3(numeric_in, CStringGetDatum(TextDatumGetCString(t)),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* ----------------------------------------------------------------
 * crm.find_*: translated, planned once, kept
 *
 * A finder call is keyed by (entity, query, order_by, limit, offset,
 * workspace); the statement built from it is prepared with SPI and kept
 * (SPI_keepplan), so a repeated call skips translation, parsing and
 * planning.  Limit and offset are literals, and the statement is prepared
 * parallel-safe, so each plan is the one the planner would pick for the
 * hand-written statement.  The plan cache
 * revalidates kept plans on DDL, role and search_path changes; what it
 * cannot see -- property definitions and custom object types, which change
 * the translation -- is the generation of src/properties_cache.c, compared on
 * every hit.
 * ----------------------------------------------------------------
 */
#define FIND_CACHE_SIZE 128

typedef struct FindPlan
{
	uint32		hash;
	int			keylen;
	char	   *key;
	uint64		generation;
	SPIPlanPtr	plan;
	/* the tables whose indexes the translation read; -1: more than kept */
	int			nrels;
	Oid			rels[INDEXED_RELS];
	bool		stale;			/* one of them changed (CrmFindPlansRelcache) */
} FindPlan;

static FindPlan find_plans[FIND_CACHE_SIZE];
static int	find_victim = 0;
static MemoryContext find_context = NULL;

/*
 * A relcache invalidation (through crm.c's one callback): plans translated
 * by the relation's indexes are stale
 */
void
CrmFindPlansRelcache(Datum arg, Oid relid)
{
	for (int i = 0; i < FIND_CACHE_SIZE; i++)
	{
		FindPlan   *p = &find_plans[i];

		if (p->plan == NULL || p->nrels == 0)
			continue;
		if (relid == InvalidOid || p->nrels < 0)
			p->stale = true;
		for (int r = 0; r < p->nrels; r++)
			if (p->rels[r] == relid)
				p->stale = true;
	}
}

static void
CheckPaging(int32 lim, bool lim_null, int32 off, bool off_null)
{
	if (lim_null || lim < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid limit: %s", lim_null ? "NULL" : psprintf("%d", lim)),
				 errhint("Pass a limit of 0 or more.")));
	if (off_null || off < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid offset: %s", off_null ? "NULL" : psprintf("%d", off)),
				 errhint("Pass an offset of 0 or more.")));
}

/* Whether a query may say IN LIST: the word anywhere, in any case */
static bool
MayNameLists(const char *query, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (pg_strncasecmp(query + i, "list", 4) == 0)
			return true;
	return false;
}

static SPIPlanPtr
FindPlanFor(const char *entity, const char *query, size_t qlen, const char *order_by, size_t olen,
			int32 lim, int32 off)
{
	StringInfoData key;
	uint32		hash;
	uint64		generation = CrmPropertyGeneration();
	FindPlan   *slot = NULL;
	const CqlEntity *e;
	StringInfoData sql;
	CqlEnv		env;
	CqlState	st;
	char	   *order_sql;
	char	   *privacy;
	SPIPlanPtr	plan;

	initStringInfo(&key);
	appendStringInfo(&key, "%s%c" INT64_FORMAT "%c%d%c%d%c", entity, 0, CrmCurrentWorkspace(), 0, lim, 0, off, 0);
	/* IN LIST resolves for the user (EnvLists): a plan naming lists is theirs */
	if (MayNameLists(query, qlen) && CrmCurrentUserId() != NULL)
		appendStringInfoString(&key, CrmCurrentUserId());
	appendStringInfoChar(&key, 0);
	/* a restricted member's plan names them (PrivacySql) */
	privacy = PrivacySql(EntityOf(entity));
	if (privacy)
		appendStringInfoString(&key, privacy);
	appendStringInfoChar(&key, 0);
	appendBinaryStringInfo(&key, order_by, olen);
	appendStringInfoChar(&key, 0);
	appendBinaryStringInfo(&key, query, qlen);
	hash = hash_bytes((const unsigned char *) key.data, key.len);

	for (int i = 0; i < FIND_CACHE_SIZE; i++)
	{
		FindPlan   *p = &find_plans[i];

		if (p->plan && p->hash == hash && p->keylen == key.len && memcmp(p->key, key.data, key.len) == 0)
		{
			if (p->generation == generation && !p->stale)
				return p->plan;
			slot = p;			/* stale: rebuild in place */
			break;
		}
	}

	/* a miss: translate and prepare */
	e = EntityOf(entity);
	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	if (!CqlOrderBy(&st, entity, order_by, olen, NULL, &order_sql))
		ReportError(&st.error);
	initStringInfo(&sql);
	n_indexed_rels = 0;
	appendStringInfo(&sql, "SELECT %s.* FROM %s WHERE %s ORDER BY %s LIMIT %d OFFSET %d",
					 e->alias, e->table, WhereClause(entity, query, qlen), order_sql, lim, off);
	/*
	 * Parallel-safe as a client's statement is: without it the planner may
	 * pick another join (a merge join in place of the client's nested loop
	 * at 1M contacts, twice as slow for a LIMIT 100).
	 */
	plan = SPI_prepare_cursor(sql.data, 0, NULL, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		elog(ERROR, "preparing a finder statement failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "keeping a finder plan failed");

	if (find_context == NULL)
		find_context = AllocSetContextCreate(TopMemoryContext, "crm find plans", ALLOCSET_DEFAULT_SIZES);
	if (slot == NULL)
	{
		slot = &find_plans[find_victim];
		find_victim = (find_victim + 1) % FIND_CACHE_SIZE;
	}
	if (slot->plan)
	{
		SPI_freeplan(slot->plan);
		pfree(slot->key);
		slot->plan = NULL;
	}
	slot->key = MemoryContextAlloc(find_context, key.len);
	memcpy(slot->key, key.data, key.len);
	slot->keylen = key.len;
	slot->hash = hash;
	slot->generation = generation;
	slot->plan = plan;
	slot->stale = false;
	slot->nrels = n_indexed_rels > INDEXED_RELS ? -1 : n_indexed_rels;
	for (int r = 0; r < n_indexed_rels && r < INDEXED_RELS; r++)
		slot->rels[r] = indexed_rels[r];
	return plan;
}

/*
 * find(query, order_by, lim, off) over an entity: the rows of its table,
 * converted to the function's declared row type (which may carry dropped
 * columns the SELECT does not).
 */
static Datum
Find(FunctionCallInfo fcinfo, const char *entity, int first)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *query = PG_ARGISNULL(first) ? NULL : PG_GETARG_TEXT_PP(first);
	text	   *order_by = PG_ARGISNULL(first + 1) ? NULL : PG_GETARG_TEXT_PP(first + 1);
	SPIPlanPtr	plan;
	TupleConversionMap *map;
	MemoryContext caller = CurrentMemoryContext;

	CheckPaging(PG_ARGISNULL(first + 2) ? 0 : PG_GETARG_INT32(first + 2), PG_ARGISNULL(first + 2),
				PG_ARGISNULL(first + 3) ? 0 : PG_GETARG_INT32(first + 3), PG_ARGISNULL(first + 3));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = FindPlanFor(entity,
					   query ? VARDATA_ANY(query) : "", query ? VARSIZE_ANY_EXHDR(query) : 0,
					   order_by ? VARDATA_ANY(order_by) : "id", order_by ? VARSIZE_ANY_EXHDR(order_by) : 2,
					   PG_GETARG_INT32(first + 2), PG_GETARG_INT32(first + 3));
	if (SPI_execute_plan(plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "running a finder statement failed");
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		map = convert_tuples_by_position(SPI_tuptable->tupdesc, rsinfo->setDesc,
										 "finder rows do not match the function's row type");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];

			tuplestore_puttuple(rsinfo->setResult, map ? execute_attr_map_tuple(tup, map) : tup);
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(crm_find_contacts);
PG_FUNCTION_INFO_V1(crm_find_companies);
PG_FUNCTION_INFO_V1(crm_find_deals);
PG_FUNCTION_INFO_V1(crm_find_orders);
PG_FUNCTION_INFO_V1(crm_find_conversations);
PG_FUNCTION_INFO_V1(crm_find_records);

Datum
crm_find_contacts(PG_FUNCTION_ARGS)
{
	return Find(fcinfo, "contact", 0);
}

Datum
crm_find_companies(PG_FUNCTION_ARGS)
{
	return Find(fcinfo, "company", 0);
}

Datum
crm_find_deals(PG_FUNCTION_ARGS)
{
	return Find(fcinfo, "deal", 0);
}

Datum
crm_find_orders(PG_FUNCTION_ARGS)
{
	return Find(fcinfo, "order", 0);
}

Datum
crm_find_conversations(PG_FUNCTION_ARGS)
{
	return Find(fcinfo, "conversation", 0);
}

/* find_records(type_key, ...): the records of one custom object type */
Datum
crm_find_records(PG_FUNCTION_ARGS)
{
	char	   *type_key;
	const CqlEntity *e;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("custom object type must not be NULL"),
				 errhint("Pass the key of a custom object type, e.g. 'course'.")));
	type_key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	e = CqlFindEntity(type_key);
	if ((e && !e->internal) || strlen(type_key) >= NAMEDATALEN ||
		!CrmObjectTypeExists(CrmCurrentWorkspace(), type_key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown custom object type \"%s\"", type_key),
				 errhint(e && !e->internal ? "Use crm.find_%s for built-in objects; find_records takes a key of crm.object_types."
						 : "Custom object types are the keys of crm.object_types; create one with crm.create_object_type().",
						 e ? e->table + 4 : "")));
	return Find(fcinfo, type_key, 1);
}

/*
 * A computed property's formula (src/properties_formula.c) as a SQL
 * expression of the row alias, resolving declared properties of workspace
 * ws; *type its property type (number, text, boolean, date, datetime),
 * *time_relative whether it reads the clock, and when keys is not NULL the
 * property keys it reads.  Raises the formula's error.
 */
char *
CrmCqlCompileFormula(const char *entity, const char *formula, int64 ws, const char *alias,
					 const char **type, bool *time_relative, int *nkeys, char ***keys)
{
	CqlEnv		env;
	CqlState	st;
	char	   *sql;
	CqlFormulaType ftype;
	bool		ok;
	int64		saved = lists_workspace;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	lists_workspace = ws;
	PG_TRY();
	{
		ok = CqlCompileFormula(&st, entity, formula, strlen(formula), alias, &sql, &ftype);
	}
	PG_FINALLY();
	{
		lists_workspace = saved;
	}
	PG_END_TRY();
	if (!ok)
		ReportError(&st.error);
	*type = CqlFormulaTypeName(ftype);
	*time_relative = st.time_relative;
	if (keys)
	{
		*nkeys = st.nroot_keys;
		*keys = palloc(sizeof(char *) * Max(st.nroot_keys, 1));
		for (int i = 0; i < st.nroot_keys; i++)
			(*keys)[i] = pstrdup(st.root_keys[i]);
	}
	return sql;
}

/*
 * A rollup (src/properties_rollup.c): what it aggregates, over which table
 * and foreign key, with its condition translated for the related rows'
 * alias.  The condition may read the related record's own fields only: the
 * rollup is maintained from the writes of that table alone.
 */
void
CrmCqlCompileRollup(const char *entity, const char *formula, int64 ws, const char *alias, CrmRollupSql *out)
{
	CqlEnv		env;
	CqlState	st;
	CqlRollup	r;
	bool		ok;
	int64		saved = lists_workspace;

	InitEnv(&env, false);
	CqlStateInit(&st, &env);
	lists_workspace = ws;
	PG_TRY();
	{
		ok = CqlParseRollup(&st, entity, formula, strlen(formula), alias, &r);
	}
	PG_FINALLY();
	{
		lists_workspace = saved;
	}
	PG_END_TRY();
	if (!ok)
		ReportError(&st.error);
	out->agg = (int) r.agg;
	out->table = pstrdup(r.target->table);
	out->fk = pstrdup(r.rel->target_fk);
	out->value_sql = r.value_sql ? pstrdup(r.value_sql) : NULL;
	out->type = CqlFormulaTypeName(r.type);
	out->cond_sql = NULL;
	if (r.cond)
	{
		CrmCqlReads reads;

		/* the related rows may be of an entity no query starts from (checklist items) */
		translating_rollup_condition = true;
		PG_TRY();
		{
			out->cond_sql = CrmCqlTranslateFor(r.target->name, pnstrdup(r.cond, r.condlen), ws, NULL, alias,
											   &reads, NULL);
		}
		PG_FINALLY();
		{
			translating_rollup_condition = false;
		}
		PG_END_TRY();
		if (reads.nrels > 0 || reads.nested || reads.nlist_ids > 0 || reads.time_relative || reads.nlookups > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the condition of rollup \"%s\" reads more than the %s's own fields", formula, r.target->name),
					 errhint("A rollup is kept from the writes of its related records alone: its condition reads their fields, no relations, lists or clock.")));
	}
}
