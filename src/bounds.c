/*-------------------------------------------------------------------------
 *
 * bounds.c
 *	  Value bounds shared by every write path: numbers that are money,
 *	  quantities, probabilities or rates must be finite, and free text or
 *	  JSON must fit a documented size.
 *
 * numeric accepts 'NaN' and 'Infinity', and both pass the ">= 0" checks of
 * the tables (NaN sorts above every number), so one such value would turn
 * a deal's value and every report that sums it into NaN.  Sizes are capped
 * so that one row cannot hold a 50 MB blob that every reader, event and
 * export then carries.  The limits are listed in docs/properties.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "crm.h"

/* 22023 unless the number is finite */
void
CrmRequireFinite(const char *column, Numeric value)
{
	if (numeric_is_nan(value) || numeric_is_inf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" must be a finite number, not \"%s\"", column,
						DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value)))),
				 errhint("NaN and Infinity are not amounts, quantities, probabilities or rates; pass a finite number.")));
}

/* 54000 when a value is larger than its documented limit */
void
CrmRequireSize(const char *column, Size bytes, Size limit)
{
	if (bytes > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value of column \"%s\" is too long: %zu bytes", column, bytes),
				 errdetail("The limit is %zu bytes.", limit),
				 errhint("Shorten the value; keep large content in a file and link it with crm.attachments.")));
}
