/* skynet.h — a 10-ary tree of tasks: every inner node spawns 10 children,
 * leaf k returns k; with 1,000,000 leaves (6 levels, 1,111,111 tasks) the
 * sum is 499999500000. --quick: 100,000 leaves. */
#ifndef PERF_SKYNET_H
#define PERF_SKYNET_H
#include <stdint.h>
#define SKYNET_LEAVES(quick) ((quick) ? 100000ull : 1000000ull)
#define SKYNET_NAME(quick) ((quick) ? "skynet100k" : "skynet1M")
static inline uint64_t skynet_expected(uint64_t leaves)
{
    return leaves * (leaves - 1) / 2;
}
#endif
