/* retry_plait.c — retries with backoff in a batch: what a retry costs the
 * batch when its backoff sleeps in the task (plait_sleep: the worker is
 * held for the whole backoff) and when the task spawns its retry with a
 * delay (plait_spawn_options.delay_ns: the pool's timer holds it, the
 * worker goes on with other items).
 *
 * RETRY_ITEMS items of RETRY_WORK_US of CPU each; every RETRY_EVERY-th item
 * fails transiently on its first attempt and is retried once after
 * RETRY_BACKOFF_MS. The work is the same in both variants; only where the
 * backoff waits differs. At 2 workers the sleeping variant pays about
 * items / RETRY_EVERY * backoff / workers more than the delayed one, which
 * pays about one backoff. value: seconds per batch. */
#include "../common/plait_bench.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#define RETRY_ITEMS 2000
#define RETRY_ITEMS_QUICK 400
#define RETRY_WORK_US 100
#define RETRY_EVERY 10
#define RETRY_BACKOFF_MS 20

struct item {
    plait_group *group;
    unsigned index;
    unsigned attempt;
};

static struct item *items;
static unsigned nitems;
static plait_pool *pool;
static unsigned threads;
static atomic_uint done;

static void work(void)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < RETRY_WORK_US * 1000L);
}

/* The first attempt of every RETRY_EVERY-th item fails transiently. */
static bool transient(const struct item *it)
{
    return it->index % RETRY_EVERY == 0 && it->attempt == 0;
}

static int item_sleeping(plait_ctx *ctx, void *arg)
{
    struct item *it = arg;
    for (;;) {
        work();
        if (!transient(it))
            break;
        it->attempt++;
        int rc = plait_sleep(ctx, RETRY_BACKOFF_MS * 1000000ull);
        if (rc != 0)
            return rc;
    }
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
    return 0;
}

static int item_delayed(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct item *it = arg;
    work();
    if (transient(it)) {
        it->attempt++;
        plait_spawn_options later = {.delay_ns = RETRY_BACKOFF_MS * 1000000ull};
        return plait_spawn_with(it->group, item_delayed, it, &later, NULL);
    }
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
    return 0;
}

static uint64_t batch(plait_fn fn, const char *runtime)
{
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc != 0)
        bench_fail("retry", runtime, threads, "group: %s", plait_strerror(rc));
    atomic_store(&done, 0);
    for (unsigned i = 0; i < nitems; i++) {
        items[i] = (struct item){g, i, 0};
        if ((rc = plait_go(g, fn, &items[i])) != 0)
            bench_fail("retry", runtime, threads, "go: %s", plait_strerror(rc));
    }
    rc = plait_group_wait(g);
    plait_group_destroy(g);
    if (rc != 0)
        bench_fail("retry", runtime, threads, "wait: %s", plait_strerror(rc));
    return atomic_load(&done);
}

static uint64_t run_sleeping(void *arg)
{
    (void)arg;
    return batch(item_sleeping, "plait_sleep");
}

static uint64_t run_delayed(void *arg)
{
    (void)arg;
    return batch(item_delayed, "plait_delay");
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    nitems = cfg.quick ? RETRY_ITEMS_QUICK : RETRY_ITEMS;
    items = calloc(nitems, sizeof *items);
    pool = pb_pool(&cfg, "retry");
    bench_time(&cfg, "retry", "plait_sleep", run_sleeping, NULL, nitems);
    bench_time(&cfg, "retry", "plait_delay", run_delayed, NULL, nitems);
    plait_pool_destroy(pool);
    free(items);
    return 0;
}
