/*
 * stress_random — randomised, seeded structured-concurrency torture.
 *
 * Each round builds a fresh pool (1-4 workers) and runs a random program:
 * top-level groups fed by the main thread and by foreign producer threads
 * (some racing with the group's wait), foreign waiter threads on the same
 * groups, a foreign canceller hitting task handles and groups, and task
 * bodies that mix plait_spawn / plait_go / plait_submit, plait_join,
 * nested groups several levels deep (created in tasks and in join
 * branches), plait_fail, plait_sleep, deadlines, cancels from workers,
 * plait_parallel_for and waits on their own group (EDEADLK).
 *
 * After every round it checks:
 *   - every task's body ran at most once and, if it ran, returned (entry /
 *     exit counters), and a handle's status is what the body returned, or
 *     ECANCELED when it never ran;
 *   - every failure is in its group's error array exactly once (matched by
 *     the "T<index>" message, and by plait_task_id for handle tasks), and
 *     the array holds nothing else; the wait's result is the first error's
 *     code, else 0 / ETIMEDOUT / ECANCELED as the contract says;
 *   - no task body runs after its group's wait returned (per-group closed
 *     flag checked on entry and exit);
 *   - plait_group_pending is 0 after the wait;
 *   - pool stats add up: succeeded == bodies that returned 0, failed ==
 *     bodies that returned an error, cancelled == the rest of the tasks
 *     created by spawn/go/submit;
 *   - parallel_for visits every index exactly once when it returns 0.
 *
 * Reproducible: the master seed is printed; round r runs with seed
 * mix(seed, r). `--seed S` replays, `--rounds R` sets the count, `--only r`
 * runs one round. Task decisions derive from their parent's seed, not
 * from scheduling, so a replay runs the same program (the interleaving,
 * and so timing-dependent outcomes such as which task a cancel reaches,
 * may differ).
 */
#include "stress_common.h"

#include <plait.h>

#define MAXDEPTH 4

enum kind {
    K_OK,
    K_FAIL,
    K_FAIL_NOMSG, /* handle tasks only: no message, matched by id */
    K_CANCELRET,
    K_SLEEP,
    K_SPINCANCEL,
    K_NEST,
    K_JOIN,
    K_PFOR,
    K_WAIT_OWN,
    K_CANCEL_GROUP,
    K_CANCEL_SIBLING,
    K_SPAWN_MORE,
    K_SUBMIT,
    K_SLEEP_LONG, /* only in a group with its own deadline */
    NKINDS
};

/* Weights for the task kinds, by depth > 0 / leaf. */
static const unsigned kind_weight[NKINDS] = {
    [K_OK] = 30,        [K_FAIL] = 4,       [K_FAIL_NOMSG] = 2,   [K_CANCELRET] = 2,
    [K_SLEEP] = 3,      [K_SPINCANCEL] = 4, [K_NEST] = 14,        [K_JOIN] = 10,
    [K_PFOR] = 3,       [K_WAIT_OWN] = 2,   [K_CANCEL_GROUP] = 1, [K_CANCEL_SIBLING] = 3,
    [K_SPAWN_MORE] = 4, [K_SUBMIT] = 2,     [K_SLEEP_LONG] = 1,
};

enum via { VIA_GO, VIA_SPAWN, VIA_SUBMIT };
enum tstate { T_RESERVED, T_SPAWNED, T_REFUSED };

struct grec;

struct trec {
    uint64_t seed;
    int depth;
    int kind;
    int via;
    struct grec *grp;  /* NULL: a lone task */
    struct trec *next; /* in grp's list */
    _Atomic(plait_task *) handle;
    _Atomic uint64_t id;
    _Atomic int entries, exits, rc, state;
    int matched;               /* by the group check (one thread) */
    int spawner;               /* plait_worker_index() of the spawning thread */
    const struct trec *parent; /* the spawning task, if known */
};

struct grec {
    plait_group *g;
    _Atomic(struct trec *) head;
    _Atomic int closed;
    unsigned flags;
    bool timeout_set;
    _Atomic bool cancel_requested; /* a cancel that surely precedes the wait */
    _Atomic int cancel_by;         /* who: 1 main, 2 a task of the group, 3 its creator */
    int depth;                     /* 0: top level */
    _Atomic int alive;             /* top level: created and not yet destroyed */
};

/* ---- The round's state --------------------------------------------------- */

static struct {
    plait_pool *pool;
    unsigned threads;
    uint64_t seed;
    unsigned round;
    struct trec *t;
    size_t tcap;
    _Atomic size_t nt;
    struct grec *g;
    size_t gcap;
    _Atomic size_t ng;
    _Atomic int stop; /* foreign threads: round over */
    struct grec *top[3];
    unsigned ntop;
    unsigned fail_div; /* failing kinds are picked 1/fail_div as often */
    _Atomic uint64_t late_einval, pfor_items, joins, nests, deadlines_fired, edeadlk, waiter_same;
} R;

static uint64_t total_tasks, total_rounds_tasks_ok, total_failed_tasks, total_cancelled_tasks;

static bool failing(int rc)
{
    return rc != 0 && rc != ECANCELED;
}

static struct grec *grec_new(void)
{
    size_t i = atomic_fetch_add(&R.ng, 1);
    if (i >= R.gcap)
        return NULL;
    struct grec *g = &R.g[i];
    memset(g, 0, sizeof *g);
    return g;
}

static struct trec *trec_new(uint64_t seed, int depth, struct grec *grp)
{
    size_t i = atomic_fetch_add(&R.nt, 1);
    if (i >= R.tcap) {
        atomic_fetch_sub(&R.nt, 1);
        return NULL;
    }
    struct trec *t = &R.t[i]; /* zeroed at the round's start */
    t->seed = seed;
    t->depth = depth;
    t->grp = grp;
    atomic_store(&t->rc, -1);
    if (grp != NULL) {
        struct trec *h = atomic_load(&grp->head);
        do
            t->next = h;
        while (!atomic_compare_exchange_weak(&grp->head, &h, t));
    }
    return t;
}

static size_t tindex(const struct trec *t)
{
    return (size_t)(t - R.t);
}

static int task_main(plait_ctx *ctx, void *arg);
static _Thread_local struct trec *cur_trec; /* the task body running on this thread */

static int pick_kind(uint64_t *s, int depth, bool handle, const struct grec *grp)
{
    unsigned total = 0;
    for (int k = 0; k < NKINDS; k++)
        total += kind_weight[k];
    for (;;) {
        unsigned x = (unsigned)st_below(s, total);
        int k = 0;
        while (x >= kind_weight[k])
            x -= kind_weight[k++];
        if (depth <= 0 && (k == K_NEST || k == K_JOIN || k == K_SPAWN_MORE || k == K_SUBMIT))
            continue;
        /* Failures cancel whole fail-fast groups: how often is per round. */
        if ((k == K_FAIL || k == K_FAIL_NOMSG || k == K_CANCEL_GROUP) && R.fail_div > 1 &&
            st_below(s, R.fail_div) != 0)
            continue;
        if (k == K_FAIL_NOMSG && !handle)
            continue;
        if (k == K_SLEEP_LONG && (grp == NULL || !grp->timeout_set))
            continue;
        if ((k == K_WAIT_OWN || k == K_CANCEL_GROUP || k == K_CANCEL_SIBLING ||
             k == K_SPAWN_MORE) &&
            grp == NULL)
            continue;
        return k;
    }
}

/* Creates a task record and spawns it (via go / spawn / submit). Returns
 * the record, or NULL when the round's budget is spent. allow_nomsg: the
 * spawner writes the id before the group's wait can return. */
static struct trec *spawn_task(struct grec *grp, uint64_t seed, int depth, int via,
                               bool allow_nomsg)
{
    struct trec *t = trec_new(seed, depth, grp);
    if (t == NULL)
        return NULL;
    uint64_t s = seed;
    t->via = via;
    t->spawner = plait_worker_index();
    t->parent = cur_trec;
    t->kind = pick_kind(&s, depth, via != VIA_GO && allow_nomsg, grp);
    t->seed = st_next(&s);
    if (via == VIA_GO) {
        int r = plait_go(grp->g, task_main, t);
        CHECK(r == 0 || r == ECANCELED || r == EINVAL, "plait_go returned %d", r);
        atomic_store(&t->state, r == 0 ? T_SPAWNED : T_REFUSED);
        if (r == EINVAL)
            atomic_fetch_add(&R.late_einval, 1);
    } else {
        errno = 0;
        plait_task *h = via == VIA_SPAWN ? plait_spawn(grp->g, task_main, t)
                                         : plait_submit(R.pool, task_main, t);
        if (h == NULL) {
            CHECK(via == VIA_SPAWN && errno == EINVAL, "spawn/submit NULL errno %d", errno);
            atomic_fetch_add(&R.late_einval, 1);
            atomic_store(&t->state, T_REFUSED);
        } else {
            uint64_t id = plait_task_id(h);
            CHECK(id != 0, "task id 0");
            atomic_store(&t->id, id);
            atomic_store(&t->handle, h);
            atomic_store(&t->state, T_SPAWNED);
        }
    }
    return t;
}

/* ---- Group checks ----------------------------------------------------- */

static struct trec *find_by_id(struct grec *gr, uint64_t id)
{
    for (struct trec *t = atomic_load(&gr->head); t != NULL; t = t->next)
        if (id != 0 && atomic_load(&t->id) == id)
            return t;
    return NULL;
}

/* After gr's wait returned r (same thread): the error array, the result,
 * the tasks' ends. */
static void check_group(struct grec *gr, int r)
{
    const plait_error *errs = NULL;
    size_t n = plait_group_errors(gr->g, &errs);
    CHECK(plait_group_pending(gr->g) == 0, "pending %zu after wait", plait_group_pending(gr->g));
    CHECK((n == 0) == (errs == NULL), "n %zu errs %p", n, (const void *)errs);
    if (n > 0)
        CHECK(r == errs[0].code, "wait %d but first error %d", r, errs[0].code);
    else
        CHECK(r == 0 || r == ECANCELED || r == ETIMEDOUT, "wait %d with no error", r);
    if (r == ETIMEDOUT && n == 0) {
        CHECK(gr->timeout_set, "ETIMEDOUT without a deadline");
        atomic_fetch_add(&R.deadlines_fired, 1);
    }
    if (r == 0)
        CHECK(!atomic_load(&gr->cancel_requested), "wait 0 after a cancel (by %d, depth %d)",
              atomic_load(&gr->cancel_by), gr->depth);
    for (size_t i = 0; i < n; i++) {
        const plait_error *e = &errs[i];
        CHECK(failing(e->code), "error code %d gathered", e->code);
        CHECK(e->task_id != 0, "error with task id 0");
        struct trec *t = NULL;
        unsigned idx;
        if (e->message != NULL && sscanf(e->message, "T%u", &idx) == 1 && idx < R.tcap)
            t = &R.t[idx];
        else
            t = find_by_id(gr, e->task_id);
        CHECK(t != NULL, "error %d msg %s id %" PRIu64 " matches no task", e->code,
              e->message ? e->message : "(null)", e->task_id);
        if (t == NULL)
            continue;
        CHECK(t->grp == gr, "error of task T%zu in the wrong group", tindex(t));
        CHECK(atomic_load(&t->entries) == 1, "error of a task that did not run");
        CHECK(atomic_load(&t->rc) == e->code, "error code %d, task returned %d", e->code,
              atomic_load(&t->rc));
        CHECK(t->matched == 0, "task T%zu's error gathered twice", tindex(t));
        uint64_t id = atomic_load(&t->id);
        if (id != 0)
            CHECK(e->task_id == id, "error id %" PRIu64 " vs handle id %" PRIu64, e->task_id, id);
        t->matched++;
    }
    for (struct trec *t = atomic_load(&gr->head); t != NULL; t = t->next) {
        int en = atomic_load(&t->entries), ex = atomic_load(&t->exits);
        CHECK(en <= 1 && ex == en, "task T%zu entries %d exits %d after wait", tindex(t), en, ex);
        if (en == 1 && failing(atomic_load(&t->rc)))
            CHECK(t->matched == 1, "task T%zu failed with %d but is not in the error array",
                  tindex(t), atomic_load(&t->rc));
    }
}

/* ---- Nested groups ------------------------------------------------------ */

/* Creates a group under the running context, fills it, waits (or destroys
 * without waiting), checks it. Returns what the task should return. */
static int do_nest(plait_ctx *ctx, uint64_t seed, int depth)
{
    (void)ctx;
    uint64_t s = seed;
    struct grec *gr = grec_new();
    if (gr == NULL)
        return 0;
    gr->flags = st_below(&s, 4) == 0 ? PLAIT_GROUP_COLLECT_ALL : 0;
    gr->depth = 1 + MAXDEPTH - depth;
    int r = plait_group_create(&gr->g, R.pool, gr->flags);
    CHECK(r == 0, "nested group_create %d", r);
    if (r != 0)
        return 0;
    atomic_fetch_add(&R.nests, 1);
    if (st_below(&s, 4) == 0) {
        gr->timeout_set = true;
        r = plait_group_set_timeout(gr->g, 100000 + st_below(&s, 2000000));
        CHECK(r == 0, "set_timeout %d", r);
    }
    unsigned n = 1 + (unsigned)st_below(&s, 10);
    bool cancel_mid = st_below(&s, 12) == 0;
    for (unsigned i = 0; i < n; i++) {
        if (cancel_mid && i == n / 2) {
            atomic_store(&gr->cancel_requested, true);
            atomic_store(&gr->cancel_by, 3);
            CHECK(plait_group_cancel(gr->g) == 0, "cancel");
        }
        if (spawn_task(gr, st_mix(seed + i + 1), depth - 1, st_below(&s, 2) ? VIA_SPAWN : VIA_GO,
                       true) == NULL)
            break;
    }
    if (st_below(&s, 12) == 0) {
        /* Destroy without waiting: cancels and waits first. */
        plait_group_destroy(gr->g);
        atomic_store(&gr->closed, 1);
        for (struct trec *t = atomic_load(&gr->head); t != NULL; t = t->next)
            CHECK(atomic_load(&t->exits) == atomic_load(&t->entries),
                  "task T%zu still running after destroy", tindex(t));
        return 0;
    }
    r = plait_group_wait(gr->g);
    atomic_store(&gr->closed, 1);
    check_group(gr, r);
    CHECK(plait_group_wait(gr->g) == EINVAL, "second wait");
    CHECK(plait_go(gr->g, task_main, NULL) == EINVAL, "go after wait");
    plait_group_destroy(gr->g);
    return st_below(&s, 2) ? r : 0;
}

/* ---- Joins ---------------------------------------------------------------- */

struct branch {
    uint64_t seed;
    int depth;
    int rc; /* ECANCELED until it runs */
};

static int branch_main(plait_ctx *ctx, void *arg);

static int do_join(plait_ctx *ctx, uint64_t seed, int depth)
{
    atomic_fetch_add(&R.joins, 1);
    struct branch a = {st_mix(seed ^ 0xa), depth, ECANCELED};
    struct branch b = {st_mix(seed ^ 0xb), depth, ECANCELED};
    int r = plait_join(ctx, branch_main, &a, branch_main, &b);
    if (failing(a.rc))
        CHECK(r == a.rc, "join %d, a failed %d", r, a.rc);
    else if (failing(b.rc))
        CHECK(r == b.rc, "join %d, b failed %d", r, b.rc);
    else if (a.rc == ECANCELED || b.rc == ECANCELED)
        CHECK(r == ECANCELED, "join %d, a %d b %d", r, a.rc, b.rc);
    else
        CHECK(r == 0 || r == ECANCELED, "join %d with no failure", r);
    return r;
}

static int do_pfor(plait_ctx *ctx, uint64_t seed);

static int branch_main(plait_ctx *ctx, void *arg)
{
    struct branch *b = arg;
    uint64_t s = b->seed;
    int r = 0;
    CHECK(plait_current() == ctx, "current in branch");
    switch (b->depth <= 0 ? st_below(&s, 4) : st_below(&s, 8)) {
    case 0:
    case 1:
        for (volatile unsigned i = 0, n = (unsigned)st_below(&s, 300); i < n; i++)
            ;
        r = 0;
        break;
    case 2:
        r = st_below(&s, 3) == 0 ? plait_fail(ctx, EIO, "branch") : 0;
        break;
    case 3:
        r = plait_sleep(ctx, 10000 + st_below(&s, 100000));
        CHECK(r == 0 || r == ECANCELED, "sleep %d", r);
        break;
    case 4:
    case 5:
        r = do_join(ctx, st_next(&s), b->depth - 1);
        break;
    case 6:
        r = do_nest(ctx, st_next(&s), b->depth);
        break;
    default:
        r = do_pfor(ctx, st_next(&s));
        break;
    }
    b->rc = r;
    return r;
}

/* ---- parallel_for ------------------------------------------------------- */

struct pfor {
    _Atomic unsigned char *hits;
    size_t n, grain, fail_at;
};

static int pfor_body(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    struct pfor *p = arg;
    CHECK(begin < end && end <= p->n, "chunk [%zu,%zu) of %zu", begin, end, p->n);
    if (p->grain != 0)
        CHECK(end - begin <= p->grain, "chunk %zu > grain %zu", end - begin, p->grain);
    for (size_t i = begin; i < end && i < p->n; i++) {
        atomic_fetch_add_explicit(&p->hits[i], 1, memory_order_relaxed);
        if (i == p->fail_at)
            return plait_fail(ctx, EILSEQ, "pfor %zu", i);
    }
    return 0;
}

static int do_pfor(plait_ctx *ctx, uint64_t seed)
{
    (void)ctx;
    uint64_t s = seed;
    struct pfor p;
    p.n = st_below(&s, 3000);
    p.grain = st_below(&s, 3) == 0 ? 0 : 1 + st_below(&s, 64);
    p.fail_at = st_below(&s, 8) == 0 && p.n > 0 ? st_below(&s, p.n) : SIZE_MAX;
    p.hits = calloc(p.n + 1, 1);
    int r = plait_parallel_for(R.pool, 0, p.n, p.grain, pfor_body, &p);
    atomic_fetch_add(&R.pfor_items, p.n);
    for (size_t i = 0; i < p.n; i++) {
        unsigned h = atomic_load(&p.hits[i]);
        if (r == 0)
            CHECK(h == 1, "pfor index %zu hit %u times (r 0)", i, h);
        else
            CHECK(h <= 1, "pfor index %zu hit %u times", i, h);
        if (h == 0 && r == 0)
            break;
    }
    if (p.fail_at != SIZE_MAX && atomic_load(&p.hits[p.fail_at]) == 1)
        CHECK(r == EILSEQ, "pfor failing chunk ran but r %d", r);
    if (p.fail_at == SIZE_MAX)
        CHECK(r == 0 || r == ECANCELED, "pfor r %d with no failure", r);
    free(p.hits);
    return r;
}

/* ---- Task bodies ---------------------------------------------------------- */

static int run_kind(plait_ctx *ctx, struct trec *t)
{
    uint64_t s = t->seed;
    int r;
    switch (t->kind) {
    case K_OK:
        for (volatile unsigned i = 0, n = (unsigned)st_below(&s, 400); i < n; i++)
            ;
        return 0;
    case K_FAIL: {
        static const int codes[] = {EIO, EPROTO, ERANGE, EDOM, ENOENT};
        return codes[st_below(&s, 5)];
    }
    case K_FAIL_NOMSG:
        return EBADMSG;
    case K_CANCELRET:
        return ECANCELED;
    case K_SLEEP:
        r = plait_sleep(ctx, 10000 + st_below(&s, 200000));
        CHECK(r == 0 || r == ECANCELED, "sleep %d", r);
        return r;
    case K_SLEEP_LONG:
        /* The group's own deadline (at most ~2 ms) must cut this short. */
        r = plait_sleep(ctx, 20ull * 1000000000u);
        CHECK(r == ECANCELED, "long sleep in a group with a deadline returned %d", r);
        return r;
    case K_SPINCANCEL: {
        uint64_t end = st_now_ns() + 20000 + st_below(&s, 200000);
        while (st_now_ns() < end)
            if (plait_cancelled(ctx))
                return ECANCELED;
        return 0;
    }
    case K_NEST:
        return do_nest(ctx, st_next(&s), t->depth);
    case K_JOIN:
        return do_join(ctx, st_next(&s), t->depth);
    case K_PFOR:
        r = do_pfor(ctx, st_next(&s));
        return st_below(&s, 2) ? r : 0;
    case K_WAIT_OWN: {
        r = plait_group_wait(t->grp->g);
        CHECK(r == EDEADLK, "wait on own group %d", r);
        plait_task *h = atomic_load(&t->handle);
        if (h != NULL)
            CHECK(plait_task_wait(h) == EDEADLK, "wait on own task");
        atomic_fetch_add(&R.edeadlk, 1);
        return 0;
    }
    case K_CANCEL_GROUP:
        atomic_store(&t->grp->cancel_requested, true);
        atomic_store(&t->grp->cancel_by, 2);
        CHECK(plait_group_cancel(t->grp->g) == 0, "cancel own group");
        CHECK(plait_cancelled(ctx), "not cancelled after cancelling own group");
        return st_below(&s, 2) ? ECANCELED : 0;
    case K_CANCEL_SIBLING: {
        unsigned k = (unsigned)st_below(&s, 8);
        for (struct trec *o = atomic_load(&t->grp->head); o != NULL; o = o->next) {
            plait_task *h = atomic_load(&o->handle);
            if (h != NULL && o != t && k-- == 0) {
                CHECK(plait_task_cancel(h) == 0, "task_cancel");
                break;
            }
        }
        return 0;
    }
    case K_SPAWN_MORE: {
        unsigned n = 1 + (unsigned)st_below(&s, 3);
        for (unsigned i = 0; i < n; i++)
            spawn_task(t->grp, st_next(&s), t->depth - 1, st_below(&s, 2) ? VIA_SPAWN : VIA_GO,
                       true);
        return 0;
    }
    case K_SUBMIT:
        spawn_task(NULL, st_next(&s), t->depth - 1, VIA_SUBMIT, true);
        return 0;
    }
    return 0;
}

static int task_main(plait_ctx *ctx, void *arg)
{
    struct trec *t = arg;
    if (t == NULL) { /* a spawn that should have been refused */
        CHECK(0, "a refused task ran");
        return 0;
    }
    int prev = atomic_fetch_add(&t->entries, 1);
    CHECK(prev == 0, "task T%zu entered %d times", tindex(t), prev + 1);
    if (t->grp != NULL)
        CHECK(!atomic_load(&t->grp->closed), "task T%zu started after its group's wait returned",
              tindex(t));
    CHECK(plait_current() == ctx, "plait_current");
    CHECK(plait_ctx_pool(ctx) == R.pool, "plait_ctx_pool");
    CHECK(plait_worker_index() >= 0 && plait_worker_index() < (int)R.threads, "worker index %d",
          plait_worker_index());
    struct trec *saved = cur_trec;
    cur_trec = t;
    int rc = run_kind(ctx, t);
    cur_trec = saved;
    if (failing(rc) && t->kind != K_FAIL_NOMSG)
        rc = plait_fail(ctx, rc, "T%zu", tindex(t));
    atomic_store(&t->rc, rc);
    if (t->grp != NULL)
        CHECK(!atomic_load(&t->grp->closed), "task T%zu still running after its group's wait",
              tindex(t));
    atomic_fetch_add(&t->exits, 1);
    return rc;
}

/* ---- Foreign threads -------------------------------------------------------- */

struct producer {
    pthread_t th;
    uint64_t seed;
    struct grec *gr;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    uint64_t s = p->seed;
    unsigned n = 5 + (unsigned)st_below(&s, 40);
    for (unsigned i = 0; i < n && !atomic_load(&R.stop); i++) {
        /* NOMSG needs an id the waiter can see: not from here. */
        if (spawn_task(p->gr, st_next(&s), (int)st_below(&s, MAXDEPTH),
                       st_below(&s, 2) ? VIA_SPAWN : VIA_GO, false) == NULL)
            break;
        if (st_below(&s, 3) == 0)
            st_sleep_ns(st_below(&s, 200000));
    }
    return NULL;
}

struct waiter {
    pthread_t th;
    struct grec *gr;
    int r;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->r = plait_group_wait(w->gr->g);
    if (w->r != EINVAL) {
        atomic_store(&w->gr->closed, 1);
        CHECK(plait_group_pending(w->gr->g) == 0, "pending after foreign wait");
    }
    return NULL;
}

struct canceller {
    pthread_t th;
    uint64_t seed;
};

static void *canceller_main(void *arg)
{
    struct canceller *c = arg;
    uint64_t s = c->seed;
    while (!atomic_load(&R.stop)) {
        st_sleep_ns(20000 + st_below(&s, 500000));
        size_t nt = atomic_load(&R.nt);
        if (nt > R.tcap)
            nt = R.tcap;
        if (st_below(&s, 60) == 0 && R.ntop > 0) {
            plait_group_cancel(R.top[st_below(&s, R.ntop)]->g);
        } else if (nt > 0) {
            plait_task *h = atomic_load(&R.t[st_below(&s, nt)].handle);
            if (h != NULL)
                CHECK(plait_task_cancel(h) == 0, "foreign task_cancel");
        }
    }
    return NULL;
}

/* ---- A round ------------------------------------------------------------------ */

static uint64_t master_seed;

static void dump_state(void)
{
    fprintf(stderr, "replay: stress_random --seed 0x%016" PRIx64 " --only %u\n", master_seed,
            R.round);
    fprintf(stderr, "round %u seed 0x%016" PRIx64 " threads %u tasks %zu groups %zu\n", R.round,
            R.seed, R.threads, atomic_load(&R.nt), atomic_load(&R.ng));
    for (unsigned i = 0; i < R.ntop; i++)
        if (R.top[i] != NULL && atomic_load(&R.top[i]->alive))
            fprintf(stderr, "  top group %u pending %zu closed %d\n", i,
                    plait_group_pending(R.top[i]->g), atomic_load(&R.top[i]->closed));
    plait_stats st;
    if (R.pool != NULL && plait_pool_stats(R.pool, &st) == 0)
        fprintf(stderr,
                "  stats ok %" PRIu64 " failed %" PRIu64 " cancelled %" PRIu64 " parks %" PRIu64
                " wakeups %" PRIu64 "\n",
                st.tasks_succeeded, st.tasks_failed, st.tasks_cancelled, st.parks, st.wakeups);
}

static void run_round(uint64_t master, unsigned round, size_t budget)
{
    uint64_t s = st_mix(master + round);
    R.seed = s;
    R.round = round;
    R.threads = 1 + (unsigned)st_below(&s, 4);
    static const unsigned fail_divs[4] = {1, 8, 40, 400};
    R.fail_div = fail_divs[st_below(&s, 4)];
    R.tcap = budget;
    R.gcap = budget;
    atomic_store(&R.nt, 0);
    atomic_store(&R.ng, 0);
    atomic_store(&R.stop, 0);
    memset(R.t, 0, budget * sizeof *R.t);
    st_unit_begin();

    plait_pool_options o = {.threads = R.threads, .name = "stress"};
    int r = plait_pool_create(&R.pool, &o);
    CHECK(r == 0, "pool_create %d", r);
    if (r != 0) {
        st_unit_end();
        return;
    }
    CHECK(plait_pool_size(R.pool) == R.threads, "pool size");

    R.ntop = 1 + (unsigned)st_below(&s, 3);
    for (unsigned i = 0; i < R.ntop; i++) {
        struct grec *gr = R.top[i] = grec_new();
        gr->flags = st_below(&s, 3) == 0 ? PLAIT_GROUP_COLLECT_ALL : 0;
        CHECK(plait_group_create(&gr->g, R.pool, gr->flags) == 0, "group_create");
        atomic_store(&gr->alive, 1);
        if (st_below(&s, 4) == 0) {
            gr->timeout_set = true;
            CHECK(plait_group_set_timeout(gr->g, 200000 + st_below(&s, 3000000)) == 0,
                  "set_timeout");
        }
    }

    /* Foreign threads. */
    unsigned nprod = (unsigned)st_below(&s, 3), nwait = (unsigned)st_below(&s, 2);
    bool cancel = st_below(&s, 2);
    struct producer prod[2];
    struct waiter wait[1];
    struct canceller canc;
    for (unsigned i = 0; i < nprod; i++) {
        prod[i].seed = st_next(&s);
        prod[i].gr = R.top[st_below(&s, R.ntop)];
        pthread_create(&prod[i].th, NULL, producer_main, &prod[i]);
    }
    if (cancel) {
        canc.seed = st_next(&s);
        pthread_create(&canc.th, NULL, canceller_main, &canc);
    }

    /* The main thread's own spawns, lone submits and a parallel_for. */
    for (unsigned i = 0; i < R.ntop; i++) {
        unsigned n = 1 + (unsigned)st_below(&s, 300);
        for (unsigned k = 0; k < n; k++) {
            int via = st_below(&s, 2) ? VIA_SPAWN : VIA_GO;
            if (spawn_task(R.top[i], st_next(&s), 1 + (int)st_below(&s, MAXDEPTH), via, true) ==
                NULL)
                break;
        }
    }
    for (unsigned i = 0; i < nwait; i++) {
        wait[i].gr = R.top[st_below(&s, R.ntop)];
        pthread_create(&wait[i].th, NULL, waiter_main, &wait[i]);
    }
    unsigned nsub = (unsigned)st_below(&s, 4);
    for (unsigned i = 0; i < nsub; i++)
        spawn_task(NULL, st_next(&s), (int)st_below(&s, MAXDEPTH), VIA_SUBMIT, true);
    if (st_below(&s, 3) == 0)
        do_pfor(NULL, st_next(&s)); /* from a foreign thread */
    if (st_below(&s, 8) == 0) {
        struct grec *gr = R.top[st_below(&s, R.ntop)];
        /* A foreign waiter's wait may already have returned 0. */
        bool waited = false;
        for (unsigned w = 0; w < nwait; w++)
            waited |= wait[w].gr == gr;
        atomic_store(&gr->cancel_requested, !waited);
        atomic_store(&gr->cancel_by, 1);
        CHECK(plait_group_cancel(gr->g) == 0, "cancel top");
        /* Spawning into a cancelled group: a handle already cancelled. */
        struct trec *t = spawn_task(gr, st_next(&s), 1, VIA_SPAWN, true);
        if (t != NULL && atomic_load(&t->handle) != NULL) {
            plait_task *h = atomic_load(&t->handle);
            CHECK(plait_task_done(h), "spawn into cancelled group not done");
            CHECK(plait_task_status(h) == ECANCELED, "spawn into cancelled: %d",
                  plait_task_status(h));
        }
        /* EINVAL only when a foreign waiter's wait already returned. */
        r = plait_go(gr->g, task_main, NULL);
        CHECK(r == ECANCELED || (r == EINVAL && nwait > 0), "go into cancelled group: %d", r);
    }

    /* Wait for the top groups, in a random order. */
    int res[3];
    bool joined[1] = {false};
    unsigned start = (unsigned)st_below(&s, R.ntop);
    for (unsigned k = 0; k < R.ntop; k++) {
        unsigned i = (start + k) % R.ntop;
        res[i] = plait_group_wait(R.top[i]->g);
        if (res[i] == EINVAL) {
            /* Only when a foreign waiter's wait returned first and closed
             * the group ("already waited"): take its result. */
            bool found = false;
            for (unsigned w = 0; w < nwait; w++) {
                if (wait[w].gr == R.top[i]) {
                    if (!joined[w])
                        pthread_join(wait[w].th, NULL);
                    joined[w] = true;
                    found = wait[w].r != EINVAL;
                    res[i] = wait[w].r;
                }
            }
            CHECK(found, "main's wait EINVAL but no other wait returned");
        }
        atomic_store(&R.top[i]->closed, 1);
        check_group(R.top[i], res[i]);
        st_watchdog_kick();
    }
    atomic_store(&R.stop, 1);
    for (unsigned i = 0; i < nprod; i++)
        pthread_join(prod[i].th, NULL);
    for (unsigned i = 0; i < nwait; i++) {
        if (!joined[i])
            pthread_join(wait[i].th, NULL);
        unsigned gi = 0;
        while (R.top[gi] != wait[i].gr)
            gi++;
        CHECK(wait[i].r == res[gi] || wait[i].r == EINVAL, "foreign waiter %d, main %d", wait[i].r,
              res[gi]);
        if (wait[i].r == res[gi])
            atomic_fetch_add(&R.waiter_same, 1);
    }
    if (cancel)
        pthread_join(canc.th, NULL);
    /* Spawning after the wait. */
    for (unsigned i = 0; i < R.ntop; i++) {
        CHECK(plait_go(R.top[i]->g, task_main, NULL) == EINVAL, "go after wait");
        errno = 0;
        CHECK(plait_spawn(R.top[i]->g, task_main, NULL) == NULL && errno == EINVAL,
              "spawn after wait");
        CHECK(plait_group_set_timeout(R.top[i]->g, 1000) == EINVAL, "timeout after wait");
        atomic_store(&R.top[i]->alive, 0);
        plait_group_destroy(R.top[i]->g);
    }

    /* Lone tasks (submitted from anywhere; they may submit more). */
    for (size_t i = 0; i < atomic_load(&R.nt) && i < R.tcap; i++) {
        struct trec *t = &R.t[i];
        plait_task *h = atomic_load(&t->handle);
        if (t->grp != NULL || h == NULL)
            continue;
        uint64_t limit = st_now_ns() + (ST_SANITIZED ? 60 : 10) * 1000000000ull;
        while (!plait_task_done(h) && st_now_ns() < limit)
            st_sleep_ns(1000000);
        CHECK(plait_task_done(h),
              "lone task T%zu (kind %d depth %d, submitted by worker %d) not done after 10 s: "
              "entries %d exits %d",
              i, t->kind, t->depth, t->spawner, atomic_load(&t->entries), atomic_load(&t->exits));
        if (!plait_task_done(h) && t->parent != NULL)
            fprintf(stderr, "  parent T%zu kind %d via %d group %p entries %d exits %d rc %d\n",
                    tindex(t->parent), t->parent->kind, t->parent->via, (void *)t->parent->grp,
                    atomic_load(&t->parent->entries), atomic_load(&t->parent->exits),
                    atomic_load(&t->parent->rc));
        plait_task_wait(h);
    }

    /* Every task: ended once; handles agree; stats add up. */
    size_t nt = atomic_load(&R.nt);
    if (nt > R.tcap)
        nt = R.tcap;
    uint64_t spawned = 0, ok = 0, failed = 0;
    for (size_t i = 0; i < nt; i++) {
        struct trec *t = &R.t[i];
        int st = atomic_load(&t->state), en = atomic_load(&t->entries), ex = atomic_load(&t->exits),
            rc = atomic_load(&t->rc);
        CHECK(st != T_RESERVED, "task T%zu never settled", i);
        CHECK(en <= 1 && ex == en, "task T%zu entries %d exits %d", i, en, ex);
        if (st == T_REFUSED)
            CHECK(en == 0, "refused task T%zu ran", i);
        if (st != T_SPAWNED)
            continue;
        spawned++;
        if (en == 1 && rc == 0)
            ok++;
        else if (en == 1 && failing(rc))
            failed++;
        plait_task *h = atomic_load(&t->handle);
        if (h != NULL) {
            int hs = plait_task_status(h);
            CHECK(plait_task_done(h), "task T%zu handle not done", i);
            if (en == 1)
                CHECK(hs == rc, "task T%zu status %d, body returned %d", i, hs, rc);
            else
                CHECK(hs == ECANCELED, "task T%zu never ran but status %d", i, hs);
            if (en == 1 && failing(rc) && t->kind != K_FAIL_NOMSG) {
                const char *m = plait_task_message(h);
                char want[32];
                snprintf(want, sizeof want, "T%zu", i);
                CHECK(m != NULL && strcmp(m, want) == 0, "task T%zu message %s", i,
                      m ? m : "(null)");
            }
            plait_task_release(h);
        }
    }
    plait_stats stats;
    CHECK(plait_pool_stats(R.pool, &stats) == 0, "stats");
    CHECK(stats.tasks_succeeded == ok, "stats succeeded %" PRIu64 ", bodies returned 0: %" PRIu64,
          stats.tasks_succeeded, ok);
    CHECK(stats.tasks_failed == failed, "stats failed %" PRIu64 ", failing bodies %" PRIu64,
          stats.tasks_failed, failed);
    CHECK(stats.tasks_cancelled == spawned - ok - failed,
          "stats cancelled %" PRIu64 ", expected %" PRIu64, stats.tasks_cancelled,
          spawned - ok - failed);
    CHECK(stats.tasks_succeeded + stats.tasks_failed + stats.tasks_cancelled == spawned,
          "stats sum %" PRIu64 " != spawned %" PRIu64,
          stats.tasks_succeeded + stats.tasks_failed + stats.tasks_cancelled, spawned);
    r = plait_pool_destroy(R.pool);
    CHECK(r == 0, "pool_destroy %d", r);
    R.pool = NULL;
    total_tasks += spawned;
    total_rounds_tasks_ok += ok;
    total_failed_tasks += failed;
    total_cancelled_tasks += spawned - ok - failed;
    if (!st_unit_end())
        fprintf(stderr, "round %u FAILED: replay with --seed 0x%016" PRIx64 " --only %u\n", round,
                master, round);
}

int main(int argc, char **argv)
{
    uint64_t seed =
        st_arg(argc, argv, "--seed") ? st_arg_u64(argc, argv, "--seed", 0) : st_seed_from_time();
    unsigned rounds = (unsigned)st_arg_u64(argc, argv, "--rounds", st_scaled(2000, 40));
    const char *only = st_arg(argc, argv, "--only");
    size_t budget = (size_t)st_arg_u64(argc, argv, "--budget", 4000);
    printf("stress_random: seed 0x%016" PRIx64 " rounds %u budget %zu scale %.3g\n", seed, rounds,
           budget, st_scale());
    printf("replay: stress_random --seed 0x%016" PRIx64 " --rounds %u\n", seed, rounds);
    fflush(stdout);
    master_seed = seed;
    R.t = calloc(budget, sizeof *R.t);
    R.g = calloc(budget, sizeof *R.g);
    st_watchdog_start(ST_SANITIZED ? 120 : 30, dump_state);
    uint64_t t0 = st_now_ns();
    if (only != NULL) {
        run_round(seed, (unsigned)strtoul(only, NULL, 0), budget);
    } else {
        for (unsigned r = 0; r < rounds; r++) {
            run_round(seed, r, budget);
            st_watchdog_kick();
        }
    }
    st_watchdog_stop();
    double secs = (double)(st_now_ns() - t0) / 1e9;
    printf("tasks %" PRIu64 " (succeeded %" PRIu64 ", failed %" PRIu64 ", cancelled %" PRIu64
           "), nested groups %" PRIu64 ", joins %" PRIu64 ", pfor items %" PRIu64
           ", deadlines fired %" PRIu64 ", EDEADLK %" PRIu64 ", late spawns refused %" PRIu64
           ", in %.1f s\n",
           total_tasks, total_rounds_tasks_ok, total_failed_tasks, total_cancelled_tasks,
           atomic_load(&R.nests), atomic_load(&R.joins), atomic_load(&R.pfor_items),
           atomic_load(&R.deadlines_fired), atomic_load(&R.edeadlk), atomic_load(&R.late_einval),
           secs);
    free(R.t);
    free(R.g);
    return st_finish("stress_random");
}
