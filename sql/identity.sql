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
CREATE FUNCTION crm.lock_identity_keys(workspace_id bigint, keys text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	h bigint;
BEGIN
	PERFORM pg_advisory_xact_lock_shared(hashtextextended('crm.identity', lock_identity_keys.workspace_id));
	FOR h IN
		SELECT DISTINCT hashtextextended('crm.identity:' || k, lock_identity_keys.workspace_id)
		  FROM unnest(lock_identity_keys.keys) k WHERE k IS NOT NULL ORDER BY 1
	LOOP
		PERFORM pg_advisory_xact_lock(h);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.lock_identity_keys(bigint, text[]) IS
	'takes the transaction advisory locks of identity keys (''e:'' email, ''p:'' phone, ''i:'' identifier, ''v:'' verified id) in a fixed order';

CREATE FUNCTION crm.identify(email text DEFAULT NULL, phone text DEFAULT NULL, name text DEFAULT NULL,
							 identifier text DEFAULT NULL, verified_id text DEFAULT NULL,
							 properties jsonb DEFAULT '{}', seen_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	e text := nullif(btrim(identify.email), '');
	p text := nullif(btrim(identify.phone), '');
	nm text := nullif(btrim(identify.name), '');
	ident text := nullif(btrim(identify.identifier), '');
	vid text := nullif(btrim(identify.verified_id), '');
	props jsonb := coalesce(identify.properties, '{}');
	seen timestamptz := coalesce(identify.seen_at, now());
	src crm.identity_source;
	ids bigint[];
	held text[];
	survivor bigint;
	sv_vid text;
	other bigint;
	o_vid text;
BEGIN
	IF jsonb_typeof(props) <> 'object' THEN
		RAISE EXCEPTION 'properties must be a JSON object, not %', jsonb_typeof(props)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass properties as a jsonb object such as ''{"plan": "pro"}''.';
	END IF;
	IF e IS NOT NULL THEN e := crm.normalize_email(e); END IF;
	IF p IS NOT NULL THEN p := crm.normalize_phone(p); END IF;
	src := CASE WHEN vid IS NOT NULL THEN 'verified'
				WHEN e IS NOT NULL OR p IS NOT NULL OR nm IS NOT NULL THEN 'self_reported'
				ELSE 'anonymous' END;

	IF vid IS NOT NULL OR ident IS NOT NULL OR e IS NOT NULL OR p IS NOT NULL THEN
		-- crm.lock_identity_keys, inlined: this is the hot path
		PERFORM pg_advisory_xact_lock_shared(hashtextextended('crm.identity', ws));
		PERFORM pg_advisory_xact_lock(h)
		   FROM (SELECT DISTINCT hashtextextended('crm.identity:' || k, ws) AS h
				   FROM unnest(ARRAY['v:' || vid, 'i:' || ident, 'e:' || e, 'p:' || p]) k
				  WHERE k IS NOT NULL ORDER BY 1) l;
		-- keys in priority order: verified id, identifier, email, phone; a
		-- verified contact survives, else the oldest.  One index probe per
		-- key (an OR over the four columns would get a generic plan that
		-- scans the whole workspace).
		SELECT array_agg(m.id ORDER BY coalesce(m.verified_id = vid, false) DESC,
									   m.identity_source = 'verified' DESC, m.created_at, m.id)
		  INTO ids
		  FROM (SELECT c.id, c.verified_id, c.identity_source, c.created_at FROM crm.contacts c
				 WHERE c.workspace_id = ws AND c.verified_id = vid AND c.status < 'merged'
				UNION
				SELECT c.id, c.verified_id, c.identity_source, c.created_at FROM crm.contacts c
				 WHERE c.workspace_id = ws AND c.identifier = ident AND c.status < 'merged'
				UNION
				SELECT c.id, c.verified_id, c.identity_source, c.created_at FROM crm.contacts c
				 WHERE c.workspace_id = ws AND c.email = e AND c.status < 'merged'
				UNION
				SELECT c.id, c.verified_id, c.identity_source, c.created_at FROM crm.contacts c
				 WHERE c.workspace_id = ws AND c.phone = p AND c.status < 'merged') m;
	END IF;

	IF ids IS NULL THEN
		INSERT INTO crm.contacts AS c (workspace_id, name, email, phone, identifier, verified_id,
									   identity_source, properties, first_seen_at, last_seen_at)
			VALUES (ws, nm, e, p, ident, vid, src, props, seen, seen)
			RETURNING c.id INTO survivor;
		RETURN survivor;
	END IF;

	survivor := ids[1];
	SELECT c.verified_id INTO sv_vid FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = survivor;
	IF sv_vid IS NOT NULL AND vid IS NOT NULL AND sv_vid <> vid THEN
		-- no contact has this verified id, and the other keys belong to a
		-- contact verified as someone else: a new person, who takes no keys
		INSERT INTO crm.contacts AS c (workspace_id, name, verified_id, identity_source, properties,
									   first_seen_at, last_seen_at)
			VALUES (ws, nm, vid, src, props, seen, seen)
			RETURNING c.id INTO survivor;
		RETURN survivor;
	END IF;
	-- two different verified people are never merged: a contact verified as
	-- someone else keeps its keys, and this call does not take them
	held := '{}';
	FOR i IN 2 .. cardinality(ids) LOOP
		other := ids[i];
		SELECT c.verified_id INTO o_vid FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = other;
		IF o_vid IS NOT NULL AND o_vid IS DISTINCT FROM coalesce(sv_vid, vid) THEN
			SELECT held || ARRAY['e:' || c.email, 'p:' || c.phone, 'i:' || c.identifier]
			  INTO held FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = other;
		ELSE
			survivor := crm.merge_contacts(survivor, other);
		END IF;
	END LOOP;

	UPDATE crm.contacts c
	   SET name = coalesce(c.name, nm),
		   email = coalesce(c.email, CASE WHEN 'e:' || e = ANY (held) THEN NULL ELSE e END),
		   phone = coalesce(c.phone, CASE WHEN 'p:' || p = ANY (held) THEN NULL ELSE p END),
		   identifier = coalesce(c.identifier, CASE WHEN 'i:' || ident = ANY (held) THEN NULL ELSE ident END),
		   verified_id = coalesce(c.verified_id, vid),
		   identity_source = greatest(c.identity_source, src),
		   -- a source at least as trusted as the stored one overrides; a
		   -- weaker one only fills keys that are missing
		   properties = CASE WHEN src >= c.identity_source THEN c.properties || props
							 ELSE props || c.properties END,
		   first_seen_at = least(c.first_seen_at, seen),
		   last_seen_at = greatest(c.last_seen_at, seen)
	 WHERE c.workspace_id = ws AND c.id = survivor;
	RETURN survivor;
END;
$$;
COMMENT ON FUNCTION crm.identify(text, text, text, text, text, jsonb, timestamptz) IS
	'find-or-create a contact by verified_id, identifier, email, phone; merges the contacts those keys point at; returns its id';

CREATE FUNCTION crm.update_contact(contact_id bigint, patch jsonb) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	fields constant text[] := ARRAY['name', 'email', 'phone', 'identifier', 'verified_id', 'identity_source',
									'avatar_url', 'city', 'country', 'lifecycle_stage', 'status', 'owner',
									'blocked', 'tags', 'properties'];
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
		PERFORM crm.lock_identity_keys(ws, ARRAY['e:' || e]);
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
		   properties = coalesce(r.properties, '{}')
	 WHERE c.workspace_id = ws AND c.id = target;
	RETURN target;
END;
$$;
COMMENT ON FUNCTION crm.update_contact(bigint, jsonb) IS
	'PATCH a contact: listed fields are set (null clears), properties merge key by key (null removes); a taken email merges the two; returns the contact id';

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
	saved text := current_setting('pg_trgm.similarity_threshold');
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
