-- The schema of extension crm as text, one line per fact, in a stable
-- order: what test/t/upgrade.sh compares between an updated install and a
-- fresh one.  Covers every member object of the extension and, for its
-- tables, every column (in order), default, constraint, index, trigger,
-- policy, privilege and comment.  No OIDs: only names and definitions.
\pset tuples_only on
\pset format unaligned
WITH ext AS (
	SELECT oid FROM pg_extension WHERE extname = 'crm'
), member AS (
	SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
	SELECT c.oid::regclass::text AS name, c.* FROM pg_class c
	  JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
), facts AS (
	-- every member, with its comment and privileges
	SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS line FROM member m
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0) || ' comment: ' || d.description
	  FROM member m JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = 0
	UNION ALL
	-- functions: their whole definition (body, volatility, SECURITY, SET)
	SELECT 'function ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, '-') || E'\n'
		   || pg_get_functiondef(p.oid)
	  FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	 WHERE p.prokind <> 'a'
	UNION ALL
	-- types: enum labels in order, domains' constraints
	SELECT 'type ' || t.oid::regtype || ' labels ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
	  FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
	  JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.oid
	UNION ALL
	SELECT 'type ' || con.contypid::regtype || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
	  FROM pg_constraint con JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = con.contypid
	UNION ALL
	-- relations: kind, options, row security, privileges, view text
	SELECT 'relation ' || r.name || ' kind ' || r.relkind::text || ' options ' || coalesce(r.reloptions::text, '-')
		   || ' rls ' || r.relrowsecurity || '/' || r.relforcerowsecurity || ' acl ' || coalesce(r.relacl::text, '-')
	  FROM rel r
	UNION ALL
	SELECT 'view ' || r.name || E'\n' || pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	-- columns in their order: a column an upgrade adds must be where a fresh install has it
	SELECT format('column %s #%s %s %s%s%s%s%s', r.name, rank() OVER (PARTITION BY r.oid ORDER BY a.attnum), a.attname,
				  format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
				  coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
				  CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END,
				  coalesce(' comment: ' || col_description(r.oid, a.attnum), ''))
	  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
	 WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
	UNION ALL
	SELECT 'constraint ' || r.name || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
	  FROM rel r JOIN pg_constraint con ON con.conrelid = r.oid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	  FROM rel r JOIN pg_index i ON i.indrelid = r.oid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'O' THEN '' ELSE ' enabled ' || t.tgenabled::text END
	  FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
	UNION ALL
	SELECT format('policy %s %s %s %s %s using %s check %s', r.name, p.polname, p.polcmd, p.polpermissive,
				  (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE x::regrole::text END, ',' ORDER BY 1) FROM unnest(p.polroles) x),
				  coalesce(pg_get_expr(p.polqual, p.polrelid), '-'), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'))
	  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
	UNION ALL
	SELECT 'sequence ' || r.name || format(' %s %s %s %s %s', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax)
	  FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
	UNION ALL
	-- what pg_dump keeps of the extension's tables
	SELECT 'dumped ' || c::regclass || ' where ' || coalesce(w, '-')
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, w) WHERE e.extname = 'crm'
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
	  FROM pg_namespace n JOIN member m ON m.classid = 'pg_namespace'::regclass AND m.objid = n.oid
)
SELECT line FROM facts ORDER BY line COLLATE "C";
