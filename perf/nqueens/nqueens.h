/* nqueens.h — count the placements of n queens; a task per legal placement,
 * each child gets its own copy of the board (as in BOTS nqueens). */
#ifndef PERF_NQUEENS_H
#define PERF_NQUEENS_H
#include <stdint.h>
#define NQ_MAX 16
/* Sizes measured: --quick runs 10 only. */
static const int nq_sizes_full[] = {11, 12};
static const int nq_sizes_quick[] = {10};
static inline uint64_t nq_expected(int n)
{
    static const uint64_t sol[] = {1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712};
    return sol[n];
}
/* Is the queen of row j-1 (column a[j-1]) clear of rows 0..j-2? */
static inline int nq_ok(int j, const char *a)
{
    int q = a[j - 1];
    for (int i = 0; i < j - 1; i++) {
        int p = a[i];
        if (p == q || p - q == j - 1 - i || q - p == j - 1 - i)
            return 0;
    }
    return 1;
}
#endif
