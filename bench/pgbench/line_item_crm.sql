-- One line item per transaction, as a frontend sends it: the line's total
-- is computed and its deal revalued by crm's triggers.
\set deal random(:first_deal, :last_deal)
INSERT INTO crm.deal_line_items (deal_id, name, quantity, unit_price, discount_type, discount)
VALUES (:deal, 'Row', 2, 19.99, 'percent', 10);
