/* Pipe and Connection: see pipe.h. */
#include "multiproc/pipe.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/buf.h"
#include "core/base/clock.h"
#include "core/base/io.h"
#include "multiproc/frame.h"
#include "serialization/frame_internal.h"
#include "serialization/reader.h"

struct mproc_conn {
  int fd;
  bool readable, writable;
};

static mproc_conn_t *conn_new(int fd, bool readable, bool writable) {
  mproc_conn_t *c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  c->fd = fd;
  c->readable = readable;
  c->writable = writable;
  return c;
}

int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, bool duplex) {
  if (a == NULL || b == NULL) return MPROC_EINVAL;
  *a = *b = NULL;
  int fds[2];
  /* Close-on-exec, as every descriptor of multiproc's: a fork keeps them
   * (that is the point), an exec'd program has no use for them. */
  int rc = duplex ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)
                  : pipe2(fds, O_CLOEXEC);
  if (rc < 0) return -errno;
  mproc_conn_t *ca = conn_new(fds[0], true, duplex);
  mproc_conn_t *cb = conn_new(fds[1], duplex, true);
  if (ca == NULL || cb == NULL) {
    free(ca);
    free(cb);
    mproc__close(fds[0]);
    mproc__close(fds[1]);
    return MPROC_ENOMEM;
  }
  *a = ca;
  *b = cb;
  return 0;
}

int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v) {
  if (c == NULL || v == NULL) return MPROC_EINVAL;
  if (!c->writable) return MPROC_EBADF;
  size_t size = mproc_value_encoded_size(v);
  if (size > UINT32_MAX) return MPROC_ETOOBIG;
  /* Header and payload in one buffer, one write: a small message costs
   * no malloc. */
  uint8_t mem[512];
  mproc__buf_t out;
  mproc__buf_lend(&out, mem, sizeof mem);
  int rc = mproc__buf_reserve(&out, MPROC_FRAME_HEADER + size);
  if (rc == 0) {
    mproc__frame_put_header(out.p, (uint32_t)size);
    rc = mproc_value_encode(v, out.p + MPROC_FRAME_HEADER, size);
  }
  if (rc >= 0) rc = mproc__write_full(c->fd, out.p, MPROC_FRAME_HEADER + size);
  mproc__buf_free(&out);
  return rc < 0 ? rc : 0;
}

int mproc_conn_send_bytes(mproc_conn_t *c, const void *p, size_t n) {
  if (c == NULL || (p == NULL && n > 0)) return MPROC_EINVAL;
  if (!c->writable) return MPROC_EBADF;
  return mproc_frame_write(c->fd, p, n);
}

int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **out) {
  if (out == NULL) return MPROC_EINVAL;
  *out = NULL;
  if (c == NULL) return MPROC_EINVAL;
  if (!c->readable) return MPROC_EBADF;
  /* Exact reads: header, then payload, never a byte of the next message,
   * so the descriptor's readiness stays true to what is left. */
  uint8_t mem[512];
  mproc__reader_t r;
  mproc__reader_init(&r, c->fd, UINT32_MAX, mem, sizeof mem);
  r.exact = true;
  const uint8_t *payload;
  size_t len;
  int rc = mproc__reader_next(&r, &payload, &len);
  if (rc == 0) rc = mproc_value_decode(out, payload, len);
  mproc__reader_free(&r);
  return rc;
}

int mproc_conn_recv_bytes(mproc_conn_t *c, void **p, size_t *n) {
  if (p == NULL || n == NULL) return MPROC_EINVAL;
  *p = NULL;
  *n = 0;
  if (c == NULL) return MPROC_EINVAL;
  if (!c->readable) return MPROC_EBADF;
  return mproc_frame_read(c->fd, UINT32_MAX, p, n);
}

int mproc_conn_poll(mproc_conn_t *c, double timeout_s) {
  if (c == NULL || !mproc__timeout_valid(timeout_s)) return MPROC_EINVAL;
  if (!c->readable) return MPROC_EBADF;
  struct pollfd pfd = {c->fd, POLLIN, 0};
  int rc = mproc__poll(&pfd, 1, timeout_s == 0 ? 0 : mproc__deadline(timeout_s));
  if (rc < 0) return rc;
  return rc > 0 ? 1 : 0;
}

int mproc_conn_fileno(const mproc_conn_t *c) {
  return c == NULL ? MPROC_EINVAL : c->fd;
}

bool mproc_conn_readable(const mproc_conn_t *c) {
  return c != NULL && c->readable;
}

bool mproc_conn_writable(const mproc_conn_t *c) {
  return c != NULL && c->writable;
}

int mproc_conn_close(mproc_conn_t *c) {
  if (c == NULL) return 0;
  mproc__close(c->fd);
  free(c);
  return 0;
}
