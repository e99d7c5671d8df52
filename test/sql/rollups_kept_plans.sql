-- Rollups' kept statements read the touched records and their related rows
-- through their indexes whatever the statistics: planned while the tables
-- were empty (a new installation, tables analyzed while empty), a kept plan
-- would scan every order (or contact, or company) at each single-row write
-- until an ANALYZE replans it, a cost growing with the tables.
-- Runs in its own database so that its tables start empty.
CREATE DATABASE crm_test_rollups_kept_plans;
\c crm_test_rollups_kept_plans
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT crm.create_workspace('kept-plans', 'Kept plans') IS NOT NULL AS created;
SELECT crm.use_workspace('kept-plans') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
SELECT crm.create_pipeline('Sales', 'b2b_sales') IS NOT NULL AS pipeline;
CREATE ROLE crm_kept_plans_app;
SELECT crm.grant_access('crm_kept_plans_app');
-- SUM and COUNT (one UPDATE adding deltas), MAX (locked, then recomputed),
-- over orders and deals, on contacts and companies
SELECT crm.define_formula('contact', 'order_spend', 'SUM(orders(status = PAID AND currency = ''EUR'').value)') > 0 AS defined;
SELECT crm.define_formula('contact', 'last_order', 'MAX(orders.orderDate)') > 0 AS defined;
SELECT crm.define_formula('contact', 'open_deals', 'COUNT(deals(status = OPEN))') > 0 AS defined;
SELECT crm.define_formula('company', 'order_spend', 'SUM(orders(status = PAID AND currency = ''EUR'').value)') > 0 AS defined;
SELECT crm.define_formula('company', 'last_order', 'MAX(orders.orderDate)') > 0 AS defined;
-- and a dynamic list, evaluated on the changed contacts by their ids
SELECT (crm.create_list('Big', 'contact', 'dynamic', 'properties.seats >= 40')).name;
ANALYZE;
SELECT relname, reltuples FROM pg_class
 WHERE oid IN ('crm.contacts'::regclass, 'crm.companies'::regclass, 'crm.orders'::regclass, 'crm.deals'::regclass)
 ORDER BY relname;

-- a new backend, as a frontend role writing rows
\c crm_test_rollups_kept_plans
SELECT crm.use_workspace('kept-plans') IS NOT NULL AS switched;
SET TimeZone = 'UTC';
-- the generic plans, as the plan cache chooses them after five custom ones
-- when their costs agree: planned here over tables of one row
SET plan_cache_mode = force_generic_plan;
SET ROLE crm_kept_plans_app;
BEGIN;
INSERT INTO crm.companies (id, name) VALUES (1, 'Acme');
INSERT INTO crm.contacts (id, name, email) VALUES (1, 'Ada', 'ada@acme.com');
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) VALUES (1, 1, true);
-- single-row writes while the tables hold a row each: the plans kept from
-- here on are planned over tables the statistics call empty
SELECT format('INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (1, %s, %L, %L, %L)',
			  i, 'EUR', 'paid', '2026-01-01'::date + i) FROM generate_series(1, 2) i \gexec
SELECT format('INSERT INTO crm.deals (title, value, contact_id) VALUES (%L, 5, 1)', 'Deal ' || i)
  FROM generate_series(1, 2) i \gexec
SELECT format('UPDATE crm.contacts SET properties = properties || jsonb_build_object(%L, %s) WHERE id = 1', 'seats', i * 20)
  FROM generate_series(1, 2) i \gexec
-- the tables grow, each in one statement
INSERT INTO crm.companies (id, name) SELECT i, 'Company ' || i FROM generate_series(2, 300) i;
INSERT INTO crm.contacts (id, name, email) SELECT i, 'Contact ' || i, 'c' || i || '@example.com' FROM generate_series(2, 300) i;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary) SELECT i, i, true FROM generate_series(2, 300) i;
INSERT INTO crm.orders (contact_id, value, currency, status, order_date)
SELECT i % 300 + 1, 1, 'EUR', 'paid', '2025-06-01' FROM generate_series(1, 600) i;
INSERT INTO crm.deals (title, value, contact_id) SELECT 'Bulk', 1, i % 300 + 1 FROM generate_series(1, 300) i;
-- (no temporary table here: creating the session's temporary schema would
-- invalidate every kept plan)
SELECT sum(seq_scan) FILTER (WHERE relname = 'contacts') AS contacts0,
	   sum(seq_scan) FILTER (WHERE relname = 'companies') AS companies0,
	   sum(seq_scan) FILTER (WHERE relname = 'orders') AS orders0,
	   sum(seq_scan) FILTER (WHERE relname = 'deals') AS deals0,
	   sum(idx_tup_fetch) FILTER (WHERE relname = 'contacts') AS contact_rows0,
	   sum(idx_tup_fetch) FILTER (WHERE relname = 'companies') AS company_rows0
  FROM pg_stat_xact_user_tables WHERE schemaname = 'crm' \gset
-- single-row writes again: each rollup's kept statement reads through the
-- indexes, and so do the order's company (orders_company), a contact
-- reference's merge check (follow_merged_contact) and a deal's position in
-- its stage (deals_apply_stage).  The scans left (27, 12 and 8) are
-- PostgreSQL's own foreign-key checks (SELECT 1 FROM ONLY ... FOR KEY
-- SHARE), kept from the same tables (bare PostgreSQL has them too), and the
-- dynamic list's evaluation of the 4 changed contacts (not changed: its
-- id = ANY plan picks a worse index than the scan without statistics).  Before
-- this was fixed: 67, 28, 48,016 and 24.
SELECT format('INSERT INTO crm.orders (contact_id, value, currency, status, order_date) VALUES (%s, 10, %L, %L, %L)',
			  i * 7, 'EUR', 'paid', '2026-03-01'::date + i) FROM generate_series(1, 8) i \gexec
SELECT format('INSERT INTO crm.deals (title, value, contact_id) VALUES (%L, 5, %s)', 'Later ' || i, i * 7)
  FROM generate_series(1, 8) i \gexec
SELECT format('UPDATE crm.orders SET status = %L WHERE id = (SELECT max(id) FROM crm.orders WHERE contact_id = %s)',
			  'refunded', i * 7) FROM generate_series(1, 4) i \gexec
SELECT format('DELETE FROM crm.deals WHERE id = (SELECT max(id) FROM crm.deals WHERE contact_id = %s)', i * 7)
  FROM generate_series(5, 8) i \gexec
SELECT format('UPDATE crm.contacts SET properties = properties || jsonb_build_object(%L, %s) WHERE id = %s', 'seats', 30 + i * 5, i * 7)
  FROM generate_series(1, 4) i \gexec
SELECT sum(seq_scan) FILTER (WHERE relname = 'contacts') - :contacts0 AS contact_scans,
	   sum(seq_scan) FILTER (WHERE relname = 'companies') - :companies0 AS company_scans,
	   sum(seq_scan) FILTER (WHERE relname = 'orders') - :orders0 AS order_scans,
	   sum(seq_scan) FILTER (WHERE relname = 'deals') - :deals0 AS deal_scans
  FROM pg_stat_xact_user_tables WHERE schemaname = 'crm';
-- the contacts and companies those writes fetched through an index: each
-- rollup statement reads its touched record from the transition table and
-- finds it by its whole primary key (17,654 and 10,772 before this was fixed
-- on a456b9c: a join driven from the records, then any index leading with
-- workspace_id, read every record of the workspace at each write; 3,318
-- contacts with the merge check of the orders' and deals' contact,
-- follow_merged_contact, still reading them so)
SELECT sum(idx_tup_fetch) FILTER (WHERE relname = 'contacts') - :contact_rows0 AS contact_rows,
	   sum(idx_tup_fetch) FILTER (WHERE relname = 'companies') - :company_rows0 AS company_rows
  FROM pg_stat_xact_user_tables WHERE schemaname = 'crm';
-- and the values are exact
SELECT c.id, c.properties -> 'order_spend' AS spend, c.properties ->> 'last_order' AS last_order,
	   c.properties -> 'open_deals' AS open_deals,
	   (SELECT sum(value) FROM crm.orders o WHERE o.contact_id = c.id AND o.status = 'paid') AS spend_sql,
	   (SELECT count(*) FROM crm.deals d WHERE d.contact_id = c.id AND d.status = 'open') AS open_sql
  FROM crm.contacts c WHERE c.id IN (1, 7, 14, 35, 56) ORDER BY c.id;
SELECT co.id, co.properties -> 'order_spend' AS spend, co.properties ->> 'last_order' AS last_order,
	   (SELECT sum(value) FROM crm.orders o WHERE o.company_id = co.id AND o.status = 'paid') AS spend_sql
  FROM crm.companies co WHERE co.id IN (1, 7, 14, 56) ORDER BY co.id;
SELECT m.contact_id FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id
 WHERE l.name = 'Big' ORDER BY m.contact_id;
ROLLBACK;
RESET ROLE;
DROP OWNED BY crm_kept_plans_app;

\c contrib_regression
DROP DATABASE crm_test_rollups_kept_plans;
DROP ROLE crm_kept_plans_app;
