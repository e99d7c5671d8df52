-- Orders registry: a bakery logs what its customers buy, from its shop
-- (manual), Stripe webhooks and its web store.  Nothing charges money.
\set SHOW_CONTEXT never
\set orders_here 'SELECT count(*) AS orders FROM crm.orders WHERE workspace_id = crm.current_workspace()'

SELECT crm.create_workspace('orders-bakery', 'Bakery', 'eur') > 0 AS created;
SELECT crm.create_workspace('orders-other', 'Another shop') > 0 AS created;
SELECT crm.use_workspace('orders-other') > 0 AS switched;
INSERT INTO crm.contacts (id, name, email) VALUES (81001, 'Olga Other', 'olga@other.test');
SELECT crm.use_workspace('orders-bakery') > 0 AS switched;
INSERT INTO crm.contacts (id, name, email) VALUES
	(80001, 'Ada Baker', 'ada@bakery.test'),
	(80002, 'Ben Crumb', 'ben@bakery.test');

-- A webhook delivered ten times is one order, in the workspace's currency.
SELECT count(DISTINCT crm.upsert_order(80001, 'webhook', 'pi_1001', 42.50,
									   title => 'Wedding cake deposit')) AS distinct_ids
  FROM generate_series(1, 10);
SELECT crm.upsert_order(80001, 'webhook', 'pi_1001') AS cake \gset
SELECT contact_id, title, value, currency, status, source, external_id, paid_date IS NULL AS unpaid
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id = :cake;

-- The payment succeeds: a later call updates status, and paid_date defaults to now.
SELECT crm.upsert_order(80001, 'webhook', 'pi_1001', status => 'paid') = :cake AS same_order;
SELECT value, status, paid_date IS NOT NULL AS has_paid_date
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id = :cake;
-- ... and its retries change nothing.
SELECT crm.upsert_order(80001, 'webhook', 'pi_1001', status => 'paid') = :cake AS same_order;

-- One CREATED event, one UPDATED event naming what changed; retries emit nothing.
SELECT type, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(payload -> 'changes') k) AS changed
  FROM crm.events
 WHERE workspace_id = crm.current_workspace() AND object_type = 'order' AND object_id = :cake
 ORDER BY id;

-- Explicit currency (normalised), dates and properties; null removes a property.
SELECT crm.upsert_order(80001, 'commerce', 'web-77', 18, currency => 'gbp', status => 'paid',
						order_date => '2024-03-01 10:00+00', paid_date => '2024-03-01 10:05+00',
						properties => '{"coupon": "SPRING", "items": 3}') AS web77 \gset
SELECT crm.upsert_order(80001, 'commerce', 'web-77', properties => '{"coupon": null, "gift": true}') = :web77 AS same_order;
SELECT currency, value, order_date, paid_date, properties
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id = :web77;

-- The same external id from another source is another order.
SELECT crm.upsert_order(80001, 'payments', 'web-77', 5) <> :web77 AS different_order;

-- Orders without an external id are plain inserts (the shop till).
INSERT INTO crm.orders (contact_id, title, value, status) VALUES
	(80002, 'Sourdough loaf', 6.80, 'paid'),
	(80002, 'Sourdough loaf', 6.80, 'paid'),
	(80002, 'Birthday cake', 35, 'overdue');
SELECT title, value, currency, source, external_id IS NULL AS no_external_id
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND contact_id = 80002 ORDER BY id;

-- An order reported for a merged contact lands on the survivor.
INSERT INTO crm.contacts (id, name) VALUES (80003, 'Ada B.');
SELECT FROM crm.merge_contacts(80001, 80003);
SELECT crm.upsert_order(80003, 'api', 'app-5', 9.99, status => 'pending') AS app5 \gset
SELECT contact_id FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id = :app5;

-- Purchase history: one row per contact and currency; only paid orders count as paid.
SELECT contact_id, currency, order_count, paid_count, total_paid, total_open
  FROM crm.contact_orders WHERE workspace_id = crm.current_workspace()
 ORDER BY contact_id, currency;

:orders_here;

-- Bad input: each call fails with a hint and writes nothing.
-- unknown status
SELECT crm.upsert_order(80001, 'webhook', 'pi_2001', 10, status => 'shipped');
-- unknown source
SELECT crm.upsert_order(80001, 'paypal', 'pp_1', 10);
-- negative value
SELECT crm.upsert_order(80001, 'webhook', 'pi_2002', -5);
-- a contact that does not exist
SELECT crm.upsert_order(999999999, 'webhook', 'pi_2003', 10);
-- a contact of another workspace
SELECT crm.upsert_order(81001, 'webhook', 'pi_2004', 10);
-- no external id
SELECT crm.upsert_order(80001, 'webhook', ' ', 10);
-- unknown currency
SELECT crm.upsert_order(80001, 'webhook', 'pi_2005', 10, currency => 'EURO');
-- properties that are not an object
SELECT crm.upsert_order(80001, 'webhook', 'pi_2006', 10, properties => '[1, 2]');
-- a deal that does not exist
SELECT crm.upsert_order(80001, 'webhook', 'pi_2007', 10, deal_id => 999999999);
-- a bad update leaves the existing order as it was
SELECT crm.upsert_order(80001, 'webhook', 'pi_1001', -1);
SELECT value, status FROM crm.orders WHERE workspace_id = crm.current_workspace() AND id = :cake;
:orders_here;

-- Direct writes hit the same rules.
-- no contact
INSERT INTO crm.orders (title, value) VALUES ('Anonymous bun', 2);
-- unknown status
INSERT INTO crm.orders (contact_id, value, status) VALUES (80001, 2, 'shipped');
-- unknown currency
INSERT INTO crm.orders (contact_id, value, currency) VALUES (80001, 2, 'XYZ');
\set VERBOSITY terse
-- negative value
INSERT INTO crm.orders (contact_id, value) VALUES (80001, -2);
-- a contact of another workspace
INSERT INTO crm.orders (contact_id, value) VALUES (81001, 2);
-- the same (source, external id) twice
INSERT INTO crm.orders (contact_id, value, source, external_id) VALUES (80001, 2, 'webhook', 'pi_1001');
\set VERBOSITY default
-- unlinking an order from a contact that still exists
UPDATE crm.orders SET contact_id = NULL WHERE workspace_id = crm.current_workspace() AND id = :cake;
:orders_here;

-- GDPR hard delete of a contact: its orders keep their amounts and lose the link.
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND id = 80002;
SELECT contact_id, title, value, status
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND title IN ('Sourdough loaf', 'Birthday cake')
 ORDER BY id;
SELECT contact_id, currency, order_count, total_paid
  FROM crm.contact_orders WHERE workspace_id = crm.current_workspace()
 ORDER BY contact_id, currency;
:orders_here;

-- The row path: a frontend role marking an order paid by a plain UPDATE
-- gets the paid_date crm.upsert_order gives; an order inserted paid too.
CREATE ROLE crm_orders_app;
SELECT crm.grant_access('crm_orders_app');
SELECT crm.upsert_order(80001, 'api', 'fn-1', 12, title => 'Twin fn') AS twin_fn \gset
INSERT INTO crm.orders (contact_id, value, title) VALUES (80001, 12, 'Twin row') RETURNING id AS twin_row \gset
SELECT max(id) AS last_event FROM crm.events \gset
SELECT crm.upsert_order(80001, 'api', 'fn-1', status => 'paid') = :twin_fn AS same_order;
SET ROLE crm_orders_app;
UPDATE crm.orders SET status = 'paid' WHERE id = :twin_row;
INSERT INTO crm.orders (contact_id, value, title, status) VALUES (80001, 3, 'Born paid', 'partially_paid');
-- a paid date that is given is kept
INSERT INTO crm.orders (contact_id, value, title, status, paid_date)
	VALUES (80001, 4, 'Paid earlier', 'paid', '2024-05-01 12:00+00');
RESET ROLE;
SELECT title, status, currency, paid_date IS NOT NULL AS has_paid_date, paid_date > now() - interval '1 hour' AS paid_just_now
  FROM crm.orders WHERE workspace_id = crm.current_workspace() AND title IN ('Twin fn', 'Twin row', 'Born paid', 'Paid earlier')
 ORDER BY id;
SELECT o.title, e.type, e.payload->'changes' ?& ARRAY['status', 'paid_date'] AS status_and_paid_date
  FROM crm.events e JOIN crm.orders o ON o.id = e.object_id AND e.object_type = 'order'
 WHERE e.id > :last_event AND o.title IN ('Twin fn', 'Twin row') ORDER BY o.id, e.id;
-- NaN and Infinity are not amounts (22023); a title over 2 kB (54000); nothing written
SET ROLE crm_orders_app;
INSERT INTO crm.orders (contact_id, value) VALUES (80001, 'Infinity');
UPDATE crm.orders SET value = 'NaN' WHERE id = :twin_row;
INSERT INTO crm.orders (contact_id, value, title) VALUES (80001, 1, repeat('t', 2049));
RESET ROLE;
SELECT crm.upsert_order(80001, 'api', 'fn-2', 'Infinity');
SELECT value FROM crm.orders WHERE id = :twin_row;
DROP OWNED BY crm_orders_app;
DROP ROLE crm_orders_app;

-- Leave no contacts behind for later tests (they count all contacts).
DELETE FROM crm.contacts
 WHERE workspace_id IN (SELECT id FROM crm.workspaces WHERE slug IN ('orders-bakery', 'orders-other'));
