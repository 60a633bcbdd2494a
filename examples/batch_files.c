/*
 * batch_files — hash every file of a directory tree, a bounded batch.
 *
 * The main thread walks the trees named on the command line (nftw, not
 * following symbolic links while walking, so a directory loop made of
 * links cannot trap it) and spawns one task per file into one group. The
 * group has a limit, so the walk blocks in its spawn when it outruns the
 * workers instead of queueing the whole tree; each task's argument (the
 * path) is freed by the spawn's drop, whatever becomes of the task. The
 * group collects all errors: an unreadable file does not stop the others,
 * and each is reported with its path (plait_fail_item) after the wait.
 *
 *   batch_files [--timeout SECONDS] [--limit N] PATH...
 *
 * Each file is hashed with 64-bit FNV-1a. A symbolic link met in the walk
 * is opened (so followed) by its task: a link to a file is hashed under the
 * link's name, a dangling link or a link loop is an error, a link to a
 * directory is skipped (not descended). Files are opened with O_NONBLOCK so
 * that opening a FIFO never blocks; a FIFO (or another non-regular file) is
 * then read as a stream, in poll() slices of 20 ms that check for
 * cancellation: it is hashed once its writer closes, and a FIFO that nobody
 * writes holds its task until the batch is cancelled (--timeout, Ctrl-C).
 *
 * stdout: "<hash>  <path>" per file, in completion order (not sorted: pipe
 * through sort for a stable listing). stderr: the errors, "error: <path>:
 * <reason>", after the batch (walk errors as they are met), and a summary
 * line; on a terminal also a progress line, redrawn in place.
 *
 * Exit status: 0 every file hashed; 1 some files failed (each reported);
 * 2 usage or setup error; 124 the --timeout deadline fired (whatever else
 * failed); 130 interrupted by SIGINT (Ctrl-C).
 */
#define _XOPEN_SOURCE 700

#include <plait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 124
#define EXIT_INTERRUPTED 130

struct file_item {
    size_t index; /* order met in the walk: the error's item */
    char path[];  /* freed with the item by the spawn's drop */
};

static plait_group *batch;
static volatile sig_atomic_t interrupted;
static size_t files_met;
static unsigned long walk_errors;
static int spawn_stopped; /* the group refused a spawn: stop walking */
static int progress_tty;
static uint64_t last_progress_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    plait_group_cancel_async(batch); /* the one async-signal-safe call */
}

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* A task's failure, naming the file: strerror_r because tasks run on
 * several threads at once. */
static int fail_errno(plait_ctx *ctx, const struct file_item *it, int code)
{
    char why[128];
    if (strerror_r(code, why, sizeof why) != 0)
        snprintf(why, sizeof why, "error %d", code);
    return plait_fail_item(ctx, it->index, code, "%s: %s", it->path, why);
}

/* Waits until fd is readable (or its writer hung up), in slices that check
 * for cancellation: 0 ready, ECANCELED, or poll's errno. */
static int wait_readable(plait_ctx *ctx, int fd)
{
    for (;;) {
        if (plait_cancelled(ctx))
            return ECANCELED;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, 20);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return errno;
    }
}

static int hash_file(plait_ctx *ctx, void *arg)
{
    struct file_item *it = arg;
    if (plait_cancelled(ctx))
        return ECANCELED;
    int fd = open(it->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(ctx, it, errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(ctx, it, e);
    }
    if (S_ISDIR(st.st_mode)) { /* a link to a directory: not descended */
        close(fd);
        return 0;
    }
    int stream = !S_ISREG(st.st_mode);
    uint64_t h = FNV_OFFSET;
    unsigned char buf[65536];
    int rc = 0;
    for (;;) {
        if (plait_cancelled(ctx)) {
            rc = ECANCELED;
            break;
        }
        if (stream && (rc = wait_readable(ctx, fd)) != 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = errno;
            break;
        }
        h = fnv1a(h, buf, (size_t)n);
    }
    close(fd);
    if (rc == ECANCELED)
        return ECANCELED; /* counts as cancelled, not as this file's failure */
    if (rc != 0)
        return fail_errno(ctx, it, rc);
    flockfile(stdout); /* one whole line per file among the workers */
    printf("%016" PRIx64 "  %s\n", h, it->path);
    funlockfile(stdout);
    return 0;
}

static void progress(int final)
{
    plait_group_info info;
    plait_group_get_info(batch, &info);
    uint64_t done = info.succeeded + info.failed + info.cancelled;
    if (progress_tty)
        fprintf(stderr, "\r\033[K");
    if (!progress_tty && !final)
        return;
    fprintf(stderr,
            "batch_files: %zu files met, %" PRIu64 " done (%" PRIu64 " hashed, %" PRIu64
            " failed, %" PRIu64 " cancelled), %" PRIu64 " pending%s",
            files_met, done, info.succeeded, info.failed, info.cancelled, info.pending,
            final ? "\n" : "");
}

static void progress_tick(void)
{
    if (!progress_tty)
        return;
    uint64_t t = now_ns();
    if (t - last_progress_ns < 100 * 1000000ull)
        return;
    last_progress_ns = t;
    progress(0);
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (interrupted)
        return 1;
    if (type == FTW_DNR || type == FTW_NS) {
        if (progress_tty)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "error: %s: %s\n", path, strerror(type == FTW_NS ? errno : EACCES));
        walk_errors++;
        return 0;
    }
    if (type != FTW_F && type != FTW_SL)
        return 0; /* directories: nftw descends them */
    size_t len = strlen(path);
    struct file_item *it = malloc(sizeof *it + len + 1);
    if (it == NULL) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(ENOMEM));
        walk_errors++;
        return 0;
    }
    it->index = files_met++;
    memcpy(it->path, path, len + 1);
    plait_spawn_options opts = {.drop = free};
    /* Blocks while the group is at its limit; ECANCELED as soon as it is
     * cancelled (deadline, Ctrl-C). On any error it was already dropped. */
    int r = plait_spawn_with(batch, hash_file, it, &opts, NULL);
    if (r != 0) {
        if (r != ECANCELED)
            fprintf(stderr, "batch_files: spawn: %s\n", plait_strerror(r));
        spawn_stopped = 1;
        return 1;
    }
    progress_tick();
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: batch_files [--timeout SECONDS] [--limit N] PATH...\n");
}

int main(int argc, char **argv)
{
    double timeout_s = -1;
    unsigned long limit = 64;
    int argi = 1;
    for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        char *end;
        if (strcmp(argv[argi], "--") == 0) {
            argi++;
            break;
        } else if (strcmp(argv[argi], "--timeout") == 0 && argi + 1 < argc) {
            timeout_s = strtod(argv[++argi], &end);
            if (*end != '\0' || !(timeout_s >= 0) || timeout_s > 1e9) {
                usage();
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[argi], "--limit") == 0 && argi + 1 < argc) {
            limit = strtoul(argv[++argi], &end, 10);
            if (*end != '\0' || limit == 0) {
                usage();
                return EXIT_USAGE;
            }
        } else {
            usage();
            return EXIT_USAGE;
        }
    }
    if (argi >= argc) {
        usage();
        return EXIT_USAGE;
    }
    progress_tty = isatty(STDERR_FILENO);

    plait_pool *pool;
    int r = plait_pool_create(&pool, NULL);
    if (r != 0) {
        fprintf(stderr, "plait_pool_create: %s\n", plait_strerror(r));
        return EXIT_USAGE;
    }
    if ((r = plait_group_create(&batch, pool,
                                PLAIT_GROUP_COLLECT_ALL | PLAIT_GROUP_CANCEL_ASYNC)) != 0 ||
        (r = plait_group_set_limit(batch, limit)) != 0 ||
        (timeout_s >= 0 &&
         (r = plait_group_set_timeout(batch, (uint64_t)(timeout_s * 1e9))) != 0)) {
        fprintf(stderr, "batch_files: group: %s\n", plait_strerror(r));
        if (batch != NULL)
            plait_group_destroy(batch);
        plait_pool_destroy(pool);
        return EXIT_USAGE;
    }
    /* Before the walk: once a file is spawned, Ctrl-C cancels the batch. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    for (; argi < argc && !spawn_stopped && !interrupted; argi++) {
        if (nftw(argv[argi], visit, 32, FTW_PHYS) == -1) {
            fprintf(stderr, "error: %s: %s\n", argv[argi], strerror(errno));
            walk_errors++;
        }
    }
    /* The walk is over; on a terminal, show progress until the queue drains. */
    while (progress_tty && plait_group_pending(batch) > 0 && !interrupted) {
        struct timespec tick = {0, 100 * 1000000L};
        nanosleep(&tick, NULL);
        progress(0);
    }
    r = plait_group_wait(batch);
    progress(1);

    const plait_error *errs;
    size_t nerr = plait_group_errors(batch, &errs);
    for (size_t i = 0; i < nerr; i++)
        fprintf(stderr, "error: %s\n",
                errs[i].message ? errs[i].message : plait_strerror(errs[i].code));
    plait_group_info info;
    plait_group_get_info(batch, &info);
    if (info.errors_lost)
        fprintf(stderr, "batch_files: %" PRIu64 " more errors not stored (no memory)\n",
                info.errors_lost);

    int status = 0;
    if (interrupted) {
        fprintf(stderr, "batch_files: interrupted\n");
        status = EXIT_INTERRUPTED;
    } else if (info.timed_out) {
        fprintf(stderr, "batch_files: timed out after %g s\n", timeout_s);
        status = EXIT_TIMEOUT;
    } else if (r != 0 || nerr > 0 || info.errors_lost || walk_errors) {
        status = EXIT_FAILED;
    }
    fflush(stdout);
    plait_group_destroy(batch);
    plait_pool_destroy(pool);
    return status;
}
