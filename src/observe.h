/*
 * observe — what lets a person see what a pool is doing: the timeline
 * trace (trace.c), the dump of what is live (dump.c) and group names
 * (names.c). This header holds the hooks the scheduler parts call; each is
 * one line at its call site.
 *
 * Cost when nothing observes. The task path (task_run) pays, per task, a
 * release store of the running context (a plain mov on x86 and a stlr on
 * arm64, the dump's view of the worker) and one predictable branch on
 * w->observe, at the start and at the end: 8 instructions a task, +2% of
 * skynet's, wall time within noise (perf/observe_cost.sh). Two branches,
 * not one: the start's serves the trace's start time, which nothing else
 * on the path reads; the end's serves the dump's handshake and the
 * trace's event, which a dump or trace begun during the task needs. A wait that does not return at
 * once stores the event it waits for; a group's creation sets three fields
 * and checks whether a trace is on (a group created outside any task also
 * joins the pool's root list, under a spin lock); a steal tests the bit; a
 * foreign waiter's sleep takes a mutex before and after.
 *
 * Promises to the callers:
 *   - the hooks never block, except pl_obs_task_end while a dump copies
 *     this worker's state (microseconds, no I/O under it);
 *   - they never allocate, and never call into the parts above them.
 *
 * Floors: this part reads core.h's layouts and calls only primitives; the
 * worker, group, task and pool parts call it.
 *
 * The dump's handshake with the task path (why the dump can follow a
 * worker's chain of running tasks without a lock on that path):
 *   - a worker publishes the running task's context in w->running (release)
 *     when a task starts, and the outer one when it ends, before it looks
 *     at w->observe, with a compiler barrier between the two;
 *   - a dump sets PL_OBS_DUMP in every worker's observe word, then issues
 *     membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full
 *     memory barrier on every thread of the process that is running at
 *     that moment (and a sleeping thread passes one when it is scheduled);
 *     then it takes the worker's dump lock and reads w->running (acquire)
 *     and follows task->outer;
 *   - a task's end that reads PL_OBS_DUMP takes and drops the worker's
 *     dump lock before its record can be released.
 * A task end that reads the observe word after the dump cleared its bit
 * acquires that clearing (a release after the dump's last read).
 * This is Dekker's pattern with an asymmetric fence (the membarrier pairs
 * with the compiler barrier, as in liburcu and folly's
 * asymmetric_thread_fence): for each task end, either its observe load
 * comes after the worker's barrier point and sees PL_OBS_DUMP (then it
 * waits for the dump's lock), or it came before, and then its store of
 * w->running came before too and the dump, reading after the membarrier,
 * does not see the ended task. Every task on a worker's chain is below the
 * innermost one on the worker's stack, so it cannot end before the
 * innermost does. Where membarrier is not available, the dump shows no
 * running tasks and says so.
 */
#ifndef PLAIT_OBSERVE_H
#define PLAIT_OBSERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"

/* w->observe bits. */
enum {
    PL_OBS_TRACE = 1u, /* a trace records (trace.c) */
    PL_OBS_DUMP = 2u,  /* a dump reads this worker's chain (dump.c) */
};

/* Trace event kinds (trace.c). */
enum {
    PL_EV_TASK = 1, /* a task ran: ts, dur, id, name (group's), ptr (fn), arg (code) */
    PL_EV_STEAL,    /* id: the victim's index */
    PL_EV_PARK,     /* the worker went to sleep */
    PL_EV_WAKE,     /* it woke up */
    PL_EV_SPAWN,    /* a spawn from a foreign thread: id, name */
    PL_EV_GROUP,    /* a group's life: ts (created), dur, name, ptr, id (result), arg (errors) */
};

/* One recorded event: 48 bytes. */
struct pl_trace_ev {
    uint64_t ts;  /* since the trace began: ns, or TSC ticks (trace.c) */
    uint64_t dur; /* the same unit (tasks, groups) */
    uint64_t id;
    const char *name;  /* an interned name (names.c) or NULL: the group's */
    const char *label; /* the task's own name (interned) or NULL */
    const void *ptr;
    int32_t arg;
    uint16_t kind;
    uint16_t tid_slot; /* pool buffer: which foreign thread (trace.c) */
};

#define PL_TRACE_DEPTH 64 /* nested tasks whose starts a worker keeps */
#define PL_OBS_NOTES 32   /* nested waits a worker publishes */

/* A worker's observer record (allocated with the pool). */
struct pl_observer {
    /* trace.c: this worker's buffer. Written by the worker between its
     * in_trace brackets only, read by start and stop between sessions. */
    struct pl_trace_ev *ev;
    size_t cap, n;
    uint64_t dropped; /* this session */
    unsigned depth;   /* nested task starts, counted past PL_TRACE_DEPTH */
    uint64_t begins[PL_TRACE_DEPTH];
    _Atomic uint32_t in_trace;
    _Atomic uint64_t dropped_total; /* every session: plait_stats */
    int tid;                        /* the worker thread's id (gettid) */
    /* dump.c: the lock a task's end passes through while a dump reads the
     * chain; the time the worker went to sleep (0: awake); the events its
     * waits in progress wait for, outermost first (pl_obs_wait_enter). */
    pthread_mutex_t lock;
    _Atomic uint64_t asleep_since;
    _Atomic unsigned nnotes; /* written by the worker only */
    _Atomic(const struct pl_event *) notes[PL_OBS_NOTES];
};

/* ---- Slow paths (trace.c, dump.c) ---------------------------------- */

typedef uint64_t (*pl_task_id_fn)(struct plait_task *t);

void pl_trace_task_begin(struct pl_worker *w);
void pl_obs_task_end_slow(struct pl_worker *w, struct plait_task *t, int code, pl_task_id_fn id);
void pl_trace_instant(struct pl_worker *w, unsigned kind, uint64_t id);
void pl_trace_foreign_spawn(struct plait_pool *pool, struct plait_task *t, uint64_t id);
static inline bool pl_trace_pool_on(const struct plait_pool *pool);
void pl_trace_group_closed(struct pl_worker *w, struct plait_group *g, int result);
uint64_t pl_trace_dropped(const struct plait_pool *pool);
static inline uint64_t pl_trace_now(const struct plait_pool *pool);

/* ---- Hooks --------------------------------------------------------- */

/* perf/observe_cost.sh builds the library with PL_OBS_NO_TASK_HOOKS to
 * measure what the two task hooks cost a program that observes nothing
 * (a library so built shows no running tasks in its dumps and no task
 * events in its traces). */
#ifdef PL_OBS_NO_TASK_HOOKS
static inline void pl_obs_task_begin(struct pl_worker *w, struct plait_task *t)
{
    (void)w;
    (void)t;
}
static inline void pl_obs_task_end(struct pl_worker *w, struct plait_task *t,
                                   struct plait_ctx *saved, int code, pl_task_id_fn id)
{
    (void)w;
    (void)t;
    (void)saved;
    (void)code;
    (void)id;
}
#else
/* task_run, before the body. */
static inline void pl_obs_task_begin(struct pl_worker *w, struct plait_task *t)
{
    /* release: the dump acquires it and reads the task's fields and outer
     * (observe.h's handshake). */
    atomic_store_explicit(&w->running, &t->ctx, memory_order_release);
    /* relaxed: the one branch; the slow path re-reads it in its bracket. */
    if (pl_unlikely(atomic_load_explicit(&w->observe, memory_order_relaxed) & PL_OBS_TRACE))
        pl_trace_task_begin(w);
}

/* task_run, after the body, before the task is finished; saved is the
 * context the worker runs again (t->outer). */
static inline void pl_obs_task_end(struct pl_worker *w, struct plait_task *t,
                                   struct plait_ctx *saved, int code, pl_task_id_fn id)
{
    /* release: as in pl_obs_task_begin. */
    atomic_store_explicit(&w->running, saved, memory_order_release);
    /* The store above must be issued before the load below: the compiler
     * barrier is this side of the asymmetric fence (observe.h). */
    atomic_signal_fence(memory_order_seq_cst);
    /* acquire: the light side of the handshake; and when it reads the
     * dump's clearing of PL_OBS_DUMP (a release), the dump's reads of this
     * task happened before the task's record can be reused (a plain load
     * on x86, as relaxed would be). */
    if (pl_unlikely(atomic_load_explicit(&w->observe, memory_order_acquire) != 0))
        pl_obs_task_end_slow(w, t, code, id);
}
#endif

/* A steal that got a job (worker.c). */
static inline void pl_obs_steal(struct pl_worker *w, unsigned victim)
{
    /* relaxed: as in pl_obs_task_begin. */
    if (pl_unlikely(atomic_load_explicit(&w->observe, memory_order_relaxed) & PL_OBS_TRACE))
        pl_trace_instant(w, PL_EV_STEAL, victim);
}

/* A worker's pl_parker_sleep (its loop and its waits): the dump sees it
 * asleep, the trace gets a park and a wake. */
void pl_obs_parker_sleep(struct pl_worker *w, uint64_t deadline_ns);

/* A foreign waiter's sleep: registered while it sleeps, in a process-wide
 * list (a task handle may outlive its pool: a waiter woken by the task's
 * end must not touch the pool, which may be gone by then). */
struct pl_obs_foreign_wait {
    struct pl_obs_foreign_wait *prev, *next;
    const struct plait_pool *pool; /* compared, never followed */
    const struct pl_event *e;
    int tid;
    uint64_t since;
};
/* A foreign thread's wait: what it waits for (pl_wait_event, before the
 * wait), and its sleep in pl_event_leave(node), seen by the dump. */
extern PL_TLS struct pl_obs_foreign_note {
    struct plait_pool *pool;
    const struct pl_event *e;
} pl_obs_foreign_note;
static inline void pl_obs_foreign_waits(struct plait_pool *pool, const struct pl_event *e)
{
    pl_obs_foreign_note = (struct pl_obs_foreign_note){pool, e};
}
void pl_obs_foreign_leave(struct pl_event_node *node);
/* fn's name in the dynamic symbol table, or NULL (trace.c). */
const char *pl_obs_fn_name(const void *fn);
/* The calling thread's kernel id (gettid), cached per thread (trace.c). */
int pl_obs_gettid(void);
void pl_obs_gettid_forget(void); /* in a fork's child */

/* A worker's waits in progress (pl_wait_event, past its fast path): the
 * event each waits for. Each task on a worker's chain but the innermost
 * is inside exactly one wait (the one that runs the next task), so the
 * dump matches notes to tasks by position. The count is published by a
 * release store after the note (the dump acquires it); a note replaced
 * during a dump may be shown stale (dump.c). */
static inline void pl_obs_wait_enter(struct pl_worker *w, const struct pl_event *e)
{
    struct pl_observer *o = w->obs;
    /* relaxed: only this worker writes the count. */
    unsigned n = atomic_load_explicit(&o->nnotes, memory_order_relaxed);
    if (pl_likely(n < PL_OBS_NOTES))
        /* relaxed: published by the release store of the count. */
        atomic_store_explicit(&o->notes[n], e, memory_order_relaxed);
    /* release: the dump acquires the count, then reads the notes below it. */
    atomic_store_explicit(&o->nnotes, n + 1, memory_order_release);
}

static inline void pl_obs_wait_leave(struct pl_worker *w)
{
    struct pl_observer *o = w->obs;
    /* relaxed: a shorter count only hides a note. */
    unsigned n = atomic_load_explicit(&o->nnotes, memory_order_relaxed);
    atomic_store_explicit(&o->nnotes, n - 1, memory_order_relaxed);
}

/* Groups (group.c): creation (after the fields are set and the group is
 * registered with its creator, if any: outside_task when it was created
 * outside any task, which puts it in the pool's root list for the dump),
 * destruction (before the record is freed), and the close of its first
 * wait (result known; w: the closing thread's worker or NULL). */
void pl_obs_root_add(struct plait_group *g);
void pl_obs_root_remove(struct plait_group *g);
static inline void pl_obs_group_created(struct plait_group *g, bool outside_task)
{
    atomic_init(&g->name, NULL);
    g->born_ns = pl_trace_now(g->pool);
    g->live = NULL;
    if (outside_task)
        pl_obs_root_add(g);
}
static inline void pl_obs_group_destroyed(struct plait_group *g)
{
    if (g->live != NULL)
        pl_obs_root_remove(g);
}
static inline void pl_obs_group_closed(struct pl_worker *w, struct plait_group *g, int result)
{
    if (pl_unlikely(g->born_ns != 0))
        pl_trace_group_closed(w, g, result);
}

/* A spawn or submit from outside the pool's workers (task.c), before the
 * push: recorded when a trace is on. */
static inline void pl_obs_foreign_spawn(struct plait_pool *pool, struct plait_task *t, bool local,
                                        pl_task_id_fn id)
{
    if (!local && pl_unlikely(pl_trace_pool_on(pool)))
        pl_trace_foreign_spawn(pool, t, id(t));
}

/* Pools (pool.c): init before the workers start (ENOMEM), a worker's
 * start on its own thread, the pool's start once every worker is ready
 * ($PLAIT_TRACE, $PLAIT_DUMP_ON), and the end in pool_free (writes a trace
 * still on; frees; safe on a partly made pool). */
int pl_obs_pool_init(struct plait_pool *pool);
void pl_obs_worker_start(struct pl_worker *w);
void pl_obs_pool_started(struct plait_pool *pool);
/* Pool destroy, once the workers are joined: the trace is written and the
 * workers' observers freed; what groups that outlive the pool still use
 * (the list of groups created outside tasks, the pool buffer's lock) stays
 * until pl_obs_pool_free, when the pool's record goes (pool.h). */
void pl_obs_pool_stop(struct plait_pool *pool);
void pl_obs_pool_free(struct plait_pool *pool);

/* ---- Shared between trace.c and dump.c ------------------------------ */

struct pl_pool_observer {
    pthread_mutex_t lock;       /* the pool buffer and the sessions */
    struct pl_live_groups live; /* groups created outside any task */
    _Atomic uint32_t tracing;   /* a session is on (group creation, foreign spawns) */
    /* trace.c: the session (lock). */
    FILE *file;
    uint64_t t0;            /* CLOCK_MONOTONIC ns at the start */
    uint64_t tick0;         /* the workers' clock at the start (trace.c: ticks) */
    bool ticks;             /* the workers' clock is the TSC, else it is t0's */
    struct pl_trace_ev *ev; /* foreign threads' events */
    size_t cap, n;
    uint64_t dropped;
    int foreign_tids[64]; /* tid_slot -> tid */
    unsigned nforeign;
    _Atomic uint64_t dropped_total;
    /* dump.c: the signal dumper's list. */
    struct pl_pool_observer *reg_prev, *reg_next;
    struct plait_pool *pool;
    bool registered;
};

/* Whether a session is on: a hint (group creation, foreign spawns); the
 * pool buffer is checked again under its lock. */
static inline bool pl_trace_pool_on(const struct plait_pool *pool)
{
    /* relaxed: a hint. Every created pool has its observer. */
    return atomic_load_explicit(&pool->obs->tracing, memory_order_relaxed);
}

/* A group's born_ns: now while a session is on, else 0. */
static inline uint64_t pl_trace_now(const struct plait_pool *pool)
{
    return pl_unlikely(pl_trace_pool_on(pool)) ? pl_now_ns() : 0;
}

/* trace.c: starts a session ($PLAIT_TRACE or the API), stops one. */
int pl_trace_start(struct plait_pool *pool, const char *path, size_t events);
int pl_trace_stop(struct plait_pool *pool, bool workers_gone);
void pl_trace_from_env(struct plait_pool *pool);

/* names.c: after fork(), in the child (dump.c's handler). */
void pl_names_fork_child(void);
/* names.c: the interned copy of name (its first PLAIT_NAME_MAX bytes) in
 * *out, NULL for NULL or ""; 0, or ENOMEM when the table is full. */
int pl_name_intern(const char *name, const char **out);

/* A task's own name (plait_spawn_options.name), or NULL. */
static inline const char *pl_task_label(const struct plait_task *t)
{
    return (t->flags & PL_TASK_NAMED) ? t->name : NULL;
}

#endif
