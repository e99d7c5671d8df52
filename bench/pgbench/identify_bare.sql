-- The bare mix on a table with crm.contacts' columns and indexes: the same
-- upsert for new and returning visitors, and for a merging email the phone's
-- contact marked merged into the email's (its key released, as a merge
-- releases it), and the email's contact takes the phone.
\set r random(1, 100)
\set visitor random(1, 1000000000000)
\set hot random_zipfian(1, :nseed, 1.1)
\set pair :pairbase + random(1, :npairs)
\if :r <= 30
INSERT INTO bench_bare_contacts AS c (email, name, first_seen_at, last_seen_at)
VALUES ('new' || :visitor::text || '@example.com', 'New visitor', now(), now())
ON CONFLICT (workspace_id, email) WHERE status < 'merged'::crm.contact_status DO UPDATE
   SET name = coalesce(c.name, excluded.name), last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);
\elif :r <= 90
INSERT INTO bench_bare_contacts AS c (email, name, first_seen_at, last_seen_at)
VALUES ('seed' || :hot::text || '@example.com', 'Seed ' || :hot::text, now(), now())
ON CONFLICT (workspace_id, email) WHERE status < 'merged'::crm.contact_status DO UPDATE
   SET name = coalesce(c.name, excluded.name), last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);
\else
BEGIN;
UPDATE bench_bare_contacts SET status = 'merged', phone = NULL, released_keys = jsonb_build_object('phone', phone),
	   merged_into = (SELECT id FROM bench_bare_contacts
		WHERE email = 'pm' || :pair::text || '@example.com' AND status < 'merged'::crm.contact_status)
 WHERE phone = '+336' || lpad(:pair::text, 8, '0') AND email IS NULL AND status < 'merged'::crm.contact_status;
INSERT INTO bench_bare_contacts AS c (email, phone, first_seen_at, last_seen_at)
VALUES ('pm' || :pair::text || '@example.com', '+336' || lpad(:pair::text, 8, '0'), now(), now())
ON CONFLICT (workspace_id, email) WHERE status < 'merged'::crm.contact_status DO UPDATE
   SET phone = excluded.phone, last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);
END;
\endif
