/* multiproc internal — value plumbing for the pool (workers/), which may
 * not see values' insides (value_internal.h is serialization's own). */
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

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_VALUE_EXT_H */
