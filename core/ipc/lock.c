/* Lock and RLock: see sync.h; the mutex itself is lockcore.c. */
#include <math.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"

int mproc__ipc_deadline_in(const char *func, double timeout_s,
                           uint64_t *deadline_ns) {
  if (!mproc__timeout_valid(timeout_s)) {
    *deadline_ns = 0;
    return mproc__einval(func, "timeout_s must be a number (NaN is not)");
  }
  *deadline_ns = timeout_s == 0 ? 0 : mproc__deadline(timeout_s);
  return 0;
}

int mproc__lock_init_embedded(mproc_lock_t *l, bool recursive) {
  l->map_size = 0;
  return mproc__lockcore_init(&l->core, recursive);
}

static int lock_new(mproc_lock_t **out, bool recursive) {
  if (out == NULL)
    return mproc__einval(recursive ? "mproc_rlock_new" : "mproc_lock_new",
                         "out is NULL");
  *out = NULL;
  void *mem;
  int rc = mproc__shared_map(&mem, sizeof(mproc_lock_t));
  if (rc < 0) return rc;
  mproc_lock_t *l = mem;
  rc = mproc__lockcore_init(&l->core, recursive);
  if (rc < 0) {
    mproc__shared_unmap(mem, sizeof *l);
    return rc;
  }
  l->map_size = sizeof *l;
  *out = l;
  return 0;
}

int mproc_lock_new(mproc_lock_t **out) { return lock_new(out, false); }

int mproc_rlock_new(mproc_lock_t **out) { return lock_new(out, true); }

int mproc_lock_acquire(mproc_lock_t *lock, double timeout_s) {
  if (lock == NULL) return MPROC__EINVAL("lock is NULL");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  return mproc__lockcore_acquire(&lock->core, deadline);
}

int mproc_lock_release(mproc_lock_t *lock) {
  if (lock == NULL) return MPROC__EINVAL("lock is NULL");
  return mproc__lockcore_release(&lock->core);
}

int mproc_lock_held(const mproc_lock_t *lock) {
  return lock != NULL && mproc__lockcore_held(&lock->core);
}

void mproc_lock_free(mproc_lock_t *lock) {
  if (lock == NULL || lock->map_size == 0) return;
  mproc__shared_unmap(lock, lock->map_size);
}
