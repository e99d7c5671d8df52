/*
 * cql_fuzz.c
 *	  libFuzzer harness for the CQL core (src/cql), built as plain C.
 *
 * Input: first byte picks entity (bit 0, bits 3-4) and entry point (bits
 * 1-2: a query, the same as the list triggers translate it, order_by or a
 * field), the rest is the text.
 * Besides ASan/UBSan catching memory errors, it checks the safety promise
 * of the translator on every accepted query: outside string literals the
 * SQL holds no statement separator, comment, dollar quote or stray quote.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql.h"

static void *
FuzzAlloc(void *ctx, size_t size)
{
	void	   *p = malloc(size);

	if (!p)
		abort();
	return p;
}

static void
FuzzRelease(void *ctx, void *p)
{
	free(p);
}

/* A fixed set of declared properties and one custom object type, like a workspace's */
static const char *const plan_options[] = {"free", "pro", "Team Plan", NULL};
static const char *const course_options[] = {"sql", "c", NULL};

static bool
FuzzProperty(void *ctx, const char *object_type, const char *key, CqlProperty *out)
{
	static const struct
	{
		const char *key;
		const char *type;
		const char *const *options;
		int			noptions;
	}			props[] = {
		{"plan", "select", plan_options, 3},
		{"seats", "number", NULL, 0},
		{"renewal", "date", NULL, 0},
		{"last_login", "datetime", NULL, 0},
		{"courses", "multi_select", course_options, 2},
		{"vip", "boolean", NULL, 0},
		{"nickname", "text", NULL, 0},
	};

	(void) object_type;
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (strcmp(props[i].key, key) == 0)
		{
			out->type = props[i].type;
			out->noptions = props[i].noptions;
			out->options = props[i].options;
			return true;
		}
	return false;
}

static bool
FuzzObjectTypeExists(void *ctx, const char *key)
{
	return strcmp(key, "course") == 0;
}

/* Two lists of the workspace, so IN LIST resolves, misses and mismatches */
static int
FuzzLists(void *ctx, const CqlListRef **lists)
{
	static const CqlListRef known[] = {
		{"VIP customers", 1, "contact"},
		{"Key accounts", 2, "company"},
	};

	*lists = known;
	return 2;
}

static const CqlEnv env = {
	.alloc = FuzzAlloc,
	.release = FuzzRelease,
	.trgm_schema = "public",
	.lists = FuzzLists,
	.property = FuzzProperty,
	.object_type_exists = FuzzObjectTypeExists,
};
/* slots 5 and 6 repeat the busiest entities; 7 is conversations (and their statistics) */
static const char *const entities[] = {"contact", "company", "deal", "order", "course", "contact", "company", "conversation"};

/* Walks the SQL, skipping '...' and E'...' literals; aborts on anything unsafe outside them */
static void
CheckSql(const char *sql, const char *query, size_t qlen)
{
	size_t		n = strlen(sql);

	for (size_t i = 0; i < n; i++)
	{
		char		c = sql[i];

		if (c == '\'')
		{
			bool		escaped = i > 0 && sql[i - 1] == 'E';

			for (i++;; i++)
			{
				if (i >= n)
				{
					fprintf(stderr, "unterminated literal in: %s\n", sql);
					abort();
				}
				if (escaped && sql[i] == '\\')
				{
					i++;
					continue;
				}
				if (sql[i] == '\'')
				{
					if (i + 1 < n && sql[i + 1] == '\'')
					{
						i++;
						continue;
					}
					break;
				}
			}
			continue;
		}
		if (c == ';' || c == '$' || c == '"' || c == '\\' || c == '\0' ||
			(c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*') ||
			(unsigned char) c >= 0x80)
		{
			fprintf(stderr, "unsafe SQL outside a literal at %zu: %s\nquery: %.*s\n", i, sql, (int) qlen, query);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CqlState	st;
	char	   *sql;
	const char *entity;
	const char *q;
	size_t		len;
	int			mode;

	if (size < 1)
		return 0;
	/* bit 0 and bits 3-4: the entity (old seeds, with bits 3-4 clear, keep theirs) */
	entity = entities[(data[0] & 1) | (((data[0] >> 3) & 3) << 1)];
	mode = (data[0] >> 1) % 4;
	q = (const char *) data + 1;
	len = size - 1;
	CqlStateInit(&st, &env);
	switch (mode)
	{
		case 0:
			if (CqlTranslate(&st, entity, q, len, NULL, &sql))
				CheckSql(sql, q, len);
			break;
		case 1:
			{
				/* as the list triggers translate: count, then share (see CqlShared) */
				static CqlShared shared;
				CqlState	first;

				CqlSharedInit(&shared, "crm_shared");
				CqlStateInit(&first, &env);
				first.shared = &shared;
				if (CqlTranslate(&first, entity, q, len, NULL, &sql))
				{
					CheckSql(sql, q, len);
					/* as if a second filter wrote the same expressions */
					for (int i = 0; i < shared.n; i++)
						shared.uses[i]++;
					CqlSharedAssign(&shared);
					st.shared = &shared;
					if (!CqlTranslate(&st, entity, q, len, NULL, &sql))
					{
						fprintf(stderr, "second pass failed: %s\nquery: %.*s\n", st.error.message, (int) len, q);
						abort();
					}
					CheckSql(sql, q, len);
					for (int i = 0; i < shared.n; i++)
						CheckSql(shared.exprs[i], q, len);
				}
				CqlStateFree(&first);
				break;
			}
		case 2:
			if (CqlOrderBy(&st, entity, q, len, NULL, &sql))
				CheckSql(sql, q, len);
			break;
		case 3:
			if (CqlFieldExpr(&st, entity, q, len, NULL, &sql))
				CheckSql(sql, q, len);
			break;
	}
	CqlStateFree(&st);
	return 0;
}

#ifdef CQL_CLI
/* cql_cli ENTITY 'query': prints the SQL or the error (for hacking on the core) */
int
main(int argc, char **argv)
{
	CqlState	st;
	char	   *sql;

	if (argc != 3)
		return 2;
	CqlStateInit(&st, &env);
	if (CqlTranslate(&st, argv[1], argv[2], strlen(argv[2]), NULL, &sql))
	{
		CheckSql(sql, argv[2], strlen(argv[2]));
		printf("%s\n", sql);
	}
	else
		printf("ERROR %d at %d: %s\nHINT: %s\n", st.error.kind, st.error.position, st.error.message, st.error.hint);
	CqlStateFree(&st);
	return 0;
}
#endif
