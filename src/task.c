/*
 * task — task records, spawning, running, finishing, and task handles.
 *
 * Records come from the running worker's free list; a record finished or
 * released elsewhere goes to that thread's list (records are fungible) or
 * back to malloc. A task spawned with plait_go has no handle: one owner,
 * no reference count traffic, no completion event.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "core.h"

#define PL_TASK_CACHE_MAX 4096

/* Ids are process-wide; 0 means "not asked for yet". */
static _Atomic uint64_t next_id = 1;

uint64_t pl_task_id(struct plait_task *t)
{
    /* relaxed: the id is a value, not a publication. */
    uint64_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
    if (id != 0)
        return id;
    uint64_t fresh = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    if (atomic_compare_exchange_strong_explicit(&t->id, &id, fresh, memory_order_relaxed,
                                                memory_order_relaxed))
        return fresh;
    return id; /* another thread named it first */
}

/*
 * Records flow from producers to the workers that finish them. A foreign
 * producer (a thread outside the pool) would otherwise malloc every record
 * that a worker then frees, and glibc serialises such cross-thread frees on
 * the arena lock (seen as futex traffic in the profile). So a worker whose
 * cache is full pushes the record on the pool's return stack, and a foreign
 * thread takes the whole stack at once into its own cache. A worker whose
 * cache is empty takes it too, before it mallocs: otherwise a worker that
 * only spawns and one that only runs would pile records up there without
 * bound. Push with a CAS and take-all with an exchange: no ABA is
 * possible, because nothing is ever popped singly from the shared stack.
 * Every cache keeps at most PL_TASK_CACHE_MAX records; the rest are freed.
 */
static PL_TLS struct pl_cache foreign_cache;
static pthread_key_t foreign_cache_key;
static pthread_once_t foreign_cache_once = PTHREAD_ONCE_INIT;

static void foreign_cache_free(void *unused)
{
    (void)unused;
    pl_cache_drain(&foreign_cache);
}

/* The main thread usually leaves by exit(), which runs no thread-specific
 * destructors: free its cache then, so that nothing is left for valgrind
 * to report as still reachable. */
__attribute__((destructor)) static void foreign_cache_free_at_exit(void)
{
    pl_cache_drain(&foreign_cache);
}

static void foreign_cache_key_init(void)
{
    pthread_key_create(&foreign_cache_key, foreign_cache_free);
}

/* A foreign thread's cache is freed when the thread exits: register it
 * before its first record goes in. */
static PL_TLS bool foreign_cache_registered;

static void foreign_cache_register(void)
{
    if (pl_likely(foreign_cache_registered))
        return;
    pthread_once(&foreign_cache_once, foreign_cache_key_init);
    pthread_setspecific(foreign_cache_key, &foreign_cache);
    foreign_cache_registered = true;
}

static void returned_push(struct plait_pool *pool, struct plait_task *t)
{
    /* relaxed: a starting guess for the CAS. */
    void *head = atomic_load_explicit(&pool->returned, memory_order_relaxed);
    do
        *(void **)t = head;
    /* release: the link (and the record's last writes) are seen by the
     * thread that takes the stack (acquire). */
    while (!atomic_compare_exchange_weak_explicit(&pool->returned, &head, t, memory_order_release,
                                                  memory_order_relaxed));
}

void pl_task_drain_returned(struct plait_pool *pool)
{
    void *p = atomic_exchange_explicit(&pool->returned, NULL, memory_order_acquire);
    while (p != NULL) {
        void *next = *(void **)p;
        pl_free(p);
        p = next;
    }
}

/* Moves the pool's returned records into c (up to the cap), or frees them. */
static void take_returned(struct plait_pool *pool, struct pl_cache *c)
{
    /* relaxed load first: skip the exchange when there is nothing. */
    if (atomic_load_explicit(&pool->returned, memory_order_relaxed) == NULL)
        return;
    /* acquire: pairs with the workers' release pushes. */
    void *list = atomic_exchange_explicit(&pool->returned, NULL, memory_order_acquire);
    while (list != NULL) {
        void *next = *(void **)list;
        if (!pl_cache_put(c, list, PL_TASK_CACHE_MAX))
            pl_free(list);
        list = next;
    }
}

static struct plait_task *record_alloc(struct plait_pool *pool)
{
    struct pl_worker *w = pl_tls_worker;
    struct pl_cache *c;
    if (w != NULL) {
        c = &w->task_cache; /* records are fungible, also across pools */
    } else {
        c = &foreign_cache;
        foreign_cache_register();
    }
    struct plait_task *t = pl_cache_get(c);
    if (t != NULL)
        return t;
    take_returned(pool, c);
    if ((t = pl_cache_get(c)) != NULL)
        return t;
    return pl_malloc_aligned(sizeof(struct plait_task));
}

static void record_free(struct plait_task *t)
{
    if (pl_unlikely(t->ctx.message != NULL))
        pl_free(t->ctx.message);
    struct pl_worker *w = pl_tls_worker;
    if (w != NULL) {
        if (!pl_cache_put(&w->task_cache, t, PL_TASK_CACHE_MAX))
            returned_push(w->pool, t);
    } else {
        foreign_cache_register();
        if (!pl_cache_put(&foreign_cache, t, PL_TASK_CACHE_MAX))
            pl_free(t);
    }
}

static void task_unref(struct plait_task *t)
{
    if (!(t->flags & PL_TASK_HANDLE)) {
        record_free(t);
        return;
    }
    /* acq_rel: the last owner sees everything the others did. */
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        record_free(t);
}

struct plait_task *pl_task_new(struct plait_pool *pool, struct plait_group *g, plait_fn fn,
                               void *arg, uint32_t flags, int *err)
{
    struct plait_task *t = record_alloc(pool);
    if (t == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    t->qlink = NULL;
    t->job.kind = PL_JOB_TASK;
    t->flags = flags;
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    pl_ctx_init_root(&t->ctx, t, pool);
    pl_event_init(&t->done);
    atomic_init(&t->refs, (flags & PL_TASK_HANDLE) ? 2 : 1);
    atomic_init(&t->cancelling, 0);
    t->code = 0;
    t->result = NULL;
    atomic_init(&t->id, 0);
    return t;
}

static void count_outcome(struct plait_task *t, int code)
{
    if (t->flags & PL_TASK_INTERNAL)
        return;
    struct pl_worker *w = pl_tls_worker;
    struct plait_pool *pool = t->ctx.pool;
    if (w != NULL && w->pool == pool) {
        pl_count(code == 0 ? &w->n_succeeded : code == ECANCELED ? &w->n_cancelled : &w->n_failed);
    } else {
        _Atomic uint64_t *c = code == 0           ? &pool->x_succeeded
                              : code == ECANCELED ? &pool->x_cancelled
                                                  : &pool->x_failed;
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    }
}

/* Everything that happens once a task is over, run or not. After the
 * group's pending count is decremented, the group is not touched. */
static void task_finish(struct plait_task *t, int code)
{
    struct plait_group *g = t->group;
    bool handle = t->flags & PL_TASK_HANDLE;
    count_outcome(t, code);
    if (code != 0 && code != ECANCELED && g != NULL) {
        pl_group_record_error(g, code, t->ctx.message, !handle, pl_task_id(t));
        if (!handle)
            t->ctx.message = NULL; /* moved into the group */
    }
    t->code = code;
    if (handle) {
        pl_event_set(&t->done); /* release: code, result, message */
        /* A plait_task_cancel that saw the task unfinished may still walk
         * the scope of our group, which the decrement below lets its
         * waiter destroy: let it finish first. seq_cst: the other half of
         * the store-buffering pair in plait_task_cancel (with the set's
         * seq_cst RMW). */
        while (atomic_load_explicit(&t->cancelling, memory_order_seq_cst) != 0)
            pl_cpu_relax();
    }
    /* acq_rel: release our work to the waiter; the last decrement acquires
     * the others'. */
    if (g != NULL &&
        atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) == PL_PENDING_WAITING + 1)
        pl_event_set(&g->done);
    task_unref(t);
}

void pl_task_run(struct pl_worker *w, struct plait_task *t)
{
    int code;
    /* relaxed: a task cancelled just after this check runs and sees the
     * flag at its next checkpoint. */
    if (atomic_load_explicit(&t->ctx.cancelled, memory_order_relaxed) ||
        (t->group != NULL &&
         (atomic_load_explicit(&t->group->state, memory_order_relaxed) & PL_G_CANCELLED))) {
        code = ECANCELED;
    } else {
        struct plait_ctx *saved = w->current;
        t->below = saved;
        w->current = &t->ctx;
        code = t->fn(&t->ctx, t->arg);
        w->current = saved;
        pl_ctx_end(&t->ctx);
    }
    task_finish(t, code);
}

/* Counts a new task in g, unless g is over: pending is exactly
 * PL_PENDING_WAITING once the wait began and every task finished, and the
 * done event may already be set. A CAS, not an add and an undo: with the
 * undo, a second late spawner could see PL_PENDING_WAITING + 1, take it for
 * a live group and spawn into a finished one. */
static inline bool pending_add(struct plait_group *g)
{
    /* relaxed: the increment reaches whoever decrements through the push
     * (release) and pop/steal (acquire) of the task itself. */
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    do {
        if (p == PL_PENDING_WAITING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&g->pending, &p, p + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* Shared by plait_spawn and plait_go. */
static int spawn(struct plait_group *g, plait_fn fn, void *arg, uint32_t flags,
                 struct plait_task **out)
{
    if (g == NULL || fn == NULL)
        return EINVAL;
    uint32_t state = atomic_load_explicit(&g->state, memory_order_acquire);
    if (state & PL_G_CLOSED)
        return EINVAL;
    struct plait_pool *pool = g->pool;
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    int err = 0;
    if (!local && (err = pl_foreign_begin(pool)) != 0)
        return err;
    struct plait_task *t;
    if (state & PL_G_CANCELLED) {
        /* Spawning late (rule 6): no task for plait_go; for plait_spawn a
         * task that is already over, cancelled, without running. */
        if (!(flags & PL_TASK_HANDLE)) {
            err = ECANCELED;
            goto out;
        }
        t = pl_task_new(pool, NULL, fn, arg, flags, &err);
        if (t == NULL)
            goto out;
        count_outcome(t, ECANCELED);
        t->code = ECANCELED;
        /* Only the handle refers to it: no scheduler reference. */
        atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
        pl_event_set(&t->done);
        *out = t;
        goto out;
    }
    t = pl_task_new(pool, g, fn, arg, flags, &err);
    if (t == NULL)
        goto out;
    if (!pending_add(g)) {
        /* The group was already over (its wait began and every task had
         * finished): this is a spawn after the wait. */
        t->flags &= ~(uint32_t)PL_TASK_HANDLE;
        record_free(t);
        err = EINVAL;
        goto out;
    }
    if (out != NULL)
        *out = t;
    err = pl_pool_push_task(pool, t);
out:
    if (!local)
        pl_foreign_end(pool);
    return err;
}

plait_task *plait_spawn(plait_group *group, plait_fn fn, void *arg)
{
    plait_task *t = NULL;
    int err = spawn(group, fn, arg, PL_TASK_HANDLE, &t);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    return t;
}

int plait_go(plait_group *group, plait_fn fn, void *arg)
{
    return spawn(group, fn, arg, 0, NULL);
}

struct plait_task *pl_submit(struct plait_pool *pool, plait_fn fn, void *arg, uint32_t flags,
                             int *err)
{
    struct pl_worker *w = pl_tls_worker;
    bool local = w != NULL && w->pool == pool;
    if (!local && (*err = pl_foreign_begin(pool)) != 0)
        return NULL;
    struct plait_task *t = pl_task_new(pool, NULL, fn, arg, flags | PL_TASK_HANDLE, err);
    if (t != NULL)
        *err = pl_pool_push_task(pool, t);
    if (!local)
        pl_foreign_end(pool);
    return t;
}

plait_task *plait_submit(plait_pool *pool, plait_fn fn, void *arg)
{
    if (pool == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    int err = 0;
    struct plait_task *t = pl_submit(pool, fn, arg, 0, &err);
    if (t == NULL)
        errno = err;
    return t;
}

bool plait_task_done(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done);
}

int plait_task_cancel(plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    /* seq_cst RMW, then seq_cst load of done: a store-buffering pair with
     * task_finish (set done, then read cancelling). Either we see the task
     * done and leave it alone, or task_finish waits for us before its
     * group can go away. */
    atomic_fetch_add_explicit(&t->cancelling, 1, memory_order_seq_cst);
    if (!(atomic_load_explicit(&t->done.state, memory_order_seq_cst) & PL_EV_DONE))
        pl_ctx_cancel(&t->ctx);
    /* release: our walk happens-before the finisher's exit from its spin. */
    atomic_fetch_sub_explicit(&t->cancelling, 1, memory_order_release);
    return 0;
}

int plait_task_wait(plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    struct plait_ctx *cur = plait_current();
    if (cur != NULL && cur->task == t)
        return EDEADLK;
    /* The task itself may still be in the injection queue. */
    struct pl_wait_scope scope = {t->ctx.pool, -1,
                                  (t->flags & PL_TASK_INJECTED) ? &pl_always : NULL};
    pl_wait_event(&t->done, &scope);
    return t->code;
}

int plait_task_status(const plait_task *t)
{
    if (t == NULL)
        return EINVAL;
    return pl_event_done(&t->done) ? t->code : EAGAIN;
}

void *plait_task_result(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done) ? t->result : NULL;
}

const char *plait_task_message(const plait_task *t)
{
    return t != NULL && pl_event_done(&t->done) ? t->ctx.message : NULL;
}

uint64_t plait_task_id(const plait_task *t)
{
    return t != NULL ? pl_task_id((struct plait_task *)t) : 0;
}

void plait_task_release(plait_task *t)
{
    if (t != NULL)
        task_unref(t);
}
