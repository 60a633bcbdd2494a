/*
 * stress_deque — torture of the Chase-Lev deque (src/deque.h) on its own:
 * one owner pushing and popping at the bottom, N thieves stealing from the
 * top, from a tiny initial capacity so that the buffer grows (and old
 * buffers are retired) while thieves are reading it. Every item pushed
 * must be taken exactly once, by a pop or by a steal.
 *
 * Phases (each a pass/fail unit), for thieves = 1..3:
 *   - mixed: random bursts of pushes and pops (LIFO owner, FIFO thieves);
 *   - drain: push a block, then pop to empty while the thieves steal, so
 *     that owner and thieves keep racing for the last item (t == b);
 *   - grow:  capacity 2, push long runs without popping (repeated growth
 *     under contention).
 * Plus a single-threaded check that a failed growth (fault injection)
 * returns ENOMEM and loses nothing.
 *
 * Options: --ops N (items per phase), --seed S.
 */
#include "stress_common.h"

#include "alloc.h"
#include "deque.h"

static struct pl_deque dq;
static _Atomic unsigned char *taken;
static uint64_t nitems;
static _Atomic int owner_done;
static _Atomic uint64_t n_steals, n_lost, n_pops;

static void take(void *item, const char *who)
{
    uintptr_t v = (uintptr_t)item;
    CHECK(v >= 1 && v <= nitems, "%s took a bogus item %#lx", who, (unsigned long)v);
    if (v < 1 || v > nitems)
        return;
    unsigned char prev = atomic_fetch_add_explicit(&taken[v - 1], 1, memory_order_relaxed);
    CHECK(prev == 0, "item %lu taken twice (second by %s)", (unsigned long)v, who);
}

static void *thief_main(void *arg)
{
    (void)arg;
    uint64_t steals = 0, lost = 0;
    for (;;) {
        void *item;
        enum pl_steal_result r = pl_deque_steal(&dq, &item);
        if (r == PL_STEAL_OK) {
            take(item, "thief");
            steals++;
        } else if (r == PL_STEAL_LOST) {
            lost++;
        } else if (atomic_load(&owner_done) && pl_deque_size_hint(&dq) <= 0) {
            break;
        }
    }
    atomic_fetch_add(&n_steals, steals);
    atomic_fetch_add(&n_lost, lost);
    return NULL;
}

enum mode { MIXED, DRAIN, GROW };

static void owner_pop(void)
{
    void *item = pl_deque_pop(&dq);
    if (item != NULL) {
        take(item, "owner");
        atomic_fetch_add_explicit(&n_pops, 1, memory_order_relaxed);
    }
}

static void run_phase(enum mode m, unsigned thieves, uint64_t n, uint64_t seed)
{
    st_unit_begin();
    nitems = n;
    taken = calloc(n, 1);
    size_t cap = m == GROW ? 2 : 2 + (size_t)(seed % 16);
    CHECK(pl_deque_init(&dq, cap) == 0, "init");
    atomic_store(&owner_done, 0);
    uint64_t st0 = atomic_load(&n_steals), po0 = atomic_load(&n_pops);
    pthread_t th[3];
    for (unsigned i = 0; i < thieves; i++)
        pthread_create(&th[i], NULL, thief_main, NULL);

    uint64_t s = seed, next = 1;
    while (next <= n) {
        uint64_t burst;
        switch (m) {
        case MIXED:
            burst = 1 + st_below(&s, 64);
            for (uint64_t i = 0; i < burst && next <= n; i++)
                CHECK(pl_deque_push(&dq, (void *)(uintptr_t)next++) == 0, "push");
            for (uint64_t i = 0, k = st_below(&s, 64); i < k; i++)
                owner_pop();
            break;
        case DRAIN:
            burst = 1 + st_below(&s, 8);
            for (uint64_t i = 0; i < burst && next <= n; i++)
                CHECK(pl_deque_push(&dq, (void *)(uintptr_t)next++) == 0, "push");
            while (pl_deque_size_hint(&dq) > 0)
                owner_pop();
            break;
        case GROW:
            burst = 1000 + st_below(&s, 20000);
            for (uint64_t i = 0; i < burst && next <= n; i++)
                CHECK(pl_deque_push(&dq, (void *)(uintptr_t)next++) == 0, "push");
            for (uint64_t i = 0, k = st_below(&s, 200); i < k; i++)
                owner_pop();
            break;
        }
    }
    /* The owner drains what is left, racing the thieves to the end. */
    for (;;) {
        void *item = pl_deque_pop(&dq);
        if (item == NULL)
            break;
        take(item, "owner");
        atomic_fetch_add(&n_pops, 1);
    }
    atomic_store(&owner_done, 1);
    for (unsigned i = 0; i < thieves; i++)
        pthread_join(th[i], NULL);
    uint64_t missing = 0, twice = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned v = atomic_load(&taken[i]);
        missing += v == 0;
        twice += v > 1;
    }
    uint64_t steals = atomic_load(&n_steals) - st0, pops = atomic_load(&n_pops) - po0;
    CHECK(missing == 0, "%" PRIu64 " items never taken", missing);
    CHECK(twice == 0, "%" PRIu64 " items taken more than once", twice);
    CHECK(steals + pops == n, "steals %" PRIu64 " + pops %" PRIu64 " != %" PRIu64, steals, pops, n);
    pl_deque_destroy(&dq);
    free(taken);
    bool ok = st_unit_end();
    static const char *names[] = {"mixed", "drain", "grow"};
    printf("  %-5s thieves %u: %" PRIu64 " items, %" PRIu64 " stolen, %" PRIu64 " popped: %s\n",
           names[m], thieves, n, steals, pops, ok ? "ok" : "FAILED");
    fflush(stdout);
}

/* A growth that cannot allocate: ENOMEM, nothing pushed, nothing lost. */
static void growth_failure(void)
{
    st_unit_begin();
    struct pl_deque d;
    CHECK(pl_deque_init(&d, 2) == 0, "init");
    uintptr_t v = 1;
    CHECK(pl_deque_push(&d, (void *)v++) == 0, "push 1");
    CHECK(pl_deque_push(&d, (void *)v++) == 0, "push 2");
    pl_fault_set(1); /* the growth's allocation fails */
    CHECK(pl_deque_push(&d, (void *)v) == ENOMEM, "push into a full deque without memory");
    pl_fault_set(0);
    CHECK(pl_deque_push(&d, (void *)v++) == 0, "push after the fault");
    void *item;
    CHECK(pl_deque_steal(&d, &item) == PL_STEAL_OK && item == (void *)1, "steal oldest");
    CHECK(pl_deque_pop(&d) == (void *)3, "pop newest");
    CHECK(pl_deque_pop(&d) == (void *)2, "pop next");
    CHECK(pl_deque_pop(&d) == NULL, "empty");
    CHECK(pl_deque_steal(&d, &item) == PL_STEAL_EMPTY, "steal from empty");
    pl_deque_destroy(&d);
    printf("  growth failure: %s\n", st_unit_end() ? "ok" : "FAILED");
}

int main(int argc, char **argv)
{
    uint64_t ops = st_arg_u64(argc, argv, "--ops", st_scaled(2000000, 50000));
    uint64_t seed =
        st_arg(argc, argv, "--seed") ? st_arg_u64(argc, argv, "--seed", 0) : st_seed_from_time();
    printf("stress_deque: seed 0x%016" PRIx64 ", %" PRIu64 " items per phase, scale %.3g\n", seed,
           ops, st_scale());
    uint64_t t0 = st_now_ns();
    growth_failure();
    uint64_t total = 0;
    for (unsigned thieves = 1; thieves <= 3; thieves++) {
        run_phase(MIXED, thieves, ops, st_mix(seed + thieves));
        run_phase(DRAIN, thieves, ops / 4, st_mix(seed + 10 + thieves));
        run_phase(GROW, thieves, ops, st_mix(seed + 20 + thieves));
        total += ops + ops / 4 + ops;
    }
    printf("items %" PRIu64 " (each pushed once, taken once): %" PRIu64 " stolen, %" PRIu64
           " popped, %" PRIu64 " lost races, in %.1f s\n",
           total, atomic_load(&n_steals), atomic_load(&n_pops), atomic_load(&n_lost),
           (double)(st_now_ns() - t0) / 1e9);
    return st_finish("stress_deque");
}
