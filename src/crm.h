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

#include "fmgr.h"
#include "nodes/lockoptions.h"

/*
 * Under test/valgrind (built with CRM_VALGRIND) the C writers check that the
 * bytes they hand to storage are fully defined: Debian's postgres lacks
 * USE_VALGRIND, so an undefined byte would otherwise only surface in a WAL
 * write, where PostgreSQL's own padding is suppressed.
 */
#ifdef CRM_VALGRIND
#include <valgrind/memcheck.h>
#define CrmCheckDefined(ptr, len) ((void) VALGRIND_CHECK_MEM_IS_DEFINED((ptr), (len)))

/*
 * And every palloc of crm's own code starts undefined, with crm's stack as
 * its origin: a recycled chunk would otherwise look defined, or take the
 * origin of whoever malloc'd its block (USE_VALGRIND does this for all of
 * postgres).
 */
static inline void *
CrmFreshChunk(void *chunk, Size size)
{
	VALGRIND_MAKE_MEM_UNDEFINED(chunk, size);
	return chunk;
}
#define palloc(size) \
	({ Size crm_palloc_size = (size); CrmFreshChunk(palloc(crm_palloc_size), crm_palloc_size); })
#else
#define CrmCheckDefined(ptr, len) ((void) 0)
#endif

/* The settings of a feature, defined from _PG_init (crm.c) */
extern void CrmWorkspaceInit(void);
extern void CrmMembersInit(void);
extern void CrmReportPlansInit(void);
extern void CrmReportSummariesInit(void);
extern void CrmEventsInit(void);
/* notifier.c */
extern void CrmNotifierInit(void);
extern void CrmNotifierEnsure(void);

/*
 * Each per-backend cache's relcache invalidation handler: crm.c registers
 * one callback that calls them all (PostgreSQL has 10 slots per backend,
 * for every extension loaded together).
 */
extern void CrmPropertiesRelcache(Datum arg, Oid relid);
extern void CrmListsRelcache(Datum arg, Oid relid);
extern void CrmEventsRelcache(Datum arg, Oid relid);
/* src/citus.c: whether a table is a Citus table (its heap a shell) */
extern void CrmCitusRelcache(Datum arg, Oid relid);
extern bool CrmIsCitusTable(Oid relid);
extern bool CrmCitusIsCoordinator(void);
extern bool CrmCitusReadAsCaller(Oid relid, int64 ws);
extern void CrmCitusInit(void);
struct RelationData;
extern Oid	CrmCitusTableOfShard(struct RelationData *rel);
extern char *CrmTriggerTableName(struct RelationData *rel);
extern int	CrmCitusRequestSettingsCount(void);
extern const char *CrmCitusRequestSetting(int i);
/* src/citus_calls.c: whole calls on the workspace's worker */
extern void CrmCitusCallsInit(void);
/* src/citus_events.c: a row INSERT into the distributed crm.events on the coordinator */
extern void CrmCitusEventsInit(void);
/* src/citus_report_views.c: the wide report views after a coordinator's write of the definitions */
extern void CrmCitusReportViewsInit(void);
extern bool CrmCitusIdentifyOnWorker(FunctionCallInfo fcinfo, int64 *result);
extern Datum CrmCitusRequestSettings(int64 ws);
struct ArrayType;
extern void CrmCitusApplyRequestSettings(struct ArrayType *settings, const char *api);
/* src/identify.c */
extern PGDLLEXPORT Datum crm_identify(PG_FUNCTION_ARGS);
extern void CrmMembersRelcache(Datum arg, Oid relid);
extern void CrmModulesRelcache(Datum arg, Oid relid);
extern void CrmLimitsRelcache(Datum arg, Oid relid);
extern void CrmSearchWordsRelcache(Datum arg, Oid relid);
extern void CrmContactRefsRelcache(Datum arg, Oid relid);
extern void CrmReportingRelcache(Datum arg, Oid relid);
extern void CrmHistoryRelcache(Datum arg, Oid relid);
extern void CrmWorkspaceVersionsRelcache(Datum arg, Oid relid);
extern void CrmNormalizeRelcache(Datum arg, Oid relid);
extern void CrmFindPlansRelcache(Datum arg, Oid relid);

/*
 * workspace_versions.c: the epoch invalidations of the per-workspace caches'
 * tables advance, and the version of a workspace's definitions, so that an
 * entry outlives an invalidation that concerned another workspace
 */
typedef enum CrmVersionKind
{
	CRM_VERSION_ALL,			/* every row and column the caches read */
	CRM_VERSION_CQL,			/* what CQL translates with */
	CRM_VERSION_LISTS			/* that, but the property definitions */
} CrmVersionKind;
extern uint64 CrmCacheEpoch(void);
extern uint64 CrmWorkspaceVersion(int64 ws, CrmVersionKind kind);
extern bool CrmWorkspaceUnchanged(int64 ws, CrmVersionKind kind, uint64 *built_epoch, uint64 built_version);
extern void CrmWorkspaceVersionForget(int64 ws);

/*
 * crm.c: runs step in a subtransaction, kept when it returns true and
 * rolled back (its locks let go) when false; an error rolls it back too and
 * is re-thrown.
 */
extern bool CrmTrySubtransaction(bool (*step) (void *arg), void *arg);

/* search_path.c: search_path = pg_catalog, pg_temp until restored; kept plans by index */
extern int	CrmPinSearchPath(void);
extern void CrmRestoreSearchPath(int nestlevel);
struct _SPI_plan;
extern int	CrmExecuteByIndex(struct _SPI_plan *plan, Datum *values, const char *nulls,
							  bool read_only, long count);

/*
 * access.c: the owner of a relation; whether a role has service access;
 * running as the owner of the table the extension writes for itself
 */
typedef struct CrmSavedUser
{
	Oid			userid;
	int			sec_context;
} CrmSavedUser;
extern Oid	CrmRelationOwner(Oid relid);
extern bool CrmRoleIsService(Oid role);
extern void CrmBecomeOwner(Oid owner, CrmSavedUser *saved);
extern void CrmRestoreUser(const CrmSavedUser *saved);

/*
 * crm.c: the snapshot a per-backend cache reads its table with, and whether
 * that read must be read-only (in a parallel worker)
 */
extern struct SnapshotData *CrmCacheSnapshot(void);
extern bool CrmCacheReadOnly(void);
extern uint64 CrmCacheStamp(void);
extern bool CrmCacheStampValid(uint64 stamp);

/* crm.c: the budget of the per-workspace caches (crm.cache_budget_mb) */
extern int	crm_cache_budget_mb;
extern int64 crm_cache_bytes;
extern bool CrmCacheOverBudget(void);

/* What crm_internal.cache_stats() shows of one cache */
typedef struct CacheStats
{
	int64		entries;
	int64		bytes;
	int64		hits;
	int64		misses;
	int64		evictions;
} CacheStats;
extern void CrmPropertiesCacheStats(CacheStats *out);
extern void CrmListsCacheStats(CacheStats *out);

/* reporting.c: a reporting role's pinned workspace (0: none); whether it reads the whole workspace */
extern int64 CrmReportingWorkspace(void);
extern bool CrmReportsForWorkspace(void);

/* maintained.c: how deep in triggers the caller runs (1: the request's own statement) */
extern int	CrmTriggerDepth(void);

/* events.c: a domain event (payload a jsonb object) from C code of the extension, inside SPI */
extern void CrmEmitEvent(int64 ws, const char *type, const char *object_type, int64 object_id,
						 Datum payload);
/* Events of one type, one per (workspace, object, payload), in that order; inside SPI */
extern void CrmEmitEvents(int n, const Datum *workspaces, const char *type, const char *object_type,
						  const Datum *object_ids, const Datum *payloads);
extern Oid	CrmEventsOwner(void);

/* direct_insert.c: rows into a table's heap (by pages) and indexes, no executor */
typedef struct CrmDirectInsert CrmDirectInsert;
struct RelationData;
struct TupleTableSlot;
extern CrmDirectInsert *CrmDirectInsertBegin(struct RelationData *rel);
extern struct TupleTableSlot *CrmDirectInsertNext(CrmDirectInsert *d);
extern void CrmDirectInsertEnd(CrmDirectInsert *d);

/* direct_update.c: rows found through an index, locked and written, no executor */
typedef struct CrmDirectUpdate CrmDirectUpdate;
struct ScanKeyData;
extern CrmDirectUpdate *CrmDirectUpdateBegin(struct RelationData *rel, struct RelationData *index);
extern void CrmDirectUpdateKey(CrmDirectUpdate *d, struct ScanKeyData *key, int col, Datum value, bool isnull);
extern void CrmDirectUpdateProbe(CrmDirectUpdate *d, struct ScanKeyData *keys, int nkeys);
extern struct TupleTableSlot *CrmDirectUpdateLockNext(CrmDirectUpdate *d, LockWaitPolicy wait);
extern struct TupleTableSlot *CrmDirectUpdateValues(CrmDirectUpdate *d, bool old);
extern void CrmDirectUpdateWrite(CrmDirectUpdate *d);
extern void CrmDirectUpdateDelete(CrmDirectUpdate *d);
extern void CrmDirectUpdateInsert(CrmDirectUpdate *d);
extern void CrmDirectUpdateEnd(CrmDirectUpdate *d);

/* workspace.c: who is asking, from crm.* settings and the JWT claims */
#define CRM_ACTOR_MAX_BYTES 256
extern int64 CrmCurrentWorkspace(void);
extern const char *CrmCurrentActor(void);
extern const char *CrmClaimSub(void);
extern char *CrmWorkspaceLabel(int64 ws);

/* workspace_drop.c: the workspaces this transaction is deleting */
extern bool CrmWorkspaceDeleting(int64 workspace_id);

/* members.c: the app's user acting, and a closed workspace's rule */
extern const char *CrmCurrentUserId(void);
extern void CrmRequireMemberOf(int64 ws);
extern bool CrmMayOwnRows(int64 ws, const char *user);
extern bool CrmHasPermission(int64 ws, const char *permission);
extern void CrmRequirePermission(int64 ws, const char *permission, const char *what);
extern bool CrmPrivacyRestricted(int64 ws, const char **team, int depth);

/* owners.c: rows a member owns (lists, saved views), private or the workspace's */
extern bool CrmVisibleToUser(const char *owner, const char *visibility);
extern void CrmRequireMayOwn(const char *owner, const char *table);
extern bool CrmListsHaveVisibility(void);

/* lists_recompute.c: inside Recompute's write of filter memberships */
extern bool CrmListsWritingFilterMembers(void);

/* currency.c: ISO 4217 minor units (-1 when the code is unknown), canonical code */
extern int	CrmCurrencyExponent(const char *code);
extern char *CrmNormalizeCurrency(const char *raw);

/* bounds.c: finite numbers and size limits (docs/properties.md lists them) */
#define CRM_MAX_SHORT_TEXT		2048	/* names, titles, labels, reasons, codes */
#define CRM_MAX_PROPERTY_VALUE	65536	/* one custom property value */
#define CRM_MAX_PROPERTIES		1048576 /* a whole properties object */
#define CRM_MAX_NOTE_BODY		1048576 /* a note's body */
struct NumericData;
extern void CrmRequireFinite(const char *column, struct NumericData *value);
extern void CrmRequireSize(const char *column, Size bytes, Size limit);

/* normalize.c: canonical forms, each raising a precise error on bad input */
extern char *CrmNormalizeEmail(const char *raw);
extern char *CrmNormalizePhone(const char *raw);
extern char *CrmNormalizePhoneIn(const char *raw, const char *country);
extern char *CrmNormalizePhoneFor(const char *raw, int64 ws);
extern char *CrmNormalizeCountry(const char *raw);
extern char *CrmNormalizeAs(const char *kind, const char *raw);

/* profiles.c: postal addresses and social profiles */
extern char *CrmNormalizeAddressCountry(const char *raw);
extern const char *CrmCountryCode(const char *raw);
extern char *CrmNormalizePostalCode(const char *raw);
extern int	CrmSocialNetwork(const char *name);
extern char *CrmNormalizeSocial(int network, const char *raw);
/* linkedin /in/, linkedin /company/, x, instagram, facebook, github, website, www. website */
#define CRM_PROFILE_SLOTS 8
extern void CrmProfileSearchPrefixes(const char *term, char **slots);
extern bool CrmModuleNameIsValid(const char *s, int len);
extern bool CrmContactsHaveActiveModules(void);
extern bool CrmContactsHaveColumn(const char *column);
extern void CrmCheckActiveModules(Datum modules);
extern char *CrmNormalizeDomain(const char *raw);
extern char *CrmNormalizeColor(const char *raw);
extern Datum CrmNormalizeTags(Datum tags);
extern bool CrmEmailIsValid(const char *raw);
extern bool CrmPhoneIsValid(const char *raw);

/* properties_cache.c: declared properties, for CQL */
extern bool CrmLookupProperty(int64 workspace_id, const char *object_type, const char *key,
							  const char **type, int *noptions, const char *const **options);
extern uint64 CrmPropertyGeneration(void);

/* properties_define.c: custom object types, for CQL */
extern bool CrmObjectTypeExists(int64 workspace_id, const char *key);

/* merge.c: merges the duplicate into the survivor, returns the survivor */
extern int64 CrmMergeContacts(int64 survivor, int64 duplicate);
extern bool CrmMergeInProgress(void);
extern bool CrmUnmergeInProgress(void);

/* history.c: the source a C entry point's writes are recorded with; a merge's history */
extern const char *CrmSetHistorySource(const char *source);
extern Datum CrmHistoryMerge(int64 ws, int64 survivor, int64 duplicate);
extern void CrmHistoryKeepFirstValues(int64 ws, const char *object_type, int64 id);
extern int64 CrmHistoryUnmerge(int64 ws, const char *object_type, int64 survivor, int64 duplicate, Datum ids);

#endif							/* CRM_H */
