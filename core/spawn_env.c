/* The fresh image's shared pieces: see spawn_env.h. */
#include "core/spawn_env.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multiproc/error.h"

#define SPEC_VAR "MPROC_SPAWN"
#define NAME_VAR "MPROC_SPAWN_NAME"

/* Set once mproc_spawn_child_main has run in this process (and returned):
 * then this program's children recognise themselves too. */
static atomic_bool ready;

/* Modes by letter 'A'..'Z'; written by constructors before main(), read
 * by mproc_spawn_child_main. */
static _Atomic(mproc__spawn_mode_fn) modes[26];

extern char **environ;

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

void mproc__spawn_release(mproc__spawn_t *s) {
  free(s->envp);
  s->envp = NULL;
}

bool mproc__spawn_ready(void) { return atomic_load(&ready); }

void mproc__spawn_set_ready(void) { atomic_store(&ready, true); }

void mproc__spawn_mode_register(char letter, mproc__spawn_mode_fn main) {
  if (letter >= 'A' && letter <= 'Z' && letter != 'S')
    atomic_store(&modes[letter - 'A'], main);
}

mproc__spawn_mode_fn mproc__spawn_mode_find(char letter) {
  if (letter < 'A' || letter > 'Z') return NULL;
  return atomic_load(&modes[letter - 'A']);
}
