-- Assign to team member (issue 22): crm.bulk_assign / crm.bulk_assign_by_id
-- set the owner of the records of a CQL query or of ids, to one member or
-- round robin by id, in one UPDATE through the row path (permissions,
-- events, lists); members must be active members of the workspace.
SELECT crm.create_workspace('assign', 'Assign') IS NOT NULL AS created;
SELECT crm.use_workspace('assign') IS NOT NULL AS switched;
SELECT (crm.add_member('boss', 'admin')).role, (crm.add_member('ann', 'agent')).role,
	   (crm.add_member('ben', 'agent')).role, (crm.add_member('vic', 'viewer')).role,
	   (crm.add_member('old', 'agent')).role;
SELECT (crm.update_member('old', '{"active": false}')).active;
INSERT INTO crm.contacts (id, name, email, city) VALUES
	(801, 'A', 'a@x.org', 'Paris'), (802, 'B', 'b@x.org', 'Paris'), (803, 'C', 'c@x.org', 'Rome'),
	(804, 'D', 'd@x.org', 'Paris'), (805, 'E', 'e@x.org', 'Paris'), (806, 'F', 'f@x.org', 'Paris');
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS id FROM crm.events;
CREATE TEMP VIEW owners AS
SELECT id, city, owner FROM crm.contacts WHERE workspace_id = crm.current_workspace() ORDER BY id;

-- round robin: the matching contacts in id order, the members in turn
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann', 'ben']);
SELECT * FROM owners;
-- one statement, one event per changed row, with the caller as actor
SELECT e.type, e.object_id, e.payload -> 'changes' AS changes, e.actor IS NOT NULL AS has_actor
  FROM crm.events e WHERE e.id > (SELECT id FROM mark) ORDER BY e.id;
-- the same call again changes nothing: deterministic
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann', 'ben']);
-- three members over five contacts: shares differ by one at most
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ben', 'boss', 'ann']);
SELECT owner, count(*) FROM crm.contacts WHERE workspace_id = crm.current_workspace() AND city = 'Paris'
 GROUP BY owner ORDER BY owner;
-- one member
SELECT crm.bulk_assign_by_id('contact', ARRAY[801, 803]::bigint[], ARRAY['boss'], 'one');
SELECT * FROM owners;
-- CQL sees the owner at once
SELECT id FROM crm.find_contacts('owner = ''boss''') ORDER BY id;

-- deals and companies have owners too
INSERT INTO crm.companies (id, name) VALUES (801, 'Acme'), (802, 'Globex');
SELECT crm.bulk_assign_by_id('company', ARRAY[801, 802]::bigint[], ARRAY['ann', 'ben']);
SELECT id, owner FROM crm.companies WHERE workspace_id = crm.current_workspace() ORDER BY id;
SELECT crm.create_pipeline('assign pipe', 'b2b_sales') IS NOT NULL AS piped;
INSERT INTO crm.deals (id, stage_id, title, value, currency)
SELECT 800 + g, (SELECT s.id FROM crm.stages s JOIN crm.pipelines p ON p.workspace_id = s.workspace_id AND p.id = s.pipeline_id
				  WHERE p.workspace_id = crm.current_workspace() AND p.name = 'assign pipe' ORDER BY s.position LIMIT 1),
	   'deal ' || g, 100 * g, 'EUR'
  FROM generate_series(1, 3) g;
SELECT crm.bulk_assign('deal', 'value >= 200', ARRAY['ben'], 'one');
SELECT id, owner FROM crm.deals WHERE workspace_id = crm.current_workspace() ORDER BY id;

-- bad input: nothing written
UPDATE mark SET id = (SELECT max(id) FROM crm.events);
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann', 'zed']);
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['old']);
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann', 'ben'], 'one');
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann'], 'random');
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY[]::text[]);
SELECT crm.bulk_assign('contact', 'city = ''Paris''', ARRAY['ann', NULL]);
SELECT crm.bulk_assign('contact', 'city = ''Paris''', NULL);
SELECT crm.bulk_assign('order', '', ARRAY['ann']);
SELECT crm.bulk_assign('contact', '{801,802}', ARRAY['ann']);
SELECT crm.bulk_assign('contact', 'citty = ''Paris''', ARRAY['ann']);
-- a member of another workspace is unknown here
SELECT crm.create_workspace('assign-2', 'Other') IS NOT NULL AS created;
SELECT crm.use_workspace('assign-2') IS NOT NULL AS switched;
SELECT (crm.add_member('zoe', 'admin')).role;
SELECT crm.use_workspace('assign') IS NOT NULL AS switched;
SELECT crm.bulk_assign('contact', '', ARRAY['zoe']);
-- ids of another workspace are not targets
SELECT crm.use_workspace('assign-2') IS NOT NULL AS switched;
SELECT crm.bulk_assign_by_id('contact', ARRAY[801, 802]::bigint[], ARRAY['zoe']);
SELECT crm.use_workspace('assign') IS NOT NULL AS switched;
SELECT count(*) AS events_written FROM crm.events WHERE id > (SELECT id FROM mark);
SELECT * FROM owners;

-- as a frontend role with a member's token: an agent may, a viewer may not
CREATE ROLE crm_assign_app;
SELECT crm.grant_access('crm_assign_app');
GRANT SELECT ON owners, mark TO crm_assign_app;
SET ROLE crm_assign_app;
SET request.jwt.claims = '{"sub": "ann"}';
SELECT crm.bulk_assign('contact', 'city = ''Rome''', ARRAY['ann']);
SELECT e.object_id, e.actor, e.payload -> 'changes' AS changes FROM crm.events e
 WHERE e.id > (SELECT id FROM mark) ORDER BY e.id;
SET request.jwt.claims = '{"sub": "vic"}';
SELECT crm.bulk_assign('contact', '', ARRAY['vic']);
RESET request.jwt.claims;
RESET ROLE;
SELECT * FROM owners;
-- the bulk switch
SELECT (crm.set_limit('bulk', 0)).value;
SELECT crm.bulk_assign('contact', '', ARRAY['ann']);
SELECT (crm.set_limit('bulk', 1)).value;

-- leave no rows behind for the files that read every workspace's contacts
RESET crm.workspace_id;
DELETE FROM crm.workspaces WHERE slug IN ('assign', 'assign-2');
DROP OWNED BY crm_assign_app;
DROP ROLE crm_assign_app;
