// fib_tbb.cpp — oneTBB: a task_group per call, fib(n-1) run, fib(n-2) inline.
#include "../common/bench.h"
#include "fib.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <cstdio>

static uint64_t fib(int n)
{
    if (n < 2)
        return (uint64_t)n;
    uint64_t x, y;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    y = fib(n - 2);
    g.wait();
    return x + y;
}

static int n;
static tbb::task_arena *arena;
static uint64_t run(void *)
{
    uint64_t r = 0;
    arena->execute([&] { r = fib(n); });
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    tbb::task_arena a((int)cfg.threads); // the calling thread + threads-1 workers
    arena = &a;
    n = FIB_N(cfg.quick);
    std::snprintf(name, sizeof name, "fib%d", n);
    bench_time(&cfg, name, "tbb", run, nullptr, fib_expected(n));
    return 0;
}
