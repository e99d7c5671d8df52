# crm.export_contacts() streamed to CSV against the hand-written statement
# that reads the same columns (the contact, its primary company, the
# properties split by the declared keys) from the same tables, both through
# \copy ... TO '/dev/null' CSV HEADER.  No target: the issue asks for
# constant memory (docs/import-export.md), this shows what the cursor and
# the row-at-a-time function cost.  Sourced by bench/run.  Without a
# target it runs with BENCH_DIAGNOSTICS=1 only (the default run's time).
bench_diagnostic "crm.export_contacts() vs hand-written SELECT, \\copy ($SCALE)" || return 0

bench_sql "
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'team', 'enterprise']);
SELECT crm.define_property('contact', 'seats', 'number');
INSERT INTO crm.companies (name, domain) SELECT 'Company ' || g, 'company' || g || '.example' FROM generate_series(1, greatest($SCALE / 20, 10)) g;
INSERT INTO crm.contacts (name, email, city, tags, properties)
SELECT 'Person ' || g, 'user' || g || '@example.com', (ARRAY['Paris', 'Rome', NULL])[1 + g % 3],
	   CASE WHEN g % 25 = 0 THEN '{vip}' ELSE '{}' END::text[],
	   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + g % 4], 'seats', g % 50, 'utm_source', 'ads' || g % 7)
  FROM generate_series(1, $SCALE) g;
INSERT INTO crm.contact_companies (contact_id, company_id, is_primary)
SELECT c.id, 1 + c.id % greatest($SCALE / 20, 10), true FROM crm.contacts c WHERE c.id % 3 <> 0;
ANALYZE;"

bare="SELECT c.id, c.name, c.email, c.phone, c.identifier, c.verified_id, c.identity_source, c.avatar_url, c.city, c.country,
	c.lifecycle_stage, c.status, c.merged_into, c.owner, c.blocked, c.tags, c.conversation_count,
	(SELECT count(*) FROM crm.activities a WHERE a.workspace_id = c.workspace_id AND a.contact_id = c.id),
	co.id, co.name, c.first_seen_at, c.last_seen_at, c.created_at, c.updated_at, c.deleted_at,
	c.properties - ARRAY(SELECT jsonb_object_keys(c.properties - '{plan,seats}'::text[])), c.properties - '{plan,seats}'::text[],
	c.street, c.address_line2, c.region, c.postal_code, c.linkedin, c.x, c.instagram, c.facebook, c.github, c.website
  FROM crm.contacts c
  LEFT JOIN crm.contact_companies cc ON cc.workspace_id = c.workspace_id AND cc.contact_id = c.id AND cc.is_primary
  LEFT JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id
 WHERE c.workspace_id = 1 AND c.status < 'merged'
 ORDER BY c.id"
read -r crm_ms bare_ms < <(bench_pair "" "\\copy (SELECT * FROM crm.export_contacts()) TO '/dev/null' CSV HEADER" \
	"" "\\copy ($(echo $bare)) TO '/dev/null' CSV HEADER" 3)
report "crm.export_contacts() vs hand-written SELECT, \\copy ($SCALE)" "$crm_ms" "$bare_ms" time "-"
