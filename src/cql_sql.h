/*-------------------------------------------------------------------------
 *
 * cql_sql.h
 *	  The backend side of CQL (cql_sql.c) as the dynamic list code uses it:
 *	  a translation that also reports what the filter reads.  Apart from
 *	  crm.h so that the list files and the translator share it without
 *	  either including the other.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_CQL_SQL_H
#define CRM_CQL_SQL_H

#include "postgres.h"

struct CqlRelation;
typedef struct CrmCqlReads
{
	bool		mentions_scope;	/* names the scope field (contacts: status) */
	bool		nested;			/* follows a relation or list from inside another */
	bool		time_relative;	/* NOW or a date literal */
	int			nrels;
	const struct CqlRelation *rels[8];
	int			ncols;
	const char *cols[48];		/* columns of the root row it reads whole */
	int			nkeys;			/* (jsonb column, key) it reads only by key */
	const char *key_cols[64];
	const char *keys[64];
	int			nlist_ids;
	int64		list_ids[64];
	int			nlookups;		/* EXISTS deals(stage = WON): (root relation, lookup) */
	const struct CqlRelation *lookup_via[8];
	const struct CqlRelation *lookup_rel[8];
	bool		definitions;	/* resolves declared properties or custom object types */
	/*
	 * The declared properties it looked up, each once, with a hash of the
	 * answer (CrmCqlDefinitionAnswer); ndefinitions -1: more than fit
	 */
	int			ndefinitions;
	const char *definition_types[32];
	const char *definition_keys[32];
	uint64		definition_answers[32];
} CrmCqlReads;
extern uint64 CrmCqlDefinitionAnswer(int64 ws, const char *object_type, const char *key);
struct CqlShared;
extern char *CrmCqlTranslateNewFilter(const char *entity, const char *query, int64 ws,
									  const char *owner, const char *alias, CrmCqlReads *reads,
									  struct CqlShared *shared);
extern char *CrmCqlTranslateFor(const char *entity, const char *query, int64 ws,
								const char *owner, const char *alias, CrmCqlReads *reads, struct CqlShared *shared);

extern char *CrmCqlCompileFormula(const char *entity, const char *formula, int64 ws, const char *alias,
								  const char **type, bool *time_relative, int *nkeys, char ***keys);

/* A rollup as src/properties_rollup.c maintains it (CrmCqlCompileRollup) */
typedef struct CrmRollupSql
{
	int			agg;			/* CqlAggKind: COUNT, SUM, MIN, MAX, AVG */
	char	   *table;			/* the related records' table, crm.orders */
	char	   *fk;				/* their column pointing at the record */
	char	   *value_sql;		/* the aggregated value over the alias, NULL for COUNT */
	char	   *cond_sql;		/* the condition over the alias, NULL: none */
	const char *type;			/* property type of the result */
} CrmRollupSql;
extern void CrmCqlCompileRollup(const char *entity, const char *formula, int64 ws, const char *alias,
								CrmRollupSql *out);

extern char *CrmCqlWhere(const char *entity, const char *query, size_t len,
						 const char **table, const char **alias);

#endif							/* CRM_CQL_SQL_H */
