-- A record's creation writes no history (issues 17 and 25): its first value
-- of a key is the old value of the key's first change, or its present value
-- when the key never changed.  Every reader (CQL's EVER, NEVER, CHANGED,
-- WAS, crm.contact_as_of) gives the same answer for a contact created the
-- new way as for one created the old way, with rows for its first values
-- written by hand as the history's creation trigger wrote them; through a
-- function and through a frontend's row writes; across merge and unmerge.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_history_first;
\c crm_test_history_first
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('first-values', 'First values') IS NOT NULL AS created;
SELECT crm.use_workspace('first-values') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise']) > 0 AS plan;
SELECT crm.define_property('contact', 'score', 'number') > 0 AS score;
UPDATE crm.property_definitions SET track_history = false WHERE key = 'score';
CREATE ROLE crm_first_front NOLOGIN;
SELECT crm.grant_access('crm_first_front');

-- The rows the creation trigger wrote before: one per tracked field with a
-- value (a NULL or an empty array is none) and per tracked custom property,
-- old value NULL, at the creation.  Written by hand, as the owner.
CREATE FUNCTION old_creation_rows(contact bigint, how text) RETURNS bigint LANGUAGE sql AS $$
	WITH c AS (SELECT * FROM crm.contacts WHERE id = contact),
	rows AS (
		SELECT f.key, false AS custom, f.value
		  FROM c, jsonb_each(to_jsonb(c)) f
		 WHERE f.key IN ('lifecycle_stage', 'status', 'owner', 'email', 'phone', 'tags', 'city', 'country')
		   AND f.value NOT IN ('null', '[]')
		UNION ALL
		SELECT p.key, true, p.value
		  FROM c, jsonb_each(c.properties) p
		 WHERE p.key <> 'score'),
	ins AS (
		INSERT INTO crm.value_history (workspace_id, object_type, object_id, key, custom, old_value, new_value,
									   source, actor, changed_at)
		SELECT c.workspace_id, 'contact', c.id, r.key, r.custom, NULL, r.value, how, 'creator', c.created_at
		  FROM c, rows r
		RETURNING 1)
	SELECT count(*) FROM ins
$$;

-- two pairs created in one transaction: through functions (crm.identify),
-- and through a frontend's row writes
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t0 \gset
BEGIN;
SELECT crm.identify(email => 'fn-new@example.com', name => 'fn-new', properties => '{"plan": "free", "score": 1}') AS fn_new \gset
SELECT crm.identify(email => 'fn-old@example.com', name => 'fn-old', properties => '{"plan": "free", "score": 1}') AS fn_old \gset
SET LOCAL ROLE crm_first_front;
INSERT INTO crm.contacts (name, email, lifecycle_stage, owner, properties)
	VALUES ('row-new', 'row-new@example.com', 'lead', 'u-1', '{"plan": "free"}') RETURNING id AS row_new \gset
INSERT INTO crm.contacts (name, email, lifecycle_stage, owner, properties)
	VALUES ('row-old', 'row-old@example.com', 'lead', 'u-1', '{"plan": "free"}') RETURNING id AS row_old \gset
COMMIT;
-- created the new way: no rows
SELECT count(*) AS rows_at_creation FROM crm.value_history;
-- the old way, by hand
SELECT old_creation_rows(:fn_old, 'identify') AS fn_old_rows, old_creation_rows(:row_old, 'row') AS row_old_rows;
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t1 \gset

-- the first change, then the second
BEGIN;
SELECT crm.update_contact(:fn_new, '{"lifecycle_stage": "customer", "properties": {"plan": "pro", "score": 2}}') = :fn_new AS fn_new_1,
	   crm.update_contact(:fn_old, '{"lifecycle_stage": "customer", "properties": {"plan": "pro", "score": 2}}') = :fn_old AS fn_old_1;
SET LOCAL ROLE crm_first_front;
UPDATE crm.contacts SET lifecycle_stage = 'customer', tags = '{VIP}', properties = '{"plan": "pro"}'
 WHERE id IN (:row_new, :row_old);
COMMIT;
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t2 \gset
BEGIN;
SELECT crm.update_contact(:fn_new, '{"lifecycle_stage": "evangelist", "properties": {"plan": "enterprise", "score": 3}}') = :fn_new AS fn_new_2,
	   crm.update_contact(:fn_old, '{"lifecycle_stage": "evangelist", "properties": {"plan": "enterprise", "score": 3}}') = :fn_old AS fn_old_2;
SET LOCAL ROLE crm_first_front;
UPDATE crm.contacts SET lifecycle_stage = 'evangelist', properties = '{"plan": "enterprise"}'
 WHERE id IN (:row_new, :row_old);
COMMIT;
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t3 \gset

-- what each kept: the old way has its first values as rows of their own,
-- the new way as the old values of the first changes
SELECT c.name, h.key, h.old_value, h.new_value
  FROM crm.value_history h JOIN crm.contacts c ON c.id = h.object_id
 WHERE c.name IN ('row-new', 'row-old') AND h.key IN ('lifecycle_stage', 'owner', 'plan')
 ORDER BY c.name, h.key, h.changed_at, h.id;

-- The questions, at times before the creation (t0), between it and the
-- first change (t1), between the changes (t2) and after them (t3), asked
-- as the frontend: one column per contact
CREATE TABLE questions (n serial, q text);
INSERT INTO questions (q) VALUES
	('lifecycleStage EVER = LEAD'), ('lifecycleStage EVER = CUSTOMER'), ('lifecycleStage EVER = SUBSCRIBER'),
	('lifecycleStage NEVER = LEAD'), ('plan EVER = ''free'''), ('plan NEVER IN (''free'')'),
	('owner EVER = ''u-1'''), ('status EVER = ACTIVE'),
	('lifecycleStage CHANGED'), ('owner CHANGED'), ('city CHANGED'), ('tags CHANGED'), ('plan CHANGED'),
	('score CHANGED'), ('name CHANGED'),
	('lifecycleStage CHANGED SINCE ' || :'t0'), ('lifecycleStage CHANGED SINCE ' || :'t1'),
	('lifecycleStage CHANGED SINCE ' || :'t3'), ('owner CHANGED SINCE ' || :'t0'), ('owner CHANGED SINCE ' || :'t1'),
	('tags CHANGED SINCE ' || :'t0'), ('plan CHANGED SINCE ' || :'t1'),
	('lifecycleStage WAS LEAD ON ' || :'t0'), ('lifecycleStage WAS LEAD ON ' || :'t1'),
	('lifecycleStage WAS CUSTOMER ON ' || :'t1'), ('lifecycleStage WAS CUSTOMER ON ' || :'t2'),
	('lifecycleStage WAS EVANGELIST ON ' || :'t3'), ('plan WAS ''free'' ON ' || :'t1'),
	('plan WAS ''pro'' ON ' || :'t2'), ('owner WAS ''u-1'' ON ' || :'t1'), ('owner WAS ''u-1'' ON ' || :'t0'),
	('status WAS ACTIVE ON ' || :'t1');
GRANT SELECT ON questions TO crm_first_front;
CREATE VIEW answers AS
	SELECT q.n, regexp_replace(q.q, '\d{4}-\d\d-\d\dT[0-9:.]+Z', 't') AS question,
		   'fn-new' = ANY (f.names) AS fn_new, 'fn-old' = ANY (f.names) AS fn_old,
		   'row-new' = ANY (f.names) AS row_new, 'row-old' = ANY (f.names) AS row_old, q.q
	  FROM questions q,
		   LATERAL (SELECT array(SELECT c.name FROM crm.find_contacts(q.q || ' AND name IN (''fn-new'', ''fn-old'', ''row-new'', ''row-old'')') c)
					   AS names) f;
GRANT SELECT ON answers TO crm_first_front;
SET ROLE crm_first_front;
SELECT n, question, fn_new, fn_old, row_new, row_old FROM answers ORDER BY n;
-- the translation counts the first value where the creation wrote none
SELECT crm.cql_to_sql('contact', 'owner CHANGED SINCE 2024-06-01');
SELECT crm.cql_to_sql('contact', 'plan EVER = ''free''');
-- the record as it was, at each time
SELECT t.name AS at,
	   (SELECT to_jsonb(a) - ARRAY['id', 'name', 'email', 'updated_at', 'last_seen_at', 'first_seen_at', 'search_key']
		  FROM crm.contact_as_of(:row_new, t.at) a) = (SELECT to_jsonb(a) - ARRAY['id', 'name', 'email', 'updated_at', 'last_seen_at', 'first_seen_at', 'search_key']
		  FROM crm.contact_as_of(:row_old, t.at) a) AS row_same,
	   (SELECT to_jsonb(a) - ARRAY['id', 'name', 'email', 'updated_at', 'last_seen_at', 'first_seen_at', 'search_key']
		  FROM crm.contact_as_of(:fn_new, t.at) a) = (SELECT to_jsonb(a) - ARRAY['id', 'name', 'email', 'updated_at', 'last_seen_at', 'first_seen_at', 'search_key']
		  FROM crm.contact_as_of(:fn_old, t.at) a) AS fn_same,
	   (SELECT a.lifecycle_stage || ' ' || coalesce(a.owner, '-') || ' ' || a.tags::text || ' ' || a.properties::text
		  FROM crm.contact_as_of(:row_new, t.at) a) AS row_new
  FROM (VALUES ('t0', :'t0'::timestamptz), ('t1', :'t1'), ('t2', :'t2'), ('t3', :'t3')) t(name, at)
 ORDER BY t.name;
SELECT crm.contact_as_of(:row_new, :'t0') IS NULL AS before_creation;
RESET ROLE;
-- every answer the same, the owner's too
SELECT count(*) AS questions, count(*) FILTER (WHERE fn_new = fn_old AND row_new = row_old) AS same FROM answers;

-- A merge carries the duplicate's history, and writes first the first
-- values the duplicate never changed (dated at its creation): the survivor
-- was a customer under the duplicate's record.  The old way's duplicate has
-- them already, and gets no second row.
INSERT INTO crm.contacts (name, email, lifecycle_stage) VALUES
	('m-new', 'm-new@example.com', 'lead'), ('m-old', 'm-old@example.com', 'lead');
INSERT INTO crm.contacts (name, phone, lifecycle_stage, owner, properties) VALUES
	('d-new', '+44 20 7946 0001', 'customer', 'u-7', '{"plan": "pro"}'),
	('d-old', '+44 20 7946 0002', 'customer', 'u-7', '{"plan": "pro"}');
SELECT id AS m_new FROM crm.contacts WHERE name = 'm-new' \gset
SELECT id AS m_old FROM crm.contacts WHERE name = 'm-old' \gset
SELECT id AS d_new FROM crm.contacts WHERE name = 'd-new' \gset
SELECT id AS d_old FROM crm.contacts WHERE name = 'd-old' \gset
SELECT old_creation_rows(:m_old, 'row') AS m_old_rows, old_creation_rows(:d_old, 'row') AS d_old_rows;
UPDATE crm.contacts SET phone = '+44 20 7946 0003' WHERE id = :d_new;
UPDATE crm.contacts SET phone = '+44 20 7946 0004' WHERE id = :d_old;
SELECT crm.merge_contacts(:m_new, :d_new) = :m_new AS merged_new, crm.merge_contacts(:m_old, :d_old) = :m_old AS merged_old;
-- carried: the first values written by the merge (old NULL), and the change of phone
SELECT key, old_value, new_value, source, changed_at = (SELECT created_at FROM crm.contacts WHERE id = :d_new) AS at_creation
  FROM crm.value_history WHERE object_id = :m_new AND merged_from = :d_new ORDER BY key;
SELECT count(*) AS carried_old FROM crm.value_history WHERE object_id = :m_old AND merged_from = :d_old;
SELECT q, 'm-new' = ANY (f.names) AS m_new, 'm-old' = ANY (f.names) AS m_old
  FROM unnest(ARRAY['lifecycleStage EVER = CUSTOMER', 'owner EVER = ''u-7''', 'plan EVER = ''pro''',
					'phone EVER IN (''+442079460001'', ''+442079460002'')', 'plan CHANGED',
					'lifecycleStage WAS CUSTOMER ON NOW']) q,
	   LATERAL (SELECT array(SELECT c.name FROM crm.find_contacts(q || ' AND name IN (''m-new'', ''m-old'')') c) AS names) f;
-- unmerge takes the rows back, the merge's first values with them
SELECT crm.unmerge(id) IS NOT NULL AS unmerged FROM crm.merges WHERE loser_id IN (:d_new, :d_old) ORDER BY id;
SELECT count(*) AS left_on_survivor FROM crm.value_history WHERE object_id IN (:m_new, :m_old) AND merged_from IS NOT NULL;
SELECT q, 'm-new' = ANY (f.names) AS m_new, 'm-old' = ANY (f.names) AS m_old,
	   'd-new' = ANY (f.names) AS d_new, 'd-old' = ANY (f.names) AS d_old
  FROM unnest(ARRAY['lifecycleStage EVER = CUSTOMER', 'owner EVER = ''u-7''', 'plan CHANGED', 'owner CHANGED',
					'phone EVER = ''+442079460001''', 'phone EVER = ''+442079460002''']) q,
	   LATERAL (SELECT array(SELECT c.name FROM crm.find_contacts(q || ' AND name IN (''m-new'', ''m-old'', ''d-new'', ''d-old'')') c) AS names) f;

-- a company merge does the same
INSERT INTO crm.companies (name, domain, plan) VALUES ('Globex', 'globex.example', 'free'), ('Globex Corp', 'globex-corp.example', 'enterprise');
SELECT crm.merge_companies((SELECT id FROM crm.companies WHERE name = 'Globex'), (SELECT id FROM crm.companies WHERE name = 'Globex Corp')) IS NOT NULL AS merged;
SELECT name FROM crm.find_companies('plan EVER = ''enterprise''');
SELECT crm.count('company', 'plan WAS ''enterprise'' ON NOW') AS was_enterprise;

-- whether a field is tracked: the trigger's columns, a definition's track_history
SELECT crm_hidden.history_tracked('contact', 'owner', false) AS owner, crm_hidden.history_tracked('contact', 'name', false) AS name,
	   crm_hidden.history_tracked('contact', 'plan', true) AS plan, crm_hidden.history_tracked('contact', 'score', true) AS score,
	   crm_hidden.history_tracked('contact', 'undeclared', true) AS undeclared, crm_hidden.history_tracked('deal', 'stage_id', false) AS stage;
SELECT crm_hidden.history_tracked('order', 'status', false);

\c contrib_regression
DROP DATABASE crm_test_history_first;
DROP ROLE crm_first_front;
