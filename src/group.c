/*
 * group — task groups: the pending count and its wait, cancellation and
 * its propagation to nested groups, the error array, deadlines.
 *
 * The pending count starts at one, the wait bias, which the first wait
 * removes. It therefore reaches zero exactly once: when a wait has begun
 * and every task has finished. Whoever brings it to zero (the last task, or
 * the wait itself when all tasks were done) sets the done event, and no
 * task touches the group after that.
 *
 * Nesting: a group created while a task runs is registered in the scope of
 * that task (its group's scope, or the pool's for lone tasks) together with
 * the context that created it. Cancelling a group cancels every group in
 * its scope, recursively; cancelling one context (a task, or a join child)
 * cancels the groups whose creator lies under it. Locks are taken parent
 * scope first, then child: never the other way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "core.h"

#define PL_GROUP_CACHE_MAX 1024

void pl_scope_init(struct pl_scope *s)
{
    pl_spin_init(&s->lock);
    s->children = NULL;
}

void pl_scope_destroy(struct pl_scope *s)
{
    (void)s;
}

struct pl_scope *pl_task_scope(struct plait_task *t)
{
    return t->group != NULL ? &t->group->scope : &t->ctx.pool->lone_scope;
}

static bool ctx_under(const struct plait_ctx *c, const struct plait_ctx *top)
{
    for (; c != NULL; c = c->parent)
        if (c == top)
            return true;
    return false;
}

void pl_scope_unlink(struct pl_scope *s, struct plait_group *g)
{
    if (g->sibling_prev != NULL)
        g->sibling_prev->sibling_next = g->sibling_next;
    else
        s->children = g->sibling_next;
    if (g->sibling_next != NULL)
        g->sibling_next->sibling_prev = g->sibling_prev;
    g->sibling_prev = g->sibling_next = NULL;
    g->parent_scope = NULL;
}

void pl_scope_cancel_under(struct pl_scope *s, struct plait_ctx *ctx)
{
    pl_spin_lock(&s->lock);
    for (struct plait_group *g = s->children; g != NULL; g = g->sibling_next)
        if (ctx == NULL || ctx_under(g->creator, ctx))
            pl_group_cancel(g, 0);
    pl_spin_unlock(&s->lock);
}

void pl_group_cancel(struct plait_group *g, uint32_t why)
{
    /* seq_cst: the flag must precede the epoch bump and the sleepers read
     * in pl_cancel_announce (see plait_sleep). A CAS, so that the reason
     * (TIMEDOUT) is recorded only by the cancellation that takes effect. */
    uint32_t prev = atomic_load_explicit(&g->state, memory_order_relaxed);
    do {
        if (prev & PL_G_CANCELLED)
            return;
    } while (!atomic_compare_exchange_weak_explicit(&g->state, &prev, prev | PL_G_CANCELLED | why,
                                                    memory_order_seq_cst, memory_order_relaxed));
    pl_cancel_announce();
    pl_scope_cancel_under(&g->scope, NULL);
}

void pl_group_record_error(struct plait_group *g, int code, char *message, bool owns_message,
                           uint64_t id)
{
    char *msg = message;
    if (msg != NULL && !owns_message) {
        size_t n = strlen(message) + 1;
        msg = pl_malloc(n);
        if (msg != NULL)
            memcpy(msg, message, n);
    }
    pl_spin_lock(&g->scope.lock);
    if (g->nerrors == g->errors_cap) {
        size_t cap = g->errors_cap ? g->errors_cap * 2 : 4;
        plait_error *e = pl_realloc(g->errors, cap * sizeof *e);
        if (e != NULL) {
            g->errors = e;
            g->errors_cap = cap;
        }
    }
    if (g->nerrors < g->errors_cap) {
        g->errors[g->nerrors++] = (plait_error){.code = code, .message = msg, .task_id = id};
    } else {
        /* Out of memory: the code still decides the wait's result. */
        g->errors_dropped++;
        pl_free(msg);
    }
    if (g->first_error == 0)
        g->first_error = code;
    pl_spin_unlock(&g->scope.lock);
    /* relaxed: FAILED is read under the lock by the wait. */
    atomic_fetch_or_explicit(&g->state, PL_G_FAILED, memory_order_relaxed);
    if (!(g->flags & PLAIT_GROUP_COLLECT_ALL))
        pl_group_cancel(g, 0);
}

int plait_group_create(plait_group **out, plait_pool *pool, unsigned flags)
{
    if (out == NULL || pool == NULL || (flags & ~(unsigned)PLAIT_GROUP_COLLECT_ALL))
        return EINVAL;
    struct pl_worker *w = pl_tls_worker;
    bool foreign = w == NULL || w->pool != pool;
    if (foreign && atomic_load_explicit(&pool->shutting_down, memory_order_acquire))
        return ESHUTDOWN;
    struct plait_group *g = w != NULL ? pl_cache_get(&w->group_cache) : NULL;
    if (g == NULL && (g = pl_malloc_aligned(sizeof *g)) == NULL)
        return ENOMEM;
    /* Field by field: a memset of the record costs more (rep stos). */
    atomic_init(&g->pending, 1); /* the wait bias */
    atomic_init(&g->state, 0);
    atomic_init(&g->wait_result, PL_NO_RESULT);
    g->flags = flags;
    g->pool = pool;
    pl_event_init(&g->done);
    pl_scope_init(&g->scope);
    g->errors = NULL;
    g->nerrors = g->errors_cap = g->errors_dropped = 0;
    g->first_error = 0;
    g->parent_scope = NULL;
    g->creator = NULL;
    g->creator_task = NULL;
    g->sibling_prev = g->sibling_next = NULL;
    g->deadline = 0;
    g->heap_index = SIZE_MAX;
    atomic_init(&g->had_deadline, false);
    atomic_init(&g->fed_from_outside, false);

    struct plait_ctx *cur = w != NULL ? w->current : NULL;
    if (cur != NULL) {
        struct pl_scope *s = pl_task_scope(cur->task);
        pl_spin_lock(&s->lock);
        g->parent_scope = s;
        g->creator = cur;
        g->creator_task = cur->task;
        g->sibling_next = s->children;
        if (s->children != NULL)
            s->children->sibling_prev = g;
        s->children = g;
        pl_count_locked(&cur->nchildren, 1);
        /* Under the scope lock, which every cancellation that could reach
         * this group takes after setting its flag (pl_ctx_cancel and
         * pl_group_cancel walk this scope): either it walks after us and
         * finds the group, or it set its flag before our lock and the
         * relaxed walk sees it. */
        if (pl_ctx_cancelled_slow(cur, false))
            atomic_fetch_or_explicit(&g->state, PL_G_CANCELLED, memory_order_relaxed);
        pl_spin_unlock(&s->lock);
    }
    *out = g;
    return 0;
}

/* Drops the wait bias once; the one who brings the count to "no task,
 * wait begun" sets done. */
static void begin_wait(struct plait_group *g)
{
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    do {
        if (p & PL_PENDING_WAITING)
            return; /* another waiter dropped it */
        /* acq_rel: when this makes the count final, it acquires every
         * task's release (they decremented before us). */
    } while (!atomic_compare_exchange_weak_explicit(&g->pending, &p, p - 1 + PL_PENDING_WAITING,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (p == 1)
        pl_event_set(&g->done);
}

int plait_group_wait(plait_group *g)
{
    if (g == NULL)
        return EINVAL;
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    struct plait_ctx *cur = plait_current();
    if (cur != NULL && cur->task->group == g)
        return EDEADLK;
    begin_wait(g);
    struct pl_wait_scope scope = {g->pool, -1, &g->fed_from_outside};
    pl_wait_event(&g->done, &scope);

    /* Every error was recorded before its task's pending decrement, so the
     * done event (acquired above) makes first_error final. The first
     * waiter to close the group fixes the result; any others read it. */
    uint32_t s = atomic_load_explicit(&g->state, memory_order_acquire);
    int r = g->first_error != 0     ? g->first_error
            : (s & PL_G_TIMEDOUT)   ? ETIMEDOUT
            : (s & PL_G_CANCELLED) ? ECANCELED
                                    : 0;
    /* acquire+release: plait_group_errors acquires CLOSED to read the
     * array. seq_cst: against plait_group_set_timeout (timer.c), which
     * sets had_deadline, then reads CLOSED: either it sees CLOSED and
     * refuses, or pl_timer_remove below sees had_deadline. */
    if (!(atomic_fetch_or_explicit(&g->state, PL_G_CLOSED, memory_order_seq_cst) & PL_G_CLOSED)) {
        /* release: publishes the result to the other waiters. */
        atomic_store_explicit(&g->wait_result, r, memory_order_release);
    } else {
        /* acquire: pairs with the closer's release store. */
        while ((r = atomic_load_explicit(&g->wait_result, memory_order_acquire)) == PL_NO_RESULT)
            pl_cpu_relax();
    }
    pl_timer_remove(g->pool, g);
    return r;
}

int plait_group_cancel(plait_group *g)
{
    if (g == NULL)
        return EINVAL;
    pl_group_cancel(g, 0);
    return 0;
}

int plait_group_set_timeout(plait_group *g, uint64_t ns)
{
    if (g == NULL)
        return EINVAL;
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    uint64_t now = pl_now_ns();
    uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    return pl_timer_set(g->pool, g, deadline);
}

size_t plait_group_pending(const plait_group *g)
{
    if (g == NULL)
        return 0;
    /* A snapshot; until the first wait, the count holds the bias. */
    size_t p = atomic_load_explicit(&g->pending, memory_order_acquire);
    return (p & PL_PENDING_WAITING) ? p - PL_PENDING_WAITING : p - 1;
}

size_t plait_group_errors(const plait_group *g, const plait_error **errors)
{
    if (g == NULL || !(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)) {
        if (errors != NULL)
            *errors = NULL;
        return 0;
    }
    if (errors != NULL)
        *errors = g->nerrors ? g->errors : NULL;
    return g->nerrors;
}

/* Takes g out of its creator's scope, if it is still there (ctx.c on
 * pl_detach_lock). */
static void unregister(struct plait_group *g, const struct plait_ctx *cur)
{
    if (g->creator_task == NULL)
        return; /* created outside any task */
    bool creators_thread = cur != NULL && cur->task == g->creator_task;
    if (!creators_thread)
        pl_detach_lock();
    struct pl_scope *ps = g->parent_scope;
    if (ps != NULL) {
        pl_spin_lock(&ps->lock);
        /* Another thread leaves the creator's count alone: so the
         * creator's end takes the slow path and its locks, and cannot
         * finish (letting the scope's owner be freed) before our unlock. */
        if (creators_thread)
            pl_count_locked(&g->creator->nchildren, -1);
        pl_scope_unlink(ps, g);
        pl_spin_unlock(&ps->lock);
    }
    if (!creators_thread)
        pl_detach_unlock();
}

void plait_group_destroy(plait_group *g)
{
    if (g == NULL)
        return;
    struct plait_ctx *cur = plait_current();
    if (cur != NULL && cur->task->group == g)
        return; /* from one of its own tasks: it cannot be freed yet (EDEADLK) */
    if (!(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)) {
        pl_group_cancel(g, 0);
        plait_group_wait(g);
    }
    pl_timer_remove(g->pool, g);
    unregister(g, cur);
    for (size_t i = 0; i < g->nerrors; i++)
        pl_free((char *)g->errors[i].message);
    pl_free(g->errors);
    pl_scope_destroy(&g->scope);
    struct pl_worker *w = pl_tls_worker;
    if (w == NULL || !pl_cache_put(&w->group_cache, g, PL_GROUP_CACHE_MAX))
        pl_free(g);
}
