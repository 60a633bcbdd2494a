#!/usr/bin/env bash
# perf/mpi/run.sh — plait_mpi_for at 1x2, 2x1 and 3x1 ranks x workers on
# this host, against the same loop in one process (plait_parallel_for) and
# against a static MPI_Scatter partition.
#
#   perf/mpi/run.sh [--reps K]
#
# Builds plait with its MPI part (Release) into perf/build/mpi, the
# benchmark with mpicc, runs each case K times (default 5) and prints the
# median wall time and finish spread per case; raw lines go to
# perf/results/mpi.txt. Installs Open MPI first if missing
# (scripts/deps-mpi.sh).
#
# One host, 2 cores here: this measures the MPI loop's overhead and its
# balance, not scaling across nodes (docs/MPI.md says how to run that).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
REPS=5
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) REPS="$2"; shift ;;
    --reps=*) REPS="${1#*=}" ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

bash "$ROOT/scripts/deps-mpi.sh"
B="$HERE/../build/mpi"
mkdir -p "$B" "$HERE/../results"
cmake -S "$ROOT" -B "$B/lib" -DCMAKE_BUILD_TYPE=Release -DPLAIT_BUILD_TESTS=OFF \
    -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_MPI=ON >/dev/null
cmake --build "$B/lib" -j2 >/dev/null
mpicc -O2 -std=gnu11 -Wall -Wextra -I"$ROOT/include" "$HERE/mpi_for_bench.c" \
    "$B/lib/libplait_mpi.a" "$B/lib/libplait.a" -lpthread -o "$B/mpi_for_bench"

RAW="$HERE/../results/mpi.txt"
: >"$RAW"
MPIEXEC="$(command -v mpiexec || command -v mpirun)"

# case NP MODE WORKLOAD ITEMS GRAIN WORKERS
case_() {
    local np="$1" mode="$2" work="$3" items="$4" grain="$5" workers="$6"
    local out
    out="$(bash "$ROOT/test/mpi/mpirun.sh" "$MPIEXEC" "$np" "$B/mpi_for_bench" \
        "$mode" "$work" "$items" "$grain" "$workers" "$REPS" 2>&1)" || {
        echo "$out" >&2
        exit 1
    }
    echo "$out" >>"$RAW"
    # median wall time and spread over the repetitions
    local wall spread sum
    wall="$(sed -n 's/.* wall_ms=\([0-9.]*\).*/\1/p' <<<"$out" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    spread="$(sed -n 's/.* spread_ms=\([0-9.]*\).*/\1/p' <<<"$out" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    sum="$(sed -n 's/.* checksum=\([0-9a-f]*\).*/\1/p' <<<"$out" | sort -u | tr '\n' ' ')"
    printf '%-7s %-7s %dx%d  items %-6s grain %-3s  wall %8.2f ms  spread %7.2f ms  checksum %s\n' \
        "$work" "$mode" "$np" "$workers" "$items" "$grain" "$wall" "$spread" "$sum"
}

echo "== spin: 10000 items of ~20 us CPU each, grain 4 (overhead; 2 cores)"
case_ 1 local spin 10000 4 2
case_ 1 mpi spin 10000 4 2
case_ 2 mpi spin 10000 4 1
case_ 3 mpi spin 10000 4 1
case_ 2 static spin 10000 4 1
case_ 3 static spin 10000 4 1
echo "== uneven: 300 items sleeping 100 us, 10 of the first third 10 ms (balance), grain 1"
case_ 1 local uneven 300 1 2
case_ 1 local uneven 300 1 3
case_ 1 mpi uneven 300 1 2
case_ 2 mpi uneven 300 1 1
case_ 3 mpi uneven 300 1 1
case_ 2 static uneven 300 1 1
case_ 3 static uneven 300 1 1
echo "== tiny: 200000 empty items, grain 10 = 20000 chunks (cost per chunk and claim)"
case_ 1 local tiny 200000 10 2
case_ 1 mpi tiny 200000 10 2
case_ 2 mpi tiny 200000 10 1
case_ 3 mpi tiny 200000 10 1
echo "raw lines: $RAW"
