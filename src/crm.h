/*-------------------------------------------------------------------------
 *
 * crm.h
 *	  Declarations shared by the crm extension's C files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_H
#define CRM_H

#include "postgres.h"

/* One init function per feature, called from _PG_init (crm.c). */
extern void CrmWorkspaceInit(void);
extern void CrmPropertiesInit(void);
extern void CrmListsInit(void);
extern void CrmEventsInit(void);

/* search_path.c: search_path = pg_catalog, pg_temp until restored */
extern int	CrmPinSearchPath(void);
extern void CrmRestoreSearchPath(int nestlevel);

/* workspace.c */
extern int64 CrmCurrentWorkspace(void);

/* currency.c: ISO 4217 minor units; -1 when the code is unknown */
extern int	CrmCurrencyExponent(const char *code);

/* normalize.c: canonical forms, each raising a precise error on bad input */
extern char *CrmNormalizeEmail(const char *raw);
extern char *CrmNormalizePhone(const char *raw);
extern char *CrmNormalizeDomain(const char *raw);
extern char *CrmNormalizeCurrency(const char *raw);
extern char *CrmNormalizeColor(const char *raw);
extern Datum CrmNormalizeTags(Datum tags);
extern bool CrmEmailIsValid(const char *raw);
extern bool CrmPhoneIsValid(const char *raw);

/* properties.c: declared properties and object types, for CQL */
extern bool CrmLookupProperty(int64 workspace_id, const char *object_type, const char *key,
							  const char **type, int *noptions, const char *const **options);
extern uint64 CrmPropertyGeneration(void);
extern bool CrmObjectTypeExists(int64 workspace_id, const char *key);

/* merge.c: merges the duplicate into the survivor, returns the survivor */
extern int64 CrmMergeContacts(int64 survivor, int64 duplicate);

#endif							/* CRM_H */
