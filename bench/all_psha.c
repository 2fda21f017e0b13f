/* //bench:all, the main job: examples/psha256 over 20,000 small files (from
 * /usr/share and /usr/lib) and over a dozen large ones, with -j<cores>
 * against -j1 and against `xargs -0 -P<cores> -n 64 sha256sum`. Every run
 * prints to /dev/null; a first unmeasured run warms the page cache. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/all.h"

extern char **environ;

typedef struct {
  char *path;
  off_t size;
} file_t;

static file_t *found;
static size_t nfound, capfound;

static int collect(const char *path, const struct stat *st, int type,
                   struct FTW *ftw) {
  (void)ftw;
  if (type != FTW_F || !S_ISREG(st->st_mode) || access(path, R_OK) != 0)
    return 0;
  if (nfound == capfound) {
    capfound = capfound ? capfound * 2 : 4096;
    found = realloc(found, capfound * sizeof *found);
    if (found == NULL) bench_die("realloc", strerror(errno));
  }
  found[nfound].path = strdup(path);
  found[nfound].size = st->st_size;
  nfound++;
  return 0;
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const file_t *)a)->path, ((const file_t *)b)->path);
}

static int by_size(const void *a, const void *b) {
  off_t x = ((const file_t *)a)->size, y = ((const file_t *)b)->size;
  return (x > y) - (x < y);
}

/* Seconds argv takes to run (stdout to /dev/null, stdin from in if not
 * NULL). */
static double run_s(char *const argv[], const char *in) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (in != NULL) posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) bench_die(argv[0], strerror(rc));
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) bench_die("waitpid", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die(argv[0], "did not exit with 0");
  return (double)(bench_now_ns() - t0) / 1e9;
}

typedef struct {
  const char *psha;
  char *list; /* NUL-separated file list, for xargs */
  char **argv; /* psha256 -jN paths... */
  size_t n;
} set_t;

static void make_set(set_t *s, const char *psha, file_t *files, size_t n) {
  s->psha = psha;
  s->n = n;
  char tmpl[] = "/tmp/mproc-bench-psha-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) bench_die("mkstemp", strerror(errno));
  FILE *f = fdopen(fd, "w");
  for (size_t i = 0; i < n; i++) fwrite(files[i].path, 1, strlen(files[i].path) + 1, f);
  fclose(f);
  s->list = strdup(tmpl);
  s->argv = calloc(n + 4, sizeof *s->argv);
  if (s->argv == NULL) bench_die("calloc", strerror(errno));
  s->argv[0] = (char *)psha;
  s->argv[1] = "-j";
  for (size_t i = 0; i < n; i++) s->argv[3 + i] = files[i].path;
}

static double psha_s(set_t *s, unsigned jobs) {
  char j[16];
  snprintf(j, sizeof j, "%u", jobs);
  s->argv[2] = j;
  return run_s(s->argv, NULL);
}

static double xargs_s(set_t *s, unsigned jobs) {
  char p[16];
  snprintf(p, sizeof p, "-P%u", jobs);
  char *argv[] = {"/usr/bin/xargs", "-0", p, "-n", "64", "sha256sum", NULL};
  return run_s(argv, s->list);
}

static void rows_for(const bench_opts_t *o, const char *name, set_t *s) {
  unsigned cores = o->workers;
  (void)xargs_s(s, cores); /* page cache */
  double j1[64] = {0}, jn[64] = {0}, xa[64] = {0};
  for (size_t r = 0; r < o->rounds; r++) {
    if (r % 2) {
      xa[r] = xargs_s(s, cores);
      jn[r] = psha_s(s, cores);
      j1[r] = psha_s(s, 1);
    } else {
      j1[r] = psha_s(s, 1);
      jn[r] = psha_s(s, cores);
      xa[r] = xargs_s(s, cores);
    }
  }
  double m1 = bench_median(j1, o->rounds), mn = bench_median(jn, o->rounds),
         mx = bench_median(xa, o->rounds);
  char label[64], ref[32];
  snprintf(label, sizeof label, "psha256 %s: -j%u vs -j1", name, cores);
  bench_row(label, bench_fmt("%.3f s", mn), bench_fmt("%.3f s -j1", m1),
            m1 / mn, ">= 1.8x -j1", m1 / mn >= 1.8);
  snprintf(label, sizeof label, "psha256 %s: vs xargs -P%u", name, cores);
  snprintf(ref, sizeof ref, "%.3f s xargs", mx);
  bench_row(label, bench_fmt("%.3f s", mn), ref, mx / mn, ">= 1x xargs",
            mn <= mx);
}

void bench_group_psha(const bench_opts_t *o) {
  const char *psha = bench_runfile(o->argv0, "examples/psha256");
  if (psha == NULL) {
    bench_note("psha256 rows skipped: examples/psha256 not in runfiles");
    return;
  }
  char psha_path[4096];
  snprintf(psha_path, sizeof psha_path, "%s", psha);
  nftw("/usr/lib", collect, 64, FTW_PHYS);
  nftw("/usr/share", collect, 64, FTW_PHYS);
  qsort(found, nfound, sizeof *found, by_path);

  /* Small: the first 20,000 files of at most 64 KiB, in path order. */
  size_t want = o->quick ? 2000 : 20000;
  file_t *small = malloc(want * sizeof *small);
  size_t ns = 0;
  for (size_t i = 0; i < nfound && ns < want; i++)
    if (found[i].size <= (64 << 10)) small[ns++] = found[i];

  /* Large: twelve files of 8 to 128 MiB whose sizes are closest to each
   * other (so that no split of them between workers is forced uneven). */
  size_t nl = 12;
  file_t *large = malloc(nfound * sizeof *large);
  size_t nbig = 0;
  off_t lo = (off_t)8 << 20, hi = (off_t)(o->quick ? 16 : 128) << 20;
  for (size_t i = 0; i < nfound; i++)
    if (found[i].size >= lo && found[i].size <= hi) large[nbig++] = found[i];
  qsort(large, nbig, sizeof *large, by_size);
  size_t best = 0;
  double best_spread = INFINITY;
  for (size_t i = 0; i + nl <= nbig; i++) {
    double spread = (double)large[i + nl - 1].size / (double)large[i].size;
    if (spread < best_spread) {
      best_spread = spread;
      best = i;
    }
  }
  if (nbig < nl) nl = nbig;
  double total_mb = 0;
  for (size_t i = 0; i < nl; i++) total_mb += (double)large[best + i].size / 1e6;

  set_t s_small, s_large;
  make_set(&s_small, psha_path, small, ns);
  make_set(&s_large, psha_path, large + best, nl);
  char name[64];
  snprintf(name, sizeof name, "%zu small files", ns);
  rows_for(o, name, &s_small);
  snprintf(name, sizeof name, "%zu large files", nl);
  rows_for(o, name, &s_large);
  bench_note("psha256 sets: %zu files <= 64 KiB (first in path order under "
             "/usr/lib, /usr/share); %zu files of %.0f MB in all "
             "(%.1f-%.1f MB each)",
             ns, nl, total_mb, nl ? (double)large[best].size / 1e6 : 0.0,
             nl ? (double)large[best + nl - 1].size / 1e6 : 0.0);
  unlink(s_small.list);
  unlink(s_large.list);
}
