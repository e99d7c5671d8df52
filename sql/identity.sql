--
-- Identity resolution (SPEC §6): one contact per person, whatever channel
-- they came from.  crm.identify finds or creates, crm.update_contact patches
-- (and merges on an email collision), crm.find_duplicates suggests merges.
--

-- Serialises everyone who looks up or assigns the same normalised key, so two
-- sessions identifying Foo@X.com and foo@x.com at once find one contact.
-- Transaction-level advisory locks on hashes of the keys, taken in sorted
-- order so two calls with overlapping key sets cannot deadlock; a hash
-- collision only serialises two unrelated calls.  A shared workspace-wide
-- lock comes first: crm.import_contacts takes it exclusively, since a batch
-- of 100k keys cannot be locked one by one.
CREATE FUNCTION crm_hidden.lock_identity_keys(workspace_id bigint, keys text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	h bigint;
BEGIN
	-- advisory locks are outside row-level security: only the own workspace's
	IF lock_identity_keys.workspace_id IS DISTINCT FROM crm.current_workspace() THEN
		RAISE EXCEPTION 'cannot lock the identity keys of workspace %', coalesce(lock_identity_keys.workspace_id::text, 'NULL')
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Identity keys are locked in the current workspace only (crm.current_workspace()).';
	END IF;
	PERFORM pg_advisory_xact_lock_shared(hashtextextended('crm.identity', lock_identity_keys.workspace_id));
	FOR h IN
		SELECT DISTINCT hashtextextended('crm.identity:' || k, lock_identity_keys.workspace_id)
		  FROM unnest(lock_identity_keys.keys) k WHERE k IS NOT NULL ORDER BY 1
	LOOP
		PERFORM pg_advisory_xact_lock(h);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm_hidden.lock_identity_keys(bigint, text[]) IS
	'takes the transaction advisory locks of identity keys (''e:'' email, ''p:'' phone, ''i:'' identifier, ''v:'' verified id) in a fixed order';

-- Whether crm.identify(source => module) moves the module's time: IMMUTABLE
-- (src/normalize.c reads the stored string the same in every session), for
-- Citus routes no UPDATE that calls a STABLE function on a column.
CREATE FUNCTION crm_hidden.module_used_before(active_modules jsonb, module text, at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crm_module_used_before'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_hidden.module_used_before(jsonb, text, timestamptz) IS
	'whether active_modules has no time for module, or one before at (a string without an offset read as UTC)';

-- src/identify.c: the advisory locks of crm_hidden.lock_identity_keys taken with the
-- lock manager, one index probe per key, statements prepared once per
-- backend, and no write when the call changes nothing.  No SET search_path:
-- its statements are schema-qualified throughout, and it pins the path
-- itself around a merge.
CREATE FUNCTION crm.identify(email text DEFAULT NULL, phone text DEFAULT NULL, name text DEFAULT NULL,
							 identifier text DEFAULT NULL, verified_id text DEFAULT NULL,
							 properties jsonb DEFAULT '{}', seen_at timestamptz DEFAULT now(),
							 country text DEFAULT NULL, source text DEFAULT NULL,
							 street text DEFAULT NULL, address_line2 text DEFAULT NULL, city text DEFAULT NULL,
							 region text DEFAULT NULL, postal_code text DEFAULT NULL, address_country text DEFAULT NULL,
							 linkedin text DEFAULT NULL, x text DEFAULT NULL, instagram text DEFAULT NULL,
							 facebook text DEFAULT NULL, github text DEFAULT NULL, website text DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_identify'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.identify(text, text, text, text, text, jsonb, timestamptz, text, text,
								 text, text, text, text, text, text, text, text, text, text, text, text) IS
	'find-or-create a contact by verified_id, identifier, email, phone (a national phone read in country, else the workspace''s default_country); merges the contacts those keys point at; updates the name, the social profiles and the postal address (address_country its country, the address as one unit) as trust allows; records the calling module (source) in active_modules; returns its id';

-- crm.identify on the workspace's Citus worker (src/citus_calls.c): the
-- coordinator sends the whole call, with the request's settings (name,
-- value pairs), as one routed SELECT of this.  Anyone may call it: it is
-- crm.identify under settings the caller could set itself.
CREATE FUNCTION crm_hidden.identify_in(settings text[], email text, phone text, name text,
									   identifier text, verified_id text, properties jsonb, seen_at timestamptz,
									   country text, source text, street text, address_line2 text, city text,
									   region text, postal_code text, address_country text, linkedin text, x text,
									   instagram text, facebook text, github text, website text)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_identify_in'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm_hidden.identify_in(text[], text, text, text, text, text, jsonb, timestamptz, text, text,
										   text, text, text, text, text, text, text, text, text, text, text, text) IS
	'crm.identify under the request''s settings given as name, value pairs: what a Citus coordinator runs on the workspace''s worker for crm.identify';

CREATE FUNCTION crm.update_contact(contact_id bigint, patch jsonb) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	fields constant text[] := ARRAY['name', 'email', 'phone', 'identifier', 'verified_id', 'identity_source',
									'avatar_url', 'city', 'country', 'lifecycle_stage', 'status', 'owner',
									'blocked', 'tags', 'properties',
									'street', 'address_line2', 'region', 'postal_code',
									'linkedin', 'x', 'instagram', 'facebook', 'github', 'website'];
	cur crm.contacts;
	r crm.contacts;
	target bigint := update_contact.contact_id;
	bad text;
	e text;
	holder crm.contacts;
	props jsonb;
BEGIN
	IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
		RAISE EXCEPTION 'patch must be a JSON object, not %', coalesce(jsonb_typeof(patch), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the fields to change, e.g. ''{"city": "Paris", "properties": {"plan": "pro"}}''.';
	END IF;
	SELECT k INTO bad FROM jsonb_object_keys(patch) k WHERE k <> ALL (fields) ORDER BY k LIMIT 1;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown contact field: "%"', bad
			USING ERRCODE = 'undefined_column',
				  HINT = 'Valid fields are: ' || array_to_string(fields, ', ') || '; custom properties go inside "properties".';
	END IF;
	props := patch -> 'properties';
	IF props IS NOT NULL AND jsonb_typeof(props) NOT IN ('object', 'null') THEN
		RAISE EXCEPTION 'properties must be a JSON object, not %', jsonb_typeof(props)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass properties as an object; a key set to null is removed.';
	END IF;
	IF patch ? 'status' AND patch ->> 'status' NOT IN ('active', 'archived') THEN
		RAISE EXCEPTION 'cannot set status to "%" with update_contact', patch ->> 'status'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use "active" or "archived"; crm.merge_contacts merges and crm.delete_contact deletes.';
	END IF;

	SELECT * INTO cur FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = target FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'contact % does not exist', coalesce(target::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Check the id; contacts of other workspaces are not visible here.';
	END IF;
	IF cur.status >= 'merged' THEN
		RAISE EXCEPTION 'contact % is %', target, cur.status
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = CASE cur.status WHEN 'merged' THEN format('Update the contact it was merged into: crm.resolve_contact(%s).', target)
							 ELSE 'A deleted contact cannot be changed.' END;
	END IF;

	-- a new email that a live contact already has: the two are one person
	IF nullif(btrim(patch ->> 'email'), '') IS NOT NULL THEN
		e := crm.normalize_email(patch ->> 'email');
		PERFORM crm_hidden.lock_identity_keys(ws, ARRAY['e:' || e]);
		SELECT * INTO holder FROM crm.contacts c
		 WHERE c.workspace_id = ws AND c.email = e AND c.status < 'merged' AND c.id <> target;
		IF FOUND THEN
			IF (holder.identity_source = 'verified') > (cur.identity_source = 'verified')
			   OR ((holder.identity_source = 'verified') = (cur.identity_source = 'verified')
				   AND (holder.created_at, holder.id) < (cur.created_at, cur.id)) THEN
				target := crm.merge_contacts(holder.id, target);
			ELSE
				target := crm.merge_contacts(target, holder.id);
			END IF;
			SELECT * INTO cur FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = target;
		END IF;
	END IF;

	r := jsonb_populate_record(cur, patch - 'properties');
	IF props IS NOT NULL THEN
		r.properties := (cur.properties || jsonb_strip_nulls(props))
						- ARRAY(SELECT k.key FROM jsonb_each(props) k WHERE k.value = 'null'::jsonb);
	END IF;
	UPDATE crm.contacts c
	   SET name = r.name, email = r.email, phone = r.phone, identifier = r.identifier,
		   verified_id = r.verified_id, identity_source = r.identity_source, avatar_url = r.avatar_url,
		   city = r.city, country = r.country, lifecycle_stage = r.lifecycle_stage, status = r.status,
		   owner = r.owner, blocked = coalesce(r.blocked, false), tags = coalesce(r.tags, '{}'),
		   properties = coalesce(r.properties, '{}'),
		   street = r.street, address_line2 = r.address_line2, region = r.region, postal_code = r.postal_code,
		   linkedin = r.linkedin, x = r.x, instagram = r.instagram, facebook = r.facebook,
		   github = r.github, website = r.website
	 WHERE c.workspace_id = ws AND c.id = target;
	RETURN target;
END;
$$;
COMMENT ON FUNCTION crm.update_contact(bigint, jsonb) IS
	E'@name patch_contact\nPATCH a contact: listed fields are set (null clears), properties merge key by key (null removes); a taken email merges the two; returns the contact id';

-- pg_trgm lives in a schema chosen at its install: name it explicitly, since
-- functions here run with search_path = pg_catalog, pg_temp.
DO $do$
DECLARE
	trgm text := (SELECT pg_catalog.quote_ident(n.nspname)
					FROM pg_catalog.pg_extension x
					JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.extnamespace
				   WHERE x.extname OPERATOR(pg_catalog.=) 'pg_trgm');
BEGIN
	-- the trigram index on contacts.name that serves this is created with
	-- search's indexes (sql/search.sql)
	EXECUTE pg_catalog.format($sql$
CREATE FUNCTION crm.find_duplicates(min_similarity real DEFAULT 0.6, max_pairs integer DEFAULT 100)
RETURNS TABLE (contact_id bigint, duplicate_id bigint, reason text, score real)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	-- missing_ok: pg_trgm defines the setting only once its library is
	-- loaded, which a fresh session has not done yet (NULL restores the default)
	saved text := current_setting('pg_trgm.similarity_threshold', true);
BEGIN
	IF min_similarity IS NULL OR min_similarity <= 0 OR min_similarity > 1 THEN
		RAISE EXCEPTION 'invalid min_similarity: %%', min_similarity
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass a similarity above 0 and at most 1, e.g. 0.6.';
	END IF;
	IF max_pairs IS NULL OR max_pairs < 1 OR max_pairs > 100000 THEN
		RAISE EXCEPTION 'invalid max_pairs: %%', max_pairs
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Ask for between 1 and 100000 pairs.';
	END IF;
	-- the name index answers "%%" at this threshold; the boost below can lift
	-- a pair up to 0.1 over it
	PERFORM set_config('pg_trgm.similarity_threshold', greatest(min_similarity - 0.1, 0.05)::text, true);
	RETURN QUERY
	WITH live AS (
		SELECT c.id, c.name, c.email, c.phone,
			   split_part(c.email, '@', 2) AS domain,
			   regexp_replace(split_part(c.email, '@', 1), '\+.*$', '') || '@' || split_part(c.email, '@', 2) AS mailbox
		  FROM crm.contacts c
		 WHERE c.workspace_id = ws AND c.status < 'merged'
	), pairs AS (
		-- the same mailbox apart from a +tag
		SELECT a.id AS a, b.id AS b, 'email'::text AS reason, 0.95::real AS score
		  FROM live a JOIN live b ON a.mailbox = b.mailbox AND a.id < b.id
		UNION ALL
		-- the same national number, written with and without a country code
		SELECT a.id, b.id, 'phone', 0.9
		  FROM live a JOIN live b ON right(a.phone, 9) = right(b.phone, 9) AND a.id < b.id
		 WHERE length(a.phone) >= 10 AND length(b.phone) >= 10
		UNION ALL
		SELECT a.id, b.id, 'name',
			   least(1, %1$s.similarity(a.name, b.name)
						+ CASE WHEN split_part(a.email, '@', 2) = split_part(b.email, '@', 2)
								 OR EXISTS (SELECT 1 FROM crm.contact_companies ca
											  JOIN crm.contact_companies cb
												ON cb.workspace_id = ca.workspace_id AND cb.company_id = ca.company_id
											 WHERE ca.workspace_id = ws AND ca.contact_id = a.id AND cb.contact_id = b.id)
							   THEN 0.1 ELSE 0 END)::real
		  FROM crm.contacts a
		  JOIN crm.contacts b ON a.name OPERATOR(%1$s.%%) b.name AND a.id < b.id
		 WHERE a.workspace_id = ws AND b.workspace_id = ws
		   AND a.status < 'merged' AND b.status < 'merged'
	), best AS (
		SELECT DISTINCT ON (p.a, p.b) p.a, p.b, p.reason, p.score
		  FROM pairs p
		 WHERE p.score >= min_similarity
		 ORDER BY p.a, p.b, p.score DESC
	)
	SELECT best.a, best.b, best.reason, best.score FROM best
	 ORDER BY best.score DESC, best.a, best.b
	 LIMIT max_pairs;
	PERFORM set_config('pg_trgm.similarity_threshold', saved, true);
END;
$fn$
	$sql$, trgm);
END;
$do$;
COMMENT ON FUNCTION crm.find_duplicates(real, integer) IS
	'likely duplicate pairs of live contacts: same mailbox (email), same national number (phone), similar names (boosted by a shared company or email domain)';
