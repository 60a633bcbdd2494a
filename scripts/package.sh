#!/usr/bin/env bash
# Builds the Debian packages libplait0 and libplait-dev (and, where an MPI
# is found so that libplait_mpi is built, libplait-mpi0 and
# libplait-mpi-dev) with CPack, in
# build-pkg/ (prefix /usr, Debian's build flags from dpkg-buildflags:
# hardening, -g, then stripped by CPack), and runs lintian on them.
#
#   bash scripts/package.sh [BUILD_DIR]     (default: build-pkg)
#
# The packages land in BUILD_DIR/packages/; lintian's report in
# BUILD_DIR/packages/lintian.txt. Exits non-zero if lintian reports an error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-pkg}"
cd "$root"

bash scripts/deps.sh --docs

export DEB_BUILD_MAINT_OPTIONS="${DEB_BUILD_MAINT_OPTIONS:-hardening=+all}"
cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"

rm -rf "$build/packages" "$build/_CPack_Packages"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DPLAIT_BUILD_TESTS=OFF -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_SANITIZE= -DPLAIT_PC_RELOCATABLE=OFF \
    -DCMAKE_C_FLAGS="$cflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$build" -j2
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }

mapfile -t debs < <(find "$build/packages" -maxdepth 1 -name '*.deb' | sort)
# 2 packages, or 4 with the MPI part.
[ ${#debs[@]} -eq 2 ] || [ ${#debs[@]} -eq 4 ] ||
    { echo "package.sh: expected 2 or 4 packages, got: ${debs[*]}" >&2; exit 1; }
for d in "${debs[@]}"; do
    echo "== $(basename "$d")"
    dpkg-deb -f "$d" Package Version Section Depends
done

# lintian: no error. Its warnings and notes are printed (and kept) for review.
report="$build/packages/lintian.txt"
rc=0
lintian --info --display-info --tag-display-limit 0 "${debs[@]}" >"$report" 2>&1 || rc=$?
cat "$report"
if grep -q '^E: ' "$report"; then
    echo "package.sh: lintian reports errors" >&2
    exit 1
fi
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { echo "package.sh: lintian failed ($rc)" >&2; exit 1; }
echo "package.sh: ${debs[*]##*/}: lintian reports no error"
