/*
 * stress_soak — many tasks through one pool, in groups with failures and
 * cancels; nothing lost and memory flat.
 *
 * Groups of 64-2047 tasks are fed either from the main thread (injection
 * queue) or from a root task inside the pool (worker deques); a few tasks
 * fail (1 in 2000), some groups collect all errors, one group in 40 is
 * cancelled while it runs, one spawn in 16 takes a handle that is released
 * at once. Per group: the error array holds exactly the failures. At the
 * end: the pool's stats add up to the tasks spawned and to what the bodies
 * returned. Resident memory (/proc/self/statm) is sampled as it goes; after
 * the warm-up (the first 10%) it may not grow by more than 32 MiB, and
 * the bytes malloc has handed out (glibc's malloc_info) may not grow by 4 MiB
 * over the second half: a steady slope means records pile up (neither is
 * checked under a sanitizer: ASan quarantines freed memory, TSan keeps
 * shadow and sync state).
 *
 * The full soak is `stress_soak --tasks 100000000` (about a minute on two
 * cores in a release build); CI runs 20 million (5 million under a
 * sanitizer, through PLAIT_STRESS_SCALE's default).
 */
#include "stress_common.h"

#include <plait.h>

#define MAXW 64

struct counters {
    _Alignas(64) _Atomic uint64_t ok, failed, cancelled_body;
};
static struct counters per_worker[MAXW + 1]; /* the last: foreign threads */

struct grp {
    plait_group *g;
    _Atomic uint64_t failures;
    uint64_t seed;
    unsigned n;
    _Atomic uint64_t spawned;
    bool cancel;
};

static plait_pool *pool;
static uint64_t body_seed;

static struct counters *mine(void)
{
    int w = plait_worker_index();
    return &per_worker[w >= 0 && w < MAXW ? w : MAXW];
}

/* Body: the task's number comes in arg's low bits (no allocation). */
static int body(plait_ctx *ctx, void *arg)
{
    struct grp *g = arg;
    (void)ctx;
    /* A pseudo-random decision from the thread's own state. */
    static _Atomic uint64_t seq;
    uint64_t x = st_mix(atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed) + body_seed);
    struct counters *c = mine();
    if (x % 2000 == 0) {
        atomic_fetch_add_explicit(&g->failures, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
        return (x >> 20) % 2 ? plait_fail(ctx, EIO, "soak failure") : EPROTO;
    }
    if (x % 512 == 1 && plait_cancelled(ctx)) {
        atomic_fetch_add_explicit(&c->cancelled_body, 1, memory_order_relaxed);
        return ECANCELED;
    }
    atomic_fetch_add_explicit(&c->ok, 1, memory_order_relaxed);
    return 0;
}

static void feed(struct grp *g)
{
    uint64_t s = g->seed, spawned = 0;
    for (unsigned i = 0; i < g->n; i++) {
        if (g->cancel && i == g->n / 2)
            plait_group_cancel(g->g);
        if (st_below(&s, 16) == 0) {
            plait_task *t = plait_spawn(g->g, body, g);
            CHECK(t != NULL, "spawn: errno %d", errno);
            if (t != NULL) {
                spawned++;
                plait_task_release(t);
            }
        } else {
            int r = plait_go(g->g, body, g);
            CHECK(r == 0 || r == ECANCELED, "go %d", r);
            spawned += r == 0;
        }
    }
    atomic_store(&g->spawned, spawned);
}

static int root(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    feed(arg);
    return 0;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static _Atomic uint64_t progress;
static void dump(void)
{
    fprintf(stderr, "soak: %" PRIu64 " tasks spawned so far\n", atomic_load(&progress));
}

int main(int argc, char **argv)
{
    uint64_t total = st_arg_u64(argc, argv, "--tasks", st_scaled(20000000, 100000));
    uint64_t seed =
        st_arg(argc, argv, "--seed") ? st_arg_u64(argc, argv, "--seed", 0) : st_seed_from_time();
    unsigned threads = (unsigned)st_arg_u64(argc, argv, "--threads", 0);
    body_seed = st_mix(seed);
    printf("stress_soak: seed 0x%016" PRIx64 ", %" PRIu64 " tasks\n", seed, total);
    fflush(stdout);
    st_unit_begin();
    plait_pool_options o = {.threads = threads};
    int r = plait_pool_create(&pool, &o);
    CHECK(r == 0, "pool_create %d", r);
    if (r != 0)
        return st_finish("stress_soak");
    st_watchdog_start(ST_SANITIZED ? 300 : 60, dump);

    uint64_t s = seed, spawned = 0, groups = 0, cancelled_groups = 0, errors = 0, roots = 0;
    uint64_t rss_warm = 0, rss_max = 0, rss_start = rss_bytes(), heap_half = 0;
    uint64_t next_sample = total / 50, t0 = st_now_ns();
    unsigned samples = 0;
    while (spawned < total) {
        struct grp g = {.seed = st_next(&s), .n = 64 + (unsigned)st_below(&s, 1984)};
        g.cancel = st_below(&s, 40) == 0;
        unsigned flags = st_below(&s, 4) == 0 ? PLAIT_GROUP_COLLECT_ALL : 0;
        CHECK(plait_group_create(&g.g, pool, flags) == 0, "group_create");
        plait_task *rt = NULL;
        if (st_below(&s, 2)) {
            feed(&g);
        } else {
            rt = plait_submit(pool, root, &g);
            CHECK(rt != NULL, "submit");
            if (rt != NULL) {
                roots++;
                /* The root must finish spawning before the wait begins. */
                CHECK(plait_task_wait(rt) == 0, "root");
                plait_task_release(rt);
            }
        }
        r = plait_group_wait(g.g);
        const plait_error *errs;
        size_t n = plait_group_errors(g.g, &errs);
        uint64_t f = atomic_load(&g.failures);
        CHECK(n == f, "group: %zu errors gathered, %" PRIu64 " tasks failed", n, f);
        CHECK(plait_group_pending(g.g) == 0, "pending after wait");
        if (n > 0)
            CHECK(r == errs[0].code, "wait %d, first error %d", r, errs[0].code);
        else
            CHECK(r == (g.cancel ? ECANCELED : 0), "wait %d (cancelled: %d)", r, g.cancel);
        plait_group_destroy(g.g);
        spawned += atomic_load(&g.spawned);
        atomic_store(&progress, spawned);
        groups++;
        cancelled_groups += g.cancel;
        errors += n;
        st_watchdog_kick();
        if (spawned >= next_sample) {
            next_sample += total / 50;
            uint64_t rss = rss_bytes();
            samples++;
            if (samples == 5) /* 10%: warm */
                rss_warm = rss;
            if (samples == 25) /* 50% */
                heap_half = st_heap_in_use();
            if (samples > 5 && rss > rss_max)
                rss_max = rss;
            if (samples % 10 == 0) {
                printf("  %5.1f%%  %" PRIu64 " tasks  rss %.1f MiB  %.1f s\n",
                       100.0 * (double)spawned / (double)total, spawned, (double)rss / 1048576.0,
                       (double)(st_now_ns() - t0) / 1e9);
                fflush(stdout);
            }
        }
    }
    double secs = (double)(st_now_ns() - t0) / 1e9;
    plait_stats st;
    CHECK(plait_pool_stats(pool, &st) == 0, "stats");
    uint64_t ok = 0, failed = 0, cbody = 0;
    for (int i = 0; i <= MAXW; i++) {
        ok += atomic_load(&per_worker[i].ok);
        failed += atomic_load(&per_worker[i].failed);
        cbody += atomic_load(&per_worker[i].cancelled_body);
    }
    /* The root tasks are lone tasks that succeeded. */
    CHECK(st.tasks_succeeded == ok + roots,
          "stats succeeded %" PRIu64 ", bodies returned 0: %" PRIu64 " + roots %" PRIu64,
          st.tasks_succeeded, ok, roots);
    CHECK(st.tasks_failed == failed, "stats failed %" PRIu64 ", bodies failed %" PRIu64,
          st.tasks_failed, failed);
    CHECK(st.tasks_cancelled == spawned - ok - failed,
          "stats cancelled %" PRIu64 ", expected %" PRIu64, st.tasks_cancelled,
          spawned - ok - failed);
    CHECK(st.tasks_succeeded + st.tasks_failed + st.tasks_cancelled == spawned + roots,
          "stats sum %" PRIu64 " != spawned %" PRIu64 " + roots %" PRIu64,
          st.tasks_succeeded + st.tasks_failed + st.tasks_cancelled, spawned, roots);
    CHECK(cbody <= st.tasks_cancelled,
          "bodies that returned ECANCELED %" PRIu64 " > cancelled %" PRIu64, cbody,
          st.tasks_cancelled);
    CHECK(errors == failed, "errors gathered %" PRIu64 " != failures %" PRIu64, errors, failed);
    if (rss_max < rss_warm)
        rss_max = rss_warm;
    double growth = ((double)rss_max - (double)rss_warm) / 1048576.0;
    if (!ST_SANITIZED && rss_warm != 0)
        CHECK(growth < 32.0, "RSS grew by %.1f MiB after the warm-up", growth);
    /* After the warm-up the heap is flat: the second half adds nothing
     * (record caches are bounded). */
    uint64_t heap_end = st_heap_in_use();
    double heap_growth = ((double)heap_end - (double)heap_half) / 1048576.0;
    if (!ST_SANITIZED && heap_half != 0)
        CHECK(heap_growth < 4.0, "malloc'd memory grew by %.2f MiB over the second half",
              heap_growth);
    r = plait_pool_destroy(pool);
    CHECK(r == 0, "pool_destroy %d", r);
    st_watchdog_stop();
    st_unit_end();
    printf("tasks %" PRIu64 " in %" PRIu64 " groups (%" PRIu64 " cancelled) in %.1f s (%.2f M/s): "
           "succeeded %" PRIu64 ", failed %" PRIu64 " (all %" PRIu64
           " gathered), cancelled %" PRIu64 "\n",
           spawned, groups, cancelled_groups, secs, (double)spawned / secs / 1e6, ok, failed,
           errors, st.tasks_cancelled);
    printf("rss: start %.1f MiB, after warm-up %.1f MiB, max after %.1f MiB (growth %.1f MiB%s)\n",
           (double)rss_start / 1048576.0, (double)rss_warm / 1048576.0, (double)rss_max / 1048576.0,
           growth, ST_SANITIZED ? ", not checked under a sanitizer" : "");
    if (heap_half != 0)
        printf("heap in use (malloc_info): at 50%% %.2f MiB, at the end %.2f MiB (growth %.2f "
               "MiB%s)\n",
               (double)heap_half / 1048576.0, (double)heap_end / 1048576.0, heap_growth,
               ST_SANITIZED ? ", not checked under a sanitizer" : "");
    return st_finish("stress_soak");
}
