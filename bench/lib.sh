# Helpers for bench/cases/*.sh, sourced by bench/run.
#
# A case measures a crm operation and its bare-PostgreSQL equivalent in the
# same run, on the same machine, and reports the ratio; it never asserts a
# time.  Cases see $SCALE (rows) and $BENCH_DB.

# Run SQL, print nothing.
bench_sql() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1" >/dev/null
}

# Median wall time in milliseconds of running SQL $2 ($3 times, default 3),
# each run in its own session after running setup SQL $1 (may be empty)
# outside the timed part.
bench_ms() {
	local setup=$1 sql=$2 runs=${3:-3} i out t times=()
	for ((i = 0; i < runs; i++)); do
		out=$( { [ -n "$setup" ] && printf '%s\n' "$setup"; printf '\\timing on\n%s\n' "$sql"; } |
			psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1)
		t=$(awk '/^Time: /{t=$2} END{print t}' <<<"$out")
		# say why: a bench that fails by chance must leave its cause behind
		[ -n "$t" ] || { printf 'bench query failed: %s\n%s\n' "$sql" "$out" >&2; return 1; }
		times+=("$t")
	done
	printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

# Median wall times in milliseconds of crm SQL $2 and bare SQL $4, each run
# after its setup ($1, $3) in its own session, alternately $5 times (default
# 5), so that a change in the machine's load weighs on both sides alike.
# Prints "CRM_MS BARE_MS".
bench_pair() {
	local crm_setup=$1 crm_sql=$2 bare_setup=$3 bare_sql=$4 runs=${5:-5} i crm=() bare=()
	for ((i = 0; i < runs; i++)); do
		crm+=("$(bench_ms "$crm_setup" "$crm_sql" 1)") || return 1
		bare+=("$(bench_ms "$bare_setup" "$bare_sql" 1)") || return 1
	done
	echo "$(printf '%s\n' "${crm[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" \
		"$(printf '%s\n' "${bare[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
}

# report CASE CRM_MS BARE_MS KIND TARGET
#   KIND time:       ratio = crm/bare time, lower is better (target "<= 1.1")
#   KIND throughput: ratio = bare/crm time = crm throughput relative to bare (target ">= 0.7")
report() {
	local name=$1 crm=$2 bare=$3 kind=$4 target=$5 ratio
	if [ "$kind" = throughput ]; then
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", b/c}')
	else
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", c/b}')
	fi
	printf '| %-58s | %10.1f | %10.1f | %6sx | %-10s |\n' "$name" "$crm" "$bare" "$ratio" "$kind $target" | tee -a "$BENCH_RESULTS"
	# one JSON object a line, for bench/plot.sh
	printf '{"case": "%s", "crm_ms": %s, "bare_ms": %s, "ratio": %s, "kind": "%s", "target": "%s"}\n' \
		"${name//\"/\\\"}" "$crm" "$bare" "$ratio" "$kind" "$target" >>"${BENCH_JSON:-/dev/null}"
}

# report_abs CASE VALUE UNIT TARGET: for targets stated in absolute terms (p95 ms)
report_abs() {
	printf '| %-58s | %10s | %10s | %7s | %-10s |\n' "$1" "$2 $3" "-" "-" "$4" | tee -a "$BENCH_RESULTS"
}
