/* Buffered frame reader: see reader.h. */
#include "serialization/reader.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "multiproc/error.h"
#include "core/base/fdpass.h"
#include "core/base/io.h"
#include "multiproc/frame.h"
#include "serialization/frame_internal.h"

/* The most the buffer grows by before more bytes have actually arrived. */
#define GROWTH_STEP ((size_t)64 << 10)

void mproc__reader_init(mproc__reader_t *r, int fd, size_t max, void *mem,
                        size_t cap) {
  r->fd = fd;
  r->max = max ? max : MPROC_FRAME_MAX_DEFAULT;
  r->off = 0;
  r->exact = false;
  if (mem != NULL) {
    mproc__buf_lend(&r->buf, mem, cap);
  } else {
    r->buf.p = NULL;
    r->buf.len = r->buf.cap = 0;
    r->buf.borrowed = false;
  }
}

int mproc__reader_peek(mproc__reader_t *r, const uint8_t **payload,
                       size_t *len) {
  /* A fresh heap reader has no buffer yet: p + 0 on a NULL p is undefined
   * behaviour in C (clang's UBSan reports it), so say "nothing" first. */
  if (r->buf.len == r->off) return 0;
  ptrdiff_t used = mproc__frame_next(r->buf.p + r->off, r->buf.len - r->off,
                                     r->max, payload, len);
  if (used < 0) return (int)used;
  if (used == 0) return 0;
  r->off += (size_t)used;
  return 1;
}

/* Room for the next read: compacts handed-out bytes away, then grows by what
 * the pending frame still needs, at most GROWTH_STEP or the buffered amount
 * at a time (geometric growth that tracks real arrivals). */
static int make_room(mproc__reader_t *r) {
  if (r->off > 0) {
    mproc__buf_consume(&r->buf, r->off);
    r->off = 0;
  }
  /* Before a header is known, whatever room there is will do (a lent
   * buffer holds a small frame whole, with no malloc). */
  size_t want = r->buf.cap > r->buf.len ? 1 : 4096;
  if (r->buf.len >= MPROC_FRAME_HEADER) {
    size_t frame = MPROC_FRAME_HEADER + mproc__frame_get_header(r->buf.p);
    want = frame > r->buf.len ? frame - r->buf.len : 1;
    size_t step = r->buf.len > GROWTH_STEP ? r->buf.len : GROWTH_STEP;
    if (want > step) want = step;
  }
  if (r->buf.cap - r->buf.len >= want) return 0;
  return mproc__buf_reserve(&r->buf, want);
}

/* How many bytes the next read may take: all the room there is, or in
 * exact mode no more than the rest of the frame being read. */
static size_t read_size(const mproc__reader_t *r) {
  size_t room = r->buf.cap - r->buf.len;
  if (!r->exact) return room;
  size_t have = r->buf.len - r->off;
  size_t need = MPROC_FRAME_HEADER - have;
  if (have >= MPROC_FRAME_HEADER)
    need = MPROC_FRAME_HEADER +
           mproc__frame_get_header(r->buf.p + r->off) - have;
  return need < room ? need : room;
}

int mproc__reader_fill(mproc__reader_t *r) {
  int rc = make_room(r);
  if (rc < 0) return rc;
  for (;;) {
    ssize_t n = read(r->fd, r->buf.p + r->buf.len, read_size(r));
    if (n > 0) {
      r->buf.len += (size_t)n;
      return (int)n;
    }
    if (n == 0) return MPROC_EOF;
    if (errno == EINTR) continue;
    return -errno; /* -EAGAIN on a drained non-blocking fd */
  }
}

int mproc__reader_fill_nowait(mproc__reader_t *r) {
  int rc = make_room(r);
  if (rc < 0) return rc;
  for (;;) {
    ssize_t n = recv(r->fd, r->buf.p + r->buf.len, read_size(r), MSG_DONTWAIT);
    if (n > 0) {
      r->buf.len += (size_t)n;
      return (int)n;
    }
    if (n == 0) return MPROC_EOF;
    if (errno == EINTR) continue;
    return -errno; /* -EAGAIN on a drained non-blocking fd */
  }
}

int mproc__reader_fill_fds(mproc__reader_t *r, int flags, int *fds,
                           int max_fds, int *nfds) {
  int rc = make_room(r);
  if (rc < 0) return rc;
  int got = 0;
  ssize_t n = mproc__recv_fds(r->fd, r->buf.p + r->buf.len, read_size(r),
                              fds + *nfds, max_fds - *nfds, &got, NULL, flags);
  if (n < 0) return (int)n; /* -EAGAIN when nothing is there (MSG_DONTWAIT) */
  *nfds += got;
  if (n == 0) return MPROC_EOF;
  r->buf.len += (size_t)n;
  return (int)n;
}

int mproc__reader_next(mproc__reader_t *r, const uint8_t **payload,
                       size_t *len) {
  for (;;) {
    int rc = mproc__reader_peek(r, payload, len);
    if (rc != 0) return rc < 0 ? rc : 0;
    rc = make_room(r);
    if (rc < 0) return rc;
    ssize_t n = mproc__read_some(r->fd, r->buf.p + r->buf.len, read_size(r));
    if (n < 0) return (int)n;
    if (n == 0) return r->buf.len == r->off ? MPROC_EOF : MPROC_ETRUNCATED;
    r->buf.len += (size_t)n;
  }
}

void mproc__reader_free(mproc__reader_t *r) {
  mproc__buf_free(&r->buf);
  r->off = 0;
}

size_t mproc__reader_capacity(const mproc__reader_t *r) { return r->buf.cap; }

void *mproc__reader_detach(mproc__reader_t *r, const uint8_t **payload) {
  if (r->buf.borrowed || r->off != r->buf.len || r->buf.p == NULL)
    return NULL;
  size_t at = (size_t)(*payload - r->buf.p);
  if (mproc__buf_reserve(&r->buf, 1) < 0) return NULL;
  *payload = r->buf.p + at;
  void *block = r->buf.p;
  r->buf.p = NULL;
  r->buf.len = r->buf.cap = 0;
  r->off = 0;
  return block;
}

void mproc__reader_shrink(mproc__reader_t *r, size_t keep) {
  if (r->buf.cap <= keep || r->buf.len != r->off) return;
  mproc__buf_free(&r->buf);
  r->off = 0;
}
