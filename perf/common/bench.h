/*
 * bench.h — the shared harness of plait's benchmark suite.
 *
 * Every benchmark binary (perf/<bench>/<bench>_<runtime>) parses the same
 * options with bench_parse, times its kernel with bench_time (one warm-up,
 * then --reps repetitions in the same process, median reported), checks
 * every repetition's result against the expected value (a wrong result
 * prints a FAIL line and exits 1), and prints one machine-readable line per
 * measurement:
 *
 *   RESULT bench=fib30 runtime=plait_join threads=2 value=0.0123 unit=s
 *          median_s=0.0123 min_s=0.0120 reps=5 ok=1 result=832040
 *
 * `value` is always a cost (lower is better, in `unit`): seconds for the
 * timed kernels, ns per task for the throughput benchmark, microseconds for
 * wake-up latency, CPU seconds for the idle cost. perf/report.py builds the
 * table, the CSV and the plot from these lines.
 *
 * Options, common to every binary:
 *   --threads N   worker threads (else $BENCH_THREADS, else the online CPUs)
 *   --quick       smaller inputs, fewer repetitions (default reps 3)
 *   --reps K      timed repetitions after the warm-up (default 5)
 *   --size N      the benchmark's own size knob where it has one (tasks per
 *                 producer for foreign, trials for wakeup); 0: its default
 */
#ifndef PLAIT_PERF_BENCH_H
#define PLAIT_PERF_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_cfg {
    unsigned threads; /* --threads, $BENCH_THREADS, or the online CPUs */
    int quick;        /* --quick */
    int reps;         /* --reps; 5 by default, 3 with --quick */
    uint64_t size;    /* --size; 0 unless given */
} bench_cfg;

/* Parses the common options; unknown options print usage and exit 2. */
void bench_parse(bench_cfg *cfg, int argc, char **argv);

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* One run of a kernel: returns the value that is checked (a count, a sum). */
typedef uint64_t (*bench_fn)(void *arg);

/* Runs fn once as a warm-up, then cfg->reps times, checks each result
 * against expected (FAIL line and exit(1) on a mismatch) and prints the
 * RESULT line with the median. Returns the median in seconds. */
double bench_time(const bench_cfg *cfg, const char *bench, const char *runtime, bench_fn fn,
                  void *arg, uint64_t expected);

/* Like bench_time without printing: runs the warm-up and the repetitions,
 * checks every result, stores the cfg->reps times in times (sorted) and
 * returns their median. */
double bench_repeat(const bench_cfg *cfg, const char *bench, const char *runtime, bench_fn fn,
                    void *arg, uint64_t expected, double *times);

/* Prints "RESULT bench=.. runtime=.. threads=.. " followed by the
 * formatted fields (the caller's line must contain value=, unit= and ok=). */
void bench_emit(const char *bench, const char *runtime, unsigned threads, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints "FAIL bench=.. runtime=.. threads=.. <message>" and exits 1. */
void bench_fail(const char *bench, const char *runtime, unsigned threads, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

/* Sorts v (n values) in place and returns its median / its p-quantile
 * (p in [0,1], nearest rank). */
double bench_median(double *v, int n);
double bench_quantile(double *v, int n, double p);

/* Sleeps for the given seconds (nanosleep, restarted on EINTR). */
void bench_sleep(double seconds);

#ifdef __cplusplus
}
#endif

#endif /* PLAIT_PERF_BENCH_H */
