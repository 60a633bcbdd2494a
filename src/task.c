/*
 * task — spawning, running and finishing tasks, and task handles (task.h).
 */
#include "task.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "batch.h"
#include "cancel.h"
#include "debug.h"
#include "delay.h"
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
    /* relaxed: only uniqueness matters, which the RMWs on one word give
     * in any order. */
    uint64_t fresh = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    /* relaxed, both: the value is all that travels; a loser adopts the
     * winner's (an id number wasted, never two ids). */
    if (atomic_compare_exchange_strong_explicit(&t->id, &id, fresh, memory_order_relaxed,
                                                memory_order_relaxed))
        return fresh;
    return id; /* another thread named it first */
}

/*
 * The record invariant. Some fields of a task record hold the same value
 * at every task's start and are left so by every task's end: job.run,
 * job.ctx, ctx.parent, ctx.task (constants of the record), and
 * ctx.groups_created, ctx.cancel_code and ctx.message (0 or NULL: a task
 * root's context ends with no group registered, pl_ctx_end; join.c sets
 * cancel_code only in join children's contexts; task_free clears the
 * message it frees, add_error the one it hands on). Every record that
 * task.c releases goes back through task_free, and every record in a
 * cache or on the return stack (task_records.h) came from there; a record
 * that does not come from this worker's cache (task_record_fresh: the
 * slow path, which mallocs) is prepared here first. So task_init writes
 * only what differs from task to task. The values reach the record's next
 * owner as its other fields do: the same thread (its cache), or the
 * hand-over of the record itself (the return stack's release and
 * acquire, task_records.h); and the last writes of a task's end reach
 * whoever frees its record through the reference drop (task_unref's
 * acq_rel) or the done event.
 */
static void task_run(struct pl_worker *w, struct pl_job *job);

static inline __attribute__((always_inline)) void task_record_check(const struct plait_task *t)
{
    PLAIT_ASSERT(t->job.run == task_run && t->job.ctx == &t->ctx && t->ctx.parent == NULL &&
                 t->ctx.task == t && t->ctx.message == NULL &&
                 /* relaxed: checks of the record's own past (its last
                  * owner's writes came before its release, on this
                  * thread or through the cache's hand-over). */
                 atomic_load_explicit(&t->ctx.groups_created, memory_order_relaxed) == 0 &&
                 atomic_load_explicit(&t->ctx.cancel_code, memory_order_relaxed) == 0);
    (void)t;
}

/* A record's last owner is done with it; w: pl_tls_worker. */
static inline __attribute__((always_inline)) void task_free_on(struct pl_worker *w,
                                                               struct plait_task *t)
{
    if (pl_unlikely(t->ctx.message != NULL)) {
        pl_free(t->ctx.message);
        t->ctx.message = NULL; /* the record invariant */
    }
    task_record_check(t);
    pl_task_record_free(w, t);
}

static void task_free(struct plait_task *t)
{
    task_free_on(pl_tls_worker, t);
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

static void task_record_prepare(struct plait_task *t)
{
    t->job.run = task_run;
    t->job.ctx = &t->ctx;
    t->ctx.parent = NULL;
    t->ctx.task = t;
    /* init, these: the record is not yet seen by any other thread. */
    atomic_init(&t->ctx.groups_created, 0);
    atomic_init(&t->ctx.cancel_code, 0);
    t->ctx.message = NULL;
}

/* A record from the slow path (task_records.h: another cache, the
 * return stack, malloc), prepared: out of line, the spawn path pays only
 * the cache's empty test. */
static __attribute__((noinline)) struct plait_task *task_record_fresh(struct plait_pool *pool)
{
    struct plait_task *t = pl_task_record_alloc_slow(pool);
    if (t != NULL)
        task_record_prepare(t);
    return t;
}

/* Sets the fields of this task in t (the record invariant above gives
 * the rest). Fields that only a handle reads (refs, cancelling, result, done,
 * and code, written before done is set) are set only for a task with a
 * handle; without one nothing reads them (task_unref tests the flag
 * first; plait_set_result's write is never read back). */
static inline __attribute__((always_inline)) void task_init(struct plait_task *t,
                                                            struct plait_pool *pool,
                                                            struct plait_group *g, plait_fn fn,
                                                            void *arg, uint32_t flags)
{
    task_record_check(t);
    if (g != NULL) {
        t->job.owner = g;
    } else {
        t->job.owner = &t->ctx;
        /* init: read for lone tasks only; a fresh record, unseen until
         * the push or injection publishes it (release). */
        atomic_init(&t->waiter, NULL);
    }
    t->flags = flags;
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    t->ctx.pool = pool;
    /* cancelled and epoch_ok 0 (the epoch starts at 1, so the first
     * check walks): one 8-byte store, not two atomic ones; the record is
     * unseen by others until the push or injection publishes it with its
     * release. */
    _Static_assert(offsetof(struct plait_ctx, epoch_ok) ==
                       offsetof(struct plait_ctx, cancelled) + sizeof(uint32_t),
                   "cancelled and epoch_ok adjacent");
    memset(&t->ctx.cancelled, 0, 2 * sizeof(uint32_t));
    /* init, these: as above. */
    atomic_init(&t->id, 0);
    atomic_init(&t->fail_item, PLAIT_NO_ITEM);
    if (flags & PL_TASK_HANDLE) {
        pl_event_init(&t->done);
        atomic_init(&t->refs, 2);
        atomic_init(&t->cancelling, 0);
        t->result = NULL;
    }
}

/* A task's record from the calling thread's worker's cache (w, or NULL:
 * none), else from the slow path, set up by task_init. */
static inline __attribute__((always_inline)) struct plait_task *
task_new(struct plait_pool *pool, struct plait_group *g, plait_fn fn, void *arg, uint32_t flags,
         struct pl_worker *w)
{
    struct plait_task *t = w != NULL ? pl_task_record_cached(w) : NULL;
    if (pl_unlikely(t == NULL) && (t = task_record_fresh(pool)) == NULL)
        return NULL; /* out of memory: the caller says ENOMEM */
    task_init(t, pool, g, fn, arg, flags);
    return t;
}

static inline __attribute__((always_inline)) void count_outcome(struct plait_task *t, int code)
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
        /* relaxed: a statistics count (plait_pool_stats sums a snapshot);
         * it publishes nothing. */
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    }
}

/* A named task that failed without a message: "<name>: <what code means>"
 * (plait.h), or NULL out of memory. */
static char *named_failure(const char *name, int code)
{
    const char *what = plait_strerror(code);
    size_t n = strlen(name) + 2 + strlen(what) + 1;
    char *msg = pl_malloc(n);
    if (msg != NULL)
        snprintf(msg, n, "%s: %s", name, what);
    return msg;
}

/* A failed task's error goes to its group. The group owns its errors'
 * messages: a handle keeps the task's own (plait_task_message), so the
 * group gets a copy. Out of memory, the error is kept without its
 * message. */
static void add_error(struct plait_task *t, struct plait_group *g, int code, bool handle)
{
    char *msg = t->ctx.message;
    if (handle)
        msg = msg != NULL ? pl_strdup(msg) : NULL;
    else
        t->ctx.message = NULL;
    if (msg == NULL && (t->flags & PL_TASK_NAMED))
        msg = named_failure(t->name, code);
    /* relaxed: the task's own writes (join children joined since). */
    pl_group_add_error(g, code, msg, task_id(t),
                       atomic_load_explicit(&t->fail_item, memory_order_relaxed));
}

/* The argument's drop, before the task counts as finished (its waits
 * return after it), and the slot of a limited group's task, given back
 * before the pending decrement (the group is alive for the wake-up). */
static __attribute__((noinline)) void finish_extras(struct plait_task *t, struct plait_group *g,
                                                    uint32_t flags)
{
    if (flags & PL_TASK_DROP)
        t->drop(t->arg);
    if (flags & PL_TASK_SLOT)
        pl_slot_give(g);
}

/* A task of g is over: counted, and off g's pending count. After the
 * decrement g is not touched. */
static inline __attribute__((always_inline)) void group_task_over(struct plait_group *g)
{
    /* relaxed: a count for plait_group_get_info, published to the
     * waiter by the decrement below. n_finished shares pending's
     * line, which the decrement takes anyway: succeeded and spawned
     * are derived from it (group.c), so this is the only count a
     * task that succeeds adds. */
    atomic_fetch_add_explicit(&g->n_finished, 1, memory_order_relaxed);
    pl_pending_drop(g);
}

/* Everything that happens once a task is over, run or not. After the
 * group's pending count is decremented, the group is not touched. */
static __attribute__((noinline)) void task_finish(struct plait_task *t, int code)
{
    struct plait_group *g = t->group;
    uint32_t flags = t->flags;
    bool handle = flags & PL_TASK_HANDLE;
    count_outcome(t, code);
    /* One branch for both batch extras on the common path. */
    if (pl_unlikely((flags & (PL_TASK_DROP | PL_TASK_SLOT)) != 0))
        finish_extras(t, g, flags);
    if (pl_unlikely(code != 0) && g != NULL) {
        if (code == ECANCELED)
            /* relaxed: a count for plait_group_get_info, published to
             * the waiter by the pending decrement below. */
            atomic_fetch_add_explicit(&g->n_cancelled, 1, memory_order_relaxed);
        else
            add_error(t, g, code, handle);
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
    if (g != NULL)
        group_task_over(g);
    task_unref(t);
}

/* Runs t's body on w and clears up after it (the context's end). */
static inline __attribute__((always_inline)) int task_body(struct pl_worker *w,
                                                           struct plait_task *t)
{
    t->outer = w->current;
    w->current = &t->ctx;
    pl_obs_task_begin(w, t);
    int code = t->fn(&t->ctx, t->arg);
    /* Read back, not kept across the call: one register fewer to save. */
    struct plait_ctx *saved = t->outer;
    w->current = saved;
    pl_obs_task_end(w, t, saved, code, task_id);
    pl_ctx_end(&t->ctx);
    return code;
}

/* task_run for every task the common path below does not take. */
static __attribute__((noinline)) void task_run_general(struct pl_worker *w, struct plait_task *t)
{
    int code;
    /* Unordered (cancel.h): a task cancelled just after this check runs
     * and sees the flag at its next checkpoint. */
    if (pl_task_cancelled(t)) {
        code = ECANCELED;
        if (t->group != NULL)
            /* relaxed: as task_finish's counts. */
            atomic_fetch_add_explicit(&t->group->n_never_run, 1, memory_order_relaxed);
    } else {
        code = task_body(w, t);
    }
    task_finish(t, code);
}

/* The flags that send a task to task_run_general: a handle (its event,
 * references, result; and with a lone task, the only kind without a
 * group, pl_submit); plait's own (not counted); through the injection
 * queue (a delayed task may be cancelled by its own flag before it
 * starts: delay.c); a drop or a slot to give back. */
#define PL_TASK_RUN_GENERAL                                                                        \
    (PL_TASK_HANDLE | PL_TASK_INTERNAL | PL_TASK_INJECTED | PL_TASK_DROP | PL_TASK_SLOT)

/* The job's runner (job.h). The common path: a task of a group, spawned
 * by plait_go on a worker, that succeeds. Its own flag is never set
 * before it starts (only a handle's plait_task_cancel and a delayed
 * task's hand-over set it), so the start's check is its group's alone;
 * the worker that runs it is of its pool (a worker runs jobs of its own
 * pool's queues only), so it counts on the worker; it has nothing for a
 * handle or an error. Anything else goes the general way, with the same
 * steps in the same order. */
static void task_run(struct pl_worker *w, struct pl_job *job)
{
    struct plait_task *t = pl_container_of(job, struct plait_task, job);
    struct plait_group *g = t->group;
    /* relaxed, the state: as pl_task_cancelled. */
    if (pl_unlikely((t->flags & PL_TASK_RUN_GENERAL) != 0) ||
        pl_unlikely(atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CANCELLED)) {
        task_run_general(w, t);
        return;
    }
    PLAIT_ASSERT(g != NULL && w == pl_tls_worker && w->pool == t->ctx.pool &&
                 /* relaxed: as pl_task_cancelled. */
                 atomic_load_explicit(&t->ctx.cancelled, memory_order_relaxed) == 0);
    int code = task_body(w, t);
    if (pl_unlikely(code != 0)) {
        task_finish(t, code);
        return;
    }
    pl_count(&w->n_succeeded);
    group_task_over(t->group); /* read back: as saved */
    task_free_on(w, t);
}

/* A slot of g's limit for a spawn (batch.h's protocol). 0 with *took
 * (a slot taken) or without (the limit was removed meanwhile); EAGAIN
 * (try), ECANCELED (the group was cancelled while full), ESHUTDOWN (the
 * pool is being destroyed while full). A worker of the pool takes a slot
 * over the limit and runs the task inline (*inline_run). *slept: it
 * blocked, so the group's state may have changed meanwhile. */
static int slot_take(struct plait_group *g, bool local, bool try_only, bool *took, bool *inline_run,
                     bool *slept)
{
    /* acquire: batch.h (the limit or state a releaser changed). */
    uint32_t s = atomic_load_explicit(&g->slots, memory_order_acquire);
    for (;;) {
        /* relaxed: ordered by the acquire of the slots word above. */
        uint32_t limit = atomic_load_explicit(&g->limit, memory_order_relaxed);
        if (limit == 0) {
            *took = false;
            return 0;
        }
        if ((s & ~PL_SLOTS_SLEEPERS) < limit) {
            /* acq_rel: a link of the RMW chain (batch.h). */
            if (atomic_compare_exchange_weak_explicit(&g->slots, &s, s + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                *took = true;
                return 0;
            }
            continue;
        }
        if (try_only)
            return EAGAIN;
        if (local) {
            /* Caller runs: over the limit, never blocking a worker.
             * acq_rel: a link of batch.h's RMW chain, as the CAS above;
             * its give continues the release sequence. */
            atomic_fetch_add_explicit(&g->slots, 1, memory_order_acq_rel);
            *took = true;
            *inline_run = true;
            return 0;
        }
        /* relaxed: a cancellation seen late is seen at the next poll. */
        if (atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CANCELLED)
            return ECANCELED;
        /* acquire: pairs with destroy's seq_cst exchange; nothing read
         * after depends on it (a poll, as the cancellation above; relaxed
         * would do): the refusal's correctness is pl_foreign_begin's. */
        if (atomic_load_explicit(&g->pool->shutting_down, memory_order_acquire))
            return ESHUTDOWN;
        if (!(s & PL_SLOTS_SLEEPERS)) {
            /* acq_rel: a link of the RMW chain (batch.h). */
            if (!atomic_compare_exchange_weak_explicit(&g->slots, &s, s | PL_SLOTS_SLEEPERS,
                                                       memory_order_acq_rel, memory_order_acquire))
                continue;
            s |= PL_SLOTS_SLEEPERS;
            continue; /* look at the limit and the state again, after our RMW */
        }
        pl_futex_wait(&g->slots, s, pl_now_ns() + PL_SLOT_POLL_NS);
        *slept = true;
        /* acquire: as the first load: the waker's release RMW on slots
         * (pl_slot_give, set_limit's wake) came before its futex wake. */
        s = atomic_load_explicit(&g->slots, memory_order_acquire);
    }
}

/* The slot of a spawn into a limited group, out of line so that the
 * unlimited path keeps its registers: the task flags to add (PL_TASK_SLOT,
 * PL_TASK_INLINE) in the low half, the error (slot_take's) in the
 * high half. */
static __attribute__((noinline)) uint64_t limited_spawn(struct plait_group *g, bool local,
                                                        bool try_only)
{
    bool took = false, inline_run = false, slept = false;
    int err = slot_take(g, local, try_only, &took, &inline_run, &slept);
    /* acquire: pairs with cancel_tree's seq_cst RMW of CANCELLED (flags
     * last), as spawn's check of state. */
    if (err == 0 && slept &&
        (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CANCELLED)) {
        /* Cancelled while we slept (the slot may be the one a cancelled
         * task gave back): as a spawn into a cancelled group. */
        if (took)
            pl_slot_give(g);
        err = ECANCELED;
    }
    uint32_t flags = 0;
    if (err == 0 && took)
        flags |= PL_TASK_SLOT;
    if (err == 0 && inline_run)
        flags |= PL_TASK_INLINE;
    return (uint64_t)(uint32_t)err << 32 | flags;
}

/* A spawn with a delay, once t is counted in g (out of line: the ordinary
 * spawn pays one predicted branch). A full group's slot was taken, over
 * the limit from a worker: the delayed task is never run by its spawner.
 * On an error nothing is left: not counted, no slot, no record. */
static __attribute__((noinline)) int spawn_delayed(struct plait_group *g, struct plait_task *t,
                                                   uint64_t delay_ns, bool local,
                                                   struct plait_task **out)
{
    /* Before anyone else can see t: its flags are not written again (a
     * handle's wait reads them), and it will come through the injection
     * queue. */
    t->flags = (t->flags & ~(uint32_t)PL_TASK_INLINE) | PL_TASK_INJECTED;
    struct plait_pool *pool = g->pool;
    pl_obs_foreign_spawn(pool, t, local, task_id);
    int err = pl_delay_arm(t, pl_deadline_in(delay_ns));
    if (err == 0) {
        /* Neither g nor (without a handle) t may be alive now; the pool's
         * record is (the caller's foreign bracket, or its running task). */
        if (!local)
            /* relaxed: a counter (plait_stats.injected: spawned from
             * outside, as pl_pool_push_task counts them). */
            atomic_fetch_add_explicit(&pool->n_injected, 1, memory_order_relaxed);
        if (out != NULL)
            *out = t; /* alive: the handle's reference */
        return 0;
    }
    if (t->flags & PL_TASK_SLOT)
        pl_slot_give(g);
    task_free(t);
    pl_pending_drop(g); /* as a task's end without its counts */
    return err;
}

/* Shared by plait_spawn, plait_go and plait_spawn_with. drop: opts->drop
 * or NULL; on an error other than a try's EAGAIN it is called here.
 * delay_ns: opts->delay_ns, or 0. */
/* Inlined into each caller, so that plait_go and plait_spawn pay nothing
 * for the options they do not have (drop, range and sflags fold away). */
static inline __attribute__((always_inline)) int spawn(struct plait_group *g, plait_fn fn,
                                                       void *arg, uint32_t flags, unsigned sflags,
                                                       void (*drop)(void *), const size_t *range,
                                                       const char *name, uint64_t delay_ns,
                                                       struct plait_task **out)
{
    int err = 0;
    if (g == NULL || fn == NULL) {
        err = EINVAL;
        goto fail;
    }
    /* acquire: pairs with plait_group_set_limit's release RMW of LIMITED,
     * which publishes g->limit to slot_take, and with cancel_tree's of
     * CANCELLED (flags last). CLOSED is a misuse check (a spawn after the
     * wait), for which relaxed would do. */
    uint32_t state = atomic_load_explicit(&g->state, memory_order_acquire);
    if (state & PL_G_CLOSED) {
        err = EINVAL;
        goto fail;
    }
    struct plait_pool *pool = g->pool;
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    if (!local && (err = pl_foreign_begin(pool)) != 0)
        goto fail;
    if (pl_unlikely(state & PL_G_LIMITED) && !(state & PL_G_CANCELLED)) {
        uint64_t r = limited_spawn(g, local, sflags & PLAIT_SPAWN_TRY);
        err = (int)(r >> 32);
        if (err == ECANCELED) {
            err = 0;
            state |= PL_G_CANCELLED; /* as a spawn into a cancelled group */
        } else if (err != 0) {
            goto out;
        }
        flags |= (uint32_t)r;
    }
    struct plait_task *t;
    if (state & PL_G_CANCELLED) {
        /* Spawning late (rule 6): no task for plait_go; for plait_spawn a
         * task that is already over, cancelled, without running. */
        if (!(flags & PL_TASK_HANDLE)) {
            err = ECANCELED;
            goto out;
        }
        t = task_new(pool, NULL, fn, arg, flags & ~(uint32_t)(PL_TASK_SLOT | PL_TASK_INLINE), w);
        if (t == NULL) {
            err = ENOMEM;
            goto out;
        }
        count_outcome(t, ECANCELED);
        t->code = ECANCELED;
        /* Only the handle refers to it: no scheduler reference. relaxed:
         * t is not yet seen by anyone (the handle is returned below). */
        atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
        if (drop != NULL)
            drop(arg); /* the task is over */
        pl_event_set(&t->done);
        *out = t;
        goto out;
    }
    t = task_new(pool, g, fn, arg, flags, w);
    if (t == NULL) {
        if (flags & PL_TASK_SLOT)
            pl_slot_give(g);
        err = ENOMEM;
        goto out;
    }
    if (drop != NULL) {
        t->flags |= PL_TASK_DROP;
        t->drop = drop;
    }
    if (name != NULL) {
        t->flags |= PL_TASK_NAMED;
        t->name = name;
    }
    if (range != NULL) {
        t->range_begin = range[0];
        t->range_end = range[1];
    }
    if (!pl_pending_add(g)) {
        /* The group was already over (its wait began and every task had
         * finished): this is a spawn after the wait. */
        if (flags & PL_TASK_SLOT)
            pl_slot_give(g);
        task_free(t);
        err = EINVAL;
        goto out;
    }
    if (pl_unlikely(delay_ns != 0)) {
        err = spawn_delayed(g, t, delay_ns, local, out);
        goto out;
    }
    if (out != NULL)
        *out = t;
    if (pl_unlikely(flags & PL_TASK_INLINE)) {
        task_run(w, &t->job); /* a full group, from a worker: caller runs */
    } else {
        pl_obs_foreign_spawn(pool, t, local, task_id);
        pl_pool_push_task(pool, t, local ? w : NULL);
    }
out:
    if (!local)
        pl_foreign_end(pool);
fail:
    if (pl_unlikely(drop != NULL) && err != 0 && err != EAGAIN)
        drop(arg);
    return err;
}

plait_task *plait_spawn(plait_group *group, plait_fn fn, void *arg)
{
    plait_task *t = NULL;
    int err = spawn(group, fn, arg, PL_TASK_HANDLE, 0, NULL, NULL, NULL, 0, &t);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    return t;
}

/* plait_go's general way: every case its common path leaves. */
static __attribute__((noinline)) int go_general(plait_group *group, plait_fn fn, void *arg)
{
    return spawn(group, fn, arg, 0, 0, NULL, NULL, NULL, 0, NULL);
}

/* The group is over: a spawn after the wait (as spawn's refusal). */
static __attribute__((noinline)) int go_refused(struct pl_worker *w, struct plait_task *t)
{
    task_free_on(w, t);
    return EINVAL;
}

/* The common path is spawn's for a worker of g's pool spawning into a
 * group neither closed, limited nor cancelled, with a record in its
 * cache: the same steps in the same order, with no call (so no register
 * to save). Any other case goes to spawn, which reads the state again,
 * as a spawn that came a moment later would. */
int plait_go(plait_group *group, plait_fn fn, void *arg)
{
    struct pl_worker *w = pl_tls_worker;
    if (pl_unlikely(w == NULL) || pl_unlikely(group == NULL))
        return go_general(group, fn, arg);
    /* acquire: spawn's load of the state (its comment). */
    uint32_t state = atomic_load_explicit(&group->state, memory_order_acquire);
    struct plait_pool *pool = group->pool;
    struct plait_task *t;
    if (pl_unlikely((state & (PL_G_CLOSED | PL_G_LIMITED | PL_G_CANCELLED)) != 0) ||
        pl_unlikely(fn == NULL) || pl_unlikely(w->pool != pool) ||
        pl_unlikely((t = pl_task_record_cached(w)) == NULL))
        return go_general(group, fn, arg);
    task_init(t, pool, group, fn, arg, 0);
    if (pl_unlikely(!pl_pending_add(group)))
        return go_refused(w, t);
    pl_pool_push_task(pool, t, w);
    return 0;
}

/* The options' size is fixed (plait.h): 64 bytes on LP64, 32 on ILP32;
 * new fields take reserved words. */
_Static_assert(sizeof(plait_spawn_options) == 8 * sizeof(void *),
               "plait_spawn_options changed size");

/* delay_ns needs no check (any value: saturated, pl_deadline_in); name is
 * interned by the caller. */
static bool options_valid(const plait_spawn_options *o)
{
    if (o->flags & ~(unsigned)PLAIT_SPAWN_TRY)
        return false;
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i] != NULL)
            return false;
    return true;
}

int pl_spawn_range(struct plait_group *g, plait_fn fn, void *arg, uint32_t flags,
                   void (*drop)(void *), size_t begin, size_t end)
{
    size_t range[2] = {begin, end};
    return spawn(g, fn, arg, flags, 0, drop, range, NULL, 0, NULL);
}

int plait_spawn_with(plait_group *group, plait_fn fn, void *arg, const plait_spawn_options *opts,
                     plait_task **handle)
{
    if (handle != NULL)
        *handle = NULL;
    void (*drop)(void *) = opts != NULL ? opts->drop : NULL;
    int err = 0;
    const char *name = NULL;
    if (opts != NULL && !options_valid(opts))
        err = EINVAL;
    else if (opts != NULL)
        err = pl_name_intern(opts->name, &name);
    if (err != 0) {
        if (drop != NULL)
            drop(arg);
        return err;
    }
    uint32_t flags = handle != NULL ? PL_TASK_HANDLE : 0;
    return spawn(group, fn, arg, flags, opts != NULL ? opts->flags : 0, drop, NULL, name,
                 opts != NULL ? opts->delay_ns : 0, handle);
}

struct plait_task *pl_submit(struct plait_pool *pool, plait_fn fn, void *arg, uint32_t flags,
                             int *err)
{
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    if (!local && (*err = pl_foreign_begin(pool)) != 0)
        return NULL;
    struct plait_task *t = task_new(pool, NULL, fn, arg, flags | PL_TASK_HANDLE, w);
    if (t != NULL) {
        pl_obs_foreign_spawn(pool, t, local, task_id);
        pl_pool_push_task(pool, t, local ? w : NULL);
    } else {
        *err = ENOMEM;
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

/* plait_task_wait, and plait_task_wait_for (timed: ns + 1, else 0). */
static inline __attribute__((always_inline)) int task_wait(plait_task *t, uint64_t timed)
{
    if (t == NULL)
        return EINVAL;
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && cur->task == t)
        return EDEADLK;
    /* The task itself may still be in the injection queue. */
    struct pl_awaited awaited = {t->ctx.pool, -1,
                                 (t->flags & PL_TASK_INJECTED) ? &pl_injected_always : NULL,
                                 &t->ctx, t->group == NULL ? &t->waiter : NULL};
    if (timed != 0) {
        if (!pl_event_done(&t->done)) {
            if (timed == 1)
                return EAGAIN; /* ns == 0: a poll, which runs nothing */
            int r = pl_wait_event_until(&t->done, &awaited, pl_deadline_in(timed - 1));
            if (r != 0)
                return r; /* EAGAIN, or EDEADLK */
        }
    } else if (pl_wait_event(&t->done, &awaited) != 0) {
        return EDEADLK; /* the task waits on us, further up */
    }
    return t->code;
}

int plait_task_wait(plait_task *t)
{
    return task_wait(t, 0);
}

int plait_task_wait_for(plait_task *t, uint64_t ns)
{
    return task_wait(t, ns == UINT64_MAX ? UINT64_MAX : ns + 1);
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
