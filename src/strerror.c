/*
 * strerror — plait's meaning of the codes it documents, and the system's
 * message for any other (a task's own code, such as EIO or EACCES).
 */
#include <errno.h>
#include <string.h>

#include "plait.h"

/* The codes plait documents (plait.h, docs/API.md): one list, so that a
 * new code cannot get a name in one place and not the other. */
#define PL_ERRNO_MAP(X)                                                                            \
    X(0, "success")                                                                                \
    X(EINVAL, "invalid argument (NULL handle or function, bad range or flags, group already "      \
              "waited, unparsable $PLAIT_THREADS)")                                                \
    X(ENOMEM, "out of memory")                                                                     \
    X(ECANCELED, "cancelled")                                                                      \
    X(ETIMEDOUT, "the group's deadline passed")                                                    \
    X(ESHUTDOWN, "the pool is being destroyed")                                                    \
    X(EDEADLK, "waiting here would deadlock (a task waiting on itself or its own group, or "       \
               "destroying its own pool)")                                                         \
    X(EAGAIN, "not finished yet, the group is full (PLAIT_SPAWN_TRY), or out of resources for "    \
              "threads")                                                                           \
    X(ENOTSUP, "not supported here (plait_mpi: MPI thread level below MPI_THREAD_FUNNELED, or "    \
               "not the main thread)")

const char *plait_strerror(int code)
{
    switch (code) {
#define PL_STRERROR_CASE(code, text)                                                               \
    case code:                                                                                     \
        return text;
        PL_ERRNO_MAP(PL_STRERROR_CASE)
#undef PL_STRERROR_CASE
    default:
        break;
    }
    /* strerrordesc_np (glibc 2.32) is thread-safe and returns NULL for an
     * unknown code, where strerror may write a shared buffer. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *s = code > 0 ? strerrordesc_np(code) : NULL;
    if (s != NULL)
        return s;
#endif
    return "unknown error (a task's own code)";
}
