#!/usr/bin/env bash
# Runs an MPI test program on this host under a timeout (the `mpi` label).
#
#   bash test/mpi/mpirun.sh [--expect REGEX] MPIEXEC NP PROGRAM [ARGS...]
#
# --expect: passes only if mpirun exits 0 AND its output matches REGEX (a
# test's "passed" line; CTest's PASS_REGULAR_EXPRESSION alone would ignore
# the exit status, and with it a sanitizer's report at exit).
#
# Open MPI in a container or CI job: more ranks than cores (--oversubscribe),
# root (--allow-run-as-root, as CI runs), and no cross-memory-attach
# (vader's single copy needs ptrace rights containers often lack).
set -euo pipefail
expect=""
if [ "${1:-}" = "--expect" ]; then
    expect="$2"
    shift 2
fi
mpiexec="$1"
np="$2"
shift 2

export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe="${OMPI_MCA_rmaps_base_oversubscribe:-1}"
# One host: shared memory and self only (no search for network interfaces).
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}"
flags=()
# Open MPI's mpiexec names itself "OpenRTE" or "Open MPI"; read the version
# into a variable (grep -q on a pipe would SIGPIPE it under pipefail).
version="$("$mpiexec" --version 2>&1 || true)"
if grep -qiE "open ?(mpi|rte)" <<<"$version"; then
    flags+=(--oversubscribe)
    if [ "$(id -u)" -eq 0 ]; then
        flags+=(--allow-run-as-root)
    fi
fi
cmd=(timeout -k 10 "${PLAIT_MPI_TEST_TIMEOUT:-120}" "$mpiexec" ${flags[@]+"${flags[@]}"} -np "$np" "$@")
if [ -z "$expect" ]; then
    exec "${cmd[@]}"
fi
out="$(mktemp "${TMPDIR:-/tmp}/plait-mpirun.XXXXXX")"
trap 'rm -f "$out"' EXIT
rc=0
"${cmd[@]}" 2>&1 | tee "$out" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "mpirun.sh: exit status $rc" >&2
    exit "$rc"
fi
if ! grep -qE "$expect" "$out"; then
    echo "mpirun.sh: output lacks /$expect/" >&2
    exit 1
fi
