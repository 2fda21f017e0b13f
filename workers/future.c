/* Tasks and their futures: submit, apply, and everything a caller asks of a
 * future. A task object is recycled through the pool's free list, with its
 * call encoded into storage inside it, so a small task costs no malloc once
 * the pool is warm. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "workers/sched.h"
#include "core/target_internal.h"
#include "core/base/check.h"
#include "workers/pool_internal.h"

struct mproc_future *mproc__task_new_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  struct mproc_future *t = pool->free_tasks;
  if (t != NULL) {
    pool->free_tasks = t->next;
    pool->nfree--;
  } else {
    t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
  }
  t->pool = pool;
  t->next = NULL;
  t->state = TASK_QUEUED;
  t->user_holds = true;
  t->pool_holds = true;
  t->cb_holds = false;
  t->callbacks = t->callbacks_tail = NULL;
  t->cb_next = NULL;
  t->id = ++pool->next_id;
  t->nitems = 0;
  t->first = 0;
  t->results = NULL;
  t->n_results = 0;
  t->item_errors = NULL;
  t->n_item_errors = 0;
  mproc__buf_lend(&t->frame, t->frame_inline, sizeof t->frame_inline);
  t->result = NULL;
  t->code = t->exit_code = t->signal = 0;
  t->message = NULL;
  memset(&t->timing, 0, sizeof t->timing);
  t->timing.worker = -1;
  pool->refs++; /* the caller's hold keeps the pool's memory */
  return t;
}

void mproc__task_clear_chunk(struct mproc_future *t) {
  for (size_t i = 0; i < t->n_item_errors; i++)
    free(t->item_errors[i].message);
  free(t->item_errors);
  t->item_errors = NULL;
  t->n_item_errors = 0;
  for (size_t i = 0; i < t->n_results; i++) mproc_value_free(t->results[i]);
  free(t->results);
  t->results = NULL;
  t->n_results = 0;
}

void mproc__task_recycle_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  mproc_value_free(t->result);
  t->result = NULL;
  free(t->message);
  t->message = NULL;
  mproc__task_clear_chunk(t);
  mproc__buf_free(&t->frame);
  if (pool->freed) {
    free(t);
    return;
  }
  t->next = pool->free_tasks;
  pool->free_tasks = t;
  pool->nfree++;
}

void mproc__task_discard_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  t->user_holds = t->pool_holds = false;
  mproc__task_recycle_locked(pool, t);
  pool->refs--; /* taken by mproc__task_new_locked; the caller holds one */
}

int mproc__task_encode(mproc_pool_t *pool, struct mproc_future *t,
                       const char *target, const mproc_value_t *args,
                       const mproc_value_t *const *argv, size_t argc,
                       const mproc_value_t *kwargs, uint32_t mode,
                       uint64_t first) {
  mproc__call_out_t call;
  memset(&call, 0, sizeof call);
  call.target = target;
  call.args = args;
  call.kwargs = kwargs;
  call.id = t->id;
  call.argv = argv;
  call.argc = argc;
  call.mode = mode;
  call.first = first;
  t->nitems = mode == MPROC__CALL_ONE ? 0 : argc;
  t->first = (size_t)first;
  t->frame.len = 0;
  int rc = mproc__call_encode_frame(&t->frame, &call);
  if (rc == 0 && t->frame.len - MPROC_FRAME_HEADER > pool->wcfg.max_frame)
    rc = MPROC_ETOOBIG;
  return rc;
}

void mproc__chunk_item(const struct mproc_future *t, size_t i,
                       mproc_task_error_t *err, const mproc_value_t **result) {
  *result = NULL;
  if (t->code != 0) { /* the whole chunk failed: worker died, timeout... */
    mproc__task_error(t, err);
    return;
  }
  for (size_t k = 0; k < t->n_item_errors; k++) {
    const mproc__item_error_t *e = &t->item_errors[k];
    if (e->index != i) continue;
    err->code = e->error ? e->error : MPROC_EFAILED;
    err->exit_code = e->error ? 0 : e->code < 0 ? 1 : e->code;
    err->signal = 0;
    snprintf(err->message, sizeof err->message, "%s",
             e->message ? e->message : mproc_strerror(err->code));
    return;
  }
  memset(err, 0, sizeof *err);
  if (i < t->n_results) *result = t->results[i];
}

int mproc__cond_wait_until(mproc_pool_t *pool, uint64_t deadline_ns) {
  pool->waiters++; /* the pool thread broadcasts only when someone waits */
  if (deadline_ns == UINT64_MAX) {
    pthread_cond_wait(&pool->cond, &pool->lock);
    pool->waiters--;
    return 0;
  }
  uint64_t now = mproc__now_ns();
  if (now >= deadline_ns) {
    pool->waiters--;
    return MPROC_ETIMEDOUT;
  }
  /* pool->cond runs on CLOCK_MONOTONIC (pool.c). */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t left = deadline_ns - now;
  ts.tv_sec += (time_t)(left / 1000000000u);
  ts.tv_nsec += (long)(left % 1000000000u);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&pool->cond, &pool->lock, &ts);
  pool->waiters--;
  return 0;
}

int mproc__task_wait_locked(mproc_pool_t *pool, struct mproc_future *t,
                            uint64_t deadline_ns) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  while (t->state != TASK_DONE)
    if (mproc__cond_wait_until(pool, deadline_ns) < 0) return MPROC_ETIMEDOUT;
  return 0;
}

void mproc__task_error(const struct mproc_future *t, mproc_task_error_t *err) {
  if (err == NULL) return;
  err->code = t->code;
  err->exit_code = t->exit_code;
  err->signal = t->signal;
  err->message[0] = '\0';
  if (t->code != 0)
    snprintf(err->message, sizeof err->message, "%s",
             t->message ? t->message : mproc_strerror(t->code));
}

void mproc__pool_refusal(mproc_pool_t *pool, int rc, mproc_task_error_t *err) {
  if (err == NULL || pool == NULL) return;
  memset(err, 0, sizeof *err);
  err->code = rc;
  /* A target that cannot be used says why (mproc__target_resolve). */
  if (rc == MPROC_ENOTARGET || rc == MPROC_EDUPTARGET) {
    snprintf(err->message, sizeof err->message, "%s", mproc_last_error());
    return;
  }
  pthread_mutex_lock(&pool->lock);
  snprintf(err->message, sizeof err->message, "%s",
           rc == MPROC_EBROKEN && pool->broken ? pool->broken
                                               : mproc_strerror(rc));
  pthread_mutex_unlock(&pool->lock);
}

int mproc__pool_refuse_locked(const mproc_pool_t *pool, bool feeding) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (pool->broken != NULL) return MPROC_EBROKEN;
  if (pool->state == POOL_OPEN || (feeding && pool->state == POOL_CLOSED))
    return 0;
  return MPROC_ECLOSED;
}

int mproc_pool_submit(mproc_pool_t *pool, const char *target,
                      const mproc_value_t *args, const mproc_value_t *kwargs,
                      mproc_future_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || target == NULL || out == NULL)
    return MPROC__EINVAL("%s is NULL", pool == NULL ? "pool" : target == NULL ? "target" : "out");
  mproc_target_fn fn;
  int rc = mproc__target_resolve(target, &fn);
  if (rc < 0) return rc;
  mproc_kind_t ak = mproc_value_kind(args);
  if (args != NULL && ak != MPROC_TUPLE && ak != MPROC_LIST)
    return MPROC__EINVAL("args must be a tuple or list, not %s",
                         mproc_kind_name(ak));
  if (kwargs != NULL && mproc_value_kind(kwargs) != MPROC_DICT)
    return MPROC__EINVAL("kwargs must be a dict, not %s",
                         mproc_kind_name(mproc_value_kind(kwargs)));

  static const mproc_value_t *const no_args[1] = {NULL};
  return mproc__task_submit(pool, target, args, no_args, 0, kwargs,
                            MPROC__CALL_ONE, 0, false, out);
}

int mproc__task_submit(mproc_pool_t *pool, const char *target,
                       const mproc_value_t *args,
                       const mproc_value_t *const *argv, size_t argc,
                       const mproc_value_t *kwargs, uint32_t mode,
                       uint64_t first, bool feeding,
                       struct mproc_future **out) {
  *out = NULL;
  size_t done = 0;
  int rc = mproc__task_submit_many(pool, target, args, argv, &argc, 1, kwargs,
                                   mode, first, feeding, out, &done);
  if (done == 0) *out = NULL;
  return rc;
}

int mproc__task_submit_many(mproc_pool_t *pool, const char *target,
                            const mproc_value_t *args,
                            const mproc_value_t *const *argv,
                            const size_t *counts, size_t k,
                            const mproc_value_t *kwargs, uint32_t mode,
                            uint64_t first, bool feeding,
                            struct mproc_future **out, size_t *done) {
  *done = 0;
  pthread_mutex_lock(&pool->lock);
  int rc = mproc__pool_refuse_locked(pool, feeding);
  size_t made = 0;
  while (rc == 0 && made < k) {
    out[made] = mproc__task_new_locked(pool);
    if (out[made] == NULL) break;
    made++;
  }
  if (rc == 0 && made == 0) rc = MPROC_ENOMEM;
  pthread_mutex_unlock(&pool->lock);
  if (rc < 0) return rc;

  /* Encoded outside the lock: the tasks are nobody else's yet. */
  uint64_t now = mproc__now_ns();
  size_t encoded = 0, at = 0;
  for (; encoded < made; encoded++) {
    struct mproc_future *t = out[encoded];
    t->timing.submitted_ns = now;
    rc = mproc__task_encode(pool, t, target, args, argv + at, counts[encoded],
                            kwargs, mode, first + at);
    if (rc < 0) break;
    at += counts[encoded];
  }

  /* The pool may have closed meanwhile. Queued together, dispatched once:
   * a worker gets a batch in one write. */
  pthread_mutex_lock(&pool->lock);
  int refused = mproc__pool_refuse_locked(pool, feeding);
  if (refused < 0) {
    rc = refused;
    encoded = 0;
  }
  for (size_t i = 0; i < made; i++) {
    if (i < encoded)
      mproc__sched_enqueue_locked(pool, out[i]);
    else
      mproc__task_discard_locked(pool, out[i]);
  }
  if (encoded > 0) mproc__dispatch_locked(pool);
  pthread_mutex_unlock(&pool->lock);
  *done = encoded;
  if (rc == 0 && made < k) rc = MPROC_ENOMEM;
  return rc;
}

int mproc_pool_apply(mproc_pool_t *pool, const char *target,
                     const mproc_value_t *args, const mproc_value_t *kwargs,
                     mproc_value_t **result, mproc_task_error_t *err) {
  if (result != NULL) *result = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  if (result == NULL) return MPROC__EINVAL("result is NULL");
  mproc_future_t *f;
  int rc = mproc_pool_submit(pool, target, args, kwargs, &f);
  if (rc < 0) {
    mproc__pool_refusal(pool, rc, err);
    return rc;
  }
  pthread_mutex_lock(&pool->lock);
  mproc__apply_wait_locked(pool, f);
  rc = f->code;
  if (rc == 0) {
    if (f->result == NULL)
      rc = mproc_value_none(result);
    else
      *result = f->result; /* the caller owns it now */
    f->result = NULL;
  } else {
    mproc__task_error(f, err);
  }
  pthread_mutex_unlock(&pool->lock);
  mproc_future_free(f);
  return rc;
}

/* ---- The future API. */

int mproc_future_wait(mproc_future_t *f, double timeout_s) {
  if (f == NULL) return MPROC__EINVAL("f is NULL");
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  mproc_pool_t *pool = f->pool;
  pthread_mutex_lock(&pool->lock);
  int rc = mproc__task_wait_locked(pool, f, mproc__deadline(timeout_s));
  pthread_mutex_unlock(&pool->lock);
  return rc;
}

int mproc_future_ready(mproc_future_t *f) {
  if (f == NULL) return MPROC__EINVAL("f is NULL");
  pthread_mutex_lock(&f->pool->lock);
  int ready = f->state == TASK_DONE;
  pthread_mutex_unlock(&f->pool->lock);
  return ready;
}

int mproc_future_successful(mproc_future_t *f) {
  if (f == NULL) return MPROC__EINVAL("f is NULL");
  pthread_mutex_lock(&f->pool->lock);
  int rc = f->state != TASK_DONE ? MPROC_ESTATE : f->code == 0;
  pthread_mutex_unlock(&f->pool->lock);
  return rc;
}

int mproc_future_result(mproc_future_t *f, const mproc_value_t **result) {
  if (f == NULL || result == NULL)
    return MPROC__EINVAL("%s is NULL", f == NULL ? "f" : "result");
  *result = NULL;
  pthread_mutex_lock(&f->pool->lock);
  int rc = MPROC_ESTATE;
  if (f->state == TASK_DONE) {
    rc = f->code;
    if (rc == 0 && f->result == NULL && mproc_value_none(&f->result) < 0)
      rc = MPROC_ENOMEM;
    if (rc == 0) *result = f->result;
  }
  pthread_mutex_unlock(&f->pool->lock);
  return rc;
}

int mproc_future_error(mproc_future_t *f, mproc_task_error_t *err) {
  if (f == NULL || err == NULL)
    return MPROC__EINVAL("%s is NULL", f == NULL ? "f" : "err");
  pthread_mutex_lock(&f->pool->lock);
  int rc = MPROC_ESTATE;
  if (f->state == TASK_DONE) {
    mproc__task_error(f, err);
    rc = f->code;
  }
  pthread_mutex_unlock(&f->pool->lock);
  return rc;
}

int mproc_future_timing(mproc_future_t *f, mproc_task_timing_t *t) {
  if (f == NULL || t == NULL)
    return MPROC__EINVAL("%s is NULL", f == NULL ? "f" : "t");
  pthread_mutex_lock(&f->pool->lock);
  *t = f->timing;
  pthread_mutex_unlock(&f->pool->lock);
  return 0;
}

void mproc_future_free(mproc_future_t *f) {
  if (f == NULL) return;
  mproc_pool_t *pool = f->pool;
  pthread_mutex_lock(&pool->lock);
  f->user_holds = false;
  if (!f->pool_holds && !f->cb_holds) mproc__task_recycle_locked(pool, f);
  mproc__pool_unref_locked(pool); /* unlocks */
}

/* ---- Cancellation and done-callbacks. */

int mproc_future_cancel(mproc_future_t *f) {
  if (f == NULL) return MPROC__EINVAL("f is NULL");
  mproc_pool_t *pool = f->pool;
  pthread_mutex_lock(&pool->lock);
  int rc;
  if (f->state == TASK_QUEUED) {
    mproc__sched_cancel_locked(pool, f);
    pthread_cond_broadcast(&pool->cond);
    mproc__pool_notify_fds_locked(pool);
    /* The pool thread runs its callbacks, and a closed pool may have
     * nothing left to wait for. */
    mproc__pool_wake_locked(pool, 0);
    rc = 1;
  } else {
    rc = f->state == TASK_DONE && f->code == MPROC_ECANCELED;
  }
  pthread_mutex_unlock(&pool->lock);
  return rc;
}

int mproc_future_cancelled(mproc_future_t *f) {
  if (f == NULL) return MPROC__EINVAL("f is NULL");
  pthread_mutex_lock(&f->pool->lock);
  int rc = f->state == TASK_DONE && f->code == MPROC_ECANCELED;
  pthread_mutex_unlock(&f->pool->lock);
  return rc;
}

int mproc_future_add_done_callback(mproc_future_t *f, mproc_done_fn fn,
                                   void *arg) {
  if (f == NULL || fn == NULL)
    return MPROC__EINVAL("%s is NULL", f == NULL ? "f" : "fn");
  mproc__done_cb_t *cb = malloc(sizeof *cb);
  if (cb == NULL) return MPROC_ENOMEM;
  cb->fn = fn;
  cb->arg = arg;
  cb->next = NULL;
  mproc_pool_t *pool = f->pool;
  pthread_mutex_lock(&pool->lock);
  /* Not done, or done with callbacks still waiting for the pool thread:
   * this one runs after them. */
  if (f->state != TASK_DONE || f->callbacks != NULL) {
    if (f->callbacks_tail != NULL)
      f->callbacks_tail->next = cb;
    else
      f->callbacks = cb;
    f->callbacks_tail = cb;
    f->cb_holds = true;
    pthread_mutex_unlock(&pool->lock);
    return 0;
  }
  pthread_mutex_unlock(&pool->lock);
  free(cb);
  fn(f, arg); /* done already: here, as Python does */
  return 0;
}

void mproc__run_callbacks_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  while (pool->cb_head != NULL) {
    struct mproc_future *t = pool->cb_head;
    pool->cb_head = t->cb_next;
    if (pool->cb_head == NULL) pool->cb_tail = NULL;
    t->cb_next = NULL;
    mproc__done_cb_t *cb = t->callbacks;
    t->callbacks = t->callbacks_tail = NULL;
    pthread_mutex_unlock(&pool->lock);
    while (cb != NULL) {
      mproc__done_cb_t *next = cb->next;
      cb->fn(t, cb->arg);
      free(cb);
      cb = next;
    }
    pthread_mutex_lock(&pool->lock);
    /* Callbacks added while these ran ran at once (the task was done). */
    t->cb_holds = false;
    if (!t->user_holds && !t->pool_holds) mproc__task_recycle_locked(pool, t);
  }
}
