/*-------------------------------------------------------------------------
 *
 * report_summaries.c
 *	  The summaries behind the crm_report deal time series: deals created,
 *	  won and lost per UTC day, pipeline, owner and currency
 *	  (crm_internal.report_deal_days), kept exact at commit by statement
 *	  triggers on crm.deals, and the test of whether a query may read them.
 *
 * One aggregate pass per statement.  The trigger adds the statement's new
 * rows and subtracts its old ones (an UPDATE that moves nothing nets to no
 * row at all), grouped by key, and upserts the deltas with INSERT ... ON
 * CONFLICT DO UPDATE SET n = n + excluded.n: two writers of the same day
 * and pipeline wait on the row and both count.  Keys are upserted in key
 * order, so two multi-key statements cannot deadlock on them.  A row that
 * comes back all zero is deleted, not left behind.
 *
 * A day is a UTC day, so the summaries answer a session whose TimeZone is
 * UTC; a reader in another zone, or one whom owner privacy restricts,
 * reads the facts (crm_internal.report_summarized()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_report_deals_summarize);
PG_FUNCTION_INFO_V1(crm_report_summarized);

/* A deal's events in a transition table, signed: +1 for new rows, -1 for old */
#define DEAL_EVENTS(tab, sign) \
	"SELECT t.workspace_id, (t.created_at AT TIME ZONE 'UTC')::date AS day, t.pipeline_id, t.owner, t.currency," \
	" " sign "1 AS created, 0 AS won, 0 AS lost, 0::numeric AS won_value FROM " tab " t" \
	" UNION ALL SELECT t.workspace_id, (t.closed_at AT TIME ZONE 'UTC')::date, t.pipeline_id, t.owner, t.currency," \
	" 0, " sign "(t.status OPERATOR(pg_catalog.=) 'won')::integer, " sign "(t.status OPERATOR(pg_catalog.=) 'lost')::integer," \
	" CASE WHEN t.status OPERATOR(pg_catalog.=) 'won' THEN " sign "t.value ELSE 0 END FROM " tab " t" \
	" WHERE t.status OPERATOR(pg_catalog.<>) 'open' AND t.closed_at IS NOT NULL"

#define UPSERT_HEAD \
	"INSERT INTO crm_internal.report_deal_days AS s" \
	" (workspace_id, day, pipeline_id, owner, currency, created, won, lost, won_value)" \
	" SELECT d.workspace_id, d.day, d.pipeline_id, d.owner, d.currency, pg_catalog.sum(d.created), pg_catalog.sum(d.won)," \
	" pg_catalog.sum(d.lost), pg_catalog.sum(d.won_value) FROM ("

#define UPSERT_TAIL \
	") d GROUP BY 1, 2, 3, 4, 5" \
	" HAVING pg_catalog.sum(d.created) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(d.won) OPERATOR(pg_catalog.<>) 0" \
	" OR pg_catalog.sum(d.lost) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(d.won_value) OPERATOR(pg_catalog.<>) 0" \
	" ORDER BY 1, 2, 3, 4, 5" \
	" ON CONFLICT (workspace_id, day, pipeline_id, owner, currency) DO UPDATE" \
	" SET created = s.created OPERATOR(pg_catalog.+) excluded.created, won = s.won OPERATOR(pg_catalog.+) excluded.won," \
	" lost = s.lost OPERATOR(pg_catalog.+) excluded.lost, won_value = s.won_value OPERATOR(pg_catalog.+) excluded.won_value" \
	" RETURNING s.created OPERATOR(pg_catalog.=) 0 AND s.won OPERATOR(pg_catalog.=) 0 AND s.lost OPERATOR(pg_catalog.=) 0" \
	" AND s.won_value OPERATOR(pg_catalog.=) 0"

/* By operation: 0 INSERT, 1 UPDATE, 2 DELETE */
static const char *const upsert_sql[3] = {
	UPSERT_HEAD DEAL_EVENTS("new_rows", "") UPSERT_TAIL,
	UPSERT_HEAD DEAL_EVENTS("new_rows", "") " UNION ALL " DEAL_EVENTS("old_rows", "-") UPSERT_TAIL,
	UPSERT_HEAD DEAL_EVENTS("old_rows", "-") UPSERT_TAIL,
};
static SPIPlanPtr upsert_plans[3];

static const char zero_sql[] =
	"DELETE FROM crm_internal.report_deal_days WHERE created OPERATOR(pg_catalog.=) 0 AND won OPERATOR(pg_catalog.=) 0"
	" AND lost OPERATOR(pg_catalog.=) 0 AND won_value OPERATOR(pg_catalog.=) 0";

/*
 * crm_internal.report_deals_summarize(): AFTER INSERT, UPDATE or DELETE
 * statement trigger on crm.deals with transition tables new_rows/old_rows
 * (TRUNCATE: every row goes).  Writes as the table's owner: no request
 * role may write the summary.
 */
Datum
crm_report_deals_summarize(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CrmSavedUser saved;
	int			op;
	bool		zeros = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("report_deals_summarize: must be a statement trigger")));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		op = 0;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = 1;
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		op = 2;
	else
		op = -1;				/* TRUNCATE */

	CrmBecomeOwner(RelationGetForm(td->tg_relation)->relowner, &saved);
	SPI_connect();
	if (op < 0)
		SPI_execute("DELETE FROM crm_internal.report_deal_days", false, 0);
	else
	{
		if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
			elog(ERROR, "report_deals_summarize: no transition tables");
		if (upsert_plans[op] == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(upsert_sql[op], 0, NULL);

			if (plan == NULL)
				elog(ERROR, "report_deals_summarize: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			upsert_plans[op] = plan;
		}
		if (SPI_execute_plan(upsert_plans[op], NULL, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "report_deals_summarize: upsert failed");
		for (uint64 i = 0; i < SPI_processed && !zeros; i++)
		{
			bool		isnull;

			zeros = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (zeros)
			SPI_execute(zero_sql, false, 0);
	}
	SPI_finish();
	CrmRestoreUser(&saved);
	return PointerGetDatum(NULL);
}

/* Whether the session cuts days in UTC: a zone with a fixed offset of 0 */
static bool
SessionInUtc(void)
{
	long		gmtoff;

	return pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

/*
 * crm_internal.report_summarized(): whether this query reads the deal time
 * series from the summaries.  They hold UTC days and every owner's deals:
 * so only in a UTC session, for a role that may read them (a reporting
 * role), and when the request sees every deal of its workspace -- no row
 * security on it (superuser, reporting_all) or no owner privacy holding it.
 * A restricted member reads the facts under their policies.
 */
Datum
crm_report_summarized(PG_FUNCTION_ARGS)
{
	Oid			summary;
	int64		ws;
	const char *team;

	if (!SessionInUtc())
		PG_RETURN_BOOL(false);
	summary = get_relname_relid("report_deal_days", get_namespace_oid("crm_internal", false));
	if (!OidIsValid(summary) || pg_class_aclcheck(summary, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_BOOL(false);
	if (check_enable_rls(summary, InvalidOid, true) != RLS_ENABLED)
		PG_RETURN_BOOL(true);
	ws = CrmCurrentWorkspace();
	PG_RETURN_BOOL(!CrmPrivacyRestricted(ws, &team, 0));
}
