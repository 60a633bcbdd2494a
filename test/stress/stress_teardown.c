/*
 * stress_teardown — pools destroyed while plait calls on their groups are
 * in flight, round after round (the reliability issue's teardown item):
 * foreign threads wait, poll and cancel groups with deadlines while the
 * main thread destroys the pool; then the groups are waited, read and
 * destroyed after the pool is gone, in a random order. Every wait returns
 * the group's result, every spawn after destroy gets ESHUTDOWN, nothing is
 * lost (the tasks' count), and the sanitizer builds see no use after free
 * and no leak.
 *
 *   stress_teardown [--rounds N] [--seed S]
 */
#include <plait.h>

#include "stress_common.h"

#include <errno.h>

#define NGROUPS 6
#define NWAITERS 3

struct round {
    plait_group *g[NGROUPS];
    int flags[NGROUPS];
    _Atomic uint64_t ran;
    _Atomic int waiters_in;
    uint64_t seed;
};

static int count_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct round *r = arg;
    atomic_fetch_add_explicit(&r->ran, 1, memory_order_relaxed);
    return 0;
}

static int fail_task(plait_ctx *ctx, void *arg)
{
    struct round *r = arg;
    atomic_fetch_add_explicit(&r->ran, 1, memory_order_relaxed);
    return plait_fail(ctx, EIO, "failed on purpose");
}

struct waiter {
    struct round *r;
    unsigned which;
    int result;
};

/* A foreign thread inside plait calls on a group while the pool goes. */
static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    plait_group *g = w->r->g[w->which];
    atomic_fetch_add(&w->r->waiters_in, 1);
    switch (w->which % 3) {
    case 0:
        w->result = plait_group_wait(g);
        break;
    case 1:
        while (plait_group_pending(g) != 0)
            st_sleep_ns(10000);
        w->result = 0;
        break;
    default:
        plait_group_cancel(g);
        w->result = plait_group_wait(g);
        break;
    }
    return NULL;
}

static void one_round(uint64_t seed)
{
    struct round r = {.seed = seed};
    uint64_t s = seed;
    plait_pool_options o = {.threads = 1 + (unsigned)st_below(&s, 3)};
    plait_pool *pool;
    CHECK(plait_pool_create(&pool, &o) == 0, "pool");
    uint64_t spawned = 0;
    for (int i = 0; i < NGROUPS; i++) {
        r.flags[i] = st_below(&s, 2) ? PLAIT_GROUP_COLLECT_ALL : 0;
        CHECK(plait_group_create(&r.g[i], pool, (unsigned)r.flags[i]) == 0, "group");
        if (st_below(&s, 2))
            CHECK(plait_group_set_timeout(r.g[i], 1000 + st_below(&s, 2000000)) == 0, "timeout");
        unsigned n = (unsigned)st_below(&s, 40);
        for (unsigned k = 0; k < n; k++) {
            int rc = plait_go(r.g[i], st_below(&s, 20) == 0 ? fail_task : count_task, &r);
            CHECK(rc == 0 || rc == ECANCELED, "go %d", rc);
            spawned += rc == 0;
        }
    }
    pthread_t th[NWAITERS];
    struct waiter w[NWAITERS];
    for (unsigned i = 0; i < NWAITERS; i++) {
        w[i] = (struct waiter){&r, (unsigned)st_below(&s, NGROUPS), 0};
        pthread_create(&th[i], NULL, waiter_main, &w[i]);
    }
    /* Destroy while the waiters are (or are about to be) inside their
     * calls: it runs every queued task to completion first. */
    if (st_below(&s, 2))
        while (atomic_load(&r.waiters_in) < NWAITERS)
            st_sleep_ns(1000);
    CHECK(plait_pool_destroy(pool) == 0, "destroy");
    CHECK(atomic_load(&r.ran) <= spawned, "ran %lu of %lu", (unsigned long)atomic_load(&r.ran),
          (unsigned long)spawned);
    for (unsigned i = 0; i < NWAITERS; i++)
        pthread_join(th[i], NULL);
    /* After the pool: spawns are refused, waits and reads work, in a
     * random order of waiting and destroying. */
    for (int k = 0; k < NGROUPS; k++) {
        int i = (int)((k + seed) % NGROUPS);
        int rc = plait_go(r.g[i], count_task, &r);
        CHECK(rc == ESHUTDOWN || rc == EINVAL, "spawn after destroy: %d", rc);
        if (st_below(&s, 3) != 0) {
            int wr = plait_group_wait(r.g[i]);
            CHECK(wr == 0 || wr == EIO || wr == ECANCELED || wr == ETIMEDOUT || wr == EINVAL,
                  "wait after destroy: %d", wr);
            CHECK(plait_group_pending(r.g[i]) == 0, "pending after destroy");
            const plait_error *e;
            size_t ne = plait_group_errors(r.g[i], &e);
            for (size_t j = 0; j < ne; j++)
                CHECK(e[j].code == EIO, "error %d", e[j].code);
        }
        plait_group_destroy(r.g[i]);
    }
}

int main(int argc, char **argv)
{
    uint64_t rounds = st_scaled(st_arg_u64(argc, argv, "--rounds", 600), 60);
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_teardown: seed %#lx, %lu rounds\n", (unsigned long)seed, (unsigned long)rounds);
    st_watchdog_start(ST_SANITIZED ? 120.0 : 30.0, NULL);
    st_unit_begin();
    uint64_t s = seed;
    for (uint64_t i = 0; i < rounds; i++) {
        one_round(st_next(&s));
        st_watchdog_kick();
    }
    st_unit_end();
    st_watchdog_stop();
    return st_finish("stress_teardown");
}
