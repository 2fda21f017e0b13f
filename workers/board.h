/* multiproc internal — the pool's board: one post per worker slot, in memory
 * shared by the pool, its fork server and every worker (MAP_SHARED,
 * inherited across fork), where each worker says what it is running.
 *
 * Pipes tell the pool what a worker finished, and only once it reads them.
 * The board answers three questions exactly, at any moment:
 *   - which task a worker was inside when it died: only that one fails;
 *     the others it held never started and go to other workers;
 *   - when that task started: its timeout counts from there, not from an
 *     estimate (the worker's queue, its initializer do not count);
 *   - whether the task the pool wants to stop for its timeout is still the
 *     one running: the pool claims the kill of task X only while the post
 *     says X (compare-and-swap), and a worker that finishes X sees the
 *     claim and leaves before starting the next task — so a task finishing
 *     right at its deadline never gets its successor killed.
 *
 * A post's task word: 0 between tasks, the id of the task (or map chunk)
 * inside its target, MPROC__POST_INIT while the initializer runs, with
 * MPROC__POST_KILL set once the pool has claimed the kill. Task ids stay
 * below 2^62.
 *
 * A fourth question, for work stealing: which of the tasks written to a
 * worker it has not started, so that another worker may run them. Tasks
 * carry a sequence number per worker (1, 2, ... in the order they were
 * written to it, which is the order it reads them). The gate word holds
 * the last sequence number the worker admitted and a range the pool has
 * revoked; the worker admits a task (compare-and-swap) only if it is not
 * revoked, and the pool revokes only tasks not yet admitted — so a task
 * runs either where it was first sent or where it was taken to, never in
 * both. A revoked task is read and dropped by its first worker unanswered.
 * Numbers are 21 bits, compared modulo 2^21 (a worker has far fewer tasks
 * in flight).
 */
#ifndef MPROC_WORKERS_BOARD_H
#define MPROC_WORKERS_BOARD_H

#ifndef __cplusplus
#include <stdatomic.h>
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC__POST_KILL ((uint64_t)1 << 63)
#define MPROC__POST_INIT ((uint64_t)1 << 62)

/* C++ (multiproc's own tests include the pool's internals) sees the layout
 * only; the atomics are C11's, used in board.c. */
#ifdef __cplusplus
#define MPROC__ATOMIC(type) type
#else
#define MPROC__ATOMIC(type) _Atomic type
#endif

/* A cache line each: posts of different workers never share one. */
typedef struct {
  MPROC__ATOMIC(uint64_t) task;
  MPROC__ATOMIC(uint64_t) entered_ns; /* CLOCK_MONOTONIC, when task started */
  MPROC__ATOMIC(uint64_t) gate;       /* admitted and revoked sequences */
  MPROC__ATOMIC(uint64_t) soft;       /* the task past its soft limit */
  char pad[32];
} mproc__post_t;

#define MPROC__SEQ_BITS 21
#define MPROC__SEQ_MASK ((1u << MPROC__SEQ_BITS) - 1)

/* Maps n posts, zeroed, shared with every process forked afterwards.
 * Returns NULL on failure (errno set). */
mproc__post_t *mproc__board_new(size_t n);
void mproc__board_free(mproc__post_t *board, size_t n);

/* ---- The worker's side. */

/* Posts that the worker enters task id at now_ns. Returns false when the
 * pool has claimed a kill: the worker must leave without starting it. */
bool mproc__post_enter(mproc__post_t *p, uint64_t id, uint64_t now_ns);
/* Clears the post after task id's answer is written. Returns false when
 * the pool claimed its kill meanwhile: the worker must leave now. */
bool mproc__post_leave(mproc__post_t *p, uint64_t id);

/* Admits the task with sequence number seq (the worker's count of tasks
 * read, modulo 2^21): true when it may run it, false when the pool took it
 * back (the worker drops it without an answer). */
bool mproc__post_admit(mproc__post_t *p, uint32_t seq);

/* Whether the task the worker is inside has passed its soft time limit
 * (the pool marked it: mproc__post_mark_soft). */
bool mproc__post_soft_passed(const mproc__post_t *p);

/* ---- The pool's side. */

/* Resets a slot's post before a new worker takes it. */
void mproc__post_reset(mproc__post_t *p);
/* The task word without the kill flag, and when it was entered. */
uint64_t mproc__post_running(const mproc__post_t *p, uint64_t *entered_ns);
/* Marks task id as past its soft time limit. A mark for a task the worker
 * has just left is harmless: it names that task, not the next. */
void mproc__post_mark_soft(mproc__post_t *p, uint64_t id);
/* Claims the kill of task id: true only if the worker is inside it now. */
bool mproc__post_claim_kill(mproc__post_t *p, uint64_t id);

/* Takes back the tasks with sequence numbers from..to-1 (modulo 2^21) that
 * the worker has not admitted. Returns the first one taken back (to when
 * none), or MPROC__SEQ_MASK + 1 when an earlier range is still pending
 * (the worker has not gone past it): nothing is taken then. */
uint32_t mproc__post_revoke(mproc__post_t *p, uint32_t from, uint32_t to);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_BOARD_H */
