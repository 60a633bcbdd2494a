/*
 * stress_timed_waits — timed waits that keep timing out while their group
 * or task finishes: foreign threads and tasks on workers call
 * plait_group_wait_for / plait_task_wait_for with random short timeouts,
 * some until the result, some giving up after a few tries (their nodes
 * abandoned to the setter), while random rounds of tasks run. Every waiter
 * that stays to the end gets the result; the group's plain wait gets it
 * too; the ASan build's leak check at exit sees a node nobody freed.
 *
 *   stress_timed_waits [--rounds R] [--seed S]
 */
#include "stress_common.h"

#include <sched.h>

#include <plait.h>

#define WAITERS 6

static int busy_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    uint64_t ns = (uint64_t)(uintptr_t)arg;
    uint64_t t0 = st_now_ns();
    while (st_now_ns() - t0 < ns)
        ;
    return ns % 7 == 0 ? EIO : 0;
}

struct round {
    plait_group *g;
    plait_task *t;
    atomic_int go;
    atomic_uint timeouts;
};

struct waiter {
    struct round *r;
    uint64_t seed;
    bool on_task;
    bool gives_up;
    int result;
};

static void *wait_loop(void *p)
{
    struct waiter *w = p;
    while (!atomic_load_explicit(&w->r->go, memory_order_acquire))
        sched_yield();
    int r, tries = 0;
    do {
        uint64_t ns = st_below(&w->seed, 50000);
        r = w->on_task ? plait_task_wait_for(w->r->t, ns) : plait_group_wait_for(w->r->g, ns);
        if (r == EAGAIN)
            atomic_fetch_add_explicit(&w->r->timeouts, 1, memory_order_relaxed);
    } while (r == EAGAIN && !(w->gives_up && ++tries >= 3));
    w->result = r;
    return NULL;
}

static int wait_loop_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    wait_loop(arg);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t rounds = st_arg_u64(argc, argv, "--rounds", st_scaled(2000, 100));
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_timed_waits: rounds %" PRIu64 ", seed %" PRIu64 "\n", rounds, seed);
    plait_pool *pool;
    plait_pool_options po = {.threads = 2};
    if (plait_pool_create(&pool, &po) != 0)
        return 2;
    uint64_t s = seed, total_timeouts = 0;
    for (uint64_t n = 0; n < rounds; n++) {
        st_unit_begin();
        struct round r;
        atomic_init(&r.go, 0);
        atomic_init(&r.timeouts, 0);
        CHECK(plait_group_create(&r.g, pool, PLAIT_GROUP_COLLECT_ALL) == 0, "create");
        plait_group *others;
        CHECK(plait_group_create(&others, pool, 0) == 0, "create");
        CHECK(plait_group_hold(r.g) == 0, "hold");
        r.t = plait_spawn(r.g, busy_task, (void *)(uintptr_t)(1 + st_below(&s, 100000)));
        CHECK(r.t != NULL, "spawn");
        struct waiter ws[WAITERS];
        pthread_t th[WAITERS];
        int nforeign = 0;
        for (int i = 0; i < WAITERS; i++) {
            ws[i] = (struct waiter){&r, st_next(&s), i & 1, st_below(&s, 3) == 0, -1};
            if (i < 4)
                pthread_create(&th[nforeign++], NULL, wait_loop, &ws[i]);
            else
                CHECK(plait_go(others, wait_loop_task, &ws[i]) == 0, "go");
        }
        atomic_store_explicit(&r.go, 1, memory_order_release);
        uint64_t ntasks = st_below(&s, 300), failed = 0;
        for (uint64_t k = 0; k < ntasks; k++) {
            uint64_t ns = st_below(&s, 20000);
            failed += ns % 7 == 0;
            CHECK(plait_go(r.g, busy_task, (void *)(uintptr_t)ns) == 0, "go");
        }
        CHECK(plait_group_release(r.g) == 0, "release");
        for (int i = 0; i < nforeign; i++)
            pthread_join(th[i], NULL);
        CHECK(plait_group_wait(others) == 0, "others");
        int want_task = plait_task_wait(r.t);
        int want = plait_group_wait(r.g); /* EINVAL if a timed one closed it */
        int group_result = want == EINVAL ? -1 : want;
        for (int i = 0; i < WAITERS; i++) {
            int got = ws[i].result;
            if (ws[i].gives_up && got == EAGAIN)
                continue;
            if (ws[i].on_task) {
                CHECK(got == want_task, "round %" PRIu64 " task waiter %d: %d, not %d", n, i, got,
                      want_task);
            } else if (got != EINVAL) {
                if (group_result == -1)
                    group_result = got; /* the first closer's result */
                CHECK(got == group_result, "round %" PRIu64 " group waiter %d: %d, not %d", n, i,
                      got, group_result);
            }
        }
        CHECK(group_result == -1 || group_result == (failed != 0 || want_task == EIO ? EIO : 0),
              "round %" PRIu64 ": group result %d", n, group_result);
        total_timeouts += atomic_load(&r.timeouts);
        plait_task_release(r.t);
        plait_group_destroy(others);
        plait_group_destroy(r.g);
        if (!st_unit_end())
            printf("round %" PRIu64 " failed (seed %" PRIu64 ")\n", n, seed);
    }
    printf("stress_timed_waits: %" PRIu64 " timed waits timed out\n", total_timeouts);
    plait_pool_destroy(pool);
    return st_finish("stress_timed_waits");
}
