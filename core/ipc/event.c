/* Event: see sync.h. One shared flag word, waited on in a futex. */
#include <limits.h>

#include "core/base/error_detail.h"
#include "core/ipc/futex.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"

struct mproc_event {
  uint32_t flag;    /* futex word: 1 set, 0 clear */
  uint32_t waiters; /* sleeping in wait (high after a killed waiter: only
                       a wake-up call more) */
};

int mproc_event_new(mproc_event_t **out) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  void *mem;
  int rc = mproc__shared_map(&mem, sizeof(mproc_event_t));
  if (rc < 0) return rc;
  *out = mem;
  return 0;
}

int mproc_event_set(mproc_event_t *ev) {
  if (ev == NULL) return MPROC__EINVAL("ev is NULL");
  MPROC__STORE(&ev->flag, 1);
  if (MPROC__LOAD(&ev->waiters) > 0) mproc__futex_wake(&ev->flag, INT32_MAX);
  return 0;
}

int mproc_event_clear(mproc_event_t *ev) {
  if (ev == NULL) return MPROC__EINVAL("ev is NULL");
  MPROC__STORE(&ev->flag, 0);
  return 0;
}

int mproc_event_is_set(const mproc_event_t *ev) {
  if (ev == NULL) return MPROC__EINVAL("ev is NULL");
  return MPROC__LOAD(&ev->flag) != 0;
}

int mproc_event_wait(mproc_event_t *ev, double timeout_s) {
  if (ev == NULL) return MPROC__EINVAL("ev is NULL");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  while (MPROC__LOAD(&ev->flag) == 0) {
    if (deadline == 0) return MPROC_ETIMEDOUT;
    MPROC__ADD(&ev->waiters, 1);
    rc = 0;
    if (MPROC__LOAD(&ev->flag) == 0)
      rc = mproc__futex_wait(&ev->flag, 0, deadline);
    MPROC__SUB(&ev->waiters, 1);
    if (rc == MPROC_ETIMEDOUT) return MPROC__LOAD(&ev->flag) ? 0 : rc;
  }
  return 0;
}

void mproc_event_free(mproc_event_t *ev) {
  mproc__shared_unmap(ev, sizeof *ev);
}
