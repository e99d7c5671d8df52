/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  Canonical forms of contact and company fields, and the row trigger
 *	  that applies them.
 *
 * Uniqueness (one contact per email or phone, one company per domain) only
 * holds if every writer stores the same spelling, so normalisation happens
 * in a BEFORE trigger rather than in each API function.  The trigger is
 * generic: its arguments name "column:kind" pairs, e.g.
 *
 *	  EXECUTE FUNCTION crm_internal.normalize_row('email:email', 'tags:tags', 'updated_at:touch')
 *
 * Addresses and social profiles (address_country, postal_code, trim,
 * social=<network>, website) are in src/profiles.c.
 *
 * Two kinds only check (src/bounds.c): "finite" refuses NaN and Infinity in
 * a numeric column, "max=N" a text or jsonb value larger than N bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "crm.h"
#include "phone.h"

PG_FUNCTION_INFO_V1(crm_normalize_email);
PG_FUNCTION_INFO_V1(crm_normalize_phone);
PG_FUNCTION_INFO_V1(crm_normalize_domain);
PG_FUNCTION_INFO_V1(crm_normalize_color);
PG_FUNCTION_INFO_V1(crm_normalize_tags);
PG_FUNCTION_INFO_V1(crm_normalize_row);
PG_FUNCTION_INFO_V1(crm_is_identifier);

#define MAX_TAG_LENGTH 100

static char *
TrimmedCopy(const char *raw)
{
	const char *start = raw;
	const char *end = raw + strlen(raw);

	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	return pnstrdup(start, end - start);
}

/* Forms leave blank optional fields empty: store NULL, not "" or "  " */
static bool
IsBlank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

static void
AsciiLower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/*
 * A domain name: dot-separated labels of letters, digits and hyphens (or
 * UTF-8 bytes, for internationalised names), no label empty or edged with a
 * hyphen, at least two labels.
 */
static bool
ValidHostname(const char *s)
{
	int			labels = 0;
	int			len = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (p = s;; p++)
	{
		if (*p == '.' || *p == '\0')
		{
			if (len == 0 || len > 63 || p[-1] == '-')
				return false;
			labels++;
			len = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (len == 0 && *p == '-')
			return false;
		if (!(isalnum((unsigned char) *p) || *p == '-' || (unsigned char) *p >= 0x80))
			return false;
		len++;
	}
	return labels >= 2;
}

/* The canonical form of an email address, or NULL when it is malformed */
static char *
CanonicalEmail(const char *raw)
{
	char	   *s = TrimmedCopy(raw);
	char	   *at = strrchr(s, '@');
	const char *p;
	bool		ok = at != NULL && at != s && strlen(s) <= 254 && at - s <= 64;

	AsciiLower(s);
	for (p = s; ok && p < at; p++)
		if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p) ||
			strchr("@<>()[],;:\\\"", *p) != NULL)
			ok = false;
	if (ok)
		ok = s[0] != '.' && at[-1] != '.' && strstr(s, "..") == NULL && ValidHostname(at + 1);
	return ok ? s : NULL;
}

/* Whether CrmNormalizeEmail would accept the text (for typed properties) */
bool
CrmEmailIsValid(const char *raw)
{
	return CanonicalEmail(raw) != NULL;
}

char *
CrmNormalizeEmail(const char *raw)
{
	char	   *s = CanonicalEmail(raw);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid email address: \"%s\"", raw),
				 errhint("An email address looks like name@example.com.")));
	return s;
}

/* ----------------------------------------------------------------
 * Phones: E.164 through libphonenumber (src/phone.cpp)
 *
 * A number in international form ("+" or "00" and a calling code) needs no
 * country; a national one is read in the country the caller names, else
 * in the workspace's default_country, else refused: guessing would store a
 * wrong number.  Every writer (the row trigger, crm.identify, the import,
 * CQL literals, the search) comes through PhoneStatus, so they all store
 * and match the same E.164.
 * ----------------------------------------------------------------
 */

/*
 * What a phone number may be written with: digits, a leading "+" (or "00"),
 * spaces, dashes, dots, parentheses and slashes.  Letters (vanity numbers,
 * "ext. 12") are refused before the library, which would accept them.
 * Returns the text the library parses, "00" turned into "+", or NULL.
 */
static char *
PhoneText(const char *raw)
{
	char	   *out = palloc(strlen(raw) + 2);
	int			n = 0;
	int			digits = 0;
	const char *p = raw;

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '+')
		out[n++] = *p++;
	else if (p[0] == '0' && p[1] == '0')
	{
		out[n++] = '+';
		p += 2;
	}
	for (; *p; p++)
	{
		if (isdigit((unsigned char) *p))
			digits++;
		else if (!strchr(" -.()/\t", *p))
			return NULL;
		out[n++] = *p;
	}
	out[n] = '\0';
	return (digits > 0 && digits <= 17) ? out : NULL;
}

/*
 * A country as the caller wrote it ("gb", " GB ") in upper case, or a
 * 22023 naming it when libphonenumber has no numbering plan for it.
 */
char *
CrmNormalizeCountry(const char *raw)
{
	char	   *s = TrimmedCopy(raw);
	char	   *p;

	for (p = s; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p -= 'a' - 'A';
	if (strlen(s) != 2 || !isupper((unsigned char) s[0]) || !isupper((unsigned char) s[1]) ||
		!CrmPhoneCountryKnown(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown country: \"%s\"", raw),
				 errhint("A country is an ISO 3166 alpha-2 code with a numbering plan, such as GB, US or DE.")));
	return s;
}

/* A workspace's default_country, or NULL; read as the caller */
static char *
WorkspaceCountry(int64 workspace)
{
	static SPIPlanPtr plan = NULL;
	Datum		ws = Int64GetDatum(workspace);
	char	   *country = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm phone: SPI_connect failed");
	if (plan == NULL)
	{
		Oid			argtype = INT8OID;
		SPIPlanPtr	p = SPI_prepare("SELECT w.default_country::pg_catalog.text FROM crm.workspaces w"
									" WHERE w.id OPERATOR(pg_catalog.=) $1", 1, &argtype);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "crm phone: preparing the workspace query failed");
		plan = p;
	}
	if (SPI_execute_plan(plan, &ws, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm phone: reading the workspace failed");
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			country = strcpy(SPI_palloc(strlen(v) + 1), v);
	}
	SPI_finish();
	return country;
}

/*
 * The E.164 texts made here in this transaction.  A writer normalises, then
 * the row trigger normalises its result again: crm.identify one number, the
 * set-based import a whole batch before it inserts it, so one remembered
 * number is not enough.  An E.164 text libphonenumber accepted stays valid
 * in every workspace (it needs no country), so finding it here skips the
 * second parse.  The set lives in the transaction's memory and stops
 * growing at PHONE_CACHE_MAX entries (a few MB).
 */
#define PHONE_CACHE_MAX (1 << 17)

typedef struct PhoneCacheEntry
{
	char		e164[CRM_PHONE_E164_SIZE];
} PhoneCacheEntry;

static HTAB *phone_cache = NULL;

static void
PhoneCacheGone(void *arg)
{
	phone_cache = NULL;
}

static bool
PhoneCacheHas(const char *text)
{
	/* a longer text would be compared by its first 16 bytes only */
	if (phone_cache == NULL || text[0] != '+' || strlen(text) >= CRM_PHONE_E164_SIZE)
		return false;
	return hash_search(phone_cache, text, HASH_FIND, NULL) != NULL;
}

static void
PhoneCacheAdd(const char *e164)
{
	if (phone_cache == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(TopTransactionContext, "crm phone cache",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));
		HASHCTL		ctl;

		ctl.keysize = CRM_PHONE_E164_SIZE;
		ctl.entrysize = sizeof(PhoneCacheEntry);
		ctl.hcxt = cxt;
		phone_cache = hash_create("crm phone cache", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		cb->func = PhoneCacheGone;
		cb->arg = NULL;
		MemoryContextRegisterResetCallback(cxt, cb);
	}
	if (hash_get_num_entries(phone_cache) < PHONE_CACHE_MAX)
		(void) hash_search(phone_cache, e164, HASH_ENTER, NULL);
}

/*
 * Parse and validate; country NULL means the default of workspace ws (read
 * only for a number in national form).  On CRM_PHONE_OK e164 holds the
 * result.
 */
static CrmPhoneStatus
PhoneStatus(const char *raw, const char *country, int64 ws, char *e164, int *code)
{
	char	   *text = PhoneText(raw);
	CrmPhoneStatus status;

	*code = 0;
	if (text == NULL)
		return CRM_PHONE_NOT_A_NUMBER;
	if (PhoneCacheHas(text))
	{
		strcpy(e164, text);
		return CRM_PHONE_OK;
	}
	if (text[0] != '+' && country == NULL)
		country = WorkspaceCountry(ws);
	if (text[0] != '+' && country == NULL)
		return CRM_PHONE_NO_COUNTRY;
	status = CrmPhoneParse(text, text[0] == '+' ? NULL : country, e164, code);
	if (status == CRM_PHONE_OK)
		PhoneCacheAdd(e164);
	return status;
}

/* Whether CrmNormalizePhoneIn would accept the text (for typed properties) */
bool
CrmPhoneIsValid(const char *raw)
{
	char		e164[CRM_PHONE_E164_SIZE];
	int			code;

	return PhoneStatus(raw, NULL, CrmCurrentWorkspace(), e164, &code) == CRM_PHONE_OK;
}

/*
 * E.164 of raw, read in country (NULL: the default of workspace ws), or an
 * error naming the number and saying how to write it.
 */
static char *
NormalizePhone(const char *raw, const char *country, int64 ws)
{
	char		e164[CRM_PHONE_E164_SIZE];
	int			code;

	switch (PhoneStatus(raw, country, ws, e164, &code))
	{
		case CRM_PHONE_OK:
			return pstrdup(e164);
		case CRM_PHONE_NOT_A_NUMBER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid phone number: \"%s\"", raw),
					 errhint("A phone number is digits, optionally after \"+\" and a country calling code, and may use spaces, dashes, dots and parentheses.")));
			break;
		case CRM_PHONE_NO_COUNTRY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("phone number \"%s\" is in national form and no country is given", raw),
					 errhint("Write it in international form (+44 20 7946 0000), pass its country (country => 'GB'), or set the workspace's default_country.")));
			break;
		case CRM_PHONE_BAD_CALLING_CODE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("phone number \"%s\" has no valid country calling code", raw),
					 errhint("An international number starts with + and a country calling code, e.g. +44 20 7946 0000.")));
			break;
		case CRM_PHONE_TOO_SHORT:
			if (code == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("phone number \"%s\" is too short", raw),
						 errhint("An international number starts with + and a country calling code, e.g. +44 20 7946 0000.")));
			/* FALLTHROUGH */
		case CRM_PHONE_TOO_LONG:
		case CRM_PHONE_INVALID_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("phone number \"%s\" has the wrong number of digits for +%d", raw, code),
					 errhint("Check the digits; a number of another country is written in international form, +CC and the number.")));
			break;
		case CRM_PHONE_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("phone number \"%s\" is not a valid number for +%d", raw, code),
					 errhint("No number range of that country starts this way; check the digits, or write a number of another country as +CC and the number.")));
			break;
		case CRM_PHONE_BAD_COUNTRY:
			(void) CrmNormalizeCountry(country);
			break;
		case CRM_PHONE_INTERNAL:
			break;
	}
	elog(ERROR, "crm phone: libphonenumber failed on \"%s\"", raw);
	return NULL;				/* keep compiler quiet */
}

/* In country, else in the current workspace's default_country */
char *
CrmNormalizePhoneIn(const char *raw, const char *country)
{
	return NormalizePhone(raw, country, CrmCurrentWorkspace());
}

char *
CrmNormalizePhone(const char *raw)
{
	return NormalizePhone(raw, NULL, CrmCurrentWorkspace());
}

/* In the default_country of workspace ws (CQL literals of a dynamic list) */
char *
CrmNormalizePhoneFor(const char *raw, int64 ws)
{
	return NormalizePhone(raw, NULL, ws);
}

/* "https://www.Example.com/path" -> "example.com" */
char *
CrmNormalizeDomain(const char *raw)
{
	char	   *s = TrimmedCopy(raw);
	char	   *p;
	char	   *scheme = strstr(s, "://");

	AsciiLower(s);
	if (scheme != NULL)
		s = scheme + 3;
	if ((p = strpbrk(s, "/?#")) != NULL)
		*p = '\0';
	if ((p = strrchr(s, '@')) != NULL)
		s = p + 1;
	if ((p = strchr(s, ':')) != NULL)
		*p = '\0';
	if (strncmp(s, "www.", 4) == 0)
		s += 4;
	if (*s && s[strlen(s) - 1] == '.')
		s[strlen(s) - 1] = '\0';
	if (!ValidHostname(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid domain: \"%s\"", raw),
				 errhint("A domain looks like example.com; a URL such as https://www.example.com/about is reduced to its domain.")));
	return pstrdup(s);
}

char *
CrmNormalizeColor(const char *raw)
{
	char	   *s = TrimmedCopy(raw);
	bool		ok = strlen(s) == 7 && s[0] == '#';
	int			i;

	for (i = 1; ok && i < 7; i++)
		ok = isxdigit((unsigned char) s[i]);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid color: \"%s\"", raw),
				 errhint("A color is written #rrggbb, e.g. #1f77b4.")));
	AsciiLower(s);
	return s;
}

static int
CompareCStrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Tags: trimmed, lower-cased, no empties, unique, sorted */
Datum
CrmNormalizeTags(Datum tags)
{
	ArrayType  *arr = DatumGetArrayTypeP(tags);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			kept = 0;
	char	  **strs;
	Datum	   *out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tags must be a one-dimensional array"),
				 errhint("Write tags as ARRAY['vip', 'newsletter'] or '{vip,newsletter}'.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	strs = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		char	   *t;
		char	   *trimmed;

		if (nulls[i])
			continue;
		trimmed = TrimmedCopy(TextDatumGetCString(elems[i]));
		if (*trimmed == '\0')
			continue;
		t = str_tolower(trimmed, strlen(trimmed), DEFAULT_COLLATION_OID);
		/* quote a prefix cut on a character boundary, never inside one */
		if (strlen(t) > MAX_TAG_LENGTH)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("tag too long: \"%.*s...\"", pg_mbcliplen(t, strlen(t), 40), t),
					 errhint("A tag has at most %d bytes.", MAX_TAG_LENGTH)));
		strs[kept++] = t;
	}
	qsort(strs, kept, sizeof(char *), CompareCStrings);
	out = palloc(sizeof(Datum) * (kept + 1));
	n = 0;
	for (i = 0; i < kept; i++)
		if (n == 0 || strcmp(strs[i], TextDatumGetCString(out[n - 1])) != 0)
			out[n++] = CStringGetTextDatum(strs[i]);
	return PointerGetDatum(construct_array(out, n, TEXTOID, -1, false, TYPALIGN_INT));
}

#define TEXT_NORMALIZER(sqlname, fn) \
Datum \
sqlname(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_TEXT_P(cstring_to_text(fn(text_to_cstring(PG_GETARG_TEXT_PP(0))))); \
}

TEXT_NORMALIZER(crm_normalize_email, CrmNormalizeEmail)
TEXT_NORMALIZER(crm_normalize_domain, CrmNormalizeDomain)
TEXT_NORMALIZER(crm_normalize_color, CrmNormalizeColor)

/*
 * crm.normalize_phone(phone, country DEFAULT NULL); the 0.2.0 declaration
 * (one argument, STRICT) reaches the same symbol.
 */
Datum
crm_normalize_phone(PG_FUNCTION_ARGS)
{
	char	   *country = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		country = CrmNormalizeCountry(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_TEXT_P(cstring_to_text(CrmNormalizePhoneIn(text_to_cstring(PG_GETARG_TEXT_PP(0)), country)));
}

Datum
crm_normalize_tags(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(CrmNormalizeTags(PG_GETARG_DATUM(0)));
}

/* ----------------------------------------------------------------
 * Active modules: {"support": "2026-01-15T09:00:00+00:00", ...}
 * ----------------------------------------------------------------
 */

/* A module name: a lower-case identifier, as crm.identify(source => ...) takes it */
bool
CrmModuleNameIsValid(const char *s, int len)
{
	int			i;

	if (len < 1 || len > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/*
 * crm_internal.is_identifier(text): the CHECK of a type, channel or system
 * column, ^[a-z][a-z0-9_]{0,62}$ without the regular expression machinery.
 * PostgreSQL checks every CHECK on every row an UPDATE writes, whatever
 * columns it changes: a merge moving a thousand rows ran a thousand regexes.
 */
Datum
crm_is_identifier(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(CrmModuleNameIsValid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/*
 * Whether crm.contacts has active_modules: an install of 0.2.0 runs this
 * library too, and its identify and merge statements must not name it.
 */
bool
CrmContactsHaveActiveModules(void)
{
	return CrmContactsHaveColumn("active_modules");
}

/* Whether crm.contacts has a column of a later version than 0.2.0 */
bool
CrmContactsHaveColumn(const char *column)
{
	Oid			nsp = get_namespace_oid("crm", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("contacts", nsp) : InvalidOid;

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}

/*
 * What the row path may store in contacts.active_modules: module names as
 * crm.identify records them, each with the time it was last used, so that
 * a merge can keep the later of two times.
 */
void
CrmCheckActiveModules(Datum value)
{
	Jsonb	   *modules = DatumGetJsonbP(value);
	JsonbIterator *it = JsonbIteratorInit(&modules->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(modules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("active_modules must be a JSON object, not %s",
						JB_ROOT_IS_SCALAR(modules) ? "a scalar" : "an array"),
				 errhint("Store {\"module\": \"last used at\"}, e.g. {\"support\": \"2026-01-15T09:00:00Z\"}.")));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (!CrmModuleNameIsValid(key, v.val.string.len))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid module name in active_modules: \"%s\"", key),
						 errhint("A module name is lower-case letters, digits and underscores, such as support or auth.")));
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("active_modules \"%s\" must be a timestamp string", key),
						 errhint("Store when the module was last used, e.g. {\"%s\": \"2026-01-15T09:00:00Z\"}; crm.identify(source => '%s') records it.", key, key)));
			(void) DirectFunctionCall3(timestamptz_in,
									   CStringGetDatum(pnstrdup(v.val.string.val, v.val.string.len)),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
	}
}

/*
 * A module's time as a stored string reads it, the same in every session: a
 * string without an offset is UTC and a numeric date month first, whatever
 * TimeZone and DateStyle say, and a word that names a moving time ("now",
 * "today") is no time.  False when the string is no time.
 */
static bool
ReadModuleTime(const char *str, TimestampTz *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			tz = 0;
	int			dterr;
	struct pg_tm tt;
	fsec_t		fsec;
	pg_tz	   *saved_zone = session_timezone;
	int			saved_order = DateOrder;

	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
		return false;
	/* ParseDateTime has lower-cased the words */
	for (int i = 0; i < nf; i++)
		if (ftype[i] == DTK_STRING &&
			(strcmp(field[i], "now") == 0 || strcmp(field[i], "today") == 0 ||
			 strcmp(field[i], "tomorrow") == 0 || strcmp(field[i], "yesterday") == 0))
			return false;
	session_timezone = pg_tzset("UTC");
	DateOrder = DATEORDER_MDY;
	PG_TRY();
	{
		dterr = DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz);
	}
	PG_FINALLY();
	{
		session_timezone = saved_zone;
		DateOrder = saved_order;
	}
	PG_END_TRY();
	if (dterr != 0)
		return false;
	switch (dtype)
	{
		case DTK_DATE:
			return tm2timestamp(&tt, fsec, &tz, result) == 0;
		case DTK_EPOCH:
			*result = SetEpochTimestamp();
			return true;
		case DTK_LATE:
			TIMESTAMP_NOEND(*result);
			return true;
		case DTK_EARLY:
			TIMESTAMP_NOBEGIN(*result);
			return true;
		default:
			return false;
	}
}

/*
 * crm_hidden.module_used_before(active_modules, module, at): whether the
 * module was last used before at, or has no (readable) time, i.e. whether
 * crm.identify(source => module) moves its time.  IMMUTABLE, which a cast
 * of the stored string to timestamptz is not (it reads TimeZone): Citus
 * refuses a STABLE function of a column in an UPDATE it routes.
 */
PG_FUNCTION_INFO_V1(crm_module_used_before);
Datum
crm_module_used_before(PG_FUNCTION_ARGS)
{
	Jsonb	   *modules = PG_GETARG_JSONB_P(0);
	text	   *module = PG_GETARG_TEXT_PP(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	JsonbValue	key;
	JsonbValue *v;
	TimestampTz used;

	if (!JB_ROOT_IS_OBJECT(modules))
		PG_RETURN_BOOL(true);
	key.type = jbvString;
	key.val.string.val = VARDATA_ANY(module);
	key.val.string.len = VARSIZE_ANY_EXHDR(module);
	v = findJsonbValueFromContainer(&modules->root, JB_FOBJECT, &key);
	if (v == NULL || v->type != jbvString)
		PG_RETURN_BOOL(true);
	if (!ReadModuleTime(pnstrdup(v->val.string.val, v->val.string.len), &used))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(used < at);
}

/* ----------------------------------------------------------------
 * The normalize_row trigger
 * ----------------------------------------------------------------
 */
typedef enum ColumnKind
{
	KIND_EMAIL,
	KIND_PHONE,
	KIND_DOMAIN,
	KIND_CURRENCY,
	KIND_COLOR,
	KIND_COUNTRY,				/* ISO 3166 alpha-2 with a numbering plan */
	KIND_ADDRESS_COUNTRY,		/* any ISO 3166-1 country, by code or name */
	KIND_POSTAL_CODE,
	KIND_TRIM,					/* trimmed, blank is NULL */
	KIND_SOCIAL,				/* "social=<network>": a profile's canonical URL */
	KIND_WEBSITE,
	KIND_MODULES,				/* jsonb {module: timestamp}: checked only */
	KIND_TAGS,
	KIND_TOUCH,					/* set to now() on UPDATE */
	KIND_FINITE,				/* numeric: no NaN or Infinity (bounds.c) */
	KIND_MAX					/* "max=N": text or jsonb of at most N bytes */
} ColumnKind;

typedef struct ColumnRule
{
	int			attnum;
	ColumnKind	kind;
	Size		limit;			/* KIND_MAX */
	int			network;		/* KIND_SOCIAL */
} ColumnRule;

typedef struct RowRules
{
	Oid			relid;
	int			nrules;
	ColumnRule	rules[FLEXIBLE_ARRAY_MEMBER];
} RowRules;

static const struct
{
	const char *name;
	ColumnKind	kind;
}			kinds[] = {
	{"email", KIND_EMAIL}, {"phone", KIND_PHONE}, {"domain", KIND_DOMAIN},
	{"currency", KIND_CURRENCY}, {"color", KIND_COLOR}, {"country", KIND_COUNTRY}, {"modules", KIND_MODULES}, {"tags", KIND_TAGS},
	{"touch", KIND_TOUCH}, {"finite", KIND_FINITE},
	{"address_country", KIND_ADDRESS_COUNTRY}, {"postal_code", KIND_POSTAL_CODE}, {"trim", KIND_TRIM},
	{"website", KIND_WEBSITE}
};

/*
 * The stored form of a text column's value, or NULL for a blank optional
 * one; network is the KIND_SOCIAL network.
 */
static char *
NormalizedText(ColumnKind kind, int network, const char *raw)
{
	switch (kind)
	{
		case KIND_EMAIL:
			return IsBlank(raw) ? NULL : CrmNormalizeEmail(raw);
		case KIND_PHONE:
			return IsBlank(raw) ? NULL : CrmNormalizePhone(raw);
		case KIND_DOMAIN:
			return IsBlank(raw) ? NULL : CrmNormalizeDomain(raw);
		case KIND_CURRENCY:
			return CrmNormalizeCurrency(raw);
		case KIND_COLOR:
			return CrmNormalizeColor(raw);
		case KIND_COUNTRY:
			return IsBlank(raw) ? NULL : CrmNormalizeCountry(raw);
		case KIND_ADDRESS_COUNTRY:
			return IsBlank(raw) ? NULL : CrmNormalizeAddressCountry(raw);
		case KIND_POSTAL_CODE:
			return IsBlank(raw) ? NULL : CrmNormalizePostalCode(raw);
		case KIND_TRIM:
			return IsBlank(raw) ? NULL : TrimmedCopy(raw);
		case KIND_SOCIAL:
			return IsBlank(raw) ? NULL : CrmNormalizeSocial(network, raw);
		case KIND_WEBSITE:
			return IsBlank(raw) ? NULL : CrmNormalizeSocial(-1, raw);
		default:
			elog(ERROR, "unexpected column kind %d", kind);
	}
	return NULL;				/* keep the compiler quiet */
}

/*
 * A value normalised as the normalize_row rule "column:kind" of a text
 * column normalises it (kind "trim", "postal_code", "social=x", ...), for
 * functions that compare a value with the stored one before writing it:
 * crm.identify.
 */
char *
CrmNormalizeAs(const char *kind, const char *raw)
{
	size_t		k;

	if (strncmp(kind, "social=", 7) == 0)
	{
		int			network = CrmSocialNetwork(kind + 7);

		if (network < 0)
			elog(ERROR, "unknown social network \"%s\"", kind + 7);
		return NormalizedText(KIND_SOCIAL, network, raw);
	}
	for (k = 0; k < lengthof(kinds); k++)
		if (strcmp(kind, kinds[k].name) == 0)
			return NormalizedText(kinds[k].kind, -1, raw);
	elog(ERROR, "unknown column kind \"%s\"", kind);
	return NULL;				/* keep the compiler quiet */
}

/* Parse the trigger arguments once per statement (cached in fn_extra) */
/*
 * Each trigger's rules, parsed once per backend rather than once per
 * statement (a single-row write is a statement): by trigger OID, dropped
 * with the relcache entry of its table, which ALTER TABLE and
 * CREATE OR REPLACE TRIGGER invalidate.
 */
typedef struct RulesEntry
{
	Oid			tgoid;
	RowRules   *rules;
} RulesEntry;

static HTAB *rules_cache = NULL;

void
CrmNormalizeRelcache(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RulesEntry *entry;

	if (rules_cache == NULL)
		return;
	hash_seq_init(&status, rules_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || entry->rules->relid == relid)
		{
			pfree(entry->rules);
			(void) hash_search(rules_cache, &entry->tgoid, HASH_REMOVE, NULL);
		}
}

#define RowRulesSize(n) (offsetof(RowRules, rules) + sizeof(ColumnRule) * (n))

/* The trigger's arguments parsed against its table; elog(ERROR) on a bad one */
static RowRules *
ParseRowRules(Trigger *trigger, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	RowRules   *rules;
	int			i;

	rules = palloc(RowRulesSize(trigger->tgnargs));
	rules->relid = RelationGetRelid(rel);
	rules->nrules = trigger->tgnargs;
	for (i = 0; i < trigger->tgnargs; i++)
	{
		char	   *arg = trigger->tgargs[i];
		char	   *colon = strchr(arg, ':');
		char	   *column;
		size_t		k;

		if (colon == NULL)
			elog(ERROR, "normalize_row argument \"%s\" is not column:kind", arg);
		column = pnstrdup(arg, colon - arg);
		rules->rules[i].attnum = SPI_fnumber(tupdesc, column);
		if (rules->rules[i].attnum <= 0)
			elog(ERROR, "normalize_row: column \"%s\" not found", column);
		if (strncmp(colon + 1, "max=", 4) == 0)
		{
			rules->rules[i].kind = KIND_MAX;
			rules->rules[i].limit = strtoul(colon + 5, NULL, 10);
			if (rules->rules[i].limit == 0 ||
				TupleDescAttr(tupdesc, rules->rules[i].attnum - 1)->attlen != -1)
				elog(ERROR, "normalize_row: \"%s\" needs a positive limit on a text or jsonb column", arg);
			continue;
		}
		if (strncmp(colon + 1, "social=", 7) == 0)
		{
			rules->rules[i].kind = KIND_SOCIAL;
			rules->rules[i].network = CrmSocialNetwork(colon + 8);
			if (rules->rules[i].network < 0)
				elog(ERROR, "normalize_row: unknown social network \"%s\"", colon + 8);
			continue;
		}
		for (k = 0; k < lengthof(kinds); k++)
			if (strcmp(colon + 1, kinds[k].name) == 0)
				break;
		if (k == lengthof(kinds))
			elog(ERROR, "normalize_row: unknown kind \"%s\"", colon + 1);
		rules->rules[i].kind = kinds[k].kind;
		if (kinds[k].kind == KIND_FINITE &&
			TupleDescAttr(tupdesc, rules->rules[i].attnum - 1)->atttypid != NUMERICOID)
			elog(ERROR, "normalize_row: \"%s\" needs a numeric column", arg);
	}
	return rules;
}

static RowRules *
GetRowRules(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	RowRules   *rules = (RowRules *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	RulesEntry *entry;
	bool		found;

	if (rules != NULL && rules->relid == RelationGetRelid(trigdata->tg_relation))
		return rules;
	if (rules_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RulesEntry);
		rules_cache = hash_create("crm normalize_row rules", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(rules_cache, &trigger->tgoid, HASH_FIND, NULL);
	if (entry == NULL || entry->rules->relid != RelationGetRelid(trigdata->tg_relation))
	{
		RowRules   *parsed = ParseRowRules(trigger, trigdata->tg_relation);

		/* kept only once parsed whole: a bad argument leaves no entry */
		entry = hash_search(rules_cache, &trigger->tgoid, HASH_ENTER, &found);
		if (found)
			pfree(entry->rules);
		entry->rules = MemoryContextAlloc(CacheMemoryContext, RowRulesSize(parsed->nrules));
		memcpy(entry->rules, parsed, RowRulesSize(parsed->nrules));
	}
	/* the statement's own copy: an invalidation may drop the entry meanwhile */
	rules = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, RowRulesSize(entry->rules->nrules));
	memcpy(rules, entry->rules, RowRulesSize(entry->rules->nrules));
	fcinfo->flinfo->fn_extra = rules;
	return rules;
}

Datum
crm_normalize_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	newtuple;
	HeapTuple	oldtuple = NULL;
	TupleDesc	tupdesc;
	RowRules   *rules;
	int			natts;
	int		   *attnums;
	Datum	   *values;
	bool	   *nulls;
	int			nchanged = 0;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("normalize_row: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("normalize_row: must be fired before insert or update, for each row")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		newtuple = trigdata->tg_newtuple;
		oldtuple = trigdata->tg_trigtuple;
	}
	else
		newtuple = trigdata->tg_trigtuple;

	rules = GetRowRules(fcinfo, trigdata);
	natts = rules->nrules;
	attnums = palloc(sizeof(int) * natts);
	values = palloc(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);

	for (i = 0; i < natts; i++)
	{
		ColumnRule *rule = &rules->rules[i];
		Form_pg_attribute att = TupleDescAttr(tupdesc, rule->attnum - 1);
		bool		isnull;
		Datum		value;
		Datum		result;

		if (rule->kind == KIND_TOUCH)
		{
			if (oldtuple == NULL)
				continue;
			attnums[nchanged] = rule->attnum;
			values[nchanged] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
			nulls[nchanged++] = false;
			continue;
		}

		value = heap_getattr(newtuple, rule->attnum, tupdesc, &isnull);
		if (isnull)
			continue;

		/* An UPDATE that leaves the column alone needs no work */
		if (oldtuple != NULL)
		{
			bool		oldnull;
			Datum		old = heap_getattr(oldtuple, rule->attnum, tupdesc, &oldnull);

			if (!oldnull && datumIsEqual(old, value, att->attbyval, att->attlen))
				continue;
		}

		/* checks only: the value is stored as given */
		if (rule->kind == KIND_FINITE)
		{
			CrmRequireFinite(NameStr(att->attname), DatumGetNumeric(value));
			continue;
		}
		if (rule->kind == KIND_MODULES)
		{
			CrmCheckActiveModules(value);
			continue;
		}
		if (rule->kind == KIND_MAX)
		{
			CrmRequireSize(NameStr(att->attname), toast_raw_datum_size(value) - VARHDRSZ, rule->limit);
			continue;
		}

		if (rule->kind == KIND_TAGS)
			result = CrmNormalizeTags(value);
		else
		{
			char	   *norm = NormalizedText(rule->kind, rule->network, TextDatumGetCString(value));

			attnums[nchanged] = rule->attnum;
			nulls[nchanged] = (norm == NULL);
			/* bpchar and text share their varlena layout */
			values[nchanged++] = norm ? PointerGetDatum(cstring_to_text(norm)) : (Datum) 0;
			continue;
		}
		attnums[nchanged] = rule->attnum;
		values[nchanged] = result;
		nulls[nchanged++] = false;
	}

	if (nchanged > 0)
	{
		newtuple = heap_modify_tuple_by_cols(newtuple, tupdesc, nchanged, attnums, values, nulls);
		CrmCheckDefined(newtuple->t_data, newtuple->t_len);
	}
	return PointerGetDatum(newtuple);
}
