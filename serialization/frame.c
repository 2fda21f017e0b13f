/* Length-prefixed frames: see frame.h. */
#include "serialization/frame.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/io.h"
#include "serialization/frame_internal.h"

/* The first allocation for a frame's payload; it doubles as bytes arrive. */
#define FIRST_CHUNK ((size_t)64 << 10)

int mproc_frame_write(int fd, const void *payload, size_t len) {
  if (fd < 0 || (payload == NULL && len > 0)) return MPROC_EINVAL;
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
  if (payload == NULL || len == NULL) return MPROC_EINVAL;
  *payload = NULL;
  *len = 0;
  if (fd < 0) return MPROC_EINVAL;
  if (max == 0) max = MPROC_FRAME_MAX_DEFAULT;

  uint8_t hdr[MPROC_FRAME_HEADER];
  ssize_t got = mproc__read_full(fd, hdr, sizeof hdr);
  if (got < 0) return (int)got;
  if (got == 0) return MPROC_EOF;
  if ((size_t)got < sizeof hdr) return MPROC_ETRUNCATED;
  size_t want = mproc__frame_get_header(hdr);
  if (want > max) return MPROC_ETOOBIG;

  size_t cap = want < FIRST_CHUNK ? want : FIRST_CHUNK;
  uint8_t *buf = malloc(cap + 1);
  if (buf == NULL) return MPROC_ENOMEM;
  size_t have = 0;
  int rc = 0;
  while (have < want) {
    if (have == cap) {
      cap = cap > want / 2 ? want : cap * 2;
      uint8_t *grown = realloc(buf, cap + 1);
      if (grown == NULL) {
        rc = MPROC_ENOMEM;
        break;
      }
      buf = grown;
    }
    ssize_t r = mproc__read_some(fd, buf + have, cap - have);
    if (r < 0) {
      rc = (int)r;
      break;
    }
    if (r == 0) {
      rc = MPROC_ETRUNCATED;
      break;
    }
    have += (size_t)r;
  }
  if (rc < 0) {
    free(buf);
    return rc;
  }
  buf[want] = '\0';
  *payload = buf;
  *len = want;
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
