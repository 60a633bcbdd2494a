/*
 * membarrier — the heavy side of an asymmetric fence (membarrier(2)): a
 * full barrier on every thread of the process that is running now, so
 * that the light side (a compiler barrier on the hot path) pairs with it
 * as a full fence would. The trace's stop and the dump use it (observe.h
 * argues both pairs).
 */
#ifndef PLAIT_MEMBARRIER_H
#define PLAIT_MEMBARRIER_H

#include <stdbool.h>

/* Issues the heavy fence; false when membarrier(2) is not available (the
 * caller then must not rely on the light side). */
bool pl_heavy_fence(void);

#endif
