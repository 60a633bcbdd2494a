/*
 * Rule 7: "a wait on a worker thread runs other tasks while it waits, and
 * never deadlocks however deep the nesting, even with one worker [...] a
 * wait on a foreign thread blocks without spinning".
 *
 * - Inversion: a wait must never run, on its own stack, a task that may
 *   wait for the waiter (no cycle in the program, yet a deadlock).
 * - Cycles the waits make themselves are EDEADLK, not a hang.
 * - A wait is not held up by unrelated work from its own deque.
 * - Nesting is bounded by memory, not by the worker's stack.
 * - A herd of foreign waiters is released without spinning.
 */
#include "testlib.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- Inversion ----------------------------------------------------------- */

/* A waits on its group G1; B, in an unrelated outer group G0 that only
 * the test waits on, waits on A (its handle, or A's group). Nothing waits
 * on B, so the program has no cycle. The old scheduler ran B inside A's
 * wait (stolen from the other worker, or from the bottom of A's deque), on
 * top of A's frames: A could not return before B, B waited for A. */
struct inversion {
    unsigned workers;
    bool on_group; /* B waits on A's group rather than A's handle */
    plait_group *g0, *ga;
    _Atomic(plait_task *) a;
    atomic_int c_started, b_spawned, b_started, b_done;
    int b_rc, a_rc;
};

static int inv_b(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct inversion *s = arg;
    tl_raise(&s->b_started);
    s->b_rc = s->on_group ? plait_group_wait(s->ga) : plait_task_wait(atomic_load(&s->a));
    tl_raise(&s->b_done);
    return 0;
}

static int inv_c(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct inversion *s = arg;
    tl_raise(&s->c_started);
    if (s->workers == 1)
        return 0;
    if (plait_go(s->g0, inv_b, s) != 0) /* into this worker's deque */
        return EIO;
    tl_raise(&s->b_spawned);
    /* Until B runs somewhere: it may, on a fiber of its own or on this
     * worker once we return; a bounded spin either way. */
    tl_wait_flag(&s->b_started, 0.3);
    return 0;
}

static int inv_a(plait_ctx *ctx, void *arg)
{
    struct inversion *s = arg;
    if (!TL_SPIN_UNTIL(atomic_load(&s->a) != NULL, TL_WAIT_S))
        return ETIMEDOUT;
    plait_group *g1;
    if (plait_group_create(&g1, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    if (plait_go(g1, inv_c, s) != 0)
        return EIO;
    if (s->workers == 1) {
        if (plait_go(s->g0, inv_b, s) != 0) /* above C in our deque */
            return EIO;
    } else if (!tl_wait_flag(&s->c_started, TL_WAIT_S) || /* the other worker took C */
               !tl_wait_flag(&s->b_spawned, TL_WAIT_S)) {
        return ETIMEDOUT;
    }
    s->a_rc = plait_group_wait(g1);
    plait_group_destroy(g1);
    return 0;
}

static void inversion(unsigned workers, bool on_group)
{
    struct inversion s;
    memset(&s, 0, sizeof s);
    s.workers = workers;
    s.on_group = on_group;
    plait_pool *pool = tl_pool(workers);
    s.ga = tl_group(pool, 0);
    s.g0 = tl_group(pool, 0);
    plait_task *a = plait_spawn(s.ga, inv_a, &s);
    cr_assert_not_null(a);
    atomic_store(&s.a, a);
    /* A deadlock leaves the pool wedged: fail without destroying it. */
    cr_assert(TL_SPIN_UNTIL(plait_task_done(a) && tl_raised(&s.b_done), TL_WAIT_S),
              "deadlock: A done %d, B started %d, B done %d", plait_task_done(a),
              tl_raised(&s.b_started), tl_raised(&s.b_done));
    TL_ASSERT_CODE(plait_task_status(a), 0);
    TL_ASSERT_CODE(s.a_rc, 0);
    TL_ASSERT_CODE(plait_group_wait(s.g0), 0);
    TL_ASSERT_CODE(s.b_rc, 0);
    if (!on_group)
        TL_ASSERT_CODE(plait_group_wait(s.ga), 0);
    plait_task_release(a);
    plait_group_destroy(s.g0);
    plait_group_destroy(s.ga);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 7 */
Test(inversion, a_stolen_task_that_waits_on_the_waiter_is_not_run_under_it, .timeout = TL_TIMEOUT)
{
    inversion(2, false);
}

/* Rule 7 */
Test(inversion, nor_one_from_the_bottom_of_its_own_deque_on_one_worker, .timeout = TL_TIMEOUT)
{
    inversion(1, false);
}

/* Rule 7 */
Test(inversion, nor_one_that_waits_on_the_waiters_group, .timeout = TL_TIMEOUT)
{
    inversion(1, true);
    inversion(2, true);
}

/* ---- Real cycles: EDEADLK ------------------------------------------------ */

struct cycle {
    _Atomic(plait_task *) a;
    plait_group *outer;
    int inner_rc;
};

/* C, a task of A's group G1, waits on A, which waits on G1. */
static int cyc_c(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct cycle *s = arg;
    s->inner_rc = plait_task_wait(atomic_load(&s->a));
    return 0;
}

static int cyc_a(plait_ctx *ctx, void *arg)
{
    struct cycle *s = arg;
    if (!TL_SPIN_UNTIL(atomic_load(&s->a) != NULL, TL_WAIT_S))
        return ETIMEDOUT;
    plait_group *g1;
    if (plait_group_create(&g1, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int r = plait_go(g1, cyc_c, s);
    int w = plait_group_wait(g1); /* one worker: C runs in this wait */
    plait_group_destroy(g1);
    return r != 0 ? r : w;
}

/* Rule 7: a task that waits on a task whose wait runs it. */
Test(cycles, waiting_on_a_task_that_waits_on_you_is_edeadlk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct cycle s = {.inner_rc = -1};
    atomic_init(&s.a, NULL);
    plait_task *a = plait_submit(pool, cyc_a, &s);
    cr_assert_not_null(a);
    atomic_store(&s.a, a);
    cr_assert(TL_SPIN_UNTIL(plait_task_done(a), TL_WAIT_S), "the cycle hangs");
    TL_ASSERT_CODE(plait_task_wait(a), 0);
    TL_ASSERT_CODE(s.inner_rc, EDEADLK);
    plait_task_release(a);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* X, two groups below, waits on the outer group whose task waits on X's. */
static int cyc_x(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct cycle *s = arg;
    s->inner_rc = plait_group_wait(s->outer);
    return 0;
}

static int cyc_t(plait_ctx *ctx, void *arg)
{
    struct cycle *s = arg;
    plait_group *h;
    if (plait_group_create(&h, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int r = plait_go(h, cyc_x, s);
    int w = plait_group_wait(h);
    plait_group_destroy(h);
    return r != 0 ? r : w;
}

/* Rule 7: a task waiting on a group that waits (through a nested group's
 * wait) on it. */
Test(cycles, waiting_on_an_enclosing_group_is_edeadlk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct cycle s = {.inner_rc = -1};
    s.outer = tl_group(pool, 0);
    cr_assert_eq(plait_go(s.outer, cyc_t, &s), 0);
    /* The test's wait is foreign: it sets nothing; T's wait on H, which
     * runs X on the one worker, is what X's chain goes through. */
    TL_ASSERT_CODE(plait_group_wait(s.outer), 0);
    TL_ASSERT_CODE(s.inner_rc, EDEADLK);
    plait_group_destroy(s.outer);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- oneTBB #942 through the waiter's own deque ---------------------------- */

struct own_deque {
    plait_group *g2;
    atomic_int child_started, release_child, t_waiting, release_bg;
    int t_rc;
};

static int od_child(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct own_deque *s = arg;
    tl_raise(&s->child_started);
    return tl_wait_flag(&s->release_child, TL_WAIT_S) ? 0 : EIO;
}

static int od_background(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct own_deque *s = arg;
    return tl_wait_flag(&s->release_bg, TL_WAIT_S) ? 0 : EIO;
}

static int od_t(plait_ctx *ctx, void *arg)
{
    struct own_deque *s = arg;
    plait_group *g1;
    if (plait_group_create(&g1, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    if (plait_go(g1, od_child, s) != 0)
        return EIO;
    if (!tl_wait_flag(&s->child_started, TL_WAIT_S)) /* the other worker stole it */
        return ETIMEDOUT;
    for (int i = 0; i < 2; i++) /* into our own deque, above nothing of G1 */
        if (plait_go(s->g2, od_background, s) != 0)
            return EIO;
    tl_raise(&s->t_waiting);
    s->t_rc = plait_group_wait(g1);
    plait_group_destroy(g1);
    return 0;
}

/* Rule 7 (oneTBB #942): T's wait on G1 must not pop an unrelated task that
 * T queued just before, and sit in it until it ends. */
Test(own_deque, a_wait_does_not_run_unrelated_tasks_from_its_own_deque, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct own_deque s;
    memset(&s, 0, sizeof s);
    s.g2 = tl_group(pool, 0);
    plait_task *t = plait_submit(pool, od_t, &s);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&s.t_waiting));
    tl_raise(&s.release_child);
    /* G1 is done: T must finish while the background tasks still block. */
    /* Seconds on a loaded machine, yet short of the background tasks'
     * TL_WAIT_S: a wait held by one of them still shows. */
    bool t_done = TL_SPIN_UNTIL(plait_task_done(t), TL_WAIT_S / 2);
    tl_raise(&s.release_bg);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(s.t_rc, 0);
    TL_ASSERT_CODE(plait_group_wait(s.g2), 0);
    plait_task_release(t);
    plait_group_destroy(s.g2);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert(t_done, "T's wait ran an unrelated task from its own deque (oneTBB #942)");
}

/* ---- Depth: nesting is bounded by memory, not by the stack ------------------ */

#define SMALL_STACK ((size_t)256 << 10)

static plait_pool *small_stack_pool(void)
{
    plait_pool *p = NULL;
    plait_pool_options o = {.threads = 1, .stack_size = SMALL_STACK};
    TL_ASSERT_CODE(plait_pool_create(&p, &o), 0);
    return p;
}

struct depth {
    unsigned max;
    atomic_uint deepest;
};

static int nest_group(plait_ctx *ctx, void *arg)
{
    struct depth *d = *(struct depth **)arg;
    unsigned level = (unsigned)(uintptr_t)((void **)arg)[1];
    if (level > atomic_load(&d->deepest))
        atomic_store(&d->deepest, level);
    if (level >= d->max)
        return 0;
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    void *next[2] = {d, (void *)(uintptr_t)(level + 1)};
    int r = plait_go(g, nest_group, next);
    int w = plait_group_wait(g); /* one worker: runs the next level here */
    plait_group_destroy(g);
    return r != 0 ? r : w;
}

/* Rule 7 "however deep the nesting": a 256 KiB stack held ~800 levels. */
Test(depth, nested_groups_far_deeper_than_the_workers_stack, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = small_stack_pool();
    struct depth d = {.max = TL_SIZE(20000, 5000)};
    atomic_init(&d.deepest, 0);
    void *root[2] = {&d, (void *)(uintptr_t)0};
    plait_task *t = plait_submit(pool, nest_group, root);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&d.deepest), d.max);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static unsigned join_max;

static int join_level(plait_ctx *ctx, void *arg)
{
    uintptr_t level = (uintptr_t)arg;
    if (level >= join_max)
        return 0;
    return plait_join(ctx, tl_noop_task, NULL, join_level, (void *)(level + 1));
}

/* Rule 7: plait_join recursion, b inline at every level. */
Test(depth, nested_joins_far_deeper_than_the_workers_stack, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = small_stack_pool();
    join_max = TL_SIZE(100000, 20000);
    plait_task *t = plait_submit(pool, join_level, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Every nested task body may count on the reserve: here each level puts
 * 24 KiB on the stack (a quarter of a 256 KiB stack is the reserve). */
static int greedy_level(plait_ctx *ctx, void *arg)
{
    uintptr_t level = (uintptr_t)arg;
    volatile char buf[24 << 10];
    memset((char *)buf, (int)level, sizeof buf);
    if (level >= 400)
        return buf[level % sizeof buf] == (char)level ? 0 : EPROTO;
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int r = plait_go(g, greedy_level, (void *)(level + 1));
    int w = plait_group_wait(g);
    plait_group_destroy(g);
    return r != 0 ? r : w != 0 ? w : buf[0] == (char)level ? 0 : EPROTO;
}

/* Rule 7 */
Test(depth, nested_tasks_with_big_frames_have_the_reserve, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = small_stack_pool();
    plait_task *t = plait_submit(pool, greedy_level, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(depth, a_stack_size_below_the_minimum_is_einval)
{
    plait_pool *p = NULL;
    plait_pool_options o = {.threads = 1, .stack_size = 1};
    TL_ASSERT_CODE(plait_pool_create(&p, &o), EINVAL);
}

/* ---- A herd of foreign waiters ------------------------------------------------ */

#define HERD 8

struct herd {
    plait_group *g;
    atomic_int gate, ready;
    _Atomic pid_t tid[HERD];
    uint64_t cpu_ns[HERD];
    int rc[HERD];
};

struct herd_arg {
    struct herd *h;
    int i;
};

static int herd_gated(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    return tl_wait_flag(&((struct herd *)arg)->gate, TL_WAIT_S) ? 0 : EIO;
}

static void *herd_waiter(void *arg)
{
    struct herd_arg *a = arg;
    atomic_store(&a->h->tid[a->i], (pid_t)syscall(SYS_gettid));
    atomic_fetch_add(&a->h->ready, 1);
    uint64_t c0 = tl_thread_cpu_ns();
    a->h->rc[a->i] = plait_group_wait(a->h->g);
    a->h->cpu_ns[a->i] = tl_thread_cpu_ns() - c0;
    return NULL;
}

/* Rule 7 "a wait on a foreign thread blocks without spinning": eight
 * waiters and the worker share one CPU. A woken waiter used to spin until
 * the setter had woken all the others: with one CPU, it spun away the
 * setter's timeslices (14 ms of CPU per wait on average). */
Test(herd, foreign_waiters_on_one_cpu_are_released_without_spinning, .timeout = TL_TIMEOUT)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    plait_pool *pool = tl_pool(1); /* the worker inherits the mask */
    uint64_t total = 0;
    for (int round = 0; round < 5; round++) {
        struct herd h;
        memset(&h, 0, sizeof h);
        h.g = tl_group(pool, 0);
        cr_assert_eq(plait_go(h.g, herd_gated, &h), 0);
        struct herd_arg args[HERD];
        pthread_t th[HERD];
        for (int i = 0; i < HERD; i++) {
            args[i] = (struct herd_arg){&h, i};
            th[i] = tl_thread(herd_waiter, &args[i]);
        }
        TL_AWAIT(atomic_load(&h.ready) == HERD);
        for (int i = 0; i < HERD; i++) /* all asleep in their wait */
            TL_AWAIT(tl_thread_asleep((int)atomic_load(&h.tid[i])));
        tl_raise(&h.gate);
        for (int i = 0; i < HERD; i++) {
            tl_join_thread(th[i]);
            TL_ASSERT_CODE(h.rc[i], 0);
            total += h.cpu_ns[i];
        }
        plait_group_destroy(h.g);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_log_info("herd: %.3f ms CPU for %d waits", total / 1e6, 5 * HERD);
    /* Generous: blocking waiters use microseconds each (spinning ones
     * used milliseconds each: 24 ms in all, and more when they all slept). */
    cr_assert_lt(total, 8000000u, "the waiters burned %.1f ms of CPU in %d waits", total / 1e6,
                 5 * HERD);
}
