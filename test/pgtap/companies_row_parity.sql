-- One path for companies: the same companies and links in two workspaces,
-- changed once as the owner through the functions (crm.link_company,
-- crm.unlink_company; companies themselves have no functions, so the owner
-- writes their rows) and once as plain rows by a role granted with
-- crm.grant_access under PostgREST's claims, give the same companies
-- (normalised domains, the domain upsert), the same links (the previous
-- primary demoted), the same contact counts and the same events, step by step.
BEGIN;
SELECT plan(10);

\set app crm_companies_parity_app
\set slug coparity
\ir parity_setup.psql

CREATE FUNCTION pg_temp.seed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@coparity.example'), ('Bob', 'bob@coparity.example') $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.seed();
SELECT pg_temp.use(r) FROM ws; SELECT pg_temp.seed();

-- a workspace's companies with their live contact counts, by name (ids differ)
CREATE FUNCTION pg_temp.companies(w bigint) RETURNS TABLE (name text, domain text, industry text, plan text, tags text[],
														   properties jsonb, contact_count bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT c.name, c.domain, c.industry, c.plan, c.tags, c.properties, c.contact_count
	  FROM crm.companies_with_counts c WHERE c.workspace_id = w ORDER BY c.name;
END $$;
-- its links: contact, company, role, primary
CREATE FUNCTION pg_temp.links(w bigint) RETURNS TABLE (contact text, company text, role text, is_primary boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT p.name, co.name, l.role, l.is_primary
	  FROM crm.contact_companies l
	  JOIN crm.contacts p ON p.workspace_id = l.workspace_id AND p.id = l.contact_id
	  JOIN crm.companies co ON co.workspace_id = l.workspace_id AND co.id = l.company_id
	 WHERE l.workspace_id = w ORDER BY 1, 2;
END $$;
-- its events since the mark: type, the object's and the linked company's
-- names, the payload without ids and times
CREATE FUNCTION pg_temp.events(w bigint) RETURNS TABLE (type text, object text, company text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT e.type, coalesce(p.name, co.name, e.payload #>> '{changes,name}'), lc.name,
		   e.payload - 'id' - 'company_id' #- '{changes,updated_at}'
	  FROM crm.events e
	  LEFT JOIN crm.contacts p ON e.object_type = 'contact' AND p.workspace_id = e.workspace_id AND p.id = e.object_id
	  LEFT JOIN crm.companies co ON e.object_type = 'company' AND co.workspace_id = e.workspace_id AND co.id = e.object_id
	  LEFT JOIN crm.companies lc ON lc.workspace_id = e.workspace_id AND lc.id = (e.payload ->> 'company_id')::bigint
	 WHERE e.workspace_id = w AND e.object_type IN ('contact', 'company') AND e.id > (SELECT id FROM mark)
	 ORDER BY e.id;
END $$;
CREATE FUNCTION pg_temp.same(step text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT results_eq(format('SELECT * FROM pg_temp.companies(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.companies(%s)', (SELECT f FROM ws)), step || ': the same companies')
	UNION ALL
	SELECT results_eq(format('SELECT * FROM pg_temp.links(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.links(%s)', (SELECT f FROM ws)), step || ': the same links') $$;
CREATE FUNCTION pg_temp.id(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.contacts WHERE workspace_id = w AND name = n $$;
CREATE FUNCTION pg_temp.company(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.companies WHERE workspace_id = w AND name = n $$;

-- 1. companies: inserted with raw domains and tags, then the domain upsert
-- a frontend expresses with ON CONFLICT (workspace_id, domain), given the
-- domain as typed (it matches once normalised)
CREATE FUNCTION pg_temp.companies_written() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.companies (name, domain, industry, tags) VALUES
		('Acme', 'https://www.Acme.example/about', 'Manufacturing', '{" B2B", vip, VIP}'),
		('Shop', 'SHOP.example', NULL, '{}'),
		('Gone', 'gone.example', NULL, '{}');
	INSERT INTO crm.companies AS c (name, domain, industry, plan) VALUES ('Acme Inc', 'http://acme.example:8080', 'Robotics', 'pro')
	ON CONFLICT (workspace_id, domain) DO UPDATE SET industry = excluded.industry, plan = excluded.plan;
	INSERT INTO crm.companies AS c (name, domain, industry) VALUES ('Initech', 'WWW.initech.example', 'Software')
	ON CONFLICT (workspace_id, domain) DO UPDATE SET industry = excluded.industry $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.companies_written();
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_companies_parity_app;
SELECT pg_temp.companies_written();
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('companies and the domain upsert');

-- 2. links: a primary link, a second one, then that one made primary (the
-- first is demoted), the same link written again unchanged, a link of Bob
SELECT pg_temp.use(f) FROM ws;
SELECT crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Acme'), 'cto', true),
	   crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Shop'), 'advisor'),
	   crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Shop'), NULL, true),
	   crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Shop')),
	   crm.link_company(pg_temp.id(f, 'Bob'), pg_temp.company(f, 'Gone'), 'buyer', false),
	   crm.link_company(pg_temp.id(f, 'Bob'), pg_temp.company(f, 'Acme'), 'buyer') FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_companies_parity_app;
INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary)
SELECT pg_temp.id(r, 'Ada'), pg_temp.company(r, 'Acme'), 'cto', true FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.contact_companies (contact_id, company_id, role)
SELECT pg_temp.id(r, 'Ada'), pg_temp.company(r, 'Shop'), 'advisor' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
UPDATE crm.contact_companies SET is_primary = true
 WHERE contact_id = (SELECT pg_temp.id(r, 'Ada') FROM ws) AND company_id = (SELECT pg_temp.company(r, 'Shop') FROM ws);
-- the unchanged link again, as PostgREST's upsert (Prefer: resolution=merge-duplicates) sends it
INSERT INTO crm.contact_companies AS l (contact_id, company_id, role, is_primary)
SELECT pg_temp.id(r, 'Ada'), pg_temp.company(r, 'Shop'), 'advisor', true FROM ws
ON CONFLICT (workspace_id, contact_id, company_id) DO UPDATE SET role = excluded.role, is_primary = excluded.is_primary;
INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary)
SELECT pg_temp.id(r, 'Bob'), pg_temp.company(r, 'Gone'), 'buyer', false FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.contact_companies (contact_id, company_id, role)
SELECT pg_temp.id(r, 'Bob'), pg_temp.company(r, 'Acme'), 'buyer' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('links');

-- 3. an unlink, an update of a company, a company deleted with its link
SELECT pg_temp.use(f) FROM ws;
SELECT crm.unlink_company(pg_temp.id(f, 'Bob'), pg_temp.company(f, 'Acme')),
	   crm.unlink_company(pg_temp.id(f, 'Bob'), pg_temp.company(f, 'Shop')) FROM ws;
UPDATE crm.companies SET plan = 'enterprise', tags = '{Key}' WHERE id = (SELECT pg_temp.company(f, 'Shop') FROM ws);
DELETE FROM crm.companies WHERE id = (SELECT pg_temp.company(f, 'Gone') FROM ws);
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_companies_parity_app;
DELETE FROM crm.contact_companies
 WHERE contact_id = (SELECT pg_temp.id(r, 'Bob') FROM ws) AND company_id = (SELECT pg_temp.company(r, 'Acme') FROM ws);
DELETE FROM crm.contact_companies
 WHERE contact_id = (SELECT pg_temp.id(r, 'Bob') FROM ws) AND company_id = (SELECT pg_temp.company(r, 'Shop') FROM ws);
UPDATE crm.companies SET plan = 'enterprise', tags = '{Key}' WHERE id = (SELECT pg_temp.company(r, 'Shop') FROM ws);
DELETE FROM crm.companies WHERE id = (SELECT pg_temp.company(r, 'Gone') FROM ws);
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('unlink, update, delete');

-- the events of every step, in order
SELECT results_eq(format('SELECT * FROM pg_temp.events(%s)', (SELECT r FROM ws)),
				  format('SELECT * FROM pg_temp.events(%s)', (SELECT f FROM ws)), 'all steps: the same events');
SELECT is((SELECT count(*) FROM pg_temp.events((SELECT r FROM ws)) WHERE type = 'CRM_CONTACT_UPDATED' AND object = 'Ada'),
		  4::bigint, 'Ada''s three link writes and one demotion are events; the unchanged link written again is none');
SELECT is((SELECT string_agg(coalesce(object, '-') || ':' || coalesce(company, '-'), ',') FROM pg_temp.events((SELECT r FROM ws))
			 WHERE payload ? 'unlinked' OR type = 'CRM_COMPANY_DELETED'),
		  'Bob:Acme,-:-', 'one unlink event; the deleted company''s link went with it, without an event of its own');
SELECT is((SELECT count(*) FROM pg_temp.events((SELECT r FROM ws)) WHERE type = 'CRM_COMPANY_UPDATED'),
		  2::bigint, 'the upsert that updated Acme and the plan change of Shop are the company updates on the row path too');

SELECT * FROM finish();
ROLLBACK;
