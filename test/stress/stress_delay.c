/*
 * stress_delay — delayed spawns racing their cancellations: every round
 * spawns delayed tasks (short random delays that fall due during the
 * round, and minute-long ones that must never run), from the test's
 * thread and from tasks on workers, with and without handles, into a
 * group that may have a limit and a deadline of about the same length;
 * meanwhile a second thread cancels the group, or some handles, or
 * nothing, at a random moment; then the round waits the group, or
 * destroys it unwaited, or destroys the pool first. Checks: every drop
 * exactly once; no task run twice, none before its delay, no minute-long
 * one at all; every short one run when nothing cancelled the round; the
 * counts of the group's info add up. A hang (a lost release) is caught by
 * the watchdog; a record left behind by the ASan build's leak check.
 *
 *   stress_delay [--rounds R] [--seed S]
 */
#include "stress_common.h"

#include <sched.h>

#include <plait.h>

#define MAX_ITEMS 160
#define LONG_NS (60ull * 1000000000u)

struct item {
    uint64_t spawned_ns, delay_ns;
    _Atomic uint64_t ran_ns;
    atomic_int ran, dropped;
};

struct round {
    plait_pool *pool;
    plait_group *g;
    struct item items[MAX_ITEMS];
    plait_task *handles[MAX_ITEMS];
    int n, inside; /* items, and how many of them a task spawns */
    uint64_t seed;
    int cancel_mode; /* 0 none, 1 group, 2 some handles */
    bool long_ok;    /* minute-long delays: only where a cancellation comes anyway */
    uint64_t cancel_after_ns;
    int first;          /* the first item this thread spawns */
    atomic_int spawned; /* items this thread spawned so far (handles published) */
    atomic_int spawn_errors;
    atomic_int inside_ran; /* the spawner task ran (it may be cancelled first) */
};

static _Atomic uint64_t current_round, current_seed;

static void dump(void)
{
    fprintf(stderr, "stress_delay: stuck in round %" PRIu64 " (seed %" PRIu64 ")\n",
            atomic_load(&current_round), atomic_load(&current_seed));
}

static void drop_item(void *p)
{
    struct item *it = p;
    atomic_fetch_add_explicit(&it->dropped, 1, memory_order_relaxed);
}

static int run_item(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct item *it = p;
    atomic_store_explicit(&it->ran_ns, st_now_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&it->ran, 1, memory_order_relaxed);
    return 0;
}

static void spawn_one(struct round *r, int i, uint64_t *s, bool main_thread)
{
    struct item *it = &r->items[i];
    uint64_t d = r->long_ok && st_below(s, 8) == 0 ? LONG_NS : 1 + st_below(s, 3000000);
    it->delay_ns = d;
    it->spawned_ns = st_now_ns();
    plait_spawn_options o = {.drop = drop_item, .delay_ns = d};
    bool handle = st_below(s, 2) == 0;
    int rc = plait_spawn_with(r->g, run_item, it, &o, handle ? &r->handles[i] : NULL);
    /* ECANCELED: no handle asked, group cancelled (dropped, not run). */
    if (rc != 0 && rc != ECANCELED)
        atomic_fetch_add(&r->spawn_errors, 1);
    /* release: the canceller thread reads the handle after this. */
    if (main_thread)
        atomic_store_explicit(&r->spawned, i + 1, memory_order_release);
}

static int spawner_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct round *r = arg;
    atomic_store(&r->inside_ran, 1);
    uint64_t s = r->seed ^ 0x5bd1e995;
    for (int i = 0; i < r->inside; i++)
        spawn_one(r, i, &s, false);
    return 0;
}

static void *canceller_main(void *arg)
{
    struct round *r = arg;
    uint64_t t0 = st_now_ns();
    while (st_now_ns() - t0 < r->cancel_after_ns)
        sched_yield();
    if (r->cancel_mode == 1) {
        plait_group_cancel(r->g);
    } else if (r->cancel_mode == 2) {
        /* acquire: pairs with spawn_one's release (the handles before). */
        int n = atomic_load_explicit(&r->spawned, memory_order_acquire);
        for (int i = r->first; i < n; i += 3)
            if (r->handles[i] != NULL)
                plait_task_cancel(r->handles[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t rounds = st_arg_u64(argc, argv, "--rounds", st_scaled(600, 40));
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_delay: rounds %" PRIu64 ", seed %" PRIu64 "\n", rounds, seed);
    st_watchdog_start(60, dump);
    uint64_t s = seed;
    plait_pool *pool = NULL;
    uint64_t never_run = 0, ran = 0;
    for (uint64_t n = 0; n < rounds; n++) {
        st_watchdog_kick();
        atomic_store(&current_round, n);
        atomic_store(&current_seed, s);
        st_unit_begin();
        if (pool == NULL) {
            plait_pool_options po = {.threads = 1 + (unsigned)st_below(&s, 3)};
            CHECK(plait_pool_create(&pool, &po) == 0, "pool");
        }
        struct round *r = calloc(1, sizeof *r);
        CHECK(r != NULL, "calloc");
        r->pool = pool;
        r->n = 1 + (int)st_below(&s, MAX_ITEMS);
        r->inside = st_below(&s, 2) ? (int)st_below(&s, (uint64_t)r->n + 1) : 0;
        r->seed = st_next(&s);
        r->cancel_mode = (int)st_below(&s, 3);
        r->cancel_after_ns = st_below(&s, 3000000);
        CHECK(plait_group_create(&r->g, pool, 0) == 0, "group");
        bool deadline = st_below(&s, 4) == 0;
        if (deadline)
            CHECK(plait_group_set_timeout(r->g, st_below(&s, 3000000)) == 0, "timeout");
        if (st_below(&s, 4) == 0)
            CHECK(plait_group_set_limit(r->g, 1 + st_below(&s, 64)) == 0, "limit");
        /* Minute-long delays need a cancellation that comes whatever this
         * thread does (a full group's spawn from here may block on them). */
        r->long_ok = r->cancel_mode == 1 || deadline;
        int end = (int)st_below(&s, 3); /* 0 wait, 1 destroy unwaited, 2 destroy the pool */
        r->first = r->inside;
        if (r->inside > 0) {
            int rc = plait_go(r->g, spawner_task, r);
            /* A deadline of a few microseconds may have fired already:
             * the group is cancelled, and the spawn says so (rule 6). */
            CHECK(rc == 0 || (deadline && rc == ECANCELED), "go spawner: %d", rc);
            if (rc != 0)
                r->first = 0; /* not spawned: this thread spawns them all */
        }
        /* The canceller cancels handles this thread spawned: the task's
         * are written while it runs. */
        pthread_t canceller;
        pthread_create(&canceller, NULL, canceller_main, r);
        for (int i = r->first; i < r->n; i++)
            spawn_one(r, i, &s, true);
        int wr = -1;
        if (end == 0) {
            wr = plait_group_wait(r->g);
        } else if (end == 2) {
            CHECK(plait_pool_destroy(pool) == 0, "pool destroy");
            pool = NULL;
            wr = plait_group_wait(r->g);
        }
        pthread_join(canceller, NULL);
        plait_group_info info;
        if (end != 1) {
            CHECK(plait_group_get_info(r->g, &info) == 0, "info");
            CHECK(wr == 0 || wr == ECANCELED || wr == ETIMEDOUT, "round %" PRIu64 ": wait %d", n,
                  wr);
        }
        plait_group_destroy(r->g);
        bool cancelled = r->cancel_mode == 1 || deadline || end != 0;
        CHECK(atomic_load(&r->spawn_errors) == 0, "round %" PRIu64 ": spawn errors", n);
        uint64_t round_ran = 0;
        for (int i = 0; i < r->n; i++) {
            struct item *it = &r->items[i];
            int k = atomic_load(&it->ran);
            if (i < r->first && !atomic_load(&r->inside_ran)) {
                /* Its spawner was cancelled before it ran: never spawned. */
                CHECK(cancelled && k == 0 && atomic_load(&it->dropped) == 0,
                      "round %" PRIu64 " item %d: spawner did not run", n, i);
                continue;
            }
            CHECK(atomic_load(&it->dropped) == 1, "round %" PRIu64 " item %d dropped %d times", n,
                  i, atomic_load(&it->dropped));
            CHECK(k <= 1, "round %" PRIu64 " item %d ran %d times", n, i, k);
            if (k == 1) {
                round_ran++;
                CHECK(it->delay_ns != LONG_NS, "round %" PRIu64 " item %d: a minute passed?", n, i);
                CHECK(atomic_load(&it->ran_ns) >= it->spawned_ns + it->delay_ns,
                      "round %" PRIu64 " item %d ran early", n, i);
            } else if (!cancelled && it->delay_ns != LONG_NS && r->cancel_mode != 2) {
                CHECK(false, "round %" PRIu64 " item %d never ran, nothing cancelled it", n, i);
            }
            if (r->handles[i] != NULL) {
                int st = plait_task_status(r->handles[i]);
                CHECK(st == (k ? 0 : ECANCELED), "round %" PRIu64 " item %d status %d", n, i, st);
                plait_task_release(r->handles[i]);
            }
        }
        ran += round_ran;
        never_run += (uint64_t)r->n - round_ran;
        if (end == 0 && r->cancel_mode != 1 && !deadline) {
            /* Minute-long ones can only have ended by a cancel: the wait
             * came back early, so some cancellation reached them all. */
            for (int i = 0; i < r->n; i++)
                CHECK(r->items[i].delay_ns != LONG_NS || r->cancel_mode == 2,
                      "round %" PRIu64 ": the wait outlived a minute-long delay", n);
        }
        free(r);
        st_unit_end();
    }
    if (pool != NULL)
        CHECK(plait_pool_destroy(pool) == 0, "pool destroy");
    st_watchdog_stop();
    printf("stress_delay: %" PRIu64 " ran, %" PRIu64 " never ran\n", ran, never_run);
    return st_finish("stress_delay");
}
