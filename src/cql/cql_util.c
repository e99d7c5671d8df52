/*-------------------------------------------------------------------------
 *
 * cql_util.c
 *	  Arena, errors, string building and literal quoting for the CQL core.
 *
 * Every user string reaches the SQL output through CqlBufQuote (a
 * quote_literal equivalent), optionally after JSON or LIKE escaping; the
 * lexer has already rejected NUL bytes.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cql.h"

#define CQL_BLOCK_SIZE 8192

typedef struct CqlBlock
{
	struct CqlBlock *next;
} CqlBlock;

void
CqlStateInit(CqlState *st, const CqlEnv *env)
{
	memset(st, 0, sizeof(*st));
	st->env = env;
}

void
CqlStateFree(CqlState *st)
{
	CqlBlock   *b = st->blocks;

	while (b)
	{
		CqlBlock   *next = b->next;

		st->env->release(st->env->ctx, b);
		b = next;
	}
	st->blocks = NULL;
	st->free_left = 0;
}

void *
CqlAlloc(CqlState *st, size_t size)
{
	void	   *p;

	size = (size + 15) & ~(size_t) 15;
	if (size > st->free_left)
	{
		size_t		bsize = size > CQL_BLOCK_SIZE / 2 ? size + 16 : CQL_BLOCK_SIZE;
		/* a 16-byte header keeps the chain pointer and the alignment */
		CqlBlock   *b = st->env->alloc(st->env->ctx, 16 + bsize);

		b->next = st->blocks;
		st->blocks = b;
		st->free_ptr = (char *) b + 16;
		st->free_left = bsize;
	}
	p = st->free_ptr;
	st->free_ptr += size;
	st->free_left -= size;
	memset(p, 0, size);
	return p;
}

char *
CqlStrndup(CqlState *st, const char *s, size_t len)
{
	char	   *p = CqlAlloc(st, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* 1-based character (not byte) position of a byte offset in UTF-8 text */
int
CqlCharPos(const char *s, int byteoff)
{
	int			pos = 1;

	for (int i = 0; i < byteoff; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			pos++;
	return pos;
}

void
CqlFail(CqlState *st, CqlErrorKind kind, int pos, const char *hint, const char *fmt,...)
{
	va_list		ap;

	st->error.kind = kind;
	st->error.position = pos;
	va_start(ap, fmt);
	vsnprintf(st->error.message, sizeof(st->error.message), fmt, ap);
	va_end(ap);
	snprintf(st->error.hint, sizeof(st->error.hint), "%s", hint ? hint : "");
	longjmp(st->on_error, 1);
}

/* Recursion guard: our own depth bound, then the host's stack check. */
void
CqlEnter(CqlState *st, int pos)
{
	if (st->depth >= CQL_MAX_DEPTH)
		CqlFail(st, CQL_ERR_TOO_DEEP, pos,
				"Flatten the query: parentheses, NOT and relations nest at most 64 deep.",
				"cql query nests too deeply at position %d", pos);
	if (st->env->check_stack)
		st->env->check_stack(st->env->ctx);
}

/* Levenshtein distance, case-insensitive, giving up (returning cap) beyond cap */
int
CqlEditDistance(const char *a, const char *b, int cap)
{
	int			la = strlen(a),
				lb = strlen(b);
	int			row[128];

	if (la > 120 || lb > 120 || (la > lb ? la - lb : lb - la) >= cap)
		return cap;
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++)
	{
		int			prev = row[0];
		int			best;

		row[0] = i;
		best = row[0];
		for (int j = 1; j <= lb; j++)
		{
			int			ca = a[i - 1],
						cb = b[j - 1];
			int			cost,
						v,
						tmp = row[j];

			if (ca >= 'A' && ca <= 'Z')
				ca += 'a' - 'A';
			if (cb >= 'A' && cb <= 'Z')
				cb += 'a' - 'A';
			cost = ca == cb ? 0 : 1;
			v = prev + cost;
			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			prev = tmp;
			if (v < best)
				best = v;
		}
		if (best >= cap)
			return cap;
	}
	return row[lb] < cap ? row[lb] : cap;
}

void
CqlBufInit(CqlBuf *b, CqlState *st)
{
	b->st = st;
	b->cap = 256;
	b->len = 0;
	b->data = CqlAlloc(st, b->cap);
}

void
CqlBufAppendN(CqlBuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		ncap = b->cap * 2;
		char	   *nd;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		nd = CqlAlloc(b->st, ncap);
		memcpy(nd, b->data, b->len);
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
CqlBufAppend(CqlBuf *b, const char *s)
{
	CqlBufAppendN(b, s, strlen(s));
}

void
CqlBufPrintf(CqlBuf *b, const char *fmt,...)
{
	char		tmp[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* callers format only catalogue names and numbers: short by construction */
	if (n < 0 || n >= (int) sizeof(tmp))
		CqlFail(b->st, CQL_ERR_TOO_LONG, 0, NULL, "cql output fragment too long");
	CqlBufAppendN(b, tmp, n);
}

/*
 * A SQL string literal, like quote_literal(): quotes doubled, and when
 * there is a backslash, the E'' form with backslashes doubled, so the
 * meaning is the same whatever standard_conforming_strings says.
 */
void
CqlBufQuote(CqlBuf *b, const char *s, size_t n)
{
	if (memchr(s, '\\', n))
		CqlBufAppendN(b, "E", 1);
	CqlBufAppendN(b, "'", 1);
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '\'' || s[i] == '\\')
			CqlBufAppendN(b, &s[i], 1);
		CqlBufAppendN(b, &s[i], 1);
	}
	CqlBufAppendN(b, "'", 1);
}

/* A JSON string (with its quotes), for building jsonb and jsonpath literals */
void
CqlBufJsonString(CqlBuf *b, const char *s, size_t n)
{
	CqlBufAppendN(b, "\"", 1);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
		{
			CqlBufAppendN(b, "\\", 1);
			CqlBufAppendN(b, (const char *) &c, 1);
		}
		else if (c < 0x20)
			CqlBufPrintf(b, "\\u%04x", c);
		else
			CqlBufAppendN(b, (const char *) &c, 1);
	}
	CqlBufAppendN(b, "\"", 1);
}

/* A LIKE pattern: the user's %, _ and \ escaped, then prefix/suffix wildcards */
void
CqlBufLikePattern(CqlBuf *b, const char *prefix, const char *s, size_t n, const char *suffix)
{
	CqlBuf		p;

	CqlBufInit(&p, b->st);
	CqlBufAppend(&p, prefix);
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
			CqlBufAppendN(&p, "\\", 1);
		CqlBufAppendN(&p, &s[i], 1);
	}
	CqlBufAppend(&p, suffix);
	CqlBufQuote(b, p.data, p.len);
}
