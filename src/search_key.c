/*-------------------------------------------------------------------------
 *
 * search_key.c
 *	  The key of crm.search's typeahead indexes: a value in lower case.
 *
 * It is lower(), declared LEAKPROOF.  Under row-level security — every
 * frontend and member request — PostgreSQL uses a condition as an index
 * condition only when every function in it is leakproof, and lower() is
 * not: "lower(name) LIKE 'ada%'" read every contact of the workspace.
 * lower() of stored text raises no error that depends on the value (the
 * text is valid in the database's encoding), so the wrapper leaks nothing,
 * and "search_key(name) COLLATE "C" ^@ 'ada'" (starts_with, leakproof)
 * stays a range of the (workspace_id, search_key(name) COLLATE "C") index.
 *
 * The social profile columns need no such key: they hold canonical URLs
 * only, so crm_search_profile_prefixes() turns a term into the prefixes of
 * the stored URLs it stands for, each a range of the column's own index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_search_key);
PG_FUNCTION_INFO_V1(crm_search_profile_prefixes);
PG_FUNCTION_INFO_V1(crm_search_prefix_end);

Datum
crm_search_key(PG_FUNCTION_ARGS)
{
	Oid			collation = PG_GET_COLLATION();

	return DirectFunctionCall1Coll(lower, OidIsValid(collation) ? collation : DEFAULT_COLLATION_OID,
								   PG_GETARG_DATUM(0));
}

/*
 * crm_hidden.search_profile_prefixes(term) returns text[]: the prefixes of
 * the stored profile URLs the term stands for, in the order of
 * CRM_PROFILE_SLOTS (src/crm.h), NULL where it stands for none.
 */
Datum
crm_search_profile_prefixes(PG_FUNCTION_ARGS)
{
	char	   *slots[CRM_PROFILE_SLOTS];
	Datum		elems[CRM_PROFILE_SLOTS];
	bool		nulls[CRM_PROFILE_SLOTS];
	int			dims[1] = {CRM_PROFILE_SLOTS};
	int			lbs[1] = {1};
	int			i;

	CrmProfileSearchPrefixes(text_to_cstring(PG_GETARG_TEXT_PP(0)), slots);
	for (i = 0; i < CRM_PROFILE_SLOTS; i++)
	{
		nulls[i] = slots[i] == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(slots[i]);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * crm_hidden.search_prefix_end(prefix) returns text: the least string
 * greater (C collation) than every string starting with prefix, or NULL
 * when there is none.  "key >= prefix AND key < end" is the range of
 * "key ^@ prefix" written so that a generic plan, whose prefix is a
 * parameter, still reads it from the index (the planner derives that range
 * from ^@ only for a constant).
 */
Datum
crm_search_prefix_end(PG_FUNCTION_ARGS)
{
	text	   *prefix = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(prefix);
	char	   *s = palloc(len + 1);
	mbcharacter_incrementer increment = pg_database_encoding_character_incrementer();

	memcpy(s, VARDATA_ANY(prefix), len);
	s[len] = '\0';
	/* the last character made the next one; one that has none is dropped */
	while (len > 0)
	{
		int			start = pg_mbcliplen(s, len, len - 1);

		if (increment((unsigned char *) s + start, len - start))
			PG_RETURN_TEXT_P(cstring_to_text_with_len(s, len));
		len = start;
		s[len] = '\0';
	}
	PG_RETURN_NULL();
}
