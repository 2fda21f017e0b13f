/* Invariants: see check.h. */
#include "core/base/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

void mproc__assert_fail(const char *cond, const char *file, int line) {
  fprintf(stderr, "multiproc: internal invariant failed at %s:%d: %s\n", file,
          line, cond);
  abort();
}

bool mproc__mutex_held(const pthread_mutex_t *mutex) {
  /* An error-checking mutex refuses to be locked twice by its owner. A
   * const object's lock is still a lock: locking it changes no state the
   * caller could observe once it is released again. */
  pthread_mutex_t *m = (pthread_mutex_t *)mutex;
  int rc = pthread_mutex_lock(m);
  if (rc == EDEADLK) return true;
  if (rc == 0) pthread_mutex_unlock(m);
  return false;
}

void mproc__mutex_init(pthread_mutex_t *mutex) {
#ifdef MPROC_DEBUG
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
#else
  pthread_mutex_init(mutex, NULL);
#endif
}
