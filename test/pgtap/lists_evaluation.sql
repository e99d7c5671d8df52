-- The list triggers' evaluation query decides exactly as crm.find_contacts:
-- property numbers compared numerically whatever their JSON spelling,
-- predicates several filters share computed once (NULLs included), AND and
-- OR operands reordered, and more lists than one query holds, over more
-- records than one batch holds (src/lists.h: LISTS_PER_QUERY, MEMBER_BITS).
BEGIN;
SELECT plan(8);

SELECT crm.create_workspace('lists-eval', 'List evaluation');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'lists-eval'), true);

-- Mismatches between each dynamic list's members and a fresh run of its filter
-- (each list's two sets read by statements of their own, naming the workspace:
-- on Citus each is routed to the workspace's worker)
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ws bigint := crm.current_workspace();
	l record;
	found bigint[];
	members bigint[];
	n bigint := 0;
BEGIN
	FOR l IN SELECT id, filter FROM crm.lists WHERE workspace_id = ws AND kind = 'dynamic' LOOP
		SELECT coalesce(array_agg(f.id), '{}') INTO found FROM crm.find_contacts(l.filter, 'id', 1000000) f;
		SELECT coalesce(array_agg(m.contact_id), '{}') INTO members
		  FROM crm.list_members m WHERE m.workspace_id = ws AND m.list_id = l.id;
		n := n + (SELECT count(*) FROM ((SELECT unnest(found) EXCEPT SELECT unnest(members))
										UNION ALL (SELECT unnest(members) EXCEPT SELECT unnest(found))) x);
	END LOOP;
	RETURN n;
END
$$;

-- numbers: bounds and values in every JSON spelling, strings and nulls that are no numbers
SELECT crm.create_list('n' || k, 'contact', 'dynamic', f)
  FROM unnest(ARRAY['properties.seats >= 10', 'properties.seats < 10', 'properties.seats > 1e1',
					'properties.seats <= 10.000', 'properties.seats BETWEEN 9.5 AND 1E+1',
					'properties.seats NOT BETWEEN -0.5 AND 0.001', 'properties.seats > -1 OR tags CONTAINS ''x''',
					'properties.seats >= 100000000000000000000000 AND city = ''Paris''']) WITH ORDINALITY AS x(f, k);
INSERT INTO crm.contacts (name, city, tags, properties) VALUES
	('a', 'Paris', '{}', '{"seats": 10}'), ('b', 'Paris', '{}', '{"seats": 1e1}'),
	('c', 'Rome', '{}', '{"seats": 10.000}'), ('d', NULL, '{x}', '{"seats": 9.99999999999999999999}'),
	('e', 'Paris', '{}', '{"seats": -0.5}'), ('f', NULL, '{}', '{"seats": "12"}'),
	('g', 'Rome', '{x}', '{"seats": null}'), ('h', 'Paris', '{}', '{}'),
	('i', 'Paris', '{}', '{"seats": 1E-3}'), ('j', 'Paris', '{}', '{"seats": 100000000000000000000000.0}'),
	('k', 'Paris', '{}', '{"seats": [10]}'), ('l', 'Paris', '{}', '{"seats": 0.0010}');
SELECT is(pg_temp.mismatches(), 0::bigint, 'numbers in every spelling: the triggers agree with find_contacts');
SELECT is((SELECT string_agg(c.name, '' ORDER BY c.name) FROM crm.list_members m JOIN crm.contacts c
			ON c.workspace_id = m.workspace_id AND c.id = m.contact_id
			WHERE m.list_id = (SELECT id FROM crm.lists WHERE workspace_id = crm.current_workspace() AND name = 'n1')),
		  'abcj', 'seats >= 10 holds 10, 1e1, 10.000 and 1e23, not 9.99..., "12" or [10]');
-- (the new number spelt through text: Citus takes no STABLE function, as
-- jsonb_build_object is, over a column in an UPDATE)
UPDATE crm.contacts SET properties = jsonb_set('{}', '{seats}', ((properties ->> 'seats')::numeric + 0.5)::text::jsonb)
 WHERE workspace_id = crm.current_workspace() AND jsonb_typeof(properties -> 'seats') = 'number';
SELECT is(pg_temp.mismatches(), 0::bigint, 'after the numbers move, still in agreement');

-- shared predicates and reordered operands, with NULLs: city is NULL for some
SELECT crm.create_list('s' || k, 'contact', 'dynamic', f)
  FROM unnest(ARRAY['city = ''Paris'' AND properties.seats > 5', 'NOT (city = ''Paris'') AND tags CONTAINS ''x''',
					'properties.seats > 5 OR city = ''Paris''', 'NOT (city = ''Paris'' OR properties.seats > 5)',
					'(city = ''Paris'' AND NOT (tags CONTAINS ''x'')) OR (tags CONTAINS ''x'' AND city IS NULL)',
					'status = ACTIVE AND city = ''Paris''']) WITH ORDINALITY AS x(f, k);
UPDATE crm.contacts SET city = CASE WHEN city IS NULL THEN 'Paris' WHEN city = 'Paris' THEN NULL ELSE city END,
						tags = CASE WHEN tags = '{}' THEN '{x}'::text[] ELSE '{}' END
 WHERE workspace_id = crm.current_workspace() AND name IN ('a', 'd', 'f', 'g', 'k');
UPDATE crm.contacts SET status = 'deleted', deleted_at = now() WHERE workspace_id = crm.current_workspace() AND name = 'b';
SELECT is(pg_temp.mismatches(), 0::bigint, 'shared predicates with NULLs, a soft delete: in agreement');

-- more lists than one evaluation query holds, over more records than one batch:
-- 1,100 lists inserted as a restore inserts them (in a workspace of their own),
-- then records inserted and updated
SELECT crm.create_workspace('lists-many', 'Many lists');
SELECT set_config('crm.workspace_id', (SELECT id::text FROM crm.workspaces WHERE slug = 'lists-many'), true);
INSERT INTO crm.lists (name, object_type, kind, filter)
SELECT 'many ' || k, 'contact', 'dynamic',
	   format('properties.seats BETWEEN %s AND %s.5 AND %s', k % 45, k % 45,
			  (ARRAY['city = ''Paris''', 'tags CONTAINS ''x''', 'NOT (status = DELETED)', 'NOT (city = ''Rome'')'])[1 + k % 4])
  FROM generate_series(1, 1100) k;
INSERT INTO crm.contacts (name, city, tags, properties)
SELECT 'p' || g, (ARRAY['Paris', 'Rome', NULL])[1 + g % 3], CASE WHEN g % 5 = 0 THEN '{x}'::text[] ELSE '{}' END,
	   jsonb_build_object('seats', g % 45)
  FROM generate_series(1, 1000) g;
SELECT is(pg_temp.mismatches(), 0::bigint, '1,100 lists: inserted records are evaluated by every list');
-- every record re-evaluated (seats moves within its range), a tenth changes city
UPDATE crm.contacts SET properties = jsonb_set('{}', '{seats}', ((properties ->> 'seats')::numeric + 0.25)::text::jsonb),
						city = CASE WHEN name LIKE '%7' THEN CASE WHEN city = 'Rome' THEN 'Paris' ELSE 'Rome' END ELSE city END
 WHERE workspace_id = crm.current_workspace();
SELECT is(pg_temp.mismatches(), 0::bigint, '1,100 lists: an update of every record moves the members it should');
SELECT cmp_ok((SELECT sum((SELECT count(*) FROM crm.list_members m WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id))
				 FROM crm.lists l WHERE l.workspace_id = crm.current_workspace() AND l.name LIKE 'many 10__'),
			  '>', 10::numeric, 'lists past the first thousand have members');
-- member_count is written at commit (docs/lists.md): inside this transaction, now
SET CONSTRAINTS crm.list_members_counts IMMEDIATE;
SELECT is((SELECT count(*) FROM crm.lists l WHERE l.workspace_id = crm.current_workspace()
			  AND l.member_count <> (SELECT count(*) FROM crm.list_members m WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id)),
		  0::bigint, 'every member_count equals the number of members');

SELECT * FROM finish();
ROLLBACK;
