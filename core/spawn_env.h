/* multiproc internal — what every fresh image of the program (the spawn
 * start method, core/spawn.h) shares, at the runtime's level so that the
 * pool (workers/) uses it without Process: the environment an exec'd child
 * is started with, whether this program recognises its exec'd children
 * before main() (mproc_spawn_child_main has run), and the modes other
 * layers add to that recognition.
 *
 * MPROC_SPAWN holds the child's spec. A spec "<letter> <args>" names a
 * mode: 'S' is Process's fork server (core/forkserver.h); a higher layer
 * registers its own letters here (the pool's fork server, 'P',
 * workers/fresh.c), from a constructor with priority 101, so before
 * mproc_spawn_child_main looks — core never calls up into those layers.
 */
#ifndef MPROC_CORE_SPAWN_ENV_H
#define MPROC_CORE_SPAWN_ENV_H

#include <stdbool.h>

#include "core/base/check.h"
#include "core/fork.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  mproc__exec_t exec;
  char *argv[2];
  char **envp; /* one block: the pointers, then the two new strings */
} mproc__spawn_t;

/* Builds s to exec /proc/self/exe with MPROC_SPAWN=spec and
 * MPROC_SPAWN_NAME=name added to this environment. MPROC_ENOMEM. Release
 * with mproc__spawn_release. */
MPROC__MUST_USE int mproc__spawn_prepare_spec(mproc__spawn_t *s,
                                              const char *spec,
                                              const char *name);
void mproc__spawn_release(mproc__spawn_t *s);

/* Whether mproc_spawn_child_main has run here: children recognise
 * themselves. */
bool mproc__spawn_ready(void);
void mproc__spawn_set_ready(void);

/* A mode's main: args is the spec after "<letter> "; never returns. */
typedef void (*mproc__spawn_mode_fn)(const char *args);
/* Registers main for specs starting with letter (not 'S'); before main(). */
void mproc__spawn_mode_register(char letter, mproc__spawn_mode_fn main);
/* The main registered for letter, or NULL. */
mproc__spawn_mode_fn mproc__spawn_mode_find(char letter);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_SPAWN_ENV_H */
