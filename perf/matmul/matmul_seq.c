/* matmul_seq.c — all rows in one loop. */
#include "../common/bench.h"
#include "matmul.h"

static mm m;
static uint64_t run(void *arg)
{
    (void)arg;
    mm_rows(&m, 0, m.n);
    return mm_checksum(&m);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    mm_init(&m, MM_N(cfg.quick));
    bench_time(&cfg, MM_NAME(cfg.quick), "seq", run, NULL, mm_expected(&m));
    return 0;
}
