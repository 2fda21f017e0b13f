/* multiproc internal — the monotonic clock.
 *
 * Durations and deadlines come from CLOCK_MONOTONIC only: the wall clock can
 * jump. CLOCK_MONOTONIC is system-wide, so a child's reading can be compared
 * with its parent's (the per-process timing relies on this).
 */
#ifndef MPROC_CORE_CLOCK_H
#define MPROC_CORE_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mproc__now_ns(void);

/* The absolute deadline timeout_s seconds from now; UINT64_MAX ("never") for
 * a negative or infinite timeout. */
uint64_t mproc__deadline(double timeout_s);

/* 0 for NaN, which is no timeout at all; public functions reject it with
 * MPROC_EINVAL before computing a deadline. */
int mproc__timeout_valid(double timeout_s);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_CLOCK_H */
