/* wakeup_plait.c — plait_submit from a foreign thread into an idle pool. */
#include "../common/plait_bench.h"
#include "wakeup.h"

#include <inttypes.h>
#include <semaphore.h>

struct slot {
    double t1;
    sem_t done;
};

static int first(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct slot *s = arg;
    s->t1 = bench_now();
    sem_post(&s->done); /* sem_post/sem_wait order t1 before the reader */
    return 0;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    int trials = WAKEUP_TRIALS(&cfg);
    plait_pool *pool = pb_pool(&cfg, "wakeup");
    double *lat = malloc(sizeof *lat * (size_t)trials);
    struct slot s;
    sem_init(&s.done, 0, 0);
    plait_stats st0, st1;
    for (int i = -10; i < trials; i++) { /* 10 warm-up trials */
        if (i == 0)
            plait_pool_stats(pool, &st0);
        bench_sleep(WAKEUP_IDLE_S);
        double t0 = bench_now();
        plait_task *t = plait_submit(pool, first, &s);
        if (!t)
            bench_fail("wakeup", "plait", cfg.threads, "plait_submit failed");
        while (sem_wait(&s.done) != 0)
            ;
        plait_task_release(t);
        if (i >= 0)
            lat[i] = (s.t1 - t0) * 1e6;
    }
    plait_pool_stats(pool, &st1);
    double med = bench_median(lat, trials), p99 = bench_quantile(lat, trials, 0.99);
    bench_emit("wakeup", "plait", cfg.threads,
               "value=%.4g unit=us median_us=%.4g p99_us=%.4g min_us=%.4g max_us=%.4g reps=%d ok=1 "
               "parks_per_trial=%.2f wakeups_per_trial=%.2f",
               med, med, p99, lat[0], lat[trials - 1], trials,
               (double)(st1.parks - st0.parks) / trials,
               (double)(st1.wakeups - st0.wakeups) / trials);
    free(lat);
    plait_pool_destroy(pool);
    return 0;
}
