/* multiproc internal (serialization/ only) — where decoded values live.
 *
 * A decoder makes one node per value, and a frame of a pool's answers can
 * hold 100,000 of them: a malloc and a free for each cost more than the
 * decoding itself. Decoded nodes (and the bytes of their short strings)
 * come instead from 16 KiB chunks, cut in order by the decoding thread: a
 * node costs a pointer bump, and freeing it one atomic decrement of its
 * chunk's count (a chunk is aligned on its size, so a node finds its chunk
 * by masking its address). The last node freed frees the chunk.
 *
 * Such a node is a value like any other: it can be changed (its arrays and
 * big strings are the heap's as always), moved between threads and freed in
 * any of them; only its own 64 bytes (and a short string's bytes) sit in a
 * chunk. mproc_value_free knows it by its `slab` flag.
 *
 * Each thread cuts from its own current chunk, which it gives up when it is
 * full or when the thread ends. Under AddressSanitizer every node freed is
 * poisoned, so a use after free is still reported.
 */
#ifndef MPROC_SERIALIZATION_SLAB_H
#define MPROC_SERIALIZATION_SLAB_H

#include <stddef.h>

#include "serialization/value_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's current chunk (slab.c). */
typedef struct {
  char *chunk;
  size_t used;  /* bytes cut, header included */
  size_t nodes; /* nodes cut */
} mproc__cutter_t;
extern _Thread_local mproc__cutter_t mproc__cutter
    __attribute__((tls_model("initial-exec")));
#define MPROC__SLAB_CHUNK ((size_t)16384)

/* The slow path of mproc__slab_node: a new chunk first. */
mproc_value_t *mproc__slab_node_new_chunk(void);

#if defined(__SANITIZE_ADDRESS__)
#define MPROC__SLAB_INLINE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MPROC__SLAB_INLINE 0
#endif
#endif
#ifndef MPROC__SLAB_INLINE
#define MPROC__SLAB_INLINE 1
#endif

/* A zeroed node with its `slab` flag set, or NULL when memory is short.
 * (Inline: a node is a bump of the thread's pointer. Under ASan the
 * out-of-line version unpoisons it.) */
static inline mproc_value_t *mproc__slab_node(void) {
#if MPROC__SLAB_INLINE
  mproc__cutter_t *t = &mproc__cutter;
  if (t->chunk != NULL &&
      t->used + sizeof(mproc_value_t) <= MPROC__SLAB_CHUNK) {
    mproc_value_t *v = (mproc_value_t *)(t->chunk + t->used);
    t->used += sizeof(mproc_value_t);
    t->nodes++;
    *v = (mproc_value_t){0};
    v->slab = 1;
    return v;
  }
#endif
  return mproc__slab_node_new_chunk();
}

/* n bytes (n <= MPROC__SLAB_BYTES_MAX) for the string of the node cut just
 * before, in the same chunk: freed with that node's chunk, never alone.
 * NULL when they do not fit: the caller mallocs them. */
#define MPROC__SLAB_BYTES_MAX 256
char *mproc__slab_bytes(size_t n);

/* Frees a slab node (mproc_value_free's last step for one). */
void mproc__slab_release(mproc_value_t *v);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_SLAB_H */
