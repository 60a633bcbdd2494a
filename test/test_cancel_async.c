/*
 * test_cancel_async — plait_group_cancel_async: a signal handler cancels a
 * running batch with one call (raise(SIGINT) on a foreign thread while
 * tasks run: the wait returns ECANCELED); from any thread too; a group
 * destroyed right after the ask is never touched by the watcher (ASan);
 * errno is left alone; only groups created with PLAIT_GROUP_CANCEL_ASYNC
 * may be asked, and the watcher thread exists only while such groups do
 * (a program that does not use it stays single-threaded between pools).
 */
#include "testlib.h"

#include <signal.h>

static plait_group *volatile batch;

static void on_sigint(int sig)
{
    (void)sig;
    plait_group_cancel_async(batch);
}

static void *raise_sigint(void *unused)
{
    (void)unused;
    raise(SIGINT); /* delivered to this thread, which is not the waiter */
    return NULL;
}

Test(cancel_async, a_sigint_handler_cancels_a_running_batch, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 2);
    batch = g;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGINT, &sa, &old), 0);
    tl_join_thread(tl_thread(raise_sigint, NULL));
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    sigaction(SIGINT, &old, NULL);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 2, "the running tasks read cancelled");
    plait_group_info info;
    TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.cancel_reason, PLAIT_CANCEL_CALL);
    cr_assert_eq(info.never_run, 6);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(cancel_async, from_a_thread_and_destroyed_right_after, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < TL_SIZE(2000, 300); i++) {
        plait_group *g = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC);
        cr_assert_eq(plait_go(g, tl_noop_task, NULL), 0);
        errno = 1234;
        TL_ASSERT_CODE(plait_group_cancel_async(g), 0);
        TL_ASSERT_CODE(plait_group_cancel_async(g), 0); /* twice is once */
        cr_assert_eq(errno, 1234);
        int r = plait_group_wait(g);
        cr_assert(r == 0 || r == ECANCELED);
        plait_group_destroy(g); /* maybe before the watcher got to it */
    }
    /* Unwaited and never run: the ask still lands. */
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_ASSERT_CODE(plait_group_cancel_async(g), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_group_cancel_async(NULL), EINVAL);
    plait_pool_destroy(pool);
}

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

Test(cancel_async, the_watcher_lives_while_flagged_groups_do, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    int base = thread_count();
    plait_group *plain = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_cancel_async(plain), EINVAL);
    cr_assert_eq(thread_count(), base, "no watcher for groups without the flag");
    plait_group *a = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC);
    plait_group *b = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC | PLAIT_GROUP_COLLECT_ALL);
    cr_assert_eq(thread_count(), base + 1, "one watcher");
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(b, tl_gate_cancellable_task, &gate), 0);
    TL_ASSERT_CODE(plait_group_cancel_async(b), 0);
    TL_ASSERT_CODE(plait_group_wait(b), ECANCELED);
    plait_group_destroy(b);
    cr_assert_eq(thread_count(), base + 1, "still one flagged group");
    plait_group_destroy(a);
    TL_AWAIT(thread_count() == base); /* joined: gone from /proc at once, or nearly */
    /* And again: a new flagged group starts a new watcher. */
    plait_group *c = tl_group(pool, PLAIT_GROUP_CANCEL_ASYNC);
    cr_assert_eq(plait_go(c, tl_gate_cancellable_task, &gate), 0);
    TL_ASSERT_CODE(plait_group_cancel_async(c), 0);
    TL_ASSERT_CODE(plait_group_wait(c), ECANCELED);
    plait_group_destroy(c);
    TL_ASSERT_CODE(plait_group_wait(plain), 0);
    plait_group_destroy(plain);
    plait_pool_destroy(pool);
}
