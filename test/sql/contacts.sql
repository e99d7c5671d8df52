-- Contacts: normalisation, uniqueness among live contacts, consents and
-- external ids.  Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_contacts;
\c crm_test_contacts
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- email trimmed and lower-cased, phone to "+" and digits, tags cleaned
INSERT INTO crm.contacts (name, email, phone, identifier, city, country, lifecycle_stage, tags)
VALUES ('Ada Lovelace', '  Ada@Example.COM ', '+44 (20) 7946-0958', 'app-1', 'London', 'GB', 'lead',
        '{" VIP", vip, Newsletter, ""}')
RETURNING id, email, phone, tags, status, identity_source, conversation_count;
-- blank optional fields are stored as NULL
INSERT INTO crm.contacts (name, email, phone) VALUES ('Blank', '  ', '')
RETURNING id, email IS NULL AS no_email, phone IS NULL AS no_phone;
-- an update re-normalises only what changed and moves updated_at
UPDATE crm.contacts SET phone = '0044 20 7946 0000', tags = '{Customer,VIP}' WHERE id = 1
RETURNING email, phone, tags, updated_at >= created_at AS touched;

-- email is unique per workspace whatever its spelling
INSERT INTO crm.contacts (name, email) VALUES ('Ada again', 'ADA@example.com');
-- phone, identifier and verified_id likewise
INSERT INTO crm.contacts (name, phone) VALUES ('Same phone', '+44 20 7946 0000');
INSERT INTO crm.contacts (name, identifier) VALUES ('Same identifier', 'app-1');
UPDATE crm.contacts SET verified_id = 'sub-1' WHERE id = 1;
INSERT INTO crm.contacts (name, verified_id) VALUES ('Same sub', 'sub-1');
-- another workspace may use the same email
SELECT crm.create_workspace('other', 'Other');
SET crm.workspace_id = 2;
INSERT INTO crm.contacts (name, email) VALUES ('Ada elsewhere', 'ada@example.com') RETURNING id AS elsewhere \gset
SELECT workspace_id, email FROM crm.contacts WHERE id = :elsewhere;
RESET crm.workspace_id;

-- archived contacts are live and keep their keys
UPDATE crm.contacts SET status = 'archived' WHERE id = 1;
INSERT INTO crm.contacts (name, email) VALUES ('Ada twin', 'ada@example.com');
-- a soft delete is a row update: stamped, its keys released into released_keys
UPDATE crm.contacts SET status = 'deleted' WHERE id = 1
RETURNING status, deleted_at IS NOT NULL AS stamped, email, phone, identifier, verified_id, released_keys;
SELECT type, payload #- '{changes,deleted_at}' AS payload FROM crm.events
 WHERE object_type = 'contact' AND object_id = 1 ORDER BY id DESC LIMIT 2;
INSERT INTO crm.contacts (name, email, phone, identifier, verified_id)
VALUES ('Ada reborn', 'ada@example.com', '+44 20 7946 0000', 'app-1', 'sub-1')
RETURNING id AS reborn, email, status \gset
SELECT :'email' AS email, :'status' AS status;
-- merged is the work of crm.merge_contacts alone, which releases the duplicate's keys
INSERT INTO crm.contacts (name, email) VALUES ('Merged away', 'merged@example.com') RETURNING id AS merged_away \gset
UPDATE crm.contacts SET status = 'merged', merged_into = :reborn WHERE id = :merged_away;
SELECT crm.merge_contacts(:reborn, :merged_away);
SELECT status, merged_into = :reborn AS into_reborn, email, released_keys FROM crm.contacts WHERE id = :merged_away;
INSERT INTO crm.contacts (name, email) VALUES ('New owner of the email', 'merged@example.com') RETURNING name, email;
-- and takes the status for good: no way back, no deletion, no key
UPDATE crm.contacts SET status = 'active' WHERE id = :merged_away;
UPDATE crm.contacts SET status = 'deleted' WHERE id = :merged_away;
UPDATE crm.contacts SET email = 'again@example.com' WHERE id = :merged_away;
-- a deleted contact holds no key either
UPDATE crm.contacts SET phone = '+1 202 555 0100' WHERE id = 1;
-- restored, it takes its keys back: not while a live contact holds one ...
UPDATE crm.contacts SET status = 'active' WHERE id = 1;
-- ... but once they are free
UPDATE crm.contacts SET status = 'deleted' WHERE id = :reborn;
UPDATE crm.contacts SET status = 'active' WHERE id = 1
RETURNING status, deleted_at, email, phone, identifier, verified_id, released_keys;
SELECT name, status FROM crm.contacts_live WHERE workspace_id = 1 ORDER BY id;
SELECT name, status, released_keys FROM crm.contacts WHERE workspace_id = 1 AND status >= 'merged' ORDER BY id;

-- merged requires merged_into and vice versa (terse: DETAIL shows timestamps)
\set VERBOSITY terse
UPDATE crm.contacts SET status = 'merged' WHERE id = 2;
UPDATE crm.contacts SET merged_into = :reborn WHERE id = 2;
\set VERBOSITY default
UPDATE crm.contacts SET status = 'merged', merged_into = :elsewhere WHERE id = 2;
-- a contact is inserted live, and is somebody
INSERT INTO crm.contacts (name, status, merged_into) VALUES ('Born merged', 'merged', 1);
INSERT INTO crm.contacts (name, status) VALUES ('Born deleted', 'deleted');
INSERT INTO crm.contacts DEFAULT VALUES;
INSERT INTO crm.contacts (city, tags) VALUES ('Paris', '{vip}');
UPDATE crm.contacts SET name = NULL WHERE id = 2;

--
-- Upserts: the unique keys are plain, so ON CONFLICT can name them
-- (PostgREST: POST /contacts?on_conflict=workspace_id,email with
-- Prefer: resolution=merge-duplicates).  The key is matched as stored.
--
INSERT INTO crm.contacts (name, email, city) VALUES ('Ada by upsert', '  ADA@Example.com', 'Paris')
ON CONFLICT (workspace_id, email) DO UPDATE SET name = excluded.name, city = excluded.city
RETURNING id, name, email, city;
INSERT INTO crm.contacts (name, phone) VALUES ('Phone by upsert', '+44 (20) 7946-0000')
ON CONFLICT (workspace_id, phone) DO UPDATE SET name = excluded.name
RETURNING id, name, phone;
INSERT INTO crm.contacts (name, identifier) VALUES ('New by upsert', 'app-2')
ON CONFLICT (workspace_id, identifier) DO UPDATE SET name = excluded.name
RETURNING name, identifier;
INSERT INTO crm.contacts (name, identifier) VALUES ('App 2 renamed', 'app-2')
ON CONFLICT (workspace_id, identifier) DO UPDATE SET name = excluded.name
RETURNING name, identifier;

-- bad column values: each an error naming the value, and nothing written
SELECT count(*) AS contacts_before FROM crm.contacts;
INSERT INTO crm.contacts (email) VALUES ('not-an-email');
INSERT INTO crm.contacts (email) VALUES ('ada@localhost');
INSERT INTO crm.contacts (email) VALUES ('a b@example.com');
INSERT INTO crm.contacts (phone) VALUES ('call me maybe');
INSERT INTO crm.contacts (phone) VALUES ('12');
INSERT INTO crm.contacts (tags) VALUES (ARRAY[repeat('é', 80)]);
INSERT INTO crm.contacts (lifecycle_stage) VALUES ('prospect');
INSERT INTO crm.contacts (status) VALUES ('gone');
INSERT INTO crm.contacts (identity_source) VALUES ('guessed');
\set VERBOSITY terse
INSERT INTO crm.contacts (identifier) VALUES ('');
INSERT INTO crm.contacts (verified_id) VALUES ('');
INSERT INTO crm.contacts (name, properties) VALUES ('Listed', '[1, 2]');
\set VERBOSITY default
-- one bad row fails the whole statement
INSERT INTO crm.contacts (email) VALUES ('good@example.com'), ('bad@');
UPDATE crm.contacts SET email = 'broken' WHERE id = 2;
SELECT count(*) AS contacts_after FROM crm.contacts;
SELECT email FROM crm.contacts WHERE id = 2;

--
-- Consents: an append-only history; the newest row per channel is current.
--
SELECT crm.record_consent(2, 'email', 'granted', 'signup form', '2024-01-01 10:00+00');
SELECT crm.record_consent(2, 'email', 'revoked', 'unsubscribe link', '2024-03-01 10:00+00');
SELECT crm.record_consent(2, 'sms', 'granted', 'checkout', '2024-02-01 10:00+00');
-- a late-arriving older record does not override the newer one
SELECT crm.record_consent(2, 'sms', 'revoked', 'import', '2023-06-01 10:00+00');
SELECT channel, status, source, recorded_at FROM crm.contact_consents WHERE contact_id = 2 ORDER BY channel, recorded_at;
SELECT channel, status, source, recorded_at FROM crm.current_consents WHERE contact_id = 2 ORDER BY channel;
-- two records at the same instant: the later one wins
SELECT crm.record_consent(2, 'phone', 'granted', 'first', '2024-05-01 10:00+00');
SELECT crm.record_consent(2, 'phone', 'revoked', 'second', '2024-05-01 10:00+00');
SELECT channel, status, source FROM crm.current_consents WHERE contact_id = 2 AND channel = 'phone';

-- bad consents
SELECT count(*) AS consents_before FROM crm.contact_consents;
SELECT crm.record_consent(999, 'email', 'granted');
SELECT crm.record_consent(NULL, 'email', 'granted');
SELECT crm.record_consent(2, 'E-Mail', 'granted');
SELECT crm.record_consent(2, NULL, 'granted');
SELECT crm.record_consent(2, 'email', NULL);
SELECT crm.record_consent(2, 'email', 'maybe');
-- a contact of another workspace is not visible
SELECT crm.record_consent(:elsewhere, 'email', 'granted');
SELECT count(*) AS consents_after FROM crm.contact_consents;

--
-- External ids: one object per (object_type, system, external_id).
--
SELECT crm.set_external_id('contact', 2, 'salesforce', '003XYZ');
SELECT crm.set_external_id('contact', 2, 'stripe', 'cus_123');
-- setting the same mapping again is a no-op
SELECT crm.set_external_id('contact', 2, 'salesforce', '003XYZ');
SELECT object_type, object_id, system, external_id FROM crm.external_ids ORDER BY system;
-- bad external ids: an external id already mapped to another contact
SELECT crm.set_external_id('contact', :reborn, 'salesforce', '003XYZ');
SELECT crm.set_external_id('contact', 999, 'salesforce', '003ABC');
SELECT crm.set_external_id('contact', NULL, 'salesforce', '003ABC');
SELECT crm.set_external_id('company', 1, 'salesforce', '001ABC');
SELECT crm.set_external_id('Contact', 2, 'salesforce', '003ABC');
SELECT crm.set_external_id('contact', 2, 'Sales Force', '003ABC');
SELECT crm.set_external_id('contact', 2, 'salesforce', '');
SELECT crm.set_external_id('contact', 2, 'salesforce', NULL);
SELECT crm.set_external_id('contact', :elsewhere, 'salesforce', '003ABC');
SELECT count(*) AS external_ids_after FROM crm.external_ids;

--
-- The same rules for a frontend: a role granted the CRM writing plain rows
-- with PostgREST's claims, as an API layer sends them.
--
CREATE ROLE crm_contacts_app;
SELECT crm.grant_access('crm_contacts_app');
SET ROLE crm_contacts_app;
SET request.jwt.claims = '{"workspace_id": 2, "sub": "user-7"}';
INSERT INTO crm.contacts (name, email) VALUES ('Grace', 'Grace@Example.com ')
ON CONFLICT (workspace_id, email) DO UPDATE SET name = excluded.name RETURNING workspace_id, name, email;
INSERT INTO crm.contacts (name, email) VALUES ('Grace Hopper', 'grace@example.com')
ON CONFLICT (workspace_id, email) DO UPDATE SET name = excluded.name RETURNING workspace_id, name, email;
UPDATE crm.contacts SET status = 'merged', merged_into = :elsewhere WHERE email = 'grace@example.com';
INSERT INTO crm.contacts DEFAULT VALUES;
UPDATE crm.contacts SET status = 'deleted' WHERE email = 'grace@example.com'
RETURNING status, deleted_at IS NOT NULL AS stamped, email, released_keys;
SELECT type, payload - 'changes' AS payload FROM crm.events ORDER BY id DESC LIMIT 2;
-- the released email is free for the next person
INSERT INTO crm.contacts (name, email) VALUES ('Grace the second', 'grace@example.com') RETURNING id AS grace2 \gset
-- a consent recorded as a row names who recorded it: the token's sub, and no one else
INSERT INTO crm.contact_consents (contact_id, channel, status, source) VALUES (:grace2, 'email', 'granted', 'signup form')
RETURNING channel, status, actor;
INSERT INTO crm.contact_consents (contact_id, channel, status, actor) VALUES (:grace2, 'sms', 'granted', 'the-ceo');
UPDATE crm.contact_consents SET actor = 'the-ceo' WHERE contact_id = :grace2;
SELECT channel, status, actor FROM crm.current_consents WHERE contact_id = :grace2;
RESET request.jwt.claims;
RESET ROLE;
DROP OWNED BY crm_contacts_app;
DROP ROLE crm_contacts_app;

\c contrib_regression
DROP DATABASE crm_test_contacts;
