/*
 * test_event — the one-shot completion event (src/event.h) on its own:
 * done and can_leave before and after the set, a registration refused
 * once the set came, the set's release seen by its waiters, every
 * registered sleeper woken by the one set, registrations racing with the
 * set, and the lifetime promise: a waiter may free the event as soon as
 * pl_event_can_leave says so, while the setter is still in pl_event_set.
 *
 * Waiters keep to the protocol of the library's own waits (worker.c,
 * wait_foreign): raise the parker's word, register, sleep if registered,
 * then spin until they may leave. A lost wake-up shows up as a hang (the
 * sleep has no deadline: only the set ends it; the test's timeout catches
 * it); a setter that touches the event after letting its waiters go, as
 * a use after free under ASan or a data race under TSan.
 */
#include "testlib.h"

#include <sys/mman.h>

#include "event.h"
#include "park.h"

static void parker_init(struct pl_parker *p)
{
    /* Only the word matters to the event: the rest is the lot's. */
    memset(p, 0, sizeof *p);
    atomic_init(&p->word, 1);
}

/* A waiter's side of the protocol (wait_foreign, without its first spin),
 * with its parker and node wherever the caller keeps them. Counts itself
 * in *registered (when not NULL) once registered, so that a test can set
 * while the waiter sleeps. A waiter that does not sleep spins to leave at once,
 * as a worker's wait may after it registered (it ran other work and came
 * back to find the event set). Returns whether it registered; *left is
 * false when it timed out waiting to leave (then neither the event nor
 * the node may be freed). */
static bool wait_on(struct pl_event *e, struct pl_parker *p, struct pl_event_node *node,
                    atomic_int *registered_count, bool sleeps, bool *left)
{
    bool registered = false;
    if (!pl_event_done(e)) {
        /* relaxed: only we and, once we are registered, the setter touch
         * the word. */
        atomic_store_explicit(&p->word, 1, memory_order_relaxed);
        node->parker = p; /* next is pl_event_register's to write */
        registered = pl_event_register(e, node);
        if (registered && registered_count != NULL)
            atomic_fetch_add_explicit(registered_count, 1, memory_order_release);
        if (registered && sleeps)
            pl_parker_sleep(p, 0); /* only the set wakes this parker */
    }
    *left = TL_SPIN_UNTIL(pl_event_can_leave(e), TL_WAIT_S);
    return registered;
}

/* n pause instructions: a short wait, to vary which of two racing threads
 * comes first. */
static void relax_for(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pl_cpu_relax();
}

/* Whether a race test runs another round: at least min of them, then more
 * until max or until its time is spent. A round costs a few scheduler
 * hand-overs, so a loaded machine (ctest -j, a sanitizer) runs fewer
 * rounds rather than running into the test's timeout. */
#define ROUNDS_TIME_S 3.0

static bool another_round(int done, int min, int max, uint64_t t0)
{
    return done < max && (done < min || tl_since_s(t0) < ROUNDS_TIME_S);
}

/* ---- One thread --------------------------------------------------------- */

Test(event, a_new_event_is_not_done_and_cannot_be_left)
{
    struct pl_event e;
    pl_event_init(&e);
    cr_assert_not(pl_event_done(&e));
    cr_assert_not(pl_event_can_leave(&e), "a waiter could leave an event never set");
}

Test(event, a_set_with_no_waiter_is_done_and_may_be_left_at_once)
{
    struct pl_event e;
    pl_event_init(&e);
    pl_event_set(&e);
    cr_assert(pl_event_done(&e));
    cr_assert(pl_event_can_leave(&e), "nobody registered, so there is no release to wait for");
}

Test(event, a_registration_after_the_set_is_refused_and_leaves_nothing_behind)
{
    struct pl_event e;
    pl_event_init(&e);
    pl_event_set(&e);
    struct pl_parker p;
    parker_init(&p);
    struct pl_event_node node = {.parker = &p, .next = NULL};
    cr_assert_not(pl_event_register(&e, &node));
    cr_assert_not(pl_event_register(&e, &node), "refused a second time too");
    cr_assert_null(e.nodes, "a refused node stayed in the list");
    /* A refused registrant left no WAITER behind: otherwise every later
     * waiter would wait for a release that never comes. */
    cr_assert(pl_event_can_leave(&e));
    cr_assert(pl_event_done(&e));
    cr_assert_eq(atomic_load(&p.word), 1u, "a parker that was never registered was woken");
}

Test(event, the_set_wakes_every_registered_parker_before_anyone_may_leave)
{
    enum { N = 3 };
    struct pl_event e;
    pl_event_init(&e);
    struct pl_parker p[N];
    struct pl_event_node node[N];
    for (int i = 0; i < N; i++) {
        parker_init(&p[i]);
        node[i] = (struct pl_event_node){.parker = &p[i], .next = NULL};
        cr_assert(pl_event_register(&e, &node[i]), "registration %d refused before the set", i);
    }
    cr_assert_not(pl_event_done(&e));
    cr_assert_not(pl_event_can_leave(&e), "a registered waiter could leave before the set");
    pl_event_set(&e);
    cr_assert(pl_event_done(&e));
    cr_assert(pl_event_can_leave(&e), "the set returned without releasing its waiters");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&p[i].word), 0u, "parker %d was not woken", i);
        pl_parker_sleep(&p[i], 0); /* returns at once: the wake-up is not lost */
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

Test(event, what_was_written_before_the_set_is_seen_once_it_is_done, .timeout = TL_TIMEOUT)
{
    for (int round = 0; round < TL_SIZE(2000, 300); round++) {
        struct published p;
        pl_event_init(&p.e);
        p.payload = 0;
        pthread_t th = tl_thread(publish_then_set, &p);
        /* Read before the join, which would order it anyway. */
        TL_AWAIT(pl_event_done(&p.e));
        cr_assert_eq(p.payload, 42, "round %d: done, but the setter's write not seen", round);
        TL_AWAIT(pl_event_can_leave(&p.e));
        tl_join_thread(th);
    }
}

/* ---- Many sleepers, one set --------------------------------------------- */

enum { CROWD = 4 };

struct crowd {
    struct pl_event e;
    int payload; /* plain, written by the setter just before the set */
    atomic_int registered;
    atomic_int bad; /* waiters that timed out leaving, or left without the payload */
};

static void *crowd_waiter(void *arg)
{
    struct crowd *c = arg;
    struct pl_parker p;
    struct pl_event_node node;
    bool left;
    wait_on(&c->e, &p, &node, &c->registered, true, &left);
    if (!left || c->payload != 42)
        atomic_fetch_add(&c->bad, 1);
    return NULL;
}

Test(event, one_set_wakes_every_thread_asleep_on_it, .timeout = TL_TIMEOUT)
{
    for (int round = 0; round < TL_SIZE(200, 40); round++) {
        struct crowd c;
        pl_event_init(&c.e);
        c.payload = 0;
        atomic_init(&c.registered, 0);
        atomic_init(&c.bad, 0);
        pthread_t th[CROWD];
        for (int i = 0; i < CROWD; i++)
            th[i] = tl_thread(crowd_waiter, &c);
        /* The set comes after every registration: none may be refused. */
        TL_AWAIT(atomic_load(&c.registered) == CROWD);
        /* Some are asleep in the futex by now, some about to be: the
         * parker's word serves both. */
        c.payload = 42;
        pl_event_set(&c.e);
        /* A waiter that was not woken never returns: the timeout. */
        for (int i = 0; i < CROWD; i++)
            tl_join_thread(th[i]);
        cr_assert_eq(atomic_load(&c.bad), 0, "round %d: %d waiters left badly", round,
                     atomic_load(&c.bad));
    }
}

/* ---- The lifetime promise ----------------------------------------------- */

/* The event lives in a record with its waiter's parker and node, and the
 * waiter frees the record as soon as it may leave: a setter that touches
 * any of them after letting the waiter go is a use after free. Bystander
 * nodes (their parkers outside the record, alive for the whole round) keep
 * the setter walking around the waiter's node: registered before it, they
 * lie behind it in the list (a stack), and the setter walks on after
 * waking the waiter; registered after it, they come first, and the
 * waiter's node is the setter's last. Some waiters sleep; some register
 * and then spin. */
struct record {
    struct pl_event e;
    struct pl_parker p;
    struct pl_event_node node;
};

struct leaver {
    struct record *rec; /* freed by the waiter */
    bool sleeps;
    atomic_int ready, go; /* so that the set can race with the waiter's arrival */
    atomic_int registered;
    atomic_int freed;
    atomic_int timed_out;
};

static void *wait_then_free(void *arg)
{
    struct leaver *l = arg;
    struct record *rec = l->rec;
    bool left = false;
    tl_raise(&l->ready);
    if (tl_wait_flag(&l->go, TL_WAIT_S))
        wait_on(&rec->e, &rec->p, &rec->node, &l->registered, l->sleeps, &left);
    if (!left) {
        tl_raise(&l->timed_out); /* the setter may still use it: do not free */
        return NULL;
    }
    free(rec);
    tl_raise(&l->freed);
    return NULL;
}

enum lifetime_mode {
    BEHIND_ASLEEP, /* bystanders first; set once the waiter registered */
    BEHIND_RACING, /* bystanders first; set after a random pause, racing its arrival */
    BEHIND_RACING_SPINNING,
    AHEAD_ASLEEP,   /* the waiter registers, then the bystanders, then the set */
    AHEAD_SPINNING, /* the same, the waiter spinning to leave instead of sleeping */
    MODES
};

static void register_bystanders(struct pl_event *e, struct pl_parker *bp, struct pl_event_node *bn,
                                int n)
{
    for (int i = 0; i < n; i++) {
        parker_init(&bp[i]);
        bn[i] = (struct pl_event_node){.parker = &bp[i], .next = NULL};
        cr_assert(pl_event_register(e, &bn[i]), "a registration before the set refused");
    }
}

Test(event, a_waiter_may_free_the_event_while_the_setter_is_still_walking, .timeout = TL_TIMEOUT)
{
    enum { BYSTANDERS = 3 };
    struct pl_parker bp[BYSTANDERS];
    struct pl_event_node bn[BYSTANDERS];
    int registered = 0, must_register = 0, round;
    uint64_t rng = 0x243f6a8885a308d3ull;
    uint64_t t0 = tl_now_ns();
    for (round = 0; another_round(round, 200, TL_SIZE(2000, 400), t0); round++) {
        enum lifetime_mode mode = (enum lifetime_mode)(round % MODES);
        bool ahead = mode == AHEAD_ASLEEP || mode == AHEAD_SPINNING;
        bool racing = mode == BEHIND_RACING || mode == BEHIND_RACING_SPINNING;
        int bystanders = round / MODES % (BYSTANDERS + 1);
        if (ahead && bystanders == 0)
            bystanders = 1;
        struct leaver l;
        l.rec = malloc(sizeof *l.rec);
        cr_assert_not_null(l.rec);
        pl_event_init(&l.rec->e);
        l.sleeps = mode != BEHIND_RACING_SPINNING && mode != AHEAD_SPINNING;
        atomic_init(&l.ready, 0);
        atomic_init(&l.go, 0);
        atomic_init(&l.registered, 0);
        atomic_init(&l.freed, 0);
        atomic_init(&l.timed_out, 0);
        struct pl_event *e = &l.rec->e; /* not touched after the set */
        if (!ahead)
            register_bystanders(e, bp, bn, bystanders);
        pthread_t th = tl_thread(wait_then_free, &l);
        TL_AWAIT(tl_raised(&l.ready));
        tl_raise(&l.go);
        if (racing) {
            relax_for((unsigned)(tl_xorshift(&rng) % 4096));
        } else {
            TL_AWAIT(tl_raised(&l.registered));
            must_register++;
        }
        if (ahead)
            register_bystanders(e, bp, bn, bystanders);
        pl_event_set(e);
        tl_join_thread(th);
        cr_assert_not(tl_raised(&l.timed_out), "round %d: the waiter was never let go", round);
        cr_assert(tl_raised(&l.freed));
        registered += tl_raised(&l.registered);
        for (int i = 0; i < bystanders; i++)
            cr_assert_eq(atomic_load(&bp[i].word), 0u, "round %d: bystander %d not woken", round,
                         i);
    }
    cr_log_info("event lifetime: the waiter registered in %d of %d rounds (%d racing rounds)",
                registered, round, round - must_register);
}

/* ---- Registration racing with the set ----------------------------------- */

/* A registrant thread and the setter (the test's thread) meet at the start
 * of each round with a tight spin, then each pauses before its call: the
 * registrant a random few instructions, the setter for a time steered so
 * that the set keeps landing on the registration (longer after a round the
 * registrant lost, shorter after one it won), so that both orders keep
 * coming whatever the machine's load.
 *
 * The narrow case is a registrant that took the list's lock before the set
 * and finds DONE when it adds WAITER: it must take its node back, and
 * clear WAITER unless an earlier node had set it, or nobody could ever
 * leave; and when one had, leave it set, or the earlier node's waiter
 * could leave while the setter still walks to it. Between taking the lock
 * and adding WAITER, pl_event_register writes the node's link, and the
 * racing node is placed so that its link is the first word of a page not
 * touched yet: the write faults, and the few instructions of the window
 * become a page fault's microseconds.
 *
 * In half the rounds the registrant first registers an earlier node (on
 * the heap, freed once it may leave: a setter reaching it after the
 * release is a use after free). It does not sleep, so that rounds are
 * short: it spins to leave, and a registered node the set did not wake is
 * a lost wake-up; a refused one the set did wake was left in the list. */
struct race {
    struct pl_event *ev;   /* one per round */
    unsigned *racer_delay; /* per round, in pause instructions */
    int rounds;            /* at most */
    atomic_int ready;      /* rounds the registrant has prepared */
    atomic_int round;      /* raised by the setter: round i begins when it reads i + 1 */
    atomic_int stop;       /* raised by the setter instead, when it runs no more rounds */
    atomic_int finished;   /* rounds the registrant is done with */
    atomic_int registered, refused;
    atomic_int bad; /* timed out, not woken, woken though refused, refused though not set */
    int cpu;        /* the registrant's */
};

struct waiter_mem {
    struct pl_parker p;
    struct pl_event_node node;
};

/* Where the racing parker and node go: round after round at the next page
 * boundary of a mapping, all but the node's link at the end of a page the
 * round before touched, the link at the start of the next, fresh one. The
 * pages go back all at once when the mapping is used up (one system call
 * per RACER_PAGES rounds: dropping a page costs every core a TLB flush). */
enum { RACER_PAGES = 256 };

struct racer_pages {
    char *base;
    size_t page;
    unsigned next; /* the boundary to use next: 1 .. RACER_PAGES */
};

static bool racer_pages_map(struct racer_pages *rp)
{
    rp->page = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, (RACER_PAGES + 1) * rp->page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    rp->base = m;
    rp->next = 1;
    return true;
}

static bool racer_pages_take(struct racer_pages *rp, struct pl_parker **p,
                             struct pl_event_node **node)
{
    if (rp->next > RACER_PAGES) {
        if (madvise(rp->base, (RACER_PAGES + 1) * rp->page, MADV_DONTNEED) != 0)
            return false;
        rp->next = 1;
    }
    char *boundary = rp->base + (size_t)rp->next++ * rp->page;
    *node = (struct pl_event_node *)(void *)(boundary - offsetof(struct pl_event_node, next));
    *p = (struct pl_parker *)(void *)(boundary - 128);
    return true;
}

/* Spins (pausing, and yielding now and then in case the other side was
 * descheduled) until *v >= want or *stop (when not NULL) is raised; false
 * after TL_WAIT_S. */
static bool spin_until_at_least(atomic_int *v, int want, atomic_int *stop)
{
    uint64_t t0 = tl_now_ns();
    for (unsigned n = 1; atomic_load_explicit(v, memory_order_acquire) < want; n++) {
        if (stop != NULL && tl_raised(stop))
            return true;
        if (n % 1024 != 0) {
            pl_cpu_relax();
            continue;
        }
        if (tl_since_s(t0) > TL_WAIT_S)
            return false;
        sched_yield();
    }
    return true;
}

static bool race_round(struct race *r, int i, struct racer_pages *rp, struct waiter_mem *earlier)
{
    struct pl_event *e = &r->ev[i];
    /* Here, not on the setter's side: the event's line starts every round
     * in the registrant's cache, as it does after registering the earlier
     * node. */
    pl_event_init(e);
    if (earlier != NULL) {
        parker_init(&earlier->p);
        earlier->node = (struct pl_event_node){.parker = &earlier->p, .next = NULL};
        if (!pl_event_register(e, &earlier->node))
            return false; /* refused before the round began */
    }
    struct pl_parker *p;
    struct pl_event_node *node;
    if (!racer_pages_take(rp, &p, &node))
        return false;
    parker_init(p);
    atomic_store_explicit(&r->ready, i + 1, memory_order_release);
    if (!spin_until_at_least(&r->round, i + 1, &r->stop))
        return false;
    if (atomic_load_explicit(&r->round, memory_order_acquire) < i + 1)
        return true; /* stopped: this round's event is never set */
    relax_for(r->racer_delay[i]);
    bool left;
    bool registered = wait_on(e, p, node, NULL, false, &left);
    if (!left)
        return false;
    if (registered) {
        atomic_fetch_add(&r->registered, 1);
        if (atomic_load(&p->word) != 0)
            return false;
    } else {
        atomic_fetch_add(&r->refused, 1);
        if (!pl_event_done(e) || atomic_load(&p->word) != 1)
            return false;
    }
    return earlier == NULL || atomic_load(&earlier->p.word) == 0;
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
        struct waiter_mem *earlier = i % 2 == 1 ? malloc(sizeof *earlier) : NULL;
        if ((i % 2 == 1 && earlier == NULL) || !race_round(r, i, &rp, earlier)) {
            /* The setter may still hold the nodes: leave them be. */
            atomic_fetch_add(&r->bad, 1);
            return NULL;
        }
        free(earlier);
        atomic_store_explicit(&r->finished, i + 1, memory_order_release);
    }
    munmap(rp.base, (RACER_PAGES + 1) * rp.page);
    return NULL;
}

Test(event, registrations_racing_with_the_set_are_either_woken_or_refused, .timeout = TL_TIMEOUT)
{
    struct race r;
    /* TSan slows the handshakes of a round some fifteenfold. */
    r.rounds = TL_TSAN ? 4000 : TL_SIZE(50000, 20000);
    /* Few rounds are enough when the machine is busy: the fault makes
     * the narrow case common. A round can cost a time slice then, when the
     * registrant is preempted in the fault and the setter spins on the
     * lock it holds. */
    const int min_rounds = TL_TSAN ? 300 : 500;
    r.ev = calloc((size_t)r.rounds, sizeof *r.ev);
    r.racer_delay = calloc((size_t)r.rounds, sizeof *r.racer_delay);
    cr_assert(r.ev != NULL && r.racer_delay != NULL);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < r.rounds; i++)
        r.racer_delay[i] = (unsigned)(tl_xorshift(&rng) % 8);
    atomic_init(&r.ready, 0);
    atomic_init(&r.round, 0);
    atomic_init(&r.stop, 0);
    atomic_init(&r.finished, 0);
    atomic_init(&r.registered, 0);
    atomic_init(&r.refused, 0);
    atomic_init(&r.bad, 0);
    int cpu[2];
    two_cpus(cpu);
    cpu_set_t was;
    cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof was, &was), 0);
    r.cpu = cpu[1] >= 0 ? cpu[0] : -1;
    pin_to(cpu[1]);
    pthread_t th = tl_thread(race_registrant, &r);
    /* Pauses before the set, steered by who won, for each kind of round
     * (with or without an earlier node) apart: they cross at different
     * points. */
    unsigned bias[2] = {0, 0};
    uint64_t t0 = tl_now_ns();
    int rounds;
    for (rounds = 0; another_round(rounds, min_rounds, r.rounds, t0); rounds++) {
        int i = rounds;
        if (!spin_until_at_least(&r.ready, i + 1, NULL))
            cr_assert_fail("round %d: the registrant never got ready (%d went wrong)", i,
                           atomic_load(&r.bad));
        int refused_before = atomic_load(&r.refused);
        atomic_store_explicit(&r.round, i + 1, memory_order_release);
        relax_for(bias[i % 2] + (unsigned)(tl_xorshift(&rng) % 8));
        pl_event_set(&r.ev[i]);
        if (!spin_until_at_least(&r.finished, i + 1, NULL))
            cr_assert_fail("round %d: the registrant never left (%d went wrong)", i,
                           atomic_load(&r.bad));
        cr_assert(pl_event_can_leave(&r.ev[i]), "round %d: the set left its waiters held", i);
        /* Steps in proportion, so that it finds the crossing as fast
         * under TSan (thousands of pauses) as on a quiet machine (a few). */
        unsigned *b = &bias[i % 2], step = 1 + *b / 8;
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
    /* Which side wins is up to the machine: logged, not asserted. */
    cr_log_info("event race: %d registrations woken, %d refused", registered, refused);
    free(r.ev);
    free(r.racer_delay);
}
