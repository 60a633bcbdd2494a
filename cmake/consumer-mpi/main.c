/* An outside MPI program using an installed plait_mpi. */
#include <plait_mpi.h>

#include <stdio.h>

static int body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx, (void)b, (void)e, (void)arg;
    return 0;
}

int main(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    plait_pool *pool;
    plait_pool_options o = {.threads = 1};
    if (plait_pool_create(&pool, &o) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    plait_mpi_result r;
    int rc = plait_mpi_for(MPI_COMM_WORLD, pool, 0, 100, 10, body, NULL, 0, &r);
    if (rank == 0)
        printf("consumer-mpi: rc %d, %llu items\n", rc, (unsigned long long)r.items_done);
    rc = rc != 0 || r.items_done != 100;
    plait_mpi_result_free(&r);
    plait_pool_destroy(pool);
    MPI_Finalize();
    return rc;
}
