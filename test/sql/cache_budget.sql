-- The per-workspace caches under a budget (crm.cache_budget_mb): with no
-- room at all, every workspace's property definitions and compiled lists
-- are evicted and rebuilt as writes move between workspaces, and every
-- write still sees its own workspace's definitions and lists.
SET TimeZone = 'UTC';
SELECT crm.create_workspace('cache-a', 'Cache A') AS ws_a \gset
SELECT crm.create_workspace('cache-b', 'Cache B') AS ws_b \gset
SELECT crm.create_workspace('cache-c', 'Cache C') AS ws_c \gset
CREATE ROLE crm_cache_app;
SELECT crm.grant_access('crm_cache_app');

-- the same key, three definitions: a number, a code with a pattern, a required select
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'seats', 'number') > 0 AS defined;
SELECT count(*) FROM crm.create_list('Big', 'contact', 'dynamic', 'properties.seats >= 50');
SELECT crm.use_workspace('cache-b') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'seats', 'text', pattern => '[A-Z]{2}-[0-9]+') > 0 AS defined;
SELECT count(*) FROM crm.create_list('Coded', 'contact', 'dynamic', 'properties.seats = ''AB-1''');
SELECT crm.use_workspace('cache-c') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'seats', 'select', options => '{small,large}') > 0 AS defined;
SELECT count(*) FROM crm.create_list('Large', 'contact', 'dynamic', 'properties.seats = ''large''');
RESET crm.workspace_id;

-- what this backend's caches did since the mark
CREATE TEMP TABLE mark AS SELECT * FROM crm_internal.cache_stats();
CREATE TEMP VIEW since AS
SELECT s.cache, s.entries, s.hits - m.hits AS hits, s.misses - m.misses AS misses,
	   s.evictions - m.evictions AS evictions
  FROM crm_internal.cache_stats() s JOIN mark m USING (cache) ORDER BY s.cache;
GRANT SELECT ON since TO crm_cache_app;

-- no room: a frontend role writes rows in A, B, C, A, B, C
SET crm.cache_budget_mb = 0;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
INSERT INTO crm.contacts (name, properties) VALUES ('A1', '{"seats": 80}');
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
INSERT INTO crm.contacts (name, properties) VALUES ('B1', '{"seats": "AB-1"}');
SELECT set_config('crm.workspace_id', :'ws_c', false) IS NOT NULL AS in_c;
INSERT INTO crm.contacts (name, properties) VALUES ('C1', '{"seats": "large"}');
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
INSERT INTO crm.contacts (name, properties) VALUES ('A2', '{"seats": "AB-1"}');	-- B's value, refused in A
INSERT INTO crm.contacts (name, properties) VALUES ('A2', '{"seats": 20}');
UPDATE crm.contacts SET properties = '{"seats": 90}' WHERE name = 'A2';
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
INSERT INTO crm.contacts (name, properties) VALUES ('B2', '{"seats": 80}');	-- A's value, refused in B
INSERT INTO crm.contacts (name, properties) VALUES ('B2', '{"seats": "ZZ-9"}');
SELECT set_config('crm.workspace_id', :'ws_c', false) IS NOT NULL AS in_c;
INSERT INTO crm.contacts (name, properties) VALUES ('C2', '{"seats": "huge"}');	-- not an option of C
INSERT INTO crm.contacts (name, properties) VALUES ('C2', '{"seats": "small"}');
UPDATE crm.contacts SET properties = '{"seats": "large"}' WHERE name = 'C2';
RESET ROLE;
RESET crm.workspace_id;
-- evicted and rebuilt: at most the entry in use is left of each cache
SELECT cache, entries <= 1 AS at_most_one, hits >= 0 AS hits, misses >= 6 AS rebuilt, evictions >= 5 AS evicted FROM since;

-- the rows and the memberships are those of each workspace
SELECT w.slug, c.name, c.properties
  FROM crm.contacts c JOIN crm.workspaces w ON w.id = c.workspace_id
 WHERE w.slug LIKE 'cache-%' ORDER BY w.slug, c.name;
SELECT w.slug, l.name, l.member_count,
	   (SELECT array_agg(c.name ORDER BY c.name) FROM crm.list_members m JOIN crm.contacts c
		   ON c.workspace_id = m.workspace_id AND c.id = m.contact_id
		 WHERE m.workspace_id = l.workspace_id AND m.list_id = l.id) AS members
  FROM crm.lists l JOIN crm.workspaces w ON w.id = l.workspace_id
 WHERE w.slug LIKE 'cache-%' ORDER BY w.slug;
-- ... and equal to recomputing them from scratch
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
SELECT crm.refresh_list(id) AS changed FROM crm.lists WHERE name = 'Big';
SELECT crm.use_workspace('cache-b') IS NOT NULL AS switched;
SELECT crm.refresh_list(id) AS changed FROM crm.lists WHERE name = 'Coded';
SELECT crm.use_workspace('cache-c') IS NOT NULL AS switched;
SELECT crm.refresh_list(id) AS changed FROM crm.lists WHERE name = 'Large';
RESET crm.workspace_id;

-- with room, the same round is served from the cache: no eviction, no rebuild
RESET crm.cache_budget_mb;
SHOW crm.cache_budget_mb;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 85}' WHERE name = 'A1';
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
UPDATE crm.contacts SET properties = '{"seats": "AB-3"}' WHERE name = 'B1';
RESET ROLE;
RESET crm.workspace_id;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 10}' WHERE name = 'A1';
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
UPDATE crm.contacts SET properties = '{"seats": "CD-2"}' WHERE name = 'B1';
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, hits > 0 AS hits, misses, evictions FROM since;
SELECT l.name, l.member_count FROM crm.lists l JOIN crm.workspaces w ON w.id = l.workspace_id
 WHERE w.slug IN ('cache-a', 'cache-b') ORDER BY w.slug;

-- a definition changed in one workspace (B, by a frontend's row write): the
-- other workspaces' entries are used again after one version check, B's
-- property entry alone is built again (a pattern changes no filter: B's
-- compiled lists stay), and B's next write sees the change
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
UPDATE crm.property_definitions SET pattern = '[A-Z]{2}-[0-9]' WHERE key = 'seats' RETURNING key, pattern;
RESET ROLE;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 60}' WHERE name = 'A1';
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, hits > 0 AS hits, misses, evictions FROM since;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_b', false) IS NOT NULL AS in_b;
UPDATE crm.contacts SET properties = '{"seats": "AB-12"}' WHERE name = 'B1';	-- two digits: the new pattern refuses it
UPDATE crm.contacts SET properties = '{"seats": "AB-4"}' WHERE name = 'B1';
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, misses FROM since;
SELECT w.slug, c.name, c.properties
  FROM crm.contacts c JOIN crm.workspaces w ON w.id = c.workspace_id
 WHERE w.slug IN ('cache-a', 'cache-b') AND c.name IN ('A1', 'B1') ORDER BY w.slug;
SELECT l.name, l.member_count FROM crm.lists l JOIN crm.workspaces w ON w.id = l.workspace_id
 WHERE w.slug IN ('cache-a', 'cache-b') ORDER BY w.slug;

-- what a definition change recompiles: A's list 'Big' reads seats, no
-- filter reads tier.  A new label (function path) or history switch (a
-- frontend's row write) changes no filter: the property entry is rebuilt,
-- the compiled lists are not
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'tier', 'number') > 0 AS defined;
RESET crm.workspace_id;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 70}' WHERE name = 'A1';
RESET ROLE;
RESET crm.workspace_id;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'seats', 'number', 'Seats bought') > 0 AS relabelled;
RESET crm.workspace_id;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 75}' WHERE name = 'A1';
UPDATE crm.property_definitions SET label = 'Tier', track_history = false WHERE key = 'tier' RETURNING key, label;
UPDATE crm.contacts SET properties = '{"seats": 45, "tier": 3}' WHERE name = 'A1';
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, misses FROM since;
-- a new type of a property no filter reads: the compiled lists are kept (no
-- filter looked it up); the validation sees the change
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
UPDATE crm.contacts SET properties = properties - 'tier' WHERE name = 'A1';
SELECT crm.define_property('contact', 'tier', 'select', options => '{gold,silver}') > 0 AS retyped;
RESET crm.workspace_id;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": 75, "tier": 3}' WHERE name = 'A1';	-- no longer a tier
UPDATE crm.contacts SET properties = '{"seats": 75, "tier": "gold"}' WHERE name = 'A1';
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, misses FROM since;
-- a new type of the property 'Big' reads: the list is translated under it,
-- and its members are what a recomputation finds (refresh_list: 0 changed)
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
UPDATE crm.contacts SET properties = properties - 'seats';
SELECT crm.define_property('contact', 'seats', 'text') > 0 AS retyped;
RESET crm.workspace_id;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_a', false) IS NOT NULL AS in_a;
UPDATE crm.contacts SET properties = '{"seats": "9"}' WHERE name = 'A1';
UPDATE crm.contacts SET properties = '{"seats": "40"}' WHERE name = 'A2';
UPDATE crm.contacts SET properties = '{"seats": 90}' WHERE name = 'A2';	-- a number no more
RESET ROLE;
RESET crm.workspace_id;
SELECT c.name, c.properties, m.list_id IS NOT NULL AS in_big
  FROM crm.contacts c JOIN crm.workspaces w ON w.id = c.workspace_id
  LEFT JOIN crm.list_members m ON m.workspace_id = c.workspace_id AND m.contact_id = c.id
 WHERE w.slug = 'cache-a' ORDER BY c.name;
SELECT crm.use_workspace('cache-a') IS NOT NULL AS switched;
SELECT crm.refresh_list(id) AS changed FROM crm.lists WHERE name = 'Big';
RESET crm.workspace_id;

-- Only the lists whose filters look a changed definition up are compiled
-- again, and at once.  In D, 'High' compares score numerically and
-- 'Ranked' rank; no filter reads note.  note's type changed by a
-- frontend's row write: nothing is recompiled
SELECT crm.create_workspace('cache-d', 'Cache D') AS ws_d \gset
SELECT crm.use_workspace('cache-d') IS NOT NULL AS switched;
SELECT crm.define_property('contact', 'score', 'text') > 0 AS defined;
SELECT crm.define_property('contact', 'rank', 'number') > 0 AS defined;
SELECT crm.define_property('contact', 'note', 'text') > 0 AS defined;
SELECT count(*) FROM crm.create_list('High', 'contact', 'dynamic', 'properties.score >= 10');
SELECT count(*) FROM crm.create_list('Ranked', 'contact', 'dynamic', 'properties.rank >= 10');
RESET crm.workspace_id;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_d', false) IS NOT NULL AS in_d;
INSERT INTO crm.contacts (name, properties) VALUES
	('D1', '{"score": "9", "rank": 9}'), ('D2', '{"score": "40", "rank": 40}'), ('D3', '{"rank": 12}');
RESET ROLE;
-- which lists the definitions trigger recomputed (each recomputation sets refreshed_at)
CREATE TEMP TABLE refreshed AS
SELECT l.id, l.name, l.refreshed_at FROM crm.lists l WHERE l.workspace_id = :ws_d;
CREATE TEMP VIEW recomputed AS
SELECT r.name, l.refreshed_at IS DISTINCT FROM r.refreshed_at AS recomputed
  FROM refreshed r JOIN crm.lists l USING (id) ORDER BY r.name;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SET ROLE crm_cache_app;
UPDATE crm.property_definitions SET type = 'number' WHERE key = 'note' RETURNING key, type;
UPDATE crm.contacts SET properties = properties || '{"note": 1}' WHERE name = 'D3';
RESET ROLE;
SELECT cache, misses FROM since;
SELECT * FROM recomputed;
-- score becomes a number (a frontend's row write, once no value is text):
-- 'High' is compiled again under it at the next write and now matches
-- 9 < 10 < 12 numerically, 'Ranked' is kept; rank becomes text
-- (crm.define_property): 'Ranked' is compiled again, and a text "40" is no
-- number >= 10 (under the number's plan it would be one)
SET ROLE crm_cache_app;
UPDATE crm.contacts SET properties = properties - 'score';
RESET ROLE;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SET ROLE crm_cache_app;
UPDATE crm.property_definitions SET type = 'number' WHERE key = 'score' RETURNING key, type;
UPDATE crm.contacts SET properties = properties || '{"score": 9}' WHERE name = 'D1';
UPDATE crm.contacts SET properties = properties || '{"score": 12}' WHERE name = 'D3';
UPDATE crm.contacts SET properties = properties || '{"score": "40"}' WHERE name = 'D2';	-- text, refused
RESET ROLE;
SELECT cache, misses FROM since;
SELECT * FROM recomputed;
SELECT crm.use_workspace('cache-d') IS NOT NULL AS switched;
UPDATE crm.contacts SET properties = properties - 'rank';
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SELECT crm.define_property('contact', 'rank', 'text') > 0 AS retyped;
RESET crm.workspace_id;
SET ROLE crm_cache_app;
SELECT set_config('crm.workspace_id', :'ws_d', false) IS NOT NULL AS in_d;
UPDATE crm.contacts SET properties = properties || '{"rank": "40"}' WHERE name = 'D2';
UPDATE crm.contacts SET properties = properties || '{"rank": 40}' WHERE name = 'D1';	-- a number, refused
RESET ROLE;
RESET crm.workspace_id;
SELECT cache, misses FROM since;
SELECT c.name, c.properties, coalesce(string_agg(l.name, ', ' ORDER BY l.name), '') AS lists
  FROM crm.contacts c JOIN crm.workspaces w ON w.id = c.workspace_id
  LEFT JOIN crm.list_members m ON m.workspace_id = c.workspace_id AND m.contact_id = c.id
  LEFT JOIN crm.lists l ON l.id = m.list_id
 WHERE w.slug = 'cache-d' GROUP BY c.name, c.properties ORDER BY c.name;
SELECT crm.use_workspace('cache-d') IS NOT NULL AS switched;
SELECT name, crm.refresh_list(id) AS changed FROM crm.lists WHERE name IN ('High', 'Ranked') ORDER BY name;
RESET crm.workspace_id;
-- a property no filter asks for dropped, and a new one defined: nothing
-- compiled, nothing recomputed
DELETE FROM refreshed;
INSERT INTO refreshed SELECT l.id, l.name, l.refreshed_at FROM crm.lists l WHERE l.workspace_id = :ws_d;
DELETE FROM mark;
INSERT INTO mark SELECT * FROM crm_internal.cache_stats();
SELECT crm.use_workspace('cache-d') IS NOT NULL AS switched;
UPDATE crm.contacts SET properties = properties - 'note';
SELECT crm.drop_property('contact', 'note');
SELECT crm.define_property('contact', 'level', 'number') > 0 AS defined;
UPDATE crm.contacts SET properties = properties || '{"level": 2, "score": 30}' WHERE name = 'D1';
RESET crm.workspace_id;
SELECT cache, misses FROM since WHERE cache = 'dynamic lists';
SELECT * FROM recomputed;
SELECT c.name, l.name AS list FROM crm.contacts c JOIN crm.list_members m ON m.workspace_id = c.workspace_id AND m.contact_id = c.id
  JOIN crm.lists l ON l.id = m.list_id WHERE c.workspace_id = :ws_d ORDER BY c.name, l.name;

-- a bad budget is refused by the setting
SET crm.cache_budget_mb = -1;
-- a budget is memory: units are accepted
SET crm.cache_budget_mb = '1GB';
SHOW crm.cache_budget_mb;
RESET crm.cache_budget_mb;
