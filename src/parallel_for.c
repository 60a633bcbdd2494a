/*
 * parallel_for — recursive halving with plait_join down to chunks of at
 * most grain. The left half runs inline and the right half is stealable,
 * so one worker walks the range in order and thieves take the largest
 * remaining halves. The first chunk to fail records its code and, through
 * the join, cancels the halves not yet started.
 */
#include <errno.h>

#include "task.h"
#include "worker.h"

struct pf_shared {
    plait_range_fn fn;
    void *arg;
    size_t grain;
    _Atomic int first_error;
};

struct pf_range {
    struct pf_shared *sh;
    size_t begin, end;
};

static int pf_run(plait_ctx *ctx, void *arg);

static int pf_leaf(plait_ctx *ctx, struct pf_shared *sh, size_t begin, size_t end)
{
    int r = sh->fn(ctx, begin, end, sh->arg);
    if (r != 0 && r != ECANCELED) {
        int zero = 0;
        /* relaxed: a value; the caller reads it after the joins, which
         * order it. */
        atomic_compare_exchange_strong_explicit(&sh->first_error, &zero, r, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    return r;
}

static int pf_run(plait_ctx *ctx, void *arg)
{
    struct pf_range *rg = arg;
    struct pf_shared *sh = rg->sh;
    size_t begin = rg->begin, end = rg->end;
    if (end - begin <= sh->grain)
        return pf_leaf(ctx, sh, begin, end);
    size_t mid = begin + (end - begin) / 2;
    struct pf_range left = {sh, begin, mid}, right = {sh, mid, end};
    return plait_join(ctx, pf_run, &right, pf_run, &left);
}

static int pf_root(plait_ctx *ctx, void *arg)
{
    return pf_run(ctx, arg);
}

int plait_parallel_for(plait_pool *pool, size_t begin, size_t end, size_t grain,
                       plait_range_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL || begin > end)
        return EINVAL;
    if (begin == end)
        return 0;
    size_t n = end - begin;
    if (grain == 0) {
        /* About eight chunks per worker: enough for balance, few enough
         * that the splitting costs nothing next to the chunks. */
        grain = n / (8 * (size_t)pool->nworkers);
        if (grain == 0)
            grain = 1;
    }
    struct pf_shared sh = {.fn = fn, .arg = arg, .grain = grain};
    atomic_init(&sh.first_error, 0);
    struct pf_range all = {&sh, begin, end};

    int r;
    struct pl_worker *w = pl_tls_worker;
    if (w != NULL && w->pool == pool && w->current != NULL) {
        /* Inside a task of this pool: split under its context. */
        r = pf_run(w->current, &all);
    } else {
        /* Elsewhere: a root task carries the splitting. */
        struct plait_task *t = pl_submit(pool, pf_root, &all, PL_TASK_INTERNAL, &r);
        if (t == NULL)
            return r;
        r = plait_task_wait(t);
        plait_task_release(t);
    }
    int first = atomic_load_explicit(&sh.first_error, memory_order_relaxed);
    if (first != 0)
        return first;
    return r == ECANCELED ? ECANCELED : r;
}
