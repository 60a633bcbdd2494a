// libfork_bench.hpp — what the libfork variants share. libfork
// (ConorWilliams/libfork, C++20 coroutines, header-only) is an optional
// peer: these files are built only when perf/run.sh is given --libfork DIR
// (a checkout of its source, fetched outside the project). Its lazy_pool
// is used: its workers sleep when idle, as plait's do.
#ifndef PLAIT_PERF_LIBFORK_BENCH_HPP
#define PLAIT_PERF_LIBFORK_BENCH_HPP

#include <libfork.hpp>

#include "bench.h"

#endif
