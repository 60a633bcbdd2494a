/*
 * Parking. The lot's state word counts sleepers and searchers; the idle
 * stack is guarded by a mutex, which only parking and actual wake-ups take
 * (Tokio's design: the busy path reads one word and takes no lock).
 *
 * No lost wake-up (the fenced notify): the producer publishes its work,
 * then performs an acq_rel RMW on state; a parker performs an acq_rel RMW
 * on state (in pl_lot_prepare), then re-checks the queues. RMWs on one
 * location are totally ordered. If the producer's RMW comes later, it reads
 * the parker's increment and wakes someone. If it comes earlier, the
 * parker's RMW reads from it (through the release sequence of RMWs), so it
 * synchronizes with it, and the parker's re-check happens after the work
 * was published and sees it.
 */
#include "park.h"

#include <limits.h>

#include "futex.h"

#define ONE_SLEEPER 1u
#define ONE_SEARCHER (1u << 16)

void pl_lot_init(struct pl_lot *lot)
{
    atomic_init(&lot->state, 0);
    pthread_mutex_init(&lot->lock, NULL);
    lot->idle = NULL;
    atomic_init(&lot->wakeups, 0);
    atomic_init(&lot->parks, 0);
}

void pl_lot_destroy(struct pl_lot *lot)
{
    pthread_mutex_destroy(&lot->lock);
}

void pl_lot_search_begin(struct pl_lot *lot)
{
    /* relaxed: the searcher count only throttles wake-ups; correctness of
     * parking rests on the RMWs of prepare/notify. */
    atomic_fetch_add_explicit(&lot->state, ONE_SEARCHER, memory_order_relaxed);
}

bool pl_lot_search_end(struct pl_lot *lot)
{
    /* acq_rel: a notifier that skipped its wake-up because it saw us
     * searching published its work before its RMW/load; we found work and
     * hand the wake-up on (the caller notifies when we were the last). */
    uint32_t prev = atomic_fetch_sub_explicit(&lot->state, ONE_SEARCHER, memory_order_acq_rel);
    return PL_LOT_SEARCHING(prev) == 1;
}

void pl_lot_prepare(struct pl_lot *lot, struct pl_parker *p, bool was_searching,
                    enum pl_parker_kind kind)
{
    /* relaxed: only this thread and wakers (under the lot lock, after the
     * push below) touch the word; the futex call rereads it. */
    atomic_store_explicit(&p->word, 1, memory_order_relaxed);
    pthread_mutex_lock(&lot->lock);
    p->next = lot->idle;
    lot->idle = p;
    p->on_idle = true;
    p->handed_search = false;
    p->kind = (unsigned char)kind;
    uint32_t delta = ONE_SLEEPER - (was_searching ? ONE_SEARCHER : 0);
    /* acq_rel: the parker's half of the Dekker handshake (file comment). */
    atomic_fetch_add_explicit(&lot->state, delta, memory_order_acq_rel);
    pthread_mutex_unlock(&lot->lock);
    /* relaxed: a statistics counter (plait_stats.parks). */
    atomic_fetch_add_explicit(&lot->parks, 1, memory_order_relaxed);
}

bool pl_lot_leave(struct pl_lot *lot, struct pl_parker *p)
{
    bool handed;
    pthread_mutex_lock(&lot->lock);
    if (p->on_idle) {
        struct pl_parker **pp = &lot->idle;
        while (*pp != p)
            pp = &(*pp)->next;
        *pp = p->next;
        p->on_idle = false;
        /* relaxed: under the lock; sleepers is a count, not a publication. */
        atomic_fetch_sub_explicit(&lot->state, ONE_SLEEPER, memory_order_relaxed);
    }
    handed = p->handed_search;
    p->handed_search = false;
    pthread_mutex_unlock(&lot->lock);
    return handed;
}

void pl_lot_pass(struct pl_lot *lot)
{
    pthread_mutex_lock(&lot->lock);
    pthread_mutex_unlock(&lot->lock);
}

void pl_parker_sleep(struct pl_parker *p, uint64_t deadline_ns)
{
    /* acquire: pairs with the waker's release store of 0, so what the waker
     * published before waking us is visible after we return. */
    while (atomic_load_explicit(&p->word, memory_order_acquire) == 1) {
        pl_futex_wait(&p->word, 1, deadline_ns);
        if (deadline_ns != 0 && pl_now_ns() >= deadline_ns)
            break;
    }
}

void pl_parker_wake(struct pl_parker *p)
{
    /* release: pairs with the acquire in pl_parker_sleep. */
    atomic_store_explicit(&p->word, 0, memory_order_release);
    pl_futex_wake(&p->word, 1);
}

static bool wanted(const struct pl_parker *p, enum pl_wake_whom whom)
{
    switch (whom) {
    case PL_WAKE_TAKER:
        return p->kind == PL_PARK_TAKES;
    case PL_WAKE_DECLINER:
        return p->kind == PL_PARK_DECLINES;
    default:
        return true;
    }
}

static bool wake_one(struct pl_lot *lot, enum pl_wake_whom whom)
{
    bool declined = false;
    struct pl_parker *p = NULL;
    pthread_mutex_lock(&lot->lock);
    /* relaxed: only the searcher count is used, as a throttle: the
     * handshake was done before the call (a fenced notify's RMW; for the
     * unfenced one, the caller's own deque or earlier RMW, park.h). A
     * searcher seen here that began after that RMW finds the work or
     * re-checks after its own prepare; one missed costs a spare wake-up.
     * The sleepers themselves are read from the idle stack. */
    uint32_t s = atomic_load_explicit(&lot->state, memory_order_relaxed);
    /* Re-check under the lock: another notifier may have woken the last
     * sleeper, or a searcher may have appeared. The idle stack is at most
     * as long as the pool has workers. */
    struct pl_parker **pp = &lot->idle;
    while (*pp != NULL && !wanted(*pp, whom))
        pp = &(*pp)->next;
    declined = *pp == NULL && lot->idle != NULL;
    if (*pp != NULL && PL_LOT_SEARCHING(s) == 0) {
        p = *pp;
        *pp = p->next;
        p->on_idle = false;
        p->handed_search = true;
        /* relaxed: under the lock. The woken worker starts as a searcher,
         * so further notifies are throttled until it finds work. */
        atomic_fetch_add_explicit(&lot->state, ONE_SEARCHER - ONE_SLEEPER, memory_order_relaxed);
    }
    pthread_mutex_unlock(&lot->lock);
    if (p != NULL) {
        /* relaxed: a statistics counter (plait_stats.wakeups). */
        atomic_fetch_add_explicit(&lot->wakeups, 1, memory_order_relaxed);
        pl_parker_wake(p);
    }
    return declined;
}

bool pl_lot_notify(struct pl_lot *lot, enum pl_wake_whom whom)
{
    /* acq_rel RMW: the producer's half of the Dekker handshake. */
    uint32_t s = atomic_fetch_add_explicit(&lot->state, 0, memory_order_acq_rel);
    if (PL_LOT_SLEEPERS(s) == 0 || PL_LOT_SEARCHING(s) != 0)
        return false;
    return wake_one(lot, whom);
}

void pl_lot_notify_unfenced(struct pl_lot *lot)
{
    /* relaxed: a hint; the caller's own thread will reach the work, or
     * the caller's own RMW on the state ordered its work before. */
    uint32_t s = atomic_load_explicit(&lot->state, memory_order_relaxed);
    if (PL_LOT_SLEEPERS(s) != 0 && PL_LOT_SEARCHING(s) == 0)
        wake_one(lot, PL_WAKE_ANY);
}

/* Wakes every sleeper, or every one that declines injected work. No
 * hand-over search: each looks for its own work. */
static void wake_all(struct pl_lot *lot, bool decliners_only)
{
    pthread_mutex_lock(&lot->lock);
    struct pl_parker **pp = &lot->idle, *woken = NULL;
    while (*pp != NULL) {
        struct pl_parker *q = *pp;
        if (decliners_only && q->kind == PL_PARK_TAKES) {
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        q->on_idle = false;
        q->next = woken;
        woken = q;
        /* relaxed: under the lock; sleepers is a count, not a publication. */
        atomic_fetch_sub_explicit(&lot->state, ONE_SLEEPER, memory_order_relaxed);
    }
    /* Wake while holding the lock: a parker cannot reuse its node before we
     * are done, because pl_lot_leave takes the lock. */
    while (woken != NULL) {
        struct pl_parker *next = woken->next;
        pl_parker_wake(woken);
        woken = next;
    }
    pthread_mutex_unlock(&lot->lock);
}

void pl_lot_wake_decliners(struct pl_lot *lot)
{
    wake_all(lot, true);
}

void pl_lot_notify_all(struct pl_lot *lot)
{
    wake_all(lot, false);
}
