/* The spawn start method: the parent's preparation and the child's
 * recognition (spawn.h). */
#include "core/spawn.h"

#include <dlfcn.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/forkserver.h"
#include "multiproc/target.h"

#define SPEC_VAR "MPROC_SPAWN"
#define NAME_VAR "MPROC_SPAWN_NAME"
#define SPEC_VERSION 1

int mproc__spawn_check(const mproc_process_t *p, const char *method) {
  if (!mproc__spawn_ready())
    return mproc__fail(
        MPROC_ENOSYS,
        "mproc_process_start: the %s start method needs a program that "
        "recognises its spawned children before main(): this one defines "
        "no MPROC_TARGET and never called mproc_spawn_child_main()",
        method);
  if (p->target_name == NULL) {
    Dl_info info;
    const char *sym = NULL;
    if (dladdr((void *)(uintptr_t)p->target, &info) != 0 &&
        info.dli_sname != NULL && info.dli_saddr == (void *)(uintptr_t)p->target)
      sym = info.dli_sname;
    char fn[160];
    if (sym != NULL)
      snprintf(fn, sizeof fn, "%s()", sym);
    else
      snprintf(fn, sizeof fn, "the function at %p",
               (void *)(uintptr_t)p->target);
    return mproc__fail(
        MPROC_ENOTARGET,
        "mproc_process_start: %s is not registered for %s: a %s child runs "
        "its target by name; define it with MPROC_TARGET (or register it "
        "with mproc_target_register before main())",
        fn, method, strcmp(method, "spawn") == 0 ? "spawned" : method);
  }
  if (p->ctx != NULL)
    return mproc__fail(MPROC_EINVAL,
                       "mproc_process_start: opts.ctx must be NULL with the "
                       "%s start method (a pointer into this process "
                       "cannot cross exec)",
                       method);
  return 0;
}

int mproc__spawn_prepare(mproc__spawn_t *s, const mproc_process_t *p,
                         int sock, int sentinel) {
  char spec[320];
  int len = snprintf(spec, sizeof spec, "%d %d %d %d %zu %s", SPEC_VERSION,
                     sock, sentinel, p->daemon ? 1 : 0, p->max_frame,
                     p->child_identity);
  if (len < 0 || (size_t)len >= sizeof spec) return MPROC_ENOMEM;
  return mproc__spawn_prepare_spec(s, spec, p->name);
}

int mproc_spawn_child_main(void) {
  const char *spec = getenv(SPEC_VAR);
  if (spec == NULL) {
    mproc__spawn_set_ready();
    return 0;
  }
  int ctl = -1;
  if (sscanf(spec, "S %d", &ctl) == 1 && ctl >= 0) {
    /* The fork server of core/forkserver.h. */
    unsetenv(SPEC_VAR);
    unsetenv(NAME_VAR);
    mproc__spawn_set_ready();
    mproc__forkserver_main(ctl);
  }
  /* A mode of a higher layer (spawn_env.h): "<letter> <args>". */
  mproc__spawn_mode_fn mode =
      spec[0] != '\0' && spec[1] == ' ' ? mproc__spawn_mode_find(spec[0])
                                         : NULL;
  if (mode != NULL) {
    char *args = strdup(spec + 2); /* kept for the process's life */
    unsetenv(SPEC_VAR);
    unsetenv(NAME_VAR);
    if (args == NULL) _exit(1);
    mproc__spawn_set_ready();
    mode(args);
    _exit(1); /* modes never return */
  }
  int version = 0, sock = -1, sentinel = -1, daemon = 0, at = 0;
  size_t max_frame = 0;
  if (sscanf(spec, "%d %d %d %d %zu %n", &version, &sock, &sentinel, &daemon,
             &max_frame, &at) < 5 ||
      version != SPEC_VERSION || at == 0 || sock < 0) {
    /* Not ours to run, and not the program's main either: say so. */
    fprintf(stderr, "multiproc: %s is malformed ('%s'): not a spawned child\n",
            SPEC_VAR, spec);
    _exit(1);
  }
  /* Kept for the process's life (the registry holds them). */
  char *identity = strdup(spec + at);
  const char *name_env = getenv(NAME_VAR);
  char *name = strdup(name_env != NULL ? name_env : "Process");
  unsetenv(SPEC_VAR);
  unsetenv(NAME_VAR);
  if (identity == NULL || name == NULL) _exit(1);
  mproc__spawn_set_ready();
  mproc__spawned_main(identity, name, daemon != 0, sock, sentinel, max_frame);
}
