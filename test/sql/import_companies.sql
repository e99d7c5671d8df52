-- Companies as an import object: crm.import_companies (modes, matching by
-- normalised domain then exact name, declared and free-form properties,
-- a report row per input row) and crm.start_import('companies', ...).
\set VERBOSITY default

-- tests share one database: start from, and leave, an empty CRM
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.jobs, crm.value_history RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset

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

SELECT crm.define_property('company', 'tier', 'number') > 0 AS tier;
SELECT crm.company_import_keys();
INSERT INTO crm.companies (name, domain, employees) VALUES ('Acme', 'acme.com', 10);

-- upsert: a URL is matched by its domain, a row without domain by its
-- name, rows of one domain in order; bad rows reported, good ones written
SELECT * FROM crm.import_companies('[
	{"domain": "https://www.ACME.com/about", "industry": "Anvils", "employees": "250", "tags": "b2b; tools"},
	{"name": "Globex", "plan": "pro", "spend": 1200.5, "tier": 2, "properties.region": "EU"},
	{"name": "Globex", "description": "the second row finds the first", "tags": ["x"]},
	{"domain": "initech.example", "owner": "bill", "properties": {"founded": 1999, "gone": null}},
	{"domain": "INITECH.example", "name": "Initech", "employees": ""},
	{"domain": "not a domain"},
	{"name": "Neg", "employees": -5},
	{"name": "Neg", "spend": "-1"},
	{"name": "Many", "employees": "lots"},
	{"name": "Many", "employees": 12.5},
	{"name": "Rich", "spend": "1,000"},
	{"ceo": "nobody"},
	{"industry": "no name or domain"},
	{"name": "Bad tier", "tier": "high"},
	"just a string"
]');
SELECT name, domain, industry, employees, plan, spend, description, owner, tags, properties
  FROM crm.companies ORDER BY id;
-- events through the row path, history says import
SELECT type, object_id FROM crm.events WHERE object_type = 'company' ORDER BY id;
SELECT DISTINCT source FROM crm.value_history WHERE object_type = 'company';

-- modes: insert refuses existing companies, update unknown ones
SELECT * FROM crm.import_companies('[{"domain": "acme.com"}, {"name": "Globex"}, {"name": "Hooli"}]', 'insert');
SELECT * FROM crm.import_companies('[{"domain": "nowhere.example"}, {"name": "Hooli", "industry": "Search"}]', 'update');
SELECT * FROM crm.import_companies('[]');
SELECT * FROM crm.import_companies('{"name": "x"}');
SELECT * FROM crm.import_companies('[]', 'merge');
-- atomic: the first bad row fails the call, nothing written
SELECT * FROM crm.import_companies('[{"name": "Atom"}, {"domain": "bad domain"}]', 'upsert', true);
SELECT * FROM crm.import_companies('[{"name": "Atom"}, {"ceo": "x"}]', 'upsert', true);
SELECT * FROM crm.import_companies('[{"name": "Atom"}, {"domain": "acme.com"}]', 'insert', true);
SELECT count(*) AS atoms FROM crm.companies WHERE name = 'Atom';

-- the import switch and the companies module
SELECT name, value FROM crm.set_limit('import', 0);
SELECT * FROM crm.import_companies('[{"name": "Off"}]');
SELECT crm.start_import('companies', '[{"name": "Off"}]');
SELECT name, value FROM crm.set_limit('import', NULL);
SELECT crm.set_module('companies', false) IS NOT NULL AS off;
SELECT * FROM crm.import_companies('[{"name": "Off"}]');
SELECT crm.start_import('companies', '[{"name": "Off"}]');
SELECT crm.set_module('companies', true) IS NOT NULL AS back_on;
SELECT crm.start_import('deals', '[{"name": "x"}]');

-- as a job: batches of two, the report per row, the finishing event
SELECT crm.start_import('companies', '[
	{"domain": "umbrella.example", "name": "Umbrella"},
	{"domain": "acme.com", "plan": "enterprise"},
	{"domain": "-"},
	{"name": "Umbrella", "industry": "Pharma"},
	{"domain": "umbrella.example", "employees": 9000}
]', '{"batch_size": 2}') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT object, status, total_rows, processed_rows, inserted, updated, merged, rejected FROM crm.import_job(:job);
SELECT r.ordinal, r.action, c.name AS company, r.problem
  FROM crm.job_reports r LEFT JOIN crm.companies c ON c.id = r.record_id
 WHERE r.job_id = :job ORDER BY r.ordinal;
SELECT name, domain, industry, employees, plan FROM crm.companies WHERE name IN ('Acme', 'Umbrella') ORDER BY id;
SELECT payload ->> 'object' AS object, payload ->> 'inserted' AS inserted FROM crm.events WHERE type = 'CRM_IMPORT_FINISHED';

-- as a frontend member: an agent imports (events name the request), a viewer may not
CREATE ROLE crm_ic_app;
SELECT crm.grant_access('crm_ic_app');
SELECT user_id, role FROM crm.add_member('alice', 'admin');
SELECT user_id, role FROM crm.add_member('bob', 'agent');
SELECT user_id, role FROM crm.add_member('vic', 'viewer');
SET ROLE crm_ic_app;
SET crm.user_id = 'bob';
SELECT * FROM crm.import_companies('[{"domain": "front.example", "name": "Front", "tags": "web"}, {"domain": "acme.com", "industry": "Rockets"}]');
SELECT crm.start_import('companies', '[{"domain": "front.example", "employees": 3}]') AS job \gset
SELECT pg_temp.wait_job(:job);
SELECT status, run_as, user_id, updated FROM crm.import_job(:job);
SELECT name, domain, industry, employees, tags FROM crm.companies WHERE domain IN ('front.example', 'acme.com') ORDER BY id;
SELECT type, actor FROM crm.events WHERE object_type = 'company'
   AND object_id = (SELECT id FROM crm.companies WHERE domain = 'front.example') ORDER BY id;
SET crm.user_id = 'vic';
SELECT * FROM crm.import_companies('[{"name": "Viewer Co"}]');
SELECT crm.start_import('companies', '[{"name": "Viewer Co"}]');
-- the same row written as the table: the viewer is refused there too
INSERT INTO crm.companies (name) VALUES ('Viewer Co');
RESET crm.user_id;
RESET ROLE;
SELECT count(*) AS viewer_co FROM crm.companies WHERE name = 'Viewer Co';

-- tests share one database: start from, and leave, an empty CRM
SELECT crm.remove_member('bob'), crm.remove_member('vic'), crm.remove_member('alice');
DROP OWNED BY crm_ic_app;
DROP ROLE crm_ic_app;
SELECT crm.drop_property('company', 'tier');
SET client_min_messages = warning;
TRUNCATE crm.contacts, crm.companies, crm.events, crm.external_ids, crm.jobs, crm.value_history RESTART IDENTITY CASCADE;
RESET client_min_messages;
DELETE FROM crm.workspaces WHERE id <> 1;
SELECT setval(pg_get_serial_sequence('crm.workspaces', 'id'), 1) AS reset \gset
