/*
 * join — plait_join, the cheapest fork-join: b runs inline, a waits in the
 * worker's deque in a frame on this stack, where a thief may take it.
 *
 * The frame needs no allocation and no reference count: plait_join does
 * not return before a is over (its event is set, and can be left), so the
 * frame outlives every access to it. If a is still in our deque when b
 * returns, we pop it and run it inline, with no atomic read-modify-write
 * beyond the deque's own, and in b's context: a gets a context of its own
 * only when it leaves our deque (the frame's comment).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "cancel.h"
#include "worker.h"

/* The frame. Only its head (job, fn, arg, cb, stolen, code, done) is
 * written before the push. a's context (actx) exists only once a thief
 * (or a wait) takes the frame: run_stolen builds it. Popped back by the
 * joiner, a runs instead in b's finished context cb, which is then
 * exactly what a fresh context of a's would be: a child of ctx that
 * nothing but a stolen a can cancel (so: not cancelled), whose groups
 * pass to ctx at its end like a's would, with no message yet (tested).
 *
 * Until a thief builds actx, the job names a through ctx and owner alone:
 * job.ctx is ctx (the parent), job.owner is &actx. A wait's test
 * (pl_job_awaited) is then what it was when job.ctx was &actx: the chain
 * of &actx is &actx itself (the owner compare) and then its parent's. */
struct pl_join_frame {
    struct pl_job job;
    plait_fn fn;
    void *arg;
    struct plait_ctx cb; /* b's context: cancelled if a stolen a fails */
    /* The thief's handshake with a failing b: the thief's index + 1 once
     * actx is built (the low bits), PL_JOIN_B_FAILED once b failed and
     * the joiner could not pop a back. RMWs on it, so one side sees the
     * other: a thief that comes second does not run a; a joiner that
     * comes second cancels actx. Also the joiner's victim hint. */
    _Atomic uint32_t stolen;
    int code;              /* a's, when it ran as a job */
    struct pl_event done;  /* set only when a ran as a job (run_stolen) */
    struct plait_ctx actx; /* a's context, when a ran as a job or aside */
};

#define PL_JOIN_B_FAILED (1u << 31)

static inline bool failed(int code)
{
    return code != 0 && code != ECANCELED;
}

/* a's own context, built by whoever runs a outside cb: a child of
 * parent, with parent's last clean epoch (a hint: parent's chain was seen
 * not cancelled at it; actx's own flag can only be set later, by the
 * handshake below, whose cancellation moves the epoch past it). relaxed:
 * written by parent's own thread, and any value it wrote is clean. */
static void build_actx(struct pl_join_frame *f)
{
    struct plait_ctx *parent = f->job.ctx;
    pl_ctx_init_child_of(&f->actx, parent, parent->task, parent->pool,
                         atomic_load_explicit(&parent->epoch_ok, memory_order_relaxed));
}

/* a under its context c (actx, or cb when popped back). */
static inline int run_a_in(struct pl_worker *w, struct pl_join_frame *f, struct plait_ctx *c)
{
    if (pl_ctx_cancelled(c))
        return ECANCELED;
    struct plait_ctx *saved = w->current;
    w->current = c;
    int r = f->fn(c, f->arg);
    w->current = saved;
    pl_ctx_end(c);
    return r;
}

/* The frame's runner (job.h), when a thief or a wait took it. */
static void run_stolen(struct pl_worker *w, struct pl_job *job)
{
    struct pl_join_frame *f = pl_container_of(job, struct pl_join_frame, job);
    build_actx(f);
    /* The two RMWs on stolen (this one, the joiner's B_FAILED) are in one
     * modification order, so the second sees the first's bit. release:
     * publishes actx (just built) to a joiner that comes second, which
     * acquires it before it cancels actx. Coming second ourselves, we need
     * nothing of the joiner's but the bit: a does not run, as if
     * cancelled first. */
    uint32_t old = atomic_fetch_or_explicit(&f->stolen, w->index + 1, memory_order_release);
    int r = (old & PL_JOIN_B_FAILED) ? ECANCELED : run_a_in(w, f, &f->actx);
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

/* The result (the rules of plait_join in docs/API.md). am, bm: the
 * contexts holding a's and b's messages, or NULL where there is none
 * (a not run, or run inline in cb, whose message is then a's). */
static __attribute__((noinline, cold)) int join_result(struct plait_ctx *ctx, struct plait_ctx *am,
                                                       struct plait_ctx *bm, int ra, int rb)
{
    int r;
    if (failed(ra)) {
        r = ra;
        if (am != NULL)
            take_message(ctx, am);
    } else if (failed(rb)) {
        r = rb;
        if (bm != NULL)
            take_message(ctx, bm);
    } else if (ra == ECANCELED || rb == ECANCELED || pl_ctx_cancelled(ctx)) {
        r = ECANCELED;
    } else {
        r = 0;
    }
    if (am != NULL) {
        pl_free(am->message);
        am->message = NULL;
    }
    if (bm != NULL) {
        pl_free(bm->message);
        bm->message = NULL;
    }
    return r;
}

/* b returned rb: b failed, or left a message, or a was not popped back
 * (stolen, run by a wait nested in b, or under work b's subtree left
 * above our frame: j is what the fast path popped). Everything but the
 * fast path's case; returns the join's result. */
static __attribute__((noinline, cold)) int join_slow(struct pl_worker *w, struct plait_ctx *ctx,
                                                     struct pl_join_frame *f, struct pl_job *j,
                                                     int rb)
{
    w->current = ctx;
    pl_ctx_end(&f->cb);
    for (;;) {
        if (j == &f->job) {
            if (failed(rb)) /* a never runs: cancelled by b before it started */
                return join_result(ctx, NULL, &f->cb, ECANCELED, rb);
            if (rb == 0 && f->cb.message == NULL) {
                int ra = run_a_in(w, f, &f->cb);
                return join_result(ctx, &f->cb, NULL, ra, 0);
            }
            /* cb is not what a fresh context would be (b left a message,
             * or was cancelled): a gets its own. */
            build_actx(f);
            int ra = run_a_in(w, f, &f->actx);
            return join_result(ctx, &f->actx, &f->cb, ra, rb);
        }
        if (j == NULL) {
            /* Taken by a thief (or run by a wait nested in b). acquire:
             * pairs with run_stolen's release, when it came first, so
             * that we see the actx it built before we cancel it. */
            uint32_t s = failed(rb) ? atomic_fetch_or_explicit(&f->stolen, PL_JOIN_B_FAILED,
                                                               memory_order_acquire)
                                    : 0;
            if ((s & ~PL_JOIN_B_FAILED) != 0) {
                /* relaxed: as in run_stolen. */
                atomic_store_explicit(&f->actx.cancel_code, rb, memory_order_relaxed);
                pl_ctx_cancel(&f->actx);
            }
            /* Wait for it, stealing from the thief first (leapfrogging).
             * relaxed: a victim hint; 0 (no thief yet) only makes the wait
             * pick its victims as usual, and the done event, not this, is
             * what the wait relies on. */
            s = atomic_load_explicit(&f->stolen, memory_order_relaxed) & ~PL_JOIN_B_FAILED;
            struct pl_awaited awaited = {w->pool, (int)s - 1, NULL, &f->actx, NULL};
            /* Never EDEADLK: a join child cannot be on its joiner's chain. */
            (void)pl_wait_event(&f->done, &awaited);
            /* The thief built actx before the event's release. */
            return join_result(ctx, &f->actx, &f->cb, f->code, rb);
        }
        /* Work b's subtree left above our frame (spawned into a group it
         * did not wait for): our join does not depend on it, so it runs
         * aside, where it cannot hold us up by blocking (worker.h); then
         * look again. */
        if (pl_job_awaited(j, &f->actx) || !pl_run_aside(w, j))
            pl_run_nested(w, j); /* no fiber to be had: the old way */
        j = pl_deque_pop(&w->deque);
    }
}

/* pl_stack_low, measured at our frame rather than at
 * __builtin_frame_address(0), which would cost plait_join a frame pointer
 * (a register, and its push and pop). f lies below the frame address: the
 * test is, if anything, earlier. */
static inline bool frame_low(const struct pl_join_frame *f)
{
    return pl_unlikely((uintptr_t)f < pl_stack_limit);
}

/* b, inline, under its context cb, which it leaves current (the caller
 * puts ctx back: join_slow first thing, the fast path after a). b is a
 * call, and so is every plait_join nested in it: when the stack runs low,
 * the rest of the recursion continues on a fresh one (frame_low: from
 * join_unpushed, measured a small frame above its own, within the
 * reserve's margin). */
static inline __attribute__((always_inline)) int run_b(struct pl_worker *w, struct pl_join_frame *f,
                                                       plait_fn b, void *arg_b)
{
    w->current = &f->cb;
    return pl_likely(!frame_low(f)) ? b(&f->cb, arg_b)
                                    : pl_call_on_fresh_stack(w, b, &f->cb, arg_b);
}

/* The deque could not grow to hold a: both run here, in order. */
static __attribute__((noinline, cold)) int join_unpushed(struct pl_worker *w, struct plait_ctx *ctx,
                                                         struct pl_join_frame *f, plait_fn b,
                                                         void *arg_b)
{
    return join_slow(w, ctx, f, &f->job, run_b(w, f, b, arg_b));
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
    struct pl_join_frame f;
    f.job.run = run_stolen;
    f.job.ctx = ctx;
    f.job.owner = &f.actx;
    f.fn = a;
    f.arg = arg_a;
    f.cb = (struct plait_ctx){.parent = ctx, .epoch_ok = epoch};
    /* pl_ctx_init_child_of's record, with task and pool copied together
     * (adjacent: one 16-byte load and store where the compiler would make
     * two of each). */
    _Static_assert(offsetof(struct plait_ctx, pool) ==
                       offsetof(struct plait_ctx, task) + sizeof ctx->task,
                   "task and pool adjacent");
    memcpy(&f.cb.task, &ctx->task, sizeof ctx->task + sizeof ctx->pool);
    /* stolen, code, done: zero, which is what pl_event_init makes of done
     * (should it ever write anything else, call it here). Not atomic
     * stores (as in pl_ctx_init_child_of): the push's release publishes
     * them, and one wide store writes all three. */
    memset(&f.stolen, 0,
           offsetof(struct pl_join_frame, actx) - offsetof(struct pl_join_frame, stolen));

    if (pl_unlikely(pl_deque_push(&w->deque, &f.job) != 0))
        return join_unpushed(w, ctx, &f, b, arg_b);
    pl_lot_notify_local(&w->pool->lot);

    /* cb ends after a (fast path), or first thing in join_slow, and there
     * again after an a that then runs in it (run_a_in; an end hands on
     * only what is still registered, so a second one passes a's groups
     * alone). */
    int rb = run_b(w, &f, b, arg_b);

    /* One pop: whatever it returns is either our frame or work that must
     * not be dropped, so join_slow takes it over. w->current stays cb
     * until a is done: a runs in it (join_slow puts ctx back first). */
    struct pl_job *j = pl_deque_pop(&w->deque);
    if (pl_unlikely(j != &f.job || (rb != 0) | (f.cb.message != NULL)))
        return join_slow(w, ctx, &f, j, rb);
    /* a inline in cb (the frame's comment). f.fn and f.arg, not a and
     * arg_a: the frame escaped to the deque, so they are loaded after b
     * either way, and a and arg_a need no callee-saved registers. */
    int ra = ECANCELED;
    if (pl_likely(!pl_ctx_cancelled(&f.cb)))
        ra = f.fn(&f.cb, f.arg);
    w->current = ctx;
    pl_ctx_end(&f.cb);
    if (pl_likely(ra == 0) && pl_likely(f.cb.message == NULL) && !pl_ctx_cancelled(ctx))
        return 0;
    return join_result(ctx, &f.cb, NULL, ra, 0);
}
