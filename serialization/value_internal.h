/* multiproc internal — the layout of a value, shared by the files of the
 * serialization module (value.c, dict.c, repr.c, pack.c, unpack.c, codec.c).
 */
#ifndef MPROC_SERIALIZATION_VALUE_INTERNAL_H
#define MPROC_SERIALIZATION_VALUE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char *key; /* NUL-terminated UTF-8 */
  size_t klen;
  mproc_value_t *val;
} mproc__entry_t;

struct mproc_value {
  uint8_t kind;   /* mproc_kind_t */
  uint8_t depth;  /* 0 for scalars; containers 1 + deepest child */
  uint8_t owned;  /* inside a container: frozen, freed by it */
  uint8_t borrows; /* a mproc__tuple1 view: its item is not its own */
  /* Encoded size of the mproc.wire.Value message for this value, and for
   * containers the size of the inner List/Dict message. Kept exact on every
   * change, so encoding never needs nanopb's two-pass submessage sizing. */
  size_t wsize;
  size_t inner;
  union {
    bool b;
    int64_t i;
    double d;
    struct {
      char *p; /* always NUL-terminated */
      size_t n;
    } s;
    struct {
      mproc_value_t **v;
      size_t n, cap;
    } seq;
    struct {
      mproc__entry_t *e;
      size_t n, cap;
      uint32_t *index; /* open-addressing hash of entry numbers + 1 */
      size_t index_cap; /* 0 until the dict is big enough to need it */
    } dict;
  } u;
};

/* Protobuf sizes. */
size_t mproc__varint_size(uint64_t v);
/* Size of a length-delimited field with a one-byte tag holding n bytes. */
static inline size_t mproc__ld_size(size_t n) {
  return 1 + mproc__varint_size(n) + n;
}

/* A bare node of the given kind (scalars and empty containers). */
mproc_value_t *mproc__value_alloc(mproc_kind_t kind);

/* Appends without the ownership checks (decoder, pack: items are fresh). */
MPROC__MUST_USE int mproc__seq_push(mproc_value_t *seq, mproc_value_t *item);

/* Dict internals (dict.c). */
MPROC__MUST_USE int mproc__dict_find(const mproc_value_t *dict, const char *key, size_t klen,
                     size_t *pos);
MPROC__MUST_USE int mproc__dict_put(mproc_value_t *dict, const char *key, size_t klen,
                    mproc_value_t *item, bool replace);
void mproc__dict_free(mproc_value_t *dict);
/* Frees v even when it is owned (for its container). NULL is ignored. */
void mproc__value_free_owned(mproc_value_t *v);
/* Size of the Entry message for key/val inside a Dict. */
size_t mproc__entry_size(size_t klen, const mproc_value_t *val);

/* The string/bytes node for n bytes copied from p (NULL: left zeroed). */
mproc_value_t *mproc__value_blob(mproc_kind_t kind, const void *p, size_t n);

/* UTF-8 validation (RFC 3629: no surrogates, no overlongs, <= U+10FFFF). */
bool mproc__utf8_valid(const char *s, size_t n);

/* Recomputes wsize from inner for a container after inner changed. */
void mproc__container_resize(mproc_value_t *c);
/* Recomputes wsize of a scalar, str or bytes after its contents changed. */
void mproc__scalar_resize(mproc_value_t *v);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_VALUE_INTERNAL_H */
