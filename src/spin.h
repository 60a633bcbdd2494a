/*
 * spin — a small test-and-test-and-set lock for the lists of nested groups
 * and a group's errors, which are held for a few instructions and almost
 * never contended (only sibling tasks creating groups or failing at the
 * same moment, or a cancellation walk). Unlock is a plain release store,
 * where a pthread mutex costs a second atomic read-modify-write. Waiters
 * spin briefly, then yield.
 *
 * Debug builds (debug.h) record the holder, so that a function that needs
 * the lock can say PLAIT_ASSERT(pl_spin_held(l)).
 */
#ifndef PLAIT_SPIN_H
#define PLAIT_SPIN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "debug.h"
#include "util.h"

struct pl_spin {
    _Atomic bool held;
#if PL_DEBUG
    _Atomic uintptr_t holder; /* pl_debug_thread() of the holder, or 0 */
#endif
};

static inline void pl_spin_init(struct pl_spin *l)
{
    atomic_init(&l->held, false);
#if PL_DEBUG
    atomic_init(&l->holder, 0);
#endif
}

/* The lock held by another: spin until it is ours. Out of line, so that
 * the uncontended lock is one exchange in its caller, with no registers
 * kept for the loop. */
static __attribute__((noinline, cold, unused)) void pl_spin_lock_contended(struct pl_spin *l)
{
    unsigned spins = 0;
    do {
        /* relaxed: just watching for the release before retrying. */
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (++spins < 64)
                pl_cpu_relax();
            else
                sched_yield();
        }
        /* acquire: pairs with the release in pl_spin_unlock. */
    } while (atomic_exchange_explicit(&l->held, true, memory_order_acquire));
}

static inline void pl_spin_lock(struct pl_spin *l)
{
    /* acquire: pairs with the release in pl_spin_unlock. */
    if (pl_unlikely(atomic_exchange_explicit(&l->held, true, memory_order_acquire)))
        pl_spin_lock_contended(l);
#if PL_DEBUG
    /* relaxed: only the holder writes it, and only it compares it with
     * its own name (other threads may read a stale value, never their
     * own). */
    atomic_store_explicit(&l->holder, pl_debug_thread(), memory_order_relaxed);
#endif
}

static inline void pl_spin_unlock(struct pl_spin *l)
{
#if PL_DEBUG
    /* relaxed, both: the holder's own name, read and cleared by the holder
     * before the release below (pl_spin_lock's comment). */
    PLAIT_ASSERT(atomic_load_explicit(&l->holder, memory_order_relaxed) == pl_debug_thread());
    atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
#endif
    /* release: what we wrote under the lock is seen by the next holder. */
    atomic_store_explicit(&l->held, false, memory_order_release);
}

#if PL_DEBUG
/* Whether the calling thread holds l (debug builds only). */
static inline bool pl_spin_held(struct pl_spin *l)
{
    /* relaxed: only the holder can find its own name there. */
    return atomic_load_explicit(&l->holder, memory_order_relaxed) == pl_debug_thread();
}
#endif

#endif
