/* multiproc — Queue: Python's multiprocessing Queue, SimpleQueue and
 * JoinableQueue, for many producers and consumers in many processes.
 *
 *     mproc_queue_t *q;
 *     mproc_queue_new(&q, NULL);          // Queue(): before the children
 *     ... a producer, in any process:
 *         mproc_value_t *v;
 *         mproc_value_str(&v, "A");
 *         mproc_queue_put(q, v, -1);      // q.put('A')
 *         mproc_value_free(v);
 *     ... a consumer, in any process:
 *         mproc_value_t *got;
 *         mproc_queue_get(q, &got, -1);   // q.get()
 *
 * Items are values (multiproc/value.h) of any size up to 2 GiB encoded
 * (the wire format's bound on one value), copied in: put encodes
 * the item (the caller keeps it) and get hands out a new value. The queue
 * is a ring in anonymous shared memory guarded by a robust process-shared
 * mutex; an item too large for the ring (over a quarter of it) is written
 * to a memory file of its own (memfd) whose descriptor travels through a
 * socket of the queue's: never truncated, never more than one copy in
 * and one out.
 *
 * Processes. A queue made before a Process is started, or before a pool
 * is created, is shared with that child or its workers through the same
 * handle; its descriptors (the socket above) are inherited on purpose, as
 * a Pipe's are (see multiproc/pipe.h). A queue made later does not exist
 * there. There is no feeder thread: put returns once the item is in the
 * queue, so a process may exit right after a put without losing it, and
 * there is nothing to join or cancel (Python's join_thread and
 * cancel_join_thread have no counterpart).
 *
 * Robustness. A process killed at any instant — inside put or get, even
 * holding the queue's lock — never leaves a torn or half-written item
 * behind and never wedges the queue: every change to the queue's state is
 * committed by one store of a journal, and whoever takes the lock next
 * after a death (the kernel's robust mutex tells them) finishes or
 * forgets the dead process's change. An item being put when its producer
 * dies is either whole in the queue or not there at all; an item being
 * taken when its consumer dies is either still in the queue or gone with
 * that consumer — never both, never twice. Python's Queue, a pipe fed by
 * a thread under a lock, can be left with half an item or a lock held
 * forever by such a death.
 *
 * Blocking calls take timeout_s: negative waits without limit, 0 does not
 * wait (put_nowait/get_nowait), NaN is MPROC_EINVAL; CLOCK_MONOTONIC, and
 * a signal (EINTR) neither ends nor extends the wait. Every function here
 * is thread-safe.
 *
 * Errors every function here may return: MPROC_EINVAL (a NULL handle or
 * argument, NaN timeout).
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "multiproc/error.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_queue mproc_queue_t;

/* Zero-initialise, then set what you need; NULL options are all zeros. */
typedef struct {
  /* At most this many items in the queue (put then waits); 0: no limit
   * (Python's maxsize <= 0), the ring's room aside. */
  size_t maxsize;
  /* A JoinableQueue: mproc_queue_task_done and mproc_queue_join work. */
  bool joinable;
  /* The ring's size in bytes; 0: 512 KiB. Items over a quarter of it go
   * to a memory file of their own. Rounded up to a page; at least 4 KiB. */
  size_t capacity;
} mproc_queue_opts_t;

/* Makes a queue (Queue(maxsize), SimpleQueue() or JoinableQueue(maxsize)).
 * Errors: MPROC_ENOMEM, MPROC_EMFILE, MPROC_ENFILE. */
MPROC_API int mproc_queue_new(mproc_queue_t **out, const mproc_queue_opts_t *opts);

/* Puts a copy of item at the end, waiting at most timeout_s for room
 * (maxsize reached, or the ring full). Errors: MPROC_EFULL (no room in
 * time: Python's queue.Full, also for put_nowait), MPROC_E2BIG (an item
 * whose encoding is over 2 GiB), MPROC_ENOMEM, MPROC_ENOSPC (no memory
 * for a large item's memory file), MPROC_EMFILE (no descriptor for it),
 * MPROC_ETOOBIG (that file over this process's RLIMIT_FSIZE). */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const mproc_value_t *item,
                              double timeout_s);

/* Takes the first item, waiting at most timeout_s for one; *out is a new
 * value owned by the caller. Errors: MPROC_EEMPTY (none in time: Python's
 * queue.Empty, also for get_nowait), MPROC_EMALFORMED (an item that cannot
 * be decoded: never for items put by this library), MPROC_ENOMEM,
 * MPROC_EMFILE (no descriptor to receive a large item: that item is
 * lost). */
MPROC_API int mproc_queue_get(mproc_queue_t *q, mproc_value_t **out,
                              double timeout_s);

/* The number of items now (Python's qsize(): it may have changed by the
 * time you look), or MPROC_EINVAL. */
MPROC_API long mproc_queue_qsize(const mproc_queue_t *q);
/* 1 when empty / full (maxsize items), 0 otherwise (approximate, as
 * qsize), or MPROC_EINVAL. */
MPROC_API int mproc_queue_empty(const mproc_queue_t *q);
MPROC_API int mproc_queue_full(const mproc_queue_t *q);

/* JoinableQueue: one call per item taken, once it has been dealt with.
 * Errors: MPROC_ESTATE (not joinable), MPROC_ERANGE (more calls than items
 * put: Python's "task_done() called too many times"). */
MPROC_API int mproc_queue_task_done(mproc_queue_t *q);

/* JoinableQueue: waits until every item put has had its task_done, at
 * most timeout_s. Errors: MPROC_ESTATE (not joinable), MPROC_ETIMEDOUT. */
MPROC_API int mproc_queue_join(mproc_queue_t *q, double timeout_s);

/* Releases this process's handle (the ring stays for the other processes
 * holding it): put and get are no longer possible here. NULL is ignored.
 * Always 0. */
MPROC_API int mproc_queue_close(mproc_queue_t *q);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_QUEUE_H */
