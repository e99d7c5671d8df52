/*-------------------------------------------------------------------------
 *
 * cql_catalog.c
 *	  The typed field catalogue: one table-driven entry per entity.
 *
 * Adding an entity is one CqlEntity entry (its fields and relations) in
 * `entities` below; adding a relation is one CqlRelation line.  Enum values
 * mirror the SQL enum types (test/sql/cql_catalog.sql checks they agree).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <strings.h>

#include "cql.h"

#define LENGTHOF(a) ((int) (sizeof(a) / sizeof((a)[0])))

static const char *const contact_status_values[] =
{"active", "archived", "merged", "deleted", NULL};
static const char *const lifecycle_stage_values[] =
{"subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity",
"customer", "evangelist", "other", NULL};
static const char *const identity_source_values[] =
{"anonymous", "self_reported", "verified", NULL};

static const CqlField contact_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"name", "name", T_TEXT, NULL, NULL, true},
	{"email", "email", T_TEXT, NULL, NULL, true},
	{"phone", "phone", T_TEXT, NULL, NULL, true},
	{"identifier", "identifier", T_TEXT, NULL, NULL, true},
	{"verifiedId", "verified_id", T_TEXT, NULL, NULL, true},
	{"identitySource", "identity_source", T_ENUM, "crm.identity_source", identity_source_values, true},
	{"avatarUrl", "avatar_url", T_TEXT, NULL, NULL, false},
	{"city", "city", T_TEXT, NULL, NULL, true},
	{"country", "country", T_TEXT, NULL, NULL, true},
	{"lifecycleStage", "lifecycle_stage", T_ENUM, "crm.lifecycle_stage", lifecycle_stage_values, true},
	{"status", "status", T_ENUM, "crm.contact_status", contact_status_values, true},
	{"mergedInto", "merged_into", T_NUMBER, NULL, NULL, true},
	{"owner", "owner", T_TEXT, NULL, NULL, true},
	{"blocked", "blocked", T_BOOL, NULL, NULL, true},
	{"tags", "tags", T_TAGS, NULL, NULL, false},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"firstSeenAt", "first_seen_at", T_TIMESTAMP, NULL, NULL, true},
	{"lastSeenAt", "last_seen_at", T_TIMESTAMP, NULL, NULL, true},
	{"conversationCount", "conversation_count", T_NUMBER, NULL, NULL, true},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
	{"deletedAt", "deleted_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation contact_relations[] = {
	/* company.x: the contact's primary company */
	{"company", REL_ONE, "company", "crm.contact_companies", "contact_id", "company_id", "is_primary", NULL},
	/* EXISTS companies(...), COUNT(companies(...)): any linked company */
	{"companies", REL_MANY, "company", "crm.contact_companies", "contact_id", "company_id", NULL, NULL},
};

static const CqlField company_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"name", "name", T_TEXT, NULL, NULL, true},
	{"domain", "domain", T_TEXT, NULL, NULL, true},
	{"industry", "industry", T_TEXT, NULL, NULL, true},
	{"employees", "employees", T_NUMBER, NULL, NULL, true},
	{"plan", "plan", T_TEXT, NULL, NULL, true},
	{"spend", "spend", T_NUMBER, NULL, NULL, true},
	{"description", "description", T_TEXT, NULL, NULL, false},
	{"owner", "owner", T_TEXT, NULL, NULL, true},
	{"tags", "tags", T_TAGS, NULL, NULL, false},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation company_relations[] = {
	/* EXISTS contacts(...), COUNT(contacts(...)): the people linked to it */
	{"contacts", REL_MANY, "contact", "crm.contact_companies", "company_id", "contact_id", NULL, NULL},
};

static const CqlEntity entity_contact = {
	"contact", "crm.contacts", "contacts",
	contact_fields, LENGTHOF(contact_fields),
	contact_relations, LENGTHOF(contact_relations),
	"status", "%s.status < 'merged'::crm.contact_status",
	"contact_id",
	"%s.status <> 'merged'::crm.contact_status"	/* tombstones: their memberships moved to the survivor */
};

static const CqlEntity entity_company = {
	"company", "crm.companies", "companies",
	company_fields, LENGTHOF(company_fields),
	company_relations, LENGTHOF(company_relations),
	NULL, NULL,
	"company_id", NULL
};

static const CqlEntity *const entities[] = {&entity_contact, &entity_company};

const CqlEntity *const *
CqlEntities(int *n)
{
	*n = LENGTHOF(entities);
	return entities;
}

const CqlEntity *
CqlFindEntity(const char *name)
{
	for (int i = 0; i < LENGTHOF(entities); i++)
		if (strcasecmp(entities[i]->name, name) == 0)
			return entities[i];
	return NULL;
}

/* camelCase or snake_case, case-insensitively */
const CqlField *
CqlFindField(const CqlEntity *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcasecmp(e->fields[i].name, name) == 0 || strcasecmp(e->fields[i].column, name) == 0)
			return &e->fields[i];
	return NULL;
}

const CqlRelation *
CqlFindRelation(const CqlEntity *e, const char *name)
{
	for (int i = 0; i < e->nrelations; i++)
		if (strcasecmp(e->relations[i].name, name) == 0)
			return &e->relations[i];
	return NULL;
}

const char *
CqlTypeName(CqlType t)
{
	switch (t)
	{
		case T_TEXT: return "text";
		case T_NUMBER: return "number";
		case T_TIMESTAMP: return "timestamp";
		case T_DATE: return "date";
		case T_BOOL: return "boolean";
		case T_ENUM: return "enum";
		case T_TAGS: return "tags";
		case T_JSONB: return "properties";
	}
	return "unknown";
}
