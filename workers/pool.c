/* Pool lifecycle: new, close, terminate, join, free, and statistics. */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "core/base/check.h"
#include "core/base/io.h"
#include "core/fdlimit.h"
#include "core/spawn_env.h"
#include "core/start_method.h"
#include "core/target_internal.h"
#include "multiproc/target.h"
#include "workers/fresh.h"
#include "workers/pool_internal.h"
#include "workers/sched.h"

static unsigned cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (unsigned)n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* The memory file of a forkserver or spawn pool, once no fork server
 * will start again (the mapping stays until destroy). */
static void fresh_close(mproc_pool_t *pool) {
  if (pool->fresh_fd < 0) return;
  mproc__lock();
  mproc__close(pool->fresh_fd);
  pool->fresh_node.fds[0] = pool->fresh_fd = -1;
  mproc__node_unlink(&pool->fresh_node);
  mproc__unlock();
}

static void destroy(mproc_pool_t *pool) {
  while (pool->free_tasks != NULL) {
    struct mproc_future *t = pool->free_tasks;
    pool->free_tasks = t->next;
    free(t);
  }
  for (unsigned i = 0; pool->workers && i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    mproc__buf_free(&w->out);
    mproc__reader_free(&w->in);
    free(w->init_error);
  }
  free(pool->workers);
  mproc__board_free(pool->board, pool->nworkers);
  mproc_value_free(pool->initargs);
  free(pool->broken);
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->cond);
  free(pool);
}

void mproc__pool_unref_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  bool last = --pool->refs == 0;
  pthread_mutex_unlock(&pool->lock);
  if (last) destroy(pool);
}

uint64_t mproc__pool_now(const mproc_pool_t *pool) {
  return pool->now_ns ? pool->now_ns : mproc__now_ns();
}

void mproc__pool_wake_locked(mproc_pool_t *pool, uint64_t deadline_ns) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (!pool->loop_sleeping || deadline_ns >= pool->loop_wake_ns) return;
  uint64_t one = 1;
  while (write(pool->wakefd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  pool->loop_sleeping = false; /* one wake is enough */
}

/* Whether the workers of a forkserver or spawn pool can start: the
 * program must recognise its fresh images before main() and the
 * initializer must have a name (a function pointer means nothing in
 * another image). */
static int fresh_check(const mproc_pool_opts_t *o) {
  const char *method = mproc__start_method_name((int)o->start_method);
  if (!mproc__spawn_ready())
    return mproc__fail(
        MPROC_ENOSYS,
        "mproc_pool_new: the %s start method needs a program that "
        "recognises its spawned children before main(): this one defines no "
        "MPROC_TARGET and never called mproc_spawn_child_main()",
        method);
  if (o->initializer == NULL || mproc_target_name(o->initializer) != NULL)
    return 0;
  Dl_info info;
  char fn[160];
  if (dladdr((void *)(uintptr_t)o->initializer, &info) != 0 &&
      info.dli_sname != NULL &&
      info.dli_saddr == (void *)(uintptr_t)o->initializer)
    snprintf(fn, sizeof fn, "%s()", info.dli_sname);
  else
    snprintf(fn, sizeof fn, "the function at %p",
             (void *)(uintptr_t)o->initializer);
  return mproc__fail(
      MPROC_ENOTARGET,
      "mproc_pool_new: the initializer, %s, is not registered: with the %s "
      "start method workers run it by name in a fresh image of the program; "
      "define it with MPROC_TARGET (or register it with "
      "mproc_target_register before main())",
      fn, method);
}

static int copy_options(mproc_pool_t *pool, const mproc_pool_opts_t *o) {
  if (o->task_timeout_s < 0 || !mproc__timeout_valid(o->task_timeout_s))
    return mproc__einval("mproc_pool_new",
                         "opts.task_timeout_s must be 0 (none) or more, not %g",
                         o->task_timeout_s);
  if (o->kill_grace_s < 0 || !mproc__timeout_valid(o->kill_grace_s))
    return mproc__einval("mproc_pool_new",
                         "opts.kill_grace_s must be 0 (default) or more, not %g",
                         o->kill_grace_s);
  if (o->soft_time_limit_s < 0 ||
      !mproc__timeout_valid(o->soft_time_limit_s) ||
      (o->task_timeout_s > 0 && o->soft_time_limit_s >= o->task_timeout_s))
    return mproc__einval("mproc_pool_new",
                         "opts.soft_time_limit_s must be 0 (none) or more, "
                         "and below opts.task_timeout_s, not %g",
                         o->soft_time_limit_s);
  if (o->soft_signal < 0 || o->soft_signal >= NSIG ||
      o->soft_signal == SIGKILL || o->soft_signal == SIGSTOP)
    return mproc__einval("mproc_pool_new",
                         "opts.soft_signal must be 0 (none) or a signal that "
                         "can be caught, not %d",
                         o->soft_signal);
  if (o->workers > 100000)
    return mproc__einval("mproc_pool_new",
                         "opts.workers must be at most 100000, not %u",
                         (unsigned)o->workers);
  if (!mproc__start_method_valid((int)o->start_method))
    return mproc__einval("mproc_pool_new",
                         "opts.start_method %d is not an mproc_start_method_t",
                         (int)o->start_method);
  pool->fresh = mproc__start_method_resolve((int)o->start_method) !=
                MPROC_START_FORK;
  if (pool->fresh) {
    int rc = fresh_check(o);
    if (rc < 0) return rc;
  }
  mproc_kind_t k = mproc_value_kind(o->initargs);
  if (o->initargs != NULL && k != MPROC_TUPLE && k != MPROC_LIST)
    return mproc__einval("mproc_pool_new",
                         "opts.initargs must be a tuple or list, not %s",
                         mproc_kind_name(k));
  pool->nworkers = o->workers ? o->workers : cpus_available();
  mproc__worker_cfg_t *cfg = &pool->wcfg;
  cfg->initializer = o->initializer;
  if (o->initargs != NULL) {
    int rc = mproc_value_copy(&pool->initargs, o->initargs);
    if (rc < 0) return rc;
    cfg->initargs = pool->initargs;
  }
  pool->max_tasks_per_child = o->max_tasks_per_child;
  pool->max_retries = o->max_retries;
  pool->soft_ns =
      o->soft_time_limit_s > 0 ? (uint64_t)(o->soft_time_limit_s * 1e9) : 0;
  if (o->soft_time_limit_s > 0 && pool->soft_ns == 0) pool->soft_ns = 1;
  pool->soft_signal = o->soft_signal;
  cfg->max_rss_kb = o->max_rss_per_child / 1024;
  if (o->max_rss_per_child && cfg->max_rss_kb == 0) cfg->max_rss_kb = 1;
  pool->task_timeout_ns =
      o->task_timeout_s > 0 ? (uint64_t)(o->task_timeout_s * 1e9) : 0;
  cfg->task_timeout_ns = pool->task_timeout_ns;
  pool->kill_grace_ns =
      (uint64_t)((o->kill_grace_s > 0 ? o->kill_grace_s : 1.0) * 1e9);
  cfg->max_frame = o->max_frame ? o->max_frame : MPROC_FRAME_MAX_DEFAULT;
  /* Workers start with the caller's signal mask, and keep SIGCHLD ignored
   * if the program ignores it (the fork server itself cannot). */
  pthread_sigmask(SIG_SETMASK, NULL, &cfg->mask);
  struct sigaction chld;
  cfg->sigchld_ignored = sigaction(SIGCHLD, NULL, &chld) == 0 &&
                         chld.sa_handler == SIG_IGN;
  return 0;
}

int mproc_pool_new(mproc_pool_t **out, const mproc_pool_opts_t *opts) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  mproc_pool_opts_t defaults;
  memset(&defaults, 0, sizeof defaults);
  if (opts == NULL) opts = &defaults;
  if (mproc__current_is_daemon()) return MPROC_EDAEMONIC;
  /* Two functions under one name: the program is wrong, whichever tasks
   * it submits (mproc_last_error() says which name and where). */
  int clash = mproc__target_check_all();
  if (clash < 0) return clash;

  mproc_pool_t *pool = calloc(1, sizeof *pool);
  if (pool == NULL) return MPROC_ENOMEM;
  pool->refs = 1;
  pool->state = POOL_OPEN;
  pool->ctl = pool->epfd = pool->wakefd = pool->fresh_fd = -1;
  mproc__node_init(&pool->fresh_node, NULL);
  pool->loop_wake_ns = UINT64_MAX;
  pool->steal_at_ns = UINT64_MAX;
  mproc__node_init(&pool->node, NULL);
  mproc__mutex_init(&pool->lock);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->cond, &ca);
  pthread_condattr_destroy(&ca);

  int rc = copy_options(pool, opts);
  if (rc < 0) goto fail;
  pool->workers = calloc(pool->nworkers, sizeof *pool->workers);
  pool->wcfg.nposts = pool->nworkers;
  if (pool->fresh) {
    /* Registered at once, as below: a fork elsewhere closes it. */
    mproc__lock();
    rc = mproc__fresh_new(&pool->wcfg, pool->nworkers, &pool->fresh_fd,
                          &pool->board);
    if (rc < 0 && mproc__fd_limit_retry(rc))
      rc = mproc__fresh_new(&pool->wcfg, pool->nworkers, &pool->fresh_fd,
                            &pool->board);
    pool->fresh_node.fds[0] = pool->fresh_fd;
    if (rc == 0) mproc__node_link(&pool->fresh_node);
    mproc__unlock();
    if (rc < 0) {
      rc = mproc__fail_limit(rc, "create a pool (its memory file)");
      goto fail;
    }
  } else {
    pool->board = mproc__board_new(pool->nworkers);
  }
  pool->wcfg.board = pool->board;
  if (pool->workers == NULL || pool->board == NULL) {
    rc = MPROC_ENOMEM;
    goto fail;
  }
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    mproc__node_init(&w->node, NULL);
    w->slot = (int)i;
    w->state = WORKER_NONE;
    w->slot_stats.slot = (int)i;
  }
  /* Registered at once: a fork elsewhere must close them in its child. */
  mproc__lock();
  pool->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (pool->epfd < 0 && mproc__fd_limit_retry(-errno))
    pool->epfd = epoll_create1(EPOLL_CLOEXEC);
  pool->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (pool->wakefd < 0 && mproc__fd_limit_retry(-errno))
    pool->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (pool->epfd < 0 || pool->wakefd < 0) rc = -errno;
  pool->node.fds[MPROC__POOL_FD_EPOLL] = pool->epfd;
  pool->node.fds[MPROC__POOL_FD_WAKE] = pool->wakefd;
  mproc__node_link(&pool->node);
  mproc__unlock();
  if (rc < 0) {
    rc = mproc__fail_limit(rc, "create a pool");
    goto fail;
  }
  mproc__install_exit_handler();
  int err = pthread_create(&pool->thread, NULL, mproc__pool_thread, pool);
  if (err != 0) {
    rc = -err;
    goto fail;
  }
  /* The pool thread starts the fork server and says how it went. */
  pthread_mutex_lock(&pool->lock);
  while (!pool->thread_started) pthread_cond_wait(&pool->cond, &pool->lock);
  bool failed = pool->state == POOL_DONE;
  rc = pool->start_error;
  pthread_mutex_unlock(&pool->lock);
  if (failed) {
    pthread_join(pool->thread, NULL);
    if (rc == 0) rc = MPROC_EAGAIN;
    rc = mproc__fail_limit(rc, "create a pool (its fork server)");
    goto fail;
  }
  *out = pool;
  return 0;

fail:
  mproc__lock();
  mproc__close(pool->epfd);
  mproc__close(pool->wakefd);
  mproc__node_unlink(&pool->node);
  mproc__unlock();
  fresh_close(pool);
  destroy(pool);
  return rc;
}

unsigned mproc_pool_size(const mproc_pool_t *pool) {
  return pool ? pool->nworkers : 0;
}

int mproc_pool_close(mproc_pool_t *pool) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  pthread_mutex_lock(&pool->lock);
  if (pool->state == POOL_OPEN) pool->state = POOL_CLOSED;
  mproc__pool_wake_locked(pool, 0);
  pthread_mutex_unlock(&pool->lock);
  return 0;
}

/* Tasks not yet finished fail now; the pool thread kills the workers. */
static void terminate_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (pool->state == POOL_DONE || pool->state == POOL_TERMINATING) return;
  pool->state = POOL_TERMINATING;
  mproc__sched_fail_all_locked(pool, MPROC_ETERMINATED, true,
                              "the pool was terminated before the task "
                              "finished");
  pthread_cond_broadcast(&pool->cond);
  mproc__pool_notify_fds_locked(pool);
  mproc__pool_wake_locked(pool, 0);
}

int mproc_pool_shutdown(mproc_pool_t *pool, bool wait, bool cancel_futures) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  pthread_mutex_lock(&pool->lock);
  if (pool->state == POOL_OPEN) pool->state = POOL_CLOSED;
  if (cancel_futures) {
    mproc__sched_fail_all_locked(pool, MPROC_ECANCELED, false,
                                 "cancelled before it started (shutdown)");
    pthread_cond_broadcast(&pool->cond);
    mproc__pool_notify_fds_locked(pool);
  }
  mproc__pool_wake_locked(pool, 0);
  pthread_mutex_unlock(&pool->lock);
  return wait ? mproc_pool_join(pool, -1) : 0;
}

/* terminate_workers, kill_workers: Python 3.14's shutdown(wait=False,
 * cancel_futures=True), then the signal to every worker. */
static int stop_workers(mproc_pool_t *pool, int sig) {
  pthread_mutex_lock(&pool->lock);
  if (pool->state == POOL_OPEN || pool->state == POOL_CLOSED) {
    mproc__sched_fail_all_locked(pool, MPROC_ECANCELED, false,
                                 "cancelled before it started (the workers "
                                 "were stopped)");
    pool->stop_signal = sig;
    terminate_locked(pool);
  }
  pthread_mutex_unlock(&pool->lock);
  return 0;
}

int mproc_pool_terminate_workers(mproc_pool_t *pool) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  return stop_workers(pool, SIGTERM);
}

int mproc_pool_kill_workers(mproc_pool_t *pool) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  return stop_workers(pool, SIGKILL);
}

static int join_locked(mproc_pool_t *pool, uint64_t deadline) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  while (pool->state != POOL_DONE)
    if (mproc__cond_wait_until(pool, deadline) < 0) return MPROC_ETIMEDOUT;
  return 0;
}

/* Reaps the pool thread once it has finished (first caller only). */
static void reap_thread_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (!pool->thread_started || pool->state != POOL_DONE) return;
  pool->thread_started = false;
  pthread_mutex_unlock(&pool->lock);
  pthread_join(pool->thread, NULL);
  pthread_mutex_lock(&pool->lock);
  mproc__lock();
  for (int i = 0; i < MPROC__NODE_FDS; i++) {
    mproc__close(pool->node.fds[i]);
    pool->node.fds[i] = -1;
  }
  mproc__node_unlink(&pool->node);
  mproc__unlock();
  fresh_close(pool);
}

int mproc_pool_terminate(mproc_pool_t *pool) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  pthread_mutex_lock(&pool->lock);
  terminate_locked(pool);
  join_locked(pool, UINT64_MAX);
  reap_thread_locked(pool);
  pthread_mutex_unlock(&pool->lock);
  return 0;
}

int mproc_pool_join(mproc_pool_t *pool, double timeout_s) {
  if (pool == NULL) return MPROC__EINVAL("pool is NULL");
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  pthread_mutex_lock(&pool->lock);
  if (pool->state == POOL_OPEN) {
    pthread_mutex_unlock(&pool->lock);
    return MPROC_ESTATE;
  }
  int rc = join_locked(pool, mproc__deadline(timeout_s));
  if (rc == 0) reap_thread_locked(pool);
  pthread_mutex_unlock(&pool->lock);
  return rc;
}

void mproc_pool_free(mproc_pool_t *pool) {
  if (pool == NULL) return;
  pthread_mutex_lock(&pool->lock);
  terminate_locked(pool);
  join_locked(pool, UINT64_MAX);
  reap_thread_locked(pool);
  pool->freed = true;
  /* Recycled tasks go now; futures still held are freed by their owners
   * (and the last one frees the pool's memory). */
  while (pool->free_tasks != NULL) {
    struct mproc_future *t = pool->free_tasks;
    pool->free_tasks = t->next;
    free(t);
  }
  pool->nfree = 0;
  mproc__pool_unref_locked(pool);
}

void mproc__worker_fold_stats(const worker_t *w, mproc_worker_stats_t *s,
                              uint64_t now_ns) {
  double busy = (double)w->busy_ns / 1e9;
  double life = w->born_ns && now_ns > w->born_ns
                    ? (double)(now_ns - w->born_ns) / 1e9
                    : 0;
  s->tasks += w->tasks;
  s->busy_s += busy;
  s->idle_s += life > busy ? life - busy : 0;
  s->user_s += (double)w->utime_us / 1e6;
  s->sys_s += (double)w->stime_us / 1e6;
  if ((long)w->maxrss_kb > s->max_rss_kb) s->max_rss_kb = (long)w->maxrss_kb;
}

int mproc_pool_stats(mproc_pool_t *pool, mproc_worker_stats_t *stats,
                     size_t cap, size_t *n) {
  if (pool == NULL || (stats == NULL && cap > 0))
    return MPROC__EINVAL("%s", pool == NULL ? "pool is NULL"
                                            : "stats is NULL but cap is not 0");
  pthread_mutex_lock(&pool->lock);
  uint64_t now = mproc__now_ns();
  for (unsigned i = 0; i < pool->nworkers && i < cap; i++) {
    const worker_t *w = &pool->workers[i];
    mproc_worker_stats_t s = w->slot_stats;
    if (w->state == WORKER_RUNNING || w->state == WORKER_GONE) {
      s.pid = w->state == WORKER_RUNNING ? w->pid : 0;
      mproc__worker_fold_stats(w, &s, now);
    }
    stats[i] = s;
  }
  if (n != NULL) *n = pool->nworkers;
  pthread_mutex_unlock(&pool->lock);
  return 0;
}
