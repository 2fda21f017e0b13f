/* multiproc internal — the pool's shared structures (pool.c, future.c,
 * map.c, loop.c, forkserver.c, worker.c).
 *
 * Threads. pool->lock guards everything below that more than one thread
 * touches: the queue, every task's state, every worker record (including
 * its output buffer: whoever dispatches writes, without blocking). Only the
 * pool thread (loop.c) reads worker pipes, so a worker's input reader is
 * the loop's alone; it decodes answers outside the lock and applies them
 * inside it.
 */
#ifndef MPROC_WORKERS_POOL_INTERNAL_H
#define MPROC_WORKERS_POOL_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/check.h"
#include "core/registry.h"
#include "core/base/buf.h"
#include "multiproc/frame.h"
#include "serialization/message.h"
#include "serialization/reader.h"
#include "workers/board.h"
#include "workers/control.h"
#include "multiproc/pool.h"
#include "workers/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TASK_QUEUED, TASK_DISPATCHED, TASK_DONE } task_state_t;

/* A done-callback (mproc_future_add_done_callback), in the order added. */
typedef struct mproc__done_cb {
  mproc_done_fn fn;
  void *arg;
  struct mproc__done_cb *next;
} mproc__done_cb_t;

/* A task and its future are the same object. */
struct mproc_future {
  mproc_pool_t *pool;
  struct mproc_future *next; /* queue, a worker's outstanding list, or the
                                free list */
  task_state_t state;
  bool user_holds; /* the caller has not freed it */
  bool pool_holds; /* queued or dispatched */
  bool cb_holds;   /* done-callbacks added and not yet run */
  mproc__done_cb_t *callbacks, *callbacks_tail; /* to run once done */
  struct mproc_future *cb_next; /* pool->cb_head's list: done, callbacks
                                   to run */
  uint64_t id;
  size_t nitems; /* a map chunk of this many items; 0 for one call */
  uint32_t wseq;  /* dispatched: its sequence number at its worker (board.h) */
  size_t first;  /* a chunk's first item's index in the whole input */
  mproc__buf_t frame; /* the encoded Call frame */
  uint8_t frame_inline[160];
  /* Outcome. */
  mproc_value_t *result;
  int code, exit_code, signal;
  char *message; /* NULL when none */
  /* A chunk's results, one per item (NULL once moved out), and its failed
   * items. */
  mproc_value_t **results;
  size_t n_results;
  mproc__item_error_t *item_errors;
  size_t n_item_errors;
  mproc_task_timing_t timing;
};

typedef enum {
  WORKER_NONE,     /* slot empty: to be (re)spawned */
  WORKER_SPAWNING, /* asked the fork server */
  WORKER_RUNNING,  /* pipe and pidfd known */
  WORKER_GONE      /* dead or retired: waiting for its exit status */
} worker_state_t;

/* A worker's descriptors sit in its registry node (so that every child the
 * parent forks closes them), in MPROC__WFD_* order (workers/worker.h). */

typedef struct {
  mproc__node_t node;
  int slot;
  worker_state_t state;
  pid_t pid;
  uint32_t serial;
  unsigned server_gen; /* the fork server that forked it */
  uint64_t spawn_at_ns; /* an empty slot waits until then (backoff) */
  bool ready;    /* READY received: its initializer succeeded */
  bool retiring; /* no more tasks; EOF once outstanding ones are answered */
  bool eof_sent;
  bool dead;     /* its pipe is closed: process ended or ending */
  bool eof_seen; /* loop thread: EOF or pidfd seen, not yet applied */
  bool out_armed; /* EPOLLOUT requested */
  bool status_known;
  int status;    /* wait status, from the fork server */
  char *init_error; /* INIT_FAILED message */
  /* Outstanding tasks, oldest (the one running) first. */
  struct mproc_future *ohead, *otail;
  unsigned nout;
  unsigned dispatched; /* over this worker's life */
  uint32_t seq;        /* the last task's sequence number (board.h) */
  bool slow;           /* dispatch: inside a task for a long while */
  /* Its answer pipe is lent to a caller waiting for its task (mproc_pool_
   * apply): the caller reads and applies the answer itself, one wake-up
   * fewer; meanwhile the pool thread neither reads nor watches it. */
  bool lent;
  bool skip_read; /* the pool thread's copy of lent for one round */
  mproc__buf_t out;     /* bytes dispatched, not yet written: from out_off */
  size_t out_off;       /* out's bytes before this are written */
  bool flush_now;       /* it was idle: write without waiting for a batch */
  mproc__reader_t in;   /* loop thread only */
  /* Timeout enforcement (the board says when a task started). */
  uint64_t timed_out_id; /* 0: none */
  uint64_t soft_id;      /* the last task marked past its soft limit */
  uint64_t kill_at_ns;   /* SIGKILL deadline after SIGTERM; 0: none */
  bool sigkilled;
  /* Statistics of the current worker and of the slot. */
  uint64_t born_ns;
  uint64_t busy_ns;
  uint64_t tasks;
  uint64_t utime_us, stime_us, maxrss_kb; /* last reported */
  mproc_worker_stats_t slot_stats;        /* ended workers, accumulated */
} worker_t;

/* The pool's own descriptors, in its registry node. */
enum {
  MPROC__POOL_FD_EPOLL = 0, /* the pool thread's epoll */
  MPROC__POOL_FD_WAKE,      /* eventfd that wakes the pool thread */
  MPROC__POOL_FD_CTL,       /* the fork server's control socket */
  MPROC__POOL_FD_SERVER     /* the fork server's pidfd, or -1 */
};

typedef enum {
  POOL_OPEN,
  POOL_CLOSED,      /* no new tasks; workers leave when done */
  POOL_TERMINATING, /* killing everything */
  POOL_DONE         /* the pool thread has finished */
} pool_state_t;

/* A thread in mproc_wait_many: its eventfd, written whenever tasks end. */
typedef struct mproc__fd_waiter {
  int fd;
  struct mproc__fd_waiter *next;
} mproc__fd_waiter_t;

struct mproc_pool {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* any task completed, or the state changed */
  unsigned refs;       /* the owner + every future alive */
  pool_state_t state;
  bool freed;
  mproc__node_t node; /* fds: MPROC__POOL_FD_* */

  /* Options, copied; what workers need is in wcfg (also max_frame). */
  unsigned nworkers;
  mproc__worker_cfg_t wcfg;
  mproc_value_t *initargs; /* owned; wcfg.initargs points to it */
  unsigned max_tasks_per_child;
  unsigned max_retries;
  uint64_t soft_ns;   /* soft time limit; 0: none */
  int soft_signal;    /* sent at the soft limit; 0: none */
  uint64_t task_timeout_ns;
  uint64_t kill_grace_ns;
  mproc__post_t *board; /* nworkers posts, shared with the workers */
  /* Start methods forkserver and spawn (workers/fresh.h): the memory file
   * holding the board and wcfg, handed to each fresh fork server, in
   * fresh_node.fds[0]; -1 with fork. */
  bool fresh;
  int fresh_fd;
  mproc__node_t fresh_node;

  worker_t *workers;
  struct mproc_future *qhead, *qtail; /* queued, FIFO */
  size_t queued;
  size_t unfinished; /* queued + dispatched */
  uint64_t next_id;
  struct mproc_future *free_tasks;
  size_t nfree;
  /* Done tasks whose callbacks the pool thread is to run, oldest first. */
  struct mproc_future *cb_head, *cb_tail;
  /* What terminate sends the workers: 0 means SIGKILL; SIGTERM
   * (terminate_workers) is followed by SIGKILL after kill_grace. */
  int stop_signal;

  /* The pool thread. */
  pthread_t thread;
  bool thread_started;
  bool loop_sleeping;    /* in epoll_wait: wake it through the eventfd */
  bool loop_reading;     /* back from epoll_wait, reading: lends nothing */
  bool in_loop;          /* dispatch runs on the pool thread: flush all */
  uint64_t now_ns;       /* the pool thread's clock for this round, or 0 */
  unsigned waiters;      /* threads waiting on cond or in fd_waiters */
  mproc__fd_waiter_t *fd_waiters; /* threads in mproc_wait_many (wait.c) */
  unsigned feeding;      /* iterators whose input is not exhausted: they
                            may still submit after close, as Python's
                            imap keeps running after close */
  bool completed;        /* a task finished since the last broadcast */
  uint64_t loop_wake_ns; /* when it would wake by itself (UINT64_MAX) */
  pid_t server_pid;      /* 0 while there is none */
  unsigned server_gen;   /* incremented at each start of a fork server */
  uint64_t server_born_ns;
  unsigned server_deaths; /* in a row, each before any worker served */
  uint64_t server_start_at_ns; /* when to start the next one (backoff) */
  int ctl;      /* the fork server's control socket (also in node) */
  int epfd;     /* the pool thread's epoll (also in node) */
  int wakefd;   /* eventfd that wakes the pool thread (also in node) */
  unsigned init_failures; /* initializers in a row that failed */
  unsigned start_failures; /* workers in a row that did not get to serve:
                              forks that failed, hand-overs lost, deaths
                              before READY; each adds to the backoff */
  int spawn_error;        /* the last fork or hand-over failure, or 0 */
  bool start_failed_now;  /* a start failed since the last settle */
  int start_error;        /* why the first fork server did not start */
  char *broken;           /* why workers cannot start; NULL while fine */
  double ema_run_ns;      /* recent task run time, for in-flight depth */
  uint64_t steal_at_ns;   /* when a worker's queued tasks may be taken for
                             an idle one (UINT64_MAX: no such worker) */
  uint32_t next_serial;
};

/* Closed, and nothing left to run nor to come: the workers may leave. */
static inline bool mproc__pool_drained(const mproc_pool_t *pool) {
  return pool->state == POOL_CLOSED && pool->unfinished == 0 &&
         pool->feeding == 0;
}

/* ---- pool.c */
/* The current time: the pool thread's reading for this round when it has
 * one (a clock read per task is measurable at 100,000 tasks). */
uint64_t mproc__pool_now(const mproc_pool_t *pool);
/* Adds worker w's figures (its life so far, at now_ns) to s. */
void mproc__worker_fold_stats(const worker_t *w, mproc_worker_stats_t *s,
                              uint64_t now_ns);
void mproc__pool_unref_locked(mproc_pool_t *pool); /* may free the pool:
                                                      unlocks first then */
/* Wakes the pool thread if it sleeps (or sleeps past deadline_ns). */
void mproc__pool_wake_locked(mproc_pool_t *pool, uint64_t deadline_ns);

/* ---- future.c */
/* A task object: recycled or new; NULL on ENOMEM. With the lock held. */
struct mproc_future *mproc__task_new_locked(mproc_pool_t *pool);
/* Gives back a task that was never queued (its encoding failed). */
void mproc__task_discard_locked(mproc_pool_t *pool, struct mproc_future *t);
/* Gives t, finished and released by its caller, back to the free list (or
 * to free() once the pool is freed). With the lock held. */
void mproc__task_recycle_locked(mproc_pool_t *pool, struct mproc_future *t);
/* Frees a chunk's results and item errors. */
void mproc__task_clear_chunk(struct mproc_future *t);
/* Encodes the call into t's frame: args (or argv/argc) and kwargs as one
 * call (mode MPROC__CALL_ONE), or argv as the items of a map chunk. */
MPROC__MUST_USE int mproc__task_encode(mproc_pool_t *pool, struct mproc_future *t,
                       const char *target, const mproc_value_t *args,
                       const mproc_value_t *const *argv, size_t argc,
                       const mproc_value_t *kwargs, uint32_t mode,
                       uint64_t first);
/* Why the pool cannot take a task now (MPROC_EBROKEN, MPROC_ECLOSED), or 0.
 * feeding: for an iterator started before close, which may go on feeding a
 * closed pool (as Python's imap does). With the lock held. */
int mproc__pool_refuse_locked(const mproc_pool_t *pool, bool feeding);
/* Queues one task: args (or argv/argc) and kwargs as one call, or argv as
 * a map chunk (mode); refused when the pool cannot take it (see
 * refuse_locked). The call is encoded without the lock. Sets *out. */
MPROC__MUST_USE int mproc__task_submit(mproc_pool_t *pool, const char *target,
                                       const mproc_value_t *args,
                                       const mproc_value_t *const *argv,
                                       size_t argc,
                                       const mproc_value_t *kwargs,
                                       uint32_t mode, uint64_t first,
                                       bool feeding,
                                       struct mproc_future **out);
/* The same for k tasks at once (map chunks: task i's items are the next
 * counts[i] of argv, its first index first plus those before it): created
 * and queued under one hold of the lock each, encoded outside it, and
 * dispatched together. Stops at the first that cannot be encoded or
 * created: out[0..*done) are the tasks submitted (none when it was
 * refused). mproc__task_submit is the case k = 1. */
MPROC__MUST_USE int mproc__task_submit_many(
    mproc_pool_t *pool, const char *target, const mproc_value_t *args,
    const mproc_value_t *const *argv, const size_t *counts, size_t k,
    const mproc_value_t *kwargs, uint32_t mode, uint64_t first, bool feeding,
    struct mproc_future **out, size_t *done);
/* Fills err (when not NULL) for a call the pool refused with rc: a broken
 * pool says why. */
void mproc__pool_refusal(mproc_pool_t *pool, int rc, mproc_task_error_t *err);
/* Item i of a finished chunk task: its error (code 0 when it succeeded) and
 * its result (NULL when it failed, or once taken). With the lock held. */
void mproc__chunk_item(const struct mproc_future *t, size_t i,
                       mproc_task_error_t *err, const mproc_value_t **result);
/* One wait on pool->cond, until deadline_ns at the latest (UINT64_MAX: no
 * limit); MPROC_ETIMEDOUT once it has passed. With the lock held. */
MPROC__MUST_USE int mproc__cond_wait_until(mproc_pool_t *pool, uint64_t deadline_ns);
/* Waits on pool->cond until t is done or the deadline passes; 0 or
 * MPROC_ETIMEDOUT. With the lock held. */
MPROC__MUST_USE int mproc__task_wait_locked(mproc_pool_t *pool, struct mproc_future *t,
                            uint64_t deadline_ns);
/* Copies t's error into err. */
void mproc__task_error(const struct mproc_future *t, mproc_task_error_t *err);

/* Runs the callbacks of the done tasks on pool->cb_head, without the lock
 * (released and taken again); the pool thread's. With the lock held. */
void mproc__run_callbacks_locked(mproc_pool_t *pool);

/* ---- wait.c */
/* Tells the threads in mproc_wait_many on this pool that tasks ended:
 * writes their eventfds. Wherever pool->cond is broadcast for completed
 * tasks. With the lock held. */
void mproc__pool_notify_fds_locked(mproc_pool_t *pool);

/* ---- loop.c: the pool thread */
void *mproc__pool_thread(void *pool);
/* Dispatches queued tasks (sched.c) and writes to the workers that were
 * idle at once, without blocking; busy workers get theirs with the pool
 * thread's next flush. With the lock held. */
void mproc__dispatch_locked(mproc_pool_t *pool);
/* Writes w's pending output without blocking. */
void mproc__flush_worker(worker_t *w);
/* Applies the report r that worker slot sent (and clears r). With the
 * lock held. */
void mproc__loop_apply_locked(mproc_pool_t *pool, int slot,
                              mproc__report_t *r);
/* Waits for t, reading its worker's answer pipe itself when the pool
 * thread is asleep (then only two processes wake per round trip: the
 * worker, then the caller); else as mproc__task_wait_locked. With the lock
 * held (released while waiting). */
void mproc__apply_wait_locked(mproc_pool_t *pool, struct mproc_future *t);
/* Watches fd in the pool thread's epoll under tag (slots.c registers a
 * new worker's descriptors), changes what it is watched for, forgets it. */
void mproc__loop_watch(mproc_pool_t *pool, int fd, uint32_t events,
                       uint64_t tag);
void mproc__loop_rewatch(mproc_pool_t *pool, int fd, uint32_t events,
                         uint64_t tag);
void mproc__loop_unwatch(mproc_pool_t *pool, int fd);

/* What the pool thread's epoll tags say: kind and worker slot. */
enum {
  MPROC__TAG_WAKE = 1,
  MPROC__TAG_CTL,
  MPROC__TAG_SERVER,
  MPROC__TAG_WTASKS,   /* a worker's task socket became writable */
  MPROC__TAG_WANSWERS, /* answers arrived (or the worker closed its pipe) */
  MPROC__TAG_WPIDFD    /* the worker ended */
};
#define MPROC__TAG(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))
#define MPROC__TAG_KIND(u) ((int)((u) >> 32))
#define MPROC__TAG_SLOT(u) ((int)((u)&0xffffffffu))

/* ---- slots.c: worker slots and the fork server, on the pool thread */
/* A worker's READY or INIT_FAILED report. */
void mproc__slot_on_report(mproc_pool_t *pool, worker_t *w,
                           mproc__report_t *r);
/* The fork server handed over a worker (SPAWNED): take it, or have it
 * killed when its descriptors did not arrive. Registry lock held. */
void mproc__slot_on_spawned(mproc_pool_t *pool, const mproc__control_t *c,
                            const int fds[MPROC__WFD_COUNT]);
/* The fork server could not fork a worker for slot (SPAWN_FAILED). */
void mproc__slot_spawn_failed(mproc_pool_t *pool, uint32_t slot, int err);
/* The fork server reaped a worker (EXITED). */
void mproc__slot_exited(mproc_pool_t *pool, const mproc__control_t *c);
/* Its pipe reached EOF: drop its descriptors; wait for its status. */
void mproc__slot_mark_dead(mproc_pool_t *pool, worker_t *w);
/* After starts failed (fork or hand-over errors) too often in a row with no
 * worker serving: the queued tasks fail with that error and the limit's
 * detail, rather than wait; the pool keeps trying. With the pool lock held,
 * the registry's not. */
void mproc__slots_fail_queue_if_starts_fail(mproc_pool_t *pool);
/* Settles every worker that is dead with its status known: its tasks, its
 * statistics, its slot. */
void mproc__slots_settle_deaths(mproc_pool_t *pool);
/* Enforces task timeouts (SIGTERM, then SIGKILL after the grace). Returns
 * when to check again (UINT64_MAX: never). */
uint64_t mproc__slots_check_timers(mproc_pool_t *pool, uint64_t now);
/* EOF to workers that should leave: retiring ones once their tasks are
 * answered, all of them once a closed pool is done. */
void mproc__slots_send_eofs(mproc_pool_t *pool);
/* Asks for a worker in every empty slot whose backoff has passed; returns
 * when the next waiting slot is due (UINT64_MAX: none). */
uint64_t mproc__slots_respawn(mproc_pool_t *pool);
/* terminate(): SIGKILL every worker, forget pending spawns. */
void mproc__slots_kill_all(mproc_pool_t *pool);
/* Whether every slot is empty. */
bool mproc__slots_all_gone(const mproc_pool_t *pool);
/* Starts a fork server (without the pool lock: fork copies the calling
 * thread only). Returns 0 or -errno. */
MPROC__MUST_USE int mproc__server_begin(mproc_pool_t *pool);
/* The fork server died: forget it and its pending spawns; plan a new one
 * or break the pool. With the lock held. */
void mproc__server_died(mproc_pool_t *pool);
/* Whether a fork server should start now (or when, in *at, if later). */
bool mproc__server_due(const mproc_pool_t *pool, uint64_t now, uint64_t *at);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_POOL_INTERNAL_H */
