/*
 * plait_mpi — the loop over a global range collective over an MPI
 * communicator (include/plait_mpi.h, docs/MPI.md).
 *
 * Above the whole library: it uses plait's public API only (a group with a
 * limit, plait_spawn_with and its drop, plait_fail_item, the group's
 * errors and info), so it is a separate library with its own MPI
 * dependency, and nothing in src/ knows about it.
 *
 * One rank, one loop:
 *   1. checks that need no communication (MPI initialised, the thread
 *      level, the communicator): on failure return at once;
 *   2. one MPI_Allreduce(MAX) of the arguments and their complements, so
 *      that every rank learns the min and max of each argument and the
 *      worst local error: a mismatch or an error anywhere fails every rank
 *      the same way, before anything is allocated collectively;
 *   3. a window on rank 0 holding two words: the next chunk to claim and a
 *      stop word; a barrier after rank 0 has zeroed them is the collective
 *      start (the deadline counts from there);
 *   4. the claim loop on the calling thread: while fewer than the limit of
 *      this rank's chunks are unfinished, claim one (MPI_Fetch_and_op SUM
 *      on the counter) and spawn it into the local group; else wait on a
 *      condition variable that each chunk's drop signals, at most poll_ns,
 *      then read the stop word. A local failure (fail-fast) or the
 *      deadline raises the stop word and pushes the counter past the end;
 *      a raised stop word seen on a poll cancels the local group;
 *   5. the local group's wait, then the gather: MPI_Allgather of the packed
 *      sizes, MPI_Allgatherv of the packed errors and figures, the same
 *      sort on every rank, the status derived from the gathered data only,
 *      so that every rank returns the same value.
 * Only the calling thread calls MPI. Chunks talk to it through `struct
 * loop` under its mutex.
 */
#include <plait_mpi.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Window layout (disp_unit 8): the claim counter and the stop word. Each
 * word sees one operation only besides MPI_NO_OP reads (SUM on the counter,
 * MAX on the stop word), as the default accumulate_ops=same_op_no_op asks. */
enum { W_COUNTER = 0, W_STOP = 1, W_WORDS = 2 };

/* Stop word values, MAX-combined: a failure outranks a deadline. */
enum { STOP_NONE = 0, STOP_DEADLINE = 1, STOP_FAILURE = 2 };

/* Added to the counter on a stop: every later claim reads past the end.
 * Claims add 1 each; no range has 2^62 chunks. */
#define STOP_BUMP ((uint64_t)1 << 62)

#define DEFAULT_POLL_NS 200000u /* 200 us */
#define DEFAULT_PER_WORKER 2u
/* Adaptive claim-ahead (chunks_per_worker 0): enough chunks per worker for
 * AHEAD_NS of work, at least DEFAULT_PER_WORKER, at most MAX_PER_WORKER.
 * Short chunks would otherwise drain the window faster than the calling
 * thread wakes up to refill it (measured: 21 us per chunk at 2 per worker,
 * 0.9 us at 32, for empty chunks on this host); a bound in time, not in
 * chunks, keeps a rank from holding more than ~AHEAD_NS of work per worker
 * that others could have run. */
#define AHEAD_NS 500000u
#define MAX_PER_WORKER 64u
#define MSG_MAX 1024u /* longest message gathered (bytes, with its NUL) */

/* ---- Small helpers ----------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_message(plait_mpi_result *r, const char *fmt, ...) PLAIT_PRINTF(2, 3);
static void set_message(plait_mpi_result *r, const char *fmt, ...)
{
    if (r == NULL)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(r->message);
    r->message = strdup(buf); /* out of memory: no message, the code stays */
}

static int fail(plait_mpi_result *r, int code)
{
    if (r != NULL)
        r->status = code;
    return code;
}

/* ---- The chunks (run on plait's workers: no MPI here) ------------------- */

struct loop {
    plait_range_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when in_flight drops to wake_at or a chunk fails */
    /* Under mu: */
    unsigned in_flight;  /* chunks spawned whose drop has not run */
    unsigned wake_at;    /* the caller waits for in_flight <= wake_at */
    uint64_t ran;        /* chunks whose body ran */
    uint64_t busy_ns;    /* their bodies' total time */
    bool failed;         /* a chunk returned an error (not ECANCELED) */
    uint64_t items_done; /* items of chunks that returned 0 */
};

struct chunk {
    struct loop *l;
    size_t b, e;
    int rc;      /* the body's return; ECANCELED until it has run */
    uint64_t ns; /* the body's time, 0 if it did not run */
};

static int chunk_run(plait_ctx *ctx, void *a)
{
    struct chunk *c = a;
    /* The chunk's error names its first item unless fn names another:
     * plait_fail_item's last call wins (plait.h), and code 0 with no
     * message leaves the outcome to fn. */
    (void)plait_fail_item(ctx, c->b, 0, NULL);
    uint64_t t0 = now_ns();
    int rc = c->l->fn(ctx, c->b, c->e, c->l->arg);
    c->ns = now_ns() - t0 + 1;
    c->rc = rc; /* read by chunk_drop, on this thread (plait.h: drop) */
    return rc;
}

/* Runs once per chunk, after its body (or instead of it), on the thread
 * that ran the body, before the task counts as finished: so once the
 * group's wait has returned no drop is still touching the loop. */
static void chunk_drop(void *a)
{
    struct chunk *c = a;
    struct loop *l = c->l;
    int rc = c->rc;
    uint64_t items = c->e - c->b, ns = c->ns;
    free(c);
    pthread_mutex_lock(&l->mu);
    l->in_flight--;
    if (ns != 0) {
        l->ran++;
        l->busy_ns += ns;
    }
    /* Wake the caller only at its low-water mark (claim_loop): one wake-up
     * refills several slots, instead of a context switch per chunk. */
    bool wake = l->in_flight <= l->wake_at;
    if (rc == 0) {
        l->items_done += items;
    } else if (rc != ECANCELED) {
        l->failed = true;
        wake = true;
    }
    if (wake)
        pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* ---- Packing what a rank reports -------------------------------------- */

/* Per rank: a header, then its errors, each 8-byte aligned:
 *   header: nerrors, chunks, items, items_done, finish_ns, workers, bits
 *   error:  item (u64), code (i32), len (u32, with the NUL), message bytes */
enum { H_NERR, H_CHUNKS, H_ITEMS, H_DONE, H_FINISH, H_WORKERS, H_BITS, H_WORDS };
enum { BIT_TIMED_OUT = 1, BIT_STOPPED = 2, BIT_CANCELLED = 4 };

struct local_error {
    int code;
    size_t item;
    const char *message;
};

static size_t pad8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

static size_t msg_len(const char *m)
{
    if (m == NULL)
        return 0;
    size_t n = strlen(m) + 1;
    return n > MSG_MAX ? MSG_MAX : n;
}

static size_t packed_size(const struct local_error *errs, size_t n)
{
    size_t s = H_WORDS * 8u;
    for (size_t i = 0; i < n; i++)
        s += 16u + pad8(msg_len(errs[i].message));
    return s;
}

static void pack(unsigned char *p, const uint64_t *hdr, const struct local_error *errs, size_t n)
{
    memcpy(p, hdr, H_WORDS * 8u);
    p += H_WORDS * 8u;
    for (size_t i = 0; i < n; i++) {
        uint64_t item = errs[i].item;
        int32_t code = errs[i].code;
        uint32_t len = (uint32_t)msg_len(errs[i].message);
        memcpy(p, &item, 8);
        memcpy(p + 8, &code, 4);
        memcpy(p + 12, &len, 4);
        p += 16;
        if (len > 0) {
            memcpy(p, errs[i].message, len - 1);
            p[len - 1] = '\0'; /* also where MSG_MAX cut it */
            memset(p + len, 0, pad8(len) - len);
        }
        p += pad8(len);
    }
}

static int cmp_error(const void *x, const void *y)
{
    const plait_mpi_error *a = x, *b = y;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->code != b->code)
        return a->code < b->code ? -1 : 1;
    if (a->message == NULL || b->message == NULL)
        return (a->message != NULL) - (b->message != NULL);
    return strcmp(a->message, b->message);
}

/* ---- The checks -------------------------------------------------------- */

/* Checks that need no communication; ENOTSUP / EINVAL with a message. */
static int check_alone(MPI_Comm comm, plait_mpi_result *r)
{
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        set_message(r, "plait_mpi_for: MPI is not initialised (call MPI_Init_thread first)");
        return EINVAL;
    }
    MPI_Finalized(&flag);
    if (flag) {
        set_message(r, "plait_mpi_for: MPI is already finalised");
        return EINVAL;
    }
    if (comm == MPI_COMM_NULL) {
        set_message(r, "plait_mpi_for: the communicator is MPI_COMM_NULL");
        return EINVAL;
    }
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_FUNNELED) {
        set_message(r, "plait_mpi_for: needs MPI_THREAD_FUNNELED or above (MPI_Init_thread); "
                       "MPI_THREAD_SINGLE cannot host plait's worker threads");
        return ENOTSUP;
    }
    if (level == MPI_THREAD_FUNNELED) {
        flag = 0;
        MPI_Is_thread_main(&flag);
        if (!flag) {
            set_message(r, "plait_mpi_for: under MPI_THREAD_FUNNELED it must be called from the "
                           "main thread (the one that initialised MPI)");
            return ENOTSUP;
        }
    }
    return 0;
}

/* The arguments every rank must agree on, then what only the max of is
 * wanted: the worst local error (code << 32 | rank) and the largest pool. */
enum { A_BEGIN, A_END, A_GRAIN, A_FLAGS, A_DEADLINE, A_SAME, A_ERR = A_SAME, A_WORKERS, A_WORDS };
static const char *const arg_names[A_SAME] = {"begin", "end", "grain", "flags", "deadline_ns"};

/* ---- The loop ------------------------------------------------------------ */

struct run {
    MPI_Comm comm;
    MPI_Win win;
    int rank;
    plait_group *group;
    struct loop loop;
    uint64_t nchunks;
    size_t begin, end, grain;
    bool stop_sent;
};

static int raise_stop(struct run *u, uint64_t why)
{
    if (u->stop_sent)
        return 0;
    u->stop_sent = true;
    uint64_t bump = STOP_BUMP, old;
    if (MPI_Fetch_and_op(&why, &old, MPI_UINT64_T, 0, W_STOP, MPI_MAX, u->win) != MPI_SUCCESS ||
        MPI_Fetch_and_op(&bump, &old, MPI_UINT64_T, 0, W_COUNTER, MPI_SUM, u->win) != MPI_SUCCESS ||
        MPI_Win_flush(0, u->win) != MPI_SUCCESS)
        return EIO;
    return 0;
}

static int read_stop(struct run *u, uint64_t *why)
{
    uint64_t dummy = 0;
    if (MPI_Fetch_and_op(&dummy, why, MPI_UINT64_T, 0, W_STOP, MPI_NO_OP, u->win) != MPI_SUCCESS ||
        MPI_Win_flush(0, u->win) != MPI_SUCCESS)
        return EIO;
    return 0;
}

static int claim(struct run *u, uint64_t *idx)
{
    uint64_t one = 1;
    if (MPI_Fetch_and_op(&one, idx, MPI_UINT64_T, 0, W_COUNTER, MPI_SUM, u->win) != MPI_SUCCESS ||
        MPI_Win_flush(0, u->win) != MPI_SUCCESS)
        return EIO;
    return 0;
}

static void abs_time(struct timespec *ts, uint64_t t)
{
    ts->tv_sec = (time_t)(t / 1000000000u);
    ts->tv_nsec = (long)(t % 1000000000u);
}

/* What this rank reports besides its group's errors. */
struct outcome {
    uint64_t chunks, items, finish_ns;
    bool timed_out, stopped;
    int mpi_err;              /* EIO: an MPI call failed */
    struct local_error extra; /* a chunk that could not be spawned, or code 0 */
    char extra_msg[160];
};

/* A chunk this rank could not spawn (ENOMEM, ESHUTDOWN): it says so, runs
 * no more chunks, and the others go on (collect-all) or stop (fail-fast). */
static void spawn_failed(struct run *u, struct outcome *o, size_t b, size_t e, int rc,
                         bool fail_fast)
{
    snprintf(o->extra_msg, sizeof o->extra_msg,
             "plait_mpi_for: could not spawn chunk [%zu, %zu): %s", b, e, plait_strerror(rc));
    o->extra = (struct local_error){.code = rc, .item = b, .message = o->extra_msg};
    if (fail_fast && raise_stop(u, STOP_FAILURE) != 0)
        o->mpi_err = EIO;
}

/* Steps 4 and 5a: claims and runs this rank's chunks until the range is
 * exhausted or the loop stopped, then waits for them. */
static void claim_loop(struct run *u, uint64_t start, uint64_t deadline_abs, uint64_t poll_ns,
                       unsigned limit, unsigned workers, bool adaptive, unsigned flags,
                       struct outcome *o)
{
    bool fail_fast = (flags & PLAIT_GROUP_COLLECT_ALL) == 0;
    bool claiming = u->group != NULL;
    bool stop_seen = false;
    /* Claim until `limit` chunks are unfinished, then wait until only
     * `low` are (hysteresis: a wake-up per limit - low chunks). */
    unsigned low = limit / 2;
    bool filling = true;
    uint64_t next_poll = start + poll_ns;
    uint64_t seen_ran = 0;
    struct chunk *held = NULL; /* claimed, not yet spawned */
    plait_spawn_options so = {.flags = PLAIT_SPAWN_TRY, .drop = chunk_drop};

    for (;;) {
        uint64_t t = now_ns();
        pthread_mutex_lock(&u->loop.mu);
        bool failed = u->loop.failed;
        unsigned in_flight = u->loop.in_flight;
        uint64_t ran = u->loop.ran, busy = u->loop.busy_ns;
        pthread_mutex_unlock(&u->loop.mu);

        /* Adaptive claim-ahead: re-sized as each batch of chunks ends. */
        if (adaptive && ran >= seen_ran + workers && ran > 0) {
            seen_ran = ran;
            uint64_t avg = busy / ran;
            uint64_t per = avg > 0 ? (AHEAD_NS + avg - 1) / avg : MAX_PER_WORKER;
            per = per < DEFAULT_PER_WORKER ? DEFAULT_PER_WORKER
                  : per > MAX_PER_WORKER   ? MAX_PER_WORKER
                                           : per;
            unsigned want = (unsigned)per * workers;
            if (want != limit && plait_group_set_limit(u->group, want) == 0) {
                limit = want;
                low = limit / 2;
            }
        }

        if (failed && fail_fast && !u->stop_sent) {
            if (raise_stop(u, STOP_FAILURE) != 0)
                o->mpi_err = EIO;
            claiming = false; /* the group cancelled itself */
        }
        if (deadline_abs != 0 && t >= deadline_abs && !o->timed_out) {
            o->timed_out = true;
            if (raise_stop(u, STOP_DEADLINE) != 0)
                o->mpi_err = EIO;
            /* Its own timeout may fire a moment later: do not wait for it. */
            plait_group_cancel(u->group);
            claiming = false;
        }
        if (t >= next_poll && !stop_seen && !u->stop_sent) {
            uint64_t why = STOP_NONE;
            if (read_stop(u, &why) != 0) {
                o->mpi_err = EIO;
                why = STOP_FAILURE; /* stop locally: the window cannot be trusted */
            }
            if (why != STOP_NONE) {
                stop_seen = true;
                o->stopped = true;
                if (why == STOP_DEADLINE)
                    o->timed_out = true;
                plait_group_cancel(u->group);
                claiming = false;
            }
            next_poll = t + poll_ns;
        }
        if (o->mpi_err != 0 && claiming) {
            plait_group_cancel(u->group);
            claiming = false;
        }

        if (in_flight >= limit)
            filling = false;
        else if (in_flight <= low)
            filling = true;
        if (claiming && filling) {
            if (held == NULL) {
                uint64_t idx;
                if (claim(u, &idx) != 0) {
                    o->mpi_err = EIO;
                    continue;
                }
                if (idx >= u->nchunks) {
                    claiming = false;
                    if (idx >= STOP_BUMP)
                        next_poll = t; /* stopped elsewhere: read why, cancel ours now */
                    continue;
                }
                size_t b = u->begin + (size_t)idx * u->grain;
                size_t e = u->end - b > u->grain ? b + u->grain : u->end;
                held = malloc(sizeof *held);
                if (held == NULL) {
                    spawn_failed(u, o, b, e, ENOMEM, fail_fast);
                    claiming = false;
                    continue;
                }
                *held = (struct chunk){.l = &u->loop, .b = b, .e = e, .rc = ECANCELED};
                pthread_mutex_lock(&u->loop.mu);
                u->loop.in_flight++; /* counted from the claim: it is ours */
                pthread_mutex_unlock(&u->loop.mu);
            }
            /* Never blocks: a chunk's drop (which lowered in_flight) runs
             * just before its slot returns, so a slot may still be taken
             * for a moment; then the caller keeps the chunk, goes round
             * (polling when due) and tries again. */
            struct chunk *c = held;
            size_t b = c->b, e = c->e;
            int rc = plait_spawn_with(u->group, chunk_run, c, &so, NULL);
            if (rc == EAGAIN) {
                sched_yield();
                continue;
            }
            held = NULL; /* spawned, or dropped (drop ran: plait.h) */
            if (rc == 0) {
                o->chunks++;
                o->items += e - b;
            } else if (rc == ECANCELED) {
                claiming = false; /* the claimed chunk is not run: stopped */
            } else {
                spawn_failed(u, o, b, e, rc, fail_fast);
                claiming = false;
            }
            continue;
        }
        if (!claiming && held != NULL) {
            /* Claimed, never spawned: the loop stopped meanwhile. */
            free(held);
            held = NULL;
            pthread_mutex_lock(&u->loop.mu);
            u->loop.in_flight--;
            in_flight = u->loop.in_flight;
            pthread_mutex_unlock(&u->loop.mu);
        }
        if (!claiming && in_flight == 0)
            break;

        /* Nothing to do until a chunk ends, a chunk fails, or it is time to
         * poll (or the deadline comes). */
        uint64_t until = next_poll;
        if (deadline_abs != 0 && !o->timed_out && deadline_abs < until)
            until = deadline_abs;
        struct timespec ts;
        abs_time(&ts, until);
        unsigned wake_at = claiming ? low : 0;
        pthread_mutex_lock(&u->loop.mu);
        u->loop.wake_at = wake_at;
        while (u->loop.in_flight > wake_at && u->loop.failed == failed && now_ns() < until)
            if (pthread_cond_timedwait(&u->loop.cv, &u->loop.mu, &ts) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&u->loop.mu);
    }
    if (u->group != NULL)
        (void)plait_group_wait(u->group); /* every drop has returned (chunk_drop) */
    o->finish_ns = now_ns() - start;
}

int plait_mpi_for_with(MPI_Comm comm, plait_pool *pool, size_t begin, size_t end, size_t grain,
                       plait_range_fn fn, void *arg, const plait_mpi_options *opts,
                       plait_mpi_result *result)
{
    if (result != NULL)
        memset(result, 0, sizeof *result);
    int err = check_alone(comm, result);
    if (err != 0)
        return fail(result, err);

    int rank = 0, size = 1;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS) {
        set_message(result, "plait_mpi_for: MPI_Comm_rank/size failed");
        return fail(result, EIO);
    }

    /* Step 2: local errors, then one reduction. */
    plait_mpi_options o0 = {0};
    const plait_mpi_options *op = opts != NULL ? opts : &o0;
    int local = 0;
    const char *why = NULL;
    bool reserved = false;
    for (size_t i = 0; i < sizeof op->reserved / sizeof op->reserved[0]; i++)
        reserved |= op->reserved[i] != NULL;
    if (pool == NULL || fn == NULL || result == NULL)
        local = EINVAL, why = "NULL pool, fn or result";
    else if (begin > end)
        local = EINVAL, why = "begin > end";
    else if ((op->flags & ~(unsigned)PLAIT_GROUP_COLLECT_ALL) != 0 || reserved)
        local = EINVAL, why = "unknown flags or non-zero reserved options";
    else if (plait_current() != NULL && plait_ctx_pool(plait_current()) == pool)
        local = EDEADLK, why = "called from a task of its own pool";

    uint64_t v[A_WORDS] = {
        [A_BEGIN] = begin,
        [A_END] = end,
        [A_GRAIN] = grain,
        [A_FLAGS] = op->flags,
        [A_DEADLINE] = op->deadline_ns,
        [A_ERR] = ((uint64_t)(unsigned)local << 32) | (uint32_t)rank,
        [A_WORKERS] = plait_pool_size(pool),
    };
    if (local == 0)
        v[A_ERR] = 0;
    uint64_t send[2 * A_WORDS], mx[2 * A_WORDS];
    for (int k = 0; k < A_WORDS; k++) {
        send[k] = v[k];
        send[A_WORDS + k] = UINT64_MAX - v[k]; /* its max is UINT64_MAX - min */
    }
    if (MPI_Allreduce(send, mx, 2 * A_WORDS, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        set_message(result, "plait_mpi_for: MPI_Allreduce failed");
        return fail(result, EIO);
    }
    if (mx[A_ERR] != 0) {
        int code = (int)(mx[A_ERR] >> 32), who = (int)(uint32_t)mx[A_ERR];
        if (local == code) /* our own reason (perhaps others' too) */
            set_message(result, "plait_mpi_for: rank %d: %s", rank, why);
        else
            set_message(result, "plait_mpi_for: rank %d refused the loop (%s); its result says why",
                        who, plait_strerror(code));
        return fail(result, code);
    }
    char diff[400] = "";
    size_t dl = 0;
    for (int k = 0; k < A_SAME; k++) {
        uint64_t lo = UINT64_MAX - mx[A_WORDS + k], hi = mx[k];
        if (lo != hi && dl < sizeof diff)
            dl += (size_t)snprintf(diff + dl, sizeof diff - dl, "%s%s from %llu to %llu",
                                   dl ? ", " : "", arg_names[k], (unsigned long long)lo,
                                   (unsigned long long)hi);
    }
    if (dl > 0) {
        set_message(result, "plait_mpi_for: ranks disagree on %s", diff);
        return fail(result, EINVAL);
    }

    /* Grain: the same on every rank, since it derives from agreed values. */
    size_t n = end - begin;
    if (grain == 0) {
        uint64_t parts = (uint64_t)size * (mx[A_WORKERS] ? mx[A_WORKERS] : 1) * 8u;
        grain = (size_t)(n / parts);
        if (grain == 0)
            grain = 1;
    }
    struct run u = {.comm = comm, .rank = rank, .begin = begin, .end = end, .grain = grain};
    u.nchunks = n / grain + (n % grain != 0);
    u.loop.fn = fn;
    u.loop.arg = arg;

    /* Step 3: the window. */
    uint64_t *base = NULL;
    MPI_Aint wbytes = rank == 0 ? (MPI_Aint)(W_WORDS * sizeof(uint64_t)) : 0;
    if (MPI_Win_allocate(wbytes, sizeof(uint64_t), MPI_INFO_NULL, comm, &base, &u.win) !=
        MPI_SUCCESS) {
        set_message(result, "plait_mpi_for: MPI_Win_allocate failed");
        return fail(result, EIO);
    }
    struct outcome o = {0};
    if (MPI_Win_lock_all(MPI_MODE_NOCHECK, u.win) != MPI_SUCCESS)
        o.mpi_err = EIO;
    if (rank == 0 && o.mpi_err == 0) {
        uint64_t zero[W_WORDS] = {0};
        if (MPI_Put(zero, W_WORDS, MPI_UINT64_T, 0, 0, W_WORDS, MPI_UINT64_T, u.win) !=
                MPI_SUCCESS ||
            MPI_Win_flush(0, u.win) != MPI_SUCCESS)
            o.mpi_err = EIO;
    }
    if (MPI_Barrier(comm) != MPI_SUCCESS)
        o.mpi_err = EIO;
    uint64_t start = now_ns();

    /* Step 4. A rank that cannot set up runs nothing and says so; the
     * others take its share (or stop, fail-fast). */
    unsigned per = op->chunks_per_worker ? op->chunks_per_worker : DEFAULT_PER_WORKER;
    unsigned workers = plait_pool_size(pool);
    unsigned limit = per * (workers ? workers : 1);
    bool adaptive = op->chunks_per_worker == 0;
    uint64_t poll = op->poll_ns ? op->poll_ns : DEFAULT_POLL_NS;
    uint64_t deadline_abs = op->deadline_ns ? start + op->deadline_ns : 0;
    pthread_condattr_t ca;
    int setup = pthread_condattr_init(&ca);
    if (setup == 0) {
        setup = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (setup == 0)
            setup = pthread_cond_init(&u.loop.cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    bool have_cv = setup == 0;
    bool have_mu = have_cv && (setup = pthread_mutex_init(&u.loop.mu, NULL)) == 0;
    if (have_mu)
        setup = plait_group_create(&u.group, pool, op->flags);
    if (setup == 0)
        setup = plait_group_set_limit(u.group, limit);
    if (setup == 0 && op->deadline_ns != 0)
        setup = plait_group_set_timeout(u.group, op->deadline_ns);
    if (setup != 0) {
        snprintf(o.extra_msg, sizeof o.extra_msg, "plait_mpi_for: rank could not start: %s",
                 plait_strerror(setup));
        o.extra =
            (struct local_error){.code = setup, .item = PLAIT_NO_ITEM, .message = o.extra_msg};
        if ((op->flags & PLAIT_GROUP_COLLECT_ALL) == 0 && o.mpi_err == 0 &&
            raise_stop(&u, STOP_FAILURE) != 0)
            o.mpi_err = EIO;
        plait_group_destroy(u.group);
        u.group = NULL;
    }
    if (have_mu && o.mpi_err == 0)
        claim_loop(&u, start, deadline_abs, poll, limit, workers ? workers : 1, adaptive, op->flags,
                   &o);
    else
        o.finish_ns = now_ns() - start;
    if (MPI_Win_unlock_all(u.win) != MPI_SUCCESS)
        o.mpi_err = EIO;

    /* Step 5: this rank's report. */
    const plait_error *gerr = NULL;
    size_t ng = u.group != NULL ? plait_group_errors(u.group, &gerr) : 0;
    plait_group_info gi = {0};
    if (u.group != NULL)
        plait_group_get_info(u.group, &gi);
    size_t nloc = ng + (o.extra.code != 0);
    struct local_error *le = calloc(nloc ? nloc : 1, sizeof *le);
    int gather_err = 0;
    if (le == NULL) {
        nloc = 0; /* reported below as ENOMEM on every rank */
        gather_err = ENOMEM;
    } else {
        for (size_t i = 0; i < ng; i++)
            le[i] = (struct local_error){
                .code = gerr[i].code, .item = gerr[i].item, .message = gerr[i].message};
        if (o.extra.code != 0)
            le[ng] = o.extra;
    }
    if (gi.timed_out)
        o.timed_out = true;
    uint64_t hdr[H_WORDS] = {
        [H_NERR] = nloc,
        [H_CHUNKS] = o.chunks,
        [H_ITEMS] = o.items,
        [H_DONE] = 0,
        [H_FINISH] = o.finish_ns,
        [H_WORKERS] = workers,
        [H_BITS] = (o.timed_out ? BIT_TIMED_OUT : 0u) | (o.stopped ? BIT_STOPPED : 0u) |
                   (gi.is_cancelled ? BIT_CANCELLED : 0u),
    };
    /* Our chunks are plain tasks (gi.items_done counts plait_group_for's). */
    hdr[H_DONE] = u.loop.items_done; /* every drop has run: no lock needed */
    size_t mine = packed_size(le, nloc);
    unsigned char *sendbuf = gather_err == 0 ? malloc(mine) : NULL;
    if (sendbuf == NULL) {
        gather_err = ENOMEM;
        mine = 0;
    } else {
        pack(sendbuf, hdr, le, nloc);
    }
    if (mine > INT_MAX)
        gather_err = ENOMEM, mine = 0;

    int *sizes = calloc((size_t)size, sizeof *sizes);
    int *displs = calloc((size_t)size, sizeof *displs);
    int mine_i = (int)mine;
    unsigned char *recv = NULL;
    int status = 0;
    bool complete = false; /* result filled from the gather */
    uint64_t errword[2] = {(uint64_t)gather_err, (uint64_t)o.mpi_err};
    if (sizes == NULL || displs == NULL)
        errword[0] = ENOMEM;
    uint64_t errmax[2];
    /* Everyone learns whether anyone failed to allocate before the gather. */
    if (MPI_Allreduce(errword, errmax, 2, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        status = EIO;
        goto out;
    }
    if (errmax[0] != 0 || errmax[1] != 0) {
        status = errmax[1] != 0 ? EIO : ENOMEM;
        set_message(result, "plait_mpi_for: %s gathering the results",
                    status == EIO ? "an MPI call failed on some rank"
                                  : "out of memory on some rank");
        goto out;
    }
    if (MPI_Allgather(&mine_i, 1, MPI_INT, sizes, 1, MPI_INT, comm) != MPI_SUCCESS) {
        status = EIO;
        goto out;
    }
    size_t total = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)total;
        total += (size_t)sizes[r];
    }
    if (total > INT_MAX)
        gather_err = ENOMEM;
    else if ((recv = malloc(total ? total : 1)) == NULL)
        gather_err = ENOMEM;
    errword[0] = (uint64_t)gather_err;
    if (MPI_Allreduce(errword, errmax, 1, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        status = EIO;
        goto out;
    }
    if (errmax[0] != 0) {
        status = ENOMEM;
        set_message(result, "plait_mpi_for: out of memory on some rank gathering the results");
        goto out;
    }
    if (MPI_Allgatherv(sendbuf, mine_i, MPI_BYTE, recv, sizes, displs, MPI_BYTE, comm) !=
        MPI_SUCCESS) {
        status = EIO;
        goto out;
    }

    /* Unpack: the same bytes on every rank, so the same result. */
    size_t nall = 0;
    for (int r = 0; r < size; r++) {
        uint64_t ne;
        memcpy(&ne, recv + displs[r], 8);
        nall += (size_t)ne;
    }
    result->ranks = calloc((size_t)size, sizeof *result->ranks);
    result->errors = calloc(nall ? nall : 1, sizeof *result->errors);
    int mem = result->ranks == NULL || result->errors == NULL ? ENOMEM : 0;
    /* Allocation after the gather is local: agree on it once more, so
     * that the return value stays the same everywhere. */
    uint64_t mem_w = (uint64_t)mem, mem_max = 0;
    if (MPI_Allreduce(&mem_w, &mem_max, 1, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        status = EIO;
        goto out;
    }
    if (mem_max != 0) {
        status = ENOMEM;
        set_message(result, "plait_mpi_for: out of memory on some rank gathering the results");
        goto out;
    }
    result->nranks = (size_t)size;
    result->chunks = u.nchunks;
    bool any_timeout = false, any_stop = false;
    size_t k = 0;
    for (int r = 0; r < size; r++) {
        const unsigned char *p = recv + displs[r];
        uint64_t h[H_WORDS];
        memcpy(h, p, sizeof h);
        p += sizeof h;
        plait_mpi_rank_stats *s = &result->ranks[r];
        s->chunks = h[H_CHUNKS];
        s->items = h[H_ITEMS];
        s->finish_ns = h[H_FINISH];
        s->workers = (uint32_t)h[H_WORKERS];
        s->errors = (uint32_t)h[H_NERR];
        s->timed_out = (h[H_BITS] & BIT_TIMED_OUT) != 0;
        s->stopped = (h[H_BITS] & BIT_STOPPED) != 0;
        any_timeout |= s->timed_out;
        any_stop |= s->stopped || (h[H_BITS] & BIT_CANCELLED) != 0;
        for (uint64_t i = 0; i < h[H_NERR]; i++) {
            uint64_t item;
            int32_t code;
            uint32_t len;
            memcpy(&item, p, 8);
            memcpy(&code, p + 8, 4);
            memcpy(&len, p + 12, 4);
            p += 16;
            result->errors[k++] = (plait_mpi_error){.code = code,
                                                    .rank = r,
                                                    .item = (size_t)item,
                                                    .message = len > 0 ? (const char *)p : NULL};
            p += pad8(len);
        }
        s->items_done = h[H_DONE];
        result->items_done += s->items_done;
    }
    result->nerrors = nall;
    qsort(result->errors, nall, sizeof *result->errors, cmp_error);
    result->timed_out = any_timeout;
    result->internal = recv; /* the messages point into it */
    recv = NULL;
    complete = true;
    if (nall > 0)
        status = result->errors[0].code;
    else if (any_timeout)
        status = ETIMEDOUT;
    else if (any_stop)
        status = ECANCELED;

out:
    /* Collective: after the last access of every rank (each unlocked
     * before the gather, which no rank passes before all have). */
    MPI_Win_free(&u.win);
    if (!complete) {
        /* Not gathered: no partial result. */
        free(result->ranks);
        free(result->errors);
        result->ranks = NULL;
        result->errors = NULL;
        result->nerrors = result->nranks = 0;
    }
    if (!complete && status == EIO && result->message == NULL)
        set_message(result, "plait_mpi_for: an MPI call failed gathering the results");
    free(recv);
    free(sendbuf);
    free(sizes);
    free(displs);
    free(le); /* the group's messages were copied into the gather */
    plait_group_destroy(u.group);
    if (have_mu)
        pthread_mutex_destroy(&u.loop.mu);
    if (have_cv)
        pthread_cond_destroy(&u.loop.cv);
    return fail(result, status);
}

int plait_mpi_for(MPI_Comm comm, plait_pool *pool, size_t begin, size_t end, size_t grain,
                  plait_range_fn fn, void *arg, unsigned flags, plait_mpi_result *result)
{
    plait_mpi_options o = {.flags = flags};
    return plait_mpi_for_with(comm, pool, begin, end, grain, fn, arg, &o, result);
}

void plait_mpi_result_free(plait_mpi_result *result)
{
    if (result == NULL)
        return;
    free(result->errors);
    free(result->ranks);
    free(result->message);
    free(result->internal);
    memset(result, 0, sizeof *result);
}
