/* lace_bench.h — what the Lace variants share: start Lace with the
 * benchmark's thread count, stop it at exit. Lace (trolando/lace) is an
 * optional peer: these files are built only when perf/run.sh is given
 * --lace DIR (a checkout of Lace's source, fetched outside the project). */
#ifndef PLAIT_PERF_LACE_BENCH_H
#define PLAIT_PERF_LACE_BENCH_H

#include <lace.h>

#include "bench.h"

/* Lace's workers spin while idle; a deque of 100,000 slots per worker is
 * what its own benchmarks use, and deeper than any of ours. */
static inline void lb_start(const bench_cfg *cfg)
{
    lace_start(cfg->threads, 100000);
}

#endif
