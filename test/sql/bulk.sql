-- Bulk actions on a CQL query or (the _by_id functions) an id array: one
-- statement each, returning the number of rows changed; already-done rows
-- are not counted.
-- in a workspace of its own, so other tests' rows do not show up
SELECT crm.create_workspace('bulk-test', 'Bulk test') IS NOT NULL AS created;
SELECT crm.use_workspace('bulk-test') IS NOT NULL AS switched;
CREATE TEMP TABLE events_mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
INSERT INTO crm.contacts (id, name, email, city, tags, properties) VALUES
	(1, 'Ada', 'ada@x.org', 'London', '{vip}', '{"plan": "pro"}'),
	(2, 'Bob', 'bob@x.org', 'Paris', '{}', '{}'),
	(3, 'Cy', 'cy@x.org', 'Paris', '{}', '{"plan": "free", "old": 1}');
INSERT INTO crm.contacts (id, name) VALUES (4, 'Ada dup');
SELECT FROM crm.merge_contacts(1, 4);
INSERT INTO crm.companies (id, name, tags) VALUES (1, 'Acme', '{}');

-- tags: normalized like stored tags; a second run changes nothing
SELECT crm.bulk_tag('contact', 'city = ''Paris''', ARRAY[' Lead-2024 ', 'VIP']);
SELECT crm.bulk_tag('contact', 'city = ''Paris''', ARRAY['lead-2024']);
SELECT crm.bulk_tag_by_id('contact', ARRAY[1, 2, 4, 99], ARRAY['x']);   -- 4 is merged, 99 does not exist
SELECT crm.bulk_tag('company', '', ARRAY['partner']);
SELECT crm.bulk_untag('contact', 'tags CONTAINS ''x''', ARRAY['x', 'vip']);
SELECT id, tags FROM crm.contacts ORDER BY id;

-- lifecycle
SELECT crm.bulk_set_lifecycle('city = ''Paris''', 'customer');
SELECT crm.bulk_set_lifecycle_by_id(ARRAY[1, 2, 3], 'customer');
SELECT id, lifecycle_stage FROM crm.contacts ORDER BY id;

-- update: CQL field names; properties merged, a null removes a key
SELECT crm.bulk_update('contact', 'city = ''Paris''', '{"country": "FR", "properties": {"plan": "team", "old": null}}');
SELECT crm.bulk_update('contact', 'city = ''Paris''', '{"country": "FR", "properties": {"plan": "team", "old": null}}');
SELECT crm.bulk_update_by_id('contact', ARRAY[1], '{"lifecycleStage": "lead", "blocked": true, "tags": ["A", "b"]}');
SELECT crm.bulk_update_by_id('company', ARRAY[1], '{"employees": 12, "industry": "SaaS"}');
SELECT id, city, country, lifecycle_stage, blocked, tags, properties FROM crm.contacts ORDER BY id;
SELECT id, employees, industry, tags FROM crm.companies;

-- delete: soft, and only once
SELECT crm.bulk_delete('contact', 'tags CONTAINS ''lead-2024''');
SELECT crm.bulk_delete_by_id('contact', ARRAY[2, 3]);
SELECT id, status, deleted_at IS NOT NULL AS has_deleted_at FROM crm.contacts ORDER BY id;
-- deleted contacts drop out of CQL targets unless the query names status
SELECT crm.bulk_tag('contact', '', ARRAY['all']);
SELECT crm.bulk_tag('contact', 'status = deleted', ARRAY['gone']);

-- bad input: an error, and nothing written
\set VERBOSITY default
CREATE TEMP TABLE before AS SELECT id, tags, lifecycle_stage, properties, status FROM crm.contacts;
SELECT crm.bulk_tag('contact', 'citty = ''Paris''', ARRAY['x']);
SELECT crm.bulk_tag('contact', 'city = ''Paris''', ARRAY['', ' ']);
SELECT crm.bulk_tag('contact', NULL::text, ARRAY['x']);
SELECT crm.bulk_tag_by_id('contact', NULL, ARRAY['x']);
SELECT crm.bulk_tag('deal', '', ARRAY['x']);
SELECT crm.bulk_set_lifecycle('', NULL);
SELECT crm.bulk_set_lifecycle('', 'champion');
SELECT crm.bulk_update('contact', '', '{"citty": "Paris"}');
SELECT crm.bulk_update('contact', '', '{"id": 5}');
SELECT crm.bulk_update('contact', '', '{"status": "deleted"}');
SELECT crm.bulk_update('contact', '', '{"blocked": "maybe"}');
SELECT crm.bulk_update('contact', '', '{"properties": [1]}');
SELECT crm.bulk_update('contact', '', '[]');
SELECT crm.bulk_update('contact', '', '{}');
SELECT crm.bulk_delete('company', '');
-- the ids form has a name of its own: the query form takes no id array
SELECT crm.bulk_tag('contact', ARRAY[1]::bigint[], ARRAY['x']);
\set VERBOSITY terse
SELECT count(*) AS rows_changed_by_failed_calls
  FROM crm.contacts c JOIN before b USING (id)
 WHERE (c.tags, c.lifecycle_stage, c.properties, c.status) IS DISTINCT FROM (b.tags, b.lifecycle_stage, b.properties, b.status);

-- one name per function, the ids forms with _by_id: PostGraphile leaves
-- overloaded names out of its schema
SELECT p.oid::regprocedure AS bulk_function FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND p.proname LIKE 'bulk\_%' ORDER BY 1::text;

-- every change went through the event outbox
SELECT type, count(*) FROM crm.events WHERE id > (SELECT id FROM events_mark) GROUP BY 1 ORDER BY 1;

-- leave the shared regression database as we found it
-- (rows first: deleting a workspace cascades to rows whose triggers log events)
DELETE FROM crm.contact_companies WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.contacts WHERE workspace_id = crm.current_workspace();
DELETE FROM crm.companies WHERE workspace_id = crm.current_workspace();
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug = 'bulk-test';
