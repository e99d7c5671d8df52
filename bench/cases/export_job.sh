# crm.start_export('contacts') of $SCALE contacts, timed from the call to the
# job's end (the worker's keyset batches, each committed, the rows written
# as jsonb to the job's results), against \copy of the hand-written
# statement that reads the same columns to '/dev/null' (the bare read of
# bench/cases/export.sh).  No target in the issue: this shows what running
# in the background and keeping the result costs.  Sourced by bench/run.
# Without a target it runs with BENCH_DIAGNOSTICS=1 only (the default
# run's time).
bench_diagnostic "crm.start_export() job, batches of 1000 and 10000, vs \\copy SELECT ($SCALE)" || return 0

bench_sql "
SELECT crm.define_property('contact', 'plan', 'select', options => ARRAY['free', 'pro', 'team', 'enterprise']);
INSERT INTO crm.contacts (name, email, city, properties)
SELECT 'Person ' || g, 'user' || g || '@example.com', (ARRAY['Paris', 'Rome', NULL])[1 + g % 3],
	   jsonb_build_object('plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + g % 4], 'utm_source', 'ads' || g % 7)
  FROM generate_series(1, $SCALE) g;
ANALYZE;"

bare="SELECT c.id, c.name, c.email, c.phone, c.identifier, c.verified_id, c.identity_source, c.avatar_url, c.city, c.country,
	c.lifecycle_stage, c.status, c.merged_into, c.owner, c.blocked, c.tags, c.conversation_count,
	(SELECT count(*) FROM crm.activities a WHERE a.workspace_id = c.workspace_id AND a.contact_id = c.id),
	co.id, co.name, c.first_seen_at, c.last_seen_at, c.created_at, c.updated_at, c.deleted_at,
	c.properties - ARRAY(SELECT jsonb_object_keys(c.properties - '{plan}'::text[])), c.properties - '{plan}'::text[],
	c.street, c.address_line2, c.region, c.postal_code, c.linkedin, c.x, c.instagram, c.facebook, c.github, c.website
  FROM crm.contacts c
  LEFT JOIN crm.contact_companies cc ON cc.workspace_id = c.workspace_id AND cc.contact_id = c.id AND cc.is_primary
  LEFT JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id
 WHERE c.workspace_id = 1 AND c.status < 'merged'
 ORDER BY c.id"

# the start commits inside the DO block, so the worker runs while it waits
export_job_sql() {	# export_job_sql BATCH_SIZE
	echo "DO \$\$ DECLARE job bigint; BEGIN
		job := crm.start_export('contacts', '', '{\"batch_size\": $1}');
		COMMIT;
		WHILE (SELECT status FROM crm.jobs WHERE id = job) IN ('queued', 'running') LOOP
			PERFORM pg_sleep(0.01);
		END LOOP;
		IF (SELECT processed_rows FROM crm.jobs WHERE id = job) <> $SCALE THEN
			RAISE EXCEPTION 'job % did not export every row', job;
		END IF;
	END \$\$;"
}
for batch in 1000 10000; do
	read -r crm_ms bare_ms < <(bench_pair \
		"SET client_min_messages = warning; TRUNCATE crm.jobs CASCADE;" \
		"$(export_job_sql $batch)" \
		"" "\\copy ($(echo $bare)) TO '/dev/null' CSV HEADER" 3)
	report "crm.start_export() job, batches of $batch, vs \\copy SELECT ($SCALE)" "$crm_ms" "$bare_ms" time "-"
done
