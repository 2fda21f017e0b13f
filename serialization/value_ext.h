/* multiproc internal — value plumbing for the pool (workers/) and core/ipc,
 * which may not see values' insides (value_internal.h is serialization's
 * own). */
#ifndef MPROC_SERIALIZATION_VALUE_EXT_H
#define MPROC_SERIALIZATION_VALUE_EXT_H

#include "core/base/check.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tuple that borrows its one item: mproc__tuple1_set points it at any
 * value without taking ownership; freeing it frees only the tuple. Lets a
 * chunk's items be passed as one-argument calls without copying them. */
MPROC__MUST_USE int mproc__tuple1_new(mproc_value_t **out);
void mproc__tuple1_set(mproc_value_t *tuple, const mproc_value_t *item);

/* Appends items[0..n) to list in order, taking each (its slot set to
 * NULL), as mproc_list_append would one by one — with room made once. At
 * the first item refused (MPROC_EDEPTH, MPROC_ENOMEM) it stops: that item
 * is freed (value.h's rule), *done says which it was, the rest are left. */
MPROC__MUST_USE int mproc__list_extend(mproc_value_t *list, mproc_value_t **items, size_t n,
                                       size_t *done);

/* The value's encoding (as mproc_value_encode's) written to the file fd
 * from offset 0 with pwrite, and read back from it: for values in memory
 * files (core/ipc/spill.h). Large strings and bytes go straight between
 * the value's memory and the file, never through a buffer (a write to a
 * memory file's fresh pages need not zero them first, as a mapping's
 * faults do); the small pieces in between are gathered in 64 KiB.
 * write: 0, MPROC_E2BIG (over 2 GiB), MPROC_ENOMEM, -errno.
 * read: the size bytes at offset 0 decoded (mproc_value_decode's errors;
 * MPROC_EMALFORMED too when the file is shorter than size, which is never
 * read past). */
int mproc__value_write_fd(const mproc_value_t *v, int fd);
int mproc__value_read_fd(mproc_value_t **out, int fd, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_VALUE_EXT_H */
