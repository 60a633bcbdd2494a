/*
 * names — group names (plait_group_set_name), interned.
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
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "observe.h"

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

/* Nothing is left for valgrind to report at exit; no pool may be running
 * then (a name is read only by live pools' threads). */
__attribute__((destructor)) static void names_free_at_exit(void)
{
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

int plait_group_set_name(plait_group *g, const char *name)
{
    if (g == NULL)
        return EINVAL;
    const char *in = NULL;
    if (name != NULL && name[0] != '\0') {
        size_t n = strnlen(name, PLAIT_NAME_MAX);
        if ((in = intern(name, n)) == NULL)
            return ENOMEM;
    }
    /* release: a reader that acquires the pointer sees the copy. */
    atomic_store_explicit(&g->name, in, memory_order_release);
    return 0;
}

const char *plait_group_name(const plait_group *g)
{
    /* acquire: pairs with the store above. */
    return g != NULL ? atomic_load_explicit(&g->name, memory_order_acquire) : NULL;
}
