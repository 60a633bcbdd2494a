/*
 * criterion_compat — the subset of Criterion's API that plait's unit tests
 * use, for builds where Criterion's runner cannot start (ThreadSanitizer:
 * Criterion issue #274, "Could not initialize inheritable arena").
 *
 * The same test sources compile against either: test/testlib.h picks this
 * header when PLAIT_TEST_COMPAT is defined (CMake does so in TSan builds).
 *
 *   Test(suite, name, .timeout = s, .init = f, .fini = f, .disabled = b,
 *        .description = "...")  registers a test (constructor) and opens its body;
 *   cr_assert*(..., [fmt, args...])   fail and end the test;
 *   cr_expect*(..., [fmt, args...])   fail and go on;
 *   cr_log_info / cr_log_warn / cr_log_error (printf formats).
 *
 * The runner (runner.c) runs each test in a forked child with alarm() as
 * its timeout, prints "[PASS] suite::name" or "[FAIL] suite::name" per test
 * and ends with the line "N passed, N failed". An assertion that fails in
 * any thread of the child ends the child.
 */
#ifndef PLAIT_CRITERION_COMPAT_H
#define PLAIT_CRITERION_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct compat_test {
    const char *suite;
    const char *name;
    void (*fn)(void);
    /* The fields Criterion's Test() accepts as designated initialisers. */
    void (*init)(void);
    void (*fini)(void);
    double timeout; /* seconds; 0: the runner's default */
    bool disabled;
    const char *description;
    int signal;    /* accepted for compatibility: the test must die by it */
    int exit_code; /* accepted for compatibility: the test must exit with it */
    struct compat_test *next;
};

void compat_register(struct compat_test *t);
/* Reports a failed check; fatal ends the test (from any thread). fmt is
 * printf-style and may be "" (then expr is printed). */
void compat_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void compat_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Macro parameters are spelled so that they cannot hit the field names
 * (.suite, .name) in the designated initialisers. */
#define COMPAT_ID(Suite_, Name_, What_) compat_##What_##_##Suite_##_##Name_

#define Test(Suite_, Name_, ...)                                                                   \
    static void COMPAT_ID(Suite_, Name_, fn)(void);                                                \
    static struct compat_test COMPAT_ID(Suite_, Name_, desc) = {                                   \
        .suite = #Suite_, .name = #Name_, .fn = COMPAT_ID(Suite_, Name_, fn), __VA_ARGS__};        \
    __attribute__((constructor)) static void COMPAT_ID(Suite_, Name_, reg)(void)                   \
    {                                                                                              \
        compat_register(&COMPAT_ID(Suite_, Name_, desc));                                          \
    }                                                                                              \
    static void COMPAT_ID(Suite_, Name_, fn)(void)

/* The message arguments are optional, as in Criterion: `"" __VA_ARGS__`
 * turns an absent format into "" and glues a literal format to it. */
#define COMPAT_CHECK(fatal, cond, expr, ...)                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            compat_fail((fatal), __FILE__, __LINE__, (expr), "" __VA_ARGS__);                      \
    } while (0)

#define cr_assert(cond, ...) COMPAT_CHECK(true, cond, #cond, __VA_ARGS__)
#define cr_expect(cond, ...) COMPAT_CHECK(false, cond, #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) COMPAT_CHECK(true, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_not(cond, ...) COMPAT_CHECK(false, !(cond), "!(" #cond ")", __VA_ARGS__)

#define cr_assert_fail(...) compat_fail(true, __FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_expect_fail(...) compat_fail(false, __FILE__, __LINE__, "cr_expect_fail", "" __VA_ARGS__)

#define COMPAT_CMP(fatal, a, op, b, ...)                                                           \
    COMPAT_CHECK(fatal, (a)op(b), #a " " #op " " #b, __VA_ARGS__)

#define cr_assert_eq(a, b, ...) COMPAT_CMP(true, a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) COMPAT_CMP(true, a, !=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) COMPAT_CMP(true, a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) COMPAT_CMP(true, a, <=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) COMPAT_CMP(true, a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) COMPAT_CMP(true, a, >=, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) COMPAT_CMP(false, a, ==, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) COMPAT_CMP(false, a, !=, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) COMPAT_CMP(false, a, <, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) COMPAT_CMP(false, a, <=, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) COMPAT_CMP(false, a, >, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) COMPAT_CMP(false, a, >=, b, __VA_ARGS__)

#define cr_assert_null(p, ...) COMPAT_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) COMPAT_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_null(p, ...) COMPAT_CHECK(false, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) COMPAT_CHECK(false, (p) != NULL, #p " != NULL", __VA_ARGS__)

/* Strings: NULL compares unequal to everything (Criterion would crash). */
static inline bool compat_str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}
#define cr_assert_str_eq(a, b, ...)                                                                \
    COMPAT_CHECK(true, compat_str_eq((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                                               \
    COMPAT_CHECK(true, !compat_str_eq((a), (b)), #a " differs from " #b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)                                                                \
    COMPAT_CHECK(false, compat_str_eq((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...)                                                               \
    COMPAT_CHECK(false, !compat_str_eq((a), (b)), #a " differs from " #b, __VA_ARGS__)

#define cr_log_info(...) compat_log("INFO", __VA_ARGS__)
#define cr_log_warn(...) compat_log("WARN", __VA_ARGS__)
#define cr_log_error(...) compat_log("ERROR", __VA_ARGS__)

#endif
