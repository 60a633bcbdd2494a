/*
 * group — task groups (group.h).
 */
#include "group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cancel.h"
#include "debug.h"
#include "observe.h"
#include "timer.h"
#include "worker.h"

#define PL_GROUP_CACHE_MAX 1024

void pl_group_add_error(struct plait_group *g, int code, char *message, uint64_t task_id)
{
    pl_spin_lock(&g->errors_lock);
    if (g->nerrors == g->errors_cap) {
        size_t cap = 2 * g->errors_cap;
        plait_error *e = g->errors == g->errors_inline ? pl_malloc(cap * sizeof *e)
                                                       : pl_realloc(g->errors, cap * sizeof *e);
        if (e != NULL) {
            if (g->errors == g->errors_inline)
                memcpy(e, g->errors_inline, sizeof g->errors_inline);
            g->errors = e;
            g->errors_cap = cap;
        }
    }
    if (g->nerrors < g->errors_cap) {
        g->errors[g->nerrors++] =
            (plait_error){.code = code, .message = message, .task_id = task_id};
    } else {
        pl_free(message); /* out of memory: plait.h says what is kept */
    }
    if (g->first_error == 0)
        g->first_error = code;
    pl_spin_unlock(&g->errors_lock);
    if (!(g->flags & PLAIT_GROUP_COLLECT_ALL))
        pl_group_cancel(g);
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
    pl_nested_init(&g->nested);
    pl_spin_init(&g->errors_lock);
    g->errors = g->errors_inline;
    g->nerrors = 0;
    g->errors_cap = PL_GROUP_INLINE_ERRORS;
    g->first_error = 0;
    g->registry = NULL;
    g->creator = NULL;
    g->creator_task = NULL;
    g->sibling_prev = g->sibling_next = NULL;
    g->deadline = 0;
    g->heap_index = SIZE_MAX;
    atomic_init(&g->had_deadline, false);
    atomic_init(&g->fed_from_outside, false);

    struct plait_ctx *cur = w != NULL ? w->current : NULL;
    if (cur != NULL)
        pl_nested_register(g, cur);
    pl_obs_group_created(g, cur == NULL);
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
        PLAIT_ASSERT(p >= 1); /* the bias is still there */
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
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && cur->task->group == g)
        return EDEADLK;
    begin_wait(g);
    struct pl_awaited awaited = {g->pool, -1, &g->fed_from_outside};
    pl_wait_event(&g->done, &awaited);
    /* The count is final: no task is left to touch the group. */
    PLAIT_ASSERT(atomic_load_explicit(&g->pending, memory_order_relaxed) == PL_PENDING_WAITING);

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
        pl_obs_group_closed(pl_tls_worker, g, r);
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
    pl_group_cancel(g);
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

void plait_group_destroy(plait_group *g)
{
    if (g == NULL)
        return;
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && cur->task->group == g)
        return; /* from one of its own tasks: it cannot be freed yet (EDEADLK) */
    if (!(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)) {
        pl_group_cancel(g);
        plait_group_wait(g);
    }
    PLAIT_ASSERT(atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CLOSED);
    pl_timer_remove(g->pool, g);
    pl_nested_unregister(g, cur);
    pl_obs_group_destroyed(g);
    /* Groups nested in this one were unregistered by their creators' ends
     * (every task of this group has finished). */
    PLAIT_ASSERT(g->nested.head == NULL);
    for (size_t i = 0; i < g->nerrors; i++)
        pl_free((char *)g->errors[i].message);
    if (g->errors != g->errors_inline)
        pl_free(g->errors);
    struct pl_worker *w = pl_tls_worker;
    if (w == NULL || !pl_cache_put(&w->group_cache, g, PL_GROUP_CACHE_MAX))
        pl_free(g);
}
