#include "bench/bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "multiproc.h"

extern char **environ;

void bench_die(const char *what, const char *why) {
  fprintf(stderr, "bench: %s: %s\n", what, why);
  exit(1);
}

void bench_check(int rc, const char *what) {
  if (rc < 0) bench_die(what, mproc_strerror(rc));
}

uint64_t bench_now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    bench_die("clock_gettime", strerror(errno));
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void samples_add(samples_t *s, double x) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    double *grown = realloc(s->v, cap * sizeof *grown);
    if (grown == NULL) bench_die("realloc", strerror(errno));
    s->v = grown;
    s->cap = cap;
  }
  s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

stats_t stats_of(samples_t *s) {
  stats_t st = {0, 0, 0, 0};
  if (s->n == 0) return st;
  double sum = 0;
  for (size_t i = 0; i < s->n; i++) sum += s->v[i];
  qsort(s->v, s->n, sizeof *s->v, cmp_double);
  st.mean = sum / (double)s->n;
  st.median = s->n % 2 ? s->v[s->n / 2]
                       : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
  st.min = s->v[0];
  st.max = s->v[s->n - 1];
  return st;
}

/* path = a + b when it fits and names a readable file. */
static bool try_path(char *path, size_t size, const char *a, const char *b,
                     const char *c) {
  int n = snprintf(path, size, "%s%s%s", a, b, c);
  return n > 0 && (size_t)n < size && access(path, R_OK) == 0;
}

const char *bench_runfile(const char *argv0, const char *rel) {
  static char path[4096];
  const char *dirs[] = {getenv("RUNFILES_DIR"), getenv("TEST_SRCDIR")};
  for (size_t i = 0; i < 2; i++) {
    if (dirs[i] == NULL || dirs[i][0] == '\0') continue;
    if (try_path(path, sizeof path, dirs[i], "/multiproc/", rel)) return path;
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    if (try_path(path, sizeof path, exe, ".runfiles/multiproc/", rel))
      return path;
  }
  if (try_path(path, sizeof path, argv0, ".runfiles/multiproc/", rel))
    return path;
  const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");
  if (ws != NULL && try_path(path, sizeof path, ws, "/", rel)) return path;
  return NULL;
}

char *bench_run_capture(char *const argv[]) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) bench_die("pipe2", strerror(errno));
  posix_spawn_file_actions_t fa;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  if (rc != 0) bench_die("posix_spawn_file_actions", strerror(rc));
  pid_t pid;
  rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) bench_die(argv[0], strerror(rc));
  close(fds[1]);
  size_t len = 0, cap = 4096;
  char *text = malloc(cap);
  if (text == NULL) bench_die("malloc", strerror(errno));
  for (;;) {
    if (cap - len < 1024) {
      cap *= 2;
      char *grown = realloc(text, cap);
      if (grown == NULL) bench_die("realloc", strerror(errno));
      text = grown;
    }
    ssize_t r = read(fds[0], text + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) bench_die("read", strerror(errno));
    if (r == 0) break;
    len += (size_t)r;
  }
  text[len] = '\0';
  close(fds[0]);
  int status;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die(argv[0], "did not exit with 0");
  return text;
}

double bench_field(const char *text, const char *key) {
  size_t k = strlen(key);
  for (const char *p = text; (p = strstr(p, key)) != NULL; p++) {
    if ((p == text || p[-1] == '\n') && p[k] == '=') return atof(p + k + 1);
  }
  return NAN;
}
