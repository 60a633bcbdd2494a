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
 *     Only plait_group_cancel_async is async-signal-safe (callable from a
 *     signal handler); no other function may be called from one.
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
#define PLAIT_VERSION_MINOR 2
#define PLAIT_VERSION_PATCH 0
/* The version of this header as one number: major * 10000 + minor * 100 +
 * patch (minor and patch stay below 100). */
#define PLAIT_VERSION                                                                              \
    (PLAIT_VERSION_MAJOR * 10000 + PLAIT_VERSION_MINOR * 100 + PLAIT_VERSION_PATCH)

/* The version of the library running, as PLAIT_VERSION gives the header's.
 * It may be newer than PLAIT_VERSION when a program built against an older
 * header runs on a newer library of the same soname. */
PLAIT_API unsigned plait_version(void);

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
    /* Each worker's stack in bytes; 0: the default. Nesting does not need
     * a big one: nested work moves to fresh stacks (docs/API.md). Below
     * PTHREAD_STACK_MIN, plait_pool_create fails with EINVAL. */
    size_t stack_size;
} plait_pool_options;

/* The item an error names, when it names none. */
#define PLAIT_NO_ITEM SIZE_MAX

/* 0.x: the item field was appended after 0.1.0, so sizeof(plait_error) grew;
 * code that stores plait_error values must be rebuilt (docs/API.md). */
typedef struct plait_error {
    int code;            /* what the task returned */
    const char *message; /* from plait_fail, or NULL; owned by the group */
    uint64_t task_id;    /* plait_task_id of the failed task */
    size_t item;         /* from plait_fail_item, else PLAIT_NO_ITEM */
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
enum {
    PLAIT_GROUP_COLLECT_ALL = 1u << 0,  /* errors do not cancel the siblings */
    PLAIT_GROUP_CANCEL_ASYNC = 1u << 1, /* may be cancelled from a signal handler */
};

/* Spawn options (plait_spawn_with). Zero-initialise the whole struct
 * (plait_spawn_options o = {0}; or designated initialisers) and set what
 * you need: later versions give meaning to reserved words without
 * changing the struct's size, so a program built today
 * keeps working; a library that does not know a field you set (an unknown
 * flag, a non-zero reserved word) refuses the spawn with EINVAL. */
enum { PLAIT_SPAWN_TRY = 1u << 0 }; /* never block on a full group: EAGAIN */
typedef struct plait_spawn_options {
    unsigned flags;          /* PLAIT_SPAWN_* */
    void (*drop)(void *arg); /* called once with arg when the task is over; may be NULL */
    uint64_t delay_ns;       /* runnable only this long after the spawn (0: at once) */
    const char *name;        /* the task's name, for traces, dumps and errors; may be NULL */
    /* zero; as many words as keep the struct 8 pointers long everywhere */
    void *reserved[5 - 8 / sizeof(void *)];
} plait_spawn_options;

/* Why a group was cancelled (plait_group_info.cancel_reason). */
enum {
    PLAIT_CANCEL_NONE = 0,      /* not cancelled */
    PLAIT_CANCEL_CALL = 1,      /* plait_group_cancel, _cancel_async or _destroy */
    PLAIT_CANCEL_FAILURE = 2,   /* a task failed (fail-fast) */
    PLAIT_CANCEL_DEADLINE = 3,  /* its own deadline fired */
    PLAIT_CANCEL_ENCLOSING = 4, /* the task that created it was cancelled */
};

/* A snapshot of a group (plait_group_get_info). While tasks run, the
 * counts are read one by one and may disagree by the tasks finishing
 * meanwhile; once the wait has returned they are exact. */
typedef struct plait_group_info {
    uint64_t spawned;       /* tasks spawned into the group (refused spawns not counted) */
    uint64_t pending;       /* of them, not finished */
    uint64_t succeeded;     /* finished with 0 */
    uint64_t failed;        /* finished with an error code */
    uint64_t cancelled;     /* finished as cancelled, run or not */
    uint64_t never_run;     /* of the cancelled, those cancelled before they started */
    uint64_t items_total;   /* items given to plait_group_for */
    uint64_t items_done;    /* of them, in chunks that succeeded */
    uint64_t errors_lost;   /* errors that could not be stored for want of memory */
    uint32_t holds;         /* plait_group_hold not yet released */
    uint32_t cancel_reason; /* PLAIT_CANCEL_* */
    bool is_cancelled;      /* cancelled, for whatever reason */
    bool timed_out;         /* its own deadline fired */
    bool waited;            /* a wait has returned */
    uint64_t reserved[4];   /* zero; room for later fields, the size stays */
} plait_group_info;

/* ---- Pool ------------------------------------------------------------- */

/* Starts a pool. opts may be NULL (all defaults). On success *pool owns the
 * workers until plait_pool_destroy. EINVAL: pool NULL, $PLAIT_THREADS
 * unparsable or stack_size too small; ENOMEM / EAGAIN: resources.
 * After fork(), the child may create and use pools of its own, but must not
 * use or destroy a pool inherited from the parent: its threads exist only
 * in the parent (the child's copy is abandoned, its memory not freed).
 * Forked inside a task, the child's thread starts as a foreign thread with
 * nothing of the parent's pool (plait_current() is NULL,
 * plait_worker_index() -1; its own pools' waits block and run none of the
 * parent's tasks); it must not return from that task (which runs only in
 * the parent): end it with _exit or exec. */
PLAIT_API int plait_pool_create(plait_pool **pool, const plait_pool_options *opts);

/* Refuses new work from outside (ESHUTDOWN for plait_submit and foreign
 * spawns), runs everything already in the pool to completion, joins the
 * workers and frees the pool. EDEADLK when called from one of its own
 * workers, EINVAL for NULL.
 * Its groups and task handles may outlive it, and other threads may be
 * inside calls on them meanwhile (a foreign plait_group_wait returns once
 * destroy has run the group's tasks). After destroy, a group not yet
 * destroyed may still be waited (its result, as usual), cancelled, read
 * (plait_group_errors, plait_group_pending: 0) and destroyed; spawning into
 * it and plait_group_set_timeout return ESHUTDOWN (EINVAL once waited);
 * deadlines not yet fired never fire. Task handles keep working (done,
 * status, result, release). A small part of the pool's memory stays until
 * its last group is destroyed. The pool handle itself is invalid once
 * destroy returns; while it runs, calls that add work through the handle
 * from other threads (plait_submit, plait_group_create,
 * plait_parallel_for) get ESHUTDOWN, and plait_pool_stats must not run. */
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

/* Why the task is cancelled (Go's context.Cause): PLAIT_CANCEL_NONE while
 * plait_cancelled reads false, else the innermost cancellation that
 * reaches ctx: PLAIT_CANCEL_CALL (plait_task_cancel of the task, or
 * plait_group_cancel/_cancel_async/_destroy of its group), _FAILURE (a
 * sibling failed: a task of a fail-fast group, or the other branch of a
 * plait_join), _DEADLINE (its group's deadline), _ENCLOSING (its group was
 * cancelled through the task that created it). For _FAILURE, *code gets
 * the failing sibling's code (the group's first error, or the join
 * branch's); else 0. code may be NULL. Call it from the task itself (like
 * plait_cancelled); NULL reads PLAIT_CANCEL_NONE. */
PLAIT_API int plait_cancel_cause(const plait_ctx *ctx, int *code);

/* Records a message for the task's error and returns code, so that
 *   return plait_fail(ctx, EINVAL, "bad row %d", i);
 * fails the task with that message. A NULL ctx returns code and records
 * nothing. */
PLAIT_API int plait_fail(plait_ctx *ctx, int code, const char *fmt, ...) PLAIT_PRINTF(3, 4);

/* Like plait_fail, and the error names item (an index of the caller's
 * choosing, typically the item of a plait_group_for range that failed):
 * the group's plait_error gets item in its item field (the last such call
 * of the task wins). fmt may be NULL: no message. */
PLAIT_API int plait_fail_item(plait_ctx *ctx, size_t item, int code, const char *fmt, ...)
    PLAIT_PRINTF(4, 5);

/* Sets the value plait_task_result will return. */
PLAIT_API void plait_set_result(plait_ctx *ctx, void *result);

/* Sleeps ns nanoseconds: 0 after ns, ECANCELED as soon as the task is
 * cancelled, EINVAL for a NULL ctx. Blocks the worker thread. */
PLAIT_API int plait_sleep(plait_ctx *ctx, uint64_t ns);

/* Runs fn(shielded, arg) at once on the calling thread, shielded from
 * outside cancellation (Trio's CancelScope(shield=True)), and returns
 * fn's code: for cleanup that a cancellation must not cut short. Inside,
 * plait_cancelled(shielded) reads false and plait_cancel_cause
 * PLAIT_CANCEL_NONE however the task, its group or anything enclosing is
 * cancelled, before or during the call; plait_sleep sleeps its full time;
 * a group created inside is not cancelled with the task (so neither are
 * its tasks nor its wait), but still by its own deadline, its own
 * failures, plait_group_cancel. Work inside is cancelled in its own right
 * as anywhere (the other branch of a plait_join whose branch fails). It
 * shields the region, not the task's group: a spawn into that group still
 * finds it cancelled. A plait_fail message made inside goes with fn's
 * code to ctx when that code is a failure, as a join branch's does. After
 * the call, plait_cancelled(ctx) reads the truth again, and the groups
 * created inside that are still alive follow ctx's fate (cancelled now if
 * ctx is). Shields nest. EINVAL for a NULL ctx or fn, a ctx that is not
 * the calling thread's running one, or a call from a foreign thread. */
PLAIT_API int plait_shield(plait_ctx *ctx, plait_fn fn, void *arg);

/* The calling thread's running task, or NULL outside a task. */
PLAIT_API plait_ctx *plait_current(void);

/* The pool the task runs in; NULL for NULL. */
PLAIT_API plait_pool *plait_ctx_pool(const plait_ctx *ctx);

/* ---- Groups ----------------------------------------------------------- */

/* Creates a group in pool. A group created while a task runs belongs to
 * that task: cancelling the task cancels the group. flags: 0 or
 * PLAIT_GROUP_COLLECT_ALL, and PLAIT_GROUP_CANCEL_ASYNC for a group that
 * plait_group_cancel_async may cancel (plait runs one watcher thread while
 * such groups exist). Released by plait_group_destroy.
 * EINVAL: NULL arguments or unknown flags; ESHUTDOWN: pool being destroyed
 * (from a foreign thread); ENOMEM; with PLAIT_GROUP_CANCEL_ASYNC,
 * pthread_create's error (EAGAIN) if the watcher cannot be started. */
PLAIT_API int plait_group_create(plait_group **group, plait_pool *pool, unsigned flags);

/* Spawns fn(ctx, arg) into group and returns a handle the caller releases
 * with plait_task_release. Into a cancelled group the task finishes as
 * cancelled without running. NULL with errno EINVAL (NULL arguments, group
 * already waited), ESHUTDOWN (pool being destroyed) or ENOMEM. */
PLAIT_API plait_task *plait_spawn(plait_group *group, plait_fn fn, void *arg);

/* Like plait_spawn without a handle: the cheapest spawn. 0, ECANCELED
 * (group cancelled: the task is not run), EINVAL, ESHUTDOWN or ENOMEM. */
PLAIT_API int plait_go(plait_group *group, plait_fn fn, void *arg);

/* The general spawn: plait_spawn is plait_spawn_with(g, fn, arg, NULL,
 * &handle) and plait_go is plait_spawn_with(g, fn, arg, NULL, NULL).
 * handle may be NULL (no handle, like plait_go); else *handle gets one to
 * release with plait_task_release. opts may be NULL (all defaults).
 *   - opts->drop: called exactly once with arg when the task is over,
 *     whether it ran, was cancelled before it ran, or never got a task
 *     at all: if plait_spawn_with returns an error (other than EAGAIN),
 *     drop(arg) has been called before it returns, so the caller never
 *     cleans up. It runs on the thread that finishes the task, after the
 *     body, before the task counts as finished (its wait and its group's
 *     wait return after it); it must not block.
 *   - opts->name: names the task (interned as plait_group_set_name's
 *     names are, at most PLAIT_NAME_MAX bytes kept: name kinds of work,
 *     not each item). The trace shows the task's events under this name
 *     (else under its group's), the dump shows it on the task's line, and
 *     an error of a named task that failed without a plait_fail message
 *     gets "<name>: <plait_strerror(code)>" as its message. NULL or "":
 *     no name. ENOMEM when the names' table is full.
 *   - PLAIT_SPAWN_TRY: into a group at its limit (plait_group_set_limit),
 *     return EAGAIN at once; nothing was done, drop is not called, and arg
 *     is still the caller's, to retry.
 *   - opts->delay_ns > 0: spawn later. The task is in the group from the
 *     spawn (pending, spawned, the wait waits for it, a limit's slot, its
 *     handle works) but runnable only delay_ns after the spawn (too large
 *     a delay saturates), when the pool's timer thread hands it to the
 *     pool's queues: no worker or thread of its own is held meanwhile.
 *     From a worker into a full group it takes the slot over the limit
 *     and is not run inline. Any cancellation that reaches it first (its
 *     group's by any cause, an enclosing task's, plait_task_cancel) or the
 *     pool's destroy finishes it at once as cancelled, never run (drop
 *     called once), without waiting out the delay.
 * Returns 0 (with a handle when asked; into a cancelled group, a handle
 * already finished as cancelled, as plait_spawn does), ECANCELED (no
 * handle asked, group cancelled: not run), EAGAIN, EINVAL (NULL group or
 * fn, bad opts, group already waited), ESHUTDOWN or ENOMEM. */
PLAIT_API int plait_spawn_with(plait_group *group, plait_fn fn, void *arg,
                               const plait_spawn_options *opts, plait_task **handle);

/* At most max_pending tasks of the group unfinished at once (0: no limit,
 * the default): queued, running, or ending (a task gives its slot back
 * just before it stops counting in plait_group_pending, which may so read
 * up to one more per worker). A spawn into a full group from a thread outside the
 * group's pool blocks until a task finishes, or returns ECANCELED as soon
 * as the group is cancelled (within about a millisecond for a cancellation
 * from outside plait_group_cancel: a deadline, an enclosing task) or
 * ESHUTDOWN when the pool is being destroyed. A spawn from a worker of the
 * pool never blocks: it runs the task at once on its own thread (caller
 * runs), so a fan-out inside a full group cannot deadlock; such a task
 * counts toward the limit while it runs, so the count may pass the limit
 * by one per worker. PLAIT_SPAWN_TRY returns EAGAIN instead of either.
 * The limit applies to spawns after the call; raising or removing it
 * wakes blocked spawners. EINVAL for NULL, a group already waited, or
 * max_pending over 2^30. */
PLAIT_API int plait_group_set_limit(plait_group *group, size_t max_pending);

/* Holds the group open: its wait cannot complete until the matching
 * plait_group_release, so a producer thread may spawn into it while
 * another thread already waits (Go's WaitGroup.Add): every spawn made
 * while holding finds the group open (it may still find it cancelled).
 * Hold before the wait can finish (before starting it, or while a task or
 * another hold keeps the group unfinished). plait_group_destroy of an
 * unwaited group waits for the holds too. Holds are not tasks:
 * plait_group_pending does not count them. EINVAL for NULL or a group
 * whose wait has completed. Not plait_task_release. */
PLAIT_API int plait_group_hold(plait_group *group);

/* Lets go of one plait_group_hold. EINVAL for NULL or no hold. */
PLAIT_API int plait_group_release(plait_group *group);

/* Waits until every task of the group has finished. On a worker it runs
 * other tasks meanwhile; elsewhere it blocks. Returns 0 if no task failed
 * and the group was not cancelled; else the first error's code; else
 * ETIMEDOUT if its own deadline fired; else ECANCELED. EDEADLK from a task
 * of the group itself, or from work that one of its tasks is waiting on (a
 * cycle of waits); EINVAL for NULL or a group already waited. After it
 * returns, spawning into the group fails with EINVAL. Several threads may
 * wait at once; all return the same value. */
PLAIT_API int plait_group_wait(plait_group *group);

/* plait_group_wait for at most ns nanoseconds, cancelling nothing: EAGAIN
 * if the time passes first, and the group is as it was (it may be waited
 * again, by either wait); else exactly what plait_group_wait returns, and
 * the group is closed as plait_group_wait closes it. ns == 0 polls (runs
 * nothing). On a worker it runs other tasks meanwhile as plait_group_wait
 * does, and a task it runs is not interrupted: it may return late by as
 * long as that task runs. A wait that timed out has begun the group's
 * wait: spawns are accepted while a task or hold of the group is
 * unfinished, as during any wait, and fail with EINVAL once none is. */
PLAIT_API int plait_group_wait_for(plait_group *group, uint64_t ns);

/* Cancels the group: queued tasks never run, running ones read cancelled,
 * groups created inside its tasks are cancelled too. EINVAL for NULL. */
PLAIT_API int plait_group_cancel(plait_group *group);

/* Asks for plait_group_cancel(group) from a signal handler: async-signal-
 * safe (an atomic flag, a lock-free push and a futex wake; no lock, no
 * allocation, errno left alone). The group must have been created with
 * PLAIT_GROUP_CANCEL_ASYNC: plait's watcher thread, which runs while such
 * groups exist, does the cancellation a moment later, so right after the
 * call the group may not read cancelled yet. The group must be alive (not
 * destroyed) during the call; destroying it afterwards is safe. Also
 * callable from any thread. EINVAL for NULL or a group without the flag.
 *   static void on_sigint(int sig) { (void)sig; plait_group_cancel_async(batch); }
 * It is the only async-signal-safe function of plait. */
PLAIT_API int plait_group_cancel_async(plait_group *group);

/* Cancels the group ns nanoseconds from now (within about a millisecond),
 * whether or not anyone waits on it. A later call replaces the deadline.
 * EINVAL for NULL or a group already waited (also one whose wait returns
 * meanwhile on another thread); ESHUTDOWN once its pool's destroy has
 * stopped the timer; ENOMEM, or pthread_create's error (EAGAIN) when the
 * pool's timer thread, started by the first deadline, cannot be. */
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

/* A snapshot of the group's counts and state (plait_group_info), valid
 * during and after the wait, until plait_group_destroy. EINVAL for NULL. */
PLAIT_API int plait_group_get_info(const plait_group *group, plait_group_info *out);

/* Frees the group. A group that was not waited is cancelled and waited
 * first, so no task of it is left running. NULL is a no-op, and so is a
 * call from one of the group's own tasks (it could never finish). A group
 * created inside a task may be destroyed from any thread, also after that
 * task has returned, and also after its pool was destroyed (see
 * plait_pool_destroy). */
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
 * when called on a worker. EDEADLK from the task itself, or from work the
 * task is waiting on (a cycle of waits); EINVAL for NULL. */
PLAIT_API int plait_task_wait(plait_task *task);

/* plait_task_wait for at most ns nanoseconds, cancelling nothing: EAGAIN
 * if the time passes first (the task goes on, and may be waited again);
 * else exactly what plait_task_wait returns. ns == 0 polls. On a worker it
 * runs other tasks meanwhile, as plait_group_wait_for does. */
PLAIT_API int plait_task_wait_for(plait_task *task, uint64_t ns);

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
 * yet started; returns 0 or the first error code (its message, if any,
 * becomes the calling task's, as a join passes it on). It is a group
 * created, filled by plait_group_for and waited for. EINVAL: NULL pool or fn,
 * begin > end; ESHUTDOWN: from a foreign thread while the pool is being
 * destroyed; ENOMEM. Callable from tasks and from foreign threads. */
PLAIT_API int plait_parallel_for(plait_pool *pool, size_t begin, size_t end, size_t grain,
                                 plait_range_fn fn, void *arg);

/* Spawns the range [begin, end) into group as tasks of it: chunks of at
 * most grain (0: automatic) made by recursive halving, each half a task of
 * the group (so idle workers steal the large halves). The group's policy
 * applies to every chunk: fail-fast or collect-all, its limit, deadline and
 * cancellation; each failed chunk adds its plait_error (with its message,
 * and its item if it used plait_fail_item). Does not wait: the group's
 * wait does; fn and arg must stay valid until then. The items of chunks
 * that succeed are counted in plait_group_info.items_done. Blocks only
 * as a spawn into a full group does. Returns 0, EINVAL (NULL group or fn,
 * begin > end, group already waited), ECANCELED (group cancelled: nothing
 * spawned), ESHUTDOWN or ENOMEM. */
PLAIT_API int plait_group_for(plait_group *group, size_t begin, size_t end, size_t grain,
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
