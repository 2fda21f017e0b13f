/* multiproc internal — the little global state that Python's
 * multiprocessing also keeps per process: the counter behind default names,
 * this process's identity ("1:2" in Process-1:2) and name, whether it is
 * daemonic, and the live objects (Process handles, pools and their workers)
 * with the descriptors they hold, which every new child must close, and the
 * hooks that end them at exit.
 *
 * The registry knows nothing of what a node belongs to: a node is a few
 * descriptors and an exit hook. Process registers "terminate if daemonic,
 * then join" (Python's exit-time cleanup); a pool registers nothing (its
 * workers die with its process).
 *
 * One mutex guards it all, and fork (core/fork.h) holds it across fork():
 * the child then sees a consistent copy in which every multiproc descriptor
 * sits in a linked node, so it can close exactly the ones that are not its
 * own. The descriptors live in the objects themselves, not in a separate
 * table, so the parent's bookkeeping after fork writes no extra page (each
 * page written while the child shares it costs a copy-on-write fault).
 */
#ifndef MPROC_CORE_REGISTRY_H
#define MPROC_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC__NODE_FDS 4

/* The phases of the exit-time cleanup: every node's hook runs with the
 * first, then every node's with the second. */
enum { MPROC__EXIT_TERMINATE = 1, MPROC__EXIT_JOIN = 2 };

typedef struct mproc__node mproc__node_t;

/* Runs outside the registry's lock; the node stays linked meanwhile unless
 * its owner unlinks it. */
typedef void (*mproc__exit_hook)(mproc__node_t *node, int phase);

/* What the registry knows of an object: a new child closes every fd >= 0
 * in every linked node; at exit, on_exit runs (when not NULL). */
struct mproc__node {
  mproc__node_t *next, *prev;
  bool linked;
  mproc__exit_hook on_exit;
  int fds[MPROC__NODE_FDS];
};

void mproc__lock(void);
void mproc__unlock(void);
/* Asserts (debug builds, core/base/check.h) that the calling thread holds
 * the lock: for _locked functions outside registry.c. */
void mproc__assert_registry_locked(void);

/* Sets every fd slot to -1. */
void mproc__node_init(mproc__node_t *n, mproc__exit_hook on_exit);
/* With the lock held. unlink ignores a node that is not linked. */
void mproc__node_link(mproc__node_t *n);
void mproc__node_unlink(mproc__node_t *n);
/* Closes n->fds[slot] (if open) under the lock and marks it -1. */
void mproc__node_close_fd(mproc__node_t *n, int slot);

/* Descriptors held in linked nodes, and how many nodes hold any (for the
 * descriptor-limit message; walks the list). */
size_t mproc__registry_fds(size_t *objects);

/* getpid(), cached (and forgotten in forked children). */
pid_t mproc__getpid(void);

/* The next child number for a default name (1, 2, ...). */
unsigned mproc__next_number(void);
/* "" in the main process, "1" in Process-1, "1:2" in Process-1:2. */
const char *mproc__identity(void);
/* "MainProcess", or in a child its name. */
const char *mproc__current_name(void);
bool mproc__current_is_daemon(void);

/* In a new child, still holding the lock that the parent took before fork:
 * closes every descriptor of every linked node, forgets them, takes on the
 * given identity, name and daemon flag (strings that stay valid), restarts
 * the counter at 1, links a node holding own_fds (its own descriptors, -1
 * for none, which its future children must close) and releases the lock.
 * Allocates nothing. */
void mproc__registry_child_reset(const char *identity, const char *name,
                                 bool daemon, const int own_fds[2]);

/* Registers the exit-time cleanup with atexit, once. */
void mproc__install_exit_handler(void);

/* Python's exit-time cleanup: every node's hook with MPROC__EXIT_TERMINATE
 * (a Process: terminate it if daemonic and running), then every node's
 * with MPROC__EXIT_JOIN (a Process: join it). */
void mproc__cleanup_children(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_REGISTRY_H */
