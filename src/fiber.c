/*
 * fiber — swapcontext with the sanitizers told (fiber.h).
 *
 * swapcontext costs two sigprocmask system calls; plait switches only on
 * rare paths (a wait that has declined work for a long time, a stack that
 * runs low), where a microsecond does not matter, and it works on every
 * architecture glibc supports.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fiber.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "alloc.h"
#include "debug.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PL_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define PL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(PL_ASAN)
#define PL_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(PL_TSAN)
#define PL_TSAN 1
#endif
#ifdef PL_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
/* Valgrind tells stacks apart by their registration: without it, a
 * switch onto a fiber's stack reads as accesses to another thread's. The
 * client requests cost a few instructions outside valgrind. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PL_VALGRIND 1
#endif
#endif
#ifdef PL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* One side of a switch: the registers, and the stack it was on. */
struct pl_side {
    ucontext_t uc;
    char *lo;
    size_t size;
    void *fake; /* ASan's fake stack of this side while away */
    void *tsan; /* TSan's fiber object of this side */
};

struct pl_fiber {
    struct pl_side self;
    struct pl_side *back; /* whoever started or last resumed us */
    char *map;            /* guard page, then the stack */
    size_t map_size;
    unsigned vg_id; /* valgrind's stack registration */
    void (*fn)(void *);
    void *arg;
    bool done;
};

PL_TLS uintptr_t pl_stack_limit;
/* The stack the thread runs on now. */
static PL_TLS char *cur_lo;
static PL_TLS size_t cur_size;
static PL_TLS struct pl_fiber *starting;

static void set_current(char *lo, size_t size)
{
    cur_lo = lo;
    cur_size = size;
    size_t reserve = size / 4 < PL_STACK_RESERVE ? size / 4 : PL_STACK_RESERVE;
    pl_stack_limit = lo != NULL ? (uintptr_t)lo + reserve : 0;
}

void pl_stack_thread_init(void)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &lo, &size) != 0)
            lo = NULL, size = 0;
        pthread_attr_destroy(&attr);
    }
    set_current(lo, size);
}

struct pl_fiber *pl_fiber_create(void)
{
    struct pl_fiber *f = pl_malloc(sizeof *f);
    if (f == NULL)
        return NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    f->map_size = PL_FIBER_STACK + page;
    f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED) {
        pl_free(f);
        return NULL;
    }
    /* The guard page: an overflow faults instead of writing over memory. */
    mprotect(f->map, page, PROT_NONE);
    memset(&f->self, 0, sizeof f->self);
    f->self.lo = f->map + page;
    f->self.size = PL_FIBER_STACK;
    f->done = true;
#ifdef PL_VALGRIND
    f->vg_id = VALGRIND_STACK_REGISTER(f->self.lo, f->self.lo + PL_FIBER_STACK);
#else
    f->vg_id = 0;
#endif
    return f;
}

void pl_fiber_destroy(struct pl_fiber *f)
{
    if (f == NULL)
        return;
    PLAIT_ASSERT(f->done);
#ifdef PL_VALGRIND
    VALGRIND_STACK_DEREGISTER(f->vg_id);
#endif
    munmap(f->map, f->map_size);
    pl_free(f);
}

bool pl_fiber_done(const struct pl_fiber *f)
{
    return f->done;
}

/* From side `from` (the running one) to `to`. dying: `from` never runs
 * again (its fake stack can go). Returns when someone switches back. */
static void switch_to(struct pl_side *from, struct pl_side *to, bool dying)
{
    from->lo = cur_lo;
    from->size = cur_size;
#ifdef PL_TSAN
    from->tsan = __tsan_get_current_fiber();
#endif
#ifdef PL_ASAN
    __sanitizer_start_switch_fiber(dying ? NULL : &from->fake, to->lo, to->size);
#else
    (void)dying;
#endif
#ifdef PL_TSAN
    /* flags 0: the switch synchronises, so the fibers of one thread are
     * one sequence for TSan too. */
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
    swapcontext(&from->uc, &to->uc);
    /* Back on `from`. */
#ifdef PL_ASAN
    __sanitizer_finish_switch_fiber(from->fake, NULL, NULL);
#endif
    set_current(from->lo, from->size);
}

static void trampoline(void)
{
    struct pl_fiber *f = starting;
#ifdef PL_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    set_current(f->self.lo, f->self.size);
    f->fn(f->arg);
    f->done = true;
    switch_to(&f->self, f->back, true);
    abort(); /* a finished fiber is never resumed */
}

/* The resumer's side lives on its stack for as long as f runs. */
static void enter(struct pl_fiber *f)
{
    struct pl_side here;
    /* Zeroed: ASan's swapcontext interceptor reads uc_stack of the side it
     * switches to, and a size of 0 tells it to leave that stack alone. */
    memset(&here, 0, sizeof here);
    f->back = &here;
    switch_to(&here, &f->self, false);
#ifdef PL_TSAN
    if (f->done) {
        __tsan_destroy_fiber(f->self.tsan);
        f->self.tsan = NULL;
    }
#endif
}

void pl_fiber_start(struct pl_fiber *f, void (*fn)(void *), void *arg)
{
    PLAIT_ASSERT(f->done);
    f->fn = fn;
    f->arg = arg;
    f->done = false;
    getcontext(&f->self.uc);
    f->self.uc.uc_stack.ss_sp = f->map + (f->map_size - PL_FIBER_STACK);
    f->self.uc.uc_stack.ss_size = PL_FIBER_STACK;
    f->self.uc.uc_link = NULL;
    makecontext(&f->self.uc, trampoline, 0);
    f->self.lo = f->map + (f->map_size - PL_FIBER_STACK);
    f->self.size = PL_FIBER_STACK;
    f->self.fake = NULL;
#ifdef PL_TSAN
    f->self.tsan = __tsan_create_fiber(0);
#endif
    starting = f;
    enter(f);
}

void pl_fiber_resume(struct pl_fiber *f)
{
    PLAIT_ASSERT(!f->done);
    /* Resumed, not started: ASan must not clear the live frames' shadow. */
    f->self.uc.uc_stack.ss_size = 0;
    enter(f);
}

void pl_fiber_yield(struct pl_fiber *f)
{
    PLAIT_ASSERT(!f->done);
    switch_to(&f->self, f->back, false);
}
