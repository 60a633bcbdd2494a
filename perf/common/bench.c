/* bench.c — see bench.h. */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--threads N] [--quick] [--reps K] [--size N]\n", prog);
    exit(2);
}

static long parse_positive(const char *s, const char *prog)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 4096)
        usage(prog);
    return v;
}

static uint64_t parse_size(const char *s, const char *prog)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < 1)
        usage(prog);
    return (uint64_t)v;
}

void bench_parse(bench_cfg *cfg, int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("BENCH_THREADS");
    cfg->threads = (unsigned)(cpus > 0 ? cpus : 1);
    if (env && *env)
        cfg->threads = (unsigned)parse_positive(env, argv[0]);
    cfg->quick = 0;
    cfg->reps = 0;
    cfg->size = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            cfg->threads = (unsigned)parse_positive(argv[++i], argv[0]);
        else if (!strncmp(argv[i], "--threads=", 10))
            cfg->threads = (unsigned)parse_positive(argv[i] + 10, argv[0]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            cfg->reps = (int)parse_positive(argv[++i], argv[0]);
        else if (!strncmp(argv[i], "--reps=", 7))
            cfg->reps = (int)parse_positive(argv[i] + 7, argv[0]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            cfg->size = parse_size(argv[++i], argv[0]);
        else if (!strncmp(argv[i], "--size=", 7))
            cfg->size = parse_size(argv[i] + 7, argv[0]);
        else if (!strcmp(argv[i], "--quick"))
            cfg->quick = 1;
        else
            usage(argv[0]);
    }
    if (cfg->reps == 0)
        cfg->reps = cfg->quick ? 3 : 5;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, int n, double p)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)(p * n + 0.999999) - 1; /* nearest rank */
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_emit(const char *bench, const char *runtime, unsigned threads, const char *fmt, ...)
{
    va_list ap;
    printf("RESULT bench=%s runtime=%s threads=%u ", bench, runtime, threads);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void bench_fail(const char *bench, const char *runtime, unsigned threads, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL bench=%s runtime=%s threads=%u ", bench, runtime, threads);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    exit(1);
}

double bench_repeat(const bench_cfg *cfg, const char *bench, const char *runtime, bench_fn fn,
                    void *arg, uint64_t expected, double *t)
{
    uint64_t r = fn(arg); /* warm-up: page faults, thread start-up, caches */
    if (r != expected)
        bench_fail(bench, runtime, cfg->threads, "warm-up result=%" PRIu64 " expected=%" PRIu64, r,
                   expected);
    for (int i = 0; i < cfg->reps; i++) {
        double t0 = bench_now();
        r = fn(arg);
        t[i] = bench_now() - t0;
        if (r != expected)
            bench_fail(bench, runtime, cfg->threads, "rep=%d result=%" PRIu64 " expected=%" PRIu64,
                       i, r, expected);
    }
    return bench_median(t, cfg->reps);
}

double bench_time(const bench_cfg *cfg, const char *bench, const char *runtime, bench_fn fn,
                  void *arg, uint64_t expected)
{
    double *t = malloc(sizeof *t * (size_t)cfg->reps);
    if (!t)
        bench_fail(bench, runtime, cfg->threads, "out of memory");
    double med = bench_repeat(cfg, bench, runtime, fn, arg, expected, t);
    bench_emit(bench, runtime, cfg->threads,
               "value=%.6g unit=s median_s=%.6g min_s=%.6g reps=%d ok=1 result=%" PRIu64, med, med,
               t[0], cfg->reps, expected);
    free(t);
    return med;
}
