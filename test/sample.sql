-- A realistic, deterministic sample for the demo and the dump test: two
-- workspaces ("acme" with 700 contacts and 100 companies, "globex" with 300
-- and 50), links, consents, conversations with messages and activities.
-- No randomness: every value is derived from the row number, and every
-- timestamp from a fixed date, so each run produces the same data.
-- Usage: psql -f test/sample.sql (in a database with CREATE EXTENSION crm).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- a fixed multiplicative hash: spreads attributes without a random seed
CREATE FUNCTION pg_temp.h(i bigint, salt int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT ((((i * 7919 + salt * 104729) * 2654435761) % 4294967296) / 65536)::int $$;

CREATE FUNCTION pg_temp.load_sample(ws_slug text, ws_name text, currency text,
									ncontacts int, ncompanies int, cities text[]) RETURNS void  -- cities: 'City:CC:dialling prefix'
LANGUAGE plpgsql AS $$
DECLARE
	firsts text[] := '{Anna,Ben,Clara,David,Elena,Felix,Greta,Hugo,Ines,Jonas,Katrin,Leon,Mia,Noah,Olga,Paul,Quinn,Rosa,Sven,Tara,Uwe,Vera,Wim,Xenia,Yusuf,Zoe,Amir,Bianca,Carlos,Dana,Emil,Fatima,Gustav,Hanna,Ivan,Julia,Karim,Lena,Marco,Nina}';
	lasts text[] := '{Schmidt,Müller,Weber,Fischer,Meyer,Wagner,Becker,Hoffmann,Schulz,Koch,Richter,Klein,Wolf,Neumann,Schwarz,Braun,Zimmermann,Krüger,Hartmann,Lange,Dubois,Martin,Bernard,Rossi,Russo,Garcia,Lopez,Smith,Jones,Taylor,Brown,Wilson,Novak,Kowalski,Jansen,de Vries,Andersson,Nielsen,Tanaka,Silva}';
	prefixes text[] := '{Bright,North,Blue,Green,Silver,Red,Iron,Cloud,Swift,Clear,Deep,Open,True,Bold,Quantum,Urban,Prime,Solid,Nova,Vertex,Alpine,Harbor,Pixel,Summit,Cedar,Falcon,Orbit,Lumen,Atlas,Meridian,Polar,Ember,Crest,Beacon,Willow,Granite,Aurora,Kestrel,Tidal,Sable}';
	suffixes text[] := '{Labs,Systems,Analytics,Logistics,Foods,Health,Energy,Robotics,Media,Capital}';
	tlds text[] := '{.com,.io,.de,.co.uk,.fr}';
	industries text[] := '{Software,Manufacturing,Retail,Logistics,Healthcare,Finance,Energy,Media,Food & Beverage,Consulting}';
	plans text[] := '{free,starter,pro,enterprise}';
	stages crm.lifecycle_stage[] := '{subscriber,lead,lead,marketing_qualified,sales_qualified,opportunity,customer,customer,customer,evangelist}';
	tagset text[] := '{newsletter,vip,webinar,trial,partner,churn-risk,beta,event-2024}';
	base timestamptz := '2024-01-01 09:00:00+00';
	ws bigint;
BEGIN
	ws := crm.create_workspace(ws_slug, ws_name, currency);
	PERFORM crm.use_workspace(ws_slug);

	INSERT INTO crm.companies (name, domain, industry, employees, plan, spend, tags)
	SELECT prefixes[1 + j % 40] || ' ' || suffixes[1 + (j / 40 + j * 3) % 10],
		   'https://www.' || lower(prefixes[1 + j % 40] || suffixes[1 + (j / 40 + j * 3) % 10]) || tlds[1 + j % 5] || '/',
		   industries[1 + pg_temp.h(j, 1) % 10],
		   (ARRAY[8, 25, 60, 140, 400, 1200, 5000])[1 + pg_temp.h(j, 2) % 7],
		   plans[1 + pg_temp.h(j, 3) % 4],
		   (pg_temp.h(j, 4) % 50000) * 12.5,
		   CASE WHEN j % 6 = 0 THEN ARRAY['Key Account'] ELSE '{}' END
	  FROM generate_series(0, ncompanies - 1) j;

	-- first/last pairs are unique below 1,600 rows; most people work at a
	-- company and use its domain
	CREATE TEMP TABLE sample_people AS
	SELECT i, firsts[1 + i % 40] AS first, lasts[1 + (i / 40 + i * 7) % 40] AS last,
		   CASE WHEN i % 7 <> 0 THEN (SELECT c.id FROM crm.companies c WHERE c.workspace_id = ws
										ORDER BY c.id OFFSET pg_temp.h(i, 5) % ncompanies LIMIT 1) END AS company_id
	  FROM generate_series(0, ncontacts - 1) i;

	INSERT INTO crm.contacts (name, email, phone, identifier, identity_source, city, country,
							  lifecycle_stage, owner, tags, created_at)
	SELECT p.first || ' ' || p.last,
		   translate(lower(p.first || '.' || replace(p.last, ' ', '')), 'üö', 'uo') || '@'
			 || coalesce((SELECT c.domain FROM crm.companies c WHERE c.workspace_id = ws AND c.id = p.company_id), 'mail.example'),
		   CASE WHEN p.i % 5 <> 0 THEN '+' || split_part(cities[1 + pg_temp.h(p.i, 8) % array_length(cities, 1)], ':', 3) || ' '
										|| (pg_temp.h(p.i, 6) % 8000000 + 2000000)::text END,
		   ws_slug || '-user-' || p.i,
		   (ARRAY['verified', 'self_reported', 'self_reported', 'anonymous'])[1 + pg_temp.h(p.i, 7) % 4]::crm.identity_source,
		   split_part(cities[1 + pg_temp.h(p.i, 8) % array_length(cities, 1)], ':', 1),
		   split_part(cities[1 + pg_temp.h(p.i, 8) % array_length(cities, 1)], ':', 2),
		   stages[1 + pg_temp.h(p.i, 9) % 10],
		   'agent-' || (1 + p.i % 6),
		   CASE WHEN p.i % 3 = 0 THEN ARRAY[tagset[1 + p.i % 8]]
				WHEN p.i % 5 = 0 THEN ARRAY[tagset[1 + p.i % 8], tagset[1 + (p.i / 5) % 8]]
				ELSE '{}' END,
		   base + (p.i * interval '9 hours')
	  FROM sample_people p ORDER BY p.i;

	-- links: the employer as primary; every tenth person also advises another company
	INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary)
	SELECT c.id, p.company_id, (ARRAY['CEO', 'CTO', 'Head of Sales', 'Engineer', 'Marketing Manager', 'Buyer', 'Engineer', 'Analyst'])[1 + pg_temp.h(p.i, 10) % 8], true
	  FROM sample_people p JOIN crm.contacts c ON c.workspace_id = ws AND c.identifier = ws_slug || '-user-' || p.i
	 WHERE p.company_id IS NOT NULL;
	INSERT INTO crm.contact_companies (contact_id, company_id, role, is_primary)
	SELECT c.id, co.id, 'Advisor', false
	  FROM sample_people p JOIN crm.contacts c ON c.workspace_id = ws AND c.identifier = ws_slug || '-user-' || p.i
	  JOIN LATERAL (SELECT x.id FROM crm.companies x WHERE x.workspace_id = ws
					 ORDER BY x.id OFFSET pg_temp.h(p.i, 11) % ncompanies LIMIT 1) co ON true
	 WHERE p.i % 10 = 3 AND co.id IS DISTINCT FROM p.company_id;

	-- consents: a third signed up for email, some later unsubscribed; sms for some
	INSERT INTO crm.contact_consents (contact_id, channel, status, source, recorded_at)
	SELECT c.id, 'email', 'granted', 'signup form', c.created_at
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.id % 3 = 0 ORDER BY c.id;
	INSERT INTO crm.contact_consents (contact_id, channel, status, source, recorded_at)
	SELECT c.id, 'email', 'revoked', 'unsubscribe link', c.created_at + interval '40 days'
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.id % 9 = 0 ORDER BY c.id;
	INSERT INTO crm.contact_consents (contact_id, channel, status, source, recorded_at)
	SELECT c.id, 'sms', 'granted', 'checkout', c.created_at + interval '2 days'
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.id % 8 = 1 ORDER BY c.id;

	-- conversations for every fourth contact, each opened by the contact
	INSERT INTO crm.conversations (contact_id, channel, inbox, status, started_at)
	SELECT c.id, (ARRAY['chat', 'email', 'whatsapp', 'chat'])[1 + pg_temp.h(c.id, 13) % 4],
		   (ARRAY['support', 'sales', 'billing'])[1 + pg_temp.h(c.id, 14) % 3],
		   (ARRAY['resolved', 'resolved', 'open', 'pending'])[1 + pg_temp.h(c.id, 12) % 4]::crm.conversation_status,
		   c.created_at + interval '3 days' + (c.id % 48) * interval '1 hour'
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.id % 4 = 0 ORDER BY c.id;
	INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
	SELECT cv.id, m.sender::crm.message_sender, m.body, cv.started_at + m.after
	  FROM crm.conversations cv
	 CROSS JOIN LATERAL (VALUES
		('contact', (ARRAY['Hi, I cannot log in since this morning.', 'Do you offer annual billing?',
						   'Can I add more seats to our plan?', 'The export to CSV fails for me.'])[1 + cv.id % 4], interval '0'),
		('agent', 'Thanks for reaching out, let me check that for you.', interval '12 minutes'),
		('contact', 'Great, thank you!', interval '40 minutes')) m(sender, body, after)
	 WHERE cv.workspace_id = ws AND (m.body <> 'Great, thank you!' OR cv.id % 2 = 0)
	 ORDER BY cv.id, m.after;

	-- activities: downloads, calls, meetings and page views over the year
	INSERT INTO crm.activities (contact_id, company_id, type, subject, actor, occurred_at, payload)
	SELECT c.id, cc.company_id, a.type, a.subject, 'agent-' || (1 + c.id % 6),
		   c.created_at + a.after, a.payload
	  FROM crm.contacts c
	  LEFT JOIN crm.contact_companies cc ON cc.workspace_id = c.workspace_id AND cc.contact_id = c.id AND cc.is_primary
	 CROSS JOIN LATERAL (VALUES
		('download', 'First touch: downloaded the pricing guide', interval '1 hour', '{}'::jsonb),
		('call', 'Discovery call', interval '5 days', jsonb_build_object('duration_min', 15 + c.id % 40)),
		('meeting', 'Product demo', interval '12 days', jsonb_build_object('attendees', 1 + c.id % 5)),
		('page_view', 'Visited /pricing', interval '20 days', jsonb_build_object('url', '/pricing'))) a(type, subject, after, payload)
	 WHERE c.workspace_id = ws
	   AND (a.type = 'download' OR (a.type = 'call' AND c.id % 2 = 0) OR (a.type = 'meeting' AND c.id % 5 = 0)
			OR (a.type = 'page_view' AND c.id % 3 = 0))
	 ORDER BY c.id, a.after;

	-- external ids for the customers' billing accounts
	INSERT INTO crm.external_ids (object_type, object_id, system, external_id)
	SELECT 'contact', c.id, 'stripe', 'cus_' || ws_slug || '_' || c.id
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.lifecycle_stage = 'customer' ORDER BY c.id;
	DROP TABLE sample_people;
END $$;

BEGIN;
SELECT FROM pg_temp.load_sample('acme', 'Acme GmbH', 'EUR', 700, 100,
	'{Berlin:DE:49 30,Berlin:DE:49 30,Munich:DE:49 89,Hamburg:DE:49 40,Cologne:DE:49 221,Paris:FR:33 1 4,Lyon:FR:33 4 7,London:GB:44 20 7,Manchester:GB:44 161,Madrid:ES:34 91,Amsterdam:NL:31 20,Vienna:AT:43 1 5,Zurich:CH:41 44,Stockholm:SE:46 8,Warsaw:PL:48 22}');
SELECT FROM pg_temp.load_sample('globex', 'Globex Inc', 'USD', 300, 50,
	'{New York:US:1 212,San Francisco:US:1 415,Austin:US:1 512,Chicago:US:1 312,Seattle:US:1 206,Boston:US:1 617,Toronto:CA:1 416,Vancouver:CA:1 604,Sydney:AU:61 2 9,Tokyo:JP:81 3 5}');
COMMIT;
RESET crm.workspace_id;
RESET client_min_messages;
