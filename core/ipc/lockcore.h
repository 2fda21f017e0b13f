/* multiproc internal — the robust process-shared mutex under every lock.
 *
 * A pthread mutex made PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST, in
 * shared memory. Robustness is the kernel's: each thread's robust list
 * names the robust mutexes it holds, and when the thread dies (its process
 * SIGKILLed, say) the kernel marks each one "owner died" and wakes a
 * waiter, who gets EOWNERDEAD with the mutex held. Here that acquirer
 * makes the mutex consistent at once (pthread_mutex_consistent) and is
 * told so with MPROC_EOWNERDEAD: the lock works on, and only the data it
 * guarded needs a thought. Without robustness every later acquirer would
 * wait forever, which is what Python's multiprocessing.Lock (a POSIX
 * semaphore) does.
 *
 * Owner and depth are kept beside the mutex, written only by the holder:
 * the owner (a thread id, unique system-wide) lets release, Condition and
 * RLock check the caller holds the lock; the depth lets a Condition wait
 * release an RLock however deep it is held, and take it back as deep.
 */
#ifndef MPROC_CORE_IPC_LOCKCORE_H
#define MPROC_CORE_IPC_LOCKCORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  pthread_mutex_t m;
  pid_t owner;    /* the holder's thread id; 0 when free */
  uint32_t depth; /* times the holder has it (an RLock's recursion) */
  bool recursive;
} mproc__lockcore_t;

/* Initialises l in shared memory (zeroed). Returns 0 or -errno. */
MPROC__MUST_USE int mproc__lockcore_init(mproc__lockcore_t *l, bool recursive);

/* Takes l, waiting until deadline_ns (CLOCK_MONOTONIC; 0: do not wait;
 * UINT64_MAX: no limit). Returns 0; MPROC_EOWNERDEAD (taken, and made
 * consistent: the previous holder died holding it); MPROC_ETIMEDOUT;
 * MPROC_EDEADLK (a non-recursive lock the caller already holds). */
MPROC__MUST_USE int mproc__lockcore_acquire(mproc__lockcore_t *l,
                                            uint64_t deadline_ns);

/* Gives l back once (an RLock is free after as many releases as it was
 * acquired). Returns 0 or MPROC_EPERM (the caller does not hold it). */
MPROC__MUST_USE int mproc__lockcore_release(mproc__lockcore_t *l);

/* Whether the calling thread holds l. */
bool mproc__lockcore_held(const mproc__lockcore_t *l);

/* This thread's id (cached, and forgotten in forked children). */
pid_t mproc__tid(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_LOCKCORE_H */
