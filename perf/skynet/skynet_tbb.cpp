// skynet_tbb.cpp — oneTBB: a task_group per inner node, 10 run()s, wait.
#include "../common/bench.h"
#include "skynet.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

static uint64_t skynet(uint64_t num, uint64_t size)
{
    if (size == 1)
        return num;
    uint64_t r[10], sub = size / 10;
    tbb::task_group g;
    for (uint64_t i = 0; i < 10; i++)
        g.run([&r, i, num, sub] { r[i] = skynet(num + i * sub, sub); });
    g.wait();
    uint64_t s = 0;
    for (int i = 0; i < 10; i++)
        s += r[i];
    return s;
}

static uint64_t leaves;
static tbb::task_arena *arena;
static uint64_t run(void *)
{
    uint64_t r = 0;
    arena->execute([&] { r = skynet(0, leaves); });
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::task_arena a((int)cfg.threads);
    arena = &a;
    leaves = SKYNET_LEAVES(cfg.quick);
    bench_time(&cfg, SKYNET_NAME(cfg.quick), "tbb", run, nullptr, skynet_expected(leaves));
    return 0;
}
