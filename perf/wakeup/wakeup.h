/* wakeup.h — wake-up latency of an idle pool: the pool is left idle for
 * WAKEUP_IDLE_S between trials (so its workers park), then a foreign thread
 * submits one task; the latency is from just before the submit call to the
 * task's first instruction (both read CLOCK_MONOTONIC). The submitting
 * thread then blocks on a semaphore the task posts (it never runs the task
 * itself). Median and p99 over 1000 trials (--quick 200; --size N). */
#ifndef PERF_WAKEUP_H
#define PERF_WAKEUP_H
#define WAKEUP_IDLE_S 0.003
#define WAKEUP_TRIALS(cfg) ((cfg)->size ? (int)(cfg)->size : (cfg)->quick ? 200 : 1000)
#endif
