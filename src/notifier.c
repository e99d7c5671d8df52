/*-------------------------------------------------------------------------
 *
 * notifier.c
 *	  The events notifier: one background worker per database that sends
 *	  NOTIFY crm_events once per crm.notify_interval when crm.events has
 *	  advanced, so LISTEN crm_events works while no writing commit takes the
 *	  database-wide notify lock (crm.notify_events = off).
 *
 * crm is not in shared_preload_libraries, so the worker is dynamic, as the
 * jobs' (jobs.c): a transaction that writes events with crm.notify_interval
 * above 0 looks, at most once a second per backend, whether the worker of
 * its database runs (it holds a session advisory lock; the probe is a
 * conditional share lock on it) and, if not, asks for one when it commits.
 * The worker stops after NOTIFIER_IDLE_MS without a new event; the next
 * writer starts it again.  It re-checks the sequence after giving up its
 * lock, so a writer that saw it alive cannot be left without one.
 *
 * When to notify: consumers read with crm.events_since, which delivers an
 * event once every transaction older than it has ended.  Each tick reads
 * crm.events_id_seq, then the next transaction id to be assigned.  A writer
 * takes its transaction id before its event id (events.c), so every
 * transaction that holds an event id up to the value read has a
 * transaction id below that one (a snapshot's xmax would not do: it is
 * one past the latest *completed* transaction, and a running one may be
 * above it); once a later snapshot's xmin has reached it, all of them have
 * ended and their events are deliverable: then, one NOTIFY.  Events that
 * arrive meanwhile wait for the next such point.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_database.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "crm.h"

PGDLLEXPORT void crm_notifier_main(Datum main_arg);

/* A worker with no new event for this long stops */
#define NOTIFIER_IDLE_MS 60000
/* How often a writing backend looks whether the worker runs */
#define NOTIFIER_PROBE_MS 1000

/* crm.notify_interval: 0, no notifier */
static int	notify_interval = 0;

static TimestampTz last_probe = 0;
static bool launch_at_commit = false;
static bool callback_registered = false;
static bool warned_no_slot = false;

void
CrmNotifierInit(void)
{
	DefineCustomIntVariable("crm.notify_interval",
							"Interval of the events notifier: NOTIFY crm_events once per interval when crm.events advanced.",
							"0, no notifier.  Pair it with crm.notify_events = off: LISTEN keeps working while no commit takes the notify lock.",
							&notify_interval,
							0, 0, 10000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* The worker's lock: one notifier per database */
static void
NotifierLockTag(LOCKTAG *tag)
{
	/* the key of pg_advisory_lock(hashtext('crm.notifier')) */
	int64		key = DatumGetInt32(DirectFunctionCall1Coll(hashtext, C_COLLATION_OID,
															CStringGetTextDatum("crm.notifier")));

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (key >> 32), (uint32) key, 1);
}

static void
NotifierXactCallback(XactEvent event, void *arg)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	if (event != XACT_EVENT_COMMIT)
	{
		if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
			launch_at_commit = false;
		return;
	}
	if (!launch_at_commit)
		return;
	launch_at_commit = false;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "crm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "crm_notifier_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "crm notifier");
	snprintf(worker.bgw_type, BGW_MAXLEN, "crm notifier");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &notify_interval, sizeof(int));
	/* no error may be raised at commit: without a slot, say so once */
	if (!RegisterDynamicBackgroundWorker(&worker, &handle) && !warned_no_slot)
	{
		warned_no_slot = true;
		ereport(WARNING,
				(errmsg("no background worker slot free for the crm events notifier"),
				 errhint("LISTEN crm_events stays silent until one is free; max_worker_processes limits the slots.")));
	}
}

/*
 * Called by the events writers for each workspace a statement writes: with
 * the notifier on, makes sure it runs when this transaction commits.
 */
void
CrmNotifierEnsure(void)
{
	TimestampTz now;
	LOCKTAG		tag;

	if (notify_interval <= 0 || launch_at_commit)
		return;
	now = GetCurrentTimestamp();
	if (last_probe != 0 && !TimestampDifferenceExceeds(last_probe, now, NOTIFIER_PROBE_MS))
		return;
	last_probe = now;

	NotifierLockTag(&tag);
	if (LockAcquire(&tag, ShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;					/* the worker holds it */
	LockRelease(&tag, ShareLock, false);

	if (!callback_registered)
	{
		RegisterXactCallback(NotifierXactCallback, NULL);
		callback_registered = true;
	}
	launch_at_commit = true;
}

/* The worker */

typedef struct NotifierState
{
	int64		seen;			/* crm.events_id_seq when last read */
	bool		pending;		/* events not yet announced */
	int64		pending_next;	/* ... deliverable once xmin reaches this */
	bool		more;			/* and more events after those */
	int64		more_next;
} NotifierState;

static int64
QueryInt8(const char *sql, int col)
{
	bool		isnull;
	Datum		d;

	/* not read-only: each query takes a snapshot of its own */
	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm notifier: query failed: %s", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * One look: the sequence, then the next transaction id, then a snapshot's
 * xmin; a NOTIFY (sent when this transaction commits) once the events seen
 * are deliverable.
 * Returns whether anything new was seen or is still to be announced.
 */
static bool
NotifierTick(NotifierState *st)
{
	int64		seq;
	int64		next;
	int64		xmin;
	bool		busy;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "crm notifier");

	seq = QueryInt8("SELECT s.last_value FROM crm.events_id_seq s", 1);
	next = (int64) U64FromFullTransactionId(ReadNextFullTransactionId());
	xmin = QueryInt8("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())"
					 "::pg_catalog.text::pg_catalog.int8", 1);

	busy = seq != st->seen;
	if (busy)
	{
		st->seen = seq;
		if (!st->pending)
		{
			st->pending = true;
			st->pending_next = next;
		}
		else
		{
			st->more = true;
			st->more_next = next;
		}
	}
	if (st->pending && xmin >= st->pending_next)
	{
		Async_Notify("crm_events", "");
		st->pending = st->more && xmin < st->more_next;
		st->pending_next = st->more_next;
		st->more = false;
	}
	busy = busy || st->pending;

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return busy;
}

/*
 * Whether DROP DATABASE (or ALTER DATABASE RENAME or SET TABLESPACE) holds
 * or waits for the database's lock: it then waits a few seconds for the
 * database's sessions to end, this one included, so the worker leaves.
 * The next writer after it starts another.
 */
static bool
DatabaseLockedOut(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, RowExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, RowExclusiveLock, true);
	return false;
}

/*
 * The worker's entry point: connected to its database as the bootstrap
 * superuser, it reads only the sequence and sends only NOTIFY.  It wakes at
 * least once a second, so that a DROP DATABASE, which waits five, finds it
 * gone whatever the interval.
 */
void
crm_notifier_main(Datum main_arg)
{
	NotifierState st = {-1, false, 0, false, 0};
	int			interval;
	LOCKTAG		tag;
	TimestampTz last_busy;
	TimestampTz last_tick;

	memcpy(&interval, MyBgworkerEntry->bgw_extra, sizeof(int));
	interval = Max(interval, 1);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);

	NotifierLockTag(&tag);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		proc_exit(0);			/* another one runs */

	last_busy = last_tick = GetCurrentTimestamp();
	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(interval, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (DatabaseLockedOut())
			break;
		if (!TimestampDifferenceExceeds(last_tick, GetCurrentTimestamp(), interval - 1))
			continue;
		last_tick = GetCurrentTimestamp();
		if (NotifierTick(&st))
			last_busy = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(last_busy, GetCurrentTimestamp(), NOTIFIER_IDLE_MS))
		{
			/*
			 * Idle: give the lock up, then look once more.  A writer that
			 * took an id before this look is seen by it; one after it finds
			 * the lock free and starts a new worker.
			 */
			LockRelease(&tag, ExclusiveLock, true);
			if (!NotifierTick(&st))
				break;
			if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
				break;			/* a new worker has taken over */
			last_busy = GetCurrentTimestamp();
		}
	}
	proc_exit(0);
}
