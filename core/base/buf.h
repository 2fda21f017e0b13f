/* multiproc internal — a growable byte buffer, optionally starting in memory
 * the caller lends (a stack array): small messages then cost no malloc and,
 * in a freshly forked child, no copy-on-write faults on heap pages. */
#ifndef MPROC_SERIALIZATION_BUF_H
#define MPROC_SERIALIZATION_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t *p;
  size_t len; /* bytes in use */
  size_t cap;
  bool borrowed; /* p is the caller's memory: copy out on growth, never free */
} mproc__buf_t;

/* Starts b in the caller's memory (cap bytes), which must outlive b's use of
 * it. A zero-initialised buffer starts on the heap instead. */
static inline void mproc__buf_lend(mproc__buf_t *b, void *mem, size_t cap) {
  b->p = (uint8_t *)mem;
  b->len = 0;
  b->cap = cap;
  b->borrowed = true;
}

/* Makes room for extra more bytes after len. Returns 0 or MPROC_ENOMEM. */
MPROC__MUST_USE int mproc__buf_reserve(mproc__buf_t *b, size_t extra);

/* Drops the first n bytes (moving the rest to the front). */
void mproc__buf_consume(mproc__buf_t *b, size_t n);

void mproc__buf_free(mproc__buf_t *b);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_BUF_H */
