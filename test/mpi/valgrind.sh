#!/usr/bin/env bash
# Leak check of plait_mpi under valgrind (label `mpi`): one rank runs the
# given scenario of mpi_for under memcheck; Open MPI's own unfreed memory is
# ignored, a leak whose allocation stack passes through plait_mpi (or plait)
# fails the test, as does any invalid read or write.
#
#   bash test/mpi/valgrind.sh MPIEXEC PROGRAM SCENARIO
set -euo pipefail
mpiexec="$1" prog="$2" scenario="$3"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: valgrind not installed; skipped"
    exit 0
fi
log="$(mktemp "${TMPDIR:-/tmp}/plait-mpi-vg.XXXXXX")"
trap 'rm -f "$log"' EXIT
bash "$(dirname "$0")/mpirun.sh" "$mpiexec" 1 valgrind --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=none --log-file="$log" "$prog" "$scenario"
# The log without its "==pid== " prefixes: records are blank-line separated.
sed -i 's/^==[0-9]*==[ ]\{0,1\}//' "$log"
grep -E "definitely lost:|indirectly lost:|ERROR SUMMARY" "$log" | sed 's/^/valgrind: /'
# Loss records and memory errors whose stacks name plait's code.
ours="$(awk 'BEGIN { RS = "" } /are (definitely|indirectly) lost|Invalid (read|write|free)|uninitialised|Conditional jump/ && /(plait_|mpi_for\.c)/' "$log")"
if [ -n "$ours" ]; then
    echo "valgrind.sh: errors in plait's code:"
    echo "$ours"
    exit 1
fi
echo "valgrind.sh: no leak or memory error through plait_mpi or plait"
