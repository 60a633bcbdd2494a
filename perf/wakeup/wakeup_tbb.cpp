// wakeup_tbb.cpp — task_arena::enqueue from a foreign thread into an idle
// arena of `threads` workers (none reserved for the caller, so the caller
// never runs the task itself).
#include "../common/bench.h"
#include "wakeup.h"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdlib>
#include <semaphore.h>

struct slot {
    double t1;
    sem_t done;
};

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    int trials = WAKEUP_TRIALS(&cfg);
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, cfg.threads + 1);
    tbb::task_arena arena((int)cfg.threads, 0);
    arena.initialize();
    double *lat = (double *)std::malloc(sizeof *lat * (size_t)trials);
    slot s;
    sem_init(&s.done, 0, 0);
    for (int i = -10; i < trials; i++) {
        bench_sleep(WAKEUP_IDLE_S);
        double t0 = bench_now();
        arena.enqueue([&s] {
            s.t1 = bench_now();
            sem_post(&s.done);
        });
        while (sem_wait(&s.done) != 0)
            ;
        if (i >= 0)
            lat[i] = (s.t1 - t0) * 1e6;
    }
    double med = bench_median(lat, trials), p99 = bench_quantile(lat, trials, 0.99);
    bench_emit("wakeup", "tbb", cfg.threads,
               "value=%.4g unit=us median_us=%.4g p99_us=%.4g min_us=%.4g max_us=%.4g reps=%d ok=1",
               med, med, p99, lat[0], lat[trials - 1], trials);
    std::free(lat);
    return 0;
}
