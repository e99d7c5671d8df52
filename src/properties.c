/*-------------------------------------------------------------------------
 *
 * properties.c
 *	  Typed custom properties: the validation trigger on object tables, the
 *	  checks on crm.property_definitions, and the per-backend cache of
 *	  definitions that the trigger reads.
 *
 * Every insert or update of a contact, company, conversation, ... runs
 * crm.validate_properties(), so the definitions of a (workspace, object
 * type) and the workspace's strict_properties flag are loaded with SPI once
 * and kept in "crm property cache" with their regexes compiled.  A
 * statement trigger on crm.property_definitions and crm.workspaces sends a
 * relcache invalidation for that table; every backend's relcache callback
 * then marks the cache stale and the next trigger call rebuilds it (the
 * pg_cron job_metadata.c model).
 *
 * A definition that is created or changed is checked against the values
 * already stored (table-driven by object_tables[] below) and refused when
 * any no longer fits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_validate_properties);
PG_FUNCTION_INFO_V1(crm_check_property_definition);

/* Same order as the labels of the SQL enum crm.property_type */
typedef enum PropertyType
{
	PT_TEXT,
	PT_NUMBER,
	PT_CURRENCY,
	PT_PERCENT,
	PT_BOOLEAN,
	PT_DATE,
	PT_DATETIME,
	PT_EMAIL,
	PT_PHONE,
	PT_URL,
	PT_SELECT,
	PT_MULTI_SELECT
} PropertyType;

static const char *const type_names[] = {
	"text", "number", "currency", "percent", "boolean", "date", "datetime",
	"email", "phone", "url", "select", "multi_select"
};

/* What a value of each type must be, for error details */
static const char *const type_expectations[] = {
	"a JSON string",
	"a JSON number",
	"an amount as a JSON number, e.g. 1250.50",
	"a JSON number from 0 to 100",
	"true or false",
	"an ISO 8601 date string \"YYYY-MM-DD\", e.g. \"2024-03-31\"",
	"an ISO 8601 date-time string, e.g. \"2024-03-31T14:30:00Z\"",
	"an email address string such as \"name@example.com\"",
	"a phone number string with 5 to 15 digits, e.g. \"+44 20 7946 0958\"",
	"an http or https URL string with a host, e.g. \"https://example.com/page\"",
	"one of the option strings",
	"a JSON array of distinct option strings"
};

#define IsSelectType(t) ((t) == PT_SELECT || (t) == PT_MULTI_SELECT)
/* Types whose values are strings, so a pattern can apply to them */
#define IsStringType(t) ((t) == PT_TEXT || (t) == PT_DATE || (t) == PT_DATETIME || \
						 (t) == PT_EMAIL || (t) == PT_PHONE || (t) == PT_URL || \
						 IsSelectType(t))

#define MAX_OFFENDERS 5
#define MAX_SHOWN_VALUE 200

typedef struct PropertyDef
{
	char	   *key;
	int			keylen;
	PropertyType type;
	int			noptions;
	char	  **options;
	int		   *optlens;
	char	   *pattern;		/* as declared, NULL when none */
	regex_t    *regex;			/* the pattern anchored at both ends */
	bool		required;
} PropertyDef;

/*
 * Where the objects of a type live, for the standard-column check and
 * re-validation.  A NULL object_type matches any custom object type, whose
 * records share one table and name their type in type_column.  Entries whose
 * table does not exist (yet) are ignored; a new object table plugs in here.
 */
typedef struct ObjectTable
{
	const char *object_type;
	const char *relname;
	const char *type_column;
} ObjectTable;

static const ObjectTable object_tables[] = {
	{"contact", "contacts", NULL},
	{"company", "companies", NULL},
	{"conversation", "conversations", NULL},
	{"deal", "deals", NULL},
	{"order", "orders", NULL},
	{NULL, "object_records", "type_key"},
};

/* ----------------------------------------------------------------
 * The cache
 * ----------------------------------------------------------------
 */
typedef struct ObjectKey
{
	int64		workspace_id;
	char		object_type[NAMEDATALEN];
} ObjectKey;

typedef struct ObjectProps
{
	ObjectKey	key;			/* hash key: must be first */
	bool		strict;			/* the workspace's strict_properties */
	char	   *slug;			/* the workspace's slug, for messages */
	int			ndefs;
	PropertyDef *defs;			/* sorted by key, see CompareKeys */
} ObjectProps;

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static bool cache_valid = false;
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

/* Any change to definitions or workspace settings makes the cache stale */
static void
PropertyCacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == definitions_relid || relid == workspaces_relid)
		cache_valid = false;
	if (relid == InvalidOid || relid == definitions_relid || relid == workspaces_relid ||
		relid == object_types_relid || relid == lists_relid)
		definitions_generation++;
}

void
CrmPropertiesInit(void)
{
	CacheRegisterRelcacheCallback(PropertyCacheCallback, (Datum) 0);
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

static PropertyDef *
FindDef(ObjectProps *op, const char *key, int keylen)
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

static int
TypeFromName(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(type_names); i++)
		if (strcmp(name, type_names[i]) == 0)
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
static void
FillDef(PropertyDef *def, const char *key, const char *type, Datum options, bool options_null,
		const char *pattern, bool required, MemoryContext cxt, bool check_pattern)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	def->key = pstrdup(key);
	def->keylen = strlen(key);
	def->type = TypeFromName(type);
	def->required = required;
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
	rc = SPI_execute_with_args(
		"SELECT d.key, d.type::pg_catalog.text, d.options, d.pattern, d.required"
		"  FROM crm.property_definitions d"
		" WHERE d.workspace_id OPERATOR(pg_catalog.=) $1"
		"   AND d.object_type OPERATOR(pg_catalog.=) $2",
		2, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loading property definitions failed: %d", rc);

	op->ndefs = (int) SPI_processed;
	op->defs = MemoryContextAllocZero(cache_context, sizeof(PropertyDef) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		optnull;
		bool		reqnull;
		Datum		options = SPI_getbinval(tup, desc, 3, &optnull);
		bool		required = DatumGetBool(SPI_getbinval(tup, desc, 5, &reqnull));

		FillDef(&op->defs[i], SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2),
				options, optnull, SPI_getvalue(tup, desc, 4), !reqnull && required,
				cache_context, false);
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
		op->slug = MemoryContextStrdup(cache_context,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	}
	PopActiveSnapshot();
	SPI_finish();
}

/*
 * The cached definitions of an object type in a workspace.  A stale cache is
 * dropped here, at the start of a trigger call, never inside the callback,
 * so no caller is left holding freed memory.
 */
static ObjectProps *
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
	if (!found)
	{
		op->ndefs = 0;
		op->defs = NULL;
		op->strict = false;
		PG_TRY();
		{
			LoadObjectProps(op);
		}
		PG_CATCH();
		{
			/* never leave a half-built entry behind */
			hash_search(cache, &key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return op;
}

/* ----------------------------------------------------------------
 * Value checks
 * ----------------------------------------------------------------
 */
typedef enum Fit
{
	FIT_OK,
	FIT_TYPE,					/* not a value of the declared type */
	FIT_PATTERN,				/* right type, but the pattern does not match */
	FIT_DUPLICATE				/* multi_select naming an option twice */
} Fit;

static bool
AllDigits(const char *s, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int
Digits(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* YYYY-MM-DD, a real calendar date in years 1 to 9999 */
static bool
IsIsoDate(const char *s, int len)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;

	if (len != 10 || s[4] != '-' || s[7] != '-' ||
		!AllDigits(s, 4) || !AllDigits(s + 5, 2) || !AllDigits(s + 8, 2))
		return false;
	y = Digits(s, 4);
	m = Digits(s + 5, 2);
	d = Digits(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/*
 * YYYY-MM-DDTHH:MM[:SS[.fraction]][Z|+HH[:MM]|-HH[:MM]]; a space may stand
 * for the T (RFC 3339).  Without an offset the session time zone applies
 * when the value is cast to timestamptz.
 */
static bool
IsIsoDatetime(const char *s, int len)
{
	int			p = 16;

	if (len < 16 || !IsIsoDate(s, 10) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		!AllDigits(s + 11, 2) || s[13] != ':' || !AllDigits(s + 14, 2) ||
		Digits(s + 11, 2) > 23 || Digits(s + 14, 2) > 59)
		return false;
	if (p < len && s[p] == ':')
	{
		if (p + 3 > len || !AllDigits(s + p + 1, 2) || Digits(s + p + 1, 2) > 59)
			return false;
		p += 3;
		if (p < len && (s[p] == '.' || s[p] == ','))
		{
			int			start = ++p;

			while (p < len && s[p] >= '0' && s[p] <= '9')
				p++;
			if (p == start || p - start > 9)
				return false;
		}
	}
	if (p == len)
		return true;
	if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == len)
		return true;
	if (s[p] != '+' && s[p] != '-')
		return false;
	p++;
	if (p + 2 > len || !AllDigits(s + p, 2) || Digits(s + p, 2) > 15)
		return false;
	p += 2;
	if (p == len)
		return true;
	if (s[p] == ':')
		p++;
	return p + 2 == len && AllDigits(s + p, 2) && Digits(s + p, 2) <= 59;
}

/* A host name: dot-separated labels of letters, digits, hyphens or UTF-8, none edged with "-" */
static bool
IsHostname(const char *s, int len)
{
	int			labellen = 0;
	int			i;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			if (labellen == 0 || labellen > 63 || s[i - 1] == '-')
				return false;
			labellen = 0;
			continue;
		}
		if (labellen == 0 && s[i] == '-')
			return false;
		if (!(isalnum((unsigned char) s[i]) || s[i] == '-' || (unsigned char) s[i] >= 0x80))
			return false;
		labellen++;
	}
	return true;
}

/* http(s)://[user@]host[:port][/path][?query][#fragment], no whitespace */
static bool
IsHttpUrl(const char *s, int len)
{
	int			i;
	int			start;
	int			end;
	int			at;
	int			host_end;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
			return false;
	if (len > 7 && pg_strncasecmp(s, "http://", 7) == 0)
		start = 7;
	else if (len > 8 && pg_strncasecmp(s, "https://", 8) == 0)
		start = 8;
	else
		return false;
	for (end = start; end < len && !strchr("/?#", s[end]); end++)
		;
	/* drop user info */
	for (at = end - 1; at >= start && s[at] != '@'; at--)
		;
	if (at >= start)
		start = at + 1;
	if (start < end && s[start] == '[')
	{
		/* IPv6 literal */
		for (host_end = start + 1; host_end < end && s[host_end] != ']'; host_end++)
			if (!isxdigit((unsigned char) s[host_end]) && s[host_end] != ':' && s[host_end] != '.')
				return false;
		if (host_end == end || host_end == start + 1)
			return false;
		host_end++;
	}
	else
	{
		for (host_end = start; host_end < end && s[host_end] != ':'; host_end++)
			;
		if (!IsHostname(s + start, host_end - start))
			return false;
	}
	if (host_end < end)
	{
		int			ndigits = end - host_end - 1;

		if (s[host_end] != ':' || ndigits < 1 || ndigits > 5 || !AllDigits(s + host_end + 1, ndigits))
			return false;
	}
	return true;
}

static bool
MatchesPattern(const PropertyDef *def, const char *s, int len)
{
	pg_wchar   *wide;
	int			wlen;
	int			rc;

	if (def->regex == NULL)
		return true;
	wide = palloc((len + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(s, wide, len);
	rc = pg_regexec(def->regex, wide, wlen, 0, NULL, 0, NULL, 0);
	pfree(wide);
	if (rc != REG_OKAY && rc != REG_NOMATCH)
	{
		char		errbuf[256];

		pg_regerror(rc, def->regex, errbuf, sizeof(errbuf));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("pattern of property \"%s\" failed: %s", def->key, errbuf)));
	}
	return rc == REG_OKAY;
}

static bool
IsOption(const PropertyDef *def, const char *s, int len)
{
	int			i;

	for (i = 0; i < def->noptions; i++)
		if (def->optlens[i] == len && memcmp(def->options[i], s, len) == 0)
			return true;
	return false;
}

static bool
NumericInRange(Numeric n, int64 lo, int64 hi)
{
	Datum		d = NumericGetDatum(n);

	return DatumGetBool(DirectFunctionCall2(numeric_ge, d, NumericGetDatum(int64_to_numeric(lo)))) &&
		DatumGetBool(DirectFunctionCall2(numeric_le, d, NumericGetDatum(int64_to_numeric(hi))));
}

static Fit
MultiSelectFits(const PropertyDef *def, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	bool	   *seen;
	Fit			fit = FIT_OK;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		return FIT_TYPE;
	seen = palloc0(sizeof(bool) * (def->noptions + 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		int			i;

		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			return FIT_TYPE;
		for (i = 0; i < def->noptions; i++)
			if (def->optlens[i] == elem.val.string.len &&
				memcmp(def->options[i], elem.val.string.val, elem.val.string.len) == 0)
				break;
		if (i == def->noptions)
			return FIT_TYPE;
		if (seen[i])
			fit = FIT_DUPLICATE;
		seen[i] = true;
		if (fit == FIT_OK && !MatchesPattern(def, elem.val.string.val, elem.val.string.len))
			fit = FIT_PATTERN;
	}
	return fit;
}

/* Does a (non-null) value fit its definition? */
static Fit
ValueFits(const PropertyDef *def, JsonbValue *v)
{
	const char *s;
	int			len;
	bool		ok;

	switch (def->type)
	{
		case PT_NUMBER:
		case PT_CURRENCY:
			return v->type == jbvNumeric ? FIT_OK : FIT_TYPE;
		case PT_PERCENT:
			return v->type == jbvNumeric && NumericInRange(v->val.numeric, 0, 100) ? FIT_OK : FIT_TYPE;
		case PT_BOOLEAN:
			return v->type == jbvBool ? FIT_OK : FIT_TYPE;
		case PT_MULTI_SELECT:
			return MultiSelectFits(def, v);
		default:
			break;
	}

	/* the remaining types are strings */
	if (v->type != jbvString)
		return FIT_TYPE;
	s = v->val.string.val;
	len = v->val.string.len;
	switch (def->type)
	{
		case PT_TEXT:
			ok = true;
			break;
		case PT_DATE:
			ok = IsIsoDate(s, len);
			break;
		case PT_DATETIME:
			ok = IsIsoDatetime(s, len);
			break;
		case PT_EMAIL:
			ok = len > 0 && memchr(s, '\0', len) == NULL && CrmEmailIsValid(pnstrdup(s, len));
			break;
		case PT_PHONE:
			ok = len > 0 && memchr(s, '\0', len) == NULL && CrmPhoneIsValid(pnstrdup(s, len));
			break;
		case PT_URL:
			ok = IsHttpUrl(s, len);
			break;
		case PT_SELECT:
			ok = IsOption(def, s, len);
			break;
		default:
			elog(ERROR, "unexpected property type %d", def->type);
			ok = false;
	}
	if (!ok)
		return FIT_TYPE;
	return MatchesPattern(def, s, len) ? FIT_OK : FIT_PATTERN;
}

/* ----------------------------------------------------------------
 * Error texts
 * ----------------------------------------------------------------
 */

/* A JSON value as text, cut short for messages */
static char *
ShowValue(JsonbValue *v)
{
	char	   *text;

	if (v->type == jbvBinary)
		text = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *jb = JsonbValueToJsonb(v);

		text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	if (strlen(text) > MAX_SHOWN_VALUE)
		text = psprintf("%.*s...", pg_mbcliplen(text, strlen(text), MAX_SHOWN_VALUE), text);
	return text;
}

static char *
OptionList(const PropertyDef *def)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < def->noptions && i < 20; i++)
		appendStringInfo(&buf, "%s\"%s\"", i > 0 ? ", " : "", def->options[i]);
	if (def->noptions > 20)
		appendStringInfo(&buf, " and %d more", def->noptions - 20);
	return buf.data;
}

/* "Property "plan" is of type select: expected one of the option strings: "free", "pro"." */
static char *
Expectation(const PropertyDef *def, Fit fit)
{
	if (fit == FIT_PATTERN)
		return psprintf("Property \"%s\" is of type %s and must match the pattern \"%s\" in full.",
						def->key, type_names[def->type], def->pattern);
	if (fit == FIT_DUPLICATE)
		return psprintf("Property \"%s\" is of type multi_select: each option may appear once. Options: %s.",
						def->key, OptionList(def));
	if (IsSelectType(def->type))
		return psprintf("Property \"%s\" is of type %s: expected %s: %s.",
						def->key, type_names[def->type], type_expectations[def->type], OptionList(def));
	return psprintf("Property \"%s\" is of type %s: expected %s.",
					def->key, type_names[def->type], type_expectations[def->type]);
}

/* ----------------------------------------------------------------
 * The validation trigger
 * ----------------------------------------------------------------
 */
typedef struct TriggerColumns
{
	Oid			relid;
	Oid			tgoid;
	int			properties;
	int			workspace_id;
	int			type_column;	/* attnum of the '@column', or 0 */
	char	   *object_type;	/* the fixed object type, when type_column is 0 */
} TriggerColumns;

static TriggerColumns *
GetTriggerColumns(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	TriggerColumns *tc = (TriggerColumns *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	const char *arg;

	if (tc != NULL && tc->relid == RelationGetRelid(trigdata->tg_relation) &&
		tc->tgoid == trigger->tgoid)
		return tc;

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties needs one argument: the object type or '@column'")));
	arg = trigger->tgargs[0];
	tc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TriggerColumns));
	tc->relid = RelationGetRelid(trigdata->tg_relation);
	tc->tgoid = trigger->tgoid;
	tc->properties = SPI_fnumber(tupdesc, "properties");
	tc->workspace_id = SPI_fnumber(tupdesc, "workspace_id");
	if (tc->properties <= 0 || tc->workspace_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: table \"%s\" needs columns workspace_id and properties",
						RelationGetRelationName(trigdata->tg_relation))));
	if (arg[0] == '@')
	{
		tc->type_column = SPI_fnumber(tupdesc, arg + 1);
		if (tc->type_column <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("validate_properties: column \"%s\" not found", arg + 1)));
	}
	else
		tc->object_type = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, arg);
	fcinfo->flinfo->fn_extra = tc;
	return tc;
}

static bool
HasKey(Jsonb *jb, const char *key, int keylen)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	return v != NULL && v->type != jbvNull;
}

/*
 * 54000 for a value larger than CRM_MAX_PROPERTY_VALUE bytes (its string,
 * or its array or object as stored): custom properties are fields of a
 * form, not a place for documents.
 */
static void
CheckValueSize(const char *object_type, JsonbValue *k, JsonbValue *v)
{
	Size		bytes;

	if (v->type == jbvString)
		bytes = v->val.string.len;
	else if (v->type == jbvBinary)
		bytes = v->val.binary.len;
	else
		return;					/* numbers and booleans are small */
	if (bytes > CRM_MAX_PROPERTY_VALUE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value of %s property \"%.*s\" is too long: %zu bytes", object_type,
						k->val.string.len, k->val.string.val, bytes),
				 errdetail("The limit is %d bytes per property value.", CRM_MAX_PROPERTY_VALUE),
				 errhint("Shorten the value; keep large content in a file and link it with crm.attachments.")));
}

/*
 * Size limits, whether or not the key is declared.  Only an object larger
 * than one value's limit can hold a value over it, so small objects (nearly
 * all) are not walked.
 */
static void
CheckPropertySizes(const char *object_type, Jsonb *props)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (VARSIZE(props) <= CRM_MAX_PROPERTY_VALUE || !JB_ROOT_IS_OBJECT(props))
		return;
	if (VARSIZE(props) > CRM_MAX_PROPERTIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s properties are too large: %zu bytes", object_type, (Size) VARSIZE(props)),
				 errdetail("The limit is %d bytes for a whole properties object.", CRM_MAX_PROPERTIES),
				 errhint("Remove keys that are not fields of the record; keep documents in files linked with crm.attachments.")));
	it = JsonbIteratorInit(&props->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		CheckValueSize(object_type, &k, &v);
	}
}

static void
ValidateProperties(ObjectProps *op, const char *object_type, Jsonb *props, Jsonb *oldprops)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool	   *present;
	int			i;

	if (!JB_ROOT_IS_OBJECT(props))
		return;					/* the table's CHECK constraint reports it */

	present = palloc0(sizeof(bool) * (op->ndefs + 1));
	it = JsonbIteratorInit(&props->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		PropertyDef *def;
		Fit			fit;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type == jbvNull)
			continue;			/* null means absent */

		def = FindDef(op, k.val.string.val, k.val.string.len);
		if (def == NULL)
		{
			/* strict: new undeclared keys are refused, ones already stored are kept */
			if (op->strict && !(oldprops && HasKey(oldprops, k.val.string.val, k.val.string.len)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("undeclared %s property \"%.*s\"", object_type,
								k.val.string.len, k.val.string.val),
						 errdetail("Workspace \"%s\" has \"strict_properties\": true, which refuses keys without a definition.",
								   op->slug),
						 errhint("Declare it with crm.define_property('%s', '%.*s', 'text'), or remove the key.",
								 object_type, k.val.string.len, k.val.string.val)));
			continue;
		}
		present[def - op->defs] = true;
		fit = ValueFits(def, &v);
		if (fit != FIT_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for %s property \"%s\": %s", object_type, def->key, ShowValue(&v)),
					 errdetail_internal("%s", Expectation(def, fit)),
					 errhint("Store a fitting value or remove the key (null removes it too); crm.define_property() changes the definition.")));
	}

	for (i = 0; i < op->ndefs; i++)
		if (op->defs[i].required && !present[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("missing required %s property \"%s\"", object_type, op->defs[i].key),
					 errdetail_internal("%s", Expectation(&op->defs[i], FIT_TYPE)),
					 errhint("Set properties->'%s' to a non-null value, or make it optional with crm.define_property(..., required => false).",
							 op->defs[i].key)));
}

/*
 * An update that leaves properties (and, for custom records, the type) as
 * they were needs no check: the value was valid when it was stored.
 */
static bool
PropertiesUntouched(const TriggerColumns *tc, TupleDesc tupdesc, HeapTuple oldtuple,
					HeapTuple newtuple, Datum props, Jsonb **oldprops)
{
	bool		oldnull;
	Datum		oldprops_datum = heap_getattr(oldtuple, tc->properties, tupdesc, &oldnull);
	bool		same = !oldnull && datumIsEqual(oldprops_datum, props, false, -1);

	if (same && tc->type_column > 0)
	{
		bool		n1,
					n2;
		Datum		t1 = heap_getattr(oldtuple, tc->type_column, tupdesc, &n1);
		Datum		t2 = heap_getattr(newtuple, tc->type_column, tupdesc, &n2);

		same = n1 == n2 && (n1 || datumIsEqual(t1, t2, false, -1));
	}
	if (!same && !oldnull)
		*oldprops = DatumGetJsonbP(oldprops_datum);
	return same;
}

/* The row's object type: the trigger's argument or the row's type column (NULL if null) */
static char *
RowObjectType(const TriggerColumns *tc, TupleDesc tupdesc, HeapTuple tuple)
{
	bool		isnull;
	Datum		t;

	if (tc->type_column == 0)
		return tc->object_type;
	t = heap_getattr(tuple, tc->type_column, tupdesc, &isnull);
	return isnull ? NULL : TextDatumGetCString(t);
}

Datum
crm_validate_properties(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	TriggerColumns *tc;
	HeapTuple	newtuple;
	Datum		props;
	Datum		wsdatum;
	bool		isnull;
	char	   *object_type;
	ObjectProps *op;
	Jsonb	   *jb;
	Jsonb	   *oldprops = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: must be fired before insert or update, for each row")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tc = GetTriggerColumns(fcinfo, trigdata);
	newtuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

	props = heap_getattr(newtuple, tc->properties, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(newtuple);	/* NOT NULL reports it */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		PropertiesUntouched(tc, tupdesc, trigdata->tg_trigtuple, newtuple, props, &oldprops))
		return PointerGetDatum(newtuple);

	object_type = RowObjectType(tc, tupdesc, newtuple);
	wsdatum = heap_getattr(newtuple, tc->workspace_id, tupdesc, &isnull);
	if (object_type == NULL || isnull)
		return PointerGetDatum(newtuple);

	jb = DatumGetJsonbP(props);
	CheckPropertySizes(object_type, jb);
	op = GetObjectProps(DatumGetInt64(wsdatum), object_type);
	if (op->ndefs > 0 || op->strict)
		ValidateProperties(op, object_type, jb, oldprops);
	return PointerGetDatum(newtuple);
}

/* ----------------------------------------------------------------
 * Definitions: checks and re-validation
 * ----------------------------------------------------------------
 */

static bool
IsPropertyKey(const char *s)
{
	int			i;

	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_') || i > 62)
			return false;
	return true;
}

static Oid
CrmRelid(const char *relname)
{
	return get_relname_relid(relname, CrmNamespace());
}

static bool CustomObjectTypeExists(int64 workspace_id, const char *object_type);

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
	const PropertyDef *def = FindDef(op, key, strlen(key));
	char	  **opts;

	if (def == NULL)
		return false;
	*type = type_names[def->type];
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

bool
CrmObjectTypeExists(int64 workspace_id, const char *key)
{
	return CustomObjectTypeExists(workspace_id, key);
}

static bool
CustomObjectTypeExists(int64 workspace_id, const char *object_type)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	bool		exists;

	args[0] = Int64GetDatum(workspace_id);
	args[1] = CStringGetTextDatum(object_type);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM crm.object_types t"
							  " WHERE t.workspace_id OPERATOR(pg_catalog.=) $1"
							  "   AND t.key OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking up custom object types failed");
	exists = SPI_processed > 0;
	SPI_finish();
	return exists;
}

static char *
KnownObjectTypes(void)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type != NULL)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", object_tables[i].object_type);
	return buf.data;
}

/*
 * The table holding objects of this type (*relid), or an error for an
 * unknown object type.
 */
static const ObjectTable *
ResolveObjectType(int64 workspace_id, const char *object_type, Oid *relid)
{
	int			i;

	for (i = 0; i < lengthof(object_tables); i++)
	{
		const ObjectTable *ot = &object_tables[i];

		if (ot->object_type != NULL && strcmp(ot->object_type, object_type) == 0)
		{
			*relid = CrmRelid(ot->relname);
			if (!OidIsValid(*relid))
				elog(ERROR, "table crm.%s is missing", ot->relname);
			return ot;
		}
	}

	if (!CustomObjectTypeExists(workspace_id, object_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown object type: \"%s\"", object_type),
				 errdetail("It is neither one of %s nor a custom object type of this workspace.",
						   KnownObjectTypes()),
				 errhint("Create the custom object type first, or check the spelling.")));

	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type == NULL)
		{
			*relid = CrmRelid(object_tables[i].relname);
			return &object_tables[i];
		}
	elog(ERROR, "no table for custom object records");
	return NULL;				/* keep compiler quiet */
}

/*
 * The stored values of the property in the workspace, by object id: every
 * object when the property is to be required, else those that have the key.
 * Sets *nargs to the parameters the query uses ($3 is the custom type).
 */
static char *
StoredValuesQuery(const ObjectTable *ot, const PropertyDef *def, int *nargs)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT o.id, o.properties OPERATOR(pg_catalog.->) $2 FROM crm.%s o"
					 " WHERE o.workspace_id OPERATOR(pg_catalog.=) $1",
					 quote_identifier(ot->relname));
	if (!def->required)
		appendStringInfoString(&sql, " AND pg_catalog.jsonb_exists(o.properties, $2)");
	*nargs = 2;
	if (ot->type_column != NULL)
	{
		appendStringInfo(&sql, " AND o.%s OPERATOR(pg_catalog.=) $3", quote_identifier(ot->type_column));
		*nargs = 3;
	}
	appendStringInfoString(&sql, " ORDER BY o.id");
	return sql.data;
}

/* A stored value (column 2 of the query) as shown when it does not fit, or NULL when it fits */
static char *
Misfit(const PropertyDef *def, HeapTuple tup, TupleDesc desc)
{
	bool		vnull;
	Datum		d = SPI_getbinval(tup, desc, 2, &vnull);
	JsonbValue	v;

	if (!vnull)
	{
		Jsonb	   *jb = DatumGetJsonbP(d);

		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, &v);
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &jb->root;
			v.val.binary.len = VARSIZE(jb);
		}
		vnull = v.type == jbvNull;
	}
	if (vnull)
		return def->required ? "(missing)" : NULL;
	return ValueFits(def, &v) != FIT_OK ? ShowValue(&v) : NULL;
}

/*
 * Check the values already stored against a new or changed definition and
 * refuse it, naming a few offenders, when any does not fit.  Writers of the
 * table are held off until commit, so none can slip in a value that fitted
 * the old definition after the check.
 */
static void
Revalidate(int64 workspace_id, const char *object_type, const ObjectTable *ot, Oid relid,
		   PropertyDef *def)
{
	char	   *sql;
	StringInfoData offenders;
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	Portal		portal;
	int64		count = 0;
	int			nargs;

	if (!OidIsValid(relid))
		return;
	LockRelationOid(relid, ShareLock);

	sql = StoredValuesQuery(ot, def, &nargs);
	args[0] = Int64GetDatum(workspace_id);
	args[1] = CStringGetTextDatum(def->key);
	args[2] = CStringGetTextDatum(object_type);

	initStringInfo(&offenders);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* values committed while we waited for the lock count too, at any isolation level */
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, args, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		idnull;
			char	   *shown = Misfit(def, tup, SPI_tuptable->tupdesc);

			if (shown == NULL)
				continue;
			if (count < MAX_OFFENDERS)
				appendStringInfo(&offenders, "%sid %lld: %s", count > 0 ? "; " : "",
								 (long long) DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &idnull)),
								 shown);
			count++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	PopActiveSnapshot();
	SPI_finish();

	if (count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("cannot define %s property \"%s\" as %s%s: %lld stored value%s would not fit",
						object_type, def->key, def->required ? "required " : "",
						type_names[def->type], (long long) count, count == 1 ? "" : "s"),
				 errdetail("Offending rows of crm.%s%s: %s.", ot->relname,
						   count > MAX_OFFENDERS ? psprintf(" (first %d)", MAX_OFFENDERS) : "",
						   offenders.data),
				 errhint("Fix or remove those values first, or keep the current definition.")));
}

/* Did an update change anything the stored values are checked against? */
static bool
DefinitionChanged(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	static const char *const columns[] = {
		"workspace_id", "object_type", "key", "type", "options", "pattern", "required"
	};
	int			i;

	for (i = 0; i < lengthof(columns); i++)
	{
		int			a = SPI_fnumber(desc, columns[i]);
		char	   *before = SPI_getvalue(oldtup, desc, a);
		char	   *after = SPI_getvalue(newtup, desc, a);

		if ((before == NULL) != (after == NULL) || (before != NULL && strcmp(before, after) != 0))
			return true;
	}
	return false;
}

static char *
GetText(HeapTuple tup, TupleDesc desc, const char *column, bool *isnull)
{
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, column), desc, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/* A crm.property_definitions row as the checks read it */
typedef struct DefinitionRow
{
	int64		workspace_id;
	char	   *object_type;
	char	   *key;
	char	   *type;
	char	   *pattern;		/* NULL when none */
	Datum		options;
	bool		options_null;
	bool		required;
} DefinitionRow;

/*
 * The columns the trigger may rewrite before the row is stored: at most
 * three change (options, pattern, label).
 */
typedef struct RowRewrite
{
	int			ncols;
	int			cols[3];
	Datum		vals[3];
	bool		nulls[3];
} RowRewrite;

static void
Rewrite(RowRewrite *rw, int attnum, Datum value, bool isnull)
{
	Assert(rw->ncols < lengthof(rw->cols));
	rw->cols[rw->ncols] = attnum;
	rw->vals[rw->ncols] = value;
	rw->nulls[rw->ncols++] = isnull;
}

/* Read the row; false when a NOT NULL column is null, which the constraint reports */
static bool
ReadDefinitionRow(HeapTuple tup, TupleDesc desc, DefinitionRow *row)
{
	bool		isnull;

	row->workspace_id = DatumGetInt64(heap_getattr(tup, SPI_fnumber(desc, "workspace_id"), desc, &isnull));
	if (isnull)
		return false;
	row->object_type = GetText(tup, desc, "object_type", &isnull);
	row->key = GetText(tup, desc, "key", &isnull);
	row->type = SPI_getvalue(tup, desc, SPI_fnumber(desc, "type"));
	if (row->object_type == NULL || row->key == NULL || row->type == NULL)
		return false;
	row->pattern = GetText(tup, desc, "pattern", &isnull);
	row->options = heap_getattr(tup, SPI_fnumber(desc, "options"), desc, &row->options_null);
	row->required = DatumGetBool(heap_getattr(tup, SPI_fnumber(desc, "required"), desc, &isnull));
	row->required = row->required && !isnull;
	return true;
}

static void
CheckPropertyKey(const char *key)
{
	if (!IsPropertyKey(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid property key: \"%s\"", key),
				 errhint("A key is 1 to 63 lower-case letters, digits or \"_\", starting with a letter, e.g. \"annual_revenue\".")));
}

/* A property would be shadowed by a column of the same name in queries and CQL */
static void
CheckNotStandardColumn(const ObjectTable *ot, Oid relid, const char *object_type, const char *key)
{
	if (OidIsValid(relid) && get_attnum(relid, key) != InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("property key \"%s\" is a standard column of %s", key, object_type),
				 errdetail("crm.%s already has a column named \"%s\".", ot->relname, key),
				 errhint("Choose another key, e.g. \"custom_%s\".", key)));
}

/*
 * Values that mean "none" are stored as NULL: an empty options list on a
 * type without options (a select type's empty list is refused later) and an
 * empty pattern.
 */
static void
NullEmptyValues(DefinitionRow *row, TupleDesc desc, RowRewrite *rw)
{
	if (!row->options_null && ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(row->options)),
											 ARR_DIMS(DatumGetArrayTypeP(row->options))) == 0 &&
		!IsSelectType(TypeFromName(row->type)))
	{
		Rewrite(rw, SPI_fnumber(desc, "options"), (Datum) 0, true);
		row->options_null = true;
	}
	if (row->pattern != NULL && *row->pattern == '\0')
	{
		Rewrite(rw, SPI_fnumber(desc, "pattern"), (Datum) 0, true);
		row->pattern = NULL;
	}
}

/* A select type's options: present, non-empty strings, each once */
static void
CheckSelectOptions(const DefinitionRow *row, const PropertyDef *def)
{
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i,
				j;

	if (row->options_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" needs options", row->type, row->key),
				 errhint("Pass the allowed values, e.g. options => ARRAY['free', 'pro', 'enterprise'].")));
	deconstruct_array(DatumGetArrayTypeP(row->options), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" needs options", row->type, row->key),
				 errdetail("The options list is empty."),
				 errhint("Pass the allowed values, e.g. options => ARRAY['free', 'pro', 'enterprise'].")));
	for (i = 0; i < n; i++)
		if (elnulls[i] || *TextDatumGetCString(elems[i]) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid option for property \"%s\": %s", row->key,
							elnulls[i] ? "NULL" : "\"\""),
					 errhint("Options are non-empty strings.")));
	for (i = 0; i < def->noptions; i++)
		for (j = i + 1; j < def->noptions; j++)
			if (strcmp(def->options[i], def->options[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("duplicate option for property \"%s\": \"%s\"", row->key, def->options[i]),
						 errhint("List each option once.")));
}

/* Options belong to select types only; patterns to types whose values are strings */
static void
CheckOptionsAndPattern(const DefinitionRow *row, const PropertyDef *def)
{
	if (IsSelectType(def->type))
		CheckSelectOptions(row, def);
	else if (!row->options_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" cannot have options", row->type, row->key),
				 errhint("Options belong to select and multi_select properties; pass options => NULL.")));

	if (row->pattern != NULL && !IsStringType(def->type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" cannot have a pattern", row->type, row->key),
				 errhint("A pattern applies to string values: text, date, datetime, email, phone, url, select and multi_select.")));
}

/*
 * BEFORE INSERT OR UPDATE on crm.property_definitions: the key, object type,
 * options and pattern must make sense, a missing label becomes the key, and
 * the stored values must fit the new definition.
 */
Datum
crm_check_property_definition(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tup;
	HeapTuple	oldtup = NULL;
	DefinitionRow row;
	RowRewrite	rw = {0};
	PropertyDef def;
	const ObjectTable *ot;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("check_property_definition: must be fired before insert or update, for each row")));

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		tup = trigdata->tg_newtuple;
		oldtup = trigdata->tg_trigtuple;
	}
	else
		tup = trigdata->tg_trigtuple;

	if (!ReadDefinitionRow(tup, desc, &row))
		return PointerGetDatum(tup);
	CheckPropertyKey(row.key);
	ot = ResolveObjectType(row.workspace_id, row.object_type, &relid);
	CheckNotStandardColumn(ot, relid, row.object_type, row.key);
	NullEmptyValues(&row, desc, &rw);
	/* FillDef refuses a pattern that does not compile */
	FillDef(&def, row.key, row.type, row.options, row.options_null, row.pattern, row.required,
			CurrentMemoryContext, true);
	CheckOptionsAndPattern(&row, &def);

	/* a missing label defaults to the key */
	if (heap_attisnull(tup, SPI_fnumber(desc, "label"), desc))
		Rewrite(&rw, SPI_fnumber(desc, "label"), CStringGetTextDatum(row.key), false);
	if (rw.ncols > 0)
	{
		tup = heap_modify_tuple_by_cols(tup, desc, rw.ncols, rw.cols, rw.vals, rw.nulls);
		CrmCheckDefined(tup->t_data, tup->t_len);
	}

	/* Re-validate unless nothing but the label changed */
	if (oldtup == NULL || DefinitionChanged(oldtup, tup, desc))
		Revalidate(row.workspace_id, row.object_type, ot, relid, &def);

	return PointerGetDatum(tup);
}
