/*-------------------------------------------------------------------------
 *
 * cql.h
 *	  CQL, the CRM query language: lexer, parser, field catalogue and
 *	  translator to a SQL boolean expression.  Plain C (see cql_env.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQL_H
#define CQL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cql_env.h"

/* Bounds that turn hostile input into a clean error instead of a crash. */
#define CQL_MAX_LENGTH		65536	/* bytes of query text */
#define CQL_MAX_DEPTH		64		/* nesting of parentheses, NOT, relations */
#define CQL_MAX_LIST		1000	/* values in IN (...) / ALL (...) */
#define CQL_MAX_PATH		4		/* segments of a dotted field name */
#define CQL_MAX_N			100000	/* n of LAST_N_DAYS:n and friends */

/* What went wrong; the glue maps each to a SQLSTATE (docs/cql.md). */
typedef enum CqlErrorKind
{
	CQL_OK = 0,
	CQL_ERR_SYNTAX,				/* 42601 syntax_error */
	CQL_ERR_UNKNOWN_FIELD,		/* 42703 undefined_column */
	CQL_ERR_TYPE,				/* 42804 datatype_mismatch */
	CQL_ERR_VALUE,				/* 22023 invalid_parameter_value */
	CQL_ERR_TOO_LONG,			/* 54000 program_limit_exceeded */
	CQL_ERR_TOO_DEEP,			/* 54001 statement_too_complex */
	CQL_ERR_UNSUPPORTED			/* 0A000 feature_not_supported */
} CqlErrorKind;

typedef struct CqlError
{
	CqlErrorKind kind;
	int			position;		/* 1-based character position, 0 if none */
	char		message[512];
	char		hint[1024];
} CqlError;

/* Tokens */
typedef enum CqlTokKind
{
	TK_EOF, TK_IDENT, TK_STRING, TK_NUMBER, TK_DATE, TK_TIMESTAMP, TK_DURATION,
	TK_LPAREN, TK_RPAREN, TK_COMMA, TK_DOT, TK_COLON,
	TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE, TK_TILDE, TK_MINUS, TK_PLUS,
	TK_STAR, TK_SLASH			/* formulas only (cql_formula.c) */
} CqlTokKind;

typedef struct CqlToken
{
	CqlTokKind	kind;
	const char *start;			/* into the query text */
	int			len;
	int			pos;			/* 1-based character position */
	char	   *text;			/* strings: unescaped value; others: copy */
	int			textlen;
	bool		has_zone;		/* timestamps: explicit Z or offset */
} CqlToken;

/* Values */
typedef enum CqlValKind
{
	V_STRING, V_NUMBER, V_BOOL, V_NULL, V_WORD, V_DATE, V_TIMESTAMP, V_NOW, V_RELDATE
} CqlValKind;

typedef enum CqlUnit
{
	U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR
} CqlUnit;

typedef struct CqlValue
{
	CqlValKind	kind;
	int			pos;
	char	   *text;			/* string/word/number/date/timestamp text */
	int			textlen;
	bool		boolval;
	bool		has_zone;		/* V_TIMESTAMP */
	/* V_NOW: now() + amount * unit (amount may be 0 or negative) */
	/* V_RELDATE: [trunc(unit) + from * unit, trunc(unit) + to * unit) */
	CqlUnit		unit;
	long		amount;
	long		from;
	long		to;
} CqlValue;

typedef enum CqlOp
{
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
	OP_IN, OP_NOT_IN, OP_ALL, OP_BETWEEN, OP_NOT_BETWEEN,
	OP_IS_NULL, OP_IS_NOT_NULL, OP_IS_EMPTY, OP_IS_NOT_EMPTY,
	OP_CONTAINS, OP_NOT_CONTAINS, OP_STARTS, OP_ENDS, OP_FUZZY
} CqlOp;

typedef struct CqlPath
{
	int			nseg;
	char	   *seg[CQL_MAX_PATH];
	int			segpos[CQL_MAX_PATH];
	bool		quoted[CQL_MAX_PATH];	/* written as a string: a property key */
} CqlPath;

typedef enum CqlNodeKind
{
	N_TRUE, N_AND, N_OR, N_NOT, N_CMP, N_HAS, N_EXISTS, N_COUNT, N_IN_LIST, N_ASSOC, N_HISTORY
} CqlNodeKind;

/* What a condition on the history of values asks (N_HISTORY, docs/history.md) */
typedef enum CqlHistKind
{
	H_EVER,						/* field EVER = v, EVER IN (...) */
	H_NEVER,					/* field NEVER = v, NEVER IN (...) */
	H_CHANGED,					/* field CHANGED [SINCE time] */
	H_WAS						/* field WAS v ON time */
} CqlHistKind;

typedef struct CqlNode
{
	CqlNodeKind kind;
	int			pos;
	struct CqlNode *left;		/* AND/OR/NOT operand, EXISTS/COUNT filter */
	struct CqlNode *right;
	CqlPath		path;			/* CMP/HAS field; EXISTS/COUNT relation */
	CqlOp		op;				/* CMP, COUNT */
	int			nvalues;
	CqlValue   *values;			/* CMP: 1, 2 (BETWEEN) or n (IN/ALL); COUNT: 1 */
	bool		negated;		/* IN LIST */
	char	   *name;			/* IN LIST list name, associated type */
	CqlValue   *label;			/* associated(type, label = ...); HISTORY: SINCE/ON time */
	CqlHistKind hist;			/* HISTORY */
} CqlNode;

/* Field catalogue */
typedef enum CqlType
{
	T_TEXT, T_NUMBER, T_TIMESTAMP, T_DATE, T_BOOL, T_ENUM, T_TAGS, T_JSONB
} CqlType;

typedef struct CqlField
{
	const char *name;			/* camelCase */
	const char *column;			/* snake_case: the column, also accepted in queries */
	CqlType		type;
	const char *sqltype;		/* enums: the SQL type to cast values to */
	const char *const *values;	/* enums: NULL-terminated, in SQL order */
	bool		sortable;
	/*
	 * Computed fields: the value as a printf format whose %1$s is the row's
	 * alias (it may read other tables and the clock); NULL: the column.
	 */
	const char *expr;
	bool		phone;			/* = and IN compare the literal's E.164 form */
	bool		keys;			/* T_TAGS held as the keys of a jsonb object */
	bool		lower;			/* stored lower-case: a value or bare word compares lower-cased */
	bool		country;		/* = and IN compare the literal's ISO 3166-1 alpha-2 code */
} CqlField;

/*
 * An aggregate over a to-many relation read as a field: orders.totalPaid.
 * expr and filter are printf formats whose %1$s is the related rows' alias
 * (filter may be NULL).
 */
typedef struct CqlAggregate
{
	const char *name;			/* camelCase */
	const char *alt;			/* snake_case */
	CqlType		type;
	const char *expr;
	const char *filter;
} CqlAggregate;

typedef enum CqlRelKind
{
	REL_ONE,					/* company.x: a field of one related row */
	REL_MANY					/* EXISTS rel(...), COUNT(rel(...)) */
} CqlRelKind;

/*
 * A relation from the entity's row (alias S) to rows of another entity
 * (alias T).  Through a link table L when link_table is set:
 *   L.workspace_id = S.workspace_id AND L.<link_from> = S.id
 *   AND T.workspace_id = L.workspace_id AND T.id = L.<link_to>
 *   [AND L.<link_flag>]
 * else directly by a foreign key of the target:
 *   T.workspace_id = S.workspace_id AND T.<target_fk> = S.id
 */
typedef struct CqlRelation
{
	const char *name;
	CqlRelKind	kind;
	const char *target;			/* entity name */
	const char *link_table;
	const char *link_from;
	const char *link_to;
	const char *link_flag;
	const char *target_fk;
	/* or by a foreign key of the source row: T.workspace_id = S.workspace_id AND T.id = S.<source_fk> */
	const char *source_fk;
	/*
	 * The relation written alone (stage = 'Proposal', stage = WON,
	 * stage = 12): text compares name_field of the target, a bare word
	 * word_field, a number or null the source_fk column itself.
	 */
	const char *name_field;
	const char *word_field;
	const CqlAggregate *aggregates;	/* orders.totalPaid */
	int			naggregates;
	/*
	 * A text column of the target that may name a part of the aggregate:
	 * stats.whatsapp.messagesIn aggregates the rows whose channel is
	 * 'whatsapp' (the word lower-cased).  NULL: no parts.
	 */
	const char *part_column;
} CqlRelation;

typedef struct CqlEntity
{
	const char *name;			/* contact */
	const char *table;			/* crm.contacts */
	const char *alias;			/* contacts: how the root row is referred to */
	const CqlField *fields;
	int			nfields;
	const CqlRelation *relations;
	int			nrelations;
	/* rows hidden unless the query mentions scope_field (merged, deleted) */
	const char *scope_field;
	const char *scope_sql;		/* "%s" is replaced by the alias */
	/* column of crm.list_members holding this entity's ids; NULL: no lists */
	const char *list_column;
	/* rows that can be list members whatever the filter ("%s": alias); NULL: all */
	const char *member_sql;
	/* object_type of its property definitions; NULL for records (their type key) */
	const char *property_type;
	/* the column of crm.object_associations that points at it (associated()) */
	const char *assoc_column;
	/* reachable only through relations (stage, pipeline) or as a custom type (record) */
	bool		internal;
	/*
	 * What associated() reads, as a relation through crm.object_associations
	 * to the records; not nameable in queries, reported to the list triggers.
	 */
	const struct CqlRelation *assoc_relation;
} CqlEntity;

extern const CqlEntity *CqlFindEntity(const char *name);
extern const CqlEntity *const *CqlEntities(int *n);
extern const CqlField *CqlFindField(const CqlEntity *e, const char *name);
extern const CqlRelation *CqlFindRelation(const CqlEntity *e, const char *name);
extern const CqlAggregate *CqlFindAggregate(const CqlRelation *r, const char *name);
extern const CqlEntity *CqlRecordEntity(void);
extern const char *CqlTypeName(CqlType t);

/*
 * Root-row expressions the dynamic list triggers compute once per row for
 * all the filters of a workspace (src/lists_cache.c).  The filters are translated
 * twice with one CqlShared: the first pass (counting) writes every
 * expression inline and counts how often each self-contained one is
 * written -- a typed property value, and every predicate on the root row
 * alone (tags @> ..., company.industry = ..., IN LIST, EXISTS deals(...))
 * that reads no such value; CqlSharedAssign then gives a column to each
 * written more than once, and the second pass writes <alias>.v<column> for
 * those.  Computing them ahead of the filter means what it meant inline:
 * SQL promises no order of evaluation within a condition anyway.  In the
 * second pass the arms of AND and OR are also written cheapest first, as
 * order_qual_clauses orders a scan's quals by cost_qual_eval: a computed
 * column (free), then expressions of the row, then sub-selects.
 */
#define CQL_MAX_SHARED		1024	/* expressions counted */
#define CQL_MAX_COLUMNS		600		/* columns: a target list has at most 1664 */

typedef struct CqlShared
{
	const char *alias;
	bool		counting;		/* first pass */
	int			n;
	int			ncolumns;
	const char *exprs[CQL_MAX_SHARED];
	int			uses[CQL_MAX_SHARED];
	int			column[CQL_MAX_SHARED];	/* -1: written inline */
} CqlShared;

extern void CqlSharedInit(CqlShared *sh, const char *alias);
extern int	CqlSharedColumn(CqlShared *sh, const char *expr);
extern void CqlSharedAssign(CqlShared *sh);

/* One parse or translation: memory, error and position state. */
typedef struct CqlState
{
	const CqlEnv *env;
	void	   *blocks;			/* arena: chain of allocated blocks */
	char	   *free_ptr;
	size_t		free_left;
	jmp_buf		on_error;
	CqlError	error;
	const char *query;
	int			querylen;
	CqlToken   *toks;
	int			ntoks;
	int			cur;
	int			depth;
	int			alias_seq;
	bool		mentions_scope;	/* the query names the entity's scope field */

	/*
	 * What a translated query reads besides its root row, for the dynamic
	 * list triggers (src/lists_sync.c): the relations it follows from the root,
	 * whether it follows one from inside another, the lists it tests with
	 * IN LIST, and whether it depends on the clock (NOW, date literals).
	 */
	const CqlRelation *rels[8];
	int			nrels;
	const char *root_cols[48];	/* columns of the root row it reads whole */
	int			nroot_cols;
	/* (jsonb column, key) pairs of the root row it reads only by key */
	const char *root_key_cols[64];
	const char *root_keys[64];
	int			nroot_keys;
	bool		nested_reads;
	/*
	 * Lookups followed from inside a root relation (EXISTS deals(stage =
	 * WON)): pairs of the root relation and the to-one relation, by a
	 * foreign key of the related row, into an internal entity.
	 */
	const CqlRelation *lookup_via[8];
	const CqlRelation *lookup_rel[8];
	int			nlookups;
	bool		reads_definitions;	/* resolves a declared property or custom type */
	bool		internal_ok;	/* the query's entity may be an internal one (a rollup's related rows) */
	long long	list_ids[64];
	int			nlist_ids;
	bool		time_relative;
	const CqlListRef *lists;	/* loaded on the first IN LIST */
	int			nlists;
	bool		lists_loaded;
	const char *record_type;	/* the custom object type of a record query, else NULL */
	CqlShared  *shared;			/* for the list triggers, else NULL */
	/*
	 * The workspace of the rows, as SQL (a constant), that the sub-selects
	 * of related rows compare their workspace_id with; NULL: the row's own
	 * workspace_id.  Citus routes a correlated sub-select to one shard only
	 * by a constant (src/cql_sql.c sets it for a Citus table).
	 */
	const char *workspace;
	int			shared_values;	/* values written through it (a predicate reading one is not shared) */
	int			subselects;		/* sub-selects written */
} CqlState;

/* Arena and helpers (cql_util.c) */
extern void CqlStateInit(CqlState *st, const CqlEnv *env);
extern void CqlStateFree(CqlState *st);
extern void *CqlAlloc(CqlState *st, size_t size);
extern char *CqlStrndup(CqlState *st, const char *s, size_t len);
extern void CqlFail(CqlState *st, CqlErrorKind kind, int pos, const char *hint,
					const char *fmt,...) __attribute__((format(printf, 5, 6), noreturn));
extern void CqlEnter(CqlState *st, int pos);
extern int	CqlCharPos(const char *s, int byteoff);
extern int	CqlEditDistance(const char *a, const char *b, int cap);

typedef struct CqlBuf
{
	CqlState   *st;
	char	   *data;
	size_t		len;
	size_t		cap;
} CqlBuf;

extern void CqlBufInit(CqlBuf *b, CqlState *st);
extern void CqlBufAppend(CqlBuf *b, const char *s);
extern void CqlBufAppendN(CqlBuf *b, const char *s, size_t n);
extern void CqlBufPrintf(CqlBuf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void CqlBufQuote(CqlBuf *b, const char *s, size_t n);
extern void CqlBufJsonString(CqlBuf *b, const char *s, size_t n);
extern void CqlBufLikePattern(CqlBuf *b, const char *prefix, const char *s, size_t n, const char *suffix);

/* Lexer, parser, translator */
extern void CqlLex(CqlState *st, const char *query, size_t len);
extern CqlNode *CqlParseTokens(CqlState *st);

/*
 * Entry points: return false and fill *error on bad input.  Results live
 * in the state's arena until CqlStateFree.
 */
extern bool CqlParse(CqlState *st, const char *query, size_t len, CqlNode **tree);
extern bool CqlTranslate(CqlState *st, const char *entity, const char *query, size_t len,
						 const char *alias, char **sql);
extern bool CqlOrderBy(CqlState *st, const char *entity, const char *spec, size_t len,
					   const char *alias, char **sql);
extern bool CqlFieldExpr(CqlState *st, const char *entity, const char *field, size_t len,
						 const char *alias, char **sql);

/*
 * The entity a name denotes: a built-in one, or the record entity for a
 * custom object type key (st->record_type is then set).  NULL and *error
 * filled when there is none.
 */
extern const CqlEntity *CqlResolveEntity(CqlState *st, const char *entity);

/*
 * Formulas (cql_formula.c): an expression over the fields and properties of
 * one record, type-checked and written as a SQL expression of the root row
 * (alias), for the computed properties of docs/properties.md.
 */
typedef enum CqlFormulaType
{
	F_NULL, F_NUMBER, F_TEXT, F_BOOL, F_DATE, F_DATETIME
} CqlFormulaType;

/* A field of the root row as a formula reads it (cql_translate.c) */
typedef struct CqlRootField
{
	CqlFormulaType type;
	const char *sql;			/* its typed SQL value */
	const char *key;			/* a property: its key, else NULL */
} CqlRootField;

extern void CqlResolveRootField(CqlState *st, const CqlEntity *e, const char *alias,
								CqlPath *p, CqlRootField *out);
extern void CqlPathFromTokens(CqlState *st, CqlPath *p, const char *hint);
extern const char *CqlFormulaTypeName(CqlFormulaType t);
extern const CqlEntity *CqlFormulaEntity(CqlState *st, const char *entity);

/*
 * Compiles a formula of entity: *sql a SQL expression of type *type over
 * the root row alias (never raising on the row's values: division by zero
 * is null).  st->root_keys holds the property keys it reads and
 * st->time_relative whether it reads the clock.
 */
extern bool CqlCompileFormula(CqlState *st, const char *entity, const char *text, size_t len,
							  const char *alias, char **sql, CqlFormulaType *type);

/*
 * Rollups (cql_formula.c): a formula that is one aggregate over a to-many
 * relation of the record, COUNT(deals(status = OPEN)),
 * SUM(orders(status = PAID AND currency = 'EUR').value), MAX(orders.orderDate).
 * The relation must be by a foreign key of the related rows (target_fk).
 */
typedef enum CqlAggKind
{
	AGG_COUNT, AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG
} CqlAggKind;

typedef struct CqlRollup
{
	CqlAggKind	agg;
	const CqlRelation *rel;
	const CqlEntity *target;
	const char *cond;			/* the condition's text (a CQL query of target), NULL: none */
	int			condlen;
	const char *value_sql;		/* the aggregated value over the related row's alias; NULL for COUNT */
	CqlFormulaType type;		/* of the result */
} CqlRollup;

extern bool CqlIsRollupText(const char *text, size_t len);
extern bool CqlParseRollup(CqlState *st, const char *entity, const char *text, size_t len,
						   const char *alias, CqlRollup *out);

#endif							/* CQL_H */
