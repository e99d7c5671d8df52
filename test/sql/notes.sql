-- One notes system (issue 16, item 3): crm.notes of type note, call,
-- meeting or email on a contact, a company and/or a deal; private notes
-- visible to their author only; pinning.  The row write and crm.add_note
-- take the same path.  Own database.
CREATE DATABASE crm_test_notes;
\c crm_test_notes
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE ROLE crm_notes_app;
SELECT crm.grant_access('crm_notes_app');
SELECT crm.create_workspace('notes', 'Notes') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
SELECT (crm.add_member('ada', 'admin')).role;
SELECT (crm.add_member('ann', 'agent')).role;
SELECT (crm.add_member('ben', 'agent')).role;
INSERT INTO crm.contacts (name) VALUES ('Hal') RETURNING id AS hal \gset
INSERT INTO crm.companies (name) VALUES ('Acme') RETURNING id AS acme \gset
INSERT INTO crm.deals (title, value, contact_id) VALUES ('Big deal', 100, :hal) RETURNING id AS deal \gset

-- the function: each type, a subject, when it happened, pinned
SELECT crm.add_note('Met at the fair', contact_id => :hal) AS n1 \gset
SELECT crm.add_note('Talked pricing', contact_id => :hal, type => 'call', subject => 'Intro call',
					occurred_at => '2024-03-01 10:00+00') AS n2 \gset
SELECT crm.add_note('Demo went well', company_id => :acme, deal_id => :deal, type => 'meeting',
					subject => 'Demo', occurred_at => '2024-03-02 14:00+00', pinned => true) AS n3 \gset
SELECT crm.add_note('Sent the quote', deal_id => :deal, type => 'email', subject => 'Quote') AS n4 \gset
SELECT id = :n1 AS first, type, subject, body, contact_id = :hal AS on_hal, company_id IS NOT NULL AS on_company,
	   deal_id IS NOT NULL AS on_deal, occurred_at = created_at AS occurred_now, private, pinned_at IS NOT NULL AS pinned,
	   author
  FROM crm.notes ORDER BY id;
-- the defaults of a row write: a plain note, now, not private, not pinned
INSERT INTO crm.notes (contact_id, body) VALUES (:hal, 'row note')
	RETURNING type, subject, occurred_at = now() AS occurred_now, private, pinned_at;
-- each write is an event
SELECT type, object_id = :n2 AS second FROM crm.events WHERE object_type = 'note' AND object_id = :n2 ORDER BY id;

-- bad input, through the function and the row
SELECT crm.add_note('x', contact_id => :hal, type => 'fax');
INSERT INTO crm.notes (contact_id, body, type) VALUES (:hal, 'x', 'sms');
UPDATE crm.notes SET type = 'Call' WHERE id = :n1;
SELECT crm.add_note('   ', contact_id => :hal);
INSERT INTO crm.notes (contact_id, body) VALUES (:hal, '');
SELECT crm.add_note(NULL, contact_id => :hal);
SELECT crm.add_note('on nothing');
INSERT INTO crm.notes (body) VALUES ('on nothing');
UPDATE crm.notes SET contact_id = NULL WHERE id = :n1;
SELECT crm.add_note('x', contact_id => 999999);
SELECT crm.add_note('x', company_id => 999999);
SELECT crm.add_note('x', deal_id => 999999);
SELECT crm.add_note('x', contact_id => :hal, occurred_at => 'infinity');
INSERT INTO crm.notes (contact_id, body, subject) VALUES (:hal, 'x', repeat('s', 2049));
-- a private note needs its member: no request member here
SELECT crm.add_note('secret', contact_id => :hal, private => true);
SELECT count(*) AS notes FROM crm.notes;

-- a frontend role writes rows as ann, then as ben
SET ROLE crm_notes_app;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
INSERT INTO crm.notes (contact_id, body, type, private) VALUES (:hal, 'ann''s private call', 'call', true)
	RETURNING id AS ann_private, author, private \gset
SELECT :'author' AS author, :'private' AS private;
SELECT crm.add_note('ann''s private note', contact_id => :hal, private => true) AS ann_private2 \gset
INSERT INTO crm.notes (contact_id, body, type) VALUES (:hal, 'ann''s call', 'call') RETURNING id AS ann_public \gset
-- a private note is its writer's: naming another author is refused
INSERT INTO crm.notes (contact_id, body, private, author) VALUES (:hal, 'for ben', true, 'ben');
SELECT count(*) FILTER (WHERE private) AS private_seen, count(*) AS seen FROM crm.notes;
-- pinning is the row's pinned_at
UPDATE crm.notes SET pinned_at = now() WHERE id = :ann_public RETURNING pinned_at IS NOT NULL AS pinned;
-- the events name ann
SELECT type, actor FROM crm.events WHERE object_type = 'note' AND object_id = :ann_private ORDER BY id;

SELECT set_config('request.jwt.claims', format('{"sub": "ben", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ben;
SELECT count(*) FILTER (WHERE private) AS private_seen, count(*) AS seen FROM crm.notes;
UPDATE crm.notes SET body = 'changed by ben' WHERE id = :ann_private RETURNING id;
DELETE FROM crm.notes WHERE id = :ann_private RETURNING id;
-- ben may not make ann's note private, nor keep his own private under ann's name
UPDATE crm.notes SET private = true WHERE id = :ann_public;
INSERT INTO crm.notes (contact_id, body, private) VALUES (:hal, 'ben''s own', true) RETURNING author, private;
UPDATE crm.notes SET author = 'ann' WHERE body = 'ben''s own';
-- an admin does not see them either: only the author does
SELECT set_config('request.jwt.claims', format('{"sub": "ada", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ada;
SELECT count(*) FILTER (WHERE private) AS private_seen, count(*) AS seen FROM crm.notes;
-- a request without a member is refused in a workspace with members
SELECT set_config('request.jwt.claims', format('{"workspace_id": %s}', :ws), false) IS NOT NULL AS no_member;
SELECT count(*) FILTER (WHERE private) AS private_seen, count(*) AS seen FROM crm.notes;
SELECT set_config('request.jwt.claims', format('{"sub": "ann", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_ann;
SELECT body FROM crm.notes WHERE id = :ann_private;
-- the author may unpin, edit and delete her own private note
UPDATE crm.notes SET body = 'ann''s private call, edited' WHERE id = :ann_private RETURNING body, private;
DELETE FROM crm.notes WHERE id = :ann_private2 RETURNING body;
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS reset;
-- the outbox is every consumer's: a private note's update names the changed
-- columns and carries no values; a public note's carries them
SELECT payload FROM crm.events WHERE type = 'CRM_NOTE_UPDATED' AND object_id = :ann_private ORDER BY id DESC LIMIT 1;
UPDATE crm.notes SET body = 'public, edited' WHERE id = :ann_public;
SELECT payload->'changes'->>'body' AS body FROM crm.events WHERE type = 'CRM_NOTE_UPDATED' AND object_id = :ann_public ORDER BY id DESC LIMIT 1;

-- the extension still moves private notes: a merge takes them along
INSERT INTO crm.contacts (name) VALUES ('Hal twin') RETURNING id AS twin \gset
SET request.jwt.claims = '{"sub": "ben"}';
SELECT crm.add_note('ben''s private note on the twin', contact_id => :twin, private => true) AS ben_private \gset
RESET request.jwt.claims;
SELECT crm.merge_contacts(:hal, :twin) IS NOT NULL AS merged;
SELECT contact_id = :hal AS moved, private, author FROM crm.notes WHERE id = :ben_private;
\c contrib_regression
DROP DATABASE crm_test_notes;
