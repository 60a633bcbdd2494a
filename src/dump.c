/*
 * dump — what is live in a pool, as text or JSON (plait_pool_dump), on
 * demand or on a signal ($PLAIT_DUMP_ON); and the observer records' life.
 *
 * What the dump reads, and how:
 *   - the live groups: those created outside any task are in the pool's
 *     root list (its spin lock); those created inside a task are in the
 *     nested-groups lists of cancel.h while their creator task runs. The
 *     dump walks the root list and, below each group, the list of the
 *     groups its tasks created, in the cancel walk's lock order, each
 *     list's lock held while its groups are copied and descended into; a
 *     group leaves its list under that lock before it is freed, so every
 *     group read is alive. Not shown: a group created inside a task that
 *     has ended (its creator's end takes it out of the lists) and not yet
 *     destroyed, and a group of this pool created by a task of another.
 *     Name, state and pending count are atomics, each read once.
 *   - the running tasks: each worker's chain, from w->running through
 *     task->outer, under the handshake that observe.h describes.
 *   - the waits: each worker's notes (the events its waits in progress
 *     wait for, atomics in its observer record), matched to the chain's
 *     tasks by position and to groups and running tasks by the address of
 *     their done event; foreign waiters put a record on a process-wide
 *     list (its mutex) while they sleep.
 * The snapshot is taken part by part, so it is consistent enough, not
 * atomic: a group created or destroyed during the dump may be missing or
 * shown; a task that starts or ends meanwhile may be shown or not; pending
 * counts and states are each read once, at slightly different times;
 * "asleep for" is measured from the worker's last sleep. Queued tasks are
 * not listed, only counted (pending less those running).
 *
 * The signal. With PLAIT_DUMP_ON=SIGUSR1 (or USR1, SIGUSR2, SIGQUIT, a
 * number) in the environment when a pool is created, plait installs a
 * handler for that signal and starts one dumper thread for the process.
 * The handler only write(2)s one byte to a non-blocking pipe, saving and
 * restoring errno: write is async-signal-safe (POSIX.1-2008, 2.4.3), and
 * it takes no lock and touches no memory that plait shares. The dumper
 * thread reads the pipe and dumps every pool registered with it to
 * $PLAIT_DUMP_FILE (appending) or to stderr. It stops when the last
 * registered pool is destroyed; the handler stays installed and its bytes
 * then wait in the pipe for the next dumper.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "json.h"
#include "membarrier.h"
#include "obs_records.h"

PL_TLS struct pl_obs_foreign_note pl_obs_foreign_note;

/* ---- Observer records ------------------------------------------------------ */

static void live_init(struct pl_live_groups *l)
{
    pl_spin_init(&l->lock);
    l->head = NULL;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void fork_child(void);
static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, fork_child);
}

int pl_obs_pool_init(struct plait_pool *pool)
{
    pthread_once(&atfork_once, atfork_register);
    struct pl_pool_observer *po = pl_calloc(1, sizeof *po);
    if (po == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < pool->nworkers; i++) {
        struct pl_worker *w = &pool->workers[i];
        if ((w->obs = pl_calloc(1, sizeof *w->obs)) == NULL) {
            for (unsigned k = 0; k < i; k++) {
                pthread_mutex_destroy(&pool->workers[k].obs->lock);
                pl_free(pool->workers[k].obs);
                pool->workers[k].obs = NULL;
            }
            pl_free(po);
            return ENOMEM;
        }
        pthread_mutex_init(&w->obs->lock, NULL);
        atomic_init(&w->observe, 0);
        atomic_init(&w->running, NULL);
    }
    pthread_mutex_init(&po->lock, NULL);
    live_init(&po->live);
    po->pool = pool;
    pool->obs = po;
    return 0;
}

void pl_obs_worker_start(struct pl_worker *w)
{
    /* Read by the trace's writer: published by the ready count's release
     * (pool.c), which plait_pool_create acquires. */
    w->obs->tid = pl_obs_gettid();
}

static void registry_add(struct pl_pool_observer *po);
static void registry_remove(struct pl_pool_observer *po);

void pl_obs_pool_started(struct plait_pool *pool)
{
    registry_add(pool->obs);
}

void pl_obs_pool_stop(struct plait_pool *pool)
{
    struct pl_pool_observer *po = pool->obs;
    if (po == NULL)
        return;
    registry_remove(po);
    for (unsigned i = 0; pool->workers != NULL && i < pool->nworkers; i++) {
        struct pl_observer *o = pool->workers[i].obs;
        if (o != NULL) {
            pthread_mutex_destroy(&o->lock);
            pl_free(o);
            pool->workers[i].obs = NULL;
        }
    }
}

void pl_obs_pool_free(struct plait_pool *pool)
{
    struct pl_pool_observer *po = pool->obs;
    if (po == NULL)
        return;
    /* Every group is gone (the pool's record is freed with its last
     * reference), so the list of groups created outside tasks is empty. */
    PLAIT_ASSERT(po->live.head == NULL);
    pthread_mutex_destroy(&po->lock);
    pl_free(po);
    pool->obs = NULL;
}

/* ---- Live groups ------------------------------------------------------------ */

void pl_obs_root_add(struct plait_group *g)
{
    struct pl_live_groups *l = &g->pool->obs->live;
    g->live = l;
    pl_spin_lock(&l->lock);
    g->live_prev = NULL;
    g->live_next = l->head;
    if (l->head != NULL)
        l->head->live_prev = g;
    l->head = g;
    pl_spin_unlock(&l->lock);
}

void pl_obs_root_remove(struct plait_group *g)
{
    struct pl_live_groups *l = g->live;
    pl_spin_lock(&l->lock);
    if (g->live_prev != NULL)
        g->live_prev->live_next = g->live_next;
    else
        l->head = g->live_next;
    if (g->live_next != NULL)
        g->live_next->live_prev = g->live_prev;
    pl_spin_unlock(&l->lock);
}

/* ---- Foreign waiters ---------------------------------------------------------- */

static pthread_mutex_t waiters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_obs_foreign_wait *waiters;

void pl_obs_foreign_leave(struct pl_event_node *node)
{
    const struct pl_obs_foreign_note *n = &pl_obs_foreign_note;
    struct pl_obs_foreign_wait fw = {
        .pool = n->pool,
        .e = n->e,
        .tid = pl_obs_gettid(),
        .since = pl_now_ns(),
    };
    pthread_mutex_lock(&waiters_lock);
    fw.next = waiters;
    if (waiters != NULL)
        waiters->prev = &fw;
    waiters = &fw;
    pthread_mutex_unlock(&waiters_lock);
    pl_event_leave(node);
    pthread_mutex_lock(&waiters_lock);
    if (fw.prev != NULL)
        fw.prev->next = fw.next;
    else
        waiters = fw.next;
    if (fw.next != NULL)
        fw.next->prev = fw.prev;
    pthread_mutex_unlock(&waiters_lock);
}

/* ---- The snapshot -------------------------------------------------------------- */

struct snap_group {
    const struct plait_group *g;
    const char *name;
    uint32_t state;
    size_t pending;
    bool wait_begun, had_deadline, collect_all;
    const struct plait_task *creator; /* NULL: created outside any task */
    const struct plait_group *parent; /* whose tasks created it, or NULL */
    bool printed;
};

struct snap_task {
    const struct plait_task *t;
    uint64_t id;
    const char *name; /* the task's own, interned, or NULL */
    const void *fn;
    const struct plait_group *group;
    unsigned worker, depth; /* depth 0: the innermost */
    bool cancelled, printed;
};

struct snap_wait {
    const struct pl_event *e;    /* what it waits for */
    const struct plait_task *by; /* the waiting task (workers), or NULL */
    int worker;                  /* -1: a foreign thread */
    int tid;
    double asleep_s; /* < 0: not asleep (or not known) */
};

struct snap_worker {
    int tid;
    unsigned ntasks;
    double asleep_s;
};

struct snapshot {
    struct snap_group *groups;
    size_t ngroups, groups_cap, groups_missed;
    struct snap_task *tasks;
    size_t ntasks, tasks_cap;
    struct snap_wait *waits;
    size_t nwaits, waits_cap;
    struct snap_worker *workers;
    bool chains_known;
};

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap != 0 ? 2 * *cap : 16;
    void *p = pl_realloc(*v, c * size);
    if (p == NULL)
        return false;
    *v = p;
    *cap = c;
    return true;
}

/* Called with the lock of the list that holds g: g is alive. */
static void add_group(struct snapshot *s, const struct plait_group *g,
                      const struct plait_group *parent)
{
    if (!grow((void **)&s->groups, &s->groups_cap, s->ngroups, sizeof *s->groups)) {
        s->groups_missed++;
        return;
    }
    /* relaxed: a value for the text, read once (file comment); the dump
     * follows nothing it reads from the count. */
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    s->groups[s->ngroups++] = (struct snap_group){
        .g = g,
        /* acquire: pairs with plait_group_set_name's release, so the
         * interned copy it points to is seen whole (names.c). */
        .name = atomic_load_explicit(&g->name, memory_order_acquire),
        /* relaxed: bits for the text, not a handshake; a bit set just
         * after is missed, as the file comment allows. */
        .state = atomic_load_explicit(&g->state, memory_order_relaxed),
        .pending = (p & PL_PENDING_WAITING) ? p - PL_PENDING_WAITING : p - 1,
        .wait_begun = (p & PL_PENDING_WAITING) != 0,
        /* relaxed: as state. */
        .had_deadline = atomic_load_explicit(&g->had_deadline, memory_order_relaxed),
        .collect_all = (g->flags & PLAIT_GROUP_COLLECT_ALL) != 0,
        .creator = g->creator_task,
        .parent = parent,
    };
}

/* A nested-groups list (cancel.h) and, below each group, its own: in the
 * cancel walk's lock order, each list's lock held while its groups are
 * read and descended into (a group leaves its list under that lock before
 * it is freed). The lock is a spin lock: only copying and a realloc here. */
static void walk_nested(struct snapshot *s, struct pl_nested_groups *list,
                        const struct plait_group *owner, unsigned depth)
{
    pl_spin_lock(&list->lock);
    for (struct plait_group *g = list->head; g != NULL; g = g->sibling_next) {
        add_group(s, g, owner);
        if (depth < 64)
            walk_nested(s, &g->nested, g, depth + 1);
    }
    pl_spin_unlock(&list->lock);
}

static void snap_groups(struct snapshot *s, struct plait_pool *pool)
{
    struct pl_live_groups *roots = &pool->obs->live;
    pl_spin_lock(&roots->lock);
    for (struct plait_group *g = roots->head; g != NULL; g = g->live_next) {
        add_group(s, g, NULL);
        walk_nested(s, &g->nested, g, 1);
    }
    pl_spin_unlock(&roots->lock);
    walk_nested(s, &pool->lone_nested, NULL, 0);
}

static double secs_since(uint64_t t, uint64_t now)
{
    return t != 0 && now > t ? (double)(now - t) / 1e9 : t != 0 ? 0.0 : -1.0;
}

/* Worker i's chain and notes, under its dump lock (observe.h). */
static void snap_worker(struct snapshot *s, struct plait_pool *pool, unsigned i, uint64_t now)
{
    struct pl_worker *w = &pool->workers[i];
    struct pl_observer *o = w->obs;
    struct snap_worker *sw = &s->workers[i];
    sw->tid = o->tid;
    /* relaxed: a hint (observer record). */
    sw->asleep_s = secs_since(atomic_load_explicit(&o->asleep_since, memory_order_relaxed), now);
    size_t first = s->ntasks;
    pthread_mutex_lock(&o->lock);
    if (s->chains_known) {
        /* acquire: pairs with the release stores of pl_obs_task_begin/end. */
        const struct plait_ctx *c = atomic_load_explicit(&w->running, memory_order_acquire);
        unsigned depth = 0;
        while (c != NULL && depth < 256) {
            const struct plait_task *t = c->task;
            if (!grow((void **)&s->tasks, &s->tasks_cap, s->ntasks, sizeof *s->tasks))
                break;
            s->tasks[s->ntasks++] = (struct snap_task){
                .t = t,
                /* relaxed: the id is a value. */
                .id = atomic_load_explicit(&t->id, memory_order_relaxed),
                /* written before the task was published to its worker */
                .name = pl_task_label(t),
                .fn = (const void *)t->fn,
                .group = t->group,
                .worker = i,
                .depth = depth++,
                /* relaxed, the flag and the group's state: a value for
                 * the text, as add_group's state (the task and its group
                 * are alive under the handshake; only the bit may be
                 * stale). */
                .cancelled = atomic_load_explicit(&t->ctx.cancelled, memory_order_relaxed) ||
                             (t->group != NULL &&
                              (atomic_load_explicit(&t->group->state, memory_order_relaxed) &
                               PL_G_CANCELLED)),
            };
            c = t->outer;
        }
    }
    size_t m = s->ntasks - first;
    /* acquire: pairs with the release store of the count (observe.h). */
    unsigned n = atomic_load_explicit(&o->nnotes, memory_order_acquire);
    if (n > PL_OBS_NOTES)
        n = PL_OBS_NOTES;
    for (unsigned k = 0; k < n; k++) {
        if (!grow((void **)&s->waits, &s->waits_cap, s->nwaits, sizeof *s->waits))
            break;
        /* Note k (outermost first) is the wait of the chain's task k from
         * the outside (observe.h); notes past the chain are waits that
         * began after it was read, or outside any task. */
        const struct plait_task *by = NULL;
        if (k < m)
            by = s->tasks[first + (m - 1 - k)].t;
        s->waits[s->nwaits++] = (struct snap_wait){
            /* relaxed: published by the count. */
            .e = atomic_load_explicit(&o->notes[k], memory_order_relaxed),
            .by = by,
            .worker = (int)i,
            .tid = o->tid,
            /* The innermost wait is the one asleep, if the worker sleeps. */
            .asleep_s = k + 1 == n ? sw->asleep_s : -1.0,
        };
    }
    pthread_mutex_unlock(&o->lock);
    sw->ntasks = (unsigned)m;
}

static void snap_foreign(struct snapshot *s, struct plait_pool *pool, uint64_t now)
{
    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&waiters_lock);
        for (const struct pl_obs_foreign_wait *fw = waiters; fw != NULL; fw = fw->next)
            n += fw->pool == pool;
        if (s->nwaits + n <= s->waits_cap) {
            for (const struct pl_obs_foreign_wait *fw = waiters; fw != NULL; fw = fw->next)
                if (fw->pool == pool)
                    s->waits[s->nwaits++] = (struct snap_wait){
                        .e = fw->e,
                        .worker = -1,
                        .tid = fw->tid,
                        .asleep_s = secs_since(fw->since, now),
                    };
            pthread_mutex_unlock(&waiters_lock);
            return;
        }
        pthread_mutex_unlock(&waiters_lock);
        /* Room for them (and a few more that may come), then look again. */
        size_t want = s->nwaits + n + 4;
        void *p = pl_realloc(s->waits, want * sizeof *s->waits);
        if (p == NULL)
            return;
        s->waits = p;
        s->waits_cap = want;
    }
}

static void snap_free(struct snapshot *s)
{
    pl_free(s->groups);
    pl_free(s->tasks);
    pl_free(s->waits);
    pl_free(s->workers);
}

static int take_snapshot(struct snapshot *s, struct plait_pool *pool)
{
    memset(s, 0, sizeof *s);
    s->workers = pl_calloc(pool->nworkers + 1, sizeof *s->workers);
    if (s->workers == NULL)
        return ENOMEM;
    snap_groups(s, pool);
    /* relaxed RMWs: ordered before the chain reads by the heavy fence
     * (observe.h: its one side; a task end reads the bit after its own
     * store of w->running, with the compiler barrier between). */
    for (unsigned i = 0; i < pool->nworkers; i++)
        atomic_fetch_or_explicit(&pool->workers[i].observe, PL_OBS_DUMP, memory_order_relaxed);
    s->chains_known = pl_heavy_fence();
    uint64_t now = pl_now_ns();
    for (unsigned i = 0; i < pool->nworkers; i++)
        snap_worker(s, pool, i, now);
    /* release: a task end that reads the cleared bit (acquire) and so
     * skips the lock is ordered after our reads of its task. */
    for (unsigned i = 0; i < pool->nworkers; i++)
        atomic_fetch_and_explicit(&pool->workers[i].observe, ~(uint32_t)PL_OBS_DUMP,
                                  memory_order_release);
    snap_foreign(s, pool, now);
    return 0;
}

/* ---- Text ------------------------------------------------------------------------ */

static struct snap_group *find_group(struct snapshot *s, const void *g)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (s->groups[i].g == g)
            return &s->groups[i];
    return NULL;
}

static struct snap_task *find_task(struct snapshot *s, const void *t)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i].t == t)
            return &s->tasks[i];
    return NULL;
}

/* What an awaited event belongs to: a live group's or a running task's
 * done event (address arithmetic only: nothing is read through e). */
static struct snap_group *group_of_event(struct snapshot *s, const struct pl_event *e)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (&s->groups[i].g->done == e)
            return &s->groups[i];
    return NULL;
}

static struct snap_task *task_of_event(struct snapshot *s, const struct pl_event *e)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (&s->tasks[i].t->done == e)
            return &s->tasks[i];
    return NULL;
}

static void indent(FILE *f, unsigned level)
{
    for (unsigned i = 0; i < level; i++)
        fputs("  ", f);
}

static void say_task_ref(FILE *f, const struct snap_task *st, const void *t)
{
    if (st != NULL && st->id != 0)
        fprintf(f, "task #%" PRIu64 " (%p)", st->id, t);
    else
        fprintf(f, "task %p", t);
    if (st != NULL && st->name != NULL)
        fprintf(f, " \"%s\"", st->name);
}

static void say_wait(FILE *f, struct snapshot *s, const struct snap_wait *sw)
{
    fputs("waits on ", f);
    const struct snap_group *sg = group_of_event(s, sw->e);
    const struct snap_task *st = sg == NULL ? task_of_event(s, sw->e) : NULL;
    if (sg != NULL) {
        fprintf(f, "group %p", (const void *)sg->g);
        if (sg->name != NULL)
            fprintf(f, " \"%s\"", sg->name);
    } else if (st != NULL) {
        say_task_ref(f, st, st->t);
    } else {
        fprintf(f, "a task not running, a join half or a group not listed (event %p)",
                (const void *)sw->e);
    }
    if (sw->asleep_s >= 0)
        fprintf(f, ", asleep for %.3f s", sw->asleep_s);
    fputc('\n', f);
}

static const char *group_state(const struct snap_group *sg)
{
    if (sg->state & PL_G_TIMEDOUT)
        return "timed out";
    if (sg->state & PL_G_CANCELLED)
        return "cancelled";
    if (sg->state & PL_G_CLOSED)
        return "waited";
    return "running";
}

static void text_group(FILE *f, struct snapshot *s, struct snap_group *sg, unsigned level);

/* The task of the same worker's chain at depth, or NULL. */
static struct snap_task *chain_at(struct snapshot *s, unsigned worker, unsigned depth)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i].worker == worker && s->tasks[i].depth == depth)
            return &s->tasks[i];
    return NULL;
}

static void say_fn(FILE *f, const void *fn)
{
    const char *name = pl_obs_fn_name(fn);
    if (name != NULL)
        fprintf(f, ", fn %s", name);
    else
        fprintf(f, ", fn %p", fn);
}

static void text_task(FILE *f, struct snapshot *s, struct snap_task *st, unsigned level)
{
    st->printed = true;
    indent(f, level);
    say_task_ref(f, st, st->t);
    fprintf(f, ": running on worker %u", st->worker);
    const struct snap_task *in = chain_at(s, st->worker, st->depth + 1);
    if (in != NULL) {
        fputs(", inside the wait of ", f);
        say_task_ref(f, in, in->t);
    }
    const struct snap_task *runs = st->depth > 0 ? chain_at(s, st->worker, st->depth - 1) : NULL;
    if (runs != NULL) {
        fputs(", its wait runs ", f);
        say_task_ref(f, runs, runs->t);
    }
    say_fn(f, st->fn);
    fputs(st->cancelled ? ", cancelled\n" : "\n", f);
    for (size_t i = 0; i < s->nwaits; i++)
        if (s->waits[i].by == st->t && s->waits[i].worker == (int)st->worker) {
            indent(f, level + 1);
            say_wait(f, s, &s->waits[i]);
        }
    for (size_t i = 0; i < s->ngroups; i++)
        if (s->groups[i].creator == st->t && !s->groups[i].printed)
            text_group(f, s, &s->groups[i], level + 1);
}

static void text_group(FILE *f, struct snapshot *s, struct snap_group *sg, unsigned level)
{
    sg->printed = true;
    indent(f, level);
    fprintf(f, "group %p", (const void *)sg->g);
    if (sg->name != NULL)
        fprintf(f, " \"%s\"", sg->name);
    size_t running = 0;
    for (size_t i = 0; i < s->ntasks; i++)
        running += s->tasks[i].group == sg->g;
    fprintf(f, ": %s, %zu pending (%zu running, %zu queued or finishing)%s%s%s%s\n",
            group_state(sg), sg->pending, running,
            sg->pending > running ? sg->pending - running : 0,
            sg->wait_begun && !(sg->state & PL_G_CLOSED) ? ", being waited" : "",
            sg->had_deadline && !(sg->state & PL_G_TIMEDOUT) ? ", deadline set" : "",
            sg->collect_all ? ", collect-all" : "",
            sg->creator != NULL && find_task(s, sg->creator) == NULL
                ? ", created by a task not seen running"
                : "");
    for (size_t i = 0; i < s->ntasks; i++)
        if (s->tasks[i].group == sg->g && !s->tasks[i].printed)
            text_task(f, s, &s->tasks[i], level + 1);
    /* Groups its tasks created, where the creator was not seen running. */
    for (size_t i = 0; i < s->ngroups; i++)
        if (s->groups[i].parent == sg->g && !s->groups[i].printed &&
            find_task(s, s->groups[i].creator) == NULL)
            text_group(f, s, &s->groups[i], level + 1);
}

static void dump_text(FILE *f, struct plait_pool *pool, struct snapshot *s)
{
    size_t nforeign = 0;
    for (size_t i = 0; i < s->nwaits; i++)
        nforeign += s->waits[i].worker < 0;
    fprintf(f,
            "plait pool \"%s\": %u workers, %zu live groups, %zu running tasks, %zu foreign "
            "waiters\n",
            pool->name, pool->nworkers, s->ngroups, s->ntasks, nforeign);
    if (!s->chains_known)
        fputs("  (running tasks not shown: membarrier(2) is not available)\n", f);
    if (s->groups_missed != 0)
        fprintf(f, "  (%zu groups not shown: out of memory)\n", s->groups_missed);
    /* Roots: groups not created by a running task, lone running tasks,
     * and (below) tasks whose group was not in the lists. */
    for (size_t i = 0; i < s->ngroups; i++)
        if (!s->groups[i].printed && find_task(s, s->groups[i].creator) == NULL &&
            find_group(s, s->groups[i].parent) == NULL)
            text_group(f, s, &s->groups[i], 0);
    for (size_t i = 0; i < s->ntasks; i++)
        if (!s->tasks[i].printed && s->tasks[i].group == NULL)
            text_task(f, s, &s->tasks[i], 0);
    for (size_t i = 0; i < s->ntasks; i++)
        if (!s->tasks[i].printed)
            text_task(f, s, &s->tasks[i], 0);
    for (size_t i = 0; i < s->ngroups; i++)
        if (!s->groups[i].printed)
            text_group(f, s, &s->groups[i], 0);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        const struct snap_worker *sw = &s->workers[i];
        fprintf(f, "worker %u (%s-%u, tid %d): ", i, pool->name, i, sw->tid);
        if (sw->ntasks == 0)
            fputs(sw->asleep_s >= 0 ? "idle, asleep" : "idle", f);
        for (size_t k = 0; k < s->ntasks; k++)
            if (s->tasks[k].worker == i) {
                fputs(s->tasks[k].depth == 0 ? "runs " : " inside the wait of ", f);
                say_task_ref(f, &s->tasks[k], s->tasks[k].t);
            }
        if (sw->ntasks != 0 && sw->asleep_s >= 0)
            fprintf(f, "; asleep in a wait for %.3f s", sw->asleep_s);
        fputc('\n', f);
        for (size_t k = 0; k < s->nwaits; k++)
            if (s->waits[k].worker == (int)i && s->waits[k].by == NULL) {
                indent(f, 1);
                say_wait(f, s, &s->waits[k]);
            }
    }
    for (size_t i = 0; i < s->nwaits; i++)
        if (s->waits[i].worker < 0) {
            fprintf(f, "foreign thread %d ", s->waits[i].tid);
            say_wait(f, s, &s->waits[i]);
        }
}

/* ---- JSON ------------------------------------------------------------------------ */

static void jptr(FILE *f, const void *p)
{
    if (p == NULL)
        fputs("null", f);
    else
        fprintf(f, "\"%p\"", p);
}

static void dump_json(FILE *f, struct plait_pool *pool, struct snapshot *s)
{
    fputs("{\"pool\":", f);
    pl_json_str(f, pool->name);
    fprintf(f, ",\"workers\":%u,\"running_known\":%s,\"groups\":[", pool->nworkers,
            s->chains_known ? "true" : "false");
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct snap_group *sg = &s->groups[i];
        fputs(i ? ",\n{\"group\":" : "\n{\"group\":", f);
        jptr(f, sg->g);
        fputs(",\"name\":", f);
        pl_json_str(f, sg->name);
        fprintf(f,
                ",\"state\":\"%s\",\"pending\":%zu,\"wait_begun\":%s,\"deadline\":%s,"
                "\"created_by_task\":",
                group_state(sg), sg->pending, sg->wait_begun ? "true" : "false",
                sg->had_deadline ? "true" : "false");
        jptr(f, sg->creator);
        fputc('}', f);
    }
    fputs("],\"tasks\":[", f);
    for (size_t i = 0; i < s->ntasks; i++) {
        const struct snap_task *st = &s->tasks[i];
        fputs(i ? ",\n{\"task\":" : "\n{\"task\":", f);
        jptr(f, st->t);
        fprintf(f, ",\"id\":%" PRIu64 ",\"worker\":%u,\"depth\":%u,\"cancelled\":%s,\"group\":",
                st->id, st->worker, st->depth, st->cancelled ? "true" : "false");
        jptr(f, st->group);
        if (st->name != NULL) {
            fputs(",\"name\":", f);
            pl_json_str(f, st->name);
        }
        fputs(",\"fn\":", f);
        jptr(f, st->fn);
        fputc('}', f);
    }
    fputs("],\"waits\":[", f);
    for (size_t i = 0; i < s->nwaits; i++) {
        const struct snap_wait *sw = &s->waits[i];
        fprintf(f, "%s{\"thread\":%d,\"worker\":%d,\"by_task\":", i ? ",\n" : "\n", sw->tid,
                sw->worker);
        jptr(f, sw->by);
        const struct snap_group *sg = group_of_event(s, sw->e);
        const struct snap_task *st = sg == NULL ? task_of_event(s, sw->e) : NULL;
        fprintf(f, ",\"on\":\"%s\",\"object\":",
                sg != NULL   ? "group"
                : st != NULL ? "task"
                             : "unknown");
        jptr(f, sg != NULL ? (const void *)sg->g : st != NULL ? (const void *)st->t : NULL);
        fputs(",\"event\":", f);
        jptr(f, sw->e);
        if (sw->asleep_s >= 0)
            fprintf(f, ",\"asleep_s\":%.6f", sw->asleep_s);
        fputc('}', f);
    }
    fputs("],\"worker_threads\":[", f);
    for (unsigned i = 0; i < pool->nworkers; i++)
        fprintf(f, "%s{\"index\":%u,\"tid\":%d,\"running\":%u%s}", i ? "," : "", i,
                s->workers[i].tid, s->workers[i].ntasks,
                s->workers[i].asleep_s >= 0 ? ",\"asleep\":true" : "");
    fputs("]}\n", f);
}

/* Dumps are serialised (the DUMP bits are set and cleared as a whole). */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

int plait_pool_dump(plait_pool *pool, FILE *out, unsigned flags)
{
    if (pool == NULL || out == NULL || (flags & ~(unsigned)PLAIT_DUMP_JSON) || pool->obs == NULL)
        return EINVAL;
    struct snapshot s;
    pthread_mutex_lock(&dump_lock);
    int err = take_snapshot(&s, pool);
    pthread_mutex_unlock(&dump_lock);
    if (err != 0)
        return err;
    if (flags & PLAIT_DUMP_JSON)
        dump_json(out, pool, &s);
    else
        dump_text(out, pool, &s);
    snap_free(&s);
    fflush(out);
    return ferror(out) ? EIO : 0;
}

/* ---- The signal dumper ------------------------------------------------------------ */

/* life_lock orders the dumper's starts and stops (a new dumper never
 * starts before the old one is joined); reg_lock guards the list and is
 * held by the dumper while it dumps. Order: life_lock, then reg_lock. */
static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_pool_observer *reg_head;
static pthread_t dumper;
static bool dumper_running;
static int sig_pipe[2] = {-1, -1};
static int dump_signal; /* installed for this signal, or 0 */

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 'd';
    /* write(2) is async-signal-safe; a full pipe already holds a request. */
    ssize_t r = write(sig_pipe[1], &c, 1);
    (void)r;
    errno = saved;
}

static int parse_signal(const char *s)
{
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT},
                 {"HUP", SIGHUP},   {"INT", SIGINT},   {"TERM", SIGTERM}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].sig;
    char *end;
    long v = strtol(s, &end, 10);
    return *s != '\0' && *end == '\0' && v > 0 && v < NSIG ? (int)v : 0;
}

static void dump_all(void)
{
    const char *path = getenv("PLAIT_DUMP_FILE");
    FILE *f = path != NULL && *path != '\0' ? fopen(path, "a") : stderr;
    if (f == NULL)
        f = stderr;
    pthread_mutex_lock(&reg_lock);
    for (struct pl_pool_observer *po = reg_head; po != NULL; po = po->reg_next)
        plait_pool_dump(po->pool, f, 0);
    pthread_mutex_unlock(&reg_lock);
    if (f != stderr)
        fclose(f);
    else
        fflush(f);
}

static void *dumper_main(void *arg)
{
    (void)arg;
    /* The handler runs on some other thread. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        char c;
        ssize_t r = read(sig_pipe[0], &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == 'q')
            return NULL;
        dump_all();
    }
}

/* Registers po with the dumper when $PLAIT_DUMP_ON names a signal. */
static void registry_add(struct pl_pool_observer *po)
{
    const char *env = getenv("PLAIT_DUMP_ON");
    if (env == NULL || *env == '\0')
        return;
    int sig = parse_signal(env);
    if (sig == 0) {
        fprintf(stderr, "plait: PLAIT_DUMP_ON=%s: not a signal\n", env);
        return;
    }
    pthread_mutex_lock(&life_lock);
    pthread_mutex_lock(&reg_lock);
    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC) != 0) {
        pthread_mutex_unlock(&reg_lock);
        pthread_mutex_unlock(&life_lock);
        return;
    }
    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    if (dump_signal != sig) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) == 0)
            dump_signal = sig;
    }
    if (!dumper_running && pthread_create(&dumper, NULL, dumper_main, NULL) == 0)
        dumper_running = true;
    po->reg_prev = NULL;
    po->reg_next = reg_head;
    if (reg_head != NULL)
        reg_head->reg_prev = po;
    reg_head = po;
    po->registered = true;
    pthread_mutex_unlock(&reg_lock);
    pthread_mutex_unlock(&life_lock);
}

static void registry_remove(struct pl_pool_observer *po)
{
    if (!po->registered)
        return;
    pthread_t stop;
    memset(&stop, 0, sizeof stop);
    bool join = false;
    pthread_mutex_lock(&life_lock);
    pthread_mutex_lock(&reg_lock);
    if (po->reg_prev != NULL)
        po->reg_prev->reg_next = po->reg_next;
    else
        reg_head = po->reg_next;
    if (po->reg_next != NULL)
        po->reg_next->reg_prev = po->reg_prev;
    po->registered = false;
    if (reg_head == NULL && dumper_running) {
        /* The last pool: the dumper stops after the requests before it. */
        stop = dumper;
        dumper_running = false;
        join = true;
    }
    pthread_mutex_unlock(&reg_lock);
    /* Outside reg_lock, which the dumper takes to dump: the pipe stays
     * non-blocking (a handler must never block on it), and a full pipe
     * gets room as the dumper drains it. */
    char c = 'q';
    while (join && write(sig_pipe[1], &c, 1) < 0 && (errno == EINTR || errno == EAGAIN))
        sched_yield();
    if (join)
        pthread_join(stop, NULL);
    pthread_mutex_unlock(&life_lock);
}

/* The fork rule (cancel.h), for this part's process-wide locks: a fork
 * while another thread held one would leave it held in the child, which
 * may create pools of its own. The child has none of the parent's threads:
 * no dumper, no waiter (their records stay in the list, naming the
 * parent's pools, which the child cannot use), and the parent's pools are
 * not the child's to dump; the signal pipe is the parent's too. */
static void fork_child(void)
{
    pl_obs_gettid_forget();
    pthread_mutex_init(&waiters_lock, NULL);
    pthread_mutex_init(&dump_lock, NULL);
    pthread_mutex_init(&life_lock, NULL);
    pthread_mutex_init(&reg_lock, NULL);
    waiters = NULL;
    reg_head = NULL;
    dumper_running = false;
    if (sig_pipe[0] >= 0) {
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
    }
    pl_names_fork_child();
}
