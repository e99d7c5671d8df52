-- After a hard delete no table of the extension holds the person's email,
-- phone, name or message text: every text, jsonb and array column of every
-- table in schema crm (found from the catalog) is scanned for them.
BEGIN;
SELECT plan(9);

CREATE FUNCTION pg_temp.find_everywhere(needle text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	col record;
	n bigint;
BEGIN
	FOR col IN
		SELECT c.oid::regclass AS rel, a.attname
		  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
		   AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'jsonb'::regtype,
							  'json'::regtype, 'text[]'::regtype, 'name'::regtype)
	LOOP
		EXECUTE format('SELECT count(*) FROM %s WHERE %I::text ILIKE $1', col.rel, col.attname)
			INTO n USING '%' || needle || '%';
		IF n > 0 THEN
			RETURN NEXT format('%s.%s', col.rel, col.attname);
		END IF;
	END LOOP;
END;
$$;

-- a person seen through two channels, merged, with a bit of everything
SELECT crm.identify(email => 'erin.ezra@example.org', name => 'Erin Ezra', phone => '+1 (415) 555-0199',
					properties => '{"nickname": "Erin Ezra"}') AS erin \gset
SELECT crm.identify(identifier => 'visitor-erin', name => 'Erin Ezra', properties => '{"hobby": "zithers"}') AS visitor \gset
SELECT crm.merge_contacts(:erin, :visitor);
SELECT crm.update_contact(:erin, '{"city": "Quahog", "tags": ["zither-fan"]}');
SELECT crm.start_conversation(:erin, 'chat', 'support', 'my secret is plum-kangaroo') AS conv \gset
SELECT crm.add_message(:conv, 'agent', 'Hello Erin Ezra, noted: plum-kangaroo');
SELECT crm.record_consent(:erin, 'email', 'granted', 'signup form of erin.ezra@example.org');
SELECT crm.set_external_id('contact', :erin, 'stripe', 'cus_erin_ezra');
INSERT INTO crm.companies (name, domain) VALUES ('Zithers Inc', 'zithers.example') RETURNING id AS company \gset
SELECT crm.link_company(:erin, :company, 'Erin Ezra''s own company', true);
SELECT crm.log_activity(:erin, 'call', 'Call with Erin Ezra', 'phone +14155550199, email erin.ezra@example.org');
-- someone else, who must be left alone
SELECT crm.identify(email => 'frank@example.org', name => 'Frank') AS frank \gset
SELECT crm.start_conversation(:frank, 'chat', NULL, 'frank says hi');

SELECT ok(EXISTS (SELECT FROM pg_temp.find_everywhere('erin.ezra@example.org')), 'the email is stored before');
SELECT ok(EXISTS (SELECT FROM pg_temp.find_everywhere('plum-kangaroo')), 'the message text is stored before');

SELECT crm.delete_contact(:erin, hard => true);

SELECT is_empty('SELECT * FROM pg_temp.find_everywhere(''erin.ezra@example.org'')', 'no email left anywhere');
SELECT is_empty('SELECT * FROM pg_temp.find_everywhere(''+14155550199'')', 'no phone left anywhere');
SELECT is_empty('SELECT * FROM pg_temp.find_everywhere(''Erin Ezra'')', 'no name left anywhere');
SELECT is_empty('SELECT * FROM pg_temp.find_everywhere(''plum-kangaroo'')', 'no message text left anywhere');
SELECT is_empty('SELECT * FROM pg_temp.find_everywhere(''visitor-erin'')', 'no identifier of the merged record left');
SELECT ok(EXISTS (SELECT FROM pg_temp.find_everywhere('frank says hi')), 'another person''s data is untouched');
SELECT is(ARRAY(SELECT payload FROM crm.events WHERE type = 'CRM_CONTACT_DELETED' AND object_id = :erin ORDER BY id),
		  ARRAY[jsonb_build_object('id', :erin, 'redacted', true), jsonb_build_object('id', :erin, 'hard', true)],
		  'the deletion events (the soft delete, redacted, then the erasure) carry no personal data');

SELECT * FROM finish();
ROLLBACK;
