/*
 * testlib — what every unit test includes: the test framework (Criterion,
 * or its compatible stand-in in builds where Criterion cannot run, i.e.
 * ThreadSanitizer: PLAIT_TEST_COMPAT), plait.h, and small helpers.
 *
 * Synchronisation in tests is by handshake, never by sleeping: a task sets
 * an atomic flag when it starts, the test spins (sched_yield) until it sees
 * it, and fails instead of hanging when it does not come within TL_WAIT_S.
 *
 * Assertions (cr_assert*) are made on the test's own thread. Task bodies
 * running on workers report through atomics and return codes instead, so
 * that the tests behave the same under both frameworks.
 */
#ifndef PLAIT_TESTLIB_H
#define PLAIT_TESTLIB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <plait.h>

#ifdef PLAIT_TEST_COMPAT
#include "compat/criterion_compat.h"
#else
#include <criterion/criterion.h>
#include <criterion/logging.h>
#endif

/* ---- Sanitizers: smaller workloads, longer patience ---------------------- */

#if defined(__SANITIZE_THREAD__)
#define TL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TL_TSAN 1
#endif
#endif
#ifndef TL_TSAN
#define TL_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_ASAN 1
#endif
#endif
#ifndef TL_ASAN
#define TL_ASAN 0
#endif

#define TL_SANITIZED (TL_TSAN || TL_ASAN)

/* A workload size: normal, or smaller under a sanitizer. */
#define TL_SIZE(normal, sanitized) (TL_SANITIZED ? (sanitized) : (normal))

/* Per-test timeout (seconds) for Test(..., .timeout = TL_TIMEOUT). */
#define TL_TIMEOUT 30.0
/* How long a handshake may take before the test fails (seconds). */
#define TL_WAIT_S 10.0

/* ---- Clocks --------------------------------------------------------------- */

static inline uint64_t tl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double tl_since_s(uint64_t start_ns)
{
    return (double)(tl_now_ns() - start_ns) / 1e9;
}

/* CPU time of the whole process (all threads), in nanoseconds. */
static inline uint64_t tl_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread only, in nanoseconds: what one waiter
 * spent, whatever the pool's workers did meanwhile. */
static inline uint64_t tl_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether thread tid of this process sleeps in the kernel ('S' in its
 * stat); false when its state cannot be read. */
static inline bool tl_thread_asleep(int tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the state follows "(comm)" */
    return p != NULL && p[1] == ' ' && p[2] == 'S';
}

/* Real sleep, for the few places that need time to pass (measuring idle
 * CPU, letting a deadline expire); never used to order events. */
static inline void tl_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Pseudo-random numbers ------------------------------------------------- */

/* xorshift64: cheap, and a fixed seed makes a run's choices the same
 * every time. *s must not be 0. */
static inline uint64_t tl_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- Handshakes ------------------------------------------------------------ */

/* Spins (yielding) until cond holds; false after secs. Safe on any thread:
 * task bodies use it and report a timeout through their return code. */
#define TL_SPIN_UNTIL(cond, secs)                                                                  \
    ({                                                                                             \
        uint64_t tl_spin_t0_ = tl_now_ns();                                                        \
        bool tl_spin_ok_ = true;                                                                   \
        while (!(cond)) {                                                                          \
            if (tl_now_ns() - tl_spin_t0_ > (uint64_t)((secs)*1e9)) {                              \
                tl_spin_ok_ = (cond);                                                              \
                break;                                                                             \
            }                                                                                      \
            sched_yield();                                                                         \
        }                                                                                          \
        tl_spin_ok_;                                                                               \
    })

/* On the test's thread: waits for cond, failing the test after TL_WAIT_S
 * instead of hanging. */
#define TL_AWAIT(cond)                                                                             \
    do {                                                                                           \
        if (!TL_SPIN_UNTIL(cond, TL_WAIT_S))                                                       \
            cr_assert_fail("timed out after %.0f s waiting for: %s", TL_WAIT_S, #cond);            \
    } while (0)

/* An atomic flag a task raises and another thread waits for. */
static inline void tl_raise(atomic_int *f)
{
    atomic_store_explicit(f, 1, memory_order_release);
}

static inline bool tl_raised(atomic_int *f)
{
    return atomic_load_explicit(f, memory_order_acquire) != 0;
}

/* Waits up to secs for the flag; false on timeout. */
static inline bool tl_wait_flag(atomic_int *f, double secs)
{
    return TL_SPIN_UNTIL(tl_raised(f), secs);
}

/* A count-down latch. */
struct tl_latch {
    atomic_int count;
};

static inline void tl_latch_init(struct tl_latch *l, int n)
{
    atomic_init(&l->count, n);
}

static inline void tl_latch_count_down(struct tl_latch *l)
{
    atomic_fetch_sub_explicit(&l->count, 1, memory_order_acq_rel);
}

static inline bool tl_latch_wait(struct tl_latch *l, double secs)
{
    return TL_SPIN_UNTIL(atomic_load_explicit(&l->count, memory_order_acquire) <= 0, secs);
}

/* A gate: tasks announce they started, then block until the test opens it
 * (or until they are cancelled, when they poll). */
struct tl_gate {
    atomic_int started;    /* how many tasks reached the gate */
    atomic_int open;       /* raised by the test */
    atomic_int saw_cancel; /* how many left because plait_cancelled() read true */
    atomic_int finished;   /* how many left the gate, either way (last thing they do) */
};

static inline void tl_gate_init(struct tl_gate *g)
{
    atomic_init(&g->started, 0);
    atomic_init(&g->open, 0);
    atomic_init(&g->saw_cancel, 0);
    atomic_init(&g->finished, 0);
}

/* Task body: waits at the gate. 0 when opened, EIO if it never opens. */
static inline int tl_gate_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct tl_gate *g = arg;
    atomic_fetch_add_explicit(&g->started, 1, memory_order_acq_rel);
    int r = tl_wait_flag(&g->open, TL_WAIT_S) ? 0 : EIO;
    atomic_fetch_add_explicit(&g->finished, 1, memory_order_acq_rel);
    return r;
}

/* Task body: waits at the gate, or leaves with ECANCELED as soon as its
 * context is cancelled. */
static inline int tl_gate_cancellable_task(plait_ctx *ctx, void *arg)
{
    struct tl_gate *g = arg;
    atomic_fetch_add_explicit(&g->started, 1, memory_order_acq_rel);
    bool ok = TL_SPIN_UNTIL(tl_raised(&g->open) || plait_cancelled(ctx), TL_WAIT_S);
    int r = ok ? 0 : EIO;
    if (plait_cancelled(ctx)) {
        atomic_fetch_add_explicit(&g->saw_cancel, 1, memory_order_acq_rel);
        r = ECANCELED;
    }
    atomic_fetch_add_explicit(&g->finished, 1, memory_order_acq_rel);
    return r;
}

/* ---- Common task bodies ---------------------------------------------------- */

static inline int tl_noop_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

/* arg: an atomic_int to increment. */
static inline int tl_count_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
    return 0;
}

/* arg: the code to return, as (void *)(intptr_t)code. */
static inline int tl_return_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    return (int)(intptr_t)arg;
}

#define TL_CODE(c) ((void *)(intptr_t)(c))

/* A task that announces itself, then sleeps in plait_sleep: what the sleep
 * returned and how long it took tell whether a cancel or a deadline cut it
 * short. r and took are plain: read them after waiting for the task. */
struct tl_sleeper {
    uint64_t ns; /* how long to sleep */
    atomic_int started;
    int r;         /* plait_sleep's result */
    uint64_t took; /* ns */
};

#define TL_MINUTE_NS (60ull * 1000000000u)

static inline void tl_sleeper_init(struct tl_sleeper *s, uint64_t ns)
{
    s->ns = ns;
    atomic_init(&s->started, 0);
    s->r = -1;
    s->took = 0;
}

/* arg: a struct tl_sleeper. Returns what plait_sleep returned. */
static inline int tl_sleep_task(plait_ctx *ctx, void *arg)
{
    struct tl_sleeper *s = arg;
    tl_raise(&s->started);
    uint64_t t0 = tl_now_ns();
    s->r = plait_sleep(ctx, s->ns);
    s->took = tl_now_ns() - t0;
    return s->r;
}

/* ---- Pools and threads ----------------------------------------------------- */

static inline plait_pool *tl_pool(unsigned threads)
{
    plait_pool *p = NULL;
    plait_pool_options o = {.threads = threads};
    int r = plait_pool_create(&p, &o);
    cr_assert_eq(r, 0, "plait_pool_create(threads=%u): %d (%s)", threads, r, strerror(r));
    cr_assert_not_null(p);
    cr_assert_eq(plait_pool_size(p), threads);
    return p;
}

static inline plait_group *tl_group(plait_pool *pool, unsigned flags)
{
    plait_group *g = NULL;
    int r = plait_group_create(&g, pool, flags);
    cr_assert_eq(r, 0, "plait_group_create: %d (%s)", r, strerror(r));
    cr_assert_not_null(g);
    return g;
}

/* A group whose one task holds a worker at the gate: on a one-worker pool,
 * what is spawned next stays queued until the test opens the gate. Inits
 * the gate; the caller opens it, then waits for and destroys the group. */
static inline plait_group *tl_busy_group(plait_pool *pool, struct tl_gate *gate)
{
    tl_gate_init(gate);
    plait_group *busy = tl_group(pool, 0);
    cr_assert_eq(plait_go(busy, tl_gate_task, gate), 0);
    TL_AWAIT(atomic_load(&gate->started) == 1);
    return busy;
}

static inline pthread_t tl_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int r = pthread_create(&t, NULL, fn, arg);
    cr_assert_eq(r, 0, "pthread_create: %s", strerror(r));
    return t;
}

static inline void *tl_join_thread(pthread_t t)
{
    void *ret = NULL;
    int r = pthread_join(t, &ret);
    cr_assert_eq(r, 0, "pthread_join: %s", strerror(r));
    return ret;
}

/* Thread body: cancels the group it is given. */
static inline void *tl_cancel_group_thread(void *group)
{
    plait_group_cancel(group);
    return NULL;
}

/* plait_pool_destroy on a thread of its own, for tests of what holds while
 * a destroy is under way (it returns only when the pool's work is done). */
struct tl_destroyer {
    plait_pool *pool;
    atomic_int result;
    atomic_int done; /* raised when plait_pool_destroy returned */
    pthread_t thread;
};

static inline void *tl_destroyer_main(void *arg)
{
    struct tl_destroyer *d = arg;
    atomic_store(&d->result, plait_pool_destroy(d->pool));
    tl_raise(&d->done);
    return NULL;
}

static inline void tl_destroy_in_thread(struct tl_destroyer *d, plait_pool *pool)
{
    d->pool = pool;
    atomic_init(&d->result, -1);
    atomic_init(&d->done, 0);
    d->thread = tl_thread(tl_destroyer_main, d);
}

/* Joins the destroying thread; what plait_pool_destroy returned. */
static inline int tl_destroyer_join(struct tl_destroyer *d)
{
    tl_join_thread(d->thread);
    return atomic_load(&d->result);
}

/* Whether a foreign submit is refused now: the sign that a destroy has
 * begun. On the test's thread (a refusal for any other reason than
 * ESHUTDOWN fails the test). */
static inline bool tl_submit_refused(plait_pool *pool)
{
    errno = 0;
    plait_task *t = plait_submit(pool, tl_noop_task, NULL);
    int e = errno;
    if (t != NULL) {
        plait_task_release(t);
        return false;
    }
    cr_assert_eq(e, ESHUTDOWN, "submit failed with %d (%s), not ESHUTDOWN", e, strerror(e));
    return true;
}

/* ---- Reading what plait wrote ------------------------------------------------- */

/* A whole file as a string (free it), or NULL. */
static inline char *tl_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* How many times needle occurs in s (overlaps counted). */
static inline size_t tl_count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* plait_pool_dump's output as a string (free it). */
static inline char *tl_dump_str(plait_pool *pool, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    int rc = plait_pool_dump(pool, f, flags);
    fclose(f);
    cr_assert_eq(rc, 0, "plait_pool_dump: %d", rc);
    return buf;
}

/* How many waits on group g the pool's dump shows: workers inside
 * plait_group_wait(g) and foreign threads asleep in it. A wait shows only
 * once it has begun (past the check that refuses a wait on a group already
 * waited), so a waiter seen here gets the group's result: the handshake for
 * "every waiter is in before the group ends". On the test's thread. */
static inline size_t tl_waits_on_group(plait_pool *pool, const plait_group *g)
{
    char needle[64];
    int len = snprintf(needle, sizeof needle, "waits on group %p", (const void *)g);
    char *d = tl_dump_str(pool, 0);
    size_t n = 0;
    for (const char *p = d; (p = strstr(p, needle)) != NULL; p += len) {
        char next = p[len];
        /* Not a longer address that starts with this one. */
        if (!((next >= '0' && next <= '9') || (next >= 'a' && next <= 'f')))
            n++;
    }
    free(d);
    return n;
}

/* Assert a plait call's result, naming both codes on failure. */
#define TL_ASSERT_CODE(expr, want)                                                                 \
    do {                                                                                           \
        int tl_got_ = (expr);                                                                      \
        int tl_want_ = (want);                                                                     \
        cr_assert_eq(tl_got_, tl_want_, "%s: got %d (%s), want %d (%s)", #expr, tl_got_,           \
                     strerror(tl_got_), tl_want_, strerror(tl_want_));                             \
    } while (0)

#define TL_EXPECT_CODE(expr, want)                                                                 \
    do {                                                                                           \
        int tl_got_ = (expr);                                                                      \
        int tl_want_ = (want);                                                                     \
        cr_expect_eq(tl_got_, tl_want_, "%s: got %d (%s), want %d (%s)", #expr, tl_got_,           \
                     strerror(tl_got_), tl_want_, strerror(tl_want_));                             \
    } while (0)

#endif
