/*-------------------------------------------------------------------------
 *
 * deals.c
 *	  Stage bookkeeping of deals: the statement trigger behind
 *	  crm_internal.deals_record_stage().
 *
 * After an INSERT it opens a crm.deal_stage_history row per new deal, and
 * writes the WON / LOST event of a deal created closed.
 * After an UPDATE it finds the deals whose stage_id changed and, for them
 * only, closes the previous stay, opens the new one, writes the
 * stage_changed activity and the STAGE_CHANGED / WON / LOST events, in one
 * set-based statement however many deals moved (on Citus one per
 * workspace, so that a worker's trigger stays on the workspace's shards).
 *
 * Every UPDATE of a deal fires it (the value the line items keep, a title
 * edit), and almost none of them moves the deal: the transition tables are
 * compared in C, and an update that moved nothing costs no query at all.
 * The moved deals are passed to the SQL as arrays, read pairwise from the
 * transition tables, so the old and new versions of a deal are matched
 * without a join.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_deals_record_stage);

static SPIPlanPtr opened_plan = NULL;
static SPIPlanPtr moved_plan = NULL;
static SPIPlanPtr moved_citus_plan = NULL;
static SPIPlanPtr born_closed_plan = NULL;

/* One column of the rows handed to the SQL, as an array parameter */
typedef struct ColumnArray
{
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *values;
	bool	   *nulls;
} ColumnArray;

static void
ColumnInit(ColumnArray *c, Oid elemtype, int cap)
{
	c->elemtype = elemtype;
	get_typlenbyvalalign(elemtype, &c->typlen, &c->typbyval, &c->typalign);
	c->values = palloc(sizeof(Datum) * cap);
	c->nulls = palloc(sizeof(bool) * cap);
}

static void
ColumnGrow(ColumnArray *c, int cap)
{
	c->values = repalloc(c->values, sizeof(Datum) * cap);
	c->nulls = repalloc(c->nulls, sizeof(bool) * cap);
}

static Datum
ColumnToArray(ColumnArray *c, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(c->values, c->nulls, 1, dims, lbs,
											  c->elemtype, c->typlen, c->typbyval, c->typalign));
}

/*
 * On Citus, args[] gets the arrays of the rows of the workspace of row
 * first (column 0 holds the workspace), which are marked done.  A worker's
 * trigger names that workspace as a value, so that its statement goes to
 * the workspace's shards on this worker: joined with an array of
 * workspaces it would go to every shard, through connections of the
 * worker's own, and Citus 13.0.5 crashes committing those inside the
 * coordinator's two-phase commit.
 */
static void
OneWorkspace(ColumnArray *cols, int ncols, int n, int first, bool *done, Datum *args)
{
	int64		ws = DatumGetInt64(cols[0].values[first]);
	int		   *rows = palloc(sizeof(int) * n);
	int			m = 0;

	for (int j = first; j < n; j++)
		if (!done[j] && DatumGetInt64(cols[0].values[j]) == ws)
		{
			rows[m++] = j;
			done[j] = true;
		}
	for (int i = 0; i < ncols; i++)
	{
		ColumnArray sub = cols[i];

		sub.values = palloc(sizeof(Datum) * m);
		sub.nulls = palloc(sizeof(bool) * m);
		for (int k = 0; k < m; k++)
		{
			sub.values[k] = cols[i].values[rows[k]];
			sub.nulls[k] = cols[i].nulls[rows[k]];
		}
		args[i] = ColumnToArray(&sub, m);
	}
}

static SPIPlanPtr
KeepPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*cache = plan;
	}
	return *cache;
}

static int
RequireColumn(TupleDesc tupdesc, const char *name)
{
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		elog(ERROR, "deals_record_stage: column \"%s\" not found", name);
	return attnum;
}

/* A transition table read from its start through a read pointer of our own */
static void
Rewind(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

/* Text of an enum or other value through its output function; NULL stays NULL */
static Datum
AsText(Datum value, bool isnull, Oid typid, bool *textnull)
{
	Oid			outfn;
	bool		isvarlena;

	*textnull = isnull;
	if (isnull)
		return (Datum) 0;
	getTypeOutputInfo(typid, &outfn, &isvarlena);
	return CStringGetTextDatum(OidOutputFunctionCall(outfn, value));
}

/*
 * New deals: each opens its first stay, and one created won or lost (a row
 * inserted with that status or into such a stage) gets its CRM_DEAL_WON or
 * CRM_DEAL_LOST event with the reason, as crm.win_deal would give it.
 */
static void
RecordInserted(TriggerData *trigdata, TupleDesc tupdesc, TupleTableSlot *slot)
{
	enum
	{
		C_WS, C_DEAL, C_PIPELINE, C_STAGE, C_ENTERED, C_STATUS, C_REASON, NCOLS
	};
	static const char *const names[C_STATUS] = {
		"workspace_id", "id", "pipeline_id", "stage_id", "stage_entered_at"
	};
	ColumnArray cols[NCOLS];
	int			attnums[C_STATUS];
	int			status_att = RequireColumn(tupdesc, "status");
	int			won_att = RequireColumn(tupdesc, "won_reason");
	int			lost_att = RequireColumn(tupdesc, "lost_reason");
	Oid			status_type = TupleDescAttr(tupdesc, status_att - 1)->atttypid;
	Oid			argtypes[NCOLS];
	Datum		args[NCOLS];
	int			n = 0;
	int			nclosed = 0;
	int			cap = 16;
	int			i;

	for (i = 0; i < C_STATUS; i++)
	{
		attnums[i] = RequireColumn(tupdesc, names[i]);
		ColumnInit(&cols[i], TupleDescAttr(tupdesc, attnums[i] - 1)->atttypid, cap);
	}
	ColumnInit(&cols[C_STATUS], TEXTOID, cap);
	ColumnInit(&cols[C_REASON], TEXTOID, cap);
	Rewind(trigdata->tg_newtable);
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		isnull;
		Datum		status;
		const char *status_text;

		CHECK_FOR_INTERRUPTS();
		if (n == cap)
		{
			cap *= 2;
			for (i = 0; i < NCOLS; i++)
				ColumnGrow(&cols[i], cap);
		}
		for (i = 0; i < C_STATUS; i++)
			cols[i].values[n] = slot_getattr(slot, attnums[i], &cols[i].nulls[n]);
		status = slot_getattr(slot, status_att, &isnull);
		cols[C_STATUS].values[n] = AsText(status, isnull, status_type, &cols[C_STATUS].nulls[n]);
		status_text = cols[C_STATUS].nulls[n] ? "" : TextDatumGetCString(cols[C_STATUS].values[n]);
		cols[C_REASON].nulls[n] = true;
		cols[C_REASON].values[n] = (Datum) 0;
		if (strcmp(status_text, "won") == 0 || strcmp(status_text, "lost") == 0)
		{
			cols[C_REASON].values[n] = slot_getattr(slot, status_text[0] == 'w' ? won_att : lost_att,
													&cols[C_REASON].nulls[n]);
			/* the slot's memory is reused by the next row: keep our own copy */
			if (!cols[C_REASON].nulls[n])
				cols[C_REASON].values[n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(cols[C_REASON].values[n]));
			nclosed++;
		}
		n++;
	}
	if (n == 0)
		return;

	for (i = 0; i < NCOLS; i++)
	{
		args[i] = ColumnToArray(&cols[i], n);
		argtypes[i] = get_array_type(cols[i].elemtype);
	}
	KeepPlan(&opened_plan,
			 "INSERT INTO crm.deal_stage_history (workspace_id, deal_id, pipeline_id, stage_id, entered_at)"
			 " SELECT n.ws, n.deal, n.pipeline, n.stage, n.entered"
			 "   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			 "                   pg_catalog.unnest($4), pg_catalog.unnest($5)) AS n(ws, deal, pipeline, stage, entered)",
			 C_STATUS, argtypes);
	if (SPI_execute_plan(opened_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "deals_record_stage: history insert failed");
	if (nclosed == 0)
		return;

	KeepPlan(&born_closed_plan,
			 "INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload)"
			 " SELECT n.ws, CASE WHEN n.status OPERATOR(pg_catalog.=) 'won' THEN 'CRM_DEAL_WON' ELSE 'CRM_DEAL_LOST' END,"
			 "        'deal', n.deal,"
			 "        pg_catalog.jsonb_build_object('id', n.deal, 'pipeline_id', n.pipeline, 'from_stage_id', NULL,"
			 "                                      'stage_id', n.stage, 'status', n.status, 'reason', n.reason)"
			 "   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			 "                   pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
			 "                   pg_catalog.unnest($7)) AS n(ws, deal, pipeline, stage, entered, status, reason)"
			 "  WHERE n.status OPERATOR(pg_catalog.=) ANY ('{won,lost}'::pg_catalog.text[])",
			 NCOLS, argtypes);
	if (SPI_execute_plan(born_closed_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "deals_record_stage: won/lost event insert failed");
}

/*
 * The moved deals' bookkeeping (RecordMoved).  %1$s is a row's workspace:
 * the moved row's own on one node, one workspace passed as a value on Citus.
 */
#define MOVED_SQL \
	"WITH moved AS (" \
	"  SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)," \
	"         pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)," \
	"         pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11))" \
	"    AS m(workspace_id, deal_id, pipeline_id, contact_id, company_id, from_stage_id, stage_id," \
	"         entered_at, status, old_status, reason)" \
	"), closed AS (" \
	"  UPDATE crm.deal_stage_history h SET left_at = m.entered_at" \
	"    FROM moved m" \
	"   WHERE h.workspace_id OPERATOR(pg_catalog.=) %1$s" \
	"     AND h.deal_id OPERATOR(pg_catalog.=) m.deal_id AND h.left_at IS NULL" \
	"), opened AS (" \
	"  INSERT INTO crm.deal_stage_history (workspace_id, deal_id, pipeline_id, from_stage_id, stage_id, entered_at)" \
	"  SELECT %1$s, m.deal_id, m.pipeline_id, m.from_stage_id, m.stage_id, m.entered_at FROM moved m" \
	"), logged AS (" \
	"  INSERT INTO crm.activities (workspace_id, contact_id, company_id, deal_id, type, subject, actor, occurred_at, payload)" \
	"  SELECT %1$s, m.contact_id, m.company_id, m.deal_id, 'stage_changed'," \
	"         f.name OPERATOR(pg_catalog.||) ' → ' OPERATOR(pg_catalog.||) t.name, 'system', m.entered_at," \
	"         pg_catalog.jsonb_build_object('from_stage_id', m.from_stage_id, 'from_stage', f.name," \
	"                                       'stage_id', m.stage_id, 'stage', t.name, 'status', m.status)" \
	"    FROM moved m" \
	"    JOIN crm.stages t ON t.workspace_id OPERATOR(pg_catalog.=) %1$s" \
	"                     AND t.id OPERATOR(pg_catalog.=) m.stage_id" \
	"    JOIN crm.stages f ON f.workspace_id OPERATOR(pg_catalog.=) %1$s" \
	"                     AND f.id OPERATOR(pg_catalog.=) m.from_stage_id" \
	")" \
	" INSERT INTO crm.events (workspace_id, type, object_type, object_id, payload)" \
	" SELECT %1$s, e.type, 'deal', m.deal_id," \
	"        pg_catalog.jsonb_build_object('id', m.deal_id, 'pipeline_id', m.pipeline_id," \
	"                                      'from_stage_id', m.from_stage_id, 'stage_id', m.stage_id," \
	"                                      'status', m.status)" \
	"        OPERATOR(pg_catalog.||)" \
	"        CASE WHEN e.type OPERATOR(pg_catalog.<>) 'CRM_DEAL_STAGE_CHANGED'" \
	"             THEN pg_catalog.jsonb_build_object('reason', m.reason) ELSE '{}'::pg_catalog.jsonb END" \
	"   FROM moved m" \
	"  CROSS JOIN LATERAL (VALUES ('CRM_DEAL_STAGE_CHANGED')," \
	"        (CASE WHEN m.status OPERATOR(pg_catalog.=) 'won' AND m.old_status OPERATOR(pg_catalog.<>) 'won'" \
	"              THEN 'CRM_DEAL_WON'" \
	"              WHEN m.status OPERATOR(pg_catalog.=) 'lost' AND m.old_status OPERATOR(pg_catalog.<>) 'lost'" \
	"              THEN 'CRM_DEAL_LOST' END)) AS e(type)" \
	"  WHERE e.type IS NOT NULL"

/*
 * Deals that changed stage.  One statement, one snapshot: closing the
 * previous stay cannot see the rows opened next to it.
 */
static void
RecordMoved(TriggerData *trigdata, TupleDesc tupdesc, TupleTableSlot *slot, TupleTableSlot *oldslot)
{
	enum
	{
		C_WS, C_DEAL, C_PIPELINE, C_CONTACT, C_COMPANY, C_FROM, C_STAGE, C_ENTERED,
		C_STATUS, C_OLD_STATUS, C_REASON, NCOLS
	};
	ColumnArray cols[NCOLS];
	Oid			argtypes[NCOLS + 1];
	Datum		args[NCOLS + 1];
	int			stage_att = RequireColumn(tupdesc, "stage_id");
	int			ws_att = 0,
				id_att = 0,
				pipeline_att = 0,
				contact_att = 0,
				company_att = 0,
				entered_att = 0,
				status_att = 0,
				won_att = 0,
				lost_att = 0;
	Oid			status_type = InvalidOid;
	int			n = 0;
	int			cap = 16;
	int			i;

	Rewind(trigdata->tg_oldtable);
	Rewind(trigdata->tg_newtable);

	/* the two transition tables hold the rows of each update pairwise */
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		oldnull,
					newnull;
		Datum		oldstage,
					newstage;
		bool		isnull;
		Datum		status,
					old_status;
		const char *status_text;

		CHECK_FOR_INTERRUPTS();
		if (!tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, oldslot))
			elog(ERROR, "deals_record_stage: transition tables of different length");
		oldstage = slot_getattr(oldslot, stage_att, &oldnull);
		newstage = slot_getattr(slot, stage_att, &newnull);
		if (oldnull || newnull || DatumGetInt64(oldstage) == DatumGetInt64(newstage))
			continue;

		if (n == 0)
		{
			/* the first move: now the rest of the columns are worth finding */
			ws_att = RequireColumn(tupdesc, "workspace_id");
			id_att = RequireColumn(tupdesc, "id");
			pipeline_att = RequireColumn(tupdesc, "pipeline_id");
			contact_att = RequireColumn(tupdesc, "contact_id");
			company_att = RequireColumn(tupdesc, "company_id");
			entered_att = RequireColumn(tupdesc, "stage_entered_at");
			status_att = RequireColumn(tupdesc, "status");
			won_att = RequireColumn(tupdesc, "won_reason");
			lost_att = RequireColumn(tupdesc, "lost_reason");
			status_type = TupleDescAttr(tupdesc, status_att - 1)->atttypid;
			for (i = 0; i < NCOLS; i++)
			{
				Oid			t = INT8OID;

				if (i == C_ENTERED)
					t = TIMESTAMPTZOID;
				else if (i == C_STATUS || i == C_OLD_STATUS || i == C_REASON)
					t = TEXTOID;
				ColumnInit(&cols[i], t, cap);
			}
		}
		else if (n == cap)
		{
			cap *= 2;
			for (i = 0; i < NCOLS; i++)
				ColumnGrow(&cols[i], cap);
		}

		cols[C_WS].values[n] = slot_getattr(slot, ws_att, &cols[C_WS].nulls[n]);
		cols[C_DEAL].values[n] = slot_getattr(slot, id_att, &cols[C_DEAL].nulls[n]);
		cols[C_PIPELINE].values[n] = slot_getattr(slot, pipeline_att, &cols[C_PIPELINE].nulls[n]);
		cols[C_CONTACT].values[n] = slot_getattr(slot, contact_att, &cols[C_CONTACT].nulls[n]);
		cols[C_COMPANY].values[n] = slot_getattr(slot, company_att, &cols[C_COMPANY].nulls[n]);
		cols[C_FROM].values[n] = oldstage;
		cols[C_FROM].nulls[n] = false;
		cols[C_STAGE].values[n] = newstage;
		cols[C_STAGE].nulls[n] = false;
		cols[C_ENTERED].values[n] = slot_getattr(slot, entered_att, &cols[C_ENTERED].nulls[n]);

		status = slot_getattr(slot, status_att, &isnull);
		cols[C_STATUS].values[n] = AsText(status, isnull, status_type, &cols[C_STATUS].nulls[n]);
		old_status = slot_getattr(oldslot, status_att, &isnull);
		cols[C_OLD_STATUS].values[n] = AsText(old_status, isnull, status_type, &cols[C_OLD_STATUS].nulls[n]);

		/* the reason goes with a won or lost verdict */
		status_text = cols[C_STATUS].nulls[n] ? "" : TextDatumGetCString(cols[C_STATUS].values[n]);
		cols[C_REASON].nulls[n] = true;
		cols[C_REASON].values[n] = (Datum) 0;
		if (strcmp(status_text, "won") == 0)
			cols[C_REASON].values[n] = slot_getattr(slot, won_att, &cols[C_REASON].nulls[n]);
		else if (strcmp(status_text, "lost") == 0)
			cols[C_REASON].values[n] = slot_getattr(slot, lost_att, &cols[C_REASON].nulls[n]);
		/* the slot's memory is reused by the next row: keep our own copy */
		if (!cols[C_REASON].nulls[n])
			cols[C_REASON].values[n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(cols[C_REASON].values[n]));
		n++;
	}
	if (n == 0)
		return;

	for (i = 0; i < NCOLS; i++)
		argtypes[i] = get_array_type(cols[i].elemtype);
	argtypes[NCOLS] = INT8OID;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "deals_record_stage: SPI_connect failed");
	if (OidIsValid(CrmCitusTableOfShard(trigdata->tg_relation)))
	{
		/* the arrays' rows one workspace at a time, that workspace a value */
		bool	   *done = palloc0(sizeof(bool) * n);

		if (moved_citus_plan == NULL)
			KeepPlan(&moved_citus_plan, psprintf(MOVED_SQL, "$12"), NCOLS + 1, argtypes);
		for (int first = 0; first < n; first++)
		{
			if (done[first])
				continue;
			args[NCOLS] = cols[C_WS].values[first];
			OneWorkspace(cols, NCOLS, n, first, done, args);
			if (SPI_execute_plan(moved_citus_plan, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "deals_record_stage: stage bookkeeping failed");
		}
	}
	else
	{
		for (i = 0; i < NCOLS; i++)
			args[i] = ColumnToArray(&cols[i], n);
		if (moved_plan == NULL)
			KeepPlan(&moved_plan, psprintf(MOVED_SQL, "m.workspace_id"), NCOLS, argtypes);
		if (SPI_execute_plan(moved_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "deals_record_stage: stage bookkeeping failed");
	}
	SPI_finish();
}

/*
 * crm_internal.deals_record_stage(): AFTER INSERT (REFERENCING NEW TABLE AS new_rows)
 * or AFTER UPDATE (REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows)
 * ON crm.deals FOR EACH STATEMENT.
 */
Datum
crm_deals_record_stage(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	TupleTableSlot *slot;
	CrmSavedUser saved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deals_record_stage: must be fired after the statement")));
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	/* stage history and events are read-only to granted roles */
	CrmBecomeOwner(trigdata->tg_relation->rd_rel->relowner, &saved);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		if (trigdata->tg_newtable == NULL)
			elog(ERROR, "deals_record_stage: INSERT trigger needs REFERENCING NEW TABLE");
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "deals_record_stage: SPI_connect failed");
		RecordInserted(trigdata, tupdesc, slot);
		SPI_finish();
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		TupleTableSlot *oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);

		if (trigdata->tg_newtable == NULL || trigdata->tg_oldtable == NULL)
			elog(ERROR, "deals_record_stage: UPDATE trigger needs REFERENCING OLD TABLE and NEW TABLE");
		RecordMoved(trigdata, tupdesc, slot, oldslot);
		ExecDropSingleTupleTableSlot(oldslot);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deals_record_stage: must be fired by INSERT or UPDATE")));
	CrmRestoreUser(&saved);
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}
