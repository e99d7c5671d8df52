-- Importing contacts: inserts, updates, merges, in-batch de-duplication and
-- a report row for every input row.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset

SELECT crm.identify(email => 'ada@example.com', name => 'Ada') AS ada \gset
SELECT crm.identify(phone => '+44 20 7946 0958') AS phone_only \gset

-- a clean batch takes the set-based path
SELECT * FROM crm.import_contacts('[
	{"email": "ADA@example.com", "city": "London", "properties.plan": "pro"},
	{"email": "grace@example.com", "name": "Grace", "tags": "navy, COBOL", "lifecycle_stage": "lead"},
	{"identifier": "app-7", "name": "Zoé Ærø", "properties": {"score": 3}}
]');
SELECT name, email, city, tags, lifecycle_stage, properties FROM crm.contacts_live ORDER BY id;

-- within-batch duplicates, a row joining two existing contacts, bad rows
SELECT * FROM crm.import_contacts('[
	{"email": "alan@example.com", "name": "Alan"},
	{"email": "Alan@Example.com", "phone": "+1 202 555 0100"},
	{"email": "ada@example.com", "phone": "+44 20 7946 0958"},
	{"nickname": "no such key"},
	{"email": "not-an-email"},
	42,
	{"email": "", "phone": "", "name": "Empty cells"}
]');
SELECT id = :ada AS is_ada, name, email, phone, status FROM crm.contacts WHERE id IN (:ada, :phone_only) ORDER BY id;
SELECT name, email, phone FROM crm.contacts_live WHERE email LIKE 'alan%' OR name = 'Empty cells';

-- modes
SELECT * FROM crm.import_contacts('[{"email": "new@example.com"}, {"email": "grace@example.com"}]', 'insert');
SELECT * FROM crm.import_contacts('[{"email": "nobody@example.com"}, {"email": "grace@example.com", "city": "Arlington"}]', 'update');
SELECT * FROM crm.import_contacts('[]');

-- atomic: the first bad row raises and nothing is written
SELECT count(*) AS n_before FROM crm.contacts \gset
SELECT * FROM crm.import_contacts('[{"email": "atomic1@example.com"}, {"email": "atomic2@example.com", "shoe_size": 44}]', atomic => true);
SELECT * FROM crm.import_contacts('[{"email": "atomic1@example.com"}, {"email": "atomic2@example.com", "lifecycle_stage": "king"}]', atomic => true);
SELECT count(*) - :n_before AS contacts_written FROM crm.contacts;
-- a clean atomic batch goes through
SELECT * FROM crm.import_contacts('[{"email": "atomic3@example.com"}]', 'insert', atomic => true);

-- company and blocked: a company by domain (found, or created) or by exact name
-- (found, or created), linked as the primary company; blocked a boolean
INSERT INTO crm.companies (name, domain) VALUES ('Analytical Engines', 'engines.example');
SELECT * FROM crm.import_contacts('[
	{"email": "co1@example.com", "company": "https://www.Engines.example/about"},
	{"email": "co2@example.com", "company": "Difference Ltd", "blocked": true},
	{"email": "co3@example.com", "company": " Difference Ltd ", "blocked": "no"},
	{"email": "co4@example.com", "company": "newco.example", "blocked": "yes"},
	{"email": "co5@example.com", "company": ""}
]');
SELECT c.email, c.blocked, co.name AS company, co.domain, cc.is_primary
  FROM crm.contacts c LEFT JOIN crm.contact_companies cc ON cc.contact_id = c.id
  LEFT JOIN crm.companies co ON co.id = cc.company_id
 WHERE c.email LIKE 'co_@example.com' ORDER BY c.email, co.name;
SELECT name, domain FROM crm.companies ORDER BY id;
-- another company becomes the primary one; the old link stays, demoted
SELECT * FROM crm.import_contacts('[{"email": "co1@example.com", "company": "Difference Ltd", "blocked": false}]');
SELECT co.name AS company, cc.is_primary FROM crm.contact_companies cc JOIN crm.companies co ON co.id = cc.company_id
 WHERE cc.contact_id = (SELECT id FROM crm.contacts WHERE email = 'co1@example.com') ORDER BY co.name;
-- a bad blocked value is reported; the other rows (with their company) go in by the row path
SELECT * FROM crm.import_contacts('[{"email": "co6@example.com", "blocked": "maybe"},
	{"email": "co7@example.com", "company": "engines.example", "blocked": 1}]');
SELECT c.email, c.blocked, co.name AS company FROM crm.contacts c
  LEFT JOIN crm.contact_companies cc ON cc.contact_id = c.id AND cc.is_primary
  LEFT JOIN crm.companies co ON co.id = cc.company_id
 WHERE c.email IN ('co6@example.com', 'co7@example.com') ORDER BY c.email;
-- atomic: the bad value raises and nothing is written
SELECT * FROM crm.import_contacts('[{"email": "co8@example.com", "company": "Atomic Co"}, {"email": "co9@example.com", "blocked": "maybe"}]', atomic => true);
SELECT count(*) AS atomic_written FROM crm.companies WHERE name = 'Atomic Co';
-- (the companies module switched off: test/sql/import_jobs.sql, as a member)

-- as a frontend, with crm.contacts' statistics behind its rows (analysed
-- before the import): new rows only, then new rows and updates in one batch
-- (the bulk UPDATE indexes and analyses the caller's stage table first)
ANALYZE crm.contacts;
CREATE ROLE crm_import_app;
SELECT crm.grant_access('crm_import_app');
SET ROLE crm_import_app;
SELECT set_config('request.jwt.claims', '{"workspace_id": 1, "sub": "importer"}', false) IS NOT NULL AS claims;
SELECT action, count(*) FROM crm.import_contacts(
  (SELECT jsonb_agg(jsonb_build_object('email', 'bulk' || g || '@example.com', 'phone', '+44 20 7946 ' || lpad(g::text, 4, '0')))
     FROM generate_series(100, 399) g)) GROUP BY action;
SELECT action, count(*), count(DISTINCT contact_id) AS contacts FROM crm.import_contacts(
  (SELECT jsonb_agg(jsonb_build_object('email', 'bulk' || g || '@example.com', 'city', 'Leeds'))
     FROM generate_series(390, 409) g)) GROUP BY action ORDER BY action;
SELECT count(*) FILTER (WHERE city = 'Leeds') AS leeds, count(*) FILTER (WHERE phone IS NOT NULL) AS phones
  FROM crm.contacts WHERE email LIKE 'bulk%';
SELECT type, count(*), min(actor) AS actor FROM crm.events
 WHERE object_type = 'contact' AND object_id IN (SELECT id FROM crm.contacts WHERE email LIKE 'bulk%') GROUP BY type ORDER BY type;
RESET request.jwt.claims;
RESET ROLE;
DROP OWNED BY crm_import_app;
DROP ROLE crm_import_app;

-- bad calls
SELECT * FROM crm.import_contacts('{"email": "a@example.com"}');
SELECT * FROM crm.import_contacts(NULL);
SELECT * FROM crm.import_contacts('[]', 'replace');

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
