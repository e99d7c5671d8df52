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
-- through a cursor a batch at a time (src/export.c).  Every function reads
-- as the caller (SECURITY INVOKER): RLS, modules and owner privacy apply.
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

-- The row builders: the export row of a table row of the current workspace
-- (a row of another one handed in directly gives none), inlined into the
-- cursor's statement of crm_hidden.export_*_rows.  properties holds the
-- declared keys, metadata the others; the list of declared keys is an
-- uncorrelated subquery, read once per statement.  No set-returning
-- function in FROM per row (jsonb_each): a rescanned Function Scan keeps a
-- tuple descriptor per call in the query's memory, 100 MB over 200k rows.
CREATE FUNCTION crm_hidden.contact_export_row(c crm.contacts) RETURNS SETOF crm.contact_export
LANGUAGE sql STABLE ROWS 1
AS $$
	SELECT c.id, c.name, c.email, c.phone, c.identifier, c.verified_id, c.identity_source,
		   c.avatar_url, c.city, c.country, c.lifecycle_stage, c.status, c.merged_into, c.owner,
		   c.blocked, c.tags, c.conversation_count,
		   (SELECT pg_catalog.count(*) FROM crm.activities a
			 WHERE a.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
			   AND a.contact_id OPERATOR(pg_catalog.=) c.id),
		   pc.id, pc.name,
		   c.first_seen_at, c.last_seen_at, c.created_at, c.updated_at, c.deleted_at,
		   c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT pg_catalog.jsonb_object_keys(c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'contact'))),
		   c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'contact'),
		   c.street, c.address_line2, c.region, c.postal_code,
		   c.linkedin, c.x, c.instagram, c.facebook, c.github, c.website
	  FROM (SELECT) one
	  -- the companies module off: no primary company, rather than 0A000
	  LEFT JOIN LATERAL (
		SELECT co.id, co.name
		  FROM crm.contact_companies cc
		  JOIN crm.companies co ON co.workspace_id OPERATOR(pg_catalog.=) cc.workspace_id
							   AND co.id OPERATOR(pg_catalog.=) cc.company_id
		 WHERE (SELECT m.enabled FROM crm.modules() m WHERE m.module OPERATOR(pg_catalog.=) 'companies')
		   AND cc.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
		   AND cc.contact_id OPERATOR(pg_catalog.=) c.id
		   AND cc.is_primary) pc ON true
	 WHERE c.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
$$;
COMMENT ON FUNCTION crm_hidden.contact_export_row(crm.contacts) IS 'the crm.export_contacts row of a contact';

CREATE FUNCTION crm_hidden.company_export_row(c crm.companies) RETURNS SETOF crm.company_export
LANGUAGE sql STABLE ROWS 1
AS $$
	SELECT c.id, c.name, c.domain, c.industry, c.employees, c.plan, c.spend, c.description, c.owner, c.tags,
		   (SELECT pg_catalog.count(*) FROM crm.contact_companies cc
			 WHERE cc.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
			   AND cc.company_id OPERATOR(pg_catalog.=) c.id),
		   c.created_at, c.updated_at,
		   c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT pg_catalog.jsonb_object_keys(c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'company'))),
		   c.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'company')
	 WHERE c.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
$$;
COMMENT ON FUNCTION crm_hidden.company_export_row(crm.companies) IS 'the crm.export_companies row of a company';

CREATE FUNCTION crm_hidden.deal_export_row(d crm.deals) RETURNS SETOF crm.deal_export
LANGUAGE sql STABLE ROWS 1
AS $$
	SELECT d.id, d.title, d.pipeline_id, p.name, d.stage_id, s.name, d.contact_id, d.company_id,
		   d.owner, d.team, d.priority, d.value, d.currency, d.value_mode, d.expected_close_date,
		   d.status, d.closed_at, d.lost_reason, d.won_reason, d.stage_entered_at,
		   d.probability_override, d.forecast_category_override,
		   (SELECT pg_catalog.count(*) FROM crm.notes n
			 WHERE n.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND n.deal_id OPERATOR(pg_catalog.=) d.id),
		   (SELECT pg_catalog.count(*) FROM crm.attachments a
			 WHERE a.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND a.deal_id OPERATOR(pg_catalog.=) d.id),
		   d.created_at, d.updated_at,
		   d.properties OPERATOR(pg_catalog.-) ARRAY(SELECT pg_catalog.jsonb_object_keys(d.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'deal'))),
		   d.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'deal')
	  FROM crm.pipelines p, crm.stages s
	 WHERE d.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
	   AND p.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND p.id OPERATOR(pg_catalog.=) d.pipeline_id
	   AND s.workspace_id OPERATOR(pg_catalog.=) d.workspace_id AND s.id OPERATOR(pg_catalog.=) d.stage_id
$$;
COMMENT ON FUNCTION crm_hidden.deal_export_row(crm.deals) IS 'the crm.export_deals row of a deal';

CREATE FUNCTION crm_hidden.order_export_row(o crm.orders) RETURNS SETOF crm.order_export
LANGUAGE sql STABLE ROWS 1
AS $$
	SELECT o.id, o.contact_id, o.deal_id, o.title, o.value, o.currency, o.status, o.source, o.external_id,
		   o.order_date, o.paid_date, o.created_at, o.updated_at,
		   o.properties OPERATOR(pg_catalog.-) ARRAY(SELECT pg_catalog.jsonb_object_keys(o.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'order'))),
		   o.properties OPERATOR(pg_catalog.-) ARRAY(SELECT k.key FROM crm.property_definitions k
						WHERE k.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
						  AND k.object_type OPERATOR(pg_catalog.=) 'order'),
		   o.company_id
	 WHERE o.workspace_id OPERATOR(pg_catalog.=) crm.current_workspace()
$$;
COMMENT ON FUNCTION crm_hidden.order_export_row(crm.orders) IS 'the crm.export_orders row of an order';

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
