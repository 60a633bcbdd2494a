// fib_libfork.cpp — libfork: fork fib(n-1), call fib(n-2), join.
#include "../common/libfork_bench.hpp"
#include "fib.h"

#include <cstdio>

namespace {

constexpr auto fib = [](auto self, int n) LF_STATIC_CALL -> lf::task<uint64_t> {
    if (n < 2)
        co_return static_cast<uint64_t>(n);
    uint64_t a, b;
    co_await lf::fork(&a, self)(n - 1);
    co_await lf::call(&b, self)(n - 2);
    co_await lf::join;
    co_return a + b;
};

lf::lazy_pool *pool;
int n;

uint64_t run(void *)
{
    return lf::sync_wait(*pool, fib, n);
}

} // namespace

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    n = FIB_N(cfg.quick);
    std::snprintf(name, sizeof name, "fib%d", n);
    lf::lazy_pool p(cfg.threads);
    pool = &p;
    bench_time(&cfg, name, "libfork", run, nullptr, fib_expected(n));
    return 0;
}
