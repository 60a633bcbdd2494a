#!/usr/bin/env bash
# Install smoke test of the MPI part: installs a configured and built plait
# (with libplait_mpi) into a temporary prefix, then builds an outside MPI
# program against it via pkg-config plait-mpi (with mpicc) and via
# find_package(plait COMPONENTS mpi) (plait::mpi, plait::mpi_static), and
# runs each with 2 ranks.
#
#   bash scripts/check-install-mpi.sh BUILD_DIR MPIEXEC
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
mpiexec="${2:-mpiexec}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-install-mpi.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
# A sanitizer build's libraries need the same runtime in the program.
sanitize="$(sed -n 's/^PLAIT_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
san_flags=()
case "$sanitize" in
    thread) san_flags=(-fsanitize=thread) ;;
    address) san_flags=("-fsanitize=address,undefined") ;;
esac
step() { printf '== %s\n' "$*"; }
run() { LD_LIBRARY_PATH="$libdir" bash "$root/test/mpi/mpirun.sh" "$mpiexec" 2 "$@"; }

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
libdir="$(dirname "$(find "$prefix" -name plait-mpi.pc -print -quit)")/.."
libdir="$(cd "$libdir" && pwd)"
for f in "$prefix/include/plait_mpi.h" "$libdir/libplait_mpi.a" "$libdir/libplait_mpi.so" \
         "$libdir/cmake/plait/plaitMpiTargets.cmake"; do
    test -e "$f" || { echo "missing $f"; exit 1; }
done

export PKG_CONFIG_PATH="$libdir/pkgconfig"
src="$root/cmake/consumer-mpi/main.c"
step "pkg-config, shared: $(pkg-config --libs plait-mpi)"
# shellcheck disable=SC2046
mpicc ${san_flags[@]+"${san_flags[@]}"} -o "$tmp/pc_shared" "$src" $(pkg-config --cflags --libs plait-mpi)
run "$tmp/pc_shared"
step "pkg-config, static"
# shellcheck disable=SC2046
mpicc ${san_flags[@]+"${san_flags[@]}"} -o "$tmp/pc_static" "$src" "$libdir/libplait_mpi.a" "$libdir/libplait.a" \
    $(pkg-config --cflags plait-mpi) -lpthread
run "$tmp/pc_static"

step "find_package(plait COMPONENTS mpi)"
cmake -S "$root/cmake/consumer-mpi" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="${san_flags[*]:-}" -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]:-}" >"$tmp/cfg.log" ||
    { cat "$tmp/cfg.log"; exit 1; }
cmake --build "$tmp/consumer" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
run "$tmp/consumer/consumer_mpi_shared"
run "$tmp/consumer/consumer_mpi_static"
step "ok"
