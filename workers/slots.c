/* The pool's worker slots and its fork server, from the pool thread: a
 * worker taken over from the server, watched, timed out, told to leave,
 * dead and settled (its tasks, its statistics, its slot), respawned with
 * backoff; the fork server started, and started again when it dies. The
 * policies live here: which deaths count towards breaking the pool, when
 * failing starts fail the queue, when servers that keep dying break it.
 * The tasks themselves move through sched.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/io.h"
#include "core/fdlimit.h"
#include "core/pidfd.h"
#include "core/registry.h"
#include "workers/forkserver.h"
#include "workers/pool_internal.h"
#include "workers/sched.h"

/* Initializers in a row that may fail before the pool is broken. */
#define MAX_INIT_FAILURES 3
/* Fork servers in a row that may die (before any worker served) before
 * the pool is broken. */
#define MAX_SERVER_DEATHS 3
/* Failed worker starts in a row after which, if they were fork or
 * hand-over failures and no worker serves, queued tasks fail with the
 * error instead of waiting (the pool keeps trying for later tasks). */
#define START_FAILURES_REPORTED 5
/* Spawn requests outstanding at the fork server at once (see
 * mproc__slots_respawn). */
#define MPROC__SPAWN_WINDOW 32
/* Backoff between failed starts: doubles from the third, up to the cap. */
#define BACKOFF_FIRST_NS 5000000u
#define BACKOFF_MAX_NS 1000000000u

static void sigterm_or_kill(worker_t *w, int sig) {
  if (w->node.fds[MPROC__WFD_PIDFD] >= 0 &&
      mproc__pidfd_send_signal(w->node.fds[MPROC__WFD_PIDFD], sig) == 0)
    return;
  /* No pidfd: the server owns the worker and has not reaped it yet unless
   * its EXITED report is already on its way, so the pid is still its. */
  if (w->pid > 0 && !w->status_known) kill(w->pid, sig);
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
  mproc__sched_fail_all_locked(pool, MPROC_EBROKEN, false,
                              pool->broken ? pool->broken : why);
}

/* Workers have failed to start too often in a row, the last time by a
 * fork or hand-over error, and none serves: the queued tasks fail with
 * that error rather than wait. The pool keeps trying: a task queued now
 * waits for the next try, and fails only if that one fails too. */
void mproc__slots_fail_queue_if_starts_fail(mproc_pool_t *pool) {
  if (!pool->start_failed_now) return;
  pool->start_failed_now = false;
  if (pool->qhead == NULL || pool->spawn_error == 0 ||
      pool->start_failures < START_FAILURES_REPORTED)
    return;
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].state == WORKER_RUNNING && pool->workers[i].ready)
      return;
  char why[MPROC_CALL_MESSAGE_MAX];
  MPROC__IGNORE(mproc__fail_limit(pool->spawn_error, "start a pool worker"));
  snprintf(why, sizeof why, "%s (%u attempts in a row; the pool keeps "
           "trying)",
           mproc_last_error(), pool->start_failures);
  int code = pool->spawn_error;
  while (pool->qhead != NULL) {
    struct mproc_future *t = pool->qhead;
    pool->qhead = t->next;
    pool->queued--;
    mproc__sched_fail_locked(pool, t, code, 0, 0, "%s", why);
  }
  pool->qtail = NULL;
}

static void start_failed(mproc_pool_t *pool, worker_t *w, int err) {
  unsigned n = ++pool->start_failures;
  pool->spawn_error = err;
  /* Judged in the next settle, outside the registry's lock (a hand-over
   * fails under it, and the message counts the registry's descriptors). */
  pool->start_failed_now = true;
  uint64_t delay = 0;
  if (n >= 3) {
    unsigned shift = n - 3 > 20 ? 20 : n - 3;
    delay = (uint64_t)BACKOFF_FIRST_NS << shift;
    if (delay > BACKOFF_MAX_NS) delay = BACKOFF_MAX_NS;
  }
  w->spawn_at_ns = mproc__pool_now(pool) + delay;
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
    mproc__sched_requeue_locked(pool, w);
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
    bool timed_out = running != 0 && w->timed_out_id == running;
    char why[MPROC_CALL_MESSAGE_MAX];
    if (timed_out)
      snprintf(why, sizeof why,
               "task ran longer than %.3f s; its worker (pid %d) was stopped "
               "with %s",
               (double)pool->task_timeout_ns / 1e9, (int)w->pid,
               w->sigkilled ? "SIGTERM, then SIGKILL" : "SIGTERM");
    else
      snprintf(why, sizeof why, "worker (pid %d) died running the task: %s",
               (int)w->pid, how);
    bool failed = mproc__sched_worker_died_locked(
        pool, w, running, timed_out ? MPROC_ETASKTIMEOUT : MPROC_EWORKER,
        exit_code, sig, why);
    crashed = failed || !exited_0 || !w->eof_sent;
  }

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
  w->out.len = w->out_off = 0;
  w->state = WORKER_NONE;
  w->pid = 0;
  w->ready = w->retiring = w->eof_sent = w->dead = w->status_known = false;
  w->sigkilled = false;
  w->timed_out_id = 0;
  w->kill_at_ns = 0;
  w->dispatched = 0;
  w->seq = 0;
  w->tasks = w->busy_ns = 0;
  w->utime_us = w->stime_us = w->maxrss_kb = 0;
  w->born_ns = 0;
}

void mproc__slot_mark_dead(mproc_pool_t *pool, worker_t *w) {
  w->eof_seen = false;
  if (w->dead) return;
  w->dead = true;
  w->out_armed = false;
  mproc__lock();
  for (int i = 0; i < MPROC__WFD_COUNT; i++) {
    mproc__loop_unwatch(pool, w->node.fds[i]);
    mproc__close(w->node.fds[i]);
    w->node.fds[i] = -1;
  }
  mproc__node_unlink(&w->node);
  mproc__unlock();
  w->state = WORKER_GONE;
}

void mproc__slots_settle_deaths(mproc_pool_t *pool) {
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
    mproc__sched_fail_all_locked(pool, MPROC_EBROKEN, false, pool->broken);
}

void mproc__slot_on_report(mproc_pool_t *pool, worker_t *w,
                           mproc__report_t *r) {
  if (r->kind == MPROC__REPORT_READY) {
    /* A worker serves: whatever failed before is over. */
    w->ready = true;
    pool->init_failures = 0;
    pool->start_failures = 0;
    pool->spawn_error = 0;
    pool->server_deaths = 0;
  } else if (r->kind == MPROC__REPORT_INIT_FAILED) {
    free(w->init_error);
    w->init_error = r->message;
    r->message = NULL;
  }
}

/* The worker the server says pid is, in slot (O(1): the server keeps each
 * worker's slot). */
static worker_t *worker_in_slot(mproc_pool_t *pool, uint32_t slot, pid_t pid) {
  if (slot >= pool->nworkers) return NULL;
  worker_t *w = &pool->workers[slot];
  return w->pid == pid && w->state != WORKER_NONE ? w : NULL;
}

void mproc__slot_on_spawned(mproc_pool_t *pool, const mproc__control_t *c,
                            const int fds[MPROC__WFD_COUNT]) {
  worker_t *w = c->slot < pool->nworkers ? &pool->workers[c->slot] : NULL;
  bool lost = fds[MPROC__WFD_TASKS] < 0 || fds[MPROC__WFD_ANSWERS] < 0;
  if (w == NULL || w->state != WORKER_SPAWNING || lost) {
    for (int i = 0; i < MPROC__WFD_COUNT; i++) mproc__close(fds[i]);
    /* A worker the pool cannot talk to would wait forever: the server
     * kills it; the slot tries again after a while. The usual cause is
     * this process's descriptor limit. */
    /* The server gone, the worker dies with it anyway. */
    if (c->pid > 0) MPROC__IGNORE(mproc__server_kill(pool->ctl, c->pid));
    if (w != NULL && w->state == WORKER_SPAWNING) {
      w->state = WORKER_NONE;
      start_failed(pool, w, MPROC_EMFILE);
      /* The soft descriptor limit is raised once, and the next try comes at
       * once; past the hard one, starts keep failing (the message says
       * so). */
      if (mproc__fd_limit_retry(MPROC_EMFILE)) w->spawn_at_ns = 0;
    }
    return;
  }
  for (int i = 0; i < MPROC__WFD_COUNT; i++) w->node.fds[i] = fds[i];
  mproc__node_link(&w->node); /* registry lock held by the caller */
  /* Both are fresh descriptors of ours: F_SETFL cannot fail on them. */
  MPROC__IGNORE(mproc__set_nonblock(fds[MPROC__WFD_TASKS], 1));
  MPROC__IGNORE(mproc__set_nonblock(fds[MPROC__WFD_ANSWERS], 1));
  w->pid = c->pid;
  w->slot_stats.last_pid = c->pid; /* kept when the worker ends */
  w->serial = c->serial;
  w->server_gen = pool->server_gen;
  w->state = WORKER_RUNNING;
  w->born_ns = mproc__now_ns();
  mproc__reader_init(&w->in, fds[MPROC__WFD_ANSWERS], pool->wcfg.max_frame,
                     NULL, 0);
  /* The task socket is watched only for EPOLLOUT, when output waits. */
  mproc__loop_watch(pool, fds[MPROC__WFD_TASKS], 0, MPROC__TAG(MPROC__TAG_WTASKS, w->slot));
  mproc__loop_watch(pool, fds[MPROC__WFD_ANSWERS], EPOLLIN, MPROC__TAG(MPROC__TAG_WANSWERS, w->slot));
  if (fds[MPROC__WFD_PIDFD] >= 0)
    mproc__loop_watch(pool, fds[MPROC__WFD_PIDFD], EPOLLIN, MPROC__TAG(MPROC__TAG_WPIDFD, w->slot));
}

void mproc__slot_spawn_failed(mproc_pool_t *pool, uint32_t slot, int err) {
  if (slot >= pool->nworkers) return;
  worker_t *w = &pool->workers[slot];
  if (w->state != WORKER_SPAWNING) return;
  w->state = WORKER_NONE;
  start_failed(pool, w, err < 0 ? err : MPROC_EAGAIN);
}

void mproc__slot_exited(mproc_pool_t *pool, const mproc__control_t *c) {
  worker_t *w = worker_in_slot(pool, c->slot, c->pid);
  if (w == NULL) return;
  w->status = c->status;
  w->status_known = true;
  w->utime_us = c->utime_us;
  w->stime_us = c->stime_us;
  if (c->maxrss_kb > w->maxrss_kb) w->maxrss_kb = c->maxrss_kb;
}

/* Task timeouts count from when the worker entered the task, as posted on
 * the board. The kill is claimed on the board first: if the worker has
 * just left the task, the claim fails and nothing is killed. */
/* The soft time limit of w's running task: marks it on the board (and
 * signals the worker, with soft_signal) once it has run soft_ns. Returns
 * when to look again. */
static uint64_t check_soft(mproc_pool_t *pool, worker_t *w, uint64_t now) {
  mproc__post_t *post = &pool->board[w->slot];
  uint64_t head = w->ohead->id, entered = 0;
  if (mproc__post_running(post, &entered) != head)
    return now + pool->soft_ns; /* not entered yet: a whole limit away */
  if (w->soft_id == head) return UINT64_MAX; /* done for this task */
  uint64_t at = entered + pool->soft_ns;
  if (now < at) return at;
  w->soft_id = head;
  mproc__post_mark_soft(post, head);
  if (pool->soft_signal != 0) sigterm_or_kill(w, pool->soft_signal);
  return UINT64_MAX;
}

uint64_t mproc__slots_check_timers(mproc_pool_t *pool, uint64_t now) {
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
    if (pool->soft_ns != 0 && w->nout != 0 && w->timed_out_id == 0) {
      uint64_t soft = check_soft(pool, w, now);
      if (soft < next) next = soft;
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

void mproc__slots_send_eofs(mproc_pool_t *pool) {
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

uint64_t mproc__slots_respawn(mproc_pool_t *pool) {
  if (pool->broken != NULL || pool->state == POOL_TERMINATING ||
      pool->server_pid == 0 || mproc__pool_drained(pool))
    return UINT64_MAX;
  uint64_t now = mproc__pool_now(pool), next = UINT64_MAX;
  unsigned spawning = 0;
  for (unsigned i = 0; i < pool->nworkers; i++)
    spawning += pool->workers[i].state == WORKER_SPAWNING;
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state != WORKER_NONE) continue;
    if (w->spawn_at_ns > now) {
      if (w->spawn_at_ns < next) next = w->spawn_at_ns;
      continue;
    }
    /* At most MPROC__SPAWN_WINDOW requests are outstanding: the server
     * answers each with a message carrying descriptors, and a thousand of
     * them at once would fill both directions of the control socket (512
     * datagrams by default) and the descriptors a user may have in flight;
     * the rest go as answers arrive. */
    if (spawning >= MPROC__SPAWN_WINDOW) continue;
    mproc__post_reset(&pool->board[i]);
    uint32_t serial = pool->next_serial + 1;
    int rc = mproc__server_spawn(pool->ctl, i, serial);
    if (rc == 0) {
      pool->next_serial = serial;
      w->state = WORKER_SPAWNING;
      spawning++;
    } else if (rc == -EAGAIN && now + 1000000 < next) {
      next = now + 1000000; /* the queue is full: again in 1 ms */
    }
  }
  return next;
}

bool mproc__slots_all_gone(const mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].state != WORKER_NONE) return false;
  return true;
}

void mproc__slots_kill_all(mproc_pool_t *pool) {
  for (unsigned i = 0; i < pool->nworkers; i++) {
    worker_t *w = &pool->workers[i];
    if (w->state == WORKER_RUNNING && !w->dead && !w->sigkilled) {
      if (pool->stop_signal != 0 && pool->stop_signal != SIGKILL) {
        /* terminate_workers: SIGTERM now, SIGKILL after the grace
         * (mproc__slots_check_timers), unless a timeout's is sooner. */
        sigterm_or_kill(w, pool->stop_signal);
        uint64_t at = mproc__pool_now(pool) + pool->kill_grace_ns;
        if (w->kill_at_ns == 0 || at < w->kill_at_ns) w->kill_at_ns = at;
        continue;
      }
      sigterm_or_kill(w, SIGKILL);
      w->sigkilled = true;
    }
    if (w->state == WORKER_SPAWNING) w->state = WORKER_NONE;
  }
}

int mproc__server_begin(mproc_pool_t *pool) {
  int ctl, pidfd;
  int pid = mproc__server_start(&pool->wcfg, pool->fresh_fd, &ctl, &pidfd);
  if (pid < 0 && mproc__fd_limit_retry(pid))
    pid = mproc__server_start(&pool->wcfg, pool->fresh_fd, &ctl, &pidfd);
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
  mproc__loop_watch(pool, ctl, EPOLLIN, MPROC__TAG(MPROC__TAG_CTL, 0));
  if (pidfd >= 0) mproc__loop_watch(pool, pidfd, EPOLLIN, MPROC__TAG(MPROC__TAG_SERVER, 0));
  return 0;
}

/* The fork server has died (killed, or out of memory): nobody will report
 * its workers' statuses any more — they die with it — nor fork new ones.
 * Python starts a new forkserver on next use; so does the pool, unless the
 * servers keep dying before any worker serves. */
void mproc__server_died(mproc_pool_t *pool) {
  mproc__lock();
  for (int fd = MPROC__POOL_FD_CTL; fd <= MPROC__POOL_FD_SERVER; fd++) {
    mproc__loop_unwatch(pool, pool->node.fds[fd]);
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

bool mproc__server_due(const mproc_pool_t *pool, uint64_t now,
                      uint64_t *at) {
  if (pool->server_pid != 0 || pool->broken != NULL ||
      pool->state == POOL_TERMINATING || mproc__pool_drained(pool))
    return false;
  if (now < pool->server_start_at_ns) {
    if (pool->server_start_at_ns < *at) *at = pool->server_start_at_ns;
    return false;
  }
  return true;
}
