/* Spilling values to memory files: see spill.h. */
#include "core/ipc/spill.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h> /* memfd_create */
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/fdpass.h"
#include "core/base/io.h"
#include "serialization/value_ext.h"

static void hold_locked(mproc__spill_t *s, int fd) {
  mproc__assert_registry_locked();
  mproc__node_init(&s->node, NULL);
  s->node.fds[0] = fd;
  mproc__node_link(&s->node);
}

int mproc__spill_fd(const mproc__spill_t *s) { return s->node.fds[0]; }

void mproc__spill_release(mproc__spill_t *s) {
  if (!s->node.linked) return;
  mproc__lock();
  mproc__close(s->node.fds[0]);
  s->node.fds[0] = -1;
  mproc__node_unlink(&s->node);
  mproc__unlock();
}

int mproc__spill_write(mproc__spill_t *s, const mproc_value_t *v) {
  mproc__node_init(&s->node, NULL);
  s->size = mproc_value_encoded_size(v);
  mproc__lock();
  int fd = memfd_create("mproc-spill", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int rc = fd < 0 ? -errno : 0;
  if (rc == 0) hold_locked(s, fd);
  mproc__unlock();
  if (rc < 0) return rc;
  /* Written, not mapped: a write to a memory file's fresh pages need not
   * zero them first, and no page table is filled (half the cost of a
   * mapping for 256 MiB). */
  rc = mproc__value_write_fd(v, fd);
  /* Sealed: the receiver maps it knowing it can neither shrink under the
   * mapping (a SIGBUS on reading) nor change. */
  if (rc == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
                                            F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    rc = -errno;
  if (rc == -EFBIG) rc = MPROC_ETOOBIG;
  if (rc < 0) mproc__spill_release(s);
  return rc;
}

void mproc__spill_adopt_locked(mproc__spill_t *s, int fd) {
  mproc__assert_registry_locked();
  hold_locked(s, fd);
  struct stat st;
  s->size = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
}

int mproc__spill_read_fd(int fd, size_t size, mproc_value_t **out) {
  *out = NULL;
  /* Trusted only when it can no longer change. */
  struct stat st;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 ||
      st.st_size < 0 || (uint64_t)st.st_size != size)
    return mproc__fail(MPROC_EMALFORMED,
                       "a spilled value's memory file is not sealed at %zu "
                       "bytes",
                       size);
  /* Read, not mapped: straight into the value's memory. */
  return mproc__value_read_fd(out, fd, size);
}

int mproc__spill_read(const mproc__spill_t *s, mproc_value_t **out) {
  return mproc__spill_read_fd(s->node.fds[0], s->size, out);
}

int mproc__send_fd(int sock, const void *data, size_t n, int fd, int flags) {
  for (;;) {
    ssize_t w = mproc__send_fds(sock, data, n, &fd, 1, flags);
    if (w > 0) {
      /* The descriptor went with the first byte; the rest is plain. */
      size_t sent = (size_t)w;
      return sent == n ? 0
                       : mproc__write_full(sock, (const char *)data + sent,
                                           n - sent);
    }
    if (w < 0) return (int)w;
  }
}

int mproc__recv_fd_locked(int sock, int *fd, int flags) {
  mproc__assert_registry_locked();
  *fd = -1;
  char byte;
  int nfds = 0;
  bool truncated = false;
  /* One descriptor is sent per byte; any extra is closed. */
  ssize_t n = mproc__recv_fds(sock, &byte, 1, fd, 1, &nfds, &truncated, flags);
  if (n < 0) return (int)n;
  if (nfds == 0) *fd = -1;
  /* A descriptor came, but the kernel had no slot to give it (EMFILE) and
   * dropped it. */
  if (*fd < 0 && truncated) return -EMFILE;
  return n > 0 ? 1 : 0;
}
