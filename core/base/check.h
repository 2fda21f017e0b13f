/* multiproc internal — invariants stated in code.
 *
 * MPROC__ASSERT(cond) states an internal invariant: a failure is a bug in
 * multiproc, never the caller's mistake (a public function given bad input
 * returns an error code, never aborts). Checked in debug builds — the
 * sanitizer configs define MPROC_DEBUG — and compiled out otherwise.
 *
 * MPROC__ASSERT_LOCKED(mutex) checks that the calling thread holds mutex:
 * every function whose name ends in _locked starts with it. In debug builds
 * multiproc's mutexes are error-checking ones (MPROC__MUTEX_INIT), which is
 * what lets a thread ask whether it owns one.
 *
 * MPROC__MUST_USE marks internal functions whose result is an error code:
 * the compiler refuses to let a caller drop it silently. A result dropped
 * on purpose is written MPROC__IGNORE(f(...)), with a comment saying why
 * (gcc does not accept a (void) cast for this attribute; (void)! it does).
 */
#ifndef MPROC_CORE_BASE_CHECK_H
#define MPROC_CORE_BASE_CHECK_H

#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC__MUST_USE __attribute__((warn_unused_result))
#define MPROC__IGNORE(expr) ((void)!(expr))

#ifdef MPROC_DEBUG
#define MPROC__ASSERT(cond) \
  ((cond) ? (void)0 : mproc__assert_fail(#cond, __FILE__, __LINE__))
#define MPROC__ASSERT_LOCKED(mutex) MPROC__ASSERT(mproc__mutex_held(mutex))
#else
#define MPROC__ASSERT(cond) ((void)0)
#define MPROC__ASSERT_LOCKED(mutex) ((void)0)
#endif

/* Prints the failed invariant and where, then aborts. */
void mproc__assert_fail(const char *cond, const char *file, int line)
    __attribute__((noreturn));

/* Whether the calling thread holds mutex, which must have been initialised
 * by mproc__mutex_init (debug builds: error-checking). */
bool mproc__mutex_held(const pthread_mutex_t *mutex);

/* Initialises mutex: error-checking in debug builds, a normal one
 * otherwise. */
void mproc__mutex_init(pthread_mutex_t *mutex);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_BASE_CHECK_H */
