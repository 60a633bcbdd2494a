/*
 * stress_wakeup — lost wake-up hunt.
 *
 * Foreign producer threads submit bursts of work separated by idle gaps
 * long enough for every worker to park (workers spin ~20-100 us before
 * parking; the gap waits until plait_pool_stats shows the parks, up to
 * 20 ms). A lost wake-up shows as a burst that never completes: a
 * watchdog aborts after a timeout and prints the state (phase, burst
 * number, pending count, pool stats).
 *
 * Burst shapes, in turn:
 *   - one task (plait_go) and a blocking group wait on the foreign thread;
 *   - a few tasks, completion seen by polling a counter (no wait at all:
 *     only the pool's own wake-up can make progress);
 *   - a lone plait_submit and plait_task_wait;
 *   - a task that spawns a child into its group and then busy-waits
 *     (without plait_sleep) until another worker picks the child up: the
 *     spawn's local notify must wake a parked sibling (pools of 2+).
 * Phases: pools of 1, 2 and 4 workers; 1 and 2 producers.
 *
 * Options: --bursts N (per producer and phase), --seed S.
 */
#include "stress_common.h"

#include <plait.h>

static plait_pool *pool;
static unsigned nthreads, nproducers;
static _Atomic uint64_t burst_no[2];
static _Atomic(plait_group *) cur_group[2];
static _Atomic int phase_no;
static _Atomic uint64_t total_tasks, total_bursts, gaps_parked, gaps, local_wakes, local_missed;
static _Atomic uint64_t max_local_ns;

static int leaf(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add_explicit((_Atomic uint64_t *)arg, 1, memory_order_release);
    return 0;
}

struct local {
    _Atomic int started;
    _Atomic uint64_t done;
};

static int local_child(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct local *l = arg;
    atomic_store_explicit(&l->started, 1, memory_order_release);
    return 0;
}

static int local_parent(plait_ctx *ctx, void *arg)
{
    struct local *l = arg;
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return EIO;
    uint64_t t0 = st_now_ns();
    int r = plait_go(g, local_child, l);
    CHECK(r == 0, "go %d", r);
    /* Busy, not sleeping: only the spawn's notify can bring a sibling.
     * Seconds: a woken worker may wait that long for a core on a loaded
     * machine; a lost wake-up leaves it asleep for good. */
    uint64_t limit = t0 + (ST_SANITIZED ? 10000 : 2000) * 1000000ull;
    while (!atomic_load_explicit(&l->started, memory_order_acquire) && st_now_ns() < limit)
        ;
    uint64_t dt = st_now_ns() - t0;
    if (atomic_load(&l->started)) {
        atomic_fetch_add(&local_wakes, 1);
        uint64_t m = atomic_load(&max_local_ns);
        while (dt > m && !atomic_compare_exchange_weak(&max_local_ns, &m, dt))
            ;
    } else {
        atomic_fetch_add(&local_missed, 1);
    }
    CHECK(atomic_load(&l->started), "a parked worker was not woken for a local spawn (%.1f ms)",
          (double)dt / 1e6);
    r = plait_group_wait(g);
    CHECK(r == 0, "wait %d", r);
    plait_group_destroy(g);
    return 0;
}

struct producer {
    pthread_t th;
    unsigned idx;
    uint64_t bursts;
    uint64_t seed;
};

/* Waits until some worker parked again since the burst began (or 20 ms):
 * with every burst's work done, that is the last one going to sleep. */
static void idle_gap(uint64_t parks0)
{
    plait_stats st;
    uint64_t limit = st_now_ns() + 20000000u;
    st_sleep_ns(1000000); /* ~1 ms: enough for the spin phase */
    for (;;) {
        plait_pool_stats(pool, &st);
        if (st.parks > parks0) {
            atomic_fetch_add(&gaps_parked, 1);
            break;
        }
        if (st_now_ns() > limit)
            break;
        st_sleep_ns(200000);
    }
    atomic_fetch_add(&gaps, 1);
}

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    uint64_t s = p->seed;
    for (uint64_t b = 0; b < p->bursts; b++) {
        atomic_store(&burst_no[p->idx], b);
        plait_stats st0;
        plait_pool_stats(pool, &st0);
        unsigned shape = (unsigned)(b % 4);
        /* Spinning parents must leave a worker free for the child. */
        if (shape == 3 && nthreads <= nproducers)
            shape = 0;
        switch (shape) {
        case 0: { /* one task, blocking group wait */
            _Atomic uint64_t n = 0;
            plait_group *g;
            CHECK(plait_group_create(&g, pool, 0) == 0, "group_create");
            atomic_store(&cur_group[p->idx], g);
            CHECK(plait_go(g, leaf, &n) == 0, "go");
            int r = plait_group_wait(g);
            atomic_store(&cur_group[p->idx], NULL);
            CHECK(r == 0 && atomic_load(&n) == 1, "burst: wait %d ran %" PRIu64, r,
                  atomic_load(&n));
            plait_group_destroy(g);
            atomic_fetch_add(&total_tasks, 1);
            break;
        }
        case 1: { /* a few tasks, completion by polling only */
            _Atomic uint64_t n = 0;
            plait_group *g;
            unsigned k = 1 + (unsigned)st_below(&s, 8);
            CHECK(plait_group_create(&g, pool, 0) == 0, "group_create");
            atomic_store(&cur_group[p->idx], g);
            for (unsigned i = 0; i < k; i++)
                CHECK(plait_go(g, leaf, &n) == 0, "go");
            while (atomic_load_explicit(&n, memory_order_acquire) < k)
                st_sleep_ns(20000); /* the watchdog catches a hang */
            int r = plait_group_wait(g);
            atomic_store(&cur_group[p->idx], NULL);
            CHECK(r == 0, "wait %d", r);
            plait_group_destroy(g);
            atomic_fetch_add(&total_tasks, k);
            break;
        }
        case 2: { /* a lone task */
            _Atomic uint64_t n = 0;
            plait_task *t = plait_submit(pool, leaf, &n);
            CHECK(t != NULL, "submit");
            if (t != NULL) {
                CHECK(plait_task_wait(t) == 0, "task_wait");
                plait_task_release(t);
            }
            CHECK(atomic_load(&n) == 1, "lone task ran %" PRIu64, atomic_load(&n));
            atomic_fetch_add(&total_tasks, 1);
            break;
        }
        case 3: { /* local spawn must wake a parked sibling */
            struct local l = {0};
            plait_task *t = plait_submit(pool, local_parent, &l);
            CHECK(t != NULL, "submit");
            if (t != NULL) {
                CHECK(plait_task_wait(t) == 0, "task_wait");
                plait_task_release(t);
            }
            atomic_fetch_add(&total_tasks, 2);
            break;
        }
        }
        atomic_fetch_add(&total_bursts, 1);
        st_watchdog_kick();
        idle_gap(st0.parks);
    }
    return NULL;
}

static void dump(void)
{
    fprintf(stderr, "phase %d, workers %u, burst %" PRIu64 " / %" PRIu64 "\n",
            atomic_load(&phase_no), nthreads, atomic_load(&burst_no[0]), atomic_load(&burst_no[1]));
    for (int i = 0; i < 2; i++) {
        plait_group *g = atomic_load(&cur_group[i]);
        if (g != NULL)
            fprintf(stderr, "  producer %d group pending %zu\n", i, plait_group_pending(g));
    }
    plait_stats st;
    if (pool != NULL && plait_pool_stats(pool, &st) == 0)
        fprintf(stderr,
                "  stats: succeeded %" PRIu64 " failed %" PRIu64 " cancelled %" PRIu64
                " injected %" PRIu64 " parks %" PRIu64 " wakeups %" PRIu64 " steals %" PRIu64 "\n",
                st.tasks_succeeded, st.tasks_failed, st.tasks_cancelled, st.injected, st.parks,
                st.wakeups, st.steals);
}

int main(int argc, char **argv)
{
    uint64_t bursts = st_arg_u64(argc, argv, "--bursts", st_scaled(700, 60));
    uint64_t seed =
        st_arg(argc, argv, "--seed") ? st_arg_u64(argc, argv, "--seed", 0) : st_seed_from_time();
    printf("stress_wakeup: seed 0x%016" PRIx64 ", %" PRIu64 " bursts per producer and phase\n",
           seed, bursts);
    fflush(stdout);
    st_watchdog_start(ST_SANITIZED ? 60 : 10, dump);
    uint64_t t0 = st_now_ns();
    static const unsigned sizes[] = {1, 2, 4};
    int ph = 0;
    for (unsigned si = 0; si < 3; si++) {
        for (unsigned np = 1; np <= 2; np++, ph++) {
            st_unit_begin();
            atomic_store(&phase_no, ph);
            nthreads = sizes[si];
            nproducers = np;
            plait_pool_options o = {.threads = nthreads};
            CHECK(plait_pool_create(&pool, &o) == 0, "pool_create");
            uint64_t g0 = atomic_load(&gaps), gp0 = atomic_load(&gaps_parked);
            struct producer p[2];
            for (unsigned i = 0; i < np; i++) {
                p[i] = (struct producer){
                    .idx = i, .bursts = bursts, .seed = st_mix(seed + ph * 2 + i)};
                pthread_create(&p[i].th, NULL, producer_main, &p[i]);
            }
            for (unsigned i = 0; i < np; i++)
                pthread_join(p[i].th, NULL);
            plait_stats st;
            plait_pool_stats(pool, &st);
            uint64_t ng = atomic_load(&gaps) - g0, ngp = atomic_load(&gaps_parked) - gp0;
            /* The test is only a test if the workers really parked. */
            CHECK(ngp * 2 >= ng, "workers parked in only %" PRIu64 " of %" PRIu64 " gaps", ngp, ng);
            CHECK(st.tasks_failed == 0 && st.tasks_cancelled == 0, "failed/cancelled tasks");
            CHECK(plait_pool_destroy(pool) == 0, "pool_destroy");
            pool = NULL;
            bool ok = st_unit_end();
            printf("  workers %u producers %u: %" PRIu64 " bursts, parked in %" PRIu64 "/%" PRIu64
                   " gaps, parks %" PRIu64 ", wakeups %" PRIu64 ": %s\n",
                   nthreads, np, bursts * np, ngp, ng, st.parks, st.wakeups, ok ? "ok" : "FAILED");
            fflush(stdout);
        }
    }
    st_watchdog_stop();
    printf("bursts %" PRIu64 ", tasks %" PRIu64 ", local-spawn wake-ups %" PRIu64
           " (missed %" PRIu64 ", slowest %.3f ms), in %.1f s\n",
           atomic_load(&total_bursts), atomic_load(&total_tasks), atomic_load(&local_wakes),
           atomic_load(&local_missed), (double)atomic_load(&max_local_ns) / 1e6,
           (double)(st_now_ns() - t0) / 1e9);
    return st_finish("stress_wakeup");
}
