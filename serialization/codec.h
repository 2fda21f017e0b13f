/* multiproc internal (serialization/ only) — nanopb callbacks that encode
 * values straight from mproc_value_t trees and decode them straight into
 * new ones. Shared by codec.c (a lone Value) and message.c (Call, Report).
 */
#ifndef MPROC_SERIALIZATION_CODEC_H
#define MPROC_SERIALIZATION_CODEC_H

#include <pb.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "serialization/value_internal.h"

typedef struct {
  int err; /* the precise failure, when one is known; else EMALFORMED */
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

/* Records err in ctx unless a more precise one is there already. */
static inline bool mproc__dfail(mproc__dctx_t *ctx, int err) {
  if (ctx->err == 0) ctx->err = err;
  return false;
}

#endif /* MPROC_SERIALIZATION_CODEC_H */
