/*
 * obs_records — what the observing parts share: the records a trace and
 * a dump keep (per worker and per pool), the trace's events, and the
 * functions of trace.c, dump.c and names.c that the hooks (observe.h) and
 * the pool call. Layouts and declarations; the hooks themselves, and the
 * handshakes between the task path and a dump or a trace, are observe.h's.
 * trace.c, dump.c and names.c include this header, not observe.h, so that
 * the hooks sit above the parts they call.
 */
#ifndef PLAIT_OBS_RECORDS_H
#define PLAIT_OBS_RECORDS_H

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
    PL_EV_TASK = 1, /* a task ran: ts, dur, id, name (group's), label, ptr (fn), arg (code) */
    PL_EV_STEAL,    /* id: the victim's index */
    PL_EV_PARK,     /* the worker went to sleep */
    PL_EV_WAKE,     /* it woke up */
    PL_EV_SPAWN,    /* a spawn from a foreign thread: id, name */
    PL_EV_GROUP,    /* a group's life: ts (created), dur, name, ptr, id (result), arg (errors) */
};

/* One recorded event: 56 bytes. */
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
/* The size docs/API.md and the man pages give (LP64). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct pl_trace_ev) == 56,
               "the documented size of a trace event");

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
void pl_trace_group_closed(struct pl_worker *w, struct plait_group *g, int result);
uint64_t pl_trace_dropped(const struct plait_pool *pool);

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
void pl_obs_foreign_leave(struct pl_event_node *node);
/* fn's name in the dynamic symbol table, or NULL (names.c). */
const char *pl_obs_fn_name(const void *fn);
/* The calling thread's kernel id (gettid), cached per thread (names.c). */
int pl_obs_gettid(void);
void pl_obs_gettid_forget(void); /* in a fork's child */
/* The pool's list of groups created outside any task, for the dump
 * (dump.c; observe.h's group hooks). */
void pl_obs_root_add(struct plait_group *g);
void pl_obs_root_remove(struct plait_group *g);

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
/* Pool destroy, once the workers are joined, before pl_obs_pool_stop:
 * writes a trace still on (trace.c). */
void pl_trace_pool_end(struct plait_pool *pool);

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
