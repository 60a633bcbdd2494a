/*
 * fault_alloc — out-of-memory and thread-creation failure injection, plus
 * the awkward corners: a task that never checks for cancellation, and a
 * pool in a child process after fork().
 *
 * 1. Allocation sweep. A representative workload (pool, groups with
 *    plait_go / plait_spawn / plait_submit, nested groups, plait_fail
 *    messages, plait_join, plait_parallel_for, a deadline) is first run
 *    with the counter armed (pl_fault_set(UINT64_MAX)) to count its
 *    allocations; then for n = 1 .. count (+ a margin, as the count mixes
 *    the allocations of all threads and varies a little) it runs again in a
 *    forked child with the n-th allocation failing. Each run must not
 *    crash or hang; every public call returns success or ENOMEM (NULL with
 *    errno ENOMEM); every group's wait returns with pending 0; the pool's
 *    stats add up to the tasks actually created; and in the ASan build the
 *    child's leak check must pass (nothing leaks).
 * 2. Thread-creation failure: pl_fault_thread_set(k) for k = 1..threads
 *    makes plait_pool_create return EAGAIN (and leak nothing); the timer
 *    thread's creation failing makes plait_group_set_timeout fail cleanly.
 * 3. A task that never checks for cancellation: its group's wait returns
 *    once it finishes, and a deadline on another group in the same pool
 *    still fires on time meanwhile.
 * 4. fork(): a child of a process with a live (idle or busy) pool can
 *    create, use and destroy a new pool of its own. (It must not use or
 *    destroy the parent's pool: its workers do not exist in the child.)
 *
 * Options: --max N (sweep at most N faults), --no-fork (sweep in-process;
 * for valgrind, which then checks leaks once at exit).
 */
#include "stress_common.h"

#include <signal.h>
#include <sys/wait.h>

#include <plait.h>

#include "alloc.h"

static bool ok_code(int r)
{
    return r == 0 || r == ENOMEM;
}

/* ---- The workload ------------------------------------------------------- */

static _Atomic uint64_t entered, exited, created;
static plait_pool *wpool;

static int leaf(plait_ctx *ctx, void *arg)
{
    atomic_fetch_add(&entered, 1);
    int r = 0;
    if ((uintptr_t)arg % 5 == 3)
        r = plait_fail(ctx, EIO, "leaf %u failed", (unsigned)(uintptr_t)arg);
    atomic_fetch_add(&exited, 1);
    return r;
}

static int jb(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    return arg != NULL ? plait_fail(ctx, EDOM, "branch") : 0;
}

static int rangef(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    _Atomic size_t *sum = arg;
    atomic_fetch_add(sum, e - b);
    return 0;
}

/* A task with a nested group, spawns from a worker, a join. */
static int inner(plait_ctx *ctx, void *arg)
{
    atomic_fetch_add(&entered, 1);
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), PLAIT_GROUP_COLLECT_ALL);
    CHECK(ok_code(r), "inner group_create %d", r);
    if (r == 0) {
        /* Many in the collect-all group: the worker's deque grows (256
         * slots) and the error array is reallocated several times. */
        uintptr_t n = (uintptr_t)arg != 0 ? (uintptr_t)arg : 6;
        for (uintptr_t i = 0; i < n; i++) {
            int e = plait_go(g, leaf, (void *)i);
            /* ECANCELED: the enclosing task's group was cancelled (rule 4). */
            CHECK(ok_code(e) || e == ECANCELED, "inner go %d", e);
            created += e == 0;
        }
        errno = 0;
        plait_task *t = plait_spawn(g, leaf, (void *)3);
        CHECK(t != NULL || errno == ENOMEM, "inner spawn errno %d", errno);
        if (t != NULL) {
            created++;
            plait_task_release(t);
        }
        r = plait_group_wait(g);
        CHECK(r == 0 || r == EIO || r == ECANCELED, "inner wait %d", r);
        CHECK(plait_group_pending(g) == 0, "inner pending");
        plait_group_destroy(g);
    }
    r = plait_join(ctx, jb, NULL, jb, (void *)1);
    CHECK(r == EDOM, "join %d", r);
    _Atomic size_t sum = 0;
    r = plait_parallel_for(plait_ctx_pool(ctx), 0, 1000, 10, rangef, (void *)&sum);
    /* ECANCELED: a sibling's failure cancelled this (fail-fast) group. */
    CHECK(r == 0 ? sum == 1000 : r == ECANCELED || r == ENOMEM, "inner pfor %d sum %zu", r,
          (size_t)sum);
    atomic_fetch_add(&exited, 1);
    return 0;
}

/* Runs the workload; returns the number of tasks created (spawn/go/submit
 * that succeeded), or checks fail. */
static void workload(void)
{
    atomic_store(&entered, 0);
    atomic_store(&exited, 0);
    atomic_store(&created, 0);
    plait_pool_options o = {.threads = 2};
    int r = plait_pool_create(&wpool, &o);
    CHECK(ok_code(r), "pool_create %d", r);
    if (r != 0)
        return;
    plait_group *g[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        r = plait_group_create(&g[k], wpool, k ? PLAIT_GROUP_COLLECT_ALL : 0);
        CHECK(ok_code(r), "group_create %d", r);
        if (r != 0)
            g[k] = NULL;
    }
    if (g[1] != NULL) {
        r = plait_group_set_timeout(g[1], 5000000000ull);
        CHECK(ok_code(r), "set_timeout %d", r);
    }
    plait_task *handles[8];
    int nh = 0;
    for (int k = 0; k < 2; k++) {
        if (g[k] == NULL)
            continue;
        for (uintptr_t i = 0; i < 10; i++) {
            int e = plait_go(g[k], leaf, (void *)(i + (uintptr_t)k));
            CHECK(ok_code(e) || e == ECANCELED, "go %d", e);
            created += e == 0;
        }
        for (int i = 0; i < 3; i++) {
            errno = 0;
            plait_task *t = plait_spawn(g[k], i == 0 ? inner : leaf,
                                        (void *)(uintptr_t)(i == 0 && k == 1 ? 300 : i));
            CHECK(t != NULL || errno == ENOMEM, "spawn errno %d", errno);
            if (t != NULL) {
                created++;
                handles[nh++] = t;
            }
        }
    }
    errno = 0;
    plait_task *lone = plait_submit(wpool, inner, NULL);
    CHECK(lone != NULL || errno == ENOMEM, "submit errno %d", errno);
    created += lone != NULL;
    _Atomic size_t sum = 0;
    r = plait_parallel_for(wpool, 0, 5000, 0, rangef, (void *)&sum);
    CHECK(ok_code(r), "pfor %d", r);
    if (r == 0)
        CHECK(sum == 5000, "pfor sum %zu", (size_t)sum);
    for (int k = 0; k < 2; k++) {
        if (g[k] == NULL)
            continue;
        r = plait_group_wait(g[k]);
        /* ENOMEM reaches a wait only through a task that returned it. */
        CHECK(r == 0 || r == EIO || r == ECANCELED || r == ENOMEM, "wait %d", r);
        CHECK(plait_group_pending(g[k]) == 0, "pending %zu after wait", plait_group_pending(g[k]));
        const plait_error *errs;
        size_t n = plait_group_errors(g[k], &errs);
        for (size_t i = 0; i < n; i++)
            CHECK(errs[i].code == EIO && errs[i].task_id != 0, "error %d", errs[i].code);
        plait_group_destroy(g[k]);
    }
    if (lone != NULL) {
        CHECK(plait_task_wait(lone) == 0, "lone");
        plait_task_release(lone);
    }
    for (int i = 0; i < nh; i++) {
        int st = plait_task_status(handles[i]);
        CHECK(st != EAGAIN, "handle not done after the wait");
        plait_task_release(handles[i]);
    }
    plait_stats st;
    CHECK(plait_pool_stats(wpool, &st) == 0, "stats");
    uint64_t sum3 = st.tasks_succeeded + st.tasks_failed + st.tasks_cancelled;
    CHECK(sum3 == atomic_load(&created), "stats sum %" PRIu64 " != tasks created %" PRIu64, sum3,
          atomic_load(&created));
    CHECK(atomic_load(&entered) == atomic_load(&exited), "entered %" PRIu64 " exited %" PRIu64,
          atomic_load(&entered), atomic_load(&exited));
    r = plait_pool_destroy(wpool);
    CHECK(r == 0, "pool_destroy %d", r);
}

/* Runs fn in a child process (or in-process with --no-fork). Returns 0
 * when it exited 0, else its status; kills it after limit_s. */
static bool use_fork = true;
static bool child_skip_leak_check;
static int in_child(void (*fn)(void *), void *arg, double limit_s, bool *hung)
{
    *hung = false;
    if (!use_fork) {
        uint64_t f0 = atomic_load(&st_check_fails);
        fn(arg);
        return atomic_load(&st_check_fails) != f0;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t f0 = atomic_load(&st_check_fails);
        fn(arg);
        int code = atomic_load(&st_check_fails) != f0 ? 1 : 0;
        if (child_skip_leak_check)
            _exit(code); /* LSan cannot stop the threads a multi-threaded fork left */
        exit(code);      /* exit: LSan runs */
    }
    if (pid < 0)
        return -1;
    uint64_t limit = st_now_ns() + (uint64_t)(limit_s * 1e9);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (st_now_ns() > limit) {
            *hung = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        st_sleep_ns(1000000);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void faulted_workload(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    pl_fault_set(n);
    workload();
    pl_fault_set(0);
}

static uint64_t faults_injected, faults_fired;

static void sweep(uint64_t max)
{
    st_unit_begin();
    /* Count a fault-free run's allocations (several times: it varies). */
    uint64_t count = 0;
    for (int i = 0; i < 3; i++) {
        pl_fault_set(UINT64_MAX);
        workload();
        uint64_t c = pl_fault_count();
        pl_fault_set(0);
        if (c > count)
            count = c;
    }
    uint64_t upto = count + count / 10 + 5;
    if (upto > max)
        upto = max;
    printf("  workload makes ~%" PRIu64 " allocations; sweeping n = 1..%" PRIu64 "\n", count, upto);
    fflush(stdout);
    uint64_t bad = 0;
    for (uint64_t n = 1; n <= upto; n++) {
        bool hung;
        int r = in_child(faulted_workload, &n, ST_SANITIZED ? 60 : 15, &hung);
        faults_injected++;
        CHECK(r == 0, "allocation fault %" PRIu64 ": %s (status %d)", n,
              hung       ? "hung"
              : r >= 128 ? "crashed"
                         : "checks or leak check failed",
              r);
        bad += r != 0;
    }
    bool ok = st_unit_end();
    printf("  allocation sweep: %" PRIu64 " faults injected, %" PRIu64 " bad runs: %s\n", upto, bad,
           ok ? "ok" : "FAILED");
}

/* ---- Thread creation failures -------------------------------------------- */

static void thread_faults(void *unused)
{
    (void)unused;
    for (unsigned threads = 1; threads <= 4; threads++) {
        for (unsigned k = 1; k <= threads; k++) {
            plait_pool *p = (plait_pool *)(uintptr_t)0x1;
            plait_pool_options o = {.threads = threads};
            pl_fault_thread_set(k);
            int r = plait_pool_create(&p, &o);
            pl_fault_thread_set(0);
            CHECK(r == EAGAIN, "threads %u, failing creation %u: %d", threads, k, r);
            CHECK(p == (plait_pool *)(uintptr_t)0x1, "*pool written on failure");
            if (r == 0)
                plait_pool_destroy(p);
        }
    }
    /* The timer thread (started by the first deadline). */
    plait_pool *p;
    plait_pool_options o = {.threads = 2};
    CHECK(plait_pool_create(&p, &o) == 0, "pool_create");
    plait_group *g;
    CHECK(plait_group_create(&g, p, 0) == 0, "group_create");
    pl_fault_thread_set(1);
    int r = plait_group_set_timeout(g, 1000000);
    pl_fault_thread_set(0);
    CHECK(r == EAGAIN, "set_timeout with no timer thread: %d", r);
    r = plait_group_set_timeout(g, 1000000); /* now it can start */
    CHECK(r == 0, "set_timeout after: %d", r);
    CHECK(plait_group_wait(g) == 0 || 1, "wait");
    plait_group_destroy(g);
    CHECK(plait_pool_destroy(p) == 0, "pool_destroy");
}

/* ---- A task that never checks for cancellation ------------------------------ */

static _Atomic int hog_started, hog_release, hog_done;

/* Busy until released (or for *arg ns at most), never calling
 * plait_cancelled: the driver releases it once b's deadline has been
 * seen, so "before the hog ended" does not depend on how fast the
 * machine is. */
static int hog(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_store(&hog_started, 1);
    uint64_t end = st_now_ns() + *(uint64_t *)arg;
    while (!atomic_load(&hog_release) && st_now_ns() < end)
        ;
    atomic_store(&hog_done, 1);
    return 0;
}

static int sleeper(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_sleep(ctx, 30ull * 1000000000u);
}

static void uncooperative(void)
{
    st_unit_begin();
    plait_pool *p;
    plait_pool_options o = {.threads = 2};
    CHECK(plait_pool_create(&p, &o) == 0, "pool_create");
    plait_group *a, *b;
    CHECK(plait_group_create(&a, p, 0) == 0, "group a");
    CHECK(plait_group_create(&b, p, 0) == 0, "group b");
    uint64_t hog_ns = 10000000000u; /* a bound, far past b's 20 ms deadline */
    CHECK(plait_go(a, hog, &hog_ns) == 0, "go hog");
    /* Running (one still queued would be cancelled, never run). */
    CHECK(st_wait_flag(&hog_started, 10), "the hog never started");
    CHECK(plait_group_cancel(a) == 0, "cancel a");
    uint64_t t0 = st_now_ns();
    CHECK(plait_group_set_timeout(b, 20000000) == 0, "timeout b");
    CHECK(plait_go(b, sleeper, NULL) == 0, "go sleeper");
    int rb = plait_group_wait(b);
    double tb = (double)(st_now_ns() - t0) / 1e6;
    CHECK(rb == ETIMEDOUT, "b's wait %d", rb);
    CHECK(!atomic_load(&hog_done), "the deadline waited for the hog (%.1f ms)", tb);
    atomic_store(&hog_release, 1);
    int ra = plait_group_wait(a);
    CHECK(atomic_load(&hog_done), "a's wait returned before its task finished");
    CHECK(ra == ECANCELED, "a's wait %d", ra);
    CHECK(plait_group_pending(a) == 0, "pending");
    plait_group_destroy(a);
    plait_group_destroy(b);
    CHECK(plait_pool_destroy(p) == 0, "pool_destroy");
    printf("  uncooperative task: the other group's 20 ms deadline fired after %.1f ms: %s\n", tb,
           st_unit_end() ? "ok" : "FAILED");
}

/* ---- fork() ------------------------------------------------------------------- */

static int count_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add((_Atomic uint64_t *)arg, 1);
    return 0;
}

static int busy_task(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_sleep(ctx, 2000000); /* 2 ms */
}

static void child_pool(void *unused)
{
    (void)unused;
    plait_pool *p;
    plait_pool_options o = {.threads = 2};
    int r = plait_pool_create(&p, &o);
    CHECK(r == 0, "child pool_create %d", r);
    if (r != 0)
        return;
    _Atomic uint64_t n = 0;
    plait_group *g;
    CHECK(plait_group_create(&g, p, 0) == 0, "child group_create");
    for (int i = 0; i < 1000; i++)
        CHECK(plait_go(g, count_task, (void *)&n) == 0, "child go");
    CHECK(plait_group_set_timeout(g, 10000000000ull) == 0, "child timeout");
    CHECK(plait_group_wait(g) == 0, "child wait");
    CHECK(atomic_load(&n) == 1000, "child ran %" PRIu64, atomic_load(&n));
    plait_group_destroy(g);
    CHECK(plait_pool_destroy(p) == 0, "child pool_destroy");
}

static void forks(void)
{
    st_unit_begin();
    plait_pool *p;
    plait_pool_options o = {.threads = 2};
    CHECK(plait_pool_create(&p, &o) == 0, "pool_create");
    plait_group *g;
    CHECK(plait_group_create(&g, p, 0) == 0, "group_create");
    CHECK(plait_group_set_timeout(g, 60000000000ull) == 0, "timeout (timer thread)");
    unsigned n = ST_SANITIZED ? 5 : 20, good = 0;
    child_skip_leak_check = true;
    for (unsigned i = 0; i < n; i++) {
        /* Half the forks while the parent's pool is busy. */
        if (i % 2)
            for (int k = 0; k < 8; k++)
                plait_go(g, busy_task, NULL);
        bool hung;
        int r = in_child(child_pool, NULL, ST_SANITIZED ? 60 : 10, &hung);
        CHECK(r == 0, "fork %u: child %s (status %d)", i, hung ? "hung" : "failed", r);
        good += r == 0;
    }
    child_skip_leak_check = false;
    CHECK(plait_group_wait(g) == 0, "parent's group");
    plait_group_destroy(g);
    CHECK(plait_pool_destroy(p) == 0, "parent's pool_destroy");
    printf("  fork: %u/%u %s: %s\n", good, n,
           use_fork ? "children ran their own pool" : "runs in-process (--no-fork)",
           st_unit_end() ? "ok" : "FAILED");
}

int main(int argc, char **argv)
{
    uint64_t max = st_arg_u64(argc, argv, "--max", UINT64_MAX);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--no-fork") == 0)
            use_fork = false;
    printf("fault_alloc: %s\n", use_fork ? "one child process per fault" : "in-process");
    /* No watchdog thread: the sweep forks, and TSan wants a single-threaded
     * parent at fork time; each child has its own time limit instead. */
    uint64_t t0 = st_now_ns();
    sweep(max);
    (void)faults_fired;

    st_unit_begin();
    bool hung;
    int r = in_child(thread_faults, NULL, 30, &hung);
    CHECK(r == 0, "thread-creation faults: status %d%s", r, hung ? " (hung)" : "");
    printf("  thread-creation failures (k = 1..threads, threads 1..4, timer): %s\n",
           st_unit_end() ? "ok" : "FAILED");
    uncooperative();
    if (ST_TSAN)
        /* TSan cannot start threads in the child of a multi-threaded fork
         * (die_after_fork); the plain and ASan builds run this. */
        printf("  fork: skipped under TSan\n");
    else
        forks();
    printf("faults injected %" PRIu64 " (allocations) + 10 (thread creations) + 1 (timer), "
           "in %.1f s\n",
           faults_injected, (double)(st_now_ns() - t0) / 1e9);
    return st_finish("fault_alloc");
}
