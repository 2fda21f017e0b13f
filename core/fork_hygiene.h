/* multiproc internal — what every child multiproc forks does first, shared
 * by Process children, pool fork servers and pool workers. */
#ifndef MPROC_CORE_FORK_HYGIENE_H
#define MPROC_CORE_FORK_HYGIENE_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Handlers belong to the parent's program state (a self-pipe, a flag for its
 * event loop); in a child they would act on copies or on shared pipes, and
 * a SIGTERM handler would keep terminate() from terminating. Resets every
 * caught signal to its default and keeps ignored ones ignored, as exec()
 * would. Call with all signals blocked. */
void mproc__reset_signal_handlers(void);

/* Arms SIGKILL for when the parent (the thread that forked us) dies, and
 * exits at once if it already has: it may have died before prctl. */
void mproc__die_with_parent(pid_t parent);

/* How a child multiproc forked leaves, as a Python child does: join its own
 * children (terminating daemonic ones), flush stdio (every stream: one the
 * parent opened and the child wrote to would lose its buffer otherwise),
 * then _exit — never the parent's atexit handlers or destructors. */
void mproc__child_exit(int code) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_FORK_HYGIENE_H */
