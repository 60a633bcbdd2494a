/*
 * test_wait_inline — the paths of plait_group_wait around its inline fast
 * path (src/group.c group_wait_tasks, worker.h pl_wait_fast) and the
 * inline event set (event.h): nested fast waits each leave their note for
 * the dump; a wait whose group has nothing on the waiter's deque falls
 * back to the loop and sleeps until the last hold goes; a foreign wait
 * (no worker) goes to the loop directly and sleeps on a node, which the
 * set, past its exchange, releases.
 */
#include "testlib.h"

/* ---- Nested fast waits: the dump sees both ------------------------------ */

struct nested {
    _Atomic(plait_group *) outer;
    _Atomic(plait_group *) inner;
    struct tl_gate gate;
};

static int nested_mid(plait_ctx *ctx, void *arg)
{
    struct nested *n = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    atomic_store(&n->inner, g);
    if ((r = plait_go(g, tl_gate_task, &n->gate)) != 0)
        return r;
    /* The gate task is the newest job of our deque: runs nested here. */
    r = plait_group_wait(g);
    plait_group_destroy(g);
    return r;
}

static int nested_root(plait_ctx *ctx, void *arg)
{
    struct nested *n = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    atomic_store(&n->outer, g);
    if ((r = plait_go(g, nested_mid, n)) != 0)
        return r;
    r = plait_group_wait(g);
    plait_group_destroy(g);
    return r;
}

/* Two waits, each running the other's task through the inline fast path,
 * one inside the other on one worker: the dump matches each note to its
 * task by position (observe.h), so both must be there. */
Test(wait_inline, nested_fast_waits_are_both_in_the_dump, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct nested n;
    atomic_init(&n.outer, NULL);
    atomic_init(&n.inner, NULL);
    tl_gate_init(&n.gate);
    plait_task *root = plait_submit(pool, nested_root, &n);
    cr_assert_not_null(root);
    TL_AWAIT(atomic_load(&n.gate.started) == 1);
    cr_assert_eq(tl_waits_on_group(pool, atomic_load(&n.outer)), 1,
                 "the dump does not show the root waiting on its group");
    cr_assert_eq(tl_waits_on_group(pool, atomic_load(&n.inner)), 1,
                 "the dump does not show the nested task waiting on its group");
    tl_raise(&n.gate.open);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Nothing on the deque: the loop waits for the last hold ------------- */

struct held {
    _Atomic(plait_group *) g;
    atomic_int released; /* raised by the test just before the release */
};

static int held_root(plait_ctx *ctx, void *arg)
{
    struct held *h = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_group_hold(g)) != 0)
        return r;
    atomic_store(&h->g, g);
    /* No task: the fast path pops nothing, and the wait must go on to the
     * loop and sleep until the test releases the hold. */
    r = plait_group_wait(g);
    if (r == 0 && !tl_raised(&h->released))
        r = EIO; /* returned before the group was over */
    plait_group_destroy(g);
    return r;
}

Test(wait_inline, a_wait_with_nothing_to_run_sleeps_until_the_last_hold_goes, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct held h;
    atomic_init(&h.g, NULL);
    atomic_init(&h.released, 0);
    plait_task *root = plait_submit(pool, held_root, &h);
    cr_assert_not_null(root);
    TL_AWAIT(atomic_load(&h.g) != NULL && tl_waits_on_group(pool, atomic_load(&h.g)) == 1);
    tl_raise(&h.released);
    TL_ASSERT_CODE(plait_group_release(atomic_load(&h.g)), 0);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- A foreign wait: asleep on a node, released by the set -------------- */

struct foreign {
    plait_group *g;
    atomic_int returned;
    int result;
};

static void *foreign_waiter(void *arg)
{
    struct foreign *f = arg;
    f->result = plait_group_wait(f->g);
    tl_raise(&f->returned);
    return NULL;
}

Test(wait_inline, a_foreign_wait_is_released_by_the_last_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    tl_gate_init(&gate);
    struct foreign f = {.g = tl_group(pool, 0)};
    atomic_init(&f.returned, 0);
    cr_assert_eq(plait_go(f.g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    pthread_t t = tl_thread(foreign_waiter, &f);
    /* Seen by the dump only once asleep on its node (dump.c's foreign
     * list is joined just before the sleep): the set must release it. */
    TL_AWAIT(tl_waits_on_group(pool, f.g) == 1);
    cr_assert(!tl_raised(&f.returned), "the foreign wait returned before the task ended");
    tl_raise(&gate.open);
    TL_AWAIT(tl_raised(&f.returned));
    tl_join_thread(t);
    cr_assert_eq(f.result, 0);
    plait_group_destroy(f.g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
