/*-------------------------------------------------------------------------
 *
 * unmerge.h
 *	  What unmerge.c shares with unmerge_companies.c: the merge record as
 *	  read, the description of an object type an unmerge restores, and the
 *	  moving back of recorded rows by reference.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_UNMERGE_H
#define CRM_UNMERGE_H

#include "lib/stringinfo.h"

#include "merge.h"

/* What a merge record says, read once */
typedef struct UnmergeRecord
{
	int64		id;
	int64		survivor;
	int64		loser;
	Datum		loser_row;
	Datum		overwritten;
	Datum		moved;
	Datum		dropped;
	Datum		demoted;
	Datum		history;
} UnmergeRecord;

/*
 * An object type a merge record can hold.  Statements take ($1 workspace,
 * $2 survivor, $3 loser, $4 jsonb, $5 jsonb).
 */
typedef struct UnmergeKind
{
	const char *object_type;	/* "contact": crm.merges.object_type, the report's key */
	const char *title;			/* "Contact", to start a hint with */
	const char *table;			/* "crm.contacts": its rows' permission is the unmerge's */
	const char *merge_function; /* "crm.merge_contacts", for hints */
	const char *event;			/* "CRM_CONTACT_UNMERGED" */
	/* locks taken before the record is read FOR UPDATE (merge lock last) */
	void		(*lock) (int64 ws, UnmergeRecord *rec);
	/* both records locked and checked; returns the survivor's row as jsonb */
	Datum		(*check) (int64 ws, UnmergeRecord *rec);
	/* the loser's unique keys others hold: refused (23505), or reported for a preview */
	void		(*keys) (Datum *values, bool preview, StringInfo taken);
	/* the references whose rows move back */
	ContactRef *(*refs) (int *nrefs);
	/* the writes: survivor reverted ($4 its row), loser live, rows back */
	void		(*restore) (Datum *values, UnmergeRecord *rec, Datum revert_row, StringInfo moved,
							StringInfo restored, StringInfo taken);
	const char *activity_sql;	/* the survivor's timeline entry, $4 the report */
} UnmergeKind;

extern const UnmergeKind crm_unmerge_contact;
extern const UnmergeKind crm_unmerge_company;

/* unmerge.c */
extern SPIPlanPtr CrmUnmergePrepare(SPIPlanPtr *cache, const char *sql, int nargs);
extern Datum CrmUnmergeEntry(Datum object, const char *label, const char *suffix);
extern int64 CrmUnmergeLaterMerge(int64 ws, const char *object_type, int64 loser);
extern void CrmUnmergeMoveBack(ContactRef *refs, int nrefs, Datum *values, UnmergeRecord *rec, bool preview,
							   StringInfo moved, StringInfo restored);
extern void CrmUnmergeAppendTaken(StringInfo report, const char *key, const char *value, const char *holder);

#endif							/* CRM_UNMERGE_H */
