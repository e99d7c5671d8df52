/*-------------------------------------------------------------------------
 *
 * properties_define.c
 *	  crm_internal.check_property_definition(): the row trigger on
 *	  crm.property_definitions.  A definition must make sense on its own
 *	  (key, options, pattern) and must not shadow a standard column; one that
 *	  is created or changed is checked against the values already stored
 *	  (table-driven by object_tables[] below) and refused when any no longer
 *	  fits.  Also the lookup of custom object types, for CQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "cql_sql.h"
#include "cql/cql.h"
#include "properties.h"

PG_FUNCTION_INFO_V1(crm_check_property_definition);

#define MAX_OFFENDERS 5

/*
 * Where the objects of a type live, for the standard-column check and
 * re-validation.  A NULL object_type matches any custom object type, whose
 * records share one table and name their type in type_column.  Entries whose
 * table does not exist (yet) are ignored; a new object table plugs in here.
 */
typedef struct ObjectTable
{
	const char *object_type;
	const char *relname;
	const char *type_column;
} ObjectTable;

static const ObjectTable object_tables[] = {
	{"contact", "contacts", NULL},
	{"company", "companies", NULL},
	{"conversation", "conversations", NULL},
	{"deal", "deals", NULL},
	{"order", "orders", NULL},
	{NULL, "object_records", "type_key"},
};

/* 1 to 63 lower-case letters, digits or "_", starting with a letter */
static bool
IsPropertyKey(const char *s)
{
	int			i;

	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_') || i > 62)
			return false;
	return true;
}

static Oid
CrmRelid(const char *relname)
{
	return get_relname_relid(relname, get_namespace_oid("crm", false));
}

/* Is object_type a custom object type of the workspace?  For CQL and ResolveObjectType */
bool
CrmObjectTypeExists(int64 workspace_id, const char *object_type)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	bool		exists;

	args[0] = Int64GetDatum(workspace_id);
	args[1] = CStringGetTextDatum(object_type);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM crm.object_types t"
							  " WHERE t.workspace_id OPERATOR(pg_catalog.=) $1"
							  "   AND t.key OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking up custom object types failed");
	exists = SPI_processed > 0;
	SPI_finish();
	return exists;
}

/* The table of an object type's records, and the column naming a custom type (else NULL) */
const char *
CrmObjectTable(const char *object_type, const char **type_column)
{
	int			i;

	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type != NULL && strcmp(object_tables[i].object_type, object_type) == 0)
		{
			*type_column = NULL;
			return OidIsValid(CrmRelid(object_tables[i].relname)) ? object_tables[i].relname : NULL;
		}
	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type == NULL)
		{
			*type_column = object_tables[i].type_column;
			return object_tables[i].relname;
		}
	return NULL;
}

static char *
KnownObjectTypes(void)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type != NULL)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", object_tables[i].object_type);
	return buf.data;
}

/*
 * The table holding objects of this type (*relid), or an error for an
 * unknown object type.
 */
static const ObjectTable *
ResolveObjectType(int64 workspace_id, const char *object_type, Oid *relid)
{
	int			i;

	for (i = 0; i < lengthof(object_tables); i++)
	{
		const ObjectTable *ot = &object_tables[i];

		if (ot->object_type != NULL && strcmp(ot->object_type, object_type) == 0)
		{
			*relid = CrmRelid(ot->relname);
			if (!OidIsValid(*relid))
				elog(ERROR, "table crm.%s is missing", ot->relname);
			return ot;
		}
	}

	if (!CrmObjectTypeExists(workspace_id, object_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown object type: \"%s\"", object_type),
				 errdetail("It is neither one of %s nor a custom object type of this workspace.",
						   KnownObjectTypes()),
				 errhint("Create the custom object type first, or check the spelling.")));

	for (i = 0; i < lengthof(object_tables); i++)
		if (object_tables[i].object_type == NULL)
		{
			*relid = CrmRelid(object_tables[i].relname);
			return &object_tables[i];
		}
	elog(ERROR, "no table for custom object records");
	return NULL;				/* keep compiler quiet */
}

/*
 * The stored values of the property in the workspace, by object id: every
 * object when the property is to be required, else those that have the key.
 * Sets *nargs to the parameters the query uses ($3 is the custom type).
 */
static char *
StoredValuesQuery(const ObjectTable *ot, const PropertyDef *def, int *nargs)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT o.id, o.properties OPERATOR(pg_catalog.->) $2 FROM crm.%s o"
					 " WHERE o.workspace_id OPERATOR(pg_catalog.=) $1",
					 quote_identifier(ot->relname));
	if (!def->required)
		appendStringInfoString(&sql, " AND pg_catalog.jsonb_exists(o.properties, $2)");
	*nargs = 2;
	if (ot->type_column != NULL)
	{
		appendStringInfo(&sql, " AND o.%s OPERATOR(pg_catalog.=) $3", quote_identifier(ot->type_column));
		*nargs = 3;
	}
	appendStringInfoString(&sql, " ORDER BY o.id");
	return sql.data;
}

/* A stored value (column 2 of the query) as shown when it does not fit, or NULL when it fits */
static char *
Misfit(const PropertyDef *def, HeapTuple tup, TupleDesc desc)
{
	bool		vnull;
	Datum		d = SPI_getbinval(tup, desc, 2, &vnull);
	JsonbValue	v;

	if (!vnull)
	{
		Jsonb	   *jb = DatumGetJsonbP(d);

		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, &v);
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &jb->root;
			v.val.binary.len = VARSIZE(jb);
		}
		vnull = v.type == jbvNull;
	}
	if (vnull)
		return def->required ? "(missing)" : NULL;
	return PropertyValueFits(def, &v) != FIT_OK ? ShowPropertyValue(&v) : NULL;
}

/*
 * Check the values already stored against a new or changed definition and
 * refuse it, naming a few offenders, when any does not fit.  Writers of the
 * table are held off until commit, so none can slip in a value that fitted
 * the old definition after the check.
 */
static void
Revalidate(int64 workspace_id, const char *object_type, const ObjectTable *ot, Oid relid,
		   PropertyDef *def)
{
	char	   *sql;
	StringInfoData offenders;
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	Portal		portal;
	int64		count = 0;
	int			nargs;

	if (!OidIsValid(relid))
		return;
	LockRelationOid(relid, ShareLock);

	sql = StoredValuesQuery(ot, def, &nargs);
	args[0] = Int64GetDatum(workspace_id);
	args[1] = CStringGetTextDatum(def->key);
	args[2] = CStringGetTextDatum(object_type);

	initStringInfo(&offenders);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* values committed while we waited for the lock count too, at any isolation level */
	PushActiveSnapshot(GetLatestSnapshot());
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, args, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		idnull;
			char	   *shown = Misfit(def, tup, SPI_tuptable->tupdesc);

			if (shown == NULL)
				continue;
			if (count < MAX_OFFENDERS)
				appendStringInfo(&offenders, "%sid %lld: %s", count > 0 ? "; " : "",
								 (long long) DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &idnull)),
								 shown);
			count++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	PopActiveSnapshot();
	SPI_finish();

	if (count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("cannot define %s property \"%s\" as %s%s: %lld stored value%s would not fit",
						object_type, def->key, def->required ? "required " : "",
						property_type_names[def->type], (long long) count, count == 1 ? "" : "s"),
				 errdetail("Offending rows of crm.%s%s: %s.", ot->relname,
						   count > MAX_OFFENDERS ? psprintf(" (first %d)", MAX_OFFENDERS) : "",
						   offenders.data),
				 errhint("Fix or remove those values first, or keep the current definition.")));
}

/* Did an update change anything the stored values are checked against? */
static bool
DefinitionChanged(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	static const char *const columns[] = {
		"workspace_id", "object_type", "key", "type", "options", "pattern", "required"
	};
	int			i;

	for (i = 0; i < lengthof(columns); i++)
	{
		int			a = SPI_fnumber(desc, columns[i]);
		char	   *before = SPI_getvalue(oldtup, desc, a);
		char	   *after = SPI_getvalue(newtup, desc, a);

		if ((before == NULL) != (after == NULL) || (before != NULL && strcmp(before, after) != 0))
			return true;
	}
	return false;
}

static char *
GetText(HeapTuple tup, TupleDesc desc, const char *column, bool *isnull)
{
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, column), desc, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/* A crm.property_definitions row as the checks read it */
typedef struct DefinitionRow
{
	int64		workspace_id;
	char	   *object_type;
	char	   *key;
	char	   *type;
	char	   *pattern;		/* NULL when none */
	Datum		options;
	bool		options_null;
	bool		required;
} DefinitionRow;

/*
 * The columns the trigger may rewrite before the row is stored: at most
 * three change (options, pattern, label).
 */
typedef struct RowRewrite
{
	int			ncols;
	int			cols[3];
	Datum		vals[3];
	bool		nulls[3];
} RowRewrite;

static void
Rewrite(RowRewrite *rw, int attnum, Datum value, bool isnull)
{
	Assert(rw->ncols < lengthof(rw->cols));
	rw->cols[rw->ncols] = attnum;
	rw->vals[rw->ncols] = value;
	rw->nulls[rw->ncols++] = isnull;
}

/* Read the row; false when a NOT NULL column is null, which the constraint reports */
static bool
ReadDefinitionRow(HeapTuple tup, TupleDesc desc, DefinitionRow *row)
{
	bool		isnull;

	row->workspace_id = DatumGetInt64(heap_getattr(tup, SPI_fnumber(desc, "workspace_id"), desc, &isnull));
	if (isnull)
		return false;
	row->object_type = GetText(tup, desc, "object_type", &isnull);
	row->key = GetText(tup, desc, "key", &isnull);
	row->type = SPI_getvalue(tup, desc, SPI_fnumber(desc, "type"));
	if (row->object_type == NULL || row->key == NULL || row->type == NULL)
		return false;
	row->pattern = GetText(tup, desc, "pattern", &isnull);
	row->options = heap_getattr(tup, SPI_fnumber(desc, "options"), desc, &row->options_null);
	row->required = DatumGetBool(heap_getattr(tup, SPI_fnumber(desc, "required"), desc, &isnull));
	row->required = row->required && !isnull;
	return true;
}

static void
CheckPropertyKey(const char *key)
{
	if (!IsPropertyKey(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid property key: \"%s\"", key),
				 errhint("A key is 1 to 63 lower-case letters, digits or \"_\", starting with a letter, e.g. \"annual_revenue\".")));
}

/* A property would be shadowed by a column of the same name in queries and CQL */
static void
CheckNotStandardColumn(const ObjectTable *ot, Oid relid, const char *object_type, const char *key)
{
	if (OidIsValid(relid) && get_attnum(relid, key) != InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("property key \"%s\" is a standard column of %s", key, object_type),
				 errdetail("crm.%s already has a column named \"%s\".", ot->relname, key),
				 errhint("Choose another key, e.g. \"custom_%s\".", key)));
}

/*
 * Values that mean "none" are stored as NULL: an empty options list on a
 * type without options (a select type's empty list is refused later) and an
 * empty pattern.
 */
static void
NullEmptyValues(DefinitionRow *row, TupleDesc desc, RowRewrite *rw)
{
	if (!row->options_null && ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(row->options)),
											 ARR_DIMS(DatumGetArrayTypeP(row->options))) == 0 &&
		!IsSelectType(PropertyTypeFromName(row->type)))
	{
		Rewrite(rw, SPI_fnumber(desc, "options"), (Datum) 0, true);
		row->options_null = true;
	}
	if (row->pattern != NULL && *row->pattern == '\0')
	{
		Rewrite(rw, SPI_fnumber(desc, "pattern"), (Datum) 0, true);
		row->pattern = NULL;
	}
}

/* A select type's options: present, non-empty strings, each once */
static void
CheckSelectOptions(const DefinitionRow *row, const PropertyDef *def)
{
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i,
				j;

	if (row->options_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" needs options", row->type, row->key),
				 errhint("Pass the allowed values, e.g. options => ARRAY['free', 'pro', 'enterprise'].")));
	deconstruct_array(DatumGetArrayTypeP(row->options), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" needs options", row->type, row->key),
				 errdetail("The options list is empty."),
				 errhint("Pass the allowed values, e.g. options => ARRAY['free', 'pro', 'enterprise'].")));
	for (i = 0; i < n; i++)
		if (elnulls[i] || *TextDatumGetCString(elems[i]) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid option for property \"%s\": %s", row->key,
							elnulls[i] ? "NULL" : "\"\""),
					 errhint("Options are non-empty strings.")));
	for (i = 0; i < def->noptions; i++)
		for (j = i + 1; j < def->noptions; j++)
			if (strcmp(def->options[i], def->options[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("duplicate option for property \"%s\": \"%s\"", row->key, def->options[i]),
						 errhint("List each option once.")));
}

/* Options belong to select types only; patterns to types whose values are strings */
static void
CheckOptionsAndPattern(const DefinitionRow *row, const PropertyDef *def)
{
	if (IsSelectType(def->type))
		CheckSelectOptions(row, def);
	else if (!row->options_null)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" cannot have options", row->type, row->key),
				 errhint("Options belong to select and multi_select properties; pass options => NULL.")));

	if (row->pattern != NULL && !IsStringType(def->type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s property \"%s\" cannot have a pattern", row->type, row->key),
				 errhint("A pattern applies to string values: text, date, datetime, email, phone, url, select and multi_select.")));
}

/* The row's formula, NULL when none (or before 0.3.0, which had no such column) */
static char *
FormulaOf(HeapTuple tup, TupleDesc desc)
{
	int			att = SPI_fnumber(desc, "formula");

	return att > 0 ? SPI_getvalue(tup, desc, att) : NULL;
}

/* The property types a formula's value can be stored as */
static bool
TypeHolds(const char *declared, const char *computed)
{
	if (strcmp(computed, "number") == 0)
		return strcmp(declared, "number") == 0 || strcmp(declared, "currency") == 0 ||
			strcmp(declared, "percent") == 0;
	return strcmp(declared, computed) == 0;
}

/*
 * A computed property: its formula must compile for the object type, its
 * type is the formula's (filled in when NULL), and it has no options,
 * pattern or required flag, which constrain values a client writes.
 */
static HeapTuple
CheckFormula(HeapTuple tup, TupleDesc desc, const char *formula)
{
	bool		isnull;
	Datum		ws = heap_getattr(tup, SPI_fnumber(desc, "workspace_id"), desc, &isnull);
	char	   *object_type = GetText(tup, desc, "object_type", &isnull);
	char	   *key = GetText(tup, desc, "key", &isnull);
	char	   *declared = SPI_getvalue(tup, desc, SPI_fnumber(desc, "type"));
	const char *type;
	bool		clock;
	Oid			relid;
	bool		required;

	if (object_type == NULL || key == NULL || heap_attisnull(tup, SPI_fnumber(desc, "workspace_id"), desc))
		return tup;
	CheckPropertyKey(key);
	(void) ResolveObjectType(DatumGetInt64(ws), object_type, &relid);
	if (CqlIsRollupText(formula, strlen(formula)))
	{
		CrmRollupSql r;

		CrmCqlCompileRollup(object_type, formula, DatumGetInt64(ws), "c", &r);
		type = r.type;
	}
	else
		(void) CrmCqlCompileFormula(object_type, formula, DatumGetInt64(ws), "r", &type, &clock, NULL, NULL);
	if (declared != NULL && !TypeHolds(declared, type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the formula of %s property \"%s\" computes %s, not %s", object_type, key, type, declared),
				 errhint("Leave the type out (NULL) to take the formula's, or change the formula.")));
	required = DatumGetBool(heap_getattr(tup, SPI_fnumber(desc, "required"), desc, &isnull)) && !isnull;
	if (required || !heap_attisnull(tup, SPI_fnumber(desc, "options"), desc) ||
		!heap_attisnull(tup, SPI_fnumber(desc, "pattern"), desc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("computed %s property \"%s\" cannot be %s", object_type, key,
						required ? "required" : heap_attisnull(tup, SPI_fnumber(desc, "options"), desc) ?
						"given a pattern" : "given options"),
				 errhint("Its value is the formula's; a formula's value is never written by a client.")));
	if (declared == NULL)
	{
		int			att = SPI_fnumber(desc, "type");
		Datum		v = OidFunctionCall3(F_ENUM_IN, CStringGetDatum(type),
										 ObjectIdGetDatum(TupleDescAttr(desc, att - 1)->atttypid), Int32GetDatum(-1));
		bool		n = false;

		tup = heap_modify_tuple_by_cols(tup, desc, 1, &att, &v, &n);
	}
	return tup;
}

/*
 * BEFORE INSERT OR UPDATE on crm.property_definitions: the key, object type,
 * options and pattern must make sense, a missing label becomes the key, and
 * the stored values must fit the new definition.
 */
Datum
crm_check_property_definition(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tup;
	HeapTuple	oldtup = NULL;
	DefinitionRow row;
	RowRewrite	rw = {0};
	PropertyDef def;
	const ObjectTable *ot;
	Oid			relid;
	char	   *formula;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("check_property_definition: must be fired before insert or update, for each row")));

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		tup = trigdata->tg_newtuple;
		oldtup = trigdata->tg_trigtuple;
	}
	else
		tup = trigdata->tg_trigtuple;

	formula = FormulaOf(tup, desc);
	if (formula != NULL)
		tup = CheckFormula(tup, desc, formula);
	if (!ReadDefinitionRow(tup, desc, &row))
		return PointerGetDatum(tup);
	CheckPropertyKey(row.key);
	ot = ResolveObjectType(row.workspace_id, row.object_type, &relid);
	CheckNotStandardColumn(ot, relid, row.object_type, row.key);
	NullEmptyValues(&row, desc, &rw);
	/* FillPropertyDef refuses a pattern that does not compile */
	FillPropertyDef(&def, row.key, row.type, row.options, row.options_null, row.pattern, row.required,
			CurrentMemoryContext, true);
	CheckOptionsAndPattern(&row, &def);

	/* a missing label defaults to the key */
	if (heap_attisnull(tup, SPI_fnumber(desc, "label"), desc))
		Rewrite(&rw, SPI_fnumber(desc, "label"), CStringGetTextDatum(row.key), false);
	if (rw.ncols > 0)
	{
		tup = heap_modify_tuple_by_cols(tup, desc, rw.ncols, rw.cols, rw.vals, rw.nulls);
		CrmCheckDefined(tup->t_data, tup->t_len);
	}

	/* Re-validate unless nothing but the label changed; a formula's values are computed */
	if (formula == NULL && (oldtup == NULL || DefinitionChanged(oldtup, tup, desc)))
		Revalidate(row.workspace_id, row.object_type, ot, relid, &def);

	return PointerGetDatum(tup);
}
