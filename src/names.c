/*
 * names — group and task names (plait_group_set_name,
 * plait_spawn_options.name), interned; and the other names the trace and
 * the dump show: functions' (from the dynamic symbol table) and threads'
 * (their kernel ids).
 *
 * A name is copied (at most PLAIT_NAME_MAX bytes) into a process-wide
 * table and never freed before the process exits, so that a group's name
 * pointer can be read by any thread at any time with one acquire load:
 * by the trace's task events on the task path, and by a dump running
 * while the group is renamed or destroyed. Equal names share one copy; the
 * table is meant for names of kinds of work (like thread names), and
 * holds at most PL_NAMES_BYTES bytes of distinct names: past that, a new
 * name is refused with ENOMEM (plait.h says so).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "obs_records.h"

#define PL_NAMES_BYTES (1u << 20)

struct name {
    struct name *next;
    char text[];
};

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct name *buckets[256];
static size_t names_bytes;

static unsigned hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h & 255u;
}

/* The interned copy of the first n bytes of s, or NULL (ENOMEM). */
static const char *intern(const char *s, size_t n)
{
    unsigned b = hash(s, n);
    const char *r = NULL;
    pthread_mutex_lock(&names_lock);
    for (struct name *e = buckets[b]; e != NULL; e = e->next)
        if (strncmp(e->text, s, n) == 0 && e->text[n] == '\0') {
            r = e->text;
            goto out;
        }
    if (names_bytes + n + 1 > PL_NAMES_BYTES)
        goto out;
    struct name *e = pl_malloc(sizeof *e + n + 1);
    if (e == NULL)
        goto out;
    memcpy(e->text, s, n);
    e->text[n] = '\0';
    e->next = buckets[b];
    buckets[b] = e;
    names_bytes += n + 1;
    r = e->text;
out:
    pthread_mutex_unlock(&names_lock);
    return r;
}

void pl_names_fork_child(void)
{
    pthread_mutex_init(&names_lock, NULL);
}

/* The last names this thread interned: a spawn that names its task finds
 * its name here without the table's lock (most name few kinds of work).
 * Compared by content, not by the caller's pointer, which may be a buffer
 * rewritten between spawns. The copies never move nor are freed while a
 * pool runs, and a fork's child keeps them. */
#define PL_NAME_CACHE 4
struct name_cache {
    const char *in[PL_NAME_CACHE];
    unsigned next;
};
static PL_TLS struct name_cache recent;

/* Nothing is left for valgrind to report at exit; no pool may be running
 * then (a name is read only by live pools' threads). */
__attribute__((destructor)) static void names_free_at_exit(void)
{
    recent = (struct name_cache){0}; /* this thread's: they point into the table */
    for (unsigned b = 0; b < 256; b++) {
        struct name *e = buckets[b];
        while (e != NULL) {
            struct name *next = e->next;
            pl_free(e);
            e = next;
        }
        buckets[b] = NULL;
    }
}

int pl_name_intern(const char *name, const char **out)
{
    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return 0;
    size_t n = strnlen(name, PLAIT_NAME_MAX);
    for (unsigned i = 0; i < PL_NAME_CACHE; i++) {
        const char *c = recent.in[i];
        if (c != NULL && strncmp(c, name, n) == 0 && c[n] == '\0') {
            *out = c;
            return 0;
        }
    }
    const char *in = intern(name, n);
    if (in == NULL)
        return ENOMEM;
    recent.in[recent.next++ % PL_NAME_CACHE] = in;
    *out = in;
    return 0;
}

int plait_group_set_name(plait_group *g, const char *name)
{
    if (g == NULL)
        return EINVAL;
    const char *in;
    int err = pl_name_intern(name, &in);
    if (err != 0)
        return err;
    /* release: a reader that acquires the pointer sees the copy. */
    atomic_store_explicit(&g->name, in, memory_order_release);
    return 0;
}

const char *plait_group_name(const plait_group *g)
{
    /* acquire: pairs with the store above. */
    return g != NULL ? atomic_load_explicit(&g->name, memory_order_acquire) : NULL;
}

/* ---- Functions and threads ------------------------------------------- */

/* The calling thread's kernel id, asked of the kernel once per thread. */
static PL_TLS int my_tid;

int pl_obs_gettid(void)
{
    if (my_tid == 0)
        my_tid = (int)syscall(SYS_gettid);
    return my_tid;
}

void pl_obs_gettid_forget(void)
{
    my_tid = 0; /* a fork's child is another thread of another process */
}

const char *pl_obs_fn_name(const void *fn)
{
    Dl_info info;
    /* dladdr takes a data pointer: the cast is how POSIX means it. */
    if (fn != NULL && dladdr((void *)(uintptr_t)fn, &info) != 0 && info.dli_sname != NULL &&
        info.dli_saddr == fn)
        return info.dli_sname;
    return NULL;
}
