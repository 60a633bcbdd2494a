// sum_tbb.cpp — tbb::parallel_reduce over a blocked_range (auto partitioner).
#include "../common/bench.h"
#include "sum.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>

#include <functional>

static uint32_t *a;
static uint64_t n;
static tbb::task_arena *arena;
static uint64_t run(void *)
{
    uint64_t r = 0;
    arena->execute([&] {
        r = tbb::parallel_reduce(
            tbb::blocked_range<uint64_t>(0, n), uint64_t(0),
            [](const tbb::blocked_range<uint64_t> &rg, uint64_t s) {
                return s + sum_range(a, rg.begin(), rg.end());
            },
            std::plus<uint64_t>());
    });
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::task_arena ar((int)cfg.threads);
    arena = &ar;
    n = SUM_N(cfg.quick);
    a = sum_array(n);
    bench_time(&cfg, SUM_NAME(cfg.quick), "tbb", run, nullptr, sum_expected(n));
    free(a);
    return 0;
}
