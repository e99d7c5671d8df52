/*-------------------------------------------------------------------------
 *
 * report_plans.c
 *	  No JIT for a statement that reads a crm_report time series' summary.
 *
 * Each time series is a view of two branches, the summary's and the
 * facts', of which a one-time filter runs one (sql/reporting.sql).  The
 * planner costs both, and at a million rows the facts' branch alone is
 * over jit_inline_above_cost and jit_optimize_above_cost: the executor
 * then compiles, inlines and optimises every expression of the plan at
 * start, the branch that never runs included -- 2.5 s of LLVM for a query
 * that reads a few hundred summary rows in 5 ms (docs/performance.md).
 * So a plan that reads a summary table (crm_internal.report_*) runs
 * without JIT; the facts' branch, when it is the one taken, runs
 * interpreted, as it does below jit_above_cost.
 *
 * The hook is ExecutorStart's, not the planner's: crm.so is loaded while
 * the first such statement of a session is planned (the policies' and
 * the gate's C functions are called to estimate their clauses), which is
 * too late for that statement's planner hook and in time for its
 * executor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "jit/jit.h"
#include "nodes/parsenodes.h"
#include "utils/lsyscache.h"

#include "crm.h"

static ExecutorStart_hook_type prev_executor_start = NULL;

/* Whether the plan reads a summary table: crm_internal.report_* */
static bool
ReadsReportSummary(PlannedStmt *stmt)
{
	Oid			internal = get_namespace_oid("crm_internal", true);
	ListCell   *lc;

	if (!OidIsValid(internal))
		return false;
	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		char	   *name;

		if (rte->rtekind != RTE_RELATION || get_rel_namespace(rte->relid) != internal)
			continue;
		name = get_rel_name(rte->relid);
		if (name != NULL && strncmp(name, "report_", 7) == 0)
			return true;
	}
	return false;
}

static void
CrmExecutorStart(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;

	/* only a plan the planner marked for JIT pays for the look */
	if ((stmt->jitFlags & PGJIT_PERFORM) && ReadsReportSummary(stmt))
		stmt->jitFlags = PGJIT_NONE;
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
CrmReportPlansInit(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = CrmExecutorStart;
}

PG_FUNCTION_INFO_V1(crm_report_summarized_support);

/*
 * crm_internal.report_summarized_support(internal): the planner support of
 * the views' gate.  It declines every request (the planner then uses its
 * defaults); the planner's call, while it costs the gate, is what loads
 * crm.so in time for CrmExecutorStart.
 */
Datum
crm_report_summarized_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(NULL);
}
