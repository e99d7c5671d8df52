/*-------------------------------------------------------------------------
 *
 * search_path.c
 *	  The settings crm's own statements run under: the pinned search path
 *	  for C code that runs SQL written for it only now and then (identify.c
 *	  merging, the dynamic list triggers), and kept plans that must read
 *	  through an index whatever the statistics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
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

/*
 * SPI_execute_plan of a kept plan that reads one parent's rows (a deal's
 * lines, a conversation's messages) through their index whatever the
 * statistics: planned while the table was empty (a new installation, a
 * table emptied and analyzed), it would scan the whole table at every call
 * until an ANALYZE replans it, a cost growing with the table.
 */
int
CrmExecuteByIndex(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long count)
{
	int			nestlevel = NewGUCNestLevel();
	int			ret;

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_plan(plan, values, nulls, read_only, count);
	AtEOXact_GUC(true, nestlevel);
	return ret;
}
