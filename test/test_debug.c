/*
 * test_debug — the preconditions that run (src/debug.h): in the builds
 * that turn PLAIT_ASSERT on (sanitizer and Debug builds), breaking one of
 * the internal rules aborts at once; in Release the checks cost nothing,
 * not even the evaluation of their condition.
 */
#include "testlib.h"

#include <signal.h>

#include "debug.h"
#include "deque.h"
#include "event.h"
#include "spin.h"

#if PL_DEBUG

static void *pop_from_another_thread(void *arg)
{
    pl_deque_pop(arg);
    return NULL;
}

Test(debug_asserts, a_deque_popped_by_a_thread_other_than_its_owner_aborts, .signal = SIGABRT,
     .timeout = TL_TIMEOUT)
{
    static struct pl_deque dq;
    cr_assert_eq(pl_deque_init(&dq, 4), 0);
    static int item;
    cr_assert_eq(pl_deque_push(&dq, &item), 0); /* this thread owns it now */
    tl_join_thread(tl_thread(pop_from_another_thread, &dq));
}

static void *unlock_from_another_thread(void *arg)
{
    pl_spin_unlock(arg);
    return NULL;
}

Test(debug_asserts, a_spin_lock_released_by_a_thread_that_does_not_hold_it_aborts,
     .signal = SIGABRT, .timeout = TL_TIMEOUT)
{
    static struct pl_spin lock;
    pl_spin_init(&lock);
    pl_spin_lock(&lock);
    cr_assert(pl_spin_held(&lock));
    tl_join_thread(tl_thread(unlock_from_another_thread, &lock));
}

Test(debug_asserts, an_event_set_twice_aborts, .signal = SIGABRT, .timeout = TL_TIMEOUT)
{
    struct pl_event e;
    pl_event_init(&e);
    pl_event_set(&e);
    pl_event_set(&e);
}

Test(debug_asserts, the_holder_of_a_spin_lock_is_known)
{
    struct pl_spin lock;
    pl_spin_init(&lock);
    cr_assert_not(pl_spin_held(&lock));
    pl_spin_lock(&lock);
    cr_assert(pl_spin_held(&lock));
    pl_spin_unlock(&lock);
    cr_assert_not(pl_spin_held(&lock));
}

#else

static int evaluated;
static __attribute__((unused)) int touch(void)
{
    return ++evaluated;
}

Test(debug_asserts, off_in_release_the_condition_is_not_even_evaluated)
{
    PLAIT_ASSERT(touch() == 0);
    cr_assert_eq(evaluated, 0);
}

#endif
