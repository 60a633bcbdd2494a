/*
 * stress_batch — batches at scale:
 *   1. a cancelled batch of a million tasks whose arguments only their
 *      drop frees: every drop runs exactly once (counted), and the ASan
 *      build's leak check at exit finds nothing;
 *   2. producers feeding a slow consumer, with and without a limit: the
 *      resident set grows with the backlog without a limit and stays flat
 *      with one; both growths are printed;
 *   3. random rounds mixing limits, holds, group loops, try-spawns,
 *      cancellations (plain and async) and drops from several producers:
 *      every drop exactly once, and the group's counts add up.
 *
 *   stress_batch [--tasks N] [--rounds R] [--seed S]
 */
#include "stress_common.h"

#include <sched.h>

#include <plait.h>

static _Atomic uint64_t drops;

static void free_and_count(void *p)
{
    free(p);
    atomic_fetch_add_explicit(&drops, 1, memory_order_relaxed);
}

static int must_not_run(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EIO;
}

static int wait_cancel(plait_ctx *ctx, void *arg)
{
    atomic_int *started = arg;
    atomic_fetch_add(started, 1);
    while (!plait_cancelled(ctx))
        sched_yield();
    return ECANCELED;
}

static void cancelled_batch(plait_pool *pool, uint64_t n)
{
    st_unit_begin();
    atomic_store(&drops, 0);
    plait_group *g;
    CHECK(plait_group_create(&g, pool, 0) == 0, "create");
    atomic_int started = 0;
    unsigned w = plait_pool_size(pool);
    for (unsigned i = 0; i < w; i++)
        plait_go(g, wait_cancel, &started);
    while (atomic_load(&started) < (int)w)
        sched_yield();
    plait_spawn_options o = {.drop = free_and_count};
    uint64_t t0 = st_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        void *arg = malloc(32);
        int r = plait_spawn_with(g, must_not_run, arg, &o, NULL);
        CHECK(r == 0, "spawn %" PRIu64 ": %d", i, r);
    }
    plait_group_cancel(g);
    CHECK(plait_group_wait(g) == ECANCELED, "wait");
    plait_group_info info;
    plait_group_get_info(g, &info);
    CHECK(atomic_load(&drops) == n, "%" PRIu64 " drops for %" PRIu64 " tasks", atomic_load(&drops),
          n);
    CHECK(info.never_run == n, "never_run %" PRIu64, info.never_run);
    CHECK(info.cancelled == n + w, "cancelled %" PRIu64, info.cancelled);
    printf("cancelled batch: %" PRIu64 " tasks spawned, cancelled and dropped in %.2f s\n", n,
           (double)(st_now_ns() - t0) / 1e9);
    plait_group_destroy(g);
    st_unit_end();
}

/* ---- 2: a slow consumer, with and without a limit ----------------------
 * The limited run goes first, before anything else has made the process
 * big: freed memory stays resident in malloc's arenas, so a run after a
 * big one would look flat whatever it did. */

struct feed {
    plait_group *g;
    uint64_t per_producer;
    _Atomic uint64_t peak_heap;
};

/* Resident set size (/proc/self/statm), or 0. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, res = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int slow_consume(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    volatile char *p = arg;
    uint64_t t0 = st_now_ns();
    while (st_now_ns() - t0 < 20000) /* 20 us of work */
        p[0]++;
    return 0;
}

static void *produce(void *p)
{
    struct feed *f = p;
    plait_spawn_options o = {.drop = free_and_count};
    for (uint64_t i = 0; i < f->per_producer; i++) {
        char *payload = calloc(1, 1024);
        CHECK(plait_spawn_with(f->g, slow_consume, payload, &o, NULL) == 0, "spawn");
        if (i % 256 == 0) {
            uint64_t h = rss_bytes(), m = atomic_load(&f->peak_heap);
            while (h > m && !atomic_compare_exchange_weak(&f->peak_heap, &m, h))
                ;
        }
    }
    return NULL;
}

static uint64_t feed_peak(plait_pool *pool, size_t limit, uint64_t per_producer)
{
    struct feed f = {.per_producer = per_producer};
    atomic_init(&f.peak_heap, 0);
    CHECK(plait_group_create(&f.g, pool, 0) == 0, "create");
    if (limit != 0)
        CHECK(plait_group_set_limit(f.g, limit) == 0, "limit");
    uint64_t base = rss_bytes();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, produce, &f);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(plait_group_wait(f.g) == 0, "wait");
    plait_group_destroy(f.g);
    uint64_t peak = atomic_load(&f.peak_heap);
    return peak > base ? peak - base : 0;
}

static void slow_consumer(plait_pool *pool, uint64_t per_producer)
{
    st_unit_begin();
    uint64_t limited = feed_peak(pool, 64, per_producer);
    uint64_t unlimited = feed_peak(pool, 0, per_producer);
    printf("slow consumer, 4 producers x %" PRIu64 " tasks of 1 KiB: RSS growth %.1f MiB "
           "without a limit, %.2f MiB with limit 64\n",
           per_producer, (double)unlimited / 1048576.0, (double)limited / 1048576.0);
#if defined(__GLIBC__) && !ST_SANITIZED
    /* 64 tasks in flight: records and payloads well under 1 MiB, plus the
     * producers' caches; without the limit the backlog is most of it all. */
    CHECK(limited < 4u << 20, "limited growth %" PRIu64, limited);
    CHECK(unlimited > 2 * limited, "unlimited growth %" PRIu64, unlimited);
#endif
    st_unit_end();
}

/* ---- 3: random rounds --------------------------------------------------- */

struct round {
    plait_group *g;
    uint64_t seed;
    uint64_t spawns;
    _Atomic uint64_t made, refused;
};

static int maybe_fail(plait_ctx *ctx, void *arg)
{
    (void)arg;
    uint64_t x = (uint64_t)(uintptr_t)ctx;
    if (plait_cancelled(ctx))
        return ECANCELED;
    return (st_mix(x) % 97) == 0 ? plait_fail_item(ctx, 7, EIO, "bad") : 0;
}

static int range_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)arg;
    (void)b;
    (void)e;
    return plait_cancelled(ctx) ? ECANCELED : 0;
}

static void *round_producer(void *p)
{
    struct round *r = p;
    uint64_t s = r->seed;
    if (plait_group_hold(r->g) != 0)
        return NULL;
    plait_spawn_options o = {.drop = free_and_count};
    for (uint64_t i = 0; i < r->spawns; i++) {
        uint64_t k = st_below(&s, 100);
        if (k < 3) {
            plait_group_for(r->g, 0, st_below(&s, 1000), st_below(&s, 50), range_body, NULL);
            continue;
        }
        if (k == 3) {
            plait_group_cancel_async(r->g);
            continue;
        }
        o.flags = k < 20 ? PLAIT_SPAWN_TRY : 0;
        void *arg = malloc(16);
        int e = plait_spawn_with(r->g, maybe_fail, arg, &o, NULL);
        if (e == EAGAIN)
            free(arg); /* a try that found the group full: still ours */
        else
            atomic_fetch_add(e == 0 ? &r->made : &r->refused, 1);
    }
    plait_group_release(r->g);
    return NULL;
}

static void random_rounds(plait_pool *pool, uint64_t rounds, uint64_t seed)
{
    uint64_t s = seed;
    for (uint64_t n = 0; n < rounds; n++) {
        st_unit_begin();
        atomic_store(&drops, 0);
        struct round r = {.spawns = 200 + st_below(&s, 800)};
        atomic_init(&r.made, 0);
        atomic_init(&r.refused, 0);
        unsigned flags = PLAIT_GROUP_CANCEL_ASYNC | (st_below(&s, 2) ? PLAIT_GROUP_COLLECT_ALL : 0);
        CHECK(plait_group_create(&r.g, pool, flags) == 0, "create");
        if (st_below(&s, 2))
            plait_group_set_limit(r.g, 1 + st_below(&s, 16));
        int np = 1 + (int)st_below(&s, 4);
        pthread_t th[4];
        struct round rs[4];
        for (int i = 0; i < np; i++) {
            rs[i] = r;
            rs[i].seed = st_next(&s);
            atomic_init(&rs[i].made, 0);
            atomic_init(&rs[i].refused, 0);
            pthread_create(&th[i], NULL, round_producer, &rs[i]);
        }
        int w = plait_group_wait(r.g);
        CHECK(w == 0 || w == EIO || w == ECANCELED, "round %" PRIu64 ": wait %d", n, w);
        uint64_t made = 0, refused = 0;
        for (int i = 0; i < np; i++) {
            pthread_join(th[i], NULL);
            made += atomic_load(&rs[i].made);
            refused += atomic_load(&rs[i].refused);
        }
        CHECK(atomic_load(&drops) == made + refused,
              "round %" PRIu64 ": %" PRIu64 " drops, %" PRIu64 " spawns made, %" PRIu64 " refused",
              n, atomic_load(&drops), made, refused);
        plait_group_info i;
        plait_group_get_info(r.g, &i);
        CHECK(i.spawned == i.succeeded + i.failed + i.cancelled, "round %" PRIu64 ": counts", n);
        CHECK(i.pending == 0 && i.holds == 0 && i.waited, "round %" PRIu64 ": state", n);
        CHECK(i.failed == plait_group_errors(r.g, NULL) + i.errors_lost, "round %" PRIu64, n);
        plait_group_destroy(r.g);
        if (!st_unit_end())
            printf("round %" PRIu64 " failed (seed %" PRIu64 ")\n", n, seed);
    }
}

int main(int argc, char **argv)
{
    /* A million also under ASan (its leak check is the point); TSan's
     * shadow memory would make that gigabytes. */
    uint64_t tasks =
        st_arg_u64(argc, argv, "--tasks", ST_TSAN ? st_scaled(1000000, 10000) : 1000000);
    uint64_t rounds = st_arg_u64(argc, argv, "--rounds", st_scaled(200, 10));
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_batch: tasks %" PRIu64 ", rounds %" PRIu64 ", seed %" PRIu64 "\n", tasks, rounds,
           seed);
    plait_pool *pool;
    plait_pool_options po = {.threads = 2};
    if (plait_pool_create(&pool, &po) != 0)
        return 2;
    slow_consumer(pool, st_scaled(5000, 500));
    cancelled_batch(pool, tasks);
    random_rounds(pool, rounds, seed);
    plait_pool_destroy(pool);
    return st_finish("stress_batch");
}
