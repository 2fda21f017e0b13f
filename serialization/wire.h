/* multiproc internal — the messages of wire.proto as C, for core/ and
 * workers/. Everything here encodes into and decodes from memory; frames
 * carry the bytes (frame.h). */
#ifndef MPROC_SERIALIZATION_WIRE_H
#define MPROC_SERIALIZATION_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serialization/buf.h"
#include "serialization/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame headers: 4-byte little-endian payload length (frame.h). */
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
ptrdiff_t mproc__frame_next(const uint8_t *p, size_t n, size_t max,
                            const uint8_t **payload, size_t *len);

/* A Call, as sent. The positional args are either args (a list or tuple)
 * or, when args is NULL, the argc values of argv (which may be NULL for
 * none): map sends each item as the one argument without wrapping it. */
typedef struct {
  const char *target; /* may be NULL */
  const mproc_value_t *args; /* list or tuple; NULL: argv */
  const mproc_value_t *kwargs; /* dict, or NULL for {} */
  uint64_t id;
  const mproc_value_t *const *argv;
  size_t argc;
  uint32_t mode; /* MPROC__CALL_* */
  uint64_t first; /* a chunk's first item's index in the whole input */
} mproc__call_out_t;

enum { MPROC__CALL_ONE = 0, MPROC__CALL_MAP = 1, MPROC__CALL_STARMAP = 2 };

/* A Call, as received: everything owned (mproc__call_in_clear). */
typedef struct {
  char *target;          /* NUL-terminated, "" when absent */
  mproc_value_t *args;   /* tuple */
  mproc_value_t *kwargs; /* dict */
  uint64_t id;
  uint32_t mode;
  uint64_t first;
} mproc__call_in_t;

/* Appends one frame (header + Call payload) to out. */
int mproc__call_encode_frame(mproc__buf_t *out, const mproc__call_out_t *c);
int mproc__call_decode(mproc__call_in_t *c, const void *buf, size_t n);
void mproc__call_in_clear(mproc__call_in_t *c);

enum {
  MPROC__REPORT_ENTERED = 1,
  MPROC__REPORT_RETURNED = 2,
  MPROC__REPORT_READY = 3,
  MPROC__REPORT_INIT_FAILED = 4,
  MPROC__REPORT_RELAYED = 5,
  MPROC__REPORT_EXITED = 6
};

/* One failed item of a chunk. */
typedef struct {
  uint32_t index;
  int32_t code;
  int32_t error;
  char *message; /* NULL when none */
} mproc__item_error_t;

/* A Report. Encoding reads message/result/item_errors/results; decoding
 * allocates them (mproc__report_clear). */
typedef struct {
  int kind;
  uint64_t id;
  uint64_t t_ns;
  int32_t code;
  char *message; /* NULL when none; NUL-terminated */
  size_t message_len;
  mproc_value_t *result; /* NULL when none */
  uint64_t t_enter_ns;
  int32_t error;
  uint64_t utime_us, stime_us, maxrss_kb;
  mproc__item_error_t *item_errors;
  size_t n_item_errors;
  /* A chunk's results, one per item in order (None where one failed): each
   * a value of its own, at depth 0, not the items of one list. */
  mproc_value_t **results;
  size_t n_results;
  int32_t pid;    /* RELAYED */
  int32_t status; /* EXITED: a wait status */
} mproc__report_t;

int mproc__report_encode_frame(mproc__buf_t *out, const mproc__report_t *r);
int mproc__report_decode(mproc__report_t *r, const void *buf, size_t n);
void mproc__report_clear(mproc__report_t *r);

enum {
  MPROC__CTL_SPAWN = 1,
  MPROC__CTL_SPAWNED = 2,
  MPROC__CTL_SPAWN_FAILED = 3,
  MPROC__CTL_EXITED = 4,
  MPROC__CTL_KILL = 5
};

/* A Control message (no frame header: it travels as one SEQPACKET). */
typedef struct {
  int kind;
  uint32_t slot;
  int32_t pid;
  int32_t status;
  uint64_t utime_us, stime_us, maxrss_kb;
  uint32_t serial;
} mproc__control_t;

/* Encodes c into buf (cap bytes); returns the length or a negative error. */
int mproc__control_encode(const mproc__control_t *c, void *buf, size_t cap);
int mproc__control_decode(mproc__control_t *c, const void *buf, size_t n);

/* ---- Value plumbing for the pool, which may not see values' insides. */

/* A tuple that borrows its one item: mproc__tuple1_set points it at any
 * value without taking ownership; freeing it frees only the tuple. Lets a
 * chunk's items be passed as one-argument calls without copying them. */
int mproc__tuple1_new(mproc_value_t **out);
void mproc__tuple1_set(mproc_value_t *tuple, const mproc_value_t *item);


#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_WIRE_H */
