/*
 * group_for — plait_group_for and plait_fail_item (group_for.h).
 */
#include "group_for.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "cancel.h"
#include "ctx.h"
#include "task.h"
#include "worker.h"

static void loop_unref(void *p)
{
    struct pl_loop *l = p;
    /* acq_rel: the last owner sees the others' reads done. */
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        pl_free(l);
}

static int chunk_run(plait_ctx *ctx, void *p);

/* One more chunk task of l for [b, e). */
static int chunk_spawn(struct plait_group *g, struct pl_loop *l, size_t b, size_t e)
{
    if (!l->on_heap)
        return pl_spawn_range(g, chunk_run, l, l->task_flags, NULL, b, e);
    /* relaxed: we hold a reference, so the count cannot reach 0 meanwhile;
     * the new owner's decrement is ordered by the task's publication. */
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return pl_spawn_range(g, chunk_run, l, l->task_flags, loop_unref, b, e);
}

/* fn over [b, e) in chunks of at most grain, on this thread. */
static int chunks_inline(plait_ctx *ctx, struct pl_loop *l, struct plait_group *g, size_t b,
                         size_t e)
{
    while (b < e) {
        size_t n = e - b < l->grain ? e - b : l->grain;
        if (pl_ctx_cancelled(ctx))
            return ECANCELED;
        int r = l->fn(ctx, b, b + n, l->arg);
        if (r != 0)
            return r;
        /* relaxed: a count for plait_group_get_info. */
        atomic_fetch_add_explicit(&g->items_done, n, memory_order_relaxed);
        b += n;
    }
    return 0;
}

static int chunk_run(plait_ctx *ctx, void *p)
{
    struct pl_loop *l = p;
    struct plait_task *t = ctx->task;
    struct plait_group *g = t->group;
    size_t b = t->range_begin, e = t->range_end;
    while (e - b > l->grain) {
        size_t mid = b + (e - b) / 2;
        int r = chunk_spawn(g, l, mid, e);
        if (r == ECANCELED)
            return ECANCELED; /* the group is cancelled: nothing more starts */
        if (r != 0) {
            /* No task for the right half (out of memory): do it here. */
            int rl = chunks_inline(ctx, l, g, b, mid);
            int rr = rl == 0 ? chunks_inline(ctx, l, g, mid, e) : 0;
            return rl != 0 ? rl : rr;
        }
        e = mid;
    }
    /* As a join's child: a chunk not started once its loop is cancelled. */
    if (pl_ctx_cancelled(ctx))
        return ECANCELED;
    int r = l->fn(ctx, b, e, l->arg);
    if (r == 0)
        /* relaxed: a count for plait_group_get_info. */
        atomic_fetch_add_explicit(&g->items_done, e - b, memory_order_relaxed);
    return r;
}

size_t pl_loop_grain(const struct plait_pool *pool, size_t n, size_t grain)
{
    if (grain != 0)
        return grain;
    grain = n / (8 * (size_t)pool->nworkers);
    return grain != 0 ? grain : 1;
}

int pl_loop_spawn(struct plait_group *g, struct pl_loop *loop, size_t begin, size_t end)
{
    /* relaxed: counts for plait_group_get_info. Before the spawn, so that
     * items_done never passes items_total. */
    atomic_fetch_add_explicit(&g->items_total, end - begin, memory_order_relaxed);
    int r = loop->on_heap
                ? pl_spawn_range(g, chunk_run, loop, loop->task_flags, loop_unref, begin, end)
                : pl_spawn_range(g, chunk_run, loop, loop->task_flags, NULL, begin, end);
    if (r != 0)
        /* relaxed: as above; takes back the count of a loop that never
         * started (no chunk ran, so items_done holds none of it). */
        atomic_fetch_sub_explicit(&g->items_total, end - begin, memory_order_relaxed);
    return r;
}

int plait_group_for(plait_group *g, size_t begin, size_t end, size_t grain, plait_range_fn fn,
                    void *arg)
{
    if (g == NULL || fn == NULL || begin > end)
        return EINVAL;
    /* acquire: as spawn's check of CLOSED (task.c), which the spawn below
     * repeats; here only an early refusal of a misuse (a loop after the
     * wait), so relaxed would do: kept as spawn's, a plain load on x86
     * and an ldar on arm64 once per loop. */
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    if (begin == end)
        return 0;
    struct pl_loop *l = pl_malloc(sizeof *l);
    if (l == NULL)
        return ENOMEM;
    l->fn = fn;
    l->arg = arg;
    l->grain = pl_loop_grain(g->pool, end - begin, grain);
    l->task_flags = 0;
    l->on_heap = true;
    /* init: the root chunk's; a failed spawn drops it. l is unseen until
     * the spawn publishes it (the push's release). */
    atomic_init(&l->refs, 1);
    return pl_loop_spawn(g, l, begin, end);
}

int plait_fail_item(plait_ctx *ctx, size_t item, int code, const char *fmt, ...)
{
    if (ctx == NULL)
        return code;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        pl_ctx_set_message(ctx, fmt, ap); /* plait_fail's */
        va_end(ap);
    }
    if (ctx->task != NULL)
        /* relaxed: read by the task's end on this thread, or after the
         * join that ends a child running elsewhere. */
        atomic_store_explicit(&ctx->task->fail_item, item, memory_order_relaxed);
    return code;
}
