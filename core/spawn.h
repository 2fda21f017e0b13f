/* multiproc internal — the spawn start method's two ends: the parent
 * builds what the exec'd child needs (spawn.c), the child finds it before
 * main() (mproc_spawn_child_main) and runs its call (child.c).
 *
 * The handover: the child's socket (and sentinel pipe) stay open across
 * exec at their numbers; the environment variable MPROC_SPAWN says which
 * they are, with the child's daemon flag, largest call frame and identity,
 * and MPROC_SPAWN_NAME its name. The child removes both from its
 * environment at once. The call itself travels on the socket as with fork.
 */
#ifndef MPROC_CORE_SPAWN_H
#define MPROC_CORE_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/check.h"
#include "core/fork.h"
#include "core/process_internal.h"
#include "core/spawn_env.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether p may be started by method ("spawn", "forkserver": both run a
 * fresh image of the program): 0, or MPROC_ENOSYS (this program never
 * called mproc_spawn_child_main), MPROC_ENOTARGET (p's target has no
 * name), MPROC_EINVAL (p has a ctx), each with its detail. */
MPROC__MUST_USE int mproc__spawn_check(const mproc_process_t *p,
                                       const char *method);

/* Builds s for p's child, whose own descriptors are sock and sentinel
 * (-1: none). MPROC_ENOMEM. Release with mproc__spawn_release. */
MPROC__MUST_USE int mproc__spawn_prepare(mproc__spawn_t *s,
                                         const mproc_process_t *p, int sock,
                                         int sentinel);

/* The exec'd child's side (child.c): takes the identity and name
 * (strings that live as long as the process), registers its own
 * descriptors, receives and runs the call. Never returns. */
void mproc__spawned_main(const char *identity, const char *name, bool daemon,
                         int sock, int sentinel, size_t max_frame)
    __attribute__((noreturn));
/* As mproc__spawned_main, in a child just forked (core/fork.h) with its
 * registry already reset: runs the call. Never returns. */
void mproc__named_child_main(const char *identity, const char *name,
                             bool daemon, int sock, size_t max_frame)
    __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_SPAWN_H */
