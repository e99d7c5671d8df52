-- Drag and drop on one busy board: a random card to the end of a random
-- open stage (70%), or above the first card of that stage (30%; when that
-- card was moved away meanwhile, to the end, as a board re-drops it:
-- bench_drop_above in bench/cases/concurrency.sh).
\set deal random(:first_deal, :last_deal)
\set stage random(:first_stage, :last_stage)
\set r random(1, 100)
\if :r <= 70
SELECT (crm.move_deal(:deal, :stage)).position;
\else
SELECT bench_drop_above(:deal, :stage);
\endif
