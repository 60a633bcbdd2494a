/*
 * test_groups — task groups: structure (rule 1), spawning late (rule 6),
 * any thread (rule 7), and the group calls themselves (spawn, go, wait,
 * pending, destroy).
 */
#include "testlib.h"

/* ---- Rule 1: Structure --------------------------------------------------- */

struct slot_arg {
    int *slots;
    int i;
};

static int write_slot(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct slot_arg *a = arg;
    a->slots[a->i] = a->i * 3 + 1;
    return 0;
}

/* Rule 1 */
Test(structure, tasks_borrow_the_callers_stack_and_all_ran_when_wait_returns, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    for (int round = 0; round < 20; round++) {
        /* Everything the tasks touch lives in this stack frame. */
        int slots[200];
        struct slot_arg args[200];
        memset(slots, 0, sizeof slots);
        plait_group *g = tl_group(pool, 0);
        for (int i = 0; i < 200; i++) {
            args[i] = (struct slot_arg){slots, i};
            if (i % 2)
                cr_assert_eq(plait_go(g, write_slot, &args[i]), 0);
            else {
                plait_task *t = plait_spawn(g, write_slot, &args[i]);
                cr_assert_not_null(t);
                plait_task_release(t);
            }
        }
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        /* No synchronisation of our own: the wait is the barrier. */
        for (int i = 0; i < 200; i++)
            if (slots[i] != i * 3 + 1)
                cr_assert_fail("round %d: task %d had not run when wait returned", round, i);
        cr_assert_eq(plait_group_pending(g), 0u);
        plait_group_destroy(g);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct waiter {
    plait_group *g;
    atomic_int returned;
    atomic_int result;
    atomic_int finished_seen;
    struct tl_gate *gate;
};

static void *group_waiter(void *arg)
{
    struct waiter *w = arg;
    int r = plait_group_wait(w->g);
    atomic_store(&w->finished_seen, atomic_load(&w->gate->finished));
    atomic_store(&w->result, r);
    tl_raise(&w->returned);
    return NULL;
}

/* Rule 1 */
Test(structure, wait_does_not_return_before_every_task_finished, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 3);
    cr_assert_eq(plait_group_pending(g), 3u);
    struct waiter w = {.g = g, .gate = &gate};
    atomic_init(&w.returned, 0);
    pthread_t th = tl_thread(group_waiter, &w);
    /* The waiter is blocked: give it every chance to return early. */
    for (int i = 0; i < 50; i++)
        sched_yield();
    tl_sleep_ms(20);
    cr_assert_not(tl_raised(&w.returned), "wait returned while tasks were running");
    tl_raise(&gate.open);
    tl_join_thread(th);
    TL_ASSERT_CODE(atomic_load(&w.result), 0);
    cr_assert_eq(atomic_load(&w.finished_seen), 3, "wait returned before every task finished");
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct destroy_arg {
    struct tl_gate gate;
    atomic_int exited;
    atomic_int queued_ran;
};

static int cancellable_then_exit(plait_ctx *ctx, void *arg)
{
    struct destroy_arg *a = arg;
    int r = tl_gate_cancellable_task(ctx, &a->gate);
    atomic_fetch_add(&a->exited, 1);
    return r;
}

/* Rule 1 */
Test(structure, destroy_without_wait_cancels_and_waits_for_running_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct destroy_arg a;
    tl_gate_init(&a.gate);
    atomic_init(&a.exited, 0);
    atomic_init(&a.queued_ran, 0);
    plait_group *g = tl_group(pool, 0);
    plait_task *running = plait_spawn(g, cancellable_then_exit, &a);
    cr_assert_not_null(running);
    TL_AWAIT(atomic_load(&a.gate.started) == 1);
    /* The only worker is busy: these stay queued. */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &a.queued_ran), 0);
    plait_group_destroy(g); /* never waited */
    cr_assert_eq(atomic_load(&a.exited), 1, "destroy returned while a task was still running");
    cr_assert_eq(atomic_load(&a.gate.saw_cancel), 1, "the running task was not cancelled");
    cr_assert_eq(atomic_load(&a.queued_ran), 0, "queued tasks of a destroyed group ran");
    /* The handle outlives the group. */
    cr_assert(plait_task_done(running));
    TL_ASSERT_CODE(plait_task_status(running), ECANCELED);
    plait_task_release(running);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct tree_arg {
    plait_group *g;
    atomic_int *count;
    int depth;
    bool heap; /* children's args are malloc'ed; the root's is on the stack */
};

static int tree_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct tree_arg *a = arg;
    struct tree_arg me = *a;
    if (a->heap)
        free(a);
    atomic_fetch_add(me.count, 1);
    if (me.depth == 0)
        return 0;
    /* Children go into the same group while it is being waited. */
    for (int i = 0; i < 2; i++) {
        struct tree_arg *c = malloc(sizeof *c);
        if (c == NULL)
            return ENOMEM;
        *c = (struct tree_arg){me.g, me.count, me.depth - 1, true};
        int r = plait_go(me.g, tree_task, c);
        if (r != 0) {
            free(c);
            return r;
        }
    }
    return 0;
}

/* Rule 1 */
Test(structure, tasks_spawned_by_tasks_into_the_group_are_waited_too, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    atomic_int count = 0;
    plait_group *g = tl_group(pool, 0);
    int depth = TL_SIZE(10, 7);
    struct tree_arg root = {g, &count, depth, false};
    cr_assert_eq(plait_go(g, tree_task, &root), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&count), (1 << (depth + 1)) - 1);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(groups, pending_counts_unfinished_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_group_pending(g), 0u);
    struct tl_gate gate;
    tl_gate_init(&gate);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 2);
    cr_assert_eq(plait_group_pending(g), 2u);
    tl_raise(&gate.open);
    TL_AWAIT(plait_group_pending(g) == 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(plait_group_pending(g), 0u);
    const plait_error *errs = (const plait_error *)1;
    cr_assert_eq(plait_group_errors(g, &errs), 0u);
    cr_assert_null(errs);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(groups, empty_group_waits_at_once, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    /* Destroying a group never waited, with no tasks. */
    g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(groups, many_tasks_via_spawn_and_go, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, 0);
    atomic_int n = 0;
    const int count = TL_SIZE(20000, 2000);
    for (int i = 0; i < count; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
    plait_task *t = plait_spawn(g, tl_count_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    TL_ASSERT_CODE(plait_task_status(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&n), count + 1);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Rule 6: Spawning late ------------------------------------------------ */

/* Rule 6 */
Test(spawn_late, spawn_into_a_cancelled_group_finishes_cancelled_without_running,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    atomic_int n = 0;
    plait_task *t = plait_spawn(g, tl_count_task, &n);
    cr_assert_not_null(t, "spawn into a cancelled group returns a handle");
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert(plait_task_done(t));
    cr_assert_neq(plait_task_id(t), 0u);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_go(g, tl_count_task, &n), ECANCELED);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert_eq(atomic_load(&n), 0, "a task spawned into a cancelled group ran");
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct late_spawner {
    plait_group *g;
    atomic_int started;
    atomic_int *n;
    atomic_int spawn_null;
    atomic_int go_code;
    atomic_int spawned_ran;
};

static int spawn_after_cancel(plait_ctx *ctx, void *arg)
{
    struct late_spawner *a = arg;
    tl_raise(&a->started);
    /* Wait until our own group is cancelled (by the test), then spawn. */
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    plait_task *t = plait_spawn(a->g, tl_count_task, a->n);
    if (t == NULL) {
        atomic_store(&a->spawn_null, 1);
    } else {
        atomic_store(&a->spawned_ran, plait_task_wait(t));
        plait_task_release(t);
    }
    atomic_store(&a->go_code, plait_go(a->g, tl_count_task, a->n));
    return ECANCELED;
}

/* Rule 6 */
Test(spawn_late, a_worker_spawning_into_its_cancelled_group_gets_cancelled_tasks,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    atomic_int n = 0;
    struct late_spawner a = {.g = g, .n = &n};
    atomic_init(&a.spawn_null, 0);
    atomic_init(&a.go_code, -1);
    atomic_init(&a.spawned_ran, -1);
    atomic_init(&a.started, 0);
    cr_assert_eq(plait_go(g, spawn_after_cancel, &a), 0);
    TL_AWAIT(tl_raised(&a.started));
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert_eq(atomic_load(&a.spawn_null), 0);
    TL_ASSERT_CODE(atomic_load(&a.spawned_ran), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&a.go_code), ECANCELED);
    cr_assert_eq(atomic_load(&n), 0);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 6 */
Test(spawn_late, spawn_after_wait_returned_is_einval, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    atomic_int n = 0;
    cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    errno = 0;
    cr_assert_null(plait_spawn(g, tl_count_task, &n));
    TL_ASSERT_CODE(errno, EINVAL);
    TL_ASSERT_CODE(plait_go(g, tl_count_task, &n), EINVAL);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 1000), EINVAL);
    TL_ASSERT_CODE(plait_group_wait(g), EINVAL); /* a second wait, after the first returned */
    cr_assert_eq(atomic_load(&n), 1);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 6 */
Test(spawn_late, spawn_after_a_failed_wait_is_einval_too, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EIO)), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    errno = 0;
    cr_assert_null(plait_spawn(g, tl_noop_task, NULL));
    TL_ASSERT_CODE(errno, EINVAL);
    TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), EINVAL);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 6 */
Test(spawn_late, foreign_spawn_into_a_pool_being_destroyed_is_eshutdown, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    /* A task of g keeps the pool busy; a lone task holds it up until we
     * are done with g (so g is waited before the pool goes away). */
    struct tl_gate busy, hold;
    tl_gate_init(&busy);
    tl_gate_init(&hold);
    cr_assert_eq(plait_go(g, tl_gate_task, &busy), 0);
    plait_task *holder = plait_submit(pool, tl_gate_task, &hold);
    cr_assert_not_null(holder);
    plait_task_release(holder);
    TL_AWAIT(atomic_load(&busy.started) == 1 && atomic_load(&hold.started) == 1);

    struct tl_destroyer d;
    tl_destroy_in_thread(&d, pool);
    /* Destroy has begun once a foreign submit is refused. */
    TL_AWAIT(tl_submit_refused(pool));
    errno = 0;
    cr_assert_null(plait_spawn(g, tl_noop_task, NULL));
    TL_ASSERT_CODE(errno, ESHUTDOWN);
    TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), ESHUTDOWN);
    plait_group *g2 = NULL;
    TL_ASSERT_CODE(plait_group_create(&g2, pool, 0), ESHUTDOWN);
    cr_assert_not(tl_raised(&d.done), "destroy returned while tasks were running");

    tl_raise(&busy.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    tl_raise(&hold.open);
    TL_ASSERT_CODE(tl_destroyer_join(&d), 0);
}

/* ---- Rule 7: Any thread ---------------------------------------------------- */

struct foreign_job {
    plait_pool *pool;
    int tasks;
    atomic_int n;
    int result;
};

static void *foreign_group_thread(void *arg)
{
    struct foreign_job *j = arg;
    plait_group *g;
    j->result = plait_group_create(&g, j->pool, 0);
    if (j->result != 0)
        return NULL;
    for (int i = 0; i < j->tasks; i++) {
        if (i % 3 == 0) {
            plait_task *t = plait_spawn(g, tl_count_task, &j->n);
            if (t == NULL) {
                j->result = errno;
                break;
            }
            plait_task_release(t);
        } else if ((j->result = plait_go(g, tl_count_task, &j->n)) != 0) {
            break;
        }
    }
    int r = plait_group_wait(g);
    if (j->result == 0)
        j->result = r;
    plait_group_destroy(g);
    return NULL;
}

/* Rule 7 */
Test(any_thread, groups_from_several_foreign_threads_at_once, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    enum { THREADS = 4 };
    struct foreign_job j[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        j[i] = (struct foreign_job){.pool = pool, .tasks = TL_SIZE(5000, 500)};
        atomic_init(&j[i].n, 0);
        th[i] = tl_thread(foreign_group_thread, &j[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        tl_join_thread(th[i]);
        TL_ASSERT_CODE(j[i].result, 0);
        cr_assert_eq(atomic_load(&j[i].n), j[i].tasks);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct cross {
    plait_group *g;
    struct tl_gate *gate;
    atomic_int spawned;
};

static void *spawn_into_shared_group(void *arg)
{
    struct cross *c = arg;
    for (int i = 0; i < 3; i++)
        if (plait_go(c->g, tl_gate_cancellable_task, c->gate) == 0)
            atomic_fetch_add(&c->spawned, 1);
    return NULL;
}

/* Rule 7 */
Test(any_thread, spawn_cancel_and_wait_on_three_different_threads, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, 0); /* created here */
    struct tl_gate gate;
    tl_gate_init(&gate);
    struct cross c = {.g = g, .gate = &gate};
    atomic_init(&c.spawned, 0);
    pthread_t sp = tl_thread(spawn_into_shared_group, &c); /* spawned there */
    tl_join_thread(sp);
    cr_assert_eq(atomic_load(&c.spawned), 3);
    TL_AWAIT(atomic_load(&gate.started) == 3);
    pthread_t ca = tl_thread(tl_cancel_group_thread, g); /* cancelled elsewhere */
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);      /* waited here */
    tl_join_thread(ca);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 3);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct nested_sum {
    int depth;
    atomic_long *sum;
};

static int nested_groups(plait_ctx *ctx, void *arg)
{
    struct nested_sum *a = arg;
    atomic_fetch_add(a->sum, 1);
    if (a->depth == 0)
        return 0;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    struct nested_sum kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = (struct nested_sum){a->depth - 1, a->sum};
        if ((r = plait_go(g, nested_groups, &kids[i])) != 0)
            break;
    }
    int w = plait_group_wait(g); /* on a worker: runs other tasks meanwhile */
    plait_group_destroy(g);
    return r != 0 ? r : w;
}

/* Rule 7 */
Test(any_thread, workers_create_spawn_and_wait_nested_groups, .timeout = TL_TIMEOUT)
{
    for (unsigned threads = 1; threads <= 4; threads *= 2) {
        plait_pool *pool = tl_pool(threads);
        atomic_long sum = 0;
        int depth = TL_SIZE(6, 4);
        struct nested_sum root = {depth, &sum};
        plait_task *t = plait_submit(pool, nested_groups, &root);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        plait_task_release(t);
        long want = 0;
        for (int d = 0, p = 1; d <= depth; d++, p *= 3)
            want += p;
        cr_assert_eq(atomic_load(&sum), want, "%u workers", threads);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

struct same_wait {
    plait_group *g;
    atomic_int *arriving; /* waiters about to call plait_group_wait */
    atomic_int result;
};

static void *same_group_waiter(void *arg)
{
    struct same_wait *w = arg;
    atomic_fetch_add(w->arriving, 1);
    atomic_store(&w->result, plait_group_wait(w->g));
    return NULL;
}

static int same_group_waiter_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct same_wait *w = arg;
    atomic_fetch_add(w->arriving, 1);
    atomic_store(&w->result, plait_group_wait(w->g));
    return 0;
}

static int gate_then_eio(plait_ctx *ctx, void *arg)
{
    int r = tl_gate_task(ctx, arg);
    return r != 0 ? r : EIO;
}

/* Rule 7 */
Test(any_thread, several_waiters_on_one_group_all_get_the_same_value, .timeout = TL_TIMEOUT)
{
    for (int variant = 0; variant < 2; variant++) {
        plait_pool *pool = tl_pool(4);
        plait_group *g = tl_group(pool, 0);
        struct tl_gate gate;
        tl_gate_init(&gate);
        cr_assert_eq(plait_go(g, variant ? gate_then_eio : tl_gate_task, &gate), 0);
        TL_AWAIT(atomic_load(&gate.started) == 1);
        enum { FOREIGN = 3, ON_WORKERS = 2 };
        struct same_wait w[FOREIGN + ON_WORKERS];
        pthread_t th[FOREIGN];
        plait_task *t[ON_WORKERS];
        atomic_int arriving = 0;
        for (int i = 0; i < FOREIGN + ON_WORKERS; i++) {
            w[i].g = g;
            w[i].arriving = &arriving;
            atomic_init(&w[i].result, -1);
        }
        for (int i = 0; i < FOREIGN; i++)
            th[i] = tl_thread(same_group_waiter, &w[i]);
        for (int i = 0; i < ON_WORKERS; i++) {
            t[i] = plait_submit(pool, same_group_waiter_task, &w[FOREIGN + i]);
            cr_assert_not_null(t[i]);
        }
        /* A wait that begins after another returned is refused (EINVAL):
         * every waiter must be in before the gate opens. Arriving says a
         * waiter is about to call the wait; the dump, that its wait has
         * begun (a waiter descheduled in between would come in late). */
        TL_AWAIT(atomic_load(&arriving) == FOREIGN + ON_WORKERS);
        TL_AWAIT(tl_waits_on_group(pool, g) == FOREIGN + ON_WORKERS);
        tl_raise(&gate.open);
        int want = variant ? EIO : 0;
        for (int i = 0; i < FOREIGN; i++)
            tl_join_thread(th[i]);
        for (int i = 0; i < ON_WORKERS; i++) {
            TL_ASSERT_CODE(plait_task_wait(t[i]), 0);
            plait_task_release(t[i]);
        }
        for (int i = 0; i < FOREIGN + ON_WORKERS; i++)
            TL_ASSERT_CODE(atomic_load(&w[i].result), want);
        plait_group_destroy(g);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

struct own_wait {
    _Atomic(plait_group *) g;
    atomic_int result;
};

static int wait_on_own_group(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct own_wait *a = arg;
    atomic_store(&a->result, plait_group_wait(atomic_load(&a->g)));
    return 0;
}

/* Rule 7 */
Test(any_thread, a_task_waiting_on_its_own_group_gets_edeadlk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct own_wait a;
    atomic_init(&a.g, g);
    atomic_init(&a.result, -1);
    cr_assert_eq(plait_go(g, wait_on_own_group, &a), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0); /* the EDEADLK did not close or fail the group */
    TL_ASSERT_CODE(atomic_load(&a.result), EDEADLK);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct deep {
    int level;
    int max;
    atomic_int *deepest;
};

static int deep_task(plait_ctx *ctx, void *arg)
{
    struct deep *d = arg;
    if (d->level == d->max) {
        atomic_store(d->deepest, d->level);
        return 0;
    }
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    struct deep next = {d->level + 1, d->max, d->deepest};
    r = plait_go(g, deep_task, &next);
    int w = plait_group_wait(g);
    plait_group_destroy(g);
    return r != 0 ? r : w;
}

/* Rule 7 */
Test(any_thread, two_hundred_nested_waits_on_one_worker_do_not_deadlock, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    atomic_int deepest = 0;
    struct deep root = {0, 200, &deepest};
    plait_task *t = plait_submit(pool, deep_task, &root);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&deepest), 200);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int wait_on_spawned_task(plait_ctx *ctx, void *arg)
{
    atomic_int *n = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    plait_task *child = plait_spawn(g, tl_return_task, TL_CODE(33));
    plait_task *lone = plait_submit(plait_ctx_pool(ctx), tl_count_task, n);
    if (child == NULL || lone == NULL)
        return ENOMEM;
    int rc = plait_task_wait(child); /* one worker: the wait must run it */
    int rl = plait_task_wait(lone);
    plait_task_release(child);
    plait_task_release(lone);
    int rg = plait_group_wait(g);
    plait_group_destroy(g);
    return rc == 33 && rl == 0 && rg == 33 ? 0 : EPROTO;
}

/* Rule 7 */
Test(any_thread, task_wait_inside_a_task_on_a_one_worker_pool, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    atomic_int n = 0;
    plait_task *t = plait_submit(pool, wait_on_spawned_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct cpu_wait {
    plait_group *g;
    atomic_int waiting;
    uint64_t cpu_ns, wall_ns;
    int result;
};

static void *measured_waiter(void *arg)
{
    struct cpu_wait *w = arg;
    tl_raise(&w->waiting);
    uint64_t c0 = tl_thread_cpu_ns(), t0 = tl_now_ns();
    w->result = plait_group_wait(w->g);
    w->cpu_ns = tl_thread_cpu_ns() - c0;
    w->wall_ns = tl_now_ns() - t0;
    return NULL;
}

/* Rule 7: a wait on a foreign thread blocks without spinning. */
Test(any_thread, a_foreign_wait_blocks_without_spinning, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    struct cpu_wait w = {.g = g};
    atomic_init(&w.waiting, 0);
    pthread_t th = tl_thread(measured_waiter, &w);
    TL_AWAIT(tl_raised(&w.waiting));
    /* Asleep in its wait (the dump shows a foreign waiter once it sleeps):
     * a waiter descheduled before its wait would measure a short wait
     * after the gate opened, mostly CPU. */
    TL_AWAIT(tl_waits_on_group(pool, g) == 1);
    tl_sleep_ms(300); /* the waiter is blocked all this time */
    tl_raise(&gate.open);
    tl_join_thread(th);
    TL_ASSERT_CODE(w.result, 0);
    double share = (double)w.cpu_ns / (double)w.wall_ns;
    cr_log_info("foreign wait: %.1f ms CPU in %.1f ms", w.cpu_ns / 1e6, w.wall_ns / 1e6);
    cr_assert_lt(share, 0.10, "the waiting thread used %.1f ms CPU in %.1f ms", w.cpu_ns / 1e6,
                 w.wall_ns / 1e6);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct cross_pool {
    plait_pool *other;
    atomic_int n;
};

static int spawn_into_other_pool(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct cross_pool *c = arg;
    plait_group *g;
    int r = plait_group_create(&g, c->other, 0);
    if (r != 0)
        return r;
    for (int i = 0; i < 100 && r == 0; i++)
        r = plait_go(g, tl_count_task, &c->n);
    int w = plait_group_wait(g); /* a worker of another pool waits */
    plait_group_destroy(g);
    return r != 0 ? r : w;
}

/* Rule 7: a worker of one pool is a foreign thread to another. */
Test(any_thread, a_task_of_one_pool_spawns_and_waits_in_another, .timeout = TL_TIMEOUT)
{
    plait_pool *a = tl_pool(1), *b = tl_pool(2);
    struct cross_pool c = {.other = b};
    atomic_init(&c.n, 0);
    plait_task *t = plait_submit(a, spawn_into_other_pool, &c);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&c.n), 100);
    cr_assert_eq(plait_pool_destroy(a), 0);
    cr_assert_eq(plait_pool_destroy(b), 0);
}

/* ---- Races at the end of a group's life (ASan and TSan builds catch a
 * use after free or a task run after its group was over) ---------------- */

struct late_spawners {
    plait_group *g;
    atomic_int ran, go;
    int spawned[2];
};

static void *late_spawner(void *arg)
{
    struct late_spawners *ls = *(struct late_spawners **)arg;
    int *mine = (int *)((struct late_spawners **)arg)[1];
    while (!atomic_load(&ls->go))
        ;
    for (;;) {
        /* Throttled, so that the workers catch up and the group can finish
         * while we are still trying (the race this test is about). */
        if (plait_group_pending(ls->g) > 4)
            continue;
        if (plait_go(ls->g, tl_count_task, &ls->ran) != 0)
            break;
        (*mine)++;
    }
    return NULL;
}

/* Rule 6 */
Test(spawn_late, two_threads_spawning_as_the_group_finishes_never_slip_in, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < TL_SIZE(300, 50); i++) {
        struct late_spawners ls = {.g = tl_group(pool, 0)};
        atomic_init(&ls.ran, 0);
        atomic_init(&ls.go, 0);
        void *a0[2] = {&ls, &ls.spawned[0]}, *a1[2] = {&ls, &ls.spawned[1]};
        pthread_t t0 = tl_thread(late_spawner, a0), t1 = tl_thread(late_spawner, a1);
        atomic_store(&ls.go, 1);
        tl_sleep_ms(1);
        int r = plait_group_wait(ls.g);
        int ran = atomic_load(&ls.ran); /* every admitted task ran before the wait returned */
        tl_join_thread(t0);
        tl_join_thread(t1);
        TL_ASSERT_CODE(r, 0);
        cr_assert_eq(ran, ls.spawned[0] + ls.spawned[1], "round %d: %d ran, %d admitted", i, ran,
                     ls.spawned[0] + ls.spawned[1]);
        plait_group_destroy(ls.g);
        cr_assert_eq(atomic_load(&ls.ran), ran, "a task ran after its group's wait returned");
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct hand_out {
    _Atomic(plait_group *) inner;
    atomic_int cancel_go;
};

static int make_inner_and_return(plait_ctx *ctx, void *arg)
{
    struct hand_out *h = arg;
    plait_group *inner;
    if (plait_group_create(&inner, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    atomic_store(&h->inner, inner);
    return 0; /* leaves inner registered under this task */
}

static void *destroy_inner_thread(void *arg)
{
    struct hand_out *h = arg;
    plait_group *inner;
    while ((inner = atomic_load(&h->inner)) == NULL)
        ;
    plait_group_destroy(inner);
    return NULL;
}

/* Rule 4: a group created inside a task may be destroyed by another thread
 * while that task returns and its own group is waited and destroyed. */
Test(nesting_lifetime, a_nested_group_destroyed_elsewhere_as_its_creator_ends,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < TL_SIZE(500, 100); i++) {
        struct hand_out h;
        atomic_init(&h.inner, NULL);
        plait_group *outer = tl_group(pool, 0);
        pthread_t th = tl_thread(destroy_inner_thread, &h);
        cr_assert_eq(plait_go(outer, make_inner_and_return, &h), 0);
        TL_ASSERT_CODE(plait_group_wait(outer), 0);
        plait_group_destroy(outer);
        tl_join_thread(th);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int make_inner_wait_and_return(plait_ctx *ctx, void *arg)
{
    (void)arg;
    plait_group *inner;
    if (plait_group_create(&inner, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    plait_go(inner, tl_noop_task, NULL);
    plait_group_wait(inner);
    plait_group_destroy(inner);
    return 0;
}

static void *cancel_task_thread(void *arg)
{
    plait_task *t = arg;
    while (!plait_task_done(t))
        plait_task_cancel(t);
    plait_task_cancel(t);
    return NULL;
}

/* A cancel of a task that is finishing must not touch its group after the
 * group's waiter destroyed it. */
Test(nesting_lifetime, a_task_cancelled_as_it_finishes_and_its_group_goes_away,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < TL_SIZE(500, 100); i++) {
        plait_group *g = tl_group(pool, 0);
        plait_task *t = plait_spawn(g, make_inner_wait_and_return, NULL);
        cr_assert_not_null(t);
        pthread_t th = tl_thread(cancel_task_thread, t);
        int r = plait_group_wait(g);
        cr_assert(r == 0 || r == ECANCELED, "wait returned %d", r);
        plait_group_destroy(g);
        tl_join_thread(th);
        plait_task_release(t);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
