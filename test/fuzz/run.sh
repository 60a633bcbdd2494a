#!/usr/bin/env bash
# Builds the libFuzzer target test/fuzz/fuzz_ops.c with clang
# (-fsanitize=fuzzer,address,undefined) straight from the library sources,
# then runs it for a bounded time over a scratch corpus seeded from
# test/fuzz/corpus/ (which it does not modify).
#
#   test/fuzz/run.sh [seconds]     (default 60)
#
# Environment: CC (default clang), FUZZ_BUILD_DIR (default build/fuzz),
# FUZZ_ARGS (extra libFuzzer flags). Prints the number of executions and a
# final "N passed, N failed" line; exits non-zero when the fuzzer found a
# crash or an invariant violation (the input is saved in the build dir).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${1:-60}"
cc="${CC:-clang}"
case "$("$cc" --version 2>/dev/null | head -1)" in
    *clang*) ;;
    *) cc=clang ;;
esac
out="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
mkdir -p "$out"

"$cc" -std=c11 -g -O1 -D_GNU_SOURCE \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$root/include" -I"$root/src" \
    "$root"/src/*.c "$root/test/fuzz/fuzz_ops.c" \
    -lpthread -o "$out/fuzz_ops"

work="$out/corpus"
mkdir -p "$work"
log="$out/fuzz.log"
cd "$out"
set +e
# shellcheck disable=SC2086
"$out/fuzz_ops" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -max_len=256 \
    -print_final_stats=1 -artifact_prefix="$out/" ${FUZZ_ARGS:-} \
    "$work" "$root/test/fuzz/corpus" >"$log" 2>&1
rc=$?
set -e
tail -n 25 "$log"
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
echo "fuzz executions: ${execs:-unknown} in ${secs} s (corpus: $(ls "$work" | wc -l) inputs)"
if [ "$rc" -eq 0 ]; then
    echo "1 passed, 0 failed"
else
    echo "fuzz_ops failed (exit $rc); crashing input saved under $out/"
    echo "0 passed, 1 failed"
fi
exit "$rc"
