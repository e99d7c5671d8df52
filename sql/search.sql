--
-- Search and tag suggestions (SPEC §8): crm.search over contact names,
-- emails and phones and company names, domains and industries; crm.tags.
--

-- Trigram GIN indexes serve contains/word-prefix (ILIKE '%...%') and fuzzy
-- (%) matching; they are also what CQL's CONTAINS, STARTS/ENDS WITH and ~
-- use.  pg_trgm's operator class lives in pg_trgm's schema, which is only
-- known at install time.
DO $$
DECLARE
	trgm text := (SELECT pg_catalog.quote_ident(n.nspname)
					FROM pg_catalog.pg_extension e
					JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
				   WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trgm');
	ix record;
BEGIN
	FOR ix IN SELECT * FROM (VALUES
			('contacts_name_trgm', 'crm.contacts', 'name'),
			('contacts_email_trgm', 'crm.contacts', 'email'),
			('contacts_phone_trgm', 'crm.contacts', 'phone'),
			('companies_name_trgm', 'crm.companies', 'name'),
			('companies_domain_trgm', 'crm.companies', 'domain'),
			('companies_industry_trgm', 'crm.companies', 'industry')) v(name, tab, col)
	LOOP
		EXECUTE pg_catalog.format('CREATE INDEX %I ON %s USING gin (%I %s.gin_trgm_ops)', ix.name, ix.tab, ix.col, trgm);
	END LOOP;
	-- a street is found by any of its words (docs/search.md)
	EXECUTE pg_catalog.format('CREATE INDEX contacts_street_trgm ON crm.contacts USING gin (street %s.gin_trgm_ops) WHERE street IS NOT NULL', trgm);
END;
$$;

-- Typeahead: values starting with the term, first in order, straight from a
-- btree (C collation, so ^@ 'ada' is a range and the order is the index's).
-- The key is lower() declared leakproof (src/search_key.c): under row-level
-- security only leakproof conditions are index conditions.
CREATE FUNCTION crm_hidden.search_key(value text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
AS 'MODULE_PATHNAME', 'crm_search_key';
COMMENT ON FUNCTION crm_hidden.search_key(text) IS
	'lower(value), leakproof: the key of the typeahead indexes, usable under row-level security';
CREATE INDEX contacts_name_prefix ON crm.contacts (workspace_id, (crm_hidden.search_key(name) COLLATE "C"));
CREATE INDEX contacts_email_prefix ON crm.contacts (workspace_id, (email COLLATE "C"));
CREATE INDEX companies_name_prefix ON crm.companies (workspace_id, (crm_hidden.search_key(name) COLLATE "C"));
CREATE INDEX companies_domain_prefix ON crm.companies (workspace_id, (domain COLLATE "C"));

-- "key >= prefix AND key < search_prefix_end(prefix)" is "key ^@ prefix"
-- as a range a generic plan reads from the index (src/search_key.c)
CREATE FUNCTION crm_hidden.search_prefix_end(prefix text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'crm_search_prefix_end';
COMMENT ON FUNCTION crm_hidden.search_prefix_end(text) IS
	'the least text greater, in C collation, than every text starting with prefix (NULL when there is none)';

-- Social profiles and places (docs/search.md).  A profile column holds
-- canonical URLs only, so a term becomes the prefixes of the URLs it stands
-- for (a pasted URL its canonical form, a handle its URL on each network),
-- each a range of the column's index.  Partial: most contacts have none,
-- and a row without one costs no entry.
CREATE FUNCTION crm_hidden.search_profile_prefixes(term text) RETURNS text[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'crm_search_profile_prefixes';
COMMENT ON FUNCTION crm_hidden.search_profile_prefixes(text) IS
	'the prefixes of the stored profile URLs a search term stands for: linkedin /in/, linkedin /company/, x, instagram, facebook, github, website, www. website (NULL where none)';
CREATE INDEX contacts_linkedin_prefix ON crm.contacts (workspace_id, (linkedin COLLATE "C")) WHERE linkedin IS NOT NULL;
CREATE INDEX contacts_x_prefix ON crm.contacts (workspace_id, (x COLLATE "C")) WHERE x IS NOT NULL;
CREATE INDEX contacts_instagram_prefix ON crm.contacts (workspace_id, (instagram COLLATE "C")) WHERE instagram IS NOT NULL;
CREATE INDEX contacts_facebook_prefix ON crm.contacts (workspace_id, (facebook COLLATE "C")) WHERE facebook IS NOT NULL;
CREATE INDEX contacts_github_prefix ON crm.contacts (workspace_id, (github COLLATE "C")) WHERE github IS NOT NULL;
CREATE INDEX contacts_website_prefix ON crm.contacts (workspace_id, (website COLLATE "C")) WHERE website IS NOT NULL;
CREATE INDEX contacts_city_prefix ON crm.contacts (workspace_id, (crm_hidden.search_key(city) COLLATE "C")) WHERE city IS NOT NULL;
CREATE INDEX contacts_region_prefix ON crm.contacts (workspace_id, (crm_hidden.search_key(region) COLLATE "C")) WHERE region IS NOT NULL;
CREATE INDEX contacts_postal_code_prefix ON crm.contacts (workspace_id, (postal_code COLLATE "C")) WHERE postal_code IS NOT NULL;
-- a whole street (exact mode): the trigram index returned every street
-- holding the term's word for the recheck, 40-75 ms for 'baker' at 100k
CREATE INDEX contacts_street_key ON crm.contacts (workspace_id, (crm_hidden.search_key(street) COLLATE "C")) WHERE street IS NOT NULL;

-- The fuzzy-search dictionary (src/search_words.c): the distinct words of
-- contact names and email local parts and of company names, domains and
-- industries, per workspace.  Fuzzy search matches its term against these
-- few words rather than against every record.  Kept by statement triggers
-- (insert-only: a word whose records are gone stays, and costs a lookup).
CREATE TABLE crm.search_words (
	workspace_id bigint NOT NULL DEFAULT crm.current_workspace() REFERENCES crm.workspaces (id) ON DELETE CASCADE,
	word text NOT NULL,
	-- where the word occurs: 1 contact name, 2 contact email (local part),
	-- 3 company name, 4 company domain, 5 company industry
	field smallint NOT NULL CHECK (field BETWEEN 1 AND 5),
	PRIMARY KEY (workspace_id, word, field)
);
COMMENT ON TABLE crm.search_words IS 'distinct words of contact and company search fields, for fuzzy search';
DO $$
BEGIN
	EXECUTE pg_catalog.format('CREATE INDEX search_words_trgm ON crm.search_words USING gin (word %I.gin_trgm_ops)',
		(SELECT n.nspname FROM pg_catalog.pg_extension e
		   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
		  WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trgm'));
END;
$$;

CREATE FUNCTION crm_hidden.search_words_of(value text) RETURNS text[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'crm_search_words_of';
COMMENT ON FUNCTION crm_hidden.search_words_of(text) IS
	'the words of a value as the fuzzy-search dictionary holds them: lower case, runs of 2+ letters, each once';

CREATE FUNCTION crm_internal.keep_search_words() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_keep_search_words';
COMMENT ON FUNCTION crm_internal.keep_search_words() IS
	'statement trigger adding the new words of the named text columns (column=field; column@=field: the part before @) to crm.search_words';

-- GDPR erasure deletes words; every backend must then forget it knew them
CREATE TRIGGER search_words_invalidate AFTER DELETE OR TRUNCATE ON crm.search_words
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.invalidate_caches();
CREATE TRIGGER contacts_search_words_insert AFTER INSERT ON crm.contacts
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.keep_search_words('name=1', 'email@=2');
CREATE TRIGGER contacts_search_words_update AFTER UPDATE ON crm.contacts
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.keep_search_words('name=1', 'email@=2');
CREATE TRIGGER companies_search_words_insert AFTER INSERT ON crm.companies
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.keep_search_words('name=3', 'domain=4', 'industry=5');
CREATE TRIGGER companies_search_words_update AFTER UPDATE ON crm.companies
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.keep_search_words('name=3', 'domain=4', 'industry=5');

-- A LIKE pattern matching the text literally
CREATE FUNCTION crm_hidden.like_escape(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(t, '\', '\\'), '%', '\%'), '_', '\_');
COMMENT ON FUNCTION crm_hidden.like_escape(text) IS 'escapes %, _ and \ so that LIKE matches the text literally';

CREATE FUNCTION crm.search(q text, mode text DEFAULT 'prefix', object text DEFAULT 'all', lim integer DEFAULT 20)
RETURNS TABLE (object_type text, id bigint, label text, field text, value text, score real)
LANGUAGE plpgsql STABLE
-- search_path gains pg_trgm's schema below (ALTER FUNCTION), for % and similarity().
-- Generic plans: the conditions of the statements written out below are
-- index ranges even with their values as parameters, so a call runs the
-- kept plan instead of planning them again; what is better planned for the
-- term at hand (prefix mode's later words) is EXECUTEd (docs/search.md).
-- No JIT: in a workspace of millions the first tier's generic plan costs
-- above jit_above_cost (its LIMITs are not known to it), and compiling it
-- took 300 ms a call to run 4 ms of index reads (docs/performance.md).
-- No sequential scans: every condition below has an index, and with a
-- LIMIT the planner took a scan that stops at the lim-th match as cheap,
-- which for a rare term ('750' among 100,000 contacts) read them all:
-- 300 ms, 3-12 through the trigram indexes.
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
	term text := pg_catalog.btrim(coalesce(search.q, ''));
	esc text := crm_hidden.like_escape(pg_catalog.lower(pg_catalog.btrim(coalesce(search.q, ''))));
	digits text := pg_catalog.regexp_replace(coalesce(search.q, ''), '\D', '', 'g');
	phone_term text := '+' || pg_catalog.regexp_replace(coalesce(search.q, ''), '\D', '', 'g');
	want_contacts boolean := search.object IN ('all', 'contact');
	want_companies boolean := search.object IN ('all', 'company');
	lterm text := pg_catalog.lower(pg_catalog.btrim(coalesce(search.q, '')));
	lend text;
	-- the term as a postal code is stored, when it could be one, and its end
	postal text;
	postal_end text;
	-- the prefixes of the stored profile URLs the term stands for, and their
	-- ends: linkedin /in/, linkedin /company/, x, instagram, facebook,
	-- github, website, www. website (src/profiles.c)
	prof text[];
	prof_end text[];
	-- the first tier's results (prefix mode)
	hit_types text[];
	hit_ids bigint[];
	hit_labels text[];
	hit_fields text[];
	hit_values text[];
	hit_scores real[];
	more_types text[];
	more_ids bigint[];
	more_labels text[];
	more_fields text[];
	more_values text[];
	more_scores real[];
	exclude_contacts bigint[];
	exclude_companies bigint[];
	remaining integer;
	url boolean := coalesce(search.q, '') ~ '(://|/.*[A-Za-z]|[A-Za-z].*/)';
	ws bigint := crm.current_workspace();
	-- owner-based privacy: NULL, or the contacts of the deals the restricted
	-- member of the request sees (docs/members.md)
	seen bigint[] := crm_hidden.privacy_deal_contacts();
	uid text := crm.current_user_id();
	qwords text[];
	qw text;
	probe_words text[] := ARRAY['']::text[];
	probe_scores real[] := ARRAY[0]::real[];
	next_words text[];
	next_scores real[];
	probe record;
	pw text;
	pats text;
	parts text[] := '{}';
	col constant text[] := ARRAY['r.name', 'r.email', 'r.name', 'r.domain', 'r.industry'];
	fieldname constant text[] := ARRAY['name', 'email', 'name', 'domain', 'industry'];
BEGIN
	IF search.mode IS NULL OR search.mode NOT IN ('exact', 'prefix', 'fuzzy') THEN
		RAISE EXCEPTION 'invalid search mode: "%"', coalesce(search.mode, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use exact, prefix or fuzzy.';
	END IF;
	IF search.object IS NULL OR search.object NOT IN ('all', 'contact', 'company') THEN
		RAISE EXCEPTION 'invalid search object: "%"', coalesce(search.object, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all, contact or company.';
	END IF;
	IF search.lim IS NULL OR search.lim < 1 OR search.lim > 1000 THEN
		RAISE EXCEPTION 'invalid search limit: %', coalesce(search.lim::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Ask for 1 to 1000 results.';
	END IF;
	IF term = '' THEN
		RETURN;
	END IF;
	-- a whole number, in national form too, is found as the trigger stored it
	IF pg_catalog.length(digits) >= 5 AND term ~ '^[-+0-9 ().\/]+$' THEN
		BEGIN
			phone_term := crm.normalize_phone(term);
		EXCEPTION WHEN invalid_parameter_value OR invalid_text_representation THEN
			NULL;
		END;
	END IF;
	lend := crm_hidden.search_prefix_end(lterm);
	-- as the contacts trigger stores a postal code (src/profiles.c)
	IF term ~ '^[A-Za-z0-9 -]+$' AND term ~ '[0-9]' AND pg_catalog.length(term) <= 16 THEN
		postal := pg_catalog.upper(pg_catalog.regexp_replace(term, '\s+', ' ', 'g'));
		postal_end := crm_hidden.search_prefix_end(postal);
	END IF;
	prof := crm_hidden.search_profile_prefixes(term);
	prof_end := ARRAY(SELECT crm_hidden.search_prefix_end(p.p) FROM pg_catalog.unnest(prof) WITH ORDINALITY p(p, n) ORDER BY p.n);

	-- Under row-level security (every frontend and member request) only a
	-- leakproof condition is an index condition, and ILIKE and pg_trgm's
	-- operators are not: names are matched through crm_hidden.search_key()
	-- (leakproof) where a btree serves, and a restricted member's predicate
	-- is said again in each contact query (the policies hold it anyway) so
	-- that the planner reads the owner index as for the hand-written query.
	-- The profile columns hold canonical URLs only, so they need no key.
	IF search.mode = 'exact' THEN
		RETURN QUERY
		SELECT * FROM (
		SELECT DISTINCT ON (h.object_type, h.id) h.* FROM (
			SELECT 'contact'::text AS object_type, c.id, coalesce(c.name, c.email, c.phone) AS label, f.field, f.value,
				   1::real AS score
			  FROM crm.contacts c,
				   LATERAL (VALUES ('name', c.name), ('email', c.email), ('phone', c.phone),
								   ('linkedin', c.linkedin), ('x', c.x), ('instagram', c.instagram),
								   ('facebook', c.facebook), ('github', c.github), ('website', c.website)) f(field, value)
			 WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
			   AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
			   -- each arm an index (the profiles' are in the C collation): one
			   -- arm without one made it read the whole workspace (200 ms at 100k)
			   AND (crm_hidden.search_key(c.name) COLLATE "C" = lterm OR c.email = lterm OR c.phone = phone_term
					OR (c.linkedin IS NOT NULL AND c.linkedin COLLATE "C" = ANY (prof[1:2]))
					OR (c.x IS NOT NULL AND c.x COLLATE "C" = prof[3])
					OR (c.instagram IS NOT NULL AND c.instagram COLLATE "C" = prof[4])
					OR (c.facebook IS NOT NULL AND c.facebook COLLATE "C" = prof[5])
					OR (c.github IS NOT NULL AND c.github COLLATE "C" = prof[6])
					OR (c.website IS NOT NULL AND c.website COLLATE "C" = ANY (prof[7:8])))
			   AND (f.value ILIKE esc OR f.value = pg_catalog.lower(term) OR f.value = phone_term OR f.value = ANY (prof))
			UNION ALL
			-- a city many contacts share: lim of them, in no particular order
			(SELECT 'contact'::text, c.id, coalesce(c.name, c.email, c.phone), f.field, f.value, 0.6::real
			  FROM crm.contacts c,
				   LATERAL (VALUES ('street', c.street), ('city', c.city), ('region', c.region),
								   ('postal_code', c.postal_code)) f(field, value)
			 WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
			   AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
			   AND ((c.city IS NOT NULL AND crm_hidden.search_key(c.city) COLLATE "C" = lterm)
					OR (c.region IS NOT NULL AND crm_hidden.search_key(c.region) COLLATE "C" = lterm)
					OR (c.postal_code IS NOT NULL AND c.postal_code COLLATE "C" = postal)
					OR (c.street IS NOT NULL AND crm_hidden.search_key(c.street) COLLATE "C" = lterm))
			   AND (f.value ILIKE esc OR f.value = postal)
			 LIMIT search.lim)
			UNION ALL
			SELECT 'company', co.id, co.name, f.field, f.value, CASE f.field WHEN 'industry' THEN 0.8 ELSE 1 END::real
			  FROM crm.companies co,
				   LATERAL (VALUES ('name', co.name), ('domain', co.domain), ('industry', co.industry)) f(field, value)
			 WHERE want_companies AND co.workspace_id = ws
			   AND (crm_hidden.search_key(co.name) COLLATE "C" = lterm OR co.domain COLLATE "C" = lterm OR co.industry ILIKE esc)
			   AND f.value ILIKE esc) h
		ORDER BY h.object_type, h.id, h.score DESC) best
		ORDER BY best.score DESC, best.label, best.id
		LIMIT search.lim;
	ELSIF search.mode = 'prefix' THEN
		-- Values starting with the term come first, each source read in index
		-- order and cut at lim (a range of the btree, under row-level
		-- security too): names, emails, social profiles (a pasted profile
		-- URL is its canonical URL, a handle the URL it would have on each
		-- network), company names and domains.  A kept generic plan: every
		-- condition is an index range whatever the term.
		SELECT pg_catalog.array_agg(b.object_type ORDER BY b.score DESC, b.label, b.id),
			   pg_catalog.array_agg(b.id ORDER BY b.score DESC, b.label, b.id),
			   pg_catalog.array_agg(b.label ORDER BY b.score DESC, b.label, b.id),
			   pg_catalog.array_agg(b.field ORDER BY b.score DESC, b.label, b.id),
			   pg_catalog.array_agg(b.value ORDER BY b.score DESC, b.label, b.id),
			   pg_catalog.array_agg(b.score ORDER BY b.score DESC, b.label, b.id)
		  INTO hit_types, hit_ids, hit_labels, hit_fields, hit_values, hit_scores
		  FROM (SELECT * FROM (
				SELECT DISTINCT ON (h.object_type, h.id) h.* FROM (
				(SELECT 'contact'::text AS object_type, c.id, coalesce(c.name, c.email, c.phone) AS label,
						'name'::text AS field, c.name AS value,
						CASE WHEN pg_catalog.lower(c.name) = lterm THEN 1 ELSE 0.9 END::real AS score
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND crm_hidden.search_key(c.name) COLLATE "C" >= lterm AND crm_hidden.search_key(c.name) COLLATE "C" < lend
				  ORDER BY crm_hidden.search_key(c.name) COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'email', c.email,
						CASE WHEN c.email = lterm THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.email COLLATE "C" >= lterm AND c.email COLLATE "C" < lend
				  ORDER BY c.email COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'linkedin', c.linkedin,
						CASE WHEN c.linkedin = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.linkedin IS NOT NULL AND c.linkedin COLLATE "C" >= prof[1] AND c.linkedin COLLATE "C" < prof_end[1]
				  ORDER BY c.linkedin COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'linkedin', c.linkedin,
						CASE WHEN c.linkedin = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.linkedin IS NOT NULL AND c.linkedin COLLATE "C" >= prof[2] AND c.linkedin COLLATE "C" < prof_end[2]
				  ORDER BY c.linkedin COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'x', c.x,
						CASE WHEN c.x = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.x IS NOT NULL AND c.x COLLATE "C" >= prof[3] AND c.x COLLATE "C" < prof_end[3]
				  ORDER BY c.x COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'instagram', c.instagram,
						CASE WHEN c.instagram = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.instagram IS NOT NULL AND c.instagram COLLATE "C" >= prof[4] AND c.instagram COLLATE "C" < prof_end[4]
				  ORDER BY c.instagram COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'facebook', c.facebook,
						CASE WHEN c.facebook = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.facebook IS NOT NULL AND c.facebook COLLATE "C" >= prof[5] AND c.facebook COLLATE "C" < prof_end[5]
				  ORDER BY c.facebook COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'github', c.github,
						CASE WHEN c.github = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.github IS NOT NULL AND c.github COLLATE "C" >= prof[6] AND c.github COLLATE "C" < prof_end[6]
				  ORDER BY c.github COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'website', c.website,
						CASE WHEN c.website = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.website IS NOT NULL AND c.website COLLATE "C" >= prof[7] AND c.website COLLATE "C" < prof_end[7]
				  ORDER BY c.website COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'website', c.website,
						CASE WHEN c.website = ANY (prof) THEN 1 ELSE 0.9 END::real
				   FROM crm.contacts c
				  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
					AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
					AND c.website IS NOT NULL AND c.website COLLATE "C" >= prof[8] AND c.website COLLATE "C" < prof_end[8]
				  ORDER BY c.website COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'company', co.id, co.name, 'name', co.name,
						CASE WHEN pg_catalog.lower(co.name) = lterm THEN 1 ELSE 0.9 END::real
				   FROM crm.companies co
				  WHERE want_companies AND co.workspace_id = ws
					AND crm_hidden.search_key(co.name) COLLATE "C" >= lterm AND crm_hidden.search_key(co.name) COLLATE "C" < lend
				  ORDER BY crm_hidden.search_key(co.name) COLLATE "C" LIMIT search.lim)
				UNION ALL
				(SELECT 'company', co.id, co.name, 'domain', co.domain,
						CASE WHEN co.domain = lterm THEN 1 ELSE 0.9 END::real
				   FROM crm.companies co
				  WHERE want_companies AND co.workspace_id = ws
					AND co.domain COLLATE "C" >= lterm AND co.domain COLLATE "C" < lend
				  ORDER BY co.domain COLLATE "C" LIMIT search.lim)
				) h ORDER BY h.object_type, h.id, h.score DESC) best
				 ORDER BY best.score DESC, best.label, best.id LIMIT search.lim) b;
		-- Only if they are too few, values with a later word starting with
		-- the term (trigram index, terms of 3+ characters), phones
		-- containing its digits and streets with a word starting with it:
		-- planned for the values at hand, since whether the trigram index or
		-- a scan in table order is faster depends on how common the term is
		-- (a generic plan would read the companies in full).  A pasted URL
		-- is looked for among the profiles only: its many trigrams would
		-- read long posting lists to find no name.
		IF coalesce(pg_catalog.cardinality(hit_ids), 0) < search.lim AND NOT url THEN
			exclude_contacts := ARRAY(SELECT u.i FROM ROWS FROM (pg_catalog.unnest(hit_types), pg_catalog.unnest(hit_ids)) u(t, i) WHERE u.t = 'contact');
			exclude_companies := ARRAY(SELECT u.i FROM ROWS FROM (pg_catalog.unnest(hit_types), pg_catalog.unnest(hit_ids)) u(t, i) WHERE u.t = 'company');
			EXECUTE 'SELECT pg_catalog.array_agg(b.object_type), pg_catalog.array_agg(b.id), pg_catalog.array_agg(b.label),'
					' pg_catalog.array_agg(b.field), pg_catalog.array_agg(b.value), pg_catalog.array_agg(b.score) FROM (' || $words$SELECT * FROM (
				SELECT DISTINCT ON (h.object_type, h.id) h.* FROM (
					(SELECT 'contact'::text AS object_type, c.id, coalesce(c.name, c.email, c.phone) AS label, f.field, f.value,
							0.7::real AS score
					   FROM crm.contacts c,
							LATERAL (VALUES ('name', c.name), ('email', c.email), ('phone', c.phone)) f(field, value)
					  WHERE $5 AND c.workspace_id = $11 AND c.status < 'merged'
						AND ($12 IS NULL OR c.owner = $13 OR c.id = ANY ($12))
						AND (pg_catalog.length($1) >= 3 AND (c.name ILIKE '%' || $2 || '%' OR c.email ILIKE '%' || $2 || '%')
							 OR (pg_catalog.length($3) >= 3 AND c.phone LIKE '%' || $3 || '%') OR c.phone = $4)
						AND (f.value ILIKE '% ' || $2 || '%' OR f.value ILIKE '%.' || $2 || '%'
							 OR f.value ILIKE '%@' || $2 || '%' OR f.value ILIKE '%-' || $2 || '%'
							 OR (f.field = 'phone' AND (pg_catalog.length($3) >= 3 AND f.value LIKE '%' || $3 || '%' OR f.value = $4)))
					  LIMIT $14)
					UNION ALL
					(SELECT 'company', co.id, co.name, f.field, f.value,
							(0.7 * CASE f.field WHEN 'industry' THEN 0.8 ELSE 1 END)::real
					   FROM crm.companies co,
							LATERAL (VALUES ('name', co.name), ('domain', co.domain), ('industry', co.industry)) f(field, value)
					  WHERE $6 AND co.workspace_id = $11 AND pg_catalog.length($1) >= 3
						AND (co.name ILIKE '%' || $2 || '%' OR co.domain ILIKE '%' || $2 || '%' OR co.industry ILIKE '%' || $2 || '%')
						AND (f.value ILIKE $2 || '%' OR f.value ILIKE '% ' || $2 || '%' OR f.value ILIKE '%.' || $2 || '%'
							 OR f.value ILIKE '%-' || $2 || '%')
					  LIMIT $14)
					UNION ALL
					(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'street', c.street,
							CASE WHEN pg_catalog.lower(c.street) = $7 THEN 0.6 WHEN c.street ILIKE $2 || '%' THEN 0.54 ELSE 0.42 END::real
					   FROM crm.contacts c
					  WHERE $5 AND c.workspace_id = $11 AND c.status < 'merged'
						AND ($12 IS NULL OR c.owner = $13 OR c.id = ANY ($12))
						AND c.street IS NOT NULL AND pg_catalog.length($1) >= 3 AND c.street ILIKE '%' || $2 || '%'
						AND (c.street ILIKE $2 || '%' OR c.street ILIKE '% ' || $2 || '%' OR c.street ILIKE '%-' || $2 || '%')
					  LIMIT $14)
				) h
				 WHERE NOT (h.object_type = 'contact' AND h.id = ANY ($15)) AND NOT (h.object_type = 'company' AND h.id = ANY ($16))
				 ORDER BY h.object_type, h.id, h.score DESC) best
			 ORDER BY best.score DESC, best.label, best.id LIMIT $14$words$ || ') b'
			   INTO more_types, more_ids, more_labels, more_fields, more_values, more_scores
			   USING term, esc, digits, phone_term, want_contacts, want_companies, lterm, lend, postal, postal_end, ws, seen, uid,
					 search.lim - coalesce(pg_catalog.cardinality(hit_ids), 0), exclude_contacts, exclude_companies;
			hit_types := hit_types || more_types;
			hit_ids := hit_ids || more_ids;
			hit_labels := hit_labels || more_labels;
			hit_fields := hit_fields || more_fields;
			hit_values := hit_values || more_values;
			hit_scores := hit_scores || more_scores;
		END IF;
		-- Only if those are too few still, the places: cities, regions and
		-- postal codes starting with the term, index ranges again (a kept plan).
		IF coalesce(pg_catalog.cardinality(hit_ids), 0) < search.lim AND NOT url THEN
			remaining := search.lim - coalesce(pg_catalog.cardinality(hit_ids), 0);
			exclude_contacts := ARRAY(SELECT u.i FROM ROWS FROM (pg_catalog.unnest(hit_types), pg_catalog.unnest(hit_ids)) u(t, i) WHERE u.t = 'contact');
			SELECT pg_catalog.array_agg(b.object_type), pg_catalog.array_agg(b.id), pg_catalog.array_agg(b.label),
			   pg_catalog.array_agg(b.field), pg_catalog.array_agg(b.value), pg_catalog.array_agg(b.score)
			  INTO more_types, more_ids, more_labels, more_fields, more_values, more_scores
			  FROM (SELECT * FROM (
					SELECT DISTINCT ON (h.id) h.* FROM (
					(SELECT 'contact'::text AS object_type, c.id, coalesce(c.name, c.email, c.phone) AS label,
							'city'::text AS field, c.city AS value,
							CASE WHEN pg_catalog.lower(c.city) = lterm THEN 0.6 ELSE 0.54 END::real AS score
					   FROM crm.contacts c
					  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
						AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
						AND c.city IS NOT NULL
						AND crm_hidden.search_key(c.city) COLLATE "C" >= lterm AND crm_hidden.search_key(c.city) COLLATE "C" < lend
					  ORDER BY crm_hidden.search_key(c.city) COLLATE "C" LIMIT remaining)
					UNION ALL
					(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'region', c.region,
							CASE WHEN pg_catalog.lower(c.region) = lterm THEN 0.6 ELSE 0.54 END::real
					   FROM crm.contacts c
					  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
						AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
						AND c.region IS NOT NULL
						AND crm_hidden.search_key(c.region) COLLATE "C" >= lterm AND crm_hidden.search_key(c.region) COLLATE "C" < lend
					  ORDER BY crm_hidden.search_key(c.region) COLLATE "C" LIMIT remaining)
					UNION ALL
					(SELECT 'contact', c.id, coalesce(c.name, c.email, c.phone), 'postal_code', c.postal_code,
							CASE WHEN c.postal_code = postal THEN 0.6 ELSE 0.54 END::real
					   FROM crm.contacts c
					  WHERE want_contacts AND c.workspace_id = ws AND c.status < 'merged'
						AND (seen IS NULL OR c.owner = uid OR c.id = ANY (seen))
						AND c.postal_code IS NOT NULL AND c.postal_code COLLATE "C" >= postal AND c.postal_code COLLATE "C" < postal_end
					  ORDER BY c.postal_code COLLATE "C" LIMIT remaining)

					) h
					 WHERE h.id <> ALL (exclude_contacts)
					 ORDER BY h.id, h.score DESC) best
					 ORDER BY best.score DESC, best.label, best.id LIMIT remaining) b;
			hit_types := hit_types || more_types;
			hit_ids := hit_ids || more_ids;
			hit_labels := hit_labels || more_labels;
			hit_fields := hit_fields || more_fields;
			hit_values := hit_values || more_values;
			hit_scores := hit_scores || more_scores;
		END IF;
		-- each tier's scores are below the last's but for streets and places
		RETURN QUERY
		SELECT * FROM ROWS FROM (pg_catalog.unnest(hit_types), pg_catalog.unnest(hit_ids), pg_catalog.unnest(hit_labels),
								 pg_catalog.unnest(hit_fields), pg_catalog.unnest(hit_values), pg_catalog.unnest(hit_scores))
					AS h(object_type, id, label, field, value, score)
		 ORDER BY h.score DESC, h.label, h.id;
	ELSE
		-- fuzzy: each word of the term is matched against the workspace's
		-- dictionary of distinct words (pg_trgm similarity above
		-- pg_trgm.similarity_threshold, its trigram index); the best
		-- combinations of one matched word per term word (at most 8) are
		-- probes, each fetching up to lim records from the fields its first
		-- word occurs in.  Work depends on the dictionary and lim, not on
		-- how many records share a word.
		qwords := crm_hidden.search_words_of(term);
		IF pg_catalog.cardinality(qwords) = 0 THEN
			RETURN;
		END IF;
		FOREACH qw IN ARRAY qwords LOOP
			SELECT pg_catalog.array_agg(p.w ORDER BY p.s DESC, p.w), pg_catalog.array_agg(p.s ORDER BY p.s DESC, p.w)
			  INTO next_words, next_scores
			  FROM (SELECT pg_catalog.ltrim(c.w || ' ' || m.word) AS w, c.s + m.sim AS s
					  FROM ROWS FROM (pg_catalog.unnest(probe_words), pg_catalog.unnest(probe_scores)) c(w, s),
						   (SELECT d.word, similarity(d.word, qw) AS sim
							  FROM crm.search_words d
							 WHERE d.workspace_id = ws AND d.word % qw
							 GROUP BY d.word
							 ORDER BY 2 DESC, 1 LIMIT 8) m
					 ORDER BY 2 DESC, 1 LIMIT 8) p;
			-- a term word matching nothing only lowers the scores
			IF next_words IS NOT NULL THEN
				probe_words := next_words;
				probe_scores := next_scores;
			END IF;
		END LOOP;
		IF probe_words = ARRAY['']::text[] THEN
			RETURN;
		END IF;

		-- One query per (probe, field holding its first word), its patterns
		-- written as literals: the planner then knows from the column's
		-- statistics whether a word is common (a scan in table order stops
		-- after lim rows) or rare (the trigram index).  Score: the probe's
		-- mean similarity over the term's words (industries 0.8x); among
		-- equal scores the value closest to the whole term first.
		FOR probe IN
			SELECT p.w, (p.s / pg_catalog.cardinality(qwords))::real AS s, f.field
			  FROM ROWS FROM (pg_catalog.unnest(probe_words), pg_catalog.unnest(probe_scores)) p(w, s)
			  JOIN crm.search_words f ON f.workspace_id = ws AND f.word = pg_catalog.split_part(p.w, ' ', 1)
			 WHERE (f.field <= 2 AND want_contacts) OR (f.field >= 3 AND want_companies)
			 ORDER BY 2 DESC, 1, 3
		LOOP
			pats := '';
			FOREACH pw IN ARRAY pg_catalog.string_to_array(probe.w, ' ') LOOP
				pats := pats || pg_catalog.format(' AND %s ILIKE %L', col[probe.field], '%' || pw || '%');
			END LOOP;
			parts := parts || pg_catalog.format(
				'(SELECT %L::text AS object_type, r.id, %s AS label, %L::text AS field, %s AS value, %s::real AS score, '
				'similarity(%s, $1) AS closeness FROM %s r WHERE r.workspace_id = $2%s%s LIMIT $3)',
				CASE WHEN probe.field <= 2 THEN 'contact' ELSE 'company' END,
				CASE WHEN probe.field <= 2 THEN 'coalesce(r.name, r.email, r.phone)' ELSE 'r.name' END,
				fieldname[probe.field], col[probe.field],
				CASE WHEN probe.field = 5 THEN probe.s * 0.8 ELSE probe.s END,
				col[probe.field],
				CASE WHEN probe.field <= 2 THEN 'crm.contacts' ELSE 'crm.companies' END,
				CASE WHEN probe.field <= 2 THEN ' AND r.status < ''merged'' AND ($4 IS NULL OR r.owner = $5 OR r.id = ANY ($4))' ELSE '' END,
				pats);
		END LOOP;
		IF pg_catalog.cardinality(parts) = 0 THEN
			RETURN;
		END IF;
		RETURN QUERY EXECUTE
			'SELECT best.object_type, best.id, best.label, best.field, best.value, best.score FROM ('
			' SELECT DISTINCT ON (h.object_type, h.id) h.* FROM (' || pg_catalog.array_to_string(parts, ' UNION ALL ') || ') h'
			' ORDER BY h.object_type, h.id, h.score DESC, h.closeness DESC) best'
			' ORDER BY best.score DESC, best.closeness DESC, best.label, best.id LIMIT $3'
			USING term, ws, search.lim, seen, uid;
	END IF;
END;
$$;
COMMENT ON FUNCTION crm.search(text, text, text, integer) IS
	'ranked search over contact names, emails, phones, social profiles and places and company names, domains, industries; mode exact, prefix (typeahead) or fuzzy';

DO $$
BEGIN
	EXECUTE pg_catalog.format(
		'ALTER FUNCTION crm.search(text, text, text, integer) SET search_path = pg_catalog, %I, pg_temp',
		(SELECT n.nspname FROM pg_catalog.pg_extension e
		   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
		  WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trgm'));
END;
$$;

CREATE FUNCTION crm.tags(object text DEFAULT 'contact', prefix text DEFAULT '')
RETURNS TABLE (tag text, count bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	pat text := crm_hidden.like_escape(pg_catalog.lower(pg_catalog.btrim(coalesce(tags.prefix, '')))) || '%';
BEGIN
	IF tags.object = 'contact' THEN
		RETURN QUERY
		SELECT t, pg_catalog.count(*) FROM crm.contacts c, pg_catalog.unnest(c.tags) t
		 WHERE c.workspace_id = ws AND c.status < 'merged' AND t LIKE pat
		 GROUP BY t ORDER BY 2 DESC, 1;
	ELSIF tags.object = 'company' THEN
		RETURN QUERY
		SELECT t, pg_catalog.count(*) FROM crm.companies co, pg_catalog.unnest(co.tags) t
		 WHERE co.workspace_id = ws AND t LIKE pat
		 GROUP BY t ORDER BY 2 DESC, 1;
	ELSE
		RAISE EXCEPTION 'invalid tag object: "%"', coalesce(tags.object, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use contact or company.';
	END IF;
END;
$$;
COMMENT ON FUNCTION crm.tags(text, text) IS 'tags in use on contacts or companies, with how many carry each, most used first';
