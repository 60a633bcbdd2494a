/*
 * timer — a binary min-heap of groups by deadline; the thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) until the earliest deadline or a
 * change.
 *
 * Lock order: the timer lock, then the locks of cancellation (cancel.h).
 * The cancellation runs under the timer lock, so a group cannot be freed
 * while it is being cancelled: plait_group_destroy removes it from the
 * heap first.
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
#include "cancel.h"

struct pl_timer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool stop;
    struct plait_group **heap;
    size_t n, cap;
};

static bool earlier(struct plait_group *a, struct plait_group *b)
{
    return a->deadline < b->deadline;
}

static void heap_swap(struct pl_timer *t, size_t i, size_t j)
{
    struct plait_group *x = t->heap[i];
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

static void heap_remove(struct pl_timer *t, struct plait_group *g)
{
    size_t i = g->heap_index;
    g->heap_index = SIZE_MAX;
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
    while (!t->stop) {
        if (t->n == 0) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        uint64_t now = pl_now_ns();
        struct plait_group *g = t->heap[0];
        if (g->deadline <= now) {
            heap_remove(t, g);
            pl_group_time_out(g);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(g->deadline / 1000000000u),
                              .tv_nsec = (long)(g->deadline % 1000000000u)};
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
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

/* Starts the pool's timer thread once; ESHUTDOWN after pl_timer_stop. */
static int timer_start(struct plait_pool *pool)
{
    int err = 0;
    pthread_mutex_lock(&pool->timer_start_lock);
    if (pool->timer_stopped) {
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
         * timer (it also reads it after had_deadline, set after this). */
        atomic_store_explicit(&pool->timer, t, memory_order_release);
out:
    pthread_mutex_unlock(&pool->timer_start_lock);
    return err;
}

int pl_timer_set(struct plait_pool *pool, struct plait_group *g, uint64_t deadline)
{
    int err = timer_start(pool);
    if (err != 0)
        return err;
    /* relaxed: timer_start read or wrote it under the start lock. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_relaxed);
    /* seq_cst store, then the seq_cst CLOSED check: the store-buffering
     * pair with plait_group_wait (CLOSED, then had_deadline). A deadline
     * set while a wait closes the group is either refused here or removed
     * by the wait, never left in the heap for the timer thread to find
     * after the group is freed. */
    atomic_store_explicit(&g->had_deadline, true, memory_order_seq_cst);
    pthread_mutex_lock(&t->lock);
    if (atomic_load_explicit(&g->state, memory_order_seq_cst) & PL_G_CLOSED) {
        pthread_mutex_unlock(&t->lock);
        return EINVAL;
    }
    if (t->stop) { /* the pool is being destroyed: nothing would fire it */
        pthread_mutex_unlock(&t->lock);
        return ESHUTDOWN;
    }
    if (g->heap_index != SIZE_MAX) {
        g->deadline = deadline;
        sift_down(t, g->heap_index);
        sift_up(t, g->heap_index);
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 16;
            struct plait_group **h = pl_realloc(t->heap, cap * sizeof *h);
            if (h == NULL) {
                pthread_mutex_unlock(&t->lock);
                return ENOMEM;
            }
            t->heap = h;
            t->cap = cap;
        }
        g->deadline = deadline;
        g->heap_index = t->n;
        t->heap[t->n++] = g;
        sift_up(t, g->heap_index);
    }
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void pl_timer_remove(struct plait_pool *pool, struct plait_group *g)
{
    /* seq_cst: pl_timer_set's comment. Spares groups without deadlines
     * the locks. */
    if (!atomic_load_explicit(&g->had_deadline, memory_order_seq_cst))
        return;
    /* acquire: pairs with timer_start's release store. Once set it stays
     * until the pool's record goes, which g's reference prevents. */
    struct pl_timer *t = atomic_load_explicit(&pool->timer, memory_order_acquire);
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    if (g->heap_index != SIZE_MAX)
        heap_remove(t, g);
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
    /* The deadlines left can no longer fire: forget them, so that the
     * heap can go now. Their groups are alive (each removes itself under
     * this lock before it is freed) and find heap_index SIZE_MAX. */
    for (size_t i = 0; i < t->n; i++)
        t->heap[i]->heap_index = SIZE_MAX;
    t->n = 0;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    /* No thread reads the heap now: pl_timer_set refuses (stop) and
     * pl_timer_remove finds no group in it, both under the lock. */
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
