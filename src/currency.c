/*-------------------------------------------------------------------------
 *
 * currency.c
 *	  ISO 4217 currency codes and their minor units, for validating currency
 *	  columns and rounding money (JPY 0 decimals, USD 2, BHD 3, CLF 4).
 *
 * The list is compiled in rather than kept in a table: it is reference data
 * shared by every workspace and changes only with the standard.
 *
 * This file owns currency codes whole (lookup and canonical spelling):
 * normalize.c's row trigger calls CrmNormalizeCurrency, never the reverse.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_normalize_currency);
PG_FUNCTION_INFO_V1(crm_currency_exponent);
PG_FUNCTION_INFO_V1(crm_currencies);

typedef struct CurrencyInfo
{
	const char *code;
	int			exponent;
} CurrencyInfo;

/* Active ISO 4217 codes, sorted for binary search */
static const CurrencyInfo currencies[] = {
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2},
	{"ARS", 2}, {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2},
	{"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
	{"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
	{"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2},
	{"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2},
	{"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
	{"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
	{"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2},
	{"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2},
	{"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3},
	{"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
	{"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3},
	{"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2},
	{"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
	{"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2},
	{"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2},
	{"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3},
	{"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2},
	{"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0},
	{"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
	{"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2},
	{"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
	{"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2},
	{"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2},
	{"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0},
	{"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0},
	{"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2}
};

#define NUM_CURRENCIES lengthof(currencies)

static int
CompareCurrency(const void *key, const void *entry)
{
	return strcmp((const char *) key, ((const CurrencyInfo *) entry)->code);
}

int
CrmCurrencyExponent(const char *code)
{
	const CurrencyInfo *c;

	if (code == NULL || strlen(code) != 3)
		return -1;
	c = bsearch(code, currencies, NUM_CURRENCIES, sizeof(CurrencyInfo), CompareCurrency);
	return c ? c->exponent : -1;
}

/* The code upper-cased and trimmed; an unknown code is an error */
char *
CrmNormalizeCurrency(const char *raw)
{
	const char *start = raw;
	const char *end = raw + strlen(raw);
	char	   *s;
	char	   *p;

	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	s = pnstrdup(start, end - start);
	for (p = s; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	if (CrmCurrencyExponent(s) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("unknown currency code: \"%s\"", raw),
				 errhint("Use an ISO 4217 code such as USD, EUR or JPY; SELECT * FROM crm.currencies() lists them.")));
	return s;
}

/* crm.normalize_currency(code) */
Datum
crm_normalize_currency(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CrmNormalizeCurrency(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/* crm.currency_exponent(code): minor units of a currency, error if unknown */
Datum
crm_currency_exponent(PG_FUNCTION_ARGS)
{
	char	   *code = CrmNormalizeCurrency(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	PG_RETURN_INT32(CrmCurrencyExponent(code));
}

/* crm.currencies(): the whole table, for reports and documentation */
Datum
crm_currencies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < NUM_CURRENCIES; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(currencies[i].code);
		values[1] = Int32GetDatum(currencies[i].exponent);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
