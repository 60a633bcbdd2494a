/*
 * bad_input — every public function fed the inputs it must refuse (NULL
 * handles and functions, calls after a wait or after destroy began, waits
 * that could never finish, huge counts, empty / inverted / SIZE_MAX
 * ranges). Each row is one function and one bad input with the result the
 * contract promises; each is checked here. `bad_input --table` prints the
 * rows as the Markdown table in docs/RELIABILITY.md.
 *
 * Standalone (no test framework), so that it runs in every build.
 */
#include "stress_common.h"

#include <limits.h>

#include <plait.h>

static bool table_mode;
static unsigned rows_ok, rows_bad;

static void row(const char *fn, const char *input, const char *expect, bool ok)
{
    if (ok)
        rows_ok++;
    else
        rows_bad++;
    if (table_mode)
        printf("| `%s` | %s | %s |%s\n", fn, input, expect, ok ? "" : " **FAILS** |");
    else if (!ok)
        printf("FAIL %s: %s: expected %s\n", fn, input, expect);
    else
        printf("ok   %s: %s -> %s\n", fn, input, expect);
}

static plait_pool *pool;

static int nop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int sleep_ms(plait_ctx *ctx, void *arg)
{
    return plait_sleep(ctx, (uint64_t)(uintptr_t)arg * 1000000u);
}

/* ---- Tasks that probe their own context ------------------------------ */

struct probe {
    plait_group *g;
    plait_task *_Atomic self;
    _Atomic int started;
    int r1, r2, r3, r4, r5;
    void *p;
    bool b;
};

static int probe_wait_own(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    (void)ctx;
    p->r1 = plait_group_wait(p->g);
    plait_task *self;
    while ((self = atomic_load(&p->self)) == NULL)
        ;
    p->r2 = plait_task_wait(self);
    return 0;
}

static int probe_ctx(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    p->r1 = plait_fail(ctx, 0, "zero code"); /* returns 0 */
    p->r2 = plait_fail(ctx, EIO, NULL);      /* NULL fmt: returns code */
    p->r3 = plait_sleep(ctx, 0);             /* 0 */
    p->p = plait_ctx_pool(ctx);
    p->b = plait_current() == ctx;
    plait_set_result(ctx, (void *)0x1234);
    plait_set_result(NULL, (void *)0x1); /* no-op */
    return 0;
}

static int jnop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int probe_join_wrong_ctx(plait_ctx *ctx, void *arg)
{
    /* Inside branch b, the parent's context is not the running one. */
    plait_ctx *parent = arg;
    (void)ctx;
    return plait_join(parent, jnop, NULL, jnop, NULL) == EINVAL ? 0 : EPROTO;
}

static int probe_join(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    p->r1 = plait_join(ctx, NULL, NULL, jnop, NULL);
    p->r2 = plait_join(ctx, jnop, NULL, NULL, NULL);
    p->r3 = plait_join(NULL, jnop, NULL, jnop, NULL);
    p->r4 = plait_join(ctx, jnop, NULL, probe_join_wrong_ctx, ctx);
    return 0;
}

static int probe_destroy_pool(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    p->r1 = plait_pool_destroy(plait_ctx_pool(ctx));
    return 0;
}

static int probe_destroy_own_group(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    plait_group_destroy(p->g); /* cannot wait for itself: a no-op */
    p->b = !plait_cancelled(ctx) && plait_group_pending(p->g) == 1;
    return 0;
}

static int probe_sleep_forever(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    atomic_store(&p->started, 1);
    p->r1 = plait_sleep(ctx, UINT64_MAX);
    return p->r1;
}

/* ---- parallel_for range recording -------------------------------------- */

struct ranges {
    _Atomic size_t calls;
    _Atomic size_t total; /* sum of chunk lengths (mod 2^64) */
    _Atomic size_t maxlen;
    _Atomic size_t lo, hi;
};

static int record_range(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    struct ranges *r = arg;
    atomic_fetch_add(&r->calls, 1);
    atomic_fetch_add(&r->total, e - b);
    size_t m = atomic_load(&r->maxlen);
    while (e - b > m && !atomic_compare_exchange_weak(&r->maxlen, &m, e - b))
        ;
    size_t lo = atomic_load(&r->lo);
    while (b < lo && !atomic_compare_exchange_weak(&r->lo, &lo, b))
        ;
    size_t hi = atomic_load(&r->hi);
    while (e > hi && !atomic_compare_exchange_weak(&r->hi, &hi, e))
        ;
    return b > e ? EPROTO : 0;
}

static struct ranges run_pfor(size_t b, size_t e, size_t grain, int *r)
{
    struct ranges rg = {0};
    atomic_store(&rg.lo, SIZE_MAX);
    *r = plait_parallel_for(pool, b, e, grain, record_range, &rg);
    return rg;
}

/* ---- Destroy while busy ------------------------------------------------- */

struct during {
    plait_pool *p;
    _Atomic int started;
    _Atomic int release;        /* raised by the driver once it checked what destroy refuses */
    _Atomic int spawned_during; /* a running task spawns while destroy runs */
};

static int long_task(plait_ctx *ctx, void *arg)
{
    struct during *d = arg;
    atomic_store(&d->started, 1);
    /* Destroy is waiting for us until the driver lets us go. */
    if (!st_wait_flag(&d->release, 30))
        return ETIME;
    /* A running task may still spawn while destroy runs. */
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) == 0) {
        if (plait_go(g, nop, NULL) == 0 && plait_group_wait(g) == 0)
            atomic_store(&d->spawned_during, 1);
        plait_group_destroy(g);
    }
    return 0;
}

static void *destroyer(void *arg)
{
    struct during *d = arg;
    return (void *)(intptr_t)plait_pool_destroy(d->p);
}

static void destroy_during(void)
{
    struct during d = {0};
    plait_pool_options o = {.threads = 2};
    plait_pool_create(&d.p, &o);
    plait_group *g0;
    plait_group_create(&g0, d.p, 0);
    plait_task *t = plait_submit(d.p, long_task, &d);
    st_wait_flag(&d.started, 30);
    pthread_t th;
    pthread_create(&th, NULL, destroyer, &d);
    /* Until destroy has begun, submits are accepted (and run); the first
     * refused one is the row. long_task runs until released below. */
    errno = 0;
    plait_task *t2;
    uint64_t t0 = st_now_ns();
    while ((t2 = plait_submit(d.p, nop, NULL)) != NULL && st_now_ns() - t0 < 30000000000u) {
        plait_task_release(t2);
        sched_yield();
        errno = 0;
    }
    row("plait_submit", "pool being destroyed (foreign thread)", "NULL, errno ESHUTDOWN",
        t2 == NULL && errno == ESHUTDOWN);
    row("plait_go", "group of a pool being destroyed (foreign thread)", "ESHUTDOWN",
        plait_go(g0, nop, NULL) == ESHUTDOWN);
    errno = 0;
    plait_task *t3 = plait_spawn(g0, nop, NULL);
    row("plait_spawn", "group of a pool being destroyed (foreign thread)", "NULL, errno ESHUTDOWN",
        t3 == NULL && errno == ESHUTDOWN);
    plait_group *g1 = NULL;
    row("plait_group_create", "pool being destroyed (foreign thread)", "ESHUTDOWN",
        plait_group_create(&g1, d.p, 0) == ESHUTDOWN);
    struct ranges rg = {0};
    row("plait_parallel_for", "pool being destroyed (foreign thread)", "ESHUTDOWN",
        plait_parallel_for(d.p, 0, 10, 1, record_range, &rg) == ESHUTDOWN && rg.calls == 0);
    row("plait_pool_destroy", "second call while the first is running", "EINVAL",
        plait_pool_destroy(d.p) == EINVAL);
    /* The group made before destroy: its wait still works (no tasks). */
    row("plait_group_wait", "empty group of a pool being destroyed", "0",
        plait_group_wait(g0) == 0);
    plait_group_destroy(g0);
    atomic_store(&d.release, 1);
    row("plait_task_wait", "task already running when destroy began", "runs to completion: 0",
        plait_task_wait(t) == 0);
    plait_task_release(t);
    void *res;
    pthread_join(th, &res);
    row("plait_pool_destroy", "with a task still running", "waits for it, then 0",
        (intptr_t)res == 0);
    row("plait_go", "from a running task while destroy runs", "0 (tasks may still spawn)",
        atomic_load(&d.spawned_during) == 1);
}

/* ---- Huge counts: the injection queue's overflow ----------------------------- */

struct gate {
    _Atomic int started, open;
    _Atomic uint64_t ran;
};

static int gate_wait(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct gate *g = arg;
    atomic_store(&g->started, 1);
    while (!atomic_load(&g->open))
        st_sleep_ns(100000);
    return 0;
}

static int gate_count(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add_explicit(&((struct gate *)arg)->ran, 1, memory_order_relaxed);
    return 0;
}

static void huge_counts(void)
{
    /* One worker held by a task, 200k spawns from outside: the 65536-slot
     * injection ring overflows into its list; every task runs once. */
    plait_pool *p;
    plait_pool_options o = {.threads = 1};
    plait_pool_create(&p, &o);
    struct gate gt = {0};
    plait_group *g;
    plait_group_create(&g, p, 0);
    plait_go(g, gate_wait, &gt);
    st_wait_flag(&gt.started, 10); /* the worker is held: the spawns pile up */
    size_t n = (size_t)st_scaled(200000, 100000), refused = 0;
    for (size_t i = 0; i < n; i++)
        refused += plait_go(g, gate_count, &gt) != 0;
    atomic_store(&gt.open, 1);
    int r = plait_group_wait(g);
    plait_stats st;
    plait_pool_stats(p, &st);
    row("plait_go", "200k tasks from a foreign thread while the only worker is busy",
        "all accepted, each runs once",
        r == 0 && refused == 0 && atomic_load(&gt.ran) == n && st.tasks_succeeded == n + 1);
    plait_group_destroy(g);
    plait_pool_destroy(p);

    /* Many workers. */
    o.threads = 64;
    r = plait_pool_create(&p, &o);
    row("plait_pool_create", "threads = 64 (more than CPUs)", "0, size 64",
        r == 0 && plait_pool_size(p) == 64);
    if (r == 0)
        plait_pool_destroy(p);
}

static int spawn_many(plait_ctx *ctx, void *arg)
{
    struct gate *gt = arg;
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    size_t n = (size_t)st_scaled(100000, 20000);
    for (size_t i = 0; i < n; i++)
        if (plait_go(g, gate_count, gt) != 0)
            return EPROTO;
    int r = plait_group_wait(g);
    plait_group_destroy(g);
    return r == 0 && atomic_load(&gt->ran) == n ? 0 : EPROTO;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--table") == 0)
            table_mode = true;
    if (table_mode)
        printf("| Function | Bad input | Result |\n|---|---|---|\n");

    /* ---- Pool ---- */
    row("plait_pool_create", "pool NULL", "EINVAL", plait_pool_create(NULL, NULL) == EINVAL);
    {
        plait_pool *p = NULL;
        plait_pool_options o = {.threads = 4097};
        row("plait_pool_create", "threads = 4097 (over the 4096 limit)", "EINVAL, *pool untouched",
            plait_pool_create(&p, &o) == EINVAL && p == NULL);
        o.threads = UINT_MAX;
        row("plait_pool_create", "threads = UINT_MAX", "EINVAL",
            plait_pool_create(&p, &o) == EINVAL);
        static const char *bad_env[] = {
            "abc", "0", "-1", "+2", " 2", "2x", "", "99999", "18446744073709551617"};
        for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
            setenv("PLAIT_THREADS", bad_env[i], 1);
            char in[80];
            snprintf(in, sizeof in, "threads 0, `$PLAIT_THREADS=\"%s\"`", bad_env[i]);
            row("plait_pool_create", in, "EINVAL",
                plait_pool_create(&p, NULL) == EINVAL && p == NULL);
        }
        setenv("PLAIT_THREADS", "3", 1);
        int r = plait_pool_create(&p, NULL);
        row("plait_pool_create", "opts NULL, `$PLAIT_THREADS=\"3\"`", "0, 3 workers",
            r == 0 && plait_pool_size(p) == 3);
        if (r == 0)
            plait_pool_destroy(p);
        unsetenv("PLAIT_THREADS");
        char longname[200];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        plait_pool_options o2 = {.threads = 1, .name = longname};
        r = plait_pool_create(&p, &o2);
        row("plait_pool_create", "name of 199 characters", "0 (thread names truncated)", r == 0);
        if (r == 0)
            plait_pool_destroy(p);
    }
    row("plait_pool_destroy", "NULL", "EINVAL", plait_pool_destroy(NULL) == EINVAL);
    row("plait_pool_size", "NULL", "0", plait_pool_size(NULL) == 0);
    row("plait_worker_index", "called outside any pool", "-1", plait_worker_index() == -1);
    {
        plait_stats st;
        row("plait_pool_stats", "pool NULL", "EINVAL", plait_pool_stats(NULL, &st) == EINVAL);
    }

    plait_pool_options o = {.threads = 2};
    plait_pool_create(&pool, &o);
    row("plait_pool_stats", "out NULL", "EINVAL", plait_pool_stats(pool, NULL) == EINVAL);
    {
        struct probe pr = {0};
        plait_task *t = plait_submit(pool, probe_destroy_pool, &pr);
        plait_task_wait(t);
        plait_task_release(t);
        row("plait_pool_destroy", "from one of its own workers", "EDEADLK", pr.r1 == EDEADLK);
    }

    /* ---- Context ---- */
    row("plait_cancelled", "NULL", "false", !plait_cancelled(NULL));
    row("plait_fail", "ctx NULL", "returns code, records nothing",
        plait_fail(NULL, EIO, "x") == EIO);
    row("plait_sleep", "ctx NULL", "EINVAL", plait_sleep(NULL, 1000) == EINVAL);
    row("plait_current", "called outside a task", "NULL", plait_current() == NULL);
    row("plait_ctx_pool", "NULL", "NULL", plait_ctx_pool(NULL) == NULL);
    plait_set_result(NULL, NULL);
    row("plait_set_result", "ctx NULL", "no-op", true);
    {
        struct probe pr = {0};
        plait_task *t = plait_submit(pool, probe_ctx, &pr);
        int r = plait_task_wait(t);
        row("plait_fail", "code 0", "returns 0 (the task succeeds)", pr.r1 == 0 && r == 0);
        row("plait_fail", "fmt NULL", "returns code, no message", pr.r2 == EIO);
        row("plait_sleep", "ns = 0", "0 at once", pr.r3 == 0);
        row("plait_ctx_pool / plait_current", "inside a task", "its pool / its ctx",
            pr.p == pool && pr.b);
        row("plait_task_result", "after plait_set_result", "the value",
            plait_task_result(t) == (void *)0x1234);
        plait_task_release(t);
    }
    {
        struct probe pr = {0};
        plait_group *g;
        plait_group_create(&g, pool, 0);
        plait_go(g, probe_sleep_forever, &pr);
        /* Running before the cancel (one still queued would finish never
         * run, r1 unwritten). */
        bool started = st_wait_flag(&pr.started, 10);
        uint64_t t0 = st_now_ns();
        plait_group_cancel(g);
        int r = plait_group_wait(g);
        double ms = (double)(st_now_ns() - t0) / 1e6;
        row("plait_sleep", "ns = UINT64_MAX, then the group is cancelled", "ECANCELED promptly",
            started && pr.r1 == ECANCELED && r == ECANCELED && ms < 10000);
        plait_group_destroy(g);
    }

    /* ---- Groups ---- */
    plait_group *g = NULL;
    row("plait_group_create", "group NULL", "EINVAL", plait_group_create(NULL, pool, 0) == EINVAL);
    row("plait_group_create", "pool NULL", "EINVAL", plait_group_create(&g, NULL, 0) == EINVAL);
    row("plait_group_create", "unknown flag bits (1 << 7, 0xffffffff)", "EINVAL",
        plait_group_create(&g, pool, 1u << 7) == EINVAL &&
            plait_group_create(&g, pool, 0xffffffffu) == EINVAL);
    errno = 0;
    row("plait_spawn", "group NULL", "NULL, errno EINVAL",
        plait_spawn(NULL, nop, NULL) == NULL && errno == EINVAL);
    row("plait_go", "group NULL", "EINVAL", plait_go(NULL, nop, NULL) == EINVAL);
    row("plait_group_wait", "NULL", "EINVAL", plait_group_wait(NULL) == EINVAL);
    row("plait_group_cancel", "NULL", "EINVAL", plait_group_cancel(NULL) == EINVAL);
    row("plait_group_set_timeout", "NULL", "EINVAL", plait_group_set_timeout(NULL, 1) == EINVAL);
    row("plait_group_pending", "NULL", "0", plait_group_pending(NULL) == 0);
    {
        const plait_error *e = (const plait_error *)(uintptr_t)1;
        row("plait_group_errors", "group NULL", "0, *errors = NULL",
            plait_group_errors(NULL, &e) == 0 && e == NULL);
    }
    plait_group_destroy(NULL);
    row("plait_group_destroy", "NULL", "no-op", true);

    plait_group_create(&g, pool, 0);
    errno = 0;
    row("plait_spawn", "fn NULL", "NULL, errno EINVAL",
        plait_spawn(g, NULL, NULL) == NULL && errno == EINVAL);
    row("plait_go", "fn NULL", "EINVAL", plait_go(g, NULL, NULL) == EINVAL);
    {
        const plait_error *e = (const plait_error *)(uintptr_t)1;
        row("plait_group_errors", "before the wait", "0, *errors = NULL",
            plait_group_errors(g, &e) == 0 && e == NULL);
    }
    {
        struct probe pr = {.g = g};
        plait_task *t = plait_spawn(g, probe_wait_own, &pr);
        atomic_store(&pr.self, t);
        int r = plait_group_wait(g);
        row("plait_group_wait", "from a task of the group itself", "EDEADLK", pr.r1 == EDEADLK);
        row("plait_task_wait", "from the task itself", "EDEADLK", pr.r2 == EDEADLK);
        row("plait_group_wait", "first wait", "0", r == 0);
        plait_task_release(t);
    }
    row("plait_group_wait", "second wait on a group already waited", "EINVAL",
        plait_group_wait(g) == EINVAL);
    errno = 0;
    row("plait_spawn", "group already waited", "NULL, errno EINVAL",
        plait_spawn(g, nop, NULL) == NULL && errno == EINVAL);
    row("plait_go", "group already waited", "EINVAL", plait_go(g, nop, NULL) == EINVAL);
    row("plait_group_set_timeout", "group already waited", "EINVAL",
        plait_group_set_timeout(g, 1000) == EINVAL);
    row("plait_group_cancel", "group already waited", "0, no effect", plait_group_cancel(g) == 0);
    row("plait_group_errors", "errors NULL (count only)", "the count",
        plait_group_errors(g, NULL) == 0);
    plait_group_destroy(g);

    plait_group_create(&g, pool, 0);
    plait_group_cancel(g);
    {
        plait_task *t = plait_spawn(g, nop, NULL);
        row("plait_spawn", "group cancelled", "a handle, done, status ECANCELED",
            t != NULL && plait_task_done(t) && plait_task_status(t) == ECANCELED &&
                plait_task_wait(t) == ECANCELED);
        plait_task_release(t);
    }
    row("plait_go", "group cancelled", "ECANCELED (no task)", plait_go(g, nop, NULL) == ECANCELED);
    row("plait_group_wait", "cancelled group", "ECANCELED", plait_group_wait(g) == ECANCELED);
    plait_group_destroy(g);

    plait_group_create(&g, pool, 0);
    /* 20 s, so that a bound of seconds (a loaded machine, a sanitizer)
     * still tells "at once" from "after the sleep". */
    plait_go(g, sleep_ms, (void *)(uintptr_t)20000);
    {
        uint64_t t0 = st_now_ns();
        int r1 = plait_group_set_timeout(g, 0);
        int r = plait_group_wait(g);
        double ms = (double)(st_now_ns() - t0) / 1e6;
        row("plait_group_set_timeout", "ns = 0", "fires at once: wait ETIMEDOUT",
            r1 == 0 && r == ETIMEDOUT && ms < 10000);
    }
    plait_group_destroy(g);
    plait_group_create(&g, pool, 0);
    plait_go(g, sleep_ms, (void *)(uintptr_t)5);
    row("plait_group_set_timeout", "ns = UINT64_MAX", "0 (saturates; never fires): wait 0",
        plait_group_set_timeout(g, UINT64_MAX) == 0 && plait_group_wait(g) == 0);
    plait_group_destroy(g);

    plait_group_create(&g, pool, 0);
    {
        struct probe pr = {.g = g};
        plait_go(g, probe_destroy_own_group, &pr);
        int r = plait_group_wait(g);
        row("plait_group_destroy", "from a task of the group itself",
            "a no-op (the group is neither cancelled nor freed); wait 0", pr.b && r == 0);
    }
    plait_group_destroy(g);

    plait_group_create(&g, pool, 0);
    plait_go(g, sleep_ms, (void *)(uintptr_t)60000);
    {
        uint64_t t0 = st_now_ns();
        plait_group_destroy(g);
        row("plait_group_destroy", "group never waited, a task sleeping 60 s",
            "cancels and waits: returns promptly", (st_now_ns() - t0) < 10000000000u);
    }

    /* ---- Task handles ---- */
    row("plait_task_done", "NULL", "false", !plait_task_done(NULL));
    row("plait_task_cancel", "NULL", "EINVAL", plait_task_cancel(NULL) == EINVAL);
    row("plait_task_wait", "NULL", "EINVAL", plait_task_wait(NULL) == EINVAL);
    row("plait_task_status", "NULL", "EINVAL", plait_task_status(NULL) == EINVAL);
    row("plait_task_result", "NULL", "NULL", plait_task_result(NULL) == NULL);
    row("plait_task_message", "NULL", "NULL", plait_task_message(NULL) == NULL);
    row("plait_task_id", "NULL", "0", plait_task_id(NULL) == 0);
    plait_task_release(NULL);
    row("plait_task_release", "NULL", "no-op", true);
    errno = 0;
    row("plait_submit", "pool NULL", "NULL, errno EINVAL",
        plait_submit(NULL, nop, NULL) == NULL && errno == EINVAL);
    errno = 0;
    row("plait_submit", "fn NULL", "NULL, errno EINVAL",
        plait_submit(pool, NULL, NULL) == NULL && errno == EINVAL);
    {
        /* Held at a gate, not for 50 ms: this thread may be slower. */
        struct gate held = {0};
        plait_task *t = plait_submit(pool, gate_wait, &held);
        row("plait_task_status / result / message", "task still running", "EAGAIN / NULL / NULL",
            plait_task_status(t) == EAGAIN && plait_task_result(t) == NULL &&
                plait_task_message(t) == NULL);
        atomic_store(&held.open, 1);
        int r1 = plait_task_wait(t), r2 = plait_task_wait(t);
        row("plait_task_wait", "called twice", "the same result both times", r1 == 0 && r2 == 0);
        row("plait_task_cancel", "task already finished", "0, status unchanged",
            plait_task_cancel(t) == 0 && plait_task_status(t) == 0);
        uint64_t id1 = plait_task_id(t), id2 = plait_task_id(t);
        row("plait_task_id", "asked twice", "the same non-zero id", id1 != 0 && id1 == id2);
        plait_task_release(t);
    }

    /* ---- Join ---- */
    row("plait_join", "from a foreign thread (ctx NULL)", "EINVAL",
        plait_join(NULL, jnop, NULL, jnop, NULL) == EINVAL);
    {
        struct probe pr = {0};
        plait_task *t = plait_submit(pool, probe_join, &pr);
        int r = plait_task_wait(t);
        row("plait_join", "a NULL", "EINVAL", pr.r1 == EINVAL);
        row("plait_join", "b NULL", "EINVAL", pr.r2 == EINVAL);
        row("plait_join", "ctx NULL inside a task", "EINVAL", pr.r3 == EINVAL);
        row("plait_join", "ctx of the enclosing task, from inside a join branch", "EINVAL",
            pr.r4 == 0 && r == 0);
        plait_task_release(t);
    }

    /* ---- parallel_for ---- */
    {
        int r;
        struct ranges rg = {0};
        row("plait_parallel_for", "pool NULL", "EINVAL",
            plait_parallel_for(NULL, 0, 10, 1, record_range, &rg) == EINVAL);
        row("plait_parallel_for", "fn NULL", "EINVAL",
            plait_parallel_for(pool, 0, 10, 1, NULL, NULL) == EINVAL);
        rg = run_pfor(10, 5, 1, &r);
        row("plait_parallel_for", "begin > end", "EINVAL, fn not called",
            r == EINVAL && rg.calls == 0);
        rg = run_pfor(7, 7, 1, &r);
        row("plait_parallel_for", "begin == end", "0, fn not called", r == 0 && rg.calls == 0);
        rg = run_pfor(SIZE_MAX, SIZE_MAX, 0, &r);
        row("plait_parallel_for", "begin == end == SIZE_MAX", "0, fn not called",
            r == 0 && rg.calls == 0);
        rg = run_pfor(0, 100, 1000, &r);
        row("plait_parallel_for", "grain (1000) larger than the range (100)",
            "0, one chunk [0,100)", r == 0 && rg.calls == 1 && rg.lo == 0 && rg.hi == 100);
        rg = run_pfor(5, 6, 0, &r);
        row("plait_parallel_for", "range of 1, grain 0 (automatic)", "0, one chunk",
            r == 0 && rg.calls == 1 && rg.total == 1);
        rg = run_pfor(SIZE_MAX - 100, SIZE_MAX, SIZE_MAX, &r);
        row("plait_parallel_for", "[SIZE_MAX-100, SIZE_MAX), grain SIZE_MAX", "0, one chunk",
            r == 0 && rg.calls == 1 && rg.lo == SIZE_MAX - 100 && rg.hi == SIZE_MAX);
        rg = run_pfor(0, SIZE_MAX, SIZE_MAX, &r);
        row("plait_parallel_for", "[0, SIZE_MAX), grain SIZE_MAX", "0, one chunk [0, SIZE_MAX)",
            r == 0 && rg.calls == 1 && rg.lo == 0 && rg.hi == SIZE_MAX);
        rg = run_pfor(0, SIZE_MAX, SIZE_MAX / 4 + 1, &r);
        row("plait_parallel_for", "[0, SIZE_MAX), grain SIZE_MAX/4+1",
            "0, 4 chunks tiling the range, none over grain",
            r == 0 && rg.calls == 4 && rg.total == SIZE_MAX && rg.maxlen <= SIZE_MAX / 4 + 1 &&
                rg.lo == 0 && rg.hi == SIZE_MAX);
        rg = run_pfor(1, SIZE_MAX, 0, &r);
        row("plait_parallel_for", "[1, SIZE_MAX), grain 0 (automatic)",
            "0, chunks tile the range (no overflow)",
            r == 0 && rg.calls >= 2 && rg.total == SIZE_MAX - 1 && rg.lo == 1 && rg.hi == SIZE_MAX);
    }

    /* ---- Strings ---- */
    {
        static const int codes[] = {0,         EINVAL,  ENOMEM, ECANCELED, ETIMEDOUT,
                                    ESHUTDOWN, EDEADLK, EAGAIN, EIO,       -1,
                                    99999,     INT_MIN, INT_MAX};
        bool ok = true;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
            const char *s = plait_strerror(codes[i]);
            ok = ok && s != NULL && s[0] != '\0';
        }
        row("plait_strerror", "0, every plait code, -1, 99999, INT_MIN, INT_MAX",
            "a non-empty string", ok);
    }

    /* ---- Huge counts ---- */
    huge_counts();
    {
        struct gate gt = {0};
        plait_task *t = plait_submit(pool, spawn_many, &gt);
        row("plait_go", "100k tasks from inside one task (the deque grows)", "all run once",
            plait_task_wait(t) == 0);
        plait_task_release(t);
    }

    /* ---- After destroy began ---- */
    destroy_during();

    plait_pool_destroy(pool);
    if (table_mode)
        return rows_bad != 0;
    printf("bad inputs tried: %u rows\n", rows_ok + rows_bad);
    printf("%u passed, %u failed\n", rows_ok, rows_bad);
    return rows_bad != 0;
}
