/* An outside program built against an installed plait (scripts/check-install.sh). */
#include <plait.h>

#include <stdio.h>

static int add_one(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

int main(void)
{
    plait_pool_options opts = {.threads = 2};
    plait_pool *pool;
    plait_group *group;
    int count = 0;

    if (plait_pool_create(&pool, &opts) != 0 || plait_group_create(&group, pool, 0) != 0)
        return 1;
    for (int i = 0; i < 100; i++)
        if (plait_go(group, add_one, &count) != 0)
            return 1;
    int rc = plait_group_wait(group);
    plait_group_destroy(group);
    plait_pool_destroy(pool);
    if (rc != 0 || count != 100) {
        fprintf(stderr, "consumer: wait %d (%s), count %d\n", rc, plait_strerror(rc), count);
        return 1;
    }
    printf("consumer: ok, plait %d.%d.%d\n", PLAIT_VERSION_MAJOR, PLAIT_VERSION_MINOR,
           PLAIT_VERSION_PATCH);
    return 0;
}
