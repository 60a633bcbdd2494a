// foreign_tbb.cpp — producers outside the arena enqueue tiny tasks of one
// task_group into a task_arena of `threads` workers
// (arena.enqueue(tg.defer(f))), then the main thread waits for the group
// inside the arena (arena.execute([&] { tg.wait(); })).
#include "../common/bench.h"
#include "foreign.h"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>

static tbb::task_arena *arena;
static tbb::task_group *group;
static int producers;
static uint64_t per;
static pthread_barrier_t start;
static foreign_counter counters[FOREIGN_MAX_WORKERS + 1];
static std::atomic<uint64_t> stray;

static void tiny()
{
    int w = tbb::this_task_arena::current_thread_index();
    if (w >= 0 && w < FOREIGN_MAX_WORKERS)
        counters[w].v++;
    else
        stray.fetch_add(1, std::memory_order_relaxed);
}

static void *producer(void *)
{
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < per; i++)
        arena->enqueue(group->defer(tiny));
    return nullptr;
}

static uint64_t run(void *)
{
    pthread_t th[8];
    for (int i = 0; i <= FOREIGN_MAX_WORKERS; i++)
        counters[i].v = 0;
    stray = 0;
    tbb::task_group tg;
    group = &tg;
    for (int i = 0; i < producers; i++)
        pthread_create(&th[i], nullptr, producer, nullptr);
    pthread_barrier_wait(&start);
    for (int i = 0; i < producers; i++)
        pthread_join(th[i], nullptr);
    arena->execute([&] { tg.wait(); });
    uint64_t s = stray.load();
    for (int i = 0; i <= FOREIGN_MAX_WORKERS; i++)
        s += counters[i].v;
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    per = FOREIGN_PER(&cfg);
    // `threads` workers of its own, like plait's pool, none reserved for the caller.
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, cfg.threads + 1);
    tbb::task_arena a((int)cfg.threads, 0);
    a.initialize();
    arena = &a;
    double *t = (double *)std::malloc(sizeof *t * (size_t)cfg.reps);
    for (int p : foreign_producers) {
        char name[32];
        producers = p;
        std::snprintf(name, sizeof name, "foreign_p%d", producers);
        pthread_barrier_init(&start, nullptr, (unsigned)producers + 1);
        uint64_t total = per * (uint64_t)producers;
        double med = bench_repeat(&cfg, name, "tbb", run, nullptr, total, t);
        pthread_barrier_destroy(&start);
        bench_emit(name, "tbb", cfg.threads,
                   "value=%.4g unit=ns/task median_s=%.6g min_s=%.6g rate_per_s=%.4g tasks=%" PRIu64
                   " reps=%d ok=1 stray=%" PRIu64,
                   med * 1e9 / (double)total, med, t[0], (double)total / med, total, cfg.reps,
                   stray.load());
    }
    std::free(t);
    return 0;
}
