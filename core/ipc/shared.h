/* multiproc internal — memory shared with every child forked later.
 *
 * The IPC objects (locks, semaphores, events, conditions, barriers, queues,
 * Value/Array) live in anonymous MAP_SHARED mappings: no descriptor, no
 * name, nothing to leak. A child forked after the mapping was made sees
 * the same pages at the same address, so a handle (a pointer into the
 * mapping, or a struct holding one) works unchanged in the child. The
 * memory goes back to the system when the last process unmaps it (or
 * ends).
 */
#ifndef MPROC_CORE_IPC_SHARED_H
#define MPROC_CORE_IPC_SHARED_H

#include <stddef.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A zeroed shared mapping of at least size bytes (whole pages). Returns
 * 0 with *out set, or -errno (MPROC_ENOMEM). */
MPROC__MUST_USE int mproc__shared_map(void **out, size_t size);

/* Unmaps a mapping made by mproc__shared_map for this process only. */
void mproc__shared_unmap(void *p, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_SHARED_H */
