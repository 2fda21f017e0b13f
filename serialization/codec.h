/* multiproc internal (serialization/ only) — encoding values straight from
 * mproc_value_t trees and decoding them straight into new ones, inside the
 * nanopb callbacks of the Call and Report messages (message.c) and for a
 * lone Value (codec.c).
 *
 * Two implementations of the same bytes:
 *   - the generic one (codec.c) writes and reads through nanopb's stream
 *     primitives (pb_encode_varint, pb_decode_tag, ...): any stream, the
 *     reference;
 *   - the fast one (fastcodec.c) works on the memory of a buffer stream
 *     directly (every stream multiproc makes is one), allocates decoded
 *     nodes from slab chunks (slab.h) and can leave big strings where they
 *     arrived (mproc__inplace_t).
 * Every entry point below takes the fast one when it can. Both write the
 * same bytes and decode any input to the same value or the same error
 * (code, and reason: the fast one repeats nanopb's words for what nanopb
 * would have refused); tests/serialization/codec_test.cc and the fuzz
 * targets check them against each other (mproc__codec_generic) and against
 * protoc.
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

#include "serialization/message.h"
#include "serialization/value_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Field numbers of wire.proto's Value, List, Dict and Entry. */
enum {
  MPROC__F_NONE = 1,
  MPROC__F_BOOL = 2,
  MPROC__F_INT = 3,
  MPROC__F_FLOAT = 4,
  MPROC__F_STR = 5,
  MPROC__F_BYTES = 6,
  MPROC__F_LIST = 7,
  MPROC__F_DICT = 8,
  MPROC__F_LIST_ITEMS = 1,
  MPROC__F_LIST_TUPLE = 2,
  MPROC__F_LIST_INTS = 3,
  MPROC__F_LIST_FLOATS = 4,
  MPROC__F_DICT_ENTRIES = 1,
  MPROC__F_ENTRY_KEY = 1,
  MPROC__F_ENTRY_VALUE = 2
};

/* Tests set this to run everything through the generic implementation. */
extern int mproc__codec_generic;

/* A decode's failure, first one wins (nanopb's own rule for errmsg). */
typedef struct {
  int err; /* the precise failure, when one is known; else EMALFORMED */
  /* Why the message is malformed, when the hand-written codec decided it
   * (a static string); else nanopb's errmsg says, which nanopb carries up
   * from the innermost stream, through our callbacks, to the outermost. */
  const char *why;
  /* Strings may stay in the input (NULL: copied). */
  mproc__inplace_t *inplace;
} mproc__dctx_t;

/* ---- Encoding. */

/* Where the fast encoder leaves big strings out (message.h's holes): set
 * by the encoding thread around one encode; base is where the payload
 * starts in the output buffer. */
typedef struct {
  mproc__holes_t *holes;
  const uint8_t *base;
} mproc__hole_sink_t;
extern _Thread_local mproc__hole_sink_t *mproc__holes_sink
    __attribute__((tls_model("initial-exec")));

/* Writes field f (tag, length, then the Value message of v). */
bool mproc__enc_value_field(pb_ostream_t *s, const pb_field_t *f,
                            const mproc_value_t *v);
/* Writes each entry of a dict as one occurrence of repeated Entry field f. */
bool mproc__enc_entries(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *dict);
/* The body of a Value message (no tag, no length). */
bool mproc__enc_value(pb_ostream_t *s, const mproc_value_t *v);

/* Packed scalars: what n values have in common (MPROC__HOMOG_*), and the
 * payload of their packed field (ints: zigzag varints; floats: 8 bytes). */
int mproc__homog_of(const mproc_value_t *const *v, size_t n);
size_t mproc__packed_size(const mproc_value_t *const *v, size_t n, int homog);
/* Writes v[0..n) as one packed field f (tag, length, payload: its size,
 * mproc__packed_size's). */
bool mproc__enc_packed(pb_ostream_t *s, const pb_field_t *f,
                       const mproc_value_t *const *v, size_t n, int homog,
                       size_t payload);

/* ---- Decoding. */

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
/* Decodes the packed field (or the lone element) of kind MPROC_INT or
 * MPROC_FLOAT filling the stream, appending each element to seq as a new
 * value. */
bool mproc__dec_packed(pb_istream_t *s, mproc__dctx_t *ctx, mproc_kind_t kind,
                       mproc_value_t *seq);
/* The same into a plain array of values (*v, *n, *cap; realloc'd). */
bool mproc__dec_packed_array(pb_istream_t *s, mproc__dctx_t *ctx,
                             mproc_kind_t kind, mproc_value_t ***v, size_t *n,
                             size_t *cap);

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

/* Writes the NULs of the strings a successful decode left in place. */
void mproc__inplace_finish(mproc__inplace_t *ip);

/* ---- The generic implementation (codec.c), for the entry points above
 * when a stream is not a buffer stream, and for tests. */
bool mproc__genc_value_field(pb_ostream_t *s, const pb_field_t *f,
                             const mproc_value_t *v);
bool mproc__genc_value(pb_ostream_t *s, const mproc_value_t *v);
bool mproc__genc_entries(pb_ostream_t *s, const pb_field_t *f,
                         const mproc_value_t *dict);
bool mproc__genc_packed(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *const *v, size_t n, int homog,
                        size_t payload);
bool mproc__gdec_value(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                       mproc_value_t **out);
bool mproc__gdec_entry(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                       mproc_value_t *dict);
bool mproc__gdec_packed(pb_istream_t *s, mproc__dctx_t *ctx,
                        mproc_kind_t kind, mproc_value_t *seq);
bool mproc__gdec_packed_array(pb_istream_t *s, mproc__dctx_t *ctx,
                              mproc_kind_t kind, mproc_value_t ***v,
                              size_t *n, size_t *cap);

/* ---- The fast implementation (fastcodec.c): false from the *_try
 * functions means "not a buffer stream, use the generic one"; their
 * result is then in *ok. */
bool mproc__fenc_value_field(pb_ostream_t *s, const pb_field_t *f,
                             const mproc_value_t *v, bool *ok);
bool mproc__fenc_entries(pb_ostream_t *s, const pb_field_t *f,
                         const mproc_value_t *dict, bool *ok);
bool mproc__fenc_packed(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *const *v, size_t n, int homog,
                        size_t payload, bool *ok);
/* The body of v at p (v->wsize bytes); returns the end. */
uint8_t *mproc__fenc_body(uint8_t *p, const mproc_value_t *v);
bool mproc__fdec_value_try(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                           mproc_value_t **out, bool *ok);
bool mproc__fdec_entry_try(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                           mproc_value_t *dict, bool *ok);
bool mproc__fdec_packed_try(pb_istream_t *s, mproc__dctx_t *ctx,
                            mproc_kind_t kind, mproc_value_t *seq,
                            mproc_value_t ***v, size_t *n, size_t *cap,
                            bool *ok);
/* A whole Value message in p[0..n) (mproc_value_decode). On failure
 * *nwhy is nanopb's word for it when ctx has no reason of its own. */
bool mproc__fdec_value_buf(const uint8_t *p, size_t n, mproc__dctx_t *ctx,
                           mproc_value_t **out, const char **nwhy);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_CODEC_H */
