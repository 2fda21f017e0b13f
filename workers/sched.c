/* The pool's task state machine: see sched.h. No system calls here. */
#include "workers/sched.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In-flight tasks per worker: enough to cover about this much work. */
#define INFLIGHT_TARGET_NS 2000000.0
#define INFLIGHT_MIN 2
#define INFLIGHT_MAX 256
/* Tasks behind one that has run this long (and twice the recent run time)
 * go to a worker that has nothing to do. */
#define STEAL_AFTER_NS 1000000.0

void mproc__sched_enqueue_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  t->next = NULL;
  t->state = TASK_QUEUED;
  if (t->timing.submitted_ns == 0) t->timing.submitted_ns = mproc__pool_now(pool);
  if (pool->qtail)
    pool->qtail->next = t;
  else
    pool->qhead = t;
  pool->qtail = t;
  pool->queued++;
  pool->unfinished++;
}

/* Tasks in flight per worker: a batch covering ~2 ms of recent work, so a
 * worker never waits for its next task, and a slow task holds few behind
 * it. */
static unsigned inflight_cap(const mproc_pool_t *pool) {
  if (pool->ema_run_ns <= 0) return 8;
  double cap = INFLIGHT_TARGET_NS / pool->ema_run_ns;
  if (cap < INFLIGHT_MIN) return INFLIGHT_MIN;
  if (cap > INFLIGHT_MAX) return INFLIGHT_MAX;
  return (unsigned)cap;
}

bool mproc__sched_accepting(const mproc_pool_t *pool, const worker_t *w) {
  return w->state == WORKER_RUNNING && !w->dead && !w->retiring &&
         w->timed_out_id == 0 && pool->state != POOL_TERMINATING;
}

static void push_outstanding(worker_t *w, struct mproc_future *t,
                             uint64_t now) {
  t->next = NULL;
  if (w->otail)
    w->otail->next = t;
  else
    w->ohead = t;
  w->otail = t;
  w->nout++;
  w->dispatched++;
  w->seq = (w->seq + 1) & MPROC__SEQ_MASK;
  t->wseq = w->seq;
  t->state = TASK_DISPATCHED;
  t->timing.dispatched_ns = now;
  t->timing.worker = w->slot;
  t->timing.pid = w->pid;
}

/* How long a task has run when the tasks behind it may be stolen. */
static uint64_t slow_after(const mproc_pool_t *pool) {
  double after = 2 * pool->ema_run_ns;
  return (uint64_t)(after < STEAL_AFTER_NS ? STEAL_AFTER_NS : after);
}

/* Whether w is inside its first task, entered at *entered. */
static bool inside_head(const mproc_pool_t *pool, const worker_t *w,
                        uint64_t *entered) {
  return pool->board != NULL && w->ohead != NULL &&
         mproc__post_running(&pool->board[w->slot], entered) == w->ohead->id;
}

static unsigned dispatch_queue(mproc_pool_t *pool, uint64_t now_ns) {
  unsigned cap = inflight_cap(pool), moved = 0;
  /* A worker inside a slow task gets no more: they would wait behind it
   * (stolen back later, if another worker runs out). */
  uint64_t after = slow_after(pool);
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    uint64_t entered = 0;
    w->slow = inside_head(pool, w, &entered) && now_ns > entered + after;
  }
  while (pool->qhead != NULL) {
    worker_t *best = NULL;
    for (unsigned i = 0; i < pool->nworkers; i++) {
      worker_t *w = &pool->workers[i];
      if (!mproc__sched_accepting(pool, w) || w->nout >= cap || w->slow)
        continue;
      if (pool->max_tasks_per_child &&
          w->dispatched >= pool->max_tasks_per_child)
        continue;
      if (best == NULL || w->nout < best->nout) best = w;
    }
    if (best == NULL) break;
    struct mproc_future *t = pool->qhead;
    if (mproc__buf_reserve(&best->out, t->frame.len) < 0) break;
    if (best->nout == 0) best->flush_now = true;
    memcpy(best->out.p + best->out.len, t->frame.p, t->frame.len);
    best->out.len += t->frame.len;
    pool->qhead = t->next;
    if (pool->qhead == NULL) pool->qtail = NULL;
    pool->queued--;
    push_outstanding(best, t, now_ns);
    moved++;
  }
  return moved;
}

/* Takes the tasks of v after t_prev (not yet admitted, as the board says)
 * back to the front of the queue. Returns how many. */
static unsigned take_back(mproc_pool_t *pool, worker_t *v,
                          struct mproc_future *prev) {
  mproc__post_t *post = &pool->board[v->slot];
  uint32_t from = prev->next->wseq, to = (v->seq + 1) & MPROC__SEQ_MASK;
  uint32_t first = mproc__post_revoke(post, from, to);
  if (first > MPROC__SEQ_MASK || first == to) return 0;
  /* The worker may have admitted some meanwhile: they stay. */
  while (prev->next != NULL && prev->next->wseq != first) prev = prev->next;
  struct mproc_future *head = prev->next, *last = v->otail;
  if (head == NULL) return 0; /* cannot happen: first is one of them */
  unsigned n = 0;
  for (struct mproc_future *t = head; t != NULL; t = t->next) {
    t->state = TASK_QUEUED;
    t->timing.worker = -1;
    t->timing.pid = 0;
    t->timing.dispatched_ns = 0;
    n++;
  }
  prev->next = NULL;
  v->otail = prev;
  v->nout -= n;
  v->dispatched -= n;
  last->next = pool->qhead;
  pool->qhead = head;
  if (pool->qtail == NULL) pool->qtail = last;
  pool->queued += n;
  return n;
}

/* Work stealing: when a worker is idle and nothing is queued, the tasks
 * another worker holds behind a task that has run for a while (past
 * STEAL_AFTER_NS and twice the recent run time) come back to the queue;
 * its board says which it has not started (board.h), and it drops those
 * unanswered. Sets pool->steal_at_ns to when a task that is not slow yet
 * would be. Returns how many tasks came back. */
static unsigned steal(mproc_pool_t *pool, uint64_t now_ns) {
  pool->steal_at_ns = UINT64_MAX;
  if (pool->board == NULL || pool->qhead != NULL) return 0;
  bool idle = false;
  for (unsigned i = 0; i < pool->nworkers && !idle; i++) {
    const worker_t *w = &pool->workers[i];
    idle = mproc__sched_accepting(pool, w) && w->nout == 0 &&
           !(pool->max_tasks_per_child &&
             w->dispatched >= pool->max_tasks_per_child);
  }
  if (!idle) return 0;
  uint64_t after = slow_after(pool);
  unsigned taken = 0;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *v = &pool->workers[i];
    if (v->state != WORKER_RUNNING || v->dead || v->nout < 2) continue;
    uint64_t entered = 0;
    if (!inside_head(pool, v, &entered)) {
      /* Between tasks, or not yet in its first one (still starting): it
       * takes the next itself unless that one turns out slow, so look
       * again then — nothing else would (its answer may be far off). */
      uint64_t again = now_ns + after;
      if (again < pool->steal_at_ns) pool->steal_at_ns = again;
      continue;
    }
    uint64_t slow_at = entered + after;
    if (now_ns < slow_at) {
      if (slow_at < pool->steal_at_ns) pool->steal_at_ns = slow_at;
      continue;
    }
    taken += take_back(pool, v, v->ohead);
  }
  return taken;
}

unsigned mproc__sched_dispatch_locked(mproc_pool_t *pool, uint64_t now_ns) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  unsigned moved = dispatch_queue(pool, now_ns);
  if (steal(pool, now_ns) > 0) moved += dispatch_queue(pool, now_ns);
  return moved;
}

static void record_usage(worker_t *w, const mproc__report_t *r) {
  if (r->maxrss_kb == 0) return;
  w->utime_us = r->utime_us;
  w->stime_us = r->stime_us;
  if (r->maxrss_kb > w->maxrss_kb) w->maxrss_kb = r->maxrss_kb;
}

static void retire_if_due(mproc_pool_t *pool, worker_t *w) {
  if (pool->max_tasks_per_child &&
      w->dispatched >= pool->max_tasks_per_child)
    w->retiring = true;
  if (pool->wcfg.max_rss_kb && w->maxrss_kb > pool->wcfg.max_rss_kb)
    w->retiring = true;
}

/* The outcome r reports for t, taken from r. */
static void take_outcome(struct mproc_future *t, mproc__report_t *r) {
  if (r->error != 0) {
    t->code = r->error;
    t->exit_code = 0;
  } else if (t->nitems > 0) {
    /* A chunk: every item has a result; failures are listed. */
    t->code = 0;
    t->results = r->results;
    t->n_results = r->n_results;
    r->results = NULL;
    r->n_results = 0;
    t->item_errors = r->item_errors;
    t->n_item_errors = r->n_item_errors;
    r->item_errors = NULL;
    r->n_item_errors = 0;
  } else if (r->code != 0) {
    t->code = MPROC_EFAILED;
    t->exit_code = r->code < 0 ? 1 : r->code;
  } else {
    t->code = 0;
    t->result = r->result;
    r->result = NULL;
  }
  if (t->code != 0) {
    t->message = r->message;
    r->message = NULL;
    if (t->message == NULL) {
      char buf[64];
      snprintf(buf, sizeof buf, "target returned %d", t->exit_code);
      t->message = strdup(buf);
    }
  }
}

int mproc__sched_complete_locked(mproc_pool_t *pool, worker_t *w,
                                 mproc__report_t *r, uint64_t now_ns) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  struct mproc_future *t = w->ohead;
  if (t == NULL || t->id != r->id) return MPROC_EMALFORMED;
  w->ohead = t->next;
  if (w->ohead == NULL) w->otail = NULL;
  w->nout--;
  /* A task whose kill was claimed may still finish first: it made it. The
   * worker leaves anyway (it saw the claim), and is replaced. */
  if (w->timed_out_id == t->id) w->timed_out_id = 0;

  t->timing.started_ns = r->t_enter_ns;
  t->timing.finished_ns = r->t_ns;
  t->timing.completed_ns = now_ns;
  if (r->t_ns > r->t_enter_ns) {
    uint64_t run = r->t_ns - r->t_enter_ns;
    w->busy_ns += run;
    pool->ema_run_ns = pool->ema_run_ns <= 0
                           ? (double)run
                           : 0.9 * pool->ema_run_ns + 0.1 * (double)run;
  }
  w->tasks++;
  record_usage(w, r);
  take_outcome(t, r);
  mproc__sched_finish_locked(pool, t);
  retire_if_due(pool, w);
  return 0;
}

/* Puts w's outstanding tasks back at the front of the queue, in order. */
static void requeue_front(mproc_pool_t *pool, worker_t *w) {
  struct mproc_future *first = w->ohead, *last = w->otail;
  size_t n = w->nout;
  w->ohead = w->otail = NULL;
  w->nout = 0;
  if (first == NULL) return;
  for (struct mproc_future *t = first; t != NULL; t = t->next) {
    t->state = TASK_QUEUED;
    t->timing.worker = -1;
    t->timing.pid = 0;
    t->timing.dispatched_ns = 0;
    if (t == last) break;
  }
  last->next = pool->qhead;
  pool->qhead = first;
  if (pool->qtail == NULL) pool->qtail = last;
  pool->queued += n;
}

void mproc__sched_requeue_locked(mproc_pool_t *pool, worker_t *w) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  requeue_front(pool, w);
}

/* Removes and returns the outstanding task of w with this id, or NULL. */
static struct mproc_future *take_outstanding(worker_t *w, uint64_t id) {
  struct mproc_future *prev = NULL;
  for (struct mproc_future *t = w->ohead; t != NULL; prev = t, t = t->next) {
    if (t->id != id) continue;
    if (prev != NULL)
      prev->next = t->next;
    else
      w->ohead = t->next;
    if (w->otail == t) w->otail = prev;
    t->next = NULL;
    w->nout--;
    return t;
  }
  return NULL;
}

bool mproc__sched_worker_died_locked(mproc_pool_t *pool, worker_t *w,
                                     uint64_t running, int code,
                                     int exit_code, int sig, const char *why) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  struct mproc_future *t = NULL;
  for (struct mproc_future *q = w->ohead; running && q != NULL; q = q->next)
    if (q->id == running) t = q;
  if (t != NULL && code == MPROC_EWORKER &&
      t->timing.retries < pool->max_retries &&
      pool->state != POOL_TERMINATING) {
    /* Idempotent work: it goes back to the queue with the others, in
     * order, to run again. */
    t->timing.retries++;
  } else if (t != NULL) {
    take_outstanding(w, running);
    if (t->timing.retries > 0)
      mproc__sched_fail_locked(pool, t, code, exit_code, sig, "%s (%u tries)",
                               why, t->timing.retries + 1);
    else
      mproc__sched_fail_locked(pool, t, code, exit_code, sig, "%s", why);
  }
  requeue_front(pool, w);
  return t != NULL;
}

void mproc__sched_fail_all_locked(mproc_pool_t *pool, int code,
                                  bool running_too, const char *why) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  while (pool->qhead != NULL) {
    struct mproc_future *t = pool->qhead;
    pool->qhead = t->next;
    pool->queued--;
    mproc__sched_fail_locked(pool, t, code, 0, 0, "%s", why);
  }
  pool->qtail = NULL;
  for (unsigned i = 0; running_too && i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    while (w->ohead != NULL) {
      struct mproc_future *t = w->ohead;
      w->ohead = t->next;
      mproc__sched_fail_locked(pool, t, code, 0, 0, "%s", why);
    }
    w->otail = NULL;
    w->nout = 0;
  }
}

void mproc__sched_finish_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  t->state = TASK_DONE;
  if (t->timing.completed_ns == 0)
    t->timing.completed_ns = mproc__pool_now(pool);
  pool->completed = true;
  const mproc_task_timing_t *tm = &t->timing;
  if (tm->started_ns >= tm->submitted_ns && tm->started_ns)
    t->timing.queue_s = (double)(tm->started_ns - tm->submitted_ns) / 1e9;
  if (tm->finished_ns >= tm->started_ns && tm->started_ns)
    t->timing.run_s = (double)(tm->finished_ns - tm->started_ns) / 1e9;
  t->pool_holds = false;
  pool->unfinished--;
  if (t->callbacks != NULL) {
    /* The pool thread runs them (mproc__run_callbacks_locked), then gives
     * the task back if nobody holds it. */
    t->cb_next = NULL;
    if (pool->cb_tail != NULL)
      pool->cb_tail->cb_next = t;
    else
      pool->cb_head = t;
    pool->cb_tail = t;
    return;
  }
  if (!t->user_holds && !t->cb_holds) mproc__task_recycle_locked(pool, t);
}

void mproc__sched_fail_locked(mproc_pool_t *pool, struct mproc_future *t,
                              int code, int exit_code, int sig,
                              const char *fmt, ...) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  t->code = code;
  t->exit_code = exit_code;
  t->signal = sig;
  free(t->message);
  t->message = malloc(MPROC_CALL_MESSAGE_MAX);
  if (t->message != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message, MPROC_CALL_MESSAGE_MAX, fmt, ap);
    va_end(ap);
  }
  mproc_value_free(t->result);
  t->result = NULL;
  mproc__task_clear_chunk(t);
  mproc__sched_finish_locked(pool, t);
}

bool mproc__sched_cancel_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (t->state != TASK_QUEUED) return false;
  struct mproc_future *prev = NULL;
  for (struct mproc_future *q = pool->qhead; q != NULL; prev = q, q = q->next) {
    if (q != t) continue;
    if (prev != NULL)
      prev->next = t->next;
    else
      pool->qhead = t->next;
    if (pool->qtail == t) pool->qtail = prev;
    t->next = NULL;
    pool->queued--;
    mproc__sched_fail_locked(pool, t, MPROC_ECANCELED, 0, 0,
                             "cancelled before it started");
    return true;
  }
  return false; /* cannot happen: a queued task is on the queue */
}
