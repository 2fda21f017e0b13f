/* Condition: see sync.h.
 *
 * Not a pthread condition variable: glibc's process-shared condvar keeps
 * waiter bookkeeping (groups, reference counts) in the shared object, and
 * a waiter killed inside pthread_cond_wait leaves it inconsistent, so that
 * later signals are absorbed or pthread_cond_destroy hangs. Here a waiter
 * owns nothing shared while it sleeps: it reads a sequence number under
 * the lock, releases the lock and sleeps in a futex until the number
 * moves; notify moves it under the lock. A waiter that dies leaves only a
 * count of sleepers one too high, which costs notifiers a wake-up call. */
#include <limits.h>
#include <math.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "core/ipc/futex.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"

struct mproc_cond {
  uint32_t seq;     /* futex word: moves on every notify */
  uint32_t waiters; /* sleeping in wait */
  mproc_lock_t *lock;
  mproc_lock_t own; /* the RLock made for it when none was given */
};

int mproc_cond_new(mproc_cond_t **out, mproc_lock_t *lock) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  void *mem;
  int rc = mproc__shared_map(&mem, sizeof(mproc_cond_t));
  if (rc < 0) return rc;
  mproc_cond_t *c = mem;
  c->lock = lock;
  if (lock == NULL) {
    rc = mproc__lock_init_embedded(&c->own, true);
    if (rc < 0) {
      mproc__shared_unmap(mem, sizeof *c);
      return rc;
    }
    c->lock = &c->own;
  }
  *out = c;
  return 0;
}

mproc_lock_t *mproc_cond_lock(const mproc_cond_t *cond) {
  return cond == NULL ? NULL : cond->lock;
}

static int wait_until(mproc_cond_t *c, uint64_t deadline) {
  mproc__lockcore_t *l = &c->lock->core;
  if (!mproc__lockcore_held(l)) return MPROC_EPERM;
  uint32_t depth = l->depth;
  uint32_t seq = MPROC__LOAD(&c->seq);
  MPROC__ADD(&c->waiters, 1);
  /* Held depth times by this thread (checked above): never refused. */
  for (uint32_t i = 0; i < depth; i++)
    MPROC__IGNORE(mproc__lockcore_release(l));
  int rc = deadline == 0 ? MPROC_ETIMEDOUT : 0;
  while (rc == 0 && MPROC__LOAD(&c->seq) == seq)
    rc = mproc__futex_wait(&c->seq, seq, deadline);
  MPROC__SUB(&c->waiters, 1);
  bool dead = false;
  for (uint32_t i = 0; i < depth; i++)
    if (mproc__lockcore_acquire(l, UINT64_MAX) == MPROC_EOWNERDEAD) dead = true;
  /* The holder's death is the news that matters most. */
  if (dead) return MPROC_EOWNERDEAD;
  return rc;
}

int mproc_cond_wait(mproc_cond_t *cond, double timeout_s) {
  if (cond == NULL) return MPROC__EINVAL("cond is NULL");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  return wait_until(cond, deadline);
}

int mproc_cond_wait_for(mproc_cond_t *cond, bool (*pred)(void *ctx), void *ctx,
                        double timeout_s) {
  if (cond == NULL || pred == NULL)
    return MPROC__EINVAL("%s is NULL", cond == NULL ? "cond" : "pred");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  if (!mproc__lockcore_held(&cond->lock->core)) return MPROC_EPERM;
  bool dead = false;
  while (!pred(ctx)) {
    rc = wait_until(cond, deadline);
    if (rc == MPROC_EOWNERDEAD) {
      dead = true;
    } else if (rc == MPROC_ETIMEDOUT) {
      if (!pred(ctx)) return rc;
      break;
    } else if (rc < 0) {
      return rc;
    }
  }
  return dead ? MPROC_EOWNERDEAD : 0;
}

int mproc_cond_notify(mproc_cond_t *cond, unsigned n) {
  if (cond == NULL) return MPROC__EINVAL("cond is NULL");
  if (!mproc__lockcore_held(&cond->lock->core)) return MPROC_EPERM;
  if (n == 0) return 0;
  MPROC__ADD(&cond->seq, 1);
  if (MPROC__LOAD(&cond->waiters) > 0)
    mproc__futex_wake(&cond->seq, n > INT32_MAX ? INT32_MAX : (int)n);
  return 0;
}

int mproc_cond_notify_all(mproc_cond_t *cond) {
  return mproc_cond_notify(cond, INT32_MAX);
}

void mproc_cond_free(mproc_cond_t *cond) {
  mproc__shared_unmap(cond, sizeof *cond);
}
