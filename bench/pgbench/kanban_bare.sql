-- The same moves on a bare table of cards: the stage's last position plus
-- 1024, or the midpoint above its first card.
\set deal random(:first_deal, :last_deal)
\set stage random(:first_stage, :last_stage)
\set r random(1, 100)
\if :r <= 70
UPDATE bench_bare_deals SET stage_id = :stage,
	   position = coalesce((SELECT max(position) FROM bench_bare_deals WHERE stage_id = :stage AND id <> :deal), 0) + 1024
 WHERE id = :deal;
\else
UPDATE bench_bare_deals SET stage_id = :stage,
	   position = coalesce((SELECT min(position) FROM bench_bare_deals WHERE stage_id = :stage AND id <> :deal), 2048) / 2
 WHERE id = :deal;
\endif
