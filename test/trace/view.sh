#!/usr/bin/env bash
# view.sh — a plait trace in a real viewer: speedscope (from the npm
# registry) in headless Chromium (from Debian). Checks that the viewer
# loaded the trace and shows every worker's track, and that a screenshot
# of it is not empty.
#
#   view.sh PROGRAM WORKDIR POOL WORKERS [ARGS...]
#
# PROGRAM runs with PLAIT_TRACE=WORKDIR/view.json (e.g. taskgroup_demo 7,
# whose pool "demo" has 10 workers). The tools are installed here on first
# use: speedscope into $PLAIT_VIEWER_DIR (default ~/.cache/plait-viewer),
# Chromium with apt-get (as root, or with sudo -n). Exits 77 (CTest's skip)
# with a message saying why when either cannot be had.
set -u
prog=$1 work=$2 pool=$3 workers=$4
shift 4
skip() {
    echo "view.sh: SKIP: $*"
    exit 77
}
mkdir -p "$work"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
# Debian packages this test needs, installed here when missing.
apt_install() {
    command -v apt-get >/dev/null || return 1
    { timeout 600 $sudo apt-get install -y "$@" ||
        { timeout 300 $sudo apt-get update && timeout 600 $sudo apt-get install -y "$@"; }; } \
        >>"$work/apt.log" 2>&1
}

dir=${PLAIT_VIEWER_DIR:-$HOME/.cache/plait-viewer}
index=$dir/node_modules/speedscope/dist/release/index.html
if [ ! -f "$index" ]; then
    command -v npm >/dev/null || apt_install npm ||
        skip "npm is not installed and apt-get could not install it (see $work/apt.log)"
    mkdir -p "$dir"
    timeout 300 npm install --prefix "$dir" --no-audit --no-fund speedscope >"$work/npm.log" 2>&1 ||
        skip "npm install speedscope failed (see $work/npm.log)"
    [ -f "$index" ] || skip "speedscope has no dist/release/index.html"
fi

browser=""
for b in chromium chromium-browser google-chrome; do
    command -v "$b" >/dev/null && browser=$b && break
done
if [ -z "$browser" ]; then
    apt_install chromium || skip "apt-get install chromium failed (see $work/apt.log)"
    browser=chromium
fi
command -v python3 >/dev/null || skip "python3 is not installed"

trace=$work/view.json
rm -f "$trace"
PLAIT_TRACE=$trace "$prog" "$@" >"$work/program.log" 2>&1 || {
    echo "view.sh: $prog failed:"
    cat "$work/program.log"
    exit 1
}
[ -s "$trace" ] || { echo "view.sh: no trace written"; exit 1; }

# The way speedscope's own command line hands a file to the page: a script
# that calls speedscope.loadFileFromBase64, named in #localProfilePath.
js=$work/view.js
python3 - "$trace" "$js" <<'PY'
import base64, json, os, sys
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "w").write("speedscope.loadFileFromBase64(%s, %s)" % (
    json.dumps(os.path.basename(sys.argv[1])), json.dumps(base64.b64encode(data).decode())))
PY
url="file://$index#localProfilePath=$js"
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
       --virtual-time-budget=10000)
timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/chromium.log" ||
    { echo "view.sh: $browser --dump-dom failed"; tail -20 "$work/chromium.log"; exit 1; }
rm -f "$work/view.png"
timeout 120 "$browser" "${flags[@]}" --window-size=1600,900 --screenshot="$work/view.png" "$url" \
    >>"$work/chromium.log" 2>&1 || { echo "view.sh: $browser --screenshot failed"; exit 1; }

fail=0
grep -q "<title>view.json - speedscope</title>" "$work/dom.html" ||
    { echo "view.sh: speedscope did not load the trace (no title)"; fail=1; }
for ((i = 0; i < workers; i++)); do
    grep -q ">[^<]*$pool-$i (tid [0-9]*)" "$work/dom.html" ||
        { echo "view.sh: the viewer shows no track $pool-$i"; fail=1; }
done
size=$(stat -c %s "$work/view.png" 2>/dev/null || echo 0)
[ "$size" -gt 10000 ] || { echo "view.sh: screenshot missing or blank ($size bytes)"; fail=1; }
[ $fail -eq 0 ] && echo "view.sh: ok: $workers worker tracks in speedscope, screenshot $work/view.png ($size bytes)"
exit $fail
