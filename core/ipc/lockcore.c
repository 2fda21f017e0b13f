/* The robust process-shared mutex: see lockcore.h. */
#include "core/ipc/lockcore.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/ipc/futex.h"
#include "multiproc/error.h"

/* gettid() is a system call, and every acquire and release asks for it:
 * cached per thread, and forgotten in a forked child, whose one thread has
 * a new id. */
static _Thread_local pid_t cached_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void forget_tid(void) { cached_tid = 0; }

static void register_forget_tid(void) { pthread_atfork(NULL, NULL, forget_tid); }

pid_t mproc__tid(void) {
  if (cached_tid == 0) {
    pthread_once(&tid_once, register_forget_tid);
    cached_tid = gettid();
  }
  return cached_tid;
}

/* ThreadSanitizer (clang 14's) does not intercept pthread_mutex_clocklock,
 * and its timedlock ignores EOWNERDEAD: it would not know the lock was
 * taken, and call its release an error. */
#if defined(__SANITIZE_THREAD__)
#define MPROC__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPROC__TSAN 1
#endif
#endif

/* Waits for the mutex until until_ns on CLOCK_MONOTONIC (glibc 2.30's
 * clocklock: a wall-clock jump changes nothing). Never EINTR. */
static int lock_until(pthread_mutex_t *m, uint64_t until_ns) {
#ifdef MPROC__TSAN
  /* Under ThreadSanitizer only: tries every 100 us, through the one call
   * it understands fully. */
  for (;;) {
    int rc = pthread_mutex_trylock(m);
    if (rc != EBUSY) return rc;
    if (mproc__now_ns() >= until_ns) return ETIMEDOUT;
    struct timespec nap = {0, 100000};
    nanosleep(&nap, NULL);
  }
#else
  struct timespec ts;
  ts.tv_sec = (time_t)(until_ns / 1000000000u);
  ts.tv_nsec = (long)(until_ns % 1000000000u);
  return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
#endif
}

int mproc__lockcore_init(mproc__lockcore_t *l, bool recursive) {
  pthread_mutexattr_t a;
  int rc = pthread_mutexattr_init(&a);
  if (rc != 0) return -rc;
  /* An error-checking mutex tells a second acquire by the holder
   * (EDEADLK) instead of hanging, and refuses a release by another thread;
   * a recursive one counts. */
  if (rc == 0) rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE
                                                 : PTHREAD_MUTEX_ERRORCHECK);
  if (rc == 0) rc = pthread_mutex_init(&l->m, &a);
  pthread_mutexattr_destroy(&a);
  l->owner = 0;
  l->depth = 0;
  l->recursive = recursive;
  return -rc;
}

bool mproc__lockcore_held(const mproc__lockcore_t *l) {
  return MPROC__LOAD(&l->owner) == mproc__tid();
}

int mproc__lockcore_acquire(mproc__lockcore_t *l, uint64_t deadline_ns) {
  pid_t me = mproc__tid();
  if (!l->recursive && MPROC__LOAD(&l->owner) == me) return MPROC_EDEADLK;
  int rc = pthread_mutex_trylock(&l->m);
  if (rc == EBUSY) rc = deadline_ns == 0 ? ETIMEDOUT : EAGAIN;
  while (rc == EAGAIN) {
    /* In slices, as futex waits (futex.h): glibc's unlock wakes one
     * waiter, and if that one is killed before it takes the mutex, the
     * other waiters would sleep on with the mutex free. */
    uint64_t now = mproc__now_ns();
    uint64_t until = deadline_ns;
    if (until < now || until - now > MPROC__FUTEX_RECHECK_NS)
      until = until < now ? until : now + MPROC__FUTEX_RECHECK_NS;
    rc = lock_until(&l->m, until);
    if (rc == ETIMEDOUT && until != deadline_ns) rc = EAGAIN;
  }
  int result = 0;
  if (rc == EOWNERDEAD) {
    /* The holder died with it: ours now. Consistent again at once, so the
     * lock never becomes unusable (ENOTRECOVERABLE) should we die too. */
    pthread_mutex_consistent(&l->m);
    l->depth = 0;
    result = MPROC_EOWNERDEAD;
  } else if (rc == ETIMEDOUT) {
    return MPROC_ETIMEDOUT;
  } else if (rc == EDEADLK) {
    return MPROC_EDEADLK;
  } else if (rc != 0) {
    return -rc;
  }
  l->depth++;
  MPROC__STORE(&l->owner, me);
  return result;
}

int mproc__lockcore_release(mproc__lockcore_t *l) {
  if (MPROC__LOAD(&l->owner) != mproc__tid() || l->depth == 0)
    return MPROC_EPERM;
  uint32_t depth = l->depth--;
  if (depth == 1) MPROC__STORE(&l->owner, 0);
  int rc = pthread_mutex_unlock(&l->m);
  if (rc != 0) {
    /* A recycled thread id posing as a dead holder: the mutex knows. */
    l->depth = depth;
    if (depth == 1) MPROC__STORE(&l->owner, mproc__tid());
    return rc == EPERM ? MPROC_EPERM : -rc;
  }
  return 0;
}
