/*
 * trace — the timeline trace, in the Trace Event format (the JSON that
 * Perfetto's UI, chrome://tracing and speedscope open).
 *
 * Recording. Each worker records into its own buffer, preallocated when
 * the session starts: no lock and no allocation on the task path. A task
 * is recorded once, when it ends, as a complete ("X") event; its start
 * time waits in the worker's small stack of starts (tasks nest on a worker
 * only inside waits, so the stack is the worker's own nesting). Events of
 * foreign threads (their spawns, the groups whose wait closes there) go
 * into the pool's buffer under the pool observer's mutex. A full buffer
 * drops further events and counts them; the count is written into the
 * file and added to plait_stats.trace_dropped.
 *
 * Sessions. Start allocates the buffers and opens the file, then sets
 * PL_OBS_TRACE in every worker's observe word. A worker records inside a
 * bracket: it sets its in_trace flag, then re-reads the observe word and
 * records only if the bit is still there. Stop clears the bit, then waits
 * until no worker is inside a bracket: a store-buffering pair (worker:
 * in_trace then observe; stop: observe then in_trace), so either the
 * worker sees the bit gone, or stop sees the worker inside and waits for
 * it. The pair is asymmetric where membarrier(2) works (stop issues it
 * between its two steps, the bracket has only a compiler barrier: the
 * argument of observe.h), else seq_cst on both sides. The worker's
 * release of in_trace hands the buffer's contents to stop, which then
 * writes the file.
 *
 * The file. Workers are named tracks ("M" thread_name events, "<pool
 * name>-<index>"); tasks are "X" events named after the task (its spawn
 * option), else its group, else its function when the dynamic symbol
 * table knows it, else "task", with the task id, the group's name and the task's code in
 * args; a task still running when the session stops is written up to the
 * stop, with "unfinished" in args. Steals, parks and wake-ups are thread
 * instants ("i"); spawns from foreign threads are instants on that
 * thread's track; a group's life (creation to the close of its first
 * wait) is an async pair ("b"/"e", category "group") with its result and
 * error count. Dropped events: one instant per track that lost some, and
 * otherData.dropped_events. The file is valid JSON in every case.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "json.h"
#include "membarrier.h"
#include "obs_records.h"

/* ---- Recording ----------------------------------------------------------- */

/* Whether stop's heavy fence (membarrier) works: then a bracket needs only
 * a compiler barrier between its store and its load (observe.h's
 * asymmetric pattern); else both are seq_cst. Only ever set to true, by a
 * start, when the fence works (which never changes in a process); a
 * worker that reads it false still takes the seq_cst path, which pairs
 * with stop's seq_cst steps either way. */
static _Atomic bool asym_ok;

static inline bool enter(struct pl_worker *w)
{
    struct pl_observer *o = w->obs;
    /* relaxed: see asym_ok. */
    if (pl_likely(atomic_load_explicit(&asym_ok, memory_order_relaxed))) {
        /* relaxed, then a compiler barrier: the light side of the pair
         * with pl_trace_stop's membarrier. */
        atomic_store_explicit(&o->in_trace, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        /* acquire: the session's fields, released by start's RMW. */
        if (atomic_load_explicit(&w->observe, memory_order_acquire) & PL_OBS_TRACE)
            return true;
    } else {
        /* seq_cst both: the store-buffering pair with pl_trace_stop. */
        atomic_store_explicit(&o->in_trace, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&w->observe, memory_order_seq_cst) & PL_OBS_TRACE)
            return true;
    }
    /* release: as in leave. */
    atomic_store_explicit(&o->in_trace, 0, memory_order_release);
    return false;
}

static inline void leave(struct pl_worker *w)
{
    /* release: stop, acquiring 0, sees what the bracket wrote. */
    atomic_store_explicit(&w->obs->in_trace, 0, memory_order_release);
}

/* The workers' clock. clock_gettime cost two thirds of the tracing's
 * overhead on 1 us tasks (about 70 ns a task for two reads); where the
 * kernel's own clock source is the TSC (so it is invariant and synchronised
 * across CPUs), the workers read it directly (about 9 ns) and the writer
 * maps ticks to nanoseconds by the two readings of both clocks at the
 * session's start and stop. Group lives and foreign threads' events use
 * CLOCK_MONOTONIC. */
static inline uint64_t ticks_now(const struct pl_pool_observer *po)
{
#if defined(__x86_64__) || defined(__i386__)
    if (pl_likely(po->ticks))
        return __builtin_ia32_rdtsc();
#else
    (void)po;
#endif
    return pl_now_ns();
}

static bool tsc_is_the_clock(void)
{
#if defined(__x86_64__) || defined(__i386__)
    char buf[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, sizeof buf, f) != NULL && strcmp(buf, "tsc\n") == 0;
    fclose(f);
    return ok;
#else
    return false;
#endif
}

/* Inside a bracket: the session's start (written before the bit was set,
 * which the bracket's load acquired), in the workers' clock. */
static inline uint64_t since_start(const struct pl_worker *w)
{
    const struct pl_pool_observer *po = w->pool->obs;
    return ticks_now(po) - po->tick0;
}

static void drop(struct pl_observer *o)
{
    o->dropped++;
    /* relaxed load + store: only this worker writes it (plait_stats). */
    atomic_store_explicit(&o->dropped_total,
                          atomic_load_explicit(&o->dropped_total, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline void record(struct pl_observer *o, const struct pl_trace_ev *e)
{
    if (pl_likely(o->n < o->cap))
        o->ev[o->n++] = *e;
    else
        drop(o);
}

void pl_trace_task_begin(struct pl_worker *w)
{
    if (!enter(w))
        return;
    struct pl_observer *o = w->obs;
    if (o->depth < PL_TRACE_DEPTH)
        o->begins[o->depth] = since_start(w);
    o->depth++;
    leave(w);
}

static void trace_task_end(struct pl_worker *w, struct plait_task *t, int code, pl_task_id_fn id)
{
    if (!enter(w))
        return;
    struct pl_observer *o = w->obs;
    if (o->depth == 0) {
        /* It started before the session. */
    } else if (--o->depth >= PL_TRACE_DEPTH) {
        drop(o); /* nested too deep for the stack of starts */
    } else {
        uint64_t begin = o->begins[o->depth];
        const struct plait_group *g = t->group;
        struct pl_trace_ev e = {
            .ts = begin,
            .dur = since_start(w) - begin,
            .id = id(t),
            /* acquire: the interned copy (names.c). */
            .name = g != NULL ? atomic_load_explicit(&g->name, memory_order_acquire) : NULL,
            .label = pl_task_label(t),
            .ptr = (const void *)t->fn,
            .arg = code,
            .kind = PL_EV_TASK,
        };
        record(o, &e);
    }
    leave(w);
}

void pl_obs_task_end_slow(struct pl_worker *w, struct plait_task *t, int code, pl_task_id_fn id)
{
    /* acquire, not relaxed: this re-read may be the first to see a dump's
     * clearing of PL_OBS_DUMP (the fast path's acquire read the bit still
     * set), and then we skip the lock: only acquiring that release orders
     * the dump's reads of this task before its record is reused
     * (observe.h). The trace's bit is re-checked in its bracket. */
    uint32_t bits = atomic_load_explicit(&w->observe, memory_order_acquire);
    if (bits & PL_OBS_DUMP) {
        /* A dump may be reading this chain: let it finish (observe.h). */
        pthread_mutex_lock(&w->obs->lock);
        pthread_mutex_unlock(&w->obs->lock);
    }
    if (bits & PL_OBS_TRACE)
        trace_task_end(w, t, code, id);
}

void pl_trace_instant(struct pl_worker *w, unsigned kind, uint64_t id)
{
    if (!enter(w))
        return;
    struct pl_trace_ev e = {.ts = since_start(w), .id = id, .kind = (uint16_t)kind};
    record(w->obs, &e);
    leave(w);
}

void pl_obs_parker_sleep(struct pl_worker *w, uint64_t deadline_ns)
{
    /* relaxed: a value for the dump, read as a hint. */
    atomic_store_explicit(&w->obs->asleep_since, pl_now_ns(), memory_order_relaxed);
    /* relaxed: as in pl_obs_task_begin. */
    if (atomic_load_explicit(&w->observe, memory_order_relaxed) & PL_OBS_TRACE)
        pl_trace_instant(w, PL_EV_PARK, 0);
    pl_parker_sleep(&w->parker, deadline_ns);
    /* relaxed: as above. */
    atomic_store_explicit(&w->obs->asleep_since, 0, memory_order_relaxed);
    /* relaxed: as in pl_obs_task_begin. */
    if (atomic_load_explicit(&w->observe, memory_order_relaxed) & PL_OBS_TRACE)
        pl_trace_instant(w, PL_EV_WAKE, 0);
}

/* The calling foreign thread's slot in the session (lock held). */
static uint16_t foreign_slot(struct pl_pool_observer *po)
{
    int tid = pl_obs_gettid();
    for (unsigned i = 0; i < po->nforeign; i++)
        if (po->foreign_tids[i] == tid)
            return (uint16_t)i;
    unsigned n = sizeof po->foreign_tids / sizeof po->foreign_tids[0];
    if (po->nforeign < n) {
        po->foreign_tids[po->nforeign] = tid;
        return (uint16_t)po->nforeign++;
    }
    return (uint16_t)(n - 1); /* more threads than slots: they share the last track */
}

/* Records e in the pool buffer, if a session is on (lock taken here):
 * from born (or the session's start, if later) to now. */
static void record_foreign(struct pl_pool_observer *po, struct pl_trace_ev *e, uint64_t born,
                           uint64_t now)
{
    pthread_mutex_lock(&po->lock);
    if (po->file != NULL) {
        uint64_t from = born > po->t0 ? born : po->t0;
        e->ts = from - po->t0;
        e->dur = now > from ? now - from : 0;
        e->tid_slot = foreign_slot(po);
        if (po->n < po->cap) {
            po->ev[po->n++] = *e;
        } else {
            po->dropped++;
            /* relaxed load + store: under the lock, the only writer; read
             * by plait_stats as a count. */
            atomic_store_explicit(&po->dropped_total,
                                  atomic_load_explicit(&po->dropped_total, memory_order_relaxed) +
                                      1,
                                  memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&po->lock);
}

void pl_trace_foreign_spawn(struct plait_pool *pool, struct plait_task *t, uint64_t id)
{
    const struct plait_group *g = t->group;
    struct pl_trace_ev e = {
        .id = id,
        /* acquire: as in trace_task_end. */
        .name = g != NULL ? atomic_load_explicit(&g->name, memory_order_acquire) : NULL,
        .ptr = (const void *)t->fn,
        .kind = PL_EV_SPAWN,
    };
    uint64_t now = pl_now_ns();
    record_foreign(pool->obs, &e, now, now);
}

void pl_trace_group_closed(struct pl_worker *w, struct plait_group *g, int result)
{
    struct plait_pool *pool = g->pool;
    struct pl_trace_ev e = {
        /* acquire: as in trace_task_end. */
        .name = atomic_load_explicit(&g->name, memory_order_acquire),
        .ptr = g,
        .id = (uint64_t)(int64_t)result,
        .arg = (int32_t)g->nerrors, /* final: every task has finished */
        .kind = PL_EV_GROUP,
    };
    if (w != NULL && w->pool == pool) {
        if (!enter(w))
            return;
        uint64_t t0 = pool->obs->t0, now = pl_now_ns();
        e.ts = g->born_ns > t0 ? g->born_ns - t0 : 0;
        e.dur = now - t0 - e.ts;
        record(w->obs, &e);
        leave(w);
        return;
    }
    record_foreign(pool->obs, &e, g->born_ns, pl_now_ns());
}

uint64_t pl_trace_dropped(const struct plait_pool *pool)
{
    const struct pl_pool_observer *po = pool->obs;
    if (po == NULL)
        return 0;
    /* relaxed: counters. */
    uint64_t n = atomic_load_explicit(&po->dropped_total, memory_order_relaxed);
    for (unsigned i = 0; i < pool->nworkers; i++)
        n += atomic_load_explicit(&pool->workers[i].obs->dropped_total, memory_order_relaxed);
    return n;
}

/* ---- Sessions ------------------------------------------------------------ */

int pl_trace_start(struct plait_pool *pool, const char *path, size_t events)
{
    struct pl_pool_observer *po = pool->obs;
    if (events == 0)
        events = 1;
    pthread_mutex_lock(&po->lock);
    if (po->file != NULL) {
        pthread_mutex_unlock(&po->lock);
        return EALREADY;
    }
    if (pl_heavy_fence())
        /* relaxed: see asym_ok. */
        atomic_store_explicit(&asym_ok, true, memory_order_relaxed);
    int err = 0;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        err = errno != 0 ? errno : EIO;
        pthread_mutex_unlock(&po->lock);
        return err;
    }
    /* Untouched pages cost no memory: a buffer is paid for as it fills. */
    po->ev = pl_malloc(events * sizeof *po->ev);
    for (unsigned i = 0; i < pool->nworkers && po->ev != NULL; i++) {
        struct pl_observer *o = pool->workers[i].obs;
        if ((o->ev = pl_malloc(events * sizeof *o->ev)) == NULL)
            err = ENOMEM;
    }
    if (po->ev == NULL || err != 0) {
        for (unsigned i = 0; i < pool->nworkers; i++) {
            pl_free(pool->workers[i].obs->ev);
            pool->workers[i].obs->ev = NULL;
        }
        pl_free(po->ev);
        po->ev = NULL;
        fclose(f);
        remove(path);
        pthread_mutex_unlock(&po->lock);
        return ENOMEM;
    }
    po->cap = events;
    po->n = 0;
    po->dropped = 0;
    po->nforeign = 0;
    po->ticks = tsc_is_the_clock();
    po->t0 = pl_now_ns();
    po->tick0 = ticks_now(po);
    po->file = f;
    for (unsigned i = 0; i < pool->nworkers; i++) {
        /* No worker is inside a bracket (none was, or stop waited): these
         * plain writes reach it through the RMW below. */
        struct pl_observer *o = pool->workers[i].obs;
        o->cap = events;
        o->n = 0;
        o->dropped = 0;
        o->depth = 0;
    }
    /* relaxed: read as a hint (pl_trace_pool_on). */
    atomic_store_explicit(&po->tracing, 1, memory_order_relaxed);
    for (unsigned i = 0; i < pool->nworkers; i++)
        /* seq_cst: releases the session's fields to the brackets, which
         * read the bit seq_cst; and the store-buffering order of stop. */
        atomic_fetch_or_explicit(&pool->workers[i].observe, PL_OBS_TRACE, memory_order_seq_cst);
    pthread_mutex_unlock(&po->lock);
    return 0;
}

/* ---- Writing ------------------------------------------------------------- */

/* One event's text, formatted by hand (fprintf cost about 5000
 * instructions an event; a trace has up to millions). Bounded: names are
 * cut at 200 bytes, so a line never reaches the buffer's end. */
struct line {
    char b[1024];
    size_t n;
};

static void l_raw(struct line *l, const char *s, size_t k)
{
    if (l->n + k < sizeof l->b) {
        memcpy(l->b + l->n, s, k);
        l->n += k;
    }
}

static void l_str(struct line *l, const char *s)
{
    l_raw(l, s, strlen(s));
}

static void l_u64(struct line *l, uint64_t v)
{
    char t[24];
    int i = (int)sizeof t;
    do
        t[--i] = (char)('0' + v % 10u);
    while ((v /= 10u) != 0);
    l_raw(l, t + i, sizeof t - (size_t)i);
}

static void l_int(struct line *l, int64_t v)
{
    if (v < 0) {
        l_raw(l, "-", 1);
        l_u64(l, (uint64_t)0 - (uint64_t)v);
    } else {
        l_u64(l, (uint64_t)v);
    }
}

/* Microseconds with nanosecond digits. */
static void l_us(struct line *l, uint64_t ns)
{
    char frac[4] = {'.', (char)('0' + ns / 100u % 10u), (char)('0' + ns / 10u % 10u),
                    (char)('0' + ns % 10u)};
    l_u64(l, ns / 1000u);
    l_raw(l, frac, 4);
}

static void l_put(void *l, const char *bytes, size_t n)
{
    l_raw(l, bytes, n);
}

/* A JSON string of at most 200 bytes of s (a C++ symbol can be long). */
static void l_jstr(struct line *l, const char *s)
{
    pl_json_escape(s, 200, l_put, l);
}

/* pl_obs_fn_name, cached per address (a trace names up to millions). */
struct sym_cache {
    const void *fn[512];
    const char *name[512];
};

static const char *fn_name(struct sym_cache *c, const void *fn)
{
    if (fn == NULL)
        return NULL;
    unsigned h = (unsigned)(((uintptr_t)fn >> 4) % 512u);
    if (c->fn[h] == fn)
        return c->name[h];
    const char *name = pl_obs_fn_name(fn);
    c->fn[h] = fn;
    c->name[h] = name;
    return name;
}

struct writer {
    FILE *f;
    int pid;
    bool first;
    uint64_t groups; /* async ids */
    struct sym_cache syms;
};

static void ev_begin(struct writer *wr)
{
    fputs(wr->first ? "\n" : ",\n", wr->f);
    wr->first = false;
}

static void meta_thread(struct writer *wr, int tid, const char *name, unsigned sort)
{
    ev_begin(wr);
    fprintf(wr->f,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":",
            wr->pid, tid);
    pl_json_str(wr->f, name);
    fputs("}}", wr->f);
    ev_begin(wr);
    fprintf(wr->f,
            "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
            "\"args\":{\"sort_index\":%u}}",
            wr->pid, tid, sort);
}

static void write_task(struct writer *wr, int tid, const struct pl_trace_ev *e, bool unfinished)
{
    const char *fname = fn_name(&wr->syms, e->ptr);
    struct line l = {.n = 0};
    l_str(&l, wr->first ? "\n{\"name\":" : ",\n{\"name\":");
    wr->first = false;
    l_jstr(&l, e->label != NULL  ? e->label
               : e->name != NULL ? e->name
               : fname != NULL   ? fname
                                 : "task");
    l_str(&l, ",\"cat\":\"task\",\"ph\":\"X\",\"pid\":");
    l_int(&l, wr->pid);
    l_str(&l, ",\"tid\":");
    l_int(&l, tid);
    l_str(&l, ",\"ts\":");
    l_us(&l, e->ts);
    l_str(&l, ",\"dur\":");
    l_us(&l, e->dur);
    l_str(&l, ",\"args\":{");
    if (e->id != 0) {
        l_str(&l, "\"id\":");
        l_u64(&l, e->id);
        l_str(&l, ",");
    }
    if (e->name != NULL) {
        l_str(&l, "\"group\":");
        l_jstr(&l, e->name);
        l_str(&l, ",");
    }
    if (fname != NULL) {
        l_str(&l, "\"fn\":");
        l_jstr(&l, fname);
        l_str(&l, ",");
    }
    if (unfinished) {
        l_str(&l, "\"unfinished\":true}}");
    } else {
        l_str(&l, "\"code\":");
        l_int(&l, e->arg);
        l_str(&l, "}}");
    }
    fwrite(l.b, 1, l.n, wr->f);
}

/* name: a literal; args: preformatted members. */
static void write_instant(struct writer *wr, int tid, uint64_t ts, const char *name,
                          const char *args)
{
    struct line l = {.n = 0};
    l_str(&l, wr->first ? "\n{\"name\":\"" : ",\n{\"name\":\"");
    wr->first = false;
    l_str(&l, name);
    l_str(&l, "\",\"cat\":\"sched\",\"ph\":\"i\",\"s\":\"t\",\"pid\":");
    l_int(&l, wr->pid);
    l_str(&l, ",\"tid\":");
    l_int(&l, tid);
    l_str(&l, ",\"ts\":");
    l_us(&l, ts);
    l_str(&l, ",\"args\":{");
    l_str(&l, args);
    l_str(&l, "}}");
    fwrite(l.b, 1, l.n, wr->f);
}

static void write_group(struct writer *wr, int tid, const struct pl_trace_ev *e, bool unfinished)
{
    uint64_t id = ++wr->groups;
    const char *name = e->name != NULL ? e->name : "group";
    struct line l = {.n = 0};
    for (int end = 0; end < 2; end++) {
        l_str(&l, wr->first ? "\n{\"name\":" : ",\n{\"name\":");
        wr->first = false;
        l_jstr(&l, name);
        l_str(&l, end ? ",\"cat\":\"group\",\"ph\":\"e\",\"id\":"
                      : ",\"cat\":\"group\",\"ph\":\"b\",\"id\":");
        l_u64(&l, id);
        l_str(&l, ",\"pid\":");
        l_int(&l, wr->pid);
        l_str(&l, ",\"tid\":");
        l_int(&l, tid);
        l_str(&l, ",\"ts\":");
        l_us(&l, end ? e->ts + e->dur : e->ts);
        if (!end) {
            l_str(&l, "}");
        } else if (unfinished) {
            l_str(&l, ",\"args\":{\"unfinished\":true}}");
        } else {
            l_str(&l, ",\"args\":{\"result\":");
            l_int(&l, (int64_t)e->id);
            l_str(&l, ",\"errors\":");
            l_int(&l, e->arg);
            l_str(&l, "}}");
        }
    }
    fwrite(l.b, 1, l.n, wr->f);
}

static void write_event(struct writer *wr, int tid, const struct pl_trace_ev *e)
{
    char args[64];
    switch (e->kind) {
    case PL_EV_TASK:
        write_task(wr, tid, e, false);
        break;
    case PL_EV_STEAL:
        snprintf(args, sizeof args, "\"victim\":%u", (unsigned)e->id);
        write_instant(wr, tid, e->ts, "steal", args);
        break;
    case PL_EV_PARK:
        write_instant(wr, tid, e->ts, "park", "");
        break;
    case PL_EV_WAKE:
        write_instant(wr, tid, e->ts, "wake", "");
        break;
    case PL_EV_SPAWN:
        snprintf(args, sizeof args, "\"id\":%" PRIu64, e->id);
        write_instant(wr, tid, e->ts, "spawn", args);
        break;
    case PL_EV_GROUP:
        write_group(wr, tid, e, false);
        break;
    default:
        break;
    }
}

static void write_dropped(struct writer *wr, int tid, uint64_t ts, uint64_t n)
{
    if (n == 0)
        return;
    char args[48];
    snprintf(args, sizeof args, "\"dropped\":%" PRIu64, n);
    write_instant(wr, tid, ts, "events dropped (trace buffer full)", args);
}

/* Writes the session; every worker is out of its brackets. */
static int write_trace(struct plait_pool *pool, uint64_t stop)
{
    struct pl_pool_observer *po = pool->obs;
    struct writer *wr = pl_calloc(1, sizeof *wr);
    if (wr == NULL)
        return ENOMEM;
    FILE *f = po->file;
    wr->f = f;
    wr->pid = (int)getpid();
    wr->first = true;
    uint64_t dropped = po->dropped;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    ev_begin(wr);
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":",
            wr->pid);
    char name[64];
    snprintf(name, sizeof name, "plait pool %s", pool->name);
    pl_json_str(f, name);
    fputs("}}", f);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        struct pl_observer *o = pool->workers[i].obs;
        snprintf(name, sizeof name, "%s-%u", pool->name, i);
        meta_thread(wr, o->tid, name, i);
        for (size_t k = 0; k < o->n; k++)
            write_event(wr, o->tid, &o->ev[k]);
        /* Tasks still running: written up to the stop. */
        unsigned open = o->depth < PL_TRACE_DEPTH ? o->depth : PL_TRACE_DEPTH;
        for (unsigned d = 0; d < open; d++) {
            struct pl_trace_ev e = {
                .ts = o->begins[d], .dur = stop - o->begins[d], .kind = PL_EV_TASK};
            write_task(wr, o->tid, &e, true);
        }
        write_dropped(wr, o->tid, stop, o->dropped);
        dropped += o->dropped;
    }
    for (unsigned i = 0; i < po->nforeign; i++) {
        snprintf(name, sizeof name, "foreign-%d", po->foreign_tids[i]);
        meta_thread(wr, po->foreign_tids[i], name, pool->nworkers + i);
    }
    for (size_t k = 0; k < po->n; k++)
        write_event(wr, po->foreign_tids[po->ev[k].tid_slot], &po->ev[k]);
    if (po->dropped != 0) {
        /* A foreign event was dropped: on a track of its own. */
        meta_thread(wr, wr->pid, "foreign threads", pool->nworkers + po->nforeign);
        write_dropped(wr, wr->pid, stop, po->dropped);
    }
    fprintf(f, "\n],\"otherData\":{\"pool\":");
    pl_json_str(f, pool->name);
    fprintf(f, ",\"dropped_events\":%" PRIu64 ",\"events_per_buffer\":%zu}}\n", dropped, po->cap);
    pl_free(wr);
    return ferror(f) ? EIO : 0;
}

/* The workers' events in nanoseconds: ticks mapped by the start's and the
 * stop's readings. Each end is mapped, not the duration, so that events
 * nested in ticks stay nested (the map is monotonic). */
static uint64_t to_ns(uint64_t ticks, double scale)
{
    return (uint64_t)((double)ticks * scale + 0.5);
}

static void ticks_to_ns(struct plait_pool *pool, uint64_t stop_ticks, uint64_t stop_ns)
{
    struct pl_pool_observer *po = pool->obs;
    if (!po->ticks)
        return;
    double scale = stop_ticks > 0 ? (double)stop_ns / (double)stop_ticks : 1.0;
    for (unsigned i = 0; i < pool->nworkers; i++) {
        struct pl_observer *o = pool->workers[i].obs;
        for (size_t k = 0; k < o->n; k++) {
            struct pl_trace_ev *e = &o->ev[k];
            if (e->kind == PL_EV_GROUP)
                continue; /* CLOCK_MONOTONIC already */
            uint64_t b = to_ns(e->ts, scale), end = to_ns(e->ts + e->dur, scale);
            e->ts = b;
            e->dur = end - b;
        }
        unsigned open = o->depth < PL_TRACE_DEPTH ? o->depth : PL_TRACE_DEPTH;
        for (unsigned d = 0; d < open; d++) {
            uint64_t b = to_ns(o->begins[d], scale);
            o->begins[d] = b < stop_ns ? b : stop_ns;
        }
    }
}

int pl_trace_stop(struct plait_pool *pool, bool workers_gone)
{
    struct pl_pool_observer *po = pool->obs;
    pthread_mutex_lock(&po->lock);
    if (po->file == NULL) {
        pthread_mutex_unlock(&po->lock);
        return EINVAL;
    }
    /* relaxed: a hint (pl_trace_pool_on); the pool buffer is guarded by
     * the lock we hold. */
    atomic_store_explicit(&po->tracing, 0, memory_order_relaxed);
    for (unsigned i = 0; i < pool->nworkers; i++) {
        struct pl_worker *w = &pool->workers[i];
        /* seq_cst: the store-buffering pair with enter(). */
        atomic_fetch_and_explicit(&w->observe, ~(uint32_t)PL_OBS_TRACE, memory_order_seq_cst);
    }
    /* The heavy side of the brackets' pair (enter), where it works (it
     * worked at start, and keeps working: same command, same process). */
    if (!workers_gone)
        pl_heavy_fence();
    if (!workers_gone)
        for (unsigned i = 0; i < pool->nworkers; i++)
            /* seq_cst: see above; acquires the bracket's release. */
            while (atomic_load_explicit(&pool->workers[i].obs->in_trace, memory_order_seq_cst))
                pl_cpu_relax();
    uint64_t stop_ticks = ticks_now(po) - po->tick0;
    uint64_t stop = pl_now_ns() - po->t0;
    ticks_to_ns(pool, stop_ticks, stop);
    int err = write_trace(pool, stop);
    if (fclose(po->file) != 0 && err == 0)
        err = errno != 0 ? errno : EIO;
    po->file = NULL;
    for (unsigned i = 0; i < pool->nworkers; i++) {
        struct pl_observer *o = pool->workers[i].obs;
        pl_free(o->ev);
        o->ev = NULL;
        o->n = o->cap = 0;
    }
    pl_free(po->ev);
    po->ev = NULL;
    po->n = po->cap = 0;
    pthread_mutex_unlock(&po->lock);
    return err;
}

/* ---- API --------------------------------------------------------------- */

static size_t env_events(void)
{
    const char *s = getenv("PLAIT_TRACE_EVENTS");
    if (s != NULL && *s != '\0') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && *end == '\0' && v > 0 && v <= (1ull << 30))
            return (size_t)v;
    }
    return (size_t)1 << 20;
}

int plait_pool_trace_start(plait_pool *pool, const char *path)
{
    if (pool == NULL || path == NULL || pool->obs == NULL)
        return EINVAL;
    return pl_trace_start(pool, path, env_events());
}

int plait_pool_trace_stop(plait_pool *pool)
{
    if (pool == NULL || pool->obs == NULL)
        return EINVAL;
    return pl_trace_stop(pool, false);
}

void pl_trace_pool_end(struct plait_pool *pool)
{
    struct pl_pool_observer *po = pool->obs;
    /* Destroy's thread alone touches the session now (the workers are
     * joined; a plait_pool_trace_stop racing destroy is a misuse). */
    if (po == NULL || po->file == NULL)
        return;
    int err = pl_trace_stop(pool, true);
    if (err != 0)
        fprintf(stderr, "plait: writing the trace of pool %s: %s\n", pool->name, strerror(err));
}

/* $PLAIT_TRACE: the first pool of the process writes to the path, later
 * ones to path.2, path.3, ... */
void pl_trace_from_env(struct plait_pool *pool)
{
    static _Atomic unsigned pools;
    const char *path = getenv("PLAIT_TRACE");
    if (path == NULL || *path == '\0')
        return;
    /* relaxed: a counter. */
    unsigned n = atomic_fetch_add_explicit(&pools, 1, memory_order_relaxed) + 1;
    char buf[4096];
    if (n > 1) {
        snprintf(buf, sizeof buf, "%s.%u", path, n);
        path = buf;
    }
    int err = pl_trace_start(pool, path, env_events());
    if (err != 0)
        fprintf(stderr, "plait: PLAIT_TRACE=%s: cannot trace: %s\n", path, strerror(err));
}
