# crm.merge_contacts() of a duplicate with 1,000 related rows (250
# conversations and their 250 conversation_started activities, 100 notes,
# 150 consents, 100 company links, 150 external ids) against the hand-written
# UPDATEs that re-parent the same rows.  Each run merges a fresh pair; the
# backend's reference cache is warmed by a small merge first (it is built
# once per backend).
bench_sql "
CREATE FUNCTION bench_merge_pair(OUT s bigint, OUT d bigint) LANGUAGE plpgsql AS \$\$
DECLARE co bigint;
BEGIN
	INSERT INTO crm.contacts (name) VALUES ('Survivor') RETURNING id INTO s;
	INSERT INTO crm.contacts (name, tags, properties) VALUES ('Duplicate', '{dup}', '{\"k\": 1}') RETURNING id INTO d;
	INSERT INTO crm.conversations (contact_id, channel) SELECT d, 'chat' FROM generate_series(1, 250);
	INSERT INTO crm.activities (contact_id, type) SELECT d, 'note' FROM generate_series(1, 100);
	INSERT INTO crm.contact_consents (contact_id, channel, status) SELECT d, 'email', 'granted' FROM generate_series(1, 150);
	FOR i IN 1..100 LOOP
		INSERT INTO crm.companies (name) VALUES ('Bench co') RETURNING id INTO co;
		INSERT INTO crm.contact_companies (contact_id, company_id) VALUES (d, co);
	END LOOP;
	INSERT INTO crm.external_ids (object_type, object_id, system, external_id)
	SELECT 'contact', d, 'bench', d || '-' || g FROM generate_series(1, 150) g;
END \$\$;"
bench_sql "
CREATE FUNCTION bench_bare_merge(s bigint, d bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	UPDATE crm.contacts SET status = 'merged', merged_into = s WHERE id = d;
	UPDATE crm.conversations SET contact_id = s WHERE contact_id = d;
	UPDATE crm.activities SET contact_id = s WHERE contact_id = d;
	UPDATE crm.contact_consents SET contact_id = s WHERE contact_id = d;
	UPDATE crm.contact_companies SET contact_id = s WHERE contact_id = d;
	UPDATE crm.external_ids SET object_id = s WHERE object_type = 'contact' AND object_id = d;
END \$\$;"
warm="SELECT * FROM bench_merge_pair() \\gset w_
SELECT crm.merge_contacts(:w_s, :w_d);
SELECT * FROM bench_merge_pair() \\gset"

crm_ms=$(bench_ms "$warm" "SELECT crm.merge_contacts(:s, :d);" 5)
bare_ms=$(bench_ms "$warm" "SELECT bench_bare_merge(:s, :d);" 5)
report "crm.merge_contacts() with 1,000 related rows (ms)" "$crm_ms" "$bare_ms" time "<= 20 ms"
bench_sql "DROP FUNCTION bench_merge_pair(); DROP FUNCTION bench_bare_merge(bigint, bigint)"
