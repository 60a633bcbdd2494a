/* sleepers.h — what a cancellation costs the tasks asleep in plait_sleep
 * (docs/RELIABILITY.md item 6). Three measurements, plait only (the peers
 * have no cancellable sleep):
 *   sleepers_deadlines  N tasks (one per group, a pool of N workers) sleep
 *                       10 s; then each group gets a 1 ms deadline, and the
 *                       pool's timer cancels them one by one. value: the p99
 *                       of each task's wake-up lateness after its own
 *                       deadline (ms); also the median, the max and the
 *                       process's context switches meanwhile.
 *   sleepers_baseline   the same machine waking N plain threads, each on a
 *                       futex word of its own, one by one from one thread:
 *                       the p99 of the time from the first wake call to each
 *                       thread's return (ms). The target for the first line
 *                       is a p99 within twice this.
 *   sleepers_one_group  N tasks sleep in one group (a pool of N workers);
 *                       one plait_group_cancel wakes them all. value: the p99
 *                       of each task's wake-up after the call (ms): the same
 *                       shape as the baseline (one thread wakes N).
 *   ..._held            the two above again, but each woken task then blocks
 *                       (a plain futex) until all have woken, so that its
 *                       worker does not return to its idle search (which
 *                       scans every worker's deque, 1000 of them, for ~25
 *                       rounds before parking) while the others are woken:
 *                       the cost of the cancellation's wake-ups alone.
 *   sleepers_herd       64 tasks sleep in one pool while another pool (1
 *                       worker) runs fail-fast groups (one cancellation
 *                       each) for 1 s (--quick 0.5 s). value: the CPU time
 *                       the sleeping pool's workers burn meanwhile (ms); also
 *                       the other pool's groups/s, alone and beside them.
 * N: 1000 (--quick 200; --size N). The main thread waits 50 ms for the
 * sleepers to reach their futex wait before each measurement. */
#ifndef PERF_SLEEPERS_H
#define PERF_SLEEPERS_H
#define SLEEPERS_N(cfg) ((cfg)->size ? (int)(cfg)->size : (cfg)->quick ? 200 : 1000)
#define SLEEPERS_HERD 64
#define SLEEPERS_HERD_S(cfg) ((cfg)->quick ? 0.5 : 1.0)
#define SLEEPERS_DEADLINE_NS 1000000u
#define SLEEPERS_LONG_NS 10000000000ull
#endif
