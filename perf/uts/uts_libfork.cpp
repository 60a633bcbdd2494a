// uts_libfork.cpp — libfork: a fork per child, one join; the root's
// children are forked the same way (their results on the heap).
#include "../common/libfork_bench.hpp"
#include "uts.h"

#include <vector>

namespace {

constexpr auto node = [](auto self, uint64_t id) LF_STATIC_CALL -> lf::task<uint64_t> {
    int c = uts_children(id);
    uint64_t r[UTS_M];
    for (int i = 0; i < c; i++)
        co_await lf::fork(&r[i], self)(uts_child(id, i));
    co_await lf::join;
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += r[i];
    co_return s;
};

int b0;

constexpr auto root = [](auto) LF_STATIC_CALL -> lf::task<uint64_t> {
    std::vector<uint64_t> r(static_cast<size_t>(b0));
    for (int i = 0; i < b0; i++)
        co_await lf::fork(&r[static_cast<size_t>(i)], node)(uts_child(UTS_ROOT_ID, i));
    co_await lf::join;
    uint64_t s = 1;
    for (uint64_t x : r)
        s += x;
    co_return s;
};

lf::lazy_pool *pool;

uint64_t run(void *)
{
    return lf::sync_wait(*pool, root);
}

} // namespace

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    b0 = UTS_B0(cfg.quick);
    lf::lazy_pool p(cfg.threads);
    pool = &p;
    bench_time(&cfg, "uts", "libfork", run, nullptr, UTS_EXPECTED(cfg.quick));
    return 0;
}
