# crm.merge_contacts() of a duplicate with 1,000 related rows (250
# conversations and their 250 conversation_started activities, 100 calls,
# 150 consents, 100 company links, 150 external ids) against the hand-written
# UPDATEs that re-parent the same rows, without the extension's triggers
# (session_replication_role replica: the contact rules refuse a hand-written
# merge since 0.3.0).  Each run merges a fresh pair; the
# backend's reference cache is warmed by a small merge first (it is built
# once per backend).
bench_sql "
CREATE FUNCTION bench_merge_pair(OUT s bigint, OUT d bigint) LANGUAGE plpgsql AS \$\$
DECLARE co bigint;
BEGIN
	INSERT INTO crm.contacts (name) VALUES ('Survivor') RETURNING id INTO s;
	INSERT INTO crm.contacts (name, tags, properties) VALUES ('Duplicate', '{dup}', '{\"k\": 1}') RETURNING id INTO d;
	INSERT INTO crm.conversations (contact_id, channel) SELECT d, 'chat' FROM generate_series(1, 250);
	INSERT INTO crm.activities (contact_id, type) SELECT d, 'call' FROM generate_series(1, 100);
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
	PERFORM set_config('session_replication_role', 'replica', true);
	UPDATE crm.contacts SET status = 'merged', merged_into = s WHERE id = d;
	UPDATE crm.conversations SET contact_id = s WHERE contact_id = d;
	UPDATE crm.activities SET contact_id = s WHERE contact_id = d;
	UPDATE crm.contact_consents SET contact_id = s WHERE contact_id = d;
	UPDATE crm.contact_companies SET contact_id = s WHERE contact_id = d;
	UPDATE crm.external_ids SET object_id = s WHERE object_type = 'contact' AND object_id = d;
END \$\$;"
# The workspace holds 10,000 other contacts, as one whose duplicates have
# 1,000 related rows does: in a workspace of a few dozen contacts (one
# page) the planner checks each moved row's foreign key with a sequential
# scan of crm.contacts, every dead and locked row version of the merges
# before it included, where any real workspace probes the primary key; that
# cost about an eighth of the merge (docs/performance.md).
bench_sql "INSERT INTO crm.contacts (name) SELECT 'Other ' || g FROM generate_series(1, 10000) g"
# Statistics as autovacuum keeps them, for both sides: every run's setup
# analyzes the tables it grew, before the warming merge plans.  The tables
# are filled in seconds, and a plan made from missing or outgrown statistics
# (PostgreSQL's foreign-key checks, kept for the backend's life) read every
# contact of the workspace by a workspace-prefix index for each moved row,
# so a run's time depended on whether autovacuum had come by yet
# (docs/performance.md).
analyze="ANALYZE crm.contacts, crm.conversations, crm.activities, crm.contact_consents,
	crm.contact_companies, crm.companies, crm.notes, crm.external_ids, crm.merges;"
warm="SELECT * FROM bench_merge_pair() \\gset w_
SELECT * FROM bench_merge_pair() \\gset
$analyze
SELECT crm.merge_contacts(:w_s, :w_d);"

read -r crm_ms bare_ms < <(bench_pair "$warm" "SELECT crm.merge_contacts(:s, :d);" \
	"$warm" "SELECT bench_bare_merge(:s, :d);")
report "crm.merge_contacts() with 1,000 related rows (ms)" "$crm_ms" "$bare_ms" time "<= 20 ms"

# crm.unmerge() of that merge: the duplicate live again and its 1,000 rows
# moved back, against the hand-written UPDATEs that move them back.  The
# merge runs in the setup, outside the timed part.
bench_sql "
CREATE FUNCTION bench_bare_unmerge(s bigint, d bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM set_config('session_replication_role', 'replica', true);
	UPDATE crm.contacts SET status = 'active', merged_into = NULL WHERE id = d;
	UPDATE crm.conversations SET contact_id = d WHERE contact_id = s;
	UPDATE crm.activities SET contact_id = d WHERE contact_id = s;
	UPDATE crm.contact_consents SET contact_id = d WHERE contact_id = s;
	UPDATE crm.contact_companies SET contact_id = d WHERE contact_id = s;
	UPDATE crm.external_ids SET object_id = d WHERE object_type = 'contact' AND object_id = s;
END \$\$;"
read -r crm_ms bare_ms < <(bench_pair "$warm
SELECT crm.merge_contacts(:s, :d);
SELECT max(id) AS m FROM crm.merges \\gset" "SELECT crm.unmerge(:m);" \
	"$warm
SELECT bench_bare_merge(:s, :d);" "SELECT bench_bare_unmerge(:s, :d);")
report "crm.unmerge() of a contact with 1,000 related rows (ms)" "$crm_ms" "$bare_ms" time "<= 20 ms"
bench_sql "DROP FUNCTION bench_merge_pair(); DROP FUNCTION bench_bare_merge(bigint, bigint);
DROP FUNCTION bench_bare_unmerge(bigint, bigint)"

# crm.merge_companies() and crm.unmerge() of a company with 1,000 related
# rows (400 contact links, half of them to contacts linked to the survivor
# too, so dropped and filled; 300 notes; 300 external ids), against the
# hand-written statements: re-parent and delete, insert and move back.
bench_sql "
CREATE FUNCTION bench_company_pair(OUT s bigint, OUT d bigint) LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO crm.companies (name) VALUES ('Survivor') RETURNING id INTO s;
	INSERT INTO crm.companies (name, industry, tags) VALUES ('Duplicate', 'Retail', '{dup}') RETURNING id INTO d;
	WITH c AS (INSERT INTO crm.contacts (name) SELECT 'Bench ' || g FROM generate_series(1, 400) g RETURNING id)
	INSERT INTO crm.contact_companies (contact_id, company_id, role) SELECT c.id, d, 'buyer' FROM c;
	INSERT INTO crm.contact_companies (contact_id, company_id)
	SELECT contact_id, s FROM crm.contact_companies WHERE company_id = d ORDER BY contact_id LIMIT 200;
	INSERT INTO crm.notes (company_id, body) SELECT d, 'note ' || g FROM generate_series(1, 300) g;
	INSERT INTO crm.external_ids (object_type, object_id, system, external_id)
	SELECT 'company', d, 'bench', d || '-' || g FROM generate_series(1, 300) g;
END \$\$;"
bench_sql "
CREATE FUNCTION bench_bare_company_merge(s bigint, d bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM set_config('session_replication_role', 'replica', true);
	DELETE FROM crm.contact_companies x WHERE company_id = d
	   AND EXISTS (SELECT FROM crm.contact_companies y WHERE y.company_id = s AND y.contact_id = x.contact_id);
	UPDATE crm.contact_companies SET company_id = s WHERE company_id = d;
	UPDATE crm.notes SET company_id = s WHERE company_id = d;
	UPDATE crm.external_ids SET object_id = s WHERE object_type = 'company' AND object_id = d;
	UPDATE crm.companies SET industry = 'Retail' WHERE id = s;
	DELETE FROM crm.companies WHERE id = d;
END \$\$;"
bench_sql "
CREATE FUNCTION bench_bare_company_unmerge(s bigint, d bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM set_config('session_replication_role', 'replica', true);
	INSERT INTO crm.companies (id, name, industry, tags) VALUES (d, 'Duplicate', 'Retail', '{dup}');
	UPDATE crm.companies SET industry = NULL WHERE id = s;
	UPDATE crm.contact_companies SET company_id = d WHERE company_id = s AND role IS NOT NULL;
	INSERT INTO crm.contact_companies (contact_id, company_id, role)
	SELECT contact_id, d, 'buyer' FROM crm.contact_companies WHERE company_id = s;
	UPDATE crm.notes SET company_id = d WHERE company_id = s;
	UPDATE crm.external_ids SET object_id = d WHERE object_type = 'company' AND object_id = s;
END \$\$;"
cwarm="SELECT * FROM bench_company_pair() \\gset w_
SELECT * FROM bench_company_pair() \\gset
$analyze
SELECT crm.merge_companies(:w_s, :w_d);"
read -r crm_ms bare_ms < <(bench_pair "$cwarm" "SELECT crm.merge_companies(:s, :d);" \
	"$cwarm" "SELECT bench_bare_company_merge(:s, :d);")
report "crm.merge_companies() with 1,000 related rows (ms)" "$crm_ms" "$bare_ms" time "<= 20 ms"
read -r crm_ms bare_ms < <(bench_pair "$cwarm
SELECT crm.merge_companies(:s, :d);
SELECT max(id) AS m FROM crm.merges \\gset" "SELECT crm.unmerge(:m);" \
	"$cwarm
SELECT bench_bare_company_merge(:s, :d);" "SELECT bench_bare_company_unmerge(:s, :d);")
report "crm.unmerge() of a company with 1,000 related rows (ms)" "$crm_ms" "$bare_ms" time "<= 20 ms"
bench_sql "DROP FUNCTION bench_company_pair(); DROP FUNCTION bench_bare_company_merge(bigint, bigint);
DROP FUNCTION bench_bare_company_unmerge(bigint, bigint)"
