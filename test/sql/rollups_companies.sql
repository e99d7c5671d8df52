-- Orders have a company (issue 23): given, else the deal's company, else
-- the contact's primary company at insert; a company's spend is a rollup
-- over its orders, kept exact by the writes of orders, merges and unmerges.
SELECT crm.create_workspace('rollco', 'Rollups of companies') IS NOT NULL AS created;
SELECT crm.use_workspace('rollco') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
CREATE ROLE crm_rollco_app;
SELECT crm.grant_access('crm_rollco_app');
SELECT crm.create_pipeline('Sales', 'b2b_sales') > 0 AS pipeline;
INSERT INTO crm.companies (id, name) VALUES (801, 'Acme'), (802, 'Globex'), (803, 'Initech');
INSERT INTO crm.contacts (id, name, email) VALUES
	(811, 'Ada', 'ada@acme.com'), (812, 'Bob', 'bob@globex.com'), (813, 'Cy', 'cy@example.com'),
	(814, 'Di', 'di@initech.com');
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES
	(811, 801, true), (812, 802, true), (814, 803, true), (811, 802, false);
INSERT INTO crm.deals (id, title, value, currency, contact_id, company_id) VALUES (821, 'Globex deal', 500, 'EUR', 811, 802);
SELECT crm.define_formula('company', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)') > 0 AS defined;
SELECT crm.define_formula('company', 'orders_n', 'COUNT(orders)') > 0 AS defined;
SELECT crm.define_formula('company', 'last_order', 'MAX(orders.orderDate)') > 0 AS defined;
SELECT crm.define_formula('company', 'big_spender', 'spend_eur >= 100') > 0 AS defined;
-- stored values against the orders themselves: every line says ok
CREATE TEMP VIEW spend AS
SELECT c.id, c.name, c.properties -> 'spend_eur' AS spend_eur, c.properties -> 'orders_n' AS orders_n,
	   c.properties ->> 'last_order' AS last_order, c.properties -> 'big_spender' AS big,
	   (c.properties ->> 'spend_eur')::numeric IS NOT DISTINCT FROM
		   (SELECT coalesce(sum(o.value) FILTER (WHERE o.status = 'paid' AND o.currency = 'EUR'), 0) FROM crm.orders o
			 WHERE o.workspace_id = c.workspace_id AND o.company_id = c.id)
	   AND (c.properties ->> 'orders_n')::numeric IS NOT DISTINCT FROM
		   (SELECT count(*) FROM crm.orders o WHERE o.workspace_id = c.workspace_id AND o.company_id = c.id) AS ok
  FROM crm.companies c WHERE c.workspace_id = crm.current_workspace() ORDER BY c.id;
GRANT SELECT ON spend TO crm_rollco_app;
-- the orders with ids of their own (an upserted order's id is the sequence's)
CREATE TEMP VIEW order_companies AS
SELECT o.id, o.contact_id, o.deal_id, o.company_id, o.value, o.status FROM crm.orders o
 WHERE o.workspace_id = crm.current_workspace() AND o.external_id IS NULL ORDER BY o.id;
GRANT SELECT ON order_companies TO crm_rollco_app;
SELECT * FROM spend;

-- ---- where an order's company comes from ----------------------------------
-- the contact's primary company; the deal's company first; the one given; none
INSERT INTO crm.orders (id, contact_id, value, currency, status, order_date) VALUES
	(831, 811, 100, 'EUR', 'paid', '2026-02-01'),
	(832, 813, 40, 'EUR', 'paid', '2026-02-02');
INSERT INTO crm.orders (id, contact_id, deal_id, value, currency, status, order_date) VALUES
	(833, 811, 821, 70, 'EUR', 'paid', '2026-02-03');
INSERT INTO crm.orders (id, contact_id, company_id, value, currency, status, order_date) VALUES
	(834, 812, 803, 30, 'EUR', 'pending', '2026-02-04');
SELECT crm.upsert_order(811, 'webhook', 'w-1', 20, 'EUR', 'paid', order_date => '2026-02-05') > 0 AS upserted;
SELECT external_id, contact_id, company_id, value FROM crm.orders
 WHERE workspace_id = crm.current_workspace() AND external_id IS NOT NULL;
SELECT * FROM order_companies;
SELECT * FROM spend;

-- bad input: an unknown company, another workspace's; nothing written
SELECT crm.create_workspace('rollco-other', 'Other') IS NOT NULL AS created;
SELECT crm.use_workspace('rollco-other') IS NOT NULL AS switched;
INSERT INTO crm.companies (id, name) VALUES (899, 'Elsewhere');
SELECT crm.use_workspace('rollco') IS NOT NULL AS switched;
INSERT INTO crm.orders (contact_id, company_id, value, currency, status) VALUES (811, 999, 5, 'EUR', 'paid');
INSERT INTO crm.orders (contact_id, company_id, value, currency, status) VALUES (811, 899, 5, 'EUR', 'paid');
UPDATE crm.orders SET company_id = 999 WHERE id = 831;
SELECT count(*) AS orders FROM crm.orders WHERE workspace_id = crm.current_workspace();
SELECT * FROM spend;

-- a later change of the contact's companies does not move its old orders
UPDATE crm.contact_companies SET is_primary = true WHERE contact_id = 811 AND company_id = 802;
SELECT id, company_id FROM order_companies WHERE contact_id = 811;

-- ---- the row path of a frontend role --------------------------------------
SET ROLE crm_rollco_app;
-- without company_id: the contact's primary company (now Globex); with it: the one given
INSERT INTO crm.orders (id, contact_id, value, currency, status, order_date) VALUES (835, 811, 15, 'EUR', 'paid', '2026-02-06');
INSERT INTO crm.orders (id, contact_id, company_id, value, currency, status, order_date) VALUES (836, 811, 803, 25, 'EUR', 'paid', '2026-02-07');
INSERT INTO crm.orders (contact_id, company_id, value, currency, status) VALUES (811, 999, 5, 'EUR', 'paid');
-- re-parenting an order moves its value from one company to the other
UPDATE crm.orders SET company_id = 801 WHERE id = 834;
UPDATE crm.orders SET status = 'paid' WHERE id = 834;
-- a client cannot set a computed value: its write is replaced by the stored one
UPDATE crm.companies SET properties = properties || '{"spend_eur": 1000000, "orders_n": 0, "big_spender": false}' WHERE id = 803;
INSERT INTO crm.companies (id, name, properties) VALUES (804, 'Umbrella', '{"spend_eur": 5, "orders_n": 9}');
SELECT * FROM order_companies;
SELECT * FROM spend;
-- CQL reads the company of an order and the rollups of a company
SELECT id FROM crm.find_orders('company = ''Acme'' AND externalId IS NULL', 'id');
SELECT id FROM crm.find_orders('companyId = 803 OR company.name = ''Initech''', 'id');
-- exports carry an order's company and a company's computed values
SELECT external_id, company_id, value FROM crm.export_orders('company = ''Acme''') ORDER BY value;
SELECT id, name, properties FROM crm.export_companies('spendEur > 0');
SELECT id, name FROM crm.find_companies('spendEur >= 100', 'spendEur DESC');
SELECT id, name FROM crm.find_companies('EXISTS orders(status = PENDING) OR orders.count >= 3', 'id');
RESET ROLE;

-- a dynamic list of companies follows the rollup
SELECT name FROM crm.create_list('Big spenders', 'company', 'dynamic', 'bigSpender = true');
CREATE TEMP VIEW big AS
SELECT array_agg(c.name ORDER BY c.name) AS members FROM crm.list_members m
  JOIN crm.lists l ON l.workspace_id = m.workspace_id AND l.id = m.list_id
  JOIN crm.companies c ON c.workspace_id = m.workspace_id AND c.id = m.company_id
 WHERE l.workspace_id = crm.current_workspace() AND l.name = 'Big spenders';
SELECT * FROM big;
CREATE TEMP TABLE mark AS SELECT max(id) AS id FROM crm.events;
INSERT INTO crm.orders (id, contact_id, value, currency, status, order_date) VALUES (837, 814, 120, 'EUR', 'paid', '2026-02-08');
SELECT * FROM big;
-- the change of the computed values is an event like any property change: one for the
-- recomputed MAX, one for the COUNT and the SUM, which one UPDATE of the company adds together
SELECT type, object_id, payload -> 'changes' -> 'properties' AS changes FROM crm.events
 WHERE workspace_id = crm.current_workspace() AND object_type = 'company' AND id > (SELECT id FROM mark)
 ORDER BY id;
DELETE FROM crm.orders WHERE id = 837;
SELECT * FROM big;


-- ---- merges ---------------------------------------------------------------
-- a company merge moves the duplicate's orders and their spend to the survivor
SELECT crm.merge_companies(801, 803) = 801 AS merged;
SELECT * FROM order_companies;
SELECT * FROM spend;
-- an order written later for the merged company goes to the survivor
INSERT INTO crm.orders (id, contact_id, company_id, value, currency, status, order_date) VALUES (838, 812, 803, 1, 'EUR', 'paid', '2026-02-09');
SELECT id, company_id FROM order_companies WHERE id = 838;
-- a moved order changes while merged; the unmerge moves it back with its new value
UPDATE crm.orders SET value = 35 WHERE id = 836;
SELECT crm.unmerge(id) ->> 'moved_back' AS moved_back FROM crm.merges
 WHERE workspace_id = crm.current_workspace() AND object_type = 'company';
SELECT * FROM order_companies;
SELECT * FROM spend;

-- a contact merge: an order whose company came from its contact follows the survivor's;
-- one whose company is its deal's stays; the unmerge takes them back
INSERT INTO crm.orders (id, contact_id, value, currency, status, order_date) VALUES (839, 814, 12, 'EUR', 'paid', '2026-02-10');
INSERT INTO crm.orders (id, contact_id, deal_id, value, currency, status, order_date) VALUES (840, 814, 821, 3, 'EUR', 'paid', '2026-02-10');
SELECT id, contact_id, company_id FROM order_companies WHERE id IN (839, 840);
SELECT crm.merge_contacts(812, 814) = 812 AS merged;
SELECT id, contact_id, company_id FROM order_companies WHERE id IN (839, 840);
SELECT * FROM spend;
SELECT crm.unmerge(id) ->> 'moved_back' AS moved_back FROM crm.merges
 WHERE workspace_id = crm.current_workspace() AND object_type = 'contact';
SELECT id, contact_id, company_id FROM order_companies WHERE id IN (839, 840);
SELECT * FROM spend;

-- deleting a company keeps its orders, without a company; its deals too
-- (the rollups over them do not write the company being deleted)
SELECT crm.define_formula('company', 'deals_n', 'COUNT(deals)') > 0 AS defined;
INSERT INTO crm.deals (id, title, value, currency, contact_id, company_id) VALUES (822, 'Initech deal', 50, 'EUR', 814, 803);
SELECT id, properties -> 'deals_n' AS deals_n FROM crm.companies WHERE id = 803;
DELETE FROM crm.companies WHERE id = 803;
SELECT id, company_id FROM crm.deals WHERE id = 822;
SELECT id, company_id FROM order_companies WHERE id IN (834, 836, 839);
SELECT * FROM spend;

-- a frontend's row writes: a company written away stays away; a move to
-- another contact takes that contact's primary company again, or none
SET ROLE crm_rollco_app;
INSERT INTO crm.orders (id, contact_id, value, currency, status, order_date) VALUES (841, 812, 7, 'EUR', 'paid', '2026-02-11');
UPDATE crm.orders SET company_id = NULL WHERE id = 841;
RESET ROLE;
SELECT id, contact_id, company_id FROM order_companies WHERE id = 841;
SET ROLE crm_rollco_app;
UPDATE crm.orders SET contact_id = 813 WHERE id = 841;
RESET ROLE;
SELECT id, contact_id, company_id FROM order_companies WHERE id = 841;
SET ROLE crm_rollco_app;
UPDATE crm.orders SET contact_id = 812 WHERE id = 841;
UPDATE crm.orders SET company_id = 999 WHERE id = 841;
RESET ROLE;
SELECT id, contact_id, company_id FROM order_companies WHERE id = 841;
SELECT * FROM spend;

SELECT crm.use_workspace('rollco-other') IS NOT NULL AS switched;
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
SELECT crm.use_workspace('rollco') IS NOT NULL AS switched;
DELETE FROM crm.orders WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.deals WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.lists WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.property_definitions WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug IN ('rollco', 'rollco-other');
DROP OWNED BY crm_rollco_app;
DROP ROLE crm_rollco_app;
