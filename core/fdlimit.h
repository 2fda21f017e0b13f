/* multiproc internal — the descriptor limit, and the other limits that stop
 * a fork, said plainly.
 *
 * Each live Process child holds two of the parent's descriptors (its socket
 * and its pidfd), each pool worker three. Most programs start with a soft
 * RLIMIT_NOFILE of 1,024 and a hard one far higher: at the soft limit, a
 * program would stop at about 510 children (Python's multiprocessing does:
 * "Too many open files"). So, as Go's runtime does at startup, multiproc
 * raises the soft limit to the hard one — lazily, the first time it runs
 * out — and retries; every child it forks gets the original soft limit
 * back, so that its own code, and any program it execs, sees what it
 * expects. Only when the hard limit is reached does a call fail, with
 * MPROC_EMFILE and a detail (mproc_last_error) saying how many descriptors
 * are open, the limits, and how many multiproc holds.
 */
#ifndef MPROC_CORE_FDLIMIT_H
#define MPROC_CORE_FDLIMIT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* After a call failed with rc: true when rc is MPROC_EMFILE and the soft
 * limit could be raised (now, or already by another thread): retry once. */
bool mproc__fd_limit_retry(int rc);

/* In a new child (core/fork.c): back to the soft limit the program had,
 * when multiproc raised it. */
void mproc__fd_limit_restore(void);

/* Records, for an error rc from doing (e.g. "start a Process"), the detail
 * that says which limit stopped it: for MPROC_EMFILE the descriptors open,
 * the limits and multiproc's share; for a failed fork (MPROC_EAGAIN,
 * MPROC_ENOMEM) the process limits and memory. Returns rc. */
int mproc__fail_limit(int rc, const char *doing);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_FDLIMIT_H */
