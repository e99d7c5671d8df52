/*-------------------------------------------------------------------------
 *
 * smart_tags.c
 *	  Smart tags: a dynamic contact list with a tag (crm.lists.tag) puts
 *	  that tag in contacts.tags of exactly its members, so every reader of
 *	  tags (CQL tags CONTAINS, search, bulk, exports, PostgREST cs.{}) sees
 *	  it unchanged.  docs/tags.md is the reference.
 *
 * The list machinery keeps the membership exact; this file makes the tags
 * follow it.  SmartTagsApply() sets, for some contacts, the smart part of
 * their tags to the tagged lists they belong to: it is called by the
 * membership trigger (lists_members.c) for the contacts whose membership of
 * a tagged list changed, and by the list trigger on crm.contacts
 * (lists_sync.c) for contacts whose tags a statement wrote, so a hand-made
 * removal or addition of a smart tag is put right in the same statement.
 * Its UPDATE fires the same triggers again; it writes only rows that
 * differ, so the second round writes nothing and the recursion stops.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "crm.h"
#include "lists.h"

/* crm.lists has its tag column: not in a database still at 0.2.0 */
bool
SmartTagsInstalled(void)
{
	Oid			relid = get_relname_relid("lists", get_namespace_oid("crm", false));

	return OidIsValid(relid) && get_attnum(relid, "tag") != InvalidAttrNumber;
}

/*
 * The smart part of the tags of contacts ids of workspace ws (SPI is
 * connected, search path pinned).  Run as the extension's owner: the
 * writer whose deal or list change moved a contact into a tagged list may
 * hold no permission on contacts, and that must not make its write fail.
 * The query filters on the workspace itself.
 */
void
SmartTagsApply(int64 ws, const IdSet *ids)
{
	static SPIPlanPtr plan;
	Datum		values[2];
	CrmSavedUser saved;

	if (ids->n == 0)
		return;
	if (plan == NULL)
	{
		Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};

		plan = PrepareKept("UPDATE crm.contacts c SET tags = s.tags"
						   "  FROM (SELECT x.id, ARRAY("
						   "          SELECT t FROM pg_catalog.unnest(x.tags) t"
						   "           WHERE NOT EXISTS (SELECT 1 FROM crm.lists l WHERE l.workspace_id OPERATOR(pg_catalog.=) $1"
						   "                              AND l.tag OPERATOR(pg_catalog.=) t)"
						   "          UNION"
						   "          SELECT l.tag FROM crm.list_members m"
						   "            JOIN crm.lists l ON l.workspace_id OPERATOR(pg_catalog.=) m.workspace_id"
						   "                            AND l.id OPERATOR(pg_catalog.=) m.list_id"
						   "           WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.contact_id OPERATOR(pg_catalog.=) x.id"
						   "             AND l.tag IS NOT NULL) AS tags"
						   "          FROM crm.contacts x"
						   "         WHERE x.workspace_id OPERATOR(pg_catalog.=) $1 AND x.id OPERATOR(pg_catalog.=) ANY ($2)"
						   "           AND x.status OPERATOR(pg_catalog.<>) 'merged'::crm.contact_status) s"
						   " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) s.id"
						   "   AND NOT (c.tags OPERATOR(pg_catalog.@>) s.tags AND s.tags OPERATOR(pg_catalog.@>) c.tags)",
						   2, argtypes);
	}
	values[0] = Int64GetDatum(ws);
	values[1] = IdArray(ids->v, ids->n);
	CrmBecomeOwner(CrmEventsOwner(), &saved);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm smart tags: applying tags failed");
	CrmRestoreUser(&saved);
}

/*
 * After a statement on crm.list_members: the contacts whose membership of a
 * tagged list changed, given the changes as (ws, list, type, object, ...).
 * A deleted list's memberships are not seen here (the list is gone): the
 * DELETE trigger of crm.lists takes its tag off (sql/lists.sql).
 */
void
SmartTagsAfterMembers(int kind, const char *changes)
{
	static SPIPlanPtr plans[3];
	IdSet		ids = {0};
	int64		ws = 0;
	uint64		n;
	int64	   *wss,
			   *objs;

	if (plans[kind] == NULL)
		plans[kind] = PrepareKept(psprintf("SELECT DISTINCT c.workspace_id, c.object_id FROM (%s) c"
										   "  JOIN crm.lists l ON l.workspace_id OPERATOR(pg_catalog.=) c.workspace_id"
										   "                  AND l.id OPERATOR(pg_catalog.=) c.list_id"
										   " WHERE l.tag IS NOT NULL AND c.object_type OPERATOR(pg_catalog.=) 'contact'"
										   " ORDER BY 1, 2", changes),
								  0, NULL);
	if (SPI_execute_plan(plans[kind], NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm smart tags: reading changed memberships failed");
	/* copied out first: the UPDATEs below run SPI again */
	n = SPI_processed;
	wss = palloc(sizeof(int64) * Max(n, 1));
	objs = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		wss[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		objs[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (uint64 i = 0; i < n; i++)
	{
		if (ids.n > 0 && wss[i] != ws)
		{
			SmartTagsApply(ws, &ids);
			ids.n = 0;
		}
		ws = wss[i];
		IdAdd(&ids, objs[i]);
	}
	SmartTagsApply(ws, &ids);
}
