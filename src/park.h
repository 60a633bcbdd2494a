/*
 * park — putting idle workers to sleep and waking them, without lost
 * wake-ups and without system calls on the busy path.
 *
 * Promise to the other parts:
 *   - A worker that finds nothing to do calls pl_lot_prepare, then checks
 *     every queue once more, then either pl_lot_cancel (found work) or
 *     pl_parker_sleep. A producer that published work with release/RMW
 *     semantics and then calls pl_lot_notify is guaranteed that
 *     a parked worker wakes or that some worker's re-check sees the work.
 *   - pl_lot_notify makes a system call only when some worker sleeps and
 *     none is searching (the Go/Tokio throttle): a searching worker will
 *     find the work itself, and when it does it wakes the next sleeper.
 *   - A parker may also be woken directly (pl_parker_wake), e.g. by the
 *     completion of a group it waits on.
 */
#ifndef PLAIT_PARK_H
#define PLAIT_PARK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct pl_parker {
    _Atomic uint32_t word;  /* futex word: 1 while asleep or about to be */
    struct pl_parker *next; /* idle stack link; lot lock */
    bool on_idle;           /* lot lock */
    bool handed_search;     /* lot lock: popped by a notifier, counted as searching */
    unsigned char kind;     /* lot lock: enum pl_parker_kind */
};

/* What a parked worker would do with injected work (worker.c). */
enum pl_parker_kind {
    PL_PARK_TAKES,          /* takes it: an idle worker, or a wait that may */
    PL_PARK_DECLINES,       /* a wait that prefers its own work */
    PL_PARK_DECLINES_TIMED, /* declining, and asleep until it takes it anyway */
};

/* Whom a notify wakes. */
enum pl_wake_whom {
    PL_WAKE_ANY,      /* the most recent sleeper */
    PL_WAKE_TAKER,    /* a PL_PARK_TAKES sleeper, or none */
    PL_WAKE_DECLINER, /* a PL_PARK_DECLINES sleeper (to start its clock), or none */
};

struct pl_lot {
    /* sleepers in the low 16 bits, searching workers in the high 16 */
    PL_CACHE_ALIGNED _Atomic uint32_t state;
    PL_CACHE_ALIGNED pthread_mutex_t lock;
    struct pl_parker *idle; /* stack of parked workers */
    _Atomic uint64_t wakeups, parks;
};

#define PL_LOT_SLEEPERS(s) ((s)&0xffffu)
#define PL_LOT_SEARCHING(s) ((s) >> 16)

void pl_lot_init(struct pl_lot *lot);
void pl_lot_destroy(struct pl_lot *lot);

/* A worker starts/stops looking for work to steal. search_end returns true
 * when it was the last searcher: the caller then calls pl_lot_notify so
 * that parallelism keeps ramping up. */
void pl_lot_search_begin(struct pl_lot *lot);
bool pl_lot_search_end(struct pl_lot *lot);

/* Announce p as a sleeper (and stop searching if it was). The caller must
 * re-check for work after this returns. kind: enum pl_parker_kind. */
void pl_lot_prepare(struct pl_lot *lot, struct pl_parker *p, bool was_searching,
                    enum pl_parker_kind kind);
/* Undo pl_lot_prepare (work was found, or the sleep ended). Returns true
 * when a notifier had already popped p and counted it as searching: the
 * caller is then a searcher and must end the search itself. */
bool pl_lot_leave(struct pl_lot *lot, struct pl_parker *p);
/* Sleep until woken or until deadline_ns on CLOCK_MONOTONIC (0: no limit). */
void pl_parker_sleep(struct pl_parker *p, uint64_t deadline_ns);
void pl_parker_wake(struct pl_parker *p);

/* After publishing work that other threads can see only through this
 * notify (the injection queue, waits): the full Dekker handshake, with an
 * RMW. whom: which sleeper may be woken (PL_WAKE_TAKER when the work is in
 * the injection queue only). Returns true when it woke nobody although
 * some worker sleeps that is not of the kind asked for (the caller may
 * then ask for another kind). */
bool pl_lot_notify(struct pl_lot *lot, enum pl_wake_whom whom);
/* The cheap notify, with no RMW: enough when the caller's own thread will
 * also get to the work (its own deque), or when an RMW of its own on the
 * lot state already ordered the work before (a searcher's search_end).
 * Wakes any sleeper. */
void pl_lot_notify_unfenced(struct pl_lot *lot);
/* The unfenced notify's test, inline for the spawn and join paths. */
static inline void pl_lot_notify_local(struct pl_lot *lot)
{
    /* relaxed: a hint; the caller's own thread will reach the work. */
    uint32_t s = atomic_load_explicit(&lot->state, memory_order_relaxed);
    if (pl_unlikely(PL_LOT_SLEEPERS(s) != 0 && PL_LOT_SEARCHING(s) == 0))
        pl_lot_notify_unfenced(lot);
}

/* An acq_rel RMW on the lot state and nothing else: orders the caller's
 * earlier writes before, and its later reads after, every other thread's
 * prepare or fenced notify (park.c's argument). */
static inline void pl_lot_sync(struct pl_lot *lot)
{
    atomic_fetch_add_explicit(&lot->state, 0, memory_order_acq_rel);
}

/* Takes and drops the lot's lock, so that every pl_lot_leave is either
 * before it (what the leaver did before leaving is visible to the caller
 * afterwards) or after it (the leaver sees what the caller did before):
 * for pool destroy's quiescence check (pool.c). */
void pl_lot_pass(struct pl_lot *lot);

/* Wake every sleeper that declines injected work (a group's first
 * injection may make them accept it). */
void pl_lot_wake_decliners(struct pl_lot *lot);

/* Wake every sleeper (pool shutdown). */
void pl_lot_notify_all(struct pl_lot *lot);

#endif
