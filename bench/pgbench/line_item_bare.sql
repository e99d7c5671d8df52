-- The same line on the bare table of bench/cases/line_items.sh (same
-- columns, indexes and foreign keys), its total computed inline, the deal
-- left as it is.
\set deal random(:first_deal, :last_deal)
INSERT INTO bench_line_items (deal_id, name, quantity, unit_price, currency, discount_type, discount, total)
VALUES (:deal, 'Row', 2, 19.99, 'USD', 'percent', 10, round(greatest(2 * 19.99 - 2 * 19.99 * 10 / 100.0, 0), 2));
