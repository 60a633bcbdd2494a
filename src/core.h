/*
 * core — the records the scheduler parts share: jobs, contexts, tasks,
 * groups, workers and the pool. Each part's functions live in its own
 * file (task.c, group.c, worker.c, join.c, pool.c, ctx.c); this header
 * holds only the layouts and the few inline helpers on the hot path.
 *
 * Lifetimes:
 *   - a task record lives until its scheduler reference and its handle (if
 *     any) are both dropped (refs);
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
#include "park.h"
#include "spin.h"
#include "util.h"

struct pl_worker;
struct pl_scope;

/* Anything a deque can hold. */
enum pl_job_kind { PL_JOB_TASK = 1, PL_JOB_JOIN = 2 };
struct pl_job {
    uint32_t kind;
};

struct plait_ctx {
    struct plait_ctx *parent;  /* join children: the enclosing context */
    struct plait_task *task;   /* the task this context runs for */
    struct plait_pool *pool;
    _Atomic uint32_t cancelled;
    /* The cancel epoch at which this context was last seen not cancelled
     * (see pl_ctx_cancelled_fast). */
    _Atomic uint32_t epoch_ok;
    /* Live groups registered with this context as creator (changed under
     * the scope lock; read outside it as a hint by the context's end). */
    _Atomic uint32_t nchildren;
    char *message; /* from plait_fail */
};

/* Task flags. */
enum {
    PL_TASK_HANDLE = 1u << 0,   /* a handle was returned (spawn/submit) */
    PL_TASK_INTERNAL = 1u << 1, /* plait's own (parallel_for root): not in stats */
    PL_TASK_INJECTED = 1u << 2, /* went through the injection queue */
};

struct plait_task {
    void *qlink;    /* first word: the injection queue's overflow link */
    struct pl_job job;
    uint32_t flags;
    plait_fn fn;
    void *arg;
    struct plait_group *group; /* NULL for a lone task */
    /* The context this task's worker was running when it started it (the
     * task it runs inside, in a wait), or NULL: the worker's stack. */
    struct plait_ctx *below;
    struct plait_ctx ctx;
    struct pl_event done;
    _Atomic uint32_t refs;
    _Atomic uint32_t cancelling; /* plait_task_cancel calls in progress */
    int code;       /* written before done is set */
    void *result;
    _Atomic uint64_t id; /* 0 until first asked for */
};

/* Where groups created inside tasks are registered, so that cancelling a
 * task or a group reaches them. One per group (for its tasks) and one per
 * pool (for lone tasks). */
struct pl_scope {
    struct pl_spin lock;
    struct plait_group *children; /* doubly linked through sibling_* */
};

#define PL_NO_RESULT (-1) /* not a code a wait returns */
#define PL_PENDING_WAITING ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* Group state bits. */
enum {
    PL_G_CANCELLED = 1u << 0,
    PL_G_TIMEDOUT = 1u << 1,   /* its own deadline fired */
    PL_G_CLOSED = 1u << 3,     /* a wait returned: no more spawns */
    PL_G_FAILED = 1u << 4,     /* some task failed */
};

struct plait_group {
    /* Unfinished tasks, plus one until the first wait begins (the wait
     * bias). The first wait removes the bias and sets PL_PENDING_WAITING in
     * one step, so the count reaches PL_PENDING_WAITING (no task, wait
     * begun) exactly once, when all is done. */
    PL_CACHE_ALIGNED _Atomic size_t pending;
    _Atomic uint32_t state;
    _Atomic int wait_result; /* PL_NO_RESULT until the first wait closes the group */
    unsigned flags; /* PLAIT_GROUP_* */
    struct plait_pool *pool;
    struct pl_event done;
    struct pl_scope scope; /* groups created by this group's tasks; lock also guards errors */
    plait_error *errors;
    size_t nerrors, errors_cap;
    size_t errors_dropped; /* could not be stored (out of memory) */
    int first_error;
    /* Registration in the creator's scope (that scope's lock). */
    struct pl_scope *parent_scope;
    struct plait_ctx *creator;
    struct plait_task *creator_task; /* immutable: whose scope it joined */
    struct plait_group *sibling_prev, *sibling_next;
    /* Deadline (the pool timer's lock). */
    uint64_t deadline;
    size_t heap_index; /* SIZE_MAX: not in the timer heap */
    _Atomic bool had_deadline;
    /* Some task of the group went through the injection queue, so a wait
     * on it may need to take injected work to make progress. */
    _Atomic bool fed_from_outside;
};

struct pl_worker {
    PL_CACHE_ALIGNED struct pl_deque deque;
    struct plait_pool *pool;
    unsigned index;
    pthread_t thread;
    struct pl_parker parker;
    struct plait_ctx *current; /* the running context, or NULL */
    uint64_t rng;
    unsigned tick;
    unsigned last_thief; /* leapfrogging hint */
    /* Waits this worker is inside (nested); written by this worker only,
     * read by waiters deciding whether they must take injected work. */
    _Atomic unsigned wait_depth;
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
    struct pl_scope lone_scope;
    /* Shutdown: foreign submitters announce themselves in foreign_active
     * before checking shutting_down (seq_cst both sides, see pool.c). */
    PL_CACHE_ALIGNED _Atomic uint32_t shutting_down;
    _Atomic uint32_t stop;
    _Atomic uint32_t foreign_active;
    _Atomic uint32_t idle; /* workers asleep in the scheduler loop (futex word) */
    /* Counters for work that finishes off the workers, or comes from outside. */
    PL_CACHE_ALIGNED _Atomic uint64_t n_injected, x_succeeded, x_failed, x_cancelled;
    /* Task records that workers had no room for, for foreign threads to
     * take back (see task.c). */
    PL_CACHE_ALIGNED _Atomic(void *) returned;
    struct pl_timer *timer;
    pthread_mutex_t timer_once;
    _Atomic uint32_t ready; /* workers past on_thread_start (futex word) */
};

/* The calling thread's worker, or NULL. */
extern PL_TLS struct pl_worker *pl_tls_worker;

/* ---- ctx.c ---- */

/* The process-wide cancel epoch: bumped by every cancellation. */
extern _Atomic uint32_t pl_cancel_epoch;

bool pl_ctx_cancelled_slow(const struct plait_ctx *c, bool seq_cst);

/* True when c or anything enclosing it is cancelled. Cheap when no
 * cancellation happened anywhere since c last checked: one load. A
 * cancellation whose epoch bump is still in flight may be missed by a
 * check that races with it, as if the check came first. */
static inline bool pl_ctx_cancelled(const struct plait_ctx *c)
{
    /* relaxed: a hint that nothing changed (a stale value only delays
     * noticing a cancellation to the next check). */
    uint32_t e = atomic_load_explicit(&pl_cancel_epoch, memory_order_relaxed);
    if (pl_likely(e == atomic_load_explicit(&c->epoch_ok, memory_order_relaxed)))
        return false;
    /* acquire: every canceller sets its flag before bumping the epoch
     * (seq_cst RMW), so the walk sees every flag of the epochs up to the
     * one we record as clean. */
    e = atomic_load_explicit(&pl_cancel_epoch, memory_order_acquire);
    if (pl_ctx_cancelled_slow(c, false))
        return true;
    atomic_store_explicit(&((struct plait_ctx *)c)->epoch_ok, e, memory_order_relaxed);
    return false;
}

void pl_ctx_init_root(struct plait_ctx *c, struct plait_task *t, struct plait_pool *pool);
static inline void pl_ctx_init_child(struct plait_ctx *c, struct plait_ctx *parent)
{
    c->parent = parent;
    c->task = parent->task;
    c->pool = parent->pool;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->epoch_ok,
                atomic_load_explicit(&parent->epoch_ok, memory_order_relaxed));
    atomic_init(&c->nchildren, 0);
    c->message = NULL;
}
/* Cancels the context: its flag, sleeping tasks, groups created under it. */
void pl_ctx_cancel(struct plait_ctx *c);
/* Called when a context's body has returned: detaches (root) or hands to
 * the parent (join child) the groups created under it. */
void pl_ctx_end_slow(struct plait_ctx *c);
static inline void pl_ctx_end(struct plait_ctx *c)
{
    /* relaxed: registrations under c happened on this thread, or in a join
     * child this thread has since joined (ordered by the join's event); a
     * stale non-zero only costs the slow path. */
    if (pl_unlikely(atomic_load_explicit(&c->nchildren, memory_order_relaxed) != 0))
        pl_ctx_end_slow(c);
}
/* Wakes every plait_sleep so that it re-checks its cancellation. */
void pl_cancel_announce(void);
/* Held while a task's end detaches the groups it created and left
 * registered, and while a group is unregistered by a thread that is not
 * running its creator task: then the creator's scope cannot be freed
 * under the unregistering thread (ctx.c). Rare paths only. */
void pl_detach_lock(void);
void pl_detach_unlock(void);
/* Registers the fork handler that resets that lock in a child (once). */
void pl_fork_prepare_once(void);

/* ---- group.c ---- */
void pl_group_cancel(struct plait_group *g, uint32_t why);
void pl_group_record_error(struct plait_group *g, int code, char *message, bool owns_message,
                           uint64_t id);
void pl_scope_init(struct pl_scope *s);
void pl_scope_destroy(struct pl_scope *s);
struct pl_scope *pl_task_scope(struct plait_task *t);
/* Cancels the groups registered in s whose creator lies under ctx (ctx
 * NULL: all of them). */
void pl_scope_cancel_under(struct pl_scope *s, struct plait_ctx *ctx);
/* Takes g out of s, whose lock the caller holds. */
void pl_scope_unlink(struct pl_scope *s, struct plait_group *g);

/* ---- task.c ---- */
uint64_t pl_task_id(struct plait_task *t);
void pl_task_run(struct pl_worker *w, struct plait_task *t);
/* Frees the records in the pool's return stack (pool destroy). */
void pl_task_drain_returned(struct plait_pool *pool);
struct plait_task *pl_task_new(struct plait_pool *pool, struct plait_group *g, plait_fn fn,
                               void *arg, uint32_t flags, int *err);
/* A lone task (no group), from any thread; NULL with *err set. */
struct plait_task *pl_submit(struct plait_pool *pool, plait_fn fn, void *arg, uint32_t flags,
                             int *err);

/* ---- worker.c ---- */
void *pl_worker_main(void *arg);
void pl_run_job(struct pl_worker *w, struct pl_job *job);
/* What a wait may run while it waits (worker.c's file comment). */
struct pl_wait_scope {
    struct plait_pool *pool; /* the awaited work's pool */
    int victim;              /* a thief to steal from first, or -1 */
    /* The awaited work may sit in the injection queue: NULL for never,
     * else read at every look for work. */
    const _Atomic bool *injected;
};
/* Waits until e is done and may be left: on a worker, running other jobs
 * of the awaited work's kind; elsewhere, blocking. */
void pl_wait_event(struct pl_event *e, const struct pl_wait_scope *scope);
/* Finds a job for the scheduler loop of w without blocking, or NULL. */
struct pl_job *pl_find_job(struct pl_worker *w);
/* After putting work into the injection queue: wakes a worker that will
 * take it (the fenced notify of park.h). */
void pl_notify_injected(struct plait_pool *pool);
/* A pl_wait_scope.injected that is always true. */
extern const _Atomic bool pl_always;

/* ---- join.c ---- */
void pl_join_run_stolen(struct pl_worker *w, struct pl_job *job);

/* ---- pool.c ---- */
/* Foreign submitters bracket their pushes with these; begin fails with
 * ESHUTDOWN once destroy has begun. */
int pl_foreign_begin(struct plait_pool *pool);
void pl_foreign_end(struct plait_pool *pool);
/* Puts a task where the pool's workers will find it, from any thread. */
int pl_pool_push_task(struct plait_pool *pool, struct plait_task *t);

/* ---- timer.c ---- */
int pl_timer_set(struct plait_pool *pool, struct plait_group *g, uint64_t deadline);
void pl_timer_remove(struct plait_pool *pool, struct plait_group *g);
void pl_timer_stop(struct plait_pool *pool);

/* Creator counts change only under the scope lock: no RMW needed. */
static inline void pl_count_locked(_Atomic uint32_t *c, int delta)
{
    /* relaxed: the scope lock orders the writers; readers outside it
     * (pl_ctx_end) only take a hint. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint32_t)delta,
                          memory_order_relaxed);
}

/* Counter bumps for single-writer counters. */
static inline void pl_count(_Atomic uint64_t *c)
{
    /* relaxed load + store: only the owning worker writes this counter. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

#endif
