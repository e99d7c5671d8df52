-- The sales side of the demo sample, for workspace "acme" of test/sample.sql:
-- typed custom properties, a B2B pipeline with deals valued from line items
-- (some won or lost, with stage history), paid orders, lists and a custom
-- object type.  Deterministic like test/sample.sql: values come from row
-- numbers, dates from a fixed base.
-- Usage: psql -f test/sample.sql -f test/sample_sales.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT crm.use_workspace('acme') IS NOT NULL AS switched \gset

-- custom properties, and values for every customer-side contact
SELECT crm.define_property('contact', 'plan', 'select', 'Plan', ARRAY['free', 'starter', 'pro', 'enterprise']);
SELECT crm.define_property('contact', 'seats', 'number', 'Seats');
SELECT crm.define_property('contact', 'renewal', 'date', 'Renewal date');
UPDATE crm.contacts c
   SET properties = jsonb_build_object(
		'plan', (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + c.id % 4],
		'seats', 5 * (1 + c.id % 20),
		'renewal', to_char(date '2027-01-01' + (c.id % 180)::int, 'YYYY-MM-DD'))
 WHERE c.workspace_id = crm.current_workspace()
   AND c.lifecycle_stage IN ('opportunity', 'customer', 'evangelist');

-- the catalogue and the pipeline
INSERT INTO crm.products (name, sku, unit_price, currency) VALUES
	('Seat licence (annual)', 'LIC-SEAT', 240, 'EUR'),
	('Onboarding package', 'SRV-ONB', 1500, 'EUR'),
	('Premium support', 'SRV-SUP', 3600, 'EUR');
SELECT crm.create_pipeline('New business', 'b2b_sales') AS pipeline \gset

-- a deal for every third opportunity or customer, spread over the stages
-- (in contact order: deal ids must not depend on where rows lie in the heap)
INSERT INTO crm.deals (pipeline_id, stage_id, title, contact_id, company_id, owner, expected_close_date, created_at,
					   stage_entered_at)
SELECT :pipeline,
	   (SELECT s.id FROM crm.stages s WHERE s.pipeline_id = :pipeline AND s.kind = 'open'
		 ORDER BY s.position OFFSET c.id % 4 LIMIT 1),
	   'Licences for ' || coalesce(co.name, c.name), c.id, cc.company_id, c.owner,
	   date '2026-12-01' + ((c.id * 7) % 120)::int,
	   -- created 5 to 34 days before it entered its first stage
	   timestamptz '2026-10-05 12:00+00' - (c.id % 60 + 5 + c.id % 30) * interval '1 day',
	   timestamptz '2026-10-05 12:00+00' - (c.id % 60) * interval '1 day'
  FROM crm.contacts c
  LEFT JOIN crm.contact_companies cc ON cc.workspace_id = c.workspace_id AND cc.contact_id = c.id AND cc.is_primary
  LEFT JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id
 WHERE c.workspace_id = crm.current_workspace()
   AND c.lifecycle_stage IN ('opportunity', 'customer') AND c.id % 3 = 0
 ORDER BY c.id;

-- line items from the catalogue: seats for all, onboarding and support for
-- some.  Here and below the calls and moves go in deal order: line ids, card
-- positions and the events must not depend on where rows lie in the heap
-- (an update that fits beside the old row, HOT, leaves it where it was).
SELECT count(crm.add_line_item(d.id, p.id, 5 * (1 + d.id % 10), 'percent', (d.id % 3) * 5))
  FROM (SELECT * FROM crm.deals d WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline
		 ORDER BY d.id) d
  JOIN crm.products p ON p.workspace_id = d.workspace_id AND p.sku = 'LIC-SEAT';
SELECT count(crm.add_line_item(d.id, p.id, 1))
  FROM (SELECT * FROM crm.deals d WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline
		   AND d.id % 2 = 0 ORDER BY d.id) d
  JOIN crm.products p ON p.workspace_id = d.workspace_id AND p.sku = 'SRV-ONB';
SELECT count(crm.add_line_item(d.id, p.id, 1, 'fixed', 600))
  FROM (SELECT * FROM crm.deals d WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline
		   AND d.id % 5 = 0 ORDER BY d.id) d
  JOIN crm.products p ON p.workspace_id = d.workspace_id AND p.sku = 'SRV-SUP';

-- history: some deals advanced, some were won, some lost (each after it
-- entered its stage: a close is never before the stage entry); a move gives
-- the deal the next card position of its stage, so one UPDATE per deal
SELECT format('UPDATE crm.deals SET stage_id = %s, stage_entered_at = %L WHERE workspace_id = %s AND id = %s',
			  n.id, greatest(d.stage_entered_at + (10 + d.id % 10) * interval '1 day', timestamptz '2026-09-10 12:00+00'),
			  d.workspace_id, d.id)
  FROM crm.deals d, crm.stages n
 WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline AND d.id % 7 IN (1, 2)
   AND n.pipeline_id = :pipeline AND n.name = 'Negotiation' AND d.stage_id <> n.id
 ORDER BY d.id \gexec
SELECT count(crm.win_deal(d.id, reason => 'Best fit for their team', closed_at => timestamptz '2026-10-16 12:00+00' + (d.id % 20) * interval '1 day'))
  FROM (SELECT * FROM crm.deals d WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline
		   AND d.id % 7 = 1 ORDER BY d.id) d;
SELECT count(crm.lose_deal(d.id, reason => 'Went with a competitor', closed_at => timestamptz '2026-10-15 12:00+00' + (d.id % 20) * interval '1 day'))
  FROM (SELECT * FROM crm.deals d WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline
		   AND d.id % 7 = 3 ORDER BY d.id) d;
-- the rest of the pipeline keeps moving: two open deals in three took their
-- next step in the last weeks before the sample's today, 5 November 2026
-- (docs/deals.md#deal-health)
SELECT format('UPDATE crm.deals SET stage_id = %s, stage_entered_at = %L WHERE workspace_id = %s AND id = %s',
			  n.id, timestamptz '2026-10-18 12:00+00' + (d.id % 16) * interval '1 day', d.workspace_id, d.id)
  FROM crm.deals d, crm.stages s, crm.stages n
 WHERE d.workspace_id = crm.current_workspace() AND d.pipeline_id = :pipeline AND d.status = 'open' AND d.id % 3 <> 0
   AND s.workspace_id = d.workspace_id AND s.id = d.stage_id
   AND n.workspace_id = s.workspace_id AND n.pipeline_id = s.pipeline_id AND n.position = s.position + 1 AND n.kind = 'open'
 ORDER BY d.id \gexec

-- paid orders for customers, as the payment provider's webhook reports them
SELECT count(crm.upsert_order(c.id, 'payments', 'in_' || c.id, 240 * (1 + c.id % 12), 'EUR', 'paid',
							  'Annual subscription', timestamptz '2026-06-01 10:00+00' + (c.id % 90) * interval '1 day',
							  timestamptz '2026-06-01 10:00+00' + (c.id % 90) * interval '1 day'))
  FROM (SELECT * FROM crm.contacts c WHERE c.workspace_id = crm.current_workspace() AND c.lifecycle_stage = 'customer'
		 ORDER BY c.id) c;

-- lists: two dynamic segments and a static list filled from a query
SELECT id AS vip_list FROM crm.create_list('VIP customers', 'contact', 'dynamic',
	'tags CONTAINS ''vip'' AND lifecycleStage = CUSTOMER') \gset
SELECT id FROM crm.create_list('Enterprise in Berlin', 'contact', 'dynamic',
	'plan = enterprise AND city = ''Berlin''', 'agent-1') \gset
SELECT id AS webinar_list FROM crm.create_list('Webinar follow-up') \gset
SELECT crm.bulk_add_to_list(:webinar_list, 'tags CONTAINS ''webinar''') AS added;

-- a custom object: workshops that contacts attend
SELECT crm.create_object_type('workshop', 'Workshops', 'calendar', 'title');
SELECT crm.define_property('workshop', 'title', 'text', 'Title');
SELECT crm.define_property('workshop', 'held_on', 'date', 'Held on');
SELECT crm.create_record('workshop', '{"title": "Reporting masterclass", "held_on": "2026-09-17"}', 'WS-1') AS ws1 \gset
SELECT crm.create_record('workshop', '{"title": "Admin onboarding", "held_on": "2026-10-08"}', 'WS-2') AS ws2 \gset
SELECT count(crm.associate(CASE WHEN (c.id / 6) % 2 = 0 THEN :ws1 ELSE :ws2 END, 'contact', c.id,
						   CASE WHEN c.id % 11 = 0 THEN 'speaker' ELSE 'attendee' END))
  FROM (SELECT * FROM crm.contacts c WHERE c.workspace_id = crm.current_workspace() AND c.id % 6 = 0 ORDER BY c.id) c;
RESET crm.workspace_id;
