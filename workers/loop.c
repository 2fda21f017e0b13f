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
#include <poll.h>
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

#include "core/base/clock.h"
#include "core/base/io.h"
#include "core/pidfd.h"
#include "workers/forkserver.h"
#include "core/base/check.h"
#include "workers/pool_internal.h"
#include "workers/sched.h"

/* Answers at least this big may keep their buffer (in-place strings). */
#define ADOPT_MIN ((size_t)1 << 20)

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

void mproc__loop_watch(mproc_pool_t *pool, int fd, uint32_t events,
                       uint64_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  /* Fails only for a descriptor that is not open or already watched:
   * neither happens to the pool's own fresh descriptors. */
  (void)epoll_ctl(pool->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void mproc__loop_rewatch(mproc_pool_t *pool, int fd, uint32_t events,
                         uint64_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = tag;
  (void)epoll_ctl(pool->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void mproc__loop_unwatch(mproc_pool_t *pool, int fd) {
  if (fd >= 0) (void)epoll_ctl(pool->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- Dispatch: queued tasks to workers, written without blocking. */

void mproc__flush_worker(worker_t *w) {
  while (w->out.len > w->out_off) {
    ssize_t n = send(w->node.fds[MPROC__WFD_TASKS], w->out.p + w->out_off,
                     w->out.len - w->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      w->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    /* The worker is gone; the loop sees it through its pidfd or EOF. */
    w->out.len = w->out_off = 0;
    return;
  }
  /* What was written goes: all of it at once, or the written half moved
   * away (a big frame is written a socket buffer at a time, and moving
   * the rest forward after each write would be quadratic). */
  if (w->out_off == w->out.len) {
    w->out.len = w->out_off = 0;
  } else if (w->out_off > w->out.len / 2) {
    mproc__buf_consume(&w->out, w->out_off);
    w->out_off = 0;
  }
}

void mproc__dispatch_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  if (pool->qhead == NULL && !pool->in_loop) return;
  uint64_t now = mproc__pool_now(pool);
  (void)mproc__sched_dispatch_locked(pool, now);
  /* An idle worker gets its task at once. A busy one gets it with the next
   * batch: the pool thread flushes after each round of answers, so under
   * load many tasks share one write. */
  bool wrote_to_idle = false;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->out.len == 0 || !(w->flush_now || pool->in_loop)) continue;
    wrote_to_idle |= w->flush_now;
    w->flush_now = false;
    mproc__flush_worker(w);
    if (w->out.len > 0) mproc__pool_wake_locked(pool, 0); /* arm EPOLLOUT */
  }
  /* A sleeping pool thread must wake in time to enforce a new timeout,
   * and to let an idle worker take tasks waiting behind a slow one. */
  if (wrote_to_idle && pool->task_timeout_ns)
    mproc__pool_wake_locked(pool, now + pool->task_timeout_ns);
  if (wrote_to_idle && pool->soft_ns)
    mproc__pool_wake_locked(pool, now + pool->soft_ns);
  if (pool->steal_at_ns != UINT64_MAX)
    mproc__pool_wake_locked(pool, pool->steal_at_ns);
}

/* ---- Answers. */

static void apply(mproc_pool_t *pool, arrival_t *a) {
  mproc__loop_apply_locked(pool, a->slot, &a->r);
}

void mproc__loop_apply_locked(mproc_pool_t *pool, int slot,
                              mproc__report_t *r) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  worker_t *w = &pool->workers[slot];
  if (r->kind == MPROC__REPORT_RETURNED) {
    if (mproc__sched_complete_locked(pool, w, r, mproc__pool_now(pool)) < 0) {
      /* Out of order: the worker is broken; stop it, and let its death
       * settle its tasks. */
      w->retiring = true;
      if (w->node.fds[MPROC__WFD_PIDFD] < 0 ||
          mproc__pidfd_send_signal(w->node.fds[MPROC__WFD_PIDFD], SIGKILL) < 0)
        /* Cannot even ask (the server is gone): the worker is dying with
         * it anyway. */
        MPROC__IGNORE(mproc__server_kill(pool->ctl, w->pid));
    }
  } else {
    mproc__slot_on_report(pool, w, r);
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
    /* A big answer (a big result) keeps its buffer: its big strings stay
     * where they arrived, and the value frees the buffer with itself. */
    void *block = len >= ADOPT_MIN ? mproc__reader_detach(&w->in, &payload)
                                   : NULL;
    mproc__inplace_t ip;
    memset(&ip, 0, sizeof ip);
    ip.adopt = block;
    ip.end = payload + len;
    ip.spare = true;
    rc = block != NULL ? mproc__report_decode_inplace(&r, payload, len, &ip)
                       : mproc__report_decode(&r, payload, len);
    if (block != NULL && ip.adopt != NULL) free(block); /* not taken */
    if (rc < 0) {
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

/* ---- Control messages from the fork server. */

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
      mproc__slot_on_spawned(pool, &c, fds);
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
    if (c.kind == MPROC__CTL_SPAWN_FAILED)
      mproc__slot_spawn_failed(pool, c.slot, c.status);
    else if (c.kind == MPROC__CTL_EXITED)
      mproc__slot_exited(pool, &c);
    pthread_mutex_unlock(&pool->lock);
  }
}

/* ---- The turn of the loop. */

/* EPOLLOUT only while output is pending: a writable pipe would otherwise
 * wake the thread continuously. */
static void update_epollout(mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_RUNNING || w->dead) continue;
    bool want = w->out.len > 0;
    if (want == w->out_armed) continue;
    mproc__loop_rewatch(pool, w->node.fds[MPROC__WFD_TASKS], want ? EPOLLOUT : 0,
           MPROC__TAG(MPROC__TAG_WTASKS, w->slot));
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
    if (pool->workers[i].eof_seen)
      mproc__slot_mark_dead(pool, &pool->workers[i]);
  if (*server_gone) {
    *server_gone = false;
    mproc__server_died(pool);
  }
  mproc__slots_settle_deaths(pool);
  mproc__slots_fail_queue_if_starts_fail(pool);
  if (pool->state == POOL_TERMINATING && !*shutting_down) {
    mproc__slots_kill_all(pool);
    *shutting_down = true;
  }
  uint64_t wake = mproc__slots_check_timers(pool, pool->now_ns);
  if (pool->state != POOL_TERMINATING) {
    pool->in_loop = true;
    mproc__dispatch_locked(pool);
    pool->in_loop = false;
    /* A task just handed to an idle worker starts a deadline that the
     * first check could not see. */
    if (pool->task_timeout_ns || pool->soft_ns) {
      uint64_t again = mproc__slots_check_timers(pool, mproc__now_ns());
      if (again < wake) wake = again;
    }
    if (pool->steal_at_ns < wake) wake = pool->steal_at_ns;
    mproc__slots_send_eofs(pool);
    uint64_t spawn_due = mproc__slots_respawn(pool);
    if (spawn_due < wake) wake = spawn_due;
  }
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state == WORKER_RUNNING && !w->dead && w->out.len > 0)
      mproc__flush_worker(w);
  }
  update_epollout(pool);
  pool->now_ns = 0;
  return wake;
}

static bool finished(const mproc_pool_t *pool) {
  if (pool->state == POOL_OPEN || !mproc__slots_all_gone(pool)) return false;
  return pool->state == POOL_TERMINATING || mproc__pool_drained(pool) ||
         pool->broken != NULL;
}

void *mproc__pool_thread(void *arg) {
  mproc_pool_t *pool = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL); /* signals are the caller's */

  mproc__loop_watch(pool, pool->wakefd, EPOLLIN, MPROC__TAG(MPROC__TAG_WAKE, 0));
  int rc = mproc__server_begin(pool);
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
    if (pool->cb_head != NULL) {
      /* Done-callbacks run here, without the lock; then settle again, as
       * other threads may have changed things meanwhile. */
      mproc__run_callbacks_locked(pool);
      continue;
    }
    if (finished(pool)) break;
    uint64_t now = mproc__now_ns();
    if (mproc__server_due(pool, now, &wake)) {
      pthread_mutex_unlock(&pool->lock);
      rc = mproc__server_begin(pool);
      pthread_mutex_lock(&pool->lock);
      if (rc < 0) {
        /* As a fork server that died at once: counted, retried later. */
        mproc__server_died(pool);
      }
      continue; /* respawn into the new server */
    }
    pool->loop_sleeping = true;
    pool->loop_wake_ns = wake;
    bool wake_waiters = pool->waiters > 0 && pool->completed;
    pool->completed = false;
    if (wake_waiters) mproc__pool_notify_fds_locked(pool);
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

    /* No pipe is lent from now on until this round ends; those lent
     * already are the borrowers' (mproc__apply_wait_locked). */
    pthread_mutex_lock(&pool->lock);
    pool->loop_reading = true;
    for (unsigned i = 0; i < pool->nworkers; i++)
      pool->workers[i].skip_read = pool->workers[i].lent;
    pthread_mutex_unlock(&pool->lock);

    /* Read and decode without the lock (the readers and worker states are
     * only ever changed by this thread). */
    bool control = false;
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      switch (MPROC__TAG_KIND(tag)) {
        case MPROC__TAG_WAKE: {
          uint64_t v;
          while (read(pool->wakefd, &v, sizeof v) < 0 && errno == EINTR) {
          }
          break;
        }
        case MPROC__TAG_CTL:
          control = true;
          break;
        case MPROC__TAG_SERVER:
          server_gone = true;
          control = true; /* read what it said before dying */
          break;
        case MPROC__TAG_WTASKS:
          break; /* writable: settle() flushes */
        case MPROC__TAG_WANSWERS:
        case MPROC__TAG_WPIDFD: {
          int slot = MPROC__TAG_SLOT(tag);
          worker_t *w = &pool->workers[slot];
          if (w->state != WORKER_RUNNING || w->dead || w->skip_read) break;
          bool eof = read_worker(w, &arrivals);
          /* A pidfd fires once the process has ended, so everything it
           * wrote is already in the pipe and was just read; EOF is not
           * awaited (a process it forked may still hold the pipe). */
          if (eof || MPROC__TAG_KIND(tag) == MPROC__TAG_WPIDFD ||
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
    pool->loop_reading = false;
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
  mproc__pool_notify_fds_locked(pool);
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

/* ---- A caller reads its own answer (mproc_pool_apply). */

/* Whether t's answer may be read by its caller now: the pool thread is
 * asleep (and so not reading), t is the next answer its worker owes and
 * is written, and no timeout needs the pool thread's watch. */
static worker_t *lendable(mproc_pool_t *pool, const struct mproc_future *t) {
  if (!pool->loop_sleeping || pool->loop_reading || pool->task_timeout_ns ||
      pool->soft_ns ||
      pool->state != POOL_OPEN || t->state != TASK_DISPATCHED ||
      t->timing.worker < 0)
    return NULL;
  worker_t *w = &pool->workers[t->timing.worker];
  if (w->state != WORKER_RUNNING || w->dead || w->eof_seen || w->lent ||
      w->ohead != t || w->out.len != 0)
    return NULL;
  return w;
}

void mproc__apply_wait_locked(mproc_pool_t *pool, struct mproc_future *t) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  worker_t *w = lendable(pool, t);
  if (w == NULL) {
    /* No deadline: it returns when the task is done, never with an error. */
    MPROC__IGNORE(mproc__task_wait_locked(pool, t, UINT64_MAX));
    return;
  }
  int afd = w->node.fds[MPROC__WFD_ANSWERS];
  int pidfd = w->node.fds[MPROC__WFD_PIDFD];
  w->lent = true;
  mproc__loop_rewatch(pool, afd, 0, MPROC__TAG(MPROC__TAG_WANSWERS, w->slot));
  pthread_mutex_unlock(&pool->lock);

  /* As the pool thread would: read what is there, decode the frames. */
  arrivals_t got = {NULL, 0, 0};
  bool eof = false;
  while (got.n == 0 && !eof) {
    struct pollfd pfd[2] = {{afd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int r = poll(pfd, pidfd >= 0 ? 2 : 1, -1);
    if (r < 0 && errno != EINTR) eof = true;
    if (r <= 0) continue;
    eof = read_worker(w, &got);
    /* Death, or the pipe closed: the pool thread settles it. */
    if ((pfd[0].revents & (POLLHUP | POLLERR)) ||
        (pidfd >= 0 && (pfd[1].revents & POLLIN)))
      eof = true;
  }

  pthread_mutex_lock(&pool->lock);
  for (size_t i = 0; i < got.n; i++)
    mproc__loop_apply_locked(pool, got.v[i].slot, &got.v[i].r);
  free(got.v);
  w->lent = false;
  mproc__loop_rewatch(pool, afd, EPOLLIN,
                      MPROC__TAG(MPROC__TAG_WANSWERS, w->slot));
  /* What the pool thread would have done next: dispatch what waits, tell
   * the other waiters; a death or a retirement is its to settle. */
  mproc__dispatch_locked(pool);
  if (pool->waiters > 0 && got.n > 0) {
    pthread_cond_broadcast(&pool->cond);
    mproc__pool_notify_fds_locked(pool);
  }
  if (eof || w->retiring || pool->qhead != NULL || pool->cb_head != NULL)
    mproc__pool_wake_locked(pool, 0);
  /* No deadline: it returns when the task is done, never with an error. */
  MPROC__IGNORE(mproc__task_wait_locked(pool, t, UINT64_MAX));
}
