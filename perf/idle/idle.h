/* idle.h — the cost of an idle pool: the process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID, all threads) and context switches
 * (getrusage RUSAGE_SELF: ru_nvcsw + ru_nivcsw, all threads) over one
 * second (--quick: 0.5 s) while the main thread sleeps, twice:
 *   idle_tail  the window starts right after the pool ran a little work
 *              (what the workers' spinning before they park costs);
 *   idle       the next window, the pool settled (steady-state idle cost).
 * The main thread's own sleep accounts for about one voluntary switch. */
#ifndef PERF_IDLE_H
#define PERF_IDLE_H
#include <sys/resource.h>
#include <time.h>

#define IDLE_WINDOW_S(cfg) ((cfg)->quick ? 0.5 : 1.0)

struct idle_sample {
    double cpu;
    long csw, vcsw;
};

static inline void idle_sample(struct idle_sample *s)
{
    struct timespec ts;
    struct rusage ru;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    getrusage(RUSAGE_SELF, &ru);
    s->cpu = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    s->csw = ru.ru_nvcsw + ru.ru_nivcsw;
    s->vcsw = ru.ru_nvcsw;
}

/* Sleeps the window and prints the RESULT line. */
#define IDLE_WINDOW(cfg, bench, runtime)                                                           \
    do {                                                                                           \
        struct idle_sample a_, b_;                                                                 \
        double w_ = IDLE_WINDOW_S(cfg);                                                            \
        idle_sample(&a_);                                                                          \
        bench_sleep(w_);                                                                           \
        idle_sample(&b_);                                                                          \
        bench_emit(bench, runtime, (cfg)->threads,                                                 \
                   "value=%.4g unit=cpu_s cpu_s=%.4g cpu_pct=%.3f ctxsw=%ld vol_ctxsw=%ld "        \
                   "window_s=%.2f reps=1 ok=1",                                                    \
                   b_.cpu - a_.cpu, b_.cpu - a_.cpu, 100.0 * (b_.cpu - a_.cpu) / w_,               \
                   b_.csw - a_.csw, b_.vcsw - a_.vcsw, w_);                                        \
    } while (0)

/* Call right after the pool's last task finished. */
#define IDLE_MEASURE(cfg, runtime)                                                                 \
    do {                                                                                           \
        IDLE_WINDOW(cfg, "idle_tail", runtime);                                                    \
        IDLE_WINDOW(cfg, "idle", runtime);                                                         \
    } while (0)
#endif
