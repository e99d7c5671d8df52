/*-------------------------------------------------------------------------
 *
 * citus_events.c
 *	  A row INSERT into crm.events on a Citus coordinator (docs/scaling.md).
 *
 * id, xid, created_at and actor of an event belong to the extension: a row
 * may leave them to their defaults, and the events_guard trigger refuses
 * any other value (src/events.c).  On a Citus coordinator the trigger does
 * not fire: the row goes to the worker holding the workspace's shard, and
 * Citus evaluates every default of the INSERT on the coordinator first and
 * sends the values, so the worker's trigger saw an id it had not issued,
 * the coordinator's transaction id and its start, and refused the row.
 *
 * Before Citus plans an INSERT into the distributed crm.events, the
 * coordinator drops those columns from the statement where they are still
 * the column's default (the rewriter put the default expression there):
 * the worker then fills them from its own defaults, which its trigger
 * takes, and the event's transaction id is the worker's, which
 * crm.events_since orders by.  A value the client gave stays, and the
 * worker's trigger refuses it as one node does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "crm.h"

/* the columns the worker's defaults fill (src/events.c's owned columns) */
static const char *const worker_columns[] = {"id", "xid", "created_at", "actor"};

static planner_hook_type prev_planner = NULL;

/* Whether tle is absent from the statement's values: the column's default as the rewriter put it */
static bool
IsColumnDefault(Relation rel, TargetEntry *tle)
{
	Node	   *def = build_column_default(rel, tle->resno);

	return def != NULL && equal(tle->expr, def);
}

/* Drops from an INSERT into the distributed crm.events the defaults of the extension's columns */
static void
LeaveEventColumnsToWorker(Query *parse)
{
	RangeTblEntry *rte = rt_fetch(parse->resultRelation, parse->rtable);
	Oid			events = get_relname_relid("events", get_namespace_oid("crm", true));
	Relation	rel;
	List	   *kept = NIL;
	ListCell   *lc;

	if (rte->rtekind != RTE_RELATION || rte->relid != events || !OidIsValid(events) ||
		!CrmIsCitusTable(events))
		return;
	/* the parser locked it */
	rel = table_open(events, NoLock);
	foreach(lc, parse->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		bool		drop = false;

		if (!tle->resjunk)
			for (int i = 0; i < lengthof(worker_columns); i++)
				if (tle->resno == attnameAttNum(rel, worker_columns[i], false))
					drop = IsColumnDefault(rel, tle);
		if (!drop)
			kept = lappend(kept, tle);
	}
	parse->targetList = kept;
	table_close(rel, NoLock);
}

static PlannedStmt *
CitusEventsPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (parse->commandType == CMD_INSERT && parse->resultRelation > 0 && CrmCitusIsCoordinator())
		LeaveEventColumnsToWorker(parse);
	if (prev_planner)
		return prev_planner(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

void
CrmCitusEventsInit(void)
{
	prev_planner = planner_hook;
	planner_hook = CitusEventsPlanner;
}
