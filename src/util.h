/*
 * util — small helpers every part uses: cache-line alignment, branch
 * hints, container_of, the monotonic clock.
 */
#ifndef PLAIT_UTIL_H
#define PLAIT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PL_CACHE_LINE 64
#define PL_CACHE_ALIGNED _Alignas(PL_CACHE_LINE)

/* Thread-locals on the hot path: initial-exec, so that the shared library
 * reads them with one instruction instead of a __tls_get_addr call. */
#define PL_TLS _Thread_local __attribute__((tls_model("initial-exec")))

#define pl_likely(x) __builtin_expect(!!(x), 1)
#define pl_unlikely(x) __builtin_expect(!!(x), 0)

/* The record that holds member, from a pointer to that member. */
#define pl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Nanoseconds on CLOCK_MONOTONIC. */
static inline uint64_t pl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The monotonic time ns from now, saturating (never wraps, never 0). */
static inline uint64_t pl_deadline_in(uint64_t ns)
{
    uint64_t now = pl_now_ns();
    return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* A hint to the CPU that we are spinning. */
static inline void pl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
