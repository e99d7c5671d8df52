--
-- Owner-based privacy (docs/members.md, src/privacy.c).  In a workspace
-- whose privacy is 'owner', a member without see_all sees and changes only
-- the deals they own or their team's, the contacts they own or of a deal
-- they see, and the rows that hang off those.  The row-level policies hold
-- it, so every read path is covered at once; this file runs after
-- sql/tenancy.sql and narrows the policies that file created.
--

CREATE FUNCTION crm_internal.privacy_open(ws bigint) RETURNS bigint
LANGUAGE c STABLE PARALLEL SAFE STRICT
AS 'MODULE_PATHNAME', 'crm_privacy_open';
COMMENT ON FUNCTION crm_internal.privacy_open(bigint) IS
	'ws when owner-based privacy does not hold the request, else NULL: the policy of everyone who sees the whole workspace';

CREATE FUNCTION crm_internal.privacy_owned(ws bigint) RETURNS bigint
LANGUAGE c STABLE PARALLEL SAFE STRICT
AS 'MODULE_PATHNAME', 'crm_privacy_owned';
COMMENT ON FUNCTION crm_internal.privacy_owned(bigint) IS
	'ws when owner-based privacy holds the request (a member without see_all), else NULL: the policies of what they own';

CREATE FUNCTION crm_internal.privacy_team(ws bigint) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE STRICT
AS 'MODULE_PATHNAME', 'crm_privacy_team';
COMMENT ON FUNCTION crm_internal.privacy_team(bigint) IS
	'the team of the member owner-based privacy holds, else NULL';

-- The deals a restricted member sees, and their contacts, for the policies
-- (an InitPlan each, computed once per statement and kept for the command):
-- read as the owner of crm.deals with the same predicate as the deals'
-- policies, since a policy reading crm.deals under its own policy would
-- refuse every contact while the deals module is off.  Called with
-- crm_internal.privacy_owned(ws): NULL, at once, for everyone else.
CREATE FUNCTION crm_internal.privacy_deals(ws bigint) RETURNS bigint[]
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'crm_privacy_deals';
COMMENT ON FUNCTION crm_internal.privacy_deals(bigint) IS
	'the ids of the deals a restricted member sees: theirs and their team''s';

CREATE FUNCTION crm_internal.privacy_deal_contacts(ws bigint) RETURNS bigint[]
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'crm_privacy_deal_contacts';
COMMENT ON FUNCTION crm_internal.privacy_deal_contacts(bigint) IS
	'the contacts of the deals a restricted member sees';

-- On a Citus coordinator those ids are read on the workspace's worker, in
-- the caller's connection, by a routed SELECT of this (src/privacy.c): the
-- owner's connection is refused there once the transaction wrote the deals.
-- It takes the request's settings as name, value pairs, like
-- crm_hidden.identify_in, and anyone may call it: it is the functions above
-- under settings the caller could set itself.
CREATE FUNCTION crm_hidden.privacy_deals_in(settings text[], ws bigint, contacts boolean) RETURNS bigint[]
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'crm_privacy_deals_in';
COMMENT ON FUNCTION crm_hidden.privacy_deals_in(text[], bigint, boolean) IS
	'crm_internal.privacy_deals (privacy_deal_contacts when contacts) under the request''s settings: what a Citus coordinator runs on the workspace''s worker';

-- What the CQL translation adds for a restricted member (src/cql_sql.c), so
-- that the planner sees their predicate: the contacts of the deals they see.
CREATE FUNCTION crm_hidden.privacy_deal_contacts() RETURNS bigint[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT crm_internal.privacy_deal_contacts(crm_internal.privacy_owned(crm.current_workspace()));
END;
COMMENT ON FUNCTION crm_hidden.privacy_deal_contacts() IS
	'the contacts of the deals the restricted member of the request sees; NULL for everyone else';

-- What the restricted arm of each policy scans
CREATE INDEX contacts_owner ON crm.contacts (workspace_id, owner) WHERE owner IS NOT NULL;
CREATE INDEX deals_owner ON crm.deals (workspace_id, owner) WHERE owner IS NOT NULL;
CREATE INDEX deals_team ON crm.deals (workspace_id, team) WHERE team IS NOT NULL;

-- A restricted member's new contact or deal is theirs (src/privacy.c)
CREATE FUNCTION crm_internal.privacy_new_owner() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_privacy_new_owner';
COMMENT ON FUNCTION crm_internal.privacy_new_owner() IS
	'BEFORE INSERT row trigger on contacts and deals: a restricted member''s new row is theirs, or refused (42501) when given to another';
CREATE TRIGGER privacy_new_owner BEFORE INSERT ON crm.contacts
	FOR EACH ROW EXECUTE FUNCTION crm_internal.privacy_new_owner();
CREATE TRIGGER privacy_new_owner BEFORE INSERT ON crm.deals
	FOR EACH ROW EXECUTE FUNCTION crm_internal.privacy_new_owner();

-- In a workspace that has members, the contacts, companies and deals are
-- given to active members (src/owners.c); only a change of owner is checked
CREATE FUNCTION crm_internal.owner_is_member() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'crm_owner_is_member';
COMMENT ON FUNCTION crm_internal.owner_is_member() IS
	'BEFORE INSERT and UPDATE OF owner row trigger on contacts, companies and deals: in a workspace that has members, a new owner is an active member (23503)';
CREATE TRIGGER owner_is_member BEFORE INSERT ON crm.contacts
	FOR EACH ROW WHEN (NEW.owner IS NOT NULL) EXECUTE FUNCTION crm_internal.owner_is_member();
CREATE TRIGGER owner_is_member_update BEFORE UPDATE OF owner ON crm.contacts
	FOR EACH ROW WHEN (NEW.owner IS DISTINCT FROM OLD.owner AND NEW.owner IS NOT NULL)
	EXECUTE FUNCTION crm_internal.owner_is_member();
CREATE TRIGGER owner_is_member BEFORE INSERT ON crm.companies
	FOR EACH ROW WHEN (NEW.owner IS NOT NULL) EXECUTE FUNCTION crm_internal.owner_is_member();
CREATE TRIGGER owner_is_member_update BEFORE UPDATE OF owner ON crm.companies
	FOR EACH ROW WHEN (NEW.owner IS DISTINCT FROM OLD.owner AND NEW.owner IS NOT NULL)
	EXECUTE FUNCTION crm_internal.owner_is_member();
CREATE TRIGGER owner_is_member BEFORE INSERT ON crm.deals
	FOR EACH ROW WHEN (NEW.owner IS NOT NULL) EXECUTE FUNCTION crm_internal.owner_is_member();
CREATE TRIGGER owner_is_member_update BEFORE UPDATE OF owner ON crm.deals
	FOR EACH ROW WHEN (NEW.owner IS DISTINCT FROM OLD.owner AND NEW.owner IS NOT NULL)
	EXECUTE FUNCTION crm_internal.owner_is_member();

-- Switching is seen by the next statement: the membership cache holds it
CREATE TRIGGER workspaces_invalidate AFTER UPDATE OF privacy ON crm.workspaces
	FOR EACH STATEMENT EXECUTE FUNCTION crm_internal.invalidate_caches();

-- SECURITY DEFINER: no granted role writes crm.workspaces.  It checks its
-- caller: the request's member needs admin, and the role UPDATE on members.
CREATE FUNCTION crm.set_privacy(mode text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	ws bigint := crm.current_workspace();
	m text := lower(btrim(set_privacy.mode));
BEGIN
	PERFORM crm_internal.require_caller_privilege('crm.members', 'UPDATE');
	IF 'admin' <> ALL (crm.current_permissions()) THEN
		RAISE EXCEPTION 'user "%" lacks the permission "admin" to change the privacy of workspace "%"',
			crm.current_user_id(), (SELECT w.slug FROM crm.workspaces w WHERE w.id = ws)
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'An admin of the workspace sets its privacy.';
	END IF;
	IF m IS NULL OR m NOT IN ('owner', 'everyone') THEN
		RAISE EXCEPTION 'invalid privacy: "%"', coalesce(set_privacy.mode, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass ''owner'' (members without see_all see only what they own) or ''everyone''.';
	END IF;
	UPDATE crm.workspaces w SET privacy = m WHERE w.id = ws;
	RETURN m;
END;
$$;
COMMENT ON FUNCTION crm.set_privacy(text) IS
	'owner: members without see_all see only their deals, their team''s, and their contacts; everyone: every member sees the workspace; needs admin';

CREATE FUNCTION crm.privacy() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT w.privacy FROM crm.workspaces w WHERE w.id = crm.current_workspace();
END;
COMMENT ON FUNCTION crm.privacy() IS
	'the privacy of the current workspace: owner or everyone (crm.set_privacy)';

--
-- The policies.  workspace_isolation (sql/tenancy.sql) keeps everyone whom
-- privacy does not hold; the privacy_* policies, ORed with it, give the
-- restricted member their part.  workspace_bound, restrictive, ANDs the
-- workspace to them all: a query that names no workspace (PostgREST's
-- GET /contacts?order=id&limit=100) keeps its ordered index scan, which
-- an OR of workspaces alone would turn into a scan and a sort.  Every
-- value is a scalar subquery: computed once per statement (an InitPlan,
-- by the leader of a parallel plan), an index key or a cheap filter.  A child follows its parent: a contact's
-- rows through an EXISTS over crm.contacts, under its policies; a deal's
-- through the ids crm_internal.privacy_deals() gives.  The outbox is the
-- trusted backend's: a restricted member reads none of it.
--
DO $$
DECLARE
	-- table -> the workspace its policy compares with (modules, sql/tenancy.sql)
	ws_of jsonb := '{"contacts": "crm.current_workspace()", "deals": "crm_internal.module_workspace(''deals'')",
					 "contact_companies": "crm_internal.module_workspace(''companies'')",
					 "contact_consents": "crm.current_workspace()", "conversations": "crm.current_workspace()",
					 "messages": "crm.current_workspace()", "list_members": "crm.current_workspace()",
					 "activities": "crm.current_workspace()", "notes": "crm.current_workspace()",
					 "attachments": "crm.current_workspace()", "external_ids": "crm.current_workspace()",
					 "orders": "crm_internal.module_workspace(''orders'')",
					 "object_associations": "crm_internal.module_workspace(''custom_objects'')",
					 "checklist_items": "crm_internal.module_workspace(''deals'')",
					 "deal_line_items": "crm_internal.module_workspace(''deals'')",
					 "deal_stage_history": "crm_internal.module_workspace(''deals'')",
					 "events": "crm.current_workspace()", "merges": "crm.current_workspace()",
					 "contact_stages": "crm_internal.module_workspace(''deals'')",
					 "contact_stage_history": "crm_internal.module_workspace(''deals'')"}';
	contact_of text := 'EXISTS (SELECT FROM crm.contacts c WHERE c.workspace_id OPERATOR(pg_catalog.=) %1$I.workspace_id'
					   ' AND c.id OPERATOR(pg_catalog.=) %1$I.contact_id)';
	deal_of text := '%1$I.deal_id OPERATOR(pg_catalog.=) ANY ((SELECT crm_internal.privacy_deals('
					'crm_internal.privacy_owned(crm.current_workspace())))::bigint[])';
	parents text := '(%1$I.contact_id IS NULL OR ' OPERATOR(pg_catalog.||) contact_of OPERATOR(pg_catalog.||) ') AND (%1$I.deal_id IS NULL OR ' OPERATOR(pg_catalog.||) deal_of OPERATOR(pg_catalog.||) ')';
	follow jsonb;
	t record;
	p record;
BEGIN
	-- table -> {policy: what the restricted member sees}
	follow := pg_catalog.jsonb_build_object(
		'contacts', pg_catalog.jsonb_build_object(
			'privacy_owner', '%1$I.owner OPERATOR(pg_catalog.=) (SELECT crm.current_user_id())',
			'privacy_deal', '%1$I.id OPERATOR(pg_catalog.=) ANY ((SELECT crm_internal.privacy_deal_contacts('
							'crm_internal.privacy_owned(crm.current_workspace())))::bigint[])'),
		'deals', pg_catalog.jsonb_build_object(
			'privacy_owner', '%1$I.owner OPERATOR(pg_catalog.=) (SELECT crm.current_user_id())',
			'privacy_team', '%1$I.team OPERATOR(pg_catalog.=) (SELECT crm_internal.privacy_team(crm.current_workspace()))'),
		'contact_companies', pg_catalog.jsonb_build_object('privacy_parent', contact_of),
		'contact_consents', pg_catalog.jsonb_build_object('privacy_parent', contact_of),
		'conversations', pg_catalog.jsonb_build_object('privacy_parent', contact_of),
		-- a company list's members are every member's, as companies are
		'list_members', pg_catalog.jsonb_build_object('privacy_parent',
			'(%1$I.contact_id IS NULL OR ' OPERATOR(pg_catalog.||) contact_of OPERATOR(pg_catalog.||) ')'),
		'messages', pg_catalog.jsonb_build_object('privacy_parent',
			'EXISTS (SELECT FROM crm.conversations cv WHERE cv.workspace_id OPERATOR(pg_catalog.=) %1$I.workspace_id'
			' AND cv.id OPERATOR(pg_catalog.=) %1$I.conversation_id)'),
		'activities', pg_catalog.jsonb_build_object('privacy_parent', parents),
		'notes', pg_catalog.jsonb_build_object('privacy_parent', parents),
		'attachments', pg_catalog.jsonb_build_object('privacy_parent', parents),
		'orders', pg_catalog.jsonb_build_object('privacy_parent', parents),
		'object_associations', pg_catalog.jsonb_build_object('privacy_parent', parents),
		'external_ids', pg_catalog.jsonb_build_object('privacy_parent',
			'CASE %1$I.object_type WHEN ''contact'' THEN EXISTS (SELECT FROM crm.contacts c'
			' WHERE c.workspace_id OPERATOR(pg_catalog.=) %1$I.workspace_id AND c.id OPERATOR(pg_catalog.=) %1$I.object_id)'
			' WHEN ''deal'' THEN %1$I.object_id OPERATOR(pg_catalog.=) ANY ((SELECT crm_internal.privacy_deals('
			'crm_internal.privacy_owned(crm.current_workspace())))::bigint[]) ELSE true END'),
		'checklist_items', pg_catalog.jsonb_build_object('privacy_parent', deal_of),
		'deal_line_items', pg_catalog.jsonb_build_object('privacy_parent', deal_of),
		'deal_stage_history', pg_catalog.jsonb_build_object('privacy_parent', deal_of),
		'events', '{}'::jsonb,
		'contact_stages', pg_catalog.jsonb_build_object('privacy_parent', contact_of),
		'contact_stage_history', pg_catalog.jsonb_build_object('privacy_parent', contact_of),
		-- a merge record: as its survivor
		'merges', pg_catalog.jsonb_build_object('privacy_parent',
			'(%1$I.object_type OPERATOR(pg_catalog.<>) ''contact'' OR EXISTS (SELECT FROM crm.contacts c'
			' WHERE c.workspace_id OPERATOR(pg_catalog.=) %1$I.workspace_id AND c.id OPERATOR(pg_catalog.=) %1$I.survivor_id))'));
	FOR t IN SELECT key AS tab, value OPERATOR(pg_catalog.#>>) '{}' AS ws FROM pg_catalog.jsonb_each(ws_of) ORDER BY key LOOP
		EXECUTE pg_catalog.format('ALTER POLICY workspace_isolation ON crm.%I'
					   ' USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm_internal.privacy_open(%s)))', t.tab, t.ws);
		EXECUTE pg_catalog.format('CREATE POLICY workspace_bound ON crm.%I AS RESTRICTIVE'
					   ' USING (workspace_id OPERATOR(pg_catalog.=) (SELECT %s))', t.tab, t.ws);
		FOR p IN SELECT key AS name, value OPERATOR(pg_catalog.#>>) '{}' AS expr FROM pg_catalog.jsonb_each(follow OPERATOR(pg_catalog.->) t.tab) ORDER BY key LOOP
			EXECUTE pg_catalog.format('CREATE POLICY %I ON crm.%I USING (workspace_id OPERATOR(pg_catalog.=) (SELECT crm_internal.privacy_owned(%s)) AND %s)',
						   p.name, t.tab, t.ws, pg_catalog.format(p.expr, t.tab));
		END LOOP;
	END LOOP;
END;
$$;

--
-- On Citus a shard's policy takes no subquery (sql/distribute.sql): a
-- child's EXISTS over its contact, conversation or list becomes a call of
-- one of these, which read the parent as the owner with the parent's
-- policies spelled out.  One node's policies do not call them.
--
-- plpgsql, not SQL: Citus plans no parameter of a SQL function's query.
-- Whether the request sees the contact: the contacts' policies, for a row of ws
CREATE FUNCTION crm_internal.privacy_contact(ws bigint, contact_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (SELECT FROM crm.contacts c
					WHERE c.workspace_id = ws AND c.id = privacy_contact.contact_id
					  AND c.workspace_id = crm.current_workspace()
					  AND (c.workspace_id = crm_internal.privacy_open(ws)
						   OR (c.workspace_id = crm_internal.privacy_owned(ws)
							   AND (c.owner = crm.current_user_id()
									OR c.id = ANY (crm_internal.privacy_deal_contacts(crm_internal.privacy_owned(ws)))))));
END;
$$;
COMMENT ON FUNCTION crm_internal.privacy_contact(bigint, bigint) IS
	'on Citus, for the shards'' policies: whether the request sees the contact, as the contacts'' policies say';

-- Whether the request sees the conversation: its contact's
CREATE FUNCTION crm_internal.privacy_conversation(ws bigint, conversation_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (SELECT FROM crm.conversations cv
					WHERE cv.workspace_id = ws AND cv.id = privacy_conversation.conversation_id
					  AND crm_internal.privacy_contact(cv.workspace_id, cv.contact_id));
END;
$$;
COMMENT ON FUNCTION crm_internal.privacy_conversation(bigint, bigint) IS
	'on Citus, for the shards'' policies: whether the request sees the conversation (its contact)';

-- Whether the request sees the list: the lists' policies
CREATE FUNCTION crm_internal.list_visible(ws bigint, list_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (SELECT FROM crm.lists l
					WHERE l.workspace_id = ws AND l.id = list_visible.list_id
					  AND l.workspace_id = crm.current_workspace()
					  AND crm_hidden.visible_to_user(l.owner, l.visibility));
END;
$$;
COMMENT ON FUNCTION crm_internal.list_visible(bigint, bigint) IS
	'on Citus, for the shards'' policies: whether the request sees the list, as the lists'' policies say';
