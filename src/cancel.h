/*
 * cancel — cancellation and its reach: what "cancelled" means, how a
 * cancellation reaches the checks and sleeps of the tasks it covers, and
 * the lists of nested groups through which it reaches groups created
 * inside them. Every side of every handshake below is in cancel.c, but
 * a group's registration and its creator's-thread unregistration, which
 * are inline at the end of this header (every group-per-call makes both).
 *
 * What "cancelled" means. A context (a task's, or a join child's) is
 * cancelled when its own flag is set, or the flag of a context enclosing
 * it (the join chain up to its task's root context), or its task's group
 * is (PL_G_CANCELLED); a shield on the way hides what lies beyond it
 * (Shields, below). A group is cancelled by plait_group_cancel, by the
 * failure of one of its tasks (fail-fast), by its deadline (with
 * PL_G_TIMEDOUT), or by the cancellation of the context that created it
 * (rule 4, nesting). Nothing is ever un-cancelled.
 *
 * Rule 4's order. Whatever a task can observe of its cancellation (a flag
 * through pl_ctx_walk, plait_cancelled, plait_sleep's ECANCELED) comes
 * after every group created under it is cancelled: flags are set last,
 * depth first, each after the flags of the groups nested below it. (Under
 * a shield, neither side: Shields, below.)
 *
 * The canceller's steps, in order, for a group g (its list: g->nested,
 * where g's tasks register their groups and sleepers) or a context c (its
 * list: the one of c's task, in the task's group or the pool):
 *   1. Lock the list; if the flag is already set, unlock and stop (the
 *      first canceller did or is doing all of it: flags last).
 *   2. Walk the nested groups in the list (for c: those whose creator lies
 *      under c, with no shield between; for g: all but the shielded) and
 *      apply steps 1 to 4 to each, still holding the list's lock.
 *      Iterative, in constant stack: the walk holds the locks of its path
 *      and climbs back through each group's registration (cancel.c,
 *      cancel_tree). Serves rule 4.
 *   3. Set the flag: a store on ctx->cancelled, or an RMW that adds
 *      PL_G_CANCELLED (and the reason) to a group's state; seq_cst (its
 *      release is what readers pair with). Then bump pl_cancel_epoch
 *      (seq_cst RMW), still under the lock: it serves the one-load check
 *      pl_ctx_cancelled (a context that saw the epoch at a value where it
 *      was not cancelled need not walk until the epoch moves; its acquire
 *      of the new epoch makes the flag visible to its walk), and a sleeper
 *      that sees the flag through the lock sees the epoch moved too.
 *   4. Claim the sleepers in the list that the cancellation reaches (for
 *      g: all but the shielded, they are its tasks'; for c: those whose
 *      context lies under c, with no shield between): unlink them. Unlock
 *      the list.
 *   5. Holding no lock, wake each claimed sleeper on its own futex word.
 *      A cancellation wakes no sleeper it does not reach, and costs those
 *      nothing. No lost wake-up: a sleeper checks its flags and links its
 *      record under its list's lock, which every flag that can cancel it
 *      is set under (cancel.c, the sleepers).
 *
 * The creator's rule. A group created while a task runs is registered in
 * that task's list, under the list's lock, with the running context as its
 * creator, and the creation walks that context under the same lock. A
 * canceller holds that lock from before it reads the list (step 2) until
 * after it sets its flag (step 3): so the registration comes either before
 * (the walk finds the group) or after (the creation's walk sees the flag:
 * the group is born cancelled). When a creator context ends, its groups
 * pass to the enclosing context (a join child's) or leave the list (a
 * task's: they no longer follow its fate).
 *
 * Each pair of observers, then: a flag seen (acquire) implies the flags
 * below it; a registration is found or born cancelled; a sleeper is
 * claimed or sees the flag; pl_ctx_cancelled sees the flag once it sees
 * the epoch of step 3, and a sleeper that returns ECANCELED sees that
 * epoch.
 *
 * Lifetimes: a group found in a list is not freed while the walk is in it
 * or below it: it leaves a list (destroy, its creator's end) only under
 * the list's lock, which the walk holds until it has climbed back above.
 * A claimed sleeper's record stays until its claimer's last store.
 *
 * Lock order: the pool timer's lock, then the detach lock, then the lists'
 * locks, a group's own list before the lists of the groups nested in it
 * (the walk of step 2 descends holding each; it may hold a whole chain).
 * No lock here is taken while a group's errors lock is held, and no list
 * lock is held during step 5's system calls (the timer's may be: its
 * thread cancels groups whose deadline passed). A hook's wake action
 * (below) runs in step 5 and may take the timer's lock, which the order
 * allows (no list lock is held then); on the timer thread it finds the
 * lock its own (timer.h) instead of taking it again.
 *
 * Shields (plait_shield). A shield's context carries PL_CTX_SHIELD in its
 * flag word and is never cancelled itself. It cuts cancellation both ways
 * at once: a walk that meets it stops there, not cancelled (it consults
 * nothing above it, nor the task's group), and no canceller above it
 * reaches what lies under it: step 2 skips the groups created under a
 * shield below c (for g: the groups its tasks registered under a shield,
 * marked shielded by the registration's walk, under the list's lock, and
 * marked again at a hand-over, below), step 4 the sleepers under one (the
 * sleeper's walk marks its record). Rule 4's order holds as stated for
 * each flag: the contexts that can observe it (their walk reaches it
 * without meeting a shield) are
 * exactly those whose groups and sleepers its canceller reaches; and the
 * creator's rule too, as a registration's walk under the lock stops at
 * the same shield as the canceller's step 2. Work under the shield in its
 * own right (a join child's flag, a group's own cancellation, deadline
 * or failure) is cancelled as anywhere. When a shield ends, its groups
 * pass to the enclosing context as a join child's do; if that context is
 * cancelled by then, they are cancelled at the hand-over (under the list
 * lock, a late step 2), so that once the enclosing context can observe
 * its flag again, the flags below it are set.
 *
 * The fork rule: the detach lock is a process-wide mutex; a fork while
 * another thread holds it would leave it held forever in the child, so a
 * pthread_atfork handler (registered by the first pool) resets it there.
 */
#ifndef PLAIT_CANCEL_H
#define PLAIT_CANCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "debug.h"

/* The process-wide cancel epoch: bumped by every flag set (step 3).
 * Hidden: read inline by every check, without a GOT load. */
extern __attribute__((visibility("hidden"))) _Atomic uint32_t pl_cancel_epoch;

/* A context's flag word (core.h): set once by its cancellation, or a
 * shield's mark from its start (a walk tests the bits only once the word
 * reads non-zero, so the mark costs the other contexts nothing). */
enum { PL_CTX_CANCELLED = 1u << 0, PL_CTX_SHIELD = 1u << 1 };

/* A task's root context has no initialiser here: task.c keeps most of
 * its fields in the record across uses (its record invariant) and sets
 * the rest in task_init. */

/* A join child's context, from its parent's task, pool and epoch read
 * by the caller (join.c: a stolen a's, built by its thief, and an a that
 * cannot run in b's finished context; b's own is written in place by
 * plait_join). */
static inline void pl_ctx_init_child_of(struct plait_ctx *c, struct plait_ctx *parent,
                                        struct plait_task *task, struct plait_pool *pool,
                                        uint32_t epoch)
{
    /* One initialiser, not a store per field: c is not yet visible to any
     * other thread (built before a runs; a joiner that cancels it first
     * acquires the thief's release of the frame's stolen word, join.c),
     * so its atomics need no atomic stores, and the compiler may write
     * the whole record with a few wide stores. */
    *c = (struct plait_ctx){.parent = parent, .task = task, .pool = pool, .epoch_ok = epoch};
}

/* A shield's context, inside parent (plait_shield). Its walk always ends
 * at itself, not cancelled: so any epoch is a clean one, and the current
 * one spares its first check the walk. */
static inline void pl_ctx_init_shield(struct plait_ctx *c, struct plait_ctx *parent)
{
    c->parent = parent;
    c->task = parent->task;
    c->pool = parent->pool;
    atomic_init(&c->cancelled, PL_CTX_SHIELD);
    /* relaxed: a hint, as in pl_ctx_cancelled. */
    atomic_init(&c->epoch_ok, atomic_load_explicit(&pl_cancel_epoch, memory_order_relaxed));
    atomic_init(&c->groups_created, 0);
    atomic_init(&c->cancel_code, 0);
    c->message = NULL;
}

/* Walks c's flags and its task's group's with acquire loads (a flag seen
 * implies the flags of step 2 under it); a shield ends the walk, not
 * cancelled. The caller orders the walk after the flags it must see: by
 * an acquire of the epoch (pl_ctx_cancelled), or by the list lock that
 * flags are set under (group creation, pl_sleep_until). Without either (a
 * task about to start) a concurrent cancellation may be missed, as if it
 * came just after. */
bool pl_ctx_walk(const struct plait_ctx *c);

/* pl_ctx_walk of a task's root context, inline for the start of every
 * task, unordered. */
static inline bool pl_task_cancelled(const struct plait_task *t)
{
    /* relaxed: a task that has not started has created no group, so it
     * needs none of the flags the acquire of pl_ctx_walk would bring. */
    return atomic_load_explicit(&t->ctx.cancelled, memory_order_relaxed) ||
           (t->group != NULL &&
            (atomic_load_explicit(&t->group->state, memory_order_relaxed) & PL_G_CANCELLED));
}

/* True when c or anything enclosing it is cancelled. One load while no
 * cancellation happened anywhere since c last looked. A cancellation still
 * in flight (flag set, epoch not yet bumped) may be missed, as if the
 * check came first. Called on c's own thread only (it updates epoch_ok). */
static inline bool pl_ctx_cancelled(const struct plait_ctx *c)
{
    /* relaxed: a hint that nothing changed; a stale value only delays
     * noticing a cancellation to the next check. */
    uint32_t e = atomic_load_explicit(&pl_cancel_epoch, memory_order_relaxed);
    if (pl_likely(e == atomic_load_explicit(&c->epoch_ok, memory_order_relaxed)))
        return false;
    /* acquire: pairs with the cancellers' seq_cst bumps (step 3), each
     * after its flag: the walk sees every flag of the epochs up to e, so e
     * may be recorded as clean. */
    e = atomic_load_explicit(&pl_cancel_epoch, memory_order_acquire);
    if (pl_ctx_walk(c))
        return true;
    /* relaxed: only this thread reads it back as a hint. */
    atomic_store_explicit(&((struct plait_ctx *)c)->epoch_ok, e, memory_order_relaxed);
    return false;
}

/* Cancels c (steps 1 to 5): the groups created under it, its flag, its
 * sleepers. c must stay valid during the call (its task's handle, or its
 * own thread). */
void pl_ctx_cancel(struct plait_ctx *c);

/* Cancels g (steps 1 to 5). pl_group_time_out records PL_G_TIMEDOUT too,
 * if its cancellation is the one that takes effect. */
void pl_group_cancel(struct plait_group *g);
void pl_group_time_out(struct plait_group *g);

/* Sleeps until deadline (CLOCK_MONOTONIC ns; UINT64_MAX: none) or until
 * ctx is cancelled: 0 or ECANCELED. The sleeper's side of steps 4 and 5;
 * ctx's task's list lock is taken once (twice when the deadline passes). */
int pl_sleep_until(const struct plait_ctx *ctx, uint64_t deadline);

/* A sleeper's record (cancel.c): linked in its task's list (task_list)
 * under that list's lock; claimed (unlinked, claimed set) by a canceller
 * in step 4, woken in step 5. A hook's has a wake action instead of a
 * futex word. */
struct pl_sleeper;
typedef void (*pl_hook_fn)(struct pl_sleeper *r);
struct pl_sleeper {
    /* The list's lock, while linked; once claimed, next is the claimer's
     * own (its list of records to wake). */
    struct pl_sleeper *prev, *next;
    const struct plait_ctx *ctx;
    bool shielded; /* ctx lies under a shield: no group's cancel reaches it */
    bool claimed;  /* the list's lock */
    _Atomic uint32_t word;
    pl_hook_fn wake; /* NULL: a sleeper in pl_sleep_until */
};

/* Hooks: something that waits for a time without a thread (a delayed
 * task, delay.c), registered as a sleeper of ctx whose wake-up is an
 * action. pl_cancel_hook_add links r unless ctx is cancelled (false: not
 * linked), under the list's lock, so that a cancellation that reaches ctx
 * either is seen here or claims r (no lost wake-up, as for sleepers).
 * A claimed hook's wake(r) is called once, in step 5: holding no list
 * lock, but maybe the pool timer's (its thread cancels groups whose
 * deadline passed, under it); from then on r is the action's.
 * pl_cancel_hook_remove unlinks r unless it was claimed: true, r is the
 * caller's again and will never be woken; false, a canceller has it and
 * will call wake. The list's lock decides between the two, once. r's
 * memory is the owner's, and must stay until whichever of the two ends. */
bool pl_cancel_hook_add(struct pl_sleeper *r, const struct plait_ctx *ctx, pl_hook_fn wake);
bool pl_cancel_hook_remove(struct pl_sleeper *r);

/* Inline: every group creation runs it. */
static inline void pl_nested_init(struct pl_nested_groups *list)
{
    pl_spin_init(&list->lock);
    list->head = NULL;
    list->sleepers = NULL;
}

/* ---- Registration (the creator's rule), inline for the group-per-call
 * pattern: each creation and destroy of a group in a task makes one. The
 * helpers are cancel.c's too (it uses them for the canceller's steps).
 * ------------------------------------------------------------------- */

/* How a walk ended: a flag, the task's group with none (clear), or a
 * shield (clear too, and what the walker registers is shielded). */
enum pl_walk_end { PL_WALK_CLEAR, PL_WALK_CANCELLED, PL_WALK_SHIELDED };

static inline enum pl_walk_end pl_walk(const struct plait_ctx *c)
{
    /* acquire: pairs with the release of each flag (step 3), which comes
     * after the flags of the groups nested under it (step 2): a walk that
     * sees a flag sees those too (rule 4's order). The callers order the
     * walk after the flags it must see (pl_ctx_walk's comment). */
    const struct plait_ctx *x = c;
    for (;;) {
        uint32_t f = atomic_load_explicit(&x->cancelled, memory_order_acquire);
        if (f != 0) /* the shield's bit is tested only here */
            return (f & PL_CTX_CANCELLED) ? PL_WALK_CANCELLED : PL_WALK_SHIELDED;
        if (x->parent == NULL)
            break;
        x = x->parent;
    }
    const struct plait_group *g = x->task != NULL ? x->task->group : NULL;
    return g != NULL && (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CANCELLED)
               ? PL_WALK_CANCELLED
               : PL_WALK_CLEAR;
}

/* The list where groups created by task t's contexts are registered, and
 * where its contexts' sleepers wait: the lock every flag that can cancel
 * those contexts is set under (t's contexts' own, t's group's). */
static inline struct pl_nested_groups *pl_task_list(struct plait_task *t)
{
    return t->group != NULL ? &t->group->nested : &t->ctx.pool->lone_nested;
}

/* Creator counts change only under the list lock: no RMW needed. */
static inline void pl_count_created(struct pl_nested_groups *list, struct plait_ctx *c, int delta)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock));
    (void)list;
    /* relaxed: every writer holds the list lock we hold (registration and
     * pl_ctx_end), so the lock orders this read after the last write. */
    uint32_t n = atomic_load_explicit(&c->groups_created, memory_order_relaxed);
    PLAIT_ASSERT(delta > 0 || n > 0);
    /* relaxed: the list lock orders the writers; the reader outside it
     * (pl_ctx_end) takes a hint. */
    atomic_store_explicit(&c->groups_created, n + (uint32_t)delta, memory_order_relaxed);
}

/* Takes g out of list's links, leaving g's own fields as they were: for
 * a group being destroyed, whose registration is not read again (create
 * writes it anew). */
static inline void pl_unlink_links(struct pl_nested_groups *list, struct plait_group *g)
{
    PLAIT_ASSERT(pl_spin_held(&list->lock) && g->registry == list);
    if (g->sibling_prev != NULL)
        g->sibling_prev->sibling_next = g->sibling_next;
    else
        list->head = g->sibling_next;
    if (g->sibling_next != NULL)
        g->sibling_next->sibling_prev = g->sibling_prev;
}

/* Takes g out of list: g stays alive, not registered (registry NULL). */
static inline void pl_unlink_group(struct pl_nested_groups *list, struct plait_group *g)
{
    pl_unlink_links(list, g);
    g->sibling_prev = g->sibling_next = NULL;
    g->registry = NULL;
}

/* Registers a new group g, created while creator runs, in the list of
 * creator's task (the creator's rule), and marks g cancelled if creator
 * already is. */
static inline void pl_nested_register(struct plait_group *g, struct plait_ctx *creator)
{
    struct pl_nested_groups *list = pl_task_list(creator->task);
    pl_spin_lock(&list->lock);
    g->registry = list;
    g->creator = creator;
    g->creator_task = creator->task;
    g->sibling_prev = NULL;
    g->sibling_next = list->head;
    if (list->head != NULL)
        list->head->sibling_prev = g;
    list->head = g;
    pl_count_created(list, creator, 1);
    /* The creator's rule: under the lock that every canceller that could
     * reach g walks under after setting its flag, so the walk sees any
     * flag set before that canceller's walk missed g. */
    enum pl_walk_end end = pl_walk(creator);
    g->shielded = end == PL_WALK_SHIELDED;
    if (pl_unlikely(end == PL_WALK_CANCELLED))
        /* relaxed: g is not yet visible to any other thread. */
        atomic_fetch_or_explicit(&g->state, PL_G_CANCELLED, memory_order_relaxed);
    pl_spin_unlock(&list->lock);
}

void pl_nested_unregister_other(struct plait_group *g);

/* pl_nested_unregister on a thread running g's creator task. */
static inline void pl_nested_unregister_by_creator(struct plait_group *g)
{
    struct pl_nested_groups *list = g->registry;
    if (list != NULL) {
        pl_spin_lock(&list->lock);
        pl_count_created(list, g->creator, -1);
        pl_unlink_links(list, g); /* g is being destroyed */
        pl_spin_unlock(&list->lock);
    }
}

/* Takes g out of its creator's list, if it is still there: called by
 * plait_group_destroy from any thread; current is the calling thread's
 * running context or NULL. A thread running the creator task keeps the
 * list alive (the task cannot end meanwhile); any other takes the detach
 * lock first (pl_nested_unregister_other, cancel.c). */
static inline void pl_nested_unregister(struct plait_group *g, const struct plait_ctx *current)
{
    if (g->creator_task == NULL)
        return; /* created outside any task */
    if (pl_unlikely(current == NULL || current->task != g->creator_task))
        pl_nested_unregister_other(g);
    else
        pl_nested_unregister_by_creator(g);
}

void pl_ctx_end_slow(struct plait_ctx *c);

/* Called when a context's body has returned: hands the groups it created
 * to the enclosing context (a join child), or takes them out of the list
 * (a task). */
static inline void pl_ctx_end(struct plait_ctx *c)
{
    /* relaxed: registrations under c happened on this thread, or in a join
     * child this thread has since joined (ordered by the join's event); a
     * stale non-zero only costs the slow path. */
    if (pl_unlikely(atomic_load_explicit(&c->groups_created, memory_order_relaxed) != 0))
        pl_ctx_end_slow(c);
}

/* The detach lock (cancel.c): taken by the unregistering thread that is
 * not running the creator task, and by a task's end. Declared here for
 * the fork regression test, which holds it across a fork. */
void pl_detach_lock(void);
void pl_detach_unlock(void);

/* Registers the fork handler that resets the detach lock (once). */
void pl_fork_prepare_once(void);

#endif
