/*-------------------------------------------------------------------------
 *
 * cql_formula.c
 *	  Formulas of computed properties: an expression over one record's
 *	  fields in CQL's tokens, type-checked and written as a SQL expression
 *	  of the root row.  One pass of recursive descent that emits as it
 *	  parses:
 *
 *	    expr    := and {OR and}
 *	    and     := not {AND not}
 *	    not     := NOT not | cmp
 *	    cmp     := sum [(= | != | <> | < | <= | > | >=) sum | IS [NOT] NULL]
 *	    sum     := product {(+ | -) product}
 *	    product := unary {(* | /) unary}
 *	    unary   := - unary | primary
 *	    primary := number | 'text' | date | timestamp | TRUE | FALSE | NULL
 *	             | NOW | TODAY | name(args) | field | ( expr )
 *
 * Whatever the row holds, the SQL does not raise: division by zero is
 * null, text concatenation treats null as empty, and property values are
 * cast only to their declared type, which the validation trigger holds
 * them to.  Operators are spelt OPERATOR(pg_catalog.x), for the SQL runs
 * in a row trigger under the writer's search_path.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cql.h"

typedef struct Expr
{
	CqlFormulaType type;
	char	   *sql;
	int			pos;
} Expr;

typedef struct Fx
{
	CqlState   *st;
	const CqlEntity *e;
	const char *alias;
} Fx;

static void Or(Fx *x, Expr *out);

static const char *const type_names[] = {"null", "number", "text", "boolean", "date", "datetime"};

const char *
CqlFormulaTypeName(CqlFormulaType t)
{
	return type_names[t];
}

static CqlToken *
Tok(Fx *x)
{
	return &x->st->toks[x->st->cur];
}

static bool
IsWord(CqlToken *t, const char *w)
{
	return t->kind == TK_IDENT && strcasecmp(t->text, w) == 0;
}

static char *
Fmt(Fx *x, const char *fmt, const char *a, const char *b)
{
	CqlBuf		buf;

	CqlBufInit(&buf, x->st);
	CqlBufPrintf(&buf, fmt, a, b);
	return buf.data;
}

static void
Mismatch(Fx *x, int pos, const char *what, CqlFormulaType a, CqlFormulaType b)
{
	CqlFail(x->st, CQL_ERR_TYPE, pos,
			"Numbers take + - * /, text + text concatenates, date - date gives days; compare values of one type.",
			"%s cannot apply to %s and %s at position %d", what, type_names[a], type_names[b], pos);
}

static const char *
TypedNull(CqlFormulaType t)
{
	switch (t)
	{
		case F_NUMBER: return "NULL::pg_catalog.numeric";
		case F_BOOL: return "NULL::pg_catalog.bool";
		case F_DATE: return "NULL::pg_catalog.date";
		case F_DATETIME: return "NULL::pg_catalog.timestamptz";
		default: return "NULL::pg_catalog.text";
	}
}

/*
 * The type two operands share: equal, or one is NULL (which then takes the
 * other's type, so no operator is ambiguous); dates widen to datetimes.
 */
static CqlFormulaType
Common(Fx *x, int pos, const char *what, Expr *a, Expr *b)
{
	if (a->type == b->type)
		return a->type;
	if (b->type == F_NULL)
	{
		b->sql = (char *) TypedNull(a->type);
		return a->type;
	}
	if (a->type == F_NULL)
	{
		a->sql = (char *) TypedNull(b->type);
		return b->type;
	}
	if ((a->type == F_DATE && b->type == F_DATETIME) || (a->type == F_DATETIME && b->type == F_DATE))
	{
		Expr	   *d = a->type == F_DATE ? a : b;

		d->sql = Fmt(x, "(%s)::pg_catalog.timestamptz", d->sql, NULL);
		d->type = F_DATETIME;
		return F_DATETIME;
	}
	Mismatch(x, pos, what, a->type, b->type);
	return F_NULL;
}

static void
Require(Fx *x, Expr *e, CqlFormulaType t, const char *what)
{
	if (e->type != t && e->type != F_NULL)
		CqlFail(x->st, CQL_ERR_TYPE, e->pos, "Give it a value of that type, for example with IF(...) or a comparison.",
				"%s needs %s, not %s, at position %d", what, type_names[t], type_names[e->type], e->pos);
	if (e->type == F_NULL)
		e->sql = (char *) TypedNull(t);
}

static void
Expect(Fx *x, CqlTokKind kind, const char *what)
{
	CqlToken   *t = Tok(x);

	if (t->kind != kind)
		CqlFail(x->st, CQL_ERR_SYNTAX, t->pos, "Write for example: IF(seats > 10, 'big', 'small').",
				"formula syntax error at position %d: expected %s", t->pos, what);
	x->st->cur++;
}

static void
Number(Fx *x, CqlToken *t, Expr *out)
{
	const char *e = strpbrk(t->text, "eE");

	if ((e && (abs(atoi(e + 1)) > 1000 || strlen(e + 1) > 6)) || strlen(t->text) > 100)
		CqlFail(x->st, CQL_ERR_VALUE, t->pos, "Use at most 100 digits and an exponent between -1000 and 1000.",
				"number \"%.40s\" at position %d is out of range", t->text, t->pos);
	out->type = F_NUMBER;
	out->sql = Fmt(x, "%s::pg_catalog.numeric", t->text, NULL);
}

/* The arguments of name(...), each parsed as an expression */
static int
Args(Fx *x, Expr *args, int max, const char *name)
{
	int			n = 0;

	Expect(x, TK_LPAREN, "\"(\"");
	if (Tok(x)->kind == TK_RPAREN)
	{
		x->st->cur++;
		return 0;
	}
	for (;;)
	{
		if (n == max)
			CqlFail(x->st, CQL_ERR_SYNTAX, Tok(x)->pos, NULL,
					"%s takes at most %d arguments (position %d)", name, max, Tok(x)->pos);
		Or(x, &args[n++]);
		if (Tok(x)->kind == TK_COMMA)
		{
			x->st->cur++;
			continue;
		}
		Expect(x, TK_RPAREN, "\",\" or \")\"");
		return n;
	}
}

static void
Arity(Fx *x, int pos, const char *name, int n, int min, int max)
{
	if (n < min || n > max)
		CqlFail(x->st, CQL_ERR_SYNTAX, pos, "Functions: IF(condition, then, else), COALESCE(a, b, ...), ROUND(number[, digits]), ABS(number), DAYS_BETWEEN(from, to), DAYS_SINCE(date), LOWER(text), UPPER(text).",
				"%s takes %d to %d arguments, not %d (position %d)", name, min, max, n, pos);
}

/* Whole days from a to b (dates or datetimes), as a number */
static char *
Days(Fx *x, Expr *a, Expr *b, int pos)
{
	if (a->type == F_NULL && b->type == F_NULL)
		return "NULL::pg_catalog.numeric";
	if ((a->type != F_DATE && a->type != F_DATETIME && a->type != F_NULL) ||
		(b->type != F_DATE && b->type != F_DATETIME && b->type != F_NULL))
		Mismatch(x, pos, "a difference of days", a->type, b->type);
	if (Common(x, pos, "a difference of days", a, b) == F_DATE)
		return Fmt(x, "((%s) OPERATOR(pg_catalog.-) (%s))::pg_catalog.numeric", b->sql, a->sql);
	return Fmt(x, "pg_catalog.floor(pg_catalog.date_part('epoch', (%s) OPERATOR(pg_catalog.-) (%s))::pg_catalog.numeric"
			   " OPERATOR(pg_catalog./) 86400)", b->sql, a->sql);
}

static void
Call(Fx *x, CqlToken *name, Expr *out)
{
	Expr		args[16];
	int			n;
	int			pos = name->pos;
	CqlBuf		b;

	out->type = F_NUMBER;
	if (IsWord(name, "IF"))
	{
		n = Args(x, args, 3, "IF");
		Arity(x, pos, "IF", n, 3, 3);
		Require(x, &args[0], F_BOOL, "the condition of IF");
		out->type = Common(x, args[2].pos, "IF", &args[1], &args[2]);
		out->sql = Fmt(x, "CASE WHEN %s THEN %s", args[0].sql, args[1].sql);
		out->sql = Fmt(x, "(%s ELSE %s END)", out->sql, args[2].sql);
		return;
	}
	if (IsWord(name, "COALESCE"))
	{
		n = Args(x, args, 16, "COALESCE");
		Arity(x, pos, "COALESCE", n, 1, 16);
		CqlBufInit(&b, x->st);
		CqlBufAppend(&b, "COALESCE(");
		out->type = args[0].type;
		for (int i = 1; i < n; i++)
			out->type = Common(x, args[i].pos, "COALESCE", &(Expr) {out->type, args[0].sql, args[0].pos}, &args[i]);
		for (int i = 0; i < n; i++)
			CqlBufPrintf(&b, "%s%s", i ? ", " : "", args[i].sql);
		CqlBufAppend(&b, ")");
		out->sql = b.data;
		if (out->type == F_DATETIME)
			for (int i = 0; i < n; i++)
				if (args[i].type == F_DATE)
					CqlFail(x->st, CQL_ERR_TYPE, args[i].pos, "Give COALESCE values of one type.",
							"COALESCE cannot mix date and datetime at position %d", args[i].pos);
		return;
	}
	if (IsWord(name, "ROUND") || IsWord(name, "ABS"))
	{
		bool		round = IsWord(name, "ROUND");

		n = Args(x, args, 2, name->text);
		Arity(x, pos, round ? "ROUND" : "ABS", n, 1, round ? 2 : 1);
		Require(x, &args[0], F_NUMBER, round ? "ROUND" : "ABS");
		if (!round)
		{
			out->sql = Fmt(x, "pg_catalog.abs(%s)", args[0].sql, NULL);
			return;
		}
		if (n == 2)
		{
			Require(x, &args[1], F_NUMBER, "the digits of ROUND");
			/* digits bounded so that no row value can make the call fail */
			out->sql = Fmt(x, "pg_catalog.round(%s, LEAST(GREATEST(%s, -100::pg_catalog.numeric), 100::pg_catalog.numeric)::pg_catalog.int4)",
						   args[0].sql, args[1].sql);
		}
		else
			out->sql = Fmt(x, "pg_catalog.round(%s)", args[0].sql, NULL);
		return;
	}
	if (IsWord(name, "DAYS_BETWEEN"))
	{
		n = Args(x, args, 2, "DAYS_BETWEEN");
		Arity(x, pos, "DAYS_BETWEEN", n, 2, 2);
		out->sql = Days(x, &args[0], &args[1], pos);
		return;
	}
	if (IsWord(name, "DAYS_SINCE"))
	{
		Expr		today = {F_DATE, "CURRENT_DATE", pos};

		n = Args(x, args, 1, "DAYS_SINCE");
		Arity(x, pos, "DAYS_SINCE", n, 1, 1);
		if (args[0].type == F_DATETIME)
			today = (Expr) {F_DATETIME, "pg_catalog.now()", pos};
		x->st->time_relative = true;
		out->sql = Days(x, &args[0], &today, pos);
		return;
	}
	if (IsWord(name, "LOWER") || IsWord(name, "UPPER"))
	{
		n = Args(x, args, 1, name->text);
		Arity(x, pos, name->text, n, 1, 1);
		Require(x, &args[0], F_TEXT, name->text);
		out->type = F_TEXT;
		out->sql = Fmt(x, IsWord(name, "LOWER") ? "pg_catalog.lower(%s)" : "pg_catalog.upper(%s)", args[0].sql, NULL);
		return;
	}
	CqlFail(x->st, CQL_ERR_UNKNOWN_FIELD, pos,
			"Functions: IF(condition, then, else), COALESCE(a, b, ...), ROUND(number[, digits]), ABS(number), DAYS_BETWEEN(from, to), DAYS_SINCE(date), LOWER(text), UPPER(text).",
			"unknown function \"%.60s\" at position %d", name->text, pos);
}

static void
Primary(Fx *x, Expr *out)
{
	CqlToken   *t = Tok(x);
	CqlBuf		b;

	out->pos = t->pos;
	switch (t->kind)
	{
		case TK_NUMBER:
			x->st->cur++;
			Number(x, t, out);
			return;
		case TK_STRING:
			x->st->cur++;
			CqlBufInit(&b, x->st);
			CqlBufQuote(&b, t->text, t->textlen);
			CqlBufAppend(&b, "::pg_catalog.text");
			out->type = F_TEXT;
			out->sql = b.data;
			return;
		case TK_DATE:
		case TK_TIMESTAMP:
			x->st->cur++;
			CqlBufInit(&b, x->st);
			CqlBufQuote(&b, t->text, t->textlen);
			out->type = t->kind == TK_DATE ? F_DATE : F_DATETIME;
			CqlBufAppend(&b, t->kind == TK_DATE ? "::pg_catalog.date" : "::pg_catalog.timestamptz");
			out->sql = b.data;
			return;
		case TK_LPAREN:
			x->st->cur++;
			Or(x, out);
			Expect(x, TK_RPAREN, "\")\"");
			return;
		case TK_IDENT:
			if (IsWord(t, "TRUE") || IsWord(t, "FALSE"))
			{
				x->st->cur++;
				out->type = F_BOOL;
				out->sql = IsWord(t, "TRUE") ? "true" : "false";
				return;
			}
			if (IsWord(t, "NULL"))
			{
				x->st->cur++;
				out->type = F_NULL;
				out->sql = "NULL";
				return;
			}
			if (IsWord(t, "NOW") || IsWord(t, "TODAY"))
			{
				x->st->cur++;
				x->st->time_relative = true;
				out->type = IsWord(t, "NOW") ? F_DATETIME : F_DATE;
				out->sql = IsWord(t, "NOW") ? "pg_catalog.now()" : "CURRENT_DATE";
				return;
			}
			if (x->st->toks[x->st->cur + 1].kind == TK_LPAREN)
			{
				x->st->cur++;
				Call(x, t, out);
				return;
			}
			{
				CqlPath		p;
				CqlRootField f;

				CqlPathFromTokens(x->st, &p, "Name a field of the record, for example seats or properties.plan.");
				CqlResolveRootField(x->st, x->e, x->alias, &p, &f);
				out->type = f.type;
				out->sql = (char *) f.sql;
			}
			return;
		default:
			CqlFail(x->st, CQL_ERR_SYNTAX, t->pos, "Write for example: IF(seats > 10, 'big', 'small').",
					"formula syntax error at position %d: expected a value, a field or \"(\"", t->pos);
	}
}

static void
Unary(Fx *x, Expr *out)
{
	CqlToken   *t = Tok(x);

	CqlEnter(x->st, t->pos);
	x->st->depth++;
	if (t->kind == TK_MINUS)
	{
		x->st->cur++;
		Unary(x, out);
		Require(x, out, F_NUMBER, "\"-\"");
		out->sql = Fmt(x, "(OPERATOR(pg_catalog.-) %s)", out->sql, NULL);
		out->pos = t->pos;
	}
	else
		Primary(x, out);
	x->st->depth--;
}

static void
Product(Fx *x, Expr *out)
{
	Unary(x, out);
	while (Tok(x)->kind == TK_STAR || Tok(x)->kind == TK_SLASH)
	{
		CqlToken   *op = Tok(x);
		Expr		r;

		x->st->cur++;
		Unary(x, &r);
		Require(x, out, F_NUMBER, op->kind == TK_STAR ? "\"*\"" : "\"/\"");
		Require(x, &r, F_NUMBER, op->kind == TK_STAR ? "\"*\"" : "\"/\"");
		/* dividing by zero gives null rather than failing the row's write */
		out->sql = op->kind == TK_STAR ?
			Fmt(x, "(%s OPERATOR(pg_catalog.*) %s)", out->sql, r.sql) :
			Fmt(x, "(%s OPERATOR(pg_catalog./) NULLIF(%s, 0))", out->sql, r.sql);
		out->type = F_NUMBER;
	}
}

static void
Sum(Fx *x, Expr *out)
{
	Product(x, out);
	while (Tok(x)->kind == TK_PLUS || Tok(x)->kind == TK_MINUS)
	{
		CqlToken   *op = Tok(x);
		bool		plus = op->kind == TK_PLUS;
		Expr		r;

		x->st->cur++;
		Product(x, &r);
		if (plus && (out->type == F_TEXT || r.type == F_TEXT))
		{
			/* text + text concatenates, a null part as empty text */
			Common(x, op->pos, "\"+\"", out, &r);
			out->sql = Fmt(x, "pg_catalog.concat(%s, %s)", out->sql, r.sql);
			out->type = F_TEXT;
			continue;
		}
		if (!plus && (out->type == F_DATE || out->type == F_DATETIME))
		{
			out->sql = Days(x, &r, out, op->pos);
			out->type = F_NUMBER;
			continue;
		}
		Require(x, out, F_NUMBER, plus ? "\"+\"" : "\"-\"");
		Require(x, &r, F_NUMBER, plus ? "\"+\"" : "\"-\"");
		out->sql = Fmt(x, plus ? "(%s OPERATOR(pg_catalog.+) %s)" : "(%s OPERATOR(pg_catalog.-) %s)", out->sql, r.sql);
		out->type = F_NUMBER;
	}
}

static void
Cmp(Fx *x, Expr *out)
{
	static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">="};
	CqlToken   *t;
	Expr		r;
	int			op;

	Sum(x, out);
	t = Tok(x);
	if (IsWord(t, "IS"))
	{
		bool		not = IsWord(&x->st->toks[x->st->cur + 1], "NOT");

		x->st->cur += not ? 2 : 1;
		if (!IsWord(Tok(x), "NULL"))
			CqlFail(x->st, CQL_ERR_SYNTAX, Tok(x)->pos, NULL,
					"formula syntax error at position %d: expected NULL after IS%s", Tok(x)->pos, not ? " NOT" : "");
		x->st->cur++;
		out->sql = Fmt(x, not ? "(%s IS NOT NULL)" : "(%s IS NULL)", out->sql, NULL);
		out->type = F_BOOL;
		return;
	}
	switch (t->kind)
	{
		case TK_EQ: op = 0; break;
		case TK_NE: op = 1; break;
		case TK_LT: op = 2; break;
		case TK_LE: op = 3; break;
		case TK_GT: op = 4; break;
		case TK_GE: op = 5; break;
		default: return;
	}
	x->st->cur++;
	Sum(x, &r);
	if (Common(x, t->pos, "a comparison", out, &r) == F_BOOL && op > 1)
		Mismatch(x, t->pos, "an ordering comparison", F_BOOL, F_BOOL);
	out->sql = Fmt(x, Fmt(x, "(%%s OPERATOR(pg_catalog.%s) %%s)", ops[op], NULL), out->sql, r.sql);
	out->type = F_BOOL;
}

static void
Not(Fx *x, Expr *out)
{
	CqlToken   *t = Tok(x);

	if (IsWord(t, "NOT"))
	{
		CqlEnter(x->st, t->pos);
		x->st->depth++;
		x->st->cur++;
		Not(x, out);
		x->st->depth--;
		Require(x, out, F_BOOL, "NOT");
		out->sql = Fmt(x, "(NOT %s)", out->sql, NULL);
		out->type = F_BOOL;
		out->pos = t->pos;
		return;
	}
	Cmp(x, out);
}

static void
And(Fx *x, Expr *out)
{
	Not(x, out);
	while (IsWord(Tok(x), "AND"))
	{
		Expr		r;

		x->st->cur++;
		Not(x, &r);
		Require(x, out, F_BOOL, "AND");
		Require(x, &r, F_BOOL, "AND");
		out->sql = Fmt(x, "(%s AND %s)", out->sql, r.sql);
		out->type = F_BOOL;
	}
}

static void
Or(Fx *x, Expr *out)
{
	CqlEnter(x->st, Tok(x)->pos);
	x->st->depth++;
	And(x, out);
	while (IsWord(Tok(x), "OR"))
	{
		Expr		r;

		x->st->cur++;
		And(x, &r);
		Require(x, out, F_BOOL, "OR");
		Require(x, &r, F_BOOL, "OR");
		out->sql = Fmt(x, "(%s OR %s)", out->sql, r.sql);
		out->type = F_BOOL;
	}
	x->st->depth--;
}

bool
CqlCompileFormula(CqlState *st, const char *entity, const char *text, size_t len,
				  const char *alias, char **sql, CqlFormulaType *type)
{
	Fx			x;
	Expr		e;

	if (setjmp(st->on_error) != 0)
		return false;
	if (len > CQL_MAX_LENGTH)
		CqlFail(st, CQL_ERR_TOO_LONG, 0, "Keep a formula under 64 kB.",
				"formula is too long: %zu bytes", len);
	x.st = st;
	x.e = CqlFormulaEntity(st, entity);
	x.alias = alias ? alias : x.e->alias;
	st->query = text;
	st->querylen = (int) len;
	CqlLex(st, text, len);
	st->cur = 0;
	if (Tok(&x)->kind == TK_EOF)
		CqlFail(st, CQL_ERR_SYNTAX, 0, "Write for example: seats * 10.", "formula is empty");
	Or(&x, &e);
	if (Tok(&x)->kind != TK_EOF)
		CqlFail(st, CQL_ERR_SYNTAX, Tok(&x)->pos, "Join conditions with AND or OR, and values with an operator.",
				"formula syntax error at position %d: unexpected \"%.40s\"", Tok(&x)->pos, Tok(&x)->text);
	if (e.type == F_NULL)
		CqlFail(st, CQL_ERR_TYPE, 1, "A formula computes a value from the record's fields.",
				"formula is always null");
	*sql = e.sql;
	*type = e.type;
	return true;
}

/* ---- rollups --------------------------------------------------------------- */

static const char *const agg_names[] = {"COUNT", "SUM", "MIN", "MAX", "AVG"};

/* An aggregate name and "(" first: the text is a rollup, not a formula of the row */
bool
CqlIsRollupText(const char *text, size_t len)
{
	size_t		i = 0;

	while (i < len && isspace((unsigned char) text[i]))
		i++;
	for (int a = 0; a < 5; a++)
	{
		size_t		n = strlen(agg_names[a]);
		size_t		j = i + n;

		if (len - i < n || strncasecmp(text + i, agg_names[a], n) != 0)
			continue;
		while (j < len && isspace((unsigned char) text[j]))
			j++;
		if (j < len && text[j] == '(')
			return true;
	}
	return false;
}

/* Is "currency = X" one of the top-level conjuncts of a condition? */
static bool
PinsCurrency(CqlNode *n)
{
	if (n == NULL)
		return false;
	if (n->kind == N_AND)
		return PinsCurrency(n->left) || PinsCurrency(n->right);
	return n->kind == N_CMP && n->op == OP_EQ && n->path.nseg == 1 &&
		strcasecmp(n->path.seg[0], "currency") == 0 && n->nvalues == 1 && n->values[0].kind != V_NULL;
}

bool
CqlParseRollup(CqlState *st, const char *entity, const char *text, size_t len,
			   const char *alias, CqlRollup *out)
{
	const char *hint = "Write a rollup as COUNT(deals(status = OPEN)), SUM(orders(status = PAID AND currency = 'EUR').value) or MAX(orders.orderDate).";
	const CqlEntity *e;
	CqlToken   *t;
	int			agg = -1;

	if (setjmp(st->on_error) != 0)
		return false;
	if (len > CQL_MAX_LENGTH)
		CqlFail(st, CQL_ERR_TOO_LONG, 0, "Keep a formula under 64 kB.", "formula is too long: %zu bytes", len);
	memset(out, 0, sizeof(*out));
	e = CqlFormulaEntity(st, entity);
	st->query = text;
	st->querylen = (int) len;
	CqlLex(st, text, len);
	st->cur = 0;
	t = &st->toks[0];
	for (int a = 0; a < 5; a++)
		if (t->kind == TK_IDENT && strcasecmp(t->text, agg_names[a]) == 0)
			agg = a;
	if (agg < 0 || st->toks[1].kind != TK_LPAREN || st->toks[2].kind != TK_IDENT)
		CqlFail(st, CQL_ERR_SYNTAX, t->pos, hint, "rollup syntax error at position %d", t->pos);
	out->agg = (CqlAggKind) agg;
	t = &st->toks[2];
	out->rel = CqlFindRelation(e, t->text);
	if (out->rel == NULL || out->rel->kind != REL_MANY)
		CqlFail(st, CQL_ERR_UNKNOWN_FIELD, t->pos, hint,
				"\"%.60s\" at position %d is not a to-many relation of %s", t->text, t->pos, e->name);
	if (out->rel->target_fk == NULL || out->rel->part_column != NULL)
		CqlFail(st, CQL_ERR_UNSUPPORTED, t->pos,
				"Roll up a relation whose records point at this one: deals, orders or conversations.",
				"cannot roll up relation \"%s\" at position %d: its records are linked through another table",
				out->rel->name, t->pos);
	out->target = CqlFindEntity(out->rel->target);
	st->cur = 3;
	if (st->toks[st->cur].kind == TK_LPAREN)
	{
		int			depth = 1;
		int			from = ++st->cur;

		while (depth > 0)
		{
			CqlTokKind k = st->toks[st->cur].kind;

			if (k == TK_EOF)
				CqlFail(st, CQL_ERR_SYNTAX, st->toks[st->cur].pos, hint,
						"rollup syntax error at position %d: unclosed \"(\"", st->toks[st->cur].pos);
			depth += k == TK_LPAREN ? 1 : k == TK_RPAREN ? -1 : 0;
			st->cur++;
		}
		out->cond = st->toks[from].start;
		out->condlen = (int) (st->toks[st->cur - 1].start - out->cond);
		if (out->condlen == 0)
			out->cond = NULL;
	}
	if (st->toks[st->cur].kind == TK_DOT)
	{
		CqlPath		p;
		CqlRootField f;
		int			pos;

		st->cur++;
		pos = st->toks[st->cur].pos;
		CqlPathFromTokens(st, &p, hint);
		CqlResolveRootField(st, out->target, alias, &p, &f);
		out->value_sql = f.sql;
		out->type = f.type;
		if (out->agg == AGG_COUNT)
			CqlFail(st, CQL_ERR_SYNTAX, pos, hint, "COUNT counts records: it takes no field (position %d)", pos);
		if ((out->agg == AGG_SUM || out->agg == AGG_AVG) && f.type != F_NUMBER)
			CqlFail(st, CQL_ERR_TYPE, pos, hint, "%s needs a number field, not %s (position %d)",
					agg_names[agg], type_names[f.type], pos);
		if (f.type != F_NUMBER && f.type != F_DATE && f.type != F_DATETIME)
			CqlFail(st, CQL_ERR_TYPE, pos, hint, "%s needs a number, date or datetime field, not %s (position %d)",
					agg_names[agg], type_names[f.type], pos);
		/* one currency per rollup: money in several is not summed, nor compared */
		if (f.key == NULL && strcmp(p.seg[0], "value") == 0 && CqlFindField(out->target, "currency"))
		{
			CqlState	sub;
			CqlNode    *tree = NULL;

			CqlStateInit(&sub, st->env);
			if (out->cond && !CqlParse(&sub, out->cond, out->condlen, &tree))
			{
				st->error = sub.error;
				CqlStateFree(&sub);
				longjmp(st->on_error, 1);
			}
			if (!PinsCurrency(tree))
			{
				CqlStateFree(&sub);
				CqlFail(st, CQL_ERR_VALUE, pos,
						"Name the currency in the condition, for example SUM(orders(status = PAID AND currency = 'EUR').value); define one rollup per currency.",
						"%s of %s.value mixes currencies: its condition must name one currency", agg_names[agg], out->rel->name);
			}
			CqlStateFree(&sub);
		}
	}
	else if (out->agg != AGG_COUNT)
		CqlFail(st, CQL_ERR_SYNTAX, st->toks[st->cur].pos, hint,
				"%s needs a field of the related records after \".\" (position %d)", agg_names[agg], st->toks[st->cur].pos);
	else
		out->type = F_NUMBER;
	if (out->agg == AGG_AVG)
		out->type = F_NUMBER;
	Expect(&(Fx) {st, e, alias}, TK_RPAREN, "\")\"");
	if (st->toks[st->cur].kind != TK_EOF)
		CqlFail(st, CQL_ERR_SYNTAX, st->toks[st->cur].pos, hint,
				"rollup syntax error at position %d: a rollup is one aggregate and nothing else", st->toks[st->cur].pos);
	return true;
}
