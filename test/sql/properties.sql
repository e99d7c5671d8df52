-- Typed custom properties: definitions, the validation trigger, its cache,
-- and re-validation when a definition changes.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A workspace of its own, so other tests' rows do not show up here
SELECT crm.create_workspace('props', 'Properties') AS ws \gset
SET crm.workspace_id = :ws;

-- Definitions for contacts, one per type.  A missing label becomes the key.
SELECT crm.define_property('contact', 'nickname', 'text', 'Nickname') > 0 AS defined;
SELECT crm.define_property('contact', 'seats', 'number') > 0 AS defined;
SELECT crm.define_property('contact', 'mrr', 'currency', 'Monthly revenue') > 0 AS defined;
SELECT crm.define_property('contact', 'discount', 'percent') > 0 AS defined;
SELECT crm.define_property('contact', 'vip', 'boolean') > 0 AS defined;
SELECT crm.define_property('contact', 'birthday', 'date') > 0 AS defined;
SELECT crm.define_property('contact', 'trial_ends', 'datetime') > 0 AS defined;
SELECT crm.define_property('contact', 'work_email', 'email') > 0 AS defined;
SELECT crm.define_property('contact', 'mobile', 'phone') > 0 AS defined;
SELECT crm.define_property('contact', 'webpage', 'url') > 0 AS defined;
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise']) > 0 AS defined;
SELECT crm.define_property('contact', 'channels', 'multi_select', options => ARRAY['email', 'sms', 'phone']) > 0 AS defined;
SELECT crm.define_property('contact', 'sku', 'text', pattern => '[A-Z]{3}-[0-9]+') > 0 AS defined;
SELECT object_type, key, label, type, options, pattern, required
  FROM crm.property_definitions WHERE workspace_id = :ws ORDER BY id;

-- happy path: every type with a fitting value; undeclared keys are kept; null is absent
INSERT INTO crm.contacts (id, name, properties) VALUES (900001, 'Ada', '{
	"nickname": "ada", "seats": 12, "mrr": 1250.50, "discount": 12.5, "vip": true,
	"birthday": "2000-02-29", "trial_ends": "2024-03-31T14:30:00Z",
	"work_email": "Ada@Example.com", "mobile": "+44 20 7946 0958",
	"webpage": "https://example.com/about?x=1", "plan": "pro", "channels": ["email", "sms"],
	"sku": "ABC-123", "source": "import", "seats_note": null, "mrr_old": null}')
RETURNING properties;
INSERT INTO crm.contacts (id, name, properties) VALUES (900002, 'Bob', '{
	"seats": -3, "mrr": 0, "discount": 0, "vip": false, "birthday": "1999-12-31",
	"trial_ends": "2024-03-31 14:30", "webpage": "http://localhost:8080",
	"channels": [], "plan": null, "nickname": ""}')
RETURNING properties;
SELECT crm.define_property('contact', 'due', 'datetime') > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES
	('D1', '{"due": "2024-03-31T14:30:00.123456+05:30"}'),
	('D2', '{"due": "2024-03-31T14:30:59-0800"}'),
	('D3', '{"due": "2024-03-31t00:00:00,5z"}'),
	('D4', '{"webpage": "https://user@[2001:db8::1]:443/x#y", "discount": 100}');
SELECT count(*) AS contacts FROM crm.contacts WHERE workspace_id = :ws;

-- bad values: each a 22023 naming the object type, key and value, nothing written
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"nickname": 42}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"seats": "12"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"mrr": "12.50 USD"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"discount": 100.01}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"discount": -1}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"vip": "yes"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"birthday": "2001-02-29"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"birthday": "2024-13-01"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"birthday": "31/12/2024"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"birthday": "2024-01-01T10:00:00Z"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"trial_ends": "2024-03-31"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"trial_ends": "2024-03-31T25:00:00Z"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"trial_ends": "2024-03-31T10:00:00+5"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"work_email": "not-an-email"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"work_email": ""}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"mobile": "call me"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"mobile": 4420794609}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"webpage": "ftp://example.com"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"webpage": "https://"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"webpage": "https://exa mple.com"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"webpage": "example.com"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"plan": "gold"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"plan": ["pro"]}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"channels": "email"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"channels": ["email", "fax"]}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"channels": ["sms", "sms"]}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"sku": "abc-123"}');
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"sku": "XABC-123"}');
UPDATE crm.contacts SET properties = properties || '{"seats": "many"}' WHERE id = 900001;
SELECT count(*) AS contacts, count(*) FILTER (WHERE properties->>'seats' = 'many') AS bad
  FROM crm.contacts WHERE workspace_id = :ws;

-- A long bad value is cut short in the message
INSERT INTO crm.contacts (name, properties)
VALUES ('X', jsonb_build_object('seats', repeat('x', 300)));

-- Updates that leave properties alone are not re-checked: a value planted
-- behind the trigger's back survives them, but not a change of properties
ALTER TABLE crm.contacts DISABLE TRIGGER contacts_validate_properties;
UPDATE crm.contacts SET properties = properties || '{"seats": "planted"}' WHERE id = 900002;
ALTER TABLE crm.contacts ENABLE TRIGGER contacts_validate_properties;
UPDATE crm.contacts SET city = 'London' WHERE id = 900002 RETURNING city, properties->'seats' AS seats;
UPDATE crm.contacts SET properties = properties || '{"vip": true}' WHERE id = 900002;
UPDATE crm.contacts SET properties = properties || '{"seats": -3}' WHERE id = 900002 RETURNING properties->'seats' AS seats;

-- Required keys: present on insert, and they stay present on update (23502)
UPDATE crm.contacts SET properties = properties || '{"plan": "free"}' WHERE workspace_id = :ws AND (properties->'plan' IS NULL OR properties->'plan' = 'null');
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise'], required => true) > 0 AS defined;
INSERT INTO crm.contacts (name) VALUES ('No plan');
INSERT INTO crm.contacts (name, properties) VALUES ('Null plan', '{"plan": null}');
UPDATE crm.contacts SET properties = properties - 'plan' WHERE id = 900001;
UPDATE crm.contacts SET properties = jsonb_set(properties, '{plan}', 'null') WHERE id = 900001;
SELECT name, properties->>'plan' AS plan FROM crm.contacts WHERE id = 900001;
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'enterprise']) > 0 AS defined;
INSERT INTO crm.contacts (name) VALUES ('No plan') RETURNING name, properties;

-- Strict workspaces refuse new undeclared keys; keys already stored are kept
UPDATE crm.workspaces SET settings = '{"strict_properties": true}' WHERE id = :ws;
INSERT INTO crm.contacts (name, properties) VALUES ('X', '{"favourite_color": "blue"}');
UPDATE crm.contacts SET properties = properties || '{"favourite_color": "blue"}' WHERE id = 900001;
UPDATE crm.contacts SET properties = properties || '{"seats": 13}' WHERE id = 900001
RETURNING properties->'seats' AS seats, properties->'source' AS kept;
INSERT INTO crm.contacts (name, properties) VALUES ('Strict ok', '{"seats": 1, "undeclared": null}')
RETURNING properties;
UPDATE crm.workspaces SET settings = '{}' WHERE id = :ws;
INSERT INTO crm.contacts (name, properties) VALUES ('Loose', '{"favourite_color": "blue"}')
RETURNING properties;

-- Cache invalidation within one session: define, redefine, drop take effect at once
INSERT INTO crm.contacts (name, properties) VALUES ('Cache 1', '{"score": 1}');
SELECT crm.define_property('contact', 'score', 'number') > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES ('Cache 2', '{"score": "high"}');
SELECT crm.drop_property('contact', 'score');
INSERT INTO crm.contacts (name, properties) VALUES ('Cache 3', '{"score": "high"}') RETURNING properties;
SELECT crm.define_property('contact', 'tier', 'select', options => ARRAY['a', 'b']) > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES ('Cache 4', '{"tier": "c"}');
SELECT crm.define_property('contact', 'tier', 'select', options => ARRAY['a', 'b', 'c']) > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES ('Cache 5', '{"tier": "c"}') RETURNING properties;
-- ... and within one transaction, after a rollback too
BEGIN;
SELECT crm.define_property('contact', 'lang', 'select', options => ARRAY['en', 'fr']) > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES ('Tx', '{"lang": "de"}');
ROLLBACK;
INSERT INTO crm.contacts (name, properties) VALUES ('Tx', '{"lang": "de"}') RETURNING properties;

-- Re-validation: a change that stored values no longer fit is refused (23514),
-- naming at most 5 offenders, and the definition stays as it was
SELECT crm.drop_property('contact', 'seats');
INSERT INTO crm.contacts (id, name, properties)
SELECT 900100 + i, 'Seat ' || i, jsonb_build_object('seats', CASE WHEN i % 2 = 0 THEN to_jsonb(i) ELSE to_jsonb(i::text) END)
  FROM generate_series(1, 20) i;
SELECT crm.define_property('contact', 'seats', 'number');
SELECT crm.define_property('contact', 'nickname', 'text', pattern => '[a-z]+');
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'enterprise']);
SELECT crm.define_property('contact', 'channels', 'multi_select', options => ARRAY['email']);
SELECT key, type, options, pattern, required FROM crm.property_definitions
 WHERE workspace_id = :ws AND key IN ('seats', 'nickname', 'plan', 'channels', 'webpage') ORDER BY key;
-- a label-only change does not re-validate; a fitting change goes through
SELECT crm.define_property('contact', 'plan', 'select', 'Plan',
	options => ARRAY['free', 'pro', 'enterprise']) > 0 AS relabelled;
SELECT crm.define_property('contact', 'mobile', 'text') > 0 AS widened;
SELECT label, type FROM crm.property_definitions WHERE workspace_id = :ws AND key IN ('plan', 'mobile') ORDER BY key;

-- Companies and conversations are validated with their own definitions
SELECT crm.define_property('company', 'tier', 'select', options => ARRAY['smb', 'enterprise']) > 0 AS defined;
SELECT crm.define_property('conversation', 'csat', 'number') > 0 AS defined;
INSERT INTO crm.companies (id, name, properties) VALUES (900001, 'Acme', '{"tier": "smb"}');
INSERT INTO crm.companies (name, properties) VALUES ('Bad Co', '{"tier": "a"}');
SELECT crm.start_conversation((SELECT id FROM crm.contacts WHERE id = 900001),
							  properties => '{"csat": 5}') > 0 AS started;
SELECT crm.start_conversation((SELECT id FROM crm.contacts WHERE id = 900001),
							  properties => '{"csat": "great"}');
SELECT crm.define_property('company', 'tier', 'select', options => ARRAY['enterprise']);
SELECT crm.define_property('company', 'region', 'text', required => true);
SELECT count(*) AS companies FROM crm.companies WHERE workspace_id = :ws;

-- Definitions belong to a workspace: the default workspace has none of these
SET crm.workspace_id = 1;
INSERT INTO crm.contacts (name, properties) VALUES ('Props other', '{"seats": "lots", "plan": "gold"}')
RETURNING name, properties;
SELECT count(*) AS definitions FROM crm.property_definitions WHERE workspace_id = 1;
DELETE FROM crm.contacts WHERE workspace_id = 1 AND name = 'Props other';
SET crm.workspace_id = :ws;

-- '@column': the object type is read from a column of the row
CREATE TABLE public.records (
	workspace_id bigint NOT NULL DEFAULT crm.current_workspace(),
	id bigint GENERATED BY DEFAULT AS IDENTITY,
	type_key text NOT NULL,
	properties jsonb NOT NULL DEFAULT '{}');
CREATE TRIGGER records_validate_properties BEFORE INSERT OR UPDATE ON public.records
	FOR EACH ROW EXECUTE FUNCTION crm_internal.validate_properties('@type_key');
INSERT INTO public.records (type_key, properties) VALUES ('company', '{"tier": "smb"}'), ('contact', '{"tier": "a"}');
INSERT INTO public.records (type_key, properties) VALUES ('company', '{"tier": "a"}');
UPDATE public.records SET type_key = 'company' WHERE type_key = 'contact';
DROP TABLE public.records;

-- Bad definitions: each refused with a precise error, nothing written
SELECT count(*) AS definitions_before FROM crm.property_definitions WHERE workspace_id = :ws \gset
SELECT crm.define_property('contact', 'Größe', 'text');
SELECT crm.define_property('contact', '1st', 'text');
SELECT crm.define_property('contact', repeat('k', 64), 'text');
SELECT crm.define_property('contact', 'email', 'text');
SELECT crm.define_property('company', 'domain', 'text');
SELECT crm.define_property('conversation', 'status', 'text');
SELECT crm.define_property('widget', 'size', 'number');
SELECT crm.define_property('contact', 'level', 'select');
SELECT crm.define_property('contact', 'level', 'select', options => '{}');
SELECT crm.define_property('contact', 'level', 'multi_select', options => ARRAY['a', NULL]);
SELECT crm.define_property('contact', 'level', 'select', options => ARRAY['a', '']);
SELECT crm.define_property('contact', 'level', 'select', options => ARRAY['a', 'a']);
SELECT crm.define_property('contact', 'level', 'number', options => ARRAY['a']);
SELECT crm.define_property('contact', 'code', 'text', pattern => '[a-');
SELECT crm.define_property('contact', 'code', 'text', pattern => 'a)|(b');
SELECT crm.define_property('contact', 'code', 'number', pattern => '[0-9]+');
SELECT crm.define_property(NULL, 'code', 'text');
SELECT crm.drop_property('contact', 'never_defined');
SELECT count(*) = :definitions_before AS nothing_written FROM crm.property_definitions WHERE workspace_id = :ws;

-- options => '{}' on a non-select type and pattern => '' mean "none"
SELECT crm.define_property('contact', 'code', 'text', options => '{}', pattern => '') > 0 AS defined;
SELECT options, pattern FROM crm.property_definitions WHERE workspace_id = :ws AND key = 'code';
-- a pattern with leading embedded options still matches in full
SELECT crm.define_property('contact', 'code', 'text', pattern => '(?i)[a-z]{2}') > 0 AS defined;
INSERT INTO crm.contacts (name, properties) VALUES ('Code', '{"code": "Ab"}') RETURNING properties;
INSERT INTO crm.contacts (name, properties) VALUES ('Code', '{"code": "Abc"}');

-- Definition changes are events too
SELECT type, count(*) FROM crm.events WHERE object_type = 'property_definition' AND workspace_id = :ws
 GROUP BY type ORDER BY type;

-- Size limits (54000): a property value of at most 64 kB, declared or not,
-- and a properties object of at most 1 MB; the limits themselves fit.
INSERT INTO crm.contacts (name, properties) VALUES ('Big note', jsonb_build_object('essay', repeat('e', 65536)))
	RETURNING length(properties->>'essay') AS essay_length;
INSERT INTO crm.contacts (name, properties) VALUES ('Too big', jsonb_build_object('essay', repeat('e', 65537)));
INSERT INTO crm.contacts (name, properties) VALUES ('Too deep', jsonb_build_object('list', to_jsonb(array_fill('x'::text, ARRAY[30000]))));
UPDATE crm.contacts SET properties = (SELECT jsonb_object_agg('k' || i, repeat('v', 60000)) FROM generate_series(1, 20) i)
 WHERE name = 'Big note';
-- a 50 MB value is refused, not stored
INSERT INTO crm.contacts (name, properties) VALUES ('Huge', jsonb_build_object('blob', repeat('b', 50 * 1024 * 1024)));
SELECT count(*) AS stored FROM crm.contacts WHERE name IN ('Too big', 'Too deep', 'Huge');
DELETE FROM crm.contacts WHERE name = 'Big note';
