-- The history of values (issue 19): crm.value_history written by the C
-- statement triggers of contacts, companies and deals; its sources, the
-- reads (crm.property_history, crm.*_as_of), merge, erasure and export,
-- retention, and a frontend's row writes.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_history;
\c crm_test_history
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('history-test', 'History test') IS NOT NULL AS created;
SELECT crm.use_workspace('history-test') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise']) > 0 AS plan;
SELECT crm.define_property('contact', 'score', 'number') > 0 AS score;
-- a property whose changes are not kept
UPDATE crm.property_definitions SET track_history = false WHERE key = 'score';
CREATE VIEW h AS
	SELECT object_type, object_id, key, custom, old_value, new_value, source, actor, merged_from
	  FROM crm.value_history ORDER BY id;

-- an insert records nothing: a record's first values are the old values of
-- its first changes, or its present values (history_first_values.sql)
INSERT INTO crm.contacts (name, email, lifecycle_stage, properties)
	VALUES ('Ada', 'ADA@example.com', 'lead', '{"plan": "free", "score": 3}') RETURNING id AS ada \gset
SELECT * FROM h;
SELECT clock_timestamp() AS t_lead \gset

-- an update records the tracked fields that changed, key by key in the
-- custom properties; score is not tracked, name is not a tracked field
UPDATE crm.contacts SET lifecycle_stage = 'customer', name = 'Ada L.', tags = '{VIP}',
	   properties = '{"plan": "pro", "score": 9}' WHERE id = :ada;
SELECT * FROM h WHERE old_value IS NOT NULL OR key = 'tags';
-- an update that changes nothing tracked writes nothing
SELECT count(*) AS before FROM crm.value_history \gset
UPDATE crm.contacts SET name = 'Ada Lovelace', properties = properties || '{"score": 10}' WHERE id = :ada;
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE id = :ada;
SELECT count(*) - :before AS written FROM crm.value_history;
SELECT clock_timestamp() AS t_customer \gset

-- a removed key, a cleared field; the actor is crm.current_actor()
SET crm.actor = 'agent-7';
UPDATE crm.contacts SET properties = properties - 'plan', lifecycle_stage = NULL WHERE id = :ada;
RESET crm.actor;
SELECT * FROM h WHERE new_value IS NULL;

-- reads: one field (CQL's spelling works too), oldest first; every field
SELECT key, old_value, new_value, source FROM crm.property_history('contact', :ada, 'lifecycleStage');
SELECT count(*) AS all_changes FROM crm.property_history('contact', :ada);
SELECT key, old_value, new_value FROM crm.property_history(' Contact ', :ada, 'plan');
SELECT crm.property_history('person', :ada);
SELECT crm.property_history('contact', 999999);
SELECT crm.property_history('company', :ada);

-- the record as it was: tracked fields and properties set back, the rest current
SELECT name, lifecycle_stage, tags, properties FROM crm.contact_as_of(:ada, :'t_lead');
SELECT name, lifecycle_stage, tags, properties FROM crm.contact_as_of(:ada, :'t_customer');
SELECT name, lifecycle_stage, tags, properties FROM crm.contact_as_of(:ada, now());
-- before it existed: NULL
SELECT crm.contact_as_of(:ada, '2000-01-01') IS NULL AS not_yet;
SELECT crm.contact_as_of(:ada, NULL);
SELECT crm.contact_as_of(:ada, 'infinity');
SELECT crm.contact_as_of(999999, now());

-- sources: a function, a bulk function, an import, identify
SELECT crm.update_contact(:ada, '{"owner": "u-1"}') = :ada AS updated;
SELECT crm.bulk_set_lifecycle_by_id(ARRAY[:ada]::bigint[], 'evangelist');
SELECT count(*) FROM crm.import_contacts('[{"email": "bo@example.com", "lifecycle_stage": "lead"}]');
-- (an import that creates records no history; one that updates does)
SELECT count(*) FROM crm.import_contacts('[{"email": "bo@example.com", "lifecycle_stage": "customer"}]');
SELECT crm.identify(email => 'cy@example.com', name => 'Cy') AS cy \gset
SELECT crm.identify(email => 'cy@example.com', phone => '+44 20 7946 0000') = :cy AS same_cy;
SELECT key, new_value, source FROM h WHERE old_value IS NULL AND key IN ('owner', 'email', 'phone') OR key = 'lifecycle_stage' AND new_value = '"evangelist"';
SELECT source, count(*) FROM crm.value_history GROUP BY 1 ORDER BY 1;

-- companies and deals; an update of many rows records each
INSERT INTO crm.companies (name, domain, plan) VALUES ('Acme', 'acme.example', 'free'), ('Initech', 'initech.example', 'free');
SELECT id AS acme FROM crm.companies WHERE name = 'Acme' \gset
SELECT clock_timestamp() AS t_free \gset
UPDATE crm.companies SET plan = 'enterprise';
SELECT object_id = :acme AS acme, key, old_value, new_value FROM h WHERE object_type = 'company' AND old_value IS NOT NULL;
SELECT name, plan FROM crm.company_as_of(:acme, :'t_free');
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.deals (title, value, contact_id) VALUES ('Engine', 100, :ada) RETURNING id AS engine \gset
SELECT clock_timestamp() AS t_deal \gset
UPDATE crm.deals SET value = 250, owner = 'u-2' WHERE id = :engine;
SELECT key, old_value, new_value FROM h WHERE object_type = 'deal' AND old_value IS NOT NULL OR key = 'owner' AND object_type = 'deal';
SELECT title, value, owner FROM crm.deal_as_of(:engine, :'t_deal');
-- a deleted row takes its history with it
DELETE FROM crm.deals WHERE id = :engine;
SELECT count(*) AS deal_history FROM crm.value_history WHERE object_type = 'deal';

-- merge: the duplicate's history moves to the survivor, marked with where
-- it came from (the duplicate keeps the merge's own changes to it: merged,
-- its keys released); the survivor's past is its own
INSERT INTO crm.contacts (name, phone, lifecycle_stage) VALUES ('Ada phone', '+44 20 7946 0958', 'opportunity')
	RETURNING id AS dup \gset
SELECT crm.merge_contacts(:ada, :dup) = :ada AS merged;
SELECT object_id = :ada AS on_survivor, key, old_value, new_value, source, merged_from = :dup AS from_dup
  FROM h WHERE merged_from IS NOT NULL OR source = 'merge';
SELECT key, new_value FROM h WHERE object_id = :dup AND object_type = 'contact';
SELECT lifecycle_stage, phone FROM crm.contact_as_of(:ada, :'t_customer');

-- a frontend: its row writes are recorded (source row, actor from its
-- claims); the history is read-only to it
CREATE ROLE crm_history_front NOLOGIN;
SELECT crm.grant_access('crm_history_front');
SET ROLE crm_history_front;
SELECT set_config('request.jwt.claims', '{"sub": "frontend-user"}', false) IS NOT NULL AS claims;
UPDATE crm.contacts SET lifecycle_stage = 'other' WHERE id = :cy;
SELECT key, old_value, new_value, source, actor FROM crm.property_history('contact', :cy, 'lifecycle_stage');
INSERT INTO crm.value_history (object_type, object_id, key, custom, new_value, source, actor, changed_at)
	VALUES ('contact', :cy, 'lifecycle_stage', false, '"customer"', 'row', 'me', now());
UPDATE crm.value_history SET new_value = '"customer"' WHERE object_id = :cy;
DELETE FROM crm.value_history WHERE object_id = :cy;
SELECT crm.prune_history();
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims_reset;
SELECT count(*) AS cy_changes FROM crm.property_history('contact', :cy);

-- CQL over history: EVER, NEVER, CHANGED [SINCE], WAS ... ON, in the
-- finders, counts and dynamic lists
INSERT INTO crm.contacts (name, email, lifecycle_stage, properties)
	VALUES ('Dee', 'dee@example.com', 'lead', '{"plan": "free"}') RETURNING id AS dee \gset
INSERT INTO crm.contacts (name, email, lifecycle_stage, properties)
	VALUES ('Eve', 'eve@example.com', 'subscriber', '{"plan": "enterprise"}') RETURNING id AS eve \gset
SELECT (crm.create_list('Ever customers', 'contact', 'dynamic', 'lifecycleStage EVER = CUSTOMER')).id AS ever_list \gset
SELECT (crm.create_list('Never enterprise', 'contact', 'dynamic', 'plan NEVER IN (''enterprise'')')).id AS never_list \gset
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t_dee_lead \gset
UPDATE crm.contacts SET lifecycle_stage = 'customer' WHERE id = :dee;
UPDATE crm.contacts SET lifecycle_stage = 'evangelist', properties = '{"plan": "enterprise"}' WHERE id = :dee;
UPDATE crm.contacts SET properties = '{"plan": "pro"}' WHERE id = :eve;
SELECT name, lifecycle_stage FROM crm.find_contacts('lifecycleStage EVER = CUSTOMER AND name IN (''Dee'', ''Eve'')');
SELECT name FROM crm.find_contacts('lifecycleStage NEVER IN (CUSTOMER, EVANGELIST) AND name IN (''Dee'', ''Eve'')');
SELECT name FROM crm.find_contacts('plan EVER = ''enterprise'' AND name IN (''Dee'', ''Eve'')', 'name');
SELECT name FROM crm.find_contacts('properties.plan NEVER = ''free'' AND name IN (''Dee'', ''Eve'')');
SELECT crm.count('contact', 'lifecycleStage CHANGED SINCE LAST_N_DAYS:30 AND name = ''Dee''') AS changed_recently,
	   crm.count('contact', 'lifecycleStage CHANGED SINCE 2999-01-01') AS changed_in_future;
SELECT name FROM crm.find_contacts(format('lifecycleStage WAS LEAD ON %s AND name IN (''Dee'', ''Eve'')', :'t_dee_lead'));
SELECT name FROM crm.find_contacts('lifecycleStage WAS LEAD ON 2000-01-01 AND name IN (''Dee'', ''Eve'')');
SELECT name FROM crm.find_contacts('lifecycleStage WAS EVANGELIST ON NOW AND name IN (''Dee'', ''Eve'')');
-- the dynamic lists kept their members at each commit: Dee stays an ever-customer
SELECT c.name FROM crm.get_list_members(:ever_list) m JOIN crm.contacts c ON c.id = m.object_id ORDER BY 1;
SELECT c.name FROM crm.get_list_members(:never_list) m JOIN crm.contacts c ON c.id = m.object_id ORDER BY 1;
-- each list holds what its filter finds
SELECT array(SELECT object_id FROM crm.get_list_members(:never_list) ORDER BY 1)
	 = array(SELECT id FROM crm.find_contacts('plan NEVER IN (''enterprise'')', 'id', 1000)) AS never_exact,
	   array(SELECT object_id FROM crm.get_list_members(:ever_list) ORDER BY 1)
	 = array(SELECT id FROM crm.find_contacts('lifecycleStage EVER = CUSTOMER', 'id', 1000)) AS ever_exact;
SELECT crm.refresh_list(:ever_list) IS NOT NULL AS refreshed;
SELECT c.name FROM crm.get_list_members(:ever_list) m JOIN crm.contacts c ON c.id = m.object_id ORDER BY 1;
-- what cannot be asked
SELECT crm.cql_check('contact', 'lifecycleStage EVER CUSTOMER');
SELECT crm.cql_check('contact', 'lifecycleStage WAS LEAD');
SELECT crm.cql_check('contact', 'createdAt EVER = 2024-01-01');
SELECT crm.cql_check('contact', 'lifecycleStage EVER = NOPE');
SELECT crm.cql_check('contact', 'lifecycleStage EVER = null');
SELECT crm.cql_check('order', 'status EVER = PAID');
SELECT crm.cql_to_sql('contact', 'lifecycleStage EVER = CUSTOMER');

-- a history table the DBA changed (a trigger of their own) is written
-- through its INSERT, which honours it
CREATE FUNCTION public.history_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'history of %: % -> %', NEW.key, NEW.old_value, NEW.new_value;
	RETURN NEW;
END $$;
CREATE TRIGGER seen BEFORE INSERT ON crm.value_history FOR EACH ROW EXECUTE FUNCTION public.history_seen();
UPDATE crm.contacts SET lifecycle_stage = 'lead', owner = 'u-9' WHERE id = :cy;
DROP TRIGGER seen ON crm.value_history;
SELECT key, old_value, new_value FROM crm.property_history('contact', :cy) WHERE new_value IN ('"lead"', '"u-9"');

-- GDPR: the access export includes the history; erasure removes it
SELECT jsonb_array_length(crm.export_contact(:ada) -> 'value_history') > 0 AS exported;
SELECT crm.delete_contact(:ada, hard => true) = :ada AS erased;
SELECT count(*) AS ada_history FROM crm.value_history
 WHERE object_type = 'contact' AND object_id IN (:ada, :dup);

-- retention: a workspace's history_retention_days, applied by crm.prune_history()
UPDATE crm.value_history SET changed_at = changed_at - interval '40 days' WHERE object_type = 'company';
SELECT crm.prune_history() AS without_setting;
UPDATE crm.workspaces SET settings = settings || '{"history_retention_days": 30}' WHERE slug = 'history-test';
SELECT crm.prune_history() AS pruned;
SELECT count(*) AS company_history FROM crm.value_history WHERE object_type = 'company';
UPDATE crm.workspaces SET settings = settings || '{"history_retention_days": "a month"}' WHERE slug = 'history-test';
SELECT crm.prune_history();

\c contrib_regression
DROP DATABASE crm_test_history;
DROP ROLE crm_history_front;
