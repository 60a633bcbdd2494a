/* batch.h — a batch fed from foreign threads into one group, with and
 * without a limit (plait_group_set_limit):
 *   batch_limit<L>: 2 producers each plait_go `per` tiny tasks into one
 *     group of limit L (0: none), then the main thread waits; ns per task,
 *     so batch_limit0 is perf/foreign's p2 and the others say what the
 *     limit costs (at 64 the producers block on it often);
 *   batch_rss: 4 producers each spawn `per / 20` tasks carrying 1 KiB
 *     (freed by the spawn's drop) to a slow consumer (20 us a task);
 *     value = peak RSS growth in KiB, without a limit (runtime plait) and
 *     with limit 64 (plait_limit64).
 * Tasks per producer: 200,000 (--quick 50,000; --size N overrides). */
#ifndef PERF_BATCH_H
#define PERF_BATCH_H
#define BATCH_PER(cfg) ((cfg)->size ? (cfg)->size : (cfg)->quick ? 50000ull : 200000ull)
static const unsigned batch_limits[] = {0, 64, 4096};
#endif
