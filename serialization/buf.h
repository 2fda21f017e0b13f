/* multiproc internal — a growable byte buffer. */
#ifndef MPROC_SERIALIZATION_BUF_H
#define MPROC_SERIALIZATION_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t *p;
  size_t len; /* bytes in use */
  size_t cap;
} mproc__buf_t;

/* Makes room for extra more bytes after len. Returns 0 or MPROC_ENOMEM. */
int mproc__buf_reserve(mproc__buf_t *b, size_t extra);

void mproc__buf_free(mproc__buf_t *b);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_BUF_H */
