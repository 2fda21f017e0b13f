/* multiproc — length-prefixed frames over a file descriptor.
 *
 * A frame is a 4-byte little-endian payload length followed by the payload.
 * Reading and writing are correct with short reads and writes, EINTR and
 * non-blocking descriptors (which are waited on), and writing never raises
 * SIGPIPE. Every way a stream can go wrong has its own code:
 *
 *   MPROC_EOF         the stream ended cleanly, between two frames
 *   MPROC_ETRUNCATED  the stream ended inside a frame (header or payload)
 *   MPROC_ETOOBIG     the header claims more than the allowed maximum;
 *                     nothing was allocated, and the stream cannot be
 *                     resynchronised (its position is after the header)
 *   MPROC_EMALFORMED  (from decoders) a whole frame whose payload is not a
 *                     valid message
 *
 * A claimed length is never allocated up front: the buffer grows as bytes
 * actually arrive, so a lying header costs at most what was really sent.
 */
#ifndef MPROC_FRAME_H
#define MPROC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "multiproc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC_FRAME_HEADER 4
/* The default maximum payload, used when a maximum of 0 is passed. */
#define MPROC_FRAME_MAX_DEFAULT ((size_t)1 << 30) /* 1 GiB */

/* Writes one frame holding len bytes of payload, header and payload in one
 * writev where the kernel allows. Errors: MPROC_ETOOBIG (len > 4 GiB - 1),
 * MPROC_EPIPE (no reader), other -errno. */
MPROC_API int mproc_frame_write(int fd, const void *payload, size_t len);

/* Reads one frame of at most max payload bytes (0: the default). On success
 * *payload is a new buffer of *len bytes plus a NUL after them (so text can
 * be used directly), to be released with mproc_frame_free.
 * Errors: MPROC_EOF, MPROC_ETRUNCATED, MPROC_ETOOBIG, MPROC_ENOMEM, -errno. */
MPROC_API int mproc_frame_read(int fd, size_t max, void **payload, size_t *len);

MPROC_API void mproc_frame_free(void *payload);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_FRAME_H */
