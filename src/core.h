/*
 * core — the layouts of the records the scheduler parts share: contexts,
 * tasks, groups, workers and the pool. Types only: each part declares its
 * functions in its own header (cancel.h, task_records.h, worker.h,
 * timer.h, group.h, pool.h, task.h), and DESIGN-NOTES.md says which part
 * calls which. A field's comment names the part that owns it; the others
 * only read it, under the rule that comment gives.
 *
 * Lifetimes:
 *   - a task record lives until its scheduler reference and its handle (if
 *     any) are both dropped (refs, kept only for a task with a handle;
 *     without one, the task's end frees it);
 *   - a join frame lives on the joining thread's stack until plait_join
 *     returns, which waits for the frame's event;
 *   - a context (plait_ctx) is valid while its body runs; join children's
 *     contexts point to their parent's, which outlives them.
 */
#ifndef PLAIT_CORE_H
#define PLAIT_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "plait.h"

#include "cache.h"
#include "deque.h"
#include "event.h"
#include "inject.h"
#include "job.h"
#include "park.h"
#include "spin.h"
#include "timed.h"
#include "util.h"

struct plait_ctx {
    struct plait_ctx *parent; /* join children: the enclosing context */
    struct plait_task *task;  /* the task this context runs for */
    struct plait_pool *pool;
    /* cancel.c: the flag (PL_CTX_CANCELLED), or PL_CTX_SHIELD for a
     * shield's context, which is never cancelled (cancel.h); and the
     * cancel epoch at which this context was last seen not cancelled (see
     * pl_ctx_cancelled). */
    _Atomic uint32_t cancelled;
    _Atomic uint32_t epoch_ok;
    /* cancel.c: live groups registered with this context as creator
     * (changed under the registry's lock; read outside it as a hint by
     * the context's end). */
    _Atomic uint32_t groups_created;
    /* join.c: a join child cancelled by its failing sibling gets the
     * sibling's code here, stored before the flag (plait_cancel_cause). */
    _Atomic int cancel_code;
    char *message; /* from plait_fail */
};

/* Task flags (task.c). */
enum {
    PL_TASK_HANDLE = 1u << 0,   /* a handle was returned (spawn/submit) */
    PL_TASK_INTERNAL = 1u << 1, /* plait's own (parallel_for root): not in stats */
    PL_TASK_INJECTED = 1u << 2, /* went through the injection queue */
    PL_TASK_DROP = 1u << 3,     /* drop is set (plait_spawn_with) */
    PL_TASK_SLOT = 1u << 4,     /* holds a slot of its group's limit */
    PL_TASK_INLINE = 1u << 5,   /* run by its spawner: a full group (caller runs) */
    PL_TASK_NAMED = 1u << 6,    /* name is set (plait_spawn_options.name) */
};

struct plait_task {
    void *qlink; /* first word: the injection queue's overflow link */
    struct pl_job job;
    uint32_t flags;
    plait_fn fn;
    void *arg;
    struct plait_group *group; /* NULL for a lone task */
    /* The context its worker was running when it started this task (the
     * task whose wait runs it), or NULL: the worker's own loop. Read only
     * by the dump (dump.c), to show what runs inside whose wait. */
    struct plait_ctx *outer;
    struct plait_ctx ctx;
    /* done, refs, cancelling, result: set up only for a task with a
     * handle (task.c, task_init); nothing reads them for one without. */
    struct pl_event done;
    _Atomic uint32_t refs;
    _Atomic uint32_t cancelling; /* plait_task_cancel calls in progress */
    int code;                    /* written before done is set */
    void *result;
    _Atomic uint64_t id; /* 0 until first asked for */
    /* task.c, group_for.c: batches. */
    void (*drop)(void *arg);  /* with PL_TASK_DROP */
    const char *name;         /* with PL_TASK_NAMED: interned (names.c) */
    _Atomic size_t fail_item; /* plait_fail_item's, else PLAIT_NO_ITEM */
    size_t range_begin;       /* a plait_group_for chunk: [begin, end) */
    size_t range_end;
    /* worker.c: a context on a worker waiting on this lone task (the wait
     * sets it; read while the task is unfinished, when it is alive; only
     * initialised, and only read, for a task without a group). */
    _Atomic(struct plait_ctx *) waiter;
};

/* cancel.c: the groups created while tasks of one group (or one pool's
 * lone tasks) run, so that cancelling a task or a group reaches them; and
 * those tasks' sleepers in plait_sleep, so that it wakes them. */
struct pl_sleeper;
struct pl_nested_groups {
    struct pl_spin lock;
    struct plait_group *head;    /* doubly linked through sibling_* */
    struct pl_sleeper *sleepers; /* doubly linked (cancel.c) */
};

#define PL_PENDING_WAITING ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* Group state bits. */
enum {
    PL_G_CANCELLED = 1u << 0, /* cancel.c */
    PL_G_TIMEDOUT = 1u << 1,  /* cancel.c, for timer.c: its own deadline fired */
    PL_G_CLOSED = 1u << 2,    /* group.c: a wait returned, no more spawns */
    PL_G_LIMITED = 1u << 3,   /* group.c: a limit is set (spawns take slots) */
    /* group.c: CANCELLED and TIMEDOUT as they were when CLOSED was set,
     * by the same RMW: what decides the wait's result. */
    PL_G_CANCELLED_AT_CLOSE = PL_G_CANCELLED << 4,
    PL_G_TIMEDOUT_AT_CLOSE = PL_G_TIMEDOUT << 4,
};

/* group.c: the sleepers bit of a group's slots word. */
#define PL_SLOTS_SLEEPERS 0x80000000u

/* The size of plait_group's block from slots to waiter (group.c). */
#define PL_GROUP_RESET_BYTES 88

/* Errors a group keeps without allocating (group.c). */
#define PL_GROUP_INLINE_ERRORS 4

struct plait_group {
    /* Unfinished tasks, plus one until the first wait begins (the wait
     * bias). The first wait removes the bias and sets PL_PENDING_WAITING in
     * one step, so the count reaches PL_PENDING_WAITING (no task, wait
     * begun) exactly once, when all is done. */
    PL_CACHE_ALIGNED _Atomic size_t pending;
    /* task.c: tasks finished, on pending's line (one relaxed RMW). */
    _Atomic uint64_t n_finished;
    _Atomic uint32_t state;
    unsigned flags; /* PLAIT_GROUP_* */
    struct plait_pool *pool;
    struct pl_event done;
    /* cancel.c: groups created by this group's tasks. */
    struct pl_nested_groups nested;
    /* group.c: the gathered errors (errors_lock), in errors_inline until
     * more are needed. */
    struct pl_spin errors_lock;
    plait_error *errors;
    size_t nerrors, errors_cap;
    int first_error;
    plait_error errors_inline[PL_GROUP_INLINE_ERRORS];
    /* cancel.c: registration in the creator's list (that list's lock);
     * shielded: the creator lies under a shield (cancel.h). */
    struct pl_nested_groups *registry;
    struct plait_ctx *creator;
    bool shielded;
    struct plait_task *creator_task; /* immutable: whose list it joined */
    /* group.c, cancel.c: the group holds a reference to its pool's record
     * (pool.h). Taken at creation, except by a group created in a running
     * task of its own pool: that task keeps the record alive while the
     * group is registered with it, and its end (cancel.c) takes the
     * reference for a group still registered then. */
    _Atomic bool pool_ref;
    struct plait_group *sibling_prev, *sibling_next;
    /* group.c, timer.c: the deadline's entry (the pool timer's lock). */
    struct pl_timed deadline; /* had_deadline: below */
    /* slots to waiter: the block that create clears with wide stores
     * (group.c; PL_GROUP_RESET_BYTES), all zero at the start: keep them
     * together, and add here only fields whose initial value is zero.
     * group.c, task.c: the limit and its slot holders (a futex word:
     * their count | PL_SLOTS_SLEEPERS while a spawner sleeps on it). */
    PL_CACHE_ALIGNED _Atomic uint32_t slots;
    _Atomic uint32_t limit;
    /* group.c, task.c, group_for.c: plait_group_get_info's counts. */
    _Atomic uint64_t n_cancelled, n_never_run, n_failed, errors_lost;
    _Atomic uint64_t items_total, items_done;
    _Atomic uint32_t holds;
    _Atomic uint32_t cancel_reason; /* PLAIT_CANCEL_*, set before the cancel */
    /* signal_cancel.c: 0, then PL_ASYNC_ASKED once plait_group_cancel_async
     * pushed the group, PL_ASYNC_DONE once the watcher cancelled it. */
    _Atomic uint32_t async_state;
    /* group.c: a deadline was set (the wait removes it). */
    _Atomic bool had_deadline;
    /* Some task of the group went through the injection queue, so a wait
     * on it may need to take injected work to make progress (pool.c sets
     * it, worker.c reads it). */
    _Atomic bool fed_from_outside;
    struct plait_group *async_next;
    /* worker.c: a context on a worker waiting on the group (the wait
     * sets it; read while the group is unfinished, when it is alive). */
    _Atomic(struct plait_ctx *) waiter;
    /* observe.h: the name (interned, never freed: names.c), the place in
     * the pool's list of groups created outside any task (that list's
     * lock; NULL: not in it), and the creation time when a trace was on
     * (trace.c). */
    _Atomic(const char *) name;
    struct pl_live_groups *live;
    struct plait_group *live_prev, *live_next;
    uint64_t born_ns;
};

/* observe.h: the groups created outside any task, which the dump walks
 * (with the nested lists of cancel.c). */
struct pl_live_groups {
    struct pl_spin lock;
    struct plait_group *head; /* doubly linked through live_* */
};

struct pl_observer;
struct pl_pool_observer;

struct pl_worker {
    PL_CACHE_ALIGNED struct pl_deque deque;
    struct plait_pool *pool;
    unsigned index;
    pthread_t thread;
    struct pl_parker parker;
    struct plait_ctx *current; /* the running context, or NULL */
    /* observe.h: the hooks' one branch (PL_OBS_* bits), the running task's
     * context for the dump (written by this worker only), the trace
     * buffer and the published waits. */
    _Atomic uint32_t observe;
    _Atomic(struct plait_ctx *) running;
    struct pl_observer *obs;
    uint64_t rng;
    unsigned tick;
    /* Waits this worker is inside (nested); written by this worker only,
     * read by waiters deciding whether they must take injected work. */
    _Atomic unsigned wait_depth;
    /* worker.c: the suspendable fiber this worker runs on (NULL: its own
     * stack), its suspended fibers, and spare ones. */
    struct pl_wfiber *fiber, *suspended, *spare_fibers;
    unsigned nsuspended, nspare_fibers;
    struct pl_cache task_cache, group_cache;
    /* Counters: written by this worker only (relaxed load + store, no
     * RMW), read by plait_pool_stats. */
    PL_CACHE_ALIGNED _Atomic uint64_t n_succeeded, n_failed, n_cancelled;
    _Atomic uint64_t n_steals, n_failed_steals;
};

struct plait_pool {
    struct pl_worker *workers;
    unsigned nworkers;
    char name[16];
    plait_pool_options opts;
    struct pl_inject inject;
    struct pl_lot lot;
    /* cancel.c: groups created by lone (submitted) tasks. */
    struct pl_nested_groups lone_nested;
    /* Shutdown: foreign submitters announce themselves in foreign_active
     * before checking shutting_down (seq_cst both sides, see pool.c). */
    PL_CACHE_ALIGNED _Atomic uint32_t shutting_down;
    _Atomic uint32_t stop;
    _Atomic uint32_t foreign_active;
    _Atomic uint32_t idle; /* workers asleep in the scheduler loop (futex word) */
    /* Tasks of this pool that finished on a thread outside it (a foreign
     * waiter's cancelled spawn, a late spawn), and tasks submitted from
     * outside. */
    PL_CACHE_ALIGNED _Atomic uint64_t n_injected, outside_succeeded, outside_failed,
        outside_cancelled;
    /* task_records.c: records that workers had no room for, and about
     * how many (a bound, not an exact count). */
    PL_CACHE_ALIGNED _Atomic(void *) returned;
    _Atomic size_t returned_n;
    /* timer.c: the timer, started once under timer_start_lock (published
     * by a release store, never cleared before the pool's record is
     * freed); timer_stopped, timer_drained (under that lock): destroy
     * stopped or drained it, or would have. */
    _Atomic(struct pl_timer *) timer;
    pthread_mutex_t timer_start_lock;
    bool timer_stopped, timer_drained;
    /* delay.c: delayed tasks not yet handed to the queues (destroy waits
     * for none). */
    _Atomic size_t delayed;
    _Atomic uint32_t ready; /* workers past on_thread_start (futex word) */
    /* pool.c: references to this record: the handle (until destroy ends)
     * and every live group. The last one frees it; destroy frees all the
     * rest (pool.c). */
    PL_CACHE_ALIGNED _Atomic size_t refs;
    struct pl_pool_observer *obs; /* observe.h: trace buffer, root groups, signal dumps */
};

/* A reference to the pool's record (pool.h), for a caller that holds
 * another: the handle, a running task of the pool, or a reference. Here,
 * not in pool.c, so that cancel.c (a floor below) can take one for a
 * group at its creator task's end. relaxed: the caller's own hold keeps
 * the record alive; the last drop's acq_rel (pl_pool_unref) orders the
 * free. */
static inline void pl_pool_ref(struct plait_pool *pool)
{
    atomic_fetch_add_explicit(&pool->refs, 1, memory_order_relaxed);
}

/* Counter bumps for single-writer counters. */
static inline void pl_count(_Atomic uint64_t *c)
{
    /* relaxed load + store: only the owning worker writes this counter. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

#endif
