#!/usr/bin/env python3
"""trace_check — checks a plait trace file against the Trace Event format's rules.

    trace_check.py FILE [--workers N] [--min-tasks N] [--expect-dropped N]
                        [--expect-events N] [--nested] [--groups N]

Rules (the format as chrome://tracing, Perfetto and speedscope read it):
  - the file is JSON: an object with a "traceEvents" list (or a bare list);
  - every event is an object with a "ph" from the format's set, and integer
    "pid" and "tid" (metadata events included); every event but "M" has a
    numeric "ts" >= 0; "X" events have a numeric "dur" >= 0;
  - every "B" is closed by an "E" on the same thread, in order;
  - the "X" events of one thread nest properly: two either do not overlap
    or one contains the other;
  - async "b"/"e" pairs match by (cat, id), each "e" after its "b";
  - instants have a scope "s" of t, p or g when they have one.
Options check plait's own promises: --workers N thread_name tracks named
<pool>-0 .. <pool>-(N-1); --min-tasks N task events; --expect-dropped N the
dropped count in otherData and in the "events dropped" instants;
--expect-events N events (other than metadata) on the worker tracks;
--nested some task event lies inside another on the same thread;
--groups N at least N group lifetimes.
Exit status 0 when every rule holds, 1 with one line per violation.
"""
import argparse
import json
import sys
from collections import defaultdict

PHASES = set("BEXIiCbneSTpFsftPOND") | {"M", "R", "c", "(", ")"}


def ns(x):
    """Microseconds in the file (three decimals) as integer nanoseconds."""
    return round(float(x) * 1000)


def is_worker(name):
    """plait names worker tracks <pool>-<index>, foreign threads foreign-<tid>."""
    return bool(name) and not name.startswith("foreign") and name.rsplit("-", 1)[-1].isdigit()


def check(path, args):
    errors = []

    def bad(msg):
        errors.append(msg)

    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return ["not valid JSON: %s" % e]
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        return ["no traceEvents list"]
    other = doc.get("otherData", {}) if isinstance(doc, dict) else {}

    stacks = defaultdict(list)  # B/E per thread
    spans = defaultdict(list)  # X per thread
    asyncs = {}
    names = {}
    tasks = groups = 0
    dropped_instants = 0
    for i, e in enumerate(events):
        where = "event %d" % i
        if not isinstance(e, dict):
            bad("%s: not an object" % where)
            continue
        ph = e.get("ph")
        if ph not in PHASES:
            bad("%s: ph %r not in the format" % (where, ph))
            continue
        for k in ("pid", "tid"):
            if not isinstance(e.get(k), int) or isinstance(e.get(k), bool):
                bad("%s: %s %r is not an integer" % (where, k, e.get(k)))
        key = (e.get("pid"), e.get("tid"))
        if ph == "M":
            if e.get("name") == "thread_name":
                names[key] = e.get("args", {}).get("name")
            continue
        ts = e.get("ts")
        if not isinstance(ts, (int, float)) or ts < 0:
            bad("%s: ts %r" % (where, ts))
            continue
        if ph == "X":
            dur = e.get("dur")
            if not isinstance(dur, (int, float)) or dur < 0:
                bad("%s: dur %r" % (where, dur))
                continue
            spans[key].append((ns(ts), ns(ts) + ns(dur), i))
            if e.get("cat") == "task":
                tasks += 1
        elif ph == "B":
            stacks[key].append((ns(ts), i))
        elif ph == "E":
            if not stacks[key]:
                bad("%s: E without a B on thread %r" % (where, key))
            else:
                t0, _ = stacks[key].pop()
                if ns(ts) < t0:
                    bad("%s: E before its B" % where)
        elif ph == "b":
            k = (e.get("cat"), e.get("id"))
            if k in asyncs:
                bad("%s: async id %r begun twice" % (where, k))
            asyncs[k] = ns(ts)
        elif ph == "e":
            k = (e.get("cat"), e.get("id"))
            if k not in asyncs:
                bad("%s: async end %r without a begin" % (where, k))
            else:
                if ns(ts) < asyncs.pop(k):
                    bad("%s: async end before its begin" % where)
                if e.get("cat") == "group":
                    groups += 1
        elif ph in ("i", "I"):
            if "s" in e and e["s"] not in ("t", "p", "g"):
                bad("%s: instant scope %r" % (where, e["s"]))
            if e.get("name", "").startswith("events dropped"):
                dropped_instants += e.get("args", {}).get("dropped", 0)
    for key, st in stacks.items():
        if st:
            bad("thread %r: %d B events never closed" % (key, len(st)))
    for k in asyncs:
        bad("async %r never ended" % (k,))

    nested = False
    for key, sp in spans.items():
        sp.sort(key=lambda s: (s[0], -s[1]))
        open_ = []
        for b, e, i in sp:
            while open_ and open_[-1][1] <= b:
                open_.pop()
            if open_ and e > open_[-1][1]:
                bad("event %d on thread %r overlaps event %d without nesting in it"
                    % (i, key, open_[-1][2]))
            if open_:
                nested = True
            open_.append((b, e, i))

    if args.workers is not None:
        workers = sorted(n for n in names.values() if is_worker(n))
        if len(workers) != args.workers:
            bad("%d worker tracks named <pool>-<index> (%s), want %d"
                % (len(workers), workers, args.workers))
    if args.min_tasks is not None and tasks < args.min_tasks:
        bad("%d task events, want at least %d" % (tasks, args.min_tasks))
    if args.expect_dropped is not None:
        if other.get("dropped_events") != args.expect_dropped:
            bad("otherData.dropped_events %r, want %d"
                % (other.get("dropped_events"), args.expect_dropped))
        if dropped_instants != args.expect_dropped:
            bad("dropped instants say %d, want %d" % (dropped_instants, args.expect_dropped))
    if args.expect_events is not None:
        worker_keys = {k for k, n in names.items() if is_worker(n)}
        n = sum(1 for e in events if isinstance(e, dict) and e.get("ph") != "M"
                and (e.get("pid"), e.get("tid")) in worker_keys
                and not e.get("name", "").startswith("events dropped"))
        if n != args.expect_events:
            bad("%d events on the worker tracks, want %d" % (n, args.expect_events))
    if args.nested and not nested:
        bad("no task event is nested in another")
    if args.groups is not None and groups < args.groups:
        bad("%d group lifetimes, want at least %d" % (groups, args.groups))
    return errors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--workers", type=int)
    p.add_argument("--min-tasks", type=int)
    p.add_argument("--expect-dropped", type=int)
    p.add_argument("--expect-events", type=int)
    p.add_argument("--nested", action="store_true")
    p.add_argument("--groups", type=int)
    args = p.parse_args()
    errors = check(args.file, args)
    for e in errors[:50]:
        print("%s: %s" % (args.file, e))
    if len(errors) > 50:
        print("%s: ... %d more" % (args.file, len(errors) - 50))
    if not errors:
        print("%s: ok" % args.file)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
