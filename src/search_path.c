/*-------------------------------------------------------------------------
 *
 * search_path.c
 *	  The pinned search path for C code that runs SQL written for it only
 *	  now and then (identify.c merging, the dynamic list triggers).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "crm.h"

/*
 * The search path of the functions declared SET search_path = pg_catalog,
 * pg_temp, for C code that runs unqualified SQL only now and then: setting
 * it on every call through the function's SET clause costs a busy trigger
 * or crm.identify() a measurable share of its time.  The setting ends with
 * CrmRestoreSearchPath, or with the (sub)transaction if an error comes first.
 */
int
CrmPinSearchPath(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
CrmRestoreSearchPath(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}
