#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages plait needs to build and test, if any
# are missing. Perf peers (oneTBB, OpenMP) are installed by perf/run.sh.
#
#   bash scripts/deps.sh           # build and test
#   bash scripts/deps.sh --docs    # also the docs, packaging and ABI tools
set -euo pipefail

required=(cmake gcc g++ make pkg-config libcriterion-dev)
optional=(clang libclang-rt-14-dev valgrind clang-format-14) # fuzzer (libFuzzer), leak checks, format check
# man pages and HTML (mandoc, man-db), Debian packages (dpkg-dev: dpkg-shlibdeps;
# lintian; file, binutils: CPack's strip and objdump), ABI (abigail-tools: abidiff)
docs=(mandoc man-db groff-base gzip lintian dpkg-dev file binutils abigail-tools)
case "${1:-}" in
    "") ;;
    --docs) required+=("${docs[@]}") ;;
    *) echo "deps.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: not a Debian/Ubuntu system; skipping. Install by hand:" \
        "${required[*]} (optional: ${optional[*]})" >&2
    exit 0
fi

missing_of() {
    local p
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
    done
}
mapfile -t need < <(missing_of "${required[@]}")
mapfile -t want < <(missing_of "${optional[@]}")
[ $((${#need[@]} + ${#want[@]})) -eq 0 ] && exit 0

as_root=(env DEBIAN_FRONTEND=noninteractive)
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps.sh: need root or sudo to install: ${need[*]} ${want[*]}" >&2
        exit 1
    fi
    as_root=(sudo "${as_root[@]}")
fi

echo "deps.sh: installing ${need[*]} ${want[*]}"
"${as_root[@]}" apt-get update -qq
install() { "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
if [ ${#need[@]} -gt 0 ]; then
    install "${need[@]}"
fi
for p in "${want[@]}"; do
    install "$p" || echo "deps.sh: note: optional package $p not installed (fuzz/valgrind checks may be skipped)" >&2
done
