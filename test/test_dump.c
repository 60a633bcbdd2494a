/*
 * test_dump — plait_pool_dump: every live group, running task and wait
 * edge of a pool held on gates is in the dump; dumps run clean while the
 * pool spawns and finishes; PLAIT_DUMP_ON dumps on a signal.
 */
#include "testlib.h"

#include <signal.h>

/* The line of s that contains needle, or NULL. */
static const char *line_with(const char *s, const char *needle)
{
    const char *p = strstr(s, needle);
    if (p == NULL)
        return NULL;
    while (p > s && p[-1] != '\n')
        p--;
    return p;
}

/* The line of s whose text, after its indentation, starts with head. */
static const char *line_starting(const char *s, const char *head)
{
    for (const char *l = s; *l != '\0';) {
        const char *t = l;
        while (*t == ' ')
            t++;
        if (strncmp(t, head, strlen(head)) == 0)
            return l;
        const char *nl = strchr(l, '\n');
        if (nl == NULL)
            break;
        l = nl + 1;
    }
    return NULL;
}

static unsigned indent_of(const char *line)
{
    unsigned n = 0;
    while (line[n] == ' ')
        n++;
    return n;
}

struct scene {
    plait_pool *pool;
    plait_group *outer;
    _Atomic(plait_group *) inner;
    struct tl_gate gate;
    _Atomic uint64_t id_b1, id_b2;
    atomic_int waiters_started;
    plait_task *a;
};

static int task_a(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct scene *s = arg;
    plait_group *g;
    int rc = plait_group_create(&g, s->pool, 0);
    if (rc)
        return rc;
    plait_group_set_name(g, "inner");
    atomic_store(&s->inner, g);
    plait_task *b1 = plait_spawn(g, tl_gate_task, &s->gate);
    plait_task *b2 = plait_spawn(g, tl_gate_task, &s->gate);
    if (b1 == NULL || b2 == NULL)
        return ENOMEM;
    atomic_store(&s->id_b1, plait_task_id(b1));
    atomic_store(&s->id_b2, plait_task_id(b2));
    rc = plait_group_wait(g);
    plait_task_release(b1);
    plait_task_release(b2);
    plait_group_destroy(g);
    return rc;
}

static void *wait_outer(void *arg)
{
    struct scene *s = arg;
    atomic_fetch_add(&s->waiters_started, 1);
    return (void *)(intptr_t)plait_group_wait(s->outer);
}

static void *wait_a(void *arg)
{
    struct scene *s = arg;
    atomic_fetch_add(&s->waiters_started, 1);
    return (void *)(intptr_t)plait_task_wait(s->a);
}

Test(dump, shows_every_group_task_and_wait, .timeout = TL_TIMEOUT)
{
    struct scene s = {0};
    tl_gate_init(&s.gate);
    s.pool = tl_pool(2);
    s.outer = tl_group(s.pool, 0);
    cr_assert_eq(plait_group_set_name(s.outer, "outer"), 0);
    s.a = plait_spawn(s.outer, task_a, &s);
    cr_assert_not_null(s.a);
    uint64_t id_a = plait_task_id(s.a);
    /* A waits on inner; one worker runs a gate task inside that wait, the
     * other worker the other gate task. */
    TL_AWAIT(atomic_load(&s.gate.started) == 2);
    pthread_t t1 = tl_thread(wait_outer, &s), t2 = tl_thread(wait_a, &s);
    TL_AWAIT(atomic_load(&s.waiters_started) == 2);

    char want_outer[128], want_inner[128], want_fa[128];
    snprintf(want_outer, sizeof want_outer, "waits on group %p \"outer\"", (void *)s.outer);
    snprintf(want_inner, sizeof want_inner, "waits on group %p \"inner\"",
             (void *)atomic_load(&s.inner));
    snprintf(want_fa, sizeof want_fa, "waits on task #%" PRIu64, id_a);
    /* The foreign waiters show once they sleep: dump until they do. */
    char *d = NULL;
    bool seen = TL_SPIN_UNTIL((free(d), d = tl_dump_str(s.pool, 0),
                               strstr(d, want_outer) != NULL && strstr(d, want_fa) != NULL),
                              TL_WAIT_S);
    cr_assert(seen, "the foreign waiters never showed:\n%s", d);

    char ta[64], tb1[64], tb2[64];
    snprintf(ta, sizeof ta, "task #%" PRIu64 " ", id_a);
    snprintf(tb1, sizeof tb1, "task #%" PRIu64 " ", atomic_load(&s.id_b1));
    snprintf(tb2, sizeof tb2, "task #%" PRIu64 " ", atomic_load(&s.id_b2));
    const char *l_outer = line_with(d, "\"outer\": running");
    const char *l_a = line_starting(d, ta);
    const char *l_inner = line_with(d, "\"inner\": running");
    const char *l_b1 = line_starting(d, tb1), *l_b2 = line_starting(d, tb2);
    const char *l_wait_inner = line_with(d, want_inner);
    cr_assert(l_outer && l_a && l_inner && l_b1 && l_b2 && l_wait_inner, "missing objects:\n%s", d);
    /* The tree: outer > A > (A's wait on inner, inner > B1, B2). */
    cr_assert(l_outer < l_a && l_a < l_inner && l_inner < l_b1 && l_inner < l_b2, "order:\n%s", d);
    cr_assert_eq(indent_of(l_outer), 0, "%s", d);
    cr_assert_eq(indent_of(l_a), 2, "%s", d);
    cr_assert_eq(indent_of(l_wait_inner), 4, "%s", d);
    cr_assert_eq(indent_of(l_inner), 4, "%s", d);
    cr_assert_eq(indent_of(l_b1), 6, "%s", d);
    cr_assert_eq(indent_of(l_b2), 6, "%s", d);
    cr_assert(strstr(l_outer, "1 pending (1 running") != NULL, "%s", d);
    cr_assert(strstr(l_inner, "2 pending (2 running") != NULL, "%s", d);
    /* Both workers, one running a gate task inside A's wait. */
    cr_assert(strstr(d, "worker 0 (") && strstr(d, "worker 1 ("), "%s", d);
    char nested[128];
    snprintf(nested, sizeof nested, " inside the wait of task #%" PRIu64, id_a);
    cr_assert(strstr(d, nested) != NULL, "no worker runs a task inside A's wait:\n%s", d);
    cr_assert(strstr(line_with(d, want_outer), "foreign thread") != NULL, "%s", d);
    cr_assert(strstr(line_with(d, want_fa), "foreign thread") != NULL, "%s", d);
    free(d);

    /* The JSON form has the same objects. */
    d = tl_dump_str(s.pool, PLAIT_DUMP_JSON);
    cr_assert(strstr(d, "\"name\":\"outer\"") && strstr(d, "\"name\":\"inner\""), "%s", d);
    char jid[64];
    snprintf(jid, sizeof jid, "\"id\":%" PRIu64 ",", id_a);
    cr_assert(strstr(d, jid) != NULL, "%s", d);
    cr_assert(strstr(d, "\"on\":\"group\"") && strstr(d, "\"on\":\"task\""), "%s", d);
    free(d);

    tl_raise(&s.gate.open);
    cr_assert_eq((intptr_t)tl_join_thread(t1), 0);
    cr_assert_eq((intptr_t)tl_join_thread(t2), 0);
    plait_task_release(s.a); /* outer was waited by the foreign waiter */
    plait_group_destroy(s.outer);
    /* Nothing is live any more. */
    d = tl_dump_str(s.pool, 0);
    cr_assert(strstr(d, "0 live groups, 0 running tasks, 0 foreign waiters") != NULL, "%s", d);
    free(d);
    plait_pool_destroy(s.pool);
}

Test(dump, bad_arguments)
{
    plait_pool *pool = tl_pool(1);
    TL_EXPECT_CODE(plait_pool_dump(NULL, stdout, 0), EINVAL);
    TL_EXPECT_CODE(plait_pool_dump(pool, NULL, 0), EINVAL);
    TL_EXPECT_CODE(plait_pool_dump(pool, stdout, 4), EINVAL);
    plait_pool_destroy(pool);
}

/* ---- Dumps while the pool works (TSan) ------------------------------------- */

struct churn {
    plait_pool *pool;
    atomic_int stop;
    atomic_int dumps;
};

static int leaf(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int branch(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct churn *c = arg;
    plait_group *g;
    int rc = plait_group_create(&g, c->pool, 0);
    if (rc)
        return rc;
    plait_group_set_name(g, "branch");
    for (int i = 0; i < 8 && rc == 0; i++)
        rc = plait_go(g, leaf, NULL);
    int rw = plait_group_wait(g);
    plait_group_destroy(g);
    return rc ? rc : rw;
}

static void *dumper(void *arg)
{
    struct churn *c = arg;
    FILE *f = fopen("/dev/null", "w");
    while (!atomic_load(&c->stop)) {
        plait_pool_dump(c->pool, f, atomic_load(&c->dumps) & 1 ? PLAIT_DUMP_JSON : 0);
        atomic_fetch_add(&c->dumps, 1);
    }
    fclose(f);
    return NULL;
}

Test(dump, concurrent_with_spawns_and_finishes, .timeout = 120)
{
    struct churn c = {.pool = tl_pool(2)};
    pthread_t d = tl_thread(dumper, &c);
    int rounds = TL_SIZE(2000, 200);
    for (int r = 0; r < rounds || atomic_load(&c.dumps) < 20; r++) {
        plait_group *g = tl_group(c.pool, 0);
        plait_group_set_name(g, r & 1 ? "odd" : "even");
        for (int i = 0; i < 4; i++)
            TL_ASSERT_CODE(plait_go(g, branch, &c), 0);
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        plait_group_destroy(g);
    }
    atomic_store(&c.stop, 1);
    tl_join_thread(d);
    plait_pool_destroy(c.pool);
}

/* ---- PLAIT_DUMP_ON ----------------------------------------------------------- */

Test(dump, on_signal, .timeout = TL_TIMEOUT)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/plait-dump-%d.txt", (int)getpid());
    unlink(path);
    setenv("PLAIT_DUMP_ON", "SIGUSR1", 1);
    setenv("PLAIT_DUMP_FILE", path, 1);
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    plait_group_set_name(g, "held-by-a-gate");
    struct tl_gate gate;
    tl_gate_init(&gate);
    TL_ASSERT_CODE(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    cr_assert_eq(raise(SIGUSR1), 0);
    bool seen = TL_SPIN_UNTIL(({
                                  char buf[4096] = "";
                                  FILE *f = fopen(path, "r");
                                  if (f != NULL) {
                                      size_t n = fread(buf, 1, sizeof buf - 1, f);
                                      buf[n] = '\0';
                                      fclose(f);
                                  }
                                  strstr(buf, "\"held-by-a-gate\": running") != NULL;
                              }),
                              TL_WAIT_S);
    cr_assert(seen, "no dump in %s after SIGUSR1", path);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
    unlink(path);
}

/* ---- fork ---------------------------------------------------------------------- */

#include <sys/wait.h>

static atomic_int stop_naming;

static void *name_hammer(void *arg)
{
    plait_group *g = arg;
    while (!atomic_load(&stop_naming))
        plait_group_set_name(g, "hammered");
    return NULL;
}

/* A child forked while another thread names groups (the names' lock may be
 * held at the fork) can name and dump groups of a pool of its own. Not
 * under ThreadSanitizer, which cannot start threads in the child of a
 * multi-threaded fork, nor under AddressSanitizer: gcc 12's ASan allocator
 * is not fork-safe against another thread allocating at the fork (the
 * naming thread interns names), and a child then hangs in malloc (seen
 * twice in ASan runs, once in CI's stage; never in the plain build). */
Test(dump, fork_while_naming, .timeout = 60)
{
    if (TL_TSAN || TL_ASAN)
        return;
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    pthread_t th = tl_thread(name_hammer, g);
    int hung = 0;
    for (int i = 0; i < TL_SIZE(200, 20) && !hung; i++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            alarm(5); /* a deadlocked child dies instead of hanging */
            plait_pool *p;
            plait_pool_options o = {.threads = 1};
            if (plait_pool_create(&p, &o) != 0)
                _exit(2);
            plait_group *cg;
            if (plait_group_create(&cg, p, 0) != 0 || plait_group_set_name(cg, "child") != 0)
                _exit(3);
            FILE *f = fopen("/dev/null", "w");
            int rc = plait_pool_dump(p, f, 0);
            fclose(f);
            plait_group_destroy(cg);
            plait_pool_destroy(p);
            _exit(rc == 0 ? 0 : 4);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        hung = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        cr_expect(!hung, "child %d: status %#x", i, status);
    }
    atomic_store(&stop_naming, 1);
    tl_join_thread(th);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
