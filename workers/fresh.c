/* The pool's fresh fork server: the parent's memory file, and the exec'd
 * server's start (fresh.h). */
#include "workers/fresh.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/io.h"
#include "core/fork.h"
#include "core/registry.h"
#include "core/spawn_env.h"
#include "multiproc/target.h"
#include "workers/forkserver.h"

#define MAGIC 0x6d706f6f6c463031ull /* "mpoolF01" */

/* Both ends are the same program: plain fields. */
typedef struct {
  uint64_t magic;
  uint64_t nposts;
  uint64_t max_frame, max_rss_kb, task_timeout_ns;
  sigset_t mask;
  uint32_t sigchld_ignored;
  uint32_t name_len;      /* 0: no initializer */
  uint64_t initargs_len;  /* 0: NULL initargs */
} header_t;

static size_t board_bytes(size_t n) {
  size_t bytes = (n ? n : 1) * sizeof(mproc__post_t);
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (bytes + page - 1) / page * page;
}

static int write_all_at(int fd, const void *p, size_t len, off_t at) {
  const char *c = p;
  while (len > 0) {
    ssize_t n = pwrite(fd, c, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : MPROC_EIO;
    c += n;
    len -= (size_t)n;
    at += n;
  }
  return 0;
}

static int read_all_at(int fd, void *p, size_t len, off_t at) {
  char *c = p;
  while (len > 0) {
    ssize_t n = pread(fd, c, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    c += n;
    len -= (size_t)n;
    at += n;
  }
  return 0;
}

int mproc__fresh_new(const mproc__worker_cfg_t *cfg, size_t n, int *fd_out,
                     mproc__post_t **board_out) {
  *fd_out = -1;
  *board_out = NULL;
  header_t h;
  memset(&h, 0, sizeof h);
  h.magic = MAGIC;
  h.nposts = n;
  h.max_frame = cfg->max_frame;
  h.max_rss_kb = cfg->max_rss_kb;
  h.task_timeout_ns = cfg->task_timeout_ns;
  h.mask = cfg->mask;
  h.sigchld_ignored = cfg->sigchld_ignored;
  const char *name =
      cfg->initializer != NULL ? mproc_target_name(cfg->initializer) : NULL;
  if (cfg->initializer != NULL && name == NULL) return MPROC_ENOTARGET;
  h.name_len = name != NULL ? (uint32_t)strlen(name) : 0;
  h.initargs_len = cfg->initargs ? mproc_value_encoded_size(cfg->initargs) : 0;
  char *args = NULL;
  if (h.initargs_len > 0) {
    args = malloc(h.initargs_len);
    if (args == NULL) return MPROC_ENOMEM;
    int rc = mproc_value_encode(cfg->initargs, args, h.initargs_len);
    if (rc < 0) {
      free(args);
      return rc;
    }
  }
  size_t at = board_bytes(n);
  int rc = 0;
  int fd = memfd_create("multiproc-pool", MFD_CLOEXEC);
  if (fd < 0) rc = -errno;
  if (rc == 0 &&
      ftruncate(fd, (off_t)(at + sizeof h + h.name_len + h.initargs_len)) < 0)
    rc = -errno;
  if (rc == 0) rc = write_all_at(fd, &h, sizeof h, (off_t)at);
  if (rc == 0 && h.name_len)
    rc = write_all_at(fd, name, h.name_len, (off_t)(at + sizeof h));
  if (rc == 0 && h.initargs_len)
    rc = write_all_at(fd, args, h.initargs_len,
                      (off_t)(at + sizeof h + h.name_len));
  free(args);
  void *board = MAP_FAILED;
  if (rc == 0) {
    board = mmap(NULL, (n ? n : 1) * sizeof(mproc__post_t),
                 PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (board == MAP_FAILED) rc = -errno;
  }
  if (rc < 0) {
    mproc__close(fd);
    return rc;
  }
  *fd_out = fd;
  *board_out = board; /* a fresh file reads as zeroes */
  return 0;
}

/* ---- The exec'd server: "P <ctl> <memfd> <posts>" in MPROC_SPAWN. */

static void fresh_server_main(const char *args) __attribute__((noreturn));
static void fresh_server_main(const char *args) {
  int ctl = -1, fd = -1;
  size_t nposts = 0;
  if (sscanf(args, "%d %d %zu", &ctl, &fd, &nposts) != 3 || ctl < 0 ||
      fd < 0) {
    fprintf(stderr, "multiproc: malformed pool server spec '%s'\n", args);
    _exit(1);
  }
  /* Its own descriptor registered, so that the workers it forks close it
   * (the registry is empty: nothing else is closed). */
  int own[2] = {ctl, -1};
  mproc__registry_child_reset("", "PoolServer", false, own);
  size_t at = board_bytes(nposts);
  header_t h;
  /* Static: reachable (no leak report) from the workers, which never
   * return here. */
  static mproc__worker_cfg_t cfg;
  static char name[MPROC_TARGET_NAME_MAX + 1];
  static mproc_value_t *initargs;
  char *buf = NULL;
  if (read_all_at(fd, &h, sizeof h, (off_t)at) < 0 || h.magic != MAGIC ||
      h.nposts != nposts || h.name_len > MPROC_TARGET_NAME_MAX)
    _exit(1);
  if (h.name_len && read_all_at(fd, name, h.name_len, (off_t)(at + sizeof h)))
    _exit(1);
  if (h.initargs_len > 0) {
    buf = malloc(h.initargs_len);
    if (buf == NULL ||
        read_all_at(fd, buf, h.initargs_len,
                    (off_t)(at + sizeof h + h.name_len)) < 0 ||
        mproc_value_decode(&initargs, buf, h.initargs_len) < 0)
      _exit(1);
    free(buf);
  }
  void *board = mmap(NULL, (h.nposts ? h.nposts : 1) * sizeof(mproc__post_t),
                     PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (board == MAP_FAILED) _exit(1);
  mproc__close(fd); /* the mapping stays; the workers need no descriptor */
  cfg.board = board;
  cfg.max_frame = h.max_frame;
  cfg.max_rss_kb = h.max_rss_kb;
  cfg.task_timeout_ns = h.task_timeout_ns;
  cfg.mask = h.mask;
  cfg.sigchld_ignored = h.sigchld_ignored != 0;
  cfg.initargs = initargs;
  if (h.name_len) {
    cfg.initializer = mproc_target_find(name);
    /* Registered in the parent only (after main): each worker says so,
     * and the pool breaks with that message. */
    if (cfg.initializer == NULL) cfg.initializer_name = name;
  }
  mproc__server_main(&cfg, ctl);
  mproc__child_exit(0);
}

__attribute__((constructor(101))) static void register_pool_server(void) {
  mproc__spawn_mode_register('P', fresh_server_main);
}
