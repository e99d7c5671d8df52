#!/usr/bin/env python3
"""Split a backend's CPU profile of the identify bench loop into where it went.

Usage (docs/performance.md, "identify: where the doubled time went (ident8)"):

    perf record --call-graph dwarf,32768 -F 1500 -o identify.data -p <backend pid>
    perf script -i identify.data > identify.txt
    python3 bench/perf_identify.py 1500 10000 identify.txt [bare.txt ...]

prints, for each profile, microseconds per call (samples / rate / calls) by
row.  A sample counts for the first row, top to bottom, that a function on
its stack names, so the rows add up to the total.
"""
import sys

from perf_stacks import split

ROWS = [
    ('commit: report summaries written (deferred flush)',
     {'crm_report_summaries_flush', 'PendingXactCallback', 'PendingWriteAll'}),
    ('commit: deferred trigger firing (the flush event)', {'AfterTriggerFireDeferred'}),
    ('commit: rest (WAL writer wake-up, locks)', {'CommitTransactionCommand'}),
    ('outbox rows (emit_row_events)', {'crm_emit_row_events'}),
    ('report summaries: statement trigger', {'Summarize', 'crm_report_contacts_summarize'}),
    ('search words, lists, history statement triggers',
     {'crm_keep_search_words', 'crm_lists_sync', 'crm_record_history'}),
    ('foreign key check of workspace_id', {'SPI_execute_snapshot'}),
    ('statement triggers: machinery', {'AfterTriggerEndQuery'}),
    ('normalize_row', {'crm_normalize_row'}),
    ('other BEFORE row triggers (validation, rules, privacy, WHEN quals)',
     {'ExecBRInsertTriggers', 'ExecBRUpdateTriggersNew', 'ExecBRUpdateTriggers'}),
    ('AFTER row triggers queued (limits WHEN, flush event)', {'ExecARInsertTriggers', 'ExecARUpdateTriggers'}),
    ('permission statement trigger', {'crm_require_permission'}),
    ('index entries of the contact (bare too)', {'ExecInsertIndexTuples'}),
    ('opening and closing its indexes (bare too)', {'ExecOpenIndices', 'ExecCloseIndices'}),
    ('CHECK constraints, parsed per statement (bare too)', {'ExecConstraints'}),
    ('executor start and end', {'standard_ExecutorStart', 'standard_ExecutorEnd'}),
    ('heap insert or update, conflict check', {'heap_insert', 'heap_update', 'ExecUpdate', 'ExecInsert',
                                               'ExecModifyTable', 'ExecOnConflictUpdate',
                                               'ExecCheckIndexConstraints', 'heap_lock_tuple'}),
    ('identify: key probes', {'FindMatches'}),
    ('identify: advisory locks', {'LockKeys'}),
    ('identify: the rest (arguments, SPI, plan checks)', {'crm_identify'}),
    ('PL/pgSQL loop and the rest', None),
]


def main():
    rate, calls, paths = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    results = [split(p, ROWS) for p in paths]
    per_call = lambda n: '%.1f' % (n * 1e6 / rate / calls)
    print('| where | ' + ' | '.join(paths) + ' |')
    print('| --- |' + ' ---: |' * len(paths))
    for name, _ in ROWS:
        print('| %s | %s |' % (name, ' | '.join(per_call(c[name]) for c, _ in results)))
    print('| total | %s |' % ' | '.join(per_call(t) for _, t in results))


if __name__ == '__main__':
    main()
