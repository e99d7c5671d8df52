-- One path for contacts: the same people in two workspaces, changed once
-- through the functions (crm.delete_contact, crm.record_consent,
-- crm.link_company, crm.identify) as the owner and once as plain rows by a
-- role granted with crm.grant_access under PostgREST's claims, give the same
-- rows (released keys and stamps included), the same links and consents and
-- the same events, step by step.
BEGIN;
SELECT plan(8);

\set app crm_contacts_parity_app
\set slug cparity
\ir parity_setup.psql

CREATE FUNCTION pg_temp.seed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.example'), ('Shop', 'shop.example');
	INSERT INTO crm.contacts (name, email, phone) VALUES
		('Ada', 'ada@parity.example', '+44 20 7946 0001'), ('Bob', 'bob@parity.example', NULL),
		('Cy', 'cy@parity.example', NULL) $$;
SELECT pg_temp.use(f) FROM ws; SELECT pg_temp.seed();
SELECT pg_temp.use(r) FROM ws; SELECT pg_temp.seed();

-- a workspace's contacts, links and consents, by name (ids differ)
CREATE FUNCTION pg_temp.state(w bigint) RETURNS TABLE (name text, email text, phone text, status text, stamped boolean,
													   released jsonb, links text, consents text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT c.name, c.email, c.phone, c.status::text, c.deleted_at IS NOT NULL, c.released_keys,
		   (SELECT string_agg(co.name || CASE WHEN l.is_primary THEN '*' ELSE '' END, ',' ORDER BY co.name)
			  FROM crm.contact_companies l JOIN crm.companies co ON co.workspace_id = l.workspace_id AND co.id = l.company_id
			 WHERE l.workspace_id = w AND l.contact_id = c.id),
		   (SELECT string_agg(s.channel || ':' || s.status, ',' ORDER BY s.channel)
			  FROM crm.current_consents s WHERE s.workspace_id = w AND s.contact_id = c.id)
	  FROM crm.contacts c WHERE c.workspace_id = w ORDER BY c.name;
END $$;
-- its events since the mark: type, the contact's name, the payload without ids and times
CREATE FUNCTION pg_temp.events(w bigint) RETURNS TABLE (type text, contact text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY SELECT e.type, c.name, e.payload - 'id' - 'company_id' #- '{changes,deleted_at}' #- '{changes,updated_at}'
	  FROM crm.events e LEFT JOIN crm.contacts c ON c.workspace_id = e.workspace_id AND c.id = e.object_id
	 WHERE e.workspace_id = w AND e.object_type = 'contact' AND e.id > (SELECT id FROM mark)
	 ORDER BY e.id;
END $$;
CREATE FUNCTION pg_temp.same(step text) RETURNS text LANGUAGE sql AS $$
	SELECT results_eq(format('SELECT * FROM pg_temp.state(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.state(%s)', (SELECT f FROM ws)), step || ': the same contacts') $$;
CREATE FUNCTION pg_temp.same_events(step text) RETURNS text LANGUAGE sql AS $$
	SELECT results_eq(format('SELECT * FROM pg_temp.events(%s)', (SELECT r FROM ws)),
					  format('SELECT * FROM pg_temp.events(%s)', (SELECT f FROM ws)), step || ': the same events') $$;
CREATE FUNCTION pg_temp.id(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.contacts WHERE workspace_id = w AND name = n $$;
CREATE FUNCTION pg_temp.company(w bigint, n text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM crm.companies WHERE workspace_id = w AND name = n $$;

-- 1. links: a primary link, then a second primary one that demotes the first
SELECT pg_temp.use(f) FROM ws;
SELECT crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Acme'), NULL, true),
	   crm.link_company(pg_temp.id(f, 'Ada'), pg_temp.company(f, 'Shop'), NULL, true) FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
-- the frontend's workspace comes from its token alone
SELECT set_config('request.jwt.claims', json_build_object('workspace_id', r, 'sub', 'parity')::text, true) FROM ws;
SELECT set_config('crm.workspace_id', '', true);
SET LOCAL ROLE crm_contacts_parity_app;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT pg_temp.id(r, 'Ada'), pg_temp.company(r, 'Acme'), true FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT pg_temp.id(r, 'Ada'), pg_temp.company(r, 'Shop'), true FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('links');

-- 2. consents: an append-only history either way
SELECT pg_temp.use(f) FROM ws;
SELECT crm.record_consent(pg_temp.id(f, 'Bob'), 'email', 'granted', 'form', '2024-01-01'),
	   crm.record_consent(pg_temp.id(f, 'Bob'), 'email', 'revoked', 'link', '2024-02-01') FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_contacts_parity_app;
INSERT INTO crm.contact_consents (contact_id, channel, status, source, recorded_at)
SELECT pg_temp.id(r, 'Bob'), 'email', 'granted', 'form', '2024-01-01' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
INSERT INTO crm.contact_consents (contact_id, channel, status, source, recorded_at)
SELECT pg_temp.id(r, 'Bob'), 'email', 'revoked', 'link', '2024-02-01' FROM ws
	RETURNING 1; -- Citus writes the rows by statements the policies check, not by COPY
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('consents');

-- 3. the soft delete: crm.delete_contact(id) and UPDATE ... SET status = 'deleted'
SELECT pg_temp.use(f) FROM ws;
SELECT crm.delete_contact(pg_temp.id(f, 'Ada')) FROM ws;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_contacts_parity_app;
UPDATE crm.contacts SET status = 'deleted' WHERE id = (SELECT pg_temp.id(r, 'Ada') FROM ws);
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('soft delete');

-- 4. the released email is free again: crm.identify and an upsert on it
SELECT pg_temp.use(f) FROM ws;
SELECT crm.identify(email => 'ada@parity.example', name => 'Ada II');
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_contacts_parity_app;
INSERT INTO crm.contacts (name, email) VALUES ('Ada II', 'ada@parity.example')
ON CONFLICT (workspace_id, email) DO UPDATE SET name = coalesce(crm.contacts.name, excluded.name);
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('a released key taken again');

-- 5. the restore: the released keys come back where they are free
SELECT pg_temp.use(f) FROM ws;
UPDATE crm.contacts SET status = 'active' WHERE id = (SELECT pg_temp.id(f, 'Cy') FROM ws);
UPDATE crm.contacts SET status = 'deleted' WHERE id = (SELECT pg_temp.id(f, 'Cy') FROM ws);
UPDATE crm.contacts SET status = 'active' WHERE id = (SELECT pg_temp.id(f, 'Cy') FROM ws);
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.as_frontend();
SET LOCAL ROLE crm_contacts_parity_app;
UPDATE crm.contacts SET status = 'active' WHERE id = (SELECT pg_temp.id(r, 'Cy') FROM ws);
UPDATE crm.contacts SET status = 'deleted' WHERE id = (SELECT pg_temp.id(r, 'Cy') FROM ws);
UPDATE crm.contacts SET status = 'active' WHERE id = (SELECT pg_temp.id(r, 'Cy') FROM ws);
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT pg_temp.same('restore');
SELECT is((SELECT email FROM crm.contacts c, ws WHERE c.workspace_id = ws.r AND c.name = 'Cy'), 'cy@parity.example',
		  'the restored contact has its email back');

-- the events of every step, in order
SELECT pg_temp.same_events('all steps');
SELECT is((SELECT string_agg(contact, ',' ORDER BY contact) FROM pg_temp.events((SELECT r FROM ws)) WHERE type = 'CRM_CONTACT_DELETED'), 'Ada,Cy',
		  'each soft delete is a CRM_CONTACT_DELETED event on the row path too');

SELECT * FROM finish();
ROLLBACK;
