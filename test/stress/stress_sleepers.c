/*
 * stress_sleepers — many sleepers, random cancellations (cancel.c's
 * sleeper records: the claim under the list lock, the wake outside it).
 *
 * Each round fills one pool with sleeping tasks in a few groups, of four
 * kinds: long sleepers (60 s: only a cancellation ends them), short
 * sleepers (sleeps of 0-300 us in a loop: their deadlines race the
 * claims), join sleepers (both children of a plait_join sleep) and nested
 * sleepers (a task creates a group, its one task sleeps: reached through
 * rule 4). Then a driver thread issues random cancellations: of tasks, of
 * groups, short deadlines on groups, and noise that reaches none of them
 * (empty groups of the same pool, fail-fast groups in another pool); then
 * cancels every group, waits, and checks:
 *   - every long sleep returned ECANCELED, within a generous bound of the
 *     first cancellation that reached it (promptly: no lost wake-up);
 *   - no sleep returned ECANCELED before a cancellation reaching it had
 *     been issued (a stamp the driver stores before each call; the wake's
 *     release/acquire chain makes it visible to the woken sleeper);
 *   - no hang: a watchdog aborts with the round's state.
 * Prints the wake-up lateness (median, p99, max) over all long sleepers.
 *
 * Options: --rounds N, --seed S.
 */
#include "stress_common.h"

#include <plait.h>

#define NGROUPS 6
#define LONG_PER_GROUP 3
#define LONG_NS 60000000000ull
#define WORKERS 64

enum kind { K_LONG, K_SHORT, K_JOIN, K_NEST };
#define KINDS_PER_GROUP (LONG_PER_GROUP + 3)
#define NTASKS (NGROUPS * KINDS_PER_GROUP)
/* Sleeps: one per long or short task, two per join, one per nest. */
#define NSLEEPS (NGROUPS * (LONG_PER_GROUP + 1 + 2 + 1))

/* When a cancellation reaching something was issued: 0 until then, else
 * the time it takes effect (a deadline's end), stored before the call. */
typedef _Atomic uint64_t stamp;

struct sleep_rec {
    stamp *reach[2];       /* the task's stamp, the group's */
    _Atomic uint64_t woke; /* when the sleep returned ECANCELED */
    _Atomic int spurious;  /* ECANCELED with nothing issued */
    _Atomic int began;
    bool is_long;
};

struct task_rec {
    enum kind kind;
    struct sleep_rec *sleeps[2];
    stamp issued;
    plait_task *handle;
};

struct group_rec {
    plait_group *g;
    stamp issued;
};

static plait_pool *pool, *noise_pool;
static struct group_rec groups[NGROUPS];
static struct task_rec tasks[NTASKS];
static struct sleep_rec sleeps[NSLEEPS];
static _Atomic int asleep; /* sleeps begun this round */
static _Atomic int round_no;
static _Atomic int noise_stop;
static uint64_t *lateness;
static size_t nlateness;

static bool issued(const struct sleep_rec *s)
{
    /* acquire: pairs with the driver's release store before its cancel. */
    return atomic_load_explicit(s->reach[0], memory_order_acquire) != 0 ||
           atomic_load_explicit(s->reach[1], memory_order_acquire) != 0;
}

static int sleep_once(plait_ctx *ctx, struct sleep_rec *s, uint64_t ns)
{
    atomic_store(&s->began, 1);
    int rc = plait_sleep(ctx, ns);
    if (rc == ECANCELED) {
        atomic_store(&s->woke, st_now_ns());
        if (!issued(s))
            atomic_store(&s->spurious, 1);
    }
    return rc;
}

static int long_sleeper(plait_ctx *ctx, void *arg)
{
    struct sleep_rec *s = arg;
    atomic_fetch_add(&asleep, 1);
    return sleep_once(ctx, s, LONG_NS);
}

static int short_sleeper(plait_ctx *ctx, void *arg)
{
    struct sleep_rec *s = arg;
    uint64_t seed = (uint64_t)(uintptr_t)s ^ (uint64_t)atomic_load(&round_no);
    atomic_fetch_add(&asleep, 1);
    for (;;) {
        int rc = sleep_once(ctx, s, st_below(&seed, 300000));
        if (rc != 0)
            return rc;
    }
}

static int join_task(plait_ctx *ctx, void *arg)
{
    struct task_rec *t = arg;
    return plait_join(ctx, long_sleeper, t->sleeps[0], long_sleeper, t->sleeps[1]);
}

static int nest_task(plait_ctx *ctx, void *arg)
{
    struct task_rec *t = arg;
    plait_group *n;
    if (plait_group_create(&n, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int rc = plait_go(n, long_sleeper, t->sleeps[0]);
    int w = plait_group_wait(n);
    plait_group_destroy(n);
    return rc != 0 ? rc : w;
}

static void issue(stamp *s, uint64_t when)
{
    uint64_t zero = 0;
    /* release: pairs with the sleeper's acquire in issued(); keep the
     * earliest. */
    atomic_compare_exchange_strong_explicit(s, &zero, when, memory_order_release,
                                            memory_order_relaxed);
}

/* Noise in another pool: fail-fast groups back to back. */
static int failing(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EIO;
}

static void *noise_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&noise_stop)) {
        plait_group *g;
        if (plait_group_create(&g, noise_pool, 0) != 0)
            continue;
        plait_go(g, failing, NULL);
        plait_go(g, failing, NULL);
        plait_group_wait(g);
        plait_group_destroy(g);
    }
    return NULL;
}

static void dump(void)
{
    fprintf(stderr, "round %d, %d sleeps begun of %d\n", atomic_load(&round_no),
            atomic_load(&asleep), NSLEEPS);
    for (int i = 0; i < NTASKS; i++)
        fprintf(stderr, "  task %d kind %d issued %" PRIu64 " done %d\n", i, tasks[i].kind,
                atomic_load(&tasks[i].issued),
                tasks[i].handle != NULL ? plait_task_done(tasks[i].handle) : -1);
}

static void round_run(uint64_t *seed)
{
    st_unit_begin();
    atomic_store(&asleep, 0);
    memset(sleeps, 0, sizeof sleeps);
    int ns = 0, nt = 0;
    for (int gi = 0; gi < NGROUPS; gi++) {
        struct group_rec *gr = &groups[gi];
        atomic_store(&gr->issued, 0);
        CHECK(plait_group_create(&gr->g, pool, 0) == 0, "group_create");
        for (int k = 0; k < KINDS_PER_GROUP; k++) {
            struct task_rec *t = &tasks[nt++];
            t->kind = k < LONG_PER_GROUP ? K_LONG : (enum kind)(k - LONG_PER_GROUP + 1);
            atomic_store(&t->issued, 0);
            int nsl = t->kind == K_JOIN ? 2 : 1;
            for (int j = 0; j < nsl; j++) {
                struct sleep_rec *s = &sleeps[ns++];
                s->reach[0] = &t->issued;
                s->reach[1] = &gr->issued;
                s->is_long = t->kind != K_SHORT;
                t->sleeps[j] = s;
            }
            plait_fn fn = t->kind == K_LONG    ? long_sleeper
                          : t->kind == K_SHORT ? short_sleeper
                          : t->kind == K_JOIN  ? join_task
                                               : nest_task;
            void *arg = t->kind == K_JOIN || t->kind == K_NEST ? (void *)t : (void *)t->sleeps[0];
            t->handle = plait_spawn(gr->g, fn, arg);
            CHECK(t->handle != NULL, "spawn");
        }
    }
    /* Random cancellations while they sleep, some before all are asleep. */
    uint64_t wait_for = st_below(seed, NSLEEPS + 1);
    uint64_t t0 = st_now_ns();
    while ((uint64_t)atomic_load(&asleep) < wait_for && st_now_ns() - t0 < 10000000000ull)
        sched_yield();
    int actions = 2 + (int)st_below(seed, 10);
    for (int a = 0; a < actions; a++) {
        uint64_t spin = st_below(seed, 50000), s0 = st_now_ns();
        while (st_now_ns() - s0 < spin) {
        }
        switch (st_below(seed, 5)) {
        case 0: { /* a task */
            struct task_rec *t = &tasks[st_below(seed, NTASKS)];
            issue(&t->issued, st_now_ns());
            plait_task_cancel(t->handle);
            break;
        }
        case 1: { /* a group */
            struct group_rec *gr = &groups[st_below(seed, NGROUPS)];
            issue(&gr->issued, st_now_ns());
            plait_group_cancel(gr->g);
            break;
        }
        case 2: { /* a short deadline */
            struct group_rec *gr = &groups[st_below(seed, NGROUPS)];
            uint64_t d = st_below(seed, 500000);
            issue(&gr->issued, st_now_ns() + d);
            CHECK(plait_group_set_timeout(gr->g, d) == 0, "set_timeout");
            break;
        }
        default: { /* noise in the same pool: reaches no sleeper */
            plait_group *e;
            if (plait_group_create(&e, pool, 0) == 0) {
                plait_group_cancel(e);
                plait_group_wait(e);
                plait_group_destroy(e);
            }
            break;
        }
        }
    }
    /* Everything else, so that the round ends. */
    for (int gi = 0; gi < NGROUPS; gi++) {
        issue(&groups[gi].issued, st_now_ns());
        plait_group_cancel(groups[gi].g);
    }
    for (int gi = 0; gi < NGROUPS; gi++) {
        int rc = plait_group_wait(groups[gi].g);
        CHECK(rc == ECANCELED || rc == ETIMEDOUT, "group %d wait: %d", gi, rc);
        plait_group_destroy(groups[gi].g);
    }
    for (int i = 0; i < NTASKS; i++) {
        int rc = plait_task_wait(tasks[i].handle);
        CHECK(rc == ECANCELED, "task %d (kind %d): %d", i, tasks[i].kind, rc);
        plait_task_release(tasks[i].handle);
        tasks[i].handle = NULL;
    }
    for (int i = 0; i < ns; i++) {
        struct sleep_rec *s = &sleeps[i];
        CHECK(!atomic_load(&s->spurious),
              "sleep %d returned ECANCELED before any cancellation "
              "reaching it was issued",
              i);
        uint64_t woke = atomic_load(&s->woke);
        if (!s->is_long || !atomic_load(&s->began))
            continue; /* a long sleeper cancelled before it ran */
        CHECK(woke != 0, "long sleep %d returned without ECANCELED", i);
        uint64_t a = atomic_load(s->reach[0]), b = atomic_load(s->reach[1]);
        uint64_t first = a != 0 && (b == 0 || a < b) ? a : b;
        uint64_t late = woke > first ? woke - first : 0;
        lateness[nlateness++] = late;
        CHECK(late < (ST_SANITIZED ? 20000000000ull : 5000000000ull),
              "sleep %d woke %.1f ms after its cancellation", i, late / 1e6);
    }
    st_unit_end();
    st_watchdog_kick();
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t rounds = st_arg_u64(argc, argv, "--rounds", st_scaled(300, 20));
    uint64_t seed = st_arg_u64(argc, argv, "--seed", st_seed_from_time());
    printf("stress_sleepers: %" PRIu64 " rounds, seed %" PRIu64 "\n", rounds, seed);
    fflush(stdout);
    st_watchdog_start(ST_SANITIZED ? 120 : 30, dump);
    plait_pool_options o = {.threads = WORKERS}, on = {.threads = 1};
    if (plait_pool_create(&pool, &o) != 0 || plait_pool_create(&noise_pool, &on) != 0) {
        fprintf(stderr, "pool_create failed\n");
        return 1;
    }
    lateness = malloc(sizeof *lateness * NSLEEPS * rounds);
    pthread_t noise;
    pthread_create(&noise, NULL, noise_main, NULL);
    for (uint64_t r = 0; r < rounds; r++) {
        atomic_store(&round_no, (int)r);
        round_run(&seed);
    }
    atomic_store(&noise_stop, 1);
    pthread_join(noise, NULL);
    CHECK(plait_pool_destroy(pool) == 0, "pool_destroy");
    CHECK(plait_pool_destroy(noise_pool) == 0, "pool_destroy");
    st_watchdog_stop();
    if (nlateness > 0) {
        qsort(lateness, nlateness, sizeof *lateness, cmp_u64);
        printf("stress_sleepers: %zu long sleeps woken by a cancellation: lateness median %.3f ms, "
               "p99 %.3f ms, max %.3f ms\n",
               nlateness, lateness[nlateness / 2] / 1e6, lateness[nlateness * 99 / 100] / 1e6,
               lateness[nlateness - 1] / 1e6);
    }
    free(lateness);
    return st_finish("stress_sleepers");
}
