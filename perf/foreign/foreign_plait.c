/* foreign_plait.c — producers outside the pool plait_go into one group. */
#include "../common/plait_bench.h"
#include "foreign.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

static plait_pool *pool;
static plait_group *group;
static unsigned threads;
static int producers;
static uint64_t per;
static pthread_barrier_t start;
static struct foreign_counter counters[FOREIGN_MAX_WORKERS + 1];
static _Atomic uint64_t stray;     /* tasks that ran on no worker (should stay 0) */
static _Atomic uint64_t go_errors; /* plait_go failures */
static _Atomic int first_error;

static int tiny(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    int w = plait_worker_index();
    if (w >= 0 && w < FOREIGN_MAX_WORKERS)
        counters[w].v++; /* only worker w writes its slot; read after the wait */
    else
        atomic_fetch_add_explicit(&stray, 1, memory_order_relaxed);
    return 0;
}

static void *producer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < per; i++) {
        int rc = plait_go(group, tiny, NULL);
        if (rc) {
            atomic_fetch_add_explicit(&go_errors, 1, memory_order_relaxed);
            int zero = 0;
            atomic_compare_exchange_strong(&first_error, &zero, rc);
        }
    }
    return NULL;
}

static uint64_t run(void *arg)
{
    (void)arg;
    pthread_t th[8];
    for (int i = 0; i <= FOREIGN_MAX_WORKERS; i++)
        counters[i].v = 0;
    atomic_store(&stray, 0);
    int rc = plait_group_create(&group, pool, 0);
    if (rc)
        bench_fail("foreign", "plait", threads, "plait_group_create: %s", plait_strerror(rc));
    for (int i = 0; i < producers; i++)
        pthread_create(&th[i], NULL, producer, NULL);
    pthread_barrier_wait(&start); /* the caller's clock started just before */
    for (int i = 0; i < producers; i++)
        pthread_join(th[i], NULL);
    rc = plait_group_wait(group);
    plait_group_destroy(group);
    if (rc)
        bench_fail("foreign", "plait", threads, "plait_group_wait: %s", plait_strerror(rc));
    if (atomic_load(&go_errors))
        bench_fail("foreign", "plait", threads, "%" PRIu64 " plait_go calls failed, first: %s",
                   (uint64_t)atomic_load(&go_errors), plait_strerror(atomic_load(&first_error)));
    uint64_t s = atomic_load(&stray);
    for (int i = 0; i <= FOREIGN_MAX_WORKERS; i++)
        s += counters[i].v;
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    per = FOREIGN_PER(&cfg);
    pool = pb_pool(&cfg, "foreign");
    double *t = malloc(sizeof *t * (size_t)cfg.reps);
    for (unsigned k = 0; k < sizeof foreign_producers / sizeof *foreign_producers; k++) {
        char name[32];
        producers = foreign_producers[k];
        snprintf(name, sizeof name, "foreign_p%d", producers);
        pthread_barrier_init(&start, NULL, (unsigned)producers + 1);
        uint64_t total = per * (uint64_t)producers;
        plait_stats st0, st;
        plait_pool_stats(pool, &st0);
        double med = bench_repeat(&cfg, name, "plait", run, NULL, total, t);
        plait_pool_stats(pool, &st);
        pthread_barrier_destroy(&start);
        bench_emit(name, "plait", threads,
                   "value=%.4g unit=ns/task median_s=%.6g min_s=%.6g rate_per_s=%.4g tasks=%" PRIu64
                   " reps=%d ok=1 stray=%" PRIu64 " parks_per_rep=%.0f wakeups_per_rep=%.0f"
                   " steals_per_rep=%.0f",
                   med * 1e9 / (double)total, med, t[0], (double)total / med, total, cfg.reps,
                   (uint64_t)atomic_load(&stray), (double)(st.parks - st0.parks) / (cfg.reps + 1),
                   (double)(st.wakeups - st0.wakeups) / (cfg.reps + 1),
                   (double)(st.steals - st0.steals) / (cfg.reps + 1));
    }
    free(t);
    plait_pool_destroy(pool);
    return 0;
}
