/* batch_plait.c — foreign producers into a limited group (batch.h), and
 * batch_records (records.h): one producer, the main thread. */
#include "../common/plait_bench.h"
#include "batch.h"
#include "records.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static plait_pool *pool;
static plait_group *group;
static unsigned threads;
static uint64_t per;
static int producers;
static pthread_barrier_t start;
static _Atomic uint64_t ran;
static _Atomic uint64_t go_errors;

static int tiny(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return 0;
}

static void *producer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < per; i++)
        if (plait_go(group, tiny, NULL) != 0)
            atomic_fetch_add_explicit(&go_errors, 1, memory_order_relaxed);
    return NULL;
}

static unsigned limit;

static uint64_t run(void *arg)
{
    (void)arg;
    pthread_t th[8];
    atomic_store(&ran, 0);
    if (plait_group_create(&group, pool, 0) || plait_group_set_limit(group, limit))
        bench_fail("batch", "plait", threads, "group");
    for (int i = 0; i < producers; i++)
        pthread_create(&th[i], NULL, producer, NULL);
    pthread_barrier_wait(&start);
    for (int i = 0; i < producers; i++)
        pthread_join(th[i], NULL);
    int rc = plait_group_wait(group);
    plait_group_destroy(group);
    if (rc || atomic_load(&go_errors))
        bench_fail("batch", "plait", threads, "wait %d, %" PRIu64 " spawns failed", rc,
                   (uint64_t)atomic_load(&go_errors));
    return atomic_load(&ran);
}

/* ---- RSS under a slow consumer ------------------------------------------ */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static _Atomic long peak_kib;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int slow(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    volatile char *p = arg;
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 20000)
        p[0]++;
    return 0;
}

static void *rss_producer(void *arg)
{
    (void)arg;
    plait_spawn_options o = {.drop = free};
    for (uint64_t i = 0; i < per / 20; i++) {
        char *payload = calloc(1, 1024);
        if (plait_spawn_with(group, slow, payload, &o, NULL) != 0)
            atomic_fetch_add_explicit(&go_errors, 1, memory_order_relaxed);
        if (i % 128 == 0) {
            long r = rss_kib(), m = atomic_load(&peak_kib);
            while (r > m && !atomic_compare_exchange_weak(&peak_kib, &m, r))
                ;
        }
    }
    return NULL;
}

static long rss_growth(unsigned lim)
{
    long base = rss_kib();
    atomic_store(&peak_kib, base);
    if (plait_group_create(&group, pool, 0) || plait_group_set_limit(group, lim))
        bench_fail("batch_rss", "plait", threads, "group");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, rss_producer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    if (plait_group_wait(group) || atomic_load(&go_errors))
        bench_fail("batch_rss", "plait", threads, "wait");
    plait_group_destroy(group);
    return atomic_load(&peak_kib) - base;
}

/* ---- batch_records: the main thread feeds a limited group -------------- */

static uint64_t n_records;
static _Atomic uint64_t records_x;

static int hash_record(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    /* relaxed: an order-free xor, published to the main thread by the
     * group's wait. */
    atomic_fetch_xor_explicit(&records_x, record_hash((uint64_t)(uintptr_t)arg),
                              memory_order_relaxed);
    return 0;
}

static uint64_t run_records(void *arg)
{
    (void)arg;
    atomic_store_explicit(&records_x, 0, memory_order_relaxed);
    if (plait_group_create(&group, pool, 0) || plait_group_set_limit(group, RECORDS_LIMIT))
        bench_fail("batch_records", "plait", threads, "group");
    for (uint64_t i = 0; i < n_records; i++)
        if (plait_go(group, hash_record, (void *)(uintptr_t)i) != 0)
            bench_fail("batch_records", "plait", threads, "spawn %" PRIu64, i);
    if (plait_group_wait(group))
        bench_fail("batch_records", "plait", threads, "wait");
    plait_group_destroy(group);
    return atomic_load_explicit(&records_x, memory_order_relaxed);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    per = BATCH_PER(&cfg);
    pool = pb_pool(&cfg, "batch");
    /* First, while the process is small: freed memory stays resident, so
     * the limited run goes before the unlimited one. */
    long with_limit = rss_growth(64);
    long without = rss_growth(0);
    bench_emit("batch_rss", "plait_limit64", threads, "value=%ld unit=KiB ok=1 tasks=%" PRIu64,
               with_limit, 4 * (per / 20));
    bench_emit("batch_rss", "plait", threads, "value=%ld unit=KiB ok=1 tasks=%" PRIu64, without,
               4 * (per / 20));
    double *t = malloc(sizeof *t * (size_t)cfg.reps);
    producers = 2;
    pthread_barrier_init(&start, NULL, (unsigned)producers + 1);
    for (unsigned k = 0; k < sizeof batch_limits / sizeof *batch_limits; k++) {
        char name[32];
        limit = batch_limits[k];
        snprintf(name, sizeof name, "batch_limit%u", limit);
        uint64_t total = per * (uint64_t)producers;
        double med = bench_repeat(&cfg, name, "plait", run, NULL, total, t);
        bench_emit(name, "plait", threads,
                   "value=%.4g unit=ns/task median_s=%.6g min_s=%.6g tasks=%" PRIu64
                   " reps=%d ok=1",
                   med * 1e9 / (double)total, med, t[0], total, cfg.reps);
    }
    pthread_barrier_destroy(&start);
    n_records = RECORDS(&cfg);
    double med = bench_repeat(&cfg, "batch_records", "plait", run_records, NULL,
                              records_expected(n_records), t);
    bench_emit(
        "batch_records", "plait", threads,
        "value=%.4g unit=ns/item items_per_s=%.0f median_s=%.6g items=%" PRIu64 " limit=%u ok=1",
        med * 1e9 / (double)n_records, (double)n_records / med, med, n_records, RECORDS_LIMIT);
    free(t);
    plait_pool_destroy(pool);
    return 0;
}
