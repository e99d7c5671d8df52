/*-------------------------------------------------------------------------
 *
 * company_duplicates.c
 *	  The name pairs of crm.company_duplicates (sql/merge_companies.sql):
 *	  candidate pairs of similar company names, compared within blocks.
 *
 * A trigram index probe per company reads the posting list of every
 * trigram of its name; on 100,000 companies whose words recur, that was
 * minutes.  Here every name key is split into words once, each word gives
 * two blocking keys (its first and its last three characters), and only
 * names sharing a block are compared: by their sorted trigrams (pg_trgm's:
 * each word padded "  word ", as numbers), merged, without building a
 * trigram set per pair; the similarity is pg_trgm's.  A pair whose names differ in every
 * word's first and last three characters is not found.  A block larger
 * than MAX_BLOCK is a word too common to tell companies apart, and is
 * skipped like a stop word: its names are still compared in their other
 * blocks.
 *
 * Two cheap tests come before the merge, neither losing a pair: a pair
 * is compared in the first block its names share only (two names with a
 * word in common share both its blocks, and were compared twice), and
 * each name carries a 128-bit signature of its trigrams: a bit of one
 * name's signature that the other's lacks stands for at least one
 * trigram the other lacks, so the popcount of the difference bounds the
 * shared trigrams from above, and most pairs of a block end there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_company_name_pairs);

/* More names than this in one block is a word common to many companies */
#define MAX_BLOCK 1000

typedef struct NameTrigrams
{
	int64		id;
	uint32	   *trgm;			/* sorted, unique */
	int			n;
	uint64		sig[2];			/* a bit per trigram (hashed) */
	uint64	   *blocks;			/* the name's block keys, sorted, unique */
	int			nblocks;
} NameTrigrams;

typedef struct BlockEntry
{
	uint64		block;
	int32		name;
	int32		n;				/* the name's trigrams and signature, copied */
	uint64		sig[2];			/* here for a block's scan to read in order */
} BlockEntry;

static int
CompareUint32(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y;
}

static int
CompareEntries(const void *a, const void *b)
{
	const BlockEntry *x = a;
	const BlockEntry *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->name - y->name;
}

/* The byte length of the first n characters of s (len bytes), or len */
static int
CharsLen(const char *s, int len, int n)
{
	int			off = 0;

	while (n-- > 0 && off < len)
		off += pg_mblen(s + off);
	return Min(off, len);
}

/* The byte offset of the last n characters of s (len bytes) */
static int
LastCharsOffset(const char *s, int len, int n)
{
	int			chars = pg_mbstrlen_with_len(s, len);

	return chars <= n ? 0 : CharsLen(s, len, chars - n);
}

/*
 * A trigram as a number: three single-byte characters exactly, one with a
 * multi-byte character by a hash with the top bit set (pg_trgm compacts
 * those into a CRC, so two of them can meet there too).
 */
static uint32
TrigramCode(const unsigned char *t, int len)
{
	if (len == 3)
		return ((uint32) t[0] << 16) | ((uint32) t[1] << 8) | t[2];
	return hash_bytes(t, len) | 0x80000000;
}

/* The trigrams of one word as pg_trgm makes them ("  word ") */
static void
WordTrigrams(const char *w, int len, uint32 **trgm, int *n, int *cap)
{
	char	   *padded = palloc(len + 4);
	int			plen = len + 3;
	int			off = 0;

	padded[0] = padded[1] = ' ';
	memcpy(padded + 2, w, len);
	padded[len + 2] = ' ';
	padded[plen] = '\0';
	while (off < plen)
	{
		int			tlen = CharsLen(padded + off, plen - off, 3);

		if (pg_mbstrlen_with_len(padded + off, tlen) < 3)
			break;
		if (*n == *cap)
		{
			*cap *= 2;
			*trgm = repalloc(*trgm, *cap * sizeof(uint32));
		}
		(*trgm)[(*n)++] = TrigramCode((const unsigned char *) padded + off, tlen);
		off += pg_mblen(padded + off);
	}
	pfree(padded);
}

static uint64
BlockKey(char kind, const char *s, int len)
{
	return hash_bytes_extended((const unsigned char *) s, len, (uint64) kind);
}

/* Whether two names share a block whose key is below block */
static bool
SharedBefore(const NameTrigrams *a, const NameTrigrams *b, uint64 block)
{
	int			i = 0,
				j = 0;

	while (i < a->nblocks && j < b->nblocks && a->blocks[i] < block && b->blocks[j] < block)
	{
		if (a->blocks[i] == b->blocks[j])
			return true;
		if (a->blocks[i] < b->blocks[j])
			i++;
		else
			j++;
	}
	return false;
}

/* shared / (na + nb - shared) >= t  <=>  shared >= t (na + nb) / (1 + t) */
static inline int
SharedNeeded(int na, int nb, float4 threshold)
{
	return (int) (threshold * (na + nb) / (1 + threshold));
}

/*
 * Whether two names may reach threshold: not when the sizes alone keep
 * them under it (shared is at most the smaller set), nor when the
 * signatures do (shared is at most a set's size less the bits of its
 * signature the other lacks).
 */
static inline bool
MaybeSimilar(const BlockEntry *a, const BlockEntry *b, float4 threshold)
{
	int			a_only,
				b_only;

	if (a->n == 0 || b->n == 0 ||
		(float4) Min(a->n, b->n) / (float4) Max(a->n, b->n) < threshold)
		return false;
	a_only = pg_popcount64(a->sig[0] & ~b->sig[0]) + pg_popcount64(a->sig[1] & ~b->sig[1]);
	b_only = pg_popcount64(b->sig[0] & ~a->sig[0]) + pg_popcount64(b->sig[1] & ~a->sig[1]);
	return Min(a->n - a_only, b->n - b_only) >= SharedNeeded(a->n, b->n, threshold);
}

/*
 * pg_trgm's similarity of two sorted unique sets, shared / union, as the
 * float4 it computes; 0 once it cannot reach threshold.
 */
static float4
Similarity(const NameTrigrams *a, const NameTrigrams *b, float4 threshold)
{
	int			i = 0,
				j = 0,
				shared = 0;
	int			needed = SharedNeeded(a->n, b->n, threshold);

	while (i < a->n && j < b->n)
	{
		/* stop once the rest cannot bring shared up to what is needed */
		if (shared + Min(a->n - i, b->n - j) < needed)
			return 0;
		if (a->trgm[i] == b->trgm[j])
		{
			shared++;
			i++;
			j++;
		}
		else if (a->trgm[i] < b->trgm[j])
			i++;
		else
			j++;
	}
	return (float4) shared / (float4) (a->n + b->n - shared);
}

/* The size of the block starting at entries[i], and its end */
static int
BlockSize(const BlockEntry *entries, int nentries, int i, int *end)
{
	int			size = 1;

	*end = i + 1;
	while (*end < nentries && entries[*end].block == entries[i].block)
	{
		if (entries[*end].name != entries[*end - 1].name)
			size++;
		(*end)++;
	}
	return size;
}

/*
 * Each name's blocks that are compared (not over MAX_BLOCK), in key order:
 * what SharedBefore reads.  Two passes: count, then fill.
 */
static void
BlocksOfNames(NameTrigrams *names, int nnames, const BlockEntry *entries, int nentries)
{
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < nentries;)
		{
			int			end;

			if (BlockSize(entries, nentries, i, &end) <= MAX_BLOCK)
			{
				for (int x = i; x < end; x++)
				{
					NameTrigrams *nt = &names[entries[x].name];

					if (x > i && entries[x].name == entries[x - 1].name)
						continue;
					if (pass == 1)
						nt->blocks[nt->nblocks] = entries[i].block;
					nt->nblocks++;
				}
			}
			i = end;
		}
		if (pass == 1)
			break;
		for (int k = 0; k < nnames; k++)
		{
			names[k].blocks = palloc(sizeof(uint64) * Max(names[k].nblocks, 1));
			names[k].nblocks = 0;
		}
	}
}

/*
 * crm_internal.company_name_pairs(ids bigint[], keys text[], threshold real)
 *	  RETURNS TABLE (a bigint, b bigint, sim real): pairs of ids (a < b)
 *	  whose keys share a block and whose trigram similarity is threshold or
 *	  more, each pair once.
 */
Datum
crm_company_name_pairs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ids_arr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *keys_arr = PG_GETARG_ARRAYTYPE_P(1);
	float4		threshold = PG_GETARG_FLOAT4(2);
	Datum	   *ids;
	Datum	   *keys;
	bool	   *ids_null;
	bool	   *keys_null;
	int			nids;
	int			nkeys;
	NameTrigrams *names;
	BlockEntry *entries;
	int			nentries = 0;
	int			cap_entries;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(ids_arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, &ids_null, &nids);
	deconstruct_array(keys_arr, TEXTOID, -1, false, TYPALIGN_INT, &keys, &keys_null, &nkeys);
	if (nids != nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d ids and %d name keys", nids, nkeys),
				 errhint("Pass one key per id.")));

	names = palloc0(sizeof(NameTrigrams) * Max(nids, 1));
	cap_entries = 4 * Max(nids, 1);
	entries = palloc(sizeof(BlockEntry) * cap_entries);
	for (i = 0; i < nids; i++)
	{
		char	   *key;
		int			len;
		int			start = 0;
		int			cap = 16;

		names[i].id = ids_null[i] ? 0 : DatumGetInt64(ids[i]);
		if (ids_null[i] || keys_null[i])
			continue;
		key = text_to_cstring(DatumGetTextPP(keys[i]));
		len = strlen(key);
		names[i].trgm = palloc(cap * sizeof(uint32));
		while (start < len)
		{
			int			end = start;

			while (end < len && key[end] != ' ')
				end++;
			if (end > start)
			{
				int			wlen = end - start;
				int			last = LastCharsOffset(key + start, wlen, 3);

				WordTrigrams(key + start, wlen, &names[i].trgm, &names[i].n, &cap);
				if (nentries + 2 > cap_entries)
				{
					cap_entries *= 2;
					entries = repalloc_huge(entries, sizeof(BlockEntry) * cap_entries);
				}
				entries[nentries].block = BlockKey('p', key + start, CharsLen(key + start, wlen, 3));
				entries[nentries++].name = i;
				entries[nentries].block = BlockKey('s', key + start + last, wlen - last);
				entries[nentries++].name = i;
			}
			start = end + 1;
		}
		pfree(key);
		if (names[i].n > 1)
		{
			int			k,
						u = 1;

			qsort(names[i].trgm, names[i].n, sizeof(uint32), CompareUint32);
			for (k = 1; k < names[i].n; k++)
				if (names[i].trgm[k] != names[i].trgm[u - 1])
					names[i].trgm[u++] = names[i].trgm[k];
			names[i].n = u;
		}
		for (int k = 0; k < names[i].n; k++)
		{
			uint32		h = hash_bytes_uint32(names[i].trgm[k]);

			names[i].sig[(h >> 6) & 1] |= UINT64CONST(1) << (h & 63);
		}
	}

	/* the blocks: runs of one key; a name with a key twice is in its block once */
	for (i = 0; i < nentries; i++)
	{
		entries[i].n = names[entries[i].name].n;
		entries[i].sig[0] = names[entries[i].name].sig[0];
		entries[i].sig[1] = names[entries[i].name].sig[1];
	}
	qsort(entries, nentries, sizeof(BlockEntry), CompareEntries);
	BlocksOfNames(names, nids, entries, nentries);
	for (i = 0; i < nentries;)
	{
		int			end;
		int			x,
					y;

		if (BlockSize(entries, nentries, i, &end) <= MAX_BLOCK)
		{
			for (x = i; x < end; x++)
			{
				CHECK_FOR_INTERRUPTS();
				if (x > i && entries[x].name == entries[x - 1].name)
					continue;
				for (y = x + 1; y < end; y++)
				{
					const NameTrigrams *a = &names[entries[x].name];
					const NameTrigrams *b = &names[entries[y].name];
					Datum		values[3];
					bool		nulls[3] = {false, false, false};
					float4		sim;

					if (entries[y].name == entries[y - 1].name ||
						!MaybeSimilar(&entries[x], &entries[y], threshold))
						continue;
					/* compared in the first block the two share */
					if (SharedBefore(a, b, entries[i].block))
						continue;
					sim = Similarity(a, b, threshold);
					if (sim < threshold)
						continue;
					values[0] = Int64GetDatum(Min(a->id, b->id));
					values[1] = Int64GetDatum(Max(a->id, b->id));
					values[2] = Float4GetDatum(sim);
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				}
			}
		}
		i = end;
	}
	return (Datum) 0;
}
