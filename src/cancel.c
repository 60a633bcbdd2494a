/*
 * cancel — the canceller's steps, the sleepers, the lists of nested
 * groups and the detach lock (cancel.h states the rules).
 */
#include "cancel.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "debug.h"
#include "futex.h"

/* Starts at 1 so that a fresh context (epoch_ok 0) walks once. */
_Atomic uint32_t pl_cancel_epoch = 1;

bool pl_ctx_walk(const struct plait_ctx *c)
{
    return pl_walk(c) == PL_WALK_CANCELLED;
}

static bool is_shield(const struct plait_ctx *c)
{
    /* relaxed: the mark is written at the shield's start, before anything
     * that names it is registered under a list lock that its readers hold
     * (a shield is never cancelled, so the word never changes). */
    return atomic_load_explicit(&c->cancelled, memory_order_relaxed) & PL_CTX_SHIELD;
}

/* Whether a cancellation of top reaches c: c lies under top with no
 * shield between (top itself is never one). */
static bool ctx_under(const struct plait_ctx *c, const struct plait_ctx *top)
{
    for (; c != NULL; c = c->parent) {
        if (c == top)
            return true;
        if (is_shield(c))
            return false;
    }
    return false;
}

/* ---- The sleepers -----------------------------------------------------
 *
 * A thread in pl_sleep_until sleeps on a futex word of its own, in a
 * record on its stack that it links into its task's list. A canceller
 * claims (unlinks) the records it reaches while it holds that list's lock
 * (step 4), and wakes them once it holds no lock (step 5). So a
 * cancellation costs the sleepers it does not reach nothing: it never
 * learns of them, or only passes them by in a list.
 *
 * No lost wake-up: the sleeper checks its flags and links its record in
 * one critical section of the list's lock; the canceller sets a flag and
 * claims records in one critical section of the same lock. Every flag that
 * can cancel the sleeper's context is set under that lock (task_list).
 * The lock orders the two sections: if the canceller's came first, the
 * sleeper's walk sees the flag and does not sleep; if the sleeper's came
 * first, the canceller finds the record and claims it. (The lock replaces
 * the store-buffering pair the process-wide sleeper count needed: both
 * sides' reads and writes are inside the sections.) A claimed record is
 * woken: WAKING is stored before the futex wake, so a sleeper that had not
 * yet reached its futex wait finds the word changed and does not sleep.
 *
 * Lifetime: the record lives on the sleeper's stack. Once claimed, only
 * the claimer touches it, and its last access is the release of WOKEN;
 * the sleeper returns only after acquiring WOKEN (or after unlinking its
 * record itself, unclaimed, under the lock). WAKING, between the two,
 * keeps the sleeper from returning while the futex wake still names its
 * word.
 */
enum { SLEEPING, WAKING, WOKEN };

static void sleeper_unlink(struct pl_nested_groups *list, struct pl_sleeper *r)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock));
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        list->sleepers = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

/* Under list's lock: the walk that decides whether r sleeps (a flag set
 * before it is seen, a canceller after it finds the record), and the
 * mark it leaves on r. True: ctx is cancelled, r is not to be linked. */
static bool sleeper_cancelled(struct pl_sleeper *r)
{
    enum pl_walk_end end = pl_walk(r->ctx);
    r->shielded = end == PL_WALK_SHIELDED;
    return end == PL_WALK_CANCELLED;
}

static void sleeper_link(struct pl_nested_groups *list, struct pl_sleeper *r)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock));
    r->prev = NULL;
    r->next = list->sleepers;
    if (r->next != NULL)
        r->next->prev = r;
    list->sleepers = r;
}

/* Unlinks r unless a canceller claimed it (the lock decides, once):
 * true, r is the caller's again; false, its claimer will wake it. */
static bool sleeper_remove(struct pl_nested_groups *list, struct pl_sleeper *r)
{
    pl_spin_lock(&list->lock);
    bool claimed = r->claimed;
    if (!claimed)
        sleeper_unlink(list, r);
    pl_spin_unlock(&list->lock);
    return !claimed;
}

/* Step 4: moves the sleepers of list that the cancellation reaches (those
 * whose context lies under `under`; NULL: all but the shielded, for a
 * group's cancellation) onto *wake. */
static void claim_sleepers(struct pl_nested_groups *list, const struct plait_ctx *under,
                           struct pl_sleeper **wake)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock));
    for (struct pl_sleeper *r = list->sleepers, *next; r != NULL; r = next) {
        next = r->next;
        if (under != NULL ? !ctx_under(r->ctx, under) : r->shielded)
            continue;
        sleeper_unlink(list, r);
        r->claimed = true;
        r->next = *wake;
        *wake = r;
    }
}

/* Step 5, holding no lock. */
static void wake_claimed(struct pl_sleeper *r)
{
    while (r != NULL) {
        struct pl_sleeper *next = r->next; /* before the sleeper may leave */
        if (r->wake != NULL) {             /* a hook (cancel.h): its action, which owns it now */
            r->wake(r);
            r = next;
            continue;
        }
        /* relaxed: WAKING publishes nothing, it only keeps the sleeper
         * from sleeping again or leaving; the kernel orders this store
         * before its look for waiters (futex(2)'s barrier in FUTEX_WAKE). */
        atomic_store_explicit(&r->word, WAKING, memory_order_relaxed);
        pl_futex_wake(&r->word, 1);
        /* release: our last access to r; pairs with the sleeper's acquire,
         * after which its stack may go. */
        atomic_store_explicit(&r->word, WOKEN, memory_order_release);
        r = next;
    }
}

int pl_sleep_until(const struct plait_ctx *ctx, uint64_t deadline)
{
    PLAIT_ASSERT(ctx->task != NULL);
    struct pl_nested_groups *list = pl_task_list(ctx->task);
    uint64_t now = pl_now_ns();
    struct pl_sleeper r = {.ctx = ctx, .claimed = false, .wake = NULL};
    /* init: r is on our stack; the list lock below publishes it to the
     * claimers that find it. */
    atomic_init(&r.word, SLEEPING);
    pl_spin_lock(&list->lock);
    /* Under the lock (the section comment above): a flag set before this
     * is seen, a canceller after it finds the record. */
    bool cancelled = sleeper_cancelled(&r);
    if (cancelled || now >= deadline) {
        pl_spin_unlock(&list->lock);
        return cancelled ? ECANCELED : 0;
    }
    sleeper_link(list, &r);
    pl_spin_unlock(&list->lock);

    unsigned spins = 0;
    for (;;) {
        /* acquire: pairs with the claimer's release of WOKEN (its flags,
         * the epoch bump, its last access to r). */
        uint32_t w = atomic_load_explicit(&r.word, memory_order_acquire);
        if (w == WOKEN)
            return ECANCELED; /* claimed: a cancellation that reaches us */
        if (w == WAKING) {
            /* The claimer is inside its futex wake (one system call). */
            if (++spins < 64)
                pl_cpu_relax();
            else
                sched_yield();
            continue;
        }
        if (deadline != UINT64_MAX && pl_now_ns() >= deadline) {
            if (sleeper_remove(list, &r))
                return 0;
            /* Claimed just before the deadline: its canceller is on its
             * way (step 5); wait for it without a deadline. */
            deadline = UINT64_MAX;
            continue;
        }
        pl_futex_wait(&r.word, SLEEPING, deadline == UINT64_MAX ? 0 : deadline);
    }
}

/* The hooks (cancel.h): sleepers that sleep nowhere. The same list, the
 * same lock, the same argument against a lost wake-up as a sleeper's; the
 * lock also decides, once, between the claim and pl_cancel_hook_remove. */
bool pl_cancel_hook_add(struct pl_sleeper *r, const struct plait_ctx *ctx, pl_hook_fn wake)
{
    PLAIT_ASSERT(ctx->task != NULL && wake != NULL);
    struct pl_nested_groups *list = pl_task_list(ctx->task);
    r->ctx = ctx;
    r->wake = wake;
    r->claimed = false;
    pl_spin_lock(&list->lock);
    bool cancelled = sleeper_cancelled(r); /* under the lock: pl_sleep_until's */
    if (!cancelled)
        sleeper_link(list, r);
    pl_spin_unlock(&list->lock);
    return !cancelled;
}

bool pl_cancel_hook_remove(struct pl_sleeper *r)
{
    return sleeper_remove(pl_task_list(r->ctx->task), r);
}

/* ---- Cancelling ------------------------------------------------------ */

/* The end of step 3: after a flag, under the lock it was set under. */
static void bump_epoch(void)
{
    /* seq_cst RMW: a release after the flag, which pl_ctx_cancelled's
     * acquire of this value or a later one pairs with (every bump is an
     * RMW, so later ones continue this release sequence): its walk then
     * sees the flag. Under the lock: a sleeper that sees the flag through
     * the lock sees the epoch moved too, so its plait_cancelled agrees. */
    atomic_fetch_add_explicit(&pl_cancel_epoch, 1, memory_order_seq_cst);
}

/* Steps 1 to 4 for group top and every group nested in it, depth first,
 * each group's flag after those of the groups nested in it; the claimed
 * sleepers go onto *wake. Iterative, in constant stack: it keeps no
 * worklist, but the locks of the path from top to the group it is in, and
 * climbs back through the registration (a nested group's registry is the
 * list embedded in the group above it).
 *
 * Lifetimes: the caller keeps top alive. A group below top is reached in
 * the list of the group above it, whose lock is held from before the
 * group is met until after the walk has climbed back above it; a group
 * leaves a list (destroy, its creator's end) only under that list's lock,
 * before it can be freed. So every group on the path, and the sibling
 * links the walk follows, stay valid.
 *
 * The creator's rule: each group's list lock is held from before its list
 * is read until after its flag is set (step 3), so a creation registering
 * in that list (pl_nested_register, same lock) comes either before (the
 * walk finds the new group) or after (its walk of the creator sees the
 * flag, the group is born cancelled). */
static void cancel_tree(struct plait_group *top, uint32_t reason, struct pl_sleeper **wake)
{
    /* acquire: pairs with the release of the flag: the first canceller
     * has done everything below it (flags last). */
    if (atomic_load_explicit(&top->state, memory_order_acquire) & PL_G_CANCELLED)
        return;
    struct plait_group *g = top;
    pl_spin_lock(&g->nested.lock);
    /* relaxed: flags are set under this lock (and at birth, before the
     * group could be reached). */
    if (atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CANCELLED) {
        pl_spin_unlock(&g->nested.lock);
        return;
    }
    struct plait_group *next = g->nested.head;
    for (;;) {
        struct plait_group *c = next;
        if (c != NULL) {
            /* Step 2: descend into c unless it is cancelled already. */
            next = c->sibling_next;
            /* Not c if its creator lies under a shield (cancel.h). acquire:
             * as for top. */
            if (c->shielded ||
                (atomic_load_explicit(&c->state, memory_order_acquire) & PL_G_CANCELLED))
                continue;
            pl_spin_lock(&c->nested.lock);
            /* relaxed: as for top. */
            if (atomic_load_explicit(&c->state, memory_order_relaxed) & PL_G_CANCELLED) {
                pl_spin_unlock(&c->nested.lock);
                continue;
            }
            g = c;
            next = c->nested.head;
            continue;
        }
        /* Step 3. seq_cst RMW: the release that readers of the flag
         * acquire (pl_ctx_walk, spawn, wait); an RMW, as group.c sets
         * CLOSED meanwhile. Only the holder of the lock that found the
         * flag clear sets it, so the reason is the first cancellation's. */
        uint32_t prev = atomic_fetch_or_explicit(
            &g->state, PL_G_CANCELLED | (g == top ? reason : 0), memory_order_seq_cst);
        PLAIT_ASSERT(!(prev & PL_G_CANCELLED));
        (void)prev;
        bump_epoch();
        /* Step 4: every sleeper of g's tasks. */
        claim_sleepers(&g->nested, NULL, wake);
        pl_spin_unlock(&g->nested.lock);
        if (g == top)
            return;
        /* Climb: we hold the lock of the list g is in. */
        PLAIT_ASSERT(g->registry != NULL);
        next = g->sibling_next;
        g = pl_container_of(g->registry, struct plait_group, nested);
        PLAIT_ASSERT(pl_spin_held(&g->nested.lock));
    }
}

static void cancel_group(struct plait_group *g, uint32_t reason)
{
    struct pl_sleeper *wake = NULL;
    cancel_tree(g, reason, &wake);
    wake_claimed(wake); /* step 5 */
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
    PLAIT_ASSERT(!is_shield(c)); /* never cancelled (cancel.h, Shields) */
    /* acquire: pairs with the release of the flag (flags last). */
    if (atomic_load_explicit(&c->cancelled, memory_order_acquire))
        return;
    PLAIT_ASSERT(c->task != NULL);
    /* Step 1: the list where c's task registers its groups and sleepers,
     * which every canceller of c's task's contexts takes. */
    struct pl_nested_groups *list = pl_task_list(c->task);
    struct pl_sleeper *wake = NULL;
    pl_spin_lock(&list->lock);
    /* relaxed: set under this lock only. */
    if (!atomic_load_explicit(&c->cancelled, memory_order_relaxed)) {
        /* Step 2: the groups created under c. The list's lock keeps each
         * alive (cancel_tree's comment), and is held until c's flag is set:
         * the creator's rule. */
        for (struct plait_group *g = list->head; g != NULL; g = g->sibling_next)
            if (ctx_under(g->creator, c))
                cancel_tree(g, 0, &wake);
        /* Step 3. seq_cst (release is what matters): pairs with
         * pl_ctx_walk's acquire. */
        atomic_store_explicit(&c->cancelled, PL_CTX_CANCELLED, memory_order_seq_cst);
        bump_epoch();
        /* Step 4: the sleepers of c and of the join children under it. */
        claim_sleepers(list, c, &wake);
    }
    pl_spin_unlock(&list->lock);
    wake_claimed(wake); /* step 5 */
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
    /* relaxed, both: the holder's own name, under the mutex. */
    PLAIT_ASSERT(atomic_load_explicit(&detach_holder, memory_order_relaxed) == pl_debug_thread());
    atomic_store_explicit(&detach_holder, 0, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&detach_lock);
}

/* The fork rule (cancel.h). */
static void detach_lock_reset_in_child(void)
{
    pthread_mutex_init(&detach_lock, NULL);
#if PL_DEBUG
    /* relaxed: the child has one thread. */
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

/* pl_nested_unregister's other thread (cancel.h): the detach lock
 * first, as that thread does not keep the creator task's list alive
 * (the detach lock's comment above). */
void pl_nested_unregister_other(struct plait_group *g)
{
    pl_detach_lock();
    struct pl_nested_groups *list = g->registry;
    if (list != NULL) {
        pl_spin_lock(&list->lock);
        /* Another thread leaves the creator's count alone: so the
         * creator's end takes the slow path and its locks, and cannot
         * finish (letting the list's owner be freed) before our unlock. */
        pl_unlink_group(list, g);
        pl_spin_unlock(&list->lock);
    }
    pl_detach_unlock();
}

void pl_ctx_end_slow(struct plait_ctx *c)
{
    struct pl_nested_groups *list = pl_task_list(c->task);
    bool root = c->parent == NULL;
    bool shield = !root && is_shield(c);
    struct pl_sleeper *wake = NULL;
    if (root)
        pl_detach_lock();
    pl_spin_lock(&list->lock);
    /* A shield's groups now follow the enclosing context's fate (cancel.h,
     * Shields): the walk under the lock, as a registration's. */
    enum pl_walk_end up = shield ? pl_walk(c->parent) : PL_WALK_CLEAR;
    for (struct plait_group *g = list->head, *next; g != NULL; g = next) {
        next = g->sibling_next;
        if (g->creator != c)
            continue;
        if (!root) {
            /* A join child's groups now belong to the enclosing context. */
            g->creator = c->parent;
            pl_count_created(list, c->parent, 1);
            if (shield) {
                g->shielded = up == PL_WALK_SHIELDED;
                if (up == PL_WALK_CANCELLED)
                    cancel_tree(g, 0, &wake); /* a late step 2 */
            }
        } else {
            /* The task is over: the group no longer follows its fate, and
             * no longer keeps the pool's record alive for it (core.h,
             * pool_ref): the group takes a reference of its own, while
             * the task still runs. relaxed load: only the creation and
             * this end write it, the creation before the registration
             * this lock ordered. release: pairs with destroy's acquire
             * (group.c), which comes after our detach lock. */
            if (!atomic_load_explicit(&g->pool_ref, memory_order_relaxed)) {
                pl_pool_ref(g->pool);
                atomic_store_explicit(&g->pool_ref, true, memory_order_release);
            }
            pl_unlink_group(list, g);
            g->creator = NULL;
        }
    }
    /* relaxed: under the list lock (count_created's comment). */
    atomic_store_explicit(&c->groups_created, 0, memory_order_relaxed);
    pl_spin_unlock(&list->lock);
    if (root)
        pl_detach_unlock();
    wake_claimed(wake); /* step 5 of the hand-over's cancellations */
}
