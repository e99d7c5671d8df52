--
-- Canonical forms (src/normalize.c, src/currency.c).  Each raises 22P02 with
-- the offending value and a hint on bad input.
--

-- The CHECK of a lower-case identifier column (a type, channel or system):
-- the regular expression it replaces ran on every row an UPDATE wrote.
CREATE FUNCTION crm_internal.is_identifier(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crm_is_identifier'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm_internal.is_identifier(text) IS
	'whether the value is a lower-case identifier: ^[a-z][a-z0-9_]{0,62}$';

CREATE FUNCTION crm.normalize_email(text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_normalize_email'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_email(text) IS 'trimmed, lower-cased email; error if malformed';

-- Phones go through libphonenumber (src/phone.cpp): STABLE, for a number in
-- national form is read in the workspace's default_country unless a country
-- is given.  Not STRICT: a NULL country means that default.
CREATE FUNCTION crm.normalize_phone(phone text, country text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_normalize_phone'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_phone(text, text) IS
	'E.164 phone (+ and digits) validated by libphonenumber; a national number is read in country, else the workspace''s default_country; error if invalid or ambiguous';

CREATE FUNCTION crm.normalize_domain(text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_normalize_domain'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_domain(text) IS 'bare lower-case domain: no scheme, www., port or path; error if malformed';

CREATE FUNCTION crm.normalize_currency(text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_normalize_currency'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_currency(text) IS 'upper-case ISO 4217 code; error if unknown';

CREATE FUNCTION crm.normalize_color(text) RETURNS text
	AS 'MODULE_PATHNAME', 'crm_normalize_color'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_color(text) IS 'lower-case #rrggbb; error if malformed';

CREATE FUNCTION crm.normalize_tags(text[]) RETURNS text[]
	AS 'MODULE_PATHNAME', 'crm_normalize_tags'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_tags(text[]) IS 'tags trimmed, lower-cased, without empties or duplicates, sorted';

CREATE FUNCTION crm.currency_exponent(text) RETURNS integer
	AS 'MODULE_PATHNAME', 'crm_currency_exponent'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.currency_exponent(text) IS 'ISO 4217 minor units of a currency (JPY 0, USD 2, BHD 3)';

CREATE FUNCTION crm.currencies(OUT code text, OUT exponent integer) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'crm_currencies'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 180;
COMMENT ON FUNCTION crm.currencies() IS 'the ISO 4217 codes crm accepts, with their minor units';

CREATE FUNCTION crm_internal.normalize_row() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_normalize_row'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.normalize_row() IS
	'BEFORE INSERT OR UPDATE row trigger; arguments are column:kind pairs (email, phone, domain, currency, color, country, tags, touch; modules, finite and max=N only check)';

-- a workspace's default_country must be one whose numbers libphonenumber knows
CREATE TRIGGER normalize BEFORE INSERT OR UPDATE ON crm.workspaces
	FOR EACH ROW EXECUTE FUNCTION crm_internal.normalize_row('default_country:country');
