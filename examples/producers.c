/*
 * producers — a batch fed from the user's own threads.
 *
 * Four producer threads read "items" (here: made up) and spawn one task
 * per item into one group. The group has a limit, so a producer that
 * outruns the workers blocks in its spawn instead of queueing the whole
 * input: memory stays bounded however slow the consumers are. Each item's
 * payload is freed by the spawn's drop, whatever becomes of the task. The
 * producers hold the group while they feed it, so the main thread can
 * wait from the start; meanwhile it prints a progress line from
 * plait_group_get_info. Ctrl-C cancels the batch (one call in the
 * handler).
 *
 *   producers [ITEMS_PER_PRODUCER [LIMIT [WORK_US]]]
 *       defaults: 50000 items each, limit 256 (0: none), 50 us per item
 *
 * Exits 0 when every item was processed (or the batch was cancelled by
 * Ctrl-C), 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <plait.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 4

struct item {
    uint64_t id;
    char payload[1000]; /* what a real item would carry */
};

static plait_group *batch;
static unsigned long items_per_producer = 50000;
static unsigned long work_us = 50;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The consumer: some work per item, cancellable. */
static int process(plait_ctx *ctx, void *arg)
{
    struct item *it = arg;
    uint64_t end = now_ns() + work_us * 1000u;
    unsigned sum = 0;
    while (now_ns() < end) {
        if (plait_cancelled(ctx))
            return ECANCELED;
        sum += (unsigned char)it->payload[sum % sizeof it->payload];
    }
    it->payload[0] = (char)sum;
    return 0;
}

static void *produce(void *arg)
{
    unsigned p = (unsigned)(uintptr_t)arg;
    plait_spawn_options opts = {.drop = free}; /* the payload, whatever happens */
    for (unsigned long i = 0; i < items_per_producer; i++) {
        struct item *it = malloc(sizeof *it);
        if (it == NULL)
            break;
        it->id = (uint64_t)p * items_per_producer + i;
        memset(it->payload, (int)(it->id & 0x7f), sizeof it->payload);
        int r = plait_spawn_with(batch, process, it, &opts, NULL);
        if (r != 0)
            break; /* cancelled (Ctrl-C): it was dropped; stop reading */
    }
    plait_group_release(batch); /* this producer is done */
    return NULL;
}

static void on_sigint(int sig)
{
    (void)sig;
    plait_group_cancel_async(batch);
}

int main(int argc, char **argv)
{
    unsigned long limit = 256;
    if (argc > 1)
        items_per_producer = strtoul(argv[1], NULL, 10);
    if (argc > 2)
        limit = strtoul(argv[2], NULL, 10);
    if (argc > 3)
        work_us = strtoul(argv[3], NULL, 10);

    plait_pool *pool;
    int r = plait_pool_create(&pool, NULL);
    if (r != 0) {
        fprintf(stderr, "plait_pool_create: %s\n", plait_strerror(r));
        return 1;
    }
    if ((r = plait_group_create(&batch, pool, PLAIT_GROUP_CANCEL_ASYNC)) != 0 ||
        (r = plait_group_set_limit(batch, limit)) != 0) {
        fprintf(stderr, "group: %s\n", plait_strerror(r));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    printf("%u workers, %d producers x %lu items, limit %lu, %lu us per item\n",
           plait_pool_size(pool), PRODUCERS, items_per_producer, limit, work_us);
    pthread_t th[PRODUCERS];
    for (unsigned p = 0; p < PRODUCERS; p++) {
        plait_group_hold(batch); /* before the thread starts: the wait cannot end early */
        pthread_create(&th[p], NULL, produce, (void *)(uintptr_t)p);
    }

    /* Progress until every producer let go and the queue drained. */
    uint64_t t0 = now_ns(), last_t = t0, last_done = 0;
    long peak_rss = rss_kib();
    plait_group_info info;
    for (;;) {
        struct timespec tick = {0, 100 * 1000000L};
        nanosleep(&tick, NULL);
        plait_group_get_info(batch, &info);
        uint64_t t = now_ns(), done = info.succeeded + info.failed + info.cancelled;
        long rss = rss_kib();
        if (rss > peak_rss)
            peak_rss = rss;
        printf("%6.2f s  done %8" PRIu64 "  %8.0f/s  pending %5" PRIu64
               "  producers %u  rss %ld KiB\n",
               (double)(t - t0) / 1e9, done,
               (double)(done - last_done) * 1e9 / (double)(t - last_t), info.pending, info.holds,
               rss);
        fflush(stdout);
        last_t = t;
        last_done = done;
        if (info.holds == 0 && info.pending == 0)
            break;
    }
    r = plait_group_wait(batch);
    for (unsigned p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    plait_group_get_info(batch, &info);
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("%s: %" PRIu64 " items in %.2f s (%.0f/s), %" PRIu64 " cancelled, peak rss %ld KiB\n",
           r == 0 ? "done" : plait_strerror(r), info.succeeded, secs, (double)info.succeeded / secs,
           info.cancelled, peak_rss);
    int ok = (r == 0 && info.succeeded == (uint64_t)PRODUCERS * items_per_producer) ||
             (r == ECANCELED && info.cancel_reason == PLAIT_CANCEL_CALL);
    plait_group_destroy(batch);
    plait_pool_destroy(pool);
    return ok ? 0 : 1;
}
