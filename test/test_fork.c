/*
 * test_fork — fork() inside a task: the child's thread starts as a foreign
 * thread with nothing of the parent's pool (plait.h, plait_pool_create).
 * Before the fix it kept the worker's thread-local identity: its own
 * pool's wait ran as a wait of the parent's worker and popped the parent's
 * queued tasks from the copied deque (308 of 400 ran again in children).
 *
 * Not under TSan: it cannot start threads in the child of a threaded
 * fork (as test/stress/regressions.c notes).
 */
#include "testlib.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define QUEUED 400

struct fork_counts {
    atomic_int parent_in_parent; /* parent tasks run in the parent */
    atomic_int parent_in_child;  /* parent tasks run in a child: must stay 0 */
    atomic_int child_own;        /* the child's own tasks */
    atomic_int child_step;       /* how far the child got (for the report) */
};

static struct fork_counts *shm;
static pid_t parent_pid;
static plait_group *parent_group;

static int parent_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(getpid() == parent_pid ? &shm->parent_in_parent : &shm->parent_in_child, 1);
    return 0;
}

static int child_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&shm->child_own, 1);
    return 0;
}

/* In the child, still on the forking worker's thread. Exit codes say what
 * went wrong; no Criterion assertion runs here. */
static int child_main(void)
{
    if (plait_current() != NULL)
        return 10;
    if (plait_worker_index() != -1)
        return 11;
    atomic_store(&shm->child_step, 1);
    plait_pool *own;
    plait_pool_options o = {.threads = 1};
    if (plait_pool_create(&own, &o) != 0)
        return 12;
    plait_group *g;
    if (plait_group_create(&g, own, 0) != 0)
        return 13;
    for (int i = 0; i < 4; i++)
        if (plait_go(g, child_task, NULL) != 0)
            return 14;
    atomic_store(&shm->child_step, 2);
    if (plait_group_wait(g) != 0)
        return 15;
    plait_group_destroy(g);
    plait_task *t = plait_submit(own, child_task, NULL);
    if (t == NULL || plait_task_wait(t) != 0)
        return 16;
    plait_task_release(t);
    atomic_store(&shm->child_step, 3);
    if (plait_pool_destroy(own) != 0)
        return 17;
    return 0;
}

static int forker(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    int *child_status = arg;
    /* One worker: these stay in its deque, where nobody steals them. */
    for (int i = 0; i < QUEUED; i++)
        if (plait_go(parent_group, parent_task, NULL) != 0)
            return EIO;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(child_main()); /* never back into the parent's task */
    while (waitpid(pid, child_status, 0) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

Test(fork, child_of_a_task_runs_only_its_own_tasks, .timeout = TL_TIMEOUT, .disabled = TL_TSAN)
{
    shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(shm, MAP_FAILED);
    parent_pid = getpid();
    plait_pool *pool = tl_pool(1);
    parent_group = tl_group(pool, 0);
    int child_status = -1;
    cr_assert_eq(plait_go(parent_group, forker, &child_status), 0);
    TL_ASSERT_CODE(plait_group_wait(parent_group), 0);
    plait_group_destroy(parent_group);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);

    cr_assert(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0,
              "child: status %#x (exit code %d: 10 plait_current set, 11 worker index set, "
              "12-17 its own pool failed), got to step %d",
              child_status, WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1,
              atomic_load(&shm->child_step));
    cr_assert_eq(atomic_load(&shm->parent_in_child), 0, "%d parent tasks ran in the child",
                 atomic_load(&shm->parent_in_child));
    cr_assert_eq(atomic_load(&shm->parent_in_parent), QUEUED);
    cr_assert_eq(atomic_load(&shm->child_own), 5);
    munmap(shm, sizeof *shm);
}
