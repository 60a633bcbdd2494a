/*
 * event — a one-shot completion event that any number of threads may wait
 * on, and that the setter stops touching as soon as waiters can see it.
 *
 * Promise: pl_event_set is called once. Its single read-modify-write of the
 * state word is its last access to the event: a thread that sees the event
 * set (pl_event_done) may free it at once. A waiter that wants to sleep
 * registers a node (pl_event_register); the setter then wakes the node's
 * parker, if it names one, and releases the node; the node (and, for a
 * waiter that sleeps on the node itself, the whole waiter) may go away only
 * once pl_event_leave has returned. Nothing here spins: a waiter that must
 * wait for the setter sleeps on its node's word.
 *
 * The state word holds the DONE bit and, above it, the stack of
 * registered nodes (a Treiber stack that is only ever pushed, then taken
 * whole by the setter's one RMW: no ABA, as in task_records.h's argument).
 * A node's rel word: 0 registered, 1 released by the setter, 2 its waiter
 * sleeps on it (futex) until released, 3 abandoned by a timed waiter.
 *
 * Timed waits (pl_event_abandon, pl_event_leave_until). A registered node
 * cannot be unlinked: the stack is only pushed and taken whole, and the
 * setter may be walking it at any moment. So a waiter that gives up does
 * not take its node back; it hands the node over. Such a node comes from
 * pl_malloc, and the rel word decides who frees it, by whichever of two
 * RMWs on it comes first in its modification order:
 *   - the setter's exchange to 1 (acq_rel). If it returns 3, the waiter
 *     abandoned the node: the setter frees it (its acquire half reads the
 *     waiter's release CAS, so every access the waiter made to the node
 *     happens-before the free). Else the waiter owns the node again, and
 *     the setter touches it no more (a futex wake on the address only).
 *   - the waiter's CAS 0->3 or 2->3 (release on success: its last access
 *     to the node; acquire on failure: it read 1, the setter's release,
 *     so the event's publications are visible and the setter is done with
 *     the node, which the waiter then frees as an untimed waiter would).
 * The setter reads next and parker before its exchange, and only the
 * setter frees an abandoned node, so a node abandoned while the setter
 * walks the stack is still there when it reads them. Only a timed waiter
 * ever writes 3, so stack nodes (untimed waits) are never freed.
 */
#ifndef PLAIT_EVENT_H
#define PLAIT_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct pl_parker;

#define PL_EV_DONE ((uintptr_t)1)

struct pl_event_node {
    struct pl_parker *parker; /* woken by the setter after release; may be NULL */
    struct pl_event_node *next;
    _Atomic uint32_t rel;
};

struct pl_event {
    _Atomic uintptr_t state;
};

static inline void pl_event_init(struct pl_event *e)
{
    atomic_init(&e->state, 0);
}

/* acquire: pairs with the setter's RMW, so that what was done before the
 * event was set is visible to a waiter that sees it set. */
static inline bool pl_event_done(const struct pl_event *e)
{
    return atomic_load_explicit((_Atomic uintptr_t *)&e->state, memory_order_acquire) & PL_EV_DONE;
}

/* Whether the setter has released a registered node. acquire: pairs with
 * the setter's release exchange, so the event's publications are visible
 * and the setter is done with the node. */
static inline bool pl_event_released(const struct pl_event_node *n)
{
    return atomic_load_explicit((_Atomic uint32_t *)&n->rel, memory_order_acquire) == 1;
}

/* pl_event_set past its RMW: releases the nodes it took (prev: the stack,
 * non-empty). */
void pl_event_release_nodes(uintptr_t prev);

static inline void pl_event_set(struct pl_event *e)
{
    /* An exchange to DONE, not an OR: set once, so DONE was clear and the
     * word held only the stack, which the exchange takes whole; no
     * registrant reads the word's stack once DONE is in it (it sees DONE
     * and does not push), so the nodes need not stay in it. One xchg, no
     * load and CAS loop, and the common case (no node: nobody slept) no
     * call. seq_cst (acq_rel would do for the event itself): release
     * publishes the setter's work to waiters that see DONE; acquire makes
     * the nodes pushed by the registrants' release CASes visible (their
     * CASes and this RMW are one modification order); seq_cst puts the
     * set in the total order for plait_task_cancel's store-buffering pair
     * with task_finish (task.c). This RMW is our last access to the event:
     * after it no node can be pushed, and the list is ours. */
    uintptr_t prev = atomic_exchange_explicit(&e->state, PL_EV_DONE, memory_order_seq_cst);
    if (pl_unlikely(prev != 0))
        pl_event_release_nodes(prev);
}
/* Registers node (its parker set by the caller); false, and nothing
 * registered, when the event is already set. */
bool pl_event_register(struct pl_event *e, struct pl_event_node *node);
/* After a successful register: returns once the setter has released the
 * node (sleeping on it meanwhile). Then the node may go away. */
void pl_event_leave(struct pl_event_node *node);

/* For a registered node from pl_malloc whose waiter gives up: true if the
 * node is abandoned (the setter will free it; the caller must not touch
 * it again), false if the setter released it first (the event is set;
 * the caller frees the node). */
bool pl_event_abandon(struct pl_event_node *node);
/* pl_event_leave with a deadline on CLOCK_MONOTONIC (pl_now_ns), for a
 * node from pl_malloc: true once released (the caller frees the node),
 * false if the deadline passed first and the node was abandoned. */
bool pl_event_leave_until(struct pl_event_node *node, uint64_t deadline_ns);

#endif
