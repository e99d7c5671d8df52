--
-- Merging companies (issue 17, item 1): src/merge_companies.c, and the
-- duplicate finder that proposes the pairs to merge.
--

CREATE FUNCTION crm.merge_companies(survivor bigint, duplicate bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_merge_companies'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.merge_companies(bigint, bigint) IS
	'merges the duplicate company into the survivor (re-parenting every row that points at it, then deleting it) and returns the survivor';

-- crm.merge_companies on the workspace's worker, as crm_hidden.merge_contacts_in
CREATE FUNCTION crm_hidden.merge_companies_in(workspace_id bigint, survivor bigint, duplicate bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_merge_companies_in'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm_hidden.merge_companies_in(bigint, bigint, bigint) IS
	'crm.merge_companies in workspace_id, the request''s workspace: what crm.merge_companies runs on a Citus worker for a role other than the owner';

CREATE FUNCTION crm.merge_companies_preview(survivor bigint, duplicate bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'crm_merge_companies_preview'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.merge_companies_preview(bigint, bigint) IS
	'what crm.merge_companies would do: the merged record and the rows that would move or be dropped; changes nothing';

-- Rows written for a company a merge deleted (a frontend holding its id
-- INSERTs a link or PATCHes a deal's company_id) land on the survivor, as
-- rows written for a merged contact do: this BEFORE trigger locks the
-- company (FOR KEY SHARE, which waits for a merge in progress) and, when it
-- is gone, follows the merge records.  A new table whose foreign key points
-- at companies attaches it the same way.
CREATE FUNCTION crm_internal.follow_merged_company() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_follow_merged_company'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.follow_merged_company() IS
	'BEFORE INSERT OR UPDATE row trigger; argument: the company id column; replaces a company a merge deleted by its survivor';

-- The same following for a function given a company id (crm.link_company,
-- crm.unlink_company): the live company, locked, or P0002.
CREATE FUNCTION crm_hidden.resolve_company(company_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crm_resolve_company'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION crm_hidden.resolve_company(bigint) IS
	'the live company of the current workspace an id stands for (itself, or the survivor of the merges that deleted it), locked FOR KEY SHARE; no_data_found when there is none';

CREATE TRIGGER contact_companies_follow_merged_company BEFORE INSERT OR UPDATE OF company_id ON crm.contact_companies
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_company('company_id');
CREATE TRIGGER activities_follow_merged_company BEFORE INSERT OR UPDATE OF company_id ON crm.activities
	FOR EACH ROW EXECUTE FUNCTION crm_internal.follow_merged_company('company_id');

-- A company's name without its legal form and punctuation: "Umbrella
-- Corp." and "Umbrella Corporation" are both "umbrella".  The legal forms
-- are the words most names share: they would make every name similar.
CREATE FUNCTION crm_internal.company_name_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.btrim(pg_catalog.regexp_replace(
	pg_catalog.regexp_replace(pg_catalog.lower(name), '[^[:alnum:]]+', ' ', 'g'),
	'\m(the|inc|incorporated|llc|llp|ltd|limited|gmbh|corp|corporation|co|company|group|holding|holdings|plc|ag|sa|sas|sarl|srl|spa|bv|nv|oy|ab|as|pty|kg)\M', ' ', 'g'));
COMMENT ON FUNCTION crm_internal.company_name_key(text) IS
	'a company name lower-cased, without punctuation and legal forms (inc, llc, gmbh, ...): what crm.company_duplicates compares';

-- The name pairs: names compared only within blocks (src/company_duplicates.c).
CREATE FUNCTION crm_internal.company_name_pairs(ids bigint[], keys text[], threshold real)
RETURNS TABLE (a bigint, b bigint, sim real)
	AS 'MODULE_PATHNAME', 'crm_company_name_pairs'
	LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION crm_internal.company_name_pairs(bigint[], text[], real) IS
	'pairs of ids (a < b) whose name keys share a word''s first or last three characters, with their trigram similarity (pg_trgm''s) when it is threshold or more; each pair once';

-- Pairs found three ways, each cheap on a large workspace: name keys
-- compared within blocks (crm_internal.company_name_pairs), domains
-- grouped by their registrable root, contacts linked to both.  The score is
-- a noisy-or of the three: name similarity, 0.8 for one root domain, and
-- each shared contact halving what is left.
-- SECURITY DEFINER: it reads every company of the workspace the caller may
-- read (companies have no owner-based privacy) as the owner, whose reads
-- the policies do not slow, and counts shared contacts only for callers who
-- see every contact.
CREATE FUNCTION crm.company_duplicates(lim integer DEFAULT 100)
RETURNS TABLE (company_a bigint, company_b bigint, score real, reasons text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint;
	all_contacts boolean;
	ids bigint[];
	keys text[];
BEGIN
	PERFORM crm_internal.require_caller_privilege('crm.companies', 'SELECT');
	ws := crm_internal.module_workspace('companies');
	all_contacts := crm_internal.privacy_owned(ws) IS NULL;
	IF company_duplicates.lim IS NULL OR company_duplicates.lim NOT BETWEEN 1 AND 10000 THEN
		RAISE EXCEPTION 'invalid limit: %', coalesce(company_duplicates.lim::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a limit between 1 and 10000.';
	END IF;
	SELECT pg_catalog.array_agg(c.id ORDER BY c.id), pg_catalog.array_agg(crm_internal.company_name_key(c.name) ORDER BY c.id)
	  INTO ids, keys
	  FROM crm.companies c WHERE c.workspace_id = ws;
	RETURN QUERY
	WITH names AS (
		SELECT k.a, k.b, k.sim FROM crm_internal.company_name_pairs(ids, keys, 0.5) k
	), roots AS (
		SELECT c.id, CASE
				   WHEN pg_catalog.cardinality(p.l) >= 3 AND pg_catalog.length(p.l[pg_catalog.cardinality(p.l) - 1]) <= 3
						AND pg_catalog.length(p.l[pg_catalog.cardinality(p.l)]) = 2
				   THEN pg_catalog.array_to_string(p.l[pg_catalog.cardinality(p.l) - 2:], '.')
				   ELSE pg_catalog.array_to_string(p.l[pg_catalog.cardinality(p.l) - 1:], '.') END AS root
		  FROM crm.companies c, LATERAL (SELECT pg_catalog.string_to_array(c.domain, '.') AS l) p
		 WHERE c.workspace_id = ws AND c.domain IS NOT NULL
	), domains AS (
		-- grouped by hashing, not a self-join: a join on the root sorted every root twice
		SELECT x.id AS a, y.id AS b, g.root
		  FROM (SELECT r.root, pg_catalog.array_agg(r.id) AS ids FROM roots r
				 GROUP BY r.root HAVING pg_catalog.count(*) > 1) g,
			   LATERAL pg_catalog.unnest(g.ids) x(id), LATERAL pg_catalog.unnest(g.ids) y(id)
		 WHERE y.id > x.id
	), shared AS (
		SELECT x.company_id AS a, y.company_id AS b, pg_catalog.count(*) AS n
		  FROM crm.contact_companies x
		  JOIN crm.contact_companies y ON y.workspace_id = ws AND y.contact_id = x.contact_id
									  AND y.company_id > x.company_id
		 WHERE x.workspace_id = ws AND all_contacts
		 GROUP BY 1, 2
	), pairs AS (
		SELECT p.a, p.b, pg_catalog.max(p.sim) AS sim, pg_catalog.max(p.root) AS root, pg_catalog.max(p.n) AS n
		  FROM (SELECT a, b, sim, NULL::text AS root, NULL::bigint AS n FROM names
				UNION ALL SELECT a, b, NULL, root, NULL FROM domains
				UNION ALL SELECT a, b, NULL, NULL, n FROM shared) p
		 GROUP BY p.a, p.b
	), best AS (
		-- the score in float8 (0.5 ^ n exactly as the numeric power gave it),
		-- the reasons' text only for the pairs kept
		SELECT p.a, p.b, p.sim, p.root, p.n,
			   pg_catalog.round((1 - (1 - coalesce(p.sim, 0)) * CASE WHEN p.root IS NULL THEN 1 ELSE 0.2::float8 END
								 * pg_catalog.power(0.5::float8, coalesce(p.n, 0)))::numeric, 3)::real AS score
		  FROM pairs p
		 ORDER BY 6 DESC, p.a, p.b
		 LIMIT company_duplicates.lim
	)
	SELECT q.a, q.b, q.score,
		   ARRAY_REMOVE(ARRAY[
			   CASE WHEN q.root IS NOT NULL THEN pg_catalog.format('same domain %s', q.root) END,
			   CASE WHEN q.sim IS NOT NULL THEN pg_catalog.format('similar names (%s)', pg_catalog.round(q.sim::numeric, 2)) END,
			   CASE WHEN q.n IS NOT NULL THEN pg_catalog.format('%s shared contact%s', q.n, CASE WHEN q.n > 1 THEN 's' ELSE '' END) END],
			   NULL)
	  FROM best q
	 ORDER BY q.score DESC, q.a, q.b;
END;
$$;
COMMENT ON FUNCTION crm.company_duplicates(integer) IS
	'likely duplicate companies, best first: pairs with one domain root, similar names (trigram) or shared contacts, with a score and the reasons';
