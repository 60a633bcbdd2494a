/*
 * test_event — the one-shot completion event (src/event.h) on its own:
 * done before and after the set, a registration refused once the set came
 * (and leaving nothing behind), the set's publication seen by whoever sees
 * it set, registered nodes released and their parkers woken, sleepers in
 * pl_event_leave and on their parkers released by the one set, the two
 * lifetime promises, and registrations racing with the set.
 *
 * The lifetime promises are what the library's waits stand on (worker.c):
 *   - the setter's RMW of the state word is its last access to the event:
 *     a thread that sees the event done (or is refused by it, or has left
 *     it) may free it at once, while the setter still walks its nodes;
 *   - releasing a node is the setter's last access to it (the parker it
 *     names, which outlives the wait, is woken after): a node may go away
 *     as soon as pl_event_leave returned, or pl_event_released said so.
 * Here events and nodes that may go away are on the heap and freed at
 * once: a setter that touches them afterwards is a data race with the free
 * under TSan (whatever the timing: the access is not ordered after it), and
 * a use after free under ASan whenever the free wins (the freers spin, the
 * setter walks on from node to node, with a futex wake for each sleeper).
 * Parkers are never freed before the set has returned.
 *
 * Nothing waits by sleeping for a while. A test that needs a waiter asleep
 * before the set waits until the kernel says it is (its state in
 * /proc/self/task/TID/stat), so that a wake-up the set does not make leaves
 * it asleep: the handshake then times out and the test fails instead of
 * hanging.
 */
#include "testlib.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include "event.h"
#include "park.h"

static void parker_init(struct pl_parker *p)
{
    /* Only the word matters to the event: the rest is the lot's. 1: asleep
     * or about to be (a wake stores 0). */
    memset(p, 0, sizeof *p);
    atomic_init(&p->word, 1);
}

/* n pause instructions: a short wait, to vary which of two racing threads
 * comes first. */
static void relax_for(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pl_cpu_relax();
}

/* Whether a race test runs another round: at least min of them, then more
 * until max or until its time is spent. A round costs a few thread starts
 * or scheduler hand-overs, so a loaded machine (ctest -j, a sanitizer)
 * runs fewer rounds rather than running into the test's timeout. */
#define ROUNDS_TIME_S 3.0

static bool another_round(int done, int min, int max, uint64_t t0)
{
    return done < max && (done < min || tl_since_s(t0) < ROUNDS_TIME_S);
}

/* Spins (pausing, and yielding now and then in case the other side was
 * descheduled) until cond holds; false after TL_WAIT_S. Tighter than
 * TL_SPIN_UNTIL: the thread reacts within a few pauses. */
#define SPIN_UNTIL(cond)                                                                           \
    ({                                                                                             \
        uint64_t spin_t0_ = tl_now_ns();                                                           \
        bool spin_ok_ = true;                                                                      \
        for (unsigned spin_n_ = 1; !(cond); spin_n_++) {                                           \
            if (spin_n_ % 1024 != 0) {                                                             \
                pl_cpu_relax();                                                                    \
                continue;                                                                          \
            }                                                                                      \
            if (tl_since_s(spin_t0_) > TL_WAIT_S) {                                                \
                spin_ok_ = (cond);                                                                 \
                break;                                                                             \
            }                                                                                      \
            sched_yield();                                                                         \
        }                                                                                          \
        spin_ok_;                                                                                  \
    })

static int gettid_(void)
{
    return (int)syscall(SYS_gettid);
}

/* Whether thread tid of this process is asleep in the kernel (state S):
 * for a waiter that registered, in its futex wait. Also true when its state
 * cannot be read (it is gone: the test's later checks say why). */
static bool thread_asleep(int tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the name, which may hold anything */
    return p == NULL || p[1] == '\0' || p[2] == 'S';
}

/* ---- One thread --------------------------------------------------------- */

Test(event, a_new_event_is_not_done)
{
    struct pl_event e;
    pl_event_init(&e);
    cr_assert_not(pl_event_done(&e));
    cr_assert_eq(atomic_load(&e.state), 0u, "a new event has nodes or is set");
}

Test(event, a_set_with_no_waiter_is_done)
{
    struct pl_event e;
    pl_event_init(&e);
    pl_event_set(&e);
    cr_assert(pl_event_done(&e));
    cr_assert(pl_event_done(&e), "done stays done");
}

Test(event, a_registration_after_the_set_is_refused_and_leaves_nothing_behind)
{
    /* Set with nobody registered: the state word is DONE alone. */
    struct pl_event e;
    pl_event_init(&e);
    pl_event_set(&e);
    struct pl_parker p;
    parker_init(&p);
    struct pl_event_node node = {.parker = &p, .next = NULL};
    cr_assert_not(pl_event_register(&e, &node));
    cr_assert_not(pl_event_register(&e, &node), "refused a second time too");
    cr_assert_eq(atomic_load(&e.state), PL_EV_DONE, "a refused node was pushed");
    cr_assert(pl_event_done(&e));
    cr_assert_not(pl_event_released(&node), "a refused node reads as released");
    cr_assert_eq(atomic_load(&p.word), 1u, "a parker that was never registered was woken");

    /* Set with a node registered: a refusal changes nothing either (the
     * stale stack bits above DONE are nobody's to read, but a refused
     * registration must not write them). */
    struct pl_event e2;
    pl_event_init(&e2);
    struct pl_parker pa;
    parker_init(&pa);
    struct pl_event_node a = {.parker = &pa, .next = NULL};
    cr_assert(pl_event_register(&e2, &a));
    pl_event_set(&e2);
    cr_assert(pl_event_released(&a));
    atomic_store(&pa.word, 1); /* so that a second wake shows */
    uintptr_t s = atomic_load(&e2.state);
    struct pl_parker pb;
    parker_init(&pb);
    struct pl_event_node b = {.parker = &pb, .next = NULL};
    cr_assert_not(pl_event_register(&e2, &b));
    cr_assert_eq(atomic_load(&e2.state), s, "a refused registration changed the state word");
    cr_assert_not(pl_event_released(&b));
    cr_assert_eq(atomic_load(&pb.word), 1u, "a refused registration's parker was woken");
    cr_assert_eq(atomic_load(&pa.word), 1u, "a refused registration woke an earlier parker");
}

Test(event, a_registered_node_is_released_by_the_set_and_its_parker_woken)
{
    enum { N = 3 };
    struct pl_event e;
    pl_event_init(&e);
    struct pl_parker p[N];
    struct pl_event_node node[N];
    for (int i = 0; i < N; i++) {
        parker_init(&p[i]);
        /* Node 1 names no parker (a foreign thread's wait). */
        node[i] = (struct pl_event_node){.parker = i == 1 ? NULL : &p[i], .next = NULL};
        cr_assert(pl_event_register(&e, &node[i]), "registration %d refused before the set", i);
    }
    cr_assert_not(pl_event_done(&e));
    for (int i = 0; i < N; i++)
        cr_assert_not(pl_event_released(&node[i]), "node %d released before the set", i);
    pl_event_set(&e);
    cr_assert(pl_event_done(&e));
    for (int i = 0; i < N; i++) {
        cr_assert(pl_event_released(&node[i]), "the set returned with node %d held", i);
        /* Released already: returns at once (or the test times out). */
        pl_event_leave(&node[i]);
        cr_assert(pl_event_released(&node[i]), "pl_event_leave changed a released node");
        if (i == 1) {
            cr_assert_eq(atomic_load(&p[i].word), 1u, "a parker no node named was woken");
        } else {
            cr_assert_eq(atomic_load(&p[i].word), 0u, "parker %d was not woken", i);
            pl_parker_sleep(&p[i], 0); /* returns at once: the wake-up is not lost */
        }
    }
}

/* ---- Waiters on threads of their own ------------------------------------ */

enum leave_mode {
    LEAVE_SLEEPS,       /* pl_event_leave at once: asleep on the node's word (wait_foreign) */
    LEAVE_AFTER_PARKER, /* asleep on its parker until woken, then leaves (a worker's wait) */
    LEAVE_AFTER_SPIN,   /* spins on pl_event_released, then leaves (a worker back from work) */
    LEAVE_MODES
};

/* A waiter: registers its node on e (after *go, when go is not NULL),
 * waits as its mode says, and checks that it was released and sees the
 * setter's payload. Its node is its own, or one the test put elsewhere
 * (on the heap); frees, when not NULL, is freed as soon as the wait is
 * over: before anything else, and without touching the event again. */
struct sleeper {
    struct pl_event *e;
    const int *payload; /* plain: the setter writes 42 before the set */
    enum leave_mode mode;
    struct pl_event_node *node;
    void *frees;
    atomic_int *go;
    struct pl_event_node own;
    struct pl_parker parker; /* named by the node unless no_parker */
    bool no_parker;
    atomic_int tid, registered, left;
    atomic_int bad; /* refused, timed out, or left unreleased or without the payload */
};

static void sleeper_init(struct sleeper *s, struct pl_event *e, const int *payload,
                         enum leave_mode mode, bool no_parker)
{
    s->e = e;
    s->payload = payload;
    s->mode = mode;
    s->node = &s->own;
    s->frees = NULL;
    s->go = NULL;
    parker_init(&s->parker);
    s->no_parker = no_parker && mode != LEAVE_AFTER_PARKER;
    atomic_init(&s->tid, 0);
    atomic_init(&s->registered, 0);
    atomic_init(&s->left, 0);
    atomic_init(&s->bad, 0);
}

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    atomic_store(&s->tid, gettid_());
    if (s->go != NULL && !tl_wait_flag(s->go, TL_WAIT_S)) {
        atomic_store(&s->bad, 1);
        tl_raise(&s->left);
        return NULL;
    }
    struct pl_event_node *node = s->node;
    /* The node's fields are set before it is registered: then it is the
     * setter's (the parker's word is ours until then, too). */
    node->parker = s->no_parker ? NULL : &s->parker;
    if (!pl_event_register(s->e, node)) {
        atomic_store(&s->bad, 1); /* every test sets after the registrations */
        tl_raise(&s->left);
        return NULL;
    }
    tl_raise(&s->registered);
    /* From here on the event is not ours to touch: another thread may free
     * it once it is set. */
    bool ok = true;
    if (s->mode == LEAVE_AFTER_PARKER) {
        /* Only the set wakes this parker (the sleep returns only once its
         * word was cleared), and after releasing the node: woken, the
         * waiter finds it released, or a worker's wait would go back to
         * sleep for good. */
        pl_parker_sleep(&s->parker, 0);
        ok = pl_event_released(node);
    } else if (s->mode == LEAVE_AFTER_SPIN) {
        ok = SPIN_UNTIL(pl_event_released(node));
    }
    if (!ok && s->mode == LEAVE_AFTER_SPIN) {
        atomic_store(&s->bad, 1); /* still the setter's: neither left nor freed */
        tl_raise(&s->left);
        return NULL;
    }
    pl_event_leave(node);
    if (!ok)
        atomic_store(&s->bad, 1); /* woken before it was released */
    ok = pl_event_released(node);
    if (s->frees != NULL)
        free(s->frees); /* at once: the lifetime promises */
    if (!ok || *s->payload != 42)
        atomic_store(&s->bad, 1);
    tl_raise(&s->left);
    return NULL;
}

/* On the test's thread: waits until s registered and, unless it spins, is
 * asleep in the kernel (in pl_event_leave: once its node's word says it is
 * about to sleep there), so that a wake-up the set does not make shows. The
 * node is alive until the set at least, wherever it is. */
static void await_registered(struct sleeper *s)
{
    TL_AWAIT(tl_raised(&s->registered) || tl_raised(&s->left));
    cr_assert_not(tl_raised(&s->left), "a waiter left before the set (refused, or not held)");
    if (s->mode == LEAVE_AFTER_SPIN)
        return;
    if (s->mode == LEAVE_SLEEPS)
        TL_AWAIT(atomic_load(&s->node->rel) == 2);
    TL_AWAIT(thread_asleep(atomic_load(&s->tid)));
}

/* After the set: every waiter leaves, and what the set woke is what was
 * registered. */
static void await_left(struct sleeper *s, int n, pthread_t *th, int round)
{
    for (int i = 0; i < n; i++) {
        /* Not woken, or not released: it never leaves. */
        if (!TL_SPIN_UNTIL(tl_raised(&s[i].left), TL_WAIT_S))
            cr_assert_fail("round %d: waiter %d (mode %d) never left", round, i, (int)s[i].mode);
        tl_join_thread(th[i]);
        cr_assert_eq(atomic_load(&s[i].bad), 0,
                     "round %d: waiter %d (mode %d) refused, unreleased or without the payload",
                     round, i, (int)s[i].mode);
        /* The set has returned: its wake-ups are made. */
        cr_assert_eq(atomic_load(&s[i].parker.word), s[i].no_parker ? 1u : 0u,
                     "round %d: waiter %d's parker %s", round, i,
                     s[i].no_parker ? "woken though no node named it" : "not woken");
    }
}

Test(event, a_waiter_asleep_in_pl_event_leave_is_released_by_the_set, .timeout = TL_TIMEOUT)
{
    for (int round = 0; round < TL_SIZE(20, 10); round++) {
        struct pl_event e;
        pl_event_init(&e);
        int payload = 0;
        struct sleeper s;
        /* With and without a parker: it is woken too, but the sleep is on
         * the node's word. */
        sleeper_init(&s, &e, &payload, LEAVE_SLEEPS, round % 2 == 0);
        pthread_t th = tl_thread(sleeper_main, &s);
        await_registered(&s);
        payload = 42;
        pl_event_set(&e);
        await_left(&s, 1, &th, round);
    }
}

Test(event, a_waiter_asleep_on_its_parker_is_woken_by_the_set, .timeout = TL_TIMEOUT)
{
    for (int round = 0; round < TL_SIZE(20, 10); round++) {
        struct pl_event e;
        pl_event_init(&e);
        int payload = 0;
        struct sleeper s;
        sleeper_init(&s, &e, &payload, LEAVE_AFTER_PARKER, false);
        pthread_t th = tl_thread(sleeper_main, &s);
        await_registered(&s);
        payload = 42;
        pl_event_set(&e);
        await_left(&s, 1, &th, round);
    }
}

/* ---- Many sleepers, one set --------------------------------------------- */

enum { CROWD = 4 };

Test(event, one_set_releases_every_thread_registered_and_asleep_on_it, .timeout = TL_TIMEOUT)
{
    uint64_t t0 = tl_now_ns();
    int round;
    for (round = 0; another_round(round, 20, TL_SIZE(300, 60), t0); round++) {
        struct pl_event e;
        pl_event_init(&e);
        int payload = 0;
        atomic_int go;
        atomic_init(&go, 0);
        struct sleeper s[CROWD];
        pthread_t th[CROWD];
        for (int i = 0; i < CROWD; i++) {
            /* Asleep on the node's word, with a parker or none, or on the
             * parker: in every mix over the rounds. */
            int k = (round + i) % 3;
            sleeper_init(&s[i], &e, &payload, k == 2 ? LEAVE_AFTER_PARKER : LEAVE_SLEEPS, k == 0);
            s[i].go = &go;
            th[i] = tl_thread(sleeper_main, &s[i]);
        }
        /* All at the gate, then all at once: their pushes contend, and a
         * push that loses another's node leaves that one asleep. */
        for (int i = 0; i < CROWD; i++)
            TL_AWAIT(atomic_load(&s[i].tid) != 0);
        tl_raise(&go);
        for (int i = 0; i < CROWD; i++)
            await_registered(&s[i]);
        payload = 42;
        pl_event_set(&e);
        await_left(s, CROWD, th, round);
    }
}

/* ---- The set publishes what came before it ------------------------------ */

struct published {
    struct pl_event e;
    int payload; /* plain: TSan reports a race unless the set publishes it */
};

static void *publish_then_set(void *arg)
{
    struct published *p = arg;
    p->payload = 42;
    pl_event_set(&p->e);
    return NULL;
}

/* Whoever learns that the event is set, however: by pl_event_done, by
 * pl_event_leave or pl_event_released after registering before the set,
 * or by a refused registration (after seeing the set with a relaxed load,
 * which orders nothing: the refusal's own acquire must). The setter's
 * write comes after the thread started, so only the event orders it
 * before the read. */
Test(event, what_was_written_before_the_set_is_seen_once_it_is_done, .timeout = TL_TIMEOUT)
{
    static const char *const how[] = {"done", "left", "released", "refused"};
    int round;
    uint64_t t0 = tl_now_ns();
    for (round = 0; another_round(round, 100, TL_SIZE(2000, 300), t0); round++) {
        int k = round % 4;
        struct published p;
        pl_event_init(&p.e);
        p.payload = 0;
        struct pl_event_node node = {.parker = NULL, .next = NULL};
        if (k == 1 || k == 2)
            cr_assert(pl_event_register(&p.e, &node));
        pthread_t th = tl_thread(publish_then_set, &p);
        if (k == 0) {
            TL_AWAIT(pl_event_done(&p.e));
        } else if (k == 1) {
            pl_event_leave(&node);
        } else if (k == 2) {
            TL_AWAIT(pl_event_released(&node));
        } else {
            TL_AWAIT(atomic_load_explicit(&p.e.state, memory_order_relaxed) & PL_EV_DONE);
            cr_assert_not(pl_event_register(&p.e, &node), "round %d: registered once set", round);
        }
        /* Read before the join, which would order it anyway. */
        cr_assert_eq(p.payload, 42, "round %d: %s, but the setter's write not seen", round, how[k]);
        if (k == 2)
            pl_event_leave(&node); /* released already: returns at once */
        tl_join_thread(th);
    }
}

/* ---- The lifetime promises ---------------------------------------------- */

/* The event, and the node of the waiter that frees it in half the rounds:
 * on the heap, freed at once. */
struct record {
    struct pl_event e;
    struct pl_event_node node;
};

enum { FREE_WAITERS = 3 };

/* A thread that registered nothing: it frees the record as soon as it
 * sees the event done, while the setter may still be walking the waiters'
 * nodes (how often it still is, is logged). */
struct freer {
    struct record *rec;
    atomic_int ready, freed, bad;
};

static void *free_once_done(void *arg)
{
    struct freer *f = arg;
    struct record *rec = f->rec;
    tl_raise(&f->ready);
    if (!SPIN_UNTIL(pl_event_done(&rec->e))) {
        atomic_store(&f->bad, 1); /* never set: the setter may still come */
        return NULL;
    }
    free(rec);
    tl_raise(&f->freed);
    return NULL;
}

/* The setter's RMW is its last access to the event. Each round the event
 * is freed at once by a thread that learnt it was set: a bystander that
 * saw it done (any access of the setter's after its RMW is then unordered
 * with the free: TSan; and under ASan, one after the walk, or in it, is a
 * use after free whenever the free comes first, as it does in most rounds:
 * logged), or a waiter whose node lies in the freed record, as soon as
 * pl_event_leave returned, while the setter walks on to the other nodes
 * (an access after releasing that node). The waiters sleep in
 * pl_event_leave, on their parkers, or spin; they register one at a time,
 * so that the freeing waiter's node comes first, in the middle or last in
 * the setter's walk. */
Test(event, a_thread_that_sees_the_event_done_may_free_it_at_once, .timeout = TL_TIMEOUT)
{
    int round, by_bystander = 0, before_set_returned = 0;
    uint64_t t0 = tl_now_ns();
    for (round = 0; another_round(round, 60, TL_SIZE(3000, 1500), t0); round++) {
        bool bystander = round % 2 == 0;
        struct record *rec = malloc(sizeof *rec);
        cr_assert_not_null(rec);
        pl_event_init(&rec->e);
        int payload = 0;
        int freeing = bystander ? -1 : round / 6 % FREE_WAITERS;
        struct sleeper s[FREE_WAITERS];
        pthread_t th[FREE_WAITERS];
        for (int i = 0; i < FREE_WAITERS; i++) {
            /* With a bystander, none spins: the freer has a CPU to itself
             * (where there are two), and sees the set at once. */
            enum leave_mode mode =
                (enum leave_mode)((round / 2 + i) % (bystander ? LEAVE_AFTER_SPIN : LEAVE_MODES));
            sleeper_init(&s[i], &rec->e, &payload, mode, (round + i) % 4 == 3);
            if (i == freeing) {
                s[i].node = &rec->node;
                s[i].frees = rec;
            }
            th[i] = tl_thread(sleeper_main, &s[i]);
            await_registered(&s[i]);
        }
        struct freer f = {.rec = rec};
        atomic_init(&f.ready, 0);
        atomic_init(&f.freed, 0);
        atomic_init(&f.bad, 0);
        pthread_t fth;
        if (bystander) {
            fth = tl_thread(free_once_done, &f);
            TL_AWAIT(tl_raised(&f.ready));
        }
        payload = 42;
        pl_event_set(&rec->e); /* rec is not ours to touch from here on */
        bool early = bystander && tl_raised(&f.freed);
        await_left(s, FREE_WAITERS, th, round);
        if (bystander) {
            tl_join_thread(fth);
            cr_assert_eq(atomic_load(&f.bad), 0, "round %d: the freer never saw the event done",
                         round);
            cr_assert(tl_raised(&f.freed));
            by_bystander++;
            before_set_returned += early;
        }
    }
    cr_log_info("event lifetime: %d rounds; in %d of the %d with a bystander, the event was "
                "freed before the set returned",
                round, before_set_returned, by_bystander);
}

/* Releasing a node is the setter's last access to it: each waiter's node
 * is on the heap, freed as soon as pl_event_leave returned (for a spinning
 * waiter, as soon as pl_event_released said so and the leave returned at
 * once), while the setter goes on to wake its parker and walk to the next
 * node. A setter that reads a node's link or parker after releasing it, or
 * a leave that returns before the release, is caught by TSan or ASan. */
Test(event, a_node_may_be_freed_as_soon_as_pl_event_leave_returns, .timeout = TL_TIMEOUT)
{
    enum { N = 3 };
    int round;
    uint64_t t0 = tl_now_ns();
    for (round = 0; another_round(round, 60, TL_SIZE(3000, 1500), t0); round++) {
        struct pl_event e;
        pl_event_init(&e);
        int payload = 0;
        struct sleeper s[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            enum leave_mode mode = (enum leave_mode)((round + i) % LEAVE_MODES);
            sleeper_init(&s[i], &e, &payload, mode, (round / 3 + i) % 4 == 3);
            s[i].node = malloc(sizeof *s[i].node);
            cr_assert_not_null(s[i].node);
            s[i].frees = s[i].node;
            th[i] = tl_thread(sleeper_main, &s[i]);
            await_registered(&s[i]);
        }
        payload = 42;
        pl_event_set(&e);
        await_left(s, N, th, round);
    }
}

/* ---- Registration racing with the set ----------------------------------- */

/* A registrant thread and the setter (the test's thread), on two CPUs
 * where there are two, meet at the start of each round with a tight spin,
 * then each pauses before its call: the registrant a random few
 * instructions, the setter for a time steered so that the set keeps
 * landing on the registration (longer after a round the registrant lost,
 * shorter after one it won), so that both orders keep coming whatever the
 * machine's load.
 *
 * A registration that succeeds must be released by the set (never lost),
 * and then see the setter's payload; a refused one must see the payload
 * (before anything else could order it: the refusal's acquire must) and
 * find the event set, and its node must not have reached the setter.
 *
 * The narrow case is a registration whose CAS the set's RMW beats: it read
 * the state before the set, so it must fail, reread, find DONE and refuse
 * (with acquire: it may free the event at once). Between its load and its
 * CAS, pl_event_register writes the node's link; in half the rounds the
 * racing node is placed so that its link is the last word of a page not
 * touched yet, its rel word the first of a page touched already (written
 * before the load), and its parker NULL as the fresh page reads: the write
 * faults, and the few instructions of the window become a page fault's
 * microseconds. Such a round's registrant sleeps in pl_event_leave (a lost
 * node never wakes: the setter times out waiting for the round's end). In
 * the other half the racing node is on the heap and names a parker, which
 * must be woken when registered and not when refused; its registrant spins
 * on pl_event_released, then leaves. In every other round the registrant
 * first registers an earlier node, so that the racing push lands on a
 * non-empty stack and the setter has two nodes to walk.
 *
 * Every round's event and its heap nodes are freed by the registrant as
 * soon as it may (a node once released or refused, the event once it left
 * or was refused: either way it synchronised with the setter's RMW), while
 * the setter may still be in pl_event_set. */
struct race_event {
    struct pl_event e;
    int payload; /* plain: the setter writes the round's number + 1 before the set */
};

struct race {
    unsigned *racer_delay;           /* per round, in pause instructions */
    int rounds;                      /* at most */
    _Atomic(struct race_event *) ev; /* this round's, published with ready */
    atomic_int ready;                /* rounds the registrant has prepared */
    atomic_int round;                /* raised by the setter: round i begins when it reads i + 1 */
    atomic_int stop;                 /* raised by the setter instead, when it runs no more rounds */
    atomic_int set_done;             /* rounds whose set returned */
    atomic_int finished;             /* rounds the registrant is done with */
    atomic_int registered, refused;  /* rounds that went either way */
    atomic_int refused_late;         /* refused after writing the link: the set beat the CAS */
    atomic_int bad; /* lost, refused though not set, no payload, a parker woken wrongly */
    int cpu;        /* the registrant's */
    struct pl_parker p, earlier_p; /* the registrant's, for every round */
};

/* Where the faulting nodes go: round after round astride the boundary
 * between two pages of a mapping, a fresh one below and one touched just
 * before, below the next pair. The pages go back all at once when the
 * mapping is used up (one system call per RACER_PAGES rounds: dropping a
 * page costs every core a TLB flush). */
enum { RACER_PAGES = 256 };

struct racer_pages {
    char *base;
    size_t page;
    unsigned next; /* the pair to use next: 0 .. RACER_PAGES - 1 */
};

static bool racer_pages_map(struct racer_pages *rp)
{
    rp->page = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, 2 * RACER_PAGES * rp->page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    /* Pages of their own: a huge page would bring in the fresh page with
     * the touched one. */
    (void)madvise(m, 2 * RACER_PAGES * rp->page, MADV_NOHUGEPAGE);
    rp->base = m;
    rp->next = 0;
    return true;
}

/* A node whose parker and link lie at the end of a fresh page (zero: its
 * parker is NULL without a write), its rel word at the start of the next
 * page, touched here. NULL when the pages could not be given back. */
static struct pl_event_node *racer_pages_take(struct racer_pages *rp, char **fresh)
{
    if (rp->next == RACER_PAGES) {
        if (madvise(rp->base, 2 * RACER_PAGES * rp->page, MADV_DONTNEED) != 0)
            return NULL;
        rp->next = 0;
    }
    char *touched = rp->base + (size_t)(2 * rp->next++ + 1) * rp->page;
    touched[rp->page / 2] = 1;
    *fresh = touched - rp->page;
    return (struct pl_event_node *)(void *)(touched - offsetof(struct pl_event_node, rel));
}

/* Whether the page at p is in memory: written, here (nothing reads it). */
static bool page_resident(char *p)
{
    unsigned char v = 0;
    return mincore(p, 1, &v) == 0 && (v & 1);
}

/* Spins (pausing, and yielding now and then in case the other side was
 * descheduled) until *v >= want or *stop (when not NULL) is raised; false
 * after TL_WAIT_S. */
static bool spin_until_at_least(atomic_int *v, int want, atomic_int *stop)
{
    return SPIN_UNTIL(atomic_load_explicit(v, memory_order_acquire) >= want ||
                      (stop != NULL && tl_raised(stop)));
}

/* One round on the registrant's side; false when something went wrong
 * (then what the setter may still hold is left alone). */
static bool race_round(struct race *r, struct racer_pages *rp, int i)
{
    bool faulting = i / 2 % 2 == 0;
    struct race_event *re = malloc(sizeof *re);
    struct pl_event_node *earlier = i % 2 == 1 ? malloc(sizeof *earlier) : NULL;
    char *fresh = NULL;
    struct pl_event_node *node = faulting ? racer_pages_take(rp, &fresh) : malloc(sizeof *node);
    if (re == NULL || node == NULL || (i % 2 == 1 && earlier == NULL))
        return false;
    /* Here, not on the setter's side: the event's line starts every round
     * in the registrant's cache. */
    pl_event_init(&re->e);
    re->payload = 0;
    if (!faulting) {
        atomic_store(&r->p.word, 1);
        node->parker = &r->p;
    }
    if (earlier != NULL) {
        atomic_store(&r->earlier_p.word, 1);
        earlier->parker = &r->earlier_p;
        if (!pl_event_register(&re->e, earlier))
            return false; /* refused before the round began */
    }
    atomic_store_explicit(&r->ev, re, memory_order_relaxed);
    atomic_store_explicit(&r->ready, i + 1, memory_order_release);
    if (!spin_until_at_least(&r->round, i + 1, &r->stop))
        return false;
    if (atomic_load_explicit(&r->round, memory_order_acquire) < i + 1) {
        /* Stopped: this round's event is never set, and nobody else has
         * it. */
        free(re);
        free(earlier);
        if (!faulting)
            free(node);
        return true;
    }
    relax_for(r->racer_delay[i]);
    bool registered = pl_event_register(&re->e, node);
    if (registered) {
        if (!faulting && !SPIN_UNTIL(pl_event_released(node)))
            return false; /* lost */
        pl_event_leave(node);
        if (!pl_event_released(node) || re->payload != i + 1)
            return false;
        atomic_fetch_add(&r->registered, 1);
    } else {
        /* The payload first: pl_event_done's acquire would order it. */
        if (re->payload != i + 1 || !pl_event_done(&re->e))
            return false;
        atomic_fetch_add(&r->refused, 1);
        if (faulting && page_resident(fresh))
            atomic_fetch_add(&r->refused_late, 1);
    }
    if (!faulting)
        free(node);
    if (earlier != NULL) {
        pl_event_leave(earlier);
        if (!pl_event_released(earlier))
            return false;
        free(earlier);
    }
    free(re); /* the setter may still be walking */
    if (!spin_until_at_least(&r->set_done, i + 1, NULL))
        return false;
    /* The set has returned: its wake-ups are made. */
    if (!faulting && atomic_load(&r->p.word) != (registered ? 0u : 1u))
        return false;
    return earlier == NULL || atomic_load(&r->earlier_p.word) == 0;
}

/* The first two CPUs the process may use, or -1. */
static void two_cpus(int cpu[2])
{
    cpu_set_t set;
    cpu[0] = cpu[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &set))
            cpu[k++] = c;
}

/* Keeps the calling thread on cpu (when there is one): the two sides of
 * the race on two CPUs always overlap; sharing one, they would take turns
 * and meet only where one is preempted. */
static void pin_to(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *race_registrant(void *arg)
{
    struct race *r = arg;
    pin_to(r->cpu);
    struct racer_pages rp;
    if (!racer_pages_map(&rp)) {
        atomic_fetch_add(&r->bad, 1);
        return NULL;
    }
    for (int i = 0; i < r->rounds && !tl_raised(&r->stop); i++) {
        if (!race_round(r, &rp, i)) {
            /* The setter may still hold the nodes: leave them be. */
            atomic_fetch_add(&r->bad, 1);
            return NULL;
        }
        atomic_store_explicit(&r->finished, i + 1, memory_order_release);
    }
    munmap(rp.base, 2 * RACER_PAGES * rp.page);
    return NULL;
}

Test(event, registrations_racing_with_the_set_are_either_released_or_refused, .timeout = TL_TIMEOUT)
{
    struct race r;
    /* TSan slows the handshakes of a round some fifteenfold. */
    r.rounds = TL_TSAN ? 4000 : TL_SIZE(50000, 20000);
    /* Few rounds are enough when the machine is busy: the fault makes the
     * narrow case common. */
    const int min_rounds = TL_TSAN ? 300 : 500;
    r.racer_delay = calloc((size_t)r.rounds, sizeof *r.racer_delay);
    cr_assert_not_null(r.racer_delay);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < r.rounds; i++)
        r.racer_delay[i] = (unsigned)(tl_xorshift(&rng) % 8);
    atomic_init(&r.ev, NULL);
    atomic_init(&r.ready, 0);
    atomic_init(&r.round, 0);
    atomic_init(&r.stop, 0);
    atomic_init(&r.set_done, 0);
    atomic_init(&r.finished, 0);
    atomic_init(&r.registered, 0);
    atomic_init(&r.refused, 0);
    atomic_init(&r.refused_late, 0);
    atomic_init(&r.bad, 0);
    parker_init(&r.p);
    parker_init(&r.earlier_p);
    int cpu[2];
    two_cpus(cpu);
    cpu_set_t was;
    cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof was, &was), 0);
    r.cpu = cpu[1] >= 0 ? cpu[0] : -1;
    pin_to(cpu[1]);
    pthread_t th = tl_thread(race_registrant, &r);
    /* Pauses before the set, steered by who won, for each kind of round
     * (faulting or not, with or without an earlier node) apart: they
     * cross at different points. */
    unsigned bias[4] = {0, 0, 0, 0};
    uint64_t t0 = tl_now_ns();
    int rounds;
    for (rounds = 0; another_round(rounds, min_rounds, r.rounds, t0); rounds++) {
        int i = rounds;
        if (!spin_until_at_least(&r.ready, i + 1, &r.bad) || tl_raised(&r.bad))
            cr_assert_fail("round %d: the registrant never got ready, or found it wrong (%d)", i,
                           atomic_load(&r.bad));
        struct race_event *re = atomic_load_explicit(&r.ev, memory_order_relaxed);
        int refused_before = atomic_load(&r.refused);
        atomic_store_explicit(&r.round, i + 1, memory_order_release);
        unsigned *b = &bias[i % 4];
        relax_for(*b + (unsigned)(tl_xorshift(&rng) % 8));
        re->payload = i + 1;
        pl_event_set(&re->e); /* re is the registrant's to free from here on */
        atomic_store_explicit(&r.set_done, i + 1, memory_order_release);
        /* A registration the set lost never leaves. */
        if (!spin_until_at_least(&r.finished, i + 1, &r.bad) || tl_raised(&r.bad))
            cr_assert_fail("round %d: the registrant never left, or found it wrong (%d)", i,
                           atomic_load(&r.bad));
        /* Steps in proportion, so that it finds the crossing as fast
         * under TSan (thousands of pauses) as on a quiet machine (a few). */
        unsigned step = 1 + *b / 8;
        if (atomic_load(&r.refused) != refused_before)
            *b = *b < 65536 ? *b + step : *b;
        else
            *b = *b > step ? *b - step : 0;
    }
    tl_raise(&r.stop);
    tl_join_thread(th);
    pthread_setaffinity_np(pthread_self(), sizeof was, &was);
    cr_assert_eq(atomic_load(&r.bad), 0);
    int registered = atomic_load(&r.registered), refused = atomic_load(&r.refused);
    cr_assert_eq(registered + refused, rounds);
    /* The steering makes both orders common: a run without one of them
     * tested only half the race. */
    cr_assert(registered > 0 && refused > 0,
              "the race went one way only: %d registrations released, %d refused", registered,
              refused);
    /* How often the set beat a CAS is up to the machine: logged. */
    cr_log_info("event race: %d rounds, %d registrations released, %d refused (%d of them after "
                "the set beat the CAS)",
                rounds, registered, refused, atomic_load(&r.refused_late));
    free(r.racer_delay);
}
