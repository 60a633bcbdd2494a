/*
 * cache — a worker's private free list of fixed-size records (tasks,
 * groups), so that the spawn path makes no malloc in steady state.
 * Owner-thread only: no atomics. Records are fungible between workers (all
 * of one kind have one size), so a record goes to the cache of whichever
 * worker frees it, up to a bound, and back to malloc past it.
 */
#ifndef PLAIT_CACHE_H
#define PLAIT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct pl_cache {
    void *head; /* records linked through their first word */
    unsigned n;
};

static inline void *pl_cache_get(struct pl_cache *c)
{
    void *p = c->head;
    if (p != NULL) {
        c->head = *(void **)p;
        c->n--;
    }
    return p;
}

static inline bool pl_cache_put(struct pl_cache *c, void *p, unsigned max)
{
    if (c->n >= max)
        return false;
    *(void **)p = c->head;
    c->head = p;
    c->n++;
    return true;
}

/* Frees every cached record. */
void pl_cache_drain(struct pl_cache *c);

#endif
