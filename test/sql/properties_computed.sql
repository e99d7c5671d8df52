-- Computed properties (issue 23): formulas over the record's own fields and
-- rollups over the records that point at it, stored in properties, kept by
-- the row's own write (formulas) and by the related tables' statement
-- triggers (rollups), usable in CQL, lists and history like any property.
SELECT crm.create_workspace('computed', 'Computed') IS NOT NULL AS created;
SELECT crm.use_workspace('computed') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
CREATE ROLE crm_computed_app;
SELECT crm.grant_access('crm_computed_app');
SELECT crm.define_property('contact', 'seats', 'number') > 0 AS defined;
SELECT crm.define_property('contact', 'renewal', 'date') > 0 AS defined;
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro']) > 0 AS defined;
INSERT INTO crm.contacts (id, name, email, city, properties, created_at) VALUES
	(901, 'Ada', 'ada@acme.com', 'London', '{"seats": 12, "renewal": "2026-03-01", "plan": "pro"}', '2026-01-01'),
	(902, 'Bob', 'bob@x.org', NULL, '{"seats": 0}', '2026-01-01'),
	(903, 'Cy', 'cy@x.org', 'Paris', '{}', '2026-01-01');
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
GRANT SELECT ON mark TO crm_computed_app;
CREATE TEMP VIEW props AS
SELECT id, properties FROM crm.contacts WHERE workspace_id = crm.current_workspace() ORDER BY id;
GRANT SELECT ON props TO crm_computed_app;

-- ---- formulas -------------------------------------------------------------
-- defining computes every record at once (one UPDATE), the type is the formula's
SELECT crm.define_formula('contact', 'seat_value', 'seats * 10') > 0 AS defined;
SELECT crm.define_formula('contact', 'label', 'IF(seats >= 10, ''big'', ''small'') + '' / '' + name + '' in '' + COALESCE(city, ''nowhere'')') > 0 AS defined;
SELECT crm.define_formula('contact', 'renews_in', 'renewal - 2026-01-01') > 0 AS defined;
SELECT crm.define_formula('contact', 'per_seat', 'ROUND(100 / seats, 2)') > 0 AS defined;
SELECT crm.define_formula('contact', 'is_pro', 'plan = ''pro'' AND NOT seats < 5') > 0 AS defined;
SELECT crm.define_formula('contact', 'seat_cost', 'seats * 2.5', type => 'currency') > 0 AS defined;
SELECT key, type, formula FROM crm.property_definitions
 WHERE workspace_id = crm.current_workspace() AND formula IS NOT NULL ORDER BY key;
SELECT * FROM props;
-- the row's own write recomputes them; the value a write gives a computed key is replaced
UPDATE crm.contacts SET name = 'Ada L', properties = properties || '{"seats": 20, "seat_value": 1}' WHERE id = 901;
INSERT INTO crm.contacts (id, name, email, properties) VALUES (904, 'Dee', 'dee@x.org', '{"seats": 3, "label": "vip"}');
SELECT * FROM props;
-- what a formula is refused for, and what it writes then: nothing
SELECT crm.define_formula('contact', 'bad', 'seats + name');
SELECT crm.define_formula('contact', 'bad', 'seats *');
SELECT crm.define_formula('contact', 'bad', 'company.name');
SELECT crm.define_formula('contact', 'bad', 'seats * 2', type => 'text');
SELECT crm.define_formula('contact', 'bad', 'NULL');
SELECT crm.define_formula('contact', 'bad', 'SQRT(seats)');
SELECT crm.define_formula('contact', 'bad', 'tags + 1');
SELECT crm.define_formula('nothing', 'bad', 'seats');
SELECT crm.define_formula('contact', NULL, NULL);
INSERT INTO crm.property_definitions (object_type, key, type, formula, required) VALUES ('contact', 'bad', 'number', 'seats', true);
SELECT count(*) FROM crm.property_definitions WHERE workspace_id = crm.current_workspace() AND key = 'bad';
-- a formula reading a property keeps it: no drop or retype that breaks it
SELECT crm.drop_property('contact', 'renewal');
UPDATE crm.property_definitions SET type = 'text' WHERE workspace_id = crm.current_workspace() AND key = 'seats';
-- formulas may read formulas (computed_filters.sql), but never come back to themselves
SELECT crm.define_formula('contact', 'seats', 'seat_value * 2');
-- changing a formula recomputes, dropping one clears it, in one statement
SELECT crm.define_formula('contact', 'seat_value', 'seats * 100') > 0 AS redefined;
SELECT crm.drop_property('contact', 'per_seat');
SELECT * FROM props;
-- CQL filters and sorts by them like any declared property
SELECT id FROM crm.find_contacts('seatValue >= 1200', 'seatValue DESC');
SELECT id FROM crm.find_contacts('isPro = true');
-- dynamic lists stay exact when a formula changes
SELECT name, member_count FROM crm.create_list('Big seats', 'contact', 'dynamic', 'seatValue >= 1000');
UPDATE crm.contacts SET properties = properties || '{"seats": 15}' WHERE id = 904;
SELECT l.member_count, array_agg(m.contact_id ORDER BY m.contact_id) FROM crm.lists l
  JOIN crm.list_members m ON m.workspace_id = l.workspace_id AND m.list_id = l.id
 WHERE l.workspace_id = crm.current_workspace() AND l.name = 'Big seats' GROUP BY l.member_count;
-- events and history carry the computed values as any change of properties
SELECT e.type, e.payload -> 'changes' -> 'properties' ->> 'seat_value' AS seat_value FROM crm.events e
 WHERE e.id > (SELECT id FROM mark) AND e.type = 'CRM_CONTACT_UPDATED' AND e.object_id = '904' ORDER BY e.id;
SELECT key, old_value, new_value FROM crm.property_history('contact', 904, 'seat_value') ORDER BY id;
-- time-relative formulas: crm.refresh_formulas() moves them with the clock
SELECT crm.define_formula('contact', 'age_days', 'DAYS_SINCE(createdAt)') > 0 AS defined;
SELECT (properties ->> 'age_days')::int = CURRENT_DATE - date '2026-01-01' AS current FROM crm.contacts WHERE id = 901;
-- a stale value, as the clock leaves it (planted with the triggers off), is put right
SET session_replication_role = replica;
UPDATE crm.contacts SET properties = properties || '{"age_days": 1}' WHERE id = 901;
RESET session_replication_role;
SELECT crm.refresh_formulas();
SELECT (properties ->> 'age_days')::int = CURRENT_DATE - date '2026-01-01' AS current FROM crm.contacts WHERE id = 901;
SELECT crm.refresh_formulas();
SELECT crm.drop_property('contact', 'age_days');

-- the row path: a frontend role with a member's token writes plain rows
SELECT (crm.add_member('alice', 'admin')).role, (crm.add_member('bob', 'agent')).role;
SELECT set_config('request.jwt.claims', '{"sub": "alice"}', false) IS NOT NULL AS token;
SET ROLE crm_computed_app;
INSERT INTO crm.property_definitions (object_type, key, label, formula) VALUES ('contact', 'seat_half', 'Half', 'seats / 2')
RETURNING key, type, formula;
INSERT INTO crm.contacts (id, name, email, properties) VALUES (905, 'Eve', 'eve@x.org', '{"seats": 8, "seat_half": 99}');
SELECT * FROM props WHERE id IN (901, 905);
RESET ROLE;
SELECT set_config('request.jwt.claims', '{"sub": "bob"}', false) IS NOT NULL AS token;
SET ROLE crm_computed_app;
-- an agent may not define properties
INSERT INTO crm.property_definitions (object_type, key, formula) VALUES ('contact', 'nope', 'seats');
UPDATE crm.contacts SET properties = properties || '{"seat_half": 1, "seats": 10}' WHERE id = 905;
SELECT * FROM props WHERE id = 905;
RESET ROLE;

-- ---- rollups --------------------------------------------------------------
INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES
	(901, 100, 'EUR', 'paid', '2026-02-01'), (901, 50, 'EUR', 'pending', '2026-02-02'),
	(902, 70, 'EUR', 'paid', '2026-02-03'), (902, 30, 'USD', 'paid', '2026-02-04');
SELECT crm.define_formula('contact', 'spend', 'SUM(orders(status = PAID AND currency = ''EUR'').value)') > 0 AS defined;
SELECT crm.define_formula('contact', 'orders_n', 'COUNT(orders)') > 0 AS defined;
SELECT crm.define_formula('contact', 'last_order', 'MAX(orders.orderDate)') > 0 AS defined;
SELECT crm.define_formula('contact', 'first_order', 'MIN(orders(status = PAID).orderDate)') > 0 AS defined;
SELECT crm.define_formula('contact', 'avg_order', 'AVG(orders(currency = ''EUR'').value)') > 0 AS defined;
SELECT key, type FROM crm.property_definitions
 WHERE workspace_id = crm.current_workspace() AND key IN ('spend', 'orders_n', 'last_order', 'first_order', 'avg_order') ORDER BY key;
CREATE TEMP VIEW rollups AS
SELECT id, properties -> 'spend' AS spend, properties -> 'orders_n' AS n, properties ->> 'last_order' AS last_order,
	   properties ->> 'first_order' AS first_order, round((properties ->> 'avg_order')::numeric, 2) AS avg_order
  FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND id IN (901, 902, 903) ORDER BY id;
-- what the rows say, by hand
CREATE TEMP VIEW by_hand AS
SELECT c.id, (SELECT coalesce(sum(o.value), 0) FROM crm.orders o WHERE o.workspace_id = c.workspace_id AND o.contact_id = c.id AND o.status = 'paid' AND o.currency = 'EUR') AS spend,
	   (SELECT count(*) FROM crm.orders o WHERE o.workspace_id = c.workspace_id AND o.contact_id = c.id) AS n
  FROM crm.contacts c WHERE c.workspace_id = crm.current_workspace() AND c.id IN (901, 902, 903) ORDER BY c.id;
GRANT SELECT ON rollups, by_hand TO crm_computed_app;
SELECT * FROM rollups;
-- inserts, a status change, a re-parenting, a delete: each statement's delta
INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (901, 10, 'EUR', 'paid', '2026-03-01'), (903, 5, 'EUR', 'paid', '2026-01-15');
UPDATE crm.orders SET status = 'paid' WHERE workspace_id = crm.current_workspace() AND contact_id = 901 AND value = 50;
UPDATE crm.orders SET contact_id = 903 WHERE workspace_id = crm.current_workspace() AND contact_id = 901 AND value = 100;
DELETE FROM crm.orders WHERE workspace_id = crm.current_workspace() AND contact_id = 902 AND currency = 'EUR';
SELECT * FROM rollups;
SELECT r.id, r.spend::numeric = h.spend AS spend_exact, r.n::bigint = h.n AS count_exact FROM rollups r JOIN by_hand h USING (id);
-- a client's value for a rollup is not kept: the related records alone change it
UPDATE crm.contacts SET properties = properties || '{"spend": 1000000, "orders_n": 0}' WHERE id = 901;
INSERT INTO crm.contacts (id, name, email, properties) VALUES (906, 'Fay', 'fay@x.org', '{"spend": 5, "last_order": "2020-01-01T00:00:00Z"}');
SELECT * FROM rollups WHERE id = 901;
SELECT properties FROM crm.contacts WHERE id = 906;
-- a merge moves the duplicate's orders: both rollups follow
SELECT crm.merge_contacts(903, 902) IS NOT NULL AS merged;
SELECT * FROM rollups;
SELECT r.id, r.spend::numeric = h.spend AS spend_exact, r.n::bigint = h.n AS count_exact FROM rollups r JOIN by_hand h USING (id);
-- CQL, sorting and a dynamic list read the stored rollup; the list follows the orders
SELECT id FROM crm.find_contacts('spend > 0', 'spend DESC');
SELECT name, member_count FROM crm.create_list('Spenders', 'contact', 'dynamic', 'spend >= 100');
INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (901, 200, 'EUR', 'paid');
SELECT array_agg(m.contact_id ORDER BY m.contact_id) AS spenders FROM crm.list_members m JOIN crm.lists l ON l.workspace_id = m.workspace_id AND l.id = m.list_id
 WHERE l.workspace_id = crm.current_workspace() AND l.name = 'Spenders';
-- the orders of a frontend agent move the rollups too (as the owner: the agent may not see every contact)
SET ROLE crm_computed_app;
INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (905, 40, 'EUR', 'paid'), (905, 60, 'EUR', 'paid');
SELECT properties -> 'spend' AS spend, properties -> 'orders_n' AS n FROM crm.contacts WHERE id = 905;
DELETE FROM crm.orders WHERE contact_id = 905 AND value = 40;
SELECT properties -> 'spend' AS spend, properties -> 'orders_n' AS n FROM crm.contacts WHERE id = 905;
RESET ROLE;
-- one statement of many orders is one pass per rollup
INSERT INTO crm.orders (contact_id, value, currency, status)
SELECT 904, 1, 'EUR', 'paid' FROM generate_series(1, 2000);
SELECT properties -> 'spend' AS spend, properties -> 'orders_n' AS n FROM crm.contacts WHERE id = 904;
-- the contact's additive rollups over orders (spend, orders_n) are one UPDATE of it per
-- statement: an order that moves both rewrites the contact once (one event), as a frontend's row write too
-- (MAX, MIN and AVG, recomputed, are one more each when their value moves: these orders move none)
SET ROLE crm_computed_app;
BEGIN;
INSERT INTO crm.orders (contact_id, value, currency, status, order_date)
SELECT 904, 1, 'EUR', 'paid', min(order_date) FROM crm.orders WHERE contact_id = 904;
SELECT count(*) AS contact_updates FROM crm.events WHERE xid = pg_current_xact_id() AND type = 'CRM_CONTACT_UPDATED' AND object_id = 904;
SELECT properties -> 'spend' AS spend, properties -> 'orders_n' AS n FROM crm.contacts WHERE id = 904;
ROLLBACK;
-- a pending order moves the count only: the spend is kept as stored
BEGIN;
INSERT INTO crm.orders (contact_id, value, currency, status, order_date)
SELECT 904, 1, 'EUR', 'pending', min(order_date) FROM crm.orders WHERE contact_id = 904;
SELECT properties -> 'spend' AS spend, properties -> 'orders_n' AS n FROM crm.contacts WHERE id = 904;
ROLLBACK;
RESET ROLE;
-- what a rollup is refused for
SELECT crm.define_formula('contact', 'bad', 'SUM(orders.value)');
SELECT crm.define_formula('contact', 'bad', 'SUM(orders(currency != ''EUR'').value)');
SELECT crm.define_formula('contact', 'bad', 'COUNT(companies)');
SELECT crm.define_formula('contact', 'bad', 'SUM(orders.status)');
SELECT crm.define_formula('contact', 'bad', 'COUNT(orders.value)');
SELECT crm.define_formula('contact', 'bad', 'COUNT(orders(deal.title = ''x''))');
SELECT crm.define_formula('contact', 'bad', 'COUNT(orders) + 1');
SELECT crm.define_formula('contact', 'bad', 'MAX(stuff.x)');
-- companies count their open deals
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.companies (id, name) VALUES (901, 'Acme'), (902, 'Globex');
SELECT crm.define_formula('company', 'open_deals', 'COUNT(deals(status = OPEN))') > 0 AS defined;
INSERT INTO crm.deals (title, value, currency, company_id) VALUES ('d1', 5, 'EUR', 901), ('d2', 5, 'EUR', 901), ('d3', 5, 'EUR', 902);
SELECT count(*) AS won FROM (SELECT crm.win_deal((SELECT id FROM crm.deals WHERE workspace_id = crm.current_workspace() AND title = 'd1'))) w;
UPDATE crm.deals SET company_id = 902 WHERE workspace_id = crm.current_workspace() AND title = 'd2';
SELECT id, properties FROM crm.companies WHERE workspace_id = crm.current_workspace() ORDER BY id;
-- dropping a rollup clears it
SELECT crm.drop_property('company', 'open_deals');
SELECT id, properties FROM crm.companies WHERE workspace_id = crm.current_workspace() ORDER BY id;

RESET request.jwt.claims;
DELETE FROM crm.lists WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.deals WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.orders WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'computed';
DROP OWNED BY crm_computed_app;
DROP ROLE crm_computed_app;
