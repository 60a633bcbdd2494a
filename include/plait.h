/*
 * plait — a work-stealing task executor whose unit of structure is the
 * task group (after Python's asyncio.TaskGroup and Trio's nurseries).
 *
 * Conventions
 *   - Functions that can fail return 0 or a positive errno value (EINVAL,
 *     ENOMEM, ECANCELED, ETIMEDOUT, ESHUTDOWN, EDEADLK, ...), as pthreads
 *     does; functions returning a pointer return NULL and set errno.
 *     plait_strerror() names plait's meaning of a code.
 *   - Bad input (NULL handles or functions, groups already waited, an
 *     unparsable $PLAIT_THREADS) returns an error code; it never crashes.
 *   - Every function is thread-safe unless its comment says otherwise.
 *   - Ownership: whoever gets a handle from *_create, plait_spawn or
 *     plait_submit releases it exactly once (*_destroy, plait_task_release).
 *
 * Linux only for now: parking uses futex(2).
 */
#ifndef PLAIT_H
#define PLAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PLAIT_API
#elif defined(__GNUC__)
#define PLAIT_API __attribute__((visibility("default")))
#else
#define PLAIT_API
#endif

#if defined(__GNUC__)
#define PLAIT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PLAIT_PRINTF(f, a)
#endif

#define PLAIT_VERSION_MAJOR 0
#define PLAIT_VERSION_MINOR 1
#define PLAIT_VERSION_PATCH 0

/* ---- Types ------------------------------------------------------------ */

typedef struct plait_pool plait_pool;   /* a set of worker threads */
typedef struct plait_group plait_group; /* a scope of tasks */
typedef struct plait_task plait_task;   /* a handle on one spawned task */
typedef struct plait_ctx plait_ctx;     /* a running task's context: valid only while it runs */

/* A task body: 0 is success; ECANCELED finishes the task as cancelled (not
 * an error); any other value fails the task with that code. */
typedef int (*plait_fn)(plait_ctx *ctx, void *arg);

/* A parallel_for body over the half-open range [begin, end). */
typedef int (*plait_range_fn)(plait_ctx *ctx, size_t begin, size_t end, void *arg);

typedef struct plait_pool_options {
    unsigned threads; /* 0: $PLAIT_THREADS if set, else the CPUs this process may run on */
    const char *name; /* worker thread name prefix; NULL: "plait" */
    void (*on_thread_start)(unsigned worker, void *userdata); /* may be NULL */
    void (*on_thread_stop)(unsigned worker, void *userdata);  /* may be NULL */
    void *userdata;
} plait_pool_options;

typedef struct plait_error {
    int code;            /* what the task returned */
    const char *message; /* from plait_fail, or NULL; owned by the group */
    uint64_t task_id;    /* plait_task_id of the failed task */
} plait_error;

typedef struct plait_stats {
    uint64_t tasks_succeeded; /* finished with 0 */
    uint64_t tasks_failed;    /* finished with an error code */
    uint64_t tasks_cancelled; /* finished as cancelled, whether or not their body ran */
    uint64_t steals;          /* jobs taken from another worker's deque */
    uint64_t failed_steals;   /* steal attempts that found nothing or lost a race */
    uint64_t injected;        /* tasks submitted from threads outside the pool */
    uint64_t parks;           /* times a worker went to sleep */
    uint64_t wakeups;         /* times a producer woke a sleeping worker */
    uint64_t trace_dropped;   /* trace events lost to full buffers, every session */
} plait_stats; /* once the pool is quiet: succeeded + failed + cancelled == tasks spawned */

/* Group flags. */
enum { PLAIT_GROUP_COLLECT_ALL = 1u << 0 }; /* errors do not cancel the siblings */

/* ---- Pool ------------------------------------------------------------- */

/* Starts a pool. opts may be NULL (all defaults). On success *pool owns the
 * workers until plait_pool_destroy. EINVAL: pool NULL or $PLAIT_THREADS
 * unparsable; ENOMEM / EAGAIN: resources.
 * After fork(), the child may create and use pools of its own, but must not
 * use or destroy a pool inherited from the parent: its threads exist only
 * in the parent (the child's copy is abandoned, its memory not freed). */
PLAIT_API int plait_pool_create(plait_pool **pool, const plait_pool_options *opts);

/* Refuses new work from outside (ESHUTDOWN for plait_submit and foreign
 * spawns), runs everything already in the pool to completion, joins the
 * workers and frees the pool. EDEADLK when called from one of its own
 * workers, EINVAL for NULL. */
PLAIT_API int plait_pool_destroy(plait_pool *pool);

/* Number of worker threads; 0 for NULL. */
PLAIT_API unsigned plait_pool_size(const plait_pool *pool);

/* Index of the calling worker thread in its pool, -1 on any other thread. */
PLAIT_API int plait_worker_index(void);

/* Snapshot of the pool's counters. EINVAL for NULL arguments. */
PLAIT_API int plait_pool_stats(const plait_pool *pool, plait_stats *out);

/* ---- Inside a task ---------------------------------------------------- */

/* True once the task (or its group, or an enclosing task) is cancelled.
 * A cheap cooperative checkpoint; false for NULL. */
PLAIT_API bool plait_cancelled(const plait_ctx *ctx);

/* Records a message for the task's error and returns code, so that
 *   return plait_fail(ctx, EINVAL, "bad row %d", i);
 * fails the task with that message. A NULL ctx returns code and records
 * nothing. */
PLAIT_API int plait_fail(plait_ctx *ctx, int code, const char *fmt, ...) PLAIT_PRINTF(3, 4);

/* Sets the value plait_task_result will return. */
PLAIT_API void plait_set_result(plait_ctx *ctx, void *result);

/* Sleeps ns nanoseconds: 0 after ns, ECANCELED as soon as the task is
 * cancelled, EINVAL for a NULL ctx. Blocks the worker thread. */
PLAIT_API int plait_sleep(plait_ctx *ctx, uint64_t ns);

/* The calling thread's running task, or NULL outside a task. */
PLAIT_API plait_ctx *plait_current(void);

/* The pool the task runs in; NULL for NULL. */
PLAIT_API plait_pool *plait_ctx_pool(const plait_ctx *ctx);

/* ---- Groups ----------------------------------------------------------- */

/* Creates a group in pool. A group created while a task runs belongs to
 * that task: cancelling the task cancels the group. flags: 0 or
 * PLAIT_GROUP_COLLECT_ALL. Released by plait_group_destroy.
 * EINVAL: NULL arguments or unknown flags; ESHUTDOWN: pool being destroyed
 * (from a foreign thread); ENOMEM. */
PLAIT_API int plait_group_create(plait_group **group, plait_pool *pool, unsigned flags);

/* Spawns fn(ctx, arg) into group and returns a handle the caller releases
 * with plait_task_release. Into a cancelled group the task finishes as
 * cancelled without running. NULL with errno EINVAL (NULL arguments, group
 * already waited), ESHUTDOWN (pool being destroyed) or ENOMEM. */
PLAIT_API plait_task *plait_spawn(plait_group *group, plait_fn fn, void *arg);

/* Like plait_spawn without a handle: the cheapest spawn. 0, ECANCELED
 * (group cancelled: the task is not run), EINVAL, ESHUTDOWN or ENOMEM. */
PLAIT_API int plait_go(plait_group *group, plait_fn fn, void *arg);

/* Waits until every task of the group has finished. On a worker it runs
 * other tasks meanwhile; elsewhere it blocks. Returns 0 if no task failed
 * and the group was not cancelled; else the first error's code; else
 * ETIMEDOUT if its own deadline fired; else ECANCELED. EDEADLK from a task
 * of the group itself; EINVAL for NULL or a group already waited. After it
 * returns, spawning into the group fails with EINVAL. Several threads may
 * wait at once; all return the same value. */
PLAIT_API int plait_group_wait(plait_group *group);

/* Cancels the group: queued tasks never run, running ones read cancelled,
 * groups created inside its tasks are cancelled too. EINVAL for NULL. */
PLAIT_API int plait_group_cancel(plait_group *group);

/* Cancels the group ns nanoseconds from now (within about a millisecond),
 * whether or not anyone waits on it. A later call replaces the deadline.
 * EINVAL for NULL or a group already waited (also one whose wait returns
 * meanwhile on another thread); ENOMEM, or pthread_create's error (EAGAIN)
 * when the pool's timer thread, started by the first deadline, cannot be. */
PLAIT_API int plait_group_set_timeout(plait_group *group, uint64_t ns);

/* Tasks spawned into the group that have not finished; 0 for NULL. */
PLAIT_API size_t plait_group_pending(const plait_group *group);

/* After plait_group_wait: sets *errors to the gathered errors, in
 * completion order, and returns their number. The array and its messages
 * stay valid until plait_group_destroy. Before the wait returns (or for
 * NULL) returns 0 and sets *errors to NULL. errors may be NULL to count.
 * The first four errors are stored in the group itself; a later error for
 * which no memory can be had is not stored (its code still decides the
 * wait's result when it is the first), and one whose message cannot be
 * copied is stored with a NULL message. */
PLAIT_API size_t plait_group_errors(const plait_group *group, const plait_error **errors);

/* Frees the group. A group that was not waited is cancelled and waited
 * first, so no task of it is left running. NULL is a no-op, and so is a
 * call from one of the group's own tasks (it could never finish). A group
 * created inside a task may be destroyed from any thread, also after that
 * task has returned. */
PLAIT_API void plait_group_destroy(plait_group *group);

/* ---- Task handles ----------------------------------------------------- */

/* A lone task in no group, from any thread; release its handle with
 * plait_task_release. NULL with errno EINVAL, ESHUTDOWN or ENOMEM. */
PLAIT_API plait_task *plait_submit(plait_pool *pool, plait_fn fn, void *arg);

/* True once the task has finished (or will never run); false for NULL. */
PLAIT_API bool plait_task_done(const plait_task *task);

/* Not started: it never runs; running: its ctx reads cancelled. 0, or
 * EINVAL for NULL. Cancelling a finished task does nothing. */
PLAIT_API int plait_task_cancel(plait_task *task);

/* Waits for the task: 0, its error code, or ECANCELED. Runs other tasks
 * when called on a worker. EDEADLK from the task itself; EINVAL for NULL. */
PLAIT_API int plait_task_wait(plait_task *task);

/* Like plait_task_wait without waiting: EAGAIN while not done. */
PLAIT_API int plait_task_status(const plait_task *task);

/* The value set by plait_set_result; NULL otherwise or while running. */
PLAIT_API void *plait_task_result(const plait_task *task);

/* The message given to plait_fail, or NULL; valid until release. */
PLAIT_API const char *plait_task_message(const plait_task *task);

/* The task's process-unique id, never 0; 0 for NULL. */
PLAIT_API uint64_t plait_task_id(const plait_task *task);

/* Gives the handle back; the task itself runs on. NULL is a no-op. */
PLAIT_API void plait_task_release(plait_task *task);

/* ---- Fork-join and batches -------------------------------------------- */

/* Inside a running task: runs a and b, possibly in parallel (b inline, a
 * stealable). If one fails, the other is cancelled. Returns a's error code
 * if a failed, else b's, else ECANCELED if the task was cancelled, else 0.
 * EINVAL for a NULL ctx or function (from a foreign thread, submit a root
 * task first). */
PLAIT_API int plait_join(plait_ctx *ctx, plait_fn a, void *arg_a, plait_fn b, void *arg_b);

/* Splits [begin, end) recursively into chunks of at most grain (0:
 * automatic) and runs fn on each; a range no longer than grain is never
 * split. Blocks until done. The first failing chunk cancels the chunks not
 * yet started; returns 0 or the first error code. EINVAL: NULL pool or fn,
 * begin > end; ESHUTDOWN: from a foreign thread while the pool is being
 * destroyed; ENOMEM. Callable from tasks and from foreign threads. */
PLAIT_API int plait_parallel_for(plait_pool *pool, size_t begin, size_t end, size_t grain,
                                 plait_range_fn fn, void *arg);

/* ---- Observing: names, traces, dumps ------------------------------------ */

#define PLAIT_NAME_MAX 63 /* bytes of a name that are kept */

/* Names the group (a copy of at most PLAIT_NAME_MAX bytes; NULL or ""
 * removes the name), for traces and dumps. Names are interned: each
 * distinct name is kept until the process exits, so name kinds of work
 * ("parse", "row"), not each request; past 1 MiB of distinct names a new
 * one is refused. 0, EINVAL for a NULL group, ENOMEM. */
PLAIT_API int plait_group_set_name(plait_group *group, const char *name);

/* The group's name, or NULL (none, or a NULL group). Valid until exit. */
PLAIT_API const char *plait_group_name(const plait_group *group);

/* Starts recording a timeline of the pool into path (opened now, written
 * by plait_pool_trace_stop or plait_pool_destroy) in the Trace Event
 * format that Perfetto (ui.perfetto.dev), chrome://tracing and speedscope
 * open: a track per worker, an event per task run (nested where a wait
 * ran it), steals, parks and wake-ups, spawns from foreign threads, and
 * the life of each group created while it records. Each worker records
 * into its own buffer of $PLAIT_TRACE_EVENTS events (default 1048576, 40
 * bytes each, paid for as it fills); events past a full buffer are
 * dropped and counted (in the file and in plait_stats.trace_dropped).
 * $PLAIT_TRACE=path starts one at plait_pool_create (later pools of the
 * process write path.2, path.3, ...). 0; EINVAL (NULL), EALREADY (a
 * trace is on), ENOMEM, or fopen's error. */
PLAIT_API int plait_pool_trace_start(plait_pool *pool, const char *path);

/* Stops the trace and writes the file: 0, EINVAL (NULL, or no trace on),
 * or the write's error (EIO, ENOSPC, ...). */
PLAIT_API int plait_pool_trace_stop(plait_pool *pool);

enum { PLAIT_DUMP_JSON = 1u << 0 }; /* plait_pool_dump: one JSON object, not text */

/* Writes what is live in the pool to out: every group (name, state,
 * pending count, the tasks of it now running, groups nested under the
 * task that created them), each worker's running task and the tasks it
 * runs nested in their waits, and who waits on which group or task
 * (foreign threads too), as indented text, one line per object, or as
 * JSON with PLAIT_DUMP_JSON. Callable from any thread while the pool runs;
 * the snapshot is taken part by part (docs/API.md says what may be
 * stale). $PLAIT_DUMP_ON=SIGUSR1 (or another signal) at pool creation
 * dumps every pool on that signal, to $PLAIT_DUMP_FILE or stderr: the
 * handler only write(2)s a byte to a pipe (async-signal-safe), and a plait
 * thread does the dump.
 * 0; EINVAL (NULL, unknown flags); ENOMEM; EIO (writing). */
PLAIT_API int plait_pool_dump(plait_pool *pool, FILE *out, unsigned flags);

/* ---- Errors ----------------------------------------------------------- */

/* plait's meaning of an error code it documents, the system's text for
 * any other code (a task's own EIO, EACCES, ...), "unknown error ..." for
 * codes that are neither (static storage; thread-safe). */
PLAIT_API const char *plait_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* PLAIT_H */
