/* multiproc internal — the little global state that Python's
 * multiprocessing also keeps per process: the counter behind default names,
 * this process's identity ("1:2" in Process-1:2) and name, whether it is
 * daemonic, the live Process handles (joined or terminated at exit), and the
 * descriptors multiproc holds, which every new child must close.
 *
 * One mutex guards it all, and start() holds it across fork(): the child
 * then sees a consistent copy in which every multiproc descriptor is
 * tracked, so it can close exactly the ones that are not its own.
 */
#ifndef MPROC_CORE_REGISTRY_H
#define MPROC_CORE_REGISTRY_H

#include <stdbool.h>

#include "core/process.h"

#ifdef __cplusplus
extern "C" {
#endif

void mproc__lock(void);
void mproc__unlock(void);

/* With the lock held: remember or forget a descriptor a child must close. */
int mproc__fd_track(int fd);
void mproc__fd_untrack(int fd);
/* Forgets and closes fd under the lock (so no fork sees it half-done).
 * Negative fds are ignored. */
void mproc__fd_close(int fd);

/* getpid(), cached (and forgotten in forked children). */
pid_t mproc__getpid(void);

/* The next child number for a default name (1, 2, ...). */
unsigned mproc__next_number(void);
/* "" in the main process, "1" in Process-1, "1:2" in Process-1:2. */
const char *mproc__identity(void);
bool mproc__current_is_daemon(void);

/* With the lock held: add or remove a handle (for exit-time cleanup). */
void mproc__handle_link(mproc_process_t *p);
void mproc__handle_unlink(mproc_process_t *p);

/* In a new child, still holding the lock that the parent took before fork:
 * closes every tracked descriptor, forgets the parent's handles, becomes
 * "self" (identity, name, daemon flag, counter restarted at 1) and releases
 * the lock. Allocates nothing. */
void mproc__registry_child_reset(mproc_process_t *self);

/* Registers mproc__cleanup_children with atexit, once. */
void mproc__install_exit_handler(void);

/* Python's exit-time cleanup: terminate this process's running daemonic
 * children, then join all of its children. */
void mproc__cleanup_children(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_REGISTRY_H */
