-- The data test/t/upgrade.sh loads into an install of 0.2.0 before
-- updating it to the version being built.  It must keep loading into 0.2.0:
-- while test/sample.sql and test/sample_sales.sql still do, they are
-- included; when they start using something newer, copy here the versions
-- that load into 0.2.0.
\set ON_ERROR_STOP on
\ir ../sample.sql
\ir ../sample_sales.sql
SET client_min_messages = warning;
-- what the sample leaves out: workspace 1, a merged and a deleted contact,
-- a consent recorded as a row, an empty workspace, a role granted the CRM
-- (an update extends its privileges to new tables)
DO $$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_upgrade_app') THEN
		CREATE ROLE crm_upgrade_app;
	END IF;
END $$;
SELECT crm.grant_access('crm_upgrade_app');
SET crm.workspace_id = 1;
INSERT INTO crm.contacts (name, email) VALUES ('Up One', 'one@upgrade.example'), ('Up Two', 'two@upgrade.example');
SELECT crm.merge_contacts((SELECT id FROM crm.contacts WHERE email = 'two@upgrade.example'),
						  (SELECT id FROM crm.contacts WHERE email = 'one@upgrade.example'));
INSERT INTO crm.contacts (name, email) VALUES ('Up Three', 'three@upgrade.example');
UPDATE crm.contacts SET status = 'deleted' WHERE email = 'three@upgrade.example';
INSERT INTO crm.contact_consents (contact_id, channel, status, source)
SELECT id, 'email', 'granted', 'upgrade test' FROM crm.contacts WHERE name = 'Up Two';
SELECT crm.create_workspace('empty', 'Empty');
-- a segment (a dynamic list with an owner) made by a trusted role: 0.3.0
-- keeps it visible to the workspace on update, and a fresh install makes
-- it so too (private is the default only for a member's own segment)
SELECT crm.create_list('Agent segment', 'contact', 'dynamic', 'lifecycleStage = LEAD', owner => 'agent-7') IS NOT NULL AS segment;
