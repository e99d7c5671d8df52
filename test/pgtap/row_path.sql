-- The row path of the deals area: what a frontend role (crm.grant_access,
-- plain INSERT/UPDATE) gets equals what the functions do, and each refused
-- write has its SQLSTATE (docs/deals.md, docs/properties.md#size-limits).
BEGIN;
SELECT plan(24);

CREATE ROLE crm_tap_app LOGIN;
-- (on Citus crm.grant_access follows the role committed: docs/scaling.md, "What does not work yet")
-- citus_pgtap: COMMIT; BEGIN;
SELECT crm.grant_access('crm_tap_app');
SELECT crm.create_pipeline('Tap sales', 'b2b_sales') AS p \gset
SELECT crm.create_pipeline('Tap support', 'support') AS support \gset
INSERT INTO crm.contacts (name, email) VALUES ('Tap person', 'tap-person@example.com') RETURNING id AS person \gset
INSERT INTO crm.companies (name, domain) VALUES ('Tap A', 'tap-a.example'), ('Tap B', 'tap-b.example');
SELECT id AS co_a FROM crm.companies WHERE domain = 'tap-a.example' \gset
SELECT id AS co_b FROM crm.companies WHERE domain = 'tap-b.example' \gset
INSERT INTO crm.products (name, unit_price) VALUES ('Tap seat', 10) RETURNING id AS seat \gset
INSERT INTO crm.deals (title, pipeline_id) VALUES ('By function', :p) RETURNING id AS by_fn \gset
-- citus_pgtap: COMMIT; BEGIN;
SET LOCAL ROLE crm_tap_app;

-- a frontend leaves out every column a trigger fills
SELECT lives_ok($$INSERT INTO crm.deals (title, pipeline_id) VALUES ('By rows', $$ || :p || $$)$$,
				'a deal needs only a title');
SELECT id AS by_row FROM crm.deals WHERE title = 'By rows' \gset
SELECT lives_ok(format('INSERT INTO crm.deal_line_items (deal_id, product_id, quantity) VALUES (%s, %s, 2)', :by_row, :seat),
				'a catalogue line needs only the deal, the product and a quantity');
SELECT lives_ok(format('INSERT INTO crm.stages (pipeline_id, name, kind) VALUES (%s, %L, %L)', :p, 'Tap won', 'won'),
				'a won stage needs only its name and kind');

-- win by row write = crm.win_deal
-- (a given close date: an hour ahead, as a close is never before the stage entry;
-- read once, as on Citus the row write and the call commit apart)
SELECT now() + interval '1 hour' AS closes \gset
UPDATE crm.deals SET status = 'won', closed_at = :'closes', won_reason = 'price' WHERE id = :by_row;
RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT status FROM crm.win_deal(:by_fn, reason => 'price', closed_at => :'closes');
SELECT results_eq(
	format('SELECT s.name, d.status::text, d.closed_at, d.stage_entered_at, d.won_reason FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id AND s.workspace_id = d.workspace_id WHERE d.id = %s', :by_row),
	format('SELECT s.name, d.status::text, d.closed_at, d.stage_entered_at, d.won_reason FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id AND s.workspace_id = d.workspace_id WHERE d.id = %s', :by_fn),
	'UPDATE status = won gives the row crm.win_deal gives');
SELECT results_eq(
	format('SELECT type, payload - ''id'' #- ''{changes,position}'' FROM crm.events WHERE object_type = ''deal'' AND object_id = %s AND type <> ''CRM_DEAL_CREATED'' AND NOT coalesce(payload->''changes'' ? ''value'', false) ORDER BY id', :by_row),
	format('SELECT type, payload - ''id'' #- ''{changes,position}'' FROM crm.events WHERE object_type = ''deal'' AND object_id = %s AND type <> ''CRM_DEAL_CREATED'' ORDER BY id', :by_fn),
	'... and the same events (the line item''s revaluation and the card position aside)');
SELECT is((SELECT count(*) FROM crm.deal_stage_history WHERE deal_id = :by_row),
		  (SELECT count(*) FROM crm.deal_stage_history WHERE deal_id = :by_fn), '... and the same history');

-- citus_pgtap: COMMIT; BEGIN;
SET LOCAL ROLE crm_tap_app;
-- reopen by row write clears the close fields
UPDATE crm.deals SET status = 'open' WHERE id = :by_row;
SELECT is((SELECT (closed_at, won_reason, lost_reason)::text FROM crm.deals WHERE id = :by_row), '(,,)',
		  'UPDATE status = open clears closed_at and the reasons');
-- a deal inserted won
INSERT INTO crm.deals (title, pipeline_id, status) VALUES ('Born won', :p, 'won');
SELECT is((SELECT s.kind::text FROM crm.deals d JOIN crm.stages s ON s.id = d.stage_id AND s.workspace_id = d.workspace_id WHERE d.title = 'Born won'), 'won',
		  'a deal inserted won sits in a won stage');
-- an order marked paid by row write has its paid date
INSERT INTO crm.orders (contact_id, value, title) VALUES (:person, 5, 'Tap order');
UPDATE crm.orders SET status = 'paid' WHERE title = 'Tap order';
SELECT isnt((SELECT paid_date FROM crm.orders WHERE title = 'Tap order'), NULL, 'UPDATE status = paid sets paid_date');
-- a second primary link by row write demotes the first
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (:person, :co_a, true);
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (:person, :co_b, true);
SELECT results_eq(format('SELECT company_id FROM crm.contact_companies WHERE contact_id = %s AND is_primary', :person),
				  format('SELECT %s::bigint', :co_b), 'a second primary link demotes the first');

-- refused writes and their SQLSTATEs
SELECT throws_ok(format('UPDATE crm.contact_companies SET is_primary = true WHERE contact_id = %s', :person), '27000',
				 NULL, 'one statement making two links primary');
SELECT throws_ok($$INSERT INTO crm.deals (title, value) VALUES ('x', 'Infinity')$$, '22023',
				 'column "value" must be a finite number, not "Infinity"', 'an infinite deal value');
SELECT throws_ok(format('INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (%s, %L, %L, 1)', :by_row, 'x', 'Infinity'),
				 '22023', 'column "quantity" must be a finite number, not "Infinity"', 'an infinite quantity by row');
SELECT throws_ok(format('SELECT crm.add_line_item(%s, %s, %L)', :by_row, :seat, 'NaN'),
				 '22023', 'column "quantity" must be a finite number, not "NaN"', 'a NaN quantity through crm.add_line_item');
SELECT throws_ok(format('INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, total) VALUES (%s, %L, 1, 10, 3)', :by_row, 'x'),
				 '428C9', NULL, 'a client total that is not the computed one');
SELECT id AS lead FROM crm.stages WHERE pipeline_id = :p AND name = 'Lead' \gset
SELECT throws_ok(format('INSERT INTO crm.deals (title, stage_id, status) VALUES (%L, %s, %L)', 'x', :lead, 'won'),
				 '22023', NULL, 'a status contradicting the stage');
SELECT throws_ok(format('INSERT INTO crm.deals (title, pipeline_id, status) VALUES (%L, %s, %L)', 'x', :support, 'lost'),
				 'P0002', NULL, 'lost in a pipeline without a lost stage');
SELECT throws_ok(format('INSERT INTO crm.stages (pipeline_id, name, kind, probability) VALUES (%s, %L, %L, 50)', :p, 'x', 'won'),
				 '22023', NULL, 'a won stage at 50 %');
SELECT throws_ok(format('UPDATE crm.stages SET kind = %L WHERE pipeline_id = %s AND name = %L', 'lost', :p, 'Lead'),
				 '55000', NULL, 'a stage holding deals keeps its kind');
SELECT throws_ok(format('INSERT INTO crm.notes (deal_id, body) VALUES (%s, repeat(%L, 1048577))', :by_row, 'n'),
				 '54000', NULL, 'a note body over 1 MB');
SELECT throws_ok(format('UPDATE crm.deals SET title = repeat(%L, 2049) WHERE id = %s', 't', :by_row),
				 '54000', NULL, 'a deal title over 2 kB');
SELECT throws_ok($$INSERT INTO crm.contacts (name, properties) VALUES ('x', jsonb_build_object('k', repeat('v', 65537)))$$,
				 '54000', NULL, 'a property value over 64 kB');
SELECT throws_ok($$INSERT INTO crm.orders (contact_id, value) VALUES ($$ || :person || $$, 'NaN')$$,
				 '22023', NULL, 'a NaN order value');
SELECT throws_ok($$INSERT INTO crm.exchange_rates (base, quote, rate, valid_from) VALUES ('EUR', 'USD', 'Infinity', '2020-01-01')$$,
				 '22023', NULL, 'an infinite exchange rate');

RESET ROLE;
-- citus_pgtap: COMMIT; BEGIN;
SELECT * FROM finish();
ROLLBACK;
