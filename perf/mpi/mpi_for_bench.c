/*
 * mpi_for_bench — plait_mpi_for against the same loop in one process and
 * against a static MPI_Scatter partition (perf/mpi/run.sh drives it).
 *
 *   mpirun -np R mpi_for_bench MODE WORKLOAD [items] [grain] [workers] [reps] [per_worker]
 *
 * MODE      mpi     plait_mpi_for over MPI_COMM_WORLD (dynamic chunks)
 *           static  rank 0 MPI_Scatters each rank a block [lo, hi) of the
 *                   range; each runs plait_parallel_for on its block
 *           local   plait_parallel_for in one process (run with -np 1)
 * WORKLOAD  spin    every item the same CPU work (~20 us): overhead
 *           uneven  items sleep 100 us, every 10th of the first third
 *                   10 ms (100x): balance without CPU contention
 *           tiny    items that do almost nothing: cost per chunk
 * One line per repetition on rank 0: the loop's wall time (from a barrier to
 * the last rank's end), the spread of the ranks' own finishing times, and a
 * checksum that every mode must agree on.
 *
 * On one host this measures the MPI loop's overhead and its balance, not
 * scaling across nodes.
 */
#include <plait_mpi.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int rank, nranks;
static int workload; /* 0 spin, 1 uneven, 2 tiny */
static size_t nitems;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static _Atomic uint64_t checksum;

static int body(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)arg;
    uint64_t acc = 0;
    for (size_t i = b; i < e; i++) {
        uint64_t h = mix(i);
        if (workload == 0) {
            for (int k = 0; k < 4000; k++) /* ~20 us */
                h = mix(h);
        } else if (workload == 1) {
            uint64_t ns = i < nitems / 3 && i % 10 == 0 ? 10000000u : 100000u;
            int rc = plait_sleep(ctx, ns);
            if (rc != 0)
                return rc;
        }
        acc += h;
    }
    atomic_fetch_add_explicit(&checksum, acc, memory_order_relaxed);
    return 0;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: mpi_for_bench mpi|static|local spin|uneven|tiny "
                            "[items] [grain] [workers] [reps]\n");
        MPI_Finalize();
        return 2;
    }
    const char *mode = argv[1];
    workload = strcmp(argv[2], "spin") == 0 ? 0 : strcmp(argv[2], "uneven") == 0 ? 1 : 2;
    nitems = argc > 3 ? strtoul(argv[3], NULL, 10) : 4000;
    size_t grain = argc > 4 ? strtoul(argv[4], NULL, 10) : 4;
    unsigned workers = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 1;
    int reps = argc > 6 ? atoi(argv[6]) : 3;
    unsigned per_worker = argc > 7 ? (unsigned)strtoul(argv[7], NULL, 10) : 0; /* 0: default */

    plait_pool *pool;
    plait_pool_options po = {.threads = workers};
    if (plait_pool_create(&pool, &po) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);

    for (int rep = 0; rep < reps; rep++) {
        atomic_store(&checksum, 0);
        MPI_Barrier(MPI_COMM_WORLD);
        uint64_t t0 = now_ns(), mine = 0;
        int rc = 0;
        if (strcmp(mode, "mpi") == 0) {
            plait_mpi_result r;
            plait_mpi_options o = {.chunks_per_worker = per_worker};
            rc = plait_mpi_for_with(MPI_COMM_WORLD, pool, 0, nitems, grain, body, NULL, &o, &r);
            mine = r.ranks ? r.ranks[rank].finish_ns : 0;
            plait_mpi_result_free(&r);
        } else if (strcmp(mode, "static") == 0) {
            uint64_t *bounds = NULL, lohi[2];
            if (rank == 0) {
                bounds = malloc(2 * (size_t)nranks * sizeof *bounds);
                for (int k = 0; k < nranks; k++) {
                    bounds[2 * k] = nitems * (uint64_t)k / (uint64_t)nranks;
                    bounds[2 * k + 1] = nitems * (uint64_t)(k + 1) / (uint64_t)nranks;
                }
            }
            MPI_Scatter(bounds, 2, MPI_UINT64_T, lohi, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
            free(bounds);
            uint64_t s = now_ns();
            rc = plait_parallel_for(pool, (size_t)lohi[0], (size_t)lohi[1], grain, body, NULL);
            mine = now_ns() - s + (s - t0);
        } else {
            rc = plait_parallel_for(pool, 0, nitems, grain, body, NULL);
            mine = now_ns() - t0;
        }
        uint64_t fin[2] = {mine, UINT64_MAX - mine}, mx[2];
        MPI_Allreduce(fin, mx, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD); /* the wall time ends when every rank is done */
        uint64_t wall = now_ns() - t0;
        uint64_t local = atomic_load(&checksum), sum = 0;
        MPI_Reduce(&local, &sum, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0)
            printf("mode=%s workload=%s ranks=%d workers=%u items=%zu grain=%zu rep=%d rc=%d "
                   "wall_ms=%.2f spread_ms=%.2f checksum=%016llx\n",
                   mode, argv[2], nranks, workers, nitems, grain, rep, rc, wall / 1e6,
                   (mx[0] - (UINT64_MAX - mx[1])) / 1e6, (unsigned long long)sum);
    }
    plait_pool_destroy(pool);
    MPI_Finalize();
    return 0;
}
