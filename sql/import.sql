--
-- Bulk import of contacts (SPEC §6): rows of standard fields and property
-- keys, as an app sends them or as psql loads a CSV file (docs/identity.md).
--
-- Clean batches go through a few set-based statements; rows that need
-- sequential treatment (keys shared with another row of the batch, or
-- matching several contacts) and every row of a batch whose bulk attempt
-- failed (a malformed value somewhere) go through crm_hidden.import_contact_row one
-- by one, each in its own subtransaction unless the import is atomic.
--

-- Standard fields an import row may carry; any other key must be a declared
-- contact property, or be written "properties.<key>" for free-form metadata.
CREATE FUNCTION crm.contact_import_keys() RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	keys text[] := ARRAY['name', 'email', 'phone', 'identifier', 'verified_id', 'avatar_url', 'city',
						 'country', 'lifecycle_stage', 'owner', 'tags', 'properties']
		-- the primary company (domain or name) and the blocked flag
		|| ARRAY['company', 'blocked']
		-- profiles: the postal address and social profiles
		|| ARRAY['street', 'address_line2', 'region', 'postal_code',
				 'linkedin', 'x', 'instagram', 'facebook', 'github', 'website'];
	declared text[];
BEGIN
	-- custom property definitions live in another domain's table, when installed
	IF to_regclass('crm.property_definitions') IS NOT NULL THEN
		EXECUTE 'SELECT array_agg(d.key ORDER BY d.key) FROM crm.property_definitions d
				  WHERE d.workspace_id = $1 AND d.object_type = ''contact'''
			INTO declared USING crm.current_workspace();
	END IF;
	RETURN keys || coalesce(declared, '{}');
END;
$$;
COMMENT ON FUNCTION crm.contact_import_keys() IS
	'the keys an import row may use: standard contact fields and declared contact property keys ("properties.<key>" is always accepted)';

-- Per-row helpers, in C (src/import.c): the bulk path calls each once per row.

-- The custom properties of an import row: keys that are not standard fields
-- ("properties.<key>" read as <key>), empty cells (null, "") carrying no
-- value, then the non-null entries of a "properties" object on top.
CREATE FUNCTION crm_hidden.import_row_properties(r jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'crm_import_row_properties'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.import_row_properties(jsonb) IS
	'the custom properties of an import row; empty cells carry no value';

-- Tags as a JSON array, or as a string "a, b" (commas or semicolons).
CREATE FUNCTION crm_hidden.import_row_tags(v jsonb) RETURNS text[]
	AS 'MODULE_PATHNAME', 'crm_import_row_tags'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.import_row_tags(jsonb) IS
	'the tags of an import row: a JSON array, or a string split on commas and semicolons';

-- The reason a row cannot be imported before looking at the database, or NULL.
CREATE FUNCTION crm_hidden.import_row_problem(r jsonb, valid text[]) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_import_row_problem'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.import_row_problem(jsonb, text[]) IS
	'why an import row cannot be imported (not an object, or the first unknown key with the valid ones), or NULL';

-- The company an import row names in "company": a value that reads as a
-- domain (acme.com, https://www.acme.com/about) is found by its normalised
-- domain, anything else by its exact name; created when missing.
CREATE FUNCTION crm_hidden.import_company(company text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	v text := nullif(btrim(import_company.company), '');
	d text;
	found_id bigint;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF v ~* '^(https?://)?[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(:[0-9]+)?(/\S*)?$' THEN
		d := crm.normalize_domain(v);
		SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.domain = d;
		IF found_id IS NULL THEN
			-- a company written meanwhile by another transaction is taken, not duplicated
			INSERT INTO crm.companies AS c (workspace_id, name, domain) VALUES (ws, d, d)
			ON CONFLICT (workspace_id, domain) DO NOTHING
			RETURNING c.id INTO found_id;
			IF found_id IS NULL THEN
				SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.domain = d;
			END IF;
		END IF;
		RETURN found_id;
	END IF;
	SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.name = v ORDER BY c.id LIMIT 1;
	IF found_id IS NULL THEN
		INSERT INTO crm.companies AS c (workspace_id, name) VALUES (ws, v) RETURNING c.id INTO found_id;
	END IF;
	RETURN found_id;
END;
$$;
COMMENT ON FUNCTION crm_hidden.import_company(text) IS
	'the company an import row names: by normalised domain when the value reads as one, else by exact name; created when missing';

-- Links a contact to the company an import row names, as its primary company.
CREATE FUNCTION crm_hidden.import_link_company(contact_id bigint, company text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	found_id bigint;
BEGIN
	IF nullif(btrim(import_link_company.company), '') IS NULL THEN
		RETURN;
	END IF;
	PERFORM crm_hidden.require_contact(import_link_company.contact_id);
	found_id := crm_hidden.import_company(import_link_company.company);
	INSERT INTO crm.contact_companies AS cc (contact_id, company_id, is_primary)
		VALUES (import_link_company.contact_id, found_id, true)
	ON CONFLICT (workspace_id, contact_id, company_id) DO UPDATE SET is_primary = true;
END;
$$;
COMMENT ON FUNCTION crm_hidden.import_link_company(bigint, text) IS
	'links the contact to the company an import row names (crm_hidden.import_company) as its primary company';

-- The identity lock of an import: pg_advisory_xact_lock on
-- hashtextextended('crm.identity', workspace_id), which crm.identify takes
-- shared.  In an import job's worker it first waits for the batch before
-- (src/jobs.c), so that the job's batches write in input order.
CREATE FUNCTION crm_hidden.import_take_identity(workspace_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'crm_import_take_identity'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION crm_hidden.import_take_identity(bigint) IS
	'takes the workspace''s identity lock for an import (in a job''s worker, after the batch before has written)';

-- One row, in order: the path for rows the bulk statements do not take.
CREATE FUNCTION crm_hidden.import_contact_row(r jsonb, mode text, OUT action text, OUT contact_id bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	nm text := nullif(btrim(r ->> 'name'), '');
	e text := nullif(btrim(r ->> 'email'), '');
	p text := nullif(btrim(r ->> 'phone'), '');
	ident text := nullif(btrim(r ->> 'identifier'), '');
	vid text := nullif(btrim(r ->> 'verified_id'), '');
	lc crm.lifecycle_stage := nullif(btrim(r ->> 'lifecycle_stage'), '')::crm.lifecycle_stage;
	tg text[] := crm_hidden.import_row_tags(r -> 'tags');
	props jsonb := crm_hidden.import_row_properties(r);
	blk boolean := nullif(btrim(r ->> 'blocked'), '')::boolean;
	ids bigint[];
	i integer;
BEGIN
	IF e IS NOT NULL THEN e := crm.normalize_email(e); END IF;
	IF p IS NOT NULL THEN p := crm.normalize_phone(p); END IF;
	IF vid IS NOT NULL OR ident IS NOT NULL OR e IS NOT NULL OR p IS NOT NULL THEN
		SELECT array_agg(c.id ORDER BY c.identity_source = 'verified' DESC, c.created_at, c.id) INTO ids
		  FROM crm.contacts c
		 WHERE c.workspace_id = ws AND c.status < 'merged'
		   AND (c.verified_id = vid OR c.identifier = ident OR c.email = e OR c.phone = p);
	END IF;
	IF ids IS NULL THEN
		IF mode = 'update' THEN
			RAISE EXCEPTION 'no contact matches this row'
				USING ERRCODE = 'no_data_found',
					  HINT = 'In update mode a row must share an identifier, email or phone with an existing contact.';
		END IF;
		INSERT INTO crm.contacts AS c (workspace_id, name, email, phone, identifier, verified_id, identity_source,
									   avatar_url, city, country, lifecycle_stage, owner, tags, properties, blocked,
									   street, address_line2, region, postal_code,
									   linkedin, x, instagram, facebook, github, website)
			VALUES (ws, nm, e, p, ident, vid,
					CASE WHEN vid IS NOT NULL THEN 'verified' ELSE 'self_reported' END::crm.identity_source,
					nullif(btrim(r ->> 'avatar_url'), ''), nullif(btrim(r ->> 'city'), ''),
					nullif(btrim(r ->> 'country'), ''), lc, nullif(btrim(r ->> 'owner'), ''),
					coalesce(tg, '{}'), props, coalesce(blk, false),
					r ->> 'street', r ->> 'address_line2', r ->> 'region', r ->> 'postal_code',
					r ->> 'linkedin', r ->> 'x', r ->> 'instagram', r ->> 'facebook', r ->> 'github', r ->> 'website')
			RETURNING c.id INTO contact_id;
		action := 'inserted';
		PERFORM crm_hidden.import_link_company(contact_id, r ->> 'company');
		RETURN;
	END IF;
	IF mode = 'insert' THEN
		RAISE EXCEPTION 'contact % already has this identifier, email or phone', ids[1]
			USING ERRCODE = 'unique_violation',
				  HINT = 'Import with mode ''upsert'' to update existing contacts.';
	END IF;
	contact_id := ids[1];
	action := CASE WHEN cardinality(ids) > 1 THEN 'merged' ELSE 'updated' END;
	FOR i IN 2 .. cardinality(ids) LOOP
		contact_id := crm.merge_contacts(contact_id, ids[i]);
	END LOOP;
	UPDATE crm.contacts c
	   SET name = coalesce(nm, c.name), email = coalesce(e, c.email), phone = coalesce(p, c.phone),
		   identifier = coalesce(ident, c.identifier), verified_id = coalesce(c.verified_id, vid),
		   identity_source = CASE WHEN vid IS NOT NULL THEN 'verified' ELSE c.identity_source END,
		   avatar_url = coalesce(nullif(btrim(r ->> 'avatar_url'), ''), c.avatar_url),
		   city = coalesce(nullif(btrim(r ->> 'city'), ''), c.city),
		   country = coalesce(nullif(btrim(r ->> 'country'), ''), c.country),
		   lifecycle_stage = coalesce(lc, c.lifecycle_stage),
		   owner = coalesce(nullif(btrim(r ->> 'owner'), ''), c.owner),
		   tags = c.tags || coalesce(tg, '{}'),
		   properties = c.properties || props,
		   blocked = coalesce(blk, c.blocked),
		   street = coalesce(nullif(btrim(r ->> 'street'), ''), c.street),
		   address_line2 = coalesce(nullif(btrim(r ->> 'address_line2'), ''), c.address_line2),
		   region = coalesce(nullif(btrim(r ->> 'region'), ''), c.region),
		   postal_code = coalesce(nullif(btrim(r ->> 'postal_code'), ''), c.postal_code),
		   linkedin = coalesce(nullif(btrim(r ->> 'linkedin'), ''), c.linkedin),
		   x = coalesce(nullif(btrim(r ->> 'x'), ''), c.x),
		   instagram = coalesce(nullif(btrim(r ->> 'instagram'), ''), c.instagram),
		   facebook = coalesce(nullif(btrim(r ->> 'facebook'), ''), c.facebook),
		   github = coalesce(nullif(btrim(r ->> 'github'), ''), c.github),
		   website = coalesce(nullif(btrim(r ->> 'website'), ''), c.website)
	 WHERE c.workspace_id = ws AND c.id = contact_id;
	PERFORM crm_hidden.import_link_company(contact_id, r ->> 'company');
END;
$$;
COMMENT ON FUNCTION crm_hidden.import_contact_row(jsonb, text) IS
	'imports one row (insert, update or merge by identifier, email, phone); used by crm.import_contacts';

CREATE FUNCTION crm.import_contacts(rows jsonb, mode text DEFAULT 'upsert', atomic boolean DEFAULT false)
RETURNS TABLE (row_number integer, action text, contact_id bigint, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	valid text[] := crm.contact_import_keys();
	-- looked up once: per row, the catalog lookup cost more than nextval
	seq regclass := pg_get_serial_sequence('crm.contacts', 'id')::regclass;
	bulk_ok boolean := true;
	updates bigint;
	hits bigint;
	emails text[];
	phones text[];
	identifiers text[];
	verified_ids text[];
	st record;
	res record;
	msg text;
	hint text;
	code text;
BEGIN
	PERFORM crm_hidden.require_switch('import');
	IF rows IS NULL OR jsonb_typeof(rows) <> 'array' THEN
		RAISE EXCEPTION 'rows must be a JSON array, not %', coalesce(jsonb_typeof(rows), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass an array of objects, e.g. ''[{"email": "ada@example.com", "name": "Ada"}]''.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('upsert', 'insert', 'update') THEN
		RAISE EXCEPTION 'invalid import mode: "%"', mode
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''upsert'' (insert or update), ''insert'' (new contacts only) or ''update'' (existing only).';
	END IF;
	CREATE TEMPORARY TABLE crm_import_stage (
		n integer PRIMARY KEY, r jsonb, problem text, name text, email text, phone text, identifier text,
		verified_id text, lifecycle_stage crm.lifecycle_stage, tags text[], props jsonb,
		matched bigint[], sequential boolean NOT NULL DEFAULT false, action text, contact_id bigint, error text,
		company text, company_id bigint, blocked boolean
	) ON COMMIT DROP;
	-- the rows staged, read and normalised in one pass (the phones, a fifth
	-- of an import) before the identity lock: they read no contact, so an
	-- import job's next batch does this while the batch before it writes
	-- (src/jobs.c).  A row with a problem is staged as it came.
	BEGIN
		INSERT INTO crm_import_stage (n, r, problem, action, error, name, email, phone, identifier, verified_id,
									  lifecycle_stage, tags, props, company, blocked)
		SELECT t.n, t.r, t.problem, CASE WHEN t.problem IS NOT NULL THEN 'rejected' END, t.problem,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'name'), '') END,
			   CASE WHEN t.problem IS NULL THEN crm.normalize_email(nullif(btrim(t.r ->> 'email'), '')) END,
			   CASE WHEN t.problem IS NULL THEN crm.normalize_phone(nullif(btrim(t.r ->> 'phone'), '')) END,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'identifier'), '') END,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'verified_id'), '') END,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'lifecycle_stage'), '')::crm.lifecycle_stage END,
			   CASE WHEN t.problem IS NULL THEN coalesce(crm_hidden.import_row_tags(t.r -> 'tags'), '{}') END,
			   CASE WHEN t.problem IS NULL THEN crm_hidden.import_row_properties(t.r) END,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'company'), '') END,
			   CASE WHEN t.problem IS NULL THEN nullif(btrim(t.r ->> 'blocked'), '')::boolean END
		  FROM (SELECT e.n, e.r, crm_hidden.import_row_problem(e.r, valid) AS problem
				  FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, n) OFFSET 0) t;
	EXCEPTION WHEN OTHERS THEN
		-- a malformed value somewhere: staged as they came, found row by row
		bulk_ok := false;
		INSERT INTO crm_import_stage (n, r, problem, action, error)
		SELECT t.n, t.r, t.problem, CASE WHEN t.problem IS NOT NULL THEN 'rejected' END, t.problem
		  FROM (SELECT e.n, e.r, crm_hidden.import_row_problem(e.r, valid) AS problem
				  FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, n) OFFSET 0) t;
	END;
	IF atomic THEN
		SELECT s.n, s.problem INTO st FROM crm_import_stage s WHERE s.problem IS NOT NULL ORDER BY s.n LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'row %: %', st.n, st.problem
				USING ERRCODE = CASE WHEN st.problem LIKE 'unknown key%' THEN 'undefined_column' ELSE 'invalid_parameter_value' END,
					  HINT = 'Fix the row and import again; with atomic => false good rows are imported and bad ones reported.';
		END IF;
	END IF;
	-- a batch of keys is too many advisory locks: keep crm.identify out meanwhile
	PERFORM crm_hidden.import_take_identity(ws);

	BEGIN
		IF NOT bulk_ok THEN
			RAISE EXCEPTION 'bulk import needs the row-by-row path';
		END IF;
		-- rows sharing a key with another row of the batch go one by one, in order
		UPDATE crm_import_stage s SET sequential = true
		  FROM (SELECT x.n FROM (
					SELECT t.n,
						   count(t.email) OVER (PARTITION BY t.email) AS ce,
						   count(t.phone) OVER (PARTITION BY t.phone) AS cp,
						   count(t.identifier) OVER (PARTITION BY t.identifier) AS ci,
						   count(t.verified_id) OVER (PARTITION BY t.verified_id) AS cv
					  FROM crm_import_stage t WHERE t.problem IS NULL) x
				 WHERE x.ce > 1 OR x.cp > 1 OR x.ci > 1 OR x.cv > 1) d
		 WHERE s.n = d.n;
		-- the contacts that share a key with a row, in one statement whose
		-- cost is one pass over the workspace's contacts at most, whatever
		-- plan crm.contacts' statistics lead to: they lag behind committed
		-- batches and rolled-back imports (a table vacuumed empty reads as
		-- holding no row), and a probe per row and key planned on them read
		-- a whole index per probe (60 million buffers for 100,000 rows).
		-- The keys go in as values: the planner hashes a constant array,
		-- not one a subquery computes.
		SELECT array_agg(t.email) FILTER (WHERE t.email IS NOT NULL),
			   array_agg(t.phone) FILTER (WHERE t.phone IS NOT NULL),
			   array_agg(t.identifier) FILTER (WHERE t.identifier IS NOT NULL),
			   array_agg(t.verified_id) FILTER (WHERE t.verified_id IS NOT NULL)
		  INTO emails, phones, identifiers, verified_ids
		  FROM crm_import_stage t WHERE t.problem IS NULL;
		CREATE TEMPORARY TABLE crm_import_hits ON COMMIT DROP AS
		SELECT c.id, c.email, c.phone, c.identifier, c.verified_id
		  FROM crm.contacts c
		 WHERE c.workspace_id = ws AND c.status < 'merged'
		   AND (c.email = ANY (emails) OR c.phone = ANY (phones)
				OR c.identifier = ANY (identifiers) OR c.verified_id = ANY (verified_ids));
		GET DIAGNOSTICS hits = ROW_COUNT;
		IF hits > 0 THEN
			-- counted, so that the planner hashes a large set of hits
			ANALYZE crm_import_hits;
			UPDATE crm_import_stage s SET matched = m.ids, sequential = s.sequential OR cardinality(m.ids) > 1
			  FROM (SELECT k.n, array_agg(DISTINCT k.id) AS ids
					  FROM (SELECT t.n, h.id FROM crm_import_stage t JOIN crm_import_hits h ON h.email = t.email
							UNION ALL
							SELECT t.n, h.id FROM crm_import_stage t JOIN crm_import_hits h ON h.phone = t.phone
							UNION ALL
							SELECT t.n, h.id FROM crm_import_stage t JOIN crm_import_hits h ON h.identifier = t.identifier
							UNION ALL
							SELECT t.n, h.id FROM crm_import_stage t JOIN crm_import_hits h ON h.verified_id = t.verified_id) k
					 GROUP BY k.n) m
			 WHERE s.n = m.n AND s.problem IS NULL;
		END IF;
		DROP TABLE crm_import_hits;
		-- mode violations are reported, not raised
		UPDATE crm_import_stage s
		   SET action = 'rejected',
			   error = CASE WHEN s.matched IS NULL THEN 'no contact matches this row'
							ELSE format('contact %s already has this identifier, email or phone', s.matched[1]) END
		 WHERE s.problem IS NULL AND NOT s.sequential
		   AND ((mode = 'update' AND s.matched IS NULL) OR (mode = 'insert' AND s.matched IS NOT NULL));
		IF atomic AND EXISTS (SELECT 1 FROM crm_import_stage s WHERE s.action = 'rejected') THEN
			RAISE EXCEPTION 'bulk import needs the row-by-row path';
		END IF;

		UPDATE crm_import_stage s
		   SET contact_id = nextval(seq), action = 'inserted'
		 WHERE s.problem IS NULL AND NOT s.sequential AND s.action IS NULL AND s.matched IS NULL;
		INSERT INTO crm.contacts (workspace_id, id, name, email, phone, identifier, verified_id, identity_source,
								  avatar_url, city, country, lifecycle_stage, owner, tags, properties, blocked,
								  street, address_line2, region, postal_code,
								  linkedin, x, instagram, facebook, github, website)
		SELECT ws, s.contact_id, s.name, s.email, s.phone, s.identifier, s.verified_id,
			   CASE WHEN s.verified_id IS NOT NULL THEN 'verified' ELSE 'self_reported' END::crm.identity_source,
			   nullif(btrim(s.r ->> 'avatar_url'), ''), nullif(btrim(s.r ->> 'city'), ''),
			   nullif(btrim(s.r ->> 'country'), ''), s.lifecycle_stage, nullif(btrim(s.r ->> 'owner'), ''),
			   s.tags, s.props, coalesce(s.blocked, false),
			   s.r ->> 'street', s.r ->> 'address_line2', s.r ->> 'region', s.r ->> 'postal_code',
			   s.r ->> 'linkedin', s.r ->> 'x', s.r ->> 'instagram', s.r ->> 'facebook', s.r ->> 'github',
			   s.r ->> 'website'
		  FROM crm_import_stage s
		 WHERE s.action = 'inserted'
		 ORDER BY s.n;
		UPDATE crm_import_stage s SET contact_id = s.matched[1], action = 'updated'
		 WHERE s.problem IS NULL AND NOT s.sequential AND s.action IS NULL;
		GET DIAGNOSTICS updates = ROW_COUNT;
		IF updates > 0 THEN
			-- crm.contacts' statistics may be stale (rows inserted in this
			-- transaction, or since an ANALYZE that found it empty): a plan
			-- that believes it holds one row scans the stage once per contact,
			-- which is quadratic once the stage outgrows temp_buffers.  With
			-- an index on the stage's contact_id every join order is linear.
			CREATE INDEX ON crm_import_stage (contact_id);
			ANALYZE crm_import_stage;
			UPDATE crm.contacts c
			   SET name = coalesce(s.name, c.name), email = coalesce(s.email, c.email), phone = coalesce(s.phone, c.phone),
				   identifier = coalesce(s.identifier, c.identifier), verified_id = coalesce(c.verified_id, s.verified_id),
				   identity_source = CASE WHEN s.verified_id IS NOT NULL THEN 'verified' ELSE c.identity_source END,
				   avatar_url = coalesce(nullif(btrim(s.r ->> 'avatar_url'), ''), c.avatar_url),
				   city = coalesce(nullif(btrim(s.r ->> 'city'), ''), c.city),
				   country = coalesce(nullif(btrim(s.r ->> 'country'), ''), c.country),
				   lifecycle_stage = coalesce(s.lifecycle_stage, c.lifecycle_stage),
				   owner = coalesce(nullif(btrim(s.r ->> 'owner'), ''), c.owner),
				   tags = c.tags || s.tags, properties = c.properties || s.props,
				   blocked = coalesce(s.blocked, c.blocked),
				   street = coalesce(nullif(btrim(s.r ->> 'street'), ''), c.street),
				   address_line2 = coalesce(nullif(btrim(s.r ->> 'address_line2'), ''), c.address_line2),
				   region = coalesce(nullif(btrim(s.r ->> 'region'), ''), c.region),
				   postal_code = coalesce(nullif(btrim(s.r ->> 'postal_code'), ''), c.postal_code),
				   linkedin = coalesce(nullif(btrim(s.r ->> 'linkedin'), ''), c.linkedin),
				   x = coalesce(nullif(btrim(s.r ->> 'x'), ''), c.x),
				   instagram = coalesce(nullif(btrim(s.r ->> 'instagram'), ''), c.instagram),
				   facebook = coalesce(nullif(btrim(s.r ->> 'facebook'), ''), c.facebook),
				   github = coalesce(nullif(btrim(s.r ->> 'github'), ''), c.github),
				   website = coalesce(nullif(btrim(s.r ->> 'website'), ''), c.website)
			  FROM crm_import_stage s
			 WHERE s.action = 'updated' AND c.workspace_id = ws AND c.id = s.contact_id;
		END IF;
		-- the companies the rows name, found or created, linked as primary
		UPDATE crm_import_stage s SET company_id = crm_hidden.import_company(s.company)
		 WHERE s.company IS NOT NULL AND s.action IN ('inserted', 'updated');
		INSERT INTO crm.contact_companies AS cc (contact_id, company_id, is_primary)
		SELECT DISTINCT ON (s.contact_id) s.contact_id, s.company_id, true
		  FROM crm_import_stage s WHERE s.company_id IS NOT NULL
		 ORDER BY s.contact_id, s.n DESC
		ON CONFLICT (workspace_id, contact_id, company_id) DO UPDATE SET is_primary = true;
	EXCEPTION WHEN OTHERS THEN
		-- a malformed value somewhere: find it row by row
		bulk_ok := false;
	END;
	IF NOT bulk_ok THEN
		UPDATE crm_import_stage s SET sequential = true, action = NULL, contact_id = NULL, error = NULL
		 WHERE s.problem IS NULL;
	END IF;

	FOR st IN SELECT s.n, s.r FROM crm_import_stage s WHERE s.problem IS NULL AND s.sequential ORDER BY s.n LOOP
		BEGIN
			res := crm_hidden.import_contact_row(st.r, mode);
			UPDATE crm_import_stage s SET action = res.action, contact_id = res.contact_id WHERE s.n = st.n;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, code = RETURNED_SQLSTATE;
			IF atomic THEN
				RAISE EXCEPTION 'row %: %', st.n, msg
					USING ERRCODE = code, HINT = coalesce(nullif(hint, ''), 'Fix the row and import again.');
			END IF;
			UPDATE crm_import_stage s SET action = 'rejected', error = msg WHERE s.n = st.n;
		END;
	END LOOP;

	RETURN QUERY SELECT s.n, s.action, s.contact_id, s.error FROM crm_import_stage s ORDER BY s.n;
	DROP TABLE crm_import_stage;
END;
$$;
COMMENT ON FUNCTION crm.import_contacts(jsonb, text, boolean) IS
	'imports contacts (mode upsert, insert or update), de-duplicating by identifier, email and phone against the database and within the batch; one report row per input row';

--
-- Companies as an import object: the same report and modes as contacts, a
-- row matched by its normalised domain, or by its exact name when it has
-- no domain.  Company imports are small next to contact imports and each
-- row may need the previous one (two rows of one domain), so the rows go
-- one by one through the table, each in a subtransaction of its own.
--

-- Standard company fields an import row may carry; any other key must be a
-- declared company property, or be written "properties.<key>".
CREATE FUNCTION crm.company_import_keys() RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keys text[] := ARRAY['name', 'domain', 'industry', 'employees', 'plan', 'spend', 'description',
						 'owner', 'tags', 'properties'];
	declared text[];
BEGIN
	IF to_regclass('crm.property_definitions') IS NOT NULL THEN
		EXECUTE 'SELECT array_agg(d.key ORDER BY d.key) FROM crm.property_definitions d
				  WHERE d.workspace_id = $1 AND d.object_type = ''company'''
			INTO declared USING crm.current_workspace();
	END IF;
	RETURN keys || coalesce(declared, '{}');
END;
$$;
COMMENT ON FUNCTION crm.company_import_keys() IS
	'the keys a company import row may use: standard company fields and declared company property keys ("properties.<key>" is always accepted)';

CREATE FUNCTION crm.import_companies(rows jsonb, mode text DEFAULT 'upsert', atomic boolean DEFAULT false)
RETURNS TABLE (row_number integer, action text, company_id bigint, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	valid text[] := crm.company_import_keys();
	standard text[] := ARRAY['name', 'domain', 'industry', 'employees', 'plan', 'spend', 'description',
							 'owner', 'tags', 'properties'];
	st record;
	r jsonb;
	nm text;
	dm text;
	emp integer;
	sp numeric;
	tg text[];
	props jsonb;
	found_id bigint;
	msg text;
	hint text;
	code text;
BEGIN
	PERFORM crm_hidden.require_switch('import');
	-- as the policies of the companies module's tables refuse it (crm_internal.module_workspace)
	IF NOT (SELECT m.enabled FROM crm.modules() m WHERE m.module = 'companies') THEN
		RAISE EXCEPTION 'module "companies" is switched off in this workspace'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'An admin switches it on with crm.set_module(''companies'', true); its data is kept.';
	END IF;
	-- companies are written with the permission "contacts" (sql/tenancy.sql)
	IF NOT 'contacts' = ANY (crm.current_permissions()) THEN
		RAISE EXCEPTION 'user "%" lacks the permission "contacts" to import companies', crm.current_user_id()
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'An admin grants it: crm.update_member(user_id, ''{"permissions": [...]}'') or a role that has it.';
	END IF;
	IF rows IS NULL OR jsonb_typeof(rows) <> 'array' THEN
		RAISE EXCEPTION 'rows must be a JSON array, not %', coalesce(jsonb_typeof(rows), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass an array of objects, e.g. ''[{"domain": "acme.com", "name": "Acme"}]''.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('upsert', 'insert', 'update') THEN
		RAISE EXCEPTION 'invalid import mode: "%"', mode
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''upsert'' (insert or update), ''insert'' (new companies only) or ''update'' (existing only).';
	END IF;

	FOR st IN SELECT t.n::integer AS n, t.r FROM jsonb_array_elements(rows) WITH ORDINALITY AS t(r, n) ORDER BY t.n LOOP
		row_number := st.n;
		action := NULL;
		company_id := NULL;
		error := crm_hidden.import_row_problem(st.r, valid);
		IF error IS NOT NULL THEN
			IF atomic THEN
				RAISE EXCEPTION 'row %: %', st.n, error
					USING ERRCODE = CASE WHEN error LIKE 'unknown key%' THEN 'undefined_column' ELSE 'invalid_parameter_value' END,
						  HINT = 'Fix the row and import again; with atomic => false good rows are imported and bad ones reported.';
			END IF;
			action := 'rejected';
			RETURN NEXT;
			CONTINUE;
		END IF;
		r := st.r;
		BEGIN
			nm := nullif(btrim(r ->> 'name'), '');
			-- 22023 naming the value when it is not a domain
			dm := crm.normalize_domain(nullif(btrim(r ->> 'domain'), ''));
			IF nm IS NULL AND dm IS NULL THEN
				RAISE EXCEPTION 'a company row needs a name or a domain'
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Give the row "domain" (matched by its normalised domain) or "name" (matched exactly).';
			END IF;
			IF btrim(r ->> 'employees') !~ '^([+-]?\d+)?$' THEN
				RAISE EXCEPTION 'employees must be a whole number, not "%"', r ->> 'employees'
					USING ERRCODE = 'invalid_text_representation', HINT = 'Write the headcount in digits, e.g. 250.';
			END IF;
			IF btrim(r ->> 'spend') !~ '^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)?$' THEN
				RAISE EXCEPTION 'spend must be a number, not "%"', r ->> 'spend'
					USING ERRCODE = 'invalid_text_representation', HINT = 'Write the amount in digits with a decimal point, e.g. 1200.50.';
			END IF;
			emp := nullif(btrim(r ->> 'employees'), '')::integer;
			sp := nullif(btrim(r ->> 'spend'), '')::numeric;
			IF emp < 0 OR sp < 0 THEN
				RAISE EXCEPTION '% must be 0 or more, not %',
					CASE WHEN emp < 0 THEN 'employees' ELSE 'spend' END, CASE WHEN emp < 0 THEN emp::text ELSE sp::text END
					USING ERRCODE = 'check_violation', HINT = 'Leave the cell empty when it is not known.';
			END IF;
			tg := crm_hidden.import_row_tags(r -> 'tags');
			-- properties: the keys that are not standard fields ("properties.<key>"
			-- read as <key>), empty cells left out, then a "properties" object on top
			SELECT coalesce(jsonb_object_agg(CASE WHEN e.k LIKE 'properties.%' THEN substr(e.k, 12) ELSE e.k END, e.v), '{}')
				   || CASE WHEN jsonb_typeof(r -> 'properties') = 'object' THEN jsonb_strip_nulls(r -> 'properties') ELSE '{}' END
			  INTO props
			  FROM jsonb_each(r) AS e(k, v)
			 WHERE e.k <> ALL (standard) AND e.v NOT IN ('null', '""');

			IF dm IS NOT NULL THEN
				SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.domain = dm;
			ELSE
				SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.name = nm ORDER BY c.id LIMIT 1;
			END IF;
			IF found_id IS NULL AND mode = 'update' THEN
				RAISE EXCEPTION 'no company matches this row'
					USING ERRCODE = 'no_data_found',
						  HINT = 'In update mode a row must share a domain (or, without one, the name) with an existing company.';
			END IF;
			IF found_id IS NULL THEN
				INSERT INTO crm.companies AS c (workspace_id, name, domain, industry, employees, plan, spend,
												description, owner, tags, properties)
					VALUES (ws, coalesce(nm, dm), dm, nullif(btrim(r ->> 'industry'), ''), emp,
							nullif(btrim(r ->> 'plan'), ''), sp, nullif(btrim(r ->> 'description'), ''),
							nullif(btrim(r ->> 'owner'), ''), coalesce(tg, '{}'), props)
				-- a domain another transaction wrote meanwhile is that company's
				ON CONFLICT (workspace_id, domain) DO NOTHING
				RETURNING c.id INTO company_id;
				IF company_id IS NULL THEN
					SELECT c.id INTO found_id FROM crm.companies c WHERE c.workspace_id = ws AND c.domain = dm;
				END IF;
			END IF;
			IF company_id IS NOT NULL THEN
				action := 'inserted';
			ELSIF mode = 'insert' THEN
				RAISE EXCEPTION 'company % already has this %', found_id, CASE WHEN dm IS NULL THEN 'name' ELSE 'domain' END
					USING ERRCODE = 'unique_violation',
						  HINT = 'Import with mode ''upsert'' to update existing companies.';
			ELSIF found_id IS NULL THEN
				-- the conflicting company is one the caller's policies hide
				RAISE EXCEPTION 'a company with the domain "%" exists that this import cannot see', dm
					USING ERRCODE = 'unique_violation',
						  HINT = 'Ask an admin to import this row, or to make the company visible to you.';
			ELSE
				UPDATE crm.companies c
				   SET name = coalesce(nm, c.name),
					   industry = coalesce(nullif(btrim(r ->> 'industry'), ''), c.industry),
					   employees = coalesce(emp, c.employees),
					   plan = coalesce(nullif(btrim(r ->> 'plan'), ''), c.plan),
					   spend = coalesce(sp, c.spend),
					   description = coalesce(nullif(btrim(r ->> 'description'), ''), c.description),
					   owner = coalesce(nullif(btrim(r ->> 'owner'), ''), c.owner),
					   tags = c.tags || coalesce(tg, '{}'),
					   properties = c.properties || props
				 WHERE c.workspace_id = ws AND c.id = found_id;
				company_id := found_id;
				action := 'updated';
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, code = RETURNED_SQLSTATE;
			IF atomic THEN
				RAISE EXCEPTION 'row %: %', st.n, msg
					USING ERRCODE = code, HINT = coalesce(nullif(hint, ''), 'Fix the row and import again.');
			END IF;
			action := 'rejected';
			company_id := NULL;
			error := msg;
		END;
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.import_companies(jsonb, text, boolean) IS
	'imports companies (mode upsert, insert or update), matched by normalised domain, or by exact name when a row has no domain; one report row per input row';
