/* uts_seq.c — the sequential walk: same tree, recursion, no runtime. */
#include "../common/bench.h"
#include "uts.h"

static uint64_t walk(uint64_t id)
{
    int c = uts_children(id);
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += walk(uts_child(id, i));
    return s;
}

static int b0;
static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t s = 1;
    for (int i = 0; i < b0; i++)
        s += walk(uts_child(UTS_ROOT_ID, i));
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    b0 = UTS_B0(cfg.quick);
    bench_time(&cfg, "uts", "seq", run, NULL, UTS_EXPECTED(cfg.quick));
    return 0;
}
