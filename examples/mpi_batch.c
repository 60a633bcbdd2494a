/*
 * mpi_batch — the batch example spread over MPI ranks (docs/MPI.md).
 *
 *   mpirun -np 3 build/examples/mpi_batch [items]
 *
 * A batch of items of uneven cost (every 37th is 100x slower) where a few
 * fail, run as one plait_mpi_for over all ranks with PLAIT_GROUP_COLLECT_ALL:
 * every item runs once on some rank, and every rank ends with the same list
 * of failures, each with the rank that ran it and its item. Rank 0 prints
 * them; every rank prints what it did.
 */
#include <plait_mpi.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct batch {
    int rank;
};

static int process(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    const struct batch *b = arg;
    for (size_t i = begin; i < end; i++) {
        uint64_t cost_ns = i % 37 == 0 ? 5000000u : 50000u; /* 5 ms or 50 us */
        int rc = plait_sleep(ctx, cost_ns);                 /* stands for the work */
        if (rc != 0)
            return rc; /* cancelled */
        if (i % 53 == 7)
            return plait_fail_item(ctx, i, EIO, "item %zu: bad record (on rank %d)", i, b->rank);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t items = argc > 1 ? strtoul(argv[1], NULL, 10) : 400;

    /* One pool per rank: on a cluster, one rank per node and a pool of
     * that node's cores; here a couple of workers each. */
    plait_pool *pool;
    plait_pool_options po = {.threads = 2, .name = "batch"};
    if (plait_pool_create(&pool, &po) != 0) {
        fprintf(stderr, "rank %d: no pool\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    struct batch b = {.rank = rank};
    plait_mpi_result r;
    int rc =
        plait_mpi_for(MPI_COMM_WORLD, pool, 0, items, 4, process, &b, PLAIT_GROUP_COLLECT_ALL, &r);

    if (rank == 0) {
        printf("mpi_batch: %zu items on %d ranks: %s, %zu failed, %llu done\n", items, size,
               rc == 0 ? "ok" : plait_strerror(rc), r.nerrors, (unsigned long long)r.items_done);
        if (r.message != NULL)
            printf("  %s\n", r.message);
        for (size_t i = 0; i < r.nerrors; i++)
            printf("  error: rank %d item %zu code %d: %s\n", r.errors[i].rank, r.errors[i].item,
                   r.errors[i].code, r.errors[i].message ? r.errors[i].message : "(no message)");
        for (size_t k = 0; k < r.nranks; k++)
            printf("  rank %zu: %llu chunks, %llu items, finished at %.1f ms\n", k,
                   (unsigned long long)r.ranks[k].chunks, (unsigned long long)r.ranks[k].items,
                   r.ranks[k].finish_ns / 1e6);
    }
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
    MPI_Finalize();
    return rc == 0 || rc == EIO ? 0 : 1;
}
