/*-------------------------------------------------------------------------
 *
 * contact_rules.c
 *	  What any row write of crm.contacts may do, whoever makes it: the
 *	  BEFORE trigger crm_internal.contact_rules().
 *
 * A frontend writes contacts as rows, so the rules the functions used to
 * keep live here:
 *	- a contact has something to know it by (a name or an identity key);
 *	- merged is a status only crm.merge_contacts gives, and only crm.unmerge
 *	  takes away;
 *	- a contact that becomes merged or deleted releases its identity keys
 *	  (email, phone, identifier, verified_id) into released_keys, so the
 *	  unique keys, and so INSERT ... ON CONFLICT on them, hold over live
 *	  contacts only; a deleted contact restored to active takes them back;
 *	- a soft delete is stamped with deleted_at;
 *	- the verified badge (verified_id, identity_source 'verified') is set,
 *	  changed or taken away by a service role only (or by a merge moving it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_contact_rules);

/* The columns the rules read and write */
enum
{
	COL_NAME,
	COL_EMAIL,
	COL_PHONE,
	COL_IDENTIFIER,
	COL_VERIFIED_ID,
	COL_STATUS,
	COL_MERGED_INTO,
	COL_DELETED_AT,
	COL_RELEASED_KEYS,
	COL_IDENTITY_SOURCE,
	NCOLS
};
static const char *const col_name[NCOLS] = {"name", "email", "phone", "identifier", "verified_id",
											"status", "merged_into", "deleted_at", "released_keys",
											"identity_source"};

/* The identity keys, a contiguous run of the columns above */
#define FIRST_KEY COL_EMAIL
#define LAST_KEY COL_VERIFIED_ID

/* crm.contact_status, in its enum's order: merged and deleted hold no keys */
typedef enum
{
	STATUS_ACTIVE,
	STATUS_ARCHIVED,
	STATUS_MERGED,
	STATUS_DELETED
} ContactStatus;

static const char *const status_label[] = {"active", "archived", "merged", "deleted"};

/*
 * Attribute numbers and the status labels' enum OIDs, resolved once per
 * relation and checked by name on use
 */
static Oid	cols_relid = InvalidOid;
static int	cols[NCOLS];
static Oid	status_oid[lengthof(status_label)];
static Oid	verified_oid;			/* identity_source 'verified' */

static Oid
EnumLabel(Oid enumtypid, const char *label)
{
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid, ObjectIdGetDatum(enumtypid),
									  CStringGetDatum(label));

	if (!OidIsValid(oid))
		elog(ERROR, "contact_rules: enum label \"%s\" is missing", label);
	return oid;
}

static void
ResolveStatusLabels(Oid enumtypid)
{
	for (int i = 0; i < lengthof(status_label); i++)
		status_oid[i] = EnumLabel(enumtypid, status_label[i]);
}

static void
ResolveColumns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (cols_relid == RelationGetRelid(rel))
	{
		int			i;

		for (i = 0; i < NCOLS; i++)
			if (cols[i] > desc->natts ||
				strcmp(NameStr(TupleDescAttr(desc, cols[i] - 1)->attname), col_name[i]) != 0)
				break;
		if (i == NCOLS)
			return;
	}
	for (int i = 0; i < NCOLS; i++)
	{
		cols[i] = SPI_fnumber(desc, col_name[i]);
		if (cols[i] <= 0)
			elog(ERROR, "contact_rules: table \"%s\" has no column \"%s\"",
				 RelationGetRelationName(rel), col_name[i]);
	}
	ResolveStatusLabels(TupleDescAttr(desc, cols[COL_STATUS] - 1)->atttypid);
	verified_oid = EnumLabel(TupleDescAttr(desc, cols[COL_IDENTITY_SOURCE] - 1)->atttypid, "verified");
	cols_relid = RelationGetRelid(rel);
}

static ContactStatus
GetStatus(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Oid			label = DatumGetObjectId(heap_getattr(tup, cols[COL_STATUS], desc, &isnull));

	for (int i = 0; !isnull && i < lengthof(status_label); i++)
		if (status_oid[i] == label)
			return (ContactStatus) i;
	return STATUS_ACTIVE;		/* NULL: the NOT NULL constraint refuses it */
}

static int64
GetId(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, col, desc, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* The contact's id, for messages */
static int64
ContactId(HeapTuple tup, TupleDesc desc)
{
	return GetId(tup, desc, SPI_fnumber(desc, "id"));
}

/* A contact with no name and no identity key is nobody */
static void
CheckIdentifiable(HeapTuple tup, TupleDesc desc)
{
	for (int i = COL_NAME; i <= LAST_KEY; i++)
		if (!heap_attisnull(tup, cols[i], desc))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a contact needs a name, email, phone, identifier or verified_id"),
			 errhint("Set at least one of them; crm.identify(email => ...) finds or creates the contact behind a key.")));
}

static void
RefuseInsertStatus(ContactStatus status)
{
	if (status == STATUS_MERGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a contact cannot be inserted as merged"),
				 errhint("Insert it active, then merge it with crm.merge_contacts(survivor_id, duplicate_id).")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("a contact cannot be inserted as deleted"),
			 errhint("Insert it active; UPDATE ... SET status = 'deleted' or crm.delete_contact(id) deletes it.")));
}

/*
 * Merged is given by crm.merge_contacts alone, and taken by crm.unmerge
 * alone: their re-parenting, counters and events are not a status change.
 */
static void
CheckMergedStatus(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc,
				  ContactStatus oldstatus, ContactStatus newstatus)
{
	int64		id = ContactId(newtup, desc);

	if (oldstatus == STATUS_MERGED && newstatus != STATUS_MERGED &&
		!(CrmUnmergeInProgress() && newstatus < STATUS_MERGED))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("contact " INT64_FORMAT " was merged into contact " INT64_FORMAT " and cannot become %s",
						id, GetId(oldtup, desc, cols[COL_MERGED_INTO]),
						newstatus == STATUS_DELETED ? "deleted" : "live again"),
				 newstatus == STATUS_DELETED
				 ? errhint("Work with the live contact: crm.resolve_contact(" INT64_FORMAT ").", id)
				 : errhint("To undo the merge, use crm.unmerge(merge_id) with its id in crm.merges (loser_id = " INT64_FORMAT "): it moves the contact's rows and keys back.", id)));
	if (newstatus == STATUS_MERGED && oldstatus == STATUS_MERGED && !CrmMergeInProgress() &&
		GetId(oldtup, desc, cols[COL_MERGED_INTO]) != GetId(newtup, desc, cols[COL_MERGED_INTO]))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("merged_into of contact " INT64_FORMAT " cannot be changed by a row write", id),
				 errhint("To undo the merge, use crm.unmerge(merge_id) with its id in crm.merges (loser_id = " INT64_FORMAT "): it moves the contact's rows and keys back.", id)));
	if (newstatus == STATUS_MERGED && !CrmMergeInProgress() &&
		(oldstatus != STATUS_MERGED ||
		 GetId(oldtup, desc, cols[COL_MERGED_INTO]) != GetId(newtup, desc, cols[COL_MERGED_INTO])))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("contact " INT64_FORMAT " cannot be merged by an update of status or merged_into", id),
				 errhint("Use crm.merge_contacts(survivor_id, duplicate_id): it moves the duplicate's conversations, deals, lists and keys to the survivor.")));
}

/* {"email": ..., "phone": ...}: the keys of tup that are set */
static Datum
KeysJsonb(HeapTuple tup, TupleDesc desc)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = FIRST_KEY; i <= LAST_KEY; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, cols[i], desc, &isnull);

		if (isnull)
			continue;
		v.type = jbvString;
		v.val.string.val = (char *) col_name[i];
		v.val.string.len = strlen(col_name[i]);
		pushJsonbValue(&state, WJB_KEY, &v);
		v.val.string.val = TextDatumGetCString(d);
		v.val.string.len = strlen(v.val.string.val);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
}

/* The key of released_keys named like column i, as text; NULL when absent */
static text *
ReleasedKey(Jsonb *released, int i)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) col_name[i];
	k.val.string.len = strlen(col_name[i]);
	v = findJsonbValueFromContainer(&released->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/*
 * Leaving the live statuses: the keys go into released_keys (kept for an
 * audit and for a restore) and the columns are cleared, so the unique
 * indexes hold over live contacts only.
 */
static HeapTuple
ReleaseKeys(HeapTuple tup, TupleDesc desc, bool stamp_deleted)
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			attnums[NCOLS];
	int			n = 0;

	attnums[n] = cols[COL_RELEASED_KEYS];
	values[n] = KeysJsonb(tup, desc);
	nulls[n++] = false;
	for (int i = FIRST_KEY; i <= LAST_KEY; i++)
	{
		attnums[n] = cols[i];
		values[n] = (Datum) 0;
		nulls[n++] = true;
	}
	if (stamp_deleted && heap_attisnull(tup, cols[COL_DELETED_AT], desc))
	{
		attnums[n] = cols[COL_DELETED_AT];
		values[n] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		nulls[n++] = false;
	}
	tup = heap_modify_tuple_by_cols(tup, desc, n, attnums, values, nulls);
	CrmCheckDefined(tup->t_data, tup->t_len);
	return tup;
}

/* Back to a live status: the released keys return where none was set */
static HeapTuple
RestoreKeys(HeapTuple tup, TupleDesc desc)
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			attnums[NCOLS];
	int			n = 0;
	bool		isnull;
	Datum		released = heap_getattr(tup, cols[COL_RELEASED_KEYS], desc, &isnull);

	for (int i = FIRST_KEY; i <= LAST_KEY && !isnull; i++)
	{
		text	   *key = ReleasedKey(DatumGetJsonbP(released), i);

		if (key == NULL || !heap_attisnull(tup, cols[i], desc))
			continue;
		attnums[n] = cols[i];
		values[n] = PointerGetDatum(key);
		nulls[n++] = false;
	}
	attnums[n] = cols[COL_RELEASED_KEYS];
	values[n] = (Datum) 0;
	nulls[n++] = true;
	attnums[n] = cols[COL_DELETED_AT];
	values[n] = (Datum) 0;
	nulls[n++] = true;
	tup = heap_modify_tuple_by_cols(tup, desc, n, attnums, values, nulls);
	CrmCheckDefined(tup->t_data, tup->t_len);
	return tup;
}

/* A merged or deleted contact holds no key: a live contact may need it */
static void
CheckNoKeys(HeapTuple tup, TupleDesc desc, ContactStatus status)
{
	for (int i = FIRST_KEY; i <= LAST_KEY; i++)
	{
		bool		isnull;
		Datum		key = heap_getattr(tup, cols[i], desc, &isnull);

		if (isnull)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s contact " INT64_FORMAT " cannot hold %s \"%s\"",
						status == STATUS_MERGED ? "merged" : "deleted", ContactId(tup, desc), col_name[i],
						TextDatumGetCString(key)),
				 errhint(status == STATUS_MERGED
						 ? "Set it on the live contact: crm.resolve_contact(id)."
						 : "Restore the contact first (UPDATE ... SET status = 'active'), or set it on a live contact.")));
	}
}

static bool
IsVerified(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, cols[COL_IDENTITY_SOURCE], desc, &isnull);

	return !isnull && DatumGetObjectId(d) == verified_oid;
}

/*
 * The verified badge says a trusted backend checked who this is: a frontend
 * may neither give it (verified_id, identity_source 'verified') nor take it
 * away.  oldtup is NULL for an insert.
 */
static void
CheckVerifiedBadge(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	bool		changed;

	if (oldtup == NULL)
		changed = IsVerified(newtup, desc) || !heap_attisnull(newtup, cols[COL_VERIFIED_ID], desc);
	else
	{
		bool		oldnull,
					newnull;
		Datum		oldid = heap_getattr(oldtup, cols[COL_VERIFIED_ID], desc, &oldnull);
		Datum		newid = heap_getattr(newtup, cols[COL_VERIFIED_ID], desc, &newnull);

		changed = IsVerified(oldtup, desc) != IsVerified(newtup, desc) || oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldid, newid, false, -1));
	}
	if (!changed || CrmMergeInProgress() || CrmRoleIsService(GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not %s the verified identity of contact " INT64_FORMAT,
					GetUserNameFromId(GetUserId(), false), oldtup ? "change" : "set", ContactId(newtup, desc)),
			 errhint("A verified identity comes from a trusted backend, granted crm.grant_access(role, access => 'service'); a frontend records what a user says as identity_source 'self_reported'.")));
}

/*
 * crm_internal.contact_rules(): BEFORE INSERT OR UPDATE ON crm.contacts FOR
 * EACH ROW.  Runs after the normalising trigger (by name), so it sees the
 * stored forms.
 */
Datum
crm_contact_rules(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup;
	ContactStatus oldstatus,
				newstatus;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("contact_rules: must be fired before insert or update, for each row")));

	desc = RelationGetDescr(trigdata->tg_relation);
	ResolveColumns(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtup = trigdata->tg_trigtuple;
		newstatus = GetStatus(newtup, desc);
		if (newstatus >= STATUS_MERGED)
			RefuseInsertStatus(newstatus);
		CheckIdentifiable(newtup, desc);
		CheckVerifiedBadge(NULL, newtup, desc);
		return PointerGetDatum(newtup);
	}

	newtup = trigdata->tg_newtuple;
	oldstatus = GetStatus(trigdata->tg_trigtuple, desc);
	newstatus = GetStatus(newtup, desc);
	if (oldstatus == STATUS_MERGED || newstatus == STATUS_MERGED)
		CheckMergedStatus(trigdata->tg_trigtuple, newtup, desc, oldstatus, newstatus);
	CheckVerifiedBadge(trigdata->tg_trigtuple, newtup, desc);

	if (newstatus >= STATUS_MERGED)
	{
		if (oldstatus < STATUS_MERGED)
			return PointerGetDatum(ReleaseKeys(newtup, desc, newstatus == STATUS_DELETED));
		CheckNoKeys(newtup, desc, newstatus);
		return PointerGetDatum(newtup);
	}
	if (oldstatus == STATUS_DELETED)
		newtup = RestoreKeys(newtup, desc);
	CheckIdentifiable(newtup, desc);
	return PointerGetDatum(newtup);
}
