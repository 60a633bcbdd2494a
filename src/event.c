#include "event.h"

#include <limits.h>

#include "alloc.h"
#include "debug.h"
#include "futex.h"
#include "park.h"
#include "util.h"

void pl_event_release_nodes(uintptr_t prev)
{
    PLAIT_ASSERT(!(prev & PL_EV_DONE)); /* set once */
    struct pl_event_node *n = (struct pl_event_node *)prev;
    while (n != NULL) {
        /* Read everything we need from the node before releasing it: once
         * released, its waiter may leave and the node be gone. */
        struct pl_event_node *next = n->next;
        struct pl_parker *p = n->parker;
        /* release: our last access to the node; pairs with the waiter's
         * acquire in pl_event_released / pl_event_leave / the failure of
         * pl_event_abandon's CAS. acquire: when it reads 3 (abandoned),
         * pairs with that CAS's release, so the waiter's accesses to the
         * node happen-before our free (event.h, timed waits). On x86 and
         * arm64 the same instruction as a release exchange. */
        uint32_t was = atomic_exchange_explicit(&n->rel, 1, memory_order_acq_rel);
        if (pl_unlikely(was == 3)) {
            pl_free(n); /* its waiter gave up and left it to us */
            n = next;
            continue;
        }
        if (was == 2)
            pl_futex_wake(&n->rel, 1); /* a wake on the address only: no access */
        /* A parker that outlives its wait (a worker's): a late wake is at
         * worst a spurious one, which every parker tolerates. */
        if (p != NULL)
            pl_parker_wake(p);
        n = next;
    }
}

bool pl_event_register(struct pl_event *e, struct pl_event_node *node)
{
    atomic_init(&node->rel, 0);
    /* acquire (the load, and the CAS when it fails): a caller told "set"
     * may leave at once, so it must have synchronised with the setter. */
    uintptr_t s = atomic_load_explicit(&e->state, memory_order_acquire);
    do {
        if (s & PL_EV_DONE)
            return false;
        node->next = (struct pl_event_node *)s;
        /* release: the node's fields reach the setter, whose RMW reads this
         * CAS's value (or a later one in the same modification order). */
    } while (!atomic_compare_exchange_weak_explicit(&e->state, &s, (uintptr_t)node,
                                                    memory_order_release, memory_order_acquire));
    return true;
}

void pl_event_leave(struct pl_event_node *node)
{
    uint32_t r = 0;
    /* acquire (both outcomes): pairs with the setter's release exchange. */
    if (!atomic_compare_exchange_strong_explicit(&node->rel, &r, 2, memory_order_acquire,
                                                 memory_order_acquire) &&
        r == 1)
        return; /* released already */
    /* acquire: as above; the futex call rereads the word. */
    while (atomic_load_explicit(&node->rel, memory_order_acquire) != 1)
        pl_futex_wait(&node->rel, 2, 0);
}

bool pl_event_abandon(struct pl_event_node *node)
{
    /* acquire: a worker's timed wait leaves rel at 0 (it sleeps on its
     * parker), a foreign one at 2; either way the one CAS below. */
    uint32_t r = atomic_load_explicit(&node->rel, memory_order_acquire);
    while (r != 1) {
        PLAIT_ASSERT(r == 0 || r == 2);
        /* release on success: our last access to the node, read by the
         * setter's acq_rel exchange, which then frees it. acquire on
         * failure: if we read 1, the setter's release exchange (event.h). */
        if (atomic_compare_exchange_weak_explicit(&node->rel, &r, 3, memory_order_release,
                                                  memory_order_acquire))
            return true;
    }
    return false;
}

bool pl_event_leave_until(struct pl_event_node *node, uint64_t deadline_ns)
{
    uint32_t r = 0;
    /* acquire (both outcomes): pairs with the setter's release exchange. */
    if (!atomic_compare_exchange_strong_explicit(&node->rel, &r, 2, memory_order_acquire,
                                                 memory_order_acquire) &&
        r == 1)
        return true;
    for (;;) {
        /* acquire: as above. */
        if (atomic_load_explicit(&node->rel, memory_order_acquire) == 1)
            return true;
        if (pl_now_ns() >= deadline_ns)
            return !pl_event_abandon(node);
        pl_futex_wait(&node->rel, 2, deadline_ns);
    }
}
