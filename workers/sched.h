/* multiproc internal — the pool's task state machine.
 *
 * Where every task is and what happens to it: queued (FIFO), dispatched to
 * exactly one worker (its outstanding list, oldest first — the one it runs
 * or will run next), done. The transitions are all here: enqueue, dispatch,
 * complete (an answer), a worker's death (the task it was inside fails, the
 * ones it never started go back to the front of the queue), fail-all
 * (terminate, a broken pool), and retirement decisions.
 *
 * Every function runs with pool->lock held and makes no system call: the
 * state machine is unit-tested by feeding it events, without forking
 * (tests/workers/sched_test.cc). What the transitions imply for processes
 * and descriptors — writing the bytes appended to a worker's output,
 * signalling, respawning — is the pool thread's (loop.c, slots.c).
 */
#ifndef MPROC_WORKERS_SCHED_H
#define MPROC_WORKERS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/check.h"
#include "workers/pool_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends t to the queue (its submission time set if not yet). */
void mproc__sched_enqueue_locked(mproc_pool_t *pool, struct mproc_future *t);

/* Moves queued tasks, oldest first, to the accepting worker with the
 * fewest outstanding (at most the in-flight cap each, and never past
 * max_tasks_per_child), appending each task's frame to the worker's output
 * buffer. A worker that was idle gets flush_now set: its task should be
 * written at once. With nothing queued and a worker idle, tasks waiting
 * behind a slow one at another worker are stolen for it (the board says
 * which have not started); pool->steal_at_ns says when to look again.
 * Returns how many tasks moved. */
unsigned mproc__sched_dispatch_locked(mproc_pool_t *pool, uint64_t now_ns);

/* The answer r from worker w, for its oldest outstanding task: fills the
 * task's outcome (taking what r holds), finishes it, and marks w retiring
 * when due. Returns 0, or MPROC_EMALFORMED when r is not for that task (a
 * broken worker: the caller stops it, and its death settles the rest). */
MPROC__MUST_USE int mproc__sched_complete_locked(mproc_pool_t *pool, worker_t *w,
                                 mproc__report_t *r, uint64_t now_ns);

/* Worker w has died while inside task running (0: none, as the board
 * says). That task fails with code, exit_code, sig and why — unless code
 * is MPROC_EWORKER and it has retries left (max_retries): then it is
 * requeued with the others, counted in its timing; every other task w held
 * never started, and goes back to the front of the queue, in order.
 * Returns whether w was inside a task. */
bool mproc__sched_worker_died_locked(mproc_pool_t *pool, worker_t *w,
                                     uint64_t running, int code,
                                     int exit_code, int sig, const char *why);

/* Every task w holds goes back to the front of the queue (it never served:
 * none of them started). */
void mproc__sched_requeue_locked(mproc_pool_t *pool, worker_t *w);

/* Fails every queued task (and, with running_too, every dispatched one)
 * with code and why. The caller broadcasts. */
void mproc__sched_fail_all_locked(mproc_pool_t *pool, int code,
                                  bool running_too, const char *why);

/* Marks t done with its outcome already set and drops the pool's hold. The
 * caller broadcasts pool->cond. */
void mproc__sched_finish_locked(mproc_pool_t *pool, struct mproc_future *t);

/* Fails t with code and a message (printf-style), and finishes it. */
void mproc__sched_fail_locked(mproc_pool_t *pool, struct mproc_future *t,
                              int code, int exit_code, int sig,
                              const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Cancels t if it is queued (not yet dispatched): it leaves the queue and
 * fails with MPROC_ECANCELED. Returns whether it was. The caller
 * broadcasts. */
bool mproc__sched_cancel_locked(mproc_pool_t *pool, struct mproc_future *t);

/* Whether w may be given tasks now. */
bool mproc__sched_accepting(const mproc_pool_t *pool, const worker_t *w);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_SCHED_H */
