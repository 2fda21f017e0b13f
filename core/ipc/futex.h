/* multiproc internal — futexes shared between processes.
 *
 * Every blocking wait of the IPC objects (queue, semaphore, event,
 * condition, barrier) sleeps in FUTEX_WAIT_BITSET on a 32-bit word in
 * shared memory, with an absolute CLOCK_MONOTONIC deadline: a signal
 * interrupting the wait (EINTR) needs no recomputation of what is left,
 * and a wall-clock jump changes nothing. The futexes are not
 * FUTEX_PRIVATE: waiters and wakers are different processes.
 *
 * Wake-ups are hints, never the state: a waiter always re-checks the
 * condition it waits for, so an interrupted or spurious wake-up costs a
 * loop, not correctness.
 */
#ifndef MPROC_CORE_IPC_FUTEX_H
#define MPROC_CORE_IPC_FUTEX_H

#include <stdint.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A sleeper looks again at least this often, woken or not. Whoever
 * changes shared state and then wakes the sleepers may be killed between
 * the two (or a sleeper woken for a unit may be killed before taking it):
 * with the re-check, such a death costs the other sleepers this long at
 * worst, never a hang. */
#define MPROC__FUTEX_RECHECK_NS 200000000u /* 200 ms */

/* Sleeps while *word == expected, until woken, deadline_ns
 * (CLOCK_MONOTONIC; UINT64_MAX: never) or MPROC__FUTEX_RECHECK_NS.
 * Returns 0 (woken, interrupted by a signal, the word had already changed,
 * or time to re-check: look again) or MPROC_ETIMEDOUT once the deadline has
 * passed. */
MPROC__MUST_USE int mproc__futex_wait(uint32_t *word, uint32_t expected,
                                      uint64_t deadline_ns);

/* Wakes up to n waiters on word (INT32_MAX: all of them). */
void mproc__futex_wake(uint32_t *word, int n);

/* Atomic access to shared words (gcc/clang builtins: usable from C and
 * understood by ThreadSanitizer). Sequentially consistent: a waiter
 * counts itself then reads the state, a waker changes the state then reads
 * the count, and one of the two must see the other's write (on x86 only
 * stores cost more, and locked instructions are full barriers anyway). */
#define MPROC__LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define MPROC__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define MPROC__ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define MPROC__SUB(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_SEQ_CST)
#define MPROC__CAS(p, expected, desired)                                   \
  __atomic_compare_exchange_n((p), (expected), (desired), true,            \
                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_FUTEX_H */
