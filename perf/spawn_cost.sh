#!/usr/bin/env bash
# perf/spawn_cost.sh — instructions per spawn of fib under callgrind, one
# worker, every runtime side by side: the table of perf/README.md
# ("Instructions per spawn").
#
#   perf/spawn_cost.sh [--lace DIR]
#
# Per runtime: (instructions of a fib(30) run − those of a fib(25) run)
# divided by the spawns between them, counted from the entry of the
# recursion's function to its exit (--toggle-collect; callgrind counts a
# recursion once), so that idle workers spinning elsewhere do not count.
# libfork's recursion is a coroutine resumed from its scheduler, which no
# one function brackets: it counts the whole program, whose set-up (and
# a lazy pool's sleeping workers) the difference cancels. Each binary
# times one warm-up and one measured call (--reps 1): two calls.
#
# The binaries are perf/build/bin's (perf/run.sh builds them, with --lace
# and --libfork for those peers). Lace's own build uses -march=native,
# which valgrind cannot run where that means AVX-512; with --lace DIR this
# script builds a second copy of Lace for x86-64-v2 into
# perf/build/lace-vg and links fib_lace against it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/build/bin
LACE_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
    --lace) LACE_DIR="$2"; shift ;;
    --lace=*) LACE_DIR="${1#*=}" ;;
    *) echo "usage: $0 [--lace DIR]" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null 2>&1 || { echo "spawn_cost.sh: valgrind is not installed" >&2; exit 1; }
[ -x "$BIN/fib_plait" ] || { echo "spawn_cost.sh: $BIN/fib_plait not built (perf/run.sh --only fib)" >&2; exit 1; }

# fib(n) makes fib(n+1) − 1 spawns (one per inner call); two calls each.
SPAWNS=$(( 2 * ((1346269 - 1) - (121393 - 1)) ))
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Instructions of one run: BINARY TOGGLE ARGS...; TOGGLE "" counts the
# whole program (its set-up cancels out in the difference).
instructions() {
    local bin=$1 toggle=$2
    shift 2
    local opt=()
    [ -n "$toggle" ] && opt=(--toggle-collect="$toggle")
    valgrind --tool=callgrind --callgrind-out-file="$out" "${opt[@]}" \
        "$bin" --threads 1 --reps 1 "$@" >/dev/null 2>&1 || return 1
    # Read the file whole: under pipefail, a reader that stops early
    # (sed q, grep -q) would make the writer's SIGPIPE a failure.
    local totals
    totals=$(callgrind_annotate "$out" 2>/dev/null)
    sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' <<<"$totals" | tr -d ,
}

row() {
    local label=$1 bin=$2 toggle=$3 big small
    if [ ! -x "$bin" ]; then
        printf '%-26s %s\n' "$label" "not built"
        return
    fi
    if ! big=$(instructions "$bin" "$toggle") || ! small=$(instructions "$bin" "$toggle" --quick) ||
        [ -z "$big" ] || [ -z "$small" ]; then
        printf '%-26s %s\n' "$label" "did not run under valgrind"
        return
    fi
    awk -v l="$label" -v b="$big" -v s="$small" -v n="$SPAWNS" \
        'BEGIN { printf "%-26s %8.1f instructions/spawn\n", l, (b - s) / n }'
}

lace_bin=$BIN/fib_lace
if [ -n "$LACE_DIR" ]; then
    [ -f "$LACE_DIR/src/lace.h" ] || { echo "spawn_cost.sh: $LACE_DIR has no src/lace.h" >&2; exit 1; }
    src=$HERE/build/lace-vg-src
    rm -rf "$src" && mkdir -p "$src"
    (cd "$LACE_DIR" && tar --exclude=.git --exclude=build -cf - .) | (cd "$src" && tar -xf -)
    sed -i 's/-march=native/-march=x86-64-v2/' "$src/CMakeLists.txt"
    cmake -S "$src" -B "$HERE/build/lace-vg" -DCMAKE_BUILD_TYPE=Release -DLACE_BUILD_TESTS=OFF \
        -DLACE_BUILD_BENCHMARKS=OFF >"$HERE/build/lace-vg.log" 2>&1
    cmake --build "$HERE/build/lace-vg" -j"$(nproc)" >>"$HERE/build/lace-vg.log" 2>&1
    make -s -C "$HERE" build/obj/bench.o build/obj/sum_kernel.o build/obj/matmul_kernel.o
    lace_bin=$HERE/build/lace-vg/fib_lace
    gcc -O2 -std=gnu11 -g -I"$src/src" -I"$HERE/build/lace-vg" "$HERE/fib/fib_lace.c" \
        "$HERE"/build/obj/{bench,sum_kernel,matmul_kernel}.o -o "$lace_bin" \
        "$HERE/build/lace-vg/lib/liblace.a" -lpthread -lm
fi

echo "# fib, 1 worker, (fib(30) − fib(25)) / $((SPAWNS / 2)) spawns per call, $(date -u +%FT%RZ)"
row "sequential fib" "$BIN/fib_seq" fib
row "Lace" "$lace_bin" pfib_WRAP
row "plait_join" "$BIN/fib_plait" fib_join
row "libfork" "$BIN/fib_libfork" ""
row "oneTBB task_group" "$BIN/fib_tbb" "fib(int)"
row "plait group per call" "$BIN/fib_plait" fib_group
