/* Slab chunks for decoded nodes: see slab.h. */
#include "serialization/slab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK MPROC__SLAB_CHUNK
#define HEADER ((size_t)64)
#define NODE sizeof(mproc_value_t)
/* The most nodes one chunk can give. */
#define SLOTS ((CHUNK - HEADER) / NODE)

_Static_assert(NODE % 16 == 0, "nodes keep 16-byte alignment in a chunk");
_Static_assert((CHUNK & (CHUNK - 1)) == 0, "chunks are a power of two");

typedef struct {
  /* Nodes not freed yet, counting every slot the cutter may still cut:
   * it starts at SLOTS and the cutter gives back the slots it did not use
   * when it moves on. */
  atomic_size_t refs;
} chunk_t;

_Static_assert(sizeof(chunk_t) <= HEADER, "chunk header fits");

typedef mproc__cutter_t cutter_t;

/* initial-exec: a shared libmultiproc reaches it without __tls_get_addr. */
_Thread_local mproc__cutter_t mproc__cutter
    __attribute__((tls_model("initial-exec")));
#define cutter mproc__cutter

/* Chunks whose nodes are all freed wait here for the thread that freed
 * them to cut them again: the same few chunks, warm in the cache, serve
 * a worker's tasks one after another (a fresh chunk is a malloc and a few
 * page faults). Two at most, so an idle thread keeps 32 KiB. */
#define SPARES 2
static _Thread_local char *spares[SPARES]
    __attribute__((tls_model("initial-exec")));
static pthread_key_t thread_end;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void watch_thread_end(void);

static void chunk_unref(chunk_t *c, size_t n) {
  if (atomic_fetch_sub_explicit(&c->refs, n, memory_order_acq_rel) == n) {
    for (int i = 0; i < SPARES; i++) {
      if (spares[i] == NULL) {
        spares[i] = (char *)c;
        watch_thread_end();
        return;
      }
    }
    UNPOISON(c, CHUNK);
    free(c);
  }
}

/* The cutter moves on: the slots it will not cut are given back. */
static void give_up(cutter_t *t) {
  if (t->chunk == NULL) return;
  chunk_t *c = (chunk_t *)t->chunk;
  t->chunk = NULL;
  if (SLOTS > t->nodes) chunk_unref(c, SLOTS - t->nodes);
}

static void on_thread_end(void *arg) {
  (void)arg;
  give_up(&cutter);
  for (int i = 0; i < SPARES; i++) {
    if (spares[i] != NULL) UNPOISON(spares[i], CHUNK);
    free(spares[i]);
    spares[i] = NULL;
  }
}

static void make_key(void) {
  if (pthread_key_create(&thread_end, on_thread_end) != 0)
    thread_end = (pthread_key_t)-1;
}

/* The thread's end gives its chunks up (a value only has to be set for the
 * destructor to run). */
static _Thread_local bool watched __attribute__((tls_model("initial-exec")));

static void watch_thread_end(void) {
  if (watched) return;
  watched = true;
  pthread_once(&key_once, make_key);
  if (thread_end != (pthread_key_t)-1) pthread_setspecific(thread_end, &cutter);
}

static bool new_chunk(cutter_t *t) {
  give_up(t);
  char *c = NULL;
  for (int i = 0; i < SPARES && c == NULL; i++) {
    c = spares[i];
    spares[i] = NULL;
  }
  if (c == NULL) c = aligned_alloc(CHUNK, CHUNK);
  if (c == NULL) return false;
  atomic_init(&((chunk_t *)c)->refs, SLOTS);
  POISON(c + HEADER, CHUNK - HEADER);
  t->chunk = c;
  t->used = HEADER;
  t->nodes = 0;
  watch_thread_end();
  return true;
}

mproc_value_t *mproc__slab_node_new_chunk(void) {
  cutter_t *t = &cutter;
  if (t->chunk == NULL || t->used + NODE > CHUNK || t->nodes == SLOTS) {
    if (!new_chunk(t)) return NULL;
  }
  mproc_value_t *v = (mproc_value_t *)(t->chunk + t->used);
  t->used += NODE;
  t->nodes++;
  UNPOISON(v, NODE);
  memset(v, 0, NODE);
  v->slab = 1;
  return v;
}

char *mproc__slab_bytes(size_t n) {
  cutter_t *t = &cutter;
  size_t need = (n + 15) & ~(size_t)15;
  if (n > MPROC__SLAB_BYTES_MAX || t->chunk == NULL ||
      t->used + need > CHUNK)
    return NULL;
  char *p = t->chunk + t->used;
  t->used += need;
  UNPOISON(p, n);
  return p;
}

void mproc__slab_release(mproc_value_t *v) {
  chunk_t *c = (chunk_t *)((uintptr_t)v & ~(uintptr_t)(CHUNK - 1));
  POISON(v, NODE);
  chunk_unref(c, 1);
}
