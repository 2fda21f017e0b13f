/* multiproc — named targets.
 *
 * A pool's tasks name their target, so a call is plain data: it could run in
 * a worker forked long ago, a fork+exec'd one, or on another host. Targets
 * are registered under a name, most simply at program load:
 *
 *     MPROC_TARGET(square) {
 *       int64_t x;
 *       if (mproc_unpack(call, "x=L", &x) < 0) return -1;
 *       return mproc_call_return(call, "L", x * x);
 *     }
 *
 * MPROC_TARGET(name) defines `static int name(mproc_call_t *call)` and
 * registers it as "name" before main() runs. Register everything before
 * creating a pool: its workers are forked from a copy of the program taken
 * then, and a target registered later exists only in the parent (the task
 * then fails with MPROC_ENOTARGET in the worker).
 *
 * One name, one function. Two different functions registered under one
 * name (MPROC_TARGET(square) in two files, or in a header included by two
 * files, which defines one static function per file) are an error, never
 * a silent choice: the name becomes unusable, mproc_pool_new fails with
 * MPROC_EDUPTARGET, and so does every use of the name (submit, apply, map,
 * imap, a Process's target_name), with mproc_last_error() — and apply's
 * and map's err — naming where both were registered.
 */
#ifndef MPROC_TARGET_H
#define MPROC_TARGET_H

#include "multiproc/call.h"
#include "multiproc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest target name, in bytes. */
#define MPROC_TARGET_NAME_MAX 127

/* Registers fn under name (copied). Registering the same pair again is a
 * no-op. Thread-safe.
 * Errors: MPROC_EINVAL (NULL, empty or longer than MPROC_TARGET_NAME_MAX),
 * MPROC_EDUPTARGET (name taken by another function: from now on the name
 * is refused everywhere; mproc_last_error() names both), MPROC_ENOMEM. */
MPROC_API int mproc_target_register(const char *name, mproc_target_fn fn);

/* As mproc_target_register, saying where the registration is made (e.g.
 * "square.c:12", kept as given: a string that lives as long as the
 * program), for the message when two collide. MPROC_TARGET uses it. */
MPROC_API int mproc_target_register_at(const char *name, mproc_target_fn fn,
                             const char *where);

/* The function registered under name, or NULL (none, or two functions
 * registered under it). */
MPROC_API mproc_target_fn mproc_target_find(const char *name);

/* The name fn was registered under, or NULL. */
MPROC_API const char *mproc_target_name(mproc_target_fn fn);

/* Spawn (multiproc/process.h, MPROC_START_SPAWN): in a process started by
 * spawn, receives the call, runs the target registered under its name and
 * leaves (exit code and reports as with fork): never returns. In any other
 * process, returns 0 at once, and from then on this program may start
 * spawn children.
 * Every file that uses MPROC_TARGET calls it before main(), once every
 * MPROC_TARGET is registered: nothing to do then. A program whose spawn
 * targets are registered otherwise (mproc_target_register) calls it itself
 * as soon as they are, at the top of main(), before anything else that
 * should not happen in a child. Cannot fail in the parent; a child that
 * cannot run its call (its target not registered, the call damaged)
 * reports that to its parent and leaves with exit code 1. */
MPROC_API int mproc_spawn_child_main(void);

#define MPROC__STR2(x) #x
#define MPROC__STR(x) MPROC__STR2(x)

/* Defines and registers a target; see above. A collision is reported when
 * the name is used (the constructor has no one to tell). The registration
 * runs with constructor priority 101, before every constructor without a
 * priority, where mproc_spawn_child_main is called: a spawned child then
 * finds every target registered. */
#define MPROC_TARGET(name)                                                 \
  static int name(mproc_call_t *call);                                     \
  __attribute__((constructor(101))) static void mproc__register_##name(   \
      void) {                                                              \
    (void)mproc_target_register_at(#name, name,                            \
                                   __FILE__ ":" MPROC__STR(__LINE__));     \
  }                                                                        \
  __attribute__((constructor)) static void mproc__spawn_check_##name(     \
      void) {                                                              \
    (void)mproc_spawn_child_main();                                        \
  }                                                                        \
  static int name(mproc_call_t *call)

#ifdef __cplusplus
}
#endif

#endif /* MPROC_TARGET_H */
