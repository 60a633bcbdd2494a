/* sum_kernel.c — the loop shared by every sum variant (built by gcc for all
 * of them, so the OpenMP-under-clang binary runs the same code). */
#include "sum.h"

uint64_t sum_range(const uint32_t *a, uint64_t b, uint64_t e)
{
    uint64_t s = 0;
    for (uint64_t i = b; i < e; i++)
        s += a[i];
    return s;
}
