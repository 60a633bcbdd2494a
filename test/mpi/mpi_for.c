/*
 * Tests of plait_mpi_for (label `mpi`), run by test/mpi/mpirun.sh under
 * mpirun with 1, 2 or 3 ranks on this host:
 *
 *   mpi_for SCENARIO
 *
 * Not Criterion: its runner forks, which MPI does not survive. A failed
 * check prints the rank and line and calls MPI_Abort, so no rank hangs.
 * Cross-process handshakes (the cancellation test) go through an MPI
 * shared-memory window that the workers read and write with C11 atomics
 * (plain memory: workers never call MPI).
 */
#include <plait_mpi.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int rank, nranks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: FAIL %s:%d: %s: ", rank, __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            fflush(stderr);                                                                        \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* system-wide: comparable across ranks on one host */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static plait_pool *make_pool(unsigned threads)
{
    plait_pool *p = NULL;
    plait_pool_options o = {.threads = threads};
    CHECK(plait_pool_create(&p, &o) == 0, "pool");
    return p;
}

/* Every rank holds the same value. */
static void check_same_u64(uint64_t v, const char *what)
{
    uint64_t mn, mx;
    MPI_Allreduce(&v, &mn, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&v, &mx, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    CHECK(mn == mx, "%s differs across ranks (%llu .. %llu)", what, (unsigned long long)mn,
          (unsigned long long)mx);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211u;
    return h;
}

static uint64_t result_hash(const plait_mpi_result *r)
{
    uint64_t h = 1469598103934665603u;
    h = fnv(h, &r->status, sizeof r->status);
    for (size_t i = 0; i < r->nerrors; i++) {
        const plait_mpi_error *e = &r->errors[i];
        h = fnv(h, &e->code, sizeof e->code);
        h = fnv(h, &e->rank, sizeof e->rank);
        uint64_t item = e->item;
        h = fnv(h, &item, sizeof item);
        if (e->message)
            h = fnv(h, e->message, strlen(e->message));
    }
    return h;
}

/* ---- checksum: the same sum as one process, every item once ------------ */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

struct sum {
    _Atomic uint64_t acc;
    _Atomic uint32_t *seen; /* per item */
};

static int sum_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    struct sum *s = arg;
    uint64_t a = 0;
    for (size_t i = b; i < e; i++) {
        a += mix(i);
        if (s->seen)
            atomic_fetch_add_explicit(&s->seen[i], 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&s->acc, a, memory_order_relaxed);
    return 0;
}

static void scenario_checksum(void)
{
    enum { N = 10007 };
    plait_pool *pool = make_pool(2);
    /* The single-process run. */
    struct sum one = {0};
    CHECK(plait_parallel_for(pool, 0, N, 7, sum_body, &one) == 0, "parallel_for");
    uint64_t expect = atomic_load(&one.acc);

    size_t grains[] = {7, 1, 0, N + 5};
    for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
        struct sum s = {0};
        s.seen = calloc(N, sizeof *s.seen);
        plait_mpi_result r;
        int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, N, grains[gi], sum_body, &s, 0, &r);
        CHECK(rc == 0, "rc %d (%s)", rc, r.message ? r.message : "");
        CHECK(r.status == 0 && r.nerrors == 0, "status");
        CHECK(r.items_done == N, "items_done %llu", (unsigned long long)r.items_done);
        CHECK(r.nranks == (size_t)nranks, "nranks");
        uint64_t items = 0;
        for (size_t k = 0; k < r.nranks; k++)
            items += r.ranks[k].items;
        CHECK(items == N, "items over ranks %llu", (unsigned long long)items);
        uint64_t local = atomic_load(&s.acc), total = 0;
        MPI_Allreduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        CHECK(total == expect, "checksum %llx, one process %llx", (unsigned long long)total,
              (unsigned long long)expect);
        uint32_t *seen = malloc(N * sizeof *seen), *all = malloc(N * sizeof *all);
        for (size_t i = 0; i < N; i++)
            seen[i] = atomic_load(&s.seen[i]);
        MPI_Allreduce(seen, all, N, MPI_UINT32_T, MPI_SUM, MPI_COMM_WORLD);
        for (size_t i = 0; i < N; i++)
            CHECK(all[i] == 1, "item %zu ran %u times", i, all[i]);
        free(seen);
        free(all);
        free(s.seen);
        plait_mpi_result_free(&r);
        plait_mpi_result_free(&r); /* twice is safe */
    }

    /* A communicator of one rank works like the single-process loop. */
    struct sum s = {0};
    plait_mpi_result r;
    CHECK(plait_mpi_for(MPI_COMM_SELF, pool, 0, N, 13, sum_body, &s, 0, &r) == 0, "self");
    CHECK(atomic_load(&s.acc) == expect && r.nranks == 1 && r.items_done == N, "self sum");
    plait_mpi_result_free(&r);

    /* An empty range. */
    CHECK(plait_mpi_for(MPI_COMM_WORLD, pool, 5, 5, 1, sum_body, &s, 0, &r) == 0, "empty");
    CHECK(r.chunks == 0 && r.nerrors == 0, "empty result");
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
}

/* ---- errors: every failure once, on every rank, in order --------------- */

static bool injected(size_t i)
{
    return i % 97 == 13;
}
enum { NAMELESS = 1502 }; /* fails its chunk without naming an item */

static int err_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)arg;
    for (size_t i = b; i < e; i++) {
        if (injected(i))
            return plait_fail_item(ctx, i, i % 2 ? EIO : EPROTO, "item %zu on rank %d", i, rank);
        if (i == NAMELESS)
            return plait_fail(ctx, EBADMSG, "chunk [%zu, %zu) on rank %d", b, e, rank);
    }
    return 0;
}

static void scenario_errors(void)
{
    enum { N = 2000, GRAIN = 5 };
    plait_pool *pool = make_pool(2);
    size_t nfail = 0;
    for (size_t i = 0; i < N; i++)
        nfail += injected(i);

    plait_mpi_result r;
    int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, N, GRAIN, err_body, NULL,
                           PLAIT_GROUP_COLLECT_ALL, &r);
    CHECK(r.nerrors == nfail + 1, "nerrors %zu, want %zu", r.nerrors, nfail + 1);
    CHECK(rc == r.errors[0].code && rc == EIO, "rc %d", rc); /* item 13 first: odd, EIO */
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        size_t want;
        if (injected(i))
            want = i;
        else if (i == NAMELESS)
            want = NAMELESS / GRAIN * GRAIN; /* its chunk's first item */
        else
            continue;
        const plait_mpi_error *e = &r.errors[k++];
        CHECK(e->item == want, "error %zu: item %zu, want %zu", k - 1, e->item, want);
        CHECK(e->message != NULL, "message");
        int on = -1;
        const char *p = strstr(e->message, "on rank ");
        CHECK(p && sscanf(p, "on rank %d", &on) == 1, "message '%s'", e->message);
        CHECK(e->rank == on, "error at item %zu says rank %d, ran on %d", want, e->rank, on);
        int code = injected(i) ? (i % 2 ? EIO : EPROTO) : EBADMSG;
        CHECK(e->code == code, "code %d", e->code);
    }
    CHECK(k == r.nerrors, "all checked");
    CHECK(r.items_done == N - GRAIN * (nfail + 1), "items_done %llu",
          (unsigned long long)r.items_done);
    uint64_t errs = 0;
    for (size_t q = 0; q < r.nranks; q++)
        errs += r.ranks[q].errors;
    CHECK(errs == r.nerrors, "per-rank error counts");
    check_same_u64(result_hash(&r), "the error array");
    if (rank == 0)
        printf("errors: %zu errors on every rank, first item %zu (rank %d)\n", r.nerrors,
               r.errors[0].item, r.errors[0].rank);
    plait_mpi_result_free(&r);

    /* Fail-fast: stops early; whatever failed, every rank agrees. */
    rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, N, GRAIN, err_body, NULL, 0, &r);
    CHECK(rc != 0 && r.nerrors >= 1 && rc == r.errors[0].code, "fail-fast rc %d", rc);
    check_same_u64(result_hash(&r), "the fail-fast error array");
    check_same_u64((uint64_t)rc, "the return value");
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
}

/* ---- cancel: a failure on the last rank cancels rank 0's chunks -------- */

struct shared {
    _Atomic uint64_t rank0_running; /* set by a chunk on rank 0 */
};

struct cancel_arg {
    struct shared *sh;
    _Atomic uint64_t t_fail, t_seen; /* this rank's, 0 if none */
    _Atomic int failed_once;
};

static int cancel_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)e;
    struct cancel_arg *a = arg;
    uint64_t give_up = now_ns() + 20000000000u; /* 20 s: fail the test, not hang */
    if (rank == nranks - 1 && atomic_exchange(&a->failed_once, 1) == 0) {
        /* acquire: pairs with rank 0's release store below. */
        while (atomic_load_explicit(&a->sh->rank0_running, memory_order_acquire) == 0)
            if (now_ns() > give_up)
                return plait_fail(ctx, ETIME, "rank 0 never ran a chunk");
            else
                sched_yield();
        atomic_store(&a->t_fail, now_ns());
        return plait_fail_item(ctx, b, EIO, "injected on rank %d", rank);
    }
    if (rank == 0)
        /* release: the failing chunk may go once a chunk of ours runs. */
        atomic_store_explicit(&a->sh->rank0_running, 1, memory_order_release);
    while (!plait_cancelled(ctx))
        if (now_ns() > give_up)
            return plait_fail(ctx, ETIME, "never cancelled");
        else
            sched_yield();
    uint64_t t = now_ns(), z = 0;
    atomic_compare_exchange_strong(&a->t_seen, &z, t); /* the first to see it */
    return ECANCELED;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static void scenario_cancel(void)
{
    CHECK(nranks >= 2, "needs 2 ranks");
    MPI_Comm shm;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm);
    int shsize;
    MPI_Comm_size(shm, &shsize);
    CHECK(shsize == nranks, "all ranks on one host");
    struct shared *base;
    MPI_Win win;
    MPI_Win_allocate_shared(rank == 0 ? (MPI_Aint)sizeof(struct shared) : 0, 1, MPI_INFO_NULL, shm,
                            &base, &win);
    MPI_Aint sz;
    int du;
    struct shared *sh;
    MPI_Win_shared_query(win, 0, &sz, &du, &sh);
    MPI_Win_lock_all(0, win);

    plait_pool *pool = make_pool(2);
    enum { REPS = 5 };
    uint64_t lat[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        if (rank == 0)
            atomic_store(&sh->rank0_running, 0);
        MPI_Win_sync(win);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Win_sync(win);
        struct cancel_arg a = {.sh = sh};
        plait_mpi_result r;
        int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 1000, 1, cancel_body, &a, 0, &r);
        CHECK(rc == EIO, "rc %d (%s)", rc, r.nerrors ? r.errors[0].message : "");
        CHECK(r.nerrors == 1 && r.errors[0].rank == nranks - 1, "one error, on the last rank");
        CHECK(r.ranks[0].stopped, "rank 0 was stopped");
        uint64_t mine[2] = {atomic_load(&a.t_fail), rank == 0 ? atomic_load(&a.t_seen) : 0};
        uint64_t both[2];
        MPI_Allreduce(mine, both, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        CHECK(both[0] != 0 && both[1] != 0, "times");
        CHECK(both[1] >= both[0], "cancelled before the failure?");
        lat[rep] = both[1] - both[0];
        /* Generous: a millisecond or two is the design; seconds is broken. */
        CHECK(lat[rep] < 2000000000u, "latency %llu ns", (unsigned long long)lat[rep]);
        plait_mpi_result_free(&r);
    }
    qsort(lat, REPS, sizeof lat[0], cmp_u64);
    if (rank == 0)
        printf("cancel: failure on rank %d -> rank 0's running chunk cancelled in "
               "min %.3f / median %.3f / max %.3f ms (%d reps, %d ranks x 2 workers)\n",
               nranks - 1, lat[0] / 1e6, lat[REPS / 2] / 1e6, lat[REPS - 1] / 1e6, REPS, nranks);
    plait_pool_destroy(pool);
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    MPI_Comm_free(&shm);
}

/* ---- deadline: fires on every rank ------------------------------------- */

static int spin_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)b, (void)e, (void)arg;
    uint64_t give_up = now_ns() + 20000000000u;
    while (!plait_cancelled(ctx))
        if (now_ns() > give_up)
            return plait_fail(ctx, ETIME, "never cancelled");
        else
            sched_yield();
    return ECANCELED;
}

static void scenario_deadline(void)
{
    plait_pool *pool = make_pool(2);
    unsigned flagsets[] = {0, PLAIT_GROUP_COLLECT_ALL};
    for (int f = 0; f < 2; f++) {
        plait_mpi_options o = {.flags = flagsets[f], .deadline_ns = 100000000u}; /* 100 ms */
        plait_mpi_result r;
        int rc = plait_mpi_for_with(MPI_COMM_WORLD, pool, 0, 1000, 1, spin_body, NULL, &o, &r);
        CHECK(rc == ETIMEDOUT, "rc %d", rc);
        CHECK(r.timed_out && r.nerrors == 0, "timed out, no errors");
        for (size_t k = 0; k < r.nranks; k++) {
            CHECK(r.ranks[k].timed_out, "rank %zu did not time out", k);
            CHECK(r.ranks[k].finish_ns < 10000000000u, "rank %zu took %llu ns", k,
                  (unsigned long long)r.ranks[k].finish_ns);
        }
        if (rank == 0)
            for (size_t k = 0; k < r.nranks; k++)
                printf("deadline 100 ms (flags %u): rank %zu stopped at %.1f ms\n", flagsets[f], k,
                       r.ranks[k].finish_ns / 1e6);
        plait_mpi_result_free(&r);
    }
    plait_pool_destroy(pool);
}

/* ---- balance: uneven items finish together; a static split does not ---- */

static uint64_t item_cost(size_t i, size_t n)
{
    /* A few items 100x slower, all in the first third. */
    return i < n / 3 && i % 10 == 0 ? 10000000u : 100000u; /* 10 ms : 100 us */
}

static int uneven_body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    size_t n = *(const size_t *)arg;
    for (size_t i = b; i < e; i++) {
        int rc = plait_sleep(ctx, item_cost(i, n));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void scenario_balance(void)
{
    size_t n = 300;
    plait_pool *pool = make_pool(1);
    plait_mpi_result r;
    CHECK(plait_mpi_for(MPI_COMM_WORLD, pool, 0, n, 1, uneven_body, &n, 0, &r) == 0, "dyn");
    uint64_t dmin = UINT64_MAX, dmax = 0;
    for (size_t k = 0; k < r.nranks; k++) {
        dmin = r.ranks[k].finish_ns < dmin ? r.ranks[k].finish_ns : dmin;
        dmax = r.ranks[k].finish_ns > dmax ? r.ranks[k].finish_ns : dmax;
    }

    /* The static partition: rank k takes the k-th block, MPI_Scatter-style. */
    size_t lo = n * (size_t)rank / (size_t)nranks, hi = n * (size_t)(rank + 1) / (size_t)nranks;
    MPI_Barrier(MPI_COMM_WORLD);
    uint64_t t0 = now_ns();
    CHECK(plait_parallel_for(pool, lo, hi, 1, uneven_body, &n) == 0, "static");
    uint64_t mine = now_ns() - t0;
    uint64_t *all = malloc((size_t)nranks * sizeof *all);
    MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    uint64_t smin = UINT64_MAX, smax = 0;
    for (int k = 0; k < nranks; k++) {
        smin = all[k] < smin ? all[k] : smin;
        smax = all[k] > smax ? all[k] : smax;
    }
    if (rank == 0) {
        printf("balance (%d ranks x 1 worker, %zu items, 10 of them 100x slower):\n", nranks, n);
        for (int k = 0; k < nranks; k++)
            printf("  rank %d: dynamic %6.1f ms (%3llu items)   static %6.1f ms\n", k,
                   r.ranks[k].finish_ns / 1e6, (unsigned long long)r.ranks[k].items, all[k] / 1e6);
        printf("  spread: dynamic %.1f ms, static %.1f ms\n", (dmax - dmin) / 1e6,
               (smax - smin) / 1e6);
    }
    /* Generous: the static spread is ~100 ms by construction, the dynamic
     * one about one slow item. */
    CHECK(dmax - dmin < (smax - smin) / 2, "dynamic spread %llu vs static %llu",
          (unsigned long long)(dmax - dmin), (unsigned long long)(smax - smin));
    free(all);
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
}

/* ---- bad input: detected and reported on every rank -------------------- */

static void expect_einval(int rc, plait_mpi_result *r, const char *needle)
{
    CHECK(rc == EINVAL && r->status == EINVAL, "rc %d", rc);
    CHECK(r->message != NULL && strstr(r->message, needle) != NULL, "message '%s' lacks '%s'",
          r->message ? r->message : "(null)", needle);
    CHECK(r->nerrors == 0 && r->ranks == NULL, "nothing ran");
    plait_mpi_result_free(r);
}

static void scenario_badinput(void)
{
    plait_pool *pool = make_pool(1);
    struct sum s = {0};
    plait_mpi_result r;
    int rc;
    if (nranks > 1) {
        rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4 + (size_t)rank, sum_body, &s, 0, &r);
        expect_einval(rc, &r, "grain");
        rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100 + (size_t)rank, 4, sum_body, &s, 0, &r);
        expect_einval(rc, &r, "end");
        rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s,
                           rank == 0 ? PLAIT_GROUP_COLLECT_ALL : 0, &r);
        expect_einval(rc, &r, "flags");
        plait_mpi_options o = {.deadline_ns = rank == 0 ? 1000000000u : 0};
        rc = plait_mpi_for_with(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s, &o, &r);
        expect_einval(rc, &r, "deadline");
        /* One rank's own mistake fails every rank. */
        rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, rank == 1 ? NULL : sum_body, &s, 0, &r);
        expect_einval(rc, &r, "rank 1");
    }
    rc = plait_mpi_for(MPI_COMM_WORLD, pool, 10, 5, 1, sum_body, &s, 0, &r);
    expect_einval(rc, &r, "begin > end");
    rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 10, 1, sum_body, &s, 1u << 7, &r);
    expect_einval(rc, &r, "flags");
    rc = plait_mpi_for(MPI_COMM_NULL, pool, 0, 10, 1, sum_body, &s, 0, &r);
    expect_einval(rc, &r, "MPI_COMM_NULL");
    /* And the next loop still works. */
    CHECK(plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s, 0, &r) == 0, "after");
    CHECK(r.items_done == 100, "after: items");
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
}

/* ---- thread levels ------------------------------------------------------ */

static void *from_thread(void *arg)
{
    plait_pool *pool = arg;
    struct sum s = {0};
    plait_mpi_result r;
    int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s, 0, &r);
    CHECK(rc == ENOTSUP && r.message && strstr(r.message, "main thread"), "rc %d", rc);
    plait_mpi_result_free(&r);
    return NULL;
}

struct in_task {
    plait_pool *pool;
    int rc;
};

static int task_calls_loop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct in_task *t = arg;
    struct sum s = {0};
    plait_mpi_result r;
    t->rc = plait_mpi_for(MPI_COMM_WORLD, t->pool, 0, 100, 4, sum_body, &s, 0, &r);
    plait_mpi_result_free(&r);
    return 0;
}

static int run_threadlevel(const char *which, int provided)
{
    plait_pool *pool = make_pool(1);
    struct sum s = {0};
    plait_mpi_result r;
    if (strcmp(which, "single") == 0) {
        if (provided >= MPI_THREAD_FUNNELED) {
            printf("single: MPI gave level %d; nothing to test\n", provided);
        } else {
            int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s, 0, &r);
            CHECK(rc == ENOTSUP && r.message && strstr(r.message, "FUNNELED"), "rc %d", rc);
            plait_mpi_result_free(&r);
        }
    } else if (strcmp(which, "funneled_thread") == 0) {
        CHECK(provided == MPI_THREAD_FUNNELED, "provided %d", provided);
        pthread_t th;
        pthread_create(&th, NULL, from_thread, pool);
        pthread_join(th, NULL);
        /* The main thread still may. */
        CHECK(plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 4, sum_body, &s, 0, &r) == 0, "main");
        plait_mpi_result_free(&r);
    } else { /* in_task: a task of the pool itself, under MULTIPLE */
        if (provided < MPI_THREAD_MULTIPLE) {
            printf("in_task: MPI gave level %d < MULTIPLE; nothing to test\n", provided);
        } else {
            struct in_task t = {.pool = pool, .rc = -1};
            plait_task *h = plait_submit(pool, task_calls_loop, &t);
            CHECK(h && plait_task_wait(h) == 0, "task");
            plait_task_release(h);
            CHECK(t.rc == EDEADLK, "rc %d", t.rc);
        }
    }
    plait_pool_destroy(pool);
    return 0;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    int want = strcmp(which, "single") == 0    ? MPI_THREAD_SINGLE
               : strcmp(which, "in_task") == 0 ? MPI_THREAD_MULTIPLE
                                               : MPI_THREAD_FUNNELED;
    int provided;
    MPI_Init_thread(&argc, &argv, want, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (strcmp(which, "checksum") == 0)
        scenario_checksum();
    else if (strcmp(which, "errors") == 0)
        scenario_errors();
    else if (strcmp(which, "cancel") == 0)
        scenario_cancel();
    else if (strcmp(which, "deadline") == 0)
        scenario_deadline();
    else if (strcmp(which, "balance") == 0)
        scenario_balance();
    else if (strcmp(which, "badinput") == 0)
        scenario_badinput();
    else if (strcmp(which, "single") == 0 || strcmp(which, "funneled_thread") == 0 ||
             strcmp(which, "in_task") == 0)
        run_threadlevel(which, provided);
    else
        CHECK(0, "unknown scenario '%s'", which);

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        printf("mpi_for %s on %d ranks: passed\n", which, nranks);
    MPI_Finalize();
    return 0;
}
