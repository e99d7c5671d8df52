/*-------------------------------------------------------------------------
 *
 * import.c
 *	  Per-row helpers of crm.import_contacts (sql/import.sql): what is wrong
 *	  with a row, its custom properties, its tags.
 *
 * The set-based import calls each of them once per input row, so they are
 * in C: as SQL functions with their own search_path they could not be
 * inlined, and each call ran a small query of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/varlena.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_import_row_problem);
PG_FUNCTION_INFO_V1(crm_import_row_properties);
PG_FUNCTION_INFO_V1(crm_import_row_tags);

/* Standard contact fields an import row may carry */
static const char *const standard_keys[] = {
	"name", "email", "phone", "identifier", "verified_id", "avatar_url",
	"city", "country", "lifecycle_stage", "owner", "tags", "properties",
	"company", "blocked",
	/* profiles: the postal address and social profiles */
	"street", "address_line2", "region", "postal_code",
	"linkedin", "x", "instagram", "facebook", "github", "website"
};

#define PROPERTIES_PREFIX "properties."
#define PROPERTIES_PREFIX_LEN (sizeof(PROPERTIES_PREFIX) - 1)

static bool
IsStandardKey(const char *key, int len)
{
	size_t		i;

	for (i = 0; i < lengthof(standard_keys); i++)
		if (strlen(standard_keys[i]) == (size_t) len && memcmp(standard_keys[i], key, len) == 0)
			return true;
	return false;
}

static const char *
RowTypeName(Jsonb *jb)
{
	return TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(jb)));
}

/*
 * crm_hidden.import_row_problem(r jsonb, valid text[]): why the row cannot be
 * imported before looking at the database, or NULL.  The first unknown key
 * in sort order is reported, with the keys that are valid.
 */
Datum
crm_import_row_problem(PG_FUNCTION_ARGS)
{
	Jsonb	   *r;
	ArrayType  *valid;
	Datum	   *elems;
	bool	   *enulls;
	int			nvalid;
	bool		valid_has_null = false;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *worst = NULL;
	int			worst_len = 0;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text("row must be a JSON object, not NULL"));
	r = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(r))
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("row must be a JSON object, not %s", RowTypeName(r))));
	/* k <> ALL (NULL) is never true: no key is unknown */
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	valid = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(valid, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nvalid);
	for (i = 0; i < nvalid; i++)
		valid_has_null |= enulls[i];

	it = JsonbIteratorInit(&r->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *key;
		int			len;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = v.val.string.val;
		len = v.val.string.len;
		/* "properties." and at least one character: a free-form property */
		if ((size_t) len > PROPERTIES_PREFIX_LEN &&
			memcmp(key, PROPERTIES_PREFIX, PROPERTIES_PREFIX_LEN) == 0)
			continue;
		for (i = 0; i < nvalid && !known; i++)
			known = !enulls[i] && VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) == len &&
				memcmp(VARDATA_ANY(DatumGetPointer(elems[i])), key, len) == 0;
		/* k <> ALL (valid) is NULL, not true, when valid holds a NULL */
		if (known || valid_has_null)
			continue;
		if (worst == NULL || varstr_cmp(key, len, worst, worst_len, DEFAULT_COLLATION_OID) < 0)
		{
			worst = (char *) key;
			worst_len = len;
		}
	}
	if (worst == NULL)
		PG_RETURN_NULL();

	{
		StringInfoData msg;
		bool		first = true;

		initStringInfo(&msg);
		appendStringInfo(&msg, "unknown key \"%.*s\"; valid keys are: ", worst_len, worst);
		for (i = 0; i < nvalid; i++)
		{
			if (enulls[i])
				continue;
			appendStringInfo(&msg, "%s%s", first ? "" : ", ", TextDatumGetCString(elems[i]));
			first = false;
		}
		appendStringInfoString(&msg, " (or \"properties.<key>\" for free-form properties)");
		PG_RETURN_TEXT_P(cstring_to_text(msg.data));
	}
}

/*
 * crm_hidden.import_row_properties(r jsonb): the row's keys that are not standard
 * fields ("properties.plan" read as "plan"), leaving out empty cells (null
 * or ""), then the non-null entries of its "properties" object on top.
 */
Datum
crm_import_row_properties(PG_FUNCTION_ARGS)
{
	Jsonb	   *r;
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbValue	key = {0};
	JsonbValue *res;
	JsonbIteratorToken tok;
	JsonbValue	kprops;
	JsonbValue *props;
	Jsonb	   *result;

	if (PG_ARGISNULL(0))
	{
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
	}
	r = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(r))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot call %s on a non-object", "jsonb_each")));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&r->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (IsStandardKey(key.val.string.val, key.val.string.len))
			continue;
		if (v.type == jbvNull || (v.type == jbvString && v.val.string.len == 0))
			continue;
		if ((size_t) key.val.string.len >= PROPERTIES_PREFIX_LEN &&
			memcmp(key.val.string.val, PROPERTIES_PREFIX, PROPERTIES_PREFIX_LEN) == 0)
		{
			key.val.string.val += PROPERTIES_PREFIX_LEN;
			key.val.string.len -= PROPERTIES_PREFIX_LEN;
		}
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	result = JsonbValueToJsonb(res);

	kprops.type = jbvString;
	kprops.val.string.val = "properties";
	kprops.val.string.len = strlen("properties");
	props = findJsonbValueFromContainer(&r->root, JB_FOBJECT, &kprops);
	if (props != NULL && props->type == jbvBinary && JsonContainerIsObject(props->val.binary.data))
	{
		Jsonb	   *inner = JsonbValueToJsonb(props);
		Datum		stripped = DirectFunctionCall1(jsonb_strip_nulls, JsonbPGetDatum(inner));

		result = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(result), stripped));
	}
	PG_RETURN_JSONB_P(result);
}

/*
 * crm_hidden.import_row_tags(v jsonb): a JSON array's elements as text (as
 * jsonb_array_elements_text gives them), a string split on commas and
 * semicolons, NULL for anything else.
 */
Datum
crm_import_row_tags(PG_FUNCTION_ARGS)
{
	Jsonb	   *v;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = PG_GETARG_JSONB_P(0);

	if (JB_ROOT_IS_SCALAR(v))
	{
		JsonbValue	s;

		if (!JsonbExtractScalar(&v->root, &s) || s.type != jbvString)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(DirectFunctionCall2Coll(regexp_split_to_array, DEFAULT_COLLATION_OID,
												PointerGetDatum(cstring_to_text_with_len(s.val.string.val, s.val.string.len)),
												CStringGetTextDatum("\\s*[,;]\\s*")));
	}
	if (JB_ROOT_IS_ARRAY(v))
	{
		int			n = JB_ROOT_COUNT(v);
		Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
		bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
		int			dims[1];
		int			lbs[1] = {1};
		int			k = 0;
		JsonbIterator *it = JsonbIteratorInit(&v->root);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			nulls[k] = (e.type == jbvNull);
			if (e.type == jbvNull)
				elems[k] = (Datum) 0;
			else if (e.type == jbvString)
				elems[k] = PointerGetDatum(cstring_to_text_with_len(e.val.string.val, e.val.string.len));
			else
			{
				Jsonb	   *ejb = JsonbValueToJsonb(&e);

				elems[k] = CStringGetTextDatum(JsonbToCString(NULL, &ejb->root, VARSIZE(ejb)));
			}
			k++;
		}
		if (k == 0)
			PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
		dims[0] = k;
		PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	}
	PG_RETURN_NULL();
}
