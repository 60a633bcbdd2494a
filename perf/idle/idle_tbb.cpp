// idle_tbb.cpp — an idle, initialized task_arena of `threads` workers.
#include "../common/bench.h"
#include "idle.h"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, cfg.threads + 1);
    tbb::task_arena arena((int)cfg.threads, 0);
    arena.initialize();
    arena.execute([] { // wake every worker once
        tbb::parallel_for(0, 1 << 20, 1 << 12, [](int i) {
            volatile uint64_t x = (uint64_t)i;
            (void)x;
        });
    });
    IDLE_MEASURE(&cfg, "tbb");
    return 0;
}
