/*-------------------------------------------------------------------------
 *
 * valuation.c
 *	  Deal valuation from line items.
 *
 * Three triggers on crm.deal_line_items and one on crm.deals:
 *
 *	- line_item_prepare (BEFORE ROW): reads the line, fills it from its
 *	  product (name, price and currency frozen at that moment), validates
 *	  quantity, price and discount (finite, within range), takes its deal's
 *	  currency, computes
 *		total = max(0, quantity * unit_price - discount)
 *	  rounded half-up to the currency's ISO 4217 minor units, refuses a
 *	  client-sent total that differs, and writes the row back: one static
 *	  function per step.
 *	- line_item_touch (AFTER ROW): remembers the deals whose lines changed.
 *	- line_items_revalue (AFTER STATEMENT): locks those deals in id order,
 *	  then sets each one's value to the sum of its lines (value_mode auto),
 *	  or back to manual keeping the value when it has none left.  A
 *	  statement touching 10,000 lines of one deal recomputes it once.
 *	- deals_guard_value (BEFORE ROW on deals): value, value_mode and
 *	  currency of a deal with lines can only be changed through its lines.
 *
 * The deal is locked before its lines are summed, in a fresh snapshot, so
 * two sessions changing lines of one deal serialize and the later one sees
 * the earlier one's lines.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_line_item_prepare);
PG_FUNCTION_INFO_V1(crm_line_item_touch);
PG_FUNCTION_INFO_V1(crm_line_items_revalue);
PG_FUNCTION_INFO_V1(crm_deals_guard_value);

/* Columns of crm.deal_line_items the triggers read or write */
typedef enum LineColumn
{
	LINE_WORKSPACE,
	LINE_DEAL,
	LINE_PRODUCT,
	LINE_NAME,
	LINE_QUANTITY,
	LINE_UNIT_PRICE,
	LINE_CURRENCY,
	LINE_DISCOUNT_TYPE,
	LINE_DISCOUNT,
	LINE_TOTAL,
	LINE_COUNT
} LineColumn;

static const char *const line_column_names[LINE_COUNT] = {
	"workspace_id", "deal_id", "product_id", "name", "quantity", "unit_price",
	"currency", "discount_type", "discount", "total"
};

typedef struct DealKey
{
	int64		workspace_id;
	int64		deal_id;
} DealKey;

/* What line_item_prepare needs to know of a deal, cached for one statement */
typedef struct DealInfo
{
	DealKey		key;
	char		currency[4];
	bool		has_lines;		/* value_mode auto, or given a line by this statement */
} DealInfo;

/* Per-statement state of line_item_prepare, kept in fn_extra */
typedef struct PrepareState
{
	Oid			relid;
	int			attnum[LINE_COUNT];
	HTAB	   *deals;
} PrepareState;

static SPIPlanPtr deal_plan = NULL;
static SPIPlanPtr product_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr revalue_plan = NULL;
static SPIPlanPtr lock_one_plan = NULL;
static SPIPlanPtr sum_one_plan = NULL;
static SPIPlanPtr set_one_plan = NULL;

/* Deals whose lines the current statement changed (line_item_touch) */
static HTAB *touched_deals = NULL;
static MemoryContext touched_context = NULL;

/* > 0 while line_items_revalue updates deals: lets deals_guard_value through */
static int	revaluing = 0;

static SPIPlanPtr
PreparePlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*cache = plan;
	}
	return *cache;
}

static void
CheckTrigger(FunctionCallInfo fcinfo, const char *name, bool row, bool before)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not called by trigger manager", name)));
	if ((TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) != 0) != row ||
		(TRIGGER_FIRED_BEFORE(trigdata->tg_event) != 0) != before)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired %s, for each %s", name,
						before ? "before" : "after", row ? "row" : "statement")));
}

static PrepareState *
GetPrepareState(FunctionCallInfo fcinfo, Relation rel)
{
	PrepareState *state = (PrepareState *) fcinfo->flinfo->fn_extra;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HASHCTL		ctl;
	int			i;

	if (state != NULL && state->relid == RelationGetRelid(rel))
		return state;

	state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PrepareState));
	state->relid = RelationGetRelid(rel);
	for (i = 0; i < LINE_COUNT; i++)
	{
		state->attnum[i] = SPI_fnumber(tupdesc, line_column_names[i]);
		if (state->attnum[i] <= 0)
			elog(ERROR, "line_item_prepare: column \"%s\" not found", line_column_names[i]);
	}
	ctl.keysize = sizeof(DealKey);
	ctl.entrysize = sizeof(DealInfo);
	ctl.hcxt = fcinfo->flinfo->fn_mcxt;
	state->deals = hash_create("crm line item deals", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

/* Small constants, built once per call without parsing */
static Numeric
NumericFromInt(int64 v)
{
	return int64_to_numeric(v);
}

static int
NumericCmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

static char *
NumericText(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
}

/* The deal of a line, read once per statement */
static DealInfo *
LookupDeal(PrepareState *state, int64 workspace_id, int64 deal_id)
{
	DealKey		key;
	DealInfo   *info;
	bool		found;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	char	   *currency;

	memset(&key, 0, sizeof(key));
	key.workspace_id = workspace_id;
	key.deal_id = deal_id;
	info = hash_search(state->deals, &key, HASH_FIND, NULL);
	if (info != NULL)
		return info;

	PreparePlan(&deal_plan,
				"SELECT d.currency::text, d.value_mode OPERATOR(pg_catalog.=) 'auto'"
				"  FROM crm.deals d"
				" WHERE d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $2",
				2, argtypes);
	args[0] = Int64GetDatum(workspace_id);
	args[1] = Int64GetDatum(deal_id);
	if (SPI_execute_plan(deal_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "line_item_prepare: deal lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("deal " INT64_FORMAT " does not exist", deal_id),
				 errhint("Check the deal id; deals of other workspaces are not visible here.")));

	info = hash_search(state->deals, &key, HASH_ENTER, &found);
	currency = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(info->currency, currency, sizeof(info->currency));
	info->has_lines = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "t") == 0;
	return info;
}

/*
 * A line as line_item_prepare sees it: what the row says, then what the
 * steps below fill in and compute.
 */
typedef struct LineItem
{
	int64		workspace_id;
	int64		deal_id;
	bool		has_product;
	int64		product_id;
	char	   *name;
	Numeric		quantity;
	Numeric		unit_price;
	char	   *currency;
	char	   *discount_type;
	Numeric		discount;
	Numeric		given_total;	/* the row's total: NULL (left out) or a client's */
	Numeric		total;			/* computed */
} LineItem;

/* Step 1: the row's columns */
static void
ReadLine(PrepareState *state, HeapTuple tuple, TupleDesc tupdesc, LineItem *line)
{
	Datum		values[LINE_COUNT];
	bool		nulls[LINE_COUNT];
	int			i;

	for (i = 0; i < LINE_COUNT; i++)
		values[i] = heap_getattr(tuple, state->attnum[i], tupdesc, &nulls[i]);

	if (nulls[LINE_WORKSPACE] || nulls[LINE_DEAL])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a line item needs a deal"),
				 errhint("Set deal_id to the deal the line belongs to.")));
	memset(line, 0, sizeof(LineItem));
	line->workspace_id = DatumGetInt64(values[LINE_WORKSPACE]);
	line->deal_id = DatumGetInt64(values[LINE_DEAL]);
	line->has_product = !nulls[LINE_PRODUCT];
	if (line->has_product)
		line->product_id = DatumGetInt64(values[LINE_PRODUCT]);
	if (!nulls[LINE_NAME])
		line->name = TextDatumGetCString(values[LINE_NAME]);
	if (!nulls[LINE_QUANTITY])
		line->quantity = DatumGetNumeric(values[LINE_QUANTITY]);
	if (!nulls[LINE_UNIT_PRICE])
		line->unit_price = DatumGetNumeric(values[LINE_UNIT_PRICE]);
	if (!nulls[LINE_CURRENCY])
		line->currency = CrmNormalizeCurrency(TextDatumGetCString(values[LINE_CURRENCY]));
	line->discount_type = nulls[LINE_DISCOUNT_TYPE] ? "none" : TextDatumGetCString(values[LINE_DISCOUNT_TYPE]);
	line->discount = nulls[LINE_DISCOUNT] ? NumericFromInt(0) : DatumGetNumeric(values[LINE_DISCOUNT]);
	if (!nulls[LINE_TOTAL])
		line->given_total = DatumGetNumeric(values[LINE_TOTAL]);
}

/* Did this UPDATE set a new product (an INSERT always does)? */
static bool
ProductChanged(PrepareState *state, HeapTuple oldtuple, TupleDesc tupdesc, LineItem *line)
{
	bool		oldnull;
	Datum		old;

	if (!line->has_product)
		return false;
	if (oldtuple == NULL)
		return true;
	old = heap_getattr(oldtuple, state->attnum[LINE_PRODUCT], tupdesc, &oldnull);
	return oldnull || DatumGetInt64(old) != line->product_id;
}

/* Step 2: a line from the catalogue freezes the product's name and price now */
static void
FillFromProduct(LineItem *line)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	HeapTuple	ptup;
	TupleDesc	pdesc;
	bool		isnull;

	if (line->name != NULL && line->unit_price != NULL && line->currency != NULL)
		return;
	PreparePlan(&product_plan,
				"SELECT p.name, p.unit_price, p.currency::text, p.active FROM crm.products p"
				" WHERE p.workspace_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) $2",
				2, argtypes);
	args[0] = Int64GetDatum(line->workspace_id);
	args[1] = Int64GetDatum(line->product_id);
	if (SPI_execute_plan(product_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "line_item_prepare: product lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("product " INT64_FORMAT " does not exist", line->product_id),
				 errhint("Check the id; SELECT id, name FROM crm.products lists the catalogue.")));
	ptup = SPI_tuptable->vals[0];
	pdesc = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(ptup, pdesc, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product " INT64_FORMAT " is inactive", line->product_id),
				 errhint("Reactivate it (UPDATE crm.products SET active = true) or pick another product.")));
	if (line->name == NULL)
		line->name = SPI_getvalue(ptup, pdesc, 1);
	if (line->unit_price == NULL)
		line->unit_price = DatumGetNumeric(SPI_datumTransfer(SPI_getbinval(ptup, pdesc, 2, &isnull), false, -1));
	if (line->currency == NULL)
		line->currency = SPI_getvalue(ptup, pdesc, 3);
}

/* Step 3: name, quantity, price and discount within their bounds */
static void
ValidateLine(LineItem *line)
{
	Numeric		zero = NumericFromInt(0);
	const char *name = line->name;
	const char *type = line->discount_type;

	if (name == NULL || name[strspn(name, " \t\r\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a line item needs a name"),
				 errhint("Give the line a name, or a product_id to copy the name from.")));
	CrmRequireSize("name", strlen(name), CRM_MAX_SHORT_TEXT);
	if (line->unit_price == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line item \"%s\" needs a unit price", name),
				 errhint("Give the line a unit_price, or a product_id to copy the price from.")));
	if (line->quantity == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line item \"%s\" needs a quantity", name),
				 errhint("A quantity is a number greater than 0.")));

	CrmRequireFinite("quantity", line->quantity);
	CrmRequireFinite("unit_price", line->unit_price);
	CrmRequireFinite("discount", line->discount);
	if (line->given_total != NULL)
		CrmRequireFinite("total", line->given_total);

	if (NumericCmp(line->quantity, zero) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid quantity: %s", NumericText(line->quantity)),
				 errhint("A quantity is a number greater than 0; delete the line to remove it.")));
	if (NumericCmp(line->unit_price, zero) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid unit price: %s", NumericText(line->unit_price)),
				 errhint("A unit price is 0 or more; use a discount to lower a line's total.")));
	if (strcmp(type, "none") != 0 && strcmp(type, "fixed") != 0 && strcmp(type, "percent") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid discount type: \"%s\"", type),
				 errhint("Use none, fixed (an amount off the line) or percent (0 to 100).")));
	if (NumericCmp(line->discount, zero) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid discount: %s", NumericText(line->discount)),
				 errhint("A discount is 0 or more.")));
	if (strcmp(type, "percent") == 0 && NumericCmp(line->discount, NumericFromInt(100)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount of %s percent is more than 100 percent", NumericText(line->discount)),
				 errhint("A percent discount is between 0 and 100.")));
	if (strcmp(type, "none") == 0 && NumericCmp(line->discount, zero) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount %s given with discount type none", NumericText(line->discount)),
				 errhint("Set discount_type to fixed or percent.")));
}

/*
 * Step 4: currency: the line's own, else its product's, else the deal's.  A
 * deal with lines has their currency; the first line of a deal sets it (the
 * statement trigger then writes it to the deal).  A line that stays on its
 * deal keeps the currency it has.
 */
static void
ApplyDealCurrency(PrepareState *state, LineItem *line, HeapTuple oldtuple, TupleDesc tupdesc)
{
	DealInfo   *deal = LookupDeal(state, line->workspace_id, line->deal_id);
	bool		joins_deal = oldtuple == NULL;

	if (!joins_deal)
	{
		bool		isnull;

		joins_deal = DatumGetInt64(heap_getattr(oldtuple, state->attnum[LINE_DEAL], tupdesc, &isnull)) != line->deal_id;
	}
	if (line->currency == NULL)
		line->currency = pstrdup(deal->currency);
	if (deal->has_lines && joins_deal && strcmp(line->currency, deal->currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line item currency \"%s\" differs from the deal's currency \"%s\"", line->currency, deal->currency),
				 errdetail("All line items of a deal share one currency."),
				 errhint("Convert the price to %s, or remove the deal's lines before switching currency.", deal->currency)));
	if (!deal->has_lines)
	{
		strlcpy(deal->currency, line->currency, sizeof(deal->currency));
		deal->has_lines = true;
	}
}

/* Step 5: total = max(0, quantity * unit_price - discount), rounded half-up */
static void
ComputeTotal(LineItem *line)
{
	Numeric		zero = NumericFromInt(0);
	Numeric		subtotal;
	Numeric		total;

	subtotal = DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(line->quantity),
												   NumericGetDatum(line->unit_price)));
	if (strcmp(line->discount_type, "fixed") == 0)
		total = DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(subtotal),
													NumericGetDatum(line->discount)));
	else if (strcmp(line->discount_type, "percent") == 0)
	{
		Numeric		off = DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(subtotal),
															  NumericGetDatum(line->discount)));

		/* times 0.01 rather than / 100: exact at any scale */
		off = DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(off),
												  NumericGetDatum(int64_div_fast_to_numeric(1, 2))));
		total = DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(subtotal),
													NumericGetDatum(off)));
	}
	else
		total = subtotal;
	if (NumericCmp(total, zero) < 0)
		total = zero;
	line->total = DatumGetNumeric(DirectFunctionCall2(numeric_round, NumericGetDatum(total),
													  Int32GetDatum(CrmCurrencyExponent(line->currency))));
}

/*
 * Step 6: total is computed, so a client may leave it out (its default is
 * NULL) or send the computed value; an UPDATE that keeps the stored total
 * is recomputed too (a form sending the whole row back).  Any other value
 * would be silently replaced: refuse it.
 */
static void
CheckGivenTotal(PrepareState *state, LineItem *line, HeapTuple oldtuple, TupleDesc tupdesc)
{
	Numeric		given = line->given_total;

	if (given == NULL || NumericCmp(given, line->total) == 0)
		return;
	if (oldtuple != NULL)
	{
		bool		oldnull;
		Datum		old = heap_getattr(oldtuple, state->attnum[LINE_TOTAL], tupdesc, &oldnull);

		if (!oldnull && NumericCmp(given, DatumGetNumeric(old)) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_GENERATED_ALWAYS),
			 errmsg("column \"total\" of line item \"%s\" is computed: %s was given, the computed total is %s",
					line->name, NumericText(given), NumericText(line->total)),
			 errdetail("total = quantity x unit_price - discount, never negative, rounded to the currency's minor units."),
			 errhint("Leave total out, or change quantity, unit_price or discount instead.")));
}

/* Step 7: the row as stored; it must outlive SPI_finish */
static HeapTuple
WriteLine(PrepareState *state, Relation rel, HeapTuple tuple, LineItem *line)
{
	int			attnums[6];
	Datum		values[6];
	char		nulls[6];

	attnums[0] = state->attnum[LINE_NAME];
	values[0] = CStringGetTextDatum(line->name);
	attnums[1] = state->attnum[LINE_UNIT_PRICE];
	values[1] = NumericGetDatum(line->unit_price);
	attnums[2] = state->attnum[LINE_CURRENCY];
	values[2] = CStringGetTextDatum(line->currency);
	attnums[3] = state->attnum[LINE_DISCOUNT_TYPE];
	values[3] = CStringGetTextDatum(line->discount_type);
	attnums[4] = state->attnum[LINE_DISCOUNT];
	values[4] = NumericGetDatum(line->discount);
	attnums[5] = state->attnum[LINE_TOTAL];
	values[5] = NumericGetDatum(line->total);
	memset(nulls, ' ', sizeof(nulls));
	tuple = SPI_modifytuple(rel, tuple, 6, attnums, values, nulls);
	CrmCheckDefined(tuple->t_data, tuple->t_len);
	return tuple;
}

Datum
crm_line_item_prepare(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	HeapTuple	oldtuple = NULL;
	PrepareState *state;
	LineItem	line;

	CheckTrigger(fcinfo, "line_item_prepare", true, true);
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("line_item_prepare: must be fired on insert or update")));

	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtuple = trigdata->tg_trigtuple;
		tuple = trigdata->tg_newtuple;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "line_item_prepare: SPI_connect failed");
	state = GetPrepareState(fcinfo, rel);

	ReadLine(state, tuple, tupdesc, &line);
	if (ProductChanged(state, oldtuple, tupdesc, &line))
		FillFromProduct(&line);
	ValidateLine(&line);
	ApplyDealCurrency(state, &line, oldtuple, tupdesc);
	ComputeTotal(&line);
	CheckGivenTotal(state, &line, oldtuple, tupdesc);
	tuple = WriteLine(state, rel, tuple, &line);

	SPI_finish();
	return PointerGetDatum(tuple);
}

static void
ResetTouchedDeals(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* the context itself belongs to TopTransactionContext and goes with it */
		touched_deals = NULL;
		touched_context = NULL;
	}
}

static void
RememberDeal(int64 workspace_id, int64 deal_id)
{
	DealKey		key;

	if (touched_deals == NULL)
	{
		HASHCTL		ctl;
		static bool callback_registered = false;

		if (!callback_registered)
		{
			RegisterXactCallback(ResetTouchedDeals, NULL);
			callback_registered = true;
		}
		touched_context = AllocSetContextCreate(TopTransactionContext, "crm touched deals",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(DealKey);
		ctl.entrysize = sizeof(DealKey);
		ctl.hcxt = touched_context;
		touched_deals = hash_create("crm touched deals", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.workspace_id = workspace_id;
	key.deal_id = deal_id;
	hash_search(touched_deals, &key, HASH_ENTER, NULL);
}

static void
RememberDealOf(HeapTuple tuple, TupleDesc tupdesc)
{
	bool		wsnull;
	bool		dealnull;
	Datum		ws = heap_getattr(tuple, SPI_fnumber(tupdesc, "workspace_id"), tupdesc, &wsnull);
	Datum		deal = heap_getattr(tuple, SPI_fnumber(tupdesc, "deal_id"), tupdesc, &dealnull);

	if (!wsnull && !dealnull)
		RememberDeal(DatumGetInt64(ws), DatumGetInt64(deal));
}

Datum
crm_line_item_touch(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;

	CheckTrigger(fcinfo, "line_item_touch", true, false);
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	RememberDealOf(trigdata->tg_trigtuple, tupdesc);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		RememberDealOf(trigdata->tg_newtuple, tupdesc);
	return PointerGetDatum(NULL);
}

static int
CompareDealKeys(const void *a, const void *b)
{
	const DealKey *x = a;
	const DealKey *y = b;

	if (x->workspace_id != y->workspace_id)
		return x->workspace_id < y->workspace_id ? -1 : 1;
	if (x->deal_id != y->deal_id)
		return x->deal_id < y->deal_id ? -1 : 1;
	return 0;
}

static void
MixedCurrencies(const char *deal, const char *lo, const char *hi)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("line items of deal %s mix currencies \"%s\" and \"%s\"", deal, lo, hi),
			 errdetail("All line items of a deal share one currency."),
			 errhint("Convert the prices to one currency before adding the lines.")));
}

/*
 * The common case, a statement that changed lines of one deal (an app
 * adding a line): lock the deal and read its valuation columns, sum its
 * lines in a fresh snapshot, and UPDATE the deal only when something
 * differs.  Simple plans, and a statement that leaves the value as it was
 * runs no UPDATE (and so none of the deal's triggers) at all, exactly as
 * the many-deal UPDATE, whose WHERE skips unchanged deals.
 */
static void
RevalueOneDeal(int64 workspace_id, int64 deal_id, Oid lines_owner)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Oid			set_types[5] = {INT8OID, INT8OID, NUMERICOID, TEXTOID, TEXTOID};
	Datum		args[5];
	char		set_nulls[5] = {' ', ' ', ' ', ' ', ' '};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		sum_null;
	Datum		value;
	bool		is_manual;
	char	   *currency;
	Datum		total;
	char	   *lo;
	char	   *hi;
	bool		changed;
	CrmSavedUser saved;
	int			ret;

	args[0] = Int64GetDatum(workspace_id);
	args[1] = Int64GetDatum(deal_id);
	PreparePlan(&lock_one_plan,
				"SELECT d.value, d.value_mode OPERATOR(pg_catalog.=) 'manual'::crm.value_mode, d.currency::text"
				"  FROM crm.deals d"
				" WHERE d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $2"
				"   FOR NO KEY UPDATE",
				2, types);
	if (SPI_execute_plan(lock_one_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "line_items_revalue: locking the deal failed");
	if (SPI_processed == 0)
		return;					/* deleted along with its lines */
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	value = SPI_datumTransfer(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
	is_manual = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	currency = SPI_getvalue(tup, desc, 3);

	/*
	 * A new snapshot: sees lines committed while we waited for the lock.  As
	 * the table's owner when given: a caller who may lock the deal sees all
	 * its lines (their policies follow the deal's), so the caller's policies
	 * would only add their subqueries to every sum.
	 */
	if (OidIsValid(lines_owner))
		CrmBecomeOwner(lines_owner, &saved);
	PreparePlan(&sum_one_plan,
				"SELECT pg_catalog.sum(l.total), pg_catalog.min(l.currency)::text, pg_catalog.max(l.currency)::text"
				"  FROM crm.deal_line_items l"
				" WHERE l.workspace_id OPERATOR(pg_catalog.=) $1 AND l.deal_id OPERATOR(pg_catalog.=) $2",
				2, types);
	ret = CrmExecuteByIndex(sum_one_plan, args, NULL, false, 0);
	if (OidIsValid(lines_owner))
		CrmRestoreUser(&saved);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "line_items_revalue: summing the lines failed");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	total = SPI_getbinval(tup, desc, 1, &sum_null);
	lo = SPI_getvalue(tup, desc, 2);
	hi = SPI_getvalue(tup, desc, 3);
	if (lo != NULL && hi != NULL && strcmp(lo, hi) != 0)
		MixedCurrencies(psprintf(INT64_FORMAT, deal_id), lo, hi);

	/* lines: value is their sum, mode auto, their currency; none: manual, value kept */
	if (sum_null)
		changed = !is_manual;
	else
		changed = is_manual || NumericCmp(DatumGetNumeric(total), DatumGetNumeric(value)) != 0 ||
			strcmp(lo, currency) != 0;
	if (!changed)
		return;

	args[2] = sum_null ? value : total;
	args[3] = CStringGetTextDatum(sum_null ? "manual" : "auto");
	args[4] = CStringGetTextDatum(sum_null ? currency : lo);
	PreparePlan(&set_one_plan,
				"UPDATE crm.deals d"
				"   SET value = $3, value_mode = $4::crm.value_mode, currency = $5"
				" WHERE d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $2",
				5, set_types);
	revaluing++;
	PG_TRY();
	{
		if (SPI_execute_plan(set_one_plan, args, set_nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "line_items_revalue: updating the deal failed");
	}
	PG_FINALLY();
	{
		revaluing--;
	}
	PG_END_TRY();
}

/*
 * Who sums a deal's lines: the table's owner, except on Citus, which
 * refuses to read a placement that another user modified in the
 * transaction (the caller's line): there the caller does.
 */
static Oid
LinesSummer(Relation rel)
{
	Oid			lines = get_relname_relid("deal_line_items", get_namespace_oid("crm", false));

	if (CrmIsCitusTable(lines) || OidIsValid(CrmCitusTableOfShard(rel)))
		return InvalidOid;
	return rel->rd_rel->relowner;
}

Datum
crm_line_items_revalue(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	DealKey    *entry;
	DealKey    *keys;
	Datum	   *ws_datums;
	Datum	   *deal_datums;
	Datum		args[2];
	Oid			argtypes[2] = {INT8ARRAYOID, INT8ARRAYOID};
	long		n;
	long		i;
	int			ret;

	CheckTrigger(fcinfo, "line_items_revalue", false, false);
	if (touched_deals == NULL || (n = hash_get_num_entries(touched_deals)) == 0)
		return PointerGetDatum(NULL);

	/* Take the set and clear it first: the work below may touch lines again */
	keys = palloc(sizeof(DealKey) * n);
	i = 0;
	hash_seq_init(&seq, touched_deals);
	while ((entry = hash_seq_search(&seq)) != NULL)
		keys[i++] = *entry;
	hash_destroy(touched_deals);
	touched_deals = NULL;
	MemoryContextDelete(touched_context);
	touched_context = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "line_items_revalue: SPI_connect failed");

	if (n == 1)
	{
		RevalueOneDeal(keys[0].workspace_id, keys[0].deal_id,
					   LinesSummer(((TriggerData *) fcinfo->context)->tg_relation));
		SPI_finish();
		return PointerGetDatum(NULL);
	}

	/* sorted, so that sessions lock shared deals in the same order */
	qsort(keys, n, sizeof(DealKey), CompareDealKeys);
	ws_datums = palloc(sizeof(Datum) * n);
	deal_datums = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		ws_datums[i] = Int64GetDatum(keys[i].workspace_id);
		deal_datums[i] = Int64GetDatum(keys[i].deal_id);
	}
	args[0] = PointerGetDatum(construct_array(ws_datums, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(deal_datums, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	PreparePlan(&lock_plan,
				"SELECT 1 FROM crm.deals d"
				"  JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) WITH ORDINALITY AS t(ws, id, ord)"
				"    ON d.workspace_id OPERATOR(pg_catalog.=) t.ws AND d.id OPERATOR(pg_catalog.=) t.id"
				" ORDER BY t.ord FOR NO KEY UPDATE OF d",
				2, argtypes);
	PreparePlan(&revalue_plan,
				"UPDATE crm.deals d"
				"   SET value = COALESCE(a.total, d.value),"
				"       value_mode = CASE WHEN a.total IS NULL THEN 'manual' ELSE 'auto' END::crm.value_mode,"
				"       currency = COALESCE(a.min_currency, d.currency)"
				"  FROM (SELECT t.ws, t.id, pg_catalog.sum(l.total) AS total,"
				"               pg_catalog.min(l.currency) AS min_currency, pg_catalog.max(l.currency) AS max_currency"
				"          FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS t(ws, id)"
				"          LEFT JOIN crm.deal_line_items l"
				"            ON l.workspace_id OPERATOR(pg_catalog.=) t.ws AND l.deal_id OPERATOR(pg_catalog.=) t.id"
				"         GROUP BY t.ws, t.id) a"
				" WHERE d.workspace_id OPERATOR(pg_catalog.=) a.ws AND d.id OPERATOR(pg_catalog.=) a.id"
				/* only the deals whose valuation changes (or that must fail) */
				"   AND (COALESCE(a.total, d.value) OPERATOR(pg_catalog.<>) d.value"
				"        OR (a.total IS NULL) OPERATOR(pg_catalog.<>) (d.value_mode OPERATOR(pg_catalog.=) 'manual'::crm.value_mode)"
				"        OR COALESCE(a.min_currency, d.currency) OPERATOR(pg_catalog.<>) d.currency"
				"        OR a.min_currency OPERATOR(pg_catalog.<>) a.max_currency)"
				" RETURNING d.id, a.min_currency::text, a.max_currency::text",
				2, argtypes);
	if (SPI_execute_plan(lock_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "line_items_revalue: locking deals failed");

	/* a new snapshot: sees lines committed while we waited for the locks */
	revaluing++;
	PG_TRY();
	{
		ret = SPI_execute_plan(revalue_plan, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		revaluing--;
	}
	PG_END_TRY();
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "line_items_revalue: updating deals failed: %s", SPI_result_code_string(ret));

	/* several first lines of one statement may disagree on the currency */
	for (i = 0; i < (long) SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *lo = SPI_getvalue(tup, desc, 2);
		char	   *hi = SPI_getvalue(tup, desc, 3);

		if (lo != NULL && hi != NULL && strcmp(lo, hi) != 0)
			MixedCurrencies(SPI_getvalue(tup, desc, 1), lo, hi);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

static bool
ColumnChanged(HeapTuple oldtup, HeapTuple newtup, TupleDesc tupdesc, const char *column)
{
	int			attnum = SPI_fnumber(tupdesc, column);
	Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
	bool		oldnull;
	bool		newnull;
	Datum		o = heap_getattr(oldtup, attnum, tupdesc, &oldnull);
	Datum		n = heap_getattr(newtup, attnum, tupdesc, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	if (att->atttypid == NUMERICOID)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, o, n)) != 0;
	return !datumIsEqual(o, n, att->attbyval, att->attlen);
}

static bool
IsAuto(HeapTuple tup, TupleDesc tupdesc)
{
	bool		isnull;
	Datum		mode = heap_getattr(tup, SPI_fnumber(tupdesc, "value_mode"), tupdesc, &isnull);

	return !isnull && strcmp(DatumGetCString(DirectFunctionCall1(enum_out, mode)), "auto") == 0;
}

Datum
crm_deals_guard_value(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	HeapTuple	newtup;
	HeapTuple	oldtup;
	int64		deal_id;
	bool		isnull;

	CheckTrigger(fcinfo, "deals_guard_value", true, true);
	tupdesc = RelationGetDescr(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (IsAuto(trigdata->tg_trigtuple, tupdesc))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a new deal cannot have value_mode auto"),
					 errdetail("value_mode is auto only while the deal has line items."),
					 errhint("Insert the deal with value_mode manual, then add line items to it.")));
		return PointerGetDatum(trigdata->tg_trigtuple);
	}
	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deals_guard_value: must be fired on insert or update")));

	newtup = trigdata->tg_newtuple;
	oldtup = trigdata->tg_trigtuple;
	if (revaluing > 0)
		return PointerGetDatum(newtup);

	deal_id = DatumGetInt64(heap_getattr(oldtup, SPI_fnumber(tupdesc, "id"), tupdesc, &isnull));
	if (IsAuto(oldtup, tupdesc))
	{
		if (ColumnChanged(oldtup, newtup, tupdesc, "value") ||
			ColumnChanged(oldtup, newtup, tupdesc, "currency") ||
			ColumnChanged(oldtup, newtup, tupdesc, "value_mode"))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the value of deal " INT64_FORMAT " is computed from its line items", deal_id),
					 errdetail("While a deal has line items, its value, currency and value_mode follow them."),
					 errhint("Change the line items, or delete them all to set the value by hand.")));
	}
	else if (IsAuto(newtup, tupdesc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deal " INT64_FORMAT " has no line items to be valued by", deal_id),
				 errdetail("value_mode becomes auto by itself when the first line item is added."),
				 errhint("Add a line item to the deal instead.")));
	return PointerGetDatum(newtup);
}
