/*
 * event — a one-shot completion event that any number of threads may wait
 * on, and that the setter may stop touching as soon as waiters can see it.
 *
 * Promise: pl_event_set is called once. A waiter first tests
 * pl_event_done; to sleep, it registers a node (pl_event_register) naming
 * its parker, re-checks, sleeps, and may leave (stop touching the event and
 * let its memory go) only when pl_event_can_leave says so. The setter's
 * last access to the event happens-before every waiter's successful
 * pl_event_can_leave, so the event may live on a stack or in a record that
 * the waiter frees right after.
 *
 * The state word holds four bits:
 *   DONE      set once by the setter;
 *   WAITER    some node is registered (only ever set while DONE is clear,
 *             so a setter that sees no WAITER knows no node exists);
 *   LOCK      a registrant or the setter is using the node list;
 *   RELEASED  the setter has woken every node and will not touch the event
 *             again (only set when the setter saw WAITER).
 */
#ifndef PLAIT_EVENT_H
#define PLAIT_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pl_parker;

#define PL_EV_DONE 1u
#define PL_EV_WAITER 2u
#define PL_EV_LOCK 4u
#define PL_EV_RELEASED 8u

struct pl_event_node {
    struct pl_parker *parker;
    struct pl_event_node *next;
};

struct pl_event {
    _Atomic uint32_t state;
    struct pl_event_node *nodes; /* under LOCK */
};

static inline void pl_event_init(struct pl_event *e)
{
    atomic_init(&e->state, 0);
    e->nodes = 0;
}

/* acquire: pairs with the setter's release RMW, so that what was done
 * before the event was set is visible to a waiter that sees it set. */
static inline bool pl_event_done(const struct pl_event *e)
{
    return atomic_load_explicit((_Atomic uint32_t *)&e->state, memory_order_acquire) & PL_EV_DONE;
}

static inline bool pl_event_can_leave(const struct pl_event *e)
{
    /* acquire: pairs with the setter's release store of RELEASED. */
    uint32_t s = atomic_load_explicit((_Atomic uint32_t *)&e->state, memory_order_acquire);
    return (s & PL_EV_DONE) && (!(s & PL_EV_WAITER) || (s & PL_EV_RELEASED));
}

void pl_event_set(struct pl_event *e);
/* Registers node; false (and nothing registered) when already done. */
bool pl_event_register(struct pl_event *e, struct pl_event_node *node);

#endif
