#!/usr/bin/env bash
# Draws bench/run's JSON lines as one SVG: every case's ratio against its
# target (time cases: crm/bare, lower is better; throughput cases:
# crm/bare throughput, higher is better), and each concurrency mix's
# throughput against the client count, crm and bare.
# Usage: bash bench/plot.sh results.json out.svg
set -euo pipefail
json=$1 svg=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the value of "key" in one JSON line as bench/lib.sh writes them (flat, no
# commas inside strings but the case names, which come first)
jfield='function f(k,   m) { if (match($0, "\"" k "\": (\"[^\"]*\"|[-0-9.]+)")) { m = substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 4); gsub(/"/, "", m); return m } return "" }'
# case, ratio, target as a number, for the cases with a ratio target
awk "$jfield"' f("kind") ~ /^(time|throughput)$/ { t = f("target")
		if (t !~ /ms/ && match(t, /[0-9.]+/)) { tv = substr(t, RSTART, RLENGTH); printf "\"%s\"\t%s\t%s\n", f("case"), f("ratio"), tv } }' "$json" >"$tmp/ratios"
# per concurrency mix: clients, crm tps, bare tps
awk "$jfield"' f("clients") != "" { m = f("case"); gsub(/[^a-z]+/, "_", m)
		printf "%s\t%s\t%s\t%s\n", f("case"), f("clients"), f("crm_tps"), f("bare_tps") >> (dir "/mix_" m) }' dir="$tmp" "$json"
nratios=$(wc -l <"$tmp/ratios")
mixes=("$tmp"/mix_*)
[ -e "${mixes[0]}" ] || mixes=()

{
	echo "set terminal svg size 1000,$((100 + (nratios > 0) * (200 + 22 * nratios) + 300 * (${#mixes[@]} > 0))) dynamic font 'sans,10'"
	echo "set output '$svg'"
	echo 'set datafile separator "\t"'
	echo "set multiplot layout $(( (nratios > 0) + (${#mixes[@]} > 0) )),1"
	if [ "$nratios" -gt 0 ]; then
		echo "set title 'crm against bare PostgreSQL: ratio per case (bar) and target (mark)'"
		echo "set style fill solid 0.6"
		echo "set yrange [-1:$nratios]"
		echo "set ytics nomirror"
		echo "set grid xtics"
		echo "set xlabel 'ratio (time: crm/bare, lower is better; throughput: crm/bare, higher is better)'"
		echo "plot '$tmp/ratios' using (\$2/2.0):0:(\$2/2.0):(0.35):yticlabels(1) with boxxyerror title 'measured', \\"
		echo "     '' using 3:0 with points pt 9 ps 1.2 title 'target'"
	fi
	if [ ${#mixes[@]} -gt 0 ]; then
		echo "unset yrange; unset ytics; set ytics; set logscale x 2; set xtics (1, 4, 16)"
		echo "set title 'concurrency: throughput against clients'"
		echo "set xlabel 'clients'; set ylabel 'transactions per second'"
		printf "plot "
		sep=""
		for m in "${mixes[@]}"; do
			label=$(head -1 "$m" | cut -f1)
			printf "%s'%s' using 2:3 with linespoints title 'crm %s', '%s' using 2:4 with linespoints dt 2 title 'bare %s'" \
				"$sep" "$m" "$label" "$m" "$label"
			sep=", "
		done
		echo
	fi
	echo "unset multiplot"
} >"$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
