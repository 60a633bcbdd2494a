// nqueens_libfork.cpp — libfork: a fork per legal placement, one join;
// each child's board is a copy in the parent's frame, as in the plait
// variant.
#include "../common/libfork_bench.hpp"
#include "nqueens.h"

#include <cstdio>
#include <cstring>

namespace {

constexpr auto nq = [](auto self, int n, int j, const char *a) LF_STATIC_CALL
    -> lf::task<uint64_t> {
    if (j == n)
        co_return 1;
    char boards[NQ_MAX][NQ_MAX];
    uint64_t res[NQ_MAX];
    int k = 0;
    for (int i = 0; i < n; i++) {
        char *b = boards[k];
        std::memcpy(b, a, static_cast<size_t>(j));
        b[j] = static_cast<char>(i);
        if (nq_ok(j + 1, b)) {
            co_await lf::fork(&res[k], self)(n, j + 1, b);
            k++;
        }
    }
    co_await lf::join;
    uint64_t s = 0;
    for (int i = 0; i < k; i++)
        s += res[i];
    co_return s;
};

lf::lazy_pool *pool;
int n;

uint64_t run(void *)
{
    char empty[NQ_MAX] = {0};
    return lf::sync_wait(*pool, nq, n, 0, static_cast<const char *>(empty));
}

} // namespace

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    lf::lazy_pool p(cfg.threads);
    pool = &p;
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        std::snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, "libfork", run, nullptr, nq_expected(n));
    }
    return 0;
}
