#include "event.h"

#include "debug.h"
#include "park.h"
#include "util.h"

void pl_event_set(struct pl_event *e)
{
    /* seq_cst (acq_rel would do for the event itself): release publishes
     * the setter's work to waiters that see DONE; acquire orders the list
     * walk below after the registrants' release of WAITER/LOCK; seq_cst
     * puts the set in the total order for plait_task_cancel's
     * store-buffering pair with task_finish (task.c). */
    uint32_t prev = atomic_fetch_or_explicit(&e->state, PL_EV_DONE, memory_order_seq_cst);
    PLAIT_ASSERT(!(prev & PL_EV_DONE)); /* set once */
    if (!(prev & PL_EV_WAITER))
        return; /* no node can exist, and none can be added now: done */
    /* Registrants hold LOCK only to push a node; they give up once DONE is
     * set, so this spin is short. acquire: see their node writes. */
    while (atomic_fetch_or_explicit(&e->state, PL_EV_LOCK, memory_order_acquire) & PL_EV_LOCK)
        pl_cpu_relax();
    /* A waiter cannot leave before RELEASED, so its node stays valid. */
    for (struct pl_event_node *n = e->nodes; n != 0;) {
        struct pl_event_node *next = n->next;
        pl_parker_wake(n->parker);
        n = next;
    }
    /* release: our last access; a waiter that acquires RELEASED may free
     * the event. No one else writes the word now (DONE and LOCK set). */
    atomic_store_explicit(&e->state, PL_EV_DONE | PL_EV_WAITER | PL_EV_RELEASED,
                          memory_order_release);
}

bool pl_event_register(struct pl_event *e, struct pl_event_node *node)
{
    uint32_t s = atomic_load_explicit(&e->state, memory_order_relaxed);
    for (;;) {
        if (s & PL_EV_DONE)
            return false;
        if (s & PL_EV_LOCK) {
            pl_cpu_relax();
            s = atomic_load_explicit(&e->state, memory_order_relaxed);
            continue;
        }
        /* acquire: see the list as the previous holder left it. */
        if (atomic_compare_exchange_weak_explicit(&e->state, &s, s | PL_EV_LOCK,
                                                  memory_order_acquire, memory_order_relaxed))
            break;
    }
    node->next = e->nodes;
    e->nodes = node;
    /* acq_rel: the RMWs on the state word are totally ordered; if our
     * WAITER comes before the setter's DONE, the setter sees it and will
     * walk the list (release makes our node visible to it). */
    uint32_t prev = atomic_fetch_or_explicit(&e->state, PL_EV_WAITER, memory_order_acq_rel);
    if (prev & PL_EV_DONE) {
        /* The setter came first and may not have seen WAITER: take our node
         * back, and clear WAITER unless an earlier registrant had set it
         * (then the setter saw it and will release). */
        e->nodes = node->next;
        uint32_t clear = PL_EV_LOCK | ((prev & PL_EV_WAITER) ? 0 : PL_EV_WAITER);
        /* release: hands the list back. */
        atomic_fetch_and_explicit(&e->state, ~clear, memory_order_release);
        return false;
    }
    /* release: hands the list back to the next registrant or the setter. */
    atomic_fetch_and_explicit(&e->state, ~PL_EV_LOCK, memory_order_release);
    return true;
}
