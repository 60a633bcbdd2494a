/*
 * ctx — what a running task can ask of its context: cancellation checks,
 * failure messages, results, cancellable sleeps; and the machinery that
 * cancels a context.
 *
 * Cancellation is a flag on each context plus one on each group, so a
 * check walks up the join chain (join children point to their parent
 * context, which outlives them) and ends at the task's group. To keep the
 * common check at one load, every cancellation in the process bumps
 * pl_cancel_epoch, and a context remembers the epoch at which it last
 * walked and found nothing: while the epoch has not moved, nothing can
 * have been cancelled.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "core.h"
#include "futex.h"

/* Starts at 1 so that a fresh context (epoch_ok 0) walks once. */
_Atomic uint32_t pl_cancel_epoch = 1;
/* Threads inside plait_sleep; they sleep on pl_cancel_epoch. */
static _Atomic uint32_t sleepers;

PL_TLS struct pl_worker *pl_tls_worker;

bool pl_ctx_cancelled_slow(const struct plait_ctx *c, bool seq_cst)
{
    memory_order mo = seq_cst ? memory_order_seq_cst : memory_order_relaxed;
    for (const struct plait_ctx *x = c; x != NULL; x = x->parent) {
        if (atomic_load_explicit(&x->cancelled, mo))
            return true;
        if (x->parent == NULL && x->task != NULL && x->task->group != NULL &&
            (atomic_load_explicit(&x->task->group->state, mo) & PL_G_CANCELLED))
            return true;
    }
    return false;
}

void pl_ctx_init_root(struct plait_ctx *c, struct plait_task *t, struct plait_pool *pool)
{
    c->parent = NULL;
    c->task = t;
    c->pool = pool;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->epoch_ok, 0);
    atomic_init(&c->nchildren, 0);
    c->message = NULL;
}

void pl_cancel_announce(void)
{
    /* seq_cst: the canceller's side of the handshake with plait_sleep
     * (flag set, then epoch bumped, then sleepers read; see plait_sleep). */
    atomic_fetch_add_explicit(&pl_cancel_epoch, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&sleepers, memory_order_seq_cst) != 0)
        pl_futex_wake(&pl_cancel_epoch, INT_MAX);
}

void pl_ctx_cancel(struct plait_ctx *c)
{
    /* seq_cst: ordered before the epoch bump and the sleepers read. */
    if (atomic_exchange_explicit(&c->cancelled, 1, memory_order_seq_cst))
        return;
    pl_cancel_announce();
    struct plait_task *root = c->task;
    /* Always walk the scope, under its lock: group creation registers and
     * checks our flag under the same lock (group.c), so no group created
     * under c can miss this cancellation. Cancels are rare; creations are
     * not, and take no extra atomic for it. */
    if (root != NULL)
        pl_scope_cancel_under(pl_task_scope(root), c);
}

/*
 * A group's registration points into its creator's scope, which lives in
 * the creator task's group (or the pool), and may be freed once the
 * creator task ends and that group is waited and destroyed. A thread that
 * destroys the nested group while running the creator task is safe (the
 * task cannot end meanwhile); any other thread takes this lock, and so
 * does the creator's end when it detaches groups: so the other thread
 * either finds the group detached, or locks a scope that the creator task,
 * still not past its end, keeps alive.
 */
static pthread_mutex_t detach_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread held the lock would leave it held forever
 * in the child, whose new pools may need it. */
static void detach_lock_reset_in_child(void)
{
    pthread_mutex_init(&detach_lock, NULL);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, detach_lock_reset_in_child);
}

void pl_fork_prepare_once(void)
{
    pthread_once(&atfork_once, atfork_register);
}

void pl_detach_lock(void)
{
    pthread_mutex_lock(&detach_lock);
}

void pl_detach_unlock(void)
{
    pthread_mutex_unlock(&detach_lock);
}

void pl_ctx_end_slow(struct plait_ctx *c)
{
    struct pl_scope *s = pl_task_scope(c->task);
    bool root = c->parent == NULL;
    if (root)
        pl_detach_lock();
    pl_spin_lock(&s->lock);
    for (struct plait_group *g = s->children, *next; g != NULL; g = next) {
        next = g->sibling_next;
        if (g->creator != c)
            continue;
        if (c->parent != NULL) {
            /* A join child's groups now belong to the enclosing context. */
            g->creator = c->parent;
            pl_count_locked(&c->parent->nchildren, 1);
        } else {
            /* The task is over: the group no longer follows its fate. */
            pl_scope_unlink(s, g);
            g->creator = NULL;
        }
    }
    atomic_store_explicit(&c->nchildren, 0, memory_order_relaxed);
    pl_spin_unlock(&s->lock);
    if (root)
        pl_detach_unlock();
}

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
        pl_lot_notify(&w->pool->lot, true, PL_WAKE_ANY);
    /* seq_cst: the sleeper's side of the handshake with pl_cancel_announce:
     * announce, read the epoch, read the flags (seq_cst), sleep on the
     * epoch. A canceller that read sleepers == 0 set its flag before our
     * read of it; one that saw us bumps the epoch, which either precedes
     * our read of it (then the flag is visible too) or makes the futex wait
     * return at once. */
    atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
    int r;
    for (;;) {
        uint32_t e = atomic_load_explicit(&pl_cancel_epoch, memory_order_seq_cst);
        if (pl_ctx_cancelled_slow(ctx, true)) {
            r = ECANCELED;
            break;
        }
        if (pl_now_ns() >= deadline) {
            r = 0;
            break;
        }
        pl_futex_wait(&pl_cancel_epoch, e, deadline == UINT64_MAX ? 0 : deadline);
    }
    atomic_fetch_sub_explicit(&sleepers, 1, memory_order_relaxed);
    return r;
}

plait_ctx *plait_current(void)
{
    struct pl_worker *w = pl_tls_worker;
    return w != NULL ? w->current : NULL;
}

plait_pool *plait_ctx_pool(const plait_ctx *ctx)
{
    return ctx != NULL ? ctx->pool : NULL;
}
