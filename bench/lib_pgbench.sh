# pgbench helpers for bench/cases/concurrency.sh, sourced by bench/run.
#
# A point runs one pgbench script for CONC_SECONDS (default 3; 10, then 5,
# before issue 25 item 7 asked the default run under 20 minutes: at the
# quiet figures the slowest point, the list churn at 16 clients, still
# commits some 1,200 transactions, the single-client points thousands)
# with N clients over the Unix socket, prepared statements, no retries: a serialization failure or
# deadlock is counted as a failure, any other error aborts its client and
# is counted too.

CONC_SECONDS=${CONC_SECONDS:-3}

# pgbench_point SCRIPT CLIENTS [-D var=value ...]
# Prints "TPS P50_MS P99_MS FAILED SERIALIZATION DEADLOCKS ABORTED".
pgbench_point() {
	local script=$1 clients=$2 dir out rc=0
	shift 2
	script=$(realpath "$script")
	dir=$(mktemp -d --suffix=.crm-pgbench)
	out=$(cd "$dir" && "$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j "$(( clients < 2 ? clients : 2 ))" \
		-T "$CONC_SECONDS" --max-tries=1 --failures-detailed -l --log-prefix=tx \
		-f "$script" "$@" "$BENCH_DB" 2>&1) || rc=$?
	# latencies (µs, the third field) of the committed transactions
	cat "$dir"/tx.* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n >"$dir/lat"
	awk -v out="$out" -v rc="$rc" -v aborted="$(grep -c 'aborted in command' <<<"$out")" '
		{ a[NR] = $1 }
		END {
			tps = 0; fail = 0; ser = 0; dl = 0
			n = split(out, lines, "\n")
			for (i = 1; i <= n; i++) {
				if (lines[i] ~ /^tps = /) { split(lines[i], f, " "); tps = f[3] }
				if (lines[i] ~ /^number of failed transactions:/) { split(lines[i], f, " "); fail = f[5] }
				if (lines[i] ~ /^number of serialization failures:/) { split(lines[i], f, " "); ser = f[5] }
				if (lines[i] ~ /^number of deadlock failures:/) { split(lines[i], f, " "); dl = f[5] }
			}
			p50 = NR ? a[int(NR * 0.50) + (NR * 0.50 > int(NR * 0.50))] / 1000 : 0
			p99 = NR ? a[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))] / 1000 : 0
			printf "%.0f %.2f %.2f %d %d %d %d\n", tps, p50, p99, fail, ser, dl, aborted + (rc != 0 && aborted == 0)
		}' "$dir/lat"
	# an aborted client leaves its error behind, for the reader of the run
	grep -m 3 'ERROR\|aborted' <<<"$out" >&2 || true
	rm -rf "$dir"
}

# conc_pair NAME CRM_SCRIPT BARE_SCRIPT TARGET [-D ...]: each client count,
# crm and bare alternately, one line each to the table and to $BENCH_RESULTS.
conc_pair() {
	local name=$1 crm_script=$2 bare_script=$3 target=$4 c crm bare
	shift 4
	for c in ${CONC_CLIENTS:-1 4 16}; do
		crm=$(pgbench_point "$crm_script" "$c" "$@")
		bare=$(pgbench_point "$bare_script" "$c" "$@")
		report_conc "$name" "$c" "$crm" "$bare" "$target"
	done
}

# report_conc NAME CLIENTS "CRM_FIGURES" "BARE_FIGURES" TARGET
report_conc() {
	local name=$1 c=$2 target=$5 ct cp50 cp99 cf cs cd ca bt bp50 bp99 bf bs bd ba ratio
	read -r ct cp50 cp99 cf cs cd ca <<<"$3"
	read -r bt bp50 bp99 bf bs bd ba <<<"$4"
	ratio=$(awk -v c="$ct" -v b="$bt" 'BEGIN{printf "%.2f", (b > 0 ? c / b : 0)}')
	printf '| %-26s | %3s | %7s | %7s | %6sx | %-8s | %6s / %6s | %7s / %7s | %3s %3s %3s %3s |\n' \
		"$name" "$c" "$ct" "$bt" "$ratio" "$target" "$cp50" "$bp50" "$cp99" "$bp99" "$cf" "$cs" "$cd" "$ca" |
		tee -a "${BENCH_CONC_RESULTS:-/dev/null}"
	printf '{"case": "%s", "clients": %s, "crm_tps": %s, "bare_tps": %s, "ratio": %s, "target": "%s", "crm_p50_ms": %s, "bare_p50_ms": %s, "crm_p99_ms": %s, "bare_p99_ms": %s, "failed": %s, "serialization": %s, "deadlocks": %s, "aborted": %s, "bare_failed": %s}\n' \
		"$name" "$c" "$ct" "$bt" "$ratio" "$target" "$cp50" "$bp50" "$cp99" "$bp99" "$cf" "$cs" "$cd" "$ca" "$((bf + ba))" >>"${BENCH_JSON:-/dev/null}"
}

conc_header() {
	printf '| %-26s | %3s | %7s | %7s | %7s | %-8s | %15s | %17s | %15s |\n' \
		mix clients "crm tps" "bare tps" ratio target "p50 ms crm/bare" "p99 ms crm/bare" "fail ser dl abrt"
}

# conc_alternate NAME CRM_SCRIPT CRM_SETUP BARE_SCRIPT BARE_SETUP TARGET [-D ...]:
# for each client count (CONC_CLIENTS), BENCH_RUNS points of each side,
# crm and bare alternately, each after its setup SQL (through psql's
# stdin, so that it may VACUUM); one line with the median throughputs,
# their ratio and its spread (the lowest and highest ratio of a crm point
# to the bare point next to it), the median latencies and every failure.
conc_alternate() {
	local name=$1 crm_script=$2 crm_setup=$3 bare_script=$4 bare_setup=$5 target=$6 c i crm bare
	shift 6
	for c in ${CONC_CLIENTS:-1 4 16}; do
		crm=() bare=()
		for ((i = 0; i < BENCH_RUNS; i++)); do
			psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$crm_setup" >/dev/null || return 1
			crm+=("$(pgbench_point "$crm_script" "$c" "$@")")
			psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<<"$bare_setup" >/dev/null || return 1
			bare+=("$(pgbench_point "$bare_script" "$c" "$@")")
		done
		report_conc_runs "$name" "$c" "$target" "$(printf '%s\n' "${crm[@]}")" "$(printf '%s\n' "${bare[@]}")"
	done
}

conc_runs_header() {
	printf '| %-50s | %3s | %7s | %7s | %6s | %-11s | %-8s | %-14s | %15s | %17s | %9s |\n' \
		mix clients "crm tps" "bare tps" ratio spread target verdict "p50 ms crm/bare" "p99 ms crm/bare" "failures"
}

# report_conc_runs NAME CLIENTS TARGET "CRM_POINTS" "BARE_POINTS": the points
# one a line as pgbench_point prints them; failures are the crm side's and
# the bare side's failed transactions and aborted clients, summed
report_conc_runs() {
	local name=$1 c=$2 target=$3 line mc mb ratio lo hi verdict cp50 bp50 cp99 bp99 cf bf
	line=$(awk -v t="$target" -v crm="$4" -v bare="$5" '
		function median(a, n,   i, j, x, b) {
			for (i = 1; i <= n; i++) b[i] = a[i]
			for (i = 2; i <= n; i++) { x = b[i]; for (j = i - 1; j > 0 && b[j] > x; j--) b[j + 1] = b[j]; b[j + 1] = x }
			return b[int((n + 1) / 2)]
		}
		BEGIN {
			n = split(crm, cl, "\n"); split(bare, bl, "\n")
			for (i = 1; i <= n; i++) {
				split(cl[i], f, " "); ct[i] = f[1]; cp50[i] = f[2]; cp99[i] = f[3]; cf += f[4] + f[7]
				split(bl[i], g, " "); bt[i] = g[1]; bp50[i] = g[2]; bp99[i] = g[3]; bf += g[4] + g[7]
				r = g[1] > 0 ? f[1] / g[1] : 0
				if (i == 1 || r < lo) lo = r; if (i == 1 || r > hi) hi = r
			}
			mc = median(ct, n); mb = median(bt, n); ratio = mb > 0 ? mc / mb : 0
			verdict = "-"
			if (t ~ /^(<=|>=) *[0-9.]+$/) {
				op = substr(t, 1, 2); x = substr(t, 3) + 0
				met = (op == "<=") ? ratio <= x : ratio >= x
				verdict = (lo <= x && x <= hi) ? (met ? "met, unsure" : "missed, unsure") : (met ? "met" : "missed")
			}
			printf "%s|%s|%.2f|%.2f|%.2f|%s|%.2f|%.2f|%.2f|%.2f|%d|%d\n", mc, mb, ratio, lo, hi, verdict,
				median(cp50, n), median(bp50, n), median(cp99, n), median(bp99, n), cf, bf
		}')
	IFS='|' read -r mc mb ratio lo hi verdict cp50 bp50 cp99 bp99 cf bf <<<"$line"
	printf '| %-50s | %3s | %7s | %7s | %5sx | %-11s | %-8s | %-14s | %6s / %6s | %7s / %7s | %4s %4s |\n' \
		"$name" "$c" "$mc" "$mb" "$ratio" "$lo-$hi" "$target" "$verdict" "$cp50" "$bp50" "$cp99" "$bp99" "$cf" "$bf" |
		tee -a "${BENCH_CONC_RESULTS:-$BENCH_RESULTS}"
	printf '{"case": "%s", "clients": %s, "crm_tps": %s, "bare_tps": %s, "ratio": %s, "ratio_min": %s, "ratio_max": %s, "target": "%s", "verdict": "%s", "crm_p50_ms": %s, "bare_p50_ms": %s, "crm_p99_ms": %s, "bare_p99_ms": %s, "failed": %s, "bare_failed": %s}\n' \
		"$name" "$c" "$mc" "$mb" "$ratio" "$lo" "$hi" "$target" "$verdict" "$cp50" "$bp50" "$cp99" "$bp99" "$cf" "$bf" >>"${BENCH_JSON:-/dev/null}"
}
