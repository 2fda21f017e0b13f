/* multiproc internal — process descriptors (pidfds), with the fallback
 * decided once: everything in multiproc that opens or signals through a
 * pidfd goes through here, and nothing else makes the raw syscalls.
 *
 * A pidfd names one process for good: it becomes readable when that process
 * ends, and a signal sent through it can never reach a recycled pid. On
 * kernels without pidfds (before 5.3), callers fall back on a sentinel
 * pipe whose write end only the child holds (CPython's trick) and on kill()
 * of an unreaped child, whose pid cannot be recycled either.
 */
#ifndef MPROC_CORE_PIDFD_H
#define MPROC_CORE_PIDFD_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether pidfds are used: probed once. */
bool mproc__pidfd_enabled(void);

/* Forces the fallback (as on kernels before pidfd_open) for processes
 * started afterwards; false returns to probing. For multiproc's tests
 * (core/process_testing.h). */
void mproc__pidfd_force_disabled(bool disabled);

/* A new pidfd (O_CLOEXEC) for pid, or -errno (MPROC_ENOSYS without them).
 * Race-free only for an unreaped child of the caller, or a process that
 * cannot have been reaped yet. */
MPROC__MUST_USE int mproc__pidfd_open(pid_t pid);

/* Sends sig through pidfd. Returns 0 or -errno (MPROC_ESRCH once it has
 * ended). */
MPROC__MUST_USE int mproc__pidfd_send_signal(int pidfd, int sig);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_PIDFD_H */
