-- The company duplicate finder as a background job (issue 17, item 1):
-- crm.start_export('company_duplicates') returns at once, the worker runs
-- crm.company_duplicates as the starter and keeps its pairs, best first,
-- for crm.export_result; CRM_EXPORT_FINISHED says it ended.
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.jobs RESTART IDENTITY CASCADE;
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

-- one domain root, similar names, shared contacts
INSERT INTO crm.companies (id, name, domain) VALUES
	(1, 'Umbrella Corporation', 'umbrella.com'), (2, 'Umbrella Corp', NULL),
	(3, 'Hooli', 'hooli.xyz'), (4, 'Hooli Cloud', 'cloud.hooli.xyz'),
	(5, 'Stark Industries', 'stark.com'), (6, 'Wayne Enterprises', 'wayne.com');
INSERT INTO crm.contacts (id, name, owner) VALUES (1, 'Tony', 'bob');
SELECT crm.link_company(1, 5), crm.link_company(1, 6);

-- the job: its rows are the function's, in its order
SELECT crm.start_export('company_duplicates') AS job \gset
SELECT kind, object, query, status IN ('queued', 'running') AS pending FROM crm.jobs WHERE id = :job;
SELECT pg_temp.wait_job(:job);
SELECT status, processed_rows, total_rows, error, finished_at >= started_at AS finished FROM crm.jobs WHERE id = :job;
SELECT ordinal, data FROM crm.export_result(:job);
SELECT (SELECT jsonb_agg(r.data ORDER BY r.ordinal) FROM crm.export_result(:job) r)
	 = (SELECT jsonb_agg(to_jsonb(d)) FROM crm.company_duplicates(10000) d) AS same_as_synchronous;
SELECT type, object_type, object_id = :job AS is_job, payload, actor FROM crm.events WHERE type = 'CRM_EXPORT_FINISHED';
-- no pairs: a job of no rows, done
DELETE FROM crm.companies WHERE id IN (2, 4, 5, 6);
SELECT crm.start_export('company_duplicates') AS empty_job \gset
SELECT pg_temp.wait_job(:empty_job);
SELECT status, processed_rows, (SELECT count(*) FROM crm.export_result(:empty_job)) AS pairs FROM crm.jobs WHERE id = :empty_job;
INSERT INTO crm.companies (id, name, domain) VALUES
	(2, 'Umbrella Corp', NULL), (4, 'Hooli Cloud', 'cloud.hooli.xyz'),
	(5, 'Stark Industries', 'stark.com'), (6, 'Wayne Enterprises', 'wayne.com');
SELECT crm.link_company(1, 5), crm.link_company(1, 6);

-- bad starts write no job
SELECT count(*) AS jobs_before FROM crm.jobs \gset
SELECT crm.start_export('company_duplicates', 'name = ''Hooli''');
SELECT crm.start_export('company_duplicates', '', '{"contact_id": 1}');
SELECT crm.start_export('company_duplicates', '', '{"limit": 5}');
SELECT crm.start_export('company_duplicate');
SELECT (crm.set_module('companies', false)).enabled;
SELECT crm.start_export('company_duplicates');
SELECT (crm.set_module('companies', true)).enabled;
SELECT count(*) - :jobs_before AS jobs_written FROM crm.jobs;

-- as a frontend: an admin and a restricted member start it; the job runs
-- as each, so the member restricted by owner privacy gets no shared-contact
-- evidence, as from the synchronous call; another restricted member may
-- not read it, the admin may
CREATE ROLE crm_cdj_app;
SELECT crm.grant_access('crm_cdj_app');
SELECT user_id, role FROM crm.add_member('alice', 'admin');
SELECT user_id, role FROM crm.add_member('bob', 'agent');
SELECT user_id, role FROM crm.add_member('cat', 'agent');
SET ROLE crm_cdj_app;
SELECT set_config('request.jwt.claims', '{"sub": "alice", "workspace_id": 1}', false) IS NOT NULL AS as_alice;
SELECT crm.start_export('company_duplicates') AS job_alice \gset
SELECT pg_temp.wait_job(:job_alice);
SELECT status, created_by, user_id, run_as FROM crm.jobs WHERE id = :job_alice;
SELECT ordinal, data ->> 'company_a' AS a, data ->> 'company_b' AS b, data -> 'reasons' AS reasons FROM crm.export_result(:job_alice);
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', '{"sub": "bob", "workspace_id": 1}', false) IS NOT NULL AS as_bob;
SELECT crm.start_export('company_duplicates') AS job_bob \gset
SELECT pg_temp.wait_job(:job_bob);
SELECT ordinal, data ->> 'company_a' AS a, data ->> 'company_b' AS b, data -> 'reasons' AS reasons FROM crm.export_result(:job_bob);
SELECT (SELECT jsonb_agg(r.data ORDER BY r.ordinal) FROM crm.export_result(:job_bob) r)
	 = (SELECT jsonb_agg(to_jsonb(d)) FROM crm.company_duplicates(10000) d) AS same_as_synchronous;
SELECT set_config('request.jwt.claims', '{"sub": "cat", "workspace_id": 1}', false) IS NOT NULL AS as_cat;
SELECT count(*) FROM crm.export_result(:job_bob);
SELECT set_config('request.jwt.claims', '{"sub": "alice", "workspace_id": 1}', false) IS NOT NULL AS as_alice;
SELECT count(*) AS bob_pairs_read_by_alice FROM crm.export_result(:job_bob);
SELECT crm.set_privacy('everyone');
-- a frontend cannot write the job or its rows
UPDATE crm.jobs SET status = 'queued' WHERE id = :job_alice;
SELECT count(*) FROM crm_internal.job_results;
RESET request.jwt.claims;
RESET ROLE;
SELECT type, payload ->> 'object' AS object, payload ->> 'rows' AS rows, actor
  FROM crm.events WHERE type = 'CRM_EXPORT_FINISHED' ORDER BY id;

-- tests share one database: start from, and leave, an empty CRM
SELECT crm.remove_member('bob'), crm.remove_member('cat'), crm.remove_member('alice');
DROP OWNED BY crm_cdj_app;
DROP ROLE crm_cdj_app;
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.jobs RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
