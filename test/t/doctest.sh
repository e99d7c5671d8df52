#!/usr/bin/env bash
# The examples of README.md and docs/*.md run (issue 18, item 6): each file's
# ```sql blocks run in order in a fresh database with crm installed, and
# their output matches the ```output block after them (test/doctest.pl;
# the format is in docs/development.md, "Examples in the docs").  Roles an
# example creates are dropped after its file.
#   DOCTEST_ACCEPT=1 bash test/t/doctest.sh docs/x.md   writes the actual outputs into the file
cd "$(dirname "$0")/../.."
. test/tap.sh

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(README.md docs/*.md)
echo "1..$((${#files[@]} + 2))"

# the psql commands the docs' shell examples name exist
missing=""
for c in $(grep -h -A30 '^\s*```\(sh\|bash\)' README.md docs/*.md | grep -oE '^\s*(pg_[a-z_]+|psql|createdb|dropdb)\b' | sort -u); do
	[ -x "$PG_BINDIR/$c" ] || command -v "$c" >/dev/null || missing="$missing $c"
done
[ -z "$missing" ]
ok $? "the PostgreSQL commands the shell examples name exist${missing:+ (missing:$missing)}"

db=crm_doctest
# the doctest itself: a right output passes, a wrong one, or an error in a
# block without output, fails; a norun block is not run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fence='```'
printf '%s\n' "${fence}sql" "SELECT 1 AS one;" "$fence" "${fence}output" " one" "-----" "   1" "$fence" \
	"${fence}sql norun" "SELECT * FROM nowhere;" "$fence" >"$tmp/right.md"
sed 's/^   1$/   2/' "$tmp/right.md" >"$tmp/wrong.md"
printf '%s\n' "${fence}sql" "SELECT * FROM nowhere;" "$fence" >"$tmp/error.md"
selftest=""
for t in right wrong error; do
	fresh_db $db
	PGDATABASE=$db PSQL="$PG_BINDIR/psql" perl test/doctest.pl "$tmp/$t.md" >/dev/null 2>&1
	selftest="$selftest $t=$?"
	"$PG_BINDIR/dropdb" $db
done
[ "$selftest" = " right=0 wrong=1 error=1" ]
ok $? "the doctest passes a right output and fails a wrong one and an error ($selftest)"

roles() { q -d postgres -c "SELECT rolname FROM pg_roles ORDER BY 1"; }
for f in "${files[@]}"; do
	before=$(roles)
	fresh_db $db
	q -d $db -c 'SET client_min_messages = warning; CREATE EXTENSION crm CASCADE;' >/dev/null
	result=$(PGDATABASE=$db PGTZ=UTC PGDATESTYLE='ISO, MDY' PSQL="$PG_BINDIR/psql" \
		perl test/doctest.pl ${DOCTEST_ACCEPT:+--accept} "$f" 2>&1)
	status=$?
	"$PG_BINDIR/dropdb" $db
	for r in $(comm -13 <(echo "$before") <(roles)); do q -d postgres -c "DROP ROLE \"$r\"" >/dev/null; done
	ok $status "$f: ${result%%$'\n'*}"
	[ $status = 0 ] || sed 's/^/#   /' <<<"$result"
done
[ "$failures" = 0 ]
