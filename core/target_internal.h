/* multiproc internal — looking targets up with the reason they cannot be
 * used. */
#ifndef MPROC_CORE_TARGET_INTERNAL_H
#define MPROC_CORE_TARGET_INTERNAL_H

#include "core/base/check.h"
#include "multiproc/target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The function registered under name in *fn: 0, MPROC_ENOTARGET, or
 * MPROC_EDUPTARGET; a failure's message is recorded for
 * mproc_last_error(). */
MPROC__MUST_USE int mproc__target_resolve(const char *name, mproc_target_fn *fn);

/* MPROC_EDUPTARGET (message recorded) if any name is claimed by two
 * functions, else 0. */
MPROC__MUST_USE int mproc__target_check_all(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_TARGET_INTERNAL_H */
