#!/usr/bin/env bash
# search_path attack: hostile functions and operators planted in public and
# pg_temp, with public searched before pg_catalog, are never called by the
# extension, neither while it installs nor while it is used.  Each planted
# object records its call in public.trap_log (and returns a wrong answer).
cd "$(dirname "$0")/../.."
. test/tap.sh
echo "1..6"

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
SELECT crm.log_activity(c.id, 'note', 'hi') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.start_conversation(c.id, 'chat', NULL, 'hello') FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.add_message(cv.id, 'agent', 'hi back') FROM crm.conversations cv;
SELECT count(*) FROM crm.timeline((SELECT c.id FROM crm.contacts c WHERE c.name OPERATOR(pg_catalog.=) 'Eve'));
SELECT crm.unlink_company(c.id, co.id) FROM crm.contacts c, crm.companies co WHERE c.name OPERATOR(pg_catalog.=) 'Eve';
SELECT crm.emit_event('CRM_CONTACT_MERGED', 'contact', 1);
SELECT count(*) FROM crm.events_since(0);
SELECT count(*) FROM crm.events_since((SELECT min(e.id) FROM crm.events e));
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
RESET ROLE;
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

rm -f /tmp/crm_attack_out.$$
"$PG_BINDIR/dropdb" crm_attack
"$PG_BINDIR/psql" -X -q -c 'DROP ROLE crm_attack_app' 2>/dev/null
[ "$failures" = 0 ]
