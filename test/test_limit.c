/*
 * test_limit — plait_group_set_limit: at most that many tasks unfinished;
 * a foreign spawner blocks until a slot frees, or the group is cancelled
 * (ECANCELED; by a call, a failure or a deadline) or the pool shuts down
 * (ESHUTDOWN); a worker's spawn into a full group runs inline (caller
 * runs) and so never deadlocks a fan-out; PLAIT_SPAWN_TRY returns EAGAIN.
 */
#include "testlib.h"

struct counted {
    atomic_int live, max_live, done;
    size_t limit;
    plait_group *g;
    atomic_int over; /* a task saw the group's pending count over the limit */
};

static int counted_task(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct counted *c = p;
    int l = atomic_fetch_add(&c->live, 1) + 1;
    int m = atomic_load(&c->max_live);
    while (l > m && !atomic_compare_exchange_weak(&c->max_live, &m, l))
        ;
    if (plait_group_pending(c->g) > c->limit + 2)
        atomic_store(&c->over, 1);
    for (volatile int i = 0; i < 2000; i++)
        ;
    atomic_fetch_sub(&c->live, 1);
    atomic_fetch_add(&c->done, 1);
    return 0;
}

Test(limit, a_foreign_producer_never_has_more_than_the_limit_unfinished, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct counted c = {.limit = 3};
    c.g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_limit(c.g, c.limit), 0);
    int n = TL_SIZE(20000, 2000);
    for (int i = 0; i < n; i++) {
        TL_ASSERT_CODE(plait_go(c.g, counted_task, &c), 0);
        /* A finishing task gives its slot back just before it stops
         * counting as pending: one more per worker, at most. */
        size_t p = plait_group_pending(c.g);
        if (p > c.limit + 2)
            cr_assert_fail("spawn %d: %zu pending, limit %zu", i, p, c.limit);
    }
    TL_ASSERT_CODE(plait_group_wait(c.g), 0);
    cr_assert_eq(atomic_load(&c.done), n);
    cr_assert_eq(atomic_load(&c.over), 0);
    cr_assert(atomic_load(&c.max_live) <= 3);
    plait_group_destroy(c.g);
    plait_pool_destroy(pool);
}

struct item {
    atomic_int dropped;
};

static void drop_item(void *p)
{
    atomic_fetch_add(&((struct item *)p)->dropped, 1);
}

Test(limit, try_returns_eagain_when_full_and_keeps_the_argument, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_limit(g, 2), 0);
    plait_spawn_options try_opts = {.flags = PLAIT_SPAWN_TRY, .drop = drop_item};
    struct item a = {0}, b = {0}, x = {0};
    TL_ASSERT_CODE(plait_spawn_with(g, tl_gate_task, &gate, NULL, NULL), 0);
    TL_ASSERT_CODE(plait_spawn_with(g, tl_gate_task, &gate, NULL, NULL), 0);
    TL_ASSERT_CODE(plait_spawn_with(g, tl_noop_task, &x, &try_opts, NULL), EAGAIN);
    plait_task *t = (plait_task *)1;
    TL_ASSERT_CODE(plait_spawn_with(g, tl_noop_task, &x, &try_opts, &t), EAGAIN);
    cr_assert_null(t);
    cr_assert_eq(atomic_load(&x.dropped), 0, "EAGAIN leaves the argument to the caller");
    tl_raise(&gate.open);
    /* Slots free as the gate tasks end: a retry gets in. */
    int r;
    TL_AWAIT((r = plait_spawn_with(g, tl_noop_task, &a, &try_opts, NULL)) != EAGAIN);
    TL_ASSERT_CODE(r, 0);
    TL_AWAIT((r = plait_spawn_with(g, tl_noop_task, &b, &try_opts, NULL)) != EAGAIN);
    TL_ASSERT_CODE(r, 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&a.dropped), 1);
    cr_assert_eq(atomic_load(&b.dropped), 1);
    cr_assert_eq(atomic_load(&x.dropped), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* A producer thread that makes one more spawn into a full group. */
struct blocked {
    plait_group *g;
    bool handle;
    atomic_int calling, returned;
    int r;
    plait_task *t;
    struct item it;
};

static void *spawn_one(void *p)
{
    struct blocked *b = p;
    plait_spawn_options o = {.drop = drop_item};
    tl_raise(&b->calling);
    b->r = plait_spawn_with(b->g, tl_noop_task, &b->it, &o, b->handle ? &b->t : NULL);
    tl_raise(&b->returned);
    return NULL;
}

/* A group of limit 1 whose one slot a gate task holds. */
static plait_group *full_group(plait_pool *pool, struct tl_gate *gate, unsigned flags)
{
    plait_group *g = tl_group(pool, flags);
    TL_ASSERT_CODE(plait_group_set_limit(g, 1), 0);
    TL_ASSERT_CODE(plait_go(g, tl_gate_cancellable_task, gate), 0);
    TL_AWAIT(atomic_load(&gate->started) == 1);
    return g;
}

Test(limit, a_blocked_spawner_goes_on_when_a_slot_frees, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    struct blocked b = {0};
    b.g = full_group(pool, &gate, 0);
    pthread_t th = tl_thread(spawn_one, &b);
    TL_AWAIT(tl_raised(&b.calling));
    /* It cannot get in while the gate task holds the slot: pending stays
     * at the limit (a spawn that got in would make it 2). */
    for (int i = 0; i < 100; i++) {
        cr_assert(plait_group_pending(b.g) <= 1);
        sched_yield();
    }
    cr_assert_not(tl_raised(&b.returned), "the spawn returned while the group was full");
    tl_raise(&gate.open);
    tl_join_thread(th);
    TL_ASSERT_CODE(b.r, 0);
    TL_ASSERT_CODE(plait_group_wait(b.g), 0);
    cr_assert_eq(atomic_load(&b.it.dropped), 1);
    plait_group_destroy(b.g);
    plait_pool_destroy(pool);
}

static void cancel_while_blocked(bool handle, int how)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    struct blocked b = {.handle = handle};
    b.g = full_group(pool, &gate, 0);
    pthread_t th = tl_thread(spawn_one, &b);
    TL_AWAIT(tl_raised(&b.calling));
    if (how == 0)
        TL_ASSERT_CODE(plait_group_cancel(b.g), 0);
    else
        TL_ASSERT_CODE(plait_group_set_timeout(b.g, 1000000), 0);
    tl_join_thread(th); /* returns although the gate never opens */
    if (handle) {
        /* As plait_spawn into a cancelled group: a handle already over. */
        TL_ASSERT_CODE(b.r, 0);
        TL_ASSERT_CODE(plait_task_status(b.t), ECANCELED);
        plait_task_release(b.t);
    } else {
        TL_ASSERT_CODE(b.r, ECANCELED);
    }
    cr_assert_eq(atomic_load(&b.it.dropped), 1);
    TL_ASSERT_CODE(plait_group_wait(b.g), how == 0 ? ECANCELED : ETIMEDOUT);
    plait_group_destroy(b.g);
    plait_pool_destroy(pool);
}

Test(limit, cancelling_the_group_frees_a_blocked_spawner_with_ecanceled, .timeout = TL_TIMEOUT)
{
    cancel_while_blocked(false, 0);
    cancel_while_blocked(true, 0);
}

Test(limit, a_deadline_frees_a_blocked_spawner, .timeout = TL_TIMEOUT)
{
    cancel_while_blocked(false, 1);
}

static int fail_at_gate(plait_ctx *ctx, void *p)
{
    struct tl_gate *gate = p;
    (void)ctx;
    TL_SPIN_UNTIL(tl_raised(&gate->open), TL_WAIT_S);
    return EIO;
}

Test(limit, a_failure_frees_a_blocked_spawner, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate, hold;
    tl_gate_init(&gate);
    tl_gate_init(&hold);
    struct blocked b = {0};
    /* Limit 2: one task holds its slot until cancelled, one fails. */
    b.g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_limit(b.g, 2), 0);
    TL_ASSERT_CODE(plait_go(b.g, tl_gate_cancellable_task, &hold), 0);
    TL_ASSERT_CODE(plait_go(b.g, fail_at_gate, &gate), 0);
    TL_AWAIT(atomic_load(&hold.started) == 1);
    pthread_t th = tl_thread(spawn_one, &b);
    TL_AWAIT(tl_raised(&b.calling));
    tl_raise(&gate.open);
    tl_join_thread(th);
    /* Either the failure's cancel came first (ECANCELED), or its slot. */
    cr_assert(b.r == ECANCELED || b.r == 0, "got %d", b.r);
    TL_ASSERT_CODE(plait_group_wait(b.g), EIO);
    cr_assert_eq(atomic_load(&b.it.dropped), 1);
    plait_group_destroy(b.g);
    plait_pool_destroy(pool);
}

Test(limit, a_pool_shutting_down_frees_a_blocked_spawner_with_eshutdown, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    struct blocked b = {0};
    b.g = full_group(pool, &gate, 0);
    pthread_t th = tl_thread(spawn_one, &b);
    TL_AWAIT(tl_raised(&b.calling));
    struct tl_destroyer d;
    tl_destroy_in_thread(&d, pool);
    tl_join_thread(th);
    TL_ASSERT_CODE(b.r, ESHUTDOWN);
    cr_assert_eq(atomic_load(&b.it.dropped), 1);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(tl_destroyer_join(&d), 0);
    TL_ASSERT_CODE(plait_group_wait(b.g), 0);
    plait_group_destroy(b.g);
}

Test(limit, raising_or_removing_the_limit_frees_blocked_spawners, .timeout = TL_TIMEOUT)
{
    for (size_t newlimit = 0; newlimit <= 2; newlimit += 2) {
        plait_pool *pool = tl_pool(2);
        struct tl_gate gate;
        tl_gate_init(&gate);
        struct blocked b = {0};
        b.g = full_group(pool, &gate, 0);
        pthread_t th = tl_thread(spawn_one, &b);
        TL_AWAIT(tl_raised(&b.calling));
        TL_ASSERT_CODE(plait_group_set_limit(b.g, newlimit), 0);
        tl_join_thread(th); /* the gate is still shut */
        TL_ASSERT_CODE(b.r, 0);
        tl_raise(&gate.open);
        TL_ASSERT_CODE(plait_group_wait(b.g), 0);
        cr_assert_eq(atomic_load(&b.it.dropped), 1);
        plait_group_destroy(b.g);
        plait_pool_destroy(pool);
    }
}

/* Caller runs: a task of a full group spawning into it. */
struct inline_check {
    plait_group *g;
    atomic_int child_ran;
    int child_worker;
    int r, seen_after;
};

static int inline_child(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct inline_check *c = p;
    c->child_worker = plait_worker_index();
    atomic_store(&c->child_ran, 1);
    return 0;
}

static int inline_parent(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct inline_check *c = p;
    c->r = plait_go(c->g, inline_child, c);
    c->seen_after = atomic_load(&c->child_ran);
    return c->child_worker == plait_worker_index() ? 0 : EIO;
}

Test(limit, a_workers_spawn_into_a_full_group_runs_the_task_inline, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct inline_check c = {.child_worker = -2};
    c.g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_limit(c.g, 1), 0);
    TL_ASSERT_CODE(plait_go(c.g, inline_parent, &c), 0);
    TL_ASSERT_CODE(plait_group_wait(c.g), 0);
    TL_ASSERT_CODE(c.r, 0);
    cr_assert_eq(c.seen_after, 1, "the child had run when plait_go returned");
    plait_group_destroy(c.g);
    plait_pool_destroy(pool);
}

struct fan {
    plait_group *g;
    int depth;
    atomic_int *leaves;
};

static int fan_out(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct fan *f = p;
    if (f->depth == 0) {
        atomic_fetch_add(f->leaves, 1);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        /* Each child's record is freed by its drop. */
        plait_spawn_options o = {.drop = free};
        struct fan *k = malloc(sizeof *k);
        if (k == NULL)
            return ENOMEM;
        *k = (struct fan){f->g, f->depth - 1, f->leaves};
        int r = plait_spawn_with(f->g, fan_out, k, &o, NULL);
        if (r != 0)
            return r;
    }
    return 0;
}

Test(limit, a_fan_out_inside_a_full_group_cannot_deadlock, .timeout = TL_TIMEOUT)
{
    for (unsigned threads = 1; threads <= 2; threads++) {
        plait_pool *pool = tl_pool(threads);
        atomic_int leaves = 0;
        plait_group *g = tl_group(pool, 0);
        TL_ASSERT_CODE(plait_group_set_limit(g, 2), 0);
        struct fan root = {g, TL_SIZE(7, 5), &leaves};
        TL_ASSERT_CODE(plait_go(g, fan_out, &root), 0);
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        int want = 1;
        for (int i = 0; i < root.depth; i++)
            want *= 3;
        cr_assert_eq(atomic_load(&leaves), want);
        plait_group_destroy(g);
        plait_pool_destroy(pool);
    }
}

Test(limit, bad_calls, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    TL_ASSERT_CODE(plait_group_set_limit(NULL, 1), EINVAL);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_limit(g, ((size_t)1 << 30) + 1), EINVAL);
    TL_ASSERT_CODE(plait_group_set_limit(g, (size_t)1 << 30), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    TL_ASSERT_CODE(plait_group_set_limit(g, 1), EINVAL);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
