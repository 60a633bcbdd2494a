// nqueens_tbb.cpp — oneTBB: a task_group per node, the board captured by value.
#include "../common/bench.h"
#include "nqueens.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <array>
#include <cstdio>

typedef std::array<char, NQ_MAX> board;

static uint64_t nq(int n, int j, const board &a)
{
    if (j == n)
        return 1;
    uint64_t cnt[NQ_MAX] = {0};
    tbb::task_group g;
    for (int i = 0; i < n; i++) {
        board b = a;
        b[j] = (char)i;
        if (!nq_ok(j + 1, b.data()))
            continue;
        g.run([b, i, j, n, &cnt] { cnt[i] = nq(n, j + 1, b); });
    }
    g.wait();
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += cnt[i];
    return s;
}

static int n;
static tbb::task_arena *arena;
static uint64_t run(void *)
{
    uint64_t r = 0;
    board a{};
    arena->execute([&] { r = nq(n, 0, a); });
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    tbb::task_arena a((int)cfg.threads);
    arena = &a;
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        std::snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, "tbb", run, nullptr, nq_expected(n));
    }
    return 0;
}
