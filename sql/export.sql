--
-- Exports (SPEC §6, docs/import-export.md): every contact, company, deal or
-- order a CQL query matches, as flat rows any client can read -- psql's
-- \copy (SELECT * FROM crm.export_contacts(...)) TO ... CSV HEADER,
-- PostgREST's POST /rpc/export_contacts (JSON, or CSV with Accept: text/csv)
-- and PostGraphile's exportContacts.
--
-- A function's columns are fixed, while the declared properties are the
-- workspace's: the standard columns and counters come first, then
-- `properties` (the declared properties, typed JSON) and `metadata` (every
-- other key).  A caller wanting a column per property names it:
-- properties ->> 'plan' AS plan.
--
-- Streaming: each crm.export_* is a SQL function without SET clauses, so
-- the planner inlines it into the caller's statement, and it calls the C
-- function crm_hidden.export_*_rows in its select list, which reads the rows
-- through a cursor a batch at a time, its statement building each row with
-- the workspace named as a constant, which Citus routes (src/export.c).
-- Every function reads as the caller (SECURITY INVOKER): RLS, modules and
-- owner privacy apply.
-- crm_hidden.export_*_rows raises 53400 first when the workspace's export
-- switch is off.  Without SET search_path, every name here is qualified and
-- every operator spelled OPERATOR(pg_catalog.x).
--

CREATE TYPE crm.contact_export AS (
	id bigint,
	name text,
	email text,
	phone text,
	identifier text,
	verified_id text,
	identity_source crm.identity_source,
	avatar_url text,
	city text,
	country text,
	lifecycle_stage crm.lifecycle_stage,
	status crm.contact_status,
	merged_into bigint,
	owner text,
	blocked boolean,
	tags text[],
	conversation_count integer,
	activity_count bigint,
	primary_company_id bigint,
	primary_company_name text,
	first_seen_at timestamptz,
	last_seen_at timestamptz,
	created_at timestamptz,
	updated_at timestamptz,
	deleted_at timestamptz,
	properties jsonb,
	metadata jsonb,
	street text,
	address_line2 text,
	region text,
	postal_code text,
	linkedin text,
	x text,
	instagram text,
	facebook text,
	github text,
	website text
);
COMMENT ON TYPE crm.contact_export IS 'a row of crm.export_contacts: a contact''s fields, counters, primary company, declared properties and other metadata';

CREATE TYPE crm.company_export AS (
	id bigint,
	name text,
	domain text,
	industry text,
	employees integer,
	plan text,
	spend numeric,
	description text,
	owner text,
	tags text[],
	contact_count bigint,
	created_at timestamptz,
	updated_at timestamptz,
	properties jsonb,
	metadata jsonb
);
COMMENT ON TYPE crm.company_export IS 'a row of crm.export_companies: a company''s fields, its number of linked contacts, declared properties and other metadata';

CREATE TYPE crm.deal_export AS (
	id bigint,
	title text,
	pipeline_id bigint,
	pipeline_name text,
	stage_id bigint,
	stage_name text,
	contact_id bigint,
	company_id bigint,
	owner text,
	team text,
	priority crm.deal_priority,
	value numeric,
	currency char(3),
	value_mode crm.value_mode,
	expected_close_date date,
	status crm.deal_status,
	closed_at timestamptz,
	lost_reason text,
	won_reason text,
	stage_entered_at timestamptz,
	probability_override numeric,
	forecast_category_override crm.forecast_category,
	note_count bigint,
	attachment_count bigint,
	created_at timestamptz,
	updated_at timestamptz,
	properties jsonb,
	metadata jsonb
);
COMMENT ON TYPE crm.deal_export IS 'a row of crm.export_deals: a deal''s fields, pipeline and stage names, note and attachment counts, declared properties and other metadata';

CREATE TYPE crm.order_export AS (
	id bigint,
	contact_id bigint,
	deal_id bigint,
	title text,
	value numeric,
	currency char(3),
	status crm.order_status,
	source crm.order_source,
	external_id text,
	order_date timestamptz,
	paid_date timestamptz,
	created_at timestamptz,
	updated_at timestamptz,
	properties jsonb,
	metadata jsonb,
	company_id bigint
);
COMMENT ON TYPE crm.order_export IS 'a row of crm.export_orders: an order''s fields, declared properties and other metadata';

-- The cursor: one C function, declared once per row type.
CREATE FUNCTION crm_hidden.export_contact_rows(entity text, query text) RETURNS SETOF crm.contact_export
	AS 'MODULE_PATHNAME', 'crm_export_rows' LANGUAGE C STABLE ROWS 1000;
CREATE FUNCTION crm_hidden.export_company_rows(entity text, query text) RETURNS SETOF crm.company_export
	AS 'MODULE_PATHNAME', 'crm_export_rows' LANGUAGE C STABLE ROWS 1000;
CREATE FUNCTION crm_hidden.export_deal_rows(entity text, query text) RETURNS SETOF crm.deal_export
	AS 'MODULE_PATHNAME', 'crm_export_rows' LANGUAGE C STABLE ROWS 1000;
CREATE FUNCTION crm_hidden.export_order_rows(entity text, query text) RETURNS SETOF crm.order_export
	AS 'MODULE_PATHNAME', 'crm_export_rows' LANGUAGE C STABLE ROWS 1000;
COMMENT ON FUNCTION crm_hidden.export_contact_rows(text, text) IS 'the rows of crm.export_contacts, read through a cursor (value per call)';
COMMENT ON FUNCTION crm_hidden.export_company_rows(text, text) IS 'the rows of crm.export_companies, read through a cursor (value per call)';
COMMENT ON FUNCTION crm_hidden.export_deal_rows(text, text) IS 'the rows of crm.export_deals, read through a cursor (value per call)';
COMMENT ON FUNCTION crm_hidden.export_order_rows(text, text) IS 'the rows of crm.export_orders, read through a cursor (value per call)';

-- The API: inlined into the caller's statement (no SET clause), the row
-- function in the select list (OFFSET 0 keeps it evaluated once per row).
CREATE FUNCTION crm.export_contacts(query text DEFAULT '') RETURNS SETOF crm.contact_export
LANGUAGE sql STABLE ROWS 1000
AS $$
	SELECT (r).* FROM (SELECT crm_hidden.export_contact_rows('contact', query) AS r OFFSET 0) s
$$;
COMMENT ON FUNCTION crm.export_contacts(text) IS
	'the contacts a CQL query matches (live ones unless it names status), by id: every field, counters, primary company, tags, declared properties (properties) and other metadata (metadata), streamed';

CREATE FUNCTION crm.export_companies(query text DEFAULT '') RETURNS SETOF crm.company_export
LANGUAGE sql STABLE ROWS 1000
AS $$
	SELECT (r).* FROM (SELECT crm_hidden.export_company_rows('company', query) AS r OFFSET 0) s
$$;
COMMENT ON FUNCTION crm.export_companies(text) IS
	'the companies a CQL query matches, by id: every field, linked contacts, tags, declared properties (properties) and other metadata (metadata), streamed';

CREATE FUNCTION crm.export_deals(query text DEFAULT '') RETURNS SETOF crm.deal_export
LANGUAGE sql STABLE ROWS 1000
AS $$
	SELECT (r).* FROM (SELECT crm_hidden.export_deal_rows('deal', query) AS r OFFSET 0) s
$$;
COMMENT ON FUNCTION crm.export_deals(text) IS
	'the deals a CQL query matches, by id: every field, pipeline and stage names, note and attachment counts, declared properties (properties) and other metadata (metadata), streamed';

CREATE FUNCTION crm.export_orders(query text DEFAULT '') RETURNS SETOF crm.order_export
LANGUAGE sql STABLE ROWS 1000
AS $$
	SELECT (r).* FROM (SELECT crm_hidden.export_order_rows('order', query) AS r OFFSET 0) s
$$;
COMMENT ON FUNCTION crm.export_orders(text) IS
	'the orders a CQL query matches, by id: every field, declared properties (properties) and other metadata (metadata), streamed';
