/*
 * test_teardown — what may be done with a group after its pool is
 * destroyed (plait.h, plait_pool_destroy): waiting returns its result,
 * its errors can be read, it can be cancelled and destroyed; spawning and
 * deadlines get ESHUTDOWN. And plait calls in flight on other threads
 * while the pool is destroyed (a foreign waiter) touch no freed memory.
 *
 * Before the fix these were heap uses after free of the pool (the group's
 * deadline removal locked the freed pool's timer lock; a spawn read its
 * shutdown flag): AddressSanitizer is the build that shows them.
 */
#include "testlib.h"

#include <signal.h>

#define FAR_NS 10000000000ull /* a deadline that never fires during a test */

Test(teardown, wait_group_with_deadline_after_pool_destroy, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *ok = tl_group(pool, 0);
    plait_group *failed = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    TL_ASSERT_CODE(plait_group_set_timeout(ok, FAR_NS), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(failed, FAR_NS), 0);
    cr_assert_eq(plait_go(ok, tl_noop_task, NULL), 0);
    cr_assert_eq(plait_go(failed, tl_return_task, TL_CODE(EIO)), 0);
    cr_assert_eq(plait_go(failed, tl_return_task, TL_CODE(EPIPE)), 0);
    /* Destroy runs both groups' tasks to completion. */
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);

    TL_ASSERT_CODE(plait_group_wait(ok), 0);
    cr_assert_eq(plait_group_pending(ok), 0);
    int r = plait_group_wait(failed);
    cr_assert(r == EIO || r == EPIPE, "wait: %d", r);
    const plait_error *errs = NULL;
    cr_assert_eq(plait_group_errors(failed, &errs), 2);
    cr_assert_eq(errs[0].code, r);
    /* As ever, a group waits once. */
    TL_ASSERT_CODE(plait_group_wait(failed), EINVAL);
    plait_group_destroy(ok);
    plait_group_destroy(failed);
}

Test(teardown, destroy_unwaited_group_with_deadline_after_pool_destroy, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, FAR_NS), 0);
    atomic_int ran = 0;
    cr_assert_eq(plait_go(g, tl_count_task, &ran), 0);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    cr_assert_eq(atomic_load(&ran), 1);
    plait_group_destroy(g); /* cancels and waits first: nothing left to run */
}

Test(teardown, spawn_and_deadline_after_pool_destroy_are_refused, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *plain = tl_group(pool, 0);
    plait_group *timed = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(timed, FAR_NS), 0);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);

    plait_group *gs[] = {plain, timed};
    for (int i = 0; i < 2; i++) {
        plait_group *g = gs[i];
        TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), ESHUTDOWN);
        errno = 0;
        cr_assert_null(plait_spawn(g, tl_noop_task, NULL));
        TL_ASSERT_CODE(errno, ESHUTDOWN);
        TL_ASSERT_CODE(plait_group_set_timeout(g, FAR_NS), ESHUTDOWN);
        TL_ASSERT_CODE(plait_group_cancel(g), 0);
        TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
        /* Once waited, the usual rule: EINVAL. */
        TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), EINVAL);
        TL_ASSERT_CODE(plait_group_set_timeout(g, FAR_NS), EINVAL);
        plait_group_destroy(g);
    }
}

/* A group created inside a task, with a deadline, handed out and used
 * after both the task and the pool are gone. */
static plait_group *handed_out;

static int make_group(plait_ctx *ctx, void *arg)
{
    (void)arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_group_set_timeout(g, FAR_NS)) != 0 ||
        (r = plait_go(g, tl_return_task, TL_CODE(EIO))) != 0)
        return r;
    handed_out = g;
    return 0;
}

Test(teardown, group_created_in_a_task_outlives_its_pool, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_task *t = plait_submit(pool, make_group, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    /* The task handle outlives the pool too. */
    TL_ASSERT_CODE(plait_task_status(t), 0);
    TL_ASSERT_CODE(plait_task_cancel(t), 0);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(handed_out), EIO);
    cr_assert_eq(plait_group_errors(handed_out, NULL), 1);
    plait_group_destroy(handed_out);
}

/*
 * A foreign thread waits on a group (with a deadline) whose task blocks at
 * a gate, while another thread destroys the pool. The interleaving that
 * used to touch the freed pool is forced: the waiter is held in a signal
 * handler until the destroy has returned; meanwhile the gate opens, the
 * task ends, and destroy completes. When the waiter resumes, its wait
 * (and its later use of the group) must find nothing freed.
 */
static plait_group *waited;
static atomic_int in_handler, destroyed, waiter_started;

static void hold_in_handler(int sig)
{
    (void)sig;
    atomic_store(&in_handler, 1);
    while (!atomic_load(&destroyed)) {
    }
}

static void *foreign_waiter(void *arg)
{
    (void)arg;
    tl_raise(&waiter_started);
    return TL_CODE(plait_group_wait(waited));
}

Test(teardown, foreign_waiter_wakes_after_pool_destroy, .timeout = TL_TIMEOUT)
{
    struct sigaction sa = {.sa_handler = hold_in_handler};
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    plait_pool *pool = tl_pool(1);
    waited = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(waited, FAR_NS), 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(waited, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    pthread_t w = tl_thread(foreign_waiter, NULL);
    TL_AWAIT(tl_raised(&waiter_started));
    /* Wherever the waiter is (before its wait, or asleep in it), it stays
     * there until the pool is gone. */
    cr_assert_eq(pthread_kill(w, SIGUSR1), 0);
    TL_AWAIT(atomic_load(&in_handler));
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    atomic_store(&destroyed, 1);
    cr_assert_eq((intptr_t)tl_join_thread(w), 0);
    cr_assert_eq(plait_group_errors(waited, NULL), 0);
    plait_group_destroy(waited);
}

/* The same without forcing: several foreign waiters, each on groups with
 * deadlines, some destroying their group right after the wait, against a
 * destroy of the pool. */
struct racer {
    plait_group *g;
    atomic_int *go;
};

static void *wait_and_destroy(void *arg)
{
    struct racer *r = arg;
    tl_raise(r->go);
    int rc = plait_group_wait(r->g);
    plait_group_destroy(r->g);
    return TL_CODE(rc);
}

Test(teardown, foreign_waiters_race_pool_destroy, .timeout = TL_TIMEOUT)
{
    enum { ROUNDS = TL_SIZE(40, 10), WAITERS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        plait_pool *pool = tl_pool(2);
        struct racer rs[WAITERS];
        atomic_int started[WAITERS];
        pthread_t th[WAITERS];
        for (int i = 0; i < WAITERS; i++) {
            rs[i].g = tl_group(pool, 0);
            atomic_init(&started[i], 0);
            rs[i].go = &started[i];
            TL_ASSERT_CODE(plait_group_set_timeout(rs[i].g, FAR_NS), 0);
            for (int k = 0; k < 8; k++)
                cr_assert_eq(plait_go(rs[i].g, tl_noop_task, NULL), 0);
            th[i] = tl_thread(wait_and_destroy, &rs[i]);
        }
        for (int i = 0; i < WAITERS; i++)
            TL_AWAIT(tl_raised(&started[i]));
        TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
        for (int i = 0; i < WAITERS; i++)
            cr_assert_eq((intptr_t)tl_join_thread(th[i]), 0);
    }
}
