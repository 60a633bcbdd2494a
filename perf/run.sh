#!/usr/bin/env bash
# perf/run.sh — build and run plait's benchmark suite against its peers.
#
#   perf/run.sh [--quick] [--threads "1 2"] [--reps K] [--only "fib sum"] [--no-install]
#               [--lace DIR] [--libfork DIR]
#
# --lace DIR / --libfork DIR: optional peers, from a checkout of their
# source made outside the project (trolando/lace, ConorWilliams/libfork):
# Lace is built with its own CMake into perf/build/lace, libfork is used
# header-only (C++20); their fib, nqueens, uts and skynet variants run
# beside the others with the same inputs and verification.
#
# Installs missing peers on Debian/Ubuntu with apt-get (libtbb-dev,
# libomp-dev, clang, gnuplot-nox; sudo when not root) unless --no-install,
# skips a peer that is still missing (a SKIP note in the report), builds the
# plait library (Release, -O2) into perf/build/lib and the benchmarks into
# perf/build/bin, runs every benchmark for every runtime at each thread
# count (default: 1 and nproc; the sequential baseline once), verifying
# every result, then prints the table and writes results.csv, raw.txt and
# ratios.png into perf/results/ (perf/results/quick/ with --quick, so a
# quick run never overwrites the last full run's figures).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
QUICK=0
THREADS=""
REPS=""
ONLY=""
INSTALL=1
LACE_DIR=""
LIBFORK_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --threads) THREADS="$2"; shift ;;
    --threads=*) THREADS="${1#*=}" ;;
    --reps) REPS="$2"; shift ;;
    --reps=*) REPS="${1#*=}" ;;
    --only) ONLY="$2"; shift ;;
    --only=*) ONLY="${1#*=}" ;;
    --no-install) INSTALL=0 ;;
    --lace) LACE_DIR="$2"; shift ;;
    --lace=*) LACE_DIR="${1#*=}" ;;
    --libfork) LIBFORK_DIR="$2"; shift ;;
    --libfork=*) LIBFORK_DIR="${1#*=}" ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

NPROC=$(nproc 2>/dev/null || echo 1)
if [ -z "$THREADS" ]; then
    THREADS=1
    [ "$NPROC" -gt 1 ] && THREADS="1 $NPROC"
fi
BENCHES="fib nqueens uts skynet sum matmul foreign wakeup idle batch trace micro retry"
[ -n "$ONLY" ] && BENCHES="$ONLY"
if [ "$QUICK" = 1 ]; then RES="$HERE/results/quick"; TIMEOUT=120; else RES="$HERE/results"; TIMEOUT=600; fi
mkdir -p "$RES" "$HERE/build"
LOG="$RES/raw.txt"
: >"$LOG"
note() { echo "run.sh: $*" >&2; }
logline() { echo "$*" >>"$LOG"; }

# ---- Peers -----------------------------------------------------------------
have_tbb() { [ -f /usr/include/oneapi/tbb/task_group.h ] || [ -f /usr/include/tbb/task_group.h ] || [ -f /usr/local/include/oneapi/tbb/task_group.h ]; }
have_clang_omp() {
    command -v clang >/dev/null 2>&1 || return 1
    printf '#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}\n' >"$HERE/build/omp_probe.c"
    clang -fopenmp=libomp "$HERE/build/omp_probe.c" -o "$HERE/build/omp_probe" >/dev/null 2>&1
}
have_gcc_omp() {
    printf '#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}\n' >"$HERE/build/omp_probe.c"
    gcc -fopenmp "$HERE/build/omp_probe.c" -o "$HERE/build/omp_probe" >/dev/null 2>&1
}
missing=""
have_tbb || missing="$missing libtbb-dev"
have_clang_omp || missing="$missing clang libomp-dev"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
if [ -n "$missing" ] && [ "$INSTALL" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
    note "installing:$missing"
    $SUDO apt-get install -y -q $missing >"$HERE/build/apt.log" 2>&1 ||
        { $SUDO apt-get update -q >>"$HERE/build/apt.log" 2>&1 && $SUDO apt-get install -y -q $missing >>"$HERE/build/apt.log" 2>&1; } ||
        note "apt-get failed (see perf/build/apt.log); going on without:$missing"
fi

RUNTIMES="seq"
if have_gcc_omp; then RUNTIMES="$RUNTIMES omp_gcc"; else logline 'SKIP runtime=omp_gcc reason="gcc -fopenmp does not build"'; fi
if have_clang_omp; then RUNTIMES="$RUNTIMES omp_clang"; else logline 'SKIP runtime=omp_clang reason="clang -fopenmp=libomp not available (apt-get install clang libomp-dev)"'; fi
if have_tbb; then RUNTIMES="$RUNTIMES tbb"; else logline 'SKIP runtime=tbb reason="oneTBB headers not found (apt-get install libtbb-dev)"'; fi

# ---- plait itself ------------------------------------------------------------
note "building the plait library (Release) into perf/build/lib"
if (cd "$ROOT" && cmake -S . -B perf/build/lib -DCMAKE_BUILD_TYPE=Release \
    -DPLAIT_BUILD_TESTS=OFF -DPLAIT_BUILD_EXAMPLES=OFF >"$HERE/build/cmake.log" 2>&1 &&
    cmake --build perf/build/lib --target plait_static -j"$NPROC" >>"$HERE/build/cmake.log" 2>&1) &&
    [ -f "$HERE/build/lib/libplait.a" ]; then
    RUNTIMES="$RUNTIMES plait"
else
    note "the plait library did not build (perf/build/cmake.log): plait variants skipped"
    logline 'SKIP runtime=plait reason="libplait.a did not build (perf/build/cmake.log)"'
fi

# ---- Optional peers from source: Lace, libfork ---------------------------------
MAKEVARS=()
if [ -n "$LACE_DIR" ]; then
    LACE_DIR=$(cd "$LACE_DIR" 2>/dev/null && pwd)
    note "building Lace from $LACE_DIR into perf/build/lace"
    if [ -n "$LACE_DIR" ] && [ -f "$LACE_DIR/src/lace.h" ] &&
        cmake -S "$LACE_DIR" -B "$HERE/build/lace" -DCMAKE_BUILD_TYPE=Release \
            -DLACE_BUILD_TESTS=OFF -DLACE_BUILD_BENCHMARKS=OFF >"$HERE/build/lace.log" 2>&1 &&
        cmake --build "$HERE/build/lace" -j"$NPROC" >>"$HERE/build/lace.log" 2>&1 &&
        [ -f "$HERE/build/lace/lib/liblace.a" ]; then
        RUNTIMES="$RUNTIMES lace"
        MAKEVARS+=("LACE_SRC=$LACE_DIR" "LACE_BUILD=$HERE/build/lace")
    else
        note "Lace did not build (perf/build/lace.log): lace variants skipped"
        logline 'SKIP runtime=lace reason="Lace did not build from --lace (perf/build/lace.log)"'
    fi
fi
if [ -n "$LIBFORK_DIR" ]; then
    LIBFORK_DIR=$(cd "$LIBFORK_DIR" 2>/dev/null && pwd)
    if [ -n "$LIBFORK_DIR" ] && [ -f "$LIBFORK_DIR/single_header/libfork.hpp" ]; then
        RUNTIMES="$RUNTIMES libfork"
        MAKEVARS+=("LIBFORK_SRC=$LIBFORK_DIR")
    else
        logline 'SKIP runtime=libfork reason="no single_header/libfork.hpp under --libfork"'
    fi
fi

# ---- Benchmarks ----------------------------------------------------------------
note "building benchmarks:$RUNTIMES"
make -C "$HERE" -k "${MAKEVARS[@]}" $RUNTIMES >"$HERE/build/make.log" 2>&1 || note "some benchmarks did not build (perf/build/make.log)"

ARGS=""
[ "$QUICK" = 1 ] && ARGS="--quick"
[ -n "$REPS" ] && ARGS="$ARGS --reps $REPS"
BIN="$HERE/build/bin"
{
    echo "# date: $(date -Is)"
    echo "# host: $(uname -srm), nproc=$NPROC, cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "# compilers: $(gcc --version | head -1); $(clang --version 2>/dev/null | head -1)"
    echo "# lace: ${LACE_DIR:-none} $( [ -n "$LACE_DIR" ] && git -C "$LACE_DIR" describe --tags --always 2>/dev/null); libfork: ${LIBFORK_DIR:-none} $( [ -n "$LIBFORK_DIR" ] && git -C "$LIBFORK_DIR" describe --tags --always 2>/dev/null)"
    echo "# tbb: $(dpkg-query -W -f='${Version}' libtbb-dev 2>/dev/null); plait: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo '+dirty')"
    echo "# args: quick=$QUICK threads=\"$THREADS\" reps=${REPS:-default}"
} >>"$LOG"

start=$(date +%s)
for b in $BENCHES; do
    for rt in $RUNTIMES; do
        case "$rt" in omp_gcc | omp_clang) src="$HERE/$b/${b}_omp.c" ;; tbb) src="$HERE/$b/${b}_tbb.cpp" ;; libfork) src="$HERE/$b/${b}_libfork.cpp" ;; *) src="$HERE/$b/${b}_$rt.c" ;; esac
        [ -f "$src" ] || continue # this benchmark has no such variant (e.g. OpenMP foreign submission)
        exe="$BIN/${b}_$rt"
        if [ ! -x "$exe" ]; then
            logline "ERROR bench=$b runtime=$rt threads=- reason=\"did not build (perf/build/make.log)\""
            continue
        fi
        ts="$THREADS"
        [ "$rt" = seq ] && ts=1
        for t in $ts; do
            note "$b $rt threads=$t"
            out=$(timeout -k 5 "$TIMEOUT" "$exe" --threads "$t" $ARGS 2>&1)
            rc=$?
            printf '%s\n' "$out" | grep -E '^(RESULT|FAIL) ' >>"$LOG"
            printf '%s\n' "$out" | grep -vE '^(RESULT|FAIL) ' | sed 's/^/# stderr: /' >>"$LOG"
            if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                logline "ERROR bench=$b runtime=$rt threads=$t reason=\"timed out after ${TIMEOUT}s (hang?)\""
            elif [ $rc -ne 0 ]; then
                logline "ERROR bench=$b runtime=$rt threads=$t reason=\"exit status $rc$( [ $rc -gt 128 ] && echo " (signal $((rc - 128)))")\""
            fi
        done
    done
done
# batch_records with xargs -P: a process per record (batch/batch_xargs.sh),
# beside the plait, OpenMP and seq variants above.
if [[ " $BENCHES " == *" batch "* ]] && [ -x "$BIN/batch_seq" ] && command -v xargs >/dev/null 2>&1; then
    for t in $THREADS; do
        note "batch xargs threads=$t"
        timeout -k 5 "$TIMEOUT" bash "$HERE/batch/batch_xargs.sh" "$BIN" --threads "$t" $ARGS |
            grep -E '^(RESULT|FAIL) ' >>"$LOG" ||
            logline "ERROR bench=batch_records runtime=xargs threads=$t reason=\"batch_xargs.sh failed\""
    done
fi
logline "# elapsed: $(($(date +%s) - start)) s"

python3 "$HERE/report.py" "$LOG" --csv "$RES/results.csv" --png "$RES/ratios.png"
