/*
 * cancel — the canceller's steps, the sleepers, the lists of nested
 * groups and the detach lock (cancel.h states the rules).
 */
#include "cancel.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "debug.h"
#include "futex.h"

/* Starts at 1 so that a fresh context (epoch_ok 0) walks once. */
_Atomic uint32_t pl_cancel_epoch = 1;
/* Threads inside pl_sleep_until; they sleep on pl_cancel_epoch. */
static _Atomic uint32_t sleepers;

bool pl_ctx_walk(const struct plait_ctx *c)
{
    const struct plait_ctx *x = c;
    /* relaxed: cancel.h's comment says how each caller orders the loads. */
    for (;;) {
        if (atomic_load_explicit(&x->cancelled, memory_order_relaxed))
            return true;
        if (x->parent == NULL)
            break;
        x = x->parent;
    }
    const struct plait_group *g = x->task != NULL ? x->task->group : NULL;
    return g != NULL && (atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CANCELLED);
}

/* Steps 2 and 3. */
static void announce(void)
{
    /* seq_cst RMW: after our flag (step 1) in the single total order, and
     * the release that pl_ctx_cancelled's acquire pairs with. */
    atomic_fetch_add_explicit(&pl_cancel_epoch, 1, memory_order_seq_cst);
    /* seq_cst: the canceller's read in the store-buffering pair with
     * pl_sleep_until's count bump. */
    if (atomic_load_explicit(&sleepers, memory_order_seq_cst) != 0)
        pl_futex_wake(&pl_cancel_epoch, INT_MAX);
}

int pl_sleep_until(const struct plait_ctx *ctx, uint64_t deadline)
{
    /* The sleeper's side: count ourselves (seq_cst RMW), read the epoch
     * (seq_cst), walk the flags, sleep on the epoch word. A canceller that
     * read no sleeper did its bump before our count in the total order,
     * so our epoch read reads from that bump or a later one (all RMWs
     * continue its release sequence) and acquires it: its flag is visible
     * to the relaxed walk. A canceller that saw us bumps the epoch, which
     * either comes before our read (the same argument) or makes the futex
     * wait return at once, and then wakes the word. */
    atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
    int r;
    for (;;) {
        uint32_t e = atomic_load_explicit(&pl_cancel_epoch, memory_order_seq_cst);
        if (pl_ctx_walk(ctx)) {
            r = ECANCELED;
            break;
        }
        if (pl_now_ns() >= deadline) {
            r = 0;
            break;
        }
        pl_futex_wait(&pl_cancel_epoch, e, deadline == UINT64_MAX ? 0 : deadline);
    }
    /* relaxed: a count; an extra wake-up for a thread that has left costs
     * one system call. */
    atomic_fetch_sub_explicit(&sleepers, 1, memory_order_relaxed);
    return r;
}

/* ---- The lists of nested groups -------------------------------------- */

void pl_nested_init(struct pl_nested_groups *list)
{
    pl_spin_init(&list->lock);
    list->head = NULL;
}

/* The list where groups created by task t's contexts are registered. */
static struct pl_nested_groups *task_list(struct plait_task *t)
{
    return t->group != NULL ? &t->group->nested : &t->ctx.pool->lone_nested;
}

/* Creator counts change only under the list lock: no RMW needed. */
static void count_created(struct pl_nested_groups *list, struct plait_ctx *c, int delta)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock));
    (void)list;
    uint32_t n = atomic_load_explicit(&c->groups_created, memory_order_relaxed);
    PLAIT_ASSERT(delta > 0 || n > 0);
    /* relaxed: the list lock orders the writers; the reader outside it
     * (pl_ctx_end) takes a hint. */
    atomic_store_explicit(&c->groups_created, n + (uint32_t)delta, memory_order_relaxed);
}

static void unlink_group(struct pl_nested_groups *list, struct plait_group *g)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock) && g->registry == list);
    if (g->sibling_prev != NULL)
        g->sibling_prev->sibling_next = g->sibling_next;
    else
        list->head = g->sibling_next;
    if (g->sibling_next != NULL)
        g->sibling_next->sibling_prev = g->sibling_prev;
    g->sibling_prev = g->sibling_next = NULL;
    g->registry = NULL;
}

static bool ctx_under(const struct plait_ctx *c, const struct plait_ctx *top)
{
    for (; c != NULL; c = c->parent)
        if (c == top)
            return true;
    return false;
}

static void cancel_group(struct plait_group *g, uint32_t reason);

/* Step 4: cancels the groups in list whose creator lies under ctx (NULL:
 * all of them). Holding the lock keeps every group in the list alive: a
 * group leaves it (destroy, its creator's end) under the same lock. */
static void cancel_nested(struct pl_nested_groups *list, const struct plait_ctx *ctx)
{
    pl_spin_lock(&list->lock);
    for (struct plait_group *g = list->head; g != NULL; g = g->sibling_next)
        if (ctx == NULL || ctx_under(g->creator, ctx))
            cancel_group(g, 0);
    pl_spin_unlock(&list->lock);
}

/* ---- Cancelling ------------------------------------------------------ */

static void cancel_group(struct plait_group *g, uint32_t reason)
{
    /* Step 1. seq_cst: before the epoch bump and the sleepers read in the
     * total order (announce). A CAS, so that the reason is recorded only
     * by the cancellation that takes effect. */
    uint32_t prev = atomic_load_explicit(&g->state, memory_order_relaxed);
    do {
        if (prev & PL_G_CANCELLED)
            return;
    } while (!atomic_compare_exchange_weak_explicit(&g->state, &prev, prev | PL_G_CANCELLED | reason,
                                                    memory_order_seq_cst, memory_order_relaxed));
    announce();
    cancel_nested(&g->nested, NULL);
}

void pl_group_cancel(struct plait_group *g)
{
    cancel_group(g, 0);
}

void pl_group_time_out(struct plait_group *g)
{
    cancel_group(g, PL_G_TIMEDOUT);
}

void pl_ctx_cancel(struct plait_ctx *c)
{
    /* Step 1. seq_cst: before the epoch bump and the sleepers read. */
    if (atomic_exchange_explicit(&c->cancelled, 1, memory_order_seq_cst))
        return;
    announce();
    /* Always walk the list, under its lock: creation registers and walks
     * under the same lock (the creator's rule), so no group created under
     * c can miss this cancellation. Cancels are rare; creations are not,
     * and take no extra atomic for it. */
    if (c->task != NULL)
        cancel_nested(task_list(c->task), c);
}

/* ---- Registration and the creator's end ------------------------------- */

/*
 * A group's registration points into its creator task's list, which lives
 * in the creator task's group (or the pool), and may be freed once the
 * creator task ends and that group is waited and destroyed. A thread that
 * unregisters while running the creator task is safe (the task cannot end
 * meanwhile); any other thread takes this lock, and so does the creator's
 * end when it detaches groups: so the other thread either finds the group
 * detached, or locks a list that the creator task, not yet past its end,
 * keeps alive.
 */
static pthread_mutex_t detach_lock = PTHREAD_MUTEX_INITIALIZER;
#if PL_DEBUG
static _Atomic uintptr_t detach_holder;
#endif

void pl_detach_lock(void)
{
    pthread_mutex_lock(&detach_lock);
#if PL_DEBUG
    /* relaxed: only the holder writes and compares it. */
    atomic_store_explicit(&detach_holder, pl_debug_thread(), memory_order_relaxed);
#endif
}

void pl_detach_unlock(void)
{
#if PL_DEBUG
    PLAIT_ASSERT(atomic_load_explicit(&detach_holder, memory_order_relaxed) ==
                 pl_debug_thread());
    atomic_store_explicit(&detach_holder, 0, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&detach_lock);
}

/* The fork rule (cancel.h). */
static void detach_lock_reset_in_child(void)
{
    pthread_mutex_init(&detach_lock, NULL);
#if PL_DEBUG
    atomic_store_explicit(&detach_holder, 0, memory_order_relaxed);
#endif
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, detach_lock_reset_in_child);
}

void pl_fork_prepare_once(void)
{
    pthread_once(&atfork_once, atfork_register);
}

void pl_nested_register(struct plait_group *g, struct plait_ctx *creator)
{
    struct pl_nested_groups *list = task_list(creator->task);
    pl_spin_lock(&list->lock);
    g->registry = list;
    g->creator = creator;
    g->creator_task = creator->task;
    g->sibling_prev = NULL;
    g->sibling_next = list->head;
    if (list->head != NULL)
        list->head->sibling_prev = g;
    list->head = g;
    count_created(list, creator, 1);
    /* The creator's rule: under the lock that every canceller that could
     * reach g walks under after setting its flag, so the relaxed walk sees
     * any flag set before that canceller's walk missed g. */
    if (pl_ctx_walk(creator))
        /* relaxed: g is not yet visible to any other thread. */
        atomic_fetch_or_explicit(&g->state, PL_G_CANCELLED, memory_order_relaxed);
    pl_spin_unlock(&list->lock);
}

void pl_nested_unregister(struct plait_group *g, const struct plait_ctx *current)
{
    if (g->creator_task == NULL)
        return; /* created outside any task */
    bool creators_thread = current != NULL && current->task == g->creator_task;
    if (!creators_thread)
        pl_detach_lock();
    struct pl_nested_groups *list = g->registry;
    if (list != NULL) {
        pl_spin_lock(&list->lock);
        /* Another thread leaves the creator's count alone: so the
         * creator's end takes the slow path and its locks, and cannot
         * finish (letting the list's owner be freed) before our unlock. */
        if (creators_thread)
            count_created(list, g->creator, -1);
        unlink_group(list, g);
        pl_spin_unlock(&list->lock);
    }
    if (!creators_thread)
        pl_detach_unlock();
}

void pl_ctx_end_slow(struct plait_ctx *c)
{
    struct pl_nested_groups *list = task_list(c->task);
    bool root = c->parent == NULL;
    if (root)
        pl_detach_lock();
    pl_spin_lock(&list->lock);
    for (struct plait_group *g = list->head, *next; g != NULL; g = next) {
        next = g->sibling_next;
        if (g->creator != c)
            continue;
        if (!root) {
            /* A join child's groups now belong to the enclosing context. */
            g->creator = c->parent;
            count_created(list, c->parent, 1);
        } else {
            /* The task is over: the group no longer follows its fate. */
            unlink_group(list, g);
            g->creator = NULL;
        }
    }
    /* relaxed: under the list lock (count_created's comment). */
    atomic_store_explicit(&c->groups_created, 0, memory_order_relaxed);
    pl_spin_unlock(&list->lock);
    if (root)
        pl_detach_unlock();
}
