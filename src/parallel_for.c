/*
 * parallel_for — a group created, filled by the group loop (group_for.h)
 * and waited for. Its chunks are plait's own tasks (not in the pool's
 * stats, as the join frames they replace were not). The first error's
 * message and item pass to the calling task, as a join passes a child's
 * on.
 */
#include <errno.h>

#include "alloc.h"
#include "group_for.h"
#include "worker.h"

int plait_parallel_for(plait_pool *pool, size_t begin, size_t end, size_t grain, plait_range_fn fn,
                       void *arg)
{
    if (pool == NULL || fn == NULL || begin > end)
        return EINVAL;
    if (begin == end)
        return 0;
    plait_group *g;
    int r = plait_group_create(&g, pool, 0);
    if (r != 0)
        return r;
    /* On our stack: the wait below outlives every chunk task. */
    struct pl_loop loop = {.fn = fn,
                           .arg = arg,
                           .grain = pl_loop_grain(pool, end - begin, grain),
                           .task_flags = PL_TASK_INTERNAL,
                           .on_heap = false};
    atomic_init(&loop.refs, 0);
    int rs = pl_loop_spawn(g, &loop, begin, end);
    r = plait_group_wait(g);
    if (r == 0 || (rs != 0 && rs != ECANCELED))
        r = rs != 0 ? rs : r;
    const plait_error *errs;
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && plait_group_errors(g, &errs) != 0 && errs[0].code == r) {
        if (errs[0].message != NULL) {
            char *m = pl_strdup(errs[0].message);
            if (m != NULL) {
                pl_free(cur->message);
                cur->message = m;
            }
        }
        /* relaxed: as plait_fail_item. */
        atomic_store_explicit(&cur->task->fail_item, errs[0].item, memory_order_relaxed);
    }
    plait_group_destroy(g);
    return r;
}
