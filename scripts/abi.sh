#!/usr/bin/env bash
# The ABI check: the symbols libplait.so exports must be those kept in
# cmake/plait.symbols (a Debian symbols file: each symbol with the version
# that added it; libplait0 ships it), and the version must say so.
#
#   bash scripts/abi.sh [LIB]        # check LIB (default: build/libplait.so); CTest abi_symbols
#   bash scripts/abi.sh --update     # build build/, then record its symbols in the list,
#                                    # and the types (abidw) in cmake/plait.abi
#   bash scripts/abi.sh --abidiff [LIB]  # abidiff cmake/plait.abi against LIB (with debug
#                                    # info; default: build-abi/libplait.so, built)
#
# The rules (the soname is libplait.so.MAJOR):
#   - a new exported function is recorded as added in the project's version,
#     which must be newer than the list's baseline (the last release): when
#     it is not, --update bumps the minor version (CMakeLists.txt project()
#     and the PLAIT_VERSION_* macros of include/plait.h) itself;
#   - a function added since the baseline may be dropped again (--update);
#   - removing a released function breaks the ABI: --update refuses until
#     the major version (and so the soname) is bumped by hand;
#   - CMakeLists.txt's project version and plait.h's macros agree.
# Releasing version V: set the list's "# baseline" line to V.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="$root/cmake/plait.symbols"
abi="$root/cmake/plait.abi"
cmakelists="$root/CMakeLists.txt"
header="$root/include/plait.h"
update_hint="bash scripts/abi.sh --update"

die() {
    echo "abi.sh: $*" >&2
    exit 1
}

# Versions compare as numbers, part by part.
vernum() {
    local IFS=.
    # shellcheck disable=SC2086
    set -- $1
    echo $((${1:-0} * 1000000 + ${2:-0} * 1000 + ${3:-0}))
}

cmake_version() {
    sed -n 's/^project(plait VERSION \([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' "$cmakelists" | head -n 1
}
header_version() {
    local M m p
    M="$(sed -n 's/^#define PLAIT_VERSION_MAJOR \([0-9]*\)$/\1/p' "$header")"
    m="$(sed -n 's/^#define PLAIT_VERSION_MINOR \([0-9]*\)$/\1/p' "$header")"
    p="$(sed -n 's/^#define PLAIT_VERSION_PATCH \([0-9]*\)$/\1/p' "$header")"
    echo "$M.$m.$p"
}
baseline() { sed -n 's/^# baseline \([0-9.]*\)$/\1/p' "$list"; }
list_soname() { awk '!/^#/ && !/^ / { print $1; exit }' "$list"; }
# "name version" per symbol in the list.
list_symbols() { awk '/^ / { n = $1; sub(/@.*/, "", n); print n, $2 }' "$list" | LC_ALL=C sort; }

lib_soname() { objdump -p "$1" | awk '$1 == "SONAME" { print $2 }'; }
# Only plait_* (the prefix rule itself is the exported_symbols test's).
lib_symbols() {
    nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVWi]$/ && $3 ~ /^plait_/ { sub(/@.*/, "", $3); print $3 }' |
        LC_ALL=C sort -u
}

versions_agree() {
    local cv hv
    cv="$(cmake_version)"
    hv="$(header_version)"
    [ -n "$cv" ] || die "no 'project(plait VERSION x.y.z' line in CMakeLists.txt"
    [ "$cv" = "$hv" ] || die "CMakeLists.txt says version $cv, include/plait.h's PLAIT_VERSION_* say $hv: make them agree"
}

write_list() { # soname baseline, then "name version" lines on stdin
    local soname="$1" base="$2" tmp
    tmp="$(mktemp)"
    {
        echo "# The symbols libplait exports, each with the version that added it: a Debian"
        echo "# symbols file (libplait0 ships it). Checked by scripts/abi.sh (CTest abi_symbols);"
        echo "# after adding or removing a public function: $update_hint"
        echo "# baseline $base"
        echo "$soname libplait0 #MINVER#"
        LC_ALL=C sort | awk '{ printf " %s@Base %s\n", $1, $2 }'
    } >"$tmp"
    mv "$tmp" "$list"
}

check() {
    local lib="$1" fail=0 base ver soname
    [ -f "$lib" ] || die "no library at $lib (build first)"
    [ -f "$list" ] || die "no $list: run $update_hint"
    versions_agree
    ver="$(cmake_version)"
    base="$(baseline)"
    [ -n "$base" ] || die "$list has no '# baseline x.y.z' line"
    soname="$(lib_soname "$lib")"
    if [ "$soname" != "$(list_soname)" ]; then
        echo "abi.sh: $lib has soname $soname, the list $(list_soname): run $update_hint" >&2
        exit 1
    fi
    local added removed
    added="$(LC_ALL=C comm -13 <(list_symbols | cut -d' ' -f1) <(lib_symbols "$lib"))"
    removed="$(LC_ALL=C comm -23 <(list_symbols | cut -d' ' -f1) <(lib_symbols "$lib"))"
    if [ -n "$added" ]; then
        echo "abi.sh: $lib exports functions that cmake/plait.symbols does not list:" >&2
        sed 's/^/  + /' <<<"$added" >&2
        fail=1
    fi
    if [ -n "$removed" ]; then
        echo "abi.sh: cmake/plait.symbols lists functions that $lib no longer exports:" >&2
        sed 's/^/  - /' <<<"$removed" >&2
        fail=1
    fi
    local name v
    while read -r name v; do
        if [ "$(vernum "$v")" -gt "$(vernum "$ver")" ]; then
            echo "abi.sh: $name is recorded as added in $v, newer than the project's $ver" >&2
            fail=1
        elif [ "$(vernum "$v")" -gt "$(vernum "$base")" ] && [ "$(vernum "$ver")" -le "$(vernum "$base")" ]; then
            echo "abi.sh: $name is new since $base, but the version is still $ver" >&2
            fail=1
        fi
    done < <(list_symbols)
    if [ "$fail" -ne 0 ]; then
        echo "abi.sh: the exported symbols changed without the list (and the version) following." >&2
        echo "abi.sh: to record the change (bumping the minor version for new functions): $update_hint" >&2
        exit 1
    fi
    echo "abi.sh: $soname exports the $(list_symbols | wc -l) functions of cmake/plait.symbols (version $ver, baseline $base)"
}

set_version() { # x.y.z: CMakeLists.txt and plait.h
    local M m p
    IFS=. read -r M m p <<<"$1"
    sed -i "s/^project(plait VERSION [0-9]*\.[0-9]*\.[0-9]*/project(plait VERSION $1/" "$cmakelists"
    sed -i -e "s/^#define PLAIT_VERSION_MAJOR [0-9]*$/#define PLAIT_VERSION_MAJOR $M/" \
        -e "s/^#define PLAIT_VERSION_MINOR [0-9]*$/#define PLAIT_VERSION_MINOR $m/" \
        -e "s/^#define PLAIT_VERSION_PATCH [0-9]*$/#define PLAIT_VERSION_PATCH $p/" "$header"
}

build() {
    cmake -S "$root" -B "$root/build" >/dev/null
    cmake --build "$root/build" -j2 --target plait_shared >/dev/null
}

# A library with debug information, for abidw/abidiff: build-abi/.
build_abi() {
    cmake -S "$root" -B "$root/build-abi" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLAIT_SANITIZE= \
        -DPLAIT_BUILD_TESTS=OFF -DPLAIT_BUILD_EXAMPLES=OFF -DPLAIT_INSTALL_MAN=OFF >/dev/null
    cmake --build "$root/build-abi" -j2 --target plait_shared >/dev/null
}

need_abigail() {
    command -v abidw >/dev/null 2>&1 && command -v abidiff >/dev/null 2>&1 ||
        die "abidw/abidiff are needed: bash scripts/deps.sh --docs (abigail-tools)"
}

# The public ABI (functions and the types they reach, as include/ defines
# them) of a library with debug information.
abi_dump() {
    abidw --headers-dir "$root/include" --drop-private-types --no-corpus-path --no-comp-dir-path \
        --no-show-locs "$1"
}

abidiff_check() {
    need_abigail
    local lib="${1:-}" rc=0 out
    if [ -z "$lib" ]; then
        build_abi
        lib="$root/build-abi/libplait.so"
    fi
    [ -f "$lib" ] || die "no library at $lib"
    [ -f "$abi" ] || die "no $abi: run $update_hint"
    # The section list in a variable, not `readelf | grep -q`: under pipefail,
    # grep's early exit can give readelf a SIGPIPE and fail a good library.
    sections="$(readelf -S "$lib")"
    case "$sections" in
        *.debug_info*) ;;
        *) die "$lib has no debug information (abidiff needs it)" ;;
    esac
    out="$(abidiff "$abi" "$lib" 2>&1)" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$out" >&2
        echo "abi.sh: abidiff: the ABI of $lib differs from cmake/plait.abi (above; exit $rc)." >&2
        if grep -q 'Functions changes summary: 0 Removed, 0 Changed' <<<"$out" &&
            grep -q 'Variables changes summary: 0 Removed, 0 Changed' <<<"$out"; then
            echo "abi.sh: only new functions: compatible (the update bumps the minor version)." >&2
        else
            echo "abi.sh: a removed or changed function or public type breaks the ABI of libplait.so.0:" \
                "bump the major version (CMakeLists.txt, PLAIT_VERSION_MAJOR) unless it is new since the baseline." >&2
        fi
        echo "abi.sh: to record an intended change: $update_hint" >&2
        exit 1
    fi
    echo "abi.sh: abidiff: $lib has the ABI of cmake/plait.abi"
}

update_abi() {
    command -v abidw >/dev/null 2>&1 || {
        echo "abi.sh: note: abidw not installed (bash scripts/deps.sh --docs); cmake/plait.abi not updated" >&2
        return
    }
    build_abi
    local lib="$root/build-abi/libplait.so"
    if [ -f "$abi" ]; then
        abidiff "$abi" "$lib" >&2 || true
    fi
    abi_dump "$lib" >"$abi.tmp"
    mv "$abi.tmp" "$abi"
    echo "abi.sh: wrote $abi"
}

update() {
    versions_agree
    build
    local lib="$root/build/libplait.so" base ver soname
    ver="$(cmake_version)"
    soname="$(lib_soname "$lib")"
    if [ ! -f "$list" ]; then
        lib_symbols "$lib" | sed "s/\$/ $ver/" | write_list "$soname" "$ver"
        echo "abi.sh: wrote $list (baseline $ver)"
        update_abi
        return
    fi
    base="$(baseline)"
    if [ "$soname" != "$(list_soname)" ]; then
        # A new soname is a new ABI: every symbol starts over in this version.
        lib_symbols "$lib" | sed "s/\$/ $ver/" | write_list "$soname" "$base"
        echo "abi.sh: new soname $soname: all symbols recorded as of $ver"
        update_abi
        return
    fi
    local added removed name v released=""
    added="$(LC_ALL=C comm -13 <(list_symbols | cut -d' ' -f1) <(lib_symbols "$lib"))"
    removed="$(LC_ALL=C comm -23 <(list_symbols | cut -d' ' -f1) <(lib_symbols "$lib"))"
    while read -r name v; do
        grep -qx "$name" <<<"$removed" && [ "$(vernum "$v")" -le "$(vernum "$base")" ] && released+=" $name"
    done < <(list_symbols)
    if [ -n "$released" ]; then
        die "removing released function(s)$released breaks the ABI of $soname: bump the major" \
            "version by hand (CMakeLists.txt and PLAIT_VERSION_* in include/plait.h; the soname follows), then rerun"
    fi
    if [ -z "$added" ] && [ -z "$removed" ]; then
        echo "abi.sh: $list is up to date ($(list_symbols | wc -l) symbols)"
        update_abi
        return
    fi
    if [ -n "$added" ] && [ "$(vernum "$ver")" -le "$(vernum "$base")" ]; then
        local M m p
        IFS=. read -r M m p <<<"$base"
        local new="$M.$((m + 1)).0"
        set_version "$new"
        echo "abi.sh: new function(s): version $ver -> $new (CMakeLists.txt, include/plait.h)"
        ver="$new"
        build
    fi
    {
        list_symbols | while read -r name v; do
            grep -qx "$name" <<<"$removed" || echo "$name $v"
        done
        [ -z "$added" ] || sed "s/\$/ $ver/" <<<"$added"
    } | write_list "$soname" "$base"
    [ -z "$added" ] || sed 's/^/abi.sh: added   /' <<<"$added"
    [ -z "$removed" ] || sed 's/^/abi.sh: removed /' <<<"$removed"
    echo "abi.sh: wrote $list"
    update_abi
    echo "abi.sh: commit cmake/plait.symbols and cmake/plait.abi with the change"
}

case "${1:-}" in
    --update) update ;;
    --abidiff) abidiff_check "${2:-}" ;;
    -h | --help) sed -n '2,23s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    *) check "${1:-$root/build/libplait.so}" ;;
esac
