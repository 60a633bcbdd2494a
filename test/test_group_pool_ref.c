/*
 * test_group_pool_ref — a group's hold on its pool's record (src/pool.h,
 * core.h's pool_ref). A group created in a running task of its own pool
 * takes no reference at creation: the task keeps the record alive while
 * the group is registered with it, and the task's end takes a reference
 * for a group still registered then (test_teardown's
 * group_created_in_a_task_outlives_its_pool is that case: without the
 * reference the record is freed under the group, which AddressSanitizer
 * reports). Here: the other ways a group can leave its creator, each of
 * which must neither touch a freed record nor leak one (the sanitizer
 * builds check both: a reference taken and never dropped leaks the
 * record).
 */
#include "testlib.h"

/* ---- Destroyed by another thread while its creator task runs ------------ */

struct lender {
    _Atomic(plait_group *) g;
    atomic_int may_end;
};

static int lend_group(plait_ctx *ctx, void *arg)
{
    struct lender *l = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_go(g, tl_noop_task, NULL)) != 0)
        return r;
    atomic_store(&l->g, g);
    /* The test's thread waits on g and destroys it meanwhile. */
    return tl_wait_flag(&l->may_end, TL_WAIT_S) ? 0 : EIO;
}

/* Lifetimes (pool.h): the creator task is still running when another
 * thread destroys its group, so no reference was ever taken for it, and
 * none may be dropped: the pool's destroy then frees the record. */
Test(group_pool_ref, a_group_destroyed_elsewhere_while_its_creator_runs, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct lender l;
    atomic_init(&l.g, NULL);
    atomic_init(&l.may_end, 0);
    plait_task *t = plait_submit(pool, lend_group, &l);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&l.g) != NULL);
    plait_group *g = atomic_load(&l.g);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    tl_raise(&l.may_end);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
}

/* ---- Created in a task of another pool ---------------------------------- */

struct cross {
    plait_pool *other;
    plait_group *g;
};

static int make_in_other(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct cross *c = arg;
    return plait_group_create(&c->g, c->other, 0);
}

/* Lifetimes (pool.h): a group created in a task of pool A for pool B is
 * not kept alive by that task (A's), so it takes B's reference at once:
 * B may be destroyed before the group is used and destroyed. */
Test(group_pool_ref, a_group_of_another_pool_outlives_that_pool, .timeout = TL_TIMEOUT)
{
    plait_pool *a = tl_pool(1);
    struct cross c = {.other = tl_pool(1), .g = NULL};
    plait_task *t = plait_submit(a, make_in_other, &c);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_not_null(c.g);
    TL_ASSERT_CODE(plait_pool_destroy(c.other), 0);
    TL_ASSERT_CODE(plait_go(c.g, tl_noop_task, NULL), ESHUTDOWN);
    TL_ASSERT_CODE(plait_group_wait(c.g), 0);
    plait_group_destroy(c.g);
    TL_ASSERT_CODE(plait_pool_destroy(a), 0);
}

/* ---- Created in a join child, destroyed after the task's end ------------ */

static plait_group *from_child;

static int child_makes(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_group_create(&from_child, plait_ctx_pool(ctx), 0);
}

static int parent_joins(plait_ctx *ctx, void *arg)
{
    (void)arg;
    /* The group passes from the child's context to the task's at the
     * child's end, and leaves the task's list at the task's end, which
     * takes the reference for it. */
    return plait_join(ctx, child_makes, NULL, tl_noop_task, NULL);
}

Test(group_pool_ref, a_group_made_in_a_join_child_outlives_its_pool, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_task *t = plait_submit(pool, parent_joins, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_not_null(from_child);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    TL_ASSERT_CODE(plait_go(from_child, tl_noop_task, NULL), ESHUTDOWN);
    TL_ASSERT_CODE(plait_group_wait(from_child), 0);
    plait_group_destroy(from_child);
}
