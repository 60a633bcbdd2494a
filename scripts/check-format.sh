#!/usr/bin/env bash
# Checks that every C source and header the project tracks is formatted
# as .clang-format says (clang-format 14, the version Debian 12 ships).
#
#   bash scripts/check-format.sh          # list the files that drift; exit 1 if any
#   bash scripts/check-format.sh --fix    # reformat them in place
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fix=0
case "${1:-}" in
    "") ;;
    --fix) fix=1 ;;
    *) echo "check-format.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

bash scripts/deps.sh
cf="$(command -v clang-format-14 || command -v clang-format || true)"
if [ -z "$cf" ]; then
    echo "check-format.sh: clang-format 14 is not installed" >&2
    exit 1
fi

mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "$fix" -eq 1 ]; then
    "$cf" -i "${files[@]}"
    exit 0
fi
drift=()
for f in "${files[@]}"; do
    "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || drift+=("$f")
done
if [ ${#drift[@]} -gt 0 ]; then
    echo "check-format.sh: not formatted as .clang-format says (fix: bash scripts/check-format.sh --fix):" >&2
    printf '  %s\n' "${drift[@]}" >&2
    exit 1
fi
echo "check-format.sh: ${#files[@]} files formatted"
