#!/usr/bin/env bash
# The packaging test (CTest `packages`, label packaging; CI stage
# `packaging`): builds libplait0 and libplait-dev (scripts/package.sh:
# lintian must report no error), installs them with dpkg, checks the
# soname, the dependencies and `man plait_task_status`, builds the outside
# consumer (cmake/consumer) against the installed packages through
# pkg-config (shared and static) and find_package, runs it, checks the ABI
# of the packaged library with abidiff (scripts/abi.sh --abidiff), and
# removes the packages again.
#
#   bash scripts/check-packages.sh     (as root; exits 77, "skipped", otherwise)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-pkg"
cc="${CC:-cc}"

step() { printf '== %s\n' "$*"; }
fail() {
    echo "check-packages.sh: $*" >&2
    exit 1
}

if [ "$(id -u)" -ne 0 ]; then
    echo "check-packages.sh: SKIPPED: installing packages needs root (run as root, e.g. in CI)"
    exit 77
fi
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "check-packages.sh: SKIPPED: not a Debian/Ubuntu system"
    exit 77
fi
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
for p in libplait0 libplait-dev; do
    if installed "$p"; then
        echo "check-packages.sh: SKIPPED: $p is installed already; not touching it (dpkg --purge libplait-dev libplait0)"
        exit 77
    fi
done

step "build the packages (scripts/package.sh)"
bash "$root/scripts/package.sh" "$build"
mapfile -t debs < <(find "$build/packages" -maxdepth 1 -name '*.deb' | sort)
version="$(dpkg-deb -f "$build/packages"/libplait0_*.deb Version)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-packages.XXXXXX")"
cleanup() {
    local rc=$?
    step "remove the packages"
    dpkg --purge libplait-dev libplait0 >/dev/null || rc=1
    if [ -e /usr/include/plait.h ] || installed libplait0 || installed libplait-dev; then
        echo "check-packages.sh: the packages are not removed cleanly" >&2
        rc=1
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

step "dpkg -i ${debs[*]##*/}"
dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i failed"; }

step "what was installed"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
lib="/usr/lib/$multiarch/libplait.so.$version"
[ -f "$lib" ] || fail "no $lib"
soname="$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')"
[ "$soname" = libplait.so.0 ] || fail "soname of $lib is '$soname', not libplait.so.0"
[ "$(readlink "/usr/lib/$multiarch/libplait.so.0")" = "libplait.so.$version" ] || fail "libplait.so.0 link"
deps="$(dpkg-query -W -f='${Depends}' libplait0)"
grep -q 'libc6' <<<"$deps" || fail "libplait0 does not depend on libc6 (shlibdeps): '$deps'"
deps="$(dpkg-query -W -f='${Depends}' libplait-dev)"
[ "$deps" = "libplait0 (= $version)" ] || fail "libplait-dev depends on '$deps'"
for f in /usr/include/plait.h "/usr/lib/$multiarch/libplait.a" "/usr/lib/$multiarch/libplait.so" \
    "/usr/lib/$multiarch/pkgconfig/plait.pc" "/usr/lib/$multiarch/cmake/plait/plaitConfig.cmake"; do
    [ -e "$f" ] || fail "missing $f"
done
page="$(man -w plait_task_status)"
[ "$(readlink -f "$page")" = /usr/share/man/man3/plait_task_wait.3.gz ] || fail "man plait_task_status finds '$page'"
man -w 7 plait >/dev/null || fail "no plait(7)"
echo "libplait0 $version: $soname, Depends: $(dpkg-query -W -f='${Depends}' libplait0)"

src="$root/cmake/consumer/main.c"
step "pkg-config, shared: $(pkg-config --cflags --libs plait)"
# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_shared" "$src" $(pkg-config --cflags --libs plait)
"$tmp/pc_shared"
ldd_out="$(ldd "$tmp/pc_shared")"
used="$(awk '$1 == "libplait.so.0" { print $3 }' <<<"$ldd_out")"
[ -n "$used" ] && [ "$(readlink -f "$used")" = "$(readlink -f "$lib")" ] ||
    fail "pc_shared does not use the installed libplait.so.0: $ldd_out"
[ "$(pkg-config --variable=libdir plait)" = "/usr/lib/$multiarch" ] || fail "plait.pc libdir"

step "pkg-config, static: $(pkg-config --static --libs plait)"
# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_static" "$src" $(pkg-config --cflags plait) \
    $(pkg-config --static --libs plait | sed "s|-lplait\b|/usr/lib/$multiarch/libplait.a|")
"$tmp/pc_static"

step "find_package(plait)"
cmake -S "$root/cmake/consumer" -B "$tmp/consumer" -DCMAKE_C_COMPILER="$cc" >"$tmp/consumer.log" 2>&1 &&
    cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 || {
    cat "$tmp/consumer.log"
    fail "the consumer does not build against the packages"
}
grep -q "plait_DIR:PATH=/usr/lib/$multiarch/cmake/plait" "$tmp/consumer/CMakeCache.txt" ||
    fail "find_package did not find the installed package"
"$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"

step "abidiff against cmake/plait.abi"
bash "$root/scripts/abi.sh" --abidiff "$build/libplait.so"

step "packages built, installed, used and removed"
