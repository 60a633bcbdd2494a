// matmul_tbb.cpp — tbb::parallel_for over rows (blocked_range, auto partitioner).
#include "../common/bench.h"
#include "matmul.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

static mm m;
static tbb::task_arena *arena;
static uint64_t run(void *)
{
    arena->execute([] {
        tbb::parallel_for(tbb::blocked_range<int>(0, m.n), [](const tbb::blocked_range<int> &r) {
            mm_rows(&m, r.begin(), r.end());
        });
    });
    return mm_checksum(&m);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::task_arena a((int)cfg.threads);
    arena = &a;
    mm_init(&m, MM_N(cfg.quick));
    bench_time(&cfg, MM_NAME(cfg.quick), "tbb", run, nullptr, mm_expected(&m));
    return 0;
}
