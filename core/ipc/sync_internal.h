/* multiproc internal — the lock handle, for the objects that embed one (a
 * Condition's own RLock, an Array's lock) and the queue. */
#ifndef MPROC_CORE_IPC_SYNC_INTERNAL_H
#define MPROC_CORE_IPC_SYNC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ipc/lockcore.h"
#include "multiproc/sync.h"

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In shared memory: the handle is its address. */
struct mproc_lock {
  mproc__lockcore_t core;
  /* The size of the mapping it heads, or 0 when it lives inside another
   * object (which frees it). */
  size_t map_size;
};

/* Initialises a lock inside another object's shared memory. */
MPROC__MUST_USE int mproc__lock_init_embedded(mproc_lock_t *l, bool recursive);

/* A timeout_s as a deadline for lockcore and futex waits: 0 stays 0 ("only
 * try"), negative or infinite is UINT64_MAX. MPROC_EINVAL for NaN, its
 * detail naming func (mproc__ipc_deadline passes the calling function's). */
MPROC__MUST_USE int mproc__ipc_deadline_in(const char *func, double timeout_s,
                                           uint64_t *deadline_ns);
#define mproc__ipc_deadline(timeout_s, deadline_ns) \
  mproc__ipc_deadline_in(__func__, timeout_s, deadline_ns)

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_SYNC_INTERNAL_H */
