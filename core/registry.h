/* multiproc internal — the little global state that Python's
 * multiprocessing also keeps per process: the counter behind default names,
 * this process's identity ("1:2" in Process-1:2) and name, whether it is
 * daemonic, and the live objects (Process handles, pools) with the
 * descriptors they hold, which every new child must close and which are
 * joined or terminated at exit.
 *
 * One mutex guards it all, and start() holds it across fork(): the child
 * then sees a consistent copy in which every multiproc descriptor sits in a
 * linked node, so it can close exactly the ones that are not its own. The
 * descriptors live in the objects themselves, not in a separate table, so
 * the parent's bookkeeping after fork writes no extra page (each page
 * written while the child shares it costs a copy-on-write fault).
 */
#ifndef MPROC_CORE_REGISTRY_H
#define MPROC_CORE_REGISTRY_H

#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { MPROC__NODE_PROCESS = 1, MPROC__NODE_POOL, MPROC__NODE_SELF };

#define MPROC__NODE_FDS 4

/* What the registry knows of an object: a new child closes every fd >= 0 in
 * every linked node. */
typedef struct mproc__node {
  struct mproc__node *next, *prev;
  bool linked;
  int kind;
  int fds[MPROC__NODE_FDS];
} mproc__node_t;

void mproc__lock(void);
void mproc__unlock(void);

/* Sets every fd slot to -1. */
void mproc__node_init(mproc__node_t *n, int kind);
/* With the lock held. unlink ignores a node that is not linked. */
void mproc__node_link(mproc__node_t *n);
void mproc__node_unlink(mproc__node_t *n);
/* Closes n->fds[slot] (if open) under the lock and marks it -1. */
void mproc__node_close_fd(mproc__node_t *n, int slot);

/* getpid(), cached (and forgotten in forked children). */
pid_t mproc__getpid(void);

/* The next child number for a default name (1, 2, ...). */
unsigned mproc__next_number(void);
/* "" in the main process, "1" in Process-1, "1:2" in Process-1:2. */
const char *mproc__identity(void);
bool mproc__current_is_daemon(void);

/* In a new child, still holding the lock that the parent took before fork:
 * closes every descriptor of every linked node, forgets them, takes on the
 * given identity, name and daemon flag (strings that stay valid), restarts
 * the counter at 1, links a node holding own_fds (its own pipe ends, -1 for
 * none, which its future children must close) and releases the lock.
 * Allocates nothing. */
void mproc__registry_child_reset(const char *identity, const char *name,
                                 bool daemon, const int own_fds[2]);

/* Registers mproc__cleanup_children with atexit, once. */
void mproc__install_exit_handler(void);

/* Python's exit-time cleanup: terminate this process's running daemonic
 * children, then join all of its children. */
void mproc__cleanup_children(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_REGISTRY_H */
