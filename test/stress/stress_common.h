/*
 * stress_common.h — shared helpers for the standalone stress drivers:
 * pass/fail accounting (the final "N passed, N failed" line), the work
 * scale for sanitizer builds, a seeded PRNG, clocks, and a watchdog.
 *
 * Header-only: each driver is one translation unit plus this header.
 */
#ifndef PLAIT_STRESS_COMMON_H
#define PLAIT_STRESS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Sanitizer detection ------------------------------------------------ */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ST_SANITIZED 1
#endif
#endif
#ifndef ST_SANITIZED
#define ST_SANITIZED 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_ASAN 1
#endif
#endif
#ifndef ST_ASAN
#define ST_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define ST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ST_TSAN 1
#endif
#endif
#ifndef ST_TSAN
#define ST_TSAN 0
#endif

/* The work scale: 1 in a plain build, 0.1 under a sanitizer (5-15x
 * slower); $PLAIT_STRESS_SCALE (a positive number) replaces the default,
 * e.g. 0.02 under valgrind or 10 for a long local run. */
static inline double st_scale(void)
{
    static double s = 0;
    if (s == 0) {
        double d = ST_SANITIZED ? 0.25 : 1.0;
        const char *e = getenv("PLAIT_STRESS_SCALE");
        if (e != NULL && *e != '\0') {
            char *end;
            double v = strtod(e, &end);
            if (end != e && v > 0)
                d = v;
        }
        s = d;
    }
    return s;
}

/* n scaled, at least lo. */
static inline uint64_t st_scaled(uint64_t n, uint64_t lo)
{
    double v = (double)n * st_scale();
    uint64_t r = v < 1 ? 0 : (uint64_t)v;
    return r < lo ? lo : r;
}

/* ---- Accounting --------------------------------------------------------- */

static _Atomic uint64_t st_checks;       /* every CHECK evaluated */
static _Atomic uint64_t st_check_fails;  /* every CHECK that failed */
static _Atomic uint64_t st_units_passed; /* rounds / phases that passed */
static _Atomic uint64_t st_units_failed;
static _Atomic uint64_t st_unit_fail_mark; /* st_check_fails when the unit began */
static _Atomic int st_printed;

static inline void st_report(const char *file, int line, const char *cond, const char *fmt, ...)
{
    atomic_fetch_add(&st_check_fails, 1);
    if (atomic_fetch_add(&st_printed, 1) >= 40) /* do not flood the log */
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s:%d: %s: %s\n", file, line, cond, msg);
    fflush(stderr);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        atomic_fetch_add_explicit(&st_checks, 1, memory_order_relaxed);                            \
        if (!(cond))                                                                               \
            st_report(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

static inline void st_unit_begin(void)
{
    atomic_store(&st_unit_fail_mark, atomic_load(&st_check_fails));
}

/* Ends a unit; true when it passed. */
static inline bool st_unit_end(void)
{
    bool ok = atomic_load(&st_check_fails) == atomic_load(&st_unit_fail_mark);
    atomic_fetch_add(ok ? &st_units_passed : &st_units_failed, 1);
    return ok;
}

/* Prints the final line the CI parser reads and returns the exit status. */
static inline int st_finish(const char *name)
{
    uint64_t p = atomic_load(&st_units_passed), f = atomic_load(&st_units_failed);
    printf("%s: %" PRIu64 " checks, %" PRIu64 " failed checks\n", name, atomic_load(&st_checks),
           atomic_load(&st_check_fails));
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", p, f);
    fflush(stdout);
    return f == 0 && atomic_load(&st_check_fails) == 0 ? 0 : 1;
}

/* ---- PRNG (splitmix64: seedable, reproducible) ------------------------- */

static inline uint64_t st_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t st_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t x = *s;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t st_below(uint64_t *s, uint64_t n)
{
    return n ? st_next(s) % n : 0;
}

/* ---- Time --------------------------------------------------------------- */

static inline uint64_t st_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void st_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits (yielding) until *flag is non-zero; false after secs. The
 * drivers' handshake: a task raises a flag, the driver waits for it,
 * rather than sleeping and assuming. */
static inline bool st_wait_flag(_Atomic int *flag, double secs)
{
    uint64_t t0 = st_now_ns();
    while (!atomic_load_explicit(flag, memory_order_acquire)) {
        if (st_now_ns() - t0 > (uint64_t)(secs * 1e9))
            return atomic_load_explicit(flag, memory_order_acquire) != 0;
        sched_yield();
    }
    return true;
}

static inline uint64_t st_seed_from_time(void)
{
    return st_mix(st_now_ns() ^ ((uint64_t)getpid() << 32));
}

/* ---- Watchdog ------------------------------------------------------------
 * A thread that aborts the process when st_watchdog_kick has not been
 * called for `limit_s` seconds, after calling the driver's dump function
 * (which prints the state: round, seed, pending counts, pool stats). */

static _Atomic uint64_t st_wd_last;
static _Atomic int st_wd_stop;
static double st_wd_limit_s;
static void (*st_wd_dump)(void);
static pthread_t st_wd_thread;

static inline void st_watchdog_kick(void)
{
    atomic_store(&st_wd_last, st_now_ns());
}

static void *st_watchdog_main(void *unused)
{
    (void)unused;
    while (!atomic_load(&st_wd_stop)) {
        st_sleep_ns(100000000u);
        /* Read the clock after the last kick: a kick between the two reads
         * would otherwise make the difference wrap around. */
        uint64_t last = atomic_load(&st_wd_last);
        uint64_t now = st_now_ns();
        double idle = now > last ? (double)(now - last) / 1e9 : 0.0;
        if (idle > st_wd_limit_s && !atomic_load(&st_wd_stop)) {
            fprintf(stderr, "WATCHDOG: no progress for %.1f s; state:\n", idle);
            if (st_wd_dump != NULL)
                st_wd_dump();
            fprintf(stderr, "0 passed, 1 failed\n");
            fflush(stderr);
            fflush(stdout);
            abort();
        }
    }
    return NULL;
}

static inline void st_watchdog_start(double limit_s, void (*dump)(void))
{
    st_wd_limit_s = limit_s;
    st_wd_dump = dump;
    st_watchdog_kick();
    pthread_create(&st_wd_thread, NULL, st_watchdog_main, NULL);
}

static inline void st_watchdog_stop(void)
{
    atomic_store(&st_wd_stop, 1);
    pthread_join(st_wd_thread, NULL);
}

/* ---- Children ------------------------------------------------------------ */

/* Runs fn in a forked child, with limit_s to finish (then it is killed and
 * *hung set). Returns the child's exit status (1 when a CHECK failed in
 * it), 128 + the signal that killed it, or -1 when it hung. The child
 * leaves by exit(), so LSan runs in it. */
static inline int st_run_child(void (*fn)(void), double limit_s, bool *hung)
{
    fflush(stdout);
    fflush(stderr);
    *hung = false;
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t f0 = atomic_load(&st_check_fails);
        fn();
        fflush(stdout);
        exit(atomic_load(&st_check_fails) != f0 ? 1 : 0);
    }
    uint64_t limit = st_now_ns() + (uint64_t)(limit_s * 1e9);
    int status = 0;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        if (st_now_ns() > limit) {
            *hung = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        st_sleep_ns(1000000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- Arguments ------------------------------------------------------------ */

/* "--name value" or "--name=value"; returns the value or NULL. */
static inline const char *st_arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], name, n) == 0) {
            if (argv[i][n] == '=')
                return argv[i] + n + 1;
            if (argv[i][n] == '\0' && i + 1 < argc)
                return argv[i + 1];
        }
    }
    return NULL;
}

static inline uint64_t st_arg_u64(int argc, char **argv, const char *name, uint64_t dflt)
{
    const char *v = st_arg(argc, argv, name);
    return v != NULL ? strtoull(v, NULL, 0) : dflt;
}

/* Bytes malloc has handed out and not had back, over all arenas (glibc's
 * malloc_info totals: system current - free fast/rest chunks + mmapped),
 * or 0: a finer gauge than RSS for records that pile up somewhere. */
static inline uint64_t st_heap_in_use(void)
{
#if defined(__GLIBC__)
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return 0;
    malloc_info(0, f);
    fclose(f);
    /* The totals over all heaps come last: take the last of each. */
    unsigned long long fast = 0, rest = 0, mmapped = 0, current = 0, c, v;
    for (char *p = buf; p != NULL && *p != '\0'; p = strchr(p + 1, '<')) {
        if (sscanf(p, "<total type=\"fast\" count=\"%llu\" size=\"%llu\"", &c, &v) == 2)
            fast = v;
        else if (sscanf(p, "<total type=\"rest\" count=\"%llu\" size=\"%llu\"", &c, &v) == 2)
            rest = v;
        else if (sscanf(p, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"", &c, &v) == 2)
            mmapped = v;
        else if (sscanf(p, "<system type=\"current\" size=\"%llu\"", &v) == 1)
            current = v;
    }
    free(buf);
    return current + mmapped - fast - rest;
#else
    return 0;
#endif
}

#endif
