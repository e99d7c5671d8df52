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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_search_key);

Datum
crm_search_key(PG_FUNCTION_ARGS)
{
	Oid			collation = PG_GET_COLLATION();

	return DirectFunctionCall1Coll(lower, OidIsValid(collation) ? collation : DEFAULT_COLLATION_OID,
								   PG_GETARG_DATUM(0));
}
