/* multiproc internal — the Call and Report messages of wire.proto as C,
 * for core/ and workers/: a call to run, and what became of it. Everything
 * here encodes into and decodes from memory; frames carry the bytes
 * (frame.h). A decoder that returns MPROC_EMALFORMED records why for
 * mproc_last_error() ("malformed Call: two kinds in one Value"). */
#ifndef MPROC_SERIALIZATION_MESSAGE_H
#define MPROC_SERIALIZATION_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"
#include "core/base/buf.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

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
MPROC__MUST_USE int mproc__call_encode_frame(mproc__buf_t *out, const mproc__call_out_t *c);
MPROC__MUST_USE int mproc__call_decode(mproc__call_in_t *c, const void *buf, size_t n);

/* Strings decoded in place: a string of at least MPROC__INPLACE_MIN bytes
 * points into the input instead of being copied (the copy of a 64 MiB
 * argument is a pass over 64 MiB of fresh memory). The input must stay
 * where it is as long as such a value lives: either borrowed (the caller
 * keeps the buffer until the values are gone) or adopted (adopt is the
 * malloc'd block holding the input: the first in-place string takes it
 * and frees it with itself; the caller must then not free it). Each
 * in-place string is NUL-terminated by writing over the byte after it (a
 * tag already read) once the whole message has decoded; spare says
 * whether the byte after the input may be written too. */
#define MPROC__INPLACE_MIN ((size_t)64 << 10)
typedef struct mproc__inplace {
  void *adopt; /* NULL: borrowed; cleared once a string takes it */
  const uint8_t *end; /* the end of the whole input */
  bool spare;
  /* Filled by the decoder: where to write NULs once it has succeeded. */
  uint8_t *nul_at[8];
  unsigned nuls;
} mproc__inplace_t;

/* Decoding that may leave big strings in buf, as inplace says; buf is
 * written to (the NULs after the strings left in it). With adopt set, the
 * caller checks afterwards whether it was taken — even on failure, when
 * the values that took it are already freed, and buf with them. */
MPROC__MUST_USE int mproc__call_decode_inplace(mproc__call_in_t *c, const void *buf, size_t n,
                               mproc__inplace_t *inplace);
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
  /* RETURNED: the result's bytes in the memory file sent with the report
   * (core/ipc/spill.h); 0 when none. */
  uint64_t spilled;
} mproc__report_t;

MPROC__MUST_USE int mproc__report_encode_frame(mproc__buf_t *out, const mproc__report_t *r);

/* A string left out of an encoded frame: n bytes from src belong at
 * offset `at` of the frame's payload. Writing such a frame is a writev of
 * the buffer's pieces and the strings where they lie — a big result is
 * not copied into the output first (a pass over as much fresh memory). */
typedef struct {
  size_t at;
  const void *src;
  size_t n;
} mproc__hole_t;
#define MPROC__HOLES_MAX 4
#define MPROC__HOLE_MIN ((size_t)64 << 10)
typedef struct {
  mproc__hole_t v[MPROC__HOLES_MAX];
  unsigned n;
  size_t bytes; /* their total */
} mproc__holes_t;

/* As mproc__report_encode_frame, but strings of MPROC__HOLE_MIN bytes or
 * more (the first MPROC__HOLES_MAX) are left out of out, as holes says:
 * the frame is out's new bytes with each hole's bytes put in its place
 * (its header counts them). The strings must stay until it is written. */
MPROC__MUST_USE int mproc__report_encode_frame_holes(mproc__buf_t *out,
                                     const mproc__report_t *r,
                                     mproc__holes_t *holes);
MPROC__MUST_USE int mproc__report_decode(mproc__report_t *r, const void *buf, size_t n);
MPROC__MUST_USE int mproc__report_decode_inplace(mproc__report_t *r, const void *buf,
                                 size_t n, mproc__inplace_t *inplace);
void mproc__report_clear(mproc__report_t *r);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_MESSAGE_H */
