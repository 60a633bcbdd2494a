/*
 * futex — the two futex(2) calls the parking code needs (Linux).
 */
#ifndef PLAIT_FUTEX_H
#define PLAIT_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *word == expected, until woken or deadline_ns on
 * CLOCK_MONOTONIC (0: no deadline). Spurious returns are possible. */
void pl_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns);
/* Wakes up to n sleepers on word (INT32_MAX: all). */
void pl_futex_wake(_Atomic uint32_t *word, int n);

#endif
