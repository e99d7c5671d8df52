-- Line items valued by the C trigger: totals, discounts, rounding,
-- auto/manual value, one currency per deal, catalogue snapshots.
-- Runs in its own database so ids do not depend on other tests.
CREATE DATABASE crm_test_line_items;
\c crm_test_line_items
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('line-items-test', 'Line items test') IS NOT NULL AS created;
SELECT crm.use_workspace('line-items-test') IS NOT NULL AS switched;
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
INSERT INTO crm.deals (title, value) VALUES ('Fleet', 999) RETURNING id AS fleet \gset
INSERT INTO crm.products (name, sku, unit_price, currency) VALUES ('Seat licence', 'SEAT', 49.99, 'usd')
	RETURNING id AS seat \gset
INSERT INTO crm.products (name, sku, unit_price, currency, active) VALUES ('Legacy plan', 'OLD', 10, 'USD', false)
	RETURNING id AS legacy \gset

-- line total = quantity x unit price - discount, never negative, rounded to cents
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount) VALUES
	(:fleet, 'Plain', 3, 10.005, 'none', 0),
	(:fleet, 'Fixed', 2, 100, 'fixed', 15.5),
	(:fleet, 'Fixed over subtotal', 1, 20, 'fixed', 50),
	(:fleet, 'Percent', 4, 12.5, 'percent', 12.5),
	(:fleet, 'Percent 100', 7, 30, 'percent', 100);
SELECT name, quantity, unit_price, discount_type, discount, currency, total
  FROM crm.deal_line_items WHERE deal_id = :fleet ORDER BY id;
-- the deal is valued by its lines now
SELECT value, value_mode, currency FROM crm.deals WHERE id = :fleet;

-- from the catalogue: name and price frozen when the line is added
SELECT name, unit_price, quantity, total FROM crm.add_line_item(:fleet, :seat, 10, 'percent', 10);
UPDATE crm.products SET unit_price = 59.99, name = 'Seat licence v2' WHERE id = :seat;
INSERT INTO crm.deal_line_items (deal_id, product_id, quantity) VALUES (:fleet, :seat, 1);
SELECT name, unit_price, total FROM crm.deal_line_items WHERE product_id = :seat ORDER BY id;
SELECT value FROM crm.deals WHERE id = :fleet;

-- updates and deletes keep the value; one statement over many lines recomputes once
UPDATE crm.deal_line_items SET quantity = quantity * 2 WHERE deal_id = :fleet AND name IN ('Plain', 'Fixed');
SELECT value, (SELECT sum(total) FROM crm.deal_line_items WHERE deal_id = :fleet) AS sum_of_lines
  FROM crm.deals WHERE id = :fleet;
SELECT count(*) AS deal_updates_before FROM crm.events WHERE type = 'CRM_DEAL_UPDATED' \gset
DELETE FROM crm.deal_line_items WHERE deal_id = :fleet AND name LIKE '%Percent%';
SELECT count(*) - :deal_updates_before AS deal_updates_for_one_statement FROM crm.events WHERE type = 'CRM_DEAL_UPDATED';
SELECT value, value_mode FROM crm.deals WHERE id = :fleet;
-- a line that leaves the valuation as it was (free, 100% off) does not update the deal
SELECT updated_at AS fleet_updated_at FROM crm.deals WHERE id = :fleet \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES (:fleet, 'Free gift', 1, 5, 'percent', 100);
DELETE FROM crm.deal_line_items WHERE deal_id = :fleet AND name = 'Free gift';
SELECT updated_at = :'fleet_updated_at' AS deal_not_rewritten FROM crm.deals WHERE id = :fleet;

-- a deal with lines cannot be re-valued by hand
UPDATE crm.deals SET value = 1 WHERE id = :fleet;
UPDATE crm.deals SET currency = 'EUR' WHERE id = :fleet;
UPDATE crm.deals SET value_mode = 'manual' WHERE id = :fleet;
-- deleting the last line returns the deal to manual, keeping its value
DELETE FROM crm.deal_line_items WHERE deal_id = :fleet;
SELECT value, value_mode, currency FROM crm.deals WHERE id = :fleet;
UPDATE crm.deals SET value = 2500 WHERE id = :fleet RETURNING value, value_mode;

-- the first line sets the currency; rounding follows its minor units
INSERT INTO crm.deals (title) VALUES ('Tokyo'), ('Manama') RETURNING title, currency;
SELECT id AS tokyo FROM crm.deals WHERE title = 'Tokyo' \gset
SELECT id AS manama FROM crm.deals WHERE title = 'Manama' \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, currency, discount_type, discount) VALUES
	(:tokyo, 'Yen half up', 1, 100.5, 'jpy', 'none', 0),
	(:tokyo, 'Yen percent', 3, 333, 'JPY', 'percent', 50);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, currency, discount_type, discount) VALUES
	(:manama, 'Dinar', 3, 1.0005, 'BHD', 'none', 0),
	(:manama, 'Dinar fixed', 1, 2.5, 'BHD', 'fixed', 0.0004);
-- later lines default to the deal's currency
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:tokyo, 'Default currency', 1, 10);
SELECT d.title, l.name, l.currency, l.total FROM crm.deal_line_items l JOIN crm.deals d ON d.id = l.deal_id
 WHERE l.deal_id IN (:tokyo, :manama) ORDER BY l.id;
SELECT title, value, value_mode, currency FROM crm.deals WHERE id IN (:tokyo, :manama) ORDER BY id;

-- moving a line to another deal revalues both
UPDATE crm.deal_line_items SET deal_id = :fleet, currency = 'USD' WHERE name = 'Default currency';
SELECT title, value, value_mode, currency FROM crm.deals WHERE id IN (:fleet, :tokyo) ORDER BY id;

-- bad input: each a clear error, and nothing written
SELECT count(*) AS lines_before, (SELECT sum(value) FROM crm.deals) AS value_before FROM crm.deal_line_items \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, currency) VALUES (:tokyo, 'Dollar', 1, 5, 'USD');
INSERT INTO crm.deals (title) VALUES ('Mixed') RETURNING id AS mixed \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, currency) VALUES
	(:mixed, 'Euro line', 1, 5, 'EUR'), (:mixed, 'Pound line', 1, 5, 'GBP');
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES (:tokyo, 'Too generous', 1, 10, 'percent', 100.01);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:tokyo, 'Negative', -1, 10);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:tokyo, 'Zero', 0, 10);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:tokyo, 'Free money', 1, -10);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES (:tokyo, 'Negative discount', 1, 10, 'fixed', -1);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES (:tokyo, 'Odd type', 1, 10, 'bogo', 1);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount)
	VALUES (:tokyo, 'Typeless discount', 1, 10, 5);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, currency) VALUES (:tokyo, 'Bad money', 1, 10, 'YEN');
INSERT INTO crm.deal_line_items (deal_id, quantity, unit_price) VALUES (:tokyo, 1, 10);
INSERT INTO crm.deal_line_items (deal_id, name, quantity) VALUES (:tokyo, 'No price', 1);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (999999999, 'Orphan', 1, 10);
INSERT INTO crm.deal_line_items (deal_id, product_id, quantity) VALUES (:fleet, 999999999, 1);
SELECT crm.add_line_item(:fleet, :legacy);
SELECT crm.add_line_item(:fleet, NULL);
SELECT crm.add_line_item(999999999, :seat);
SELECT crm.add_line_item(:fleet, :seat, 0);
UPDATE crm.deal_line_items SET discount_type = 'percent', discount = 250 WHERE deal_id = :tokyo;
SELECT count(*) = :lines_before AS no_lines_written, (SELECT sum(value) FROM crm.deals) = :value_before AS no_value_changed
  FROM crm.deal_line_items;
SELECT count(*) AS mixed_lines FROM crm.deal_line_items WHERE deal_id = :mixed;
SELECT crm.use_workspace('default') IS NOT NULL AS switched;

-- The row path: a frontend role adding a catalogue product as a row gets
-- what crm.add_line_item gives, name, price and currency frozen from the
-- product, total computed; the columns it leaves out have defaults.
CREATE ROLE crm_line_items_app;
SELECT crm.grant_access('crm_line_items_app');
SELECT crm.use_workspace('line-items-test') IS NOT NULL AS switched;
INSERT INTO crm.deals (title) VALUES ('Twin fn') RETURNING id AS twin_fn \gset
INSERT INTO crm.deals (title) VALUES ('Twin row') RETURNING id AS twin_row \gset
SELECT total FROM crm.add_line_item(:twin_fn, :seat, 3, 'percent', 10);
SET ROLE crm_line_items_app;
INSERT INTO crm.deal_line_items (deal_id, product_id, quantity, discount_type, discount)
	VALUES (:twin_row, :seat, 3, 'percent', 10) RETURNING total;
RESET ROLE;
SELECT d.title, l.name, l.quantity, l.unit_price, l.currency, l.discount_type, l.discount, l.total,
	   d.value, d.value_mode, d.currency AS deal_currency
  FROM crm.deal_line_items l JOIN crm.deals d ON d.id = l.deal_id
 WHERE l.deal_id IN (:twin_fn, :twin_row) ORDER BY d.id;
-- a client may send the computed total, or send the whole row back with a
-- changed quantity (the stored total is then recomputed)
SET ROLE crm_line_items_app;
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, total)
	VALUES (:twin_row, 'Setup', 1, 250, 250) RETURNING total;
UPDATE crm.deal_line_items SET quantity = 2, total = total WHERE deal_id = :twin_row AND name = 'Setup' RETURNING total;
-- any other total would be silently replaced: refused (428C9)
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, total)
	VALUES (:twin_row, 'Cheap setup', 1, 250, 1);
UPDATE crm.deal_line_items SET total = 999 WHERE deal_id = :twin_row AND name = 'Setup';
-- the same for a deal valued by its lines: its value sent back as it is passes, another is refused
UPDATE crm.deals SET value = value, title = 'Twin row' WHERE id = :twin_row RETURNING value, value_mode;
UPDATE crm.deals SET value = 1 WHERE id = :twin_row;
-- NaN and Infinity are not quantities or prices (22023), on either path
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:twin_row, 'Endless', 'Infinity', 1);
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:twin_row, 'Priceless', 1, 'NaN');
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
	VALUES (:twin_row, 'Odd discount', 1, 10, 'fixed', '-Infinity');
UPDATE crm.deal_line_items SET quantity = 'NaN' WHERE deal_id = :twin_row AND name = 'Setup';
INSERT INTO crm.products (name, unit_price) VALUES ('Free lunch', 'Infinity');
-- a line name over 2 kB (54000)
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:twin_row, repeat('n', 2049), 1, 1);
RESET ROLE;
SELECT crm.add_line_item(:twin_fn, :seat, 'Infinity');
SELECT crm.add_line_item(:twin_fn, :seat, 'NaN');
SELECT crm.add_line_item(:twin_fn, :seat, 1, 'fixed', 'Infinity');
-- nothing of that was written: the values and the report stay finite
SELECT d.title, d.value, count(l.id) AS lines
  FROM crm.deals d LEFT JOIN crm.deal_line_items l ON l.deal_id = d.id
 WHERE d.id IN (:twin_fn, :twin_row) GROUP BY d.workspace_id, d.id ORDER BY d.id;
SELECT stage_name, currency, deals, value, round(weighted_value, 2) AS weighted_value
  FROM crm.pipeline_summary WHERE deals > 0 ORDER BY position, currency;
-- A line's revaluation of its deal is a HOT update: no index reads the
-- columns it writes (an index on them would fail this), and crm.deals keeps
-- room on its pages for it (the reloption below). Counted in this
-- transaction only, on the frontend role's row path and through the function.
SET ROLE crm_line_items_app;
BEGIN;
INSERT INTO crm.deals (title) VALUES ('Hot deal') RETURNING id AS hot_deal \gset
-- (the backend's counts not yet reported are in the view too: the difference)
SELECT n_tup_upd AS upd0, n_tup_hot_upd AS hot0 FROM pg_stat_xact_user_tables
 WHERE relid = 'crm.deals'::regclass \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:hot_deal, 'Hot line', 2, 10);
SELECT crm.add_line_item(:hot_deal, :seat) IS NOT NULL AS added;
SELECT value, value_mode FROM crm.deals WHERE id = :hot_deal;
SELECT n_tup_upd - :upd0 AS updates, n_tup_hot_upd - :hot0 AS hot_updates
  FROM pg_stat_xact_user_tables WHERE relid = 'crm.deals'::regclass;
COMMIT;
RESET ROLE;
SELECT reloptions FROM pg_class WHERE oid = 'crm.deals'::regclass;
-- A new backend sums a deal's lines through their index, whatever the
-- statistics: a plan kept from an empty table (here truncated and analyzed) would scan
-- every line of every deal at each revaluation until an ANALYZE.
\c crm_test_line_items
SELECT crm.use_workspace('line-items-test') IS NOT NULL AS switched;
BEGIN;
TRUNCATE crm.deal_line_items;
ANALYZE crm.deal_line_items;
SELECT seq_scan AS seq0 FROM pg_stat_xact_user_tables WHERE relid = 'crm.deal_line_items'::regclass \gset
-- single-row statements, past the plan cache's five custom plans
SELECT format('INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (%s, %L, 1, 5)',
			  :hot_deal, 'Index line ' || i) FROM generate_series(1, 8) i \gexec
SELECT value FROM crm.deals WHERE id = :hot_deal;
SELECT seq_scan - :seq0 AS line_scans FROM pg_stat_xact_user_tables WHERE relid = 'crm.deal_line_items'::regclass;
ROLLBACK;
-- Owner-based privacy on the row path: an agent's line values her deal by
-- all its lines, the ones others added too (the revaluation sums them as
-- the table's owner, and locks and updates the deal as the caller); her line
-- on another agent's deal is refused by the lines' policy, and his deal
-- keeps its value.
SELECT crm.create_workspace('line-items-privacy', 'Line items privacy') AS pws \gset
SELECT set_config('crm.workspace_id', :'pws', false) IS NOT NULL AS in_workspace;
SELECT (crm.add_member('lou', 'admin')).role, (crm.add_member('lia', 'agent')).role, (crm.add_member('leo', 'agent')).role;
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
INSERT INTO crm.deals (title, owner, value) VALUES ('Lia deal', 'lia', 0) RETURNING id AS lia_deal \gset
INSERT INTO crm.deals (title, owner, value) VALUES ('Leo deal', 'leo', 7) RETURNING id AS leo_deal \gset
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:lia_deal, 'By the system', 1, 100);
SET ROLE crm_line_items_app;
SELECT set_config('request.jwt.claims', format('{"sub": "lou", "workspace_id": %s}', :pws), false) IS NOT NULL AS as_lou;
SELECT crm.set_privacy('owner');
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:lia_deal, 'By Lou', 1, 1000);
SELECT set_config('request.jwt.claims', format('{"sub": "lia", "workspace_id": %s}', :pws), false) IS NOT NULL AS as_lia;
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:lia_deal, 'By Lia', 2, 10) RETURNING total;
SELECT title, value, value_mode FROM crm.deals ORDER BY id;
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price) VALUES (:leo_deal, 'Into Leo''s', 1, 5);
DELETE FROM crm.deal_line_items WHERE name = 'By Lia';
RESET ROLE;
SELECT title, value, value_mode, (SELECT string_agg(name, ', ' ORDER BY id) FROM crm.deal_line_items l WHERE l.deal_id = d.id) AS lines
  FROM crm.deals d WHERE workspace_id = :pws ORDER BY id;
RESET request.jwt.claims;
RESET crm.workspace_id;
DROP OWNED BY crm_line_items_app;

\c contrib_regression
DROP DATABASE crm_test_line_items;
DROP ROLE crm_line_items_app;
