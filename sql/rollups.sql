--
-- Rollup properties (docs/properties.md, src/properties_rollup.c): a
-- computed property whose formula is one aggregate over the records that
-- point at it, COUNT(deals(status = OPEN)) or
-- SUM(orders(status = PAID AND currency = EUR).value), kept exact by
-- statement triggers on the tables rollups read: orders, deals,
-- conversations and checklist items (COUNT(checklistItems(done = false))).
--

CREATE FUNCTION crm_internal.rollups_sync() RETURNS trigger
	AS 'MODULE_PATHNAME', 'crm_rollups_sync'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.rollups_sync() IS
	'AFTER statement trigger (transition tables new_rows/old_rows) on orders, deals, conversations and checklist items: brings the rollups over them up to date';

CREATE FUNCTION crm_internal.rollups_clearing(relation oid, id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'crm_rollups_clearing'
	LANGUAGE C;
COMMENT ON FUNCTION crm_internal.rollups_clearing(oid, bigint) IS
	'called by crm_internal.clear_references around its update: the rollups it moves do not write the record being deleted (NULL, NULL: done)';

CREATE TRIGGER orders_rollups_insert AFTER INSERT ON crm.orders
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER orders_rollups_update AFTER UPDATE ON crm.orders
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER orders_rollups_delete AFTER DELETE ON crm.orders
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER deals_rollups_insert AFTER INSERT ON crm.deals
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER deals_rollups_update AFTER UPDATE ON crm.deals
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER deals_rollups_delete AFTER DELETE ON crm.deals
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER conversations_rollups_insert AFTER INSERT ON crm.conversations
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER conversations_rollups_update AFTER UPDATE ON crm.conversations
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER conversations_rollups_delete AFTER DELETE ON crm.conversations
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER checklist_items_rollups_insert AFTER INSERT ON crm.checklist_items
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER checklist_items_rollups_update AFTER UPDATE ON crm.checklist_items
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
CREATE TRIGGER checklist_items_rollups_delete AFTER DELETE ON crm.checklist_items
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.rollups_sync();
