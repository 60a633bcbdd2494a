/*
 * ctx — what a running task can ask of its context: cancellation checks,
 * failure messages, results, cancellable sleeps. What cancellation means
 * is cancel.h's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "cancel.h"
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

int plait_fail(plait_ctx *ctx, int code, const char *fmt, ...)
{
    if (ctx == NULL || fmt == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *s = format_message(fmt, ap);
    va_end(ap);
    /* Out of memory: the task still fails with code, without a message. */
    pl_free(ctx->message);
    ctx->message = s;
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
    uint64_t now = pl_now_ns();
    uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
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
