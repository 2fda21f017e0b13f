/* Semaphore and BoundedSemaphore: see sync.h.
 *
 * The value is one shared word changed by compare-and-swap, and waiters
 * sleep on it in a futex while it is 0: no mutex, so there is no holder
 * whose death could wedge it. */
#include <limits.h>

#include "core/base/error_detail.h"
#include "core/ipc/futex.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"

struct mproc_sem {
  uint32_t value;   /* futex word */
  uint32_t waiters; /* sleeping in acquire (a count a killed waiter leaves
                       high: it only costs releases a wake-up call) */
  uint32_t bound;   /* BoundedSemaphore: the starting value; else 0 */
  uint32_t bounded;
};

static int sem_new(mproc_sem_t **out, unsigned value, bool bounded) {
  if (out == NULL)
    return mproc__einval(bounded ? "mproc_bsem_new" : "mproc_sem_new",
                         "out is NULL");
  *out = NULL;
  if (value > INT32_MAX) return MPROC_ERANGE;
  void *mem;
  int rc = mproc__shared_map(&mem, sizeof(mproc_sem_t));
  if (rc < 0) return rc;
  mproc_sem_t *s = mem;
  s->value = value;
  s->bound = value;
  s->bounded = bounded;
  *out = s;
  return 0;
}

int mproc_sem_new(mproc_sem_t **out, unsigned value) {
  return sem_new(out, value, false);
}

int mproc_bsem_new(mproc_sem_t **out, unsigned value) {
  return sem_new(out, value, true);
}

/* Takes a unit if there is one. */
static bool try_take(mproc_sem_t *s) {
  uint32_t v = MPROC__LOAD(&s->value);
  while (v > 0)
    if (MPROC__CAS(&s->value, &v, v - 1)) return true;
  return false;
}

int mproc_sem_acquire(mproc_sem_t *sem, double timeout_s) {
  if (sem == NULL) return MPROC__EINVAL("sem is NULL");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  for (;;) {
    if (try_take(sem)) return 0;
    if (deadline == 0) return MPROC_ETIMEDOUT;
    /* Counted before the last look at the value: a release that comes
     * after that look sees the count and wakes us. */
    MPROC__ADD(&sem->waiters, 1);
    rc = 0;
    if (MPROC__LOAD(&sem->value) == 0)
      rc = mproc__futex_wait(&sem->value, 0, deadline);
    MPROC__SUB(&sem->waiters, 1);
    if (rc == MPROC_ETIMEDOUT) return try_take(sem) ? 0 : rc;
  }
}

int mproc_sem_release(mproc_sem_t *sem) {
  if (sem == NULL) return MPROC__EINVAL("sem is NULL");
  uint32_t v = MPROC__LOAD(&sem->value);
  for (;;) {
    uint32_t limit = sem->bounded ? sem->bound : INT32_MAX;
    if (v >= limit) return MPROC_ERANGE;
    if (MPROC__CAS(&sem->value, &v, v + 1)) break;
  }
  if (MPROC__LOAD(&sem->waiters) > 0) mproc__futex_wake(&sem->value, 1);
  return 0;
}

int mproc_sem_value(const mproc_sem_t *sem) {
  if (sem == NULL) return MPROC__EINVAL("sem is NULL");
  return (int)MPROC__LOAD(&sem->value);
}

void mproc_sem_free(mproc_sem_t *sem) {
  mproc__shared_unmap(sem, sizeof *sem);
}
