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
 * Two kinds only check (src/bounds.c): "finite" refuses NaN and Infinity in
 * a numeric column, "max=N" a text or jsonb value larger than N bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_normalize_email);
PG_FUNCTION_INFO_V1(crm_normalize_phone);
PG_FUNCTION_INFO_V1(crm_normalize_domain);
PG_FUNCTION_INFO_V1(crm_normalize_color);
PG_FUNCTION_INFO_V1(crm_normalize_tags);
PG_FUNCTION_INFO_V1(crm_normalize_row);

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

/*
 * "+" and digits only: "00" and "+" prefixes both mean an international
 * number.  NULL when malformed.
 */
static char *
CanonicalPhone(const char *raw)
{
	char	   *out = palloc(strlen(raw) + 2);
	int			n = 0;
	int			digits = 0;
	const char *p = raw;
	bool		ok = true;

	while (isspace((unsigned char) *p))
		p++;
	out[n++] = '+';
	if (*p == '+')
		p++;
	else if (p[0] == '0' && p[1] == '0')
		p += 2;
	for (; *p && ok; p++)
	{
		if (isdigit((unsigned char) *p))
		{
			out[n++] = *p;
			digits++;
		}
		else if (!strchr(" -.()/\t", *p))
			ok = false;
	}
	out[n] = '\0';
	return (ok && digits >= 5 && digits <= 15) ? out : NULL;
}

/* Whether CrmNormalizePhone would accept the text (for typed properties) */
bool
CrmPhoneIsValid(const char *raw)
{
	return CanonicalPhone(raw) != NULL;
}

char *
CrmNormalizePhone(const char *raw)
{
	char	   *out = CanonicalPhone(raw);

	if (out == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid phone number: \"%s\"", raw),
				 errhint("A phone number has 5 to 15 digits, optionally a leading \"+\", and may use spaces, dashes, dots and parentheses.")));
	return out;
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
TEXT_NORMALIZER(crm_normalize_phone, CrmNormalizePhone)
TEXT_NORMALIZER(crm_normalize_domain, CrmNormalizeDomain)
TEXT_NORMALIZER(crm_normalize_color, CrmNormalizeColor)

Datum
crm_normalize_tags(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(CrmNormalizeTags(PG_GETARG_DATUM(0)));
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
	{"currency", KIND_CURRENCY}, {"color", KIND_COLOR}, {"tags", KIND_TAGS},
	{"touch", KIND_TOUCH}, {"finite", KIND_FINITE}
};

/* Parse the trigger arguments once per statement (cached in fn_extra) */
static RowRules *
GetRowRules(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	RowRules   *rules = (RowRules *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			i;

	if (rules != NULL && rules->relid == RelationGetRelid(trigdata->tg_relation))
		return rules;

	rules = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
							   offsetof(RowRules, rules) + sizeof(ColumnRule) * trigger->tgnargs);
	rules->relid = RelationGetRelid(trigdata->tg_relation);
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
		if (rule->kind == KIND_MAX)
		{
			CrmRequireSize(NameStr(att->attname), toast_raw_datum_size(value) - VARHDRSZ, rule->limit);
			continue;
		}

		if (rule->kind == KIND_TAGS)
			result = CrmNormalizeTags(value);
		else
		{
			char	   *raw = TextDatumGetCString(value);
			char	   *norm = NULL;

			switch (rule->kind)
			{
				case KIND_EMAIL:
					norm = IsBlank(raw) ? NULL : CrmNormalizeEmail(raw);
					break;
				case KIND_PHONE:
					norm = IsBlank(raw) ? NULL : CrmNormalizePhone(raw);
					break;
				case KIND_DOMAIN:
					norm = IsBlank(raw) ? NULL : CrmNormalizeDomain(raw);
					break;
				case KIND_CURRENCY:
					norm = CrmNormalizeCurrency(raw);
					break;
				case KIND_COLOR:
					norm = CrmNormalizeColor(raw);
					break;
				default:
					elog(ERROR, "unexpected column kind %d", rule->kind);
			}
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
