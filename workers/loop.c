/* The pool thread: moves tasks to workers and answers back, watches the
 * workers die, enforces task timeouts, retires and replaces workers.
 *
 * One epoll set holds the eventfd that wakes the thread, the fork server's
 * control socket and pidfd, and every worker's pipe and pidfd. Each turn:
 * sleep in epoll_wait (lock released), read what arrived and decode it
 * (lock released: the readers are this thread's alone), then, under the
 * lock, apply the answers, settle deaths and timeouts, dispatch queued
 * tasks, respawn empty slots and wake whoever waits.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/io.h"
#include "core/pidfd.h"
#include "workers/forkserver.h"
#include "workers/pool_internal.h"

enum {
  TAG_WAKE = 1,
  TAG_CTL,
  TAG_SERVER,
  TAG_WTASKS,   /* a worker's task socket became writable */
  TAG_WANSWERS, /* answers arrived (or the worker closed its pipe) */
  TAG_WPIDFD    /* the worker ended */
};

#define TAG(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))
#define TAG_KIND(u) ((int)((u) >> 32))
#define TAG_SLOT(u) ((int)((u)&0xffffffffu))

/* Initializers in a row that may fail before the pool is broken. */
#define MAX_INIT_FAILURES 3
/* Fork servers in a row that may die (before any worker served) before
 * the pool is broken. */
#define MAX_SERVER_DEATHS 3
/* Failed worker starts in a row after which, if they were fork or
 * hand-over failures and no worker serves, queued tasks fail with the
 * error instead of waiting (the pool keeps trying for later tasks). */
#define START_FAILURES_REPORTED 5
/* Backoff between failed starts: doubles from the third, up to the cap. */
#define BACKOFF_FIRST_NS 5000000u
#define BACKOFF_MAX_NS 1000000000u
/* In-flight tasks per worker: enough to cover about this much work. */
#define INFLIGHT_TARGET_NS 2000000.0
#define INFLIGHT_MIN 2
#define INFLIGHT_MAX 256

/* Reports decoded outside the lock, applied inside it. */
typedef struct {
  int slot;
  mproc__report_t r;
} arrival_t;

typedef struct {
  arrival_t *v;
  size_t n, cap;
} arrivals_t;

static int arrivals_push(arrivals_t *a, int slot, mproc__report_t *r) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    arrival_t *v = realloc(a->v, cap * sizeof *v);
    if (v == NULL) return MPROC_ENOMEM;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n].slot = slot;
  a->v[a->n].r = *r;
  a->n++;
  return 0;
}

static void ep_add(mproc_pool_t *pool, int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  epoll_ctl(pool->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void ep_mod(mproc_pool_t *pool, int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  epoll_ctl(pool->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void ep_del(mproc_pool_t *pool, int fd) {
  if (fd >= 0) epoll_ctl(pool->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void sigterm_or_kill(worker_t *w, int sig) {
  if (w->node.fds[MPROC__WFD_PIDFD] >= 0 &&
      mproc__pidfd_send_signal(w->node.fds[MPROC__WFD_PIDFD], sig) == 0)
    return;
  /* No pidfd: the server owns the worker and has not reaped it yet unless
   * its EXITED report is already on its way, so the pid is still its. */
  if (w->pid > 0 && !w->status_known) kill(w->pid, sig);
}

static unsigned inflight_cap(const mproc_pool_t *pool) {
  if (pool->ema_run_ns <= 0) return 8;
  double cap = INFLIGHT_TARGET_NS / pool->ema_run_ns;
  if (cap < INFLIGHT_MIN) return INFLIGHT_MIN;
  if (cap > INFLIGHT_MAX) return INFLIGHT_MAX;
  return (unsigned)cap;
}

static bool accepting(const mproc_pool_t *pool, const worker_t *w) {
  return w->state == WORKER_RUNNING && !w->dead && !w->retiring &&
         w->timed_out_id == 0 && pool->state != POOL_TERMINATING;
}

/* ---- Dispatch: queued tasks to workers, written without blocking. */

static void flush_worker(worker_t *w) {
  while (w->out.len > 0) {
    ssize_t n = send(w->node.fds[MPROC__WFD_TASKS], w->out.p, w->out.len,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      mproc__buf_consume(&w->out, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    /* The worker is gone; the loop sees it through its pidfd or EOF. */
    w->out.len = 0;
    return;
  }
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
  t->state = TASK_DISPATCHED;
  t->timing.dispatched_ns = now;
  t->timing.worker = w->slot;
  t->timing.pid = w->pid;
}

uint64_t mproc__pool_now(const mproc_pool_t *pool) {
  return pool->now_ns ? pool->now_ns : mproc__now_ns();
}

void mproc__dispatch_locked(mproc_pool_t *pool) {
  if (pool->qhead == NULL && !pool->in_loop) return;
  unsigned cap = inflight_cap(pool);
  uint64_t now = mproc__pool_now(pool);
  bool wrote_to_idle = false;
  while (pool->qhead != NULL) {
    worker_t *best = NULL;
    for (unsigned i = 0; i < pool->nworkers; i++) {
      worker_t *w = &pool->workers[i];
      if (!accepting(pool, w) || w->nout >= cap) continue;
      if (pool->max_tasks_per_child &&
          w->dispatched >= pool->max_tasks_per_child)
        continue;
      if (best == NULL || w->nout < best->nout) best = w;
    }
    if (best == NULL) break;
    if (best->nout == 0) {
      wrote_to_idle = true;
      best->flush_now = true;
    }
    struct mproc_future *t = pool->qhead;
    if (mproc__buf_reserve(&best->out, t->frame.len) < 0) break;
    memcpy(best->out.p + best->out.len, t->frame.p, t->frame.len);
    best->out.len += t->frame.len;
    pool->qhead = t->next;
    if (pool->qhead == NULL) pool->qtail = NULL;
    pool->queued--;
    push_outstanding(best, t, now);
  }
  /* An idle worker gets its task at once. A busy one gets it with the next
   * batch: the pool thread flushes after each round of answers, so under
   * load many tasks share one write. */
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->out.len == 0 || !(w->flush_now || pool->in_loop)) continue;
    w->flush_now = false;
    flush_worker(w);
    if (w->out.len > 0) mproc__pool_wake_locked(pool, 0); /* arm EPOLLOUT */
  }
  /* A sleeping pool thread must wake in time to enforce a new timeout. */
  if (wrote_to_idle && pool->task_timeout_ns)
    mproc__pool_wake_locked(pool, now + pool->task_timeout_ns);
}

/* ---- Answers. */

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

static void apply_result(mproc_pool_t *pool, worker_t *w, mproc__report_t *r) {
  struct mproc_future *t = w->ohead;
  if (t == NULL || t->id != r->id) {
    /* Out of order: the worker is broken; stop it, and let the death
     * settle its tasks. */
    w->retiring = true;
    sigterm_or_kill(w, SIGKILL);
    return;
  }
  w->ohead = t->next;
  if (w->ohead == NULL) w->otail = NULL;
  w->nout--;
  uint64_t now = mproc__pool_now(pool);
  /* A task whose kill was claimed may still finish first: it made it. The
   * worker leaves anyway (it saw the claim), and is replaced. */
  if (w->timed_out_id == t->id) w->timed_out_id = 0;

  t->timing.started_ns = r->t_enter_ns;
  t->timing.finished_ns = r->t_ns;
  t->timing.completed_ns = now;
  if (r->t_ns > r->t_enter_ns) {
    uint64_t run = r->t_ns - r->t_enter_ns;
    w->busy_ns += run;
    pool->ema_run_ns = pool->ema_run_ns <= 0
                           ? (double)run
                           : 0.9 * pool->ema_run_ns + 0.1 * (double)run;
  }
  w->tasks++;
  record_usage(w, r);

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
  mproc__task_finish_locked(pool, t);
  retire_if_due(pool, w);
}

static void apply(mproc_pool_t *pool, arrival_t *a) {
  worker_t *w = &pool->workers[a->slot];
  mproc__report_t *r = &a->r;
  switch (r->kind) {
    case MPROC__REPORT_READY:
      /* A worker serves: whatever failed before is over. */
      w->ready = true;
      pool->init_failures = 0;
      pool->start_failures = 0;
      pool->spawn_error = 0;
      pool->server_deaths = 0;
      break;
    case MPROC__REPORT_INIT_FAILED:
      free(w->init_error);
      w->init_error = r->message;
      r->message = NULL;
      break;
    case MPROC__REPORT_RETURNED:
      apply_result(pool, w, r);
      break;
    default:
      break;
  }
  mproc__report_clear(r);
}

/* Reads everything waiting on a worker's pipe and decodes it. Returns true
 * at end of file (the worker is gone, and all it sent has been read). */
static bool read_worker(worker_t *w, arrivals_t *out) {
  bool eof = false;
  for (;;) {
    int rc = mproc__reader_fill(&w->in);
    if (rc == MPROC_EAGAIN) break;
    if (rc < 0) {
      eof = true; /* EOF, ECONNRESET, or a frame we cannot hold */
      break;
    }
  }
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_peek(&w->in, &payload, &len);
    if (rc <= 0) {
      if (rc < 0) eof = true; /* oversized: cannot resynchronise */
      break;
    }
    mproc__report_t r;
    if (mproc__report_decode(&r, payload, len) < 0) {
      eof = true;
      break;
    }
    if (arrivals_push(out, w->slot, &r) < 0) {
      mproc__report_clear(&r);
      eof = true;
      break;
    }
  }
  return eof;
}

/* ---- Deaths. */

static void requeue_front(mproc_pool_t *pool, struct mproc_future *first,
                          struct mproc_future *last, size_t n) {
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

static void describe_status(char *buf, size_t size, int status, int *sig,
                            int *code) {
  *sig = 0;
  *code = 0;
  if (WIFSIGNALED(status)) {
    *sig = WTERMSIG(status);
    snprintf(buf, size, "signal %d (%s)", *sig, strsignal(*sig));
  } else if (WIFEXITED(status)) {
    *code = WEXITSTATUS(status);
    snprintf(buf, size, "exit code %d", *code);
  } else {
    snprintf(buf, size, "status %d", status);
  }
}

/* Nothing more will run: every queued task, and new ones, fail with why. */
static void break_pool(mproc_pool_t *pool, const char *why) {
  if (pool->broken != NULL) return;
  pool->broken = strdup(why);
  mproc__pool_fail_all_locked(pool, MPROC_EBROKEN, false,
                              pool->broken ? pool->broken : why);
}

/* A worker did not get to serve (its fork or hand-over failed, or it died
 * before READY): its slot waits before the next try, longer each time in a
 * row. err is the fork or hand-over error, 0 for a death. */
static void fail_queue_if_starts_fail(mproc_pool_t *pool);

static void start_failed(mproc_pool_t *pool, worker_t *w, int err) {
  unsigned n = ++pool->start_failures;
  pool->spawn_error = err;
  fail_queue_if_starts_fail(pool);
  uint64_t delay = 0;
  if (n >= 3) {
    unsigned shift = n - 3 > 20 ? 20 : n - 3;
    delay = (uint64_t)BACKOFF_FIRST_NS << shift;
    if (delay > BACKOFF_MAX_NS) delay = BACKOFF_MAX_NS;
  }
  w->spawn_at_ns = mproc__pool_now(pool) + delay;
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

/* The worker is dead (its pipe at EOF) and its status known: settle its
 * tasks — only the one it was inside (the board says which) fails; the
 * others it held never started and go back to the front of the queue —
 * keep its statistics, free the slot. */
static void settle_death(mproc_pool_t *pool, worker_t *w) {
  char how[96];
  int sig, exit_code;
  describe_status(how, sizeof how, w->status, &sig, &exit_code);
  bool exited_0 = WIFEXITED(w->status) && WEXITSTATUS(w->status) == 0;
  bool planned = w->retiring && w->eof_sent && w->nout == 0 && exited_0;
  uint64_t running = mproc__post_running(&pool->board[w->slot], NULL);
  bool crashed = false;

  if (pool->state == POOL_TERMINATING) {
    /* terminate() has failed every task already. */
  } else if (!w->ready) {
    /* It never served: none of its tasks ran. Only an initializer that
     * failed (said so, or died running) counts towards breaking the pool;
     * a worker killed while it started is just replaced. */
    requeue_front(pool, w->ohead, w->otail, w->nout);
    crashed = true;
    bool init_failed = pool->wcfg.initializer != NULL &&
                       (w->init_error != NULL || running == MPROC__POST_INIT);
    if (init_failed && ++pool->init_failures >= MAX_INIT_FAILURES) {
      char msg[MPROC_CALL_MESSAGE_MAX];
      snprintf(msg, sizeof msg, "%u workers in a row failed to start: %s",
               pool->init_failures, w->init_error ? w->init_error : how);
      break_pool(pool, msg);
    }
    if (!init_failed) start_failed(pool, w, 0);
  } else if (!planned) {
    struct mproc_future *t = running ? take_outstanding(w, running) : NULL;
    crashed = t != NULL || !exited_0 || !w->eof_sent;
    if (t != NULL && w->timed_out_id == t->id) {
      mproc__task_fail_locked(
          pool, t, MPROC_ETASKTIMEOUT, exit_code, sig,
          "task ran longer than %.3f s; its worker (pid %d) was stopped "
          "with %s",
          (double)pool->task_timeout_ns / 1e9, (int)w->pid,
          w->sigkilled ? "SIGTERM, then SIGKILL" : "SIGTERM");
    } else if (t != NULL) {
      mproc__task_fail_locked(pool, t, MPROC_EWORKER, exit_code, sig,
                              "worker (pid %d) died running the task: %s",
                              (int)w->pid, how);
    }
    requeue_front(pool, w->ohead, w->otail, w->nout);
  }
  w->ohead = w->otail = NULL;
  w->nout = 0;

  /* Fold this worker into its slot's statistics. A restart is a worker
   * that ended on its own account (crashed, timed out, retired) or that
   * the pool replaces; one dismissed because the pool is closing,
   * terminating or broken is not. */
  mproc_worker_stats_t *s = &w->slot_stats;
  mproc__worker_fold_stats(w, s, mproc__now_ns());
  bool replaced = pool->broken == NULL && pool->state != POOL_TERMINATING &&
                  !mproc__pool_drained(pool);
  if (w->pid > 0 && (crashed || replaced)) s->restarts++;
  if (crashed) s->crashes++;

  free(w->init_error);
  w->init_error = NULL;
  mproc__reader_free(&w->in);
  w->out.len = 0;
  w->state = WORKER_NONE;
  w->pid = 0;
  w->ready = w->retiring = w->eof_sent = w->dead = w->status_known = false;
  w->sigkilled = false;
  w->timed_out_id = 0;
  w->kill_at_ns = 0;
  w->dispatched = 0;
  w->tasks = w->busy_ns = 0;
  w->utime_us = w->stime_us = w->maxrss_kb = 0;
  w->born_ns = 0;
}

/* Its pipe reached EOF: drop its descriptors; wait for its status. */
static void mark_dead(mproc_pool_t *pool, worker_t *w) {
  w->eof_seen = false;
  if (w->dead) return;
  w->dead = true;
  w->out_armed = false;
  mproc__lock();
  for (int i = 0; i < MPROC__WFD_COUNT; i++) {
    ep_del(pool, w->node.fds[i]);
    mproc__close(w->node.fds[i]);
    w->node.fds[i] = -1;
  }
  mproc__node_unlink(&w->node);
  mproc__unlock();
  w->state = WORKER_GONE;
}

/* ---- Control messages from the fork server. */

/* The worker the server says pid is, in slot (O(1): the server keeps each
 * worker's slot). */
static worker_t *worker_in_slot(mproc_pool_t *pool, uint32_t slot, pid_t pid) {
  if (slot >= pool->nworkers) return NULL;
  worker_t *w = &pool->workers[slot];
  return w->pid == pid && w->state != WORKER_NONE ? w : NULL;
}

static void on_spawned(mproc_pool_t *pool, const mproc__control_t *c,
                       const int fds[MPROC__WFD_COUNT]) {
  worker_t *w = c->slot < pool->nworkers ? &pool->workers[c->slot] : NULL;
  bool lost = fds[MPROC__WFD_TASKS] < 0 || fds[MPROC__WFD_ANSWERS] < 0;
  if (w == NULL || w->state != WORKER_SPAWNING || lost) {
    for (int i = 0; i < MPROC__WFD_COUNT; i++) mproc__close(fds[i]);
    /* A worker the pool cannot talk to would wait forever: the server
     * kills it; the slot tries again after a while. The usual cause is
     * this process's descriptor limit. */
    if (c->pid > 0) (void)mproc__server_kill(pool->ctl, c->pid);
    if (w != NULL && w->state == WORKER_SPAWNING) {
      w->state = WORKER_NONE;
      start_failed(pool, w, MPROC_EMFILE);
    }
    return;
  }
  for (int i = 0; i < MPROC__WFD_COUNT; i++) w->node.fds[i] = fds[i];
  mproc__node_link(&w->node); /* registry lock held by the caller */
  /* Both are fresh descriptors of ours: F_SETFL cannot fail on them. */
  (void)mproc__set_nonblock(fds[MPROC__WFD_TASKS], 1);
  (void)mproc__set_nonblock(fds[MPROC__WFD_ANSWERS], 1);
  w->pid = c->pid;
  w->serial = c->serial;
  w->server_gen = pool->server_gen;
  w->state = WORKER_RUNNING;
  w->born_ns = mproc__now_ns();
  mproc__reader_init(&w->in, fds[MPROC__WFD_ANSWERS], pool->wcfg.max_frame,
                     NULL, 0);
  /* The task socket is watched only for EPOLLOUT, when output waits. */
  ep_add(pool, fds[MPROC__WFD_TASKS], 0, TAG(TAG_WTASKS, w->slot));
  ep_add(pool, fds[MPROC__WFD_ANSWERS], EPOLLIN, TAG(TAG_WANSWERS, w->slot));
  if (fds[MPROC__WFD_PIDFD] >= 0)
    ep_add(pool, fds[MPROC__WFD_PIDFD], EPOLLIN, TAG(TAG_WPIDFD, w->slot));
}

/* Lock order, everywhere: pool->lock, then the registry's. */
static void read_control(mproc_pool_t *pool, bool *server_gone) {
  for (;;) {
    mproc__control_t c;
    int fds[MPROC__WFD_COUNT];
    pthread_mutex_lock(&pool->lock);
    if (pool->ctl < 0) {
      pthread_mutex_unlock(&pool->lock);
      return;
    }
    mproc__lock(); /* new descriptors are registered before anyone forks */
    int rc = mproc__server_recv(pool->ctl, &c, fds);
    if (rc == 1 && c.kind == MPROC__CTL_SPAWNED) {
      on_spawned(pool, &c, fds);
      mproc__unlock();
      pthread_mutex_unlock(&pool->lock);
      continue;
    }
    mproc__unlock();
    if (rc == MPROC_EAGAIN || rc <= 0) {
      pthread_mutex_unlock(&pool->lock);
      if (rc != MPROC_EAGAIN) *server_gone = true;
      return;
    }
    if (c.kind == MPROC__CTL_SPAWN_FAILED && c.slot < pool->nworkers) {
      worker_t *w = &pool->workers[c.slot];
      if (w->state == WORKER_SPAWNING) {
        w->state = WORKER_NONE;
        start_failed(pool, w, c.status < 0 ? c.status : MPROC_EAGAIN);
      }
    } else if (c.kind == MPROC__CTL_EXITED) {
      worker_t *w = worker_in_slot(pool, c.slot, c.pid);
      if (w != NULL) {
        w->status = c.status;
        w->status_known = true;
        w->utime_us = c.utime_us;
        w->stime_us = c.stime_us;
        if (c.maxrss_kb > w->maxrss_kb) w->maxrss_kb = c.maxrss_kb;
      }
    }
    pthread_mutex_unlock(&pool->lock);
  }
}

/* ---- Failing everything (terminate, broken pool). */

void mproc__pool_fail_all_locked(mproc_pool_t *pool, int code,
                                 bool running_too, const char *why) {
  while (pool->qhead != NULL) {
    struct mproc_future *t = pool->qhead;
    pool->qhead = t->next;
    pool->queued--;
    mproc__task_fail_locked(pool, t, code, 0, 0, "%s", why);
  }
  pool->qtail = NULL;
  for (unsigned i = 0; running_too && i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    while (w->ohead != NULL) {
      struct mproc_future *t = w->ohead;
      w->ohead = t->next;
      mproc__task_fail_locked(pool, t, code, 0, 0, "%s", why);
    }
    w->otail = NULL;
    w->nout = 0;
  }
}

/* Workers have failed to start too often in a row, the last time by a
 * fork or hand-over error, and none serves: the queued tasks fail with
 * that error rather than wait. The pool keeps trying: a task queued now
 * waits for the next try, and fails only if that one fails too. */
static void fail_queue_if_starts_fail(mproc_pool_t *pool) {
  if (pool->qhead == NULL || pool->spawn_error == 0 ||
      pool->start_failures < START_FAILURES_REPORTED)
    return;
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].state == WORKER_RUNNING && pool->workers[i].ready)
      return;
  char why[MPROC_CALL_MESSAGE_MAX];
  snprintf(why, sizeof why,
           "no worker could start: %s (%u attempts in a row; the pool keeps "
           "trying)",
           mproc_strerror(pool->spawn_error), pool->start_failures);
  int code = pool->spawn_error;
  while (pool->qhead != NULL) {
    struct mproc_future *t = pool->qhead;
    pool->qhead = t->next;
    pool->queued--;
    mproc__task_fail_locked(pool, t, code, 0, 0, "%s", why);
  }
  pool->qtail = NULL;
}

/* ---- Timers. */

/* Task timeouts count from when the worker entered the task, as posted on
 * the board. The kill is claimed on the board first: if the worker has
 * just left the task, the claim fails and nothing is killed. */
static uint64_t check_timers(mproc_pool_t *pool, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_RUNNING || w->dead) continue;
    if (w->kill_at_ns != 0 && !w->sigkilled) {
      if (now >= w->kill_at_ns) {
        sigterm_or_kill(w, SIGKILL);
        w->sigkilled = true;
      } else if (w->kill_at_ns < next) {
        next = w->kill_at_ns;
      }
    }
    if (pool->task_timeout_ns == 0 || w->nout == 0 || w->timed_out_id != 0)
      continue;
    mproc__post_t *post = &pool->board[w->slot];
    uint64_t head = w->ohead->id, entered = 0;
    uint64_t deadline;
    if (mproc__post_running(post, &entered) == head) {
      deadline = entered + pool->task_timeout_ns;
      if (now >= deadline && mproc__post_claim_kill(post, head)) {
        w->timed_out_id = head;
        w->retiring = true;
        sigterm_or_kill(w, SIGTERM);
        w->kill_at_ns = now + pool->kill_grace_ns;
        deadline = w->kill_at_ns;
      } else if (now >= deadline) {
        continue; /* it has just left the task: its answer is coming */
      }
    } else {
      /* Not entered yet: it cannot time out before a whole timeout. */
      deadline = now + pool->task_timeout_ns;
    }
    if (deadline < next) next = deadline;
  }
  return next;
}

/* ---- Shutdown and respawn. */

/* Workers that should leave get EOF on their pipe: retiring ones once
 * their tasks are answered, and all of them once a closed pool is done. */
static void send_eofs(mproc_pool_t *pool) {
  bool closing = mproc__pool_drained(pool);
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_RUNNING || w->dead || w->eof_sent) continue;
    if ((w->retiring && w->nout == 0 && w->timed_out_id == 0) ||
        (closing && w->nout == 0)) {
      if (w->out.len == 0) {
        shutdown(w->node.fds[MPROC__WFD_TASKS], SHUT_WR);
        w->eof_sent = true;
        w->retiring = true;
      }
    }
  }
}

/* Asks the fork server for a worker in every empty slot whose backoff has
 * passed. Returns when the next waiting slot is due (UINT64_MAX: none). */
static uint64_t respawn(mproc_pool_t *pool) {
  if (pool->broken != NULL || pool->state == POOL_TERMINATING ||
      pool->server_pid == 0 || mproc__pool_drained(pool))
    return UINT64_MAX;
  uint64_t now = mproc__pool_now(pool), next = UINT64_MAX;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_NONE) continue;
    if (w->spawn_at_ns > now) {
      if (w->spawn_at_ns < next) next = w->spawn_at_ns;
      continue;
    }
    mproc__post_reset(&pool->board[i]);
    uint32_t serial = ++pool->next_serial;
    if (mproc__server_spawn(pool->ctl, i, serial) == 0)
      w->state = WORKER_SPAWNING;
  }
  return next;
}

static bool all_gone(const mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].state != WORKER_NONE) return false;
  return true;
}

static void kill_everyone(mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state == WORKER_RUNNING && !w->dead && !w->sigkilled) {
      sigterm_or_kill(w, SIGKILL);
      w->sigkilled = true;
    }
    if (w->state == WORKER_SPAWNING) w->state = WORKER_NONE;
  }
}

/* ---- The fork server's life. */

/* Starts a fork server, outside the pool's lock (fork copies the calling
 * thread only; a held pool lock would be a held lock in the server). */
static int start_server(mproc_pool_t *pool) {
  int ctl, pidfd;
  int pid = mproc__server_start(&pool->wcfg, &ctl, &pidfd);
  if (pid < 0) return pid;
  pthread_mutex_lock(&pool->lock);
  pool->server_pid = pid;
  pool->server_gen++;
  pool->server_born_ns = mproc__now_ns();
  pool->ctl = ctl;
  mproc__lock();
  pool->node.fds[MPROC__POOL_FD_CTL] = ctl;
  pool->node.fds[MPROC__POOL_FD_SERVER] = pidfd;
  mproc__unlock();
  pthread_mutex_unlock(&pool->lock);
  ep_add(pool, ctl, EPOLLIN, TAG(TAG_CTL, 0));
  if (pidfd >= 0) ep_add(pool, pidfd, EPOLLIN, TAG(TAG_SERVER, 0));
  return 0;
}

/* The fork server has died (killed, or out of memory): nobody will report
 * its workers' statuses any more — they die with it — nor fork new ones.
 * Python starts a new forkserver on next use; so does the pool, unless the
 * servers keep dying before any worker serves. */
static void server_died(mproc_pool_t *pool) {
  mproc__lock();
  for (int fd = MPROC__POOL_FD_CTL; fd <= MPROC__POOL_FD_SERVER; fd++) {
    ep_del(pool, pool->node.fds[fd]);
    mproc__close(pool->node.fds[fd]);
    pool->node.fds[fd] = -1;
  }
  mproc__unlock();
  pool->ctl = -1;
  if (pool->server_pid > 0) {
    int status;
    /* A zombie by now, or reaped already if SIGCHLD is ignored. */
    while (waitpid(pool->server_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pool->server_pid = 0;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state == WORKER_SPAWNING) w->state = WORKER_NONE;
  }
  if (pool->state == POOL_TERMINATING || mproc__pool_drained(pool)) return;
  unsigned deaths = ++pool->server_deaths;
  if (deaths >= MAX_SERVER_DEATHS) {
    char why[128];
    snprintf(why, sizeof why,
             "the pool's fork server died %u times in a row before any "
             "worker served",
             deaths);
    break_pool(pool, why);
    return;
  }
  pool->server_start_at_ns =
      mproc__pool_now(pool) + (uint64_t)BACKOFF_FIRST_NS * 20u * (deaths - 1);
}

/* Whether a fork server should be started now (and when, if later). */
static bool server_due(const mproc_pool_t *pool, uint64_t now, uint64_t *at) {
  if (pool->server_pid != 0 || pool->broken != NULL ||
      pool->state == POOL_TERMINATING || mproc__pool_drained(pool))
    return false;
  if (now < pool->server_start_at_ns) {
    if (pool->server_start_at_ns < *at) *at = pool->server_start_at_ns;
    return false;
  }
  return true;
}

/* EPOLLOUT only while output is pending: a writable pipe would otherwise
 * wake the thread continuously. */
static void update_epollout(mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_RUNNING || w->dead) continue;
    bool want = w->out.len > 0;
    if (want == w->out_armed) continue;
    ep_mod(pool, w->node.fds[MPROC__WFD_TASKS], want ? EPOLLOUT : 0,
           TAG(TAG_WTASKS, w->slot));
    w->out_armed = want;
  }
}

/* Everything that follows from the pool's state, with the lock held: the
 * answers read, deaths, timers, dispatch, retirements, respawns. Returns
 * when the thread should wake by itself (UINT64_MAX: never). */
static uint64_t settle(mproc_pool_t *pool, arrivals_t *arrivals,
                       bool *server_gone, bool *shutting_down) {
  pool->now_ns = mproc__now_ns();
  for (size_t i = 0; i < arrivals->n; i++) apply(pool, &arrivals->v[i]);
  arrivals->n = 0;
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].eof_seen) mark_dead(pool, &pool->workers[i]);
  if (*server_gone) {
    *server_gone = false;
    server_died(pool);
  }
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    /* A worker of a fork server that is gone has no one to report its
     * status: it was killed with its server (PR_SET_PDEATHSIG). */
    if (w->state == WORKER_GONE && !w->status_known &&
        (w->server_gen != pool->server_gen || pool->server_pid == 0)) {
      w->status_known = true;
      w->status = SIGKILL;
    }
    if (w->state == WORKER_GONE && w->status_known) settle_death(pool, w);
  }
  /* A broken pool runs nothing more: tasks that a worker dying after the
   * break handed back to the queue fail too (nobody would dispatch them). */
  if (pool->broken != NULL && pool->qhead != NULL)
    mproc__pool_fail_all_locked(pool, MPROC_EBROKEN, false, pool->broken);
  if (pool->state == POOL_TERMINATING && !*shutting_down) {
    kill_everyone(pool);
    *shutting_down = true;
  }
  uint64_t wake = check_timers(pool, pool->now_ns);
  if (pool->state != POOL_TERMINATING) {
    pool->in_loop = true;
    mproc__dispatch_locked(pool);
    pool->in_loop = false;
    /* A task just handed to an idle worker starts a deadline that the
     * first check could not see. */
    if (pool->task_timeout_ns) {
      uint64_t again = check_timers(pool, mproc__now_ns());
      if (again < wake) wake = again;
    }
    send_eofs(pool);
    uint64_t spawn_due = respawn(pool);
    if (spawn_due < wake) wake = spawn_due;
  }
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state == WORKER_RUNNING && !w->dead && w->out.len > 0)
      flush_worker(w);
  }
  update_epollout(pool);
  pool->now_ns = 0;
  return wake;
}

static bool finished(const mproc_pool_t *pool) {
  if (pool->state == POOL_OPEN || !all_gone(pool)) return false;
  return pool->state == POOL_TERMINATING || mproc__pool_drained(pool) ||
         pool->broken != NULL;
}

void *mproc__pool_thread(void *arg) {
  mproc_pool_t *pool = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL); /* signals are the caller's */

  ep_add(pool, pool->wakefd, EPOLLIN, TAG(TAG_WAKE, 0));
  int rc = start_server(pool);
  pthread_mutex_lock(&pool->lock);
  pool->thread_started = true;
  if (rc < 0) {
    pool->state = POOL_DONE;
    pool->start_error = rc;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  pthread_cond_broadcast(&pool->cond); /* mproc_pool_new waits for this */

  arrivals_t arrivals = {NULL, 0, 0};
  struct epoll_event events[64];
  bool server_gone = false, shutting_down = false;
  for (;;) {
    /* Settle and decide to sleep in one hold of the lock: a change made by
     * another thread is either seen here, or made while loop_sleeping is
     * set, and then it wakes us. */
    uint64_t wake = settle(pool, &arrivals, &server_gone, &shutting_down);
    if (finished(pool)) break;
    uint64_t now = mproc__now_ns();
    if (server_due(pool, now, &wake)) {
      pthread_mutex_unlock(&pool->lock);
      rc = start_server(pool);
      pthread_mutex_lock(&pool->lock);
      if (rc < 0) {
        /* As a fork server that died at once: counted, retried later. */
        server_died(pool);
      }
      continue; /* respawn into the new server */
    }
    pool->loop_sleeping = true;
    pool->loop_wake_ns = wake;
    bool wake_waiters = pool->waiters > 0 && pool->completed;
    pool->completed = false;
    pthread_mutex_unlock(&pool->lock);
    /* After unlocking, so that woken waiters do not wake into a held
     * mutex; and only when someone waits and something finished. */
    if (wake_waiters) pthread_cond_broadcast(&pool->cond);

    int timeout_ms = -1;
    if (wake != UINT64_MAX) {
      uint64_t left = wake > now ? wake - now : 0;
      timeout_ms = (int)((left + 999999) / 1000000);
    }
    int n = epoll_wait(pool->epfd, events, 64, timeout_ms);
    if (n < 0 && errno != EINTR) n = 0;

    /* Read and decode without the lock (the readers and worker states are
     * only ever changed by this thread). */
    bool control = false;
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      switch (TAG_KIND(tag)) {
        case TAG_WAKE: {
          uint64_t v;
          while (read(pool->wakefd, &v, sizeof v) < 0 && errno == EINTR) {
          }
          break;
        }
        case TAG_CTL:
          control = true;
          break;
        case TAG_SERVER:
          server_gone = true;
          control = true; /* read what it said before dying */
          break;
        case TAG_WTASKS:
          break; /* writable: settle() flushes */
        case TAG_WANSWERS:
        case TAG_WPIDFD: {
          int slot = TAG_SLOT(tag);
          worker_t *w = &pool->workers[slot];
          if (w->state != WORKER_RUNNING || w->dead) break;
          bool eof = read_worker(w, &arrivals);
          /* A pidfd fires once the process has ended, so everything it
           * wrote is already in the pipe and was just read; EOF is not
           * awaited (a process it forked may still hold the pipe). */
          if (eof || TAG_KIND(tag) == TAG_WPIDFD ||
              (events[i].events & (EPOLLHUP | EPOLLERR)))
            w->eof_seen = true;
          break;
        }
        default:
          break;
      }
    }
    if (control) read_control(pool, &server_gone);
    pthread_mutex_lock(&pool->lock);
    pool->loop_sleeping = false;
  }

  /* Everything has ended: let the fork server go and reap it. */
  pool->loop_sleeping = false;
  pid_t server = pool->server_pid;
  pool->server_pid = 0;
  mproc__lock();
  mproc__close(pool->node.fds[MPROC__POOL_FD_CTL]); /* the server exits on
                                                      EOF */
  pool->node.fds[MPROC__POOL_FD_CTL] = -1;
  pool->ctl = -1;
  mproc__unlock();
  pthread_mutex_unlock(&pool->lock);
  free(arrivals.v);
  if (server > 0) {
    int status;
    while (waitpid(server, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pthread_mutex_lock(&pool->lock);
  pool->state = POOL_DONE;
  pthread_cond_broadcast(&pool->cond);
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}
