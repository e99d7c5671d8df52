/*-------------------------------------------------------------------------
 *
 * identify.c
 *	  crm.identify(): find or create the contact a set of identity keys
 *	  (verified id, identifier, email, phone) names, merging the contacts
 *	  they join.
 *
 * Every page view of a tracked visitor and every inbound message calls this,
 * so it is in C: the advisory locks go straight to the lock manager, the
 * statements are prepared once per backend and kept, there is one index
 * probe per key present, and a call that would change nothing writes
 * nothing.  Its statements name every object and operator with its schema,
 * so the function is declared without SET search_path, whose GUC save and
 * restore on every call was a measurable share of its time.  The rules are
 * those of SPEC §6 and docs/identity.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "crm.h"
#include "merge.h"

PG_FUNCTION_INFO_V1(crm_identify);

/* The identity keys, in lookup priority order */
enum
{
	KEY_VERIFIED_ID,
	KEY_IDENTIFIER,
	KEY_EMAIL,
	KEY_PHONE,
	NKEYS
};

/* Advisory lock prefixes of the keys, as crm_hidden.lock_identity_keys writes them */
static const char *const key_prefix[NKEYS] = {"v:", "i:", "e:", "p:"};
/* Each key's unique index among live contacts: (workspace_id, key) WHERE status < 'merged' */
static const char *const key_index[NKEYS] = {"contacts_verified_id_key", "contacts_identifier_key",
											 "contacts_email_key", "contacts_phone_key"};

/* The identity sources, in their enum's order */
enum
{
	SOURCE_ANONYMOUS,
	SOURCE_SELF_REPORTED,
	SOURCE_VERIFIED,
	NSOURCES
};
static const char *const source_label[NSOURCES] = {"anonymous", "self_reported", "verified"};

/* The fields identify may fill, and whether a live contact has them blank */
enum
{
	FIELD_NAME,
	FIELD_EMAIL,
	FIELD_PHONE,
	FIELD_IDENTIFIER,
	NFIELDS
};
static const char *const field_column[NFIELDS] = {"name", "email", "phone", "identifier"};

/*
 * The postal address and social profiles a call may set, in its argument
 * order, each normalised by the rule of the contacts trigger for its column
 * (sql/contacts.sql), so that the update compares stored forms.  The first
 * NADDRESS are the address, which is taken or left as one unit.
 */
#define NPROFILE 12
#define NADDRESS 6
#define FIRST_PROFILE_ARG 9		/* street, after source */
static const char *const profile_column[NPROFILE] = {
	"street", "address_line2", "city", "region", "postal_code", "country",
	"linkedin", "x", "instagram", "facebook", "github", "website"};
static const char *const profile_kind[NPROFILE] = {
	"trim", "trim", "trim", "trim", "postal_code", "address_country",
	"social=linkedin", "social=x", "social=instagram", "social=facebook", "social=github", "website"};
/*
 * The trigger's max=N rules of the same columns, checked here too: a value
 * the call does not store (a less trusted one) is refused all the same.
 */
static const Size profile_max[NPROFILE] = {500, 500, 200, 200, 0, 0, 0, 0, 0, 0, 0, 2048};

/* A live contact one of the keys points at, as the probe read it */
typedef struct Match
{
	int64		id;
	ItemPointerData tid;		/* the row version the probe read */
	char	   *verified_id;
	int			source;
	TimestampTz created_at;
	bool		blank[NFIELDS];
	char	   *name;			/* NULL when blank */
	bool		first_seen_null;
	bool		last_seen_null;
	TimestampTz first_seen_at;
	TimestampTz last_seen_at;
} Match;

/* One call's arguments, trimmed and normalised */
typedef struct Identity
{
	int64		ws;
	char	   *keys[NKEYS];	/* NULL for a key not given */
	char	   *name;
	Jsonb	   *props;
	TimestampTz seen;
	int			source;			/* the trust the keys carry */
	char	   *module;			/* source =>: the product module calling, or NULL */
	char	   *profile[NPROFILE];	/* stored forms; NULL for one not given */
	bool		has_profile;	/* any of them given */
} Identity;

/* The parameters of the write statements, $1 to $24 */
enum
{
	P_WS,
	P_ID,
	P_NAME,
	P_EMAIL,
	P_PHONE,
	P_IDENTIFIER,
	P_VERIFIED_ID,
	P_SOURCE,
	P_PROPERTIES,
	P_SEEN,
	P_TID,						/* seen_plan only */
	P_MODULE,					/* insert_plan and update_plan */
	P_PROFILE,					/* $13..$24: profile_column, in order */
	P_MODULE_SEEN = P_PROFILE + NPROFILE,	/* $25: {module: seen}, update_plan */
	NPARAMS
};

static SPIPlanPtr keys_plan = NULL;
/* [1]: with the address and profile columns */
static SPIPlanPtr insert_plan[2];
static SPIPlanPtr update_plan[2];
static SPIPlanPtr seen_plan = NULL;
static SPIPlanPtr seen_by_id_plan = NULL;
/* $8 is a crm.identity_source: these are its labels, source_label in order */
static Datum source_value[NSOURCES];

static SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "crm identify: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "crm identify: SPI_keepplan failed");
	return plan;
}

/*
 * The address and profile parts of insert_plan (its columns and values) and
 * update_plan (its SET list and its changed-anything test).  The address
 * given replaces the stored one as a whole, as a merge keeps one whole
 * address: when the call is trusted as much as the contact (as for the
 * name), or when the contact has no address at all.  Each profile follows
 * the name.
 */
static void
ProfileSql(StringInfo cols, StringInfo vals, StringInfo set, StringInfo changed)
{
	const char *trusted = "$8::crm.identity_source OPERATOR(pg_catalog.>=) c.identity_source";
	StringInfoData given;
	StringInfoData stored;
	char	   *take;
	int			i;

	initStringInfo(&given);
	initStringInfo(&stored);
	for (i = 0; i < NADDRESS; i++)
	{
		appendStringInfo(&given, "%s$%d", i ? ", " : "", P_PROFILE + i + 1);
		appendStringInfo(&stored, "%sc.%s", i ? ", " : "", profile_column[i]);
	}
	take = psprintf("(pg_catalog.num_nonnulls(%s) OPERATOR(pg_catalog.>) 0"
					" AND (%s OR pg_catalog.num_nonnulls(%s) OPERATOR(pg_catalog.=) 0))",
					given.data, trusted, stored.data);
	/* a row comparison, not jsonb_build_array(): Citus refuses a STABLE function of a column in an UPDATE */
	appendStringInfo(changed, " OR (%s AND ROW(%s) IS DISTINCT FROM ROW(%s))",
					 take, stored.data, given.data);

	for (i = 0; i < NPROFILE; i++)
	{
		const char *col = profile_column[i];
		int			p = P_PROFILE + i + 1;

		appendStringInfo(cols, ", %s", col);
		appendStringInfo(vals, ", $%d", p);
		if (i < NADDRESS)
		{
			appendStringInfo(set, ", %s = CASE WHEN %s THEN $%d ELSE c.%s END", col, take, p, col);
			continue;
		}
		appendStringInfo(set, ", %s = CASE WHEN $%d IS NOT NULL AND %s THEN $%d ELSE coalesce(c.%s, $%d) END",
						 col, p, trusted, p, col, p);
		appendStringInfo(changed, " OR (c.%s IS NULL AND $%d IS NOT NULL)"
						 " OR ($%d IS NOT NULL AND c.%s OPERATOR(pg_catalog.<>) $%d AND %s)",
						 col, p, p, col, p, trusted);
	}
}

/*
 * The insert and the full update, with the address and profile columns
 * (profiles) or without them: a call that gives none, the common one, runs
 * the smaller statements.
 */
static void
PrepareWritePlans(bool modules, bool profiles, Oid *write_args, SPIPlanPtr *insert, SPIPlanPtr *update)
{
	StringInfoData pcols;
	StringInfoData pvals;
	StringInfoData pset;
	StringInfoData pchanged;

	initStringInfo(&pcols);
	initStringInfo(&pvals);
	initStringInfo(&pset);
	initStringInfo(&pchanged);
	if (profiles)
		ProfileSql(&pcols, &pvals, &pset, &pchanged);

	/*
	 * $2 and $11 are unused: the statements take the same parameter list.
	 * The module's key is coalesced where the CASE has already ruled NULL
	 * out: Citus evaluates the functions of a routed statement on the
	 * coordinator before it sends it, CASE or not.  The update calls no
	 * STABLE function in a CASE, nor on a column, which Citus refuses in an
	 * UPDATE: $8 comes typed, $25 built in C, and the module's stored time
	 * is read by an IMMUTABLE function.
	 */
	*insert = PrepareKept(psprintf(
		"INSERT INTO crm.contacts AS c (workspace_id, name, email, phone, identifier, verified_id,"
		"                             identity_source, properties, first_seen_at, last_seen_at%s%s)"
		" VALUES ($1, $3, $4, $5, $6, $7, $8::crm.identity_source, $9, $10, $10%s%s)"
		" RETURNING c.id",
		modules ? ", active_modules" : "", pcols.data,
		modules ? ", CASE WHEN $12 IS NULL THEN '{}'::pg_catalog.jsonb"
		"            ELSE pg_catalog.jsonb_build_object(coalesce($12, ''), $10) END" : "", pvals.data),
		NPARAMS, write_args);

	/*
	 * Blank fields are filled, identity_source only rises, a source at least
	 * as trusted as the stored one overrides the name and properties (a
	 * weaker one only fills a blank name and missing keys; nothing is
	 * overwritten with empty), first_seen_at only moves back and
	 * last_seen_at only forward, the calling module's time only forward;
	 * the address and profiles as ProfileSql says.  The WHERE clause leaves the row alone when none of that changes
	 * anything; it is re-checked on the newest row version if a concurrent
	 * update got there first.
	 */
	*update = PrepareKept(psprintf(
		"UPDATE crm.contacts c"
		"   SET name = CASE WHEN $3 IS NOT NULL AND $8::crm.identity_source OPERATOR(pg_catalog.>=) c.identity_source"
		"                   THEN $3 ELSE coalesce(c.name, $3) END,"
		"       email = coalesce(c.email, $4), phone = coalesce(c.phone, $5),"
		"       identifier = coalesce(c.identifier, $6), verified_id = coalesce(c.verified_id, $7),"
		"       identity_source = greatest(c.identity_source, $8::crm.identity_source),"
		"       properties = CASE WHEN $8::crm.identity_source OPERATOR(pg_catalog.>=) c.identity_source"
		"                         THEN c.properties OPERATOR(pg_catalog.||) $9"
		"                         ELSE $9 OPERATOR(pg_catalog.||) c.properties END,"
		"       first_seen_at = least(c.first_seen_at, $10),"
		"       last_seen_at = greatest(c.last_seen_at, $10)%s%s"
		" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2"
		"   AND ((c.name IS NULL AND $3 IS NOT NULL) OR (c.email IS NULL AND $4 IS NOT NULL)"
		"        OR ($3 IS NOT NULL AND c.name OPERATOR(pg_catalog.<>) $3"
		"            AND $8::crm.identity_source OPERATOR(pg_catalog.>=) c.identity_source)%s"
		"        OR (c.phone IS NULL AND $5 IS NOT NULL) OR (c.identifier IS NULL AND $6 IS NOT NULL)"
		"        OR (c.verified_id IS NULL AND $7 IS NOT NULL)"
		"        OR c.identity_source OPERATOR(pg_catalog.<) $8::crm.identity_source"
		"        OR c.first_seen_at IS NULL OR c.first_seen_at OPERATOR(pg_catalog.>) $10"
		"        OR c.last_seen_at IS NULL OR c.last_seen_at OPERATOR(pg_catalog.<) $10"
		"        OR ($9 OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb"
		"            AND CASE WHEN $8::crm.identity_source OPERATOR(pg_catalog.>=) c.identity_source"
		"                     THEN c.properties OPERATOR(pg_catalog.||) $9"
		"                     ELSE $9 OPERATOR(pg_catalog.||) c.properties END"
		"                OPERATOR(pg_catalog.<>) c.properties)%s)",
		modules ? ","
		"       active_modules = CASE WHEN $12 IS NULL"
		"                               OR NOT crm_hidden.module_used_before(c.active_modules, $12, $10)"
		"                             THEN c.active_modules"
		"                             ELSE c.active_modules OPERATOR(pg_catalog.||) $25 END" : "",
		pset.data,
		modules ? ""
		"        OR ($12 IS NOT NULL AND crm_hidden.module_used_before(c.active_modules, $12, $10))" : "",
		pchanged.data),
		NPARAMS, write_args);
}

static void
PreparePlans(void)
{
	Oid			write_args[NPARAMS] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
								  TEXTOID, JSONBOID, TIMESTAMPTZOID, TIDOID, TEXTOID};
	bool		modules;
	int			i;

	if (seen_plan != NULL)
		return;
	/* a 0.2.0 install (which has no source argument) has no active_modules */
	modules = CrmContactsHaveActiveModules();
	for (i = P_PROFILE; i < P_PROFILE + NPROFILE; i++)
		write_args[i] = TEXTOID;
	write_args[P_MODULE_SEEN] = JSONBOID;
	write_args[P_SOURCE] = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("identity_source"),
										   ObjectIdGetDatum(get_namespace_oid("crm", false)));
	if (!OidIsValid(write_args[P_SOURCE]))
		elog(ERROR, "crm identify: type crm.identity_source not found");
	for (i = 0; i < NSOURCES; i++)
		source_value[i] = DirectFunctionCall2(enum_in, CStringGetDatum(source_label[i]),
											  ObjectIdGetDatum(write_args[P_SOURCE]));
	keys_plan = PrepareKept("SELECT c.verified_id, c.email, c.phone, c.identifier FROM crm.contacts c"
							" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
							2, write_args);

	PrepareWritePlans(modules, false, write_args, &insert_plan[0], &update_plan[0]);
	/* nor a street, nor the arguments that set one */
	if (CrmContactsHaveColumn("street"))
		PrepareWritePlans(modules, true, write_args, &insert_plan[1], &update_plan[1]);
	else
	{
		insert_plan[1] = insert_plan[0];
		update_plan[1] = update_plan[0];
	}

	/*
	 * The common repeat call (a page view) that only moves the seen times:
	 * the same effect with a far smaller statement to start, reaching the
	 * row version the probe read by its TID instead of descending the
	 * primary key again.  The values are still computed from the row, and
	 * an UPDATE follows a version updated concurrently, so a change that
	 * got there first is built upon, not overwritten.  A version replaced
	 * before the statement's snapshot is not seen at all: the caller then
	 * runs update_plan, which judges the newer row afresh.
	 */
	seen_plan = PrepareKept(
		"UPDATE crm.contacts c"
		"   SET first_seen_at = least(c.first_seen_at, $10), last_seen_at = greatest(c.last_seen_at, $10)"
		" WHERE c.ctid OPERATOR(pg_catalog.=) $11"
		"   AND c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2"
		"   AND (c.first_seen_at IS NULL OR c.first_seen_at OPERATOR(pg_catalog.>) $10"
		"        OR c.last_seen_at IS NULL OR c.last_seen_at OPERATOR(pg_catalog.<) $10)",
		11, write_args);
	/* the same by id: Citus routes no statement that names a ctid */
	seen_by_id_plan = PrepareKept(
		"UPDATE crm.contacts c"
		"   SET first_seen_at = least(c.first_seen_at, $10), last_seen_at = greatest(c.last_seen_at, $10)"
		" WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2"
		"   AND (c.first_seen_at IS NULL OR c.first_seen_at OPERATOR(pg_catalog.>) $10"
		"        OR c.last_seen_at IS NULL OR c.last_seen_at OPERATOR(pg_catalog.<) $10)",
		10, write_args);
}

/* btrim(): surrounding spaces go, and a value left empty is no value */
static char *
TrimmedArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *s;
	char	   *end;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		end--;
	*end = '\0';
	return *s ? s : NULL;
}

static Datum
TextOrNull(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static int
CompareHashes(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y);
}

/*
 * Take the transaction-level advisory locks of crm_hidden.lock_identity_keys: the
 * workspace lock shared (crm.import_contacts takes it exclusively), then one
 * exclusive lock per key hash, in ascending order so that calls with
 * overlapping keys cannot deadlock.  The tags are those of
 * pg_advisory_xact_lock(bigint), so SQL callers interlock with us.
 */
static void
LockKeys(int64 ws, char *const *keys)
{
	int64		hashes[NKEYS];
	int			n = 0;
	int			i;
	LOCKTAG		tag;
	int64		h;

	h = DatumGetInt64(DirectFunctionCall2Coll(hashtextextended, DEFAULT_COLLATION_OID,
											  CStringGetTextDatum("crm.identity"), Int64GetDatum(ws)));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) h >> 32), (uint32) h, 1);
	(void) LockAcquire(&tag, ShareLock, false, false);

	for (i = 0; i < NKEYS; i++)
	{
		if (keys[i] == NULL)
			continue;
		hashes[n++] = DatumGetInt64(DirectFunctionCall2Coll(hashtextextended, DEFAULT_COLLATION_OID,
															CStringGetTextDatum(psprintf("crm.identity:%s%s", key_prefix[i], keys[i])),
															Int64GetDatum(ws)));
	}
	qsort(hashes, n, sizeof(int64), CompareHashes);
	for (i = 0; i < n; i++)
	{
		/* a hash that two keys share is locked once */
		if (i > 0 && hashes[i] == hashes[i - 1])
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) hashes[i] >> 32), (uint32) hashes[i], 1);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
}

/*
 * The survivor comes first: the contact holding this verified id, then a
 * verified one, then the oldest.
 */
static const char *cmp_vid;

static int
CompareMatches(const void *a, const void *b)
{
	const Match *x = a;
	const Match *y = b;
	bool		xv = cmp_vid && x->verified_id && strcmp(x->verified_id, cmp_vid) == 0;
	bool		yv = cmp_vid && y->verified_id && strcmp(y->verified_id, cmp_vid) == 0;

	if (xv != yv)
		return xv ? -1 : 1;
	if ((x->source == SOURCE_VERIFIED) != (y->source == SOURCE_VERIFIED))
		return x->source == SOURCE_VERIFIED ? -1 : 1;
	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id);
}

/* The rank of a crm.identity_source label, its OIDs looked up once */
static int
SourceRank(Oid enumtype, Oid label)
{
	static Oid	type = InvalidOid;
	static Oid	labels[NSOURCES];
	int			i;

	if (type != enumtype)
	{
		for (i = 0; i < NSOURCES; i++)
			labels[i] = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(source_label[i]),
															 ObjectIdGetDatum(enumtype)));
		type = enumtype;
	}
	for (i = 0; i < NSOURCES; i++)
		if (labels[i] == label)
			return i;
	elog(ERROR, "crm identify: unknown identity source %u", label);
}

static Datum
Column(TupleTableSlot *slot, const char *name, bool *isnull)
{
	return slot_getattr(slot, SPI_fnumber(slot->tts_tupleDescriptor, name), isnull);
}

/* What the survivor choice and the change check need of a contact the probe found */
static void
ReadMatch(TupleTableSlot *slot, int64 id, Match *m)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	bool		isnull;
	int			attnum;
	Datum		v;
	int			i;

	m->id = id;
	m->tid = slot->tts_tid;
	v = Column(slot, "verified_id", &isnull);
	m->verified_id = isnull ? NULL : TextDatumGetCString(v);
	attnum = SPI_fnumber(desc, "identity_source");
	m->source = SourceRank(TupleDescAttr(desc, attnum - 1)->atttypid,
						   DatumGetObjectId(slot_getattr(slot, attnum, &isnull)));
	m->created_at = DatumGetTimestampTz(Column(slot, "created_at", &isnull));
	for (i = 0; i < NFIELDS; i++)
		(void) Column(slot, field_column[i], &m->blank[i]);
	m->name = m->blank[FIELD_NAME] ? NULL : TextDatumGetCString(Column(slot, "name", &isnull));
	m->first_seen_at = DatumGetTimestampTz(Column(slot, "first_seen_at", &m->first_seen_null));
	m->last_seen_at = DatumGetTimestampTz(Column(slot, "last_seen_at", &m->last_seen_null));
}

/*
 * The live contact holding a key, read straight from the key's unique index
 * rather than through a query: a query's executor start-up costs more than
 * the probe itself, and crm.identify() is the busiest call of the CRM.  The
 * index holds live contacts only, and the scan is confined to the current
 * workspace, which is what the tables' RLS policy confines a role to.
 * Appends it to matches[0..n) unless an earlier key found it; returns the
 * new count.
 */
static int
ProbeKey(Relation rel, TupleTableSlot *slot, Snapshot snap, int k, int64 ws, const char *value,
		 Match *matches, int n)
{
	Oid			indexoid = get_relname_relid(key_index[k], RelationGetNamespace(rel));
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData skey[2];

	if (!OidIsValid(indexoid))
		elog(ERROR, "crm identify: index crm.%s is missing", key_index[k]);
	index = index_open(indexoid, AccessShareLock);
	ScanKeyEntryInitialize(&skey[0], 0, 1, BTEqualStrategyNumber, INT8OID, InvalidOid,
						   F_INT8EQ, Int64GetDatum(ws));
	ScanKeyEntryInitialize(&skey[1], 0, 2, BTEqualStrategyNumber, TEXTOID, index->rd_indcollation[1],
						   F_TEXTEQ, CStringGetTextDatum(value));
	scan = index_beginscan(rel, index, snap, 2, 0);
	index_rescan(scan, skey, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		int64		id = DatumGetInt64(Column(slot, "id", &isnull));
		int			i;

		for (i = 0; i < n; i++)
			if (matches[i].id == id)
				break;
		if (i < n)
			continue;
		/* unique indexes: at most one live contact per key */
		if (n == NKEYS)
			elog(ERROR, "crm identify: more live contacts than keys");
		ReadMatch(slot, id, &matches[n++]);
	}
	index_endscan(scan);
	index_close(index, AccessShareLock);
	return n;
}

/* Each key's column, for ProbeKeyByQuery */
static const char *const key_column[NKEYS] = {"verified_id", "identifier", "email", "phone"};
static SPIPlanPtr probe_plan[NKEYS];

/*
 * ProbeKey through a query, for a Citus table, whose heap and indexes on
 * the coordinator are an empty shell: Citus routes the query to the
 * workspace's shard.  As the owner (a valid owner), past row-level
 * security, as the probe reads, or as the caller when its policies show it
 * the whole workspace (FindMatches).  The row's TID is left invalid:
 * UpdateSurvivor then updates by id.
 */
static int
ProbeKeyByQuery(Oid owner, int k, int64 ws, const char *value, Match *matches, int n)
{
	Datum		args[2] = {Int64GetDatum(ws), CStringGetTextDatum(value)};
	CrmSavedUser saved;
	TupleTableSlot *slot;

	if (probe_plan[k] == NULL)
	{
		Oid			argtypes[2] = {INT8OID, TEXTOID};

		probe_plan[k] = PrepareKept(psprintf("SELECT c.* FROM crm.contacts c"
											 " WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
											 "   AND c.%s OPERATOR(pg_catalog.=) $2", key_column[k]),
									2, argtypes);
	}
	if (OidIsValid(owner))
		CrmBecomeOwner(owner, &saved);
	if (SPI_execute_plan(probe_plan[k], args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm identify: reading the contact of a key failed");
	if (OidIsValid(owner))
		CrmRestoreUser(&saved);
	slot = MakeSingleTupleTableSlot(SPI_tuptable->tupdesc, &TTSOpsHeapTuple);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		id;
		int			i;

		ExecStoreHeapTuple(SPI_tuptable->vals[r], slot, false);
		id = DatumGetInt64(Column(slot, "id", &isnull));
		for (i = 0; i < n; i++)
			if (matches[i].id == id)
				break;
		if (i < n)
			continue;
		if (n == NKEYS)
			elog(ERROR, "crm identify: more live contacts than keys");
		ReadMatch(slot, id, &matches[n]);
		ItemPointerSetInvalid(&matches[n].tid);
		n++;
	}
	ExecDropSingleTupleTableSlot(slot);
	return n;
}

/*
 * The privileges a query reading what the probes read would need, refused
 * as the executor refuses them: naming the table.
 */
static void
CheckReadable(Relation rel)
{
	static const char *const cols[] = {"workspace_id", "id", "status", "verified_id", "identity_source",
									   "created_at", "name", "email", "phone", "identifier",
									   "first_seen_at", "last_seen_at"};
	int			i;

	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
		return;
	for (i = 0; i < lengthof(cols); i++)
		if (pg_attribute_aclcheck(RelationGetRelid(rel), SPI_fnumber(RelationGetDescr(rel), cols[i]),
								  GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
}

/*
 * What the update of the one contact found would change, judged from the
 * row the probe read: nothing (the call writes nothing), only the seen
 * times, or more.
 */
typedef enum
{
	CHANGES_NOTHING,
	CHANGES_SEEN,
	CHANGES_MORE
} Changes;

static Changes
ChangesOf(const Match *m, const Identity *who)
{
	const char *given[NFIELDS] = {who->name, who->keys[KEY_EMAIL], who->keys[KEY_PHONE],
								  who->keys[KEY_IDENTIFIER]};
	int			i;

	if (JB_ROOT_COUNT(who->props) > 0 || who->source > m->source ||
		(who->keys[KEY_VERIFIED_ID] && !m->verified_id) || who->module || who->has_profile ||
		(who->name && who->source >= m->source && (m->name == NULL || strcmp(who->name, m->name) != 0)))
		return CHANGES_MORE;
	for (i = 0; i < NFIELDS; i++)
		if (given[i] && m->blank[i])
			return CHANGES_MORE;
	if (m->first_seen_null || m->last_seen_null || m->first_seen_at > who->seen ||
		m->last_seen_at < who->seen)
		return CHANGES_SEEN;
	return CHANGES_NOTHING;
}

/*
 * What a probe of the local table read under: the snapshot's count of
 * completed transactions and our command id.  Two snapshots with the same
 * of both see the same rows (PostgreSQL reuses a snapshot on that test), so
 * the locked path does not probe again what the unlocked one just read
 * when nothing committed in between, the commonest case of a creating
 * call.  completions 0: nothing to reuse.
 */
typedef struct ProbeRead
{
	uint64		completions;
	CommandId	curcid;
	int			nmatches;
} ProbeRead;

/*
 * The distinct live contacts the keys point at, survivor first.  With a
 * read of the same keys (prior), reused when the snapshot sees what it saw.
 */
static int
FindMatches(int64 ws, char *const *keys, Match *matches, ProbeRead *prior)
{
	Oid			relid = get_relname_relid("contacts", get_namespace_oid("crm", false));
	Relation	rel;
	TupleTableSlot *slot;
	Snapshot	snap;
	int			n = 0;
	int			k;

	rel = table_open(relid, RowExclusiveLock);
	CheckReadable(rel);
	if (CrmIsCitusTable(relid))
	{
		const char *team;

		/*
		 * On a coordinator, in a transaction block, the caller's own read
		 * (CrmCitusReadAsCaller): the owner's is refused once the
		 * transaction wrote the workspace.  Not for a restricted member,
		 * whose policies hide the contacts of others, which it must find.
		 */
		Oid			owner = CrmCitusReadAsCaller(relid, ws) && !CrmPrivacyRestricted(ws, &team, INT_MAX) ?
			InvalidOid : CrmRelationOwner(relid);

		table_close(rel, NoLock);
		for (k = 0; k < NKEYS; k++)
			if (keys[k] != NULL)
				n = ProbeKeyByQuery(owner, k, ws, keys[k], matches, n);
		cmp_vid = keys[KEY_VERIFIED_ID];
		qsort(matches, n, sizeof(Match), CompareMatches);
		prior->completions = 0;
		return n;
	}

	/* a new snapshot, as a query would take: what committed before our locks were granted */
	CommandCounterIncrement();
	snap = GetTransactionSnapshot();
	if (prior->completions != 0 && prior->completions == snap->snapXactCompletionCount &&
		prior->curcid == snap->curcid)
	{
		table_close(rel, NoLock);
		return prior->nmatches;
	}
	prior->completions = snap->snapXactCompletionCount;
	prior->curcid = snap->curcid;
	slot = table_slot_create(rel, NULL);
	PushActiveSnapshot(snap);
	for (k = 0; k < NKEYS; k++)
		if (keys[k] != NULL)
			n = ProbeKey(rel, slot, GetActiveSnapshot(), k, ws, keys[k], matches, n);
	PopActiveSnapshot();

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	cmp_vid = keys[KEY_VERIFIED_ID];
	qsort(matches, n, sizeof(Match), CompareMatches);
	prior->nmatches = n;
	return n;
}

/* The nulls of the statements' parameters in the 'n'/' ' form SPI takes */
static void
NullFlags(const bool *nulls, int nparams, char *flags)
{
	int			i;

	for (i = 0; i < nparams; i++)
		flags[i] = nulls[i] ? 'n' : ' ';
}

static int64
InsertContact(const Identity *who, Datum *values, bool *nulls)
{
	char		n[NPARAMS];
	bool		isnull;

	NullFlags(nulls, NPARAMS, n);
	/*
	 * No row limit: the executor stops an INSERT ... RETURNING at the limit
	 * before its AFTER STATEMENT triggers are queued, and the contact would
	 * have no event, no search words and no dynamic lists.
	 */
	if (SPI_execute_plan(insert_plan[who->has_profile], values, n, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "crm identify: inserting the contact failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* properties => NULL is an empty object; anything but an object is refused */
static Jsonb *
PropertiesArg(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *props;

	if (PG_ARGISNULL(argno))
		props = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
		props = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(props))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("properties must be a JSON object, not %s",
						TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(props)))),
				 errhint("Pass properties as a jsonb object such as '{\"plan\": \"pro\"}'.")));
	return props;
}

/*
 * The address and profile arguments in their stored forms, refused as the
 * row write refuses them; a blank one is none.  Whether any changes the
 * contact is for update_plan to judge.
 */
static void
ReadProfile(FunctionCallInfo fcinfo, Identity *who)
{
	int			i;

	who->has_profile = false;
	for (i = 0; i < NPROFILE; i++)
	{
		int			argno = FIRST_PROFILE_ARG + i;
		char	   *raw;

		who->profile[i] = NULL;
		/* older declarations have none of them */
		if (argno >= PG_NARGS() || PG_ARGISNULL(argno))
			continue;
		raw = TextDatumGetCString(PG_GETARG_DATUM(argno));
		if (profile_max[i] > 0)
			CrmRequireSize(profile_column[i], strlen(raw), profile_max[i]);
		who->profile[i] = CrmNormalizeAs(profile_kind[i], raw);
		who->has_profile |= who->profile[i] != NULL;
	}
}

/*
 * The call's arguments, trimmed and normalised, and the trust they carry: a
 * verified id is verified, a name, email or phone the visitor gave is self
 * reported, an identifier alone is anonymous.
 */
static void
ReadIdentity(FunctionCallInfo fcinfo, Identity *who)
{
	char	  **keys = who->keys;
	/* the 0.2.0 declaration has no country argument */
	char	   *country = PG_NARGS() > 7 ? TrimmedArg(fcinfo, 7) : NULL;

	who->ws = CrmCurrentWorkspace();
	if (country)
		country = CrmNormalizeCountry(country);
	who->name = TrimmedArg(fcinfo, 2);
	keys[KEY_EMAIL] = TrimmedArg(fcinfo, 0);
	keys[KEY_PHONE] = TrimmedArg(fcinfo, 1);
	keys[KEY_IDENTIFIER] = TrimmedArg(fcinfo, 3);
	keys[KEY_VERIFIED_ID] = TrimmedArg(fcinfo, 4);
	who->props = PropertiesArg(fcinfo, 5);
	who->seen = PG_ARGISNULL(6) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(6);

	if (keys[KEY_EMAIL])
		keys[KEY_EMAIL] = CrmNormalizeEmail(keys[KEY_EMAIL]);
	if (keys[KEY_PHONE])
		keys[KEY_PHONE] = CrmNormalizePhoneIn(keys[KEY_PHONE], country);
	who->source = keys[KEY_VERIFIED_ID] ? SOURCE_VERIFIED :
		(keys[KEY_EMAIL] || keys[KEY_PHONE] || who->name) ? SOURCE_SELF_REPORTED : SOURCE_ANONYMOUS;
	ReadProfile(fcinfo, who);
	/* the 0.2.0 declaration has no source argument either */
	who->module = PG_NARGS() > 8 ? TrimmedArg(fcinfo, 8) : NULL;
	if (who->module)
	{
		char	   *p;

		for (p = who->module; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
		if (!CrmModuleNameIsValid(who->module, strlen(who->module)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid source: \"%s\"", text_to_cstring(PG_GETARG_TEXT_PP(8))),
					 errhint("A source names the module the call comes from in letters, digits and underscores, such as support, auth, email, sms, forms or calendar.")));
	}
	if (!keys[KEY_EMAIL] && !keys[KEY_PHONE] && !keys[KEY_IDENTIFIER] && !keys[KEY_VERIFIED_ID])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.identify needs an identity key"),
				 errhint("Pass email, phone, identifier or verified_id; a contact known by its name only is created with INSERT INTO crm.contacts.")));
}

/* {module: seen}, as jsonb_build_object(module, seen) writes it */
static Datum
ModuleSeen(const char *module, TimestampTz seen)
{
	char		buf[MAXDATELEN + 1];

	/* a module name is letters, digits and underscores: nothing to escape */
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("{\"%s\": \"%s\"}", module,
																JsonEncodeDateTime(buf, TimestampTzGetDatum(seen),
																				   TIMESTAMPTZOID, NULL))));
}

/* The parameters shared by insert_plan and update_plan; the contact id is not known yet */
static void
BindParams(const Identity *who, Datum *values, bool *nulls)
{
	int			i;

	values[P_WS] = Int64GetDatum(who->ws);
	nulls[P_WS] = false;
	values[P_ID] = (Datum) 0;
	nulls[P_ID] = true;
	values[P_NAME] = TextOrNull(who->name, &nulls[P_NAME]);
	values[P_EMAIL] = TextOrNull(who->keys[KEY_EMAIL], &nulls[P_EMAIL]);
	values[P_PHONE] = TextOrNull(who->keys[KEY_PHONE], &nulls[P_PHONE]);
	values[P_IDENTIFIER] = TextOrNull(who->keys[KEY_IDENTIFIER], &nulls[P_IDENTIFIER]);
	values[P_VERIFIED_ID] = TextOrNull(who->keys[KEY_VERIFIED_ID], &nulls[P_VERIFIED_ID]);
	values[P_SOURCE] = source_value[who->source];
	nulls[P_SOURCE] = false;
	values[P_PROPERTIES] = JsonbPGetDatum(who->props);
	nulls[P_PROPERTIES] = false;
	values[P_SEEN] = TimestampTzGetDatum(who->seen);
	nulls[P_SEEN] = false;
	values[P_TID] = (Datum) 0;
	nulls[P_TID] = true;
	values[P_MODULE] = TextOrNull(who->module, &nulls[P_MODULE]);
	for (i = 0; i < NPROFILE; i++)
		values[P_PROFILE + i] = TextOrNull(who->profile[i], &nulls[P_PROFILE + i]);
	values[P_MODULE_SEEN] = who->module ? ModuleSeen(who->module, who->seen) : (Datum) 0;
	nulls[P_MODULE_SEEN] = who->module == NULL;
}

/*
 * No contact has this verified id, and the other keys belong to a contact
 * verified as someone else: the call names a new person.
 */
static bool
VerifiedAsSomeoneElse(const Match *survivor, const char *verified_id)
{
	return survivor->verified_id && verified_id && strcmp(survivor->verified_id, verified_id) != 0;
}

/*
 * Two different verified people are never merged: when the duplicate is
 * verified as someone other than keep_vid it keeps its keys, and the
 * survivor's update does not take the ones it holds (their parameters become
 * null).  Returns whether the duplicate is such a person.
 */
static bool
KeepsItsKeys(const Identity *who, int64 duplicate, const char *keep_vid, bool *nulls)
{
	static const int key[3] = {KEY_EMAIL, KEY_PHONE, KEY_IDENTIFIER};
	static const int param[3] = {P_EMAIL, P_PHONE, P_IDENTIFIER};
	Datum		kv[2] = {Int64GetDatum(who->ws), Int64GetDatum(duplicate)};
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *other_vid;
	int			h;

	if (SPI_execute_plan(keys_plan, kv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm identify: reading contact " INT64_FORMAT " failed", duplicate);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	other_vid = SPI_getvalue(tup, desc, 1);
	if (other_vid == NULL || (keep_vid != NULL && strcmp(other_vid, keep_vid) == 0))
		return false;
	for (h = 0; h < 3; h++)
	{
		/* keys_plan's columns 2 to 4 are email, phone and identifier */
		char	   *held = SPI_getvalue(tup, desc, h + 2);

		if (held && who->keys[key[h]] && strcmp(held, who->keys[key[h]]) == 0)
			nulls[param[h]] = true;
	}
	return true;
}

/*
 * Merge the other contacts the keys found into the first, and return the
 * survivor.  The merge runs SQL written for the pinned search path of
 * crm.merge_contacts; a single match, the common case, pins nothing.
 */
static int64
MergeMatches(const Identity *who, const Match *matches, int nmatches, bool *nulls)
{
	int64		survivor = matches[0].id;
	const char *keep_vid = matches[0].verified_id ? matches[0].verified_id : who->keys[KEY_VERIFIED_ID];
	int			nestlevel;
	int			i;

	if (nmatches == 1)
		return survivor;
	nestlevel = CrmPinSearchPath();

	/*
	 * Two merges in one call take the merge lock alone: the second would
	 * wait for a row while the first's rows are held, and two such calls
	 * could each hold what the other waits for.
	 */
	if (nmatches > 2)
		CrmMergeLock(who->ws);
	for (i = 1; i < nmatches; i++)
		if (!KeepsItsKeys(who, matches[i].id, keep_vid, nulls))
			survivor = CrmMergeContacts(survivor, matches[i].id);
	CrmRestoreSearchPath(nestlevel);
	return survivor;
}

/*
 * Bring the survivor up to date with the call, with the smallest statement
 * that does it: none, the seen times alone, or the full update.
 */
static void
UpdateSurvivor(const Identity *who, int64 survivor, Match *matches, int nmatches,
			   Datum *values, bool *nulls)
{
	Changes		changes = nmatches == 1 ? ChangesOf(&matches[0], who) : CHANGES_MORE;
	char		n[NPARAMS];

	if (changes == CHANGES_NOTHING)
		return;
	values[P_ID] = Int64GetDatum(survivor);
	nulls[P_ID] = false;
	values[P_TID] = PointerGetDatum(&matches[0].tid);
	nulls[P_TID] = false;
	NullFlags(nulls, NPARAMS, n);
	/* no TID (a Citus table, ProbeKeyByQuery): by id */
	if (SPI_execute_plan(changes != CHANGES_SEEN ? update_plan[who->has_profile] :
						 ItemPointerIsValid(&matches[0].tid) ? seen_plan : seen_by_id_plan,
						 values, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm identify: updating contact " INT64_FORMAT " failed", survivor);
	/*
	 * Nothing updated: the version the probe read was replaced before the
	 * update's snapshot (or a concurrent call already moved the times); the
	 * full update judges the row as it is now.
	 */
	if (changes == CHANGES_SEEN && SPI_processed == 0 && ItemPointerIsValid(&matches[0].tid) &&
		SPI_execute_plan(update_plan[who->has_profile], values, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm identify: updating contact " INT64_FORMAT " failed", survivor);
}

/*
 * The probes read the unique indexes past row-level security.  Owner-based
 * privacy keeps a restricted member to the contacts their policies show: a
 * match they do not see is refused, naming neither its id nor its data (the
 * unique keys would refuse an INSERT of the same address anyway).
 */
static void
RequireVisibleMatches(const Identity *who, const Match *matches, int nmatches)
{
	const char *team;
	int			i;

	if (nmatches == 0 || !CrmPrivacyRestricted(who->ws, &team, 0))
		return;
	for (i = 0; i < nmatches; i++)
	{
		Datum		args[2] = {Int64GetDatum(who->ws), Int64GetDatum(matches[i].id)};

		if (SPI_execute_with_args("SELECT FROM crm.contacts WHERE workspace_id OPERATOR(pg_catalog.=) $1"
								  " AND id OPERATOR(pg_catalog.=) $2",
								  2, (Oid[]) {INT8OID, INT8OID}, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "crm identify: reading contact " INT64_FORMAT " failed", matches[i].id);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the contact these keys identify belongs to another member"),
					 errdetail("Owner-based privacy keeps user \"%s\" to the contacts they own or of a deal they see.",
							   CrmCurrentUserId()),
					 errhint("The contact's owner or a member with see_all identifies this person.")));
	}
}

typedef struct SeenArgs
{
	Datum	   *values;
	const char *nulls;
} SeenArgs;

static bool
UpdateSeenStep(void *arg)
{
	SeenArgs   *a = (SeenArgs *) arg;

	if (SPI_execute_plan(seen_plan, a->values, a->nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "crm identify: updating the seen times failed");
	return SPI_processed == 1;
}

/*
 * The seen times written to the row version the probe read, in a
 * subtransaction kept only when it updated the row.  An UPDATE that finds
 * its row replaced waits for the replacing transaction, then locks the
 * newest version before it sees that the TID no longer matches, and keeps
 * that lock to commit: taken into the locked path, it would deadlock with a
 * call that holds the keys' locks and wants the row.  Rolling the
 * subtransaction back lets the lock go.
 */
static bool
UpdateSeenAlone(Datum *values, const char *nulls)
{
	SeenArgs	args = {values, nulls};

	return CrmTrySubtransaction(UpdateSeenStep, &args);
}

/*
 * The common call, a returning visitor whose keys name one contact and
 * bring nothing it lacks, decided without the advisory locks: it creates
 * nothing and merges nothing, so nothing it does can collide on a key.  It
 * writes at most the seen times, to the very row version it read; when that
 * version was replaced meanwhile (a merge, an edit) it writes nothing and
 * returns false, and the call takes the locked path and judges again.  A
 * concurrent call creating or merging is thus ordered after this one, as
 * if it had waited for our lock.  Returns whether the call is done.
 */
static bool
IdentifyUnlocked(const Identity *who, Match *matches, ProbeRead *read, int64 *survivor)
{
	Datum		values[NPARAMS];
	bool		nulls[NPARAMS];
	char		n[NPARAMS];
	int			nmatches = FindMatches(who->ws, who->keys, matches, read);
	Changes		changes;

	if (nmatches != 1 || VerifiedAsSomeoneElse(&matches[0], who->keys[KEY_VERIFIED_ID]))
		return false;
	changes = ChangesOf(&matches[0], who);
	if (changes == CHANGES_MORE)
		return false;
	RequireVisibleMatches(who, matches, nmatches);
	*survivor = matches[0].id;
	if (changes == CHANGES_NOTHING)
		return true;
	/* a Citus table's probe read no row version: the locked path writes by id */
	if (!ItemPointerIsValid(&matches[0].tid))
		return false;
	BindParams(who, values, nulls);
	values[P_ID] = Int64GetDatum(matches[0].id);
	nulls[P_ID] = false;
	values[P_TID] = PointerGetDatum(&matches[0].tid);
	nulls[P_TID] = false;
	NullFlags(nulls, NPARAMS, n);
	if (UpdateSeenAlone(values, n))
		return true;
	/* the version read was replaced: the locked path reads again */
	read->completions = 0;
	return false;
}

/*
 * Find, create or merge under the keys' advisory locks: whatever could
 * collide with another call (a new contact, a key written, a merge).
 */
static int64
IdentifyLocked(const Identity *who, Match *matches, ProbeRead *read)
{
	int			nmatches;
	Datum		values[NPARAMS];
	bool		nulls[NPARAMS];
	int64		survivor;

	/* ReadIdentity refused a call without keys */
	LockKeys(who->ws, who->keys);
	nmatches = FindMatches(who->ws, who->keys, matches, read);
	RequireVisibleMatches(who, matches, nmatches);
	BindParams(who, values, nulls);

	if (nmatches == 0)
		survivor = InsertContact(who, values, nulls);
	else if (VerifiedAsSomeoneElse(&matches[0], who->keys[KEY_VERIFIED_ID]))
	{
		/* a new person, who takes no keys */
		nulls[P_EMAIL] = nulls[P_PHONE] = nulls[P_IDENTIFIER] = true;
		survivor = InsertContact(who, values, nulls);
	}
	else
	{
		survivor = MergeMatches(who, matches, nmatches, nulls);
		UpdateSurvivor(who, survivor, matches, nmatches, values, nulls);
	}
	return survivor;
}

static int64
Identify(FunctionCallInfo fcinfo)
{
	Identity	who;
	Match		matches[NKEYS];
	ProbeRead	read = {0};
	int64		survivor;

	ReadIdentity(fcinfo, &who);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm identify: SPI_connect failed");
	PreparePlans();
	if (!IdentifyUnlocked(&who, matches, &read, &survivor))
		survivor = IdentifyLocked(&who, matches, &read);
	SPI_finish();
	return survivor;
}

/* Its writes are recorded in crm.value_history with source identify */
Datum
crm_identify(PG_FUNCTION_ARGS)
{
	const char *previous;
	volatile int64 survivor = 0;
	int64		routed;

	/* on a Citus coordinator the whole call runs on the workspace's worker */
	if (CrmCitusIdentifyOnWorker(fcinfo, &routed))
		PG_RETURN_INT64(routed);
	previous = CrmSetHistorySource("identify");
	PG_TRY();
	{
		survivor = Identify(fcinfo);
	}
	PG_FINALLY();
	{
		CrmSetHistorySource(previous);
	}
	PG_END_TRY();
	PG_RETURN_INT64(survivor);
}
