-- Activities: crm.log_activity and the timeline, newest first, paged
-- without skipping activities that share a timestamp.  Own database.
CREATE DATABASE crm_test_activities;
\c crm_test_activities
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

INSERT INTO crm.contacts (name) VALUES ('Ada'), ('Bob');
INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.com');

SELECT crm.log_activity(1, 'meeting', 'Met at the fair', 'Interested in the pro plan', 'agent-7', '2024-01-10 10:00+00');
SELECT crm.log_activity(1, 'call', 'Intro call', NULL, 'agent-7', '2024-01-12 15:30+00', '{"duration_min": 25}');
-- three at the same instant, as an import would write them
SELECT crm.log_activity(1, 'email', 'Quote ' || n, NULL, 'agent-7', '2024-01-15 09:00+00') FROM generate_series(1, 3) n;
SELECT crm.log_activity(1, 'meeting', 'Demo', NULL, 'agent-9', '2024-01-20 14:00+00', company_id => 1);
-- an app's own type, and a company-only activity
SELECT crm.log_activity(1, 'webinar_attended', 'Spring webinar', occurred_at => '2024-01-05 17:00+00');
SELECT crm.log_activity(NULL, 'task', 'Renewal due', company_id => 1, occurred_at => '2024-01-25 08:00+00');
-- occurred_at defaults to now, payload to {}
SELECT crm.log_activity(2, 'task', 'Call back') AS task \gset
SELECT type, occurred_at > now() - interval '1 minute' AS recent, payload FROM crm.activities WHERE id = :task;

-- the whole timeline, newest first
SELECT id, type, subject, actor, occurred_at, payload, company_id FROM crm.timeline(1);
-- paging by two: each page continues after the last row's (occurred_at, id)
SELECT id, type, subject, occurred_at FROM crm.timeline(1, 2);
SELECT id, type, subject, occurred_at FROM crm.timeline(1, 2, '2024-01-15 09:00+00', 5);
SELECT id, type, subject, occurred_at FROM crm.timeline(1, 2, '2024-01-15 09:00+00', 3);
SELECT id, type, subject, occurred_at FROM crm.timeline(1, 2, '2024-01-10 10:00+00', 1);
-- walking the pages visits every activity exactly once
WITH RECURSIVE pages(n, last_at, last_id, ids) AS (
	SELECT 1, p.occurred_at, p.id, ARRAY[p.id]
	  FROM crm.timeline(1, 1) p
	UNION ALL
	SELECT pages.n + 1, p.occurred_at, p.id, pages.ids || p.id
	  FROM pages, LATERAL crm.timeline(1, 1, pages.last_at, pages.last_id) p
)
SELECT max(n) AS pages, (SELECT ids FROM pages ORDER BY n DESC LIMIT 1) AS visited,
	   (SELECT array_agg(id ORDER BY occurred_at DESC, id DESC) FROM crm.activities WHERE contact_id = 1) AS expected
  FROM pages;
-- before alone still works for coarse paging
SELECT count(*) FROM crm.timeline(1, 50, '2024-01-15 09:00+00');

-- bad input: nothing written
SELECT crm.create_workspace('other', 'Other');
SET crm.workspace_id = 2;
INSERT INTO crm.contacts (name) VALUES ('Elsewhere') RETURNING id AS elsewhere \gset
INSERT INTO crm.companies (name) VALUES ('Elsewhere Inc') RETURNING id AS elsewhere_co \gset
RESET crm.workspace_id;
SELECT count(*) AS activities_before FROM crm.activities;
SELECT crm.log_activity(999, 'call');
SELECT crm.log_activity(:elsewhere, 'call');
SELECT crm.log_activity(NULL, 'call');
SELECT crm.log_activity(1, 'call', company_id => 999);
SELECT crm.log_activity(1, 'call', company_id => :elsewhere_co);
SELECT crm.log_activity(1, 'Phone Call');
SELECT crm.log_activity(1, NULL);
SELECT crm.log_activity(1, '');
SELECT crm.log_activity(1, 'call', payload => '[1]');
SELECT crm.log_activity(1, 'call', payload => '"x"');
SELECT count(*) AS activities_after FROM crm.activities;
SELECT * FROM crm.timeline(999);
SELECT * FROM crm.timeline(:elsewhere);
SELECT * FROM crm.timeline(NULL);
SELECT * FROM crm.timeline(1, 0);
SELECT * FROM crm.timeline(1, 10001);
SELECT * FROM crm.timeline(1, NULL);
SELECT * FROM crm.timeline(1, 10, NULL, 5);

-- One notes system: an activity of type note is refused on every path
-- (0A000, the hint names crm.notes and crm.add_note), writing nothing; the
-- note goes to crm.notes and shows once on the timeline
SELECT count(*) AS activities_before FROM crm.activities \gset
SELECT crm.log_activity(1, 'note', 'Met at the fair');
INSERT INTO crm.activities (contact_id, type, subject) VALUES (1, 'note', 'Met at the fair');
INSERT INTO crm.activities (contact_id, type, subject) VALUES (1, 'task', 'fine'), (1, 'note', 'not fine');
UPDATE crm.activities SET type = 'note' WHERE id = :task;
SELECT count(*) - :activities_before AS written, (SELECT type FROM crm.activities WHERE id = :task) AS task_type
  FROM crm.activities;
-- the same as a frontend role; its other writes of activities are untouched
CREATE ROLE crm_activities_app;
SELECT crm.grant_access('crm_activities_app');
SET ROLE crm_activities_app;
INSERT INTO crm.activities (contact_id, type, subject) VALUES (2, 'note', 'from the app');
UPDATE crm.activities SET type = 'note' WHERE contact_id = 2;
INSERT INTO crm.activities (contact_id, type, subject, occurred_at) VALUES (2, 'call', 'from the app', '2024-02-01 10:00+00')
RETURNING type, subject;
UPDATE crm.activities SET subject = 'Called back', type = 'call' WHERE contact_id = 2 AND type = 'call' RETURNING type, subject;
INSERT INTO crm.notes (contact_id, body, occurred_at) VALUES (2, 'from the app', '2024-02-02 10:00+00') RETURNING type, body;
-- a type is a lower-case identifier of at most 63 characters
-- (crm_internal.is_identifier): upper case, a leading digit or underscore,
-- other characters and 64 characters are refused (23514), nothing written
SELECT count(*) AS activities_before FROM crm.activities \gset
INSERT INTO crm.activities (contact_id, type) VALUES (2, 'Call');
INSERT INTO crm.activities (contact_id, type) VALUES (2, '1call');
INSERT INTO crm.activities (contact_id, type) VALUES (2, '_call');
INSERT INTO crm.activities (contact_id, type) VALUES (2, 'call-back');
INSERT INTO crm.activities (contact_id, type) VALUES (2, 'café');
INSERT INTO crm.activities (contact_id, type) VALUES (2, '');
INSERT INTO crm.activities (contact_id, type) VALUES (2, 'c' || repeat('x', 63));
UPDATE crm.activities SET type = 'Call' WHERE contact_id = 2;
SELECT count(*) = :activities_before AS nothing_written FROM crm.activities;
INSERT INTO crm.activities (contact_id, type) VALUES (2, 'c' || repeat('x_9', 20) || 'xy') RETURNING length(type);
DELETE FROM crm.activities WHERE contact_id = 2 AND type LIKE 'cx%';
RESET ROLE;
SELECT kind, source, summary FROM crm.timeline_entries('contact', 2)
 WHERE at BETWEEN '2024-02-01' AND '2024-03-01' ORDER BY at;
SELECT e.type, e.object_type FROM crm.events e
 WHERE (e.object_type = 'note' AND e.object_id IN (SELECT id FROM crm.notes WHERE contact_id = 2))
	OR (e.object_type = 'activity' AND e.object_id IN (SELECT id FROM crm.activities WHERE contact_id = 2 AND type = 'call'))
 ORDER BY e.id;
DROP OWNED BY crm_activities_app;

\c contrib_regression
DROP DATABASE crm_test_activities;
DROP ROLE crm_activities_app;
