-- Every row of every table of schema crm and every sequence's state, as one
-- line per relation (row count and a hash of the rows as JSON), for
-- test/t/upgrade.sh.  Two psql variables shape it:
--   keep  'on': only the relations and columns listed in
--         public.upgrade_columns (those before an update: nothing there may
--         change; what the update adds is compared with a fresh install);
--   times 'off': columns of time and transaction-id types left out and
--         timestamps inside JSON masked (two loads of the same data differ
--         only in when they ran).
-- crm.value_history is left out: the history of values begins when it is
-- installed, so a database updated to 0.3.0 has none of what a fresh
-- install recorded while the same data was loaded (test/sql/history.sql
-- checks its rows).  So is crm.merges: merges before the update have no
-- record (test/sql/unmerge.sql checks its rows).
-- Compared with a fresh install (keep 'off'), crm.events leaves out what
-- 0.3.0's conversations add while the data loads (test/sql/conversations.sql
-- checks those): the CRM_CONVERSATION_* and CRM_MESSAGE_* events, contacts.last_conversation_at
-- in a change, and the contact updates that changed nothing else; ids (and
-- crm.events_id_seq) shift with them and are left out too.
\set ON_ERROR_STOP on
\pset tuples_only on
\pset format unaligned
SELECT set_config('crm_test.keep', :'keep', false), set_config('crm_test.times', :'times', false) \g /dev/null
CREATE TEMP TABLE fingerprint (line text);
CREATE TEMP TABLE keep_columns (rel text, columns text[]);
\if :keep
INSERT INTO keep_columns SELECT rel, columns FROM public.upgrade_columns;
\endif
DO $$
DECLARE
	r record;
	row_json text;
	line text;
BEGIN
	FOR r IN SELECT c.oid::regclass AS rel, c.relkind,
					array(SELECT a.attname::text FROM pg_attribute a
						   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
							 AND (current_setting('crm_test.times') = 'on'
								  OR a.atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'xid8'::regtype, 'xid'::regtype))
							 AND (current_setting('crm_test.keep') = 'off'
								  OR a.attname::text = ANY (coalesce((SELECT k.columns FROM pg_temp.keep_columns k WHERE k.rel = c.oid::regclass::text), '{}'))))
					AS columns
			   FROM pg_class c
			  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'S')
				AND c.relname NOT IN ('value_history', 'value_history_id_seq', 'merges', 'merges_id_seq')
				AND (current_setting('crm_test.keep') = 'off'
					 OR EXISTS (SELECT FROM pg_temp.keep_columns k WHERE k.rel = c.oid::regclass::text))
			  ORDER BY 1::text LOOP
		IF current_setting('crm_test.keep') = 'off' AND r.rel::text = 'crm.events_id_seq' THEN
			CONTINUE;
		ELSIF r.relkind = 'S' THEN
			EXECUTE format('SELECT %L || '' last_value='' || last_value || '' is_called='' || is_called FROM %s', r.rel, r.rel) INTO line;
		ELSE
			row_json := format('(SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(t)) AS e(k, v) WHERE k = ANY (%L))::text',
							   r.columns);
			IF current_setting('crm_test.times') = 'off' THEN
				row_json := format('regexp_replace(%s, %L, ''<time>'', ''g'')', row_json,
								   '\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?|Z)?');
			END IF;
			EXECUTE format('SELECT %L || '' rows='' || count(*) || '' md5='' || coalesce(md5(string_agg(j, '','' ORDER BY j)), ''-'')
							  FROM (SELECT %s AS j FROM %s t) s', r.rel, row_json,
						   CASE WHEN current_setting('crm_test.keep') = 'off' AND r.rel::text = 'crm.events'
								THEN '(SELECT e.workspace_id, e.type, e.object_type, e.object_id, e.actor,
											  e.payload #- ''{changes,last_conversation_at}'' AS payload
										 FROM crm.events e
										WHERE e.type NOT LIKE ''CRM\_CONVERSATION\_%''
										  AND e.type NOT LIKE ''CRM\_MESSAGE\_%''
										  AND e.payload #- ''{changes,last_conversation_at}'' IS DISTINCT FROM
											  jsonb_build_object(''id'', e.object_id, ''changes'', ''{}''::jsonb))'
								ELSE r.rel::text END) INTO line;
		END IF;
		INSERT INTO fingerprint VALUES (line);
	END LOOP;
END $$;
SELECT line FROM fingerprint ORDER BY line COLLATE "C";
