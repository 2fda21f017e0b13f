/* Barrier: see sync.h.
 *
 * The bookkeeping (arrivals, the broken flag) sits under a robust lock;
 * waiters sleep in a futex on the generation's number, which moves when
 * the generation ends, released or broken. How each generation ended is
 * kept in a ring of 64 bits, so a waiter that wakes late — after later
 * generations have come and gone — still learns how its own ended (unless
 * 64 have passed while it slept). Python instead keeps new arrivals out
 * until every released waiter has left, which a killed waiter would make
 * last forever. */
#include <limits.h>

#include "core/base/error_detail.h"
#include "core/ipc/futex.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"

struct mproc_barrier {
  mproc__lockcore_t lock; /* guards count, broken and ending generations */
  uint32_t gen;           /* futex word: the current generation's number */
  uint32_t count;         /* arrived in this generation */
  uint32_t parties;
  uint32_t broken; /* until reset: every wait fails */
  uint64_t outcome; /* bit g % 64: generation g ended broken */
  int (*action)(void *);
  void *action_ctx;
  double timeout_s;
};

int mproc_barrier_new(mproc_barrier_t **out, unsigned parties,
                      const mproc_barrier_opts_t *opts) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (parties == 0 || parties > INT32_MAX)
    return MPROC__EINVAL("parties must be 1 to INT32_MAX, not %u", parties);
  if (opts != NULL && !(opts->timeout_s >= 0))
    return MPROC__EINVAL("opts.timeout_s must be 0 (none) or more, not %g",
                         opts->timeout_s);
  void *mem;
  int rc = mproc__shared_map(&mem, sizeof(mproc_barrier_t));
  if (rc < 0) return rc;
  mproc_barrier_t *b = mem;
  rc = mproc__lockcore_init(&b->lock, false);
  if (rc < 0) {
    mproc__shared_unmap(mem, sizeof *b);
    return rc;
  }
  b->parties = parties;
  if (opts != NULL) {
    b->action = opts->action;
    b->action_ctx = opts->action_ctx;
    b->timeout_s = opts->timeout_s;
  }
  *out = b;
  return 0;
}

/* With the lock held: ends the current generation; wake the waiters once
 * the lock is released. */
static void end_generation(mproc_barrier_t *b, bool broken) {
  uint64_t bit = (uint64_t)1 << (b->gen % 64);
  uint64_t o = MPROC__LOAD(&b->outcome);
  MPROC__STORE(&b->outcome, broken ? (o | bit) : (o & ~bit));
  MPROC__STORE(&b->count, 0);
  MPROC__STORE(&b->gen, b->gen + 1);
}

static void wake_all(mproc_barrier_t *b) {
  mproc__futex_wake(&b->gen, INT32_MAX);
}

/* Takes the bookkeeping lock; a party that died holding it leaves the
 * count unknown: the generation ends broken. */
static void lock_books(mproc_barrier_t *b) {
  if (mproc__lockcore_acquire(&b->lock, UINT64_MAX) == MPROC_EOWNERDEAD) {
    end_generation(b, true);
    MPROC__STORE(&b->broken, 1);
  }
}

/* Only after lock_books, by the same thread: never refused. */
static void unlock_books(mproc_barrier_t *b) {
  MPROC__IGNORE(mproc__lockcore_release(&b->lock));
}

int mproc_barrier_wait(mproc_barrier_t *b, double timeout_s) {
  if (b == NULL) return MPROC__EINVAL("b is NULL");
  if (timeout_s < 0 && b->timeout_s > 0) timeout_s = b->timeout_s;
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  lock_books(b);
  if (b->broken) {
    unlock_books(b);
    return MPROC_EBROKENBARRIER;
  }
  uint32_t arrived = b->count + 1;
  int index = (int)b->count;
  MPROC__STORE(&b->count, arrived);
  if (arrived == b->parties) {
    bool failed = b->action != NULL && b->action(b->action_ctx) != 0;
    end_generation(b, failed);
    if (failed) MPROC__STORE(&b->broken, 1);
    unlock_books(b);
    wake_all(b);
    return failed ? MPROC_EBROKENBARRIER : index;
  }
  uint32_t gen = b->gen;
  unlock_books(b);
  rc = deadline == 0 ? MPROC_ETIMEDOUT : 0;
  while (rc == 0 && MPROC__LOAD(&b->gen) == gen)
    rc = mproc__futex_wait(&b->gen, gen, deadline);
  if (rc == MPROC_ETIMEDOUT) {
    lock_books(b);
    bool mine = b->gen == gen; /* nobody ended it meanwhile: we break it */
    if (mine) {
      end_generation(b, true);
      MPROC__STORE(&b->broken, 1);
    }
    unlock_books(b);
    if (mine) {
      wake_all(b);
      return MPROC_ETIMEDOUT;
    }
  }
  uint64_t bit = (uint64_t)1 << (gen % 64);
  return (MPROC__LOAD(&b->outcome) & bit) ? MPROC_EBROKENBARRIER : index;
}

int mproc_barrier_reset(mproc_barrier_t *b) {
  if (b == NULL) return MPROC__EINVAL("b is NULL");
  lock_books(b);
  bool waiting = b->count > 0;
  if (waiting) end_generation(b, true);
  MPROC__STORE(&b->broken, 0);
  unlock_books(b);
  if (waiting) wake_all(b);
  return 0;
}

int mproc_barrier_abort(mproc_barrier_t *b) {
  if (b == NULL) return MPROC__EINVAL("b is NULL");
  lock_books(b);
  end_generation(b, true);
  MPROC__STORE(&b->broken, 1);
  unlock_books(b);
  wake_all(b);
  return 0;
}

int mproc_barrier_parties(const mproc_barrier_t *b) {
  return b == NULL ? MPROC__EINVAL("b is NULL") : (int)b->parties;
}

int mproc_barrier_n_waiting(const mproc_barrier_t *b) {
  return b == NULL ? MPROC__EINVAL("b is NULL") : (int)MPROC__LOAD(&b->count);
}

int mproc_barrier_broken(const mproc_barrier_t *b) {
  return b == NULL ? MPROC__EINVAL("b is NULL") : MPROC__LOAD(&b->broken) != 0;
}

void mproc_barrier_free(mproc_barrier_t *b) {
  mproc__shared_unmap(b, sizeof *b);
}
