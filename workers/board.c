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
  atomic_store_explicit(&p->task, 0, memory_order_release);
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
