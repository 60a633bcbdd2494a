/*
 * burst_memory — memory goes back after a burst, while the pool lives.
 *
 * A burst of 4 Mi plait_go tasks on a one-worker pool, then quiet: the
 * resident set (/proc/self/statm) must come back to within 16 MiB of the
 * baseline taken before the pool was created. Before the fix it stayed
 * about 1.3 GiB up until the pool was destroyed: records freed past the
 * worker's cache went to the pool's uncapped return stack, drained only
 * by a later allocation, and the deque that grew to hold the burst kept
 * its 32 MiB buffer and the retired ones.
 *
 *   task:    from a task, into a group it created (all go to the worker's
 *            deque, which grows), then the task waits;
 *   foreign: from the main thread while the worker is held at a gate (all
 *            go to the injection queue), then the gate opens and main
 *            waits;
 *   stolen:  the task burst on a two-worker pool, so that the second
 *            worker steals while the deque grows and shrinks.
 *
 * "Quiet" is a handshake, not a sleep: the group is waited and destroyed,
 * then one more task is submitted and waited, so the worker is past the
 * burst. Each variant runs in a child (a clean baseline). Plain build
 * only: the sanitizers change RSS.
 */
#include "stress_common.h"

#include <signal.h>
#include <sys/wait.h>

#include <plait.h>

#define LIMIT_MIB 16.0

static unsigned long burst;
static double peak_mib;
static atomic_int gate;

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        CHECK(false, "cannot read /proc/self/statm");
        if (f != NULL)
            fclose(f);
        return 0;
    }
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static int noop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int burst_task(plait_ctx *ctx, void *arg)
{
    (void)arg;
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    for (unsigned long i = 0; i < burst; i++)
        if (plait_go(g, noop, NULL) != 0)
            return ENOMEM;
    peak_mib = rss_mib();
    int rc = plait_group_wait(g);
    plait_group_destroy(g);
    return rc;
}

static int gate_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    uint64_t t0 = st_now_ns();
    while (!atomic_load_explicit(&gate, memory_order_acquire))
        if (st_now_ns() - t0 > 60000000000ull)
            return EIO;
    return 0;
}

enum variant { TASK, FOREIGN, STOLEN };
static const char *const names[] = {"task", "foreign", "stolen"};

static void quiet(plait_pool *pool)
{
    plait_task *t = plait_submit(pool, noop, NULL);
    CHECK(t != NULL && plait_task_wait(t) == 0, "quiet handshake");
    plait_task_release(t);
}

static int scenario(enum variant v)
{
    double base = rss_mib();
    plait_pool *pool;
    plait_pool_options o = {.threads = v == STOLEN ? 2 : 1};
    CHECK(plait_pool_create(&pool, &o) == 0, "pool");
    if (v == FOREIGN) {
        plait_group *g;
        CHECK(plait_group_create(&g, pool, 0) == 0, "group");
        CHECK(plait_go(g, gate_task, NULL) == 0, "gate");
        for (unsigned long i = 0; i < burst; i++)
            if (plait_go(g, noop, NULL) != 0) {
                CHECK(false, "spawn %lu", i);
                break;
            }
        peak_mib = rss_mib();
        atomic_store_explicit(&gate, 1, memory_order_release);
        CHECK(plait_group_wait(g) == 0, "wait");
        plait_group_destroy(g);
    } else {
        plait_task *t = plait_submit(pool, burst_task, NULL);
        CHECK(t != NULL && plait_task_wait(t) == 0, "burst");
        plait_task_release(t);
    }
    quiet(pool);
    /* The memory may come back just after the handshake (a worker trims
     * at its next empty pop, which can follow the task the handshake
     * waited for): a generous bound on when, not a race to win. */
    double after = rss_mib();
    for (uint64_t t0 = st_now_ns(); after - base > LIMIT_MIB && st_now_ns() - t0 < 5000000000ull;
         after = rss_mib()) {
        st_sleep_ns(10000000);
        quiet(pool);
    }
    CHECK(plait_pool_destroy(pool) == 0, "destroy");
    double destroyed = rss_mib();
    printf("  %s burst of %lu: baseline %.1f MiB, peak %.1f MiB, after quiet %.1f MiB (+%.1f), "
           "after pool destroy %.1f MiB\n",
           names[v], burst, base, peak_mib, after, after - base, destroyed);
    CHECK(after - base <= LIMIT_MIB, "%s: RSS +%.1f MiB after the burst (limit %.0f)", names[v],
          after - base, LIMIT_MIB);
    return 0;
}

static int run_child(enum variant v)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t f0 = atomic_load(&st_check_fails);
        scenario(v);
        fflush(stdout);
        _exit(atomic_load(&st_check_fails) != f0 ? 1 : 0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    burst = argc > 1 ? strtoul(argv[1], NULL, 10) : 4194304ul;
    for (int v = TASK; v <= STOLEN; v++) {
        st_unit_begin();
        if (ST_SANITIZED) {
            printf("  %s: skipped under a sanitizer (RSS is not comparable)\n", names[v]);
            st_unit_end();
            continue;
        }
        int r = run_child((enum variant)v);
        CHECK(r == 0, "%s: %s (status %d)", names[v], r >= 128 ? "crashed" : "failed", r);
        printf("  %s: %s\n", names[v], st_unit_end() ? "ok" : "FAILED");
    }
    return st_finish("burst_memory");
}
