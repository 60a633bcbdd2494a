/* uts.h — an Unbalanced Tree Search binomial tree, deterministic.
 *
 * The root has UTS_B0 children; every other node has UTS_M children with
 * probability UTS_Q, else none (q*m = 0.999: each root child's subtree has
 * about 1000 nodes on average, with a heavy tail). A node's fate is decided
 * by a hash of its id (splitmix64), and child i of node p gets the id
 * splitmix64(p * 8 + i + 1), so every runtime walks the same tree. A task
 * per node; the count is checked against the sequential walk's. */
#ifndef PERF_UTS_H
#define PERF_UTS_H
#include <stdint.h>

#define UTS_M 8
#define UTS_Q 0.124875
#define UTS_ROOT_ID 70000210ull
#define UTS_B0(quick) ((quick) ? 500 : 2000)

static inline uint64_t uts_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Children of a non-root node. */
static inline int uts_children(uint64_t id)
{
    double u = (double)(uts_mix(id) >> 11) * 0x1p-53;
    return u < UTS_Q ? UTS_M : 0;
}

static inline uint64_t uts_child(uint64_t id, int i)
{
    return uts_mix(id * 8 + (uint64_t)i + 1);
}

/* Node counts of the two trees (computed once by the sequential walk; every
 * binary, uts_seq included, checks against them). Maximum depth: 1241. */
#define UTS_EXPECTED_FULL 2628249ull
#define UTS_EXPECTED_QUICK 400789ull
#define UTS_EXPECTED(quick) ((quick) ? UTS_EXPECTED_QUICK : UTS_EXPECTED_FULL)
#endif
