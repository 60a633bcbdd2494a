/*
 * batch — the small protocols that batches add to a group, inline for the
 * parts that share them (task.c spawns and finishes, group.c sets limits
 * and cancels, signal_cancel.c cancels from its watcher): the slots of a
 * group's limit, and the reason recorded for a cancellation. Types are
 * core.h's; nothing here calls a part above the primitives.
 *
 * The slots word (group->slots) counts the tasks that hold a slot of the
 * group's limit, with PL_SLOTS_SLEEPERS set while a blocked spawner may
 * sleep on it (a futex word). Every change to the word is an RMW:
 *   - a spawner takes a slot by a CAS from a count under the limit;
 *   - a spawner that finds the group full sets SLEEPERS (CAS, or finds it
 *     set), then sleeps with futex_wait(word, the value with SLEEPERS);
 *   - whoever frees a slot (a finishing task, a failed spawn) or changes
 *     what a sleeper waits for (a new limit, a cancellation) clears
 *     SLEEPERS in its RMW and, if it was set, wakes every sleeper.
 * No lost wake-up: RMWs on one word are totally ordered and each reads the
 * latest value. If a sleeper's SLEEPERS-setting RMW comes before the
 * freeing RMW, the freer sees the bit and wakes all; the kernel compares
 * the word under its bucket lock, so a sleeper not yet asleep then finds
 * the value changed and returns. If it comes after, it reads the freed
 * count (and, by acquire from the freer's release, the new limit or the
 * cancelled state), so it takes the slot or leaves instead of sleeping.
 * The wake comes before the task's pending decrement, so the group is
 * alive for it. Cancellations that do not come through group.c (a
 * deadline, an enclosing task) do not clear the bit: sleepers also wake
 * every PL_SLOT_POLL_NS to look.
 */
#ifndef PLAIT_BATCH_H
#define PLAIT_BATCH_H

#include <limits.h>

#include "cancel.h"
#include "core.h"
#include "futex.h"

#define PL_SLOT_POLL_NS 1000000u
#define PL_LIMIT_MAX (1u << 30)

/* signal_cancel.c's async states (group->async_state). */
#define PL_ASYNC_ASKED 1u
#define PL_ASYNC_DONE 2u

/* Gives one slot back; wakes the sleepers if any. */
static inline void pl_slot_give(struct plait_group *g)
{
    /* relaxed: a starting guess for the CAS. */
    uint32_t s = atomic_load_explicit(&g->slots, memory_order_relaxed);
    /* acq_rel: release for the sleepers that read the freed count after
     * us (batch.h's argument); acquire keeps the RMW chain's order. */
    while (!atomic_compare_exchange_weak_explicit(&g->slots, &s, (s - 1) & ~PL_SLOTS_SLEEPERS,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
    if (s & PL_SLOTS_SLEEPERS)
        pl_futex_wake(&g->slots, INT_MAX);
}

/* After changing what sleepers wait for (the limit, the cancelled state):
 * every sleeper looks again. */
static inline void pl_slot_wake_all(struct plait_group *g)
{
    /* acq_rel: release publishes the change made before the call to a
     * sleeper whose later RMW or load acquires the word. */
    if (atomic_fetch_and_explicit(&g->slots, ~PL_SLOTS_SLEEPERS, memory_order_acq_rel) &
        PL_SLOTS_SLEEPERS)
        pl_futex_wake(&g->slots, INT_MAX);
}

/* Records why g is about to be cancelled, unless it already is (or a
 * reason was recorded first): a hint, only for plait_group_get_info. */
static inline void pl_cancel_reason(struct plait_group *g, uint32_t reason)
{
    /* relaxed: a value read for the report; a race between two cancellers
     * may name either. */
    if (atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CANCELLED)
        return;
    uint32_t none = PLAIT_CANCEL_NONE;
    atomic_compare_exchange_strong_explicit(&g->cancel_reason, &none, reason, memory_order_relaxed,
                                            memory_order_relaxed);
}

/* Cancels g for reason (PLAIT_CANCEL_*) and wakes its blocked spawners:
 * plait_group_cancel's, a failure's (group.c) and a signal's request
 * (signal_cancel.c). */
static inline void pl_group_cancel_for(struct plait_group *g, uint32_t reason)
{
    pl_cancel_reason(g, reason);
    pl_group_cancel(g);
    /* After the flag: a blocked spawner that acquires the slots word
     * after this RMW sees it (above). */
    pl_slot_wake_all(g);
}

#endif
