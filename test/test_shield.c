/*
 * test_shield — plait_shield: inside, outside cancellation is not seen
 * (plait_cancelled, plait_cancel_cause, plait_sleep) and does not reach
 * the groups created there (nor their tasks, nor groups those tasks
 * create); what lies under the shield in its own right (a group's
 * deadline or failure, a join branch's failure) still cancels; after the
 * shield the truth reads again, and its surviving groups follow the task.
 */
#include "testlib.h"

/* ---- Bad calls ------------------------------------------------------------ */

static int never(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EIO; /* a shield that should have been refused ran */
}

struct einval {
    plait_ctx *task_ctx;     /* for the foreign call */
    atomic_int published;    /* task_ctx is set */
    atomic_int foreign_done; /* the test thread has tried it */
    int null_fn, other_ctx, inside_outer;
};

static int try_outer_inside(plait_ctx *shielded, void *arg)
{
    struct einval *e = arg;
    (void)shielded;
    /* The task's own context is not the running one inside its shield. */
    e->inside_outer = plait_shield(e->task_ctx, never, NULL);
    return 0;
}

static int try_parent_in_child(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct einval *e = arg;
    e->other_ctx = plait_shield(e->task_ctx, never, NULL); /* the joiner's */
    return 0;
}

static int einval_task(plait_ctx *ctx, void *arg)
{
    struct einval *e = arg;
    e->task_ctx = ctx;
    e->null_fn = plait_shield(ctx, NULL, NULL);
    int r = plait_join(ctx, tl_noop_task, NULL, try_parent_in_child, e);
    if (r != 0)
        return r;
    r = plait_shield(ctx, try_outer_inside, e);
    if (r != 0)
        return r;
    tl_raise(&e->published);
    return tl_wait_flag(&e->foreign_done, TL_WAIT_S) ? 0 : EIO;
}

Test(shield, bad_calls_are_einval, .timeout = TL_TIMEOUT)
{
    TL_ASSERT_CODE(plait_shield(NULL, never, NULL), EINVAL);
    plait_pool *pool = tl_pool(2);
    struct einval e = {.task_ctx = NULL};
    atomic_init(&e.published, 0);
    atomic_init(&e.foreign_done, 0);
    e.null_fn = e.other_ctx = e.inside_outer = -1;
    plait_task *t = plait_submit(pool, einval_task, &e);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&e.published));
    /* A live task's context, from a thread that is not running it. */
    int foreign = plait_shield(e.task_ctx, never, NULL);
    tl_raise(&e.foreign_done);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(foreign, EINVAL);
    TL_ASSERT_CODE(e.null_fn, EINVAL);
    TL_ASSERT_CODE(e.other_ctx, EINVAL);
    TL_ASSERT_CODE(e.inside_outer, EINVAL);
    plait_task_release(t);
    plait_pool_destroy(pool);
}

/* ---- Cancelled before the shield ----------------------------------------- */

struct before {
    plait_group *group; /* the task's own */
    atomic_int started;
    bool before_outside, inside, after;
    int cause_inside, cause_after, slept, go_inside, join_r;
    atomic_int child_saw; /* join children inside the shield that read cancelled */
    uint64_t took;
};

static int child_reads(plait_ctx *ctx, void *arg)
{
    struct before *b = arg;
    if (plait_cancelled(ctx))
        atomic_fetch_add(&b->child_saw, 1);
    return 0;
}

static int before_inside(plait_ctx *s, void *arg)
{
    struct before *b = arg;
    b->inside = plait_cancelled(s);
    b->cause_inside = plait_cancel_cause(s, NULL);
    uint64_t t0 = tl_now_ns();
    b->slept = plait_sleep(s, 20 * 1000000ull);
    b->took = tl_now_ns() - t0;
    b->join_r = plait_join(s, child_reads, b, child_reads, b);
    /* The shield protects the region, not the group. */
    b->go_inside = plait_go(b->group, tl_noop_task, NULL);
    return 0;
}

static int before_task(plait_ctx *ctx, void *arg)
{
    struct before *b = arg;
    tl_raise(&b->started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    b->before_outside = plait_cancelled(ctx);
    int r = plait_shield(ctx, before_inside, b);
    b->after = plait_cancelled(ctx);
    b->cause_after = plait_cancel_cause(ctx, NULL);
    return r != 0 ? r : ECANCELED;
}

Test(shield, cancelled_before_inside_reads_false_after_reads_true, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct before b = {.group = g};
    atomic_init(&b.started, 0);
    atomic_init(&b.child_saw, 0);
    cr_assert_eq(plait_go(g, before_task, &b), 0);
    TL_AWAIT(tl_raised(&b.started));
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert(b.before_outside);
    cr_assert(!b.inside, "plait_cancelled read true inside the shield");
    cr_assert_eq(b.cause_inside, PLAIT_CANCEL_NONE);
    TL_ASSERT_CODE(b.slept, 0);
    cr_assert_geq(b.took, 20 * 1000000ull, "the shielded sleep took %" PRIu64 " ns", b.took);
    TL_ASSERT_CODE(b.join_r, 0);
    cr_assert_eq(atomic_load(&b.child_saw), 0, "a join child inside the shield read cancelled");
    TL_ASSERT_CODE(b.go_inside, ECANCELED);
    cr_assert(b.after, "plait_cancelled read false after the shield");
    cr_assert_eq(b.cause_after, PLAIT_CANCEL_CALL);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* ---- Cancelled during the shield ------------------------------------------ */

struct during {
    atomic_int entered, go, sleeping;
    bool inside, outer;
    int cause, unshielded, slept;
    uint64_t unshielded_took, took;
    plait_ctx *task_ctx;
};

static void during_init(struct during *d)
{
    memset(d, 0, sizeof *d);
    atomic_init(&d->entered, 0);
    atomic_init(&d->go, 0);
    atomic_init(&d->sleeping, 0);
    d->cause = d->unshielded = d->slept = -1;
}

static int during_inside(plait_ctx *s, void *arg)
{
    struct during *d = arg;
    tl_raise(&d->entered);
    if (!tl_wait_flag(&d->go, TL_WAIT_S))
        return EIO;
    d->inside = plait_cancelled(s);
    d->outer = plait_cancelled(d->task_ctx);
    d->cause = plait_cancel_cause(s, NULL);
    uint64_t t0 = tl_now_ns();
    d->unshielded = plait_sleep(d->task_ctx, TL_MINUTE_NS);
    d->unshielded_took = tl_now_ns() - t0;
    tl_raise(&d->sleeping);
    t0 = tl_now_ns();
    d->slept = plait_sleep(s, 200 * 1000000ull);
    d->took = tl_now_ns() - t0;
    return 0;
}

static int during_task(plait_ctx *ctx, void *arg)
{
    struct during *d = arg;
    d->task_ctx = ctx;
    int r = plait_shield(ctx, during_inside, d);
    return r != 0 ? r : plait_cancelled(ctx) ? ECANCELED : 0;
}

Test(shield, cancelled_during_a_shielded_sleep_runs_its_full_time, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct during d;
    during_init(&d);
    plait_task *t = plait_spawn(g, during_task, &d);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&d.entered));
    plait_group_cancel(g); /* while fn waits at the gate */
    tl_raise(&d.go);
    /* A second cancellation, of the task itself, while the shielded sleep
     * is (very likely) under way: it must not wake it either. */
    TL_AWAIT(tl_raised(&d.sleeping));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert(!d.inside, "plait_cancelled read true inside the shield");
    cr_assert(d.outer, "the task's own context did not read cancelled");
    cr_assert_eq(d.cause, PLAIT_CANCEL_NONE);
    TL_ASSERT_CODE(d.unshielded, ECANCELED);
    cr_assert_lt(d.unshielded_took, 5000000000ull, "the unshielded sleep was not cut short");
    TL_ASSERT_CODE(d.slept, 0);
    cr_assert_geq(d.took, 200 * 1000000ull, "the shielded sleep took %" PRIu64 " ns", d.took);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* A group's cancellation while the shielded sleep is already asleep (the
 * claim of step 4, not the sleeper's own walk). */
struct asleep {
    atomic_int sleeping;
    int slept;
    uint64_t took;
};

static int asleep_inside(plait_ctx *s, void *arg)
{
    struct asleep *a = arg;
    tl_raise(&a->sleeping);
    uint64_t t0 = tl_now_ns();
    a->slept = plait_sleep(s, 200 * 1000000ull);
    a->took = tl_now_ns() - t0;
    return 0;
}

static int asleep_task(plait_ctx *ctx, void *arg)
{
    return plait_shield(ctx, asleep_inside, arg);
}

Test(shield, a_group_cancel_does_not_wake_a_shielded_sleep, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct asleep a = {.slept = -1};
    atomic_init(&a.sleeping, 0);
    cr_assert_eq(plait_go(g, asleep_task, &a), 0);
    TL_AWAIT(tl_raised(&a.sleeping));
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    TL_ASSERT_CODE(a.slept, 0);
    cr_assert_geq(a.took, 200 * 1000000ull, "the shielded sleep took %" PRIu64 " ns", a.took);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* ---- Groups created inside the shield ------------------------------------- */

/* The task creates group A outside the shield and group B inside it, each
 * with tasks at a cancellable gate; B's tasks may create a group C of
 * their own (depth 2), with one more task at a gate. */
#define B_TASKS 2

struct groups {
    plait_pool *pool;
    struct tl_gate a, b, c;
    bool depth2;
    int ra, rb, rc[B_TASKS];
    atomic_int nc; /* C groups made */
    bool inside_after_wait;
};

static int b_task(plait_ctx *ctx, void *arg)
{
    struct groups *s = arg;
    if (!s->depth2)
        return tl_gate_cancellable_task(ctx, &s->b);
    plait_group *c;
    int r = plait_group_create(&c, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    int i = atomic_fetch_add(&s->nc, 1);
    r = plait_go(c, tl_gate_cancellable_task, &s->c);
    int rw = tl_gate_cancellable_task(ctx, &s->b);
    s->rc[i] = plait_group_wait(c);
    plait_group_destroy(c);
    return r != 0 ? r : rw;
}

static int groups_inside(plait_ctx *sh, void *arg)
{
    struct groups *s = arg;
    plait_group *b;
    int r = plait_group_create(&b, s->pool, 0);
    if (r != 0)
        return r;
    for (int i = 0; i < B_TASKS && r == 0; i++)
        r = plait_go(b, b_task, s);
    s->rb = plait_group_wait(b);
    s->inside_after_wait = plait_cancelled(sh);
    plait_group_destroy(b);
    return r;
}

static int groups_task(plait_ctx *ctx, void *arg)
{
    struct groups *s = arg;
    plait_group *a;
    int r = plait_group_create(&a, s->pool, 0);
    if (r != 0)
        return r;
    r = plait_go(a, tl_gate_cancellable_task, &s->a);
    int rs = plait_shield(ctx, groups_inside, s);
    s->ra = plait_group_wait(a);
    plait_group_destroy(a);
    return r != 0 ? r : rs != 0 ? rs : ECANCELED;
}

/* by_task: plait_task_cancel of the task (its context's cancellation,
 * cancel.c's pl_ctx_cancel); else plait_group_cancel of its group (the
 * group's, cancel_tree). */
static void groups_run(bool depth2, bool by_task)
{
    plait_pool *pool = tl_pool(6);
    plait_group *g = tl_group(pool, 0);
    struct groups s = {.pool = pool, .depth2 = depth2, .ra = -1, .rb = -1, .rc = {-1, -1}};
    tl_gate_init(&s.a);
    tl_gate_init(&s.b);
    tl_gate_init(&s.c);
    atomic_init(&s.nc, 0);
    plait_task *t = plait_spawn(g, groups_task, &s);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&s.a.started) == 1 && atomic_load(&s.b.started) == B_TASKS &&
             atomic_load(&s.c.started) == (depth2 ? B_TASKS : 0));
    if (by_task)
        plait_task_cancel(t);
    else
        plait_group_cancel(g);
    /* A's task leaves at once, seeing the cancellation. */
    TL_AWAIT(atomic_load(&s.a.finished) == 1);
    cr_assert_eq(atomic_load(&s.a.saw_cancel), 1);
    /* B's and C's tasks still wait at their gates, not cancelled. */
    cr_assert_eq(atomic_load(&s.b.finished), 0, "a task of the shielded group left the gate");
    cr_assert_eq(atomic_load(&s.c.finished), 0, "a task two levels down left the gate");
    tl_raise(&s.c.open);
    tl_raise(&s.b.open);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    plait_task_release(t);
    (void)plait_group_wait(g);
    TL_ASSERT_CODE(s.ra, ECANCELED);
    TL_ASSERT_CODE(s.rb, 0);
    cr_assert_eq(atomic_load(&s.b.saw_cancel), 0);
    cr_assert(!s.inside_after_wait);
    if (depth2) {
        cr_assert_eq(atomic_load(&s.c.saw_cancel), 0);
        for (int i = 0; i < B_TASKS; i++)
            TL_ASSERT_CODE(s.rc[i], 0);
    }
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(shield, a_group_created_inside_is_not_cancelled_with_the_task, .timeout = TL_TIMEOUT)
{
    groups_run(false, true);
}

Test(shield, a_group_created_inside_is_not_cancelled_with_the_tasks_group, .timeout = TL_TIMEOUT)
{
    groups_run(false, false);
}

Test(shield, groups_two_levels_below_the_shield_are_not_cancelled, .timeout = TL_TIMEOUT)
{
    groups_run(true, true);
    groups_run(true, false);
}

/* ---- What lies under the shield in its own right still cancels ---------- */

struct own {
    plait_pool *pool;
    atomic_int sleeper_started;
    int r, sleep_r, cause;
};

static int own_sleeper(plait_ctx *ctx, void *arg)
{
    struct own *o = arg;
    tl_raise(&o->sleeper_started);
    o->sleep_r = plait_sleep(ctx, TL_MINUTE_NS);
    o->cause = plait_cancel_cause(ctx, NULL);
    return o->sleep_r;
}

static int own_deadline_inside(plait_ctx *s, void *arg)
{
    (void)s;
    struct own *o = arg;
    plait_group *g;
    int r = plait_group_create(&g, o->pool, 0);
    if (r != 0)
        return r;
    /* The other worker runs the sleeper before the deadline is set: one
     * that found it queued would finish it never run (sleep_r, cause
     * never written). */
    if ((r = plait_go(g, own_sleeper, o)) == 0 && !tl_wait_flag(&o->sleeper_started, TL_WAIT_S))
        r = ETIME;
    if (r == 0)
        r = plait_group_set_timeout(g, 1000000);
    o->r = plait_group_wait(g);
    plait_group_destroy(g);
    return r;
}

static int own_deadline_task(plait_ctx *ctx, void *arg)
{
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    return plait_shield(ctx, own_deadline_inside, arg);
}

/* The task is cancelled (by a handshake: once it surely runs) before its
 * shield; the group it creates inside still times out by its deadline. */
struct own_gate {
    struct own o;
    atomic_int started;
};

static int own_gate_task(plait_ctx *ctx, void *arg)
{
    struct own_gate *og = arg;
    tl_raise(&og->started);
    return own_deadline_task(ctx, &og->o);
}

Test(shield, a_groups_own_deadline_fires_under_a_cancelled_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct own_gate og = {.o = {.pool = pool, .r = -1, .sleep_r = -1, .cause = -1}};
    atomic_init(&og.o.sleeper_started, 0);
    atomic_init(&og.started, 0);
    plait_task *t = plait_spawn(g, own_gate_task, &og);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&og.started));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(og.o.r, ETIMEDOUT);
    TL_ASSERT_CODE(og.o.sleep_r, ECANCELED);
    cr_assert_eq(og.o.cause, PLAIT_CANCEL_DEADLINE);
    plait_task_release(t);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* A plait_join inside the shield: its failing branch cancels the other,
 * and the failure (code and message) comes out of the shield and fails
 * the task. */
struct join_in {
    atomic_int ran_a;
    bool a_saw;
    int a_cause, a_code;
};

static int join_a(plait_ctx *ctx, void *arg)
{
    struct join_in *j = arg;
    tl_raise(&j->ran_a);
    /* Stolen, a runs while b may still be running: wait for its cancel. */
    j->a_saw = TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S);
    j->a_cause = plait_cancel_cause(ctx, &j->a_code);
    return ECANCELED;
}

static int join_b(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_fail(ctx, EPIPE, "broken %d", 7);
}

static int join_inside(plait_ctx *s, void *arg)
{
    return plait_join(s, join_a, arg, join_b, NULL);
}

static int join_task(plait_ctx *ctx, void *arg)
{
    return plait_shield(ctx, join_inside, arg);
}

Test(shield, a_failing_join_branch_inside_cancels_its_sibling, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct join_in j = {.a_saw = false, .a_cause = -1, .a_code = -1};
    atomic_init(&j.ran_a, 0);
    plait_task *t = plait_submit(pool, join_task, &j);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EPIPE);
    cr_assert_str_eq(plait_task_message(t), "broken 7");
    if (tl_raised(&j.ran_a)) { /* else it was cancelled before it started */
        cr_assert(j.a_saw, "the sibling of a failing branch was not cancelled");
        cr_assert_eq(j.a_cause, PLAIT_CANCEL_FAILURE);
        TL_ASSERT_CODE(j.a_code, EPIPE);
    }
    plait_task_release(t);
    plait_pool_destroy(pool);
}

/* A message with 0 or ECANCELED is dropped, as a join branch's is. */
static int fail_quietly(plait_ctx *s, void *arg)
{
    return plait_fail(s, (int)(intptr_t)arg, "not a failure");
}

static int quiet_task(plait_ctx *ctx, void *arg)
{
    int r = plait_shield(ctx, fail_quietly, arg);
    return r == ECANCELED ? 0 : r;
}

Test(shield, a_message_without_a_failure_is_dropped, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    for (int code = 0; code <= 1; code++) {
        plait_task *t = plait_submit(pool, quiet_task, TL_CODE(code ? ECANCELED : 0));
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        cr_assert_null(plait_task_message(t));
        plait_task_release(t);
    }
    plait_pool_destroy(pool);
}

/* ---- Shields nested, in joins, and their groups after them ---------------- */

/* A shield inside a join branch: the branch's shield reads false while its
 * unshielded sibling reads the task's cancellation. */
struct in_join {
    atomic_int entered, a_started, sibling_saw, go;
    bool inside, branch_after;
};

static int in_join_inside(plait_ctx *s, void *arg)
{
    struct in_join *j = arg;
    tl_raise(&j->entered);
    if (!tl_wait_flag(&j->go, TL_WAIT_S))
        return EIO;
    j->inside = plait_cancelled(s);
    return 0;
}

static int in_join_b(plait_ctx *ctx, void *arg)
{
    struct in_join *j = arg;
    int r = plait_shield(ctx, in_join_inside, j);
    j->branch_after = plait_cancelled(ctx);
    return r;
}

static int in_join_a(plait_ctx *ctx, void *arg)
{
    struct in_join *j = arg;
    tl_raise(&j->a_started); /* stolen: b is blocked in its shield */
    if (TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        tl_raise(&j->sibling_saw);
    return ECANCELED;
}

static int in_join_task(plait_ctx *ctx, void *arg)
{
    return plait_join(ctx, in_join_a, arg, in_join_b, arg);
}

Test(shield, a_shield_inside_a_join_branch, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct in_join j = {.inside = true, .branch_after = false};
    atomic_init(&j.entered, 0);
    atomic_init(&j.a_started, 0);
    atomic_init(&j.sibling_saw, 0);
    atomic_init(&j.go, 0);
    plait_task *t = plait_submit(pool, in_join_task, &j);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&j.entered) && tl_raised(&j.a_started));
    plait_task_cancel(t);
    tl_raise(&j.go);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert(!j.inside, "plait_cancelled read true in a join branch's shield");
    cr_assert(j.branch_after, "the branch did not read cancelled after its shield");
    cr_assert(tl_raised(&j.sibling_saw), "the unshielded sibling did not read cancelled");
    plait_task_release(t);
    plait_pool_destroy(pool);
}

/* Nested shields: the inner one leaves a group alive, which passes to the
 * outer shield and stays shielded; the outer one leaves another alive,
 * which passes to the task: cancelled at the hand-over when the task is.
 * The task's group is what is cancelled: its cancellation reads the mark
 * that the hand-over recomputes (a task's reads the creators' chain). */
struct nest {
    plait_pool *pool;
    struct tl_gate d, e;
    plait_group *dg, *eg;
    atomic_int ready, go;
    bool inner_in, outer_in;
    int rd;
};

static int nest_inner(plait_ctx *s2, void *arg)
{
    struct nest *n = arg;
    n->inner_in = plait_cancelled(s2);
    int r = plait_group_create(&n->dg, n->pool, 0);
    return r != 0 ? r : plait_go(n->dg, tl_gate_cancellable_task, &n->d);
}

static int nest_outer(plait_ctx *s1, void *arg)
{
    struct nest *n = arg;
    int r = plait_shield(s1, nest_inner, n); /* dg now belongs to s1 */
    if (r != 0)
        return r;
    if ((r = plait_group_create(&n->eg, n->pool, 0)) != 0 ||
        (r = plait_go(n->eg, tl_gate_cancellable_task, &n->e)) != 0)
        return r;
    tl_raise(&n->ready);
    if (!tl_wait_flag(&n->go, TL_WAIT_S)) /* the task is cancelled meanwhile */
        return EIO;
    n->outer_in = plait_cancelled(s1);
    tl_raise(&n->d.open);
    n->rd = plait_group_wait(n->dg);
    plait_group_destroy(n->dg);
    return 0; /* eg is left alive: it passes to the task */
}

static int nest_task(plait_ctx *ctx, void *arg)
{
    struct nest *n = arg;
    int r = plait_shield(ctx, nest_outer, n);
    if (r != 0)
        return r;
    /* eg now follows the task, which is cancelled: so is eg. */
    int re = plait_group_wait(n->eg);
    return re;
}

Test(shield, nested_shields_and_the_groups_they_leave, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, 0);
    struct nest n = {.pool = pool, .inner_in = true, .outer_in = true, .rd = -1};
    tl_gate_init(&n.d);
    tl_gate_init(&n.e);
    atomic_init(&n.ready, 0);
    atomic_init(&n.go, 0);
    plait_task *t = plait_spawn(g, nest_task, &n);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&n.ready) && atomic_load(&n.d.started) == 1 &&
             atomic_load(&n.e.started) == 1);
    plait_group_cancel(g);
    tl_raise(&n.go);
    /* eg's task sees the cancellation only once the shields are over. */
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert(!n.inner_in);
    cr_assert(!n.outer_in, "plait_cancelled read true in the outer shield");
    TL_ASSERT_CODE(n.rd, 0);
    cr_assert_eq(atomic_load(&n.d.saw_cancel), 0, "the inner shield's group was cancelled");
    cr_assert_eq(atomic_load(&n.e.saw_cancel), 1,
                 "a group left by the shield did not follow the cancelled task");
    plait_group_info info;
    TL_ASSERT_CODE(plait_group_get_info(n.eg, &info), 0);
    cr_assert_eq(info.cancel_reason, PLAIT_CANCEL_ENCLOSING);
    plait_group_destroy(n.eg);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
