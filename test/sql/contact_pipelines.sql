-- Contact pipelines (issue 16 item 2, docs/contact-pipelines.md): a contact
-- sits in at most one stage of each contact pipeline, in board order; the
-- row write of crm.contact_stages is the move and crm.move_contact a
-- convenience over it; every move has its history row, its stage_changed
-- activity on the timeline and its CRM_CONTACT_STAGE_CHANGED event.  Own
-- database: stable ids.
CREATE DATABASE crm_test_contact_pipelines;
\c crm_test_contact_pipelines
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

SELECT crm.create_pipeline('Sales', 'b2b_sales');                        -- stages 1..6
INSERT INTO crm.pipelines (name, object_type) VALUES ('Support', 'contact'), ('Onboarding', 'contact');
SELECT crm.add_stage(2, 'New'), crm.add_stage(2, 'Waiting'), crm.add_stage(2, 'Solved', kind => 'won'),
       crm.add_stage(3, 'Signed up');                                    -- 7, 8, 9, 10
SELECT id, name, object_type, is_default FROM crm.pipelines ORDER BY id;
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', 'bob@example.com'),
	('Cy', 'cy@example.com'), ('Di', 'di@example.com');

-- happy path: the function places at the end, or above a card
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(1, 7);
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(2, 7);
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(3, 7, before_contact_id => 2);
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(4, 7, before_contact_id => 1);
-- one place per pipeline: a move within it updates the row; another pipeline is another row
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(1, 8);
SELECT contact_id, pipeline_id, stage_id, position FROM crm.move_contact(1, 10);
SELECT contact_id, stage_name, card_rank, stage_contacts FROM crm.contact_kanban
 WHERE pipeline_id = 2 ORDER BY stage_position, card_rank;
SELECT contact_id, pipeline_name, stage_name FROM crm.contact_pipeline_stages ORDER BY contact_id, pipeline_id;
-- the deal boards and reports list deal pipelines only
SELECT (SELECT count(*) FROM crm.kanban k JOIN crm.pipelines p ON p.id = k.pipeline_id WHERE p.object_type = 'contact') AS kanban,
	   (SELECT count(*) FROM crm.pipeline_summary k JOIN crm.pipelines p ON p.id = k.pipeline_id WHERE p.object_type = 'contact') AS summary,
	   (SELECT count(*) FROM crm.stage_conversion k JOIN crm.pipelines p ON p.id = k.pipeline_id WHERE p.object_type = 'contact') AS conversion,
	   (SELECT count(DISTINCT pipeline_id) FROM crm.kanban) AS deal_pipelines;

-- no room between two cards: the stage is respaced in its order
UPDATE crm.contact_stages SET position = 1 WHERE contact_id = 4;
UPDATE crm.contact_stages SET position = 2 WHERE contact_id = 3;
SELECT contact_id, position FROM crm.move_contact(1, 7, before_contact_id => 3);
SELECT contact_id, position FROM crm.contact_stages WHERE stage_id = 7 ORDER BY position;

-- history, activities (the timeline) and events of contact 1
SELECT pipeline_id, from_stage_id, stage_id, left_at IS NOT NULL AS left, actor FROM crm.contact_stage_history
 WHERE contact_id = 1 ORDER BY id;
SELECT kind, summary, payload ->> 'pipeline' AS pipeline, payload ->> 'stage_id' AS stage_id
  FROM crm.timeline_entries('contact', 1) WHERE kind = 'stage_change';
SELECT type, payload - 'position' AS payload FROM crm.events
 WHERE type = 'CRM_CONTACT_STAGE_CHANGED' AND object_id = 1 ORDER BY id;
-- a respaced card did not move: its placement's event only
SELECT count(*) AS events_of_4 FROM crm.events WHERE type = 'CRM_CONTACT_STAGE_CHANGED' AND object_id = 4;

-- bad input: each refused, nothing written
SELECT count(*) AS events_before FROM crm.events \gset
SELECT crm.move_contact(1, 2);                       -- a deal pipeline's stage
SELECT crm.move_contact(1, 999);                     -- unknown stage
SELECT crm.move_contact(999, 7);                     -- unknown contact
SELECT crm.move_contact(1, 7, before_contact_id => 1);
SELECT crm.move_contact(2, 8, before_contact_id => 3);   -- 3 is not in stage 8
INSERT INTO crm.contact_stages (contact_id, stage_id) VALUES (2, 3);
INSERT INTO crm.contact_stages (contact_id, pipeline_id, stage_id) VALUES (2, 3, 8);
INSERT INTO crm.contact_stages (contact_id, stage_id) VALUES (2, 9);  -- already on Support
UPDATE crm.contact_stages SET stage_id = 10 WHERE contact_id = 2;      -- Onboarding's stage
UPDATE crm.contact_stages SET pipeline_id = 3 WHERE contact_id = 2;
UPDATE crm.contact_stages SET entered_at = '2020-01-01' WHERE contact_id = 2;
UPDATE crm.contact_stages SET stage_id = 8, entered_at = '2020-01-01' WHERE contact_id = 2;
-- deals stay on deal pipelines; a contact pipeline is never the default
INSERT INTO crm.deals (title, pipeline_id) VALUES ('Support deal', 2);
INSERT INTO crm.deals (title, stage_id) VALUES ('Support deal', 8);
UPDATE crm.deals SET stage_id = 8 WHERE false;
\set VERBOSITY terse
INSERT INTO crm.pipelines (name, object_type, is_default) VALUES ('Churn', 'contact', true);
INSERT INTO crm.pipelines (name, object_type) VALUES ('Churn', 'lead');
UPDATE crm.pipelines SET object_type = 'deal' WHERE id = 2;
UPDATE crm.pipelines SET object_type = 'contact' WHERE id = 1;
\set VERBOSITY default
SELECT count(*) - :events_before AS events_written FROM crm.events;
-- an empty pipeline may change what it tracks
UPDATE crm.pipelines SET object_type = 'deal' WHERE id = 3 AND NOT EXISTS (SELECT FROM crm.contact_stages WHERE pipeline_id = 3);
DELETE FROM crm.contact_stages WHERE pipeline_id = 3;
UPDATE crm.pipelines SET object_type = 'deal' WHERE id = 3 RETURNING name, object_type;
UPDATE crm.pipelines SET object_type = 'contact' WHERE id = 3 RETURNING name, object_type;

-- CQL and a dynamic list over it, exact at every move
SELECT id, name FROM crm.find_contacts('EXISTS pipelineStages(pipeline = ''Support'' AND stage = ''Waiting'')') ORDER BY id;
SELECT id, name FROM crm.find_contacts('NOT EXISTS pipelineStages(pipeline = ''Onboarding'')') ORDER BY id;
SELECT id, name FROM crm.find_contacts('EXISTS pipelineStages(stage = WON)') ORDER BY id;
SELECT crm.cql_to_sql('contact', 'EXISTS pipelineStages(stage = ''Waiting'')') LIKE '%crm.contact_stages%' AS reads_placements;
SELECT id AS waiting FROM crm.create_list('Waiting on support', 'contact', 'dynamic',
	'EXISTS pipelineStages(pipeline = ''Support'' AND stage = ''Waiting'')') \gset
SELECT contact_id FROM crm.list_members WHERE list_id = :waiting ORDER BY 1;
SELECT crm.move_contact(2, 8) IS NOT NULL AS moved;
UPDATE crm.contact_stages SET stage_id = 9 WHERE contact_id = 1;
SELECT contact_id FROM crm.list_members WHERE list_id = :waiting ORDER BY 1;
DELETE FROM crm.contact_stages WHERE contact_id = 2 AND pipeline_id = 2;
SELECT contact_id FROM crm.list_members WHERE list_id = :waiting ORDER BY 1;
SELECT pipeline_id, from_stage_id, stage_id FROM crm.contact_stage_history WHERE contact_id = 2 AND left_at IS NULL;
SELECT summary FROM crm.timeline_entries('contact', 2) WHERE kind = 'stage_change' LIMIT 1;
SELECT payload - 'position' AS removed FROM crm.events WHERE type = 'CRM_CONTACT_STAGE_CHANGED' AND object_id = 2 ORDER BY id DESC LIMIT 1;
-- a renamed stage: the list follows
SELECT crm.move_contact(3, 8) IS NOT NULL AS moved;
UPDATE crm.stages SET name = 'On hold' WHERE id = 8;
SELECT contact_id FROM crm.list_members WHERE list_id = :waiting ORDER BY 1;
UPDATE crm.stages SET name = 'Waiting' WHERE id = 8;
SELECT contact_id FROM crm.list_members WHERE list_id = :waiting ORDER BY 1;

-- merge: the duplicate's placements move to the survivor, unless it has one on that pipeline
SELECT crm.move_contact(4, 10) IS NOT NULL AS moved;
SELECT contact_id, pipeline_id, stage_id FROM crm.contact_stages WHERE contact_id IN (3, 4) ORDER BY 1, 2;
SELECT crm.merge_contacts(3, 4);
SELECT contact_id, pipeline_id, stage_id FROM crm.contact_stages WHERE contact_id IN (3, 4) ORDER BY 1, 2;
SELECT count(*) AS history_moved FROM crm.contact_stage_history WHERE contact_id = 4;
-- writing for the merged contact lands on the survivor
INSERT INTO crm.contact_stages (contact_id, stage_id) VALUES (4, 9);
-- a stage holding contacts stays; erasing a contact removes its placements and history
DELETE FROM crm.stages WHERE id = 8;
SELECT crm.delete_contact(3, hard => true) IS NOT NULL AS erased;
SELECT count(*) AS placements_of_3 FROM crm.contact_stages WHERE contact_id = 3;
SELECT count(*) AS history_of_3 FROM crm.contact_stage_history WHERE contact_id = 3;

-- a frontend role's row writes, as a member
CREATE ROLE crm_cpipes_app;
SELECT crm.grant_access('crm_cpipes_app');
SELECT (crm.add_member('ada', 'admin')).role, (crm.add_member('ann', 'agent')).role, (crm.add_member('val', 'viewer')).role;
UPDATE crm.contacts SET owner = 'ann' WHERE id = 2;
SET ROLE crm_cpipes_app;
SELECT set_config('request.jwt.claims', '{"sub": "ann", "workspace_id": 1}', false) IS NOT NULL AS as_ann;
INSERT INTO crm.contact_stages (contact_id, stage_id) VALUES (2, 7) RETURNING contact_id, pipeline_id, stage_id, position;
UPDATE crm.contact_stages SET stage_id = 8 WHERE contact_id = 2 AND pipeline_id = 2 RETURNING stage_id, position;
INSERT INTO crm.contact_stages (contact_id, stage_id) VALUES (2, 3);
INSERT INTO crm.contact_stage_history (contact_id, pipeline_id, stage_id, entered_at) VALUES (2, 2, 7, now());
UPDATE crm.contact_kanban SET stage_id = 9 WHERE contact_id = 2;
SELECT contact_id, position FROM crm.move_contact(1, 8, before_contact_id => 2);
SELECT set_config('request.jwt.claims', '{"sub": "val", "workspace_id": 1}', false) IS NOT NULL AS as_val;
UPDATE crm.contact_stages SET stage_id = 7 WHERE contact_id = 2 AND pipeline_id = 2;
SELECT crm.move_contact(2, 7);
SELECT stage_name, contact_id, card_rank FROM crm.contact_kanban WHERE stage_id = 8 ORDER BY card_rank;
-- a member's merge re-parents the history as the caller; nobody else may
SELECT set_config('request.jwt.claims', '{"sub": "ann", "workspace_id": 1}', false) IS NOT NULL AS as_ann;
INSERT INTO crm.contacts (name, email) VALUES ('Bobby', 'bobby@example.com') RETURNING id AS bobby \gset
SELECT crm.move_contact(:bobby, 10) IS NOT NULL AS moved;
UPDATE crm.contact_stage_history SET contact_id = 1 WHERE contact_id = :bobby;
UPDATE crm.contact_stage_history SET left_at = now() WHERE contact_id = :bobby;
SELECT crm.merge_contacts(2, :bobby);
SELECT contact_id, pipeline_id, stage_id FROM crm.contact_stage_history WHERE pipeline_id = 3 ORDER BY id;
SELECT contact_id, pipeline_id, stage_id FROM crm.contact_stages WHERE contact_id = 2 ORDER BY pipeline_id;
-- owner-based privacy: a restricted agent sees the placements of its contacts only
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('owner');
SELECT set_config('request.jwt.claims', '{"sub": "ann", "workspace_id": 1}', false) IS NOT NULL AS as_ann;
SELECT contact_id, stage_id FROM crm.contact_stages ORDER BY contact_id;
SELECT contact_id, stage_id FROM crm.contact_stage_history ORDER BY id;
SELECT stage_name, stage_contacts, contact_id FROM crm.contact_kanban WHERE pipeline_id = 2 ORDER BY stage_position, card_rank;
SELECT crm.move_contact(1, 9);
SELECT set_config('request.jwt.claims', '{"sub": "ada", "workspace_id": 1}', false) IS NOT NULL AS as_ada;
SELECT crm.set_privacy('everyone');
RESET ROLE;
RESET request.jwt.claims;
SELECT pipeline_id, from_stage_id, stage_id, actor FROM crm.contact_stage_history WHERE contact_id = 2 ORDER BY id DESC LIMIT 2;
SELECT a.actor, a.recorded_by, a.subject FROM crm.activities a WHERE a.contact_id = 2 AND a.type = 'stage_changed' ORDER BY a.id DESC LIMIT 1;
SELECT actor, payload - 'position' AS payload FROM crm.events
 WHERE type = 'CRM_CONTACT_STAGE_CHANGED' AND object_id = 2 ORDER BY id DESC LIMIT 2;

\c postgres
DROP DATABASE crm_test_contact_pipelines;
DROP ROLE crm_cpipes_app;
