/*-------------------------------------------------------------------------
 *
 * cql_env.h
 *	  The only things the CQL core needs from its host: memory, a stack
 *	  check and lower-casing.  The server glue (src/cql_sql.c) fills them
 *	  with palloc, check_stack_depth and str_tolower; the fuzz harness
 *	  (test/fuzz) with malloc and ASCII.  Nothing under src/cql/ includes a
 *	  PostgreSQL header, so the core builds as a plain C library.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQL_ENV_H
#define CQL_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* A list of the current workspace, for IN LIST 'name' */
typedef struct CqlListRef
{
	const char *name;
	long long	id;
	const char *object_type;	/* the entity its members are: contact, company */
} CqlListRef;
/* A declared custom property (crm.property_definitions), as the host knows it */
typedef struct CqlProperty
{
	const char *type;			/* a crm.property_type label: text, number, select, ... */
	int			noptions;
	const char *const *options;	/* select and multi_select */
} CqlProperty;

typedef struct CqlEnv
{
	/* must return memory or not return at all (palloc ereports) */
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*release) (void *ctx, void *ptr);
	void	   *ctx;
	/* optional: raise if the C stack is nearly exhausted */
	void		(*check_stack) (void *ctx);
	/* optional: lower-case a NUL-terminated string the way the database does */
	char	   *(*lower) (void *ctx, const char *s, size_t len);
	/* schema of pg_trgm, already quoted as an identifier ("public") */
	const char *trgm_schema;
	/*
	 * optional: the lists of the current workspace (IN LIST); returns how
	 * many and points *lists at them.  Without it IN LIST is unsupported.
	 */
	int			(*lists) (void *ctx, const CqlListRef **lists);
	/*
	 * optional: the declared property "key" of an object type (contact,
	 * deal, a custom object type key, ...) in the current workspace; false
	 * when it is not declared.  *out's memory must outlive the translation.
	 */
	bool		(*property) (void *ctx, const char *object_type, const char *key, CqlProperty *out);
	/* optional: whether a custom object type with this key exists; NULL: none do */
	bool		(*object_type_exists) (void *ctx, const char *key);
	/*
	 * optional: the stored (E.164) form of a phone literal, as the row
	 * trigger would store it; raises on a number it refuses.  NULL: phone
	 * literals are compared as written.
	 */
	char	   *(*phone) (void *ctx, const char *s, size_t len);
	/*
	 * optional: the stored (ISO 3166-1 alpha-2) form of a country literal,
	 * as the row trigger would store it; raises on a name of no country.
	 * NULL: country literals are compared as written.
	 */
	char	   *(*country) (void *ctx, const char *s, size_t len);
	/*
	 * optional: whether an index of table (crm.contacts) has
	 * (column ->> 'key')::numeric in its expressions or its predicate.  NULL:
	 * assume one may, and write that expression.
	 */
	bool		(*number_indexed) (void *ctx, const char *table, const char *column, const char *key);
} CqlEnv;

#endif							/* CQL_ENV_H */
