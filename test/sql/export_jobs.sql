-- Exports as background jobs (issue 22): crm.start_export returns at once,
-- the job worker reads the rows through the synchronous export function as
-- the starter, batch by batch by id, crm.export_result hands them out,
-- CRM_EXPORT_FINISHED and NOTIFY crm_export say it ended.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.deals, crm.orders, crm.events, crm.external_ids, crm.jobs RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset

-- waits for a job to end (each SELECT sees what the worker committed)
CREATE FUNCTION pg_temp.wait_job(job bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	FOR i IN 1 .. 6000 LOOP
		SELECT j.status INTO s FROM crm.jobs j WHERE j.id = job;
		IF s NOT IN ('queued', 'running') THEN
			RETURN s;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN 'timed out: ' || s;
END;
$$;

SELECT count(*) AS people FROM (
	SELECT crm.identify(email => 'p' || i || '@example.com', name => 'Person ' || i)
	  FROM generate_series(1, 9) i) s;
UPDATE crm.contacts SET city = 'Paris' WHERE id IN (2, 4, 6, 8);
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
INSERT INTO crm.companies (name, domain) VALUES ('Acme', 'acme.example'), ('Globex', 'globex.example');
INSERT INTO crm.deals (title, contact_id, value) VALUES ('Renewal', 1, 1000), ('Upsell', 2, 500), ('New', 3, 10);
INSERT INTO crm.orders (contact_id, title, value, currency) VALUES (1, 'First', 10, 'EUR'), (2, 'Second', 20, 'EUR');

-- contacts with a CQL filter, three rows a batch: the rows of the
-- synchronous export, in order, as JSON objects
SELECT crm.start_export('contacts', 'city = ''Paris'' OR name = ''Person 1''', '{"batch_size": 3}') AS job \gset
SELECT kind, object, query, status IN ('queued', 'running') AS pending, batch_size, keep_days, run_as
  FROM crm.jobs WHERE id = :job;
SELECT pg_temp.wait_job(:job);
SELECT status, processed_rows, total_rows, last_id, error, finished_at >= started_at AS finished
  FROM crm.jobs WHERE id = :job;
SELECT ordinal, data ->> 'name' AS name, data ->> 'city' AS city FROM crm.export_result(:job);
-- (their timestamps are in UTC)
SET TimeZone = 'UTC';
SELECT (SELECT jsonb_agg(r.data ORDER BY r.ordinal) FROM crm.export_result(:job) r)
	 = (SELECT jsonb_agg(to_jsonb(e) ORDER BY e.id) FROM crm.export_contacts('city = ''Paris'' OR name = ''Person 1''') e)
	   AS same_as_synchronous;
SELECT data ->> 'created_at' LIKE '%+00:00' AS utc FROM crm.export_result(:job, 0, 1);
RESET TimeZone;
-- paging: after an ordinal, a number of rows
SELECT ordinal, data ->> 'id' AS id FROM crm.export_result(:job, 2, 2);
SELECT type, object_type, object_id = :job AS is_job, payload, actor FROM crm.events WHERE type = 'CRM_EXPORT_FINISHED';

-- the other objects
SELECT crm.start_export('companies') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT ordinal, data ->> 'name' AS name, data ->> 'domain' AS domain FROM crm.export_result(:job);
SELECT crm.start_export('deals', 'value >= 500', '{"batch_size": 1}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT ordinal, data ->> 'title' AS title, data ->> 'value' AS value FROM crm.export_result(:job);
SELECT processed_rows, last_id FROM crm.jobs WHERE id = :job;
SELECT crm.start_export('orders') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT ordinal, data ->> 'title' AS title, data ->> 'currency' AS currency FROM crm.export_result(:job);
-- nothing matches: done with no rows
SELECT crm.start_export('contacts', 'name = ''Nobody''') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT processed_rows, (SELECT count(*) FROM crm.export_result(:job)) AS result_rows FROM crm.jobs WHERE id = :job;

-- the GDPR access export of one contact: crm.export_contact's document
SELECT crm.start_export('contact_access', '', '{"contact_id": 1}') AS access \gset
SELECT pg_temp.wait_job(:access);
SELECT ordinal, data -> 'profile' ->> 'email' AS email, jsonb_array_length(data -> 'deals') AS deals,
	   jsonb_array_length(data -> 'orders') AS orders
  FROM crm.export_result(:access);
-- the keys where it differs from the synchronous export: exported_at only
SET TimeZone = 'UTC';
SELECT k FROM crm.export_result(:access) r, crm.export_contact(1) s(d), jsonb_object_keys(s.d) k
 WHERE r.data -> k IS DISTINCT FROM s.d -> k;
RESET TimeZone;
-- a contact that does not exist fails the job with the function's error
SELECT crm.start_export('contact_access', '', '{"contact_id": 999}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, error, processed_rows FROM crm.jobs WHERE id = :job;
SELECT payload FROM crm.events WHERE type = 'CRM_EXPORT_FINISHED' AND object_id = :job;

-- bad object, query, options
SELECT count(*) AS jobs_before FROM crm.jobs \gset
SELECT crm.start_export('invoices');
SELECT crm.start_export(NULL);
SELECT crm.start_export('contacts', 'nmae = ''x''');
SELECT crm.start_export('contacts', '', '[]');
SELECT crm.start_export('contacts', '', '{"format": "csv"}');
SELECT crm.start_export('contacts', '', '{"batch_size": 0}');
SELECT crm.start_export('contacts', '', '{"keep_days": 400}');
SELECT crm.start_export('contacts', '', '{"contact_id": 1}');
SELECT crm.start_export('contact_access');
SELECT crm.start_export('contact_access', '', '{"contact_id": "one"}');
SELECT crm.start_export('contact_access', 'id = 1', '{"contact_id": 1}');
SELECT crm.export_result(424242);
SELECT crm.export_result(:access, 0, -1);
-- a failed start leaves no job
SELECT count(*) = :jobs_before AS no_job_made FROM crm.jobs;

-- the export switch off refuses the start and the reading
SELECT name, value FROM crm.set_limit('export', 0);
SELECT crm.start_export('contacts');
SELECT count(*) FROM crm.export_result(:access);
SELECT name, value FROM crm.set_limit('export', NULL);

-- cancel: a queued export (its worker starts only at commit) is cancelled
-- in the same transaction; a finished one cannot be
BEGIN;
SELECT crm.start_export('contacts') AS job \gset
SELECT status, (SELECT count(*) FROM crm.export_result(:job)) AS result_rows FROM crm.cancel_job(:job);
COMMIT;
SELECT pg_temp.wait_job(:job);
SELECT count(*) AS result_rows FROM crm.export_result(:job);
SELECT crm.cancel_job(:access);
SELECT crm.cancel_job(424242);

-- retention: results older than keep_days are purged
UPDATE crm.jobs SET finished_at = now() - interval '8 days' WHERE id = :access;
SELECT crm.purge_exports() AS purged;
SELECT count(*) AS access_job_left FROM crm.jobs WHERE id = :access;
SELECT count(*) AS its_rows_left FROM crm_internal.job_results WHERE job_id = :access;

-- GDPR erase deletes the person's finished access exports (and no other export)
SELECT crm.start_export('contact_access', '', '{"contact_id": 6}') AS access2 \gset
SELECT crm.start_export('contact_access', '', '{"contact_id": 7}') AS access3 \gset
SELECT pg_temp.wait_job(:access2), pg_temp.wait_job(:access3);
SELECT crm.delete_contact(6, hard => true);
SELECT id = :access2 AS is_access2, object, contact_id FROM crm.jobs WHERE object = 'contact_access' ORDER BY id;
SELECT count(*) AS erased_rows_left FROM crm_internal.job_results WHERE job_id = :access2;

-- as a frontend: a member starts an export and reads it; the job runs as them
CREATE ROLE crm_ej_app;
SELECT crm.grant_access('crm_ej_app');
SELECT user_id, role FROM crm.add_member('alice', 'admin');
SELECT user_id, role FROM crm.add_member('bob', 'agent');
SELECT user_id, role FROM crm.add_member('cat', 'agent');
UPDATE crm.contacts SET owner = 'bob' WHERE id IN (4, 5);
SELECT crm.set_privacy('owner');
SET ROLE crm_ej_app;
SET crm.user_id = 'alice';
SELECT crm.start_export('contacts', 'id > 3') AS job_alice \gset
SELECT pg_temp.wait_job(:job_alice);
SELECT status, created_by, user_id, run_as, processed_rows FROM crm.jobs WHERE id = :job_alice;
SELECT count(*) AS rows_alice FROM crm.export_result(:job_alice);
-- a restricted member (owner privacy) exports only their rows
SET crm.user_id = 'bob';
SELECT crm.start_export('contacts') AS job_bob \gset
SELECT pg_temp.wait_job(:job_bob);
SELECT ordinal, data ->> 'id' AS id, data ->> 'owner' AS owner FROM crm.export_result(:job_bob);
SELECT count(*) = (SELECT count(*) FROM crm.export_contacts()) AS same_as_synchronous FROM crm.export_result(:job_bob);
-- a contact bob does not own is missing to him: his access export fails
SELECT crm.start_export('contact_access', '', '{"contact_id": 1}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT error FROM crm.jobs WHERE id = :job;
-- another restricted member may neither read nor cancel bob's export, nor alice's
SET crm.user_id = 'cat';
SELECT count(*) FROM crm.export_result(:job_bob);
SELECT count(*) FROM crm.export_result(:job_alice);
SELECT crm.cancel_job(:job_bob);
-- the admin (sees the whole workspace) reads bob's
SET crm.user_id = 'alice';
SELECT count(*) AS bob_rows_read_by_alice FROM crm.export_result(:job_bob);
-- a frontend cannot forge an export job nor reach its rows
UPDATE crm.jobs SET status = 'done' WHERE id = :job_alice;
INSERT INTO crm.jobs (kind, object) VALUES ('export', 'contacts');
DELETE FROM crm.jobs WHERE id = :job_alice;
SELECT count(*) FROM crm_internal.job_results;
RESET crm.user_id;
RESET ROLE;
SELECT crm.set_privacy('everyone');
-- another workspace sees none of these jobs
SELECT crm.create_workspace('other', 'Other') AS other \gset
SET ROLE crm_ej_app;
SET crm.workspace_id = :other;
SELECT count(*) AS jobs_seen FROM crm.jobs;
SELECT crm.export_result(:job_alice);
SELECT crm.cancel_job(:job_alice);
RESET crm.workspace_id;
RESET ROLE;

-- tests share one database: start from, and leave, an empty CRM
SELECT crm.remove_member('bob'), crm.remove_member('cat'), crm.remove_member('alice');
DROP OWNED BY crm_ej_app;
DROP ROLE crm_ej_app;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.deals, crm.orders, crm.events, crm.external_ids, crm.jobs RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
