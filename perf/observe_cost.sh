#!/usr/bin/env bash
# perf/observe_cost.sh — what the observability hooks cost a program that
# observes nothing (no trace, no dump): the library as built, against the
# same tree built with -DPL_OBS_NO_TASK_HOOKS (src/observe.h: the two task
# hooks compiled out), on skynet and fib, side by side in one run.
#
#   perf/observe_cost.sh [--rounds N]     (default 9 rounds of 5 reps each)
#
# Prints, per benchmark: instructions of the whole run by callgrind (one
# thread, --quick; repeatable whatever the machine does) for both builds
# and the difference per task, then the median wall time of N alternating
# rounds (one thread) for both and their ratio. fib's plait_join variant
# runs no task hook: its ratio is the noise (and code layout) floor.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
rounds=9
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null 2>&1 || { echo "observe_cost.sh: valgrind is not installed" >&2; exit 1; }

build_lib() { # dir extra-cflags
    cmake -S "$ROOT" -B "$1" -DCMAKE_BUILD_TYPE=Release -DPLAIT_BUILD_TESTS=OFF \
        -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_SANITIZE= -DCMAKE_C_FLAGS="$2" >/dev/null
    cmake --build "$1" -j2 --target plait_static >/dev/null
}
build_lib "$HERE/build/lib-hooks-on" ""
build_lib "$HERE/build/lib-hooks-off" "-DPL_OBS_NO_TASK_HOOKS"
for v in on off; do
    make -C "$HERE" -s B="build/bin-hooks-$v" PLAIT_LIB="build/lib-hooks-$v/libplait.a" \
        "build/bin-hooks-$v/skynet_plait" "build/bin-hooks-$v/fib_plait" >/dev/null
done

ir() { # binary
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$1" --threads 1 --quick --reps 1 \
        >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
    rm -f "$out"
}
# Tasks in a --quick run (the harness runs a warm-up and one timed rep):
# skynet 100k is 111,111 tasks a run; fib(25) as a group per call spawns
# fib(26) - 1 tasks (one for each call with n >= 2) and a root; the join
# variant runs no task_run but its root.
declare -A tasks=([skynet]=$((2 * 111111)) [fib]=$((2 * 121393)))
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

for b in skynet fib; do
    on=$(ir "$HERE/build/bin-hooks-on/${b}_plait")
    off=$(ir "$HERE/build/bin-hooks-off/${b}_plait")
    awk -v b="$b" -v on="$on" -v off="$off" -v n="${tasks[$b]}" 'BEGIN {
        printf "%-7s instructions: hooks %d, none %d: %+.2f%%, %.1f per task\n",
               b, on, off, 100 * (on - off) / off, (on - off) / n }'
    : >"$HERE/build/observe_cost.$b"
    for _ in $(seq "$rounds"); do
        for v in on off; do
            "$HERE/build/bin-hooks-$v/${b}_plait" --threads 1 --reps 5 2>/dev/null |
                sed -n "s/.*runtime=\([a-z_]*\) .*median_s=\([0-9.e+-]*\).*/$v \1 \2/p" \
                    >>"$HERE/build/observe_cost.$b"
        done
    done
    for rt in $(awk '{print $2}' "$HERE/build/observe_cost.$b" | sort -u); do
        m_on=$(awk -v r="$rt" '$1 == "on" && $2 == r {print $3}' "$HERE/build/observe_cost.$b" | median)
        m_off=$(awk -v r="$rt" '$1 == "off" && $2 == r {print $3}' "$HERE/build/observe_cost.$b" | median)
        awk -v b="$b" -v r="$rt" -v on="$m_on" -v off="$m_off" -v k="$rounds" 'BEGIN {
            printf "%-7s %-12s wall, median of %d rounds: hooks %.4f s, none %.4f s: ratio %.3f\n",
                   b, r, k, on, off, on / off }'
    done
done
