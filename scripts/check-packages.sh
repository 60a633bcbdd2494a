#!/usr/bin/env bash
# The packaging test (CTest `packages`, label packaging; CI stage
# `packaging`): builds libplait0 and libplait-dev (scripts/package.sh:
# lintian must report no error), installs them with dpkg, checks the
# soname, the dependencies and `man plait_task_status`, builds the outside
# consumer (cmake/consumer) against the installed packages through
# pkg-config (shared and static) and find_package, runs it, checks the ABI
# of the packaged library with abidiff (scripts/abi.sh --abidiff), and
# removes the packages again. Where the MPI part was built (an MPI found:
# libplait-mpi0 and libplait-mpi-dev built too, and linted with the others),
# all four are installed; then also the MPI library's soname, the -dev
# package's dependencies, `man plait_mpi_for` in libplait-mpi-dev,
# `pkg-config --libs plait-mpi`, and an MPI program built with mpicc against
# the installed packages (pkg-config, and find_package(plait COMPONENTS mpi)
# through cmake/consumer-mpi) and run on 1 rank (test/mpi/mpirun.sh); all
# four are purged.
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
for p in libplait0 libplait-dev libplait-mpi0 libplait-mpi-dev; do
    if installed "$p"; then
        echo "check-packages.sh: SKIPPED: $p is installed already; not touching it (dpkg --purge $p)"
        exit 77
    fi
done

step "build the packages (scripts/package.sh)"
bash "$root/scripts/package.sh" "$build"
mapfile -t debs < <(find "$build/packages" -maxdepth 1 -name '*.deb' | sort)
version="$(dpkg-deb -f "$build/packages"/libplait0_*.deb Version)"
# The MPI packages: built where package.sh's configure found an MPI.
mpi=0
pkgs=(libplait-dev libplait0)
if compgen -G "$build/packages/libplait-mpi0_*.deb" >/dev/null; then
    mpi=1
    pkgs=(libplait-mpi-dev libplait-mpi0 "${pkgs[@]}")
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-packages.XXXXXX")"
cleanup() {
    local rc=$?
    step "remove the packages"
    dpkg --purge "${pkgs[@]}" >/dev/null || rc=1
    if [ -e /usr/include/plait.h ] || [ -e /usr/include/plait_mpi.h ]; then
        echo "check-packages.sh: the packages are not removed cleanly" >&2
        rc=1
    fi
    for p in "${pkgs[@]}"; do
        if [ -n "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" ] &&
            [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "unknown ok not-installed" ]; then
            echo "check-packages.sh: $p is left: $(dpkg-query -W -f='${Status}' "$p")" >&2
            rc=1
        fi
    done
    if [ "$mpi" -eq 1 ] && [ -n "${multiarch:-}" ] &&
        compgen -G "/usr/lib/$multiarch/libplait_mpi*" >/dev/null; then
        echo "check-packages.sh: libplait_mpi is left in /usr/lib/$multiarch" >&2
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

if [ "$mpi" -eq 1 ]; then
    step "the MPI packages"
    mlib="/usr/lib/$multiarch/libplait_mpi.so.$version"
    [ -f "$mlib" ] || fail "no $mlib"
    msoname="$(objdump -p "$mlib" | awk '$1 == "SONAME" { print $2 }')"
    [ "$msoname" = libplait_mpi.so.0 ] || fail "soname of $mlib is '$msoname', not libplait_mpi.so.0"
    [ "$(readlink "/usr/lib/$multiarch/libplait_mpi.so.0")" = "libplait_mpi.so.$version" ] ||
        fail "libplait_mpi.so.0 link"
    deps="$(dpkg-query -W -f='${Depends}' libplait-mpi0)"
    grep -q 'libc6' <<<"$deps" || fail "libplait-mpi0 does not depend on libc6 (shlibdeps): '$deps'"
    grep -q 'libplait0' <<<"$deps" || fail "libplait-mpi0 does not depend on libplait0: '$deps'"
    deps="$(dpkg-query -W -f='${Depends}' libplait-mpi-dev)"
    [ "$deps" = "libplait-mpi0 (= $version), libplait-dev (= $version), libopenmpi-dev | mpi-default-dev" ] ||
        fail "libplait-mpi-dev depends on '$deps'"
    for f in /usr/include/plait_mpi.h "/usr/lib/$multiarch/libplait_mpi.a" "/usr/lib/$multiarch/libplait_mpi.so" \
        "/usr/lib/$multiarch/pkgconfig/plait-mpi.pc" "/usr/lib/$multiarch/cmake/plait/plaitMpiTargets.cmake"; do
        [ -e "$f" ] || fail "missing $f"
        [ "$(dpkg-query -S "$f" | cut -d: -f1)" = libplait-mpi-dev ] || fail "$f is not libplait-mpi-dev's"
    done
    page="$(man -w plait_mpi_result_free)"
    [ "$(readlink -f "$page")" = /usr/share/man/man3/plait_mpi_for.3.gz ] || fail "man plait_mpi_result_free finds '$page'"
    [ "$(dpkg-query -S /usr/share/man/man3/plait_mpi_for.3.gz | cut -d: -f1)" = libplait-mpi-dev ] ||
        fail "plait_mpi_for.3.gz is not libplait-mpi-dev's"
    echo "libplait-mpi0 $version: $msoname, Depends: $(dpkg-query -W -f='${Depends}' libplait-mpi0)"

    mpiexec="$(command -v mpiexec || command -v mpirun)" || fail "no mpiexec"
    msrc="$root/cmake/consumer-mpi/main.c"
    mlibs="$(pkg-config --libs plait-mpi)" || fail "pkg-config --libs plait-mpi fails"
    step "MPI, pkg-config: $mlibs"
    # shellcheck disable=SC2046
    mpicc -o "$tmp/mpi_pc" "$msrc" $(pkg-config --cflags --libs plait-mpi)
    ldd_out="$(ldd "$tmp/mpi_pc")"
    used="$(awk '$1 == "libplait_mpi.so.0" { print $3 }' <<<"$ldd_out")"
    [ -n "$used" ] && [ "$(readlink -f "$used")" = "$(readlink -f "$mlib")" ] ||
        fail "mpi_pc does not use the installed libplait_mpi.so.0: $ldd_out"
    bash "$root/test/mpi/mpirun.sh" --expect 'consumer-mpi: rc 0, 100 items' "$mpiexec" 1 "$tmp/mpi_pc"

    step "MPI, find_package(plait COMPONENTS mpi)"
    cmake -S "$root/cmake/consumer-mpi" -B "$tmp/consumer-mpi" -DCMAKE_C_COMPILER="$(command -v mpicc)" \
        >"$tmp/consumer-mpi.log" 2>&1 && cmake --build "$tmp/consumer-mpi" >>"$tmp/consumer-mpi.log" 2>&1 || {
        cat "$tmp/consumer-mpi.log"
        fail "the MPI consumer does not build against the packages"
    }
    grep -q "plait_DIR:PATH=/usr/lib/$multiarch/cmake/plait" "$tmp/consumer-mpi/CMakeCache.txt" ||
        fail "find_package did not find the installed package"
    bash "$root/test/mpi/mpirun.sh" --expect 'consumer-mpi: rc 0, 100 items' "$mpiexec" 1 "$tmp/consumer-mpi/consumer_mpi_shared"
    bash "$root/test/mpi/mpirun.sh" --expect 'consumer-mpi: rc 0, 100 items' "$mpiexec" 1 "$tmp/consumer-mpi/consumer_mpi_static"
fi

step "packages built, installed, used and removed"
