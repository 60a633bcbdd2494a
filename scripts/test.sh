#!/usr/bin/env bash
# Builds plait and runs its test suite with CTest.
#
#   bash scripts/test.sh [--sanitize thread|address] [--label L] [--exclude-label L]
#
# Build directories: build/ (release), build-tsan/, build-asan/. --label and
# --exclude-label are CTest label regexes (-L / -LE). Without either, the
# slow labels `stress` and `fuzz`, `docs`, `packaging` and `browser` (their
# own CI stages), and `mpi` (mpirun; scripts/deps-mpi.sh installs Open MPI
# when --label asks for it), are left out. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

sanitize=""
label=""
exclude=""
exclude_set=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize) [ $# -ge 2 ] || usage; sanitize="$2"; shift 2 ;;
        --sanitize=*) sanitize="${1#*=}"; shift ;;
        --label) [ $# -ge 2 ] || usage; label="$2"; shift 2 ;;
        --label=*) label="${1#*=}"; shift ;;
        --exclude-label) [ $# -ge 2 ] || usage; exclude="$2"; exclude_set=1; shift 2 ;;
        --exclude-label=*) exclude="${1#*=}"; exclude_set=1; shift ;;
        -h | --help) usage ;;
        *) echo "test.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

case "$sanitize" in
    "") build=build ;;
    thread) build="build-tsan" ;;
    address) build="build-asan" ;;
    *) echo "test.sh: --sanitize takes 'thread' or 'address'" >&2; exit 2 ;;
esac
if [ -z "$label" ] && [ $exclude_set -eq 0 ]; then
    exclude='^(stress|fuzz|docs|packaging|mpi|browser)$'
fi

bash scripts/deps.sh
if [ -n "$label" ] && [[ "mpi" =~ $label ]]; then
    bash scripts/deps-mpi.sh
fi

cmake -S . -B "$build" -DPLAIT_SANITIZE="$sanitize" -DPLAIT_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j2

# Sanitizer defaults (a value already in the environment wins).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

ctest_args=(--test-dir "$build" --output-on-failure -j2)
[ -n "$label" ] && ctest_args+=(-L "$label")
[ -n "$exclude" ] && ctest_args+=(-LE "$exclude")

run=()
if [ "$sanitize" = thread ]; then
    # gcc 12's TSan runtime cannot map its shadow under the high mmap
    # randomisation of recent kernels (vm.mmap_rnd_bits > 28): run without ASLR.
    bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)"
    if [ "$bits" -gt 28 ] && command -v setarch >/dev/null 2>&1; then
        run=(setarch "$(uname -m)" -R)
    fi
fi

echo "test.sh: ctest ${ctest_args[*]}"
"${run[@]}" ctest "${ctest_args[@]}"
