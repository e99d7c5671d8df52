--
-- Deleting contacts and the GDPR rights of access and erasure (SPEC §6).
--
-- A person is a live contact plus the contacts merged into it.  Erasure keeps
-- an anonymous tombstone row (id, status 'deleted', counters, timestamps):
-- conversations must outlive the person with their bodies redacted, and
-- conversations.contact_id is NOT NULL.  Every other reference is found in
-- crm.contact_reference_map: a foreign key declared ON DELETE SET NULL
-- (deals, orders: amounts stay, the link goes) is unlinked, any other
-- reference row is removed.
--

--
-- What a person leaves outside the rows that reference them: the words their
-- name and email brought into the fuzzy-search dictionary (crm.search_words;
-- those nobody else uses go), the payloads of their events (the outbox
-- keeps that something happened to these ids, not what) and the history of
-- their values (crm.value_history).  Used by erasure and by a row DELETE of
-- contacts.
--
CREATE FUNCTION crm_internal.forget_contacts(ws bigint, people bigint[], names text[], emails text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	words text[];
BEGIN
	SELECT array_agg(DISTINCT w.word) INTO words
	  FROM (SELECT unnest(crm_hidden.search_words_of(n.v)) FROM unnest(names) n(v)
			UNION ALL
			SELECT unnest(crm_hidden.search_words_of(split_part(e.v, '@', 1))) FROM unnest(emails) e(v)) w(word);

	DELETE FROM crm.search_words sw
	 WHERE sw.workspace_id = ws AND sw.field IN (1, 2) AND sw.word = ANY (words)
	   AND NOT EXISTS (
			SELECT 1 FROM crm.contacts c
			 WHERE c.workspace_id = ws
			   AND CASE sw.field
					 WHEN 1 THEN c.name ILIKE '%' || sw.word || '%'
								 AND sw.word = ANY (crm_hidden.search_words_of(c.name))
					 ELSE c.email ILIKE '%' || sw.word || '%'
						  AND sw.word = ANY (crm_hidden.search_words_of(split_part(c.email, '@', 1)))
				   END);

	-- the payload by casts, which are immutable: Citus takes no STABLE
	-- function (jsonb_build_object) of a column in an UPDATE
	UPDATE crm.events e SET payload = ('{"id": ' || e.object_id::text || ', "redacted": true}')::jsonb
	 WHERE e.workspace_id = ws AND e.object_type = 'contact' AND e.object_id = ANY (people)
	   AND e.payload IS DISTINCT FROM ('{"id": ' || e.object_id::text || ', "redacted": true}')::jsonb;

	-- the values they had, and the erasure's own changes of them
	DELETE FROM crm.value_history h
	 WHERE h.workspace_id = ws AND h.object_type = 'contact' AND h.object_id = ANY (people);

	-- and the merge records' copies of them
	PERFORM crm_internal.forget_merges(ws, people);
END;
$$;

-- A row DELETE removes the contact and, by cascade, what hangs on it; the
-- traces above go with it (as the owner: granted roles cannot write them).
CREATE FUNCTION crm_internal.contacts_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT o.workspace_id, array_agg(o.id) AS people, array_agg(o.name) AS names,
			   array_agg(coalesce(o.email, o.released_keys ->> 'email')) AS emails
		  FROM old_rows o GROUP BY o.workspace_id
	LOOP
		PERFORM crm_internal.forget_contacts(r.workspace_id, r.people, r.names, r.emails);
	END LOOP;
	RETURN NULL;
END;
$$;
-- by name after contacts_events_delete, so the deletion's own event is redacted too
CREATE TRIGGER contacts_forget AFTER DELETE ON crm.contacts
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.contacts_forget();

-- A soft delete, by crm.delete_contact or by a row update, is an event of its own.
-- SECURITY DEFINER: the outbox is the extension's to write (crm_internal.emit_event_in)
CREATE FUNCTION crm_internal.contacts_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM crm_internal.emit_event_in(NEW.workspace_id, 'CRM_CONTACT_DELETED', 'contact', NEW.id,
						   jsonb_build_object('id', NEW.id, 'hard', false));
	RETURN NULL;
END;
$$;
CREATE TRIGGER contacts_deleted AFTER UPDATE OF status ON crm.contacts
	FOR EACH ROW
	WHEN (OLD.status OPERATOR(pg_catalog.<) 'merged'::crm.contact_status
		  AND NEW.status OPERATOR(pg_catalog.=) 'deleted'::crm.contact_status)
	EXECUTE FUNCTION crm_internal.contacts_deleted();

-- SECURITY DEFINER: erasure also cleans the outbox and the search dictionary,
-- which no granted role writes; the caller needs UPDATE on contacts.
CREATE FUNCTION crm.delete_contact(contact_id bigint, hard boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	cur crm.contacts;
	people bigint[];
	names text[];
	emails text[];
	ref record;
	-- a value, not now() in the statement: Citus takes no STABLE function in a COALESCE
	erased_at timestamptz := now();
BEGIN
	PERFORM crm_internal.require_caller_privilege('crm.contacts', 'UPDATE');
	SELECT * INTO cur FROM crm.contacts c
	 WHERE c.workspace_id = ws AND c.id = delete_contact.contact_id FOR UPDATE;
	-- as the owner it reads past owner-based privacy: a contact the
	-- restricted caller does not see is missing to them (docs/members.md)
	IF NOT FOUND OR (crm_internal.privacy_owned(ws) IS NOT NULL
					 AND cur.owner IS DISTINCT FROM crm.current_user_id()
					 AND cur.id <> ALL (crm_internal.privacy_deal_contacts(ws))) THEN
		RAISE EXCEPTION 'contact % does not exist', coalesce(delete_contact.contact_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Check the id; contacts of other workspaces are not visible here.';
	END IF;
	IF cur.status = 'merged' THEN
		RAISE EXCEPTION 'contact % was merged into contact %', cur.id, cur.merged_into
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Delete the person through the live contact: crm.delete_contact(crm.resolve_contact(%s)).', cur.id);
	END IF;
	IF cur.status = 'deleted' AND NOT coalesce(hard, false) THEN
		RAISE EXCEPTION 'contact % is already deleted', cur.id
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass hard => true to erase its personal data as well.';
	END IF;

	-- the soft delete is the row update a frontend makes (contacts_deleted)
	IF cur.status <> 'deleted' THEN
		UPDATE crm.contacts c SET status = 'deleted'
		 WHERE c.workspace_id = ws AND c.id = cur.id;
	END IF;
	IF NOT coalesce(hard, false) THEN
		RETURN cur.id;
	END IF;

	-- lock the merged records too: they hold the same person's data
	SELECT array_agg(c.id ORDER BY c.id) INTO people
	  FROM (SELECT c.id FROM crm.contacts c
			 WHERE c.workspace_id = ws AND (c.id = cur.id OR c.merged_into = cur.id)
			 ORDER BY c.id FOR UPDATE) c;

	UPDATE crm.messages m SET body = '[redacted]'
	  FROM crm.conversations cv
	 WHERE cv.workspace_id = ws AND cv.contact_id = ANY (people)
	   AND m.workspace_id = cv.workspace_id AND m.conversation_id = cv.id;
	UPDATE crm.conversations cv SET properties = '{}', inbox = NULL
	 WHERE cv.workspace_id = ws AND cv.contact_id = ANY (people);

	FOR ref IN
		SELECT m.rel, m.workspace_column, m.id_column, m.type_column, m.type_value, m.on_delete
		  FROM crm.contact_reference_map m
		 WHERE m.rel <> ALL (ARRAY['crm.contacts'::regclass, 'crm.conversations'::regclass])
	LOOP
		IF ref.on_delete = 'set_null' THEN
			EXECUTE format('UPDATE %s SET %I = NULL WHERE %I = $1 AND %I = ANY ($2)',
						   ref.rel, ref.id_column, ref.workspace_column, ref.id_column)
				USING ws, people;
		ELSIF ref.type_column IS NULL THEN
			EXECUTE format('DELETE FROM %s WHERE %I = $1 AND %I = ANY ($2)',
						   ref.rel, ref.workspace_column, ref.id_column)
				USING ws, people;
		ELSE
			EXECUTE format('DELETE FROM %s WHERE %I = $1 AND %I = ANY ($2) AND %I = $3',
						   ref.rel, ref.workspace_column, ref.id_column, ref.type_column)
				USING ws, people, ref.type_value;
		END IF;
	END LOOP;

	SELECT array_agg(c.name), array_agg(coalesce(c.email, c.released_keys ->> 'email')) INTO names, emails
	  FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = ANY (people);

	UPDATE crm.contacts c
	   SET name = NULL, email = NULL, phone = NULL, identifier = NULL, verified_id = NULL,
		   identity_source = 'anonymous', avatar_url = NULL, city = NULL, country = NULL,
		   lifecycle_stage = NULL, owner = NULL, tags = '{}', properties = '{}', released_keys = NULL,
		   deleted_at = coalesce(c.deleted_at, erased_at),
		   street = NULL, address_line2 = NULL, region = NULL, postal_code = NULL,
		   linkedin = NULL, x = NULL, instagram = NULL, facebook = NULL, github = NULL, website = NULL
	 WHERE c.workspace_id = ws AND c.id = ANY (people);

	PERFORM crm_internal.forget_contacts(ws, people, names, emails);
	-- the person's access exports (crm.start_export) hold the same data
	DELETE FROM crm.jobs j
	 WHERE j.workspace_id = ws AND j.kind = 'export' AND j.object = 'contact_access' AND j.contact_id = ANY (people);
	PERFORM crm.emit_event('CRM_CONTACT_DELETED', 'contact', cur.id,
						   jsonb_build_object('id', cur.id, 'hard', true));
	RETURN cur.id;
END;
$$;
COMMENT ON FUNCTION crm.delete_contact(bigint, boolean) IS
	E'@name remove_contact\nsoft delete (status deleted, hidden from crm.contacts_live) or, with hard, irreversible erasure of the person''s data everywhere';

CREATE FUNCTION crm.export_contact(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	cur crm.contacts;
	people bigint[];
	ref record;
	rows jsonb;
	result jsonb;
BEGIN
	PERFORM crm_hidden.require_switch('export');
	SELECT * INTO cur FROM crm.contacts c WHERE c.workspace_id = ws AND c.id = export_contact.contact_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'contact % does not exist', coalesce(export_contact.contact_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Check the id; contacts of other workspaces are not visible here.';
	END IF;
	IF cur.status = 'merged' THEN
		RAISE EXCEPTION 'contact % was merged into contact %', cur.id, cur.merged_into
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Export the live contact: crm.export_contact(crm.resolve_contact(%s)).', cur.id);
	END IF;
	SELECT array_agg(c.id ORDER BY c.id) INTO people FROM crm.contacts c
	 WHERE c.workspace_id = ws AND (c.id = cur.id OR c.merged_into = cur.id);

	result := jsonb_build_object(
		'exported_at', now(),
		'profile', to_jsonb(cur),
		'merged_records', coalesce((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.id) FROM crm.contacts c
									 WHERE c.workspace_id = ws AND c.merged_into = cur.id), '[]'));

	-- every table that references contacts, under its own name
	FOR ref IN
		SELECT m.rel, c.relname, m.workspace_column, m.id_column, m.type_column, m.type_value
		  FROM crm.contact_reference_map m JOIN pg_class c ON c.oid = m.rel
		 WHERE m.rel <> 'crm.contacts'::regclass
		 ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t)), ''[]'') FROM %s t WHERE t.%I = $1 AND t.%I = ANY ($2)%s',
					   ref.rel, ref.workspace_column, ref.id_column,
					   CASE WHEN ref.type_column IS NULL THEN ''
							ELSE format(' AND t.%I = %L', ref.type_column, ref.type_value) END)
			INTO rows USING ws, people;
		result := result || jsonb_build_object(ref.relname,
			coalesce(result -> ref.relname::text, '[]') || rows);
	END LOOP;

	-- what the rows above only point at: the messages and the companies
	result := result || jsonb_build_object(
		'conversations', coalesce((
			SELECT jsonb_agg(to_jsonb(cv) || jsonb_build_object('messages',
					   coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.sent_at, m.id) FROM crm.messages m
								  WHERE m.workspace_id = ws AND m.conversation_id = cv.id), '[]'))
					   ORDER BY cv.started_at, cv.id)
			  FROM crm.conversations cv WHERE cv.workspace_id = ws AND cv.contact_id = ANY (people)), '[]'),
		'companies', coalesce((
			SELECT jsonb_agg(jsonb_build_object('company_id', co.id, 'name', co.name, 'domain', co.domain,
												'role', cc.role, 'is_primary', cc.is_primary) ORDER BY co.id)
			  FROM crm.contact_companies cc
			  JOIN crm.companies co ON co.workspace_id = cc.workspace_id AND co.id = cc.company_id
			 WHERE cc.workspace_id = ws AND cc.contact_id = ANY (people)), '[]'),
		'consents', coalesce((
			SELECT jsonb_agg(to_jsonb(cs) ORDER BY cs.channel) FROM crm.current_consents cs
			 WHERE cs.workspace_id = ws AND cs.contact_id = ANY (people)), '[]'),
		-- the values the person's records had, and who changed them
		'value_history', coalesce((
			SELECT jsonb_agg(to_jsonb(h) ORDER BY h.changed_at, h.id) FROM crm.value_history h
			 WHERE h.workspace_id = ws AND h.object_type = 'contact' AND h.object_id = ANY (people)), '[]'));
	RETURN result;
END;
$$;
COMMENT ON FUNCTION crm.export_contact(bigint) IS
	'everything held about a person (GDPR access request): profile, merged records, the rows of every table that references the contact, and the history of its values';
