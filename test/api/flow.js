'use strict';
// A frontend's flow against the CRM through PostGraphile v4, over HTTP on
// 127.0.0.1, printing TAP (run by test/t/api_postgraphile.sh, which sets up
// the database and the roles and passes them in the environment).
//
// Tokens for two workspaces carry workspace_id, sub and role, as a login
// service would sign them; PostGraphile verifies them and hands the claims
// to PostgreSQL as jwt.claims.<name> settings, which crm.current_workspace()
// and crm.current_actor() read.  Everything below goes through the row
// mutations and function mutations PostGraphile derives from schema crm.

const http = require('http');
const crypto = require('crypto');
const { postgraphile } = require('postgraphile');

const env = process.env;
const WS_A = env.CRM_API_WORKSPACE_A;
const WS_B = env.CRM_API_WORKSPACE_B;
const SECRET = crypto.randomBytes(32).toString('hex');
const ROLE = 'crm_api_user';

let n = 0;
let failures = 0;

// PostGraphile recovers from a naming conflict by dropping one of the two
// names, with a warning: collect them, the schema must have none
const conflicts = [];
for (const level of ['warn', 'error']) {
	const write = console[level].bind(console);
	console[level] = (...args) => {
		const text = args.map(String).join(' ');
		if (/naming conflict/i.test(text))
			conflicts.push(text.replace(/\s+/g, ' ').slice(0, 300));
		write(...args);
	};
}

function ok(cond, desc, diag) {
	n += 1;
	console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${desc}`);
	if (!cond) {
		failures += 1;
		if (diag !== undefined)
			for (const line of JSON.stringify(diag, null, 1).split('\n'))
				console.log(`# ${line}`);
	}
	return cond;
}

function is(got, want, desc) {
	return ok(JSON.stringify(got) === JSON.stringify(want), desc, { got, want });
}

function b64url(obj) {
	return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

// HS256, as PostgREST and PostGraphile verify it
function sign(claims) {
	const head = b64url({ alg: 'HS256', typ: 'JWT' });
	const body = b64url({ aud: 'postgraphile', exp: Math.floor(Date.now() / 1000) + 600, ...claims });
	const sig = crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
	return `${head}.${body}.${sig}`;
}

const alice = sign({ sub: 'alice@a.example', workspace_id: Number(WS_A), role: ROLE });
const bob = sign({ sub: 'bob@b.example', workspace_id: String(WS_B), role: ROLE });

let url;

async function gql(token, query, variables) {
	const headers = { 'content-type': 'application/json' };
	if (token)
		headers.authorization = `Bearer ${token}`;
	const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
	const body = await res.json();
	return body;
}

// the data of a request that must succeed; a failure is reported and null
async function must(token, query, variables, desc) {
	const r = await gql(token, query, variables);
	if (r.errors) {
		ok(false, desc, r.errors);
		return null;
	}
	return r.data;
}

const CONTACT = 'id workspaceId name email phone tags';

// PostGraphile's names for a function: camelCase fields, PascalCase types
function camel(name) {
	return name.replace(/_([a-z0-9])/g, (m, c) => c.toUpperCase());
}

async function flow() {
	// schema crm holds the API only: no helper of crm_hidden or crm_internal
	// (named in CRM_API_HELPERS from the catalog) is a query, a mutation or a type
	const helpers = (env.CRM_API_HELPERS || '').split(' ').filter(Boolean);
	let d = await must(alice, '{ __schema { queryType { fields { name } } mutationType { fields { name } } types { name } } }', {},
		'the GraphQL schema answers introspection (A)');
	const fields = new Set(d ? [...d.__schema.queryType.fields, ...d.__schema.mutationType.fields].map((f) => f.name) : []);
	const types = new Set(d ? d.__schema.types.map((t) => t.name) : []);
	const builtOnHelpers = ['findContacts', 'count', 'countBy', 'winDeal', 'search', 'addToList'];
	ok(helpers.length >= 37 && builtOnHelpers.every((f) => fields.has(f)),
		`the schema has the API functions built on helpers, and ${helpers.length} helpers are looked for`,
		{ missing: builtOnHelpers.filter((f) => !fields.has(f)), helpers });
	is(helpers.filter((h) => {
		const c = camel(h);
		const t = c[0].toUpperCase() + c.slice(1);
		return fields.has(c) || types.has(`${t}Input`) || types.has(`${t}Payload`);
	}), [], 'no helper of crm_hidden or crm_internal is a query, a mutation or an input or payload type');

	// the claims reach the database: workspace and actor from the token
	d = await must(alice, '{ currentWorkspace currentActor }', {}, 'token A answered');
	is(d && [d.currentWorkspace, d.currentActor], [WS_A, 'alice@a.example'],
		"token A: crm.current_workspace() and crm.current_actor() are the token's workspace_id and sub");
	d = await must(bob, '{ currentWorkspace currentActor }', {}, 'token B answered');
	is(d && [d.currentWorkspace, d.currentActor], [WS_B, 'bob@b.example'],
		'token B (workspace_id as a string): its own workspace and sub');
	let r = await gql(null, '{ allContacts { totalCount } }');
	ok(r.errors && /permission denied/.test(r.errors[0].message),
		'without a token the anonymous role sees nothing', r);

	// contacts and a company through the row mutations: normalised on the way in
	d = await must(alice, `mutation($c: ContactInput!) { createContact(input: {contact: $c}) { contact { ${CONTACT} } } }`,
		{ c: { name: 'Ada Lovelace', email: '  Ada@Example.COM ', phone: '+44 20 7946 0001', tags: [' VIP', 'vip', 'math'] } },
		'createContact (A)');
	const ada = d && d.createContact.contact;
	is(ada && [ada.workspaceId, ada.email, ada.phone, ada.tags], [WS_A, 'ada@example.com', '+442079460001', ['math', 'vip']],
		'createContact: in the token\'s workspace, email, phone and tags normalised');
	d = await must(alice, `mutation($c: ContactInput!) { createContact(input: {contact: $c}) { contact { ${CONTACT} } } }`,
		{ c: { name: 'Charles Babbage', email: 'charles@example.com', tags: ['engineer'] } }, 'second createContact (A)');
	const charles = d && d.createContact.contact;
	d = await must(alice, 'mutation($c: CompanyInput!) { createCompany(input: {company: $c}) { company { id workspaceId name domain } } }',
		{ c: { name: 'Analytical Engines', domain: 'https://www.Engines.example/about' } }, 'createCompany (A)');
	const engines = d && d.createCompany.company;
	is(engines && [engines.workspaceId, engines.domain], [WS_A, 'engines.example'], 'createCompany: domain normalised');
	d = await must(alice, `mutation($l: ContactCompanyInput!) { createContactCompany(input: {contactCompany: $l}) {
			contactCompany { contactId companyId role isPrimary } } }`,
		{ l: { contactId: ada && ada.id, companyId: engines && engines.id, role: 'Founder', isPrimary: true } },
		'createContactCompany links the contact to the company');
	is(d && d.createContactCompany.contactCompany, { contactId: ada && ada.id, companyId: engines && engines.id, role: 'Founder', isPrimary: true },
		'createContactCompany: the link as written');
	d = await must(alice, `mutation($id: BigInt!, $ws: BigInt!) { updateContactByWorkspaceIdAndId(
			input: {workspaceId: $ws, id: $id, contactPatch: {city: "London", email: "ADA.L@Example.com"}}) { contact { city email } } }`,
		{ id: ada && ada.id, ws: WS_A }, 'updateContact by key (A)');
	is(d && d.updateContactByWorkspaceIdAndId.contact, { city: 'London', email: 'ada.l@example.com' },
		'updateContact: patched and normalised');

	// the upsert a frontend has today: crm.identify as a function mutation
	d = await must(alice, 'mutation { identify(input: {email: "ada.l@example.com", name: "Ada King"}) { bigInt } }', {},
		'identify (A) with a known email');
	is(d && d.identify.bigInt, ada && ada.id, 'identify: finds the contact the row mutation created');
	d = await must(alice, 'mutation { identify(input: {email: "  Grace@Example.com", name: "Grace Hopper"}) { bigInt } }', {},
		'identify (A) with a new email');
	const grace = d && d.identify.bigInt;
	ok(grace && grace !== (ada && ada.id) && grace !== (charles && charles.id), 'identify: creates a new contact for a new email', d);
	// its address and profile arguments, normalised as the row write is
	d = await must(alice, 'mutation { identify(input: {email: "grace@example.com", city: " Arlington ", addressCountry: "usa", x: "@GraceH"}) { bigInt } }',
		{}, 'identify (A) with an address and a profile');
	is(d && d.identify.bigInt, grace, 'identify: the address goes to the contact the email names');
	d = await must(alice, `query($ws: BigInt!, $id: BigInt!) { contactByWorkspaceIdAndId(workspaceId: $ws, id: $id) { city country x } }`,
		{ ws: WS_A, id: grace }, 'A reads the identified address');
	is(d && d.contactByWorkspaceIdAndId, { city: 'Arlington', country: 'US', x: 'https://x.com/graceh' },
		'identify: city trimmed, addressCountry stored as its code, x as its URL');

	// and crm.upsert_order, idempotent by (source, external_id)
	const order = { contactId: ada && ada.id, source: 'api', externalId: 'web-1001', value: '99.90', currency: 'eur', status: 'pending' };
	d = await must(alice, 'mutation($o: UpsertOrderInput!) { upsertOrder(input: $o) { bigInt } }', { o: order }, 'upsertOrder (A)');
	const orderId = d && d.upsertOrder.bigInt;
	d = await must(alice, 'mutation($o: UpsertOrderInput!) { upsertOrder(input: $o) { bigInt } }', { o: { ...order, status: 'paid' } },
		'upsertOrder again (A)');
	is(d && d.upsertOrder.bigInt, orderId, 'upsertOrder: the same external id updates the same order');
	d = await must(alice, '{ allOrders { nodes { id status value currency contactId } } }', {}, 'A lists its orders');
	is(d && d.allOrders.nodes, [{ id: orderId, status: 'PAID', value: '99.90', currency: 'EUR', contactId: ada && ada.id }],
		'upsertOrder: one order, paid, currency normalised');

	// a pipeline with stages and a deal, as rows
	d = await must(alice, 'mutation { createPipeline(input: {pipeline: {name: "Sales"}}) { pipeline { id workspaceId name } } }', {},
		'createPipeline (row) (A)');
	const pipeline = d && d.createPipeline.pipeline;
	const stages = [];
	for (const [i, s] of [['Lead', 'OPEN', '10'], ['Proposal', 'OPEN', '50'], ['Won', 'WON', '100']].entries()) {
		d = await must(alice, `mutation($s: StageInput!) { createStage(input: {stage: $s}) { stage { id name kind probability } } }`,
			{ s: { pipelineId: pipeline && pipeline.id, name: s[0], position: i + 1, kind: s[1], probability: s[2],
				forecastCategory: s[1] === 'WON' ? 'CLOSED' : 'PIPELINE' } }, `createStage ${s[0]} (A)`);
		stages.push(d && d.createStage.stage);
	}
	d = await must(alice, `mutation($d: DealInput!) { createDeal(input: {deal: $d}) {
			deal { id workspaceId title value currency status stageId contactId companyId } } }`,
		{ d: { pipelineId: pipeline && pipeline.id, stageId: stages[0] && stages[0].id, title: 'Difference Engine No. 2',
			value: '1200.50', currency: 'eur', contactId: ada && ada.id, companyId: engines && engines.id, position: '1' } },
		'createDeal (row) (A)');
	const deal = d && d.createDeal.deal;
	is(deal && [deal.workspaceId, deal.value, deal.currency, deal.status], [WS_A, '1200.50', 'EUR', 'OPEN'],
		'createDeal: open, currency normalised');
	// line items as rows: the deal's value becomes their sum
	for (const [name, qty, price] of [['Columns', '3', '100.00'], ['Printer', '1', '450.25']]) {
		d = await must(alice, `mutation($l: DealLineItemInput!) { createDealLineItem(input: {dealLineItem: $l}) {
				dealLineItem { name total currency } } }`, { l: { dealId: deal && deal.id, name, quantity: qty, unitPrice: price } },
			`createDealLineItem ${name} (A)`);
		is(d && d.createDealLineItem.dealLineItem.currency, 'EUR', `createDealLineItem ${name}: the deal's currency filled in`);
	}
	d = await must(alice, `query($ws: BigInt!, $id: BigInt!) { dealByWorkspaceIdAndId(workspaceId: $ws, id: $id) { value valueMode } }`,
		{ ws: WS_A, id: deal && deal.id }, 'the deal read back (A)');
	is(d && d.dealByWorkspaceIdAndId, { value: '750.25', valueMode: 'AUTO' }, 'line items: the deal\'s value is their sum, in auto mode');
	r = await gql(alice, `mutation($l: DealLineItemInput!) { createDealLineItem(input: {dealLineItem: $l}) { dealLineItem { id } } }`,
		{ l: { dealId: deal && deal.id, name: 'Infinite', quantity: 'Infinity', unitPrice: '1' } });
	ok(r.errors && r.errors[0].errcode === '22023', 'createDealLineItem: an infinite quantity is refused (22023)', r);

	d = await must(alice, `mutation($id: BigInt!, $stage: BigInt!) { moveDeal(input: {dealId: $id, stageId: $stage}) {
			deal { id stageId status } } }`, { id: deal && deal.id, stage: stages[1] && stages[1].id },
		'moveDeal (function mutation) (A)');
	is(d && d.moveDeal.deal.stageId, stages[1] && stages[1].id, 'moveDeal: the deal is in the new stage');
	d = await must(alice, `mutation($id: BigInt!) { moveDeal(input: {dealId: $id, stageName: "lead"}) { deal { stageId } } }`,
		{ id: deal && deal.id }, 'moveDeal by stage name (function mutation) (A)');
	is(d && d.moveDeal.deal.stageId, stages[0] && stages[0].id, 'moveDeal: a stage by name within the deal\'s pipeline');
	r = await gql(alice, `mutation($id: BigInt!) { moveDeal(input: {dealId: $id, stageName: "Nowhere"}) { deal { stageId } } }`,
		{ id: deal && deal.id });
	ok(r.errors && r.errors[0].errcode === 'P0002', 'moveDeal: an unknown stage name is refused (P0002)', r);
	d = await must(alice, `mutation($id: BigInt!) { winDeal(input: {dealId: $id, reason: "signed"}) { deal { status stageId } } }`,
		{ id: deal && deal.id }, 'winDeal (function mutation) (A)');
	is(d && d.winDeal.deal, { status: 'WON', stageId: stages[2] && stages[2].id }, 'winDeal: won, in the won stage');
	d = await must(alice, `query($id: BigInt!) { allDealStageHistories(condition: {dealId: $id}) { totalCount } }`,
		{ id: deal && deal.id }, 'deal stage history readable (A)');
	ok(d && d.allDealStageHistories.totalCount >= 2, 'the stage changes are in the history', d);
	// the pipeline report, a query field: the deal just won
	d = await must(alice, `query($p: BigInt!) { pipelineReport(pipelineId: $p) {
			nodes { pipelineName openDeals won lost winRate avgWonValue valueCurrency } } }`,
		{ p: pipeline && pipeline.id }, 'pipelineReport (function query) (A)');
	is(d && d.pipelineReport.nodes, [{ pipelineName: 'Sales', openDeals: '0', won: '1', lost: '0', winRate: '1.0000',
		avgWonValue: '750.25', valueCurrency: 'EUR' }], 'pipelineReport: one won deal, its value, win rate 1');
	r = await gql(alice, '{ pipelineReport(period: "fortnight") { nodes { won } } }');
	ok(r.errors && r.errors[0].errcode === '22023', 'pipelineReport: an unknown period is refused (22023)', r);

	// a dynamic list as a row: computed at once, kept as contacts change
	d = await must(alice, `mutation { createList(input: {list: {name: "VIPs", kind: DYNAMIC, filter: "tags CONTAINS 'vip'"}}) {
			list { id memberCount dependsOn } } }`, {}, 'createList (row, dynamic) (A)');
	const vips = d && d.createList.list;
	is(vips && vips.memberCount, '1', 'createList: the dynamic list has its member at once');
	r = await gql(alice, `mutation { createList(input: {list: {name: "Typo", kind: DYNAMIC, filter: "plna = 'pro'"}}) { list { id } } }`);
	ok(r.errors && r.errors[0].errcode === '42703', 'createList: a filter naming an unknown field is refused (42703)', r);
	d = await must(alice, `mutation($c: ContactInput!) { createContact(input: {contact: $c}) { contact { id } } }`,
		{ c: { name: 'Mary Somerville', email: 'mary@example.com', tags: ['vip'] } }, 'a third contact, tagged vip (A)');
	const mary = d && d.createContact.contact.id;
	d = await must(alice, `query($ws: BigInt!, $id: BigInt!) { listByWorkspaceIdAndId(workspaceId: $ws, id: $id) {
			memberCount listMembersByWorkspaceIdAndListIdAndObjectType { nodes { contactId } } } }`, { ws: WS_A, id: vips && vips.id },
		'the dynamic list read back (A)');
	is(d && d.listByWorkspaceIdAndId.memberCount, '2', 'the dynamic list follows a new matching contact');
	// the function mutations whose names would clash with the row mutations
	d = await must(alice, `mutation { defineList(input: {name: "Engineers", kind: "dynamic", filter: "tags CONTAINS 'engineer'"}) {
			list { name memberCount } } }`, {}, 'defineList (crm.create_list) (A)');
	is(d && d.defineList.list, { name: 'Engineers', memberCount: '1' }, 'defineList: crm.create_list under its GraphQL name');
	d = await must(alice, `mutation($id: BigInt!) { patchContact(input: {contactId: $id, patch: {city: "Paris"}}) { bigInt } }`,
		{ id: charles && charles.id }, 'patchContact (crm.update_contact) (A)');
	is(d && d.patchContact.bigInt, charles && charles.id, 'patchContact: crm.update_contact under its GraphQL name');
	d = await must(alice, `query($id: BigInt!) { timelineList(contactId: $id, lim: 10) { type } }`, { id: ada && ada.id },
		'timeline (A): a plain list, paged by its own arguments');
	ok(d && Array.isArray(d.timelineList), 'timeline: a list (its before argument is its own, not a cursor)', d);

	// an order as a row, then paid as a row: the paid date is stamped
	d = await must(alice, `mutation($o: OrderInput!) { createOrder(input: {order: $o}) { order { id status paidDate } } }`,
		{ o: { contactId: charles && charles.id, source: 'COMMERCE', externalId: 'shop-7', value: '12.00', status: 'PENDING' } },
		'createOrder (row) (A)');
	const shopOrder = d && d.createOrder.order;
	d = await must(alice, `mutation($ws: BigInt!, $id: BigInt!) { updateOrderByWorkspaceIdAndId(
			input: {workspaceId: $ws, id: $id, orderPatch: {status: PAID}}) { order { status paidDate } } }`,
	{ ws: WS_A, id: shopOrder && shopOrder.id }, 'updateOrder: status paid (A)');
	ok(d && d.updateOrderByWorkspaceIdAndId.order.status === 'PAID' && d.updateOrderByWorkspaceIdAndId.order.paidDate,
		'updateOrder: a paid order gets its paid date', d);

	// CQL search through the query field of crm.find_contacts
	d = await must(alice, `{ findContacts(query: "tags CONTAINS 'vip' OR email ENDS WITH 'example.com'", orderBy: "id") { nodes { id } } }`,
		{}, 'findContacts (A)');
	is(d && d.findContacts.nodes.map((c) => c.id), [ada && ada.id, charles && charles.id, grace, mary].sort((x, y) => x - y),
		'findContacts: the CQL query finds the workspace\'s matching contacts');
	d = await must(alice, `{ findContacts(query: "tags CONTAINS 'engineer'") { nodes { name } } }`, {}, 'findContacts by tag (A)');
	is(d && d.findContacts.nodes, [{ name: 'Charles Babbage' }], 'findContacts: by tag');
	r = await gql(alice, `{ findContacts(query: "nosuchfield = 1") { nodes { id } } }`);
	ok(r.errors && r.errors[0].errcode === '22023' || (r.errors && /nosuchfield/.test(r.errors[0].message)),
		'findContacts: a bad query is an error naming the field', r);

	// the export of crm.export_contacts: a query field of a fixed row type, with the CQL filter
	d = await must(alice, `{ exportContacts(query: "tags CONTAINS 'engineer'") { nodes { id name email tags conversationCount properties metadata } } }`,
		{}, 'exportContacts (A)');
	is(d && d.exportContacts.nodes.map((c) => [c.name, c.email, c.tags, c.conversationCount, c.properties, c.metadata]),
		[['Charles Babbage', 'charles@example.com', ['engineer'], 0, {}, {}]],
		'exportContacts: the rows the CQL query matches, with their counters, properties and metadata');
	r = await gql(alice, `{ exportContacts(query: "nosuchfield = 1") { nodes { id } } }`);
	ok(r.errors && /nosuchfield/.test(r.errors[0].message), 'exportContacts: a bad query is an error naming the field', r);

	// the bulk actions: a CQL query under the plain name, ids under _by_id
	// (one name per function: PostGraphile leaves overloaded names out)
	d = await must(alice, `mutation { bulkTag(input: {entity: "contact", query: "tags CONTAINS 'vip'", tags: [" Bulk"]}) { integer } }`,
		{}, 'bulkTag with a CQL query (A)');
	is(d && d.bulkTag.integer, 2, 'bulkTag: the two contacts the query matches are tagged');
	d = await must(alice, `mutation($ids: [BigInt]!) { bulkTagById(input: {entity: "contact", ids: $ids, tags: ["BULK "]}) { integer } }`,
		{ ids: [ada && ada.id, charles && charles.id] }, 'bulkTagById (A)');
	is(d && d.bulkTagById.integer, 1, 'bulkTagById: of the two ids only the contact without the tag changes');
	const tagsOfA = async (desc) => {
		const t = await must(alice, '{ allContacts(orderBy: ID_ASC) { nodes { id tags } } }', {}, desc);
		return t && Object.fromEntries(t.allContacts.nodes.map((c) => [c.id, c.tags]));
	};
	const taggedA = await tagsOfA('A reads its tags');
	is(taggedA && [ada, charles, { id: grace }, { id: mary }].map((c) => taggedA[c && c.id]),
		[['bulk', 'math', 'vip'], ['bulk', 'engineer'], [], ['bulk', 'vip']],
		'bulkTag and bulkTagById: the tags normalised, on the matched and named contacts only');

	// workspace B: same email, its own rows only
	d = await must(bob, `mutation($c: ContactInput!) { createContact(input: {contact: $c}) { contact { ${CONTACT} } } }`,
		{ c: { name: 'Ada in B', email: 'ada.l@example.com' } }, 'createContact (B) with an email A has');
	const adaB = d && d.createContact.contact;
	is(adaB && adaB.workspaceId, WS_B, 'createContact (B): in workspace B');
	d = await must(bob, '{ allContacts { nodes { workspaceId name } } allCompanies { totalCount } allDeals { totalCount } allPipelines { totalCount } }',
		{}, 'B lists its rows');
	is(d && [d.allContacts.nodes, d.allCompanies.totalCount, d.allDeals.totalCount, d.allPipelines.totalCount],
		[[{ workspaceId: WS_B, name: 'Ada in B' }], 0, 0, 0], 'B sees only its own contact, none of A\'s companies, deals, pipelines');
	d = await must(bob, `query($ws: BigInt!, $id: BigInt!) { contactByWorkspaceIdAndId(workspaceId: $ws, id: $id) { id } }`,
		{ ws: WS_A, id: ada && ada.id }, 'B asks for A\'s contact by key');
	is(d && d.contactByWorkspaceIdAndId, null, 'B cannot read A\'s contact by key');
	r = await gql(bob, `mutation($ws: BigInt!, $id: BigInt!) { updateContactByWorkspaceIdAndId(
			input: {workspaceId: $ws, id: $id, contactPatch: {name: "Hijacked"}}) { contact { id } } }`,
	{ ws: WS_A, id: ada && ada.id });
	ok(r.errors !== undefined, 'B cannot update A\'s contact', r);
	r = await gql(bob, `mutation($l: ContactCompanyInput!) { createContactCompany(input: {contactCompany: $l}) { contactCompany { companyId } } }`,
		{ l: { contactId: adaB && adaB.id, companyId: engines && engines.id } });
	ok(r.errors && r.errors[0].errcode === '23503', 'B cannot link its contact to A\'s company id (23503)', r);
	r = await gql(bob, `mutation($ws: BigInt!, $id: BigInt!) { deleteDealByWorkspaceIdAndId(input: {workspaceId: $ws, id: $id}) { deal { id } } }`,
		{ ws: WS_A, id: deal && deal.id });
	ok(r.errors !== undefined, 'B cannot delete A\'s deal', r);
	d = await must(bob, `mutation($ids: [BigInt]!) { bulkTagById(input: {entity: "contact", ids: $ids, tags: ["hijacked"]}) { integer } }`,
		{ ids: [ada && ada.id, charles && charles.id, grace, mary] }, 'bulkTagById (B) with A\'s ids');
	is(d && d.bulkTagById.integer, 0, 'bulkTagById (B) with A\'s ids changes nothing');
	is(await tagsOfA('A reads its tags again'), taggedA, 'A\'s tags are unchanged after B\'s bulkTagById');
	d = await must(bob, `{ findContacts(query: "email = 'ada.l@example.com'") { nodes { workspaceId name } } }`, {}, 'findContacts (B)');
	is(d && d.findContacts.nodes, [{ workspaceId: WS_B, name: 'Ada in B' }], 'findContacts (B): only B\'s contact');
	r = await gql(bob, 'mutation { useWorkspace(input: {slug: "api-a"}) { bigInt } }');
	ok(r.errors && /cannot switch workspace/.test(r.errors[0].message), 'B cannot switch to A with crm.use_workspace', r);
	d = await must(bob, `mutation($ws: BigInt!, $id: BigInt!) { deleteContactByWorkspaceIdAndId(input: {workspaceId: $ws, id: $id}) { contact { id } } }`,
		{ ws: WS_B, id: adaB && adaB.id }, 'deleteContact (row) (B)');

	// the events: every write recorded, with the token's sub as the actor
	d = await must(alice, '{ allEvents(orderBy: ID_ASC) { nodes { workspaceId type actor } } }', {}, 'A reads its events');
	const evA = (d && d.allEvents.nodes) || [];
	const typesA = [...new Set(evA.map((e) => e.type))].sort();
	for (const t of ['CRM_CONTACT_CREATED', 'CRM_CONTACT_UPDATED', 'CRM_COMPANY_CREATED', 'CRM_ORDER_CREATED', 'CRM_DEAL_CREATED',
		'CRM_DEAL_STAGE_CHANGED', 'CRM_DEAL_WON'])
		ok(typesA.includes(t), `A's events include ${t}`, typesA);
	ok(evA.length > 0 && evA.every((e) => e.workspaceId === WS_A && e.actor === 'alice@a.example'),
		'every event of A is in A with actor alice@a.example', evA);
	d = await must(alice, '{ eventsSince(afterId: "0") { nodes { id type actor } } }', {}, 'eventsSince (A)');
	is(d && d.eventsSince.nodes.length, evA.length, 'eventsSince delivers every committed event of A');
	d = await must(bob, '{ allEvents(orderBy: ID_ASC) { nodes { workspaceId type actor } } }', {}, 'B reads its events');
	is(d && d.allEvents.nodes, [{ workspaceId: WS_B, type: 'CRM_CONTACT_CREATED', actor: 'bob@b.example' },
		{ workspaceId: WS_B, type: 'CRM_CONTACT_DELETED', actor: 'bob@b.example' }],
	'B sees exactly its two events, with actor bob@b.example');

	// a frontend cannot forge or erase what the extension owns: the outbox has
	// no write mutations for it, and emitEvent refuses it
	r = await gql(alice, 'mutation { createEvent(input: {event: {type: "CRM_DEAL_WON", objectType: "deal", xid: "1"}}) { event { id } } }');
	ok(r.errors && /createEvent/.test(r.errors[0].message), 'the outbox offers a frontend no createEvent', r);
	r = await gql(alice, 'mutation { deleteEventByWorkspaceIdAndId(input: {workspaceId: "' + WS_A + '", id: "1"}) { event { id } } }');
	ok(r.errors && /deleteEventByWorkspaceIdAndId/.test(r.errors[0].message), 'nor deleteEvent', r);
	r = await gql(alice, 'mutation { emitEvent(input: {type: "CRM_DEAL_WON", objectType: "deal", objectId: "1"}) { clientMutationId } }');
	ok(r.errors && r.errors[0].errcode === '42501' && /may not emit events/.test(r.errors[0].message),
		'emitEvent by a frontend is refused (42501)', r);

	// members: alice closes workspace A by making herself its admin; a
	// viewer reads but cannot write, and a stranger's token reads nothing
	d = await must(alice, 'mutation { addMember(input: {userId: "alice@a.example", role: ADMIN}) { member { userId role } } }', {},
		'addMember: alice makes herself admin (A)');
	is(d && d.addMember.member, { userId: 'alice@a.example', role: 'ADMIN' }, 'addMember: the first member is an admin');
	d = await must(alice, 'mutation { addMember(input: {userId: "carol@a.example", role: VIEWER}) { member { userId role } } }', {},
		'addMember: a viewer (A)');
	d = await must(alice, 'mutation { patchMember(input: {userId: "carol@a.example", patch: {team: "north"}}) { member { team } } }', {},
		'patchMember (crm.update_member) (A)');
	is(d && d.patchMember.member.team, 'north', 'patchMember: the member changed');
	const carol = sign({ sub: 'carol@a.example', workspace_id: Number(WS_A), role: ROLE });
	d = await must(carol, '{ currentPermissions allContacts { totalCount } }', {}, 'the viewer reads (A)');
	ok(d && d.currentPermissions.length === 0 && d.allContacts.totalCount > 0, 'the viewer has no permission and reads the contacts', d);
	r = await gql(carol, `mutation { createContact(input: {contact: {name: "By a viewer"}}) { contact { id } } }`);
	ok(r.errors && r.errors[0].errcode === '42501' && /lacks the permission "contacts"/.test(r.errors[0].message),
		'a viewer\'s createContact is refused (42501, naming the permission)', r);
	const dave = sign({ sub: 'dave@a.example', workspace_id: Number(WS_A), role: ROLE });
	r = await gql(dave, '{ allContacts { totalCount } }');
	ok(r.errors && r.errors[0].errcode === '42501' && /not an active member/.test(r.errors[0].message),
		'a token of someone who is not a member reads nothing of A (42501)', r);
	// owner-based privacy: an agent's token sees only the contacts she owns
	await must(alice, 'mutation { addMember(input: {userId: "erin@a.example", role: AGENT}) { member { role } } }', {},
		'addMember: an agent (A)');
	d = await must(alice, 'mutation { setPrivacy(input: {mode: "owner"}) { string } }', {}, 'setPrivacy (A)');
	is(d && d.setPrivacy.string, 'owner', 'setPrivacy: A is owner-private');
	const erin = sign({ sub: 'erin@a.example', workspace_id: Number(WS_A), role: ROLE });
	d = await must(erin, 'mutation { createContact(input: {contact: {name: "Lead of Erin"}}) { contact { owner } } }', {},
		'the agent creates a contact (A)');
	is(d && d.createContact.contact.owner, 'erin@a.example', 'her new contact is hers');
	d = await must(erin, '{ privacy allContacts { nodes { name } } }', {}, 'the agent reads (A)');
	is(d && d.allContacts.nodes, [{ name: 'Lead of Erin' }], 'under owner privacy her token sees only her contact');
	d = await must(alice, '{ allContacts { totalCount } }', {}, 'the admin reads (A)');
	ok(d && d.allContacts.totalCount > 1, 'the admin sees every contact', d);
	// owners are active members: a create or patch naming anyone else is refused
	r = await gql(alice, 'mutation { createContact(input: {contact: {name: "Given away", owner: "zed@a.example"}}) { contact { id } } }');
	ok(r.errors && r.errors[0].errcode === '23503' && /owner "zed@a\.example" is not an active member/.test(r.errors[0].message),
		'createContact with an owner who is no member is refused (23503)', r);
	d = await must(alice, `mutation($id: BigInt!, $ws: BigInt!) { updateContactByWorkspaceIdAndId(
			input: {workspaceId: $ws, id: $id, contactPatch: {owner: "erin@a.example"}}) { contact { owner } } }`,
		{ id: ada && ada.id, ws: WS_A }, 'updateContact: the admin gives a contact to the agent (A)');
	is(d && d.updateContactByWorkspaceIdAndId.contact.owner, 'erin@a.example', 'the patch names an active member');
	r = await gql(alice, `mutation($id: BigInt!, $ws: BigInt!) { updateContactByWorkspaceIdAndId(
			input: {workspaceId: $ws, id: $id, contactPatch: {owner: "zed@a.example"}}) { contact { owner } } }`,
		{ id: ada && ada.id, ws: WS_A });
	ok(r.errors && r.errors[0].errcode === '23503', 'a patch to an owner who is no member is refused (23503)', r);
	await must(alice, 'mutation { setPrivacy(input: {mode: "everyone"}) { string } }', {}, 'setPrivacy back (A)');
	d = await must(bob, '{ currentPermissions allContacts { totalCount } }', {}, 'B, still open, is unaffected');
	ok(d && d.currentPermissions.includes('admin'), 'B has no members: every request has every permission', d);
}

async function main() {
	const watchdog = setTimeout(() => {
		console.log('Bail out! the flow did not finish in 180 s');
		process.exit(1);
	}, 180000);
	const middleware = postgraphile(
		{ host: env.PGHOST, port: Number(env.PGPORT), database: env.CRM_API_DATABASE, user: 'crm_api_authenticator' },
		['crm'],
		{
			jwtSecret: SECRET,
			pgDefaultRole: 'crm_api_anonymous',
			includeExtensionResources: true,
			ignoreRBAC: false,
			dynamicJson: true,
			setofFunctionsContainNulls: false,
			extendedErrors: ['errcode', 'detail', 'hint'],
			disableQueryLog: true,
			retryOnInitFail: false,
			graphiql: false,
		});
	const server = http.createServer(middleware);
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', resolve);
	});
	url = `http://127.0.0.1:${server.address().port}/graphql`;
	console.log(`# PostGraphile on ${url}`);
	try {
		// the schema is built on the first request: wait until it answers
		let up = null;
		for (let i = 0; i < 60 && !up; i++) {
			try {
				up = await gql(null, '{ __typename }');
			} catch (e) {
				await new Promise((res) => setTimeout(res, 500));
			}
		}
		if (!ok(up && up.data && up.data.__typename === 'Query', 'PostGraphile answers', up))
			return;
		ok(conflicts.length === 0, 'PostGraphile builds the schema of crm with no naming conflict', conflicts);
		await flow();
	} catch (e) {
		ok(false, `flow finished (${e.message})`, String(e.stack));
	} finally {
		clearTimeout(watchdog);
		server.close();
		await middleware.release();
	}
	console.log(`1..${n}`);
	process.exit(failures ? 1 : 0);
}

main();
