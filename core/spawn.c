/* The spawn start method: the parent's preparation and the child's
 * recognition (spawn.h). */
#include "core/spawn.h"

#include <dlfcn.h>
#include <stdint.h>
#include <errno.h>
#include <stdatomic.h>
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

/* Set once mproc_spawn_child_main has run in this process (and returned):
 * then this program's children recognise themselves too. */
static atomic_bool ready;

extern char **environ;

int mproc__spawn_check(const mproc_process_t *p, const char *method) {
  if (!atomic_load(&ready))
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

static bool is_ours(const char *var) {
  return strncmp(var, SPEC_VAR "=", sizeof SPEC_VAR) == 0 ||
         strncmp(var, NAME_VAR "=", sizeof NAME_VAR) == 0;
}

int mproc__spawn_prepare_spec(mproc__spawn_t *s, const char *spec,
                              const char *name) {
  memset(s, 0, sizeof *s);
  size_t n = 0;
  for (char **e = environ; e != NULL && *e != NULL; e++) n++;
  size_t spec_len = sizeof SPEC_VAR + strlen(spec) + 1;
  size_t name_len = sizeof NAME_VAR + strlen(name) + 1;
  size_t ptrs = (n + 3) * sizeof(char *);
  char **envp = malloc(ptrs + spec_len + name_len);
  if (envp == NULL) return MPROC_ENOMEM;
  char *strings = (char *)envp + ptrs;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!is_ours(environ[i])) envp[k++] = environ[i];
  snprintf(strings, spec_len, SPEC_VAR "=%s", spec);
  envp[k++] = strings;
  strings += spec_len;
  snprintf(strings, name_len, NAME_VAR "=%s", name);
  envp[k++] = strings;
  envp[k] = NULL;
  s->envp = envp;
  s->argv[0] = program_invocation_name;
  s->argv[1] = NULL;
  s->exec.path = "/proc/self/exe";
  s->exec.argv = s->argv;
  s->exec.envp = envp;
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

bool mproc__spawn_ready(void) { return atomic_load(&ready); }

void mproc__spawn_release(mproc__spawn_t *s) {
  free(s->envp);
  s->envp = NULL;
}

int mproc_spawn_child_main(void) {
  const char *spec = getenv(SPEC_VAR);
  if (spec == NULL) {
    atomic_store(&ready, true);
    return 0;
  }
  int ctl = -1;
  if (sscanf(spec, "S %d", &ctl) == 1 && ctl >= 0) {
    /* The fork server of core/forkserver.h. */
    unsetenv(SPEC_VAR);
    unsetenv(NAME_VAR);
    atomic_store(&ready, true);
    mproc__forkserver_main(ctl);
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
  atomic_store(&ready, true);
  mproc__spawned_main(identity, name, daemon != 0, sock, sentinel, max_frame);
}
