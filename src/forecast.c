/*-------------------------------------------------------------------------
 *
 * forecast.c
 *	  Stage probabilities for forecasting: configured, historical (an
 *	  absorbing Markov chain estimated from deal_stage_history) and blended.
 *
 * Historical: every stage change of a closed deal of the pipeline is a
 * transition i -> j, forwards, backwards or skipping stages.  With
 * P(i -> j) = count(i -> j) / count(i -> *), won stages absorbing with
 * value 1 and lost stages with value 0, the chance x_i that a deal now in
 * open stage i ends won solves
 *
 *		x_i - sum_j P(i -> j) x_j = 0	(open stages with observed exits)
 *		x_i = 1 (won), 0 (lost), configured / 100 (open, never left)
 *
 * i.e. (I - Q) x = R_won, solved by Gaussian elimination with partial
 * pivoting.  Every observed path ends absorbed (the deals are closed), so
 * the system is non-singular.  Blended mixes the two per stage with weight
 * n / (n + 10), n the number of observed exits from the stage.
 *
 * Why C: the solve is a dense linear system; SQL has no tool for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_stage_probabilities);

/* Exits from a stage at which its history counts as much as its setting */
#define BLEND_HALF_WEIGHT 10.0

typedef enum ForecastMethod
{
	METHOD_CONFIGURED,
	METHOD_HISTORICAL,
	METHOD_BLENDED
} ForecastMethod;

typedef struct StageRow
{
	int64		id;
	char	   *name;
	Datum		configured;		/* numeric, 0-100 */
	double		configured_f;
	char		kind;			/* 'o', 'w' or 'l' */
} StageRow;

static SPIPlanPtr stages_plan = NULL;
static SPIPlanPtr pipeline_plan = NULL;
static SPIPlanPtr transitions_plan = NULL;

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

static ForecastMethod
ParseMethod(const char *method)
{
	if (strcmp(method, "configured") == 0)
		return METHOD_CONFIGURED;
	if (strcmp(method, "historical") == 0)
		return METHOD_HISTORICAL;
	if (strcmp(method, "blended") == 0)
		return METHOD_BLENDED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown forecast method: \"%s\"", method),
			 errhint("Use configured (the stages' settings), historical (learned from closed deals) or blended.")));
	return METHOD_CONFIGURED;	/* keep compiler quiet */
}

/*
 * Solve a x = b in place (n x n, row-major); x is returned in b.  Partial
 * pivoting; a vanishing pivot would mean a stage from which no observed path
 * ends, which the construction rules out.
 */
static void
SolveLinearSystem(double *a, double *b, int n)
{
	int			col;
	int			row;
	int			k;

	for (col = 0; col < n; col++)
	{
		int			pivot = col;
		double		best = fabs(a[col * n + col]);

		for (row = col + 1; row < n; row++)
			if (fabs(a[row * n + col]) > best)
			{
				best = fabs(a[row * n + col]);
				pivot = row;
			}
		if (best < 1e-12)
			elog(ERROR, "stage transition matrix is singular");
		if (pivot != col)
		{
			double		t;

			for (k = 0; k < n; k++)
			{
				t = a[col * n + k];
				a[col * n + k] = a[pivot * n + k];
				a[pivot * n + k] = t;
			}
			t = b[col];
			b[col] = b[pivot];
			b[pivot] = t;
		}
		for (row = col + 1; row < n; row++)
		{
			double		f = a[row * n + col] / a[col * n + col];

			if (f == 0.0)
				continue;
			for (k = col; k < n; k++)
				a[row * n + k] -= f * a[col * n + k];
			b[row] -= f * b[col];
		}
	}
	for (row = n - 1; row >= 0; row--)
	{
		double		s = b[row];

		for (k = row + 1; k < n; k++)
			s -= a[row * n + k] * b[k];
		b[row] = s / a[row * n + row];
	}
}

static int
StageIndex(StageRow *stages, int n, int64 id)
{
	int			i;

	for (i = 0; i < n; i++)
		if (stages[i].id == id)
			return i;
	return -1;
}

/* A percentage as numeric with two decimals */
static Datum
PercentDatum(double fraction)
{
	double		pct = fraction * 100.0;

	if (pct < 0.0)
		pct = 0.0;
	if (pct > 100.0)
		pct = 100.0;
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall1(float8_numeric, Float8GetDatum(pct)),
							   Int32GetDatum(2));
}

/*
 * crm.stage_probabilities(pipeline_id, method, since)
 *	  -> (stage_id, stage_name, probability), stages in board order
 */
Datum
crm_stage_probabilities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		workspace_id = CrmCurrentWorkspace();
	int64		pipeline_id;
	ForecastMethod method;
	bool		have_since = !PG_ARGISNULL(2);
	TimestampTz since = have_since ? PG_GETARG_TIMESTAMPTZ(2) : 0;
	Oid			argtypes[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		args[3];
	char		argnulls[3] = {' ', ' ', ' '};
	StageRow   *stages;
	int			n;
	int			i;
	int			j;
	double	   *counts = NULL;
	double	   *exits = NULL;
	double	   *a;
	double	   *x = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("pipeline NULL does not exist"),
				 errhint("Pass the id of a pipeline; SELECT id, name FROM crm.pipelines lists them.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("forecast method must not be NULL"),
				 errhint("Use configured, historical or blended.")));
	pipeline_id = PG_GETARG_INT64(0);
	method = ParseMethod(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (have_since && TIMESTAMP_NOT_FINITE(since))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must be a finite time, not \"%s\"",
						DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(since)))),
				 errhint("Pass a date such as now() - interval '1 year', or NULL for all history.")));

	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "stage_probabilities: SPI_connect failed");
	args[0] = Int64GetDatum(workspace_id);
	args[1] = Int64GetDatum(pipeline_id);

	KeepPlan(&pipeline_plan,
			 "SELECT 1 FROM crm.pipelines p"
			 " WHERE p.workspace_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) $2",
			 2, argtypes);
	if (SPI_execute_plan(pipeline_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "stage_probabilities: pipeline lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("pipeline " INT64_FORMAT " does not exist", pipeline_id),
				 errhint("Check the id; SELECT id, name FROM crm.pipelines lists the pipelines of this workspace.")));

	KeepPlan(&stages_plan,
			 "SELECT s.id, s.name, s.probability, s.kind::text FROM crm.stages s"
			 " WHERE s.workspace_id OPERATOR(pg_catalog.=) $1 AND s.pipeline_id OPERATOR(pg_catalog.=) $2"
			 " ORDER BY s.position, s.id",
			 2, argtypes);
	if (SPI_execute_plan(stages_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "stage_probabilities: stage lookup failed");
	n = (int) SPI_processed;
	stages = palloc0(sizeof(StageRow) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		stages[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		stages[i].name = SPI_getvalue(tup, desc, 2);
		stages[i].configured = SPI_getbinval(tup, desc, 3, &isnull);
		stages[i].configured_f = DatumGetFloat8(DirectFunctionCall1(numeric_float8, stages[i].configured));
		stages[i].kind = SPI_getvalue(tup, desc, 4)[0];
	}

	if (method != METHOD_CONFIGURED && n > 0)
	{
		KeepPlan(&transitions_plan,
				 "SELECT h.from_stage_id, h.stage_id, pg_catalog.count(*)::float8"
				 "  FROM crm.deal_stage_history h"
				 "  JOIN crm.deals d ON d.workspace_id OPERATOR(pg_catalog.=) h.workspace_id"
				 "                  AND d.id OPERATOR(pg_catalog.=) h.deal_id"
				 " WHERE h.workspace_id OPERATOR(pg_catalog.=) $1 AND h.pipeline_id OPERATOR(pg_catalog.=) $2"
				 "   AND h.from_stage_id IS NOT NULL"
				 "   AND d.status OPERATOR(pg_catalog.<>) 'open'::crm.deal_status"
				 "   AND ($3 IS NULL OR d.closed_at OPERATOR(pg_catalog.>=) $3)"
				 " GROUP BY h.from_stage_id, h.stage_id",
				 3, argtypes);
		args[2] = TimestampTzGetDatum(since);
		if (!have_since)
			argnulls[2] = 'n';
		if (SPI_execute_plan(transitions_plan, args, argnulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "stage_probabilities: history lookup failed");

		counts = palloc0(sizeof(double) * n * n);
		exits = palloc0(sizeof(double) * n);
		for (i = 0; i < (int) SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int			from = StageIndex(stages, n, DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)));
			int			to = StageIndex(stages, n, DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)));
			double		c = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));

			/* moves from another pipeline do not describe this one */
			if (from < 0 || to < 0)
				continue;
			counts[from * n + to] += c;
			exits[from] += c;
		}

		/* (I - Q) x = R_won, with absorbing and never-left stages fixed */
		a = palloc0(sizeof(double) * n * n);
		x = palloc0(sizeof(double) * n);
		for (i = 0; i < n; i++)
		{
			a[i * n + i] = 1.0;
			if (stages[i].kind == 'w')
				x[i] = 1.0;
			else if (stages[i].kind == 'l')
				x[i] = 0.0;
			else if (exits[i] == 0.0)
				x[i] = stages[i].configured_f / 100.0;
			else
				for (j = 0; j < n; j++)
					a[i * n + j] -= counts[i * n + j] / exits[i];
		}
		SolveLinearSystem(a, x, n);
	}

	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(stages[i].id);
		values[1] = CStringGetTextDatum(stages[i].name);
		if (method == METHOD_CONFIGURED || stages[i].kind != 'o')
			values[2] = stages[i].configured;
		else if (method == METHOD_HISTORICAL)
			values[2] = PercentDatum(x[i]);
		else
		{
			double		w = exits[i] / (exits[i] + BLEND_HALF_WEIGHT);

			values[2] = PercentDatum(w * x[i] + (1.0 - w) * stages[i].configured_f / 100.0);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
