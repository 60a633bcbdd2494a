/*
 * stress_shield — cancellations racing shields (plait_shield) as tasks
 * enter and leave them: cancel.c's walk that stops at a shield, the marks
 * of groups and sleepers created under one, and the hand-over of a
 * shield's groups at its end, against group and task cancellations from
 * a driver thread. For ThreadSanitizer above all.
 *
 * Each round spawns TASKS tasks into an outer group, each with a handle.
 * A task loops: it enters a shield (sometimes two, nested, sometimes from
 * a plait_join branch), and inside creates a group whose tasks check
 * plait_cancelled (and, one level down, create a group of their own),
 * sleeps briefly, joins, and either waits its group or leaves it alive to
 * follow the task after the shield. Outside the shields it creates a group
 * that only a cancellation ends. Meanwhile the driver cancels random tasks
 * and then the outer group, at random moments. Checks:
 *   - inside a shield, plait_cancelled and plait_cancel_cause read not
 *     cancelled, and plait_sleep returns 0;
 *   - no task of a group created under a shield reads cancelled while the
 *     shield lasts, and such a group's wait returns 0;
 *   - after a shield, plait_cancelled(ctx) reads true once a cancellation
 *     reaching the task has returned; a group left alive by a shield ends
 *     cancelled when one has (it follows the task);
 *   - no hang (a watchdog).
 *
 * Options: --rounds N, --seed S.
 */
#include "stress_common.h"

#include <plait.h>

#define TASKS 6
#define WORKERS 12

struct task_rec {
    plait_task *handle;
    _Atomic int cancel_done; /* a plait_task_cancel of it has returned */
    uint64_t seed;
};

static plait_pool *pool;
static struct task_rec tasks[TASKS];
static _Atomic int group_cancel_done; /* the outer group's cancel has returned */
static _Atomic int round_over;        /* raised after it: spinning tasks may leave */
static _Atomic int round_no;
static _Atomic uint64_t progress;

static void dump(void)
{
    fprintf(stderr, "stress_shield: hung in round %d (progress %" PRIu64 ")\n",
            atomic_load(&round_no), atomic_load(&progress));
    plait_pool_dump(pool, stderr, 0);
}

static bool reached(const struct task_rec *t)
{
    /* acquire: pairs with the driver's release after its cancel returned:
     * its flags and epoch bump happen-before our reads. */
    return atomic_load_explicit(&group_cancel_done, memory_order_acquire) ||
           atomic_load_explicit(&t->cancel_done, memory_order_acquire);
}

/* A task of a group created under a shield: it must never read cancelled
 * (nothing cancels its group in its own right). */
static int inner_leaf(plait_ctx *ctx, void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        CHECK(!plait_cancelled(ctx), "a task under a shield read cancelled");
        sched_yield();
    }
    return 0;
}

/* One level down: creates a group of its own (depth 2 under the shield). */
static int inner_task(plait_ctx *ctx, void *arg)
{
    (void)arg;
    plait_group *g;
    if (plait_group_create(&g, pool, 0) != 0)
        return ENOMEM;
    int r = plait_go(g, inner_leaf, NULL);
    int w = plait_group_wait(g);
    CHECK(w == 0, "a group two levels under a shield: wait %d", w);
    plait_group_destroy(g);
    return r != 0 ? r : inner_leaf(ctx, NULL);
}

/* Spins until cancelled, or until the round is over: a wait of its
 * creator may run it (aside, on a fiber that is suspended only if it
 * blocks in a wait), and then, under a shield, no cancellation can reach
 * it before that wait returns. */
static int until_cancelled(plait_ctx *ctx, void *arg)
{
    (void)arg;
    /* acquire: pairs with the driver's release (nothing else travels). */
    while (!plait_cancelled(ctx) && !atomic_load_explicit(&round_over, memory_order_acquire))
        sched_yield();
    return plait_cancelled(ctx) ? ECANCELED : 0;
}

struct body {
    struct task_rec *t;
    plait_group *left; /* a group left alive by the shield */
    bool left_reached; /* a cancellation had returned before the shield ended */
    int depth;
};

static int shielded(plait_ctx *s, void *arg);

static int shielded_child(plait_ctx *ctx, void *arg)
{
    CHECK(!plait_cancelled(ctx), "a join branch under a shield read cancelled");
    struct body *b = arg;
    if (b == NULL)
        return 0;
    return plait_shield(ctx, shielded, b); /* a shield inside a join branch */
}

static int shielded(plait_ctx *s, void *arg)
{
    struct body *b = arg;
    uint64_t *seed = &b->t->seed;
    CHECK(!plait_cancelled(s), "plait_cancelled inside a shield");
    CHECK(plait_cancel_cause(s, NULL) == PLAIT_CANCEL_NONE, "a cause inside a shield");
    unsigned what = (unsigned)st_below(seed, 6);
    if (what == 0 && b->depth < 2) {
        b->depth++;
        int r = plait_shield(s, shielded, b); /* nested */
        b->depth--;
        return r;
    }
    if (what == 1 && b->depth < 2) {
        b->depth++;
        int r = plait_join(s, shielded_child, NULL, shielded_child, b);
        b->depth--;
        return r;
    }
    plait_group *g;
    if (plait_group_create(&g, pool, 0) != 0)
        return ENOMEM;
    if (what == 2 && b->left == NULL) {
        /* Left alive: after the shield it follows the task. */
        int r = plait_go(g, until_cancelled, NULL);
        b->left = g;
        /* Linger a little, so that a cancellation often comes meanwhile. */
        for (int k = 0; k < 50 && !reached(b->t); k++)
            sched_yield();
        b->left_reached = reached(b->t);
        return r;
    }
    int r = plait_go(g, st_below(seed, 2) ? inner_task : inner_leaf, NULL);
    if (r == 0 && st_below(seed, 2)) {
        int sl = plait_sleep(s, st_below(seed, 200000));
        CHECK(sl == 0, "a shielded sleep returned %d", sl);
    }
    int w = plait_group_wait(g);
    CHECK(w == 0, "a group created under a shield: wait %d", w);
    CHECK(!plait_cancelled(s), "plait_cancelled inside a shield after a wait");
    plait_group_destroy(g);
    return r;
}

static int outer_task(plait_ctx *ctx, void *arg)
{
    struct task_rec *t = arg;
    plait_group *out;
    if (plait_group_create(&out, pool, 0) != 0)
        return ENOMEM;
    int r = plait_go(out, until_cancelled, NULL);
    for (int i = 0; r == 0; i++) {
        struct body b = {.t = t, .left = NULL, .depth = 0};
        bool before = reached(t);
        r = plait_shield(ctx, shielded, &b);
        CHECK(r == 0, "plait_shield returned %d", r);
        if (before || reached(t))
            CHECK(plait_cancelled(ctx), "not cancelled after the shield");
        if (b.left != NULL) {
            int w = plait_group_wait(b.left);
            if (b.left_reached)
                CHECK(w == ECANCELED, "a group left by a shield after the cancel: %d", w);
            else
                CHECK(w == 0 || w == ECANCELED, "a group left by a shield: %d", w);
            plait_group_destroy(b.left);
        }
        atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
        if (plait_cancelled(ctx))
            break;
        if (i > 1000)
            r = EIO; /* never cancelled */
    }
    int w = plait_group_wait(out);
    CHECK(w == ECANCELED, "the group outside the shields: %d", w);
    plait_group_destroy(out);
    return r != 0 ? r : ECANCELED;
}

static void round_run(uint64_t *seed)
{
    plait_group *g;
    if (plait_group_create(&g, pool, 0) != 0) {
        CHECK(false, "plait_group_create");
        return;
    }
    atomic_store(&group_cancel_done, 0);
    atomic_store(&round_over, 0);
    for (int i = 0; i < TASKS; i++) {
        atomic_store(&tasks[i].cancel_done, 0);
        tasks[i].seed = st_next(seed) | 1;
        tasks[i].handle = plait_spawn(g, outer_task, &tasks[i]);
        CHECK(tasks[i].handle != NULL, "plait_spawn");
    }
    /* Random task cancellations, then the group's, at random moments. */
    unsigned n = (unsigned)st_below(seed, TASKS);
    for (unsigned k = 0; k < n; k++) {
        st_sleep_ns(st_below(seed, 300000));
        struct task_rec *t = &tasks[st_below(seed, TASKS)];
        if (t->handle == NULL)
            continue;
        plait_task_cancel(t->handle);
        /* release: pairs with reached()'s acquire. */
        atomic_store_explicit(&t->cancel_done, 1, memory_order_release);
    }
    st_sleep_ns(st_below(seed, 3000000));
    plait_group_cancel(g);
    atomic_store_explicit(&group_cancel_done, 1, memory_order_release);
    atomic_store_explicit(&round_over, 1, memory_order_release);
    int w = plait_group_wait(g);
    CHECK(w == ECANCELED || w == 0, "the outer group: %d", w);
    for (int i = 0; i < TASKS; i++) {
        if (tasks[i].handle == NULL)
            continue;
        int r = plait_task_wait(tasks[i].handle);
        CHECK(r == ECANCELED, "task %d: %d", i, r);
        plait_task_release(tasks[i].handle);
        tasks[i].handle = NULL;
    }
    plait_group_destroy(g);
    st_watchdog_kick();
}

int main(int argc, char **argv)
{
    uint64_t rounds = st_arg_u64(argc, argv, "--rounds", st_scaled(2000, 100));
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_shield: %" PRIu64 " rounds, seed %" PRIu64 "\n", rounds, seed);
    fflush(stdout);
    st_watchdog_start(ST_SANITIZED ? 120 : 30, dump);
    plait_pool_options o = {.threads = WORKERS};
    if (plait_pool_create(&pool, &o) != 0) {
        fprintf(stderr, "pool_create failed\n");
        return 1;
    }
    for (uint64_t r = 0; r < rounds; r++) {
        atomic_store(&round_no, (int)r);
        st_unit_begin();
        round_run(&seed);
        st_unit_end();
    }
    CHECK(plait_pool_destroy(pool) == 0, "pool_destroy");
    st_watchdog_stop();
    printf("stress_shield: %" PRIu64 " shields entered and left\n", atomic_load(&progress));
    return st_finish("stress_shield");
}
