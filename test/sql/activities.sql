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

SELECT crm.log_activity(1, 'note', 'Met at the fair', 'Interested in the pro plan', 'agent-7', '2024-01-10 10:00+00');
SELECT crm.log_activity(1, 'call', 'Intro call', NULL, 'agent-7', '2024-01-12 15:30+00', '{"duration_min": 25}');
-- three at the same instant, as an import would write them
SELECT crm.log_activity(1, 'email', 'Quote ' || n, NULL, 'agent-7', '2024-01-15 09:00+00') FROM generate_series(1, 3) n;
SELECT crm.log_activity(1, 'meeting', 'Demo', NULL, 'agent-9', '2024-01-20 14:00+00', company_id => 1);
-- an app's own type, and a company-only activity
SELECT crm.log_activity(1, 'webinar_attended', 'Spring webinar', occurred_at => '2024-01-05 17:00+00');
SELECT crm.log_activity(NULL, 'note', 'Renewal due', company_id => 1, occurred_at => '2024-01-25 08:00+00');
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
SELECT crm.log_activity(999, 'note');
SELECT crm.log_activity(:elsewhere, 'note');
SELECT crm.log_activity(NULL, 'note');
SELECT crm.log_activity(1, 'note', company_id => 999);
SELECT crm.log_activity(1, 'note', company_id => :elsewhere_co);
SELECT crm.log_activity(1, 'Phone Call');
SELECT crm.log_activity(1, NULL);
SELECT crm.log_activity(1, '');
SELECT crm.log_activity(1, 'note', payload => '[1]');
SELECT crm.log_activity(1, 'note', payload => '"x"');
SELECT count(*) AS activities_after FROM crm.activities;
SELECT * FROM crm.timeline(999);
SELECT * FROM crm.timeline(:elsewhere);
SELECT * FROM crm.timeline(NULL);
SELECT * FROM crm.timeline(1, 0);
SELECT * FROM crm.timeline(1, 10001);
SELECT * FROM crm.timeline(1, NULL);
SELECT * FROM crm.timeline(1, 10, NULL, 5);

\c contrib_regression
DROP DATABASE crm_test_activities;
