#!/usr/bin/env bash
# batch_xargs.sh — batch_records (records.h) with `xargs -P THREADS`: one
# process per record (bin/batch_seq --item I), so it pays a fork and an
# exec per item where plait and OpenMP pay a task; it runs RECORDS_XARGS
# records and reports ns per record, comparable with the others' value.
#   batch_xargs.sh BIN_DIR [--threads T] [--quick] [--reps K]
set -u
bin=${1:?usage: batch_xargs.sh BIN_DIR [--threads T] [--quick] [--reps K]}
shift
threads=$(nproc)
quick=0
reps=5
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --quick) quick=1; reps=3; shift ;;
        --reps) reps=$2; shift 2 ;;
        *) shift ;;
    esac
done
item="$bin/batch_seq"
[ -x "$item" ] || { echo "FAIL bench=batch_records runtime=xargs threads=$threads reason=\"no $item\""; exit 1; }
n=$([ "$quick" = 1 ] && echo 1000 || echo 5000) # RECORDS_XARGS
want=$("$item" --expect "$n")
times=()
for r in $(seq 0 "$reps"); do  # rep 0: the warm-up
    t0=$(date +%s.%N)
    got=$(seq 0 $((n - 1)) | xargs -P "$threads" -n 1 "$item" --item |
        python3 -c 'import sys
x = 0
for l in sys.stdin: x ^= int(l, 16)
print("%016x" % x)')
    t1=$(date +%s.%N)
    [ "$got" = "$want" ] || { echo "FAIL bench=batch_records runtime=xargs threads=$threads reason=\"xor $got, want $want\""; exit 1; }
    [ "$r" -gt 0 ] && times+=("$t0:$t1")
done
python3 -c "import sys
n, t = int(sys.argv[1]), sys.argv[2]
d = sorted(float(b) - float(a) for a, b in (x.split(':') for x in sys.argv[3:]))
med = d[(len(d) - 1) // 2]
print('RESULT bench=batch_records runtime=xargs threads=%s value=%.4g unit=ns/item items_per_s=%.0f median_s=%.6g items=%d ok=1' % (t, med * 1e9 / n, n / med, med, n))" "$n" "$threads" "${times[@]}"
