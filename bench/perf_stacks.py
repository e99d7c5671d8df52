"""perf script's output read as samples: each sample's set of function names.

Shared by the profiles that split a backend's time into parts
(perf_identify.py, perf_line_items.py).
"""
import collections
import re

FRAME = re.compile(r'\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$')


def samples(path):
    """Each sample's set of function names (perf script's stack lines)"""
    cur = set()
    with open(path, errors='replace') as f:
        for line in f:
            if not line.strip():
                if cur:
                    yield cur
                cur = set()
                continue
            m = FRAME.match(line.rstrip('\n'))
            if m and not m.group(1).startswith('[unknown]'):
                cur.add(re.sub(r'\+0x[0-9a-f]+$', '', m.group(1)))
    if cur:
        yield cur


def any_of(funcs, s):
    """A row's match: any of its functions on the stack (None: every sample)"""
    return funcs is None or bool(s & funcs)


def split(path, rows, matches=any_of):
    """Samples counted by the first row (name, funcs) that matches, and the total"""
    counts = collections.Counter()
    total = 0
    for s in samples(path):
        total += 1
        for name, funcs in rows:
            if matches(funcs, s):
                counts[name] += 1
                break
    return counts, total
