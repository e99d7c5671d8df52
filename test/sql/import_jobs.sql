-- Imports as background jobs: crm.start_import returns at once, a worker
-- imports the rows batch by batch after commit, the job row shows progress
-- and counts, crm.job_reports every row, CRM_IMPORT_FINISHED the end.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.jobs RESTART IDENTITY CASCADE;
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

SELECT crm.identify(email => 'ada@example.com', name => 'Ada') AS ada \gset

-- a job of three batches: inserts, an update, a merge, bad rows reported
SELECT crm.start_import('contacts', '[
	{"email": "grace@example.com", "name": "Grace", "tags": "navy, COBOL"},
	{"email": "ADA@example.com", "city": "London"},
	{"nickname": "no such key"},
	{"email": "not-an-email"},
	42,
	{"email": "alan@example.com", "phone": "+44 20 7946 0958", "properties.plan": "pro"},
	{"email": "grace@example.com", "lifecycle_stage": "lead"}
]', '{"batch_size": 3}') AS job \gset
-- the job exists before the worker runs: queued, nothing done yet
SELECT kind, object, mode, status IN ('queued', 'running') AS pending, batch_size, total_rows, created_by, run_as
  FROM crm.import_job(:job);
SELECT pg_temp.wait_job(:job);
SELECT status, total_rows, processed_rows, inserted, updated, merged, rejected, error,
	   started_at >= created_at AS started, finished_at >= started_at AS finished
  FROM crm.import_job(:job);
SELECT ordinal, action, record_id, problem FROM crm.job_reports WHERE job_id = :job ORDER BY ordinal;
SELECT name, email, phone, city, tags, lifecycle_stage, properties FROM crm.contacts_live ORDER BY id;
SELECT type, object_type, object_id = :job AS is_job, payload, actor FROM crm.events WHERE type = 'CRM_IMPORT_FINISHED';
-- the input rows are gone once imported
SELECT count(*) AS rows_left FROM crm_internal.job_rows;

-- modes: insert refuses existing contacts, update unknown ones (reported)
SELECT crm.start_import('contacts', '[{"email": "new@example.com"}, {"email": "grace@example.com"}]', '{"mode": "insert"}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT ordinal, action, problem FROM crm.job_reports WHERE job_id = :job ORDER BY ordinal;
SELECT crm.start_import('contacts', '[{"email": "nobody@example.com"}, {"email": "new@example.com", "city": "Paris"}]', '{"mode": "update"}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT mode, inserted, updated, rejected FROM crm.import_job(:job);

-- bad calls: refused, and no job is made
SELECT count(*) AS jobs_before FROM crm.jobs \gset
SELECT crm.start_import('deals', '[{"name": "x"}]');
SELECT crm.start_import(NULL, '[{"name": "x"}]');
SELECT crm.start_import('contacts', '[]');
SELECT crm.start_import('contacts', '{"email": "a@example.com"}');
SELECT crm.start_import('contacts', NULL);
SELECT crm.start_import('contacts', '[{"name": "x"}]', '{"mode": "replace"}');
SELECT crm.start_import('contacts', '[{"name": "x"}]', '{"batch_size": 0}');
SELECT crm.start_import('contacts', '[{"name": "x"}]', '{"batch_size": "lots"}');
SELECT crm.start_import('contacts', '[{"name": "x"}]', '{"atomic": true}');
SELECT crm.start_import('contacts', '[{"name": "x"}]', '[]');
SELECT crm.import_job(424242);
SELECT count(*) - :jobs_before AS jobs_made FROM crm.jobs;

-- a job started in a transaction that rolls back never runs
BEGIN;
SELECT crm.start_import('contacts', '[{"email": "rolled@example.com"}]') AS job \gset
ROLLBACK;
SELECT pg_sleep(0.5);
SELECT count(*) AS rolled_back FROM crm.contacts WHERE email = 'rolled@example.com';

-- cancel: the batches in progress are rolled back; the batches done stay
SELECT crm.start_import('contacts', (SELECT jsonb_agg(jsonb_build_object('email', 'c' || g || '@example.com'))
									   FROM generate_series(1, 3000) g), '{"batch_size": 1}') AS job \gset
SELECT status FROM crm.cancel_import(:job);
SELECT pg_temp.wait_job(:job);
SELECT processed_rows < total_rows AS stopped, inserted = processed_rows AS counted,
	   (SELECT count(*) FROM crm.contacts WHERE email LIKE 'c%@example.com') = processed_rows AS imported,
	   (SELECT count(*) FROM crm.job_reports r WHERE r.job_id = j.id) = processed_rows AS reported
  FROM crm.import_job(:job) j;
SELECT count(*) AS rows_left FROM crm_internal.job_rows;
SELECT crm.cancel_import(:job);
SELECT crm.cancel_import(424242);

-- a batch that fails fails the job (a plan limit, checked at each batch's
-- commit); the batches before it stay, and the end is still announced
SELECT count(*) AS live FROM crm.contacts_live \gset
SELECT name, value FROM crm.set_limit('max_contacts', :live + 2);
SELECT crm.start_import('contacts', '[{"email": "l1@example.com"}, {"email": "l2@example.com"},
	{"email": "l3@example.com"}, {"email": "l4@example.com"}]', '{"batch_size": 2}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, processed_rows, inserted, error FROM crm.import_job(:job);
SELECT email FROM crm.contacts WHERE email LIKE 'l_@example.com' ORDER BY email;
-- the kept count of max_contacts (crm_internal.limit_counts) is what the batches committed
SELECT (SELECT k.count FROM crm_internal.limit_counts k
		 WHERE k.workspace_id = crm.current_workspace() AND k.name = 'max_contacts') AS kept,
	   (SELECT count(*) FROM crm.contacts_live) AS live;
SELECT payload ->> 'status' AS status, payload ->> 'error' AS error FROM crm.events
 WHERE type = 'CRM_IMPORT_FINISHED' AND object_id = :job;
SELECT name, value FROM crm.set_limit('max_contacts', NULL);
-- the import switch off refuses the start
SELECT name, value FROM crm.set_limit('import', 0);
SELECT crm.start_import('contacts', '[{"name": "x"}]');
SELECT name, value FROM crm.set_limit('import', NULL);

-- as a frontend: a member starts a job, the worker imports as them, they read its report
CREATE ROLE crm_ij_app;
SELECT crm.grant_access('crm_ij_app');
SELECT user_id, role FROM crm.add_member('alice', 'admin');
SELECT user_id, role FROM crm.add_member('vic', 'viewer');
SELECT user_id, role FROM crm.add_member('bob', 'agent');
SET ROLE crm_ij_app;
SET crm.user_id = 'bob';
SELECT crm.start_import('contacts', '[{"email": "frontend@example.com", "name": "Front", "company": "frontend.example", "blocked": true},
	{"shoe": 44}]', '{"batch_size": 1}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, created_by, user_id, run_as, inserted, rejected FROM crm.import_job(:job);
SELECT ordinal, action, problem IS NOT NULL AS has_problem FROM crm.job_reports WHERE job_id = :job ORDER BY ordinal;
SELECT c.name, c.email, c.blocked, co.name AS company, cc.is_primary
  FROM crm.contacts c JOIN crm.contact_companies cc ON cc.contact_id = c.id JOIN crm.companies co ON co.id = cc.company_id
 WHERE c.email = 'frontend@example.com';
-- the contact's own event names the member's request as its actor
SELECT actor FROM crm.events WHERE type = 'CRM_CONTACT_CREATED' AND object_id = (SELECT id FROM crm.contacts WHERE email = 'frontend@example.com');
-- with the companies module off, the worker (as the member) is refused the
-- company: that row is reported, the others imported
RESET ROLE;
SELECT crm.set_module('companies', false) IS NOT NULL AS off;
SET ROLE crm_ij_app;
SELECT crm.start_import('contacts', '[{"email": "mod1@example.com", "company": "Off Co"}, {"email": "mod2@example.com"}]') AS job2 \gset
SELECT pg_temp.wait_job(:job2);
SELECT ordinal, action, problem FROM crm.job_reports WHERE job_id = :job2 ORDER BY ordinal;
RESET ROLE;
SELECT crm.set_module('companies', true) IS NOT NULL AS back_on;
SELECT count(*) AS off_co FROM crm.companies WHERE name = 'Off Co';
SET ROLE crm_ij_app;
-- a frontend cannot forge a job's status or its report
UPDATE crm.jobs SET status = 'done' WHERE id = :job;
INSERT INTO crm.jobs (object, total_rows) VALUES ('contacts', 1);
DELETE FROM crm.job_reports WHERE job_id = :job;
-- nor write the rows waiting for the worker
SELECT count(*) FROM crm_internal.job_rows;
-- a viewer may not import
SET crm.user_id = 'vic';
SELECT crm.start_import('contacts', '[{"email": "viewer@example.com"}]');
SELECT crm.cancel_import(:job);
RESET crm.user_id;
RESET ROLE;
-- another workspace sees none of these jobs
SELECT crm.create_workspace('other', 'Other') AS other \gset
SET ROLE crm_ij_app;
SET crm.workspace_id = :other;
SELECT count(*) AS jobs_seen, (SELECT count(*) FROM crm.job_reports) AS reports_seen FROM crm.jobs;
SELECT crm.import_job(:job);
SELECT crm.cancel_import(:job);
RESET crm.workspace_id;
RESET ROLE;

-- the job's own rows are written straight into their tables, without a
-- key check per row, but keep their foreign keys (the API layers' relation,
-- the cascade): deleting a job takes its report with it
SELECT conrelid::regclass AS "table", pg_get_constraintdef(oid) AS key FROM pg_constraint
 WHERE contype = 'f' AND conrelid IN ('crm.job_reports'::regclass, 'crm_internal.job_rows'::regclass)
 ORDER BY 1;
SELECT count(*) AS reports_before FROM crm.job_reports WHERE job_id = :job2;
DELETE FROM crm.jobs WHERE id = :job2;
SELECT count(*) AS reports_after FROM crm.job_reports WHERE job_id = :job2;
-- a DBA's trigger on the report sends the rows through INSERT again: it sees each one
CREATE TABLE public.ij_reported (job_id bigint, ordinal bigint, action text);
CREATE FUNCTION public.ij_report_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.ij_reported VALUES (NEW.job_id, NEW.ordinal, NEW.action);
	RETURN NEW;
END;
$$;
CREATE TRIGGER ij_report_seen AFTER INSERT ON crm.job_reports FOR EACH ROW EXECUTE FUNCTION public.ij_report_seen();
SELECT crm.start_import('contacts', '[{"email": "seen1@example.com"}, {"email": "bad"}, {"email": "seen2@example.com"}]',
						'{"batch_size": 2}') AS job3 \gset
SELECT pg_temp.wait_job(:job3);
SELECT r.ordinal, r.action, s.action AS trigger_saw FROM crm.job_reports r
  LEFT JOIN public.ij_reported s ON s.job_id = r.job_id AND s.ordinal = r.ordinal
 WHERE r.job_id = :job3 ORDER BY r.ordinal;
DROP TRIGGER ij_report_seen ON crm.job_reports;
DROP FUNCTION public.ij_report_seen();
DROP TABLE public.ij_reported;
-- the writers take a JSON array only (the start checked it before)
SELECT crm_internal.job_rows_write(1, :job3, '{"email": "x@example.com"}');
-- the report comes as four aligned arrays; anything else is refused, nothing written
SELECT count(*) AS reports_before FROM crm.job_reports WHERE job_id = :job3 \gset
SELECT crm_internal.job_reports_write(1, :job3, 100, '{1,2}', '{inserted}', '{NULL,NULL}', '{NULL,NULL}');
SELECT crm_internal.job_reports_write(1, :job3, 100, '{1,2}', '{inserted,NULL}', '{NULL,NULL}', '{NULL,NULL}');
SELECT crm_internal.job_reports_write(1, :job3, 100, '{{1},{2}}', '{inserted,inserted}', '{NULL,NULL}', '{NULL,NULL}');
SELECT count(*) - :reports_before AS reports_written FROM crm.job_reports WHERE job_id = :job3;

-- crm.resume_jobs() starts a worker for every unfinished job (none now)
SELECT crm.resume_jobs();

-- tests share one database: start from, and leave, an empty CRM
SELECT crm.remove_member('bob'), crm.remove_member('vic'), crm.remove_member('alice');
DROP OWNED BY crm_ij_app;
DROP ROLE crm_ij_app;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.jobs RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
