#!/usr/bin/env python3
"""report.py -- table, CSV and plot from the RESULT lines of perf/run.sh.

    python3 perf/report.py RAW_LOG [--csv results.csv] [--png ratios.png]

Every RESULT line has `value` and `unit`, a cost: lower is better (seconds,
ns per task, microseconds of latency, CPU seconds). So every ratio below is
cost over cost, and for the throughput benchmark (foreign_pN, ns/task) the
plait/peer ratio is the peer's tasks/s over plait's tasks/s:
  T/Tseq      the runtime's time over the sequential baseline's
  plait/PEER  plait's cost over the peer's at the same thread count:
              < 1 means plait is faster (or cheaper), > 1 slower.
"""
import argparse
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

PEERS = ["omp_gcc", "omp_clang", "tbb", "lace", "libfork"]
PEER_NAME = {"lace": "Lace", "libfork": "libfork"}
PEER_LABEL = {"omp_gcc": "plait/gomp", "omp_clang": "plait/libomp", "tbb": "plait/tbb",
              "lace": "plait/lace", "libfork": "plait/libfork"}
RT_ORDER = ["seq", "omp_gcc", "omp_clang", "tbb", "lace", "libfork", "plait_join", "plait_group", "plait"]
BENCH_ORDER = ["fib", "nqueens", "uts", "skynet", "sum", "matmul", "foreign", "wakeup", "idle_tail", "idle"]


def bench_key(b):
    for i, p in enumerate(BENCH_ORDER):
        if b == p or (b.startswith(p) and not (p == "idle" and b.startswith("idle_"))):
            return (i, b)
    return (len(BENCH_ORDER), b)


def rt_key(r):
    return (RT_ORDER.index(r) if r in RT_ORDER else len(RT_ORDER), r)


def parse(path):
    results, notes = [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            kind = line.split(" ", 1)[0]
            if kind not in ("RESULT", "FAIL", "ERROR", "SKIP"):
                continue
            fields = {}
            try:
                toks = shlex.split(line)[1:]
            except ValueError:
                toks = line.split()[1:]
            for tok in toks:
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    fields[k] = v
            if kind == "RESULT":
                try:
                    fields["value"] = float(fields["value"])
                    fields["threads"] = int(fields["threads"])
                except (KeyError, ValueError):
                    notes.append(("BAD", line))
                    continue
                results.append(fields)
            else:
                notes.append((kind, line))
    return results, notes


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.001:
        return "%.3g" % v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--csv")
    ap.add_argument("--png")
    a = ap.parse_args()
    results, notes = parse(a.log)
    by = {(r["bench"], r["runtime"], r["threads"]): r for r in results}
    seq = {r["bench"]: r["value"] for r in results if r["runtime"] == "seq"}
    benches = sorted({r["bench"] for r in results}, key=bench_key)
    rows = []
    for b in benches:
        threads = sorted({r["threads"] for r in results if r["bench"] == b})
        for t in threads:
            for rt in sorted({r["runtime"] for r in results if r["bench"] == b and r["threads"] == t}, key=rt_key):
                r = by[(b, rt, t)]
                row = {"bench": b, "threads": t, "runtime": rt, "value": r["value"], "unit": r.get("unit", "")}
                row["ratio_seq"] = r["value"] / seq[b] if b in seq and seq[b] > 0 else None
                for p in PEERS:
                    peer = by.get((b, p, t))
                    row["plait_over_" + p] = (r["value"] / peer["value"]
                                              if rt.startswith("plait") and peer and peer["value"] > 0 else None)
                skip = {"bench", "runtime", "threads", "value", "unit", "ok"}
                row["extra"] = " ".join("%s=%s" % (k, v) for k, v in r.items() if k not in skip)
                rows.append(row)

    # ---- table --------------------------------------------------------------
    hdr = ["bench", "thr", "runtime", "median", "unit", "T/Tseq"] + [PEER_LABEL[p] for p in PEERS] + ["notes"]
    table = []
    for row in rows:
        extra = []
        r = by[(row["bench"], row["runtime"], row["threads"])]
        for k in ("p99_us", "rate_per_s", "ctxsw"):
            if k in r:
                extra.append("%s=%s" % (k, r[k]))
        table.append([row["bench"], str(row["threads"]), row["runtime"], fmt(row["value"]), row["unit"],
                      fmt(row["ratio_seq"])] + [fmt(row["plait_over_" + p]) for p in PEERS] + [" ".join(extra)])
    w = [max(len(h), *(len(x[i]) for x in table)) if table else len(h) for i, h in enumerate(hdr)]
    print("Costs are medians (lower is better). T/Tseq: time over the sequential baseline.")
    print("plait/PEER: plait's cost over the peer's at the same thread count; < 1: plait faster.")
    print("(foreign_pN is a throughput test reported as ns/task, so plait/PEER = peer tasks/s over plait tasks/s;")
    print(" wakeup: median latency in us; idle/idle_tail: CPU seconds burnt by the idle pool in the window.)")
    print()
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)).rstrip())
    print("  ".join("-" * w[i] for i in range(len(hdr))))
    last = None
    for x in table:
        if last is not None and x[0] != last:
            print()
        last = x[0]
        print("  ".join(c.ljust(w[i]) if i in (0, 2, 4, len(hdr) - 1) else c.rjust(w[i]) for i, c in enumerate(x)).rstrip())
    n_a = [b for b in benches if b.startswith(("foreign", "wakeup"))]
    if n_a:
        print()
        print("N/A: OpenMP has no way to submit a task into a running team from a thread outside it,")
        print("     so foreign_pN and wakeup compare plait with oneTBB only; seq has no meaning there either.")
    if notes:
        print()
        for kind, line in notes:
            print("%s" % line)
    failed = [n for n in notes if n[0] in ("FAIL", "ERROR", "BAD")]

    # ---- CSV ------------------------------------------------------------------
    if a.csv:
        import csv
        with open(a.csv, "w", newline="") as f:
            cw = csv.writer(f)
            cw.writerow(["bench", "threads", "runtime", "value", "unit", "ratio_to_seq"]
                        + ["plait_over_" + p for p in PEERS] + ["extra"])
            for row in rows:
                cw.writerow([row["bench"], row["threads"], row["runtime"], "%.6g" % row["value"], row["unit"],
                             "" if row["ratio_seq"] is None else "%.4g" % row["ratio_seq"]]
                            + ["" if row["plait_over_" + p] is None else "%.4g" % row["plait_over_" + p]
                               for p in PEERS] + [row["extra"]])
            for kind, line in notes:
                cw.writerow(["#" + kind, "", "", "", "", "", "", "", "", line])
        print("\nwrote %s" % a.csv)

    # ---- plot -------------------------------------------------------------------
    if a.png:
        plot(rows, a.png)
    return 1 if failed else 0


def plot(rows, png):
    if not shutil.which("gnuplot"):
        print("gnuplot not found: no %s" % png)
        return
    plait_rows = [r for r in rows if r["runtime"].startswith("plait") and not r["bench"].startswith("idle")
                  and any(r["plait_over_" + p] for p in PEERS)]
    if not plait_rows:
        return
    threads = sorted({r["threads"] for r in plait_rows})
    tmp = tempfile.mkdtemp(prefix="plait-perf-")
    datafiles = []
    for t in threads:
        path = os.path.join(tmp, "t%d.dat" % t)
        with open(path, "w") as f:
            for r in plait_rows:
                if r["threads"] != t:
                    continue
                label = r["bench"] if r["runtime"] == "plait" else "%s/%s" % (r["bench"], r["runtime"][6:])
                vals = ["%.4g" % r["plait_over_" + p] if r["plait_over_" + p] else "?" for p in PEERS]
                f.write('"%s" %s\n' % (label, " ".join(vals)))
        datafiles.append((t, path))
    gp = os.path.join(tmp, "plot.gp")
    n = len(datafiles)
    with open(gp, "w") as f:
        f.write('set terminal pngcairo size 1400,%d font ",10"\n' % (420 * n) if has_cairo()
                else 'set terminal png size 1400,%d\n' % (420 * n))
        f.write('set output "%s"\n' % png)
        f.write('set datafile missing "?"\nset termoption noenhanced\n')
        f.write("set style data histograms\nset style histogram clustered gap 1\n")
        f.write("set style fill solid 0.8 border -1\nset boxwidth 0.9\n")
        f.write("set logscale y 2\nset yrange [0.015625:64]\nset grid ytics\n")
        f.write("set xtics rotate by -35 scale 0\nset key top left horizontal\n")
        f.write("set ylabel 'plait cost / peer cost  (< 1: plait faster)'\n")
        f.write("set multiplot layout %d,1\n" % n)
        for t, path in datafiles:
            f.write("set title 'plait relative to each peer, %d thread%s (log scale; 1 = parity)'\n"
                    % (t, "" if t == 1 else "s"))
            f.write("set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb 'black'\n")
            cols = ["'%s' using 2:xtic(1) title 'vs libgomp'" % path, "'' using 3 title 'vs libomp'",
                    "'' using 4 title 'vs oneTBB'"]
            # The optional peers, when this run had them (--lace, --libfork).
            for i, p in enumerate(PEERS[3:]):
                if any(r["plait_over_" + p] for r in plait_rows):
                    cols.append("'' using %d title 'vs %s'" % (5 + i, PEER_NAME[p]))
            f.write("plot %s\n" % ", ".join(cols))
        f.write("unset multiplot\n")
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        print("gnuplot failed: %s" % r.stderr.strip())
    else:
        print("wrote %s" % png)
    shutil.rmtree(tmp, ignore_errors=True)


def has_cairo():
    try:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        return "pngcairo" in (r.stdout + r.stderr)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
