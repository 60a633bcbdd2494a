/*
 * membarrier — the heavy fence (membarrier.h): the private expedited
 * command where the kernel has it (registered once), else the global one.
 */
#include "membarrier.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t fence_once = PTHREAD_ONCE_INIT;
static int fence_cmd; /* the membarrier command that works, or 0 */

static void fence_init(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0)
        return;
    if ((cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        fence_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
    else if (cmds & MEMBARRIER_CMD_GLOBAL)
        fence_cmd = MEMBARRIER_CMD_GLOBAL;
}

bool pl_heavy_fence(void)
{
    pthread_once(&fence_once, fence_init);
    return fence_cmd != 0 && syscall(SYS_membarrier, fence_cmd, 0, 0) == 0;
}
