#!/usr/bin/env bash
# search_path attack: hostile functions and operators planted in public and
# pg_temp, with public searched before pg_catalog, are never called by the
# extension, neither while it installs nor while it is used.  Each planted
# object records its call in public.trap_log (and returns a wrong answer).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..12"

fresh_db crm_attack
q -d crm_attack >/dev/null <<'SQL'
CREATE TABLE public.trap_log (fn text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON public.trap_log TO PUBLIC;
CREATE FUNCTION public.trap(fn text) RETURNS void LANGUAGE sql AS $$ INSERT INTO public.trap_log (fn) VALUES (fn) $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('lower'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.upper(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('upper'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('btrim'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.coalesce_trap(text) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('now'); RETURN 'epoch'; END $$;
CREATE FUNCTION public.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('jsonb_typeof'); RETURN 'object'; END $$;
CREATE FUNCTION public.format(text, VARIADIC text[]) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('format'); RETURN 'SELECT 1'; END $$;
CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('set_config'); RETURN ''; END $$;
CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('current_setting'); RETURN ''; END $$;
CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('pg_notify'); END $$;
CREATE FUNCTION public.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('pg_current_xact_id'); RETURN '1'; END $$;
CREATE FUNCTION public.text_eq_trap(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('=(text,text)'); RETURN true; END $$;
CREATE FUNCTION public.text_ne_trap(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('<>(text,text)'); RETURN false; END $$;
CREATE FUNCTION public.text_re_trap(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('~(text,text)'); RETURN true; END $$;
CREATE FUNCTION public.text_nre_trap(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('!~(text,text)'); RETURN false; END $$;
CREATE FUNCTION public.text_cat_trap(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('||(text,text)'); RETURN 'hijacked'; END $$;
CREATE FUNCTION public.int8_eq_trap(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('=(bigint,bigint)'); RETURN true; END $$;
CREATE FUNCTION public.int8_lt_trap(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('<(bigint,bigint)'); RETURN true; END $$;
CREATE FUNCTION public.int4_lt_trap(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('<(int,int)'); RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq_trap);
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_ne_trap);
CREATE OPERATOR public.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_re_trap);
CREATE OPERATOR public.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_nre_trap);
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_cat_trap);
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_eq_trap);
CREATE OPERATOR public.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_lt_trap);
CREATE OPERATOR public.< (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int4_lt_trap);
CREATE ROLE crm_attack_app NOLOGIN;
SQL
ok $? "hostile functions and operators planted in public"

# One session: pg_temp objects too, public before pg_catalog, then install and use.
# The statements here avoid = and < themselves (the planted ones would win)
# by using functions, or OPERATOR(pg_catalog.=) where a comparison is needed.
q -d crm_attack >/tmp/crm_attack_out.$$ 2>&1 <<'SQL'
CREATE FUNCTION pg_temp.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('pg_temp.lower'); RETURN 'hijacked'; END $$;
CREATE FUNCTION pg_temp.btrim(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('pg_temp.btrim'); RETURN 'hijacked'; END $$;
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.trap('pg_temp.now'); RETURN 'epoch'; END $$;
CREATE TEMP TABLE pg_roles (rolname name);
CREATE TEMP TABLE pg_class (oid oid, relname name);
CREATE TEMP TABLE contacts (workspace_id bigint, id bigint);
CREATE TEMP TABLE events (workspace_id bigint, id bigint);
SET search_path = public, pg_catalog, crm;
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
SELECT crm.create_workspace('attack', 'Attack', 'eur');
SELECT crm.use_workspace('attack');
INSERT INTO crm.contacts (name, email, phone, tags) VALUES ('Eve', ' EVE@Example.COM ', '+49 30 1234567', '{ VIP ,vip}');
INSERT INTO crm.contacts (name, email) VALUES ('Mallory', 'mallory@example.com');
UPDATE crm.contacts SET city = 'Berlin', email = 'Eve2@Example.com' WHERE email OPERATOR(pg_catalog.=) 'eve@example.com';
INSERT INTO crm.companies (name, domain) VALUES ('Evil Corp', 'https://www.Evil.example/x');
UPDATE crm.companies SET employees = 5;
SELECT crm.link_company(c.id, co.id, 'CEO', true) FROM crm.contacts c, crm.companies co WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.record_consent(c.id, 'email', 'granted') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.set_external_id('contact', c.id, 'stripe', 'cus_1') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.log_activity(c.id, 'call', 'hi') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.start_conversation(c.id, 'chat', NULL, 'hello') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.add_message(cv.id, 'agent', 'hi back') FROM crm.conversations cv;
SELECT count(*) FROM crm.timeline((SELECT c.id FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve'));
SELECT crm.unlink_company(c.id, co.id) FROM crm.contacts c, crm.companies co WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1);
SELECT count(*) FROM crm.events_since(0);
SELECT count(*) FROM crm.events_since((SELECT min(e.id) FROM crm.events e));
INSERT INTO crm.integrations (key, kind, config, sync_filters, field_mappings)
VALUES (' Attack ', 'WEBHOOK', '{"url": "http://127.0.0.1/hook"}', '{"contact": "tags CONTAINS ''vip''"}',
		'{"contact": {"EMAIL": {"field": "email", "transform": "upper"}, "SEEN": {"field": "created_at", "transform": "iso"}}}');
SELECT crm.resync('attack', 'name ENDS WITH ''e''');
SELECT d.id AS dlv FROM crm.claim_deliveries('attack', 1) d \gset
SELECT (crm.fail_delivery(:dlv, 'HTTP 500')).status;
SELECT count(*) FROM crm.claim_deliveries('attack');
SELECT crm.apply_external_change('attack', 'contact', 'att-1', '{"EMAIL": "ext@example.com"}');
SELECT count(*) FROM crm.integration_status;
SELECT secret FROM crm.integration_endpoint('attack');
SELECT count(*) FROM crm.export_contacts('email ENDS WITH ''example.com'' AND tags CONTAINS ''vip''');
SELECT count(*) FROM crm.export_companies('employees > 1'), crm.export_deals(), crm.export_orders();
SELECT count(*) FROM crm.contacts_live;
SELECT count(*) FROM crm.current_consents;
SELECT count(*) FROM crm.companies_with_counts;
SELECT crm.normalize_email('A@B.example'), crm.normalize_domain('WWW.X.example'), crm.normalize_currency('usd'),
	   crm.normalize_color('#ABCDEF'), crm.normalize_tags('{B,a}'), crm.currency_exponent('jpy');
SELECT crm.grant_access('crm_attack_app');
SET ROLE crm_attack_app;
SET request.jwt.claims = '{"workspace_id": 2}';
SELECT count(*) FROM crm.contacts;
INSERT INTO crm.contacts (name, email) VALUES ('Trent', 'TRENT@example.com');
SELECT crm.current_actor();
RESET ROLE;
INSERT INTO crm.events (type, object_type) VALUES ('CRM_CONTACT_UPDATED', 'contact');
DELETE FROM crm.contacts WHERE name OPERATOR(pg_catalog.=) 'Mallory';
SQL
ok $? "install and use with public first on search_path and objects in pg_temp"
sed 's/^/# /' /tmp/crm_attack_out.$$ | grep -i error
calls=$(q -d crm_attack -c "SELECT coalesce(string_agg(DISTINCT fn, ', '), '') FROM public.trap_log")
[ -z "$calls" ]
ok $? "no planted object was called${calls:+ (called: $calls)}"
[ "$(q -d crm_attack -c "SELECT email || ' ' || phone || ' ' || array_to_string(tags, ',') || ' ' || city FROM crm.contacts WHERE name = 'Eve'")" = "eve2@example.com +49301234567 vip Berlin" ]
ok $? "values were normalised by the extension's own code"
[ "$(q -d crm_attack -c "SELECT domain FROM crm.companies")" = "evil.example" ]
ok $? "domain normalised"
[ "$(q -d crm_attack -c "SELECT count(*) FROM crm.events WHERE workspace_id = 2")" -ge 10 ]
ok $? "events written"

# The C code's SPI queries run under the caller's search_path (C functions and
# triggers have no SET clause), so plant an operator for every type they
# compare or compute with, then drive every C path with public searched first.
q -d crm_attack >/dev/null <<'SQL'
DO $$
DECLARE
	o text[];
	i int := 0;
BEGIN
	FOREACH o SLICE 1 IN ARRAY ARRAY[
		['=', 'oid', 'oid', 'boolean'], ['<>', 'oid', 'oid', 'boolean'], ['=', 'name', 'name', 'boolean'],
		['=', 'integer', 'integer', 'boolean'], ['<>', 'integer', 'integer', 'boolean'],
		['>', 'integer', 'integer', 'boolean'], ['<=', 'integer', 'integer', 'boolean'],
		['>=', 'integer', 'integer', 'boolean'], ['+', 'integer', 'integer', 'integer'],
		['-', 'integer', 'integer', 'integer'], ['=', 'smallint', 'smallint', 'boolean'],
		['<>', 'bigint', 'bigint', 'boolean'], ['>', 'bigint', 'bigint', 'boolean'],
		['<=', 'bigint', 'bigint', 'boolean'], ['>=', 'bigint', 'bigint', 'boolean'],
		['+', 'bigint', 'bigint', 'bigint'], ['-', 'bigint', 'bigint', 'bigint'],
		['=', 'numeric', 'numeric', 'boolean'], ['<>', 'numeric', 'numeric', 'boolean'],
		['<', 'numeric', 'numeric', 'boolean'], ['>', 'numeric', 'numeric', 'boolean'],
		['<=', 'numeric', 'numeric', 'boolean'], ['>=', 'numeric', 'numeric', 'boolean'],
		['+', 'numeric', 'numeric', 'numeric'], ['-', 'numeric', 'numeric', 'numeric'],
		['*', 'numeric', 'numeric', 'numeric'], ['/', 'numeric', 'numeric', 'numeric'],
		['<', 'text', 'text', 'boolean'], ['>', 'text', 'text', 'boolean'],
		['~~', 'text', 'text', 'boolean'], ['~~*', 'text', 'text', 'boolean'],
		['=', 'boolean', 'boolean', 'boolean'], ['<>', 'boolean', 'boolean', 'boolean'],
		['=', 'timestamptz', 'timestamptz', 'boolean'], ['<', 'timestamptz', 'timestamptz', 'boolean'],
		['>', 'timestamptz', 'timestamptz', 'boolean'], ['<=', 'timestamptz', 'timestamptz', 'boolean'],
		['>=', 'timestamptz', 'timestamptz', 'boolean'], ['=', 'date', 'date', 'boolean'],
		['<', 'date', 'date', 'boolean'], ['>=', 'date', 'date', 'boolean'],
		['->', 'jsonb', 'text', 'jsonb'], ['->>', 'jsonb', 'text', 'text'], ['?', 'jsonb', 'text', 'boolean'],
		['@>', 'jsonb', 'jsonb', 'boolean'], ['||', 'jsonb', 'jsonb', 'jsonb'], ['=', 'jsonb', 'jsonb', 'boolean'],
		['@>', 'anyarray', 'anyarray', 'boolean'], ['&&', 'anyarray', 'anyarray', 'boolean'],
		['=', 'anyenum', 'anyenum', 'boolean'], ['<>', 'anyenum', 'anyenum', 'boolean']]
	LOOP
		i := i + 1;
		EXECUTE pg_catalog.format('CREATE FUNCTION public.op_trap_%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS %L',
					   i, o[2], o[3], o[4],
					   pg_catalog.format('BEGIN PERFORM public.trap(%L); RETURN %s; END',
							  pg_catalog.format('%s(%s,%s)', o[1], o[2], o[3]),
							  CASE WHEN o[4] = 'boolean' THEN 'true' ELSE 'NULL' END));
		EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.op_trap_%s)',
					   o[1], o[2], o[3], i);
	END LOOP;
END $$;
-- and a type a cast might name without its schema
CREATE DOMAIN public.jsonb AS text;
SQL
ok $? "hostile operators planted for the types the C code compares"

q -d crm_attack >/tmp/crm_attack_c.$$ 2>&1 <<'SQL'
SET search_path = public, pg_catalog;
SET client_min_messages = warning;
SELECT crm.use_workspace('attack') IS NOT NULL AS ok \gset
-- identity, merge and unmerge (src/identify.c, src/merge.c, src/unmerge.c)
SELECT crm.identify(email => 'ann@example.com', name => 'Ann') AS ann \gset
SELECT crm.identify(phone => '+49 30 555 0101', name => 'Ann B') AS ann2 \gset
SELECT crm.identify(email => 'ann@example.com', phone => '+49 30 555 0101') AS ann3 \gset
SELECT crm.identify(email => 'bob@example.com', name => 'Bob') AS bob \gset
SELECT crm.identify(email => 'carl@example.com', name => 'Carl') AS carl \gset
SELECT crm.merge_preview(:bob, :carl);
SELECT crm.merge_contacts(:bob, :carl);
SELECT crm.resolve_contact(:carl);
SELECT crm.log_activity(:carl, 'call', 'after merge');
-- a message's statistics as row writes (src/message_statistics.c): appended
-- one by one and several at once, then one out of order
INSERT INTO crm.conversations (contact_id, started_at) VALUES (:ann3, '2024-05-01 09:00+00') RETURNING id AS cv \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv, 'contact', 'hi', '2024-05-01 09:00+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
	VALUES (:cv, 'agent', 'hello', '2024-05-01 09:05+00'), (:cv, 'contact', 'thanks', '2024-05-01 09:06+00');
INSERT INTO crm.messages (conversation_id, sender, body, sent_at) VALUES (:cv, 'bot', 'late', '2024-05-01 09:01+00');
-- the report summaries (src/report_summaries.c): a message moved, the
-- conversation's channel changed, a second conversation deleted with its
-- messages (the BEFORE DELETE row trigger), 40 messages at once (the SQL fold)
UPDATE crm.messages SET sent_at = '2024-05-02 09:00+00'
 WHERE conversation_id OPERATOR(pg_catalog.=) :cv AND sender OPERATOR(pg_catalog.=) 'bot';
UPDATE crm.conversations SET channel = 'email' WHERE id OPERATOR(pg_catalog.=) :cv;
INSERT INTO crm.conversations (contact_id, started_at) VALUES (:ann3, '2024-05-03 09:00+00') RETURNING id AS cv2 \gset
INSERT INTO crm.messages (conversation_id, sender, body, sent_at)
SELECT :cv2, 'contact', 'm', timestamptz '2024-05-03 09:00+00' + g * interval '1 minute' FROM generate_series(1, 40) g;
DELETE FROM crm.conversations WHERE id OPERATOR(pg_catalog.=) :cv2;
-- company merge and the duplicate finder (src/merge_companies.c)
INSERT INTO crm.companies (name, domain) VALUES ('Attack Co', 'attack.example') RETURNING id AS co1 \gset
INSERT INTO crm.companies (name, domain) VALUES ('Attack Company', 'eu.attack.example') RETURNING id AS co2 \gset
SELECT crm.link_company(:ann3, :co1), crm.link_company(:ann3, :co2, 'cto', true);
SELECT crm.set_external_id('company', :co2, 'stripe', 'cus_attack');
SELECT crm.merge_companies_preview(:co1, :co2);
SELECT crm.merge_companies(:co1, :co2);
-- a row written with the merged id goes to the survivor (crm_follow_merged_company)
INSERT INTO crm.notes (company_id, body) VALUES (:co2, 'old id');
SELECT * FROM crm.company_duplicates();
-- undoing the merge (src/unmerge.c)
SELECT m.id AS merge_id FROM crm.merges m WHERE m.loser_id OPERATOR(pg_catalog.=) :carl \gset
SELECT crm.unmerge_preview(:merge_id);
SELECT crm.unmerge(:merge_id);
-- typed properties and their revalidation (src/properties_validate.c, src/properties_define.c)
SELECT crm.define_property('contact', 'seats', 'number', 'Seats');
SELECT crm.define_property('contact', 'plan', 'select', 'Plan', ARRAY['free', 'pro']);
SELECT crm.update_contact(:ann3, '{"properties": {"seats": 5, "plan": "pro"}}');
SELECT crm.define_property('contact', 'plan', 'select', 'Plan', ARRAY['free', 'pro', 'team']);
SELECT crm.drop_property('contact', 'plan');
-- deals, line items, valuation, stage history and forecast (src/deals.c, src/valuation.c, src/forecast.c)
SELECT crm.create_pipeline('Sales', 'b2b_sales') AS pipeline \gset
SELECT s.id AS stage FROM crm.stages s WHERE s.pipeline_id OPERATOR(pg_catalog.=) :pipeline ORDER BY s.position LIMIT 1 \gset
SELECT s.id AS stage2 FROM crm.stages s WHERE s.pipeline_id OPERATOR(pg_catalog.=) :pipeline ORDER BY s.position OFFSET 1 LIMIT 1 \gset
INSERT INTO crm.products (name, sku, unit_price, currency) VALUES ('Seat', 'SEAT', 240, 'EUR') RETURNING id AS product \gset
INSERT INTO crm.deals (pipeline_id, stage_id, title, contact_id, currency, expected_close_date)
	VALUES (:pipeline, :stage, 'Deal one', :ann3, 'EUR', date '2030-01-15') RETURNING id AS deal \gset
INSERT INTO crm.deals (pipeline_id, stage_id, title, contact_id, currency, expected_close_date)
	VALUES (:pipeline, :stage, 'Deal two', :bob, 'EUR', date '2030-02-15') RETURNING id AS deal2 \gset
SELECT (crm.add_line_item(:deal, :product, 3, 'percent', 10)).id AS line \gset
SELECT crm.add_line_item(:deal, :product, 2);
UPDATE crm.deal_line_items SET quantity = 4 WHERE id OPERATOR(pg_catalog.=) :line;
DELETE FROM crm.deal_line_items WHERE id OPERATOR(pg_catalog.=) :line;
SELECT crm.move_deal(:deal, :stage2);
SELECT crm.win_deal(:deal2);
-- the row path: a deal created won (its WON event, src/deals.c), one lost by status, a note
INSERT INTO crm.deals (pipeline_id, title, currency, status, won_reason) VALUES (:pipeline, 'Born won', 'EUR', 'won', 'referral');
UPDATE crm.deals SET status = 'lost', lost_reason = 'budget' WHERE id OPERATOR(pg_catalog.=) :deal2;
INSERT INTO crm.notes (deal_id, body) VALUES (:deal, 'Call back');
SELECT count(*) FROM crm.stage_probabilities(:pipeline, 'historical');
SELECT count(*) FROM crm.stage_probabilities(:pipeline, 'blended');
SELECT count(*) FROM crm.forecast(:pipeline, date '2029-12-01', date '2030-06-01');
SELECT crm.deal_health(:deal);
-- orders and custom objects
SELECT crm.upsert_order(:ann3, 'webhook', 'o-1', 99.5, 'EUR', 'paid');
SELECT crm.create_object_type('workshop', 'Workshops', NULL, 'title');
SELECT crm.define_property('workshop', 'title', 'text', 'Title');
SELECT crm.create_record('workshop', '{"title": "Intro"}', 'W-1') AS rec \gset
-- computed properties: formulas and rollups (src/properties_formula.c, src/properties_rollup.c)
SELECT crm.define_formula('contact', 'seat_label', 'IF(seats > 2, ''many'', ''few'') + '' '' + LOWER(name)');
SELECT crm.define_formula('contact', 'age_days', 'DAYS_SINCE(createdAt) - 1');
SELECT crm.define_formula('contact', 'spend_eur', 'SUM(orders(status = PAID AND currency = ''EUR'').value)');
SELECT crm.define_formula('contact', 'last_order', 'MAX(orders.orderDate)');
UPDATE crm.contacts SET properties = properties OPERATOR(pg_catalog.||) '{"seats": 7}' WHERE id OPERATOR(pg_catalog.=) :ann3;
SELECT crm.upsert_order(:ann3, 'webhook', 'o-2', 10, 'EUR', 'paid');
UPDATE crm.orders SET value = 11 WHERE external_id OPERATOR(pg_catalog.=) 'o-2';
SELECT crm.refresh_formulas();
SELECT count(*) FROM crm.find_contacts('spendEur > 0 AND seatLabel = ''many ann''');
SELECT crm.associate(:rec, 'contact', :ann3);
-- CQL finders (src/cql_sql.c) and counts
SELECT count(*) FROM crm.find_contacts('email = ''ann@example.com'' AND seats > 2', 'name');
SELECT count(*) FROM crm.find_companies('name ~ ''Evil''');
SELECT count(*) FROM crm.find_deals('title ~ ''Deal''', 'id');
SELECT count(*) FROM crm.find_orders('source = ''webhook''');
SELECT count(*) FROM crm.find_conversations('channel = CHAT AND messagesIn >= 0 OR contact.name ~ ''Eve''');
SELECT count(*) FROM crm.find_contacts('stats.chat.messagesIn >= 1 OR EXISTS conversations(status = OPEN)');
SELECT count(*) FROM crm.find_records('workshop', 'title = ''Intro''');
SELECT crm.count('contact', 'tags CONTAINS ''vip''');
-- the history of values (src/history.c) and CQL over it
SELECT count(*) FROM crm.find_contacts('lifecycleStage EVER = CUSTOMER OR seats NEVER = 3 OR owner CHANGED SINCE LAST_N_DAYS:30 OR lifecycleStage WAS LEAD ON 2024-06-01');
SELECT count(*) FROM crm.property_history('contact', :ann3);
SELECT (crm.contact_as_of(:ann3, pg_catalog.now())).id IS NOT NULL;
SELECT (crm.deal_as_of(:deal, pg_catalog.now())).id IS NOT NULL;
SELECT count(*) FROM crm.count_by('deal', '', 'stage.name');
SELECT count(*) FROM crm.search('ann', 'fuzzy');
SELECT count(*) FROM crm.search('evl corp', 'fuzzy');
SELECT crm_hidden.search_words_of('Eve Evil-Corp');
-- the first tier's kept plan and the later tiers' planned one (src/search_key.c)
SELECT count(*) FROM crm.search('ann');
SELECT count(*) FROM crm.search('berl');
SELECT count(*) FROM crm.search('@ann', 'exact');
SELECT crm_hidden.search_profile_prefixes('https://x.com/Ann'), crm_hidden.search_prefix_end('ann');
-- lists (src/lists_*.c): dynamic recalculation by triggers, static membership,
-- and the row path of crm.lists and crm.list_members (src/lists_define.c, src/lists_members.c)
SELECT id AS dyn FROM crm.create_list('Berliners', 'contact', 'dynamic', 'city = ''Berlin''') \gset
SELECT id AS stat FROM crm.create_list('Picked') \gset
SELECT crm.add_to_list(:stat, ARRAY[:ann3, :bob]::bigint[]);
SELECT crm.remove_from_list(:stat, ARRAY[:bob]::bigint[]);
SELECT crm.update_contact(:ann3, '{"city": "Berlin"}');
SELECT crm.set_list_filter(:dyn, 'city = ''Hamburg''');
SELECT crm.refresh_list(:dyn);
SELECT count(*) FROM crm.get_list_members(:dyn);
-- (the test's own comparisons written out: public's operators would answer them)
INSERT INTO crm.lists (name, kind, filter) VALUES ('Row list', 'dynamic', 'city = ''Berlin'' OR IN LIST ''Picked''')
RETURNING id AS rowlist \gset
UPDATE crm.lists SET filter = 'city = ''Paris''', owner = 'x' WHERE id OPERATOR(pg_catalog.=) :rowlist;
INSERT INTO crm.lists (name, kind, filter) VALUES ('Row snapshot', 'snapshot', 'city = ''Berlin''')
RETURNING id AS rowsnap \gset
INSERT INTO crm.list_members (list_id, object_type, contact_id) VALUES (:stat, 'contact', :bob);
DELETE FROM crm.list_members WHERE list_id OPERATOR(pg_catalog.=) :stat AND contact_id OPERATOR(pg_catalog.=) :bob;
DELETE FROM crm.lists WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY[:rowlist, :rowsnap]::bigint[]);
-- smart tags (src/smart_tags.c): defined, followed by a contact, put right by hand, dropped
SELECT crm.define_smart_tag('berliner', 'city = ''Berlin''') IS NOT NULL;
SELECT crm.update_contact(:ann3, '{"city": "Paris"}');
SELECT crm.bulk_tag_by_id('contact', ARRAY[:ann3]::bigint[], ARRAY['berliner']);
SELECT crm.drop_smart_tag('berliner');
-- phones with a country (src/normalize.c, src/phone.cpp): the workspace's
-- default (its trigger, and the query that reads it), a call's country, a
-- row write, a CQL literal
UPDATE crm.workspaces SET default_country = 'de' WHERE slug OPERATOR(pg_catalog.=) 'attack';
SELECT crm.normalize_phone('030 1234567'), crm.normalize_phone('020 7946 0000', 'gb');
SELECT crm.identify(phone => '030 5550199', name => 'Dee');
SELECT crm.identify(phone => '(201) 555-0123', country => 'US', name => 'Sam');
INSERT INTO crm.contacts (name, phone) VALUES ('Row phone', '030 5550188');
SELECT count(*) FROM crm.find_contacts('phone = ''030 5550199''');
-- address and social profiles (src/profiles.c; the merge's address, src/merge.c)
INSERT INTO crm.contacts (name, street, city, postal_code, country, linkedin, website)
VALUES ('Profile one', ' 1 Main St', 'Berlin', '10115', 'Germany', '@pro-one', 'Pro.example/') RETURNING id AS pro1 \gset
INSERT INTO crm.contacts (name, city, country, x, facebook) VALUES ('Profile two', 'Paris', 'fra', 'twitter.com/pro2', 'fb.com/pro.two')
RETURNING id AS pro2 \gset
SELECT crm.merge_contacts(:pro1, :pro2);
SELECT count(*) FROM crm.find_contacts('country = ''DE'' AND postalCode = ''10115'' AND x IS NOT NULL');
-- active modules (src/identify.c, src/merge.c, the row check in src/normalize.c, CQL)
SELECT crm.identify(email => 'ann@example.com', source => 'support', seen_at => '2030-01-02') AS ann4 \gset
SELECT crm.identify(email => 'sms@example.com', source => 'sms', seen_at => '2030-01-03') AS texter \gset
SELECT crm.merge_contacts(:ann4, :texter);
UPDATE crm.contacts SET active_modules = '{"forms": "2030-01-04T00:00:00Z"}' WHERE name OPERATOR(pg_catalog.=) 'Row phone';
SELECT count(*) FROM crm.find_contacts('activeModules CONTAINS ''sms''');
-- import, bulk, GDPR, events (src/import.c, src/events.c)
SELECT count(*) FROM crm.import_contacts('[{"email": "dora@example.com", "name": "Dora", "tags": ["a"]}]');
SELECT count(*) FROM crm.import_contacts('[{"email": "dora@example.com", "company": "https://www.dora.example/", "blocked": "no"}]');
-- a job (src/jobs.c): its start; the worker's queries are its own, qualified
SELECT crm.start_import('contacts', '[{"email": "jobbed@example.com", "company": "Jobbed Ltd"}]') > 0;
SELECT crm.bulk_tag('contact', 'email = ''dora@example.com''', ARRAY['imported']);
SELECT crm.export_contact(:ann3) IS NOT NULL;
SELECT crm.delete_contact(:bob, true);
SELECT count(*) FROM crm.events_since(0, 5);
SELECT crm.delete_list(:stat);
-- reporting (src/reporting.c): a pinned role's lookup; the wide views' regeneration
CREATE ROLE crm_attack_bi;
SELECT crm.grant_access('crm_attack_bi', access => 'reporting');
SELECT crm.define_property('contact', 'attack_level', 'number');
SET ROLE crm_attack_bi;
SELECT crm.current_workspace();
SELECT count(*) FROM crm_report.deals_per_month;
SELECT count(*) FROM crm_report.conversations_per_day;
SELECT count(*) FROM crm_report.messages_per_day;
SELECT count(*) FROM crm_report.property_values;
RESET ROLE;
-- owner-based privacy for a restricted member (src/privacy.c, the CQL
-- predicate of src/cql_sql.c, identify's check in src/identify.c)
SELECT (crm.add_member('sp-admin', 'admin')).role;
SELECT (crm.add_member('sp-agent', 'agent', team => 'north')).role;
SELECT crm.set_privacy('owner');
SET ROLE crm_attack_app;
SET crm.user_id = 'sp-agent';
INSERT INTO crm.contacts (name, email) VALUES ('Private', 'private@example.com');
INSERT INTO crm.deals (title, team) VALUES ('Private deal', 'north');
SELECT count(*) FROM crm.find_contacts('');
SELECT count(*) FROM crm.find_deals('');
SELECT crm.identify(email => 'private@example.com', name => 'Private again');
RESET crm.user_id;
RESET ROLE;
SELECT crm.set_privacy('everyone');
DELETE FROM crm.members;
SQL
ok $? "identify, merge, properties, deals, forecast, CQL, lists, import, events, reporting and privacy with public first on search_path"
grep -i error /tmp/crm_attack_c.$$ | sed 's/^/# /'
calls=$(q -d crm_attack -c "SELECT coalesce(string_agg(DISTINCT fn, ', '), '') FROM public.trap_log")
[ -z "$calls" ]
ok $? "no planted operator was called by the C code${calls:+ (called: $calls)}"
[ "$(q -d crm_attack -c "SELECT string_agg(name || ' ' || phone, ', ' ORDER BY name) FROM crm.contacts WHERE name IN ('Dee', 'Sam', 'Row phone')")" = "Dee +49305550199, Row phone +49305550188, Sam +12015550123" ]
ok $? "phones read in the workspace's country or the call's"
[ "$(q -d crm_attack -c "SELECT concat_ws(' ', street, city, country, linkedin, x, facebook, website) FROM crm.contacts WHERE name = 'Profile one'")" = "1 Main St Berlin DE https://www.linkedin.com/in/pro-one https://x.com/pro2 https://www.facebook.com/pro.two https://pro.example" ]
ok $? "an address and social profiles normalised and merged"
[ "$(q -d crm_attack -c "SELECT string_agg(k, ',' ORDER BY k) FROM crm.contacts c, jsonb_object_keys(c.active_modules) k WHERE c.email = 'ann@example.com'")" = "sms,support" ]
ok $? "active modules recorded by identify and unioned by the merge"


rm -f /tmp/crm_attack_out.$$ /tmp/crm_attack_c.$$
"$PG_BINDIR/dropdb" crm_attack
"$PG_BINDIR/psql" -X -q -c 'DROP ROLE crm_attack_app' 2>/dev/null
"$PG_BINDIR/psql" -X -q -c 'DROP ROLE crm_attack_bi' 2>/dev/null
[ "$failures" = 0 ]
