/*
 * timer — a binary min-heap of timed entries by time; the thread sleeps on
 * a condition variable (CLOCK_MONOTONIC) until the earliest entry or a
 * change, and runs each due entry's action under its lock.
 *
 * Lock order: the timer lock, then the locks the actions take (timer.h).
 * An action runs under the timer lock, so an entry's owner cannot be freed
 * while its action runs: the owner removes the entry first (a group's
 * destroy, after its wait; a delayed task's canceller).
 *
 * Teardown: pool destroy stops the thread (pl_timer_stop) and empties the
 * heap, but the timer record itself lives as long as the pool's record,
 * which every group holds a reference to (pool.h): so a group that
 * outlives its pool, or whose wait returns while the pool is destroyed,
 * still finds pool->timer and its lock, and its removal (a no-op by then)
 * needs nothing that destroy freed.
 */
#include <errno.h>
#include <stdlib.h>

#include "timer.h"

#include "alloc.h"
#include "debug.h"

struct pl_timer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool stop;
    bool drained; /* pl_timer_drain ran: entries with a drain action are refused */
    struct pl_timed **heap;
    size_t n, cap;
};

/* The timer whose lock this thread holds while it runs actions (fire on
 * the timer thread, drain on destroy's): an action that removes an entry
 * (a cancellation's wake-up of a delayed task, run by a deadline's
 * cancellation) must not take that lock again. */
static PL_TLS struct pl_timer *acting;

static bool earlier(struct pl_timed *a, struct pl_timed *b)
{
    return a->at < b->at;
}

static void heap_swap(struct pl_timer *t, size_t i, size_t j)
{
    struct pl_timed *x = t->heap[i];
    t->heap[i] = t->heap[j];
    t->heap[j] = x;
    t->heap[i]->heap_index = i;
    t->heap[j]->heap_index = j;
}

static void sift_up(struct pl_timer *t, size_t i)
{
    while (i > 0 && earlier(t->heap[i], t->heap[(i - 1) / 2])) {
        heap_swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct pl_timer *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && earlier(t->heap[l], t->heap[m]))
            m = l;
        if (r < t->n && earlier(t->heap[r], t->heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

static void heap_remove(struct pl_timer *t, struct pl_timed *e)
{
    size_t i = e->heap_index;
    e->heap_index = SIZE_MAX;
    t->n--;
    if (i == t->n)
        return;
    t->heap[i] = t->heap[t->n];
    t->heap[i]->heap_index = i;
    sift_down(t, i);
    sift_up(t, i);
}

static void *timer_main(void *arg)
{
    struct pl_timer *t = arg;
    pthread_mutex_lock(&t->lock);
    acting = t; /* every action below runs under the lock */
    while (!t->stop) {
        if (t->n == 0) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        uint64_t now = pl_now_ns();
        struct pl_timed *e = t->heap[0];
        if (e->at <= now) {
            heap_remove(t, e);
            e->fire(e); /* may free e, and remove other entries */
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(e->at / 1000000000u),
                              .tv_nsec = (long)(e->at % 1000000000u)};
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
    acting = NULL;
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static void timer_free(struct pl_timer *t)
{
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    pl_free(t->heap);
    pl_free(t);
}

/* Starts the pool's timer thread once; ESHUTDOWN after pl_timer_stop, and
 * for an entry with a drain action (drainable) after pl_timer_drain. */
static int timer_start(struct plait_pool *pool, bool drainable)
{
    int err = 0;
    pthread_mutex_lock(&pool->timer_start_lock);
    if (pool->timer_stopped || (drainable && pool->timer_drained)) {
        err = ESHUTDOWN;
        goto out;
    }
    /* relaxed: written only under the lock we hold. */
    if (atomic_load_explicit(&pool->timer, memory_order_relaxed) != NULL)
        goto out;
    struct pl_timer *t = pl_calloc(1, sizeof *t);
    if (t == NULL) {
        err = ENOMEM;
        goto out;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->lock, NULL);
    if ((err = pl_fault_thread_next()) == 0)
        err = pthread_create(&t->thread, NULL, timer_main, t);
    if (err != 0)
        timer_free(t);
    else
        /* release: pl_timer_remove's acquire load sees an initialised
         * timer (it also reads it after its owner's flag, group.c). */
        atomic_store_explicit(&pool->timer, t, memory_order_release);
out:
    pthread_mutex_unlock(&pool->timer_start_lock);
    return err;
}

int pl_timer_set(struct plait_pool *pool, struct pl_timed *e, uint64_t at,
                 bool (*admit)(struct pl_timed *e))
{
    int err = timer_start(pool, e->drain != NULL);
    if (err != 0)
        return err;
    /* relaxed: timer_start read or wrote it under the start lock. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_relaxed);
    pthread_mutex_lock(&t->lock);
    /* Stopped: the pool is being destroyed and nothing would fire it.
     * Drained: destroy took the entries that must not be lost; one set now
     * would be (the drain's comment). */
    if (t->stop || (e->drain != NULL && t->drained)) {
        err = ESHUTDOWN;
        goto out;
    }
    if (e->heap_index == SIZE_MAX && t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        struct pl_timed **h = pl_realloc(t->heap, cap * sizeof *h);
        if (h == NULL) {
            err = ENOMEM;
            goto out;
        }
        t->heap = h;
        t->cap = cap;
    }
    /* Last, so that nothing fails after what admit did. */
    if (admit != NULL && !admit(e)) {
        err = EINVAL;
        goto out;
    }
    e->at = at;
    if (e->heap_index != SIZE_MAX) {
        sift_down(t, e->heap_index);
        sift_up(t, e->heap_index);
    } else {
        e->heap_index = t->n;
        t->heap[t->n++] = e;
        sift_up(t, e->heap_index);
    }
    pthread_cond_signal(&t->cond);
out:
    pthread_mutex_unlock(&t->lock);
    return err;
}

void pl_timer_remove(struct plait_pool *pool, struct pl_timed *e)
{
    /* acquire: pairs with timer_start's release store. Once set it stays
     * until the pool's record goes, which e's owner's reference prevents. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_acquire);
    if (t == NULL)
        return;
    bool held = acting == t; /* an action of this timer: the lock is ours */
    if (!held)
        pthread_mutex_lock(&t->lock);
    if (e->heap_index != SIZE_MAX)
        heap_remove(t, e);
    if (!held)
        pthread_mutex_unlock(&t->lock);
}

void pl_timer_drain(struct plait_pool *pool)
{
    pthread_mutex_lock(&pool->timer_start_lock);
    pool->timer_drained = true; /* a timer started after this refuses them */
    /* relaxed: written only under the lock we hold. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_relaxed);
    pthread_mutex_unlock(&pool->timer_start_lock);
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    /* Under the lock: a pl_timer_set either put its entry in before this
     * (taken below) or sees drained after it (refused). */
    t->drained = true;
    /* Partition: the entries that stay (deadlines) to the front, rebuilt
     * into a heap; the drained ones after them, out of the heap before any
     * action runs (an action may remove entries, and then finds them out). */
    size_t k = 0, n = t->n;
    for (size_t i = 0; i < n; i++) {
        struct pl_timed *e = t->heap[i];
        if (e->drain == NULL) {
            t->heap[i] = t->heap[k];
            t->heap[k] = e;
            k++;
        }
    }
    t->n = k;
    for (size_t i = 0; i < n; i++)
        t->heap[i]->heap_index = i < k ? i : SIZE_MAX;
    for (size_t i = k / 2; i-- > 0;)
        sift_down(t, i);
    acting = t;
    /* Past t->n, untouched by any action: none calls pl_timer_set. */
    for (size_t i = k; i < n; i++)
        t->heap[i]->drain(t->heap[i]);
    acting = NULL;
    pthread_mutex_unlock(&t->lock);
}

void pl_timer_stop(struct plait_pool *pool)
{
    pthread_mutex_lock(&pool->timer_start_lock);
    pool->timer_stopped = true; /* no timer starts after this */
    /* relaxed: written only under the lock we hold. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_relaxed);
    pthread_mutex_unlock(&pool->timer_start_lock);
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    /* The entries left can no longer fire: forget them, so that the heap
     * can go now. Their owners are alive (each removes its entry under
     * this lock before it is freed) and find heap_index SIZE_MAX. The
     * entries that must not be lost were drained, and refused since. */
    for (size_t i = 0; i < t->n; i++) {
        PLAIT_ASSERT(t->heap[i]->drain == NULL);
        t->heap[i]->heap_index = SIZE_MAX;
    }
    t->n = 0;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    /* No thread reads the heap now: pl_timer_set refuses (stop) and
     * pl_timer_remove finds no entry in it, both under the lock. */
    pthread_mutex_lock(&t->lock);
    pl_free(t->heap);
    t->heap = NULL;
    t->cap = 0;
    pthread_mutex_unlock(&t->lock);
}

void pl_timer_free(struct plait_pool *pool)
{
    /* relaxed: the pool's last reference is gone (acquired by its
     * release RMW): nothing else looks. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_relaxed);
    if (t != NULL)
        timer_free(t); /* the pool's record is freed right after */
}
