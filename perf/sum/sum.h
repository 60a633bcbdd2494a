/* sum.h — the sum of N uint32 values a[i] = i (memory bound: 400 MB for
 * N = 100,000,000; --quick: 20,000,000). The array is filled once, outside
 * the timed region; the expected sum is N(N-1)/2. */
#ifndef PERF_SUM_H
#define PERF_SUM_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define SUM_N(quick) ((quick) ? 20000000ull : 100000000ull)
#define SUM_NAME(quick) ((quick) ? "sum20M" : "sum100M")
static inline uint32_t *sum_array(uint64_t n)
{
    uint32_t *a = (uint32_t *)malloc(n * sizeof *a);
    if (!a) {
        fprintf(stderr, "sum: out of memory\n");
        exit(1);
    }
    for (uint64_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    return a;
}
/* The sum of a[b..e) (sum_kernel.c: compiled once by gcc -O2 and linked
 * into every variant, so every runtime runs the same machine code). */
#ifdef __cplusplus
extern "C"
#endif
    uint64_t
    sum_range(const uint32_t *a, uint64_t b, uint64_t e);

static inline uint64_t sum_expected(uint64_t n)
{
    return n * (n - 1) / 2;
}
#endif
