/*
 * join — plait_join, the cheapest fork-join: b runs inline, a waits in the
 * worker's deque in a frame on this stack, where a thief may take it.
 *
 * The frame needs no allocation and no reference count: plait_join does
 * not return before a is over (its event is set, and can be left), so the
 * frame outlives every access to it. If a is still in our deque when b
 * returns, we pop it and run it inline, with no atomic read-modify-write
 * beyond the deque's own.
 */
#include <errno.h>

#include "alloc.h"
#include "cancel.h"
#include "worker.h"

struct pl_join_frame {
    struct pl_job job;
    plait_fn fn;
    void *arg;
    struct plait_ctx ctx; /* a's context */
    struct plait_ctx cb;  /* b's context: cancelled if a fails */
    struct pl_event done; /* set only when a ran as a job (run_stolen) */
    int code;             /* a's, when it ran as a job */
    _Atomic int thief;
};

static inline bool failed(int code)
{
    return code != 0 && code != ECANCELED;
}

static inline int run_a(struct pl_worker *w, struct pl_join_frame *f)
{
    if (pl_ctx_cancelled(&f->ctx))
        return ECANCELED;
    struct plait_ctx *saved = w->current;
    w->current = &f->ctx;
    int r = f->fn(&f->ctx, f->arg);
    w->current = saved;
    pl_ctx_end(&f->ctx);
    return r;
}

/* The frame's runner (job.h), when a thief or a wait took it. */
static void run_stolen(struct pl_worker *w, struct pl_job *job)
{
    struct pl_join_frame *f = pl_container_of(job, struct pl_join_frame, job);
    /* relaxed: a hint for the joiner's choice of victim. */
    atomic_store_explicit(&f->thief, (int)w->index, memory_order_relaxed);
    int r = run_a(w, f);
    f->code = r;
    if (failed(r)) {
        /* relaxed: published by the flag's seq_cst store in pl_ctx_cancel,
         * which plait_cancel_cause acquires; one canceller per child. */
        atomic_store_explicit(&f->cb.cancel_code, r, memory_order_relaxed);
        pl_ctx_cancel(&f->cb);
    }
    pl_event_set(&f->done); /* release: code, message; our last access */
}

/* The error's message travels up with its code. */
static void take_message(struct plait_ctx *to, struct plait_ctx *from)
{
    if (from->message == NULL)
        return;
    pl_free(to->message);
    to->message = from->message;
    from->message = NULL;
}

/* The rare ways back from a join: a was stolen, or b left work above our
 * frame. `j` is what the fast path popped (not our frame, possibly NULL).
 * Returns a's code. */
static __attribute__((noinline, cold)) int join_slow(struct pl_worker *w, struct pl_join_frame *f,
                                                     struct pl_job *j)
{
    for (;;) {
        if (j == &f->job)
            return run_a(w, f);
        if (j == NULL) {
            /* Stolen (or run by a wait nested in b): wait for it, stealing
             * from the thief first (leapfrogging). */
            /* relaxed: a victim hint (run_stolen's store); a stale -1
             * only makes the wait pick its victims as usual, and the done
             * event, not this, is what the wait relies on. */
            struct pl_awaited awaited = {w->pool,
                                         atomic_load_explicit(&f->thief, memory_order_relaxed),
                                         NULL, &f->ctx, NULL};
            /* Never EDEADLK: a join child cannot be on its joiner's chain. */
            (void)pl_wait_event(&f->done, &awaited);
            return f->code;
        }
        /* Work b's subtree left above our frame (spawned into a group it
         * did not wait for): our join does not depend on it, so it runs
         * aside, where it cannot hold us up by blocking (worker.h); then
         * look again. */
        if (pl_job_awaited(j, &f->ctx) || !pl_run_aside(w, j))
            pl_run_nested(w, j); /* no fiber to be had: the old way */
        j = pl_deque_pop(&w->deque);
    }
}

/* The result when something failed, was cancelled or left a message. */
static __attribute__((noinline, cold)) int join_result(struct plait_ctx *ctx,
                                                       struct pl_join_frame *f, int ra, int rb)
{
    int r;
    if (failed(ra)) {
        r = ra;
        take_message(ctx, &f->ctx);
    } else if (failed(rb)) {
        r = rb;
        take_message(ctx, &f->cb);
    } else if (ra == ECANCELED || rb == ECANCELED || pl_ctx_cancelled(ctx)) {
        r = ECANCELED;
    } else {
        r = 0;
    }
    pl_free(f->ctx.message);
    pl_free(f->cb.message);
    return r;
}

/* b, inline, under its context; a cancelled if b failed. b is a call, and
 * so is every plait_join nested in it: when the stack runs low, the rest
 * of the recursion continues on a fresh one. */
static inline int run_b(struct pl_worker *w, struct plait_ctx *ctx, struct pl_join_frame *f,
                        plait_fn b, void *arg_b)
{
    w->current = &f->cb;
    int rb =
        pl_likely(!pl_stack_low()) ? b(&f->cb, arg_b) : pl_call_on_fresh_stack(w, b, &f->cb, arg_b);
    w->current = ctx;
    pl_ctx_end(&f->cb);
    if (pl_unlikely(failed(rb))) {
        /* relaxed: as in run_stolen. */
        atomic_store_explicit(&f->ctx.cancel_code, rb, memory_order_relaxed);
        pl_ctx_cancel(&f->ctx);
    }
    return rb;
}

static inline int join_end(struct plait_ctx *ctx, struct pl_join_frame *f, int ra, int rb)
{
    if (pl_likely((ra | rb) == 0) &&
        pl_likely(((uintptr_t)f->ctx.message | (uintptr_t)f->cb.message) == 0) &&
        !pl_ctx_cancelled(ctx))
        return 0;
    return join_result(ctx, f, ra, rb);
}

/* The deque could not grow to hold a: both run here, in order. */
static __attribute__((noinline, cold)) int join_unpushed(struct pl_worker *w, struct plait_ctx *ctx,
                                                         struct pl_join_frame *f, plait_fn b,
                                                         void *arg_b)
{
    int rb = run_b(w, ctx, f, b, arg_b);
    int ra = run_a(w, f);
    return join_end(ctx, f, ra, rb);
}

/* Not inline: the refresh of a stale epoch (a cancellation happened
 * somewhere since ctx last looked). */
static __attribute__((noinline, cold)) void refresh_epoch(struct plait_ctx *ctx)
{
    (void)pl_ctx_cancelled(ctx);
}

int plait_join(plait_ctx *ctx, plait_fn a, void *arg_a, plait_fn b, void *arg_b)
{
    struct pl_worker *w = pl_tls_worker;
    if (pl_unlikely(ctx == NULL || a == NULL || b == NULL || w == NULL || w->current != ctx))
        return EINVAL; /* from a foreign thread, or not the running task's own context */
    /* No cancellation decision here: a cancelled task's children see it at
     * their first checkpoint, and the result below reports it. But the
     * check refreshes ctx's epoch (one compare while nothing was
     * cancelled), which the children inherit: with a stale one, every
     * child's first check walks the whole join chain above it, quadratic
     * in the nesting (59 s for 100,000 nested joins). relaxed: as in
     * pl_ctx_cancelled, a hint; both loads are its first two. */
    uint32_t epoch = atomic_load_explicit(&ctx->epoch_ok, memory_order_relaxed);
    if (pl_unlikely(atomic_load_explicit(&pl_cancel_epoch, memory_order_relaxed) != epoch)) {
        refresh_epoch(ctx);
        /* relaxed: ctx's own field, on its own thread. */
        epoch = atomic_load_explicit(&ctx->epoch_ok, memory_order_relaxed);
    }
    /* The children's contexts (pl_ctx_init_child_of), from
     * one read of ctx's fields. */
    struct pl_join_frame f;
    struct plait_task *task = ctx->task;
    struct plait_pool *pool = ctx->pool;
    f.job.run = run_stolen;
    f.job.ctx = &f.ctx;
    f.job.owner = &f.ctx;
    f.fn = a;
    f.arg = arg_a;
    pl_ctx_init_child_of(&f.ctx, ctx, task, pool, epoch);
    pl_ctx_init_child_of(&f.cb, ctx, task, pool, epoch);
    pl_event_init(&f.done);
    /* init: before the push, whose release publishes f to a thief. */
    atomic_init(&f.thief, -1);

    if (pl_unlikely(pl_deque_push(&w->deque, &f.job) != 0))
        return join_unpushed(w, ctx, &f, b, arg_b);
    pl_lot_notify_local(&w->pool->lot);

    int rb = run_b(w, ctx, &f, b, arg_b);

    /* One pop: whatever it returns is either our frame or work that must
     * not be dropped, so join_slow takes it over. */
    struct pl_job *j = pl_deque_pop(&w->deque);
    int ra;
    if (pl_likely(j == &f.job)) {
        /* run_a, knowing that w->current is ctx again. */
        if (pl_unlikely(pl_ctx_cancelled(&f.ctx))) {
            ra = ECANCELED;
        } else {
            w->current = &f.ctx;
            ra = f.fn(&f.ctx, f.arg);
            w->current = ctx;
            pl_ctx_end(&f.ctx);
        }
    } else {
        ra = join_slow(w, &f, j);
    }
    return join_end(ctx, &f, ra, rb);
}
