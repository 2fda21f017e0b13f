/* Fuzz target: a byte stream of frames, read three ways that must agree.
 *
 *   A  mproc_frame_read, one frame at a time (Process children);
 *   B  mproc__reader_next, blocking (pool workers), its buffer on the heap
 *      or lent from the stack;
 *   C  mproc__reader_fill + mproc__reader_peek on a non-blocking pipe fed in
 *      chunks (the pool thread), classifying the end as the pool does.
 *
 * All three must return the same frames and end with the same code: EOF
 * (clean end between frames), ETRUNCATED or ETOOBIG. The maximum payload is
 * small (MAX_PAYLOAD) so oversized headers are common.
 *
 * Input: byte 0 chooses how C is fed and B's buffer; the rest is the stream.
 *   bits 0-1  B's first buffer: heap, or 5, 64 or 8192 bytes lent
 *   bits 2-3  C's chunks: 1..700 bytes, 1 byte, 1..8 bytes, all at once
 *   bits 4-7  seed of the chunk sizes */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/io.h"
#include "multiproc/frame.h"
#include "serialization/reader.h"
#include "serialization/frame_internal.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_PAYLOAD 4096

/* What a way of reading saw: each frame as a 4-byte length and its payload,
 * then how the stream ended. */
typedef struct {
  mproc__buf_t log;
  int end;
} seen_t;

static void log_frame(seen_t *s, const uint8_t *p, size_t len) {
  FUZZ_CHECK(len <= MAX_PAYLOAD);
  FUZZ_CHECK(mproc__buf_reserve(&s->log, MPROC_FRAME_HEADER + len) == 0);
  mproc__frame_put_header(s->log.p + s->log.len, (uint32_t)len);
  if (len > 0) memcpy(s->log.p + s->log.len + MPROC_FRAME_HEADER, p, len);
  s->log.len += MPROC_FRAME_HEADER + len;
}

static bool is_end(int rc) {
  return rc == MPROC_EOF || rc == MPROC_ETRUNCATED || rc == MPROC_ETOOBIG;
}

/* A memfd holding the stream, positioned at its start. */
static int stream_fd(const uint8_t *p, size_t n) {
  int fd = memfd_create("reader_fuzz", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(mproc__write_full(fd, p, n) == 0);
  FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

static void read_by_frame_read(seen_t *s, const uint8_t *p, size_t n) {
  int fd = stream_fd(p, n);
  for (;;) {
    void *payload;
    size_t len;
    int rc = mproc_frame_read(fd, MAX_PAYLOAD, &payload, &len);
    if (rc < 0) {
      FUZZ_CHECK_RC(is_end(rc), rc);
      FUZZ_CHECK(payload == NULL);
      s->end = rc;
      break;
    }
    FUZZ_CHECK(((const uint8_t *)payload)[len] == '\0');
    log_frame(s, payload, len);
    mproc_frame_free(payload);
  }
  close(fd);
}

static void read_by_reader_next(seen_t *s, const uint8_t *p, size_t n,
                                size_t lend) {
  uint8_t mem[8192];
  int fd = stream_fd(p, n);
  mproc__reader_t r;
  mproc__reader_init(&r, fd, MAX_PAYLOAD, lend ? mem : NULL, lend);
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_next(&r, &payload, &len);
    if (rc < 0) {
      FUZZ_CHECK_RC(is_end(rc), rc);
      s->end = rc;
      break;
    }
    log_frame(s, payload, len);
  }
  mproc__reader_free(&r);
  close(fd);
}

static size_t next_chunk(unsigned mode, uint32_t *state) {
  *state = *state * 1103515245u + 12345u;
  uint32_t x = *state >> 16;
  switch (mode) {
    case 0: return 1 + x % 700;
    case 1: return 1;
    case 2: return 1 + x % 8;
    default: return 32768; /* half a pipe: the writer never blocks */
  }
}

/* Reads every frame already buffered; returns a negative code on ETOOBIG. */
static int peek_all(seen_t *s, mproc__reader_t *r) {
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_peek(r, &payload, &len);
    if (rc == 0) return 0;
    if (rc < 0) return rc;
    FUZZ_CHECK_RC(rc == 1, rc);
    log_frame(s, payload, len);
  }
}

static void read_by_fill_peek(seen_t *s, const uint8_t *p, size_t n,
                              unsigned mode, uint32_t seed) {
  int fds[2];
  FUZZ_CHECK(pipe2(fds, O_CLOEXEC) == 0);
  FUZZ_CHECK(mproc__set_nonblock(fds[0], 1) == 0);
  mproc__reader_t r;
  mproc__reader_init(&r, fds[0], MAX_PAYLOAD, NULL, 0);
  uint32_t state = seed;
  int end = 0;
  for (size_t done = 0; done < n && end == 0;) {
    size_t chunk = next_chunk(mode, &state);
    if (chunk > n - done) chunk = n - done;
    FUZZ_CHECK(mproc__write_full(fds[1], p + done, chunk) == 0);
    done += chunk;
    /* As the pool thread does: read all there is, then take the frames. */
    int rc;
    while ((rc = mproc__reader_fill(&r)) > 0) {
    }
    FUZZ_CHECK_RC(rc == MPROC_EAGAIN, rc);
    end = peek_all(s, &r);
  }
  close(fds[1]);
  if (end == 0) {
    int rc = mproc__reader_fill(&r);
    FUZZ_CHECK_RC(rc == MPROC_EOF, rc);
    end = peek_all(s, &r);
  }
  if (end == 0) end = r.buf.len == r.off ? MPROC_EOF : MPROC_ETRUNCATED;
  FUZZ_CHECK_RC(is_end(end), end);
  s->end = end;
  mproc__reader_free(&r);
  close(fds[0]);
}

static void check_agree(const seen_t *a, const seen_t *b) {
  FUZZ_CHECK(a->end == b->end);
  FUZZ_CHECK(a->log.len == b->log.len);
  FUZZ_CHECK(a->log.len == 0 || memcmp(a->log.p, b->log.p, a->log.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t lends[] = {0, 5, 64, 8192};
  uint8_t ctl = size > 0 ? data[0] : 0;
  const uint8_t *p = size > 0 ? data + 1 : data;
  size_t n = size > 0 ? size - 1 : 0;

  seen_t a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  read_by_frame_read(&a, p, n);
  read_by_reader_next(&b, p, n, lends[ctl & 3]);
  read_by_fill_peek(&c, p, n, (ctl >> 2) & 3, ctl >> 4);
  check_agree(&a, &b);
  check_agree(&a, &c);
  mproc__buf_free(&a.log);
  mproc__buf_free(&b.log);
  mproc__buf_free(&c.log);
  return 0;
}
