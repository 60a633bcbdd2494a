/*
 * observe — what lets a person see what a pool is doing: the timeline
 * trace (trace.c), the dump of what is live (dump.c) and names
 * (names.c). This header holds the hooks the scheduler parts call; each is
 * one line at its call site. The records the three keep, and their
 * functions that the hooks call, are in obs_records.h.
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
 * Floors: trace.c, dump.c and names.c read core.h's layouts and
 * obs_records.h and call only primitives; the hooks here call them, and
 * the worker, group, task and pool parts call the hooks.
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
#include "obs_records.h"

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

/* A foreign thread's wait (pl_obs_foreign_note, obs_records.h): what it
 * waits for, noted before the wait. */
static inline void pl_obs_foreign_waits(struct plait_pool *pool, const struct pl_event *e)
{
    pl_obs_foreign_note = (struct pl_obs_foreign_note){pool, e};
}

/* A worker's waits in progress (pl_wait_event's loop and pl_wait_fast): the
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

#endif
