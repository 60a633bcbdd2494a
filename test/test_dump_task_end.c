/*
 * test_dump_task_end — a dump that ends while a task ends: the task's end
 * read PL_OBS_DUMP on its fast path, and its slow path's re-read of the
 * observe word is the first to see the dump's clearing, so it skips the
 * dump's lock. That re-read must acquire the clearing (observe.h), or the
 * dump's reads of the task (its name, fn, group) race with the reuse of
 * its record by the worker's next spawn. The reuse here is immediate:
 * each task spawns the next one of its chain, whose record is the one the
 * worker freed last, and no other task ends on that worker in between.
 *
 * The race is in the memory model, not in what x86 or arm64 do, so the
 * test fails under ThreadSanitizer (a data race report: it failed in
 * under a second there with the relaxed re-read); elsewhere it checks
 * that dumps and a churn of task ends go on together.
 */
#include "testlib.h"

struct chains {
    plait_group *g;
    atomic_int stop;
    atomic_ulong steps;
};

static int step(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct chains *c = arg;
    /* Long enough to be seen running by a dump that snaps its worker. */
    for (volatile unsigned i = 0; i < 200; i++)
        ;
    atomic_fetch_add(&c->steps, 1);
    if (!atomic_load(&c->stop))
        return plait_go(c->g, step, c);
    return 0;
}

Test(dump_task_end, dumps_while_tasks_end_and_records_are_reused, .timeout = 120)
{
    plait_pool *pool = tl_pool(2);
    struct chains c = {.g = tl_group(pool, 0)};
    plait_group_set_name(c.g, "chain");
    for (int i = 0; i < 4; i++)
        TL_ASSERT_CODE(plait_go(c.g, step, &c), 0);
    TL_AWAIT(atomic_load(&c.steps) >= 100);
    FILE *f = fopen("/dev/null", "w");
    cr_assert_not_null(f);
    unsigned long before = atomic_load(&c.steps);
    for (int i = 0; i < 20000; i++)
        TL_ASSERT_CODE(plait_pool_dump(pool, f, 0), 0);
    fclose(f);
    cr_assert_gt(atomic_load(&c.steps), before, "no task ended during the dumps");
    atomic_store(&c.stop, 1);
    TL_ASSERT_CODE(plait_group_wait(c.g), 0);
    plait_group_destroy(c.g);
    plait_pool_destroy(pool);
}
