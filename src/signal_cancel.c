/*
 * signal_cancel — the watcher and the async-signal-safe ask
 * (signal_cancel.h).
 */
#include "signal_cancel.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "batch.h"
#include "cancel.h"
#include "debug.h"
#include "futex.h"

/* The handler's side is async-signal-safe only if these are lock-free. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "plait_group_cancel_async needs lock-free pointers");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "plait_group_cancel_async needs lock-free ints");

static _Atomic(struct plait_group *) asked; /* the stack, linked by async_next */
static _Atomic uint32_t bell;               /* futex word: bumped after every push */
static _Atomic bool stopping;
/* Under watch_lock: the live PLAIT_GROUP_CANCEL_ASYNC groups, and the
 * watcher, running while there are any. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t live_groups;
static bool running;
static pthread_t watcher;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void *watch(void *unused)
{
    (void)unused;
    for (;;) {
        /* acquire: pairs with the ringers' release bump, after their push.
         * Read before the take: a push the take misses came later, and so
         * did its bump, so the futex wait below returns at once. */
        uint32_t b = atomic_load_explicit(&bell, memory_order_acquire);
        /* acquire: pairs with the pushes' release, for their links. */
        struct plait_group *g = atomic_exchange_explicit(&asked, NULL, memory_order_acquire);
        while (g != NULL) {
            struct plait_group *next = g->async_next;  /* before done: g may go */
            pl_group_cancel_for(g, PLAIT_CANCEL_CALL); /* as plait_group_cancel */
            /* release: pl_async_group_destroyed's acquire; our last access
             * to g. */
            atomic_store_explicit(&g->async_state, PL_ASYNC_DONE, memory_order_release);
            g = next;
        }
        /* relaxed: set before the stopper's bump, which we acquired. Every
         * group was done before the last one's destroy stops us, so the
         * stack is empty then. */
        if (atomic_load_explicit(&stopping, memory_order_relaxed))
            break;
        pl_futex_wait(&bell, b, 0);
    }
    return NULL;
}

/* Under watch_lock. */
static void watcher_stop(void)
{
    /* relaxed: published by the bell's release RMW below. */
    atomic_store_explicit(&stopping, true, memory_order_relaxed);
    /* release: the watcher's acquire of the bell sees stopping. */
    atomic_fetch_add_explicit(&bell, 1, memory_order_release);
    pl_futex_wake(&bell, 1);
    pthread_join(watcher, NULL);
    running = false;
}

/* A child after fork has no watcher, and the groups it inherited belong to
 * the parent's pools, which the child may not use. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&watch_lock, NULL);
    live_groups = 0;
    running = false;
    /* relaxed: the child's only thread; a handler in the child runs on
     * it too, after this store in its own order. */
    atomic_store_explicit(&asked, NULL, memory_order_relaxed);
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

int pl_async_group_created(void)
{
    pthread_once(&atfork_once, atfork_register);
    int err = 0;
    pthread_mutex_lock(&watch_lock);
    if (!running) {
        /* relaxed: under watch_lock, with no watcher running (the last
         * one was joined); pthread_create publishes it to the new one. */
        atomic_store_explicit(&stopping, false, memory_order_relaxed);
        /* The watcher never runs a signal handler: it is not where the
         * user's signals should land. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        err = pthread_create(&watcher, NULL, watch, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err == 0) {
            pthread_setname_np(watcher, "plait-signal");
            running = true;
        }
    }
    if (err == 0)
        live_groups++;
    pthread_mutex_unlock(&watch_lock);
    return err;
}

void pl_async_group_destroyed(struct plait_group *g)
{
    /* acquire: pairs with the watcher's release of DONE, its last access.
     * The watcher cancels a group in a few microseconds: yield meanwhile. */
    while (atomic_load_explicit(&g->async_state, memory_order_acquire) == PL_ASYNC_ASKED)
        sched_yield();
    pthread_mutex_lock(&watch_lock);
    PLAIT_ASSERT(live_groups > 0 && running);
    if (--live_groups == 0)
        watcher_stop();
    pthread_mutex_unlock(&watch_lock);
}

/* At exit, with such groups never destroyed: stop and join the watcher,
 * so that nothing is left of it. */
__attribute__((destructor)) static void watcher_stop_at_exit(void)
{
    /* A try: exit() from a thread while another creates such a group must
     * not hang here. */
    if (pthread_mutex_trylock(&watch_lock) != 0)
        return;
    if (running)
        watcher_stop();
    pthread_mutex_unlock(&watch_lock);
}

int plait_group_cancel_async(plait_group *g)
{
    /* flags: written at creation, before the handler could know g. */
    if (g == NULL || !(g->flags & PLAIT_GROUP_CANCEL_ASYNC))
        return EINVAL;
    int saved_errno = errno; /* a handler must leave errno as it found it */
    uint32_t zero = 0;
    /* relaxed: only one asker pushes; the push's release publishes g. */
    if (atomic_compare_exchange_strong_explicit(&g->async_state, &zero, PL_ASYNC_ASKED,
                                                memory_order_relaxed, memory_order_relaxed)) {
        /* relaxed: a starting guess for the CAS, which re-reads it. */
        struct plait_group *head = atomic_load_explicit(&asked, memory_order_relaxed);
        do
            g->async_next = head;
        /* release: the link and the state reach the watcher's take;
         * relaxed on failure: a new guess. */
        while (!atomic_compare_exchange_weak_explicit(&asked, &head, g, memory_order_release,
                                                      memory_order_relaxed));
        /* release: pairs with the watcher's acquire of the bell. */
        atomic_fetch_add_explicit(&bell, 1, memory_order_release);
        pl_futex_wake(&bell, 1);
    }
    errno = saved_errno;
    return 0;
}
