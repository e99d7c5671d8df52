-- Pipelines and stages: templates, custom stages, reordering.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_pipelines;
\c crm_test_pipelines
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('pipelines-test', 'Pipelines test') AS ws \gset
SELECT crm.use_workspace('pipelines-test') IS NOT NULL AS switched;

-- every template, with its stages in order; the first pipeline is the default
SELECT t.template, crm.create_pipeline(initcap(replace(t.template, '_', ' ')), t.template) IS NOT NULL AS created
  FROM unnest(ARRAY['b2b_sales', 'support', 'onboarding', 'real_estate', 'ecommerce', 'post_sales']) AS t(template);
SELECT p.name, p.is_default, s.position, s.name AS stage, s.probability, s.kind, s.forecast_category, s.color
  FROM crm.pipelines p JOIN crm.stages s ON s.pipeline_id = p.id
 ORDER BY p.id, s.position;

-- an empty pipeline, filled stage by stage
SELECT crm.create_pipeline('Custom') AS custom \gset
SELECT crm.add_stage(:custom, 'Open', 20) AS s1 \gset
SELECT crm.add_stage(:custom, 'Hot', 60, 'open', 'commit', '#FF0000') AS s2 \gset
SELECT crm.add_stage(:custom, 'Won', 100, 'won') AS s3 \gset
SELECT crm.add_stage(:custom, 'Lost', 0, 'lost') AS s4 \gset
SELECT name, position, probability, kind, forecast_category, color, is_default
  FROM crm.stages s JOIN (SELECT id AS pid, is_default FROM crm.pipelines) p ON p.pid = s.pipeline_id
 WHERE pipeline_id = :custom ORDER BY position;

-- reorder: a permutation of the pipeline's stages
SELECT crm.reorder_stages(:custom, ARRAY[:s2, :s1, :s4, :s3]);
SELECT name, position FROM crm.stages WHERE pipeline_id = :custom ORDER BY position;

-- bad input: each a clear error, and nothing written
SELECT count(*) AS pipelines_before FROM crm.pipelines \gset
SELECT crm.create_pipeline('');
SELECT crm.create_pipeline(NULL);
SELECT crm.create_pipeline('Other', 'crm_magic');
SELECT crm.create_pipeline('Custom', 'support');
SELECT count(*) = :pipelines_before AS nothing_written FROM crm.pipelines;
SELECT crm.add_stage(999999999, 'Ghost');
SELECT crm.add_stage(:custom, '  ');
SELECT crm.add_stage(:custom, 'Over', 101);
SELECT crm.add_stage(:custom, 'Odd win', 90, 'won');
SELECT crm.add_stage(:custom, 'Odd loss', 0, 'lost', 'pipeline');
SELECT crm.add_stage(:custom, 'Closed open', 50, 'open', 'closed');
SELECT crm.add_stage(:custom, 'Hot', 70);
SELECT crm.add_stage(:custom, 'Blue', 10, 'open', NULL, 'blue');
SELECT crm.reorder_stages(:custom, ARRAY[:s1, :s2]);
SELECT crm.reorder_stages(:custom, ARRAY[:s1, :s1, :s2, :s3]);
SELECT crm.reorder_stages(:custom, NULL);
SELECT crm.reorder_stages(999999999, ARRAY[1]);
SELECT count(*) AS stages, string_agg(name, ',' ORDER BY position) AS board_order
  FROM crm.stages WHERE pipeline_id = :custom;
-- the table enforces the stage rules too (crm_internal.stages_prepare: same error as crm.add_stage)
\set VERBOSITY terse
INSERT INTO crm.stages (pipeline_id, name, position, probability, kind, forecast_category)
	VALUES (:custom, 'Sneaky', 9, 50, 'won', 'closed');
UPDATE crm.stages SET probability = 90 WHERE id = :s3;
UPDATE crm.pipelines SET is_default = true WHERE id = :custom;
\set VERBOSITY default
-- The row path: a frontend role inserting stages as rows gets what
-- crm.add_stage does: the next position, probability and forecast
-- category implied by the kind, and the same errors.
CREATE ROLE crm_pipelines_app;
SELECT crm.grant_access('crm_pipelines_app');
SELECT crm.create_pipeline('By function') AS by_fn \gset
SELECT crm.create_pipeline('By rows') AS by_rows \gset
SELECT crm.add_stage(:by_fn, 'New') > 0 AS new, crm.add_stage(:by_fn, 'Late', 80, 'open', 'commit') > 0 AS late,
	   crm.add_stage(:by_fn, 'Won', kind => 'won') > 0 AS won, crm.add_stage(:by_fn, 'Lost', kind => 'lost') > 0 AS lost;
SET ROLE crm_pipelines_app;
INSERT INTO crm.stages (pipeline_id, name) VALUES (:by_rows, 'New');
INSERT INTO crm.stages (pipeline_id, name, probability, forecast_category) VALUES (:by_rows, 'Late', 80, 'commit');
INSERT INTO crm.stages (pipeline_id, name, kind) VALUES (:by_rows, 'Won', 'won');
INSERT INTO crm.stages (pipeline_id, name, kind) VALUES (:by_rows, 'Lost', 'lost');
RESET ROLE;
SELECT s.name AS stage, p.name AS pipeline, s.position, s.probability, s.kind, s.forecast_category, s.color
  FROM crm.stages s JOIN crm.pipelines p ON p.id = s.pipeline_id
 WHERE s.pipeline_id IN (:by_fn, :by_rows) ORDER BY s.position, p.name;
-- a kind changed by UPDATE brings probability and category along when they are left alone
SET ROLE crm_pipelines_app;
UPDATE crm.stages SET kind = 'won' WHERE pipeline_id = :by_rows AND name = 'Late';
SELECT name, probability, kind, forecast_category FROM crm.stages WHERE pipeline_id = :by_rows AND name = 'Late';
UPDATE crm.stages SET kind = 'open', probability = 85, forecast_category = 'commit' WHERE pipeline_id = :by_rows AND name = 'Late';
SELECT name, probability, kind, forecast_category FROM crm.stages WHERE pipeline_id = :by_rows AND name = 'Late';
-- bad row writes: the same 22023 as crm.add_stage; NaN, Infinity and long names refused
INSERT INTO crm.stages (pipeline_id, name, kind, probability) VALUES (:by_rows, 'Odd win', 'won', 50);
INSERT INTO crm.stages (pipeline_id, name, kind, forecast_category) VALUES (:by_rows, 'Odd loss', 'lost', 'commit');
INSERT INTO crm.stages (pipeline_id, name, probability) VALUES (:by_rows, 'Unsure', 'NaN');
UPDATE crm.stages SET probability = 'Infinity' WHERE pipeline_id = :by_rows AND name = 'New';
INSERT INTO crm.stages (pipeline_id, name) VALUES (:by_rows, repeat('s', 2049));
INSERT INTO crm.pipelines (name) VALUES (repeat('p', 2049));
-- a deal's status follows its stage's kind, so a stage holding deals keeps its kind (55000)
INSERT INTO crm.deals (title, pipeline_id) VALUES ('Sitting', :by_rows);
UPDATE crm.stages SET kind = 'won' WHERE pipeline_id = :by_rows AND name = 'New';
RESET ROLE;
SELECT count(*) AS stages_of_by_rows FROM crm.stages WHERE pipeline_id = :by_rows;
DROP OWNED BY crm_pipelines_app;
-- functions of another workspace do not see these pipelines
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
SELECT crm.reorder_stages(:custom, ARRAY[:s2, :s1, :s4, :s3]);

\c contrib_regression
DROP DATABASE crm_test_pipelines;
DROP ROLE crm_pipelines_app;
