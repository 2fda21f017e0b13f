/* multiproc internal — a buffered frame reader: reads as much as the kernel
 * has (several frames per read(2) when they are queued) and hands out whole
 * frames. The buffer grows only as bytes arrive, never to a claimed size
 * up front. */
#ifndef MPROC_SERIALIZATION_READER_H
#define MPROC_SERIALIZATION_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"
#include "core/base/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int fd;
  size_t max; /* largest payload accepted */
  mproc__buf_t buf;
  size_t off; /* bytes of buf already handed out */
  /* Reads never go past the frame being read: what follows stays in the
   * descriptor (mproc_frame_read, whose caller may read on by other means).
   * Off (the default): as much as the kernel has, several frames a read. */
  bool exact;
} mproc__reader_t;

/* Starts a reader on fd (not exact); mem/cap may lend a first buffer (NULL,
 * 0: heap); max 0 means MPROC_FRAME_MAX_DEFAULT. */
void mproc__reader_init(mproc__reader_t *r, int fd, size_t max, void *mem,
                        size_t cap);

/* The next whole frame, reading (and waiting) as needed. The payload stays
 * valid until the next call. Returns 0, MPROC_EOF (clean end between
 * frames), MPROC_ETRUNCATED, MPROC_ETOOBIG, MPROC_ENOMEM or -errno. */
MPROC__MUST_USE int mproc__reader_next(mproc__reader_t *r, const uint8_t **payload,
                       size_t *len);

/* A whole frame already buffered, without reading: 1 with the frame, 0 when
 * none is complete yet, or MPROC_ETOOBIG. */
MPROC__MUST_USE int mproc__reader_peek(mproc__reader_t *r, const uint8_t **payload,
                       size_t *len);

/* One read(2) of what is available, for readers driven by poll: returns
 * the bytes read (> 0), MPROC_EOF, MPROC_EAGAIN on a non-blocking fd with
 * nothing to read, or -errno. */
MPROC__MUST_USE int mproc__reader_fill(mproc__reader_t *r);

/* As mproc__reader_fill on a socket, never waiting whatever the socket's
 * mode (recv with MSG_DONTWAIT): MPROC_EAGAIN when nothing is there. */
MPROC__MUST_USE int mproc__reader_fill_nowait(mproc__reader_t *r);

/* As mproc__reader_fill, on a socket, through recvmsg with flags
 * (MSG_DONTWAIT: never waiting, whatever the socket's mode; MPROC_EAGAIN
 * when nothing is there): descriptors sent along (SCM_RIGHTS) are
 * received, close-on-exec, into fds[*nfds...] while there is room (max_fds
 * in all), and *nfds grows by their number; any more are closed. A read(2)
 * would silently close them. The caller owns what it receives (and decides
 * who else may see it meanwhile: the descriptors exist in the process from
 * the recvmsg on). */
MPROC__MUST_USE int mproc__reader_fill_fds(mproc__reader_t *r, int flags,
                                           int *fds, int max_fds, int *nfds);

void mproc__reader_free(mproc__reader_t *r);

/* Bytes the reader's buffer holds room for. */
size_t mproc__reader_capacity(const mproc__reader_t *r);

/* Gives the buffer back when it is larger than keep and holds no unread
 * byte (after a big frame): an idle reader should not keep its pages. */
void mproc__reader_shrink(mproc__reader_t *r, size_t keep);

/* After mproc__reader_peek or _next handed out a frame that ends the
 * buffered bytes: hands the whole heap buffer over (*payload moved along
 * if it had to grow by the one spare byte after the frame that in-place
 * decoding wants) and starts the reader afresh. Returns the block to
 * free(), or NULL when the buffer holds more bytes after the frame, is
 * lent, or cannot grow: the frame then stays the reader's. */
void *mproc__reader_detach(mproc__reader_t *r, const uint8_t **payload);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_READER_H */
