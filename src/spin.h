/*
 * spin — a small test-and-test-and-set lock for the scope lists, which are
 * held for a few instructions and almost never contended (only sibling
 * tasks creating groups at the same moment, or a cancellation walk).
 * Unlock is a plain release store, where a pthread mutex costs a second
 * atomic read-modify-write. Waiters spin briefly, then yield.
 */
#ifndef PLAIT_SPIN_H
#define PLAIT_SPIN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "util.h"

struct pl_spin {
    _Atomic bool held;
};

static inline void pl_spin_init(struct pl_spin *l)
{
    atomic_init(&l->held, false);
}

static inline void pl_spin_lock(struct pl_spin *l)
{
    unsigned spins = 0;
    /* acquire: pairs with the release in pl_spin_unlock. */
    while (atomic_exchange_explicit(&l->held, true, memory_order_acquire)) {
        /* relaxed: just watching for the release before retrying. */
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (++spins < 64)
                pl_cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void pl_spin_unlock(struct pl_spin *l)
{
    /* release: what we wrote under the lock is seen by the next holder. */
    atomic_store_explicit(&l->held, false, memory_order_release);
}

#endif
