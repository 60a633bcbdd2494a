#!/usr/bin/env bash
# examples/batch_files end to end: usage: example_batch_files.sh BATCH_FILES
#   1. a clean tree: exit 0, one line per file, every hash equal to python3's
#      FNV-1a of the file;
#   2. the tree plus broken entries (a dangling link, a link loop, a missing
#      root, a chmod 000 file when not root): exit 1, every bad path reported
#      on stderr, every good file still hashed;
#   3. a FIFO nobody writes, --timeout 0.2: exit 124 ("timed out");
#   4. the same FIFO without a timeout, SIGINT once the FIFO is open: exit
#      130 ("interrupted"). The handshake is the FIFO showing up among the
#      process's open files (/proc/PID/fd): the handler is installed before
#      the walk starts, so a SIGINT then can only reach the handler.
# Under valgrind (when installed and the binary is not a sanitizer build):
# any leak or memory error fails the run (exit 99).
set -u
bin=${1:?usage: example_batch_files.sh BATCH_FILES}
fail() { echo "FAIL: $*" >&2; exit 1; }

run=()
if command -v valgrind >/dev/null 2>&1 && ! nm "$bin" 2>/dev/null | grep -q '__[at]san_init'; then
    run=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
         --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99)
    echo "running under valgrind"
fi
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 0; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    chmod -R u+rwx "$tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the tree ------------------------------------------------------------
good=$tmp/good
mkdir -p "$good/a/b/c" "$good/d" "$good/with space"
: > "$good/empty"
printf 'hello\n' > "$good/a/hello.txt"
head -c 300000 /dev/urandom > "$good/a/b/big.bin"   # crosses the 64 KiB buffer
for i in $(seq 1 200); do echo "file $i" > "$good/d/f$i"; done
echo x > "$good/with space/name with space"
echo deep > "$good/a/b/c/deep"
ln -s ../a/hello.txt "$good/d/link-to-file"          # hashed under the link's name
ln -s ../a "$good/d/link-to-dir"                     # skipped, not descended

# The expected listing, computed independently: every path the walk sees,
# a link to a file under its own name, a link to a directory left out.
expect() {
    python3 - "$@" <<'EOF'
import os, sys
def fnv(data):
    h = 14695981039346656037
    for b in data:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h
for root in sys.argv[1:]:
    for d, dirs, files in os.walk(root):
        for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, n)
            if os.path.isdir(p):
                continue
            try:
                with open(p, 'rb') as f:
                    print('%016x  %s' % (fnv(f.read()), p))
            except OSError:
                pass
EOF
}

# ---- 1. clean tree: 0, the hashes ----------------------------------------
"${run[@]}" "$bin" --limit 8 "$good" > "$tmp/out1" 2> "$tmp/err1"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err1" >&2; fail "clean tree: exit $rc, want 0"; }
expect "$good" | sort > "$tmp/want1"
sort "$tmp/out1" > "$tmp/got1"
[ "$(wc -l < "$tmp/want1")" -ge 205 ] || fail "the expected listing is short: $(wc -l < "$tmp/want1")"
diff "$tmp/want1" "$tmp/got1" >&2 || fail "clean tree: hashes differ from python3's"
grep -q '^error' "$tmp/err1" && fail "clean tree: errors reported"
echo "ok 1: clean tree, $(wc -l < "$tmp/got1") files hashed as python3 does"

# ---- 2. broken entries: 1, each reported ---------------------------------
bad=$tmp/bad
mkdir -p "$bad"
ln -s "$bad/nowhere" "$bad/dangling"
ln -s "$bad/loop2" "$bad/loop1"
ln -s "$bad/loop1" "$bad/loop2"
echo fine > "$bad/fine"
bad_paths=("$bad/dangling" "$bad/loop1" "$bad/loop2" "$tmp/missing-root")
if [ "$(id -u)" -ne 0 ]; then  # as root chmod 000 does not stop a read
    echo secret > "$bad/locked"
    chmod 000 "$bad/locked"
    bad_paths+=("$bad/locked")
fi
"${run[@]}" "$bin" "$good" "$bad" "$tmp/missing-root" > "$tmp/out2" 2> "$tmp/err2"
rc=$?
[ $rc -eq 1 ] || { cat "$tmp/err2" >&2; fail "broken entries: exit $rc, want 1"; }
for p in "${bad_paths[@]}"; do
    grep -qF "error: $p: " "$tmp/err2" || { cat "$tmp/err2" >&2; fail "no error reported for $p"; }
done
[ "$(grep -c '^error: ' "$tmp/err2")" -eq "${#bad_paths[@]}" ] || { cat "$tmp/err2" >&2; fail "unexpected errors"; }
grep -qF "error: $bad/dangling: No such file or directory" "$tmp/err2" || fail "dangling link: wrong reason"
expect "$good" "$bad" | sort > "$tmp/want2"
sort "$tmp/out2" > "$tmp/got2"
diff "$tmp/want2" "$tmp/got2" >&2 || fail "broken entries: the good files' hashes differ"
echo "ok 2: ${#bad_paths[@]} bad paths reported, exit 1, good files all hashed"

# ---- 3. a FIFO and --timeout: 124 ----------------------------------------
blk=$tmp/blocking
mkdir -p "$blk"
cp "$good/a/hello.txt" "$blk/"
mkfifo "$blk/fifo"
"${run[@]}" "$bin" --timeout 0.2 "$blk" > "$tmp/out3" 2> "$tmp/err3"
rc=$?
[ $rc -eq 124 ] || { cat "$tmp/err3" >&2; fail "--timeout: exit $rc, want 124"; }
grep -q "timed out" "$tmp/err3" || fail "--timeout: no 'timed out' line"
echo "ok 3: FIFO with --timeout 0.2 exits 124"

# ---- 4. a FIFO and SIGINT: 130 -------------------------------------------
"${run[@]}" "$bin" "$blk" > "$tmp/out4" 2> "$tmp/err4" &
pid=$!
pids+=("$pid")
for _ in $(seq 1 6000); do  # up to 60 s (valgrind starts slowly)
    ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF "$blk/fifo" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF "$blk/fifo" || { cat "$tmp/err4" >&2; fail "SIGINT: the FIFO was never opened"; }
kill -INT "$pid"
wait "$pid"
rc=$?
[ $rc -eq 130 ] || { cat "$tmp/err4" >&2; fail "SIGINT: exit $rc, want 130"; }
grep -q "interrupted" "$tmp/err4" || fail "SIGINT: no 'interrupted' line (killed by the signal instead?)"
grep -q '^error' "$tmp/err4" && fail "SIGINT: the cancelled FIFO was reported as an error"
echo "ok 4: FIFO with SIGINT exits 130"
echo "all ok"
