/*
 * shield — plait_shield: a region of a task that outside cancellation does
 * not reach (Trio's CancelScope(shield=True)). The region is a call, like
 * a join child, so that it cannot be left unbalanced: fn runs here, under
 * a context of its own whose walk ends at itself (cancel.h, Shields).
 */
#include <errno.h>

#include "alloc.h"
#include "cancel.h"
#include "worker.h"

int plait_shield(plait_ctx *ctx, plait_fn fn, void *arg)
{
    struct pl_worker *w = pl_tls_worker;
    if (ctx == NULL || fn == NULL || w == NULL || w->current != ctx)
        return EINVAL; /* from a foreign thread, or not the running context */
    struct plait_ctx s;
    pl_ctx_init_shield(&s, ctx);
    w->current = &s;
    /* A call, like plait_join's b: on a fresh stack when this one runs
     * low, so that shields nested in deep recursion cannot overflow it. */
    int r = pl_likely(!pl_stack_low()) ? fn(&s, arg) : pl_call_on_fresh_stack(w, fn, &s, arg);
    w->current = ctx;
    /* Its groups pass to ctx, and are cancelled if ctx is by now: before
     * the caller can see ctx cancelled again (cancel.h, Shields). */
    pl_ctx_end(&s);
    if (s.message != NULL) {
        /* As a join child's: the message travels with a failure's code,
         * and replaces ctx's; with 0 or ECANCELED it is dropped. */
        if (r != 0 && r != ECANCELED) {
            pl_free(ctx->message);
            ctx->message = s.message;
        } else {
            pl_free(s.message);
        }
    }
    return r;
}
