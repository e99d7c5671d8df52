# CQL: crm.find_contacts(cql) against the hand-written SQL for the same
# question (ratio of median times, and whether the two plans match), and
# crm.search prefix/fuzzy p95 latency.  Sourced by bench/run; the data, the
# questions and the measures are bench/lib.sh's (big_tenant.sh runs them on
# one workspace of millions).

bench_cql_load "$SCALE"
bench_cql_cases
report_abs "search: prefix p95 (${SCALE} contacts)" "$(search_p95 prefix "$prefix_terms")" ms "p95 <= 10 ms"
report_abs "search: fuzzy p95 (${SCALE} contacts)" "$(search_p95 fuzzy "$fuzzy_terms")" ms "p95 <= 10 ms"
