/* multiproc internal — the one way multiproc forks: Process children, their
 * relays, the pool's fork server and its workers all come from here, so
 * fork hygiene is written once.
 *
 *     mproc__fork_begin();                 // stdio flushed, registry locked
 *     ...create the child's channels, register the parent's ends...
 *     pid_t pid = mproc__fork(&f);
 *     if (pid == 0) { ...the child: clean, unlocked... }
 *     ...parent: register the pidfd...
 *     mproc__unlock();
 *
 * Parent side: stdio is flushed first (what sits in a buffer would be
 * written twice, once by each process); every signal is blocked across
 * fork(), so that no handler of the parent's runs in the child before it
 * has reset them; the registry lock is held across fork(), so the child's
 * copy of the registry is consistent.
 *
 * Child side, before returning 0: caught signals reset to their defaults
 * (ignored ones stay ignored, as across exec: a SIGTERM handler inherited
 * from the parent would keep terminate() from terminating, and a handler
 * writing to a self-pipe shared with the parent would fake signals in the
 * parent's event loop); the death signal armed when asked (and an exit if
 * the parent already died); every descriptor of the parent's other
 * children closed, its own ones registered; its identity taken; the lock
 * released; the signal mask set.
 *
 * Exec (the spawn start method): with f->exec set, the child goes on to
 * execve a program instead of returning. The same hygiene runs, except for
 * what the exec makes moot, and it runs vfork-style: the child borrows the
 * parent's memory until it execs (the parent's thread waits meanwhile), so
 * no page and no page table of the parent is copied, and the start costs
 * the same in a 4 GiB parent as in a small one. The child therefore writes
 * no memory: instead of the registry's reset, every descriptor from 3 up
 * is marked close-on-exec except the own ones (kept, at their numbers).
 */
#ifndef MPROC_CORE_FORK_H
#define MPROC_CORE_FORK_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  /* The child's identity ("1:2", "" for none) and name: strings that stay
   * valid in the child (the parent's memory as it was at fork). */
  const char *identity;
  const char *name;
  bool daemon;
  /* The child's own descriptors: left open and registered in its registry
   * (its own children close them); -1 for none. Descriptors that are in
   * no linked node stay open too; close them in the child if unwanted. */
  int own_fds[2];
  /* SIGKILL when the forking thread dies (PR_SET_PDEATHSIG). */
  bool die_with_parent;
  /* Pool processes: SIGINT is the parent's to handle (Ctrl-C reaches the
   * whole process group), and SIGPIPE becomes EPIPE, as Python does. */
  bool ignore_sigint_sigpipe;
  /* The child's signal mask; NULL for the caller's mask. */
  const sigset_t *mask;
  /* Exec instead of returning in the child: see above. NULL: plain fork. */
  const struct mproc__exec *exec;
} mproc__fork_t;

/* What an exec'ing child runs: path, argv and envp, built by the parent
 * (the child allocates nothing). */
typedef struct mproc__exec {
  const char *path;
  char *const *argv;
  char *const *envp;
} mproc__exec_t;

/* Flushes stdio and takes the registry lock. */
void mproc__fork_begin(void);

/* Forks, with the registry lock held by the caller (mproc__fork_begin).
 * Returns the child's pid in the parent (the lock still held) or -errno
 * (MPROC_EAGAIN, MPROC_ENOMEM); 0 in the child, set up as f says, with the
 * lock released. With f->exec, never returns in the child; returns the
 * pid once the child has exec'd, or -errno when the exec failed (ENOENT,
 * EACCES, ENOMEM...: that child has left and has been reaped). */
MPROC__MUST_USE pid_t mproc__fork(const mproc__fork_t *f);

/* How a child multiproc forked leaves, as a Python child does: run the
 * registry's exit hooks (terminate daemonic children, join the others),
 * flush stdio (every stream: one the parent opened and the child wrote to
 * would lose its buffer otherwise), then _exit — never the parent's atexit
 * handlers or destructors. */
void mproc__child_exit(int code) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_FORK_H */
