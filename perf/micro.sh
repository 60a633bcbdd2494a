#!/usr/bin/env bash
# perf/micro.sh — instructions per operation of each primitive (callgrind),
# one line each, from perf/build/bin/micro_plait (built by perf/run.sh or
# `make -C perf plait` after the library is built).
#
#   perf/micro.sh [BINARY]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/build/bin/micro_plait}
command -v valgrind >/dev/null 2>&1 || { echo "micro.sh: valgrind is not installed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "micro.sh: $BIN not built (perf/run.sh --only micro)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
ops=200000
for f in deque_push_pop deque_push_steal inject_put_take lot_notify_idle group_empty group_one_go join_empty; do
    # One repetition, no warm-up beyond the harness's own: the warm-up run
    # and the timed one both fall inside the toggled function, so divide by
    # two runs' operations.
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect="micro_$f" \
        "$BIN" --threads 1 --reps 1 >/dev/null 2>&1
    ir=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    awk -v f="$f" -v ir="$ir" -v ops="$ops" 'BEGIN { printf "%-18s %8.1f instructions/op\n", f, ir / (2 * ops) }'
done
