/* fib.h — naive recursive Fibonacci, one spawn per call, no cutoff. */
#ifndef PERF_FIB_H
#define PERF_FIB_H
#include <stdint.h>
#define FIB_N(quick) ((quick) ? 25 : 30)
static inline uint64_t fib_expected(int n)
{
    uint64_t a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}
#endif
