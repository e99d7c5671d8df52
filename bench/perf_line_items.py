#!/usr/bin/env python3
"""Split a backend's CPU profile of one-line-item transactions into where it went.

Usage (docs/performance.md, "Single-row line items as applications send them:
the transaction's parts (lineit)"):

    perf record -g -F 1999 -o crm.data -p <pgbench backend pid> -- sleep 8
    perf script -i crm.data > crm.txt
    python3 bench/perf_line_items.py 1999 crm.txt:5497 bare.txt:14676

Each profile is given with the transactions its backend committed while
perf recorded (pg_stat_database.xact_commit before and after).  Prints
microseconds of CPU per transaction (samples / rate / transactions) by row.
A sample counts for the first row, top to bottom, that a function on its
stack names, so the rows add up to the total.
"""
import sys

from perf_stacks import split

REVALUE = {'RevalueOneDeal', 'crm_line_items_revalue'}
ROWS = [
    ('commit: deferred triggers (the report summaries\' flush)', {'AfterTriggerFireDeferred'}),
    ('commit: the rest (WAL writer wake-up, locks; bare too)', {'CommitTransactionCommand'}),
    ('revaluation: the deal\'s CHECK constraints, parsed per statement', 'revalue+ExecConstraints'),
    ('revaluation: the value history row', {'crm_record_history'}),
    ('revaluation: the CRM_DEAL_UPDATED event row', {'crm_emit_row_events'}),
    ('revaluation: lock, sum, the deal\'s UPDATE and its other triggers', REVALUE),
    ('line_item_prepare (the deal\'s currency, the total)', {'crm_line_item_prepare'}),
    ('line_item_touch (the deal remembered)', {'crm_line_item_touch'}),
    ('after-row and statement triggers: the foreign keys (bare too), the rest',
     {'AfterTriggerEndQuery'}),
    ('the line\'s CHECK constraints (bare too)', {'ExecConstraints'}),
    ('the line\'s index entries (bare too)', {'ExecInsertIndexTuples'}),
    ('other BEFORE row and statement triggers', {'ExecBRInsertTriggers', 'ExecBSInsertTriggers'}),
    ('executor start and end', {'standard_ExecutorStart', 'standard_ExecutorEnd'}),
    ('bind and plan cache', {'exec_bind_message', 'exec_parse_message', 'GetCachedPlan'}),
    ('client protocol and socket (bare too)',
     {'secure_read', 'secure_write', 'pq_getbyte', 'pq_flush', 'socket_flush', 'ReadyForQuery'}),
    ('the rest', None),
]


def matches(funcs, s):
    if funcs is None:
        return True
    if funcs == 'revalue+ExecConstraints':
        return bool(s & REVALUE) and 'ExecConstraints' in s
    return bool(s & funcs)


def main():
    rate = float(sys.argv[1])
    profiles = [arg.rsplit(':', 1) for arg in sys.argv[2:]]
    results = [(split(path, ROWS, matches), float(calls)) for path, calls in profiles]
    per_call = lambda n, calls: '%.1f' % (n * 1e6 / rate / calls)
    print('| where (µs of CPU a transaction) | ' + ' | '.join(p for p, _ in profiles) + ' |')
    print('| --- |' + ' ---: |' * len(profiles))
    for name, _ in ROWS:
        print('| %s | %s |' % (name, ' | '.join(per_call(c[name], n) for (c, _), n in results)))
    print('| total | %s |' % ' | '.join(per_call(t, n) for (_, t), n in results))


if __name__ == '__main__':
    main()
