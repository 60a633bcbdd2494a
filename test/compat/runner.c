/*
 * runner — main() for the Criterion-compatible test build (see
 * criterion_compat.h). Each test runs in a forked child, so a crash, an
 * abort or a sanitizer report in one test is reported and the others still
 * run. The child arms alarm() with the test's timeout; the parent also
 * kills a child that outlives it by a few seconds (a child that blocked
 * SIGALRM).
 *
 *   runner [--list] [--timeout S] [FILTER...]
 *
 * FILTER: run only tests whose "suite::name" contains one of the strings.
 * Output: "[PASS] suite::name" / "[FAIL] suite::name (why)" / "[SKIP] ..."
 * per test, then exactly "N passed, N failed". Exit status 0 when none
 * failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion_compat.h"

#define DEFAULT_TIMEOUT_S 60.0
#define PARENT_GRACE_S 5.0
#define EXIT_FAILED 1

static struct compat_test *head, *tail;
static size_t ntests;

/* In the child: set when a non-fatal expectation failed. */
static volatile sig_atomic_t expect_failed;
static struct compat_test *current;

void compat_register(struct compat_test *t)
{
    t->next = NULL;
    if (tail != NULL)
        tail->next = t;
    else
        head = t;
    tail = t;
    ntests++;
}

void compat_log(const char *level, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s\n", level, buf);
    fflush(stderr);
}

void compat_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *what = fatal ? "Assertion failed" : "Expectation failed";
    if (msg[0] != '\0')
        fprintf(stderr, "%s:%d: %s: %s  [%s]\n", file, line, what, msg, expr);
    else
        fprintf(stderr, "%s:%d: %s: %s\n", file, line, what, expr);
    fflush(stderr);
    expect_failed = 1;
    if (fatal) {
        /* Ends the whole child, from whichever thread failed. fini still
         * runs, as in Criterion; workers may still be running, so skip
         * atexit handlers (_exit) after flushing. */
        if (current != NULL && current->fini != NULL)
            current->fini();
        fflush(NULL);
        _exit(EXIT_FAILED);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool selected(const struct compat_test *t, int nfilters, char **filters)
{
    if (nfilters == 0)
        return true;
    char full[512];
    snprintf(full, sizeof full, "%s::%s", t->suite, t->name);
    for (int i = 0; i < nfilters; i++)
        if (strstr(full, filters[i]) != NULL)
            return true;
    return false;
}

static void run_child(struct compat_test *t, double timeout)
{
    current = t;
    signal(SIGALRM, SIG_DFL);
    alarm((unsigned)ceil(timeout));
    if (t->init != NULL)
        t->init();
    t->fn();
    if (t->fini != NULL)
        t->fini();
    fflush(NULL);
    /* exit, not _exit: sanitizers run their end-of-process checks (leaks,
     * late reports) and may turn the status non-zero. */
    exit(expect_failed ? EXIT_FAILED : 0);
}

/* Returns true when the test passed; describes the failure in why. */
static bool run_one(struct compat_test *t, double default_timeout, char *why, size_t whylen)
{
    double timeout = t->timeout > 0 ? t->timeout : default_timeout;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0)
        run_child(t, timeout);

    double start = now_s();
    int status = 0;
    bool killed = false;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(why, whylen, "waitpid: %s", strerror(errno));
            return false;
        }
        if (!killed && now_s() - start > timeout + PARENT_GRACE_S) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    double took = now_s() - start;

    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (t->signal != 0 && sig == t->signal)
            return true;
        if (sig == SIGALRM || killed)
            snprintf(why, whylen, "timed out after %.0f s", timeout);
        else
            snprintf(why, whylen, "crashed: signal %d (%s) after %.2f s", sig, strsignal(sig),
                     took);
        return false;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (t->signal != 0) {
        snprintf(why, whylen, "expected signal %d, exited with %d", t->signal, code);
        return false;
    }
    if (code != t->exit_code) {
        if (code == EXIT_FAILED)
            snprintf(why, whylen, "assertion failed");
        else
            snprintf(why, whylen, "exit status %d", code);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    /* Line-buffered, so that the per-test lines and the children's
     * messages on stderr come out in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    double default_timeout = DEFAULT_TIMEOUT_S;
    bool list = false;
    char **filters = calloc((size_t)argc, sizeof *filters);
    int nfilters = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            list = true;
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            default_timeout = atof(argv[++i]);
        else if (strncmp(argv[i], "--timeout=", 10) == 0)
            default_timeout = atof(argv[i] + 10);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--list] [--timeout S] [FILTER...]\n", argv[0]);
            return 2;
        } else
            filters[nfilters++] = argv[i];
    }
    if (default_timeout <= 0)
        default_timeout = DEFAULT_TIMEOUT_S;

    unsigned passed = 0, failed = 0, skipped = 0;
    for (struct compat_test *t = head; t != NULL; t = t->next) {
        if (!selected(t, nfilters, filters))
            continue;
        if (list) {
            printf("%s::%s\n", t->suite, t->name);
            continue;
        }
        if (t->disabled) {
            printf("[SKIP] %s::%s\n", t->suite, t->name);
            skipped++;
            continue;
        }
        char why[256] = "";
        double start = now_s();
        bool ok = run_one(t, default_timeout, why, sizeof why);
        double took = now_s() - start;
        if (ok) {
            printf("[PASS] %s::%s (%.2f s)\n", t->suite, t->name, took);
            passed++;
        } else {
            printf("[FAIL] %s::%s (%s)\n", t->suite, t->name, why);
            failed++;
        }
        fflush(stdout);
    }
    free(filters);
    if (list)
        return 0;
    if (skipped != 0)
        printf("%u skipped\n", skipped);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 && passed + skipped > 0 ? 0 : 1;
}
