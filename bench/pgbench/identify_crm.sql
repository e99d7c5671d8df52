-- crm.identify mix: 30% new visitors, 60% returning ones drawn Zipf-like
-- from the seeded contacts (hot ones collide), 10% an email and a phone
-- held by two contacts, which merges them (a pair already merged is found
-- as one contact).
\set r random(1, 100)
\set visitor random(1, 1000000000000)
\set hot random_zipfian(1, :nseed, 1.1)
\set pair :pairbase + random(1, :npairs)
\if :r <= 30
SELECT crm.identify(email => 'new' || :visitor::text || '@example.com', name => 'New visitor');
\elif :r <= 90
SELECT crm.identify(email => 'seed' || :hot::text || '@example.com', name => 'Seed ' || :hot::text);
\else
SELECT crm.identify(email => 'pm' || :pair::text || '@example.com', phone => '+336' || lpad(:pair::text, 8, '0'));
\endif
