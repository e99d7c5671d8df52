# Helpers for bench/cases/*.sh, sourced by bench/run.
#
# A case measures a crm operation and its bare-PostgreSQL equivalent in the
# same run, on the same machine, and reports the ratio; it never asserts a
# time.  Cases see $SCALE (rows) and $BENCH_DB.

# Run SQL, print nothing.
bench_sql() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1" >/dev/null
}

# Whether a run of bench SQL $1 succeeded, from psql's output $2 and the
# time read from it ($3, "failed" when psql exited with an error); if not,
# says whether the setup or the timed statement failed, with the output.
bench_check() {
	local sql=$1 out=$2 t=$3
	[ -n "$t" ] && [ "$t" != failed ] && return 0
	if grep -q '^Time: ' <<<"$out"; then
		printf 'bench query failed: %s\n%s\n' "$sql" "$out" >&2
	else
		printf 'bench query failed in its setup, before: %s\n%s\n' "$sql" "$out" >&2
	fi
	return 1
}

# Median wall time in milliseconds of running SQL $2 ($3 times, default 3),
# each run in its own session after running setup SQL $1 (may be empty)
# outside the timed part.
bench_ms() {
	local setup=$1 sql=$2 runs=${3:-3} i out t times=()
	for ((i = 0; i < runs; i++)); do
		t=
		out=$( { [ -n "$setup" ] && printf '%s\n' "$setup"; printf '\\timing on\n%s\n' "$sql"; } |
			psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1) || t=failed
		[ "$t" = failed ] || t=$(awk '/^Time: /{t=$2} END{print t}' <<<"$out")
		# psql times a statement that fails too ("ERROR: ...", then "Time:
		# 0.4 ms"): only its exit status tells.  Say why and where: a bench
		# that fails by chance must leave its cause behind
		bench_check "$sql" "$out" "$t" || return 1
		times+=("$t")
	done
	printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

# Every case runs crm and bare alternately, at least BENCH_RUNS times each
# (default 5), and report() gives the median ratio with its spread: the
# lowest and highest ratio of a crm run to the bare run next to it.  The
# runs of the last measurement wait in $BENCH_SPREAD for report().
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SPREAD=${BENCH_RESULTS:-/tmp/crm-bench}.spread
# Backend CPU time in milliseconds (user + system, from /proc) of running
# SQL $2 once in a new session after setup SQL $1: under load the wall time
# counts the other jobs' turns on the cores, the backend's CPU time does
# not.  The server runs on this machine (test/cluster.sh).
bench_cpu_ms() {
	local setup=$1 sql=$2 out t
	out=$( { [ -n "$setup" ] && printf '%s\n' "$setup"
		printf 'SELECT pg_backend_pid() AS bench_pid \\gset\n'
		printf '\\setenv BENCH_PID :bench_pid\n'
		printf '\\! echo "cpu0 $(cut -d")" -f2- /proc/$BENCH_PID/stat)"\n'
		# (the ";" ends a statement left open, which psql would send only at the end)
		printf '%s\n;\n' "$sql"
		printf '\\! echo "cpu1 $(cut -d")" -f2- /proc/$BENCH_PID/stat)"\n'; } |
		psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1)
	# utime and stime are fields 14 and 15 of stat, 12 and 13 after the ")"
	t=$(awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu0" {a = $13 + $14} $1 == "cpu1" {b = $13 + $14; ok = 1}
		END {if (ok) printf "%.1f", (b - a) * 1000 / hz}' <<<"$out")
	[ -n "$t" ] || { printf 'bench query failed: %s\n%s\n' "$sql" "$out" >&2; return 1; }
	echo "$t"
}

# bench_pair, in backend CPU milliseconds (bench_cpu_ms): "CRM_MS BARE_MS"
bench_cpu_pair() {
	local crm_setup=$1 crm_sql=$2 bare_setup=$3 bare_sql=$4 runs=${5:-$BENCH_RUNS} i crm=() bare=()
	[ "$runs" -ge "$BENCH_RUNS" ] || runs=$BENCH_RUNS
	for ((i = 0; i < runs; i++)); do
		crm+=("$(bench_cpu_ms "$crm_setup" "$crm_sql")") || return 1
		bare+=("$(bench_cpu_ms "$bare_setup" "$bare_sql")") || return 1
	done
	spread_record "${crm[*]}" "${bare[*]}"
	echo "$(median "${crm[@]}")" "$(median "${bare[@]}")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# spread_record "CRM_MS ..." "BARE_MS ...": the paired runs for the next report
spread_record() {
	printf '%s\n%s\n' "$1" "$2" >"$BENCH_SPREAD"
}

# Median wall times in milliseconds of crm SQL $2 and bare SQL $4, each run
# after its setup ($1, $3) in its own session, alternately $5 times (at
# least BENCH_RUNS), so that a change in the machine's load weighs on both
# sides alike.  Prints "CRM_MS BARE_MS".
#
# Given the report's KIND and TARGET ($6, $7), the slower side may run only
# once: when the first pair's ratio is BENCH_FAR (default 4) times past the
# target, either way, and no spread seen between the runs of one case on
# this machine (at most 3.9x: the import case's 2.90-11.41 at load 1)
# could flip the verdict.  The faster side still
# runs every time, each run paired with the slower side's one; the verdict
# says which side ran once ("met, 1 bare").
bench_pair() {
	local crm_setup=$1 crm_sql=$2 bare_setup=$3 bare_sql=$4 runs=${5:-$BENCH_RUNS} kind=${6:-} target=${7:-}
	local i crm=() bare=() once=
	[ "$runs" -ge "$BENCH_RUNS" ] || runs=$BENCH_RUNS
	for ((i = 0; i < runs; i++)); do
		if [ "$once" = crm ]; then
			crm+=("${crm[0]}")
		else
			crm+=("$(bench_ms "$crm_setup" "$crm_sql" 1)") || return 1
		fi
		if [ "$once" = bare ]; then
			bare+=("${bare[0]}")
		else
			bare+=("$(bench_ms "$bare_setup" "$bare_sql" 1)") || return 1
		fi
		[ "$i" -gt 0 ] || [ -z "$target" ] || once=$(far_side "${crm[0]}" "${bare[0]}" "$kind" "$target")
	done
	spread_record "${crm[*]}" "${bare[*]}"
	[ -z "$once" ] || echo "once $once" >>"$BENCH_SPREAD"
	echo "$(median "${crm[@]}")" "$(median "${bare[@]}")"
}

# far_side CRM_MS BARE_MS KIND TARGET: the slower side ("crm" or "bare")
# when the ratio of this pair is BENCH_FAR times past the target, either
# way; nothing otherwise
far_side() {
	awk -v c="$1" -v b="$2" -v kind="$3" -v t="$4" -v far="${BENCH_FAR:-4}" 'BEGIN{
		if (t !~ /^(<=|>=) *[0-9.]+$/ || c <= 0 || b <= 0 || far < 1) exit
		x = substr(t, 3) + 0; r = kind == "throughput" ? b / c : c / b
		if (x > 0 && (r <= x / far || r >= x * far)) print (c > b ? "crm" : "bare")}'
}

# report CASE CRM_MS BARE_MS KIND TARGET
#   KIND time:       ratio = crm/bare time, lower is better (target "<= 1.1")
#   KIND throughput: ratio = bare/crm time = crm throughput relative to bare (target ">= 0.7")
# With the paired runs of the measurement ($BENCH_SPREAD), the spread is the
# lowest and highest paired ratio; when the target lies inside it, the
# spread is wider than the margin and the verdict says "unsure".
report() {
	local name=$1 crm=$2 bare=$3 kind=$4 target=$5 ratio spread="-" verdict lo="null" hi="null" once=
	if [ "$kind" = throughput ]; then
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", b/c}')
	else
		ratio=$(awk -v c="$crm" -v b="$bare" 'BEGIN{printf "%.2f", c/b}')
	fi
	if [ -s "$BENCH_SPREAD" ]; then
		once=$(awk '$1 == "once" {print $2}' "$BENCH_SPREAD")
		read -r lo hi < <(awk -v kind="$kind" 'NR == 1 {n = split($0, c)} NR == 2 {split($0, b)}
			END {for (i = 1; i <= n; i++) {r = kind == "throughput" ? b[i] / c[i] : c[i] / b[i];
				 if (i == 1 || r < lo) lo = r; if (i == 1 || r > hi) hi = r}
				 printf "%.2f %.2f\n", lo, hi}' "$BENCH_SPREAD")
		spread="$lo-$hi"
		rm -f "$BENCH_SPREAD"
	fi
	verdict=$(awk -v r="$ratio" -v lo="$lo" -v hi="$hi" -v t="$target" 'BEGIN{
		if (t !~ /^(<=|>=) *[0-9.]+$/) {print "-"; exit}
		op = substr(t, 1, 2); x = substr(t, 3) + 0
		met = (op == "<=") ? r <= x : r >= x
		if (lo != "null" && lo + 0 <= x && x <= hi + 0) print (met ? "met, unsure" : "missed, unsure")
		else print (met ? "met" : "missed")}')
	[ -z "$once" ] || verdict="$verdict, 1 $once"
	printf '| %-58s | %10.1f | %10.1f | %6sx | %-11s | %-10s | %-14s |\n' "$name" "$crm" "$bare" "$ratio" "$spread" "$kind $target" "$verdict" | tee -a "$BENCH_RESULTS"
	# one JSON object a line, for bench/plot.sh
	printf '{"case": "%s", "crm_ms": %s, "bare_ms": %s, "ratio": %s, "ratio_min": %s, "ratio_max": %s, "kind": "%s", "target": "%s", "verdict": "%s"}\n' \
		"${name//\"/\\\"}" "$crm" "$bare" "$ratio" "$lo" "$hi" "$kind" "$target" "$verdict" >>"${BENCH_JSON:-/dev/null}"
}

# bench_diagnostic CASE: whether to measure a diagnostic row (no target),
# which runs with BENCH_DIAGNOSTICS=1 only, to keep the default run short
# (issue 25 item 7); without it the table says so in the row's place.
# docs/performance.md lists them ("Plan limits at 100k and the bench's time").
bench_diagnostic() {
	[ -z "${BENCH_DIAGNOSTICS:-}" ] || return 0
	printf '| %-58s | %10s | %10s | %7s | %-11s | %-10s | %-14s |\n' "$1" - - - - "-" "BENCH_DIAGNOSTICS=1" |
		tee -a "$BENCH_RESULTS"
	return 1
}

# report_abs CASE VALUE UNIT TARGET: for targets stated in absolute terms (p95 ms)
report_abs() {
	printf '| %-58s | %10s | %10s | %7s | %-11s | %-10s | %-14s |\n' "$1" "$2 $3" "-" "-" "-" "$4" "-" | tee -a "$BENCH_RESULTS"
}
