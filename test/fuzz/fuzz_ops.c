/*
 * fuzz_ops — libFuzzer target: each input is decoded into a sequence of
 * API operations on a small pool (2 workers, kept across inputs): group
 * create / go / spawn / submit / cancel / deadline / wait / destroy, task
 * cancel / wait / status, parallel_for with arbitrary ranges and grains,
 * and task bodies that succeed, fail, return ECANCELED, sleep, spin on
 * cancellation, nest a group, join, or wait on their own group.
 *
 * After each sequence (everything waited and released, so the pool is
 * quiet) it checks, and aborts on a violation:
 *   - every task body ran at most once and returned;
 *   - each group's wait result and error array agree with what its task
 *     bodies returned (one error per failing body, nothing else);
 *   - pending is 0 after every wait; spawns after a wait are refused;
 *   - the pool's stats moved by exactly the tasks created, split as the
 *     bodies returned (succeeded / failed / cancelled).
 *
 * Build and run: test/fuzz/run.sh [seconds].
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plait.h>

#define MAXT 256
#define NG 4
#define NH 8

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_ops: invariant failed at line %d: %s\n", __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fg;

struct ft {
    uint8_t prog;
    struct fg *grp;
    _Atomic int entries, exits, rc;
    _Atomic(plait_task *) self;
};

struct fg {
    plait_group *g;
    unsigned flags;
    _Atomic int failures; /* bodies that returned an error */
    bool cancelled, deadline;
};

static plait_pool *pool;
static struct ft tasks[MAXT];
static _Atomic unsigned ntasks;
static _Atomic uint64_t created; /* tasks made by spawn / go / submit */
static _Atomic uint64_t body_ok, body_failed;

static bool failing(int rc)
{
    return rc != 0 && rc != ECANCELED;
}

static struct ft *task_new(uint8_t prog, struct fg *grp)
{
    unsigned i = atomic_fetch_add(&ntasks, 1);
    if (i >= MAXT)
        return NULL;
    struct ft *t = &tasks[i];
    t->prog = prog;
    t->grp = grp;
    atomic_store(&t->rc, -1);
    return t;
}

static int body(plait_ctx *ctx, void *arg);

static int leaf(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    return (int)(uintptr_t)arg;
}

/* Runs in a task: a nested group with a few children. */
static int nest(plait_ctx *ctx, uint8_t prog)
{
    struct fg sub = {.flags = prog & 1 ? PLAIT_GROUP_COLLECT_ALL : 0};
    int r = plait_group_create(&sub.g, plait_ctx_pool(ctx), sub.flags);
    REQUIRE(r == 0);
    unsigned n = 1 + (prog >> 5);
    for (unsigned i = 0; i < n; i++) {
        /* Children are leaves: programs 0..3 only. */
        struct ft *t = task_new((uint8_t)((prog + i) & 3), &sub);
        if (t == NULL)
            break;
        int e = plait_go(sub.g, body, t);
        REQUIRE(e == 0 || e == ECANCELED);
        if (e == 0)
            atomic_fetch_add(&created, 1);
    }
    r = plait_group_wait(sub.g);
    const plait_error *errs;
    size_t ne = plait_group_errors(sub.g, &errs);
    REQUIRE(plait_group_pending(sub.g) == 0);
    REQUIRE(ne == (size_t)atomic_load(&sub.failures));
    REQUIRE(ne == 0 ? (r == 0 || r == ECANCELED) : r == errs[0].code);
    plait_group_destroy(sub.g);
    return r;
}

static int body(plait_ctx *ctx, void *arg)
{
    struct ft *t = arg;
    REQUIRE(atomic_fetch_add(&t->entries, 1) == 0);
    int rc = 0;
    switch (t->prog & 7) {
    case 0:
        rc = 0;
        break;
    case 1:
        rc = plait_fail(ctx, EIO + (t->prog >> 6), "fail %u", t->prog);
        break;
    case 2:
        rc = ECANCELED;
        break;
    case 3:
        rc = plait_sleep(ctx, (uint64_t)(t->prog >> 3) * 20000);
        REQUIRE(rc == 0 || rc == ECANCELED);
        break;
    case 4: {
        struct timespec ts, now;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        for (;;) {
            if (plait_cancelled(ctx)) {
                rc = ECANCELED;
                break;
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - ts.tv_sec) * 1000000000L + (now.tv_nsec - ts.tv_nsec) >
                (long)(t->prog >> 3) * 10000)
                break;
        }
        break;
    }
    case 5:
        rc = nest(ctx, t->prog);
        break;
    case 6:
        rc = plait_join(ctx, leaf, (void *)(uintptr_t)(t->prog & 8 ? EDOM : 0), leaf,
                        (void *)(uintptr_t)(t->prog & 16 ? ERANGE : 0));
        /* b runs inline always; a may be skipped when the task is cancelled. */
        if (t->prog & 16)
            REQUIRE(rc == ERANGE || (rc == EDOM && (t->prog & 8)));
        else if (t->prog & 8)
            REQUIRE(rc == EDOM || rc == ECANCELED);
        else
            REQUIRE(rc == 0 || rc == ECANCELED);
        break;
    case 7:
        if (t->grp != NULL)
            REQUIRE(plait_group_wait(t->grp->g) == EDEADLK);
        {
            plait_task *self = atomic_load(&t->self);
            if (self != NULL)
                REQUIRE(plait_task_wait(self) == EDEADLK);
        }
        rc = 0;
        break;
    }
    if (failing(rc)) {
        atomic_fetch_add(&body_failed, 1);
        if (t->grp != NULL)
            atomic_fetch_add(&t->grp->failures, 1);
    } else if (rc == 0) {
        atomic_fetch_add(&body_ok, 1);
    }
    atomic_store(&t->rc, rc);
    atomic_fetch_add(&t->exits, 1);
    return rc;
}

struct pf {
    _Atomic uint64_t covered;
    size_t fail_at;
};

static int pf_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    struct pf *p = arg;
    REQUIRE(b < e);
    atomic_fetch_add(&p->covered, e - b);
    if (p->fail_at >= b && p->fail_at < e)
        return plait_fail(ctx, EILSEQ, "chunk");
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    plait_pool_options o = {.threads = 2, .name = "fuzz"};
    REQUIRE(plait_pool_create(&pool, &o) == 0);
    return 0;
}

static void wait_group(struct fg *g)
{
    int r = plait_group_wait(g->g);
    const plait_error *errs;
    size_t ne = plait_group_errors(g->g, &errs);
    REQUIRE(plait_group_pending(g->g) == 0);
    REQUIRE(ne == (size_t)atomic_load(&g->failures));
    for (size_t i = 0; i < ne; i++)
        REQUIRE(failing(errs[i].code) && errs[i].task_id != 0);
    if (ne > 0)
        REQUIRE(r == errs[0].code);
    else if (g->cancelled)
        REQUIRE(r == ECANCELED || r == ETIMEDOUT);
    else if (!g->deadline)
        REQUIRE(r == 0);
    else
        REQUIRE(r == 0 || r == ETIMEDOUT || r == ECANCELED);
    REQUIRE(plait_group_wait(g->g) == EINVAL);
    REQUIRE(plait_go(g->g, leaf, NULL) == EINVAL);
    plait_group_destroy(g->g);
    g->g = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        size = 256;
    plait_stats st0;
    REQUIRE(plait_pool_stats(pool, &st0) == 0);
    memset(tasks, 0, sizeof tasks);
    atomic_store(&ntasks, 0);
    atomic_store(&created, 0);
    atomic_store(&body_ok, 0);
    atomic_store(&body_failed, 0);
    struct fg groups[NG];
    memset(groups, 0, sizeof groups);
    plait_task *handles[NH] = {0};

    size_t i = 0;
#define NEXT() (i < size ? data[i++] : 0)
    while (i < size) {
        uint8_t op = NEXT();
        uint8_t a = NEXT();
        struct fg *g = &groups[a % NG];
        unsigned h = a % NH;
        switch (op % 13) {
        case 0: /* create */
            if (g->g == NULL) {
                memset(g, 0, sizeof *g);
                g->flags = a & 0x80 ? PLAIT_GROUP_COLLECT_ALL : 0;
                REQUIRE(plait_group_create(&g->g, pool, g->flags) == 0);
            }
            break;
        case 1: /* go */
        case 2: /* spawn */
            if (g->g != NULL) {
                struct ft *t = task_new(NEXT(), g);
                if (t == NULL)
                    break;
                if (op % 13 == 1) {
                    int r = plait_go(g->g, body, t);
                    REQUIRE(r == 0 || (r == ECANCELED && g->cancelled) || r == ECANCELED);
                    if (r == 0)
                        atomic_fetch_add(&created, 1);
                } else if (handles[h] == NULL) {
                    plait_task *x = plait_spawn(g->g, body, t);
                    REQUIRE(x != NULL);
                    atomic_store(&t->self, x);
                    atomic_fetch_add(&created, 1);
                    handles[h] = x;
                    if (g->cancelled)
                        REQUIRE(plait_task_done(x) && plait_task_status(x) == ECANCELED);
                }
            }
            break;
        case 3: /* submit */
            if (handles[h] == NULL) {
                struct ft *t = task_new(NEXT(), NULL);
                if (t == NULL)
                    break;
                plait_task *x = plait_submit(pool, body, t);
                REQUIRE(x != NULL);
                atomic_store(&t->self, x);
                atomic_fetch_add(&created, 1);
                handles[h] = x;
            }
            break;
        case 4: /* cancel group */
            if (g->g != NULL) {
                REQUIRE(plait_group_cancel(g->g) == 0);
                g->cancelled = true;
            }
            break;
        case 5: /* deadline */
            if (g->g != NULL) {
                REQUIRE(plait_group_set_timeout(g->g, (uint64_t)NEXT() * 10000) == 0);
                g->deadline = true;
            }
            break;
        case 6: /* wait */
            if (g->g != NULL)
                wait_group(g);
            break;
        case 7: /* destroy without wait */
            if (g->g != NULL) {
                plait_group_destroy(g->g);
                g->g = NULL;
            }
            break;
        case 8: /* cancel task */
            REQUIRE(plait_task_cancel(handles[h]) == (handles[h] ? 0 : EINVAL));
            break;
        case 9: /* wait task */
            if (handles[h] != NULL) {
                int r = plait_task_wait(handles[h]);
                REQUIRE(r == plait_task_status(handles[h]));
                REQUIRE(plait_task_done(handles[h]));
                plait_task_release(handles[h]);
                handles[h] = NULL;
            }
            break;
        case 10: { /* parallel_for from this thread */
            size_t b = NEXT(), len = NEXT(), grain = NEXT() % 16;
            uint8_t m = NEXT();
            if (m & 1) { /* near SIZE_MAX */
                b = SIZE_MAX - b - len;
            }
            if ((m & 2) && b == 0)
                b = 1;
            size_t e = m & 2 ? b - 1 : b + len; /* m & 2: begin > end */
            struct pf p = {.fail_at = m & 4 ? b + len / 2 : SIZE_MAX};
            int r = plait_parallel_for(pool, b, e, grain, pf_body, &p);
            if (b > e)
                REQUIRE(r == EINVAL);
            else if (p.fail_at != SIZE_MAX && len > 0)
                REQUIRE(r == EILSEQ);
            else
                REQUIRE(r == 0 && atomic_load(&p.covered) == e - b);
            break;
        }
        case 11: /* queries */
            if (handles[h] != NULL) {
                int s = plait_task_status(handles[h]);
                REQUIRE(s == EAGAIN || plait_task_done(handles[h]));
                REQUIRE(plait_task_id(handles[h]) != 0);
            }
            break;
        case 12:
            if (g->g != NULL) {
                const plait_error *e = (const plait_error *)1;
                REQUIRE(plait_group_errors(g->g, &e) == 0 && e == NULL);
                (void)plait_group_pending(g->g);
            }
            break;
        }
    }
    /* Close everything, then check the totals. */
    for (int k = 0; k < NG; k++)
        if (groups[k].g != NULL)
            wait_group(&groups[k]);
    for (int k = 0; k < NH; k++) {
        if (handles[k] != NULL) {
            int r = plait_task_wait(handles[k]);
            REQUIRE(r != EAGAIN);
            plait_task_release(handles[k]);
        }
    }
    unsigned n = atomic_load(&ntasks);
    if (n > MAXT)
        n = MAXT;
    for (unsigned k = 0; k < n; k++) {
        int en = atomic_load(&tasks[k].entries), ex = atomic_load(&tasks[k].exits);
        REQUIRE(en <= 1 && en == ex);
    }
    plait_stats st;
    REQUIRE(plait_pool_stats(pool, &st) == 0);
    uint64_t ok = st.tasks_succeeded - st0.tasks_succeeded;
    uint64_t failed = st.tasks_failed - st0.tasks_failed;
    uint64_t canc = st.tasks_cancelled - st0.tasks_cancelled;
    REQUIRE(ok == atomic_load(&body_ok));
    REQUIRE(failed == atomic_load(&body_failed));
    REQUIRE(ok + failed + canc == atomic_load(&created));
    return 0;
}
