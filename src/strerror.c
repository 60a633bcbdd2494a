#include <errno.h>

#include "plait.h"

const char *plait_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case EINVAL:
        return "invalid argument (NULL handle or function, bad range or flags, group already "
               "waited, unparsable $PLAIT_THREADS)";
    case ENOMEM:
        return "out of memory";
    case ECANCELED:
        return "cancelled";
    case ETIMEDOUT:
        return "the group's deadline passed";
    case ESHUTDOWN:
        return "the pool is being destroyed";
    case EDEADLK:
        return "waiting here would deadlock (a task waiting on itself or its own group, or "
               "destroying its own pool)";
    case EAGAIN:
        return "not finished yet, or out of resources for threads";
    case EBUSY:
        return "busy";
    default:
        return "unknown error (a task's own code)";
    }
}
