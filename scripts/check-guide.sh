#!/usr/bin/env bash
# Every ```c block of docs/guide.md is a complete program: this compiles
# each against the built library (strict C11, -Wall -Wextra -Werror) and
# runs it; any failure to compile, or a non-zero exit, fails the check.
# A block fenced ```c mpi is an MPI program: built with mpicc against
# libplait_mpi and run on 2 ranks (test/mpi/mpirun.sh) where the build has
# libplait_mpi, else reported as skipped. CTest docs_guide_programs (label
# docs).
#
#   bash scripts/check-guide.sh [BUILD_DIR]     (default: build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
guide="$root/docs/guide.md"
cc="${CC:-cc}"
lib="$build/libplait.a"
[ -f "$lib" ] || { echo "check-guide.sh: no $lib (build first)" >&2; exit 1; }

# The programs run against the build's library, with its sanitizer if any.
sanitize="$(sed -n 's/^PLAIT_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
san_flags=()
case "$sanitize" in
    thread) san_flags=(-fsanitize=thread) ;;
    address) san_flags=("-fsanitize=address,undefined") ;;
esac

tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-guide.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Block n of the guide goes to tmp/guide_n.c; its first line in the guide is kept.
awk -v dir="$tmp" '
    /^```c[ \t]*$/ { n++; f = sprintf("%s/guide_%02d.c", dir, n); print FILENAME ":" NR + 1 > (dir "/lines_" sprintf("%02d", n)); inblk = 1; next }
    /^```c mpi[ \t]*$/ { n++; f = sprintf("%s/guide_%02d.mpi.c", dir, n); print FILENAME ":" NR + 1 > (dir "/lines_" sprintf("%02d", n)); inblk = 1; next }
    /^```/ && inblk { inblk = 0; close(f); next }
    inblk { print > f }
' "$guide"
mapfile -t progs < <(find "$tmp" -name 'guide_*.c' ! -name '*.mpi.c' | sort)
mapfile -t mpi_progs < <(find "$tmp" -name 'guide_*.mpi.c' | sort)
[ ${#progs[@]} -gt 0 ] || { echo "check-guide.sh: no \`\`\`c block in $guide" >&2; exit 1; }

fail=0
for p in "${progs[@]}"; do
    n="${p##*guide_}"
    n="${n%.c}"
    where="$(cat "$tmp/lines_$n")"
    exe="${p%.c}"
    if ! "$cc" -std=c11 -Wall -Wextra -Werror -pedantic ${san_flags[@]+"${san_flags[@]}"} \
        -I"$root/include" -o "$exe" "$p" "$lib" -lpthread 2>"$exe.log"; then
        echo "check-guide.sh: the program at $where does not compile:" >&2
        cat "$exe.log" >&2
        fail=1
        continue
    fi
    rc=0
    timeout 120 "$exe" >"$exe.out" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "check-guide.sh: the program at $where exits $rc:" >&2
        cat "$exe.out" >&2
        fail=1
    else
        echo "ok: program at $where:"
        sed "s/^/    /" "$exe.out"
    fi
done
mpicc="$(command -v mpicc || true)"
mpiexec="$(command -v mpiexec || command -v mpirun || true)"
for p in ${mpi_progs[@]+"${mpi_progs[@]}"}; do
    n="${p##*guide_}"
    n="${n%.mpi.c}"
    where="$(cat "$tmp/lines_$n")"
    if [ -z "$mpicc" ] || [ -z "$mpiexec" ] || [ ! -f "$build/libplait_mpi.a" ]; then
        echo "skipped: MPI program at $where (no mpicc, mpiexec or libplait_mpi in $build)"
        continue
    fi
    exe="${p%.mpi.c}"
    if ! "$mpicc" -std=c11 -Wall -Wextra -Werror ${san_flags[@]+"${san_flags[@]}"} \
        -I"$root/include" -o "$exe" "$p" "$build/libplait_mpi.a" "$lib" -lpthread 2>"$exe.log"; then
        echo "check-guide.sh: the MPI program at $where does not compile:" >&2
        cat "$exe.log" >&2
        fail=1
        continue
    fi
    rc=0
    bash "$root/test/mpi/mpirun.sh" "$mpiexec" 2 "$exe" >"$exe.out" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "check-guide.sh: the MPI program at $where exits $rc:" >&2
        cat "$exe.out" >&2
        fail=1
    else
        echo "ok: MPI program at $where (2 ranks):"
        sed "s/^/    /" "$exe.out"
    fi
done

[ "$fail" -eq 0 ] || exit 1
echo "check-guide.sh: ${#progs[@]} programs and ${#mpi_progs[@]} MPI programs of docs/guide.md checked"
