/* sleepers_plait.c — what cancellations cost plait_sleep's sleepers
 * (sleepers.h says what each line measures). */
#define _GNU_SOURCE
#include "../common/plait_bench.h"
#include "sleepers.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double *woke_at;
static atomic_int started, woken;

static long ctx_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void wait_count(atomic_int *c, int n, const char *bench)
{
    double t0 = bench_now();
    while (atomic_load(c) < n) {
        if (bench_now() - t0 > 60)
            bench_fail(bench, "plait", (unsigned)n, "only %d of %d started", atomic_load(c), n);
        bench_sleep(0.001);
    }
}

/* ---- sleepers_baseline ---- */

static _Atomic uint32_t *words;
static double base_t0;

static void *base_thread(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_fetch_add(&started, 1);
    while (atomic_load(&words[i]) == 0)
        syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    woke_at[i] = bench_now() - base_t0;
    return NULL;
}

static double baseline(int n)
{
    words = calloc((size_t)n, sizeof *words);
    pthread_t *th = malloc(sizeof *th * (size_t)n);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    atomic_store(&started, 0);
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], &at, base_thread, (void *)(intptr_t)i) != 0)
            bench_fail("sleepers_baseline", "futex", (unsigned)n, "pthread_create");
    wait_count(&started, n, "sleepers_baseline");
    bench_sleep(0.05);
    long cs0 = ctx_switches();
    base_t0 = bench_now();
    for (int i = 0; i < n; i++) {
        atomic_store(&words[i], 1);
        syscall(SYS_futex, &words[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    long cs = ctx_switches() - cs0;
    double p99 = bench_quantile(woke_at, n, 0.99) * 1e3,
           med = bench_quantile(woke_at, n, 0.5) * 1e3, max = bench_quantile(woke_at, n, 1.0) * 1e3;
    bench_emit("sleepers_baseline", "futex", (unsigned)n,
               "value=%.4g unit=ms p99_ms=%.4g median_ms=%.4g max_ms=%.4g ctxsw=%ld reps=1 ok=1",
               p99, p99, med, max, cs);
    free(th);
    free(words);
    return p99;
}

/* ---- sleepers_deadlines ---- */

/* Held: a woken sleeper blocks (a plain futex) until every one woke, so
 * that its worker does not go back to its idle search meanwhile. */
static int hold;
static _Atomic uint32_t released;

static int sleeper(plait_ctx *ctx, void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_fetch_add(&started, 1);
    int rc = plait_sleep(ctx, SLEEPERS_LONG_NS);
    woke_at[i] = bench_now();
    atomic_fetch_add(&woken, 1);
    while (hold && atomic_load(&released) == 0)
        syscall(SYS_futex, &released, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return rc;
}

static void release_held(void)
{
    atomic_store(&released, 1);
    syscall(SYS_futex, &released, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void deadlines(int n, double base_p99, int held)
{
    const char *bench = held ? "sleepers_deadlines_held" : "sleepers_deadlines";
    hold = held;
    atomic_store(&released, 0);
    plait_pool_options o = {.threads = (unsigned)n, .name = "sleep"};
    plait_pool *pool;
    int rc = plait_pool_create(&pool, &o);
    if (rc)
        bench_fail(bench, "plait", (unsigned)n, "pool: %s", plait_strerror(rc));
    plait_group **g = malloc(sizeof *g * (size_t)n);
    double *deadline_at = malloc(sizeof *deadline_at * (size_t)n);
    atomic_store(&started, 0);
    atomic_store(&woken, 0);
    for (int i = 0; i < n; i++) {
        if ((rc = plait_group_create(&g[i], pool, 0)) != 0 ||
            (rc = plait_go(g[i], sleeper, (void *)(intptr_t)i)) != 0)
            bench_fail(bench, "plait", (unsigned)n, "%s", plait_strerror(rc));
    }
    wait_count(&started, n, bench);
    bench_sleep(0.05);
    long cs0 = ctx_switches();
    for (int i = 0; i < n; i++) {
        deadline_at[i] = bench_now() + SLEEPERS_DEADLINE_NS * 1e-9;
        plait_group_set_timeout(g[i], SLEEPERS_DEADLINE_NS);
    }
    wait_count(&woken, n, bench);
    long cs = ctx_switches() - cs0;
    release_held();
    int ok = 1;
    for (int i = 0; i < n; i++) {
        if (plait_group_wait(g[i]) != ETIMEDOUT)
            ok = 0;
        plait_group_destroy(g[i]);
        woke_at[i] = woke_at[i] > deadline_at[i] ? woke_at[i] - deadline_at[i] : 0;
    }
    plait_pool_destroy(pool);
    if (!ok)
        bench_fail(bench, "plait", (unsigned)n, "a group did not time out");
    double p99 = bench_quantile(woke_at, n, 0.99) * 1e3,
           med = bench_quantile(woke_at, n, 0.5) * 1e3, max = bench_quantile(woke_at, n, 1.0) * 1e3;
    bench_emit(bench, "plait", (unsigned)n,
               "value=%.4g unit=ms p99_ms=%.4g median_ms=%.4g max_ms=%.4g ctxsw=%ld "
               "p99_over_baseline=%.2f reps=1 ok=1",
               p99, p99, med, max, cs, p99 / base_p99);
    free(g);
    free(deadline_at);
}

/* ---- sleepers_one_group ---- */

static void one_group(int n, double base_p99, int held)
{
    const char *bench = held ? "sleepers_one_group_held" : "sleepers_one_group";
    hold = held;
    atomic_store(&released, 0);
    plait_pool_options o = {.threads = (unsigned)n, .name = "sleep"};
    plait_pool *pool;
    plait_group *g;
    int rc = plait_pool_create(&pool, &o);
    if (rc == 0)
        rc = plait_group_create(&g, pool, 0);
    if (rc)
        bench_fail(bench, "plait", (unsigned)n, "%s", plait_strerror(rc));
    atomic_store(&started, 0);
    atomic_store(&woken, 0);
    for (int i = 0; i < n; i++)
        if ((rc = plait_go(g, sleeper, (void *)(intptr_t)i)) != 0)
            bench_fail(bench, "plait", (unsigned)n, "%s", plait_strerror(rc));
    wait_count(&started, n, bench);
    bench_sleep(0.05);
    long cs0 = ctx_switches();
    double t0 = bench_now();
    plait_group_cancel(g);
    double call_ms = (bench_now() - t0) * 1e3;
    wait_count(&woken, n, bench);
    long cs = ctx_switches() - cs0;
    release_held();
    int ok = plait_group_wait(g) == ECANCELED;
    plait_group_destroy(g);
    plait_pool_destroy(pool);
    if (!ok)
        bench_fail(bench, "plait", (unsigned)n, "the group did not cancel");
    for (int i = 0; i < n; i++)
        woke_at[i] -= t0;
    double p99 = bench_quantile(woke_at, n, 0.99) * 1e3,
           med = bench_quantile(woke_at, n, 0.5) * 1e3, max = bench_quantile(woke_at, n, 1.0) * 1e3;
    bench_emit(bench, "plait", (unsigned)n,
               "value=%.4g unit=ms p99_ms=%.4g median_ms=%.4g max_ms=%.4g cancel_call_ms=%.4g "
               "ctxsw=%ld p99_over_baseline=%.2f reps=1 ok=1",
               p99, p99, med, max, call_ms, cs, p99 / base_p99);
}

/* ---- sleepers_herd ---- */

static clockid_t *herd_clocks;

static void herd_start(unsigned worker, void *ud)
{
    (void)ud;
    pthread_getcpuclockid(pthread_self(), &herd_clocks[worker]);
}

static double herd_cpu_s(void)
{
    double sum = 0;
    for (int i = 0; i < SLEEPERS_HERD; i++) {
        struct timespec ts;
        clock_gettime(herd_clocks[i], &ts);
        sum += (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    return sum;
}

static int failing(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EIO;
}

struct driver {
    double seconds;
    uint64_t groups;
};

static int noop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

/* On the other pool's worker: fail-fast groups for d->seconds. */
static int driver(plait_ctx *ctx, void *arg)
{
    struct driver *d = arg;
    double t0 = bench_now();
    d->groups = 0;
    while (bench_now() - t0 < d->seconds) {
        plait_group *g;
        if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
            return ENOMEM;
        plait_go(g, failing, NULL);
        plait_go(g, noop, NULL);
        int rc = plait_group_wait(g);
        plait_group_destroy(g);
        if (rc != EIO)
            return EPROTO;
        d->groups++;
    }
    return 0;
}

static int long_sleeper(plait_ctx *ctx, void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    return plait_sleep(ctx, SLEEPERS_LONG_NS);
}

static void herd(const bench_cfg *cfg)
{
    herd_clocks = calloc(SLEEPERS_HERD, sizeof *herd_clocks);
    plait_pool_options o1 = {.threads = SLEEPERS_HERD,
                             .name = "herd",
                             .on_thread_start = herd_start},
                       o2 = {.threads = 1, .name = "failfast"};
    plait_pool *p1, *p2;
    if (plait_pool_create(&p1, &o1) || plait_pool_create(&p2, &o2))
        bench_fail("sleepers_herd", "plait", SLEEPERS_HERD, "plait_pool_create");
    struct driver d = {.seconds = SLEEPERS_HERD_S(cfg)};
    pb_root(p2, driver, &d, "sleepers_herd", "plait", SLEEPERS_HERD);
    double alone = (double)d.groups / d.seconds;
    plait_group *gs;
    plait_group_create(&gs, p1, 0);
    atomic_store(&started, 0);
    for (int i = 0; i < SLEEPERS_HERD; i++)
        plait_go(gs, long_sleeper, NULL);
    wait_count(&started, SLEEPERS_HERD, "sleepers_herd");
    bench_sleep(0.05);
    double c0 = herd_cpu_s();
    pb_root(p2, driver, &d, "sleepers_herd", "plait", SLEEPERS_HERD);
    double cpu_ms = (herd_cpu_s() - c0) * 1e3;
    double beside = (double)d.groups / d.seconds;
    plait_group_cancel(gs);
    int ok = plait_group_wait(gs) == ECANCELED;
    plait_group_destroy(gs);
    plait_pool_destroy(p1);
    plait_pool_destroy(p2);
    free(herd_clocks);
    if (!ok)
        bench_fail("sleepers_herd", "plait", SLEEPERS_HERD, "the sleepers' group did not cancel");
    bench_emit(
        "sleepers_herd", "plait", SLEEPERS_HERD,
        "value=%.4g unit=cpu_ms cpu_ms=%.4g groups_per_s_alone=%.0f groups_per_s_beside=%.0f "
        "window_s=%.2f reps=1 ok=1",
        cpu_ms, cpu_ms, alone, beside, d.seconds);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    int n = SLEEPERS_N(&cfg);
    woke_at = malloc(sizeof *woke_at * (size_t)n);
    double base = baseline(n);
    deadlines(n, base, 0);
    one_group(n, base, 0);
    deadlines(n, base, 1);
    one_group(n, base, 1);
    herd(&cfg);
    free(woke_at);
    return 0;
}
