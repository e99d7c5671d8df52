-- Deals: defaults, kanban moves, win/lose, stage history, activities,
-- events, notes/attachments/checklists, health and the report views.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_deals;
\c crm_test_deals
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('deals-test', 'Deals test', 'EUR') IS NOT NULL AS created;
SELECT crm.use_workspace('deals-test') IS NOT NULL AS switched;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS sales \gset
SELECT id AS lead FROM crm.stages WHERE pipeline_id = :sales AND name = 'Lead' \gset
SELECT id AS qualified FROM crm.stages WHERE pipeline_id = :sales AND name = 'Qualified' \gset
SELECT id AS proposal FROM crm.stages WHERE pipeline_id = :sales AND name = 'Proposal' \gset
SELECT id AS lost_stage FROM crm.stages WHERE pipeline_id = :sales AND name = 'Closed Lost' \gset
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id AS ada \gset
INSERT INTO crm.companies (name, domain) VALUES ('Analytical', 'analytical.example') RETURNING id AS acme \gset

-- defaults: the default pipeline, its first open stage, the workspace currency, end of the column
INSERT INTO crm.deals (title, contact_id, company_id, value, expected_close_date, stage_entered_at)
	VALUES ('Engine', :ada, :acme, 5000, current_date + 30, '2024-02-01 09:00+00') RETURNING id AS engine \gset
INSERT INTO crm.deals (title, value, currency) VALUES ('Loom', 1200, 'usd'), ('Mill', 800, 'usd');
SELECT id AS loom FROM crm.deals WHERE title = 'Loom' \gset
SELECT id AS mill FROM crm.deals WHERE title = 'Mill' \gset
SELECT title, s.name AS stage, status, value, currency, value_mode, priority, closed_at IS NULL AS not_closed
  FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id ORDER BY d.id;
SELECT stage_name, card_rank, title FROM crm.kanban WHERE pipeline_id = :sales;

-- kanban drag and drop: Mill above Engine, then Loom to Proposal, then back above Mill
SELECT title, position < (SELECT position FROM crm.deals WHERE id = :engine) AS above_engine
  FROM crm.move_deal(:mill, :lead, :engine);
SELECT (crm.move_deal(:loom, :proposal)).status;
SELECT (crm.move_deal(:loom, :lead, :mill)).title;
SELECT stage_name, card_rank, title FROM crm.kanban WHERE pipeline_id = :sales;
-- dropping between two cards with no room left renumbers the column, keeping its order
UPDATE crm.deals SET position = 10 WHERE id = :loom;
UPDATE crm.deals SET position = 11 WHERE id = :mill;
SELECT (crm.move_deal(:engine, :lead, :mill)).title;
SELECT stage_name, card_rank, title FROM crm.kanban WHERE pipeline_id = :sales;

-- win and lose: status follows the stage, date and reason recorded
SELECT status, s.name AS stage, closed_at, won_reason
  FROM crm.win_deal(:engine, 'best offer', '2024-03-01 12:00+00') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT status, s.name AS stage, closed_at = now() AS closed_now, lost_reason
  FROM crm.lose_deal(:mill, reason => 'no budget') d JOIN crm.stages s ON s.id = d.stage_id;
-- reopening clears the verdict
SELECT status, closed_at, lost_reason FROM crm.move_deal(:mill, :qualified);
-- a plain UPDATE of the stage is recorded like a move
UPDATE crm.deals SET stage_id = :proposal WHERE id = :mill;

-- every stage change: history with entered/left times, an activity, events
SELECT d.title, f.name AS from_stage, t.name AS stage, h.left_at IS NOT NULL AS left
  FROM crm.deal_stage_history h JOIN crm.deals d ON d.id = h.deal_id
  LEFT JOIN crm.stages f ON f.id = h.from_stage_id JOIN crm.stages t ON t.id = h.stage_id
 ORDER BY h.id;
SELECT count(*) AS open_stays_per_deal_over_one FROM (
	SELECT deal_id FROM crm.deal_stage_history WHERE left_at IS NULL GROUP BY deal_id HAVING count(*) > 1) x;
SELECT d.title, a.subject, a.contact_id = :ada AS on_contact, a.payload->>'status' AS status
  FROM crm.activities a JOIN crm.deals d ON d.id = a.deal_id WHERE a.type = 'stage_changed' ORDER BY a.id;
SELECT e.type, d.title, e.payload->>'reason' AS reason
  FROM crm.events e JOIN crm.deals d ON d.id = e.object_id
 WHERE e.workspace_id = crm.current_workspace() AND e.object_type = 'deal'
   AND e.type IN ('CRM_DEAL_CREATED', 'CRM_DEAL_STAGE_CHANGED', 'CRM_DEAL_WON', 'CRM_DEAL_LOST')
 ORDER BY e.id;
SELECT count(*) > 0 AS updated_events FROM crm.events WHERE type = 'CRM_DEAL_UPDATED';
-- updates that move no deal write no history, activity or stage event, only CRM_DEAL_UPDATED
SELECT (SELECT count(*) FROM crm.deal_stage_history) AS history_before,
	   (SELECT count(*) FROM crm.activities) AS activities_before,
	   (SELECT max(id) FROM crm.events) AS last_event \gset
UPDATE crm.deals SET priority = 'high' WHERE id IN (:loom, :mill);
UPDATE crm.deals SET priority = 'medium' WHERE id IN (:loom, :mill);
SELECT (SELECT count(*) FROM crm.deal_stage_history) = :history_before AS no_history,
	   (SELECT count(*) FROM crm.activities) = :activities_before AS no_activity,
	   (SELECT array_agg(DISTINCT type) FROM crm.events WHERE id > :last_event) AS events;

-- bad input: each a clear error, and nothing written
SELECT count(*) AS events_before FROM crm.events \gset
SELECT crm.move_deal(999999999, :lead);
SELECT crm.move_deal(:loom, 999999999);
SELECT crm.move_deal(:loom, :lead, :loom);
SELECT crm.move_deal(:loom, :proposal, :engine);
SELECT crm.win_deal(:engine);
SELECT crm.win_deal(:loom, closed_at => '2999-01-01 00:00+00');
SELECT crm.lose_deal(999999999);
SELECT crm.win_deal(NULL);
INSERT INTO crm.deals (title, currency) VALUES ('Bad money', 'XYZ');
INSERT INTO crm.deals (title, pipeline_id, stage_id) VALUES ('Wrong stage', :sales, 999999999);
INSERT INTO crm.deals (title, value_mode) VALUES ('Auto without lines', 'auto');
UPDATE crm.deals SET value_mode = 'auto' WHERE id = :loom;
SELECT count(*) = :events_before AS nothing_written FROM crm.events;
-- a support pipeline has no lost stage
SELECT crm.create_pipeline('Help desk', 'support') AS support \gset
INSERT INTO crm.deals (title, pipeline_id) VALUES ('Ticket', :support) RETURNING id AS ticket \gset
SELECT crm.lose_deal(:ticket);
-- moving to a stage of another pipeline moves the deal there
SELECT p.name AS pipeline, s.name AS stage FROM crm.move_deal(:ticket, :qualified) d
  JOIN crm.pipelines p ON p.id = d.pipeline_id JOIN crm.stages s ON s.id = d.stage_id;
-- a stage must belong to the deal's pipeline
UPDATE crm.deals SET pipeline_id = :support WHERE id = :ticket;

-- erasing the contact keeps the deal and its amount
DELETE FROM crm.contacts WHERE id = :ada;
SELECT title, contact_id, company_id = :acme AS company_kept, value FROM crm.deals WHERE id = :engine;

-- notes, attachments and checklists, counted on the deal
INSERT INTO crm.notes (deal_id, body, author) VALUES (:loom, 'Call back Monday', 'u1'), (:loom, 'Sent deck', 'u1');
INSERT INTO crm.notes (company_id, body) VALUES (:acme, 'Parent company of Engine');
INSERT INTO crm.attachments (deal_id, filename, url, content_type, size_bytes)
	VALUES (:loom, 'deck.pdf', 'https://files.example/deck.pdf', 'application/pdf', 48213);
INSERT INTO crm.checklist_items (deal_id, title, position) VALUES (:loom, 'Demo', 1), (:loom, 'Security review', 2), (:loom, 'Contract', 3);
UPDATE crm.checklist_items SET done = true WHERE deal_id = :loom AND title IN ('Demo', 'Security review');
UPDATE crm.checklist_items SET done = false WHERE deal_id = :loom AND title = 'Security review';
SELECT title, done, done_at IS NOT NULL AS has_done_at FROM crm.checklist_items ORDER BY position;
SELECT title, note_count, attachment_count, checklist_done, checklist_total
  FROM crm.deals_with_counts ORDER BY id;
\set VERBOSITY terse
INSERT INTO crm.notes (body) VALUES ('about nothing');
INSERT INTO crm.attachments (deal_id, filename, url, size_bytes) VALUES (:loom, 'x.bin', 'https://x.example/x', -1);
INSERT INTO crm.attachments (deal_id, filename, url) VALUES (:loom, 'x.bin', 'not a url');
\set VERBOSITY default
SELECT count(*) AS notes, (SELECT count(*) FROM crm.attachments) AS attachments FROM crm.notes;

-- health: overdue, stalled, at risk, healthy
INSERT INTO crm.deals (title, stage_id, expected_close_date, stage_entered_at) VALUES
	('Late', :qualified, '2020-01-01', now()),
	('Slow', :qualified, current_date + 60, now() - interval '40 days'),
	('Soon', :lead, current_date + 3, now()),
	('Fine', :qualified, current_date + 60, now());
SELECT title, crm.deal_health(id) AS now,
	   crm.deal_health(id, now() + interval '20 days') AS in_20_days
  FROM crm.deals WHERE title IN ('Late', 'Slow', 'Soon', 'Fine', 'Engine') ORDER BY id;
-- the stalled threshold (docs/deals.md#deal-health): with fewer than 8
-- finished stays anywhere, 30 days
INSERT INTO crm.deals (title, stage_id, expected_close_date, stage_entered_at)
	VALUES ('Three days', :qualified, current_date + 60, now() - interval '3 days'),
		   ('Ten days', :qualified, current_date + 60, now() - interval '10 days');
SELECT title, crm.deal_health(id), crm_hidden.learnt_stale_after(stage_id) AS threshold
  FROM crm.deals WHERE title IN ('Three days', 'Ten days') ORDER BY id;
-- 8 stays of 2 days in Qualified: their 75th percentile, raised to the 7-day floor
INSERT INTO crm.deals (title, stage_id, stage_entered_at)
	SELECT 'Past ' || i, :qualified, now() - interval '10 days' FROM generate_series(1, 8) i;
UPDATE crm.deals SET stage_id = :lost_stage, closed_at = now() - interval '8 days' WHERE title LIKE 'Past %';
SELECT title, crm.deal_health(id), crm_hidden.learnt_stale_after(stage_id) AS threshold
  FROM crm.deals WHERE title IN ('Three days', 'Ten days') ORDER BY id;
-- Proposal has no finished stay: the workspace's (these 8, and the moves above)
SELECT crm_hidden.learnt_stale_after(:proposal) AS proposal_threshold;
-- the stage's stale_after wins, floor or not (a frontend's row write below)
UPDATE crm.stages SET stale_after = interval '2 days' WHERE id = :qualified;
SELECT title, crm.deal_health(id) FROM crm.deals WHERE title IN ('Three days', 'Ten days') ORDER BY id;
\set VERBOSITY terse
UPDATE crm.stages SET stale_after = interval '0' WHERE id = :qualified;
UPDATE crm.stages SET stale_after = interval '-1 day' WHERE id = :qualified;
\set VERBOSITY default
UPDATE crm.stages SET stale_after = NULL WHERE id = :qualified;
SELECT crm.deal_health(999999999);
SELECT crm.deal_health(:loom, NULL);

-- report views
SELECT stage_name, currency, deals, value, round(weighted_value, 2) AS weighted_value
  FROM crm.pipeline_summary WHERE pipeline_id = :sales ORDER BY position, currency;
SELECT stage_name, entered, advanced, won, conversion_rate, date_trunc('hour', median_time_in_stage) AS median_time_in_stage
  FROM crm.stage_conversion WHERE pipeline_id = :sales ORDER BY position;

-- deleting a deal takes its history, activities, notes and checklist with it
DELETE FROM crm.deals WHERE id = :loom;
SELECT (SELECT count(*) FROM crm.deal_stage_history WHERE deal_id = :loom) AS history,
	   (SELECT count(*) FROM crm.activities WHERE deal_id = :loom) AS activities,
	   (SELECT count(*) FROM crm.notes WHERE deal_id = :loom) AS notes,
	   (SELECT count(*) FROM crm.checklist_items WHERE deal_id = :loom) AS checklist;
-- erasing the company keeps its deals too
DELETE FROM crm.companies WHERE id = :acme;
SELECT count(*) AS deals_of_erased_company, count(*) FILTER (WHERE company_id IS NULL) AS unlinked
  FROM crm.deals WHERE title = 'Engine';
-- The row path: a frontend role writing plain rows gets what crm.win_deal,
-- crm.lose_deal and crm.move_deal do: the stage, close fields, history,
-- activities and events.  Twin deals, one driven by the functions, one by
-- row writes, compared.
CREATE ROLE crm_deals_app;
SELECT crm.grant_access('crm_deals_app');
SELECT id AS ws FROM crm.workspaces WHERE slug = 'deals-test' \gset
SELECT id AS won_stage FROM crm.stages WHERE pipeline_id = :sales AND name = 'Closed Won' \gset
INSERT INTO crm.deals (title, value, stage_entered_at) VALUES ('Twin fn', 300, '2026-01-02 09:00+00') RETURNING id AS twin_fn \gset
SET ROLE crm_deals_app;
SET crm.workspace_id = :ws;
INSERT INTO crm.deals (title, value, stage_entered_at) VALUES ('Twin row', 300, '2026-01-02 09:00+00') RETURNING id AS twin_row \gset
RESET ROLE;
SELECT max(id) AS last_event FROM crm.events \gset
-- win
SELECT status FROM crm.win_deal(:twin_fn, 'best price', '2026-01-15 10:00+00');
SET ROLE crm_deals_app;
UPDATE crm.deals SET status = 'won', closed_at = '2026-01-15 10:00+00', won_reason = 'best price' WHERE id = :twin_row;
RESET ROLE;
SELECT d.title, s.name AS stage, d.status, d.closed_at, d.stage_entered_at, d.won_reason, d.lost_reason
  FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id WHERE d.id IN (:twin_fn, :twin_row) ORDER BY d.id;
-- lose (a won deal can be lost directly): the won reason goes
SELECT status FROM crm.lose_deal(:twin_fn, 'budget cut', NULL);
SET ROLE crm_deals_app;
UPDATE crm.deals SET status = 'lost', lost_reason = 'budget cut' WHERE id = :twin_row;
RESET ROLE;
SELECT d.title, s.name AS stage, d.status, d.closed_at > now() - interval '1 hour' AS closed_just_now, d.won_reason, d.lost_reason
  FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id WHERE d.id IN (:twin_fn, :twin_row) ORDER BY d.id;
-- reopen: moving to an open stage, or writing status open, clears the close fields
SELECT status FROM crm.move_deal(:twin_fn, :lead);
SET ROLE crm_deals_app;
UPDATE crm.deals SET status = 'open' WHERE id = :twin_row;
RESET ROLE;
SELECT d.title, s.name AS stage, d.status, d.closed_at, d.won_reason, d.lost_reason
  FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id WHERE d.id IN (:twin_fn, :twin_row) ORDER BY d.id;
-- the same history, activities and events
SELECT d.title, f.name AS from_stage, s.name AS stage, h.left_at IS NULL AS current,
	   CASE h.actor WHEN current_user THEN '(owner)' ELSE h.actor END AS actor
  FROM crm.deal_stage_history h JOIN crm.deals d ON d.id = h.deal_id
  LEFT JOIN crm.stages f ON f.id = h.from_stage_id JOIN crm.stages s ON s.id = h.stage_id
 WHERE h.deal_id IN (:twin_fn, :twin_row) ORDER BY d.id, h.id;
SELECT d.title, a.subject, a.payload->>'status' AS status
  FROM crm.activities a JOIN crm.deals d ON d.id = a.deal_id
 WHERE a.deal_id IN (:twin_fn, :twin_row) AND a.type = 'stage_changed' ORDER BY d.id, a.id;
SELECT d.title, e.type, e.payload->>'reason' AS reason
  FROM crm.events e JOIN crm.deals d ON d.id = e.object_id AND e.object_type = 'deal'
 WHERE e.id > :last_event ORDER BY d.id, e.id;
-- a deal inserted as won goes straight to the won stage, closed now
SET ROLE crm_deals_app;
INSERT INTO crm.deals (title, value, status, won_reason) VALUES ('Born won', 50, 'won', 'referral')
	RETURNING id AS born_won \gset
INSERT INTO crm.deals (title, status, closed_at, lost_reason) VALUES ('Born lost', 'lost', '2026-02-01 09:00+00', 'no fit')
	RETURNING id AS born_lost \gset
RESET ROLE;
SELECT d.title, s.name AS stage, d.status, d.closed_at > now() - interval '1 hour' AS closed_just_now, d.stage_entered_at = d.closed_at AS entered_when_closed,
	   d.won_reason, d.lost_reason
  FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id WHERE d.id IN (:born_won, :born_lost) ORDER BY d.id;
SELECT closed_at FROM crm.deals WHERE id = :born_lost;
SELECT d.title, e.type, e.payload->>'reason' AS reason, e.payload->>'status' AS status
  FROM crm.events e JOIN crm.deals d ON d.id = e.object_id AND e.object_type = 'deal'
 WHERE e.object_id IN (:born_won, :born_lost) ORDER BY e.id;
SELECT d.title, s.name AS stage, h.entered_at = d.closed_at AS entered_when_closed
  FROM crm.deal_stage_history h JOIN crm.deals d ON d.id = h.deal_id JOIN crm.stages s ON s.id = h.stage_id
 WHERE h.deal_id IN (:born_won, :born_lost) ORDER BY h.id;
-- columns the triggers fill have defaults: a generated API treats them as
-- optional; the NOT NULL columns left without one are the ones a client must send
SELECT table_name, column_name
  FROM information_schema.columns
 WHERE table_schema = 'crm'
   AND table_name IN ('pipelines', 'stages', 'deals', 'deal_line_items', 'products', 'orders', 'notes',
					  'attachments', 'checklist_items', 'contact_companies', 'contact_consents',
					  'object_associations', 'exchange_rates')
   AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'
 ORDER BY 1, 2;
-- bad row writes: each a clear error, nothing written
SELECT count(*) AS events_before FROM crm.events \gset
SET ROLE crm_deals_app;
-- a written status and a stage of another kind contradict each other
INSERT INTO crm.deals (title, stage_id, status) VALUES ('Contradiction', :lead, 'won');
UPDATE crm.deals SET status = 'won', stage_id = :qualified WHERE id = :twin_row;
-- a close date more than a day ahead
UPDATE crm.deals SET status = 'won', closed_at = '2999-01-01 00:00+00' WHERE id = :twin_row;
-- a pipeline without a lost stage
INSERT INTO crm.deals (title, pipeline_id, status) VALUES ('Lost ticket', :support, 'lost');
-- NaN and Infinity are not amounts or probabilities (22023)
INSERT INTO crm.deals (title, value) VALUES ('Infinite', 'Infinity');
UPDATE crm.deals SET value = 'NaN' WHERE id = :twin_row;
UPDATE crm.deals SET probability_override = 'NaN' WHERE id = :twin_row;
-- free text has a size limit (54000): titles and reasons 2 kB, a note body 1 MB
INSERT INTO crm.deals (title) VALUES (repeat('t', 2049));
UPDATE crm.deals SET lost_reason = repeat('r', 2049) WHERE id = :born_lost;
INSERT INTO crm.notes (deal_id, body) VALUES (:twin_row, repeat('n', 1048577));
RESET ROLE;
SELECT count(*) = :events_before AS nothing_written FROM crm.events;
-- the limits themselves are accepted
SET ROLE crm_deals_app;
INSERT INTO crm.deals (title) VALUES (repeat('t', 2048)) RETURNING length(title);
-- notes written as rows emit events
SELECT max(id) AS last_event FROM crm.events \gset
INSERT INTO crm.notes (deal_id, body) VALUES (:twin_row, repeat('n', 1048576)) RETURNING id AS big_note \gset
UPDATE crm.notes SET body = 'Short again' WHERE id = :big_note;
DELETE FROM crm.notes WHERE id = :big_note;
RESET ROLE;
SELECT type, payload ? 'body' AS has_body FROM crm.events WHERE id > :last_event ORDER BY id;
-- The board as a frontend reads it: every stage, empty ones included, with
-- colour, count and value per currency, the cards with their health
SET ROLE crm_deals_app;
UPDATE crm.stages SET stale_after = interval '45 days', color = '#2E7D32' WHERE id = :proposal;
SELECT stage_name, stage_kind, stage_color, stage_deals, stage_totals, card_rank, left(title, 12) AS title, value, currency, health
  FROM crm.kanban WHERE pipeline_id = :sales ORDER BY stage_position, card_rank;
SELECT count(*) AS rows, count(DISTINCT stage_id) AS stages, count(deal_id) AS cards,
	   (SELECT count(*) FROM crm.stages WHERE pipeline_id = :sales) AS pipeline_stages,
	   (SELECT count(*) FROM crm.deals WHERE pipeline_id = :sales) AS pipeline_deals
  FROM crm.kanban WHERE pipeline_id = :sales;
-- health as a CQL field: filtered and sorted (least to most urgent)
SELECT left(title, 12) AS title, crm.deal_health(id) FROM crm.find_deals('health = STALLED OR health = OVERDUE', 'health DESC, title');
SELECT left(title, 12) AS title FROM crm.find_deals('health IN (AT_RISK) AND stage.kind = OPEN');
SELECT crm.count('deal', 'health != HEALTHY') AS needing_attention;
SELECT * FROM crm.find_deals('health = SLEEPY');
-- it reads the history and the clock: a dynamic list cannot follow it, a snapshot list takes it
SELECT name FROM crm.create_list('Stalled deals', 'contact', 'dynamic', 'EXISTS deals(health = STALLED)');
SELECT name, kind FROM crm.create_list('Stalled deals', 'contact', 'snapshot', 'EXISTS deals(health = STALLED)');
-- still a view over the caller's rows (security_invoker): another workspace sees none of them
SET crm.workspace_id = 1;
SELECT count(*) AS other_workspace_rows FROM crm.kanban WHERE pipeline_id = :sales;
SET crm.workspace_id = :ws;
INSERT INTO crm.kanban (stage_id, title) VALUES (:lead, 'Card');
RESET ROLE;
SELECT reloptions FROM pg_class WHERE oid = 'crm.kanban'::regclass;

-- Closing dates follow the deal's history (docs/deals.md#closing-dates):
-- nothing closes or moves before the deal entered the stage it leaves.
INSERT INTO crm.deals (title, value, stage_entered_at) VALUES ('Dated', 100, '2026-03-01 09:00+00')
	RETURNING id AS dated \gset
SET ROLE crm_deals_app;
SELECT set_config('request.jwt.claims', format('{"sub": "rita", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_rita;
-- a close before the stage entry: refused through the function and the row alike
SELECT status FROM crm.win_deal(:dated, reason => 'early', closed_at => '2026-02-15 10:00+00');
UPDATE crm.deals SET status = 'won', closed_at = '2026-02-15 10:00+00' WHERE id = :dated;
SELECT status FROM crm.lose_deal(:dated, closed_at => '2026-02-28 23:59+00');
-- a move dated before the stage entry: refused
UPDATE crm.deals SET stage_id = :qualified, stage_entered_at = '2026-02-01 09:00+00' WHERE id = :dated;
-- at or after the entry: accepted
UPDATE crm.deals SET stage_id = :qualified, stage_entered_at = '2026-03-10 09:00+00' WHERE id = :dated;
SELECT status, closed_at FROM crm.win_deal(:dated, reason => 'signed', closed_at => '2026-03-20 10:00+00');
-- losing the won deal before it was won: refused; a closed deal's date does not change alone
SELECT status FROM crm.lose_deal(:dated, reason => 'too late', closed_at => '2026-03-15 10:00+00');
UPDATE crm.deals SET closed_at = '2026-03-25 10:00+00' WHERE id = :dated;
UPDATE crm.deals SET closed_at = NULL WHERE id = :dated;
-- nor a stage entry without a move
UPDATE crm.deals SET stage_entered_at = '2026-03-30 10:00+00' WHERE id = :dated;
-- lost after the win: the won reason goes, the close date is the loss
UPDATE crm.deals SET status = 'lost', closed_at = '2026-03-21 10:00+00', lost_reason = 'cancelled' WHERE id = :dated;
SELECT status, closed_at, stage_entered_at, won_reason, lost_reason FROM crm.deals WHERE id = :dated;
-- reopened and lost again by dated moves: a move into the lost stage dated
-- by its stage entry closes then
UPDATE crm.deals SET stage_id = :qualified, stage_entered_at = '2026-03-25 10:00+00' WHERE id = :dated;
UPDATE crm.deals SET stage_id = :lost_stage, stage_entered_at = '2026-03-28 10:00+00' WHERE id = :dated;
SELECT status, closed_at, stage_entered_at, lost_reason FROM crm.deals WHERE id = :dated;
-- reopened: close fields cleared, the deal enters its open stage now
SELECT status, closed_at, won_reason, lost_reason, stage_entered_at > now() - interval '1 hour' AS entered_now
  FROM crm.move_deal(:dated, :proposal);
-- closed "in a few hours" (up to a day ahead is allowed), reopened at once:
-- the reopening is not dated before that close
SELECT status FROM crm.win_deal(:dated, closed_at => now() + interval '3 hours');
UPDATE crm.deals SET status = 'open' WHERE id = :dated;
SELECT stage_entered_at = closed_at_before AS entered_when_last_closed
  FROM crm.deals, (SELECT max(entered_at) AS closed_at_before FROM crm.deal_stage_history
					WHERE deal_id = :dated AND left_at IS NOT NULL) h
 WHERE id = :dated;
RESET ROLE;
-- every close and reopen is a stay in the history, with its actor
SELECT f.name AS from_stage, t.name AS stage, h.entered_at,
	   CASE WHEN h.left_at < '2026-04-01' THEN (h.left_at - h.entered_at)::text ELSE 'until reopened' END AS stay,
	   CASE h.actor WHEN current_user THEN '(owner)' ELSE h.actor END AS actor
  FROM crm.deal_stage_history h JOIN crm.stages t ON t.id = h.stage_id LEFT JOIN crm.stages f ON f.id = h.from_stage_id
 WHERE h.deal_id = :dated AND h.entered_at < '2026-04-01' ORDER BY h.id;
SELECT count(*) AS stays_after_march, count(*) FILTER (WHERE actor = 'rita') AS by_rita
  FROM crm.deal_stage_history WHERE deal_id = :dated AND entered_at >= '2026-04-01';
SELECT count(*) AS negative_stays FROM crm.deal_stage_history WHERE left_at < entered_at;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims_cleared;
RESET crm.workspace_id;
DROP OWNED BY crm_deals_app;
SELECT crm.use_workspace('default') IS NOT NULL AS switched;

\c contrib_regression
DROP DATABASE crm_test_deals;
DROP ROLE crm_deals_app;
