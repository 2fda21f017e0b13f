/* multiproc — process-shared synchronisation: Python's multiprocessing
 * Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier.
 *
 *     mproc_lock_t *lock;
 *     mproc_lock_new(&lock);              // before starting the children
 *     ...                                 // in any process:
 *     mproc_lock_acquire(lock, -1);       // with lock:
 *     counter->value += 1;
 *     mproc_lock_release(lock);
 *
 * Where they live. Each object is made in anonymous shared memory
 * (MAP_SHARED): a child forked after it was made — a Process started
 * later, or the workers of a pool created later — shares it through the
 * very same handle (the handle is a pointer into the shared pages). An
 * object made after a child started does not exist in that child, as in
 * Python with the fork start method. No descriptor or name is involved,
 * so nothing leaks: the memory goes when the last process holding it
 * frees it or ends. *_free releases the calling process's view only; the
 * others keep theirs. Every function here is thread-safe, and works from
 * threads and processes alike.
 *
 * Beyond Python: a lock whose holder dies. A Lock or RLock is a robust
 * mutex: when its holder dies holding it (SIGKILL, a crash, a thread
 * that exits), the next acquirer gets MPROC_EOWNERDEAD *with the lock
 * held*: the lock is consistent and usable again, and the caller decides
 * whether the data it guarded can be trusted (repair it, or give up);
 * then it releases the lock as usual. Python's Lock, a POSIX semaphore,
 * would make every later acquirer wait forever. A Condition's wait and a
 * Barrier (whose bookkeeping is guarded by a lock) report the same way.
 * Semaphores and Events have no holder and thus nothing of the kind: a
 * unit taken by a process that dies is gone with it (as in Python).
 *
 * Timeouts are in seconds on CLOCK_MONOTONIC: negative waits without
 * limit, 0 only tries, NaN is MPROC_EINVAL. A signal arriving during a
 * wait (EINTR) never ends it early nor late. Waits end MPROC_ETIMEDOUT
 * (Python returns False).
 *
 * Deaths between two steps. A process may be killed after changing shared
 * state but before waking the sleepers (a release, a set, a notify), or
 * after being woken but before taking what it was woken for. Every
 * sleeper here looks again at least every 200 ms, woken or not, so such a
 * death costs the others that much at worst, never a hang.
 *
 * Errors every function here may return: MPROC_EINVAL (a NULL handle,
 * NaN timeout); the constructors also MPROC_ENOMEM.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>

#include "multiproc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_lock mproc_lock_t;
typedef struct mproc_sem mproc_sem_t;
typedef struct mproc_event mproc_event_t;
typedef struct mproc_cond mproc_cond_t;
typedef struct mproc_barrier mproc_barrier_t;

/* ---- Lock and RLock. */

/* A Lock: taken by one thread at a time; a second acquire by its holder
 * is refused (MPROC_EDEADLK) rather than hanging, and only the holder may
 * release it (unlike Python's Lock, which any process may release: a lock
 * with an owner is what lets its owner's death be noticed). */
MPROC_API int mproc_lock_new(mproc_lock_t **out);
/* An RLock: its holder may acquire it again; it is free once released as
 * many times as it was acquired. */
MPROC_API int mproc_rlock_new(mproc_lock_t **out);

/* Takes the lock, waiting at most timeout_s. Returns 0, or
 * MPROC_EOWNERDEAD: taken, but its previous holder died holding it (see
 * above; release it as usual). Errors: MPROC_ETIMEDOUT, MPROC_EDEADLK (a
 * Lock already held by the calling thread). */
MPROC_API int mproc_lock_acquire(mproc_lock_t *lock, double timeout_s);

/* Releases the lock once. Errors: MPROC_EPERM (the calling thread does not
 * hold it: Python's "release unlocked lock"). */
MPROC_API int mproc_lock_release(mproc_lock_t *lock);

/* 1 when the calling thread holds the lock, else 0. */
MPROC_API int mproc_lock_held(const mproc_lock_t *lock);

/* Releases this process's view of the lock. NULL is ignored, and so is
 * the lock of an Array or a Condition (it goes with its owner). */
MPROC_API void mproc_lock_free(mproc_lock_t *lock);

/* ---- Semaphore and BoundedSemaphore. */

/* A Semaphore starting at value. Errors: MPROC_ERANGE (value over
 * INT32_MAX). */
MPROC_API int mproc_sem_new(mproc_sem_t **out, unsigned value);
/* A BoundedSemaphore: releasing it above its starting value is refused.
 * Errors: as mproc_sem_new. */
MPROC_API int mproc_bsem_new(mproc_sem_t **out, unsigned value);

/* Takes one unit, waiting at most timeout_s. Errors: MPROC_ETIMEDOUT. */
MPROC_API int mproc_sem_acquire(mproc_sem_t *sem, double timeout_s);

/* Gives one unit back, waking the waiters. Errors: MPROC_ERANGE (a
 * BoundedSemaphore at its starting value — Python's "Semaphore released
 * too many times" — or a value at INT32_MAX). */
MPROC_API int mproc_sem_release(mproc_sem_t *sem);

/* The current value (Python's get_value), or MPROC_EINVAL. */
MPROC_API int mproc_sem_value(const mproc_sem_t *sem);

MPROC_API void mproc_sem_free(mproc_sem_t *sem);

/* ---- Event. */

/* A flag, initially clear, that processes can wait for. */
MPROC_API int mproc_event_new(mproc_event_t **out);
/* Sets the flag and wakes every waiter. */
MPROC_API int mproc_event_set(mproc_event_t *ev);
MPROC_API int mproc_event_clear(mproc_event_t *ev);
/* 1 when set, 0 when clear, or MPROC_EINVAL. */
MPROC_API int mproc_event_is_set(const mproc_event_t *ev);
/* Returns 0 once the flag is set (at once if it is), at most timeout_s.
 * Errors: MPROC_ETIMEDOUT. */
MPROC_API int mproc_event_wait(mproc_event_t *ev, double timeout_s);
MPROC_API void mproc_event_free(mproc_event_t *ev);

/* ---- Condition. */

/* A condition variable over lock (a Lock or RLock made by this library,
 * which must outlive it), or over an RLock of its own when lock is NULL,
 * as Python's Condition(lock=None). */
MPROC_API int mproc_cond_new(mproc_cond_t **out, mproc_lock_t *lock);

/* The condition's lock: acquire and release it with mproc_lock_*. */
MPROC_API mproc_lock_t *mproc_cond_lock(const mproc_cond_t *cond);

/* With the lock held: releases it (however deep an RLock is held), waits
 * for a notify or at most timeout_s, and takes the lock back (as deep)
 * before returning — without a time limit for that, as Python does.
 * May return early (a spurious wake-up: check your predicate in a loop,
 * or use mproc_cond_wait_for). Returns 0, or MPROC_EOWNERDEAD when, taking
 * the lock back, it found its holder had died (the lock is held).
 * Errors: MPROC_ETIMEDOUT (the lock is held again), MPROC_EPERM (the
 * calling thread does not hold the lock). */
MPROC_API int mproc_cond_wait(mproc_cond_t *cond, double timeout_s);

/* Waits until pred(ctx) returns true, at most timeout_s overall, like
 * Python's wait_for; pred runs with the lock held. Returns 0 (pred true),
 * MPROC_EOWNERDEAD (pred true; the lock's holder died on the way), or
 * MPROC_ETIMEDOUT / MPROC_EPERM as mproc_cond_wait. */
MPROC_API int mproc_cond_wait_for(mproc_cond_t *cond, bool (*pred)(void *ctx),
                                  void *ctx, double timeout_s);

/* Wakes up to n waiters / all of them. The caller must hold the lock
 * (MPROC_EPERM otherwise), as in Python. */
MPROC_API int mproc_cond_notify(mproc_cond_t *cond, unsigned n);
MPROC_API int mproc_cond_notify_all(mproc_cond_t *cond);

/* Frees the condition (and its own RLock when it made one). */
MPROC_API void mproc_cond_free(mproc_cond_t *cond);

/* ---- Barrier. */

/* Python's Barrier(parties, action, timeout): all zero means no action
 * and no default timeout. */
typedef struct {
  /* Run by the last party to arrive, before any party is released, with
   * action_ctx (in that party's process: the function and ctx must exist
   * there — made before the fork). Non-zero breaks the barrier. */
  int (*action)(void *action_ctx);
  void *action_ctx;
  /* The wait's timeout when mproc_barrier_wait is given a negative one;
   * 0: none. */
  double timeout_s;
} mproc_barrier_opts_t;

/* A barrier for parties (>= 1) processes or threads. opts may be NULL.
 * Errors: MPROC_EINVAL (parties 0 or over INT32_MAX; opts->timeout_s
 * negative or NaN). */
MPROC_API int mproc_barrier_new(mproc_barrier_t **out, unsigned parties,
                                const mproc_barrier_opts_t *opts);

/* Waits until parties callers have arrived, then releases them all.
 * Returns the caller's arrival index, 0..parties-1 (different for each),
 * as Python does. A wait that times out breaks the barrier, as in Python:
 * that caller gets MPROC_ETIMEDOUT, every other waiter — and every later
 * caller until mproc_barrier_reset — MPROC_EBROKENBARRIER. A party that
 * dies while waiting still counts as arrived; one that dies inside the
 * barrier's own bookkeeping breaks it (never a hang).
 * Errors: MPROC_ETIMEDOUT, MPROC_EBROKENBARRIER. */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *b, double timeout_s);

/* Back to the empty, unbroken state; parties waiting now get
 * MPROC_EBROKENBARRIER. */
MPROC_API int mproc_barrier_reset(mproc_barrier_t *b);
/* Breaks the barrier: waiting and later callers get
 * MPROC_EBROKENBARRIER until reset. */
MPROC_API int mproc_barrier_abort(mproc_barrier_t *b);

/* The number of parties; the number waiting now; 1 when broken, else 0.
 * Each returns MPROC_EINVAL for a NULL barrier. */
MPROC_API int mproc_barrier_parties(const mproc_barrier_t *b);
MPROC_API int mproc_barrier_n_waiting(const mproc_barrier_t *b);
MPROC_API int mproc_barrier_broken(const mproc_barrier_t *b);

MPROC_API void mproc_barrier_free(mproc_barrier_t *b);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SYNC_H */
