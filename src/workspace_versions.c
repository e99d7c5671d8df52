/*-------------------------------------------------------------------------
 *
 * workspace_versions.c
 *	  Which workspace a cache invalidation concerned: the version of a
 *	  workspace's definitions, checked once on the first use of its cache
 *	  entries after an invalidation.
 *
 * The per-workspace caches (property definitions, compiled dynamic lists)
 * are built from crm.property_definitions, crm.lists, crm.object_types and
 * the workspace's row of crm.workspaces.  A statement trigger on each sends
 * a relcache invalidation, which names the table but not the workspace.  So
 * an invalidation does not drop the entries: it starts a new epoch, and an
 * entry built in an older one is used again only once its workspace's
 * version is found unchanged.
 *
 * The version is a hash of the workspace's rows in those four tables, each
 * as jsonb without the columns the extension maintains and the caches do
 * not read (a list's member count, its refresh time, update times), read
 * with the latest snapshot as the caches load.  What a cache entry holds is
 * a function of those rows, so an entry whose workspace hashes the same is
 * still right (but for a 64-bit hash collision), and a change in another
 * workspace leaves the version alone.  It is computed at most once per
 * workspace and epoch: one index probe per table, instead of translating
 * and planning every filter of the workspace again.
 *
 * A second hash, the CQL version, leaves out what no filter translates with:
 * a definition's label, pattern, required flag and history switch, which
 * only the validation trigger reads.  The compiled lists go by it, so
 * relabelling a property or tightening its pattern rebuilds the workspace's
 * property entry and leaves its compiled lists alone.  A third, the lists
 * version, leaves the definitions out altogether: a compiled list whose
 * workspace changed only in its definitions still holds if the definitions
 * its filters looked up answer the same (lists_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "crm.h"

/* The tables the per-workspace caches are built from */
static Oid	source_relids[4] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};
static const char *const source_tables[4] = {"property_definitions", "lists", "object_types", "workspaces"};

static uint64 epoch = 1;

/* One workspace's version as computed in an epoch */
typedef struct VersionEntry
{
	int64		workspace_id;
	uint64		epoch;
	uint64		version;		/* of every row the caches read */
	uint64		cql;			/* of the rows and columns CQL translates with */
	uint64		lists;			/* of those but the definitions */
} VersionEntry;

static HTAB *versions = NULL;
static SPIPlanPtr version_plan = NULL;

/*
 * Each row as jsonb, by table and id, without what the extension maintains
 * on it and the caches do not read (a list's member count changes with
 * every membership): c, without the definition columns CQL never reads
 * either (CrmLookupProperty hands it a property's type and options), and
 * u, those columns; the third hash leaves out the definitions (t 'd').  One
 * pass over the rows, sorted by a short key.  The
 * rows are read as jsonb only: the library may run against an older
 * release's tables (before ALTER EXTENSION UPDATE), which lack columns.
 */
static const char version_sql[] =
	"SELECT pg_catalog.hashtextextended(COALESCE(pg_catalog.string_agg(r.c OPERATOR(pg_catalog.||) r.u, ',' ORDER BY r.t, r.id), ''), 0),"
	"       pg_catalog.hashtextextended(COALESCE(pg_catalog.string_agg(r.c, ',' ORDER BY r.t, r.id), ''), 0),"
	"       pg_catalog.hashtextextended(COALESCE(pg_catalog.string_agg(r.c, ',' ORDER BY r.t, r.id)"
	"                                    FILTER (WHERE r.t OPERATOR(pg_catalog.<>) 'd'), ''), 0)"
	"  FROM (SELECT 'd' AS t, d.id, (d.j OPERATOR(pg_catalog.-)"
	"                  '{label,pattern,required,track_history,created_at,updated_at}'::pg_catalog.text[])::pg_catalog.text AS c,"
	"               pg_catalog.jsonb_build_array(d.j OPERATOR(pg_catalog.->) 'label', d.j OPERATOR(pg_catalog.->) 'pattern',"
	"                  d.j OPERATOR(pg_catalog.->) 'required', d.j OPERATOR(pg_catalog.->) 'track_history',"
	"                  d.j OPERATOR(pg_catalog.->) 'created_at')::pg_catalog.text AS u"
	"          FROM (SELECT p.id, pg_catalog.to_jsonb(p) AS j FROM crm.property_definitions p"
	"                 WHERE p.workspace_id OPERATOR(pg_catalog.=) $1) d"
	"        UNION ALL SELECT 'l', l.id, (pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.-)"
	"                  '{member_count,refreshed_at,updated_at}'::pg_catalog.text[])::pg_catalog.text, ''"
	"          FROM crm.lists l WHERE l.workspace_id OPERATOR(pg_catalog.=) $1"
	"        UNION ALL SELECT 'o', o.id, (pg_catalog.to_jsonb(o) OPERATOR(pg_catalog.-) 'updated_at'::pg_catalog.text)::pg_catalog.text, ''"
	"          FROM crm.object_types o WHERE o.workspace_id OPERATOR(pg_catalog.=) $1"
	"        UNION ALL SELECT 'w', w.id, pg_catalog.to_jsonb(w)::pg_catalog.text, ''"
	"          FROM crm.workspaces w WHERE w.id OPERATOR(pg_catalog.=) $1) r";

/*
 * An invalidation of a source table, or of everything, starts a new epoch;
 * the oids are looked up again at the next use (the extension may have been
 * dropped and created again), and until then any invalidation starts one.
 */
void
CrmWorkspaceVersionsRelcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || !OidIsValid(source_relids[3]) || relid == source_relids[0] ||
		relid == source_relids[1] || relid == source_relids[2] || relid == source_relids[3])
	{
		epoch++;
		source_relids[3] = InvalidOid;
	}
}

/*
 * The current epoch: a cache entry stamped with it needs no check.  The
 * first call learns the source tables' oids; until then no entry exists.
 */
uint64
CrmCacheEpoch(void)
{
	if (!OidIsValid(source_relids[3]))
	{
		Oid			nsp = get_namespace_oid("crm", false);

		for (int i = 0; i < 4; i++)
			source_relids[i] = get_relname_relid(source_tables[i], nsp);
	}
	return epoch;
}

/* Reads the three versions with the latest snapshot, as the table's owner (past row-level security) */
static void
ReadVersion(int64 ws, VersionEntry *out)
{
	Datum		arg = Int64GetDatum(ws);
	CrmSavedUser saved;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm cache: SPI_connect failed");
	if (version_plan == NULL)
	{
		Oid			argtype = INT8OID;
		SPIPlanPtr	plan = SPI_prepare(version_sql, 1, &argtype);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "crm cache: preparing the workspace version failed");
		version_plan = plan;
	}
	CrmBecomeOwner(CrmRelationOwner(source_relids[0]), &saved);
	if (SPI_execute_snapshot(version_plan, &arg, NULL, CrmCacheSnapshot(), InvalidSnapshot,
							 CrmCacheReadOnly(), false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm cache: reading the version of workspace " INT64_FORMAT " failed", ws);
	CrmRestoreUser(&saved);
	out->version = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	out->cql = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	out->lists = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	SPI_finish();
}

/* The version of kind in a version entry */
static uint64
VersionOf(const VersionEntry *v, CrmVersionKind kind)
{
	return kind == CRM_VERSION_ALL ? v->version : kind == CRM_VERSION_CQL ? v->cql : v->lists;
}

/*
 * The version of a workspace's definitions now, read at most once an epoch:
 * of every row the caches read, of what CQL translates with, or of that
 * without the definitions (see the file header).  A
 * cache entry records the version it was built with (read before it loads,
 * so a change committed meanwhile makes it older, never newer than what it
 * holds) and the epoch; read-only in parallel mode, where what is read is
 * good for the command only, it is not remembered.
 */
uint64
CrmWorkspaceVersion(int64 ws, CrmVersionKind kind)
{
	VersionEntry *v;
	VersionEntry read;
	bool		found;
	uint64		now = CrmCacheEpoch();

	if (IsInParallelMode())
	{
		ReadVersion(ws, &read);
		return VersionOf(&read, kind);
	}
	if (versions == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(VersionEntry);
		ctl.hcxt = TopMemoryContext;
		versions = hash_create("crm workspace versions", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	v = hash_search(versions, &ws, HASH_FIND, NULL);
	if (v != NULL && v->epoch == now)
		return VersionOf(v, kind);

	/* a workspace not seen this epoch: the old ones are of no more use */
	if (v == NULL && hash_get_num_entries(versions) >= 4096)
	{
		hash_destroy(versions);
		versions = NULL;
		return CrmWorkspaceVersion(ws, kind);
	}
	ReadVersion(ws, &read);
	v = hash_search(versions, &ws, HASH_ENTER, &found);
	v->epoch = now;
	v->version = read.version;
	v->cql = read.cql;
	v->lists = read.lists;
	return VersionOf(v, kind);
}

/* Our own change to a workspace, before its invalidation arrives: read its version again */
void
CrmWorkspaceVersionForget(int64 ws)
{
	if (versions != NULL)
		(void) hash_search(versions, &ws, HASH_REMOVE, NULL);
}

/*
 * Whether an entry built at (built_epoch, built_version) still holds for
 * workspace ws; kind as the version was read
 */
bool
CrmWorkspaceUnchanged(int64 ws, CrmVersionKind kind, uint64 *built_epoch, uint64 built_version)
{
	uint64		now = CrmCacheEpoch();

	if (*built_epoch == now)
		return true;
	if (CrmWorkspaceVersion(ws, kind) != built_version)
		return false;
	if (!IsInParallelMode())
		*built_epoch = now;
	return true;
}
