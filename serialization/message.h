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
MPROC__MUST_USE int mproc__report_decode(mproc__report_t *r, const void *buf, size_t n);
void mproc__report_clear(mproc__report_t *r);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_MESSAGE_H */
