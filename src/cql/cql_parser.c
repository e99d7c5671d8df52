/*-------------------------------------------------------------------------
 *
 * cql_parser.c
 *	  Recursive descent from tokens to the CQL syntax tree.
 *
 *	  query     := [ or ]
 *	  or        := and { OR and }
 *	  and       := unary { AND unary }
 *	  unary     := NOT unary | NOT IN LIST string | IN LIST string | primary
 *	  primary   := '(' or ')' | HAS field | EXISTS rel '(' [or] ')'
 *	             | COUNT '(' rel '(' [or] ')' ')' cmp number
 *	             | ASSOCIATED '(' word [',' LABEL '=' value] ')'
 *	             | field predicate
 *	  predicate := cmp value | [NOT] IN '(' values ')' | ALL '(' values ')'
 *	             | [NOT] BETWEEN value AND value | IS [NOT] (NULL | EMPTY)
 *	             | [NOT] CONTAINS value | STARTS WITH value | ENDS WITH value
 *	             | '~' value
 *	  field     := name { '.' (name | string) }
 *
 * Keywords are case-insensitive words; field names are resolved later,
 * by the translator, against the entity's catalogue.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cql.h"

static CqlNode *ParseOr(CqlState *st);

static CqlToken *
Peek(CqlState *st, int ahead)
{
	int			i = st->cur + ahead;

	return &st->toks[i < st->ntoks ? i : st->ntoks - 1];
}

static CqlToken *
Next(CqlState *st)
{
	CqlToken   *t = Peek(st, 0);

	if (t->kind != TK_EOF)
		st->cur++;
	return t;
}

/* Step back over a token taken with Next (which never steps past the end) */
static void
Unread(CqlState *st, CqlToken *t)
{
	if (t->kind != TK_EOF)
		st->cur--;
}

static bool
IsWord(CqlToken *t, const char *kw)
{
	return t->kind == TK_IDENT && strcasecmp(t->text, kw) == 0;
}

static bool
AcceptWord(CqlState *st, const char *kw)
{
	if (IsWord(Peek(st, 0), kw))
	{
		st->cur++;
		return true;
	}
	return false;
}

static const char *
Describe(CqlState *st, CqlToken *t)
{
	char	   *s;

	if (t->kind == TK_EOF)
		return "end of query";
	s = CqlAlloc(st, 64);
	snprintf(s, 64, "\"%.*s\"", t->len > 40 ? 40 : t->len, t->start);
	return s;
}

static void
Expected(CqlState *st, const char *what, const char *hint)
{
	CqlToken   *t = Peek(st, 0);

	CqlFail(st, CQL_ERR_SYNTAX, t->pos, hint,
			"cql syntax error at position %d: expected %s, found %s", t->pos, what, Describe(st, t));
}

static void
Expect(CqlState *st, CqlTokKind kind, const char *what)
{
	if (Peek(st, 0)->kind != kind)
		Expected(st, what, NULL);
	st->cur++;
}

static CqlNode *
NewNode(CqlState *st, CqlNodeKind kind, int pos)
{
	CqlNode    *n = CqlAlloc(st, sizeof(CqlNode));

	n->kind = kind;
	n->pos = pos;
	return n;
}

/* Parses digits of n for LAST_N_DAYS:n and friends */
static long
ParseN(CqlState *st, CqlToken *word)
{
	CqlToken   *t;
	long		n = 0;

	if (Peek(st, 0)->kind != TK_COLON)
		CqlFail(st, CQL_ERR_SYNTAX, word->pos, "Write it with a count, for example LAST_N_DAYS:30.",
				"cql syntax error at position %d: %s needs \":n\"", word->pos, word->text);
	st->cur++;
	t = Next(st);
	if (t->kind != TK_NUMBER || strspn(t->text, "0123456789") != (size_t) t->len)
		CqlFail(st, CQL_ERR_SYNTAX, t->pos, "Write it with a whole count, for example LAST_N_DAYS:30.",
				"cql syntax error at position %d: %s needs a whole number after \":\"", t->pos, word->text);
	n = t->len > 7 ? CQL_MAX_N + 1 : atol(t->text);
	if (n > CQL_MAX_N)
		CqlFail(st, CQL_ERR_VALUE, t->pos, "Use a count of at most 100000.",
				"count %ld of %s at position %d is too large", n, word->text, t->pos);
	return n;
}

/*
 * Salesforce-style relative date literals.  Each is a range of whole units
 * [trunc(unit) + from, trunc(unit) + to) in the session time zone.
 */
static bool
RelativeDate(CqlState *st, CqlToken *t, CqlValue *v)
{
	static const struct
	{
		const char *word;
		CqlUnit		unit;
	}			units[] = {
		{"DAY", U_DAY}, {"WEEK", U_WEEK}, {"MONTH", U_MONTH}, {"QUARTER", U_QUARTER}, {"YEAR", U_YEAR}
	};
	const char *w = t->text;
	char		buf[32];

	if (t->kind != TK_IDENT)
		return false;
	v->kind = V_RELDATE;
	v->unit = U_DAY;
	if (strcasecmp(w, "TODAY") == 0)
		v->from = 0, v->to = 1;
	else if (strcasecmp(w, "YESTERDAY") == 0)
		v->from = -1, v->to = 0;
	else if (strcasecmp(w, "TOMORROW") == 0)
		v->from = 1, v->to = 2;
	else
	{
		for (int i = 0; i < (int) (sizeof(units) / sizeof(units[0])); i++)
		{
			v->unit = units[i].unit;
			if (i > 0)
			{
				snprintf(buf, sizeof(buf), "THIS_%s", units[i].word);
				if (strcasecmp(w, buf) == 0)
					return v->from = 0, v->to = 1, true;
				snprintf(buf, sizeof(buf), "LAST_%s", units[i].word);
				if (strcasecmp(w, buf) == 0)
					return v->from = -1, v->to = 0, true;
				snprintf(buf, sizeof(buf), "NEXT_%s", units[i].word);
				if (strcasecmp(w, buf) == 0)
					return v->from = 1, v->to = 2, true;
			}
			snprintf(buf, sizeof(buf), "LAST_N_%sS", units[i].word);
			if (strcasecmp(w, buf) == 0)
			{
				long		n = ParseN(st, t);

				/* days include today (Salesforce); longer units end with the last whole one */
				if (units[i].unit == U_DAY)
					v->from = -n, v->to = 1;
				else
					v->from = -n, v->to = 0;
				return true;
			}
			snprintf(buf, sizeof(buf), "NEXT_N_%sS", units[i].word);
			if (strcasecmp(w, buf) == 0)
			{
				long		n = ParseN(st, t);

				v->from = 1, v->to = n + 1;
				return true;
			}
			snprintf(buf, sizeof(buf), "N_%sS_AGO", units[i].word);
			if (strcasecmp(w, buf) == 0)
			{
				long		n = ParseN(st, t);

				v->from = -n, v->to = -n + 1;
				return true;
			}
		}
		return false;
	}
	return true;
}

static void
ParseValue(CqlState *st, CqlValue *v)
{
	CqlToken   *t = Next(st);

	memset(v, 0, sizeof(*v));
	v->pos = t->pos;
	v->text = t->text;
	v->textlen = t->textlen;
	switch (t->kind)
	{
		case TK_STRING:
			v->kind = V_STRING;
			return;
		case TK_NUMBER:
			v->kind = V_NUMBER;
			return;
		case TK_MINUS:
			if (Peek(st, 0)->kind != TK_NUMBER)
				break;
			t = Next(st);
			v->kind = V_NUMBER;
			v->text = CqlAlloc(st, t->textlen + 2);
			v->text[0] = '-';
			memcpy(v->text + 1, t->text, t->textlen);
			v->textlen = t->textlen + 1;
			return;
		case TK_DATE:
			v->kind = V_DATE;
			return;
		case TK_TIMESTAMP:
			v->kind = V_TIMESTAMP;
			v->has_zone = t->has_zone;
			return;
		case TK_IDENT:
			if (strcasecmp(t->text, "true") == 0 || strcasecmp(t->text, "false") == 0)
			{
				v->kind = V_BOOL;
				v->boolval = (t->text[0] == 't' || t->text[0] == 'T');
				return;
			}
			if (strcasecmp(t->text, "null") == 0)
			{
				v->kind = V_NULL;
				return;
			}
			if (strcasecmp(t->text, "now") == 0)
			{
				v->kind = V_NOW;
				v->unit = U_MINUTE;
				if (Peek(st, 0)->kind == TK_MINUS || Peek(st, 0)->kind == TK_PLUS)
				{
					bool		minus = Next(st)->kind == TK_MINUS;
					CqlToken   *d = Next(st);
					char		u;

					if (d->kind != TK_DURATION || d->len > 7)
						CqlFail(st, CQL_ERR_SYNTAX, d->pos, "Write a duration as a whole number and a unit m, h, d or w: NOW - 30d.",
								"cql syntax error at position %d: expected a duration after NOW, found %s",
								d->pos, Describe(st, d));
					u = d->text[d->len - 1];
					v->unit = u == 'm' ? U_MINUTE : u == 'h' ? U_HOUR : u == 'd' ? U_DAY : U_WEEK;
					v->amount = atol(d->text) * (minus ? -1 : 1);
				}
				return;
			}
			if (RelativeDate(st, t, v))
				return;
			v->kind = V_WORD;
			return;
		default:
			break;
	}
	Unread(st, t);
	Expected(st, "a value", "Values are 'text', numbers, true/false, null, enum words, dates (2024-01-31), NOW - 30d or TODAY-style date literals.");
}

static void
ParseValueList(CqlState *st, CqlNode *n)
{
	int			cap = 4;

	Expect(st, TK_LPAREN, "\"(\" starting a list of values");
	n->values = CqlAlloc(st, cap * sizeof(CqlValue));
	for (;;)
	{
		if (n->nvalues == CQL_MAX_LIST)
			CqlFail(st, CQL_ERR_TOO_LONG, Peek(st, 0)->pos, "Split the list, or use tags or a property for large sets.",
					"list at position %d has more than %d values", n->pos, CQL_MAX_LIST);
		if (n->nvalues == cap)
		{
			CqlValue   *nv = CqlAlloc(st, cap * 2 * sizeof(CqlValue));

			memcpy(nv, n->values, cap * sizeof(CqlValue));
			n->values = nv;
			cap *= 2;
		}
		ParseValue(st, &n->values[n->nvalues++]);
		if (Peek(st, 0)->kind == TK_COMMA)
		{
			st->cur++;
			continue;
		}
		Expect(st, TK_RPAREN, "\",\" or \")\" in a list of values");
		return;
	}
}

static void
ParsePath(CqlState *st, CqlPath *p)
{
	CqlToken   *t = Peek(st, 0);

	if (t->kind != TK_IDENT || IsWord(t, "AND") || IsWord(t, "OR"))
		Expected(st, "a field name", "Start each condition with a field, for example: status = ACTIVE.");
	p->nseg = 0;
	for (;;)
	{
		t = Next(st);
		if (p->nseg == CQL_MAX_PATH)
			CqlFail(st, CQL_ERR_SYNTAX, t->pos, NULL,
					"cql syntax error at position %d: field name has too many parts", t->pos);
		p->seg[p->nseg] = t->text;
		p->segpos[p->nseg] = t->pos;
		p->quoted[p->nseg] = t->kind == TK_STRING;
		p->nseg++;
		if (Peek(st, 0)->kind != TK_DOT)
			return;
		st->cur++;
		if (Peek(st, 0)->kind != TK_IDENT && Peek(st, 0)->kind != TK_STRING)
			Expected(st, "a field name after \".\"", "Write related fields as company.industry and properties as properties.plan.");
	}
}

static CqlOp
CmpOp(CqlTokKind k)
{
	switch (k)
	{
		case TK_EQ: return OP_EQ;
		case TK_NE: return OP_NE;
		case TK_LT: return OP_LT;
		case TK_LE: return OP_LE;
		case TK_GT: return OP_GT;
		case TK_GE: return OP_GE;
		default: return (CqlOp) -1;
	}
}

static void
OneValue(CqlState *st, CqlNode *n)
{
	n->nvalues = 1;
	n->values = CqlAlloc(st, sizeof(CqlValue));
	ParseValue(st, &n->values[0]);
}

static void
ParsePredicate(CqlState *st, CqlNode *n)
{
	CqlToken   *t = Peek(st, 0);
	bool		not = false;

	if ((int) CmpOp(t->kind) >= 0)
	{
		st->cur++;
		n->op = CmpOp(t->kind);
		OneValue(st, n);
		return;
	}
	if (t->kind == TK_TILDE)
	{
		st->cur++;
		n->op = OP_FUZZY;
		OneValue(st, n);
		return;
	}
	if (AcceptWord(st, "IS"))
	{
		not = AcceptWord(st, "NOT");
		if (AcceptWord(st, "NULL"))
			n->op = not ? OP_IS_NOT_NULL : OP_IS_NULL;
		else if (AcceptWord(st, "EMPTY"))
			n->op = not ? OP_IS_NOT_EMPTY : OP_IS_EMPTY;
		else
			Expected(st, "NULL or EMPTY after IS", NULL);
		return;
	}
	if (AcceptWord(st, "STARTS") || AcceptWord(st, "ENDS"))
	{
		n->op = IsWord(Peek(st, -1), "STARTS") ? OP_STARTS : OP_ENDS;
		if (!AcceptWord(st, "WITH"))
			Expected(st, "WITH", "Write STARTS WITH 'text' or ENDS WITH 'text'.");
		OneValue(st, n);
		return;
	}
	if (AcceptWord(st, "ALL"))
	{
		n->op = OP_ALL;
		ParseValueList(st, n);
		return;
	}
	not = AcceptWord(st, "NOT");
	if (AcceptWord(st, "IN"))
	{
		n->op = not ? OP_NOT_IN : OP_IN;
		ParseValueList(st, n);
		return;
	}
	if (AcceptWord(st, "BETWEEN"))
	{
		n->op = not ? OP_NOT_BETWEEN : OP_BETWEEN;
		n->nvalues = 2;
		n->values = CqlAlloc(st, 2 * sizeof(CqlValue));
		ParseValue(st, &n->values[0]);
		if (!AcceptWord(st, "AND"))
			Expected(st, "AND in BETWEEN ... AND ...", NULL);
		ParseValue(st, &n->values[1]);
		return;
	}
	if (AcceptWord(st, "CONTAINS"))
	{
		n->op = not ? OP_NOT_CONTAINS : OP_CONTAINS;
		OneValue(st, n);
		return;
	}
	Expected(st, not ? "IN, BETWEEN or CONTAINS after NOT" : "an operator",
			 "Operators are = != <> < <= > >= ~, [NOT] IN (...), ALL (...), [NOT] BETWEEN, IS [NOT] NULL, IS [NOT] EMPTY, [NOT] CONTAINS, STARTS WITH, ENDS WITH.");
}

/*
 * A condition on the history of values: field EVER = v | EVER IN (...),
 * NEVER likewise, CHANGED [SINCE time], WAS v ON time.  False, nothing
 * read, when the word after the field is none of these.
 */
static bool
ParseHistory(CqlState *st, CqlNode *n)
{
	CqlToken   *t = Peek(st, 0);

	if (t->kind != TK_IDENT)
		return false;
	if (IsWord(t, "EVER") || IsWord(t, "NEVER"))
	{
		st->cur++;
		n->kind = N_HISTORY;
		n->hist = IsWord(t, "EVER") ? H_EVER : H_NEVER;
		if (Peek(st, 0)->kind == TK_EQ)
		{
			st->cur++;
			n->op = OP_EQ;
			OneValue(st, n);
		}
		else if (AcceptWord(st, "IN"))
		{
			n->op = OP_IN;
			ParseValueList(st, n);
		}
		else
			Expected(st, "= or IN after EVER or NEVER",
					 "Write for example lifecycleStage EVER = CUSTOMER or plan NEVER IN ('enterprise').");
		return true;
	}
	if (IsWord(t, "CHANGED"))
	{
		st->cur++;
		n->kind = N_HISTORY;
		n->hist = H_CHANGED;
		if (AcceptWord(st, "SINCE"))
		{
			n->label = CqlAlloc(st, sizeof(CqlValue));
			ParseValue(st, n->label);
		}
		return true;
	}
	if (IsWord(t, "WAS"))
	{
		st->cur++;
		n->kind = N_HISTORY;
		n->hist = H_WAS;
		n->op = OP_EQ;
		OneValue(st, n);
		if (!AcceptWord(st, "ON"))
			Expected(st, "ON and a time after WAS and the value",
					 "Write for example lifecycleStage WAS LEAD ON 2024-06-01.");
		n->label = CqlAlloc(st, sizeof(CqlValue));
		ParseValue(st, n->label);
		return true;
	}
	return false;
}

/* rel '(' [or] ')' of EXISTS and COUNT */
static void
ParseRelation(CqlState *st, CqlNode *n)
{
	CqlToken   *t = Peek(st, 0);

	if (t->kind != TK_IDENT)
		Expected(st, "a relation name", "Write for example EXISTS contacts(city = 'Paris').");
	st->cur++;
	n->path.nseg = 1;
	n->path.seg[0] = t->text;
	n->path.segpos[0] = t->pos;
	Expect(st, TK_LPAREN, "\"(\" after the relation name");
	if (Peek(st, 0)->kind == TK_RPAREN)
		n->left = NewNode(st, N_TRUE, Peek(st, 0)->pos);
	else
	{
		st->depth++;
		n->left = ParseOr(st);
		st->depth--;
	}
	Expect(st, TK_RPAREN, "\")\" closing the relation's conditions");
}

static CqlNode *
ParsePrimary(CqlState *st)
{
	CqlToken   *t = Peek(st, 0);
	CqlNode    *n;

	if (t->kind == TK_LPAREN)
	{
		st->cur++;
		st->depth++;
		n = ParseOr(st);
		st->depth--;
		Expect(st, TK_RPAREN, "\")\"");
		return n;
	}
	if (t->kind == TK_IDENT && Peek(st, 1)->kind != TK_DOT)
	{
		if (IsWord(t, "HAS") && Peek(st, 1)->kind == TK_IDENT)
		{
			st->cur++;
			n = NewNode(st, N_HAS, t->pos);
			ParsePath(st, &n->path);
			return n;
		}
		if (IsWord(t, "EXISTS") && Peek(st, 1)->kind == TK_IDENT)
		{
			st->cur++;
			n = NewNode(st, N_EXISTS, t->pos);
			ParseRelation(st, n);
			return n;
		}
		if (IsWord(t, "COUNT") && Peek(st, 1)->kind == TK_LPAREN)
		{
			CqlToken   *op;

			st->cur += 2;
			n = NewNode(st, N_COUNT, t->pos);
			ParseRelation(st, n);
			Expect(st, TK_RPAREN, "\")\" closing COUNT(");
			op = Next(st);
			if ((int) CmpOp(op->kind) < 0)
			{
				Unread(st, op);
				Expected(st, "a comparison after COUNT(...)", "Write for example COUNT(contacts()) >= 2.");
			}
			n->op = CmpOp(op->kind);
			OneValue(st, n);
			if (n->values[0].kind != V_NUMBER)
				CqlFail(st, CQL_ERR_TYPE, n->values[0].pos, "Compare COUNT(...) with a whole number.",
						"COUNT(...) at position %d is compared with a non-number", t->pos);
			return n;
		}
		if (IsWord(t, "ASSOCIATED") && Peek(st, 1)->kind == TK_LPAREN)
		{
			CqlToken   *type;

			st->cur += 2;
			n = NewNode(st, N_ASSOC, t->pos);
			type = Next(st);
			if (type->kind != TK_IDENT && type->kind != TK_STRING)
			{
				Unread(st, type);
				Expected(st, "an object type in associated(...)", "Write for example associated(course).");
			}
			n->name = type->text;
			if (Peek(st, 0)->kind == TK_COMMA)
			{
				st->cur++;
				if (!AcceptWord(st, "LABEL"))
					Expected(st, "label = 'text'", NULL);
				Expect(st, TK_EQ, "\"=\" after label");
				n->label = CqlAlloc(st, sizeof(CqlValue));
				ParseValue(st, n->label);
			}
			Expect(st, TK_RPAREN, "\")\" closing associated(");
			return n;
		}
	}
	n = NewNode(st, N_CMP, t->pos);
	ParsePath(st, &n->path);
	if (!ParseHistory(st, n))
		ParsePredicate(st, n);
	return n;
}

static CqlNode *
ParseInList(CqlState *st, bool negated, int pos)
{
	CqlNode    *n = NewNode(st, N_IN_LIST, pos);
	CqlToken   *t;

	n->negated = negated;
	st->cur += 2;				/* IN LIST */
	t = Next(st);
	if (t->kind != TK_STRING)
	{
		Unread(st, t);
		Expected(st, "a list name in quotes", "Write IN LIST 'newsletter'.");
	}
	n->name = t->text;
	return n;
}

static CqlNode *
ParseUnary(CqlState *st)
{
	CqlToken   *t = Peek(st, 0);
	CqlNode    *n;

	CqlEnter(st, t->pos);
	if (IsWord(t, "IN") && IsWord(Peek(st, 1), "LIST"))
		return ParseInList(st, false, t->pos);
	if (IsWord(t, "NOT") && Peek(st, 1)->kind != TK_DOT)
	{
		if (IsWord(Peek(st, 1), "IN") && IsWord(Peek(st, 2), "LIST"))
		{
			st->cur++;
			return ParseInList(st, true, t->pos);
		}
		st->cur++;
		n = NewNode(st, N_NOT, t->pos);
		st->depth++;
		n->left = ParseUnary(st);
		st->depth--;
		return n;
	}
	return ParsePrimary(st);
}

static CqlNode *
ParseAnd(CqlState *st)
{
	CqlNode    *n = ParseUnary(st);

	while (IsWord(Peek(st, 0), "AND"))
	{
		CqlNode    *a = NewNode(st, N_AND, Next(st)->pos);

		a->left = n;
		a->right = ParseUnary(st);
		n = a;
	}
	return n;
}

static CqlNode *
ParseOr(CqlState *st)
{
	CqlNode    *n;

	CqlEnter(st, Peek(st, 0)->pos);
	n = ParseAnd(st);
	while (IsWord(Peek(st, 0), "OR"))
	{
		CqlNode    *o = NewNode(st, N_OR, Next(st)->pos);

		o->left = n;
		o->right = ParseAnd(st);
		n = o;
	}
	return n;
}

CqlNode *
CqlParseTokens(CqlState *st)
{
	CqlNode    *n;

	st->cur = 0;
	if (Peek(st, 0)->kind == TK_EOF)
		return NewNode(st, N_TRUE, 1);
	n = ParseOr(st);
	if (Peek(st, 0)->kind != TK_EOF)
		Expected(st, "AND, OR or the end of the query",
				 Peek(st, 0)->kind == TK_RPAREN ? "Remove the unmatched \")\"." :
				 "Join conditions with AND or OR; quote text values that contain spaces.");
	return n;
}

/* Syntax only: what the crm.cql type's input function checks */
bool
CqlParse(CqlState *st, const char *query, size_t len, CqlNode **tree)
{
	if (setjmp(st->on_error) != 0)
		return false;
	if (len > CQL_MAX_LENGTH)
		CqlFail(st, CQL_ERR_TOO_LONG, 0, "Keep a query under 64 kB; put long value lists into tags, properties or a list.",
				"cql query is too long (%zu bytes)", len);
	if (memchr(query, '\0', len))
		CqlFail(st, CQL_ERR_SYNTAX, CqlCharPos(query, (const char *) memchr(query, '\0', len) - query),
				"Remove the NUL byte from the query.", "cql query contains a NUL byte at position %d",
				CqlCharPos(query, (const char *) memchr(query, '\0', len) - query));
	st->query = query;
	st->querylen = (int) len;
	CqlLex(st, query, len);
	*tree = CqlParseTokens(st);
	return true;
}
