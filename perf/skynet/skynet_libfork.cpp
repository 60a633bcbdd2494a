// skynet_libfork.cpp — libfork: every inner node forks its 10 children
// and joins them.
#include "../common/libfork_bench.hpp"
#include "skynet.h"

namespace {

constexpr auto sk = [](auto self, uint64_t num, uint64_t size) LF_STATIC_CALL
    -> lf::task<uint64_t> {
    if (size == 1)
        co_return num;
    uint64_t sub = size / 10, r[10];
    for (int i = 0; i < 10; i++)
        co_await lf::fork(&r[i], self)(num + static_cast<uint64_t>(i) * sub, sub);
    co_await lf::join;
    uint64_t s = 0;
    for (int i = 0; i < 10; i++)
        s += r[i];
    co_return s;
};

lf::lazy_pool *pool;
uint64_t leaves;

uint64_t run(void *)
{
    return lf::sync_wait(*pool, sk, uint64_t{0}, leaves);
}

} // namespace

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    leaves = SKYNET_LEAVES(cfg.quick);
    lf::lazy_pool p(cfg.threads);
    pool = &p;
    bench_time(&cfg, SKYNET_NAME(cfg.quick), "libfork", run, nullptr, skynet_expected(leaves));
    return 0;
}
