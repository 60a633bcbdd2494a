// uts_tbb.cpp — oneTBB: a task_group per inner node, a task per node.
#include "../common/bench.h"
#include "uts.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <vector>

static uint64_t walk(uint64_t id)
{
    int c = uts_children(id);
    if (c == 0)
        return 1;
    uint64_t cnt[UTS_M];
    tbb::task_group g;
    for (int i = 0; i < c; i++)
        g.run([&cnt, id, i] { cnt[i] = walk(uts_child(id, i)); });
    g.wait();
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += cnt[i];
    return s;
}

static int b0;
static tbb::task_arena *arena;
static std::vector<uint64_t> *root_cnt;
static uint64_t run(void *)
{
    arena->execute([] {
        tbb::task_group g;
        for (int i = 0; i < b0; i++)
            g.run([i] { (*root_cnt)[i] = walk(uts_child(UTS_ROOT_ID, i)); });
        g.wait();
    });
    uint64_t s = 1;
    for (int i = 0; i < b0; i++)
        s += (*root_cnt)[i];
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::task_arena a((int)cfg.threads);
    arena = &a;
    b0 = UTS_B0(cfg.quick);
    std::vector<uint64_t> rc((size_t)b0);
    root_cnt = &rc;
    bench_time(&cfg, "uts", "tbb", run, nullptr, UTS_EXPECTED(cfg.quick));
    return 0;
}
