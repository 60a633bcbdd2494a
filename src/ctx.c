/*
 * ctx — what a running task can ask of its context: cancellation checks,
 * failure messages, results, cancellable sleeps. What cancellation means
 * is cancel.h's.
 */
#include "ctx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "cancel.h"
#include "debug.h"
#include "worker.h"

bool plait_cancelled(const plait_ctx *ctx)
{
    return ctx != NULL && pl_ctx_cancelled(ctx);
}

static char *format_message(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = pl_malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void pl_ctx_set_message(struct plait_ctx *c, const char *fmt, va_list ap)
{
    char *s = format_message(fmt, ap);
    pl_free(c->message);
    c->message = s;
}

int plait_fail(plait_ctx *ctx, int code, const char *fmt, ...)
{
    if (ctx == NULL || fmt == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    pl_ctx_set_message(ctx, fmt, ap);
    va_end(ap);
    return code;
}

void plait_set_result(plait_ctx *ctx, void *result)
{
    if (ctx != NULL && ctx->task != NULL)
        ctx->task->result = result;
}

int plait_sleep(plait_ctx *ctx, uint64_t ns)
{
    if (ctx == NULL)
        return EINVAL;
    uint64_t deadline = pl_deadline_in(ns);
    struct pl_worker *w = pl_tls_worker;
    /* Work this worker queued must not wait for our sleep: make sure a
     * sibling is awake to steal it. */
    if (w != NULL && pl_deque_size_hint(&w->deque) > 0)
        pl_lot_notify(&w->pool->lot, PL_WAKE_ANY);
    return pl_sleep_until(ctx, deadline);
}

plait_ctx *plait_current(void)
{
    return pl_current_ctx();
}

plait_pool *plait_ctx_pool(const plait_ctx *ctx)
{
    return ctx != NULL ? ctx->pool : NULL;
}

int plait_cancel_cause(const plait_ctx *ctx, int *code)
{
    if (code != NULL)
        *code = 0;
    /* The one-load check first: the common answer costs no walk. */
    if (ctx == NULL || !pl_ctx_cancelled(ctx))
        return PLAIT_CANCEL_NONE;
    /* The same walk as pl_ctx_walk, innermost first, ordered after the
     * flags by the epoch's acquire in pl_ctx_cancelled. acquire: pairs
     * with each flag's seq_cst store (cancel.h, step 3), which comes after
     * the canceller's store of cancel_code (join.c). */
    const struct plait_ctx *x = ctx;
    for (;;) {
        uint32_t f = atomic_load_explicit(&x->cancelled, memory_order_acquire);
        if (f != 0) {
            /* Never a shield's mark: pl_ctx_cancelled's walk stopped at the
             * first one, so a flag comes before it (flags stay set). */
            PLAIT_ASSERT(f & PL_CTX_CANCELLED);
            if (x->parent == NULL)
                return PLAIT_CANCEL_CALL; /* plait_task_cancel of the task */
            /* A join child's flag is set only by its failing sibling.
             * relaxed: ordered by the flag's acquire above. */
            if (code != NULL)
                *code = atomic_load_explicit(&x->cancel_code, memory_order_relaxed);
            return PLAIT_CANCEL_FAILURE;
        }
        if (x->parent == NULL)
            break;
        x = x->parent;
    }
    struct plait_group *g = x->task != NULL ? x->task->group : NULL;
    /* acquire: as for the flags; the reason is stored before the cancel
     * (pl_cancel_reason), the timeout bit with it. */
    uint32_t s = g != NULL ? atomic_load_explicit(&g->state, memory_order_acquire) : 0;
    if (!(s & PL_G_CANCELLED))
        return PLAIT_CANCEL_NONE; /* not reachable: pl_ctx_cancelled saw a flag */
    if (s & PL_G_TIMEDOUT)
        return PLAIT_CANCEL_DEADLINE;
    /* relaxed: set before the flag we acquired (pl_group_cancel_for). */
    uint32_t r = atomic_load_explicit(&g->cancel_reason, memory_order_relaxed);
    if (r == PLAIT_CANCEL_NONE)
        return PLAIT_CANCEL_ENCLOSING; /* cancelled through its creator */
    if (r == PLAIT_CANCEL_FAILURE && code != NULL) {
        /* first_error is written under errors_lock before the cancel. */
        pl_spin_lock(&g->errors_lock);
        *code = g->first_error;
        pl_spin_unlock(&g->errors_lock);
    }
    return (int)r;
}
