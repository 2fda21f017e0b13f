#include "core/base/buf.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/hugemem.h"
#include "multiproc/error.h"

int mproc__buf_reserve(mproc__buf_t *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return MPROC_ENOMEM;
  size_t need = b->len + extra;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p;
  if (b->borrowed) {
    p = malloc(cap);
    if (p != NULL && b->len > 0) memcpy(p, b->p, b->len);
  } else {
    p = realloc(b->p, cap);
  }
  if (p == NULL) return MPROC_ENOMEM;
  /* Before the new part is written: its pages are still untouched. */
  mproc__huge_hint(p + b->len, cap - b->len);
  b->p = p;
  b->cap = cap;
  b->borrowed = false;
  return 0;
}

void mproc__buf_consume(mproc__buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

void mproc__buf_free(mproc__buf_t *b) {
  if (!b->borrowed) free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->borrowed = false;
}
