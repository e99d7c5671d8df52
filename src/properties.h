/*-------------------------------------------------------------------------
 *
 * properties.h
 *	  What the custom property files share: a definition in memory and the
 *	  per-backend cache of them (properties_cache.c), the value checks and
 *	  their error texts (properties_values.c).  The validation trigger on
 *	  object tables (properties_validate.c) and the checks on
 *	  crm.property_definitions (properties_define.c) use both.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PROPERTIES_H
#define CRM_PROPERTIES_H

#include "postgres.h"

#include "lib/ilist.h"
#include "regex/regex.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

/* Same order as the labels of the SQL enum crm.property_type */
typedef enum PropertyType
{
	PT_TEXT,
	PT_NUMBER,
	PT_CURRENCY,
	PT_PERCENT,
	PT_BOOLEAN,
	PT_DATE,
	PT_DATETIME,
	PT_EMAIL,
	PT_PHONE,
	PT_URL,
	PT_SELECT,
	PT_MULTI_SELECT
} PropertyType;

extern const char *const property_type_names[];

#define IsSelectType(t) ((t) == PT_SELECT || (t) == PT_MULTI_SELECT)
/* Types whose values are strings, so a pattern can apply to them */
#define IsStringType(t) ((t) == PT_TEXT || (t) == PT_DATE || (t) == PT_DATETIME || \
						 (t) == PT_EMAIL || (t) == PT_PHONE || (t) == PT_URL || \
						 IsSelectType(t))

/* A definition as the checks use it */
typedef struct PropertyDef
{
	char	   *key;
	int			keylen;
	PropertyType type;
	int			noptions;
	char	  **options;
	int		   *optlens;
	char	   *pattern;		/* as declared, NULL when none */
	regex_t    *regex;			/* the pattern anchored at both ends */
	bool		required;
	bool		track_history;	/* changes go to crm.value_history (history.c) */
	char	   *formula;		/* a computed property's formula, else NULL */
	bool		rollup;			/* the formula is a rollup (properties_rollup.c) */
	bool		rollup_zero;	/* a COUNT or SUM: 0 over no related records */
} PropertyDef;

/* The definitions of one object type in one workspace, as cached */
typedef struct ObjectKey
{
	int64		workspace_id;
	char		object_type[NAMEDATALEN];
} ObjectKey;

typedef struct ObjectProps
{
	ObjectKey	key;			/* hash key: must be first */
	bool		strict;			/* the workspace's strict_properties */
	char	   *slug;			/* the workspace's slug, for messages */
	int			ndefs;
	PropertyDef *defs;			/* sorted by key (FindPropertyDef searches them) */
	int			nformulas;		/* computed properties among them */
	bool		formulas_built;	/* formula_plan prepared (properties_formula.c) */
	struct _SPI_plan *formula_plan;	/* the row's properties with its formulas' values */
	int			formula_passes;	/* runs of formula_plan a chain of formulas needs */
	int			nrollups;		/* rollups among them */
	struct _SPI_plan *rollup_plan;	/* the row's properties with the stored rollup values */
	MemoryContext cxt;			/* what the entry holds, freed when it is evicted */
	Size		bytes;			/* charged to crm_cache_bytes */
	uint64		epoch;			/* last found current (workspace_versions.c) */
	uint64		version;		/* of the workspace's definitions it was built from */
	dlist_node	lru;			/* most recently used first */
} ObjectProps;

/* Whether a value fits its definition, and if not, why */
typedef enum Fit
{
	FIT_OK,
	FIT_TYPE,					/* not a value of the declared type */
	FIT_PATTERN,				/* right type, but the pattern does not match */
	FIT_DUPLICATE				/* multi_select naming an option twice */
} Fit;

/* properties_cache.c */
extern int	PropertyTypeFromName(const char *name);
extern void FillPropertyDef(PropertyDef *def, const char *key, const char *type, Datum options,
							bool options_null, const char *pattern, bool required,
							MemoryContext cxt, bool check_pattern);
extern PropertyDef *FindPropertyDef(ObjectProps *op, const char *key, int keylen);
extern ObjectProps *GetObjectProps(int64 workspace_id, const char *object_type);

/* properties_formula.c */
extern HeapTuple CrmComputeFormulas(ObjectProps *op, Relation rel, HeapTuple tuple, int attnum);
extern char *CrmFormulaMergeSql(int64 workspace_id, const char *object_type, const char *alias,
								bool *time_relative, int *passes);
extern void CrmFormulasBackfill(int64 workspace_id, const char *object_type, const char *clear_key,
								bool as_owner);

/* properties_rollup.c */
extern int	rollup_writing;
extern HeapTuple CrmKeepRollups(ObjectProps *op, Relation rel, HeapTuple tuple, HeapTuple oldtuple, int attnum);
extern void CrmRollupBackfill(int64 workspace_id, const char *object_type, const char *key, const char *formula);

/* properties_define.c */
extern const char *CrmObjectTable(const char *object_type, const char **type_column);

/* properties_values.c */
extern Fit	PropertyValueFits(const PropertyDef *def, JsonbValue *v);
extern char *ShowPropertyValue(JsonbValue *v);
extern char *PropertyExpectation(const PropertyDef *def, Fit fit);

#endif							/* CRM_PROPERTIES_H */
