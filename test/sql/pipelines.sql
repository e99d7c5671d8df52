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
-- the table enforces the stage rules too
\set VERBOSITY terse
INSERT INTO crm.stages (pipeline_id, name, position, probability, kind, forecast_category)
	VALUES (:custom, 'Sneaky', 9, 50, 'won', 'closed');
UPDATE crm.stages SET probability = 90 WHERE id = :s3;
UPDATE crm.pipelines SET is_default = true WHERE id = :custom;
\set VERBOSITY default
-- functions of another workspace do not see these pipelines
SELECT crm.use_workspace('default') IS NOT NULL AS switched;
SELECT crm.reorder_stages(:custom, ARRAY[:s2, :s1, :s4, :s3]);

\c contrib_regression
DROP DATABASE crm_test_pipelines;
