/*
 * task — spawning, running and finishing tasks, and task handles (task.h).
 */
#include "task.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "cancel.h"
#include "debug.h"
#include "group.h"
#include "observe.h"
#include "pool.h"
#include "task_records.h"
#include "worker.h"

/* Ids are process-wide; 0 means "not asked for yet". */
static _Atomic uint64_t next_id = 1;

static uint64_t task_id(struct plait_task *t)
{
    /* relaxed: the id is a value, not a publication. */
    uint64_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    if (id != 0)
        return id;
    uint64_t fresh = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    if (atomic_compare_exchange_strong_explicit(&t->id, &id, fresh, memory_order_relaxed,
                                                memory_order_relaxed))
        return fresh;
    return id; /* another thread named it first */
}

/* A record's last owner is done with it. */
static void task_free(struct plait_task *t)
{
    if (pl_unlikely(t->ctx.message != NULL))
        pl_free(t->ctx.message);
    pl_task_record_free(t);
}

static void task_unref(struct plait_task *t)
{
    if (!(t->flags & PL_TASK_HANDLE)) {
        task_free(t);
        return;
    }
    /* acq_rel: the last owner sees everything the others did. */
    uint32_t refs = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    PLAIT_ASSERT(refs == 1 || refs == 2);
    if (refs == 1)
        task_free(t);
}

static void task_run(struct pl_worker *w, struct pl_job *job);

static struct plait_task *task_new(struct plait_pool *pool, struct plait_group *g, plait_fn fn,
                                   void *arg, uint32_t flags, int *err)
{
    struct plait_task *t = pl_task_record_alloc(pool);
    if (t == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    t->qlink = NULL;
    t->job.run = task_run;
    t->flags = flags;
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    pl_ctx_init_root(&t->ctx, t, pool);
    pl_event_init(&t->done);
    atomic_init(&t->refs, (flags & PL_TASK_HANDLE) ? 2 : 1);
    atomic_init(&t->cancelling, 0);
    t->code = 0;
    t->result = NULL;
    atomic_init(&t->id, 0);
    return t;
}

static void count_outcome(struct plait_task *t, int code)
{
    if (t->flags & PL_TASK_INTERNAL)
        return;
    struct pl_worker *w = pl_tls_worker;
    struct plait_pool *pool = t->ctx.pool;
    if (w != NULL && w->pool == pool) {
        pl_count(code == 0 ? &w->n_succeeded : code == ECANCELED ? &w->n_cancelled : &w->n_failed);
    } else {
        _Atomic uint64_t *c = code == 0           ? &pool->outside_succeeded
                              : code == ECANCELED ? &pool->outside_cancelled
                                                  : &pool->outside_failed;
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    }
}

/* Everything that happens once a task is over, run or not. After the
 * group's pending count is decremented, the group is not touched. */
static void task_finish(struct plait_task *t, int code)
{
    struct plait_group *g = t->group;
    bool handle = t->flags & PL_TASK_HANDLE;
    count_outcome(t, code);
    if (code != 0 && code != ECANCELED && g != NULL) {
        /* The group owns its errors' messages: a handle keeps the task's
         * own (plait_task_message), so the group gets a copy. Out of
         * memory, the error is kept without its message. */
        char *msg = t->ctx.message;
        if (handle)
            msg = msg != NULL ? pl_strdup(msg) : NULL;
        else
            t->ctx.message = NULL;
        pl_group_add_error(g, code, msg, task_id(t));
    }
    t->code = code;
    if (handle) {
        pl_event_set(&t->done); /* release: code, result, message */
        /* A plait_task_cancel that saw the task unfinished may still walk
         * the nested groups of our group, which the decrement below lets its
         * waiter destroy: let it finish first. seq_cst: the other half of
         * the store-buffering pair in plait_task_cancel (with the set's
         * seq_cst RMW). */
        while (atomic_load_explicit(&t->cancelling, memory_order_seq_cst) != 0)
            pl_cpu_relax();
    }
    /* acq_rel: release our work to the waiter; the last decrement acquires
     * the others'. */
    if (g != NULL &&
        atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) == PL_PENDING_WAITING + 1)
        pl_event_set(&g->done);
    task_unref(t);
}

/* The job's runner (job.h). */
static void task_run(struct pl_worker *w, struct pl_job *job)
{
    struct plait_task *t = pl_container_of(job, struct plait_task, job);
    int code;
    /* Unordered (cancel.h): a task cancelled just after this check runs
     * and sees the flag at its next checkpoint. */
    if (pl_task_cancelled(t)) {
        code = ECANCELED;
    } else {
        struct plait_ctx *saved = w->current;
        t->outer = saved;
        w->current = &t->ctx;
        pl_obs_task_begin(w, t);
        code = t->fn(&t->ctx, t->arg);
        w->current = saved;
        pl_obs_task_end(w, t, saved, code, task_id);
        pl_ctx_end(&t->ctx);
    }
    task_finish(t, code);
}

/* Counts a new task in g, unless g is over: pending is exactly
 * PL_PENDING_WAITING once the wait began and every task finished, and the
 * done event may already be set. A CAS, not an add and an undo: with the
 * undo, a second late spawner could see PL_PENDING_WAITING + 1, take it for
 * a live group and spawn into a finished one. */
static inline bool pending_add(struct plait_group *g)
{
    /* relaxed: the increment reaches whoever decrements through the push
     * (release) and pop/steal (acquire) of the task itself. */
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    do {
        if (p == PL_PENDING_WAITING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&g->pending, &p, p + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* Shared by plait_spawn and plait_go. */
static int spawn(struct plait_group *g, plait_fn fn, void *arg, uint32_t flags,
                 struct plait_task **out)
{
    if (g == NULL || fn == NULL)
        return EINVAL;
    uint32_t state = atomic_load_explicit(&g->state, memory_order_acquire);
    if (state & PL_G_CLOSED)
        return EINVAL;
    struct plait_pool *pool = g->pool;
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    int err = 0;
    if (!local && (err = pl_foreign_begin(pool)) != 0)
        return err;
    struct plait_task *t;
    if (state & PL_G_CANCELLED) {
        /* Spawning late (rule 6): no task for plait_go; for plait_spawn a
         * task that is already over, cancelled, without running. */
        if (!(flags & PL_TASK_HANDLE)) {
            err = ECANCELED;
            goto out;
        }
        t = task_new(pool, NULL, fn, arg, flags, &err);
        if (t == NULL)
            goto out;
        count_outcome(t, ECANCELED);
        t->code = ECANCELED;
        /* Only the handle refers to it: no scheduler reference. */
        atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
        pl_event_set(&t->done);
        *out = t;
        goto out;
    }
    t = task_new(pool, g, fn, arg, flags, &err);
    if (t == NULL)
        goto out;
    if (!pending_add(g)) {
        /* The group was already over (its wait began and every task had
         * finished): this is a spawn after the wait. */
        task_free(t);
        err = EINVAL;
        goto out;
    }
    if (out != NULL)
        *out = t;
    pl_obs_foreign_spawn(pool, t, local, task_id);
    pl_pool_push_task(pool, t);
out:
    if (!local)
        pl_foreign_end(pool);
    return err;
}

plait_task *plait_spawn(plait_group *group, plait_fn fn, void *arg)
{
    plait_task *t = NULL;
    int err = spawn(group, fn, arg, PL_TASK_HANDLE, &t);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    return t;
}

int plait_go(plait_group *group, plait_fn fn, void *arg)
{
    return spawn(group, fn, arg, 0, NULL);
}

struct plait_task *pl_submit(struct plait_pool *pool, plait_fn fn, void *arg, uint32_t flags,
                             int *err)
{
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    if (!local && (*err = pl_foreign_begin(pool)) != 0)
        return NULL;
    struct plait_task *t = task_new(pool, NULL, fn, arg, flags | PL_TASK_HANDLE, err);
    if (t != NULL) {
        pl_obs_foreign_spawn(pool, t, local, task_id);
        pl_pool_push_task(pool, t);
    }
    if (!local)
        pl_foreign_end(pool);
    return t;
}

plait_task *plait_submit(plait_pool *pool, plait_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    int err = 0;
    struct plait_task *t = pl_submit(pool, fn, arg, 0, &err);
    if (t == NULL)
        errno = err;
    return t;
}

bool plait_task_done(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done);
}

int plait_task_cancel(plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    /* seq_cst RMW, then seq_cst load of done: a store-buffering pair with
     * task_finish (set done, then read cancelling). Either we see the task
     * done and leave it alone, or task_finish waits for us before its
     * group can go away. */
    atomic_fetch_add_explicit(&t->cancelling, 1, memory_order_seq_cst);
    if (!(atomic_load_explicit(&t->done.state, memory_order_seq_cst) & PL_EV_DONE))
        pl_ctx_cancel(&t->ctx);
    /* release: our walk happens-before the finisher's exit from its spin. */
    atomic_fetch_sub_explicit(&t->cancelling, 1, memory_order_release);
    return 0;
}

int plait_task_wait(plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && cur->task == t)
        return EDEADLK;
    /* The task itself may still be in the injection queue. */
    struct pl_awaited awaited = {t->ctx.pool, -1,
                                 (t->flags & PL_TASK_INJECTED) ? &pl_injected_always : NULL};
    pl_wait_event(&t->done, &awaited);
    return t->code;
}

int plait_task_status(const plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    return pl_event_done(&t->done) ? t->code : EAGAIN;
}

void *plait_task_result(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done) ? t->result : NULL;
}

const char *plait_task_message(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done) ? t->ctx.message : NULL;
}

uint64_t plait_task_id(const plait_task *t)
{
    return t != NULL ? task_id((struct plait_task *)t) : 0;
}

void plait_task_release(plait_task *t)
{
    if (t != NULL)
        task_unref(t);
}
