-- The list triggers look only at the properties keys filters name: a write
-- of any of those keys (changed, added, removed, retyped, a nested value,
-- a quoted name) re-evaluates the record, a write of other keys leaves
-- memberships as they are, and filters that share a property value or a
-- company test (computed once per row) still decide each list apart.
BEGIN;
SELECT plan(10);

SELECT crm.create_workspace('lists-keys', 'List keys');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'lists-keys'), true);

INSERT INTO crm.companies (name, domain, industry) VALUES ('Acme', 'acme.example', 'SaaS'), ('Shop', 'shop.example', 'Retail');
INSERT INTO crm.contacts (name, email, properties) VALUES
	('Ann', 'ann@ex.org', '{"seats": 10, "plan name": "gold", "meta": {"tier": 1}}'),
	('Bob', 'bob@ex.org', '{"seats": 3}');
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, co.id, true FROM crm.contacts c
  JOIN crm.companies co ON co.workspace_id = c.workspace_id AND co.name = CASE c.name WHEN 'Ann' THEN 'Acme' ELSE 'Shop' END
 WHERE c.workspace_id = crm.current_workspace();

CREATE TEMP TABLE l AS
SELECT (crm.create_list('seats5', 'contact', 'dynamic', 'properties.seats >= 5')).id AS seats5,
	   (crm.create_list('seats8', 'contact', 'dynamic', 'properties.seats >= 8')).id AS seats8,
	   (crm.create_list('saas5', 'contact', 'dynamic', 'properties.seats >= 5 AND company.industry = ''SaaS''')).id AS saas5,
	   (crm.create_list('saas1', 'contact', 'dynamic', 'properties.seats >= 1 AND company.industry = ''SaaS''')).id AS saas1,
	   (crm.create_list('gold', 'contact', 'dynamic', 'properties."plan name" = ''gold''')).id AS gold,
	   (crm.create_list('meta', 'contact', 'dynamic', 'properties.meta IS NOT NULL')).id AS meta;

-- plpgsql, the workspace a value: Citus plans no SQL function's parameter
CREATE FUNCTION pg_temp.members(list bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
BEGIN
	RETURN (SELECT coalesce(string_agg(c.name, ',' ORDER BY c.name), '')
			  FROM crm.list_members m JOIN crm.contacts c ON c.workspace_id = m.workspace_id AND c.id = m.contact_id
			 WHERE m.workspace_id = ws AND m.list_id = list);
END $$;

SELECT is(pg_temp.members(seats5) || '|' || pg_temp.members(seats8) || '|' || pg_temp.members(saas5) || '|' ||
		  pg_temp.members(saas1) || '|' || pg_temp.members(gold) || '|' || pg_temp.members(meta), 'Ann|Ann|Ann|Ann|Ann|Ann',
		  'lists sharing a value decide apart')
  FROM l;

UPDATE crm.contacts SET properties = properties || '{"seats": 6}' WHERE name = 'Ann';
SELECT is(pg_temp.members(seats5) || '|' || pg_temp.members(seats8), 'Ann|', 'a changed key re-evaluates') FROM l;

UPDATE crm.contacts SET properties = properties || '{"seats": 9}' WHERE name = 'Bob';
SELECT is(pg_temp.members(seats8) || '|' || pg_temp.members(saas1), 'Bob|Ann', 'a shared company test follows each row') FROM l;

UPDATE crm.contacts SET properties = properties - 'seats' WHERE name = 'Ann';
SELECT is(pg_temp.members(seats5), 'Bob', 'a removed key re-evaluates') FROM l;

UPDATE crm.contacts SET properties = properties || '{"seats": 20}' WHERE name = 'Ann';
SELECT is(pg_temp.members(seats5), 'Ann,Bob', 'an added key re-evaluates') FROM l;

UPDATE crm.contacts SET properties = properties || '{"seats": "20"}' WHERE name = 'Ann';
SELECT is(pg_temp.members(seats5), 'Bob', 'a key changed to text re-evaluates (numbers compare numbers only)') FROM l;

UPDATE crm.contacts SET properties = properties || '{"plan name": "silver"}' WHERE name = 'Ann';
SELECT is(pg_temp.members(gold), '', 'a quoted key re-evaluates') FROM l;

-- a key no filter reads: the membership stays, and nothing is re-evaluated
UPDATE crm.contacts SET properties = properties || '{"seats": 20, "plan name": "gold"}' WHERE name = 'Ann';
UPDATE crm.companies SET industry = 'Retail' WHERE name = 'Acme';
SELECT is(pg_temp.members(saas1), '', 'the company change re-evaluates through the link') FROM l;
UPDATE crm.contacts SET properties = properties || '{"note": "x"}' WHERE name = 'Ann';
SELECT is(pg_temp.members(seats5) || '|' || pg_temp.members(gold), 'Ann,Bob|Ann', 'an unread key changes nothing') FROM l;

-- a nested value (compared as a whole) re-evaluates
UPDATE crm.contacts SET properties = properties || '{"meta": null}' WHERE name = 'Ann';
SELECT is(pg_temp.members(meta), '', 'a nested value replaced by null re-evaluates') FROM l;

SELECT * FROM finish();
ROLLBACK;
