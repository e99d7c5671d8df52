-- An API a person gets right the first time (issue 18, item 5): each
-- call as a first-time user writes it, through the function and as a
-- frontend's row write with claims.
CREATE DATABASE crm_test_friction;
\c crm_test_friction
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE ROLE crm_friction_app;
SELECT crm.grant_access('crm_friction_app');
SELECT crm.create_workspace('friction', 'Friction', 'EUR') AS ws \gset
SELECT set_config('crm.workspace_id', :'ws', false) IS NOT NULL AS in_workspace;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS sales \gset
SELECT crm.create_pipeline('Support', 'support') AS support \gset
INSERT INTO crm.contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Bo', 'bo@example.com'), ('Cy', 'cy@example.com');
SELECT id AS ada FROM crm.contacts WHERE name = 'Ada' \gset
SELECT id AS bo FROM crm.contacts WHERE name = 'Bo' \gset
-- entered their stage before the dates they close on (a close is never before the stage entry)
INSERT INTO crm.deals (title, value, stage_entered_at) VALUES ('Engine', 5000, '2025-12-01'), ('Loom', 1200, '2025-12-01'),
	('Mill', 800, '2025-12-01'), ('Kiln', 300, '2025-12-01');
SELECT id AS engine FROM crm.deals WHERE title = 'Engine' \gset
SELECT id AS loom FROM crm.deals WHERE title = 'Loom' \gset
SELECT id AS mill FROM crm.deals WHERE title = 'Mill' \gset
SELECT id AS kiln FROM crm.deals WHERE title = 'Kiln' \gset

-- win_deal and lose_deal: the reason second, then closed_at, by name or position
SELECT status, won_reason, closed_at IS NOT NULL AS closed FROM crm.win_deal(:engine, 'Signed');
SELECT status, won_reason, closed_at FROM crm.win_deal(:loom, reason => 'Signed', closed_at => '2026-01-15 10:00+00');
SELECT status, lost_reason, closed_at FROM crm.lose_deal(:mill, 'No budget', '2026-02-01 09:00+00');
SELECT status, lost_reason, closed_at FROM crm.lose_deal(:kiln, closed_at => '2026-02-02 09:00+00');
UPDATE crm.deals SET status = 'open' WHERE id IN (:mill, :kiln);
-- a call written for 0.2.0: a typed date no longer resolves; an untyped one is not taken for a reason
SELECT crm.win_deal(:mill, '2026-01-01'::timestamptz);
SELECT crm.win_deal(:mill, '2026-01-01');
SELECT crm.lose_deal(:mill, '2026-01-01 12:00+00', 'late');
SELECT status, won_reason, lost_reason FROM crm.deals WHERE id = :mill;

-- add_stage: kind won brings probability 100 and category closed, as the row path does
SELECT crm.add_stage(:support, 'Fixed', kind => 'won') AS fixed \gset
SELECT name, probability, kind, forecast_category FROM crm.stages WHERE id = :fixed;
SET ROLE crm_friction_app;
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
INSERT INTO crm.stages (pipeline_id, name, kind) VALUES (:support, 'Dropped', 'lost')
	RETURNING name, probability, kind, forecast_category;
RESET ROLE;
SELECT crm.add_stage(:support, 'Fixed again', 50, kind => 'won');

-- move_deal: a stage by name within the deal's pipeline (case and spaces ignored)
SELECT d.title, s.name AS stage, d.status FROM crm.move_deal(:mill, stage_name => 'proposal ') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT d.title, s.name AS stage FROM crm.move_deal(:kiln, stage_name => 'Qualified') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT title, s.name AS stage FROM crm.move_deal(:kiln, stage_name => 'Lead', before_deal_id => NULL) d JOIN crm.stages s ON s.id = d.stage_id;
SELECT id AS proposal FROM crm.stages WHERE pipeline_id = :sales AND name = 'Proposal' \gset
SELECT (crm.move_deal(:kiln, :proposal, stage_name => 'Proposal')).title AS same_stage_twice;
SELECT title, position < (SELECT position FROM crm.deals WHERE id = :kiln) AS above_kiln
  FROM crm.move_deal(:mill, stage_name => 'Proposal', before_deal_id => :kiln);
-- a stage of another pipeline by name, an unknown name, both disagreeing, neither
SELECT crm.move_deal(:kiln, stage_name => 'Fixed');
SELECT crm.move_deal(:kiln, stage_name => 'Nowhere');
SELECT crm.move_deal(:kiln, :proposal, stage_name => 'Lead');
SELECT crm.move_deal(:kiln);
-- names that differ only in capitals: the one spelled so, else refused as ambiguous
SELECT crm.add_stage(:sales, 'PROPOSAL') AS shouting \gset
SELECT s.name AS stage FROM crm.move_deal(:kiln, stage_name => 'PROPOSAL') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT s.name AS stage FROM crm.move_deal(:kiln, stage_name => 'Proposal') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT crm.move_deal(:kiln, stage_name => 'proposal');
DELETE FROM crm.stages WHERE id = :shouting;
-- by id the stage may be of any pipeline, as before
SELECT d.title, s.name AS stage, d.pipeline_id = :support AS in_support FROM crm.move_deal(:kiln, :fixed) d JOIN crm.stages s ON s.id = d.stage_id;

-- create_pipeline: an unknown template is refused, naming the known ones
SELECT crm.create_pipeline('Trials', template => 'saas');
SELECT count(*) AS trials FROM crm.pipelines WHERE name = 'Trials';

-- consent channels: 'WhatsApp' is whatsapp, by function and by row
SELECT crm.record_consent(:ada, 'WhatsApp', 'granted') AS c1 \gset
SELECT crm.record_consent(:ada, ' SMS ', 'granted') AS c2 \gset
SELECT channel, status FROM crm.contact_consents WHERE id IN (:c1, :c2) ORDER BY id;
SELECT crm.record_consent(:ada, 'Whats App', 'granted');
SET ROLE crm_friction_app;
INSERT INTO crm.contact_consents (contact_id, channel, status) VALUES (:bo, 'WhatsApp', 'granted') RETURNING channel, status, actor;
INSERT INTO crm.contact_consents (contact_id, channel, status) VALUES (:bo, 'E-Mail', 'granted');
RESET ROLE;
SELECT contact_id = :ada AS ada, channel, status FROM crm.current_consents ORDER BY contact_id, channel;

-- property keys: snake_case stored; camelCase and display names accepted
SELECT crm.normalize_property_key(k) AS key, k AS given
  FROM unnest(ARRAY['leadSource', 'Lead source', 'annual_revenue', 'HTMLTitle', '  Renewal Date (UTC) ', 'plan_', 'x__y', 'Größe', 'e-mail']) k;
SELECT crm.define_property('contact', 'leadSource', 'text') AS p1 \gset
SELECT crm.define_property('contact', NULL, 'number', label => 'Seats Bought') AS p2 \gset
SELECT key, label FROM crm.property_definitions WHERE id IN (:p1, :p2) ORDER BY id;
-- redefining by either spelling is the same property
SELECT crm.define_property('contact', 'lead_source', 'select', label => 'Lead source', options => ARRAY['web', 'event'])
	 = crm.define_property('contact', 'LeadSource', 'select', options => ARRAY['web', 'event', 'referral']) AS same;
SELECT key, label, type, options FROM crm.property_definitions ORDER BY key;
UPDATE crm.contacts SET properties = '{"lead_source": "web", "seats_bought": 3}' WHERE id = :ada;
SELECT count(*) AS matched FROM crm.find_contacts('properties.lead_source = ''web'' AND properties.seats_bought = 3');
SELECT crm.define_property('contact', NULL, 'text');
SELECT crm.define_property('contact', NULL, 'text', label => '2026 goals');
SELECT crm.define_property('contact', NULL, 'text', label => 'Größe');
SELECT crm.drop_property('contact', 'seatsBought');
SELECT key FROM crm.property_definitions WHERE object_type = 'contact' ORDER BY key;
SET ROLE crm_friction_app;
INSERT INTO crm.property_definitions (object_type, key, label, type) VALUES ('company', 'accountTier', 'Tier', 'text') RETURNING key;
INSERT INTO crm.property_definitions (object_type, label, type) VALUES ('company', 'Renewal Date', 'date') RETURNING key, label;
INSERT INTO crm.property_definitions (object_type, key, type) VALUES ('company', 'Account Tier', 'text');
RESET ROLE;

-- bulk functions: an id array as the query points at the _by_id form
SELECT crm.bulk_tag('contact', '{8,9}', ARRAY['vip']);
SELECT crm.bulk_update('contact', ' { 1, 2 } ', '{"city": "Paris"}');
SELECT crm.bulk_set_lifecycle('{}', 'lead');
SELECT (crm.create_list('VIP')).id AS vip \gset
SELECT crm.bulk_add_to_list(:vip, '{8,9}');
SELECT crm.bulk_add_to_list_by_id(:vip, ARRAY[:ada, :bo]) AS added;
SELECT crm.bulk_tag_by_id('contact', ARRAY[:ada, :bo], ARRAY['vip']) AS tagged;
SELECT crm.bulk_tag('contact', format('id IN (%s, %s)', :ada, :bo), ARRAY['gold']) AS tagged_by_query;
SET ROLE crm_friction_app;
SELECT crm.bulk_untag('contact', '{1}', ARRAY['vip']);
SELECT crm.bulk_set_lifecycle_by_id(ARRAY[:ada], 'customer') AS set;
RESET ROLE;
SELECT name, tags, lifecycle_stage FROM crm.contacts ORDER BY id;

-- the same calls by members of different roles: the permission map still decides
SET ROLE crm_friction_app;
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
SELECT (crm.add_member('alice', 'admin')).role, (crm.add_member('bob', 'agent')).role, (crm.add_member('vic', 'viewer')).role;
SELECT set_config('request.jwt.claims', format('{"sub": "bob", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_bob;
SELECT d.title, s.name AS stage FROM crm.move_deal(:mill, stage_name => 'Negotiation') d JOIN crm.stages s ON s.id = d.stage_id;
SELECT status, won_reason FROM crm.win_deal(:mill, 'Signed');
SELECT crm.record_consent(:bo, 'SMS', 'revoked') AS c3 \gset
SELECT channel, status FROM crm.contact_consents WHERE id = :c3;
SELECT crm.define_property('contact', 'teamSize', 'number');
SELECT set_config('request.jwt.claims', format('{"sub": "vic", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_vic;
SELECT crm.move_deal(:engine, stage_name => 'Lead');
INSERT INTO crm.contact_consents (contact_id, channel, status) VALUES (:bo, 'WhatsApp', 'revoked');
SELECT set_config('request.jwt.claims', format('{"sub": "alice", "workspace_id": %s}', :ws), false) IS NOT NULL AS as_alice;
SELECT crm.define_property('contact', 'teamSize', 'number') AS p3 \gset
SELECT key FROM crm.property_definitions WHERE id = :p3;
RESET ROLE;
\c contrib_regression
DROP DATABASE crm_test_friction;
