-- References a deleted target clears (deals' contact and company, orders'
-- contact and deal, conversations' deal, line items' product, the stage
-- histories' from_stage_id).  Citus refuses ON DELETE SET NULL on keys that
-- lead with workspace_id, so these keys are plain ones and the target clears
-- its referrers in a BEFORE DELETE trigger (crm_internal.clear_references):
-- the same rows, as a frontend role's DELETE, as before (docs/scaling.md).
\set SHOW_CONTEXT never
SELECT crm.create_workspace('refs', 'References') > 0 AS created;
SELECT crm.use_workspace('refs') > 0 AS switched;
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipeline \gset
INSERT INTO crm.contacts (id, name, email) VALUES (91001, 'Rita Ref', 'rita@refs.test'), (91002, 'Sam Ref', 'sam@refs.test');
INSERT INTO crm.companies (id, name) VALUES (91001, 'Refs Ltd');
INSERT INTO crm.products (id, name, unit_price) VALUES (91001, 'Widget', 10);
INSERT INTO crm.deals (id, title, contact_id, company_id) VALUES (91001, 'Big deal', 91001, 91001);
SELECT (crm.add_line_item(91001, 91001, 2)).quantity;
INSERT INTO crm.orders (id, contact_id, deal_id, title, value) VALUES (91001, 91001, 91001, 'First order', 20);
SELECT crm.start_conversation(91002) AS conversation \gset
UPDATE crm.conversations SET deal_id = 91001 WHERE workspace_id = crm.current_workspace() AND id = :conversation;
SELECT s.id AS second_stage FROM crm.stages s
 WHERE s.workspace_id = crm.current_workspace() AND s.pipeline_id = :pipeline ORDER BY s.position OFFSET 1 LIMIT 1 \gset
SELECT crm.move_deal(91001, :second_stage) IS NOT NULL AS moved;

-- the map still calls these references set_null (merge and GDPR erasure read it)
SELECT rel, id_column, on_delete FROM crm.contact_reference_map
 WHERE rel IN ('crm.deals'::regclass, 'crm.orders'::regclass) ORDER BY rel::text;

CREATE ROLE crm_refs_app;
SELECT crm.grant_access('crm_refs_app');
SELECT max(id) AS last_event FROM crm.events \gset
SET ROLE crm_refs_app;
-- a frontend cannot unlink an order from a live contact itself
UPDATE crm.orders SET contact_id = NULL WHERE id = 91001;
-- deleting the contact, the company, the product, the first stage's rows
DELETE FROM crm.contacts WHERE id = 91001;
DELETE FROM crm.companies WHERE id = 91001;
DELETE FROM crm.products WHERE id = 91001;
RESET ROLE;
SELECT id, contact_id, company_id, title FROM crm.deals WHERE workspace_id = crm.current_workspace();
SELECT id, contact_id, deal_id, title, value FROM crm.orders WHERE workspace_id = crm.current_workspace();
SELECT product_id, name, quantity FROM crm.deal_line_items WHERE workspace_id = crm.current_workspace();
-- the deal's and the order's changes are events, as the key's action wrote them
SELECT type, object_id, payload->'changes' AS changes FROM crm.events
 WHERE id > :last_event AND type IN ('CRM_DEAL_UPDATED', 'CRM_ORDER_UPDATED') ORDER BY id;

-- deleting the stage the deal came from clears from_stage_id in its history
SELECT from_stage_id IS NOT NULL AS has_from_stage FROM crm.deal_stage_history
 WHERE workspace_id = crm.current_workspace() AND deal_id = 91001 ORDER BY id;
SELECT count(*) AS moved_back FROM (SELECT crm.move_deal(91001, (SELECT id FROM crm.stages WHERE workspace_id = crm.current_workspace()
							  AND pipeline_id = :pipeline ORDER BY position LIMIT 1))) m;
DELETE FROM crm.stages WHERE workspace_id = crm.current_workspace() AND id = :second_stage;
SELECT count(*) FILTER (WHERE from_stage_id IS NULL) AS without_from_stage, count(*) AS stays
  FROM crm.deal_stage_history WHERE workspace_id = crm.current_workspace() AND deal_id = 91001;

-- deleting the deal keeps the order and the conversation
SET ROLE crm_refs_app;
DELETE FROM crm.deals WHERE id = 91001;
RESET ROLE;
SELECT id, deal_id FROM crm.orders WHERE workspace_id = crm.current_workspace();
SELECT deal_id FROM crm.conversations WHERE workspace_id = crm.current_workspace() AND id = :conversation;

-- a list's members follow the list by a plain key (no ON UPDATE CASCADE):
-- its object type never changes
SELECT (crm.create_list('Refs people')).id AS list \gset
SELECT crm.add_to_list(:list, ARRAY[91002]::bigint[]) AS added;
UPDATE crm.lists SET object_type = 'company' WHERE workspace_id = crm.current_workspace() AND id = :list;
SELECT object_type, contact_id FROM crm.list_members WHERE workspace_id = crm.current_workspace();

DROP OWNED BY crm_refs_app;
DROP ROLE crm_refs_app;
SELECT crm.use_workspace('default') > 0 AS switched;
DELETE FROM crm.workspaces WHERE slug = 'refs';
