/*-------------------------------------------------------------------------
 *
 * properties_values.c
 *	  Does a JSON value fit its property definition, and the texts that say
 *	  why not.  The validation trigger runs these for every key of every row
 *	  written, the definition check for every value already stored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "crm.h"
#include "properties.h"

#define MAX_SHOWN_VALUE 200

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
	"a phone number string crm.normalize_phone() accepts (international form, or national in the workspace's default_country), e.g. \"+44 20 7946 0958\"",
	"an http or https URL string with a host, e.g. \"https://example.com/page\"",
	"one of the option strings",
	"a JSON array of distinct option strings"
};

/* ----------------------------------------------------------------
 * Value checks
 * ----------------------------------------------------------------
 */
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
Fit
PropertyValueFits(const PropertyDef *def, JsonbValue *v)
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
char *
ShowPropertyValue(JsonbValue *v)
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
char *
PropertyExpectation(const PropertyDef *def, Fit fit)
{
	if (fit == FIT_PATTERN)
		return psprintf("Property \"%s\" is of type %s and must match the pattern \"%s\" in full.",
						def->key, property_type_names[def->type], def->pattern);
	if (fit == FIT_DUPLICATE)
		return psprintf("Property \"%s\" is of type multi_select: each option may appear once. Options: %s.",
						def->key, OptionList(def));
	if (IsSelectType(def->type))
		return psprintf("Property \"%s\" is of type %s: expected %s: %s.",
						def->key, property_type_names[def->type], type_expectations[def->type], OptionList(def));
	return psprintf("Property \"%s\" is of type %s: expected %s.",
					def->key, property_type_names[def->type], type_expectations[def->type]);
}
