/*-------------------------------------------------------------------------
 *
 * orders_company.c
 *	  The company an order counts for (docs/orders.md): given by the writer,
 *	  else the deal's company, else the contact's primary company, found once
 *	  at insert and stored, so a later change of the contact's companies does
 *	  not move old orders.  A move to another contact that leaves company_id
 *	  as it was takes the new contact's company (a merge or an unmerge moves
 *	  orders so), unless the deal names one.
 *
 * Every order insert runs it, with or without rollups: in C with two kept
 * plans it costs an index probe or two, where a PL/pgSQL SECURITY DEFINER
 * trigger cost a function call with its GUC and user switches per row.  It
 * reads as the tables' owner, as the foreign key checks do: a frontend role
 * may not see every deal or company link, and the row's workspace is the
 * filter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "crm.h"

PG_FUNCTION_INFO_V1(crm_orders_company);

static SPIPlanPtr exists_plan = NULL;
static SPIPlanPtr found_plan = NULL;

/*
 * Both lookups read one row by its key, run through CrmExecuteByIndex: a
 * plan kept from an empty table would scan the whole table at every order.
 */
static SPIPlanPtr
KeptPlan(SPIPlanPtr *cache, const char *sql, int nargs)
{
	static Oid	argtypes[3] = {INT8OID, INT8OID, INT8OID};

	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "orders_company: preparing failed for: %s", sql);
		*cache = plan;
	}
	return *cache;
}

static int
Column(TupleDesc desc, const char *name)
{
	int			att = SPI_fnumber(desc, name);

	if (att <= 0)
		elog(ERROR, "orders_company: column \"%s\" not found", name);
	return att;
}

static Datum
Attr(HeapTuple tuple, TupleDesc desc, int att, char *null)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, att, desc, &isnull);

	*null = isnull ? 'n' : ' ';
	return d;
}

/* Whether company id exists in workspace ws */
static bool
CompanyExists(Datum ws, Datum id)
{
	Datum		args[2] = {ws, id};

	if (CrmExecuteByIndex(KeptPlan(&exists_plan,
								  "SELECT FROM crm.companies c WHERE c.workspace_id OPERATOR(pg_catalog.=) $1"
								  " AND c.id OPERATOR(pg_catalog.=) $2", 2),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "orders_company: reading the company failed");
	return SPI_processed == 1;
}

/* The deal's company, else the contact's primary one; isnull when neither has one */
static Datum
FindCompany(Datum ws, Datum deal, char dealnull, Datum contact, char contactnull, bool *isnull)
{
	Datum		args[3] = {ws, deal, contact};
	char		nulls[3] = {' ', dealnull, contactnull};
	Datum		company;

	if (CrmExecuteByIndex(KeptPlan(&found_plan,
								  "SELECT COALESCE("
								  " (SELECT d.company_id FROM crm.deals d"
								  "   WHERE d.workspace_id OPERATOR(pg_catalog.=) $1 AND d.id OPERATOR(pg_catalog.=) $2),"
								  " (SELECT cc.company_id FROM crm.contact_companies cc"
								  "   WHERE cc.workspace_id OPERATOR(pg_catalog.=) $1"
								  "     AND cc.contact_id OPERATOR(pg_catalog.=) $3 AND cc.is_primary))", 3),
						 args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "orders_company: reading the deal's or the contact's company failed");
	company = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	return company;
}

/*
 * crm_internal.orders_company(): BEFORE INSERT, and BEFORE UPDATE OF
 * contact_id, company_id when either moved, for each row, on crm.orders.
 */
Datum
crm_orders_company(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			companyatt;
	char		wsnull,
				companynull,
				dealnull,
				contactnull;
	Datum		ws,
				company,
				deal,
				contact;
	bool		given;
	bool		isnull;
	CrmSavedUser saved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("orders_company: must be fired before insert or update, for each row")));

	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	companyatt = Column(desc, "company_id");
	ws = Attr(tuple, desc, Column(desc, "workspace_id"), &wsnull);
	company = Attr(tuple, desc, companyatt, &companynull);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		given = companynull == ' ';
	else
	{
		char		oldnull;
		Datum		old = Attr(trigdata->tg_trigtuple, desc, companyatt, &oldnull);

		given = oldnull != companynull || (companynull == ' ' && DatumGetInt64(old) != DatumGetInt64(company));
	}
	if (wsnull == 'n')
		return PointerGetDatum(tuple);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	CrmBecomeOwner(CrmRelationOwner(RelationGetRelid(trigdata->tg_relation)), &saved);
	if (given)
	{
		if (companynull == ' ' && !CompanyExists(ws, company))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("company " INT64_FORMAT " does not exist", DatumGetInt64(company)),
					 errhint("Set company_id to a company of this workspace, or leave it out to take the deal's or the contact's company.")));
		CrmRestoreUser(&saved);
		SPI_finish();
		return PointerGetDatum(tuple);
	}
	deal = Attr(tuple, desc, Column(desc, "deal_id"), &dealnull);
	contact = Attr(tuple, desc, Column(desc, "contact_id"), &contactnull);
	company = FindCompany(ws, deal, dealnull, contact, contactnull, &isnull);
	CrmRestoreUser(&saved);
	SPI_finish();
	/* an int8 is passed by value: nothing to copy out of SPI's memory */
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &companyatt, &company, &isnull));
}
