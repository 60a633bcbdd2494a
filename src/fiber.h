/*
 * fiber — stacks of plait's own, and switching between them on one thread.
 *
 * Two uses (worker.c says when): a job that a wait must not run on its own
 * stack runs on a fiber that can be suspended (pl_fiber_yield) and resumed
 * later, so that a job that blocks never buries the wait under it; and
 * nested work that would overflow the stack it is on continues on a fresh
 * one (a call that returns, as a segmented stack would grow).
 *
 * Promise: a fiber runs on the thread that started it, and only there: it
 * is resumed only by that thread (thread-locals stay right), each switch
 * saves and restores the callee-saved state (swapcontext), and the
 * sanitizers are told about every switch (ASan's fiber annotations, TSan's
 * fiber objects, switched with synchronisation: everything a thread does
 * on its fibers is one sequence, as it is without them).
 * pl_stack_limit is the lowest frame address at which the calling thread
 * may still start nested work on its current stack (0: no limit known).
 */
#ifndef PLAIT_FIBER_H
#define PLAIT_FIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Every job may count on this much stack: nested work is moved to a fresh
 * stack before the current one has less (a quarter of a smaller stack). */
#define PL_STACK_RESERVE ((size_t)128 << 10)
/* A fiber's stack (plus a guard page), reserved, committed as touched. */
#define PL_FIBER_STACK ((size_t)1 << 20)

extern PL_TLS uintptr_t pl_stack_limit;

/* Whether the caller's stack is too low for more nested work. */
static inline bool pl_stack_low(void)
{
    return pl_unlikely((uintptr_t)__builtin_frame_address(0) < pl_stack_limit);
}

/* Records the calling thread's own stack (a worker's, at its start). */
void pl_stack_thread_init(void);

struct pl_fiber;

/* A fiber with a stack of its own, or NULL (out of memory). */
struct pl_fiber *pl_fiber_create(void);
void pl_fiber_destroy(struct pl_fiber *f);

/* Runs fn(arg) on f (which must not be running or suspended); returns when
 * fn returns (pl_fiber_done is then true and f may be started again) or
 * when fn, or anything it calls on that thread, calls pl_fiber_yield(f). */
void pl_fiber_start(struct pl_fiber *f, void (*fn)(void *), void *arg);
/* Continues a yielded f where it yielded; returns as pl_fiber_start. */
void pl_fiber_resume(struct pl_fiber *f);
/* From inside f (on its stack, or on a stack started from it): back to
 * whoever started or last resumed f. Returns when f is resumed. */
void pl_fiber_yield(struct pl_fiber *f);
bool pl_fiber_done(const struct pl_fiber *f);

#endif
