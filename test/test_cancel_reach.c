/*
 * The reach of a cancellation (src/cancel.h): what a task may observe of
 * its own cancellation only once the groups it created are cancelled
 * (rule 4, in order), which sleepers a cancellation wakes (those it
 * reaches, and no others), and cancelling a chain of nested groups far
 * deeper than any stack would allow recursion for.
 */
#include "testlib.h"

#include <sys/syscall.h>

/* ---- Rule 4, in order ----------------------------------------------------
 * A task that sees its own cancellation (plait_sleep's ECANCELED,
 * plait_cancelled) must find every group it created already cancelled:
 * plait_go into it refuses, nothing runs there, its wait says ECANCELED.
 * The decoys are more groups created after N: a walk of the creator's list
 * meets them first (newest first), which leaves a wide window between the
 * moment the task could see its flag and the moment N is cancelled, if
 * the flag came first. */

#define R4_DECOYS TL_SIZE(1000, 300)
#define R4_ITERS TL_SIZE(25, 8)
#define LONG_SLEEP_NS 60000000000ull

enum r4_cancel { R4_TASK, R4_GROUP };

struct r4 {
    atomic_int ready, ran;
    int sleep_rc, go_rc, wait_rc;
    bool cancelled_seen;
};

/* Creates the group n the task will use, then the decoys, in that order:
 * the walk of the creator's list, newest first, meets the decoys first. */
static int r4_create_groups(plait_pool *pool, plait_group **n, plait_group ***decoys)
{
    plait_group **d = malloc(sizeof *d * R4_DECOYS);
    if (d == NULL || plait_group_create(n, pool, 0) != 0)
        return ENOMEM;
    for (int i = 0; i < R4_DECOYS; i++)
        if (plait_group_create(&d[i], pool, 0) != 0)
            return ENOMEM;
    *decoys = d;
    return 0;
}

static void r4_destroy_groups(plait_group *n, plait_group **d)
{
    plait_group_destroy(n);
    for (int i = 0; i < R4_DECOYS; i++)
        plait_group_destroy(d[i]);
    free(d);
}

/* Creates N and the decoys, waits to be cancelled, then uses N. */
static int r4_creator(plait_ctx *ctx, void *arg)
{
    struct r4 *it = arg;
    plait_group *n, **d;
    if (r4_create_groups(plait_ctx_pool(ctx), &n, &d) != 0)
        return ENOMEM;
    tl_raise(&it->ready);
    it->sleep_rc = plait_sleep(ctx, LONG_SLEEP_NS);
    it->cancelled_seen = plait_cancelled(ctx);
    it->go_rc = plait_go(n, tl_count_task, &it->ran);
    it->wait_rc = plait_group_wait(n);
    r4_destroy_groups(n, d);
    return ECANCELED;
}

/* Counts the iterations where the task saw its cancellation and N was
 * still usable. */
static int r4_run(enum r4_cancel how)
{
    plait_pool *pool = tl_pool(2);
    int bad = 0;
    for (int i = 0; i < R4_ITERS; i++) {
        struct r4 it = {0};
        plait_group *outer = tl_group(pool, 0);
        plait_task *t = plait_spawn(outer, r4_creator, &it);
        cr_assert_not_null(t);
        TL_AWAIT(tl_raised(&it.ready));
        if (how == R4_TASK)
            TL_ASSERT_CODE(plait_task_cancel(t), 0);
        else
            TL_ASSERT_CODE(plait_group_cancel(outer), 0);
        TL_ASSERT_CODE(plait_group_wait(outer), how == R4_TASK ? 0 : ECANCELED);
        plait_task_release(t);
        plait_group_destroy(outer);
        cr_assert_eq(it.sleep_rc, ECANCELED, "the task did not see its cancellation: %d",
                     it.sleep_rc);
        cr_assert(it.cancelled_seen, "plait_cancelled false after the sleep said ECANCELED");
        bad += it.go_rc != ECANCELED || atomic_load(&it.ran) != 0 || it.wait_rc != ECANCELED;
    }
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    return bad;
}

Test(rule4_order, a_task_woken_by_plait_task_cancel_finds_its_groups_cancelled,
     .timeout = TL_TIMEOUT)
{
    int bad = r4_run(R4_TASK);
    cr_assert_eq(bad, 0, "%d/%d iterations: plait_sleep said ECANCELED, the nested group was live",
                 bad, R4_ITERS);
}

Test(rule4_order, a_task_woken_by_plait_group_cancel_finds_its_groups_cancelled,
     .timeout = TL_TIMEOUT)
{
    int bad = r4_run(R4_GROUP);
    cr_assert_eq(bad, 0, "%d/%d iterations: plait_sleep said ECANCELED, the nested group was live",
                 bad, R4_ITERS);
}

/* Two levels: cancelling the outer group reaches task U in nested group N
 * (through N's flag); when U sees it, the group M that U created must be
 * cancelled too. */
struct r4_deep {
    atomic_int ready, ran;
    int sleep_rc, go_rc, wait_rc;
};

static int r4_inner(plait_ctx *ctx, void *arg)
{
    struct r4_deep *it = arg;
    plait_group *m, **d;
    if (r4_create_groups(plait_ctx_pool(ctx), &m, &d) != 0)
        return ENOMEM;
    tl_raise(&it->ready);
    it->sleep_rc = plait_sleep(ctx, LONG_SLEEP_NS);
    it->go_rc = plait_go(m, tl_count_task, &it->ran);
    it->wait_rc = plait_group_wait(m);
    r4_destroy_groups(m, d);
    return ECANCELED;
}

static int r4_outer(plait_ctx *ctx, void *arg)
{
    plait_group *n;
    if (plait_group_create(&n, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int rc = plait_go(n, r4_inner, arg);
    int w = plait_group_wait(n);
    plait_group_destroy(n);
    return rc != 0 ? rc : w;
}

Test(rule4_order, a_task_two_levels_down_finds_its_groups_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    int bad = 0;
    for (int i = 0; i < R4_ITERS; i++) {
        struct r4_deep it = {0};
        plait_group *outer = tl_group(pool, 0);
        cr_assert_eq(plait_go(outer, r4_outer, &it), 0);
        TL_AWAIT(tl_raised(&it.ready));
        TL_ASSERT_CODE(plait_group_cancel(outer), 0);
        TL_ASSERT_CODE(plait_group_wait(outer), ECANCELED);
        plait_group_destroy(outer);
        cr_assert_eq(it.sleep_rc, ECANCELED);
        bad += it.go_rc != ECANCELED || atomic_load(&it.ran) != 0 || it.wait_rc != ECANCELED;
    }
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    cr_assert_eq(bad, 0, "%d/%d iterations: the inner task saw ECANCELED, its group was live", bad,
                 R4_ITERS);
}

/* The creator's rule, with the flag last: a task creating groups as fast
 * as it can while it is being cancelled. Every group it holds when it
 * sees its cancellation must be cancelled: those the walk found, and
 * those created after it (born cancelled). */
#define CR_MAX 4096

struct creator_race {
    atomic_int ready;
    int created, live; /* groups made; of them, not cancelled */
};

static int creator_loop(plait_ctx *ctx, void *arg)
{
    struct creator_race *cr = arg;
    plait_group **gs = malloc(sizeof *gs * CR_MAX);
    if (gs == NULL)
        return ENOMEM;
    int n = 0;
    tl_raise(&cr->ready);
    while (!plait_cancelled(ctx)) {
        if (n == CR_MAX) { /* keep the newest half alive, and the list short */
            for (int i = 0; i < CR_MAX / 2; i++)
                plait_group_destroy(gs[i]);
            memmove(gs, gs + CR_MAX / 2, sizeof *gs * (CR_MAX / 2));
            n = CR_MAX / 2;
        }
        if (plait_group_create(&gs[n], plait_ctx_pool(ctx), 0) != 0)
            return ENOMEM;
        n++;
        cr->created++;
    }
    for (int i = 0; i < n; i++) {
        if (plait_go(gs[i], tl_noop_task, NULL) != ECANCELED)
            cr->live++;
        plait_group_destroy(gs[i]);
    }
    free(gs);
    return ECANCELED;
}

Test(rule4_order, groups_created_during_the_cancellation_are_found_or_born_cancelled,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    int live = 0, created = 0;
    for (int i = 0; i < TL_SIZE(200, 40); i++) {
        struct creator_race cr = {0};
        plait_group *g = tl_group(pool, 0);
        plait_task *t = plait_spawn(g, creator_loop, &cr);
        cr_assert_not_null(t);
        TL_AWAIT(tl_raised(&cr.ready));
        for (volatile int s = 0; s < (i % 16) * 500; s++) { /* vary the moment */
        }
        if (i % 2)
            plait_task_cancel(t);
        else
            plait_group_cancel(g);
        TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
        plait_task_release(t);
        plait_group_wait(g);
        plait_group_destroy(g);
        live += cr.live;
        created += cr.created;
    }
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    cr_assert_eq(live, 0, "%d of %d groups were live after their creator saw its cancellation",
                 live, created);
}

/* ---- Only the sleepers a cancellation reaches wake -----------------------
 * The sleeper's worker thread must not be woken by cancellations that do
 * not reach it: in another pool, of another group of its pool, of a
 * sibling task in its own group (which must itself wake). Seen through
 * the thread's voluntary context switches (/proc): a sleeping thread that
 * nobody wakes makes none. Each cancellation waits for the sleeper's
 * thread to be asleep again (state S), so that wake-ups cannot merge. */

struct watched {
    atomic_int tid; /* of the sleeper's worker, once it sleeps */
    atomic_int sleeping;
};

static int watched_sleeper(plait_ctx *ctx, void *arg)
{
    struct watched *w = arg;
    atomic_store(&w->tid, (int)syscall(SYS_gettid));
    tl_raise(&w->sleeping);
    return plait_sleep(ctx, LONG_SLEEP_NS);
}

static long thread_switches(int tid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
            break;
    fclose(f);
    cr_assert_geq(v, 0);
    return v;
}

static int sibling_sleeper(plait_ctx *ctx, void *arg)
{
    tl_raise(arg);
    return plait_sleep(ctx, LONG_SLEEP_NS);
}

Test(sleepers, a_cancellation_wakes_only_the_sleepers_it_reaches, .timeout = TL_TIMEOUT)
{
    plait_pool *p1 = tl_pool(2), *p2 = tl_pool(1);
    struct watched w = {0};
    plait_group *s = tl_group(p1, 0);
    plait_task *st = plait_spawn(s, watched_sleeper, &w);
    cr_assert_not_null(st);
    TL_AWAIT(tl_raised(&w.sleeping));
    int tid = atomic_load(&w.tid);
    TL_AWAIT(tl_thread_asleep(tid));
    long before = thread_switches(tid);
    const int rounds = 40;
    for (int i = 0; i < rounds; i++) {
        /* A group of another pool, and an empty group of the same pool. */
        plait_group *other = tl_group(i % 2 ? p2 : p1, 0);
        TL_AWAIT(tl_thread_asleep(tid));
        TL_ASSERT_CODE(plait_group_cancel(other), 0);
        TL_ASSERT_CODE(plait_group_wait(other), ECANCELED);
        plait_group_destroy(other);
        /* A sibling in the sleeper's own group: it wakes, ours does not. */
        atomic_int up = 0;
        plait_task *sib = plait_spawn(s, sibling_sleeper, &up);
        cr_assert_not_null(sib);
        TL_AWAIT(tl_raised(&up));
        TL_AWAIT(tl_thread_asleep(tid));
        TL_ASSERT_CODE(plait_task_cancel(sib), 0);
        TL_ASSERT_CODE(plait_task_wait(sib), ECANCELED);
        plait_task_release(sib);
    }
    TL_AWAIT(tl_thread_asleep(tid));
    long woken = thread_switches(tid) - before;
    cr_assert_eq(plait_task_done(st), false, "the sleeper left its sleep");
    /* Generous: a stray wake-up or two from the system is not a herd. */
    cr_assert_leq(woken, 8, "%d cancellations not reaching it woke the sleeper's thread %ld times",
                  2 * rounds, woken);
    /* And the one that reaches it wakes it. */
    TL_ASSERT_CODE(plait_group_cancel(s), 0);
    TL_ASSERT_CODE(plait_task_wait(st), ECANCELED);
    plait_task_release(st);
    TL_ASSERT_CODE(plait_group_wait(s), ECANCELED);
    plait_group_destroy(s);
    TL_ASSERT_CODE(plait_pool_destroy(p1), 0);
    TL_ASSERT_CODE(plait_pool_destroy(p2), 0);
}

/* A sleep in a join child is reached by its task's cancellation; and a
 * sleep whose deadline passes while a cancellation claims it returns
 * either code, never hangs. */
static int join_sleeper(plait_ctx *ctx, void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return plait_sleep(ctx, LONG_SLEEP_NS);
}

static int join_task(plait_ctx *ctx, void *arg)
{
    return plait_join(ctx, join_sleeper, arg, join_sleeper, arg);
}

Test(sleepers, a_task_cancel_wakes_sleepers_in_its_join_children, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(3);
    plait_group *g = tl_group(pool, 0);
    atomic_int started = 0;
    plait_task *t = plait_spawn(g, join_task, &started);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&started) == 2); /* a stolen, b inline: both asleep */
    TL_ASSERT_CODE(plait_task_cancel(t), 0);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
}

static int short_sleeper(plait_ctx *ctx, void *arg)
{
    (void)arg;
    for (;;) {
        int rc = plait_sleep(ctx, 20000);
        if (rc != 0)
            return rc;
    }
}

Test(sleepers, deadlines_racing_cancellations_never_hang, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    for (int i = 0; i < TL_SIZE(150, 40); i++) {
        plait_group *g = tl_group(pool, 0);
        plait_task *t[3];
        for (int k = 0; k < 3; k++)
            cr_assert_not_null(t[k] = plait_spawn(g, short_sleeper, NULL));
        for (volatile int s = 0; s < (i % 10) * 2000; s++) {
        }
        plait_task_cancel(t[i % 3]);
        TL_ASSERT_CODE(plait_task_wait(t[i % 3]), ECANCELED);
        plait_group_cancel(g);
        for (int k = 0; k < 3; k++) {
            TL_ASSERT_CODE(plait_task_wait(t[k]), ECANCELED);
            plait_task_release(t[k]);
        }
        TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
        plait_group_destroy(g);
    }
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
}

/* ---- A deep chain ----------------------------------------------------------
 * Level k's task creates group k+1, spawns level k+1 into it and waits,
 * on one worker (a wait runs the next level on top of its own frames:
 * about 320 bytes a level, so 20,000 levels fit in the worker's 8 MiB
 * stack). The deepest raises `bottom` and waits for its cancellation.
 * Then a thread with a 256 KiB stack cancels the top group: the walk that
 * recursed once per level overflowed it near 5,400 levels. Under a
 * sanitizer, 3,000 levels: frames are larger (the recursive walk died
 * below 1,500 levels under TSan, 2,500 under ASan), and building the chain
 * is slow there (TSan: 7 s for 5,000). */

#ifndef CHAIN_DEPTH /* -DCHAIN_DEPTH=N to try another depth */
#define CHAIN_DEPTH TL_SIZE(20000, 3000)
#endif
#define CANCELLER_STACK (256 * 1024)

static atomic_int chain_bottom, chain_saw;
static plait_group *chain_top;

static int chain_level(plait_ctx *ctx, void *arg)
{
    uintptr_t k = (uintptr_t)arg;
    if (k + 1 >= CHAIN_DEPTH) {
        tl_raise(&chain_bottom);
        if (!TL_SPIN_UNTIL(plait_cancelled(ctx), 60.0))
            return ETIMEDOUT;
        atomic_fetch_add(&chain_saw, 1);
        return ECANCELED;
    }
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int rc = plait_go(g, chain_level, (void *)(k + 1));
    int w = plait_group_wait(g);
    plait_group_destroy(g);
    if (rc == 0 && w == ECANCELED && plait_cancelled(ctx))
        atomic_fetch_add(&chain_saw, 1);
    return rc != 0 ? rc : w == ECANCELED ? ECANCELED : EPROTO;
}

static void *chain_canceller(void *arg)
{
    (void)arg;
    plait_group_cancel(chain_top);
    return NULL;
}

Test(deep_chain, cancelling_a_deep_chain_from_a_256k_stack, .timeout = 60)
{
    plait_pool *pool = tl_pool(1);
    chain_top = tl_group(pool, 0);
    cr_assert_eq(plait_go(chain_top, chain_level, (void *)0), 0);
    cr_assert(tl_wait_flag(&chain_bottom, 50.0), "the chain of %d levels was not built",
              CHAIN_DEPTH);
    pthread_attr_t at;
    pthread_attr_init(&at);
    cr_assert_eq(pthread_attr_setstacksize(&at, CANCELLER_STACK), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, &at, chain_canceller, NULL), 0);
    pthread_attr_destroy(&at);
    tl_join_thread(th);
    TL_ASSERT_CODE(plait_group_wait(chain_top), ECANCELED);
    plait_group_destroy(chain_top);
    cr_assert_eq(atomic_load(&chain_saw), CHAIN_DEPTH, "%d of %d levels saw the cancellation",
                 atomic_load(&chain_saw), CHAIN_DEPTH);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
}
