/* Length-prefixed frames: see frame.h. */
#include "core/base/error_detail.h"
#include "multiproc/frame.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/base/io.h"
#include "serialization/frame_internal.h"
#include "serialization/reader.h"

int mproc_frame_write(int fd, const void *payload, size_t len) {
  if (fd < 0 || (payload == NULL && len > 0))
    return MPROC__EINVAL("%s", fd < 0 ? "fd is negative"
                                      : "payload is NULL but len is not 0");
  if (len > UINT32_MAX) return MPROC_ETOOBIG;
  uint8_t hdr[MPROC_FRAME_HEADER];
  mproc__frame_put_header(hdr, (uint32_t)len);
  struct iovec iov[2];
  iov[0].iov_base = hdr;
  iov[0].iov_len = sizeof hdr;
  iov[1].iov_base = (void *)payload;
  iov[1].iov_len = len;
  return mproc__writev_full(fd, iov, 2);
}

int mproc_frame_read(int fd, size_t max, void **payload, size_t *len) {
  if (payload == NULL || len == NULL)
    return MPROC__EINVAL("%s is NULL", payload == NULL ? "payload" : "len");
  *payload = NULL;
  *len = 0;
  if (fd < 0) return MPROC__EINVAL("fd is negative");
  /* The library's own reader (reader.h), in exact mode: it never reads past
   * this frame, so the caller can go on reading the descriptor. */
  mproc__reader_t r;
  mproc__reader_init(&r, fd, max, NULL, 0);
  r.exact = true;
  const uint8_t *p;
  size_t n;
  int rc = mproc__reader_next(&r, &p, &n);
  /* The payload moves to the front of the reader's buffer, which becomes
   * the caller's: a big frame is never copied into a second allocation. */
  if (rc == 0) rc = mproc__buf_reserve(&r.buf, 1);
  if (rc < 0) {
    mproc__reader_free(&r);
    return rc;
  }
  uint8_t *buf = r.buf.p;
  memmove(buf, buf + MPROC_FRAME_HEADER, n);
  buf[n] = '\0';
  *payload = buf;
  *len = n;
  return 0;
}

void mproc_frame_free(void *payload) { free(payload); }

ptrdiff_t mproc__frame_next(const uint8_t *p, size_t n, size_t max,
                            const uint8_t **payload, size_t *len) {
  if (n < MPROC_FRAME_HEADER) return 0;
  size_t want = mproc__frame_get_header(p);
  if (want > max) return MPROC_ETOOBIG;
  if (n - MPROC_FRAME_HEADER < want) return 0;
  *payload = p + MPROC_FRAME_HEADER;
  *len = want;
  return (ptrdiff_t)(MPROC_FRAME_HEADER + want);
}
