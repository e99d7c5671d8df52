/*-------------------------------------------------------------------------
 *
 * properties_validate.c
 *	  crm_internal.validate_properties(): the BEFORE INSERT OR UPDATE row trigger of
 *	  every object table (contacts, companies, deals, custom records, ...)
 *	  that checks a row's properties against the definitions of its
 *	  workspace and object type, and against the size limits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "crm.h"
#include "properties.h"

PG_FUNCTION_INFO_V1(crm_validate_properties);

/* Per trigger, kept in fn_extra: where its columns are and what object type it checks */
typedef struct TriggerColumns
{
	Oid			relid;
	Oid			tgoid;
	int			properties;
	int			workspace_id;
	int			type_column;	/* attnum of the '@column', or 0 */
	char	   *object_type;	/* the fixed object type, when type_column is 0 */
} TriggerColumns;

static TriggerColumns *
GetTriggerColumns(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	TriggerColumns *tc = (TriggerColumns *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	const char *arg;

	if (tc != NULL && tc->relid == RelationGetRelid(trigdata->tg_relation) &&
		tc->tgoid == trigger->tgoid)
		return tc;

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties needs one argument: the object type or '@column'")));
	arg = trigger->tgargs[0];
	tc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TriggerColumns));
	tc->relid = RelationGetRelid(trigdata->tg_relation);
	tc->tgoid = trigger->tgoid;
	tc->properties = SPI_fnumber(tupdesc, "properties");
	tc->workspace_id = SPI_fnumber(tupdesc, "workspace_id");
	if (tc->properties <= 0 || tc->workspace_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: table \"%s\" needs columns workspace_id and properties",
						RelationGetRelationName(trigdata->tg_relation))));
	if (arg[0] == '@')
	{
		tc->type_column = SPI_fnumber(tupdesc, arg + 1);
		if (tc->type_column <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("validate_properties: column \"%s\" not found", arg + 1)));
	}
	else
		tc->object_type = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, arg);
	fcinfo->flinfo->fn_extra = tc;
	return tc;
}

static bool
HasKey(Jsonb *jb, const char *key, int keylen)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	return v != NULL && v->type != jbvNull;
}

/*
 * 54000 for a value larger than CRM_MAX_PROPERTY_VALUE bytes (its string,
 * or its array or object as stored): custom properties are fields of a
 * form, not a place for documents.
 */
static void
CheckValueSize(ObjectProps *op, const char *object_type, JsonbValue *k, JsonbValue *v, bool computed)
{
	Size		bytes;
	PropertyDef *def;

	if (v->type == jbvString)
		bytes = v->val.string.len;
	else if (v->type == jbvBinary)
		bytes = v->val.binary.len;
	else
		return;					/* numbers and booleans are small */
	if (bytes <= CRM_MAX_PROPERTY_VALUE)
		return;
	/* a formula's value is the formula's doing, not the writer's, whose value it replaces */
	def = FindPropertyDef(op, k->val.string.val, k->val.string.len);
	if (def && def->formula && !computed)
		return;
	if (def && def->formula)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value of %s formula property \"%s\" is too long: %zu bytes", object_type, def->key, bytes),
				 errdetail("The limit is %d bytes per property value; the formula is %s.", CRM_MAX_PROPERTY_VALUE,
						   quote_literal_cstr(def->formula)),
				 errhint("Change the formula of \"%s\" with crm.define_formula so that its value stays under the limit, or drop it with crm.drop_property.",
						 def->key)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value of %s property \"%.*s\" is too long: %zu bytes", object_type,
						k->val.string.len, k->val.string.val, bytes),
				 errdetail("The limit is %d bytes per property value.", CRM_MAX_PROPERTY_VALUE),
				 errhint("Shorten the value; keep large content in a file and link it with crm.attachments.")));
}

/*
 * Size limits, whether or not the key is declared.  Only an object larger
 * than one value's limit can hold a value over it, so small objects (nearly
 * all) are not walked.
 */
static void
CheckPropertySizes(ObjectProps *op, const char *object_type, Jsonb *props, bool computed)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (VARSIZE(props) <= CRM_MAX_PROPERTY_VALUE || !JB_ROOT_IS_OBJECT(props))
		return;
	if (VARSIZE(props) > CRM_MAX_PROPERTIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s properties are too large: %zu bytes", object_type, (Size) VARSIZE(props)),
				 errdetail("The limit is %d bytes for a whole properties object.", CRM_MAX_PROPERTIES),
				 errhint("Remove keys that are not fields of the record; keep documents in files linked with crm.attachments.")));
	it = JsonbIteratorInit(&props->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		CheckValueSize(op, object_type, &k, &v, computed);
	}
}

static void
ValidateProperties(ObjectProps *op, const char *object_type, Jsonb *props, Jsonb *oldprops)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool	   *present;
	int			i;

	if (!JB_ROOT_IS_OBJECT(props))
		return;					/* the table's CHECK constraint reports it */

	present = palloc0(sizeof(bool) * (op->ndefs + 1));
	it = JsonbIteratorInit(&props->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		PropertyDef *def;
		Fit			fit;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type == jbvNull)
			continue;			/* null means absent */

		def = FindPropertyDef(op, k.val.string.val, k.val.string.len);
		if (def == NULL)
		{
			/* strict: new undeclared keys are refused, ones already stored are kept */
			if (op->strict && !(oldprops && HasKey(oldprops, k.val.string.val, k.val.string.len)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("undeclared %s property \"%.*s\"", object_type,
								k.val.string.len, k.val.string.val),
						 errdetail("Workspace \"%s\" has \"strict_properties\": true, which refuses keys without a definition.",
								   op->slug),
						 errhint("Declare it with crm.define_property('%s', '%.*s', 'text'), or remove the key.",
								 object_type, k.val.string.len, k.val.string.val)));
			continue;
		}
		present[def - op->defs] = true;
		if (def->formula)
			continue;			/* computed: the formula's value replaces it */
		fit = PropertyValueFits(def, &v);
		if (fit != FIT_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for %s property \"%s\": %s", object_type, def->key, ShowPropertyValue(&v)),
					 errdetail_internal("%s", PropertyExpectation(def, fit)),
					 errhint("Store a fitting value or remove the key (null removes it too); crm.define_property() changes the definition.")));
	}

	for (i = 0; i < op->ndefs; i++)
		if (op->defs[i].required && !present[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("missing required %s property \"%s\"", object_type, op->defs[i].key),
					 errdetail_internal("%s", PropertyExpectation(&op->defs[i], FIT_TYPE)),
					 errhint("Set properties->'%s' to a non-null value, or make it optional with crm.define_property(..., required => false).",
							 op->defs[i].key)));
}

/*
 * An update that leaves properties (and, for custom records, the type) as
 * they were needs no check: the value was valid when it was stored.
 */
static bool
PropertiesUntouched(const TriggerColumns *tc, TupleDesc tupdesc, HeapTuple oldtuple,
					HeapTuple newtuple, Datum props, Jsonb **oldprops)
{
	bool		oldnull;
	Datum		oldprops_datum = heap_getattr(oldtuple, tc->properties, tupdesc, &oldnull);
	bool		same = !oldnull && datumIsEqual(oldprops_datum, props, false, -1);

	if (same && tc->type_column > 0)
	{
		bool		n1,
					n2;
		Datum		t1 = heap_getattr(oldtuple, tc->type_column, tupdesc, &n1);
		Datum		t2 = heap_getattr(newtuple, tc->type_column, tupdesc, &n2);

		same = n1 == n2 && (n1 || datumIsEqual(t1, t2, false, -1));
	}
	if (!same && !oldnull)
		*oldprops = DatumGetJsonbP(oldprops_datum);
	return same;
}

/* The row's object type: the trigger's argument or the row's type column (NULL if null) */
static char *
RowObjectType(const TriggerColumns *tc, TupleDesc tupdesc, HeapTuple tuple)
{
	bool		isnull;
	Datum		t;

	if (tc->type_column == 0)
		return tc->object_type;
	t = heap_getattr(tuple, tc->type_column, tupdesc, &isnull);
	return isnull ? NULL : TextDatumGetCString(t);
}

Datum
crm_validate_properties(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	TriggerColumns *tc;
	HeapTuple	newtuple;
	Datum		props;
	Datum		wsdatum;
	bool		isnull;
	char	   *object_type;
	ObjectProps *op;
	Jsonb	   *jb;
	Jsonb	   *oldprops = NULL;
	bool		untouched;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: not called by trigger manager")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_properties: must be fired before insert or update, for each row")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tc = GetTriggerColumns(fcinfo, trigdata);
	newtuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;

	props = heap_getattr(newtuple, tc->properties, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(newtuple);	/* NOT NULL reports it */
	untouched = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		PropertiesUntouched(tc, tupdesc, trigdata->tg_trigtuple, newtuple, props, &oldprops);

	object_type = RowObjectType(tc, tupdesc, newtuple);
	wsdatum = heap_getattr(newtuple, tc->workspace_id, tupdesc, &isnull);
	if (object_type == NULL || isnull)
		return PointerGetDatum(newtuple);

	op = GetObjectProps(DatumGetInt64(wsdatum), object_type);
	if (!untouched)
	{
		jb = DatumGetJsonbP(props);
		CheckPropertySizes(op, object_type, jb, false);
		if (op->ndefs > 0 || op->strict)
			ValidateProperties(op, object_type, jb, oldprops);
	}
	/* rollups are the related records' to change (properties_rollup.c) */
	if (op->nrollups > 0)
		newtuple = CrmKeepRollups(op, trigdata->tg_relation, newtuple,
								  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_trigtuple : NULL,
								  tc->properties);
	/*
	 * formulas read any field, and the rollups as just kept, so every write
	 * recomputes them after those (properties_formula.c); what they compute
	 * is held to the size limits as a client's value is
	 */
	op = GetObjectProps(DatumGetInt64(wsdatum), object_type);
	if (op->nformulas > 0)
	{
		newtuple = CrmComputeFormulas(op, trigdata->tg_relation, newtuple, tc->properties);
		props = heap_getattr(newtuple, tc->properties, tupdesc, &isnull);
		CheckPropertySizes(GetObjectProps(DatumGetInt64(wsdatum), object_type), object_type,
						   DatumGetJsonbP(props), true);
	}
	return PointerGetDatum(newtuple);
}
