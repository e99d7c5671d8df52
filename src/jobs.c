/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Background jobs (sql/jobs.sql): the dynamic background worker that
 *	  runs an import in committed batches, and its launch.
 *
 * crm is not in shared_preload_libraries, so no worker is registered at
 * startup: crm.start_import asks for one when its transaction commits (a
 * worker started earlier would not see the job), and crm.resume_jobs()
 * asks for one per unfinished job after a restart.  A worker holds an
 * advisory lock on its job, so a second one for the same job exits; when
 * its job ends it takes the next unfinished job of its database that no
 * worker holds.
 *
 * Each batch is one transaction: the next rows of the input imported as
 * the role that started the job (SET LOCAL ROLE, with the job's workspace,
 * member and actor), then the counts, cursor and report rows written as the
 * worker's superuser.  A crash loses at most the batches in progress, which
 * the next worker does again.  The runner dispatches on the job's kind
 * (RunBatch): an export job (issue 22) reads the next rows by id after its
 * keyset cursor through the synchronous export function, as the starter,
 * and appends them to its results.
 *
 * A contacts import has two workers, a helper launched by the first: while
 * one batch writes under the workspace's identity lock, the next one reads
 * and normalises its rows (the phones).  Batch k (the rows after (k-1) *
 * batch_size) is claimed with a lock of its own, its "turn"; the import
 * waits for the turn of batch k - 1 before it takes the identity lock
 * (crm_hidden.import_take_identity), so batches write in input order, and a
 * batch applies only when the cursor is at its first row
 * (crm_internal.job_batch_done): the cursor stays the prefix of rows done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_launch_job);
PG_FUNCTION_INFO_V1(crm_job_caller);
PG_FUNCTION_INFO_V1(crm_job_rows_write);
PG_FUNCTION_INFO_V1(crm_job_reports_write);
PG_FUNCTION_INFO_V1(crm_import_take_identity);

PGDLLEXPORT void crm_job_worker_main(Datum main_arg);

/* A batch that lost a deadlock or a serialization race is tried again */
#define JOB_BATCH_TRIES 3

typedef struct JobKey
{
	int64		workspace_id;
	int64		job_id;
} JobKey;

/* A job's workers: the first, and for a contacts import a helper */
#define JOB_SLOTS 2

/* The advisory lock class of a batch's turn, apart from the user's 1 and 2 */
#define CRM_JOB_TURN_LOCK_CLASS 0x4a42

/* The batch this worker imports now (0: none): its turn follows batch - 1 */
static int64 turn_job = 0;
static int64 turn_batch = 0;

/* What a batch's transaction does at its end */
typedef enum BatchEnd
{
	BATCH_MORE,					/* commit, then the next batch */
	BATCH_LAST,					/* commit, the job is over for this worker */
	BATCH_UNDONE				/* roll back, then claim again */
} BatchEnd;

/* Jobs whose worker starts when this transaction commits */
static List *launch_at_commit = NIL;
static bool xact_callback_registered = false;

static bool
LaunchWorker(Oid database, JobKey key)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "crm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "crm_job_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "crm job %lld", (long long) key.job_id);
	snprintf(worker.bgw_type, BGW_MAXLEN, "crm job");
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	memcpy(worker.bgw_extra, &key, sizeof(key));
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

static void
JobsXactCallback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
			/* no error may be raised here: a job without a slot stays queued */
			foreach(lc, launch_at_commit)
			{
				if (!LaunchWorker(MyDatabaseId, *(JobKey *) lfirst(lc)))
					ereport(WARNING,
							(errmsg("no background worker slot free for crm job %lld",
									(long long) ((JobKey *) lfirst(lc))->job_id),
							 errhint("The job stays queued: the next job's worker takes it, or call crm.resume_jobs(); max_worker_processes limits the slots.")));
			}
			list_free_deep(launch_at_commit);
			launch_at_commit = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared start is resumed by crm.resume_jobs() once committed */
			list_free_deep(launch_at_commit);
			launch_at_commit = NIL;
			break;
		default:
			break;
	}
}

/*
 * crm_internal.launch_job(workspace_id, job_id, at_commit): a worker for the
 * job now, or when the transaction commits.  False when no slot is free now.
 */
Datum
crm_launch_job(PG_FUNCTION_ARGS)
{
	JobKey		key;

	key.workspace_id = PG_GETARG_INT64(0);
	key.job_id = PG_GETARG_INT64(1);
	if (!PG_GETARG_BOOL(2))
		PG_RETURN_BOOL(LaunchWorker(MyDatabaseId, key));

	if (!xact_callback_registered)
	{
		RegisterXactCallback(JobsXactCallback, NULL);
		xact_callback_registered = true;
	}
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		JobKey	   *k = palloc(sizeof(JobKey));

		*k = key;
		launch_at_commit = lappend(launch_at_commit, k);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_BOOL(true);
}

/* crm_internal.job_caller(): the role outside the SECURITY DEFINER function */
Datum
crm_job_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false))));
}

/*
 * The job's own rows: its input (crm_internal.job_rows) and its report
 * (crm.job_reports), written straight into their heap and indexes
 * (direct_insert.c).  Their foreign key to crm.jobs stays, and with it the
 * cascade of a job's delete, but an INSERT would check it once per row:
 * about a fifth of a second per thousand rows, for a job row that the start
 * wrote in the same transaction and that the worker holds FOR UPDATE while
 * it reports.  A table not as installed (another column, a trigger of a
 * DBA's) is left to the caller's INSERT.
 */

/* The table schema.name with these column types in order, opened, or NULL */
static Relation
OpenJobTable(const char *schema, const char *name, const Oid *types, int ncols)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid(schema, false));
	Relation	rel;
	TupleDesc	desc;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || desc->natts != ncols ||
		CrmIsCitusTable(relid) ||
		(desc->constr != NULL && (desc->constr->num_check > 0 || desc->constr->has_generated_stored)))
	{
		table_close(rel, NoLock);
		return NULL;
	}
	/* only the guard trigger and the foreign key's (not fired by the job) */
	if (rel->trigdesc != NULL)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *tg = &rel->trigdesc->triggers[i];

			if (!tg->tgisinternal && strcmp(tg->tgname, "job_reports_guard") != 0)
			{
				table_close(rel, NoLock);
				return NULL;
			}
		}
	}
	for (int i = 0; i < ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
		{
			table_close(rel, NoLock);
			return NULL;
		}
	}
	return rel;
}

/* A jsonb array's elements, in order, each as a Jsonb of its own */
static Jsonb **
ArrayElements(Jsonb *array, int *n)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Jsonb	  **elems;
	int			i = 0;

	if (!JB_ROOT_IS_ARRAY(array) || JB_ROOT_IS_SCALAR(array))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job rows must be a JSON array")));
	*n = JB_ROOT_COUNT(array);
	elems = palloc(sizeof(Jsonb *) * Max(*n, 1));
	it = JsonbIteratorInit(&array->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_ELEM)
			elems[i++] = JsonbValueToJsonb(&v);
	}
	*n = i;
	return elems;
}

/*
 * crm_internal.job_rows_write(workspace_id, job_id, rows jsonb): the input
 * rows of a job the caller just wrote, ordinals from 1.  False, nothing
 * written, when the table is not as installed.
 */
Datum
crm_job_rows_write(PG_FUNCTION_ARGS)
{
	static const Oid types[4] = {INT8OID, INT8OID, INT8OID, JSONBOID};
	Datum		ws = PG_GETARG_DATUM(0);
	Datum		job = PG_GETARG_DATUM(1);
	Jsonb	   *rows = PG_GETARG_JSONB_P(2);
	Relation	rel = OpenJobTable("crm_internal", "job_rows", types, 4);
	CrmDirectInsert *writer;
	Jsonb	  **elems;
	int			n;

	if (rel == NULL)
		PG_RETURN_BOOL(false);
	elems = ArrayElements(rows, &n);
	writer = CrmDirectInsertBegin(rel);
	for (int i = 0; i < n; i++)
	{
		TupleTableSlot *slot = CrmDirectInsertNext(writer);

		CHECK_FOR_INTERRUPTS();
		slot->tts_values[0] = ws;
		slot->tts_values[1] = job;
		slot->tts_values[2] = Int64GetDatum(i + 1);
		slot->tts_values[3] = JsonbPGetDatum(elems[i]);
		CrmCheckDefined(elems[i], VARSIZE(elems[i]));
		ExecStoreVirtualTuple(slot);
	}
	CrmDirectInsertEnd(writer);
	table_close(rel, NoLock);
	PG_RETURN_BOOL(true);
}

/* The elements of a one-dimensional array argument, with their nulls */
static int
ArrayArg(FunctionCallInfo fcinfo, int argno, Oid elemtype, Datum **values, bool **nulls)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a job report array must have one dimension, not %d", ARR_NDIM(a)),
				 errhint("Pass one element per report row.")));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elemtype, typlen, typbyval, typalign, values, nulls, &n);
	return n;
}

/*
 * crm_internal.job_reports_write(workspace_id, job_id, base, row_numbers,
 * actions, record_ids, problems): one report row per element of the
 * import's report, at ordinal base + row_number.  The report comes as
 * four arrays aggregated from the import's result in one pass: as one
 * jsonb array it cost to_jsonb of every row, the aggregate, and a key
 * lookup and a numeric conversion per field here.  False, nothing
 * written, when the table is not as installed.
 */
Datum
crm_job_reports_write(PG_FUNCTION_ARGS)
{
	static const Oid types[6] = {INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID};
	Datum		ws = PG_GETARG_DATUM(0);
	Datum		job = PG_GETARG_DATUM(1);
	int64		base = PG_GETARG_INT64(2);
	Datum	   *numbers,
			   *actions,
			   *records,
			   *problems;
	bool	   *numbers_null,
			   *actions_null,
			   *records_null,
			   *problems_null;
	int			n = ArrayArg(fcinfo, 3, INT8OID, &numbers, &numbers_null);
	int			n_actions = ArrayArg(fcinfo, 4, TEXTOID, &actions, &actions_null);
	int			n_records = ArrayArg(fcinfo, 5, INT8OID, &records, &records_null);
	int			n_problems = ArrayArg(fcinfo, 6, TEXTOID, &problems, &problems_null);
	Relation	rel;
	CrmDirectInsert *writer;

	if (n_actions != n || n_records != n || n_problems != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job report arrays of different lengths: %d row numbers, %d actions, %d record ids, %d problems",
						n, n_actions, n_records, n_problems),
				 errhint("The four arrays are aligned: one element each per report row.")));
	rel = OpenJobTable("crm", "job_reports", types, 6);
	if (rel == NULL)
		PG_RETURN_BOOL(false);
	writer = CrmDirectInsertBegin(rel);
	for (int i = 0; i < n; i++)
	{
		TupleTableSlot *slot;

		CHECK_FOR_INTERRUPTS();
		if (numbers_null[i] || actions_null[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("job report row %d has no row number or no action", i + 1),
					 errhint("Every report row has its input row's number and an action.")));
		slot = CrmDirectInsertNext(writer);
		slot->tts_values[0] = ws;
		slot->tts_values[1] = job;
		slot->tts_values[2] = Int64GetDatum(base + DatumGetInt64(numbers[i]));
		slot->tts_values[3] = actions[i];
		slot->tts_isnull[4] = records_null[i];
		slot->tts_values[4] = records[i];
		slot->tts_isnull[5] = problems_null[i];
		slot->tts_values[5] = problems[i];
		ExecStoreVirtualTuple(slot);
	}
	CrmDirectInsertEnd(writer);
	table_close(rel, NoLock);
	PG_RETURN_BOOL(true);
}

/* The turn of a job's batch: a transaction lock, in a class of crm's own */
static bool
LockTurn(int64 job_id, int64 batch, LOCKMODE mode, bool wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) job_id, (uint32) batch, CRM_JOB_TURN_LOCK_CLASS);
	return LockAcquire(&tag, mode, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * crm_hidden.import_take_identity(workspace_id): the import's identity
 * lock, pg_advisory_xact_lock(hashtextextended('crm.identity', ws)).  In a
 * job's worker, first the turn of the batch before, shared: held while
 * that batch runs, so this one writes after it.
 */
Datum
crm_import_take_identity(PG_FUNCTION_ARGS)
{
	Datum		key;

	if (turn_batch > 1)
		LockTurn(turn_job, turn_batch - 1, ShareLock, true);
	key = DirectFunctionCall2Coll(hashtextextended, DEFAULT_COLLATION_OID,
								  PointerGetDatum(cstring_to_text("crm.identity")),
							  PG_GETARG_DATUM(0));
	DirectFunctionCall1(pg_advisory_xact_lock_int8, key);
	PG_RETURN_VOID();
}

/* The worker */

static Datum
Int8Arg(int64 v)
{
	return Int64GetDatum(v);
}

/* Runs a query of the worker's; its result stays in SPI_tuptable */
static void
WorkerQuery(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "crm job: query failed (%d): %s", rc, sql);
}

static char *
ResultText(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/*
 * The job's identity for this transaction: its workspace, member and actor,
 * as the API reads them (crm.current_workspace() and the others).
 */
static void
SetJobIdentity(JobKey key, const char *user_id, const char *actor)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(psprintf("%lld", (long long) key.workspace_id));
	values[1] = CStringGetTextDatum(user_id ? user_id : "");
	values[2] = CStringGetTextDatum(actor ? actor : "");
	WorkerQuery("SELECT pg_catalog.set_config('crm.workspace_id', $1, true),"
				" pg_catalog.set_config('crm.user_id', $2, true),"
				" pg_catalog.set_config('crm.actor', $3, true)",
				3, types, values, SPI_OK_SELECT);
}

/* SET LOCAL ROLE: the job's role for its reads and writes, none after */
static void
SetJobRole(const char *role)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(role);
	WorkerQuery("SELECT pg_catalog.set_config('role', $1, true)", 1, types, values, SPI_OK_SELECT);
}

/*
 * One batch of an export: the next rows by id after the job's cursor, read
 * by the export function as the job's role (a CQL "id > n" before the
 * query, so each batch is a keyset read), then appended to the results by
 * crm_internal.export_batch_done as the owner.  A GDPR access export is
 * one batch of one row.  Returns whether the job goes on.
 */
static bool
RunExportBatch(JobKey key, const char *run_as)
{
	Oid			types[4] = {INT8OID, INT8OID, JSONBARRAYOID, INT8OID};
	Datum		values[4];
	Datum		rows;
	Datum		last_id;
	bool		isnull;

	/* JSON timestamps in UTC, whatever the server's zone (docs say so) */
	WorkerQuery("SELECT pg_catalog.set_config('TimeZone', 'UTC', true)", 0, NULL, NULL, SPI_OK_SELECT);
	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	/*
	 * The statement, built as the owner from the job row the start checked.
	 * The row is read first and handed in: on Citus a call taking the row
	 * in the same statement is sent to the worker, where the row is the
	 * shard's type, which the function does not take.
	 */
	WorkerQuery("SELECT j FROM crm.jobs j"
				" WHERE j.workspace_id OPERATOR(pg_catalog.=) $1 AND j.id OPERATOR(pg_catalog.=) $2",
				2, types, values, SPI_OK_SELECT);
	{
		Oid			job_type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
		Datum		job = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		WorkerQuery("SELECT crm_internal.export_batch_sql($1)", 1, &job_type, &job, SPI_OK_SELECT);
	}
	{
		char	   *sql = ResultText(0, 1);

		SetJobRole(run_as);
		WorkerQuery(sql, 0, NULL, NULL, SPI_OK_SELECT);
		rows = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
		last_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		SetJobRole("none");
	}
	values[2] = rows;
	values[3] = last_id;
	WorkerQuery("SELECT crm_internal.export_batch_done($1, $2, $3, $4)", 4, types, values, SPI_OK_SELECT);
	return strcmp(ResultText(0, 1), "running") == 0;
}

/*
 * Claims the next batch of an import no worker holds: batch k is the rows
 * after (k - 1) * batch_size, from the cursor on, its turn locked for the
 * transaction.  Its rows as one jsonb array and its last ordinal; false when
 * no batch is left to claim.
 */
static bool
ClaimBatch(JobKey key, int64 cursor, int64 batch, int64 total, int64 *k, Datum *rows, Datum *upto)
{
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4];
	bool		isnull;

	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	for (*k = cursor / batch + 1; (*k - 1) * batch < total; (*k)++)
	{
		if (!LockTurn(key.job_id, *k, ExclusiveLock, false))
			continue;
		values[2] = Int8Arg((*k - 1) * batch);
		values[3] = Int8Arg(*k * batch);
		WorkerQuery("SELECT pg_catalog.jsonb_agg(r.r ORDER BY r.ordinal), pg_catalog.max(r.ordinal)"
					" FROM crm_internal.job_rows r"
					" WHERE r.workspace_id OPERATOR(pg_catalog.=) $1 AND r.job_id OPERATOR(pg_catalog.=) $2"
					" AND r.ordinal OPERATOR(pg_catalog.>) $3 AND r.ordinal OPERATOR(pg_catalog.<=) $4",
					4, types, values, SPI_OK_SELECT);
		*upto = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		/* none: done by the other worker since the cursor was read */
		if (isnull)
			continue;
		*rows = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
								  false, -1);
		return true;
	}
	return false;
}

/*
 * One batch of an import, in the current transaction: the next batch no
 * worker holds, imported as the job's role, and its outcome recorded.
 */
static BatchEnd
RunImportBatch(JobKey key)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	char	   *status;
	char	   *object;
	char	   *mode;
	char	   *run_as;
	int64		batch;
	int64		cursor;
	int64		total;
	int64		k;
	Datum		rows;
	Datum		upto;
	Datum		report[4];
	bool		isnull;

	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	/* not locked: the other worker's batch holds the row while it applies */
	WorkerQuery("SELECT j.status, j.object, j.mode, j.batch_size, j.processed_rows, j.total_rows,"
				" j.run_as::pg_catalog.text, j.user_id, j.created_by"
				" FROM crm.jobs j WHERE j.workspace_id OPERATOR(pg_catalog.=) $1"
				" AND j.id OPERATOR(pg_catalog.=) $2",
				2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return BATCH_LAST;
	status = ResultText(0, 1);
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
		return BATCH_LAST;
	object = ResultText(0, 2);
	mode = ResultText(0, 3);
	batch = pg_strtoint64(ResultText(0, 4));
	cursor = pg_strtoint64(ResultText(0, 5));
	total = pg_strtoint64(ResultText(0, 6));
	run_as = ResultText(0, 7);
	SetJobIdentity(key, ResultText(0, 8), ResultText(0, 9));
	if (!ClaimBatch(key, cursor, batch, total, &k, &rows, &upto))
		return BATCH_LAST;

	/* the import itself, as the role that started the job, in its turn */
	{
		Oid			itypes[2] = {JSONBOID, TEXTOID};
		Datum		ivalues[2];

		SetJobRole(run_as);
		ivalues[0] = rows;
		ivalues[1] = CStringGetTextDatum(mode);
		turn_job = key.job_id;
		turn_batch = k;
		/* the report as four arrays, aligned: one pass of the import's rows */
		WorkerQuery(psprintf("SELECT COALESCE(pg_catalog.array_agg(t.n::pg_catalog.int8), '{}'),"
							 " COALESCE(pg_catalog.array_agg(t.a), '{}'),"
							 " COALESCE(pg_catalog.array_agg(t.id), '{}'),"
							 " COALESCE(pg_catalog.array_agg(t.e), '{}')"
							 " FROM crm.%s($1, $2) AS t(n, a, id, e)",
							 strcmp(object, "companies") == 0 ? "import_companies" : "import_contacts"),
					2, itypes, ivalues, SPI_OK_SELECT);
		turn_batch = 0;
		for (int i = 0; i < 4; i++)
			report[i] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull),
										  false, -1);
		SetJobRole("none");
	}

	{
		Oid			dtypes[8] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
		Datum		dvalues[8] = {values[0], values[1], Int8Arg((k - 1) * batch), upto,
								  report[0], report[1], report[2], report[3]};

		WorkerQuery("SELECT crm_internal.job_batch_done($1, $2, $3, $4, $5, $6, $7, $8)",
					8, dtypes, dvalues, SPI_OK_SELECT);
	}
	status = ResultText(0, 1);
	if (status == NULL)
		return BATCH_UNDONE;
	return strcmp(status, "running") == 0 ? BATCH_MORE : BATCH_LAST;
}

/*
 * One batch of an export, in the current transaction, the job row locked.
 * Returns whether the job goes on.
 */
static BatchEnd
RunBatch(JobKey key, bool export)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	char	   *status;
	char	   *run_as;

	if (!export)
		return RunImportBatch(key);
	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	WorkerQuery("SELECT j.status, j.run_as::pg_catalog.text, j.user_id, j.created_by"
				" FROM crm.jobs j WHERE j.workspace_id OPERATOR(pg_catalog.=) $1"
				" AND j.id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
				2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return BATCH_LAST;
	status = ResultText(0, 1);
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
		return BATCH_LAST;
	run_as = ResultText(0, 2);
	SetJobIdentity(key, ResultText(0, 3), ResultText(0, 4));
	return RunExportBatch(key, run_as) ? BATCH_MORE : BATCH_LAST;
}

/*
 * The start of a job for this worker, in a transaction of its own: queued
 * becomes running.  Whether the job is an export, and whether it takes a
 * helper (a contacts import with more than one batch left); false when it
 * is over.
 */
static bool
StartJob(JobKey key, bool *export, bool *helped)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	bool		open;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	WorkerQuery("UPDATE crm.jobs j SET status = 'running', started_at = pg_catalog.now()"
				" WHERE j.workspace_id OPERATOR(pg_catalog.=) $1 AND j.id OPERATOR(pg_catalog.=) $2"
				" AND j.status OPERATOR(pg_catalog.=) 'queued'",
				2, types, values, SPI_OK_UPDATE);
	WorkerQuery("SELECT j.status OPERATOR(pg_catalog.=) 'running', j.kind OPERATOR(pg_catalog.=) 'export',"
				" j.kind OPERATOR(pg_catalog.=) 'import' AND j.object OPERATOR(pg_catalog.=) 'contacts'"
				" AND j.total_rows OPERATOR(pg_catalog.-) j.processed_rows OPERATOR(pg_catalog.>) j.batch_size"
				" FROM crm.jobs j WHERE j.workspace_id OPERATOR(pg_catalog.=) $1"
				" AND j.id OPERATOR(pg_catalog.=) $2",
				2, types, values, SPI_OK_SELECT);
	open = SPI_processed > 0 && strcmp(ResultText(0, 1), "t") == 0;
	*export = open && strcmp(ResultText(0, 2), "t") == 0;
	*helped = open && strcmp(ResultText(0, 3), "t") == 0;
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return open;
}

/* The job failed in a batch: record the error in a transaction of its own */
static void
FailJob(JobKey key, const char *message)
{
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		values[3];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	values[0] = Int8Arg(key.workspace_id);
	values[1] = Int8Arg(key.job_id);
	WorkerQuery("SELECT j.user_id, j.created_by FROM crm.jobs j"
				" WHERE j.workspace_id OPERATOR(pg_catalog.=) $1 AND j.id OPERATOR(pg_catalog.=) $2",
				2, types, values, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		SetJobIdentity(key, ResultText(0, 1), ResultText(0, 2));
		values[2] = CStringGetTextDatum(message);
		WorkerQuery("SELECT crm_internal.job_failed($1, $2, $3)", 3, types, values, SPI_OK_SELECT);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Runs the job batch by batch until it ends, or no batch is left for this
 * worker.  A batch that fails is rolled back; a deadlock or serialization
 * failure is tried again, anything else fails the job (the batches before
 * it stay).  A batch that found the one before it undone is rolled back
 * and the next one claimed again.
 */
static void
RunJob(JobKey key, int slot)
{
	volatile int tries = 0;
	bool		export;
	bool		helped;

	if (!StartJob(key, &export, &helped) || (slot > 0 && !helped))
		return;
	/* the helper: no slot free is no error, the first worker does it all */
	if (slot == 0 && helped)
		LaunchWorker(MyDatabaseId, key);
	for (;;)
	{
		MemoryContext cxt = CurrentMemoryContext;
		volatile BatchEnd end = BATCH_LAST;
		ErrorData  *volatile edata = NULL;

		CHECK_FOR_INTERRUPTS();
		PG_TRY();
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "crm job batch");
			end = RunBatch(key, export);
			SPI_finish();
			PopActiveSnapshot();
			/* deferred checks (plan limits) fire here: part of the batch */
			if (end == BATCH_UNDONE)
				AbortCurrentTransaction();
			else
				CommitTransactionCommand();
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			turn_batch = 0;
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();

		if (edata == NULL)
		{
			if (end != BATCH_UNDONE)
				tries = 0;
			if (end == BATCH_LAST)
				return;
			continue;
		}
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_TRANSACTION_ROLLBACK &&
			++tries < JOB_BATCH_TRIES)
			continue;
		ereport(LOG,
				(errmsg("crm job %lld failed: %s", (long long) key.job_id, edata->message)));
		FailJob(key, edata->message);
		return;
	}
}

/* The advisory lock of a worker's slot in a job: one worker holds each */
static bool
TryJobLock(JobKey key, int slot, bool release)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		got;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	values[0] = Int8Arg(key.job_id);
	values[1] = CStringGetTextDatum(slot == 0 ? "crm.jobs" : "crm.jobs helper");
	WorkerQuery(release ? "SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext($2), $1::pg_catalog.int4)"
				: "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($2), $1::pg_catalog.int4)",
				2, types, values, SPI_OK_SELECT);
	got = strcmp(ResultText(0, 1), "t") == 0;
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return got;
}

/* A slot of the job that no worker holds, locked, or -1 */
static int
TakeJobSlot(JobKey key)
{
	for (int slot = 0; slot < JOB_SLOTS; slot++)
		if (TryJobLock(key, slot, false))
			return slot;
	return -1;
}

/*
 * The next unfinished job of this database, other than the one just left,
 * with a slot that no worker holds, locked; the slot, or -1.
 */
static int
NextJob(JobKey *key, int64 left)
{
	List	   *candidates = NIL;
	ListCell   *lc;
	int			slot = -1;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int8Arg(left)};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	WorkerQuery("SELECT j.workspace_id, j.id FROM crm.jobs j"
				" WHERE j.status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'running'])"
				" AND j.id OPERATOR(pg_catalog.<>) $1"
				" ORDER BY j.created_at, j.id LIMIT 100",
				1, types, values, SPI_OK_SELECT);
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
		{
			JobKey	   *k = palloc(sizeof(JobKey));

			k->workspace_id = pg_strtoint64(ResultText(i, 1));
			k->job_id = pg_strtoint64(ResultText(i, 2));
			candidates = lappend(candidates, k);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, candidates)
	{
		JobKey		k = *(JobKey *) lfirst(lc);

		slot = TakeJobSlot(k);
		if (slot >= 0)
		{
			*key = k;
			break;
		}
	}
	list_free_deep(candidates);
	return slot;
}

/*
 * The worker's entry point: connected to the job's database as the
 * bootstrap superuser (PostgreSQL 15 lets a worker log in only as a role
 * that may log in, which an API role is not); each import runs as the job's
 * role.
 */
void
crm_job_worker_main(Datum main_arg)
{
	JobKey		key;
	int			slot;

	memcpy(&key, MyBgworkerEntry->bgw_extra, sizeof(key));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	/*
	 * An import's stage is a temporary table: a batch of 10,000 rows
	 * outgrows the default 8MB of local buffers, and every scan of the
	 * stage would go to the kernel.  Settable before the first temp table.
	 */
	SetConfigOption("temp_buffers", "32MB", PGC_USERSET, PGC_S_SESSION);
#ifdef __GLIBC__
	/*
	 * Every batch allocates and frees the same few megabytes (transition
	 * tables, the history's and the outbox's rows); glibc hands blocks over
	 * 128kB back to the kernel, and every batch paid the page faults of
	 * touching them again.  This process keeps them.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif

	slot = TakeJobSlot(key);
	while (slot >= 0)
	{
		RunJob(key, slot);
		TryJobLock(key, slot, true);
		slot = NextJob(&key, key.job_id);
	}
	proc_exit(0);
}
