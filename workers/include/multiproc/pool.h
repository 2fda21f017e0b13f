/* multiproc — Pool: a thread-pool-style pool of pre-forked worker processes,
 * after Python's multiprocessing.Pool and concurrent.futures'
 * ProcessPoolExecutor, without their failure modes.
 *
 *     MPROC_TARGET(square) {                  // multiproc/target.h
 *       int64_t x;
 *       if (mproc_unpack(call, "x=L", &x) < 0) return -1;
 *       return mproc_call_return(call, "L", x * x);
 *     }
 *
 *     mproc_pool_opts_t opts = {0};           // workers: one per CPU
 *     mproc_pool_t *pool;
 *     mproc_pool_new(&pool, &opts);
 *     mproc_value_t *args;
 *     mproc_pack(&args, "(i)", 7);
 *     mproc_value_t *result;
 *     mproc_pool_apply(pool, "square", args, NULL, &result, NULL);  // 49
 *     ...
 *     mproc_pool_close(pool);
 *     mproc_pool_join(pool, -1);
 *     mproc_pool_free(pool);
 *
 * Tasks name a registered target and carry their args and kwargs as values;
 * each task is a nanopb-encoded Call, each answer a Report, both framed, on
 * the worker's own duplex pipe. A task belongs to exactly one worker from
 * dispatch to answer — there is no shared queue whose lock a dying worker
 * could take with it — so when a worker dies the pool knows which task it
 * was running: that task fails with an error naming the signal or exit
 * code, the tasks queued behind it go to other workers, and a new worker
 * takes the dead one's place. Nothing hangs.
 *
 * A target fails by returning non-zero or through mproc_call_fail; the
 * caller gets the message, code and exit code on the task's future, and the
 * worker keeps serving. A task that runs past task_timeout_s gets its
 * worker SIGTERMed, then SIGKILLed after kill_grace_s, and fails with
 * MPROC_ETASKTIMEOUT; a fresh worker replaces it. Workers that reach
 * max_tasks_per_child or max_rss_per_child are retired and replaced between
 * tasks: planned, never reported as a failure.
 *
 * Processes. mproc_pool_new starts a fork server, from a pool thread of its
 * own, and every worker — first ones and replacements — is forked by that
 * single-threaded server (forked from the program, or with the forkserver
 * and spawn start methods exec'd fresh: see start_method). A worker is thus never forked from a process
 * whose other threads might hold locks (the pool's own thread, the
 * caller's threads), which is what makes respawning safe at any time; with
 * fork the workers see the program as it was when the pool was created
 * (globals, registered targets). The server and the workers die with the pool's
 * process (PR_SET_PDEATHSIG, re-checked), so they are never orphaned.
 * Workers ignore SIGINT, leaving Ctrl-C to the parent, and start with the
 * parent's other signal handlers reset (as Process children do).
 *
 * Threads. Every function here may be called from any thread at the same
 * time. A pool thread moves tasks to workers and answers back; callers
 * never block it. A future or iterator is used by one thread at a time.
 *
 * Speed. Several tasks are in flight per worker and many frames go out in
 * one write and come back in one read; small tasks cost no malloc once the
 * pool is warm (futures are recycled, calls encoded into them). See the
 * README for the figures against Python.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "multiproc/call.h"
#include "multiproc/error.h"
#include "multiproc/process.h"
#include "multiproc/target.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_pool mproc_pool_t;
typedef struct mproc_future mproc_future_t;
typedef struct mproc_iter mproc_iter_t;

/* Zero-initialise, then set what you need. */
typedef struct {
  /* Worker processes; 0: the CPUs this process may run on. */
  unsigned workers;
  /* Runs once in each new worker before its first task, with initargs;
   * non-zero return or mproc_call_fail means the worker cannot serve. If
   * workers keep failing to start (3 in a row), the pool is broken: queued
   * and new tasks fail with MPROC_EBROKEN and the initializer's message. */
  mproc_target_fn initializer;
  const mproc_value_t *initargs; /* a tuple or list, or NULL */
  /* Retire a worker after this many tasks; 0: never. */
  unsigned max_tasks_per_child;
  /* Retire a worker once its resident set exceeds this many bytes (checked
   * after each task); 0: never. */
  size_t max_rss_per_child;
  /* Stop a task that runs longer (seconds); 0: no limit. */
  double task_timeout_s;
  /* Between SIGTERM and SIGKILL for a timed-out task; 0: 1 second. */
  double kill_grace_s;
  /* A soft time limit before the hard one (Celery's soft_time_limit), in
   * seconds of a task's run; 0: none. Once a task has run this long, the
   * target sees mproc_task_soft_limit_passed() return 1 — a flag to poll
   * in its loop, to clean up and return — and, with soft_signal set, its
   * worker also gets that signal once (to interrupt a blocking call). The
   * task goes on running: only task_timeout_s stops it. Must be below
   * task_timeout_s when both are set. */
  double soft_time_limit_s;
  /* 0: no signal, the flag only. Else the signal sent at the soft limit
   * (SIGUSR1, say): the target must catch it (install its handler in the
   * task or the initializer — workers start with default handlers), or
   * the signal's default action ends the worker and the task fails with
   * MPROC_EWORKER. Not SIGKILL nor SIGSTOP. */
  int soft_signal;
  /* Largest task or result frame, in bytes; 0: MPROC_FRAME_MAX_DEFAULT. */
  size_t max_frame;
  /* How workers start (multiproc/process.h); 0: the global method, read
   * by mproc_pool_new. Every worker is forked by the pool's own
   * single-threaded fork server (see "Processes" above); the method says
   * where that server comes from:
   *   MPROC_START_FORK        forked from the program at mproc_pool_new,
   *       threads and all (the default, and as before start methods):
   *       workers see the program's memory as it was then (globals,
   *       run-time registrations, descriptors without close-on-exec), as
   *       with Python's fork; a lock another thread held at that moment
   *       stays held in them (malloc's and stdio's excepted).
   *   MPROC_START_FORKSERVER  exec'd: a fresh image of the program
   *       (/proc/self/exe, recognised before main() as for Process's
   *       spawn), single-threaded, holding none of the parent's memory,
   *       locks or descriptors; workers are forked from it, as with
   *       Python's forkserver. A replacement server (the first one died)
   *       is exec'd fresh too.
   *   MPROC_START_SPAWN       the same fresh server: its workers are as
   *       clean as exec'd ones (nothing of the parent's) without paying an
   *       exec each; they share the server's image (its constructors ran
   *       once, before main()).
   * With forkserver and spawn, workers have their task socket and answer
   * pipe as their only descriptors and see globals as a fresh program
   * does: they run initializer and every task target BY NAME, in the
   * registry built before main() (MPROC_TARGET, or mproc_target_register
   * from a constructor). mproc_pool_new fails with MPROC_ENOTARGET when
   * the initializer is registered under no name, and with MPROC_ENOSYS
   * when the program never recognises its fresh images (it defines no
   * MPROC_TARGET and never calls mproc_spawn_child_main). An initializer
   * or target registered only after main() is unknown in the fresh image:
   * the initializer's workers fail to start and the pool is broken with a
   * message naming it; such a task fails with MPROC_ENOTARGET. initargs
   * are copied into the server (encoded). */
  mproc_start_method_t start_method;
  /* For idempotent work: a task whose worker died while running it (a
   * crash, a signal such as kill -9, an exit: MPROC_EWORKER) is run again,
   * on a fresh worker, up to this many more times; 0: never, the death
   * fails the task. A task that ran past task_timeout_s, or whose target
   * failed, is not run again. After the last try the task fails with
   * MPROC_EWORKER and a message ending "(N tries)"; the task's timing
   * counts the re-runs (mproc_task_timing_t.retries). */
  unsigned max_retries;
} mproc_pool_opts_t;

/* Why a task failed. */
typedef struct {
  /* 0 when it did not fail. Otherwise:
   *   MPROC_EFAILED       the target failed: exit_code is its non-zero
   *                       return value (or 1 for mproc_call_fail)
   *   MPROC_EWORKER       its worker died running it: signal or exit_code
   *   MPROC_ETASKTIMEOUT  it ran past task_timeout_s and was stopped
   *   MPROC_ETERMINATED   the pool was terminated first
   *   MPROC_EBROKEN       no worker could start (see message)
   *   MPROC_ETYPE         a starmap item was not an argument tuple
   *   MPROC_ENOTARGET, MPROC_EMALFORMED, MPROC_ETOOBIG, MPROC_ENOMEM:
   *                       the worker could not run or answer it */
  int code;
  int exit_code;
  int signal;
  char message[MPROC_CALL_MESSAGE_MAX];
} mproc_task_error_t;

/* Where a task spent its time. Instants are CLOCK_MONOTONIC ns (0 when
 * unknown); started/finished are read by the worker (the clock is
 * system-wide). */
typedef struct {
  uint64_t submitted_ns;
  uint64_t dispatched_ns; /* written to a worker's pipe */
  uint64_t started_ns;    /* the worker entered the target */
  uint64_t finished_ns;   /* the target returned */
  uint64_t completed_ns;  /* the answer was read back */
  double queue_s;         /* started - submitted */
  double run_s;           /* finished - started */
  int worker;             /* the worker's slot, 0..workers-1; -1: none */
  pid_t pid;              /* the worker's pid; 0: none */
  /* Times the task was run again after its worker died (max_retries);
   * the other fields are those of the last try, except submitted_ns and
   * queue_s, which count from the submission. */
  unsigned retries;
} mproc_task_timing_t;

/* One worker slot, over every worker that has filled it. */
typedef struct {
  int slot;
  /* The slot's worker now; 0 while it has none: before its first worker
   * has started, between a worker's end and its replacement's start, and
   * once the pool is closed or terminated and the workers have left. */
  pid_t pid;
  /* The latest worker the slot had, running or ended: the same as pid while
   * one runs, and still there after join (for reports). 0 only if no
   * worker has started in the slot. */
  pid_t last_pid;
  uint64_t tasks;       /* tasks completed (including failed ones) */
  double busy_s;        /* time inside targets */
  double idle_s;        /* worker lifetime not inside targets */
  double user_s, sys_s; /* CPU time */
  long max_rss_kb;      /* largest resident set seen */
  unsigned restarts;    /* workers replaced: crashed, timed out, retired */
  unsigned crashes;     /* of which died unexpectedly or timed out */
} mproc_worker_stats_t;

/* Creates a pool and starts its workers (they start in the background;
 * tasks queue until one is ready). Each worker holds three of the
 * program's descriptors; when they run out, the soft RLIMIT_NOFILE is
 * raised to the hard limit as for Process (see multiproc/process.h), so a
 * pool of 1,000 workers works under a soft limit of 1,024. A worker that
 * cannot be started for a limit is retried with a backoff; when starts
 * keep failing and no worker serves, queued tasks fail with the error
 * (MPROC_EMFILE, MPROC_EAGAIN; the task's message names the limit).
 * Errors: MPROC_EINVAL (bad options), MPROC_EAGAIN (process limit),
 * MPROC_ENOMEM, MPROC_EMFILE (descriptor limit), MPROC_EDAEMONIC (inside a
 * daemonic process), MPROC_EDUPTARGET (two functions registered under one
 * target name anywhere in the program; mproc_last_error() says which),
 * MPROC_ENOTARGET (start_method forkserver or spawn and an initializer
 * registered under no name; mproc_last_error() names it), MPROC_ENOSYS
 * (start_method forkserver or spawn in a program that does not recognise
 * its fresh images: see start_method). */
MPROC_API int mproc_pool_new(mproc_pool_t **out, const mproc_pool_opts_t *opts);

/* The number of worker slots. */
MPROC_API unsigned mproc_pool_size(const mproc_pool_t *pool);

/* Queues target(*args, **kwargs) and returns its future (free it with
 * mproc_future_free; the task runs either way). args (tuple or list) and
 * kwargs (dict) are encoded now; the caller keeps them.
 * Errors: MPROC_ENOTARGET (no such registered target: nothing is queued),
 * MPROC_EDUPTARGET (two functions registered under that name),
 * mproc_last_error() saying which for both; MPROC_ECLOSED (closed or
 * terminated pool), MPROC_EBROKEN (no worker can
 * start; apply and map then fill err with the reason), MPROC_EINVAL,
 * MPROC_ETOOBIG, MPROC_ENOMEM. */
MPROC_API int mproc_pool_submit(mproc_pool_t *pool, const char *target,
                      const mproc_value_t *args, const mproc_value_t *kwargs,
                      mproc_future_t **out);

/* submit, then wait for it. On success *result is the target's result (None
 * when it set none), owned by the caller. On a task failure returns its
 * code and fills err (when not NULL); the submit errors above come as is. */
MPROC_API int mproc_pool_apply(mproc_pool_t *pool, const char *target,
                     const mproc_value_t *args, const mproc_value_t *kwargs,
                     mproc_value_t **result, mproc_task_error_t *err);

/* Ordered results of target(item) for each item of items (a list or tuple),
 * as a new list in *results. chunksize: tasks handed to a worker at a time;
 * 0 picks it like Python (len / (4 * workers), rounded up). If a task fails,
 * returns the first failure in input order (err filled) and no results,
 * after every task has ended. */
MPROC_API int mproc_pool_map(mproc_pool_t *pool, const char *target,
                   const mproc_value_t *items, size_t chunksize,
                   mproc_value_t **results, mproc_task_error_t *err);
/* As map, with each item a tuple (or list) of positional args. */
MPROC_API int mproc_pool_starmap(mproc_pool_t *pool, const char *target,
                       const mproc_value_t *items, size_t chunksize,
                       mproc_value_t **results, mproc_task_error_t *err);

/* Inside a pool task (in a worker): 1 once the task has run past the
 * pool's soft_time_limit_s, else 0. Outside a pool worker, or when no
 * soft limit is set: 0. Async-signal-safe (a soft_signal handler may call
 * it). */
MPROC_API int mproc_task_soft_limit_passed(void);

/* ---- Futures. */

/* Waits until the task has ended, at most timeout_s (negative: no limit).
 * Returns 0 once it has, MPROC_ETIMEDOUT otherwise. */
MPROC_API int mproc_future_wait(mproc_future_t *f, double timeout_s);
/* 1 once the task has ended, else 0. */
MPROC_API int mproc_future_ready(mproc_future_t *f);
/* 1 if it ended well, 0 if it failed, MPROC_ESTATE while running. */
MPROC_API int mproc_future_successful(mproc_future_t *f);
/* The result (valid as long as f), or the task's error code; MPROC_ESTATE
 * while running. */
MPROC_API int mproc_future_result(mproc_future_t *f, const mproc_value_t **result);
/* Fills err (code 0 on success); returns err->code, or MPROC_ESTATE while
 * running. */
MPROC_API int mproc_future_error(mproc_future_t *f, mproc_task_error_t *err);
MPROC_API int mproc_future_timing(mproc_future_t *f, mproc_task_timing_t *t);
/* Releases the caller's hold; a running task still runs. NULL is ignored. */
MPROC_API void mproc_future_free(mproc_future_t *f);

/* Cancels the task if it has not been handed to a worker yet (Python's
 * Future.cancel: a running task is not stopped, and neither is one already
 * sent to its worker's pipe). A cancelled task ends with MPROC_ECANCELED
 * (mproc_future_result and mproc_future_error say so), its waiters and
 * done-callbacks are woken as for any end. Returns 1 if it is cancelled
 * (now or before), 0 if it could not be (dispatched, running, or ended
 * otherwise). Errors: MPROC_EINVAL (f NULL). */
MPROC_API int mproc_future_cancel(mproc_future_t *f);
/* 1 if the task was cancelled (by mproc_future_cancel or a shutdown with
 * cancel_futures), else 0. Errors: MPROC_EINVAL. */
MPROC_API int mproc_future_cancelled(mproc_future_t *f);

/* A done-callback: called once with the future after its task has ended
 * (completed, failed, cancelled or terminated), and arg.
 *
 * Which thread runs it: the pool's own thread, outside every lock, after
 * the task has ended there (or after another thread ended it: cancel,
 * terminate) — or, when the task has already ended (and its earlier
 * callbacks have run) at mproc_future_add_done_callback, the adding thread,
 * before add returns, as in Python. Callbacks of one future run in the
 * order they were added; the pool's thread runs them one at a time, so a
 * slow callback delays the pool (move real work elsewhere).
 *
 * What it may call: mproc_future_ready/successful/result/error/timing/
 * cancelled on any future; mproc_future_free (its own f included: the
 * future stays valid until the callback returns); mproc_pool_submit and
 * mproc_future_cancel; anything that does not wait for the pool. It must
 * not wait for a task nor for the pool when it runs on the pool's thread
 * — mproc_future_wait, mproc_wait_many, mproc_futures_wait,
 * mproc_as_completed_next, mproc_pool_apply/map/starmap, mproc_iter_next,
 * mproc_pool_join/terminate/free, mproc_pool_shutdown with wait — as the
 * pool's thread is what would end the wait (a deadlock). */
typedef void (*mproc_done_fn)(mproc_future_t *f, void *arg);
/* Adds a done-callback (Python's Future.add_done_callback); the future is
 * kept (not recycled) until its callbacks have run, even if freed before.
 * Errors: MPROC_EINVAL (f or fn NULL), MPROC_ENOMEM. */
MPROC_API int mproc_future_add_done_callback(mproc_future_t *f,
                                             mproc_done_fn fn, void *arg);

/* ---- Waiting on many: concurrent.futures.wait and as_completed.
 *
 * Futures of one pool or of several, and descriptors, in one wait. A
 * descriptor stands for anything that becomes readable when it is done —
 * above all a Process's mproc_process_sentinel (multiproc/process.h), so
 * that pool tasks and processes are waited on together:
 *
 *     mproc_waitable_t ws[3] = {{0}};
 *     ws[0].future = f1;
 *     ws[1].future = f2;
 *     ws[2].fd = mproc_process_sentinel(proc);   // future NULL: the fd
 *     int rc = mproc_wait_many(ws, 3, MPROC_FIRST_COMPLETED, 5.0);
 *     // rc >= 1: ws[i].done says which; then mproc_process_join(proc, 0)
 *
 * The waiting thread sleeps in poll() on the descriptors and an eventfd of
 * its own that the pools' threads signal when tasks end (it holds that
 * eventfd, close-on-exec, for the wait only). The futures must stay
 * unfreed during the wait; several threads may wait on the same futures. */

/* When mproc_wait_many and mproc_futures_wait return (Python's
 * return_when); the zero value is Python's default. */
typedef enum {
  MPROC_ALL_COMPLETED = 0,   /* every one is done */
  MPROC_FIRST_COMPLETED = 1, /* any one is done */
  MPROC_FIRST_EXCEPTION = 2  /* any future failed (a cancelled one does
                                not count, as in Python), or every one is
                                done */
} mproc_return_when_t;

/* One thing to wait for. Zero-initialise, then set future, or leave it
 * NULL and set fd. The wait sets done and failed. */
typedef struct {
  mproc_future_t *future;
  int fd;      /* used when future is NULL: done once readable (or hung up) */
  bool done;   /* out: the future has ended, or fd is readable */
  bool failed; /* out: the future ended with an error other than
                  MPROC_ECANCELED (never for fd) */
} mproc_waitable_t;

/* Waits until `when` holds for ws[0..n), at most timeout_s seconds
 * (negative: no limit; 0: just look). Sets every entry's done and failed
 * as they are when it returns, whether the condition was met or not.
 * Returns how many are done (n == 0: 0 at once), or MPROC_ETIMEDOUT when
 * the condition did not hold in time. Errors: MPROC_EINVAL (ws NULL with
 * n > 0, when not one of mproc_return_when_t, timeout_s NaN, an fd entry
 * with fd < 0), MPROC_EBADF (an fd entry that is not an open descriptor),
 * MPROC_EMFILE, MPROC_ENFILE, MPROC_ENOMEM (no eventfd for the wait). */
MPROC_API int mproc_wait_many(mproc_waitable_t *ws, size_t n,
                              mproc_return_when_t when, double timeout_s);

/* concurrent.futures.wait over futures alone: as mproc_wait_many, with
 * done[i] (when done is not NULL) set for each future that has ended.
 * Errors: those of mproc_wait_many; MPROC_EINVAL also for a NULL fs[i]. */
MPROC_API int mproc_futures_wait(mproc_future_t *const *fs, size_t n,
                                 mproc_return_when_t when, double timeout_s,
                                 bool *done);

/* concurrent.futures.as_completed: yields the entries of ws (futures or
 * descriptors, as above; copied, so ws may go) as they become done, each
 * once: those already done first, then in the order they end.
 * timeout_s (negative: none) is the whole iteration's, counted from
 * mproc_as_completed_new, as in Python.
 * Errors: MPROC_EINVAL (out NULL, ws NULL with n > 0, timeout_s NaN, an fd
 * entry with fd < 0, a NULL future... as mproc_wait_many), MPROC_ENOMEM. */
typedef struct mproc_as_completed mproc_as_completed_t;
MPROC_API int mproc_as_completed_new(mproc_as_completed_t **out,
                                     const mproc_waitable_t *ws, size_t n,
                                     double timeout_s);
/* The next entry done: returns 1 with *index its position in ws; 0 once
 * every entry has been yielded; MPROC_ETIMEDOUT once the iteration's
 * timeout has passed with entries not done (call again to keep waiting:
 * it then only looks); or an error of mproc_wait_many (MPROC_EBADF,
 * MPROC_EMFILE...), MPROC_EINVAL for NULL arguments. One thread at a
 * time. */
MPROC_API int mproc_as_completed_next(mproc_as_completed_t *it, size_t *index);
/* Frees the iterator (not the futures). NULL is ignored. */
MPROC_API void mproc_as_completed_free(mproc_as_completed_t *it);

/* ---- Lazy maps: imap and imap_unordered. */

/* A producer of args tuples for mproc_pool_imap: returns 1 with a new tuple
 * (or list) in *args, which the iterator takes; 0 at the end; or a negative
 * error, which stops the iteration. */
typedef int (*mproc_next_fn)(void *ctx, mproc_value_t **args);

/* An iterator's progress, in items (not chunks), for a progress bar. */
typedef struct {
  size_t total;      /* items in the input, when total_known */
  bool total_known;  /* with opts.items; with a producer, once it ended */
  size_t submitted;  /* taken from the input and handed to the pool */
  size_t done;       /* whose task has ended, failed ones included */
  size_t failed;     /* of which failed */
  size_t yielded;    /* returned by mproc_iter_next */
  double elapsed_s;  /* since mproc_pool_imap */
  double rate;       /* done per second, over elapsed_s */
} mproc_progress_t;

/* A progress hook (mproc_imap_opts_t.progress). Runs on the thread calling
 * mproc_iter_next, inside that call, with no lock held: at most once per
 * progress_interval_s as items are returned, and once more, with every
 * count final, when the iteration ends (mproc_iter_next returning 0). It
 * may call anything but mproc_iter_next and mproc_iter_free on the same
 * iterator; p is valid during the call. */
typedef void (*mproc_progress_fn)(const mproc_progress_t *p, void *ctx);

typedef struct {
  const char *target;
  /* The input: items (list or tuple; each item is the single argument, or
   * with star each item is a tuple of arguments), or else next/next_ctx. */
  const mproc_value_t *items;
  bool star;
  mproc_next_fn next;
  void *next_ctx;
  /* Results as they complete rather than in input order. */
  bool unordered;
  /* Tasks handed to a worker at a time; 0: 1, as Python's imap. */
  size_t chunksize;
  /* Tasks submitted and not yet consumed, at most: bounds memory for long
   * inputs. 0: adaptive, starting at 4 x workers x chunksize and doubling
   * each time the caller has to wait for a result, up to the larger of
   * 1,024 and 64 x workers, times chunksize (so one slow task does not
   * leave the other workers idle, and tiny tasks go out in big batches).
   * Set: exactly this many, fixed. */
  size_t window;
  /* Called with the progress as items are returned (see mproc_progress_fn);
   * NULL: none (mproc_iter_progress still tells). */
  mproc_progress_fn progress;
  void *progress_ctx;
  /* Seconds between two calls of progress, at least; 0: 0.1 (negative or
   * NaN: MPROC_EINVAL from mproc_pool_imap). */
  double progress_interval_s;
} mproc_imap_opts_t;

/* One result of an iterator. */
typedef struct {
  size_t index;                /* position in the input */
  const mproc_value_t *result; /* NULL if the task failed; valid until the
                                  next call on the iterator */
  mproc_task_error_t error;    /* error.code 0 on success */
} mproc_item_t;

MPROC_API int mproc_pool_imap(mproc_pool_t *pool, const mproc_imap_opts_t *opts,
                    mproc_iter_t **out);
/* The next result: returns 1 with *item filled (a failed task is an item
 * too, with item->error set; iteration continues after it), 0 at the end,
 * MPROC_ETIMEDOUT, or a negative error (submit errors, producer errors). */
MPROC_API int mproc_iter_next(mproc_iter_t *it, double timeout_s, mproc_item_t *item);
/* The iterator's progress now (counters a progress bar needs, with no
 * bookkeeping of the caller's). One thread at a time, as for the rest of
 * the iterator. Errors: MPROC_EINVAL (it or p NULL). */
MPROC_API int mproc_iter_progress(mproc_iter_t *it, mproc_progress_t *p);
/* Frees the iterator; tasks still in flight run to the end unobserved. */
MPROC_API void mproc_iter_free(mproc_iter_t *it);

/* ---- Lifecycle. */

/* No more tasks (MPROC_ECLOSED); queued ones still run, iterators started
 * before keep feeding their input to the end (as Python's imap does), then
 * the workers leave. */
MPROC_API int mproc_pool_close(mproc_pool_t *pool);
/* Fails every task not yet finished with MPROC_ETERMINATED, kills the
 * workers and returns once they are gone. */
MPROC_API int mproc_pool_terminate(mproc_pool_t *pool);
/* Executor.shutdown(wait, cancel_futures): closes the pool (as
 * mproc_pool_close); with cancel_futures, every task not yet handed to a
 * worker is cancelled (MPROC_ECANCELED, as mproc_future_cancel) — those
 * running finish; with wait, returns once every task and worker has ended
 * (mproc_pool_join with no limit). Iterators started before go on feeding
 * their input, as after close. Errors: MPROC_EINVAL (pool NULL). */
MPROC_API int mproc_pool_shutdown(mproc_pool_t *pool, bool wait,
                                  bool cancel_futures);
/* Python 3.14's terminate_workers / kill_workers: shutdown without waiting
 * and with cancel_futures, then SIGTERM (terminate_workers; SIGKILL
 * follows after kill_grace_s for a worker still there) or SIGKILL
 * (kill_workers) to every worker. Tasks cancelled end with MPROC_ECANCELED,
 * those running with MPROC_ETERMINATED (at once, not when their worker
 * dies). Returns without waiting: mproc_pool_join waits for the workers.
 * Nothing happens to a pool already terminated. Errors: MPROC_EINVAL. */
MPROC_API int mproc_pool_terminate_workers(mproc_pool_t *pool);
MPROC_API int mproc_pool_kill_workers(mproc_pool_t *pool);
/* After close or terminate: waits for every task and worker to end.
 * Returns 0, MPROC_ETIMEDOUT, or MPROC_ESTATE if the pool is still open. */
MPROC_API int mproc_pool_join(mproc_pool_t *pool, double timeout_s);
/* Terminates the pool if it is still running and frees it. Futures and
 * iterators the caller holds stay valid (their tasks have ended). */
MPROC_API void mproc_pool_free(mproc_pool_t *pool);

/* Copies up to cap slots' statistics; *n is the number of slots. */
MPROC_API int mproc_pool_stats(mproc_pool_t *pool, mproc_worker_stats_t *stats,
                     size_t cap, size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_POOL_H */
