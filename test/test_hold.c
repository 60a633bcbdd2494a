/*
 * test_hold — plait_group_hold / plait_group_release: a wait started while
 * producer threads still spawn returns only after every producer let go,
 * and every spawn made while holding succeeds (Go's WaitGroup.Add).
 */
#include "testlib.h"

#include "core.h" /* PL_PENDING_WAITING: to see that the wait has begun */

#define PRODUCERS 4

struct producer {
    plait_group *g;
    atomic_int *ran;
    atomic_int *held;
    atomic_int released;
    int per_producer;
    int failed_spawns;
};

static bool wait_has_begun(plait_group *g)
{
    return atomic_load(&g->pending) & PL_PENDING_WAITING;
}

static void *produce(void *p)
{
    struct producer *pr = p;
    if (plait_group_hold(pr->g) != 0) {
        pr->failed_spawns = -1;
        return NULL;
    }
    atomic_fetch_add(pr->held, 1);
    for (int i = 0; i < pr->per_producer / 2; i++)
        if (plait_go(pr->g, tl_count_task, pr->ran) != 0)
            pr->failed_spawns++;
    /* The rest only once the wait is under way: without the hold, the
     * wait could end between these spawns (every earlier task done). */
    if (!TL_SPIN_UNTIL(wait_has_begun(pr->g), TL_WAIT_S))
        pr->failed_spawns = -2;
    for (int i = pr->per_producer / 2; i < pr->per_producer; i++) {
        if (plait_go(pr->g, tl_count_task, pr->ran) != 0)
            pr->failed_spawns++;
        if (i % 64 == 0)
            sched_yield(); /* let the tasks drain meanwhile */
    }
    tl_raise(&pr->released);
    plait_group_release(pr->g);
    return NULL;
}

Test(hold, a_wait_returns_only_after_every_producer_let_go, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int round = 0; round < TL_SIZE(20, 5); round++) {
        atomic_int ran = 0, held = 0;
        plait_group *g = tl_group(pool, 0);
        struct producer prs[PRODUCERS];
        pthread_t th[PRODUCERS];
        for (int i = 0; i < PRODUCERS; i++) {
            prs[i] = (struct producer){
                .g = g, .ran = &ran, .held = &held, .per_producer = TL_SIZE(2000, 300)};
            atomic_init(&prs[i].released, 0);
            th[i] = tl_thread(produce, &prs[i]);
        }
        /* Start waiting once every producer holds: they still spawn. */
        TL_AWAIT(atomic_load(&held) == PRODUCERS);
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        for (int i = 0; i < PRODUCERS; i++)
            cr_assert(tl_raised(&prs[i].released),
                      "round %d: the wait returned before producer %d let go", round, i);
        cr_assert_eq(atomic_load(&ran), PRODUCERS * prs[0].per_producer);
        for (int i = 0; i < PRODUCERS; i++) {
            tl_join_thread(th[i]);
            cr_assert_eq(prs[i].failed_spawns, 0, "producer %d", i);
        }
        plait_group_info info;
        TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
        cr_assert_eq(info.holds, 0);
        cr_assert_eq(info.spawned, (uint64_t)PRODUCERS * prs[0].per_producer);
        plait_group_destroy(g);
    }
    plait_pool_destroy(pool);
}

static void *release_later(void *p)
{
    struct producer *pr = p;
    TL_SPIN_UNTIL(wait_has_begun(pr->g), TL_WAIT_S);
    tl_raise(&pr->released);
    plait_group_release(pr->g);
    return NULL;
}

Test(hold, a_hold_keeps_an_empty_group_open, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_hold(g), 0);
    TL_ASSERT_CODE(plait_group_hold(g), 0);
    plait_group_info info;
    TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.holds, 2);
    cr_assert_eq(info.pending, 0, "holds are not tasks");
    cr_assert_eq(plait_group_pending(g), 0);
    TL_ASSERT_CODE(plait_group_release(g), 0);
    struct producer pr = {.g = g};
    atomic_init(&pr.released, 0);
    pthread_t th = tl_thread(release_later, &pr);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert(tl_raised(&pr.released));
    tl_join_thread(th);
    TL_ASSERT_CODE(plait_group_hold(g), EINVAL); /* the wait has completed */
    TL_ASSERT_CODE(plait_group_release(g), EINVAL);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(hold, bad_calls, .timeout = TL_TIMEOUT)
{
    TL_ASSERT_CODE(plait_group_hold(NULL), EINVAL);
    TL_ASSERT_CODE(plait_group_release(NULL), EINVAL);
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_release(g), EINVAL);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
