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
