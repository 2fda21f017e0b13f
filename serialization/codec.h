/* multiproc internal (serialization/ only) — nanopb callbacks that encode
 * values straight from mproc_value_t trees and decode them straight into
 * new ones. Shared by codec.c (a lone Value) and message.c (Call, Report).
 */
#ifndef MPROC_SERIALIZATION_CODEC_H
#define MPROC_SERIALIZATION_CODEC_H

/* Debian's libprotobuf-nanopb.a was built with PB_ENABLE_MALLOC: every
 * file that includes pb.h must be too, and gets it from its target's
 * local_defines (MPROC_NANOPB_DEFINES, tools/build_defs.bzl), which never
 * reach the programs that use multiproc. */
#ifndef PB_ENABLE_MALLOC
#error "build with local_defines = MPROC_NANOPB_DEFINES (tools/build_defs.bzl)"
#endif

#include <pb.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "serialization/value_internal.h"

/* A decode's failure, first one wins (nanopb's own rule for errmsg). */
typedef struct {
  int err; /* the precise failure, when one is known; else EMALFORMED */
  /* Why the message is malformed, when the hand-written codec decided it
   * (a static string); else nanopb's errmsg says, which nanopb carries up
   * from the innermost stream, through our callbacks, to the outermost. */
  const char *why;
} mproc__dctx_t;

/* Writes field f (tag, length, then the Value message of v). */
bool mproc__enc_value_field(pb_ostream_t *s, const pb_field_t *f,
                            const mproc_value_t *v);
/* Writes each item of a list/tuple as one occurrence of repeated field f. */
bool mproc__enc_items(pb_ostream_t *s, const pb_field_t *f,
                      const mproc_value_t *seq);
/* Writes each entry of a dict as one occurrence of repeated Entry field f. */
bool mproc__enc_entries(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *dict);
/* The body of a Value message (no tag, no length). */
bool mproc__enc_value(pb_ostream_t *s, const mproc_value_t *v);

/* Decodes one Value message filling the stream; containers in it sit at
 * depth + 1. */
bool mproc__dec_value(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t **out);
/* Decodes one Entry message filling the stream into dict. */
bool mproc__dec_entry(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t *dict);
/* Reads a whole bytes field into a new NUL-terminated buffer. */
bool mproc__dec_blob(pb_istream_t *s, mproc__dctx_t *ctx, char **out,
                     size_t *n);

/* Records err (and why, for MPROC_EMALFORMED; else NULL) in ctx unless a
 * failure is there already. Returns false, for `return mproc__dfail(...)`. */
static inline bool mproc__dfail(mproc__dctx_t *ctx, int err, const char *why) {
  if (ctx->err == 0) {
    ctx->err = err;
    ctx->why = why;
  }
  return false;
}

/* The code a failed decode of a `what` message returns (ctx->err, or
 * MPROC_EMALFORMED). A malformed one's reason, ctx's or else nanopb's on
 * s, becomes this thread's mproc_last_error(): "malformed Call: wrong wire
 * type". */
int mproc__dresult(const mproc__dctx_t *ctx, const pb_istream_t *s,
                   const char *what);

#endif /* MPROC_SERIALIZATION_CODEC_H */
