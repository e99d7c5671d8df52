#!/usr/bin/env bash
# The CRM behind a real API layer: PostGraphile v4, pinned by
# test/api/package-lock.json, serves schema crm on 127.0.0.1 (a free port)
# from a fresh database of the test cluster, verifying HS256 tokens and
# switching to the token's role, a role granted with crm.grant_access.
# test/api/flow.js starts it, runs a frontend's flow over HTTP with tokens
# for two workspaces and prints TAP; PostGraphile stops with it.  The
# database is reached over the cluster's Unix socket only.
cd "$(dirname "$0")/../.."
. test/tap.sh

bail() { echo "1..1"; echo "not ok 1 - $1"; echo "api_postgraphile: $1" >&2; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null \
	|| bail "node and npm are installed (test/cluster.sh installs Debian's nodejs and npm as root)"

# npm ci only when the lock file changed since the last install
api=test/api
if ! cmp -s "$api/package-lock.json" "$api/node_modules/.crm-installed-lock" 2>/dev/null; then
	echo "# npm ci in $api (PostGraphile as pinned by package-lock.json)"
	npm_ci() { (cd "$api" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error "$@") >/tmp/crm_api_npm.$$ 2>&1; }
	# Behind a proxy that re-signs TLS with a CA this machine's store lacks
	# (a fresh chroot has Debian's CAs only), npm cannot verify the registry:
	# then it fetches without TLS verification.  Every tarball is still
	# checked against the sha512 integrity of package-lock.json.
	npm_failed() { sed 's/^/# /' /tmp/crm_api_npm.$$ | tee /dev/stderr; rm -f /tmp/crm_api_npm.$$; bail "npm ci in $api"; }
	if ! npm_ci; then
		grep -qE 'SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF' /tmp/crm_api_npm.$$ || npm_failed
		echo "# the registry's certificate chain is not trusted here: npm ci --strict-ssl=false (integrity still checked)"
		npm_ci --strict-ssl=false || npm_failed
	fi
	rm -f /tmp/crm_api_npm.$$
	cp "$api/package-lock.json" "$api/node_modules/.crm-installed-lock"
fi

# The roles as a PostGraphile deployment has them: it logs in as
# crm_api_authenticator (NOINHERIT: nothing of its own) and switches to the
# token's role, or to crm_api_anonymous (granted nothing) without a token.
fresh_db crm_api
q -c "DROP ROLE IF EXISTS crm_api_authenticator, crm_api_user, crm_api_anonymous" 2>/dev/null
q -d crm_api >/tmp/crm_api_setup.$$ 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
CREATE ROLE crm_api_user NOLOGIN;
CREATE ROLE crm_api_anonymous NOLOGIN;
CREATE ROLE crm_api_authenticator LOGIN NOINHERIT;
GRANT crm_api_user, crm_api_anonymous TO crm_api_authenticator;
SELECT crm.grant_access('crm_api_user');
SELECT crm.create_workspace('api-a', 'Workspace A', 'EUR');
SELECT crm.create_workspace('api-b', 'Workspace B');
SQL
[ $? = 0 ] || { sed 's/^/# /' /tmp/crm_api_setup.$$; rm -f /tmp/crm_api_setup.$$; bail "database crm_api set up"; }
rm -f /tmp/crm_api_setup.$$

export CRM_API_DATABASE=crm_api
export CRM_API_WORKSPACE_A=$(q -d crm_api -c "SELECT id FROM crm.workspaces WHERE slug = 'api-a'")
export CRM_API_WORKSPACE_B=$(q -d crm_api -c "SELECT id FROM crm.workspaces WHERE slug = 'api-b'")
# the helpers outside schema crm, which the GraphQL schema must not show
export CRM_API_HELPERS=$(q -d crm_api -c "SELECT string_agg(DISTINCT p.proname, ' ') FROM pg_proc p
	WHERE p.pronamespace IN ('crm_hidden'::regnamespace, 'crm_internal'::regnamespace) AND p.prorettype <> 'trigger'::regtype")
# PostGraphile's warnings go to a file, shown when the flow fails (the flow
# itself fails on any naming conflict PostGraphile reports)
node "$api/flow.js" 2>/tmp/crm_api_stderr.$$
status=$?
[ $status = 0 ] || sed 's/^/# /' /tmp/crm_api_stderr.$$
rm -f /tmp/crm_api_stderr.$$
[ -n "${CRM_API_KEEP:-}" ] || "$PG_BINDIR/dropdb" --if-exists crm_api
[ -n "${CRM_API_KEEP:-}" ] || q -c "DROP ROLE crm_api_authenticator, crm_api_user, crm_api_anonymous"
exit $status
