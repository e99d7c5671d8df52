-- Companies: domain normalisation and uniqueness, links to contacts with
-- roles and one primary, and the counts view.  Own database: stable ids.
CREATE DATABASE crm_test_companies;
\c crm_test_companies
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- a URL, a mailbox or an upper-case host all reduce to the bare domain
INSERT INTO crm.companies (name, domain, industry, employees, plan, spend, tags) VALUES
	('Acme', 'https://www.Acme.com/about?ref=x', 'Manufacturing', 250, 'enterprise', 12000.50, '{Key Account, key account}'),
	('Globex', 'mailto:sales@globex.io', 'Software', 40, 'pro', 0, '{}'),
	('Initech', 'INITECH.CO.UK.', 'Consulting', NULL, NULL, NULL, '{}'),
	('No domain', '', NULL, NULL, NULL, NULL, '{}')
RETURNING id, name, domain, tags;
UPDATE crm.companies SET domain = 'http://initech.co.uk:8443/tps' WHERE id = 3 RETURNING domain;

-- four people to link later
INSERT INTO crm.contacts (name, email) VALUES
	('Ada', 'ada@acme.com'), ('Bob', 'bob@acme.com'), ('Cy', 'cy@globex.io'), ('Gone', 'gone@acme.com');
SELECT id, name FROM crm.contacts ORDER BY id;

-- one company per domain and workspace, however it is spelled
INSERT INTO crm.companies (name, domain) VALUES ('Acme again', 'acme.com');
INSERT INTO crm.companies (name, domain) VALUES ('Acme www', 'WWW.ACME.COM/');
-- companies without a domain are not limited
INSERT INTO crm.companies (name) VALUES ('No domain either') RETURNING id, domain;
-- another workspace may hold the same domain
SELECT crm.create_workspace('other', 'Other');
SET crm.workspace_id = 2;
INSERT INTO crm.companies (name, domain) VALUES ('Acme (other workspace)', 'acme.com') RETURNING workspace_id, domain;
INSERT INTO crm.contacts (name) VALUES ('Other person') RETURNING id AS other_person \gset
RESET crm.workspace_id;
SELECT id AS other_company FROM crm.companies WHERE workspace_id = 2 \gset

-- bad company columns: each an error naming the value, and nothing written
SELECT count(*) AS companies_before FROM crm.companies;
INSERT INTO crm.companies (name, domain) VALUES ('Bad', 'not a domain');
INSERT INTO crm.companies (name, domain) VALUES ('Bad', 'localhost');
INSERT INTO crm.companies (name, domain) VALUES ('Bad', 'https://');
INSERT INTO crm.companies (name, domain) VALUES ('Bad', '-acme-.com');
INSERT INTO crm.companies (name, domain) VALUES ('Bad', 'acme..com');
INSERT INTO crm.companies (name, domain) VALUES ('Bad', repeat('a', 64) || '.com');
UPDATE crm.companies SET domain = 'ftp://' WHERE id = 1;
\set VERBOSITY terse
INSERT INTO crm.companies (name) VALUES ('   ');
INSERT INTO crm.companies (name) VALUES (NULL);
INSERT INTO crm.companies (name, employees) VALUES ('Bad', -1);
INSERT INTO crm.companies (name, spend) VALUES ('Bad', -0.01);
INSERT INTO crm.companies (name, properties) VALUES ('Bad', '"text"');
\set VERBOSITY default
SELECT count(*) AS companies_after FROM crm.companies;
SELECT domain FROM crm.companies WHERE id = 1;

--
-- Links: a contact may belong to several companies, at most one primary.
--
SELECT crm.link_company(1, 1, 'CEO', true);
SELECT crm.link_company(1, 2, 'Advisor');
SELECT crm.link_company(2, 1, 'Engineer', true);
SELECT crm.link_company(3, 2, NULL, true);
SELECT crm.link_company(4, 1, 'Former');
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies ORDER BY 1, 2;
-- making another company primary demotes the old one
SELECT crm.link_company(1, 2, 'Board member', true);
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE contact_id = 1 ORDER BY 2;
-- re-linking without a role or flag keeps both
SELECT crm.link_company(1, 2);
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE contact_id = 1 ORDER BY 2;
-- is_primary false demotes explicitly
SELECT crm.link_company(1, 2, NULL, false);
SELECT contact_id, company_id, role, is_primary FROM crm.contact_companies WHERE contact_id = 1 ORDER BY 2;
SELECT crm.link_company(1, 2, NULL, true);
-- one statement making two links primary contradicts itself: refused
UPDATE crm.contact_companies SET is_primary = true WHERE contact_id = 1;
-- unlink
SELECT crm.unlink_company(1, 2);
SELECT crm.unlink_company(1, 2);

-- the counts view counts live contacts only
UPDATE crm.contacts SET status = 'deleted' WHERE id = 4;
SELECT name, domain, contact_count FROM crm.companies_with_counts WHERE workspace_id = 1 ORDER BY contact_count DESC, name;

-- bad links: missing ids, ids of another workspace; nothing written
SELECT count(*) AS links_before FROM crm.contact_companies;
SELECT crm.link_company(999, 1);
SELECT crm.link_company(1, 999);
SELECT crm.link_company(NULL, 1);
SELECT crm.link_company(1, NULL);
SELECT crm.link_company(:other_person, 1);
SELECT crm.link_company(1, :other_company);
SELECT crm.unlink_company(999, 1);
SELECT crm.unlink_company(1, :other_company);
-- the foreign key keeps a link inside one workspace even when written directly
INSERT INTO crm.contact_companies (contact_id, company_id) VALUES (1, :other_company);
SELECT count(*) AS links_after FROM crm.contact_companies;

-- deleting a company removes its links, and their removal is no event of
-- the contacts (the company's own event says it)
SELECT max(id) AS last_event FROM crm.events \gset
DELETE FROM crm.companies WHERE id = 2;
SELECT contact_id, company_id FROM crm.contact_companies ORDER BY 1, 2;
SELECT type, object_type FROM crm.events WHERE id > :last_event ORDER BY id;

-- The row path: a frontend role writing links and consents as plain rows
-- gets what crm.link_company, crm.unlink_company and crm.record_consent do,
-- the same rows and the same events.
CREATE ROLE crm_companies_app;
SELECT crm.grant_access('crm_companies_app');
INSERT INTO crm.contacts (name, email) VALUES ('By function', 'fn@example.com'), ('By rows', 'rows@example.com');
SELECT id AS fn_person FROM crm.contacts WHERE email = 'fn@example.com' \gset
SELECT id AS row_person FROM crm.contacts WHERE email = 'rows@example.com' \gset
INSERT INTO crm.companies (name, domain) VALUES ('First Co', 'first.example'), ('Second Co', 'second.example');
SELECT id AS first_co FROM crm.companies WHERE domain = 'first.example' \gset
SELECT id AS second_co FROM crm.companies WHERE domain = 'second.example' \gset
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.link_company(:fn_person, :first_co, 'buyer', true);
SELECT crm.link_company(:fn_person, :second_co, 'owner', true);
SELECT crm.record_consent(:fn_person, 'email', 'granted', 'signup form') IS NOT NULL AS recorded;
SET ROLE crm_companies_app;
INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary) VALUES (:row_person, :first_co, 'buyer', true);
-- a second primary link demotes the first instead of failing on the unique index
INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary) VALUES (:row_person, :second_co, 'owner', true);
INSERT INTO crm.contact_consents (contact_id, channel, status, source) VALUES (:row_person, 'email', 'granted', 'signup form');
RESET ROLE;
SELECT c.name AS contact, co.name AS company, cc.role, cc.is_primary
  FROM crm.contact_companies cc JOIN crm.contacts c ON c.id = cc.contact_id JOIN crm.companies co ON co.id = cc.company_id
 WHERE cc.contact_id IN (:fn_person, :row_person) ORDER BY 1, 2;
SELECT c.name AS contact, k.channel, k.status, k.source
  FROM crm.current_consents k JOIN crm.contacts c ON c.id = k.contact_id
 WHERE k.contact_id IN (:fn_person, :row_person) ORDER BY 1;
-- the same events for both contacts (payload without the contact's id)
SELECT c.name AS contact, e.type, e.payload - 'id' AS payload
  FROM crm.events e JOIN crm.contacts c ON c.id = e.object_id AND e.object_type = 'contact'
 WHERE e.id > :last_event ORDER BY 1, e.id;
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.unlink_company(:fn_person, :first_co);
SET ROLE crm_companies_app;
DELETE FROM crm.contact_companies WHERE contact_id = :row_person AND company_id = :first_co;
RESET ROLE;
SELECT c.name AS contact, e.type, e.payload - 'id' AS payload
  FROM crm.events e JOIN crm.contacts c ON c.id = e.object_id AND e.object_type = 'contact'
 WHERE e.id > :last_event ORDER BY 1, e.id;
-- a link written again unchanged is no change, so no event: crm.link_company's
-- re-link, a row update to the same values, PostgREST's upsert of the same row
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.link_company(:fn_person, :second_co);
SELECT crm.link_company(:fn_person, :second_co, 'owner', true);
SET ROLE crm_companies_app;
UPDATE crm.contact_companies SET role = 'owner' WHERE contact_id = :row_person AND company_id = :second_co;
INSERT INTO crm.contact_companies AS l (contact_id, company_id, role, is_primary) VALUES (:row_person, :second_co, 'owner', true)
ON CONFLICT (workspace_id, contact_id, company_id) DO UPDATE SET role = excluded.role, is_primary = excluded.is_primary;
-- a changed role is an event
UPDATE crm.contact_companies SET role = 'founder' WHERE contact_id = :row_person AND company_id = :second_co;
RESET ROLE;
SELECT c.name AS contact, e.type, e.payload - 'id' AS payload
  FROM crm.events e JOIN crm.contacts c ON c.id = e.object_id AND e.object_type = 'contact'
 WHERE e.id > :last_event ORDER BY 1, e.id;
-- bad input on the row path: a role or consent source over 2 kB (54000), nothing written
SELECT count(*) AS events_before FROM crm.events \gset
SET ROLE crm_companies_app;
UPDATE crm.contact_companies SET role = repeat('r', 2049) WHERE contact_id = :row_person;
INSERT INTO crm.contact_consents (contact_id, channel, status, source) VALUES (:row_person, 'sms', 'granted', repeat('s', 2049));
-- the consent history is append-only (0A000): a change is a new row
UPDATE crm.contact_consents SET status = 'revoked' WHERE contact_id = :row_person;
RESET ROLE;
SELECT count(*) = :events_before AS nothing_written FROM crm.events;
DROP OWNED BY crm_companies_app;

\c contrib_regression
DROP DATABASE crm_test_companies;
DROP ROLE crm_companies_app;
