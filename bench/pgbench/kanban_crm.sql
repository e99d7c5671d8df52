-- Drag and drop on one busy board: a random card to the end of a random
-- open stage (70%), or above the first card of that stage (30%).
\set deal random(:first_deal, :last_deal)
\set stage random(:first_stage, :last_stage)
\set r random(1, 100)
\if :r <= 70
SELECT (crm.move_deal(:deal, :stage)).position;
\else
SELECT (crm.move_deal(:deal, :stage, (SELECT id FROM crm.deals WHERE stage_id = :stage AND id <> :deal
										ORDER BY position LIMIT 1))).position;
\endif
