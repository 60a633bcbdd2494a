/*
 * plait_mpi — a loop over one global range, collective over an MPI
 * communicator, whose chunks run as plait tasks on every rank.
 *
 * An optional part of plait, built only where an MPI is found
 * (libplait_mpi, pkg-config plait-mpi, CMake plait::mpi); the core library
 * has no MPI dependency. Guide and figures: docs/MPI.md.
 *
 *   plait_mpi_result r;
 *   int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, n, 16, body, arg, 0, &r);
 *   for (size_t i = 0; i < r.nerrors; i++)
 *       printf("rank %d item %zu: %s\n", r.errors[i].rank, r.errors[i].item,
 *              r.errors[i].message ? r.errors[i].message : plait_strerror(r.errors[i].code));
 *   plait_mpi_result_free(&r);
 *
 * How it runs. Every rank of the communicator calls plait_mpi_for with the
 * same range, grain, flags and deadline. The range is cut into chunks of
 * grain items; ranks claim chunks one at a time from a counter on rank 0
 * (MPI one-sided atomics: MPI_Fetch_and_op in a passive-target epoch) and
 * run each as a task of one plait group on their own pool. A rank claims a
 * chunk only while fewer than chunks_per_worker x workers of its chunks are
 * unfinished (the group's limit; by default a few per worker, more when
 * chunks are short), so a slow rank takes fewer chunks and an uneven range
 * finishes together on all ranks.
 *
 * Threads (the rule). plait's workers never call MPI: only the thread that
 * calls plait_mpi_for does (the chunk bodies must not call MPI either).
 * MPI_THREAD_FUNNELED therefore suffices, and under FUNNELED the caller
 * must be the main thread (MPI_Is_thread_main). With MPI_THREAD_SINGLE, or
 * from another thread under FUNNELED, plait_mpi_for returns ENOTSUP with a
 * message in result and communicates with nobody: every rank that breaks
 * the rule returns at once (a program that breaks it on some ranks only
 * leaves the others waiting, as any collective would). It is never called
 * from a task of pool (EDEADLK on every rank, under SERIALIZED/MULTIPLE).
 *
 * Failures. Unless PLAIT_GROUP_COLLECT_ALL is in flags, the first failing
 * chunk on any rank stops every rank from claiming more and cancels their
 * running chunks (plait_cancelled turns true; within a millisecond or two
 * on one host: the calling thread polls a stop word on rank 0 every
 * poll_ns). With COLLECT_ALL every chunk runs and every failure is kept.
 * A chunk that fails without naming an item (plait_fail_item) is reported
 * at its first item.
 *
 * Every rank gets the same result: every error of every rank (code,
 * message, item, rank), sorted by item, then rank, then code, then
 * message; and the same return value: the first error's code in that
 * order, else ETIMEDOUT if the deadline fired on any rank, else ECANCELED
 * if any rank was stopped without an error or deadline, else 0.
 *
 * MPI errors follow the communicator's error handler (by default fatal);
 * with MPI_ERRORS_RETURN a failed MPI call returns EIO on the rank that saw
 * it. plait_mpi_* functions are not async-signal-safe.
 */
#ifndef PLAIT_MPI_H
#define PLAIT_MPI_H

#include <mpi.h>
#include <plait.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#define PLAIT_MPI_API __attribute__((visibility("default")))
#else
#define PLAIT_MPI_API
#endif

/* One error of the loop, on whichever rank it happened. */
typedef struct plait_mpi_error {
    int code;            /* what the chunk returned */
    int rank;            /* rank (in the loop's communicator) that ran the chunk */
    size_t item;         /* from plait_fail_item, else the chunk's first item */
    const char *message; /* from plait_fail, or NULL; owned by the result */
} plait_mpi_error;

/* What one rank did (result->ranks[rank]). */
typedef struct plait_mpi_rank_stats {
    uint64_t chunks;     /* chunks it claimed and spawned */
    uint64_t items;      /* items in them */
    uint64_t items_done; /* of them, in chunks that succeeded */
    uint64_t finish_ns;  /* from the collective start until its last chunk finished */
    uint32_t workers;    /* its pool's size */
    uint32_t errors;     /* errors of its chunks */
    bool timed_out;      /* the deadline fired on it (its own clock or the stop word) */
    bool stopped;        /* it was stopped by another rank's failure or deadline */
} plait_mpi_rank_stats;

/* The outcome, identical on every rank. Zeroed by plait_mpi_for before
 * anything else; released by plait_mpi_result_free. */
typedef struct plait_mpi_result {
    int status;     /* the value plait_mpi_for returned */
    bool timed_out; /* the deadline fired on some rank */
    size_t nerrors;
    plait_mpi_error *errors; /* sorted by item, rank, code, message */
    size_t nranks;
    plait_mpi_rank_stats *ranks; /* indexed by rank; NULL if the loop never ran */
    uint64_t chunks;             /* chunks in the range */
    uint64_t items_done;         /* items in chunks that succeeded, all ranks */
    char *message;  /* why it did not run (EINVAL, ENOTSUP, EDEADLK, ENOMEM), or NULL */
    void *internal; /* the result's storage: do not touch */
} plait_mpi_result;

/* Options of plait_mpi_for_with. Zero-initialise and set what you need; a
 * field's zero is its default. */
typedef struct plait_mpi_options {
    unsigned flags;             /* 0 or PLAIT_GROUP_COLLECT_ALL; same on every rank */
    unsigned chunks_per_worker; /* this rank's claim-ahead: chunks unfinished per worker;
                                   0: adaptive, at least 2, more for short chunks (enough
                                   for ~0.5 ms of work per worker), at most 64 */
    uint64_t deadline_ns;       /* 0: none; else the loop stops this long after the
                                   collective start, on every rank; same on every rank */
    uint64_t poll_ns;           /* how often the caller reads the stop word (0: 200 us) */
    void *reserved[4];          /* zero */
} plait_mpi_options;

/* The loop, collective over comm: every rank of comm calls it with the
 * same begin, end, grain, flags and deadline; fn(ctx, b, e, arg) runs on
 * this rank's pool for the chunks this rank claims ([b, e) of at most grain
 * items; grain 0: automatic, about 8 chunks per worker of the largest pool).
 * fn and arg are this rank's own (each rank passes its own pointers).
 * Returns when every chunk of every rank has finished, with result filled
 * (see the top of this file) and the same return value on every rank:
 * 0, the first error's code, ETIMEDOUT or ECANCELED; or, before any chunk
 * ran, with result->message saying why:
 *   EINVAL   NULL pool, fn or result, begin > end, unknown flags or
 *            non-zero reserved words on some rank, MPI not initialised or
 *            already finalised, comm MPI_COMM_NULL (these three only on the
 *            ranks that see them: no communication), or ranks disagreeing
 *            on begin, end, grain, flags or deadline (on every rank);
 *   ENOTSUP  MPI thread level below FUNNELED, or under FUNNELED a caller
 *            that is not the main thread (no communication, see above);
 *   EDEADLK  called from a task of pool on some rank (on every rank);
 *   ENOMEM   on every rank, when one could not allocate;
 *   EIO      an MPI call failed (MPI_ERRORS_RETURN only).
 * result is always left safe to pass to plait_mpi_result_free. */
PLAIT_MPI_API int plait_mpi_for(MPI_Comm comm, plait_pool *pool, size_t begin, size_t end,
                                size_t grain, plait_range_fn fn, void *arg, unsigned flags,
                                plait_mpi_result *result);

/* plait_mpi_for with options (opts may be NULL: all defaults). */
PLAIT_MPI_API int plait_mpi_for_with(MPI_Comm comm, plait_pool *pool, size_t begin, size_t end,
                                     size_t grain, plait_range_fn fn, void *arg,
                                     const plait_mpi_options *opts, plait_mpi_result *result);

/* Frees what result holds and zeroes it. NULL, or a zeroed result, is a
 * no-op; freeing twice is safe. Not collective. */
PLAIT_MPI_API void plait_mpi_result_free(plait_mpi_result *result);

#ifdef __cplusplus
}
#endif

#endif /* PLAIT_MPI_H */
