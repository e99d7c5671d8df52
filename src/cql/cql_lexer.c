/*-------------------------------------------------------------------------
 *
 * cql_lexer.c
 *	  Turns CQL text into tokens: a small state machine over bytes.
 *
 * Dates and timestamps are recognised and range-checked here, so a date
 * that reaches the SQL output is always one PostgreSQL accepts.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "cql.h"

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || (c) == '_')
#define IS_IDENT(c) (IS_ALPHA(c) || IS_DIGIT(c))
#define IS_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\f' || (c) == '\v')

typedef struct Lexer
{
	CqlState   *st;
	const char *s;
	int			len;
	int			i;
} Lexer;

static int
Pos(Lexer *lx, int off)
{
	return CqlCharPos(lx->s, off);
}

static int
Digits(Lexer *lx, int at, int n)
{
	int			v = 0;

	for (int k = 0; k < n; k++)
	{
		if (at + k >= lx->len || !IS_DIGIT(lx->s[at + k]))
			return -1;
		v = v * 10 + (lx->s[at + k] - '0');
	}
	return v;
}

static bool
ValidDate(int y, int m, int d)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/*
 * YYYY-MM-DD[THH:MM[:SS[.frac]][Z|+HH[:MM]|-HH[:MM]]] starting at lx->i;
 * returns its length, or 0 when the text is not a date at all.
 */
static int
LexDate(Lexer *lx, CqlToken *t)
{
	int			at = lx->i;
	int			y = Digits(lx, at, 4),
				m,
				d,
				n;

	if (y < 0 || at + 4 >= lx->len || lx->s[at + 4] != '-')
		return 0;
	m = Digits(lx, at + 5, 2);
	d = (at + 7 < lx->len && lx->s[at + 7] == '-') ? Digits(lx, at + 8, 2) : -1;
	if (m < 0 || d < 0 || (at + 10 < lx->len && IS_DIGIT(lx->s[at + 10])))
		CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, at), "Write dates as YYYY-MM-DD, for example 2024-01-31.",
				"invalid date \"%.*s\" at position %d", 12 < lx->len - at ? 12 : lx->len - at,
				lx->s + at, Pos(lx, at));
	if (!ValidDate(y, m, d))
		CqlFail(lx->st, CQL_ERR_VALUE, Pos(lx, at), "Write dates as YYYY-MM-DD, for example 2024-01-31.",
				"date out of range: \"%.10s\" at position %d", lx->s + at, Pos(lx, at));
	n = 10;
	t->kind = TK_DATE;
	if (at + n < lx->len && (lx->s[at + n] == 'T' || lx->s[at + n] == 't'))
	{
		int			hh = Digits(lx, at + n + 1, 2),
					mi = -1,
					ss = 0;

		if (hh >= 0 && at + n + 3 < lx->len && lx->s[at + n + 3] == ':')
			mi = Digits(lx, at + n + 4, 2);
		if (hh < 0 || mi < 0 || hh > 23 || mi > 59)
			CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, at),
					"Write timestamps as YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM], for example 2024-01-31T09:30:00Z.",
					"invalid timestamp at position %d", Pos(lx, at));
		n += 6;
		if (at + n < lx->len && lx->s[at + n] == ':')
		{
			ss = Digits(lx, at + n + 1, 2);
			if (ss < 0 || ss > 59)
				CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, at),
						"Seconds run from 00 to 59.", "invalid timestamp seconds at position %d", Pos(lx, at));
			n += 3;
			if (at + n < lx->len && lx->s[at + n] == '.')
			{
				int			f = 0;

				while (at + n + 1 + f < lx->len && IS_DIGIT(lx->s[at + n + 1 + f]) && f < 6)
					f++;
				if (f == 0)
					CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, at), "Write fractions of a second as .123.",
							"invalid timestamp fraction at position %d", Pos(lx, at));
				n += 1 + f;
			}
		}
		t->kind = TK_TIMESTAMP;
		if (at + n < lx->len && (lx->s[at + n] == 'Z' || lx->s[at + n] == 'z'))
		{
			t->has_zone = true;
			n++;
		}
		else if (at + n < lx->len && (lx->s[at + n] == '+' || lx->s[at + n] == '-') &&
				 Digits(lx, at + n + 1, 2) >= 0)
		{
			int			oh = Digits(lx, at + n + 1, 2),
						om = 0;

			n += 3;
			if (at + n < lx->len && lx->s[at + n] == ':')
			{
				om = Digits(lx, at + n + 1, 2);
				n += 3;
			}
			else if (Digits(lx, at + n, 2) >= 0)
			{
				om = Digits(lx, at + n, 2);
				n += 2;
			}
			if (oh > 15 || om < 0 || om > 59)
				CqlFail(lx->st, CQL_ERR_VALUE, Pos(lx, at), "A time zone offset is +HH:MM, between -15:59 and +15:59.",
						"invalid time zone offset at position %d", Pos(lx, at));
			t->has_zone = true;
		}
	}
	if (at + n < lx->len && IS_IDENT(lx->s[at + n]))
		CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, at),
				"Write timestamps as YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM], for example 2024-01-31T09:30:00Z.",
				"invalid date or timestamp at position %d", Pos(lx, at));
	return n;
}

/* A quoted string; the quote character doubled stands for itself. */
static int
LexString(Lexer *lx, CqlToken *t)
{
	char		q = lx->s[lx->i];
	int			j = lx->i + 1;
	CqlBuf		b;

	CqlBufInit(&b, lx->st);
	for (;;)
	{
		if (j >= lx->len)
			CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, lx->i),
					"Close the string with the quote it starts with; write a quote inside it twice.",
					"unterminated string at position %d", Pos(lx, lx->i));
		if (lx->s[j] == q)
		{
			if (j + 1 < lx->len && lx->s[j + 1] == q)
			{
				CqlBufAppendN(&b, &q, 1);
				j += 2;
				continue;
			}
			break;
		}
		CqlBufAppendN(&b, &lx->s[j], 1);
		j++;
	}
	t->kind = TK_STRING;
	t->text = b.data;
	t->textlen = b.len;
	return j + 1 - lx->i;
}

/* A number (123, 1.5, 1e6) or a duration (30d, 2h, 15m, 1w) */
static int
LexNumber(Lexer *lx, CqlToken *t)
{
	int			j = lx->i;

	while (j < lx->len && IS_DIGIT(lx->s[j]))
		j++;
	if (j < lx->len && lx->s[j] == '.' && j + 1 < lx->len && IS_DIGIT(lx->s[j + 1]))
	{
		j++;
		while (j < lx->len && IS_DIGIT(lx->s[j]))
			j++;
	}
	if (j < lx->len && (lx->s[j] == 'e' || lx->s[j] == 'E'))
	{
		int			k = j + 1;

		if (k < lx->len && (lx->s[k] == '+' || lx->s[k] == '-'))
			k++;
		if (k < lx->len && IS_DIGIT(lx->s[k]))
		{
			while (k < lx->len && IS_DIGIT(lx->s[k]))
				k++;
			j = k;
		}
	}
	t->kind = TK_NUMBER;
	if (j < lx->len && strchr("mhdw", lx->s[j]) && lx->s[j] != '\0' &&
		!(j + 1 < lx->len && IS_IDENT(lx->s[j + 1])))
	{
		/* durations are whole numbers */
		for (int k = lx->i; k < j; k++)
			if (!IS_DIGIT(lx->s[k]))
				CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, lx->i), "Write durations as a whole number and a unit: 30d, 12h, 15m, 2w.",
						"invalid duration \"%.*s\" at position %d", j + 1 - lx->i, lx->s + lx->i, Pos(lx, lx->i));
		t->kind = TK_DURATION;
		j++;
	}
	else if (j < lx->len && IS_IDENT(lx->s[j]))
	{
		int			k = j;

		while (k < lx->len && IS_IDENT(lx->s[k]) && k - lx->i < 40)
			k++;
		CqlFail(lx->st, CQL_ERR_SYNTAX, Pos(lx, lx->i),
				"Durations use the units m, h, d and w (30d); put spaces between a number and a word.",
				"invalid number \"%.*s\" at position %d", k - lx->i, lx->s + lx->i, Pos(lx, lx->i));
	}
	return j - lx->i;
}

void
CqlLex(CqlState *st, const char *query, size_t len)
{
	Lexer		lx = {st, query, (int) len, 0};
	int			cap = 16;

	st->toks = CqlAlloc(st, cap * sizeof(CqlToken));
	st->ntoks = 0;
	for (;;)
	{
		CqlToken   *t;
		int			n = 1;
		char		c;

		while (lx.i < lx.len && IS_SPACE(lx.s[lx.i]))
			lx.i++;
		if (st->ntoks == cap)
		{
			CqlToken   *nt = CqlAlloc(st, cap * 2 * sizeof(CqlToken));

			memcpy(nt, st->toks, cap * sizeof(CqlToken));
			st->toks = nt;
			cap *= 2;
		}
		t = &st->toks[st->ntoks++];
		t->start = lx.s + lx.i;
		t->pos = Pos(&lx, lx.i);
		if (lx.i >= lx.len)
		{
			t->kind = TK_EOF;
			t->text = "";
			return;
		}
		c = lx.s[lx.i];
		if (IS_ALPHA(c))
		{
			while (lx.i + n < lx.len && IS_IDENT(lx.s[lx.i + n]))
				n++;
			t->kind = TK_IDENT;
		}
		else if (IS_DIGIT(c))
		{
			n = LexDate(&lx, t);
			if (n == 0)
				n = LexNumber(&lx, t);
		}
		else if (c == '\'' || c == '"')
			n = LexString(&lx, t);
		else
		{
			char		d = lx.i + 1 < lx.len ? lx.s[lx.i + 1] : '\0';

			switch (c)
			{
				case '(': t->kind = TK_LPAREN; break;
				case ')': t->kind = TK_RPAREN; break;
				case ',': t->kind = TK_COMMA; break;
				case '.': t->kind = TK_DOT; break;
				case ':': t->kind = TK_COLON; break;
				case '=': t->kind = TK_EQ; if (d == '=') n = 2; break;
				case '~': t->kind = TK_TILDE; break;
				case '-': t->kind = TK_MINUS; break;
				case '+': t->kind = TK_PLUS; break;
				case '*': t->kind = TK_STAR; break;
				case '/': t->kind = TK_SLASH; break;
				case '!':
					if (d != '=')
						CqlFail(st, CQL_ERR_SYNTAX, t->pos, "Write \"not equal\" as != or <>, and negation as NOT.",
								"unexpected \"!\" at position %d", t->pos);
					t->kind = TK_NE;
					n = 2;
					break;
				case '<':
					t->kind = d == '=' ? TK_LE : d == '>' ? TK_NE : TK_LT;
					n = (d == '=' || d == '>') ? 2 : 1;
					break;
				case '>':
					t->kind = d == '=' ? TK_GE : TK_GT;
					n = d == '=' ? 2 : 1;
					break;
				case '\0':
					CqlFail(st, CQL_ERR_SYNTAX, t->pos, "Remove the NUL byte from the query.",
							"cql query contains a NUL byte at position %d", t->pos);
				default:
					{
						/* quote the whole (possibly multibyte) character */
						int			m = 1;

						while (lx.i + m < lx.len && ((unsigned char) lx.s[lx.i + m] & 0xC0) == 0x80 && m < 4)
							m++;
						CqlFail(st, CQL_ERR_SYNTAX, t->pos,
								"Quote text values with '...'; field names are letters, digits and _.",
								"unexpected character \"%.*s\" at position %d", m, lx.s + lx.i, t->pos);
					}
			}
		}
		t->len = n;
		if (t->kind != TK_STRING)
		{
			t->text = CqlStrndup(st, lx.s + lx.i, n);
			t->textlen = n;
		}
		lx.i += n;
	}
}
