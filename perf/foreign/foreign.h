/* foreign.h — foreign submission: 1, 2 and 4 producer threads outside the
 * pool each spawn `per` tiny tasks into one group, then the main thread
 * waits for the group. Measured from the producers' start (a barrier) to
 * the wait's return; reported as ns per task (lower is better) and tasks/s.
 * Tasks per producer: 1,000,000 (--quick 100,000; --size N overrides).
 * Each task bumps its worker's own padded counter; the total is checked. */
#ifndef PERF_FOREIGN_H
#define PERF_FOREIGN_H
#include <stdint.h>
#define FOREIGN_PER(cfg) ((cfg)->size ? (cfg)->size : (cfg)->quick ? 100000ull : 1000000ull)
#define FOREIGN_MAX_WORKERS 256
static const int foreign_producers[] = {1, 2, 4};
struct foreign_counter {
    uint64_t v;
    char pad[64 - sizeof(uint64_t)];
};
#endif
