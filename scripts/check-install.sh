#!/usr/bin/env bash
# Install smoke test: installs a configured and built plait into a temporary
# prefix, then builds an outside program against it via pkg-config (shared and
# static) and via find_package(plait) (plait::plait and plait::plait_static),
# and runs each.
#
#   bash scripts/check-install.sh [BUILD_DIR]     (default: build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
cc="${CC:-cc}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

step() { printf '== %s\n' "$*"; }

# A sanitizer build's libraries need the same runtime in the program.
sanitize="$(sed -n 's/^PLAIT_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
san_flags=()
case "$sanitize" in
    thread) san_flags=(-fsanitize=thread) ;;
    address) san_flags=("-fsanitize=address,undefined") ;;
esac

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
    cat "$tmp/install.log"
    exit 1
}

libdir="$(dirname "$(find "$prefix" -name plait.pc -print -quit)")/.."
libdir="$(cd "$libdir" && pwd)"
test -f "$prefix/include/plait.h" || { echo "missing $prefix/include/plait.h"; exit 1; }
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")"
for f in libplait.a libplait.so libplait.so.0 "libplait.so.$version" pkgconfig/plait.pc cmake/plait/plaitConfig.cmake \
         cmake/plait/plaitConfigVersion.cmake cmake/plait/plaitTargets.cmake; do
    test -e "$libdir/$f" || { echo "missing $libdir/$f"; exit 1; }
done

src="$root/cmake/consumer/main.c"
export PKG_CONFIG_PATH="$libdir/pkgconfig"

step "pkg-config, shared: $(pkg-config --libs plait)"
# shellcheck disable=SC2046
"$cc" ${san_flags[@]+"${san_flags[@]}"} -o "$tmp/pc_shared" "$src" \
    $(pkg-config --cflags --libs plait)
LD_LIBRARY_PATH="$libdir" "$tmp/pc_shared"
# Not `ldd | grep -q`: with pipefail, grep's early exit gives ldd a SIGPIPE
# and the pipeline fails at random.
deps="$(ldd "$tmp/pc_shared")"
if grep -q 'libplait\.so\.0' <<<"$deps"; then :; else
    echo "pc_shared is not linked to libplait.so.0"; exit 1
fi

step "pkg-config, static: $(pkg-config --static --libs plait)"
# shellcheck disable=SC2046
# (the archive named explicitly: with -lplait the linker would prefer the .so)
"$cc" ${san_flags[@]+"${san_flags[@]}"} -o "$tmp/pc_static" "$src" $(pkg-config --cflags plait) \
    $(pkg-config --static --libs plait | sed "s|-lplait\b|$libdir/libplait.a|")
"$tmp/pc_static"

step "find_package(plait)"
cmake -S "$root/cmake/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${san_flags[*]:-}" \
    -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]:-}" >"$tmp/consumer.log" 2>&1 || {
    cat "$tmp/consumer.log"
    exit 1
}
cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 || {
    cat "$tmp/consumer.log"
    exit 1
}
"$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"

step "install smoke test passed"
