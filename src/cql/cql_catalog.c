/*-------------------------------------------------------------------------
 *
 * cql_catalog.c
 *	  The typed field catalogue: one table-driven entry per entity.
 *
 * Adding an entity is one CqlEntity entry (its fields and relations) in
 * `entities` below; adding a relation is one CqlRelation line.  Enum values
 * mirror the SQL enum types (test/sql/cql_api.sql checks they agree).
 * Custom object types all use the one record entry; their fields beyond
 * the standard columns are their declared properties.
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
	{"phone", "phone", T_TEXT, NULL, NULL, true, NULL, true},
	{"identifier", "identifier", T_TEXT, NULL, NULL, true},
	{"verifiedId", "verified_id", T_TEXT, NULL, NULL, true},
	{"identitySource", "identity_source", T_ENUM, "crm.identity_source", identity_source_values, true},
	{"avatarUrl", "avatar_url", T_TEXT, NULL, NULL, false},
	{"city", "city", T_TEXT, NULL, NULL, true},
	{"country", "country", T_TEXT, NULL, NULL, true, NULL, false, false, false, true},
	{"lifecycleStage", "lifecycle_stage", T_ENUM, "crm.lifecycle_stage", lifecycle_stage_values, true},
	{"status", "status", T_ENUM, "crm.contact_status", contact_status_values, true},
	{"mergedInto", "merged_into", T_NUMBER, NULL, NULL, true},
	{"owner", "owner", T_TEXT, NULL, NULL, true},
	{"blocked", "blocked", T_BOOL, NULL, NULL, true},
	{"tags", "tags", T_TAGS, NULL, NULL, false},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"activeModules", "active_modules", T_TAGS, NULL, NULL, false, NULL, false, true},
	/* the postal address (city and country above) and social profiles */
	{"street", "street", T_TEXT, NULL, NULL, true},
	{"addressLine2", "address_line2", T_TEXT, NULL, NULL, true},
	{"region", "region", T_TEXT, NULL, NULL, true},
	{"postalCode", "postal_code", T_TEXT, NULL, NULL, true},
	{"linkedin", "linkedin", T_TEXT, NULL, NULL, false},
	{"x", "x", T_TEXT, NULL, NULL, false},
	{"instagram", "instagram", T_TEXT, NULL, NULL, false},
	{"facebook", "facebook", T_TEXT, NULL, NULL, false},
	{"github", "github", T_TEXT, NULL, NULL, false},
	{"website", "website", T_TEXT, NULL, NULL, false},
	{"firstSeenAt", "first_seen_at", T_TIMESTAMP, NULL, NULL, true},
	{"lastSeenAt", "last_seen_at", T_TIMESTAMP, NULL, NULL, true},
	{"conversationCount", "conversation_count", T_NUMBER, NULL, NULL, true},
	{"lastConversationAt", "last_conversation_at", T_TIMESTAMP, NULL, NULL, true},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
	{"deletedAt", "deleted_at", T_TIMESTAMP, NULL, NULL, true},
};

/*
 * Aggregates of a contact's (or deal's) orders.  totalPaid adds up the
 * orders with status paid in the workspace's default currency: orders are a
 * log in whatever currency they were reported in, and an amount summed
 * across currencies would mean nothing (docs/cql.md).
 */
static const CqlAggregate order_aggregates[] = {
	{"totalPaid", "total_paid", T_NUMBER, "COALESCE(pg_catalog.sum(%1$s.value), 0)",
	 "%1$s.status = 'paid'::crm.order_status AND %1$s.currency = "
	 "(SELECT w.default_currency FROM crm.workspaces w WHERE w.id = %1$s.workspace_id)"},
	{"count", "count", T_NUMBER, "pg_catalog.count(*)", NULL},
	{"lastOrderDate", "last_order_date", T_TIMESTAMP, "pg_catalog.max(%1$s.order_date)", NULL},
};

/*
 * Conversation statistics per contact (or deal): sums and maxima of what
 * the message triggers keep on each conversation (sql/conversations.sql).
 * avgResponseMinutes weighs every answer alike; firstResponseMinutes is the
 * mean of the conversations' first responses.
 */
static const CqlAggregate conversation_aggregates[] = {
	{"count", "count", T_NUMBER, "pg_catalog.count(*)", NULL},
	{"messagesIn", "messages_in", T_NUMBER, "COALESCE(pg_catalog.sum(%1$s.messages_in), 0)", NULL},
	{"messagesOut", "messages_out", T_NUMBER, "COALESCE(pg_catalog.sum(%1$s.messages_out), 0)", NULL},
	{"lastInboundAt", "last_inbound_at", T_TIMESTAMP, "pg_catalog.max(%1$s.last_inbound_at)", NULL},
	{"lastOutboundAt", "last_outbound_at", T_TIMESTAMP, "pg_catalog.max(%1$s.last_outbound_at)", NULL},
	{"lastMessageAt", "last_message_at", T_TIMESTAMP, "pg_catalog.max(%1$s.last_message_at)", NULL},
	{"responses", "responses", T_NUMBER, "COALESCE(pg_catalog.sum(%1$s.response_count), 0)", NULL},
	{"firstResponseMinutes", "first_response_minutes", T_NUMBER,
	 "(pg_catalog.avg(%1$s.first_response_seconds) / 60)::pg_catalog.numeric", NULL},
	{"avgResponseMinutes", "avg_response_minutes", T_NUMBER,
	 "(pg_catalog.sum(%1$s.response_seconds) / NULLIF(pg_catalog.sum(%1$s.response_count), 0) / 60)::pg_catalog.numeric", NULL},
};

static const CqlRelation contact_relations[] = {
	/* company.x: the contact's primary company */
	{"company", REL_ONE, "company", "crm.contact_companies", "contact_id", "company_id", "is_primary", NULL},
	/* EXISTS companies(...), COUNT(companies(...)): any linked company */
	{"companies", REL_MANY, "company", "crm.contact_companies", "contact_id", "company_id", NULL, NULL},
	/* EXISTS deals(...), COUNT(deals(...)): deals whose contact it is */
	{"deals", REL_MANY, "deal", NULL, NULL, NULL, NULL, "contact_id"},
	/* EXISTS orders(...), orders.totalPaid, orders.count, orders.lastOrderDate */
	{"orders", REL_MANY, "order", NULL, NULL, NULL, NULL, "contact_id", NULL, NULL, NULL,
	 order_aggregates, LENGTHOF(order_aggregates)},
	/* EXISTS conversations(...), COUNT(conversations(...)), conversations.messagesIn */
	{"conversations", REL_MANY, "conversation", NULL, NULL, NULL, NULL, "contact_id", NULL, NULL, NULL,
	 conversation_aggregates, LENGTHOF(conversation_aggregates)},
	/* stats.avgResponseMinutes, stats.whatsapp.messagesIn: the same rows, by channel too */
	{"stats", REL_MANY, "conversation", NULL, NULL, NULL, NULL, "contact_id", NULL, NULL, NULL,
	 conversation_aggregates, LENGTHOF(conversation_aggregates), "channel"},
	/* EXISTS pipelineStages(pipeline = 'Support' AND stage = 'Waiting'): its places on contact pipelines */
	{"pipelineStages", REL_MANY, "contact_stage", NULL, NULL, NULL, NULL, "contact_id"},
};

/* associated(type, ...): the contact's associations to custom object records */
static const CqlRelation contact_associations =
{"associated", REL_MANY, "record", "crm.object_associations", "contact_id", "record_id", NULL, NULL};

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
	/* EXISTS deals(...), COUNT(deals(...)): deals whose company it is */
	{"deals", REL_MANY, "deal", NULL, NULL, NULL, NULL, "company_id"},
	/* EXISTS orders(...), orders.totalPaid, SUM(orders(status = PAID AND currency = 'EUR').value) */
	{"orders", REL_MANY, "order", NULL, NULL, NULL, NULL, "company_id", NULL, NULL, NULL,
	 order_aggregates, LENGTHOF(order_aggregates)},
};

static const char *const deal_status_values[] = {"open", "won", "lost", NULL};
static const char *const deal_priority_values[] = {"low", "medium", "high", "urgent", NULL};
static const char *const value_mode_values[] = {"manual", "auto", NULL};
static const char *const forecast_category_values[] =
{"pipeline", "best_case", "commit", "closed", "omitted", NULL};
static const char *const stage_kind_values[] = {"open", "won", "lost", NULL};
static const char *const deal_health_values[] = {"healthy", "stalled", "at_risk", "overdue", NULL};
static const char *const order_status_values[] =
{"pending", "paid", "partially_paid", "overdue", "refunded", "canceled", "failed", NULL};
static const char *const order_source_values[] =
{"manual", "webhook", "api", "payments", "commerce", NULL};

static const CqlField deal_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"pipelineId", "pipeline_id", T_NUMBER, NULL, NULL, true},
	{"stageId", "stage_id", T_NUMBER, NULL, NULL, true},
	{"title", "title", T_TEXT, NULL, NULL, true},
	{"contactId", "contact_id", T_NUMBER, NULL, NULL, true},
	{"companyId", "company_id", T_NUMBER, NULL, NULL, true},
	{"owner", "owner", T_TEXT, NULL, NULL, true},
	{"team", "team", T_TEXT, NULL, NULL, true},
	{"priority", "priority", T_ENUM, "crm.deal_priority", deal_priority_values, true},
	{"value", "value", T_NUMBER, NULL, NULL, true},
	{"currency", "currency", T_TEXT, NULL, NULL, true},
	{"valueMode", "value_mode", T_ENUM, "crm.value_mode", value_mode_values, true},
	{"expectedCloseDate", "expected_close_date", T_DATE, NULL, NULL, true},
	{"status", "status", T_ENUM, "crm.deal_status", deal_status_values, true},
	{"closedAt", "closed_at", T_TIMESTAMP, NULL, NULL, true},
	{"lostReason", "lost_reason", T_TEXT, NULL, NULL, true},
	{"wonReason", "won_reason", T_TEXT, NULL, NULL, true},
	{"position", "position", T_NUMBER, NULL, NULL, true},
	{"stageEnteredAt", "stage_entered_at", T_TIMESTAMP, NULL, NULL, true},
	{"probabilityOverride", "probability_override", T_NUMBER, NULL, NULL, true},
	{"forecastCategoryOverride", "forecast_category_override", T_ENUM, "crm.forecast_category", forecast_category_values, true},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
	/* health = STALLED, ORDER BY health DESC: crm.deal_health() as of now, least to most urgent */
	{"health", "health", T_ENUM, "crm.deal_health", deal_health_values, true, "crm.deal_health(%1$s.id)"},
};

static const CqlRelation deal_relations[] = {
	/* stage = 'Proposal' (name), stage = WON (kind), stage = 12 (id), stage.probability > 50 */
	{"stage", REL_ONE, "stage", NULL, NULL, NULL, NULL, NULL, "stage_id", "name", "kind"},
	{"pipeline", REL_ONE, "pipeline", NULL, NULL, NULL, NULL, NULL, "pipeline_id", "name", NULL},
	{"contact", REL_ONE, "contact", NULL, NULL, NULL, NULL, NULL, "contact_id"},
	{"company", REL_ONE, "company", NULL, NULL, NULL, NULL, NULL, "company_id"},
	{"orders", REL_MANY, "order", NULL, NULL, NULL, NULL, "deal_id", NULL, NULL, NULL,
	 order_aggregates, LENGTHOF(order_aggregates)},
	{"conversations", REL_MANY, "conversation", NULL, NULL, NULL, NULL, "deal_id", NULL, NULL, NULL,
	 conversation_aggregates, LENGTHOF(conversation_aggregates)},
	/* EXISTS checklistItems(done = false), COUNT(checklistItems(done = false)): its to-do list */
	{"checklistItems", REL_MANY, "checklist_item", NULL, NULL, NULL, NULL, "deal_id"},
};

static const CqlField checklist_item_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"dealId", "deal_id", T_NUMBER, NULL, NULL, true},
	{"title", "title", T_TEXT, NULL, NULL, true},
	{"done", "done", T_BOOL, NULL, NULL, true},
	{"doneAt", "done_at", T_TIMESTAMP, NULL, NULL, true},
	{"position", "position", T_NUMBER, NULL, NULL, true},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlField stage_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"pipelineId", "pipeline_id", T_NUMBER, NULL, NULL, true},
	{"name", "name", T_TEXT, NULL, NULL, true},
	{"position", "position", T_NUMBER, NULL, NULL, true},
	{"probability", "probability", T_NUMBER, NULL, NULL, true},
	{"kind", "kind", T_ENUM, "crm.stage_kind", stage_kind_values, true},
	{"forecastCategory", "forecast_category", T_ENUM, "crm.forecast_category", forecast_category_values, true},
};

static const CqlField pipeline_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"name", "name", T_TEXT, NULL, NULL, true},
	{"isDefault", "is_default", T_BOOL, NULL, NULL, true},
};

/* a contact's place on a contact pipeline (crm.contact_stages) */
static const CqlField contact_stage_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"pipelineId", "pipeline_id", T_NUMBER, NULL, NULL, true},
	{"stageId", "stage_id", T_NUMBER, NULL, NULL, true},
	{"position", "position", T_NUMBER, NULL, NULL, true},
	{"enteredAt", "entered_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation contact_stage_relations[] = {
	/* stage = 'Waiting' (name), stage = WON (kind), stage = 12 (id); pipeline = 'Support' */
	{"stage", REL_ONE, "stage", NULL, NULL, NULL, NULL, NULL, "stage_id", "name", "kind"},
	{"pipeline", REL_ONE, "pipeline", NULL, NULL, NULL, NULL, NULL, "pipeline_id", "name", NULL},
};

static const CqlField order_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"contactId", "contact_id", T_NUMBER, NULL, NULL, true},
	{"dealId", "deal_id", T_NUMBER, NULL, NULL, true},
	{"companyId", "company_id", T_NUMBER, NULL, NULL, true},
	{"title", "title", T_TEXT, NULL, NULL, true},
	{"value", "value", T_NUMBER, NULL, NULL, true},
	{"currency", "currency", T_TEXT, NULL, NULL, true},
	{"status", "status", T_ENUM, "crm.order_status", order_status_values, true},
	{"source", "source", T_ENUM, "crm.order_source", order_source_values, true},
	{"externalId", "external_id", T_TEXT, NULL, NULL, true},
	{"orderDate", "order_date", T_TIMESTAMP, NULL, NULL, true},
	{"paidDate", "paid_date", T_TIMESTAMP, NULL, NULL, true},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation order_relations[] = {
	{"contact", REL_ONE, "contact", NULL, NULL, NULL, NULL, NULL, "contact_id"},
	{"deal", REL_ONE, "deal", NULL, NULL, NULL, NULL, NULL, "deal_id", "title", NULL},
	{"company", REL_ONE, "company", NULL, NULL, NULL, NULL, NULL, "company_id", "name", NULL},
};

static const char *const conversation_status_values[] = {"open", "pending", "resolved", "closed", NULL};

/*
 * inbox is the key of the inbox or chatbot a conversation came through;
 * chatbot is the same column under the name the chatbot products use.
 */
static const CqlField conversation_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"contactId", "contact_id", T_NUMBER, NULL, NULL, true},
	{"channel", "channel", T_TEXT, NULL, NULL, true, NULL, false, false, true},
	{"inbox", "inbox", T_TEXT, NULL, NULL, true},
	{"chatbot", "inbox", T_TEXT, NULL, NULL, true},
	{"status", "status", T_ENUM, "crm.conversation_status", conversation_status_values, true},
	{"assignee", "assignee", T_TEXT, NULL, NULL, true},
	{"tags", "tags", T_TAGS, NULL, NULL, false},
	{"dealId", "deal_id", T_NUMBER, NULL, NULL, true},
	{"startedAt", "started_at", T_TIMESTAMP, NULL, NULL, true},
	{"firstMessageAt", "first_message_at", T_TIMESTAMP, NULL, NULL, true},
	{"lastMessageAt", "last_message_at", T_TIMESTAMP, NULL, NULL, true},
	{"messagesIn", "messages_in", T_NUMBER, NULL, NULL, true},
	{"messagesOut", "messages_out", T_NUMBER, NULL, NULL, true},
	{"messageCount", "message_count", T_NUMBER, NULL, NULL, true, "(%1$s.messages_in + %1$s.messages_out)"},
	{"lastInboundAt", "last_inbound_at", T_TIMESTAMP, NULL, NULL, true},
	{"lastOutboundAt", "last_outbound_at", T_TIMESTAMP, NULL, NULL, true},
	{"firstResponseMinutes", "first_response_minutes", T_NUMBER, NULL, NULL, true,
	 "(%1$s.first_response_seconds / 60)::pg_catalog.numeric"},
	{"avgResponseMinutes", "avg_response_minutes", T_NUMBER, NULL, NULL, true,
	 "(%1$s.response_seconds / NULLIF(%1$s.response_count, 0) / 60)::pg_catalog.numeric"},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation conversation_relations[] = {
	{"contact", REL_ONE, "contact", NULL, NULL, NULL, NULL, NULL, "contact_id"},
	{"deal", REL_ONE, "deal", NULL, NULL, NULL, NULL, NULL, "deal_id", "title", NULL},
};

static const CqlField record_fields[] = {
	{"id", "id", T_NUMBER, NULL, NULL, true},
	{"displayName", "display_name", T_TEXT, NULL, NULL, true},
	{"externalId", "external_id", T_TEXT, NULL, NULL, true},
	{"properties", "properties", T_JSONB, NULL, NULL, false},
	{"createdAt", "created_at", T_TIMESTAMP, NULL, NULL, true},
	{"updatedAt", "updated_at", T_TIMESTAMP, NULL, NULL, true},
};

static const CqlRelation record_relations[] = {
	/* EXISTS contacts(...), EXISTS deals(...): what the record is associated with */
	{"contacts", REL_MANY, "contact", "crm.object_associations", "record_id", "contact_id", NULL, NULL},
	{"deals", REL_MANY, "deal", "crm.object_associations", "record_id", "deal_id", NULL, NULL},
};

static const CqlEntity entity_contact = {
	"contact", "crm.contacts", "contacts",
	contact_fields, LENGTHOF(contact_fields),
	contact_relations, LENGTHOF(contact_relations),
	"status", "%s.status < 'merged'::crm.contact_status",
	"contact_id",
	"%s.status <> 'merged'::crm.contact_status",	/* tombstones: their memberships moved to the survivor */
	"contact", "contact_id", false, &contact_associations
};

static const CqlEntity entity_company = {
	"company", "crm.companies", "companies",
	company_fields, LENGTHOF(company_fields),
	company_relations, LENGTHOF(company_relations),
	NULL, NULL,
	"company_id", NULL,
	"company", NULL, false
};

static const CqlEntity entity_deal = {
	"deal", "crm.deals", "deals",
	deal_fields, LENGTHOF(deal_fields),
	deal_relations, LENGTHOF(deal_relations),
	NULL, NULL, NULL, NULL, "deal", "deal_id", false
};

static const CqlEntity entity_order = {
	"order", "crm.orders", "orders",
	order_fields, LENGTHOF(order_fields),
	order_relations, LENGTHOF(order_relations),
	NULL, NULL, NULL, NULL, "order", NULL, false
};

static const CqlEntity entity_stage = {
	"stage", "crm.stages", "stages",
	stage_fields, LENGTHOF(stage_fields), NULL, 0,
	NULL, NULL, NULL, NULL, NULL, NULL, true
};

static const CqlEntity entity_pipeline = {
	"pipeline", "crm.pipelines", "pipelines",
	pipeline_fields, LENGTHOF(pipeline_fields), NULL, 0,
	NULL, NULL, NULL, NULL, NULL, NULL, true
};

static const CqlEntity entity_conversation = {
	"conversation", "crm.conversations", "conversations",
	conversation_fields, LENGTHOF(conversation_fields),
	conversation_relations, LENGTHOF(conversation_relations),
	NULL, NULL, NULL, NULL, "conversation", NULL, false
};

static const CqlEntity entity_checklist_item = {
	"checklist_item", "crm.checklist_items", "checklist_items",
	checklist_item_fields, LENGTHOF(checklist_item_fields), NULL, 0,
	NULL, NULL, NULL, NULL, NULL, NULL, true
};

static const CqlEntity entity_contact_stage = {
	"contact_stage", "crm.contact_stages", "contact_stages",
	contact_stage_fields, LENGTHOF(contact_stage_fields),
	contact_stage_relations, LENGTHOF(contact_stage_relations),
	NULL, NULL, NULL, NULL, NULL, NULL, true
};

/* every custom object type: its records, typed by its property definitions */
static const CqlEntity entity_record = {
	"record", "crm.object_records", "object_records",
	record_fields, LENGTHOF(record_fields),
	record_relations, LENGTHOF(record_relations),
	NULL, NULL, NULL, NULL, NULL, NULL, true
};

static const CqlEntity *const entities[] = {
	&entity_contact, &entity_company, &entity_deal, &entity_order, &entity_conversation,
	&entity_stage, &entity_pipeline, &entity_record, &entity_contact_stage, &entity_checklist_item
};

const CqlEntity *
CqlRecordEntity(void)
{
	return &entity_record;
}

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

const CqlAggregate *
CqlFindAggregate(const CqlRelation *r, const char *name)
{
	for (int i = 0; i < r->naggregates; i++)
		if (strcasecmp(r->aggregates[i].name, name) == 0 || strcasecmp(r->aggregates[i].alt, name) == 0)
			return &r->aggregates[i];
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
