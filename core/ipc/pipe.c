/* Pipe and Connection: see pipe.h. */
#include "core/base/error_detail.h"
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

/* Messages are frames (a 4-byte length, then the payload). A duplex
 * Connection is a SOCK_SEQPACKET socketpair, which keeps message
 * boundaries: a frame goes as a first record of at most FIRST_RECORD bytes
 * (all of a small message: one system call to send it, one to receive it)
 * and, when larger, continuation records of at most NEXT_RECORD bytes. A
 * receive never takes more than one record, so a reader never reads into
 * the next message and the descriptor's readiness stays true to what is
 * left. A stream socket would need two reads per message for that (the
 * header, then exactly the payload), which costs a round trip ~30% here.
 * A simplex Connection is a real pipe(2), as Python's; it reads the
 * header, then the payload. */
#define FIRST_RECORD 4096
#define NEXT_RECORD ((size_t)64 << 10)

struct mproc_conn {
  int fd;
  bool readable, writable;
  bool packets; /* a SOCK_SEQPACKET socket */
};

static mproc_conn_t *conn_new(int fd, bool readable, bool writable) {
  mproc_conn_t *c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  c->fd = fd;
  c->readable = readable;
  c->writable = writable;
  c->packets = readable && writable;
  return c;
}

int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, bool duplex) {
  if (a == NULL || b == NULL)
    return MPROC__EINVAL("%s is NULL", a == NULL ? "a" : "b");
  *a = *b = NULL;
  int fds[2];
  /* Close-on-exec, as every descriptor of multiproc's: a fork keeps them
   * (that is the point), an exec'd program has no use for them. */
  int rc = duplex ? socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds)
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

/* ---- Sending. */

/* One record; MSG_NOSIGNAL: a gone receiver is EPIPE, never SIGPIPE. */
static int send_record(int fd, struct iovec *iov, int n) {
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)n;
  for (;;) {
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return 0; /* whole or not */
    if (errno != EINTR) return -errno;
  }
}

/* Sends one frame: len payload bytes from p. */
static int send_frame(mproc_conn_t *c, const void *p, size_t len) {
  if (len > UINT32_MAX) return MPROC_ETOOBIG;
  uint8_t hdr[MPROC_FRAME_HEADER];
  mproc__frame_put_header(hdr, (uint32_t)len);
  struct iovec iov[2];
  iov[0].iov_base = hdr;
  iov[0].iov_len = sizeof hdr;
  iov[1].iov_base = (void *)p;
  iov[1].iov_len = len;
  if (!c->packets) return mproc__writev_full(c->fd, iov, 2);
  size_t first = len < FIRST_RECORD - sizeof hdr ? len : FIRST_RECORD - sizeof hdr;
  iov[1].iov_len = first;
  int rc = send_record(c->fd, iov, 2);
  for (size_t at = first; rc == 0 && at < len;) {
    size_t n = len - at < NEXT_RECORD ? len - at : NEXT_RECORD;
    struct iovec next = {(uint8_t *)p + at, n};
    rc = send_record(c->fd, &next, 1);
    at += n;
  }
  return rc;
}

int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v) {
  if (c == NULL || v == NULL)
    return MPROC__EINVAL("%s is NULL", c == NULL ? "c" : "v");
  if (!c->writable) return MPROC_EBADF;
  size_t size = mproc_value_encoded_size(v);
  if (size > UINT32_MAX) return MPROC_ETOOBIG;
  uint8_t mem[512]; /* a small message costs no malloc */
  mproc__buf_t out;
  mproc__buf_lend(&out, mem, sizeof mem);
  int rc = mproc__buf_reserve(&out, size);
  if (rc == 0) rc = mproc_value_encode(v, out.p, size);
  if (rc >= 0) rc = send_frame(c, out.p, size);
  mproc__buf_free(&out);
  return rc < 0 ? rc : 0;
}

int mproc_conn_send_bytes(mproc_conn_t *c, const void *p, size_t n) {
  if (c == NULL || (p == NULL && n > 0))
    return MPROC__EINVAL("%s", c == NULL ? "c is NULL"
                                         : "p is NULL but n is not 0");
  if (!c->writable) return MPROC_EBADF;
  return send_frame(c, p, n);
}

/* ---- Receiving. */

/* One record of at most room bytes into p: its size, 0 at the end of the
 * stream, MPROC_EMALFORMED for a larger record (cut by the kernel: not one
 * of ours), or -errno. */
static ssize_t recv_record(int fd, void *p, size_t room) {
  struct iovec iov = {p, room};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    ssize_t r = recvmsg(fd, &msg, 0);
    if (r >= 0)
      return (msg.msg_flags & MSG_TRUNC) ? MPROC_EMALFORMED : r;
    if (errno != EINTR) return -errno;
  }
}

/* The next frame's payload into b (at its start): *len bytes. */
static int recv_packets(mproc_conn_t *c, mproc__buf_t *b, size_t *len) {
  int rc = mproc__buf_reserve(b, FIRST_RECORD);
  if (rc < 0) return rc;
  ssize_t r = recv_record(c->fd, b->p, FIRST_RECORD);
  if (r == 0) return MPROC_EOF;
  if (r < 0) return (int)r;
  if (r < MPROC_FRAME_HEADER) return MPROC_EMALFORMED;
  size_t want = mproc__frame_get_header(b->p);
  size_t got = (size_t)r - MPROC_FRAME_HEADER;
  if (got > want) return MPROC_EMALFORMED;
  memmove(b->p, b->p + MPROC_FRAME_HEADER, got);
  /* The rest, a record at a time: the buffer grows as records arrive,
   * never to a claimed size. */
  while (got < want) {
    size_t n = want - got < NEXT_RECORD ? want - got : NEXT_RECORD;
    b->len = got;
    rc = mproc__buf_reserve(b, n);
    if (rc < 0) return rc;
    r = recv_record(c->fd, b->p + got, n);
    if (r == 0) return MPROC_ETRUNCATED;
    if (r < 0) return (int)r;
    got += (size_t)r;
  }
  *len = want;
  return 0;
}

int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **out) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (c == NULL) return MPROC__EINVAL("c is NULL");
  if (!c->readable) return MPROC_EBADF;
  uint8_t mem[FIRST_RECORD];
  int rc;
  if (c->packets) {
    mproc__buf_t b;
    mproc__buf_lend(&b, mem, sizeof mem);
    size_t len = 0;
    rc = recv_packets(c, &b, &len);
    if (rc == 0) rc = mproc_value_decode(out, b.p, len);
    mproc__buf_free(&b);
    return rc;
  }
  /* A pipe: header, then exactly the payload (reader.h's exact mode). */
  mproc__reader_t r;
  mproc__reader_init(&r, c->fd, UINT32_MAX, mem, 512);
  r.exact = true;
  const uint8_t *payload;
  size_t len;
  rc = mproc__reader_next(&r, &payload, &len);
  if (rc == 0) rc = mproc_value_decode(out, payload, len);
  mproc__reader_free(&r);
  return rc;
}

int mproc_conn_recv_bytes(mproc_conn_t *c, void **p, size_t *n) {
  if (p == NULL || n == NULL)
    return MPROC__EINVAL("%s is NULL", p == NULL ? "p" : "n");
  *p = NULL;
  *n = 0;
  if (c == NULL) return MPROC__EINVAL("c is NULL");
  if (!c->readable) return MPROC_EBADF;
  if (!c->packets) return mproc_frame_read(c->fd, UINT32_MAX, p, n);
  mproc__buf_t b;
  memset(&b, 0, sizeof b); /* on the heap: it becomes the caller's */
  size_t len = 0;
  int rc = recv_packets(c, &b, &len);
  b.len = len;
  if (rc == 0) rc = mproc__buf_reserve(&b, 1);
  if (rc < 0) {
    mproc__buf_free(&b);
    return rc;
  }
  b.p[len] = '\0';
  *p = b.p;
  *n = len;
  return 0;
}

int mproc_conn_poll(mproc_conn_t *c, double timeout_s) {
  if (c == NULL) return MPROC__EINVAL("c is NULL");
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  if (!c->readable) return MPROC_EBADF;
  struct pollfd pfd = {c->fd, POLLIN, 0};
  int rc = mproc__poll(&pfd, 1, timeout_s == 0 ? 0 : mproc__deadline(timeout_s));
  if (rc < 0) return rc;
  return rc > 0 ? 1 : 0;
}

int mproc_conn_fileno(const mproc_conn_t *c) {
  return c == NULL ? MPROC__EINVAL("c is NULL") : c->fd;
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
