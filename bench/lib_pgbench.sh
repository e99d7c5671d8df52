# pgbench helpers for bench/cases/concurrency.sh, sourced by bench/run.
#
# A point runs one pgbench script for CONC_SECONDS (default 5; 10 before
# issue 25 item 7 asked the default run under 20 minutes: at the quiet
# figures the slowest point, the list churn at 16 clients, still commits
# some 2,000 transactions) with N clients over the Unix socket, prepared
# statements, no retries: a serialization failure or deadlock is counted
# as a failure, any other error aborts its client and is counted too.

CONC_SECONDS=${CONC_SECONDS:-5}

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
