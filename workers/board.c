/* The pool's shared board: see board.h. */
#include "workers/board.h"

#include <sys/mman.h>

mproc__post_t *mproc__board_new(size_t n) {
  void *p = mmap(NULL, (n ? n : 1) * sizeof(mproc__post_t),
                 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p; /* anonymous memory comes zeroed */
}

void mproc__board_free(mproc__post_t *board, size_t n) {
  if (board != NULL) munmap(board, (n ? n : 1) * sizeof(mproc__post_t));
}

bool mproc__post_enter(mproc__post_t *p, uint64_t id, uint64_t now_ns) {
  /* The time first: whoever sees the id sees its start (release/acquire). */
  atomic_store_explicit(&p->entered_ns, now_ns, memory_order_relaxed);
  uint64_t idle = 0;
  return atomic_compare_exchange_strong_explicit(
      &p->task, &idle, id, memory_order_acq_rel, memory_order_acquire);
}

bool mproc__post_leave(mproc__post_t *p, uint64_t id) {
  uint64_t running = id;
  return atomic_compare_exchange_strong_explicit(
      &p->task, &running, 0, memory_order_acq_rel, memory_order_acquire);
}

void mproc__post_reset(mproc__post_t *p) {
  atomic_store_explicit(&p->entered_ns, 0, memory_order_relaxed);
  atomic_store_explicit(&p->gate, 0, memory_order_relaxed);
  atomic_store_explicit(&p->soft, 0, memory_order_relaxed);
  atomic_store_explicit(&p->task, 0, memory_order_release);
}

/* The gate word: the last admitted sequence number in bits 0-20, the
 * revoked range [from, to) in bits 21-41 and 42-62. */
#define M MPROC__SEQ_MASK
#define LAST(g) ((uint32_t)(g)&M)
#define FROM(g) ((uint32_t)((g) >> MPROC__SEQ_BITS) & M)
#define TO(g) ((uint32_t)((g) >> (2 * MPROC__SEQ_BITS)) & M)

static uint64_t gate(uint32_t last, uint32_t from, uint32_t to) {
  return (uint64_t)(last & M) | (uint64_t)(from & M) << MPROC__SEQ_BITS |
         (uint64_t)(to & M) << (2 * MPROC__SEQ_BITS);
}

/* seq in [from, to), modulo 2^21. */
static bool within(uint32_t seq, uint32_t from, uint32_t to) {
  return ((seq - from) & M) < ((to - from) & M);
}

bool mproc__post_admit(mproc__post_t *p, uint32_t seq) {
  uint64_t g = atomic_load_explicit(&p->gate, memory_order_acquire);
  for (;;) {
    if (within(seq, FROM(g), TO(g))) return false;
    if (atomic_compare_exchange_weak_explicit(
            &p->gate, &g, gate(seq, FROM(g), TO(g)), memory_order_acq_rel,
            memory_order_acquire))
      return true;
  }
}

uint32_t mproc__post_revoke(mproc__post_t *p, uint32_t from, uint32_t to) {
  uint64_t g = atomic_load_explicit(&p->gate, memory_order_acquire);
  for (;;) {
    uint32_t last = LAST(g);
    /* A range the worker has not gone past yet (its last admitted task
     * still comes before the range): its tasks are still to be dropped,
     * and one word holds one range. */
    if (FROM(g) != TO(g) && ((last - FROM(g)) & M) >= (M + 1) / 2)
      return M + 1;
    uint32_t first = from;
    if (within(last, from, to)) first = (last + 1) & M;
    if (first == (to & M)) return to & M; /* admitted them all already */
    if (atomic_compare_exchange_weak_explicit(&p->gate, &g,
                                              gate(last, first, to),
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return first;
  }
}

uint64_t mproc__post_running(const mproc__post_t *p, uint64_t *entered_ns) {
  uint64_t task = atomic_load_explicit(&((mproc__post_t *)p)->task,
                                       memory_order_acquire);
  if (entered_ns != NULL)
    *entered_ns = atomic_load_explicit(&((mproc__post_t *)p)->entered_ns,
                                       memory_order_relaxed);
  return task & ~MPROC__POST_KILL;
}

bool mproc__post_claim_kill(mproc__post_t *p, uint64_t id) {
  uint64_t running = id;
  return atomic_compare_exchange_strong_explicit(
      &p->task, &running, id | MPROC__POST_KILL, memory_order_acq_rel,
      memory_order_acquire);
}

void mproc__post_mark_soft(mproc__post_t *p, uint64_t id) {
  atomic_store_explicit(&p->soft, id, memory_order_release);
}

bool mproc__post_soft_passed(const mproc__post_t *p) {
  mproc__post_t *q = (mproc__post_t *)p;
  uint64_t task = atomic_load_explicit(&q->task, memory_order_acquire) &
                  ~MPROC__POST_KILL;
  return task != 0 && task != MPROC__POST_INIT &&
         atomic_load_explicit(&q->soft, memory_order_acquire) == task;
}
