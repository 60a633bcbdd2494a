/* batch_seq.c — batch_records' sequential baseline (records.h); with
 * --item I, the per-item command of batch_xargs.sh: prints record I's hash
 * in hex and exits. */
#include "../common/bench.h"
#include "records.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t n;

static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++)
        x ^= record_hash(i);
    return x;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--item") == 0) {
        printf("%016" PRIx64 "\n", record_hash(strtoull(argv[2], NULL, 10)));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--expect") == 0) {
        printf("%016" PRIx64 "\n", records_expected(strtoull(argv[2], NULL, 10)));
        return 0;
    }
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    n = RECORDS(&cfg);
    double *t = malloc(sizeof *t * (size_t)cfg.reps);
    double med = bench_repeat(&cfg, "batch_records", "seq", run, NULL, records_expected(n), t);
    bench_emit("batch_records", "seq", 1,
               "value=%.4g unit=ns/item items_per_s=%.0f median_s=%.6g items=%" PRIu64 " ok=1",
               med * 1e9 / (double)n, (double)n / med, med, n);
    free(t);
    return 0;
}
