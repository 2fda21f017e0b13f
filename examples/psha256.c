/* psha256: a parallel sha256sum on a multiproc pool.
 *
 *   bazel run //examples:psha256 -- [-j N] [-r] [--stats] PATH...
 *
 * Prints exactly what coreutils' sha256sum prints for the same files — same
 * order, same format, same escaping of odd names — so the two can be
 * diffed; errors go to stderr in sha256sum's words ("psha256: PATH: No such
 * file or directory") and make the exit status 1. Each file is one task, so
 * a worker that crashes costs that one file an error line, never the
 * others.
 *
 *   -j N      worker processes (default: one per CPU)
 *   -r        hash the regular files under each directory, in byte order
 *             of their paths (like `find DIR -type f | LC_ALL=C sort`)
 *   --stats   after the list, a per-worker timing table on stderr (pid: the
 *             slot's last worker; the table comes after join)
 *
 * A progress line is drawn on stderr while it runs, when stderr is a
 * terminal. Files are hashed with OpenSSL's libcrypto (EVP, SHA-256).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "examples/check.h"
#include "multiproc.h"

/* For tests: a worker that is asked to hash this path aborts, to show that
 * a crash costs only that file. */
#define CRASH_ENV "PSHA256_CRASH_ON"

/* Hex SHA-256 of everything read from fd into out (65 bytes); 0 or errno. */
static int hash_fd(int fd, char out[65]) {
  static unsigned char buf[1 << 20]; /* one worker, one task at a time */
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    return ENOMEM;
  }
  int err = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf, (size_t)n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (err == 0 && EVP_DigestFinal_ex(ctx, md, &len) != 1) err = EIO;
  EVP_MD_CTX_free(ctx);
  for (unsigned i = 0; err == 0 && i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return err;
}

/* The task: the hex digest of one file, or its error in strerror's words
 * (what sha256sum prints after "PATH: "). */
MPROC_TARGET(sha256_file) {
  const char *path;
  if (mproc_unpack(call, "path=s", &path) < 0) return -1;
  const char *crash = getenv(CRASH_ENV);
  if (crash != NULL && strcmp(crash, path) == 0) abort();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mproc_call_fail(call, "%s", strerror(errno));
  char hex[65];
  int err = hash_fd(fd, hex);
  close(fd);
  if (err != 0) return mproc_call_fail(call, "%s", strerror(err));
  return mproc_call_return(call, "s", hex);
}

/* ---- The list of files. */

typedef struct {
  char **v;
  size_t n, cap;
} paths_t;

static void out_of_memory(void) __attribute__((noreturn));

static void out_of_memory(void) {
  fprintf(stderr, "psha256: out of memory\n");
  exit(2);
}

static void push(paths_t *p, char *path) {
  if (path == NULL) out_of_memory();
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 64;
    p->v = realloc(p->v, p->cap * sizeof *p->v);
    if (p->v == NULL) out_of_memory();
  }
  p->v[p->n++] = path;
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files under dir (not following symlinks), appended to out. */
static void walk(const char *dir, paths_t *out, int *status) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "psha256: %s: %s\n", dir, strerror(errno));
    *status = 1;
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    char *path = malloc(len);
    if (path == NULL) out_of_memory();
    snprintf(path, len, "%s%s%s", dir,
             dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0) {
      fprintf(stderr, "psha256: %s: %s\n", path, strerror(errno));
      *status = 1;
      free(path);
    } else if (S_ISDIR(st.st_mode)) {
      walk(path, out, status);
      free(path);
    } else if (S_ISREG(st.st_mode)) {
      push(out, path);
    } else {
      free(path);
    }
  }
  closedir(d);
}

/* sha256sum's escaping: a name holding a backslash, newline or carriage
 * return is printed with those escaped and the line starts with '\'. */
static void print_line(const char *hex, const char *name) {
  bool esc = strpbrk(name, "\\\n\r") != NULL;
  if (esc) putchar('\\');
  fputs(hex, stdout);
  fputs("  ", stdout);
  for (const char *c = name; *c; c++) {
    if (!esc) {
      putchar(*c);
    } else if (*c == '\\') {
      fputs("\\\\", stdout);
    } else if (*c == '\n') {
      fputs("\\n", stdout);
    } else if (*c == '\r') {
      fputs("\\r", stdout);
    } else {
      putchar(*c);
    }
  }
  putchar('\n');
}

/* ---- Feeding the pool lazily, one path per task. */

typedef struct {
  paths_t *paths;
  size_t next;
} feed_t;

static int next_path(void *ctx, mproc_value_t **args) {
  feed_t *f = ctx;
  if (f->next == f->paths->n) return 0;
  int rc = mproc_pack(args, "(s)", f->paths->v[f->next++]);
  return rc < 0 ? rc : 1;
}

/* The progress line, from the iterator's counters (mproc_progress_t): the
 * pool hands them over from mproc_iter_next at most every 0.1 s, and the
 * line is drawn after the result lines of that call. */
typedef struct {
  size_t files;
  bool due;
  mproc_progress_t p;
} progress_t;

static void on_progress(const mproc_progress_t *p, void *ctx) {
  progress_t *pr = ctx;
  pr->p = *p;
  pr->due = true;
}

static void draw_progress(progress_t *pr) {
  if (!pr->due) return;
  pr->due = false;
  fflush(stdout);
  fprintf(stderr, "\rpsha256: %zu/%zu files", pr->p.done, pr->files);
  if (pr->p.failed > 0) fprintf(stderr, ", %zu failed", pr->p.failed);
  fprintf(stderr, " (%.0f/s)", pr->p.rate);
}

static void print_stats(mproc_pool_t *pool) {
  size_t n = mproc_pool_size(pool);
  mproc_worker_stats_t *st = calloc(n, sizeof *st);
  if (st == NULL || mproc_pool_stats(pool, st, n, &n) < 0) return;
  fprintf(stderr, "%-6s %8s %8s %9s %9s %9s %9s %10s %8s\n", "worker", "pid",
          "tasks", "busy_s", "idle_s", "user_s", "sys_s", "maxrss_kb",
          "restarts");
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "%-6d %8d %8llu %9.3f %9.3f %9.3f %9.3f %10ld %8u\n",
            st[i].slot, (int)st[i].last_pid, (unsigned long long)st[i].tasks,
            st[i].busy_s, st[i].idle_s, st[i].user_s, st[i].sys_s,
            st[i].max_rss_kb, st[i].restarts);
  free(st);
}

static void usage(void) {
  fprintf(stderr, "usage: psha256 [-j N] [-r] [--stats] PATH...\n");
  exit(2);
}

int main(int argc, char **argv) {
  /* bazel run starts us in the runfiles tree; paths are the user's. */
  const char *cwd = getenv("BUILD_WORKING_DIRECTORY");
  if (cwd != NULL && chdir(cwd) != 0) {
    perror(cwd);
    return 2;
  }
  unsigned jobs = 0;
  bool recursive = false, stats = false, options = true;
  paths_t inputs = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options && strcmp(a, "--") == 0) {
      options = false;
    } else if (options && strcmp(a, "-j") == 0 && i + 1 < argc) {
      jobs = (unsigned)atoi(argv[++i]);
      if (jobs == 0) usage();
    } else if (options && strcmp(a, "-r") == 0) {
      recursive = true;
    } else if (options && strcmp(a, "--stats") == 0) {
      stats = true;
    } else if (options && a[0] == '-' && a[1] != '\0') {
      usage();
    } else {
      push(&inputs, (char *)a);
    }
  }
  if (inputs.n == 0) usage();

  int status = 0;
  paths_t files = {0};
  for (size_t i = 0; i < inputs.n; i++) {
    struct stat st;
    if (recursive && stat(inputs.v[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      paths_t found = {0};
      walk(inputs.v[i], &found, &status);
      qsort(found.v, found.n, sizeof *found.v, by_bytes);
      for (size_t k = 0; k < found.n; k++) push(&files, found.v[k]);
      free(found.v);
    } else {
      push(&files, strdup(inputs.v[i]));
    }
  }

  mproc_pool_opts_t opts = {0};
  opts.workers = jobs;
  mproc_pool_t *pool;
  check(mproc_pool_new(&pool, &opts), "mproc_pool_new");

  feed_t feed = {&files, 0};
  mproc_imap_opts_t im = {0};
  im.target = "sha256_file";
  im.next = next_path;
  im.next_ctx = &feed;
  /* Many files in flight: each is small work, and the workers should
   * never wait for the next while this process prints (memory stays
   * bounded: a path and a digest each). */
  im.window = 1024;
  bool progress = isatty(2);
  progress_t pr = {files.n, false, {0}};
  if (progress) {
    im.progress = on_progress;
    im.progress_ctx = &pr;
  }
  mproc_iter_t *it;
  check(mproc_pool_imap(pool, &im, &it), "mproc_pool_imap");

  mproc_item_t item;
  int rc;
  while ((rc = mproc_iter_next(it, -1, &item)) == 1) {
    const char *name = files.v[item.index];
    const char *hex;
    if (item.error.code == 0 && mproc_value_get_str(item.result, &hex, NULL) == 0) {
      if (progress) fputs("\r\033[K", stderr);
      print_line(hex, name);
    } else {
      fflush(stdout);
      if (progress) fputs("\r\033[K", stderr);
      fprintf(stderr, "psha256: %s: %s\n", name, item.error.message);
      status = 1;
    }
    if (progress) draw_progress(&pr);
  }
  if (progress) fputs("\r\033[K", stderr);
  fflush(stdout);
  check(rc, "mproc_iter_next");
  mproc_iter_free(it);
  check(mproc_pool_close(pool), "mproc_pool_close");
  check(mproc_pool_join(pool, -1), "mproc_pool_join");
  if (stats) print_stats(pool);
  mproc_pool_free(pool);
  for (size_t i = 0; i < files.n; i++) free(files.v[i]);
  free(files.v);
  free(inputs.v);
  return status;
}
