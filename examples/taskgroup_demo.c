/*
 * taskgroup_demo — the program plait started from.
 *
 * Ten tasks run in one group on a pool of ten workers. Each task fails with
 * probability 0.1 ("Oops"); otherwise it sleeps 0.5-1.5 s and returns its
 * delay as its result. The first failure cancels the group: the sleeping
 * siblings wake up at once and finish as cancelled.
 *
 *   taskgroup_demo [SEED]     (no SEED: one from the clock; the seed is
 *                              printed first, so any run can be replayed)
 *
 * Exits 0 whether the group succeeds or fails (both are expected outcomes),
 * 1 only when the library reports something the program did not expect.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <plait.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NTASKS 10

struct slot {
    uint64_t rng; /* this task's PRNG state, derived from the run's seed */
    double delay; /* seconds slept; the task's result */
};

/* splitmix64: a tiny, good, reproducible PRNG (no hidden global state). */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int do_it(plait_ctx *ctx, void *arg)
{
    struct slot *s = arg;

    if (next_random(&s->rng) % 10 == 0)
        return plait_fail(ctx, EINVAL, "Oops");
    s->delay = 0.5 + (double)(next_random(&s->rng) % 1001) / 1000.0;
    int rc = plait_sleep(ctx, (uint64_t)(s->delay * 1e9));
    if (rc != 0)
        return rc; /* ECANCELED: a sibling failed; finish as cancelled */
    plait_set_result(ctx, &s->delay);
    return 0;
}

/* The slot whose task has this id (errors name tasks by id), or -1. */
static int slot_of(plait_task *const *tasks, uint64_t id)
{
    for (int i = 0; i < NTASKS; i++)
        if (plait_task_id(tasks[i]) == id)
            return i;
    return -1;
}

static int unexpected(const char *what, int rc)
{
    fprintf(stderr, "taskgroup_demo: %s: %s\n", what, plait_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t seed;
    if (argc > 1) {
        char *end;
        errno = 0;
        seed = strtoull(argv[1], &end, 0);
        if (errno != 0 || *end != '\0' || end == argv[1]) {
            fprintf(stderr, "usage: %s [SEED]\n", argv[0]);
            return 2;
        }
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    printf("seed %" PRIu64 "\n", seed);

    /* Each slot's stream depends only on the run's seed and the slot. */
    struct slot slots[NTASKS];
    for (int i = 0; i < NTASKS; i++) {
        uint64_t mix = seed ^ ((uint64_t)(i + 1) * 0xd1b54a32d192ed03u);
        slots[i] = (struct slot){.rng = next_random(&mix), .delay = 0.0};
    }

    plait_pool_options opts = {.threads = NTASKS, .name = "demo"};
    plait_pool *pool;
    int rc = plait_pool_create(&pool, &opts);
    if (rc != 0)
        return unexpected("plait_pool_create", rc);

    plait_group *group;
    rc = plait_group_create(&group, pool, 0);
    if (rc != 0)
        return unexpected("plait_group_create", rc);

    plait_task *tasks[NTASKS];
    for (int i = 0; i < NTASKS; i++) {
        tasks[i] = plait_spawn(group, do_it, &slots[i]);
        if (tasks[i] == NULL)
            return unexpected("plait_spawn", errno);
    }

    /* Structure: when this returns, no task of the group is running. */
    int status = 0;
    rc = plait_group_wait(group);
    if (rc == 0) {
        printf("all %d tasks succeeded\n", NTASKS);
        for (int i = 0; i < NTASKS; i++) {
            const double *delay = plait_task_result(tasks[i]);
            if (delay == NULL) {
                status = unexpected("plait_task_result", EINVAL);
                continue;
            }
            printf("  task %d (id %" PRIu64 ") slept %.3f s\n", i, plait_task_id(tasks[i]), *delay);
        }
    } else if (rc == EINVAL) {
        const plait_error *errors;
        size_t n = plait_group_errors(group, &errors);
        printf("the group failed with EINVAL; the failure cancelled the others\n");
        for (size_t i = 0; i < n; i++)
            printf("  task %d (id %" PRIu64 ") failed: %s\n", slot_of(tasks, errors[i].task_id),
                   errors[i].task_id, errors[i].message ? errors[i].message : "(no message)");
        int cancelled = 0;
        for (int i = 0; i < NTASKS; i++)
            cancelled += plait_task_status(tasks[i]) == ECANCELED;
        printf("  %d task(s) cancelled\n", cancelled);
        if (n == 0)
            status = unexpected("plait_group_errors", rc);
    } else {
        status = unexpected("plait_group_wait", rc);
    }

    for (int i = 0; i < NTASKS; i++)
        plait_task_release(tasks[i]);
    plait_group_destroy(group);
    rc = plait_pool_destroy(pool);
    if (rc != 0)
        status = unexpected("plait_pool_destroy", rc);
    return status;
}
