/*-------------------------------------------------------------------------
 *
 * crm.c
 *	  Module entry point: registers each feature's settings and caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "crm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	CrmWorkspaceInit();
	CrmPropertiesInit();
	CrmListsInit();

	MarkGUCPrefixReserved("crm");
}
