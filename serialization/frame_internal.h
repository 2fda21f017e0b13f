/* multiproc internal — the frame format's parts (frame.h), for code that
 * frames or unframes bytes in memory rather than through mproc_frame_read
 * and mproc_frame_write: frame.c, reader.c, message.c, and core's report
 * and relay readers. */
#ifndef MPROC_SERIALIZATION_FRAME_INTERNAL_H
#define MPROC_SERIALIZATION_FRAME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"
#include "multiproc/frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame headers: the payload length, MPROC_FRAME_HEADER bytes, little
 * endian. */
static inline void mproc__frame_put_header(uint8_t *hdr, uint32_t len) {
  hdr[0] = (uint8_t)len;
  hdr[1] = (uint8_t)(len >> 8);
  hdr[2] = (uint8_t)(len >> 16);
  hdr[3] = (uint8_t)(len >> 24);
}

static inline size_t mproc__frame_get_header(const uint8_t *hdr) {
  return (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 |
         (size_t)hdr[3] << 24;
}

/* Finds the first whole frame in p[0..n). Returns the bytes it spans
 * (header included) with its payload in *payload and *len, 0 when p holds only
 * part of a frame, or MPROC_ETOOBIG when its header claims more than max. */
MPROC__MUST_USE ptrdiff_t mproc__frame_next(const uint8_t *p, size_t n, size_t max,
                            const uint8_t **payload, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_FRAME_INTERNAL_H */
