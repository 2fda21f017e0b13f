/* The fork server: a single-threaded copy of the program, forked when the
 * pool starts, that forks every worker the pool ever has.
 *
 * Forking a worker straight from the pool's process would copy a process
 * with threads (the pool thread, the caller's) whose locks may be held at
 * that instant; the server has exactly one thread, so its children never
 * inherit a held lock, and the pool can replace a dead worker at any time.
 * The server owns the workers (it reaps them and reports their status and
 * resource usage); the pool talks to each worker on its own pipe and
 * watches it through a pidfd, both handed over with SCM_RIGHTS.
 *
 * The server dies with the pool thread that forked it, and the workers die
 * with the server (PR_SET_PDEATHSIG, with a getppid() re-check for a parent
 * that died first), so nothing outlives the pool's process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fork.h"
#include "core/base/fdpass.h"
#include "core/base/io.h"
#include "core/pidfd.h"
#include "core/registry.h"
#include "core/spawn_env.h"
#include "workers/forkserver.h"

_Static_assert(MPROC__WFD_COUNT <= MPROC__FDPASS_MAX,
               "a worker's descriptors travel in one message");

/* Sends c with nfds descriptors attached. The server's sends block (the
 * pool thread always comes back to read); the pool's pass MSG_DONTWAIT, so
 * that the two never wait on each other with both queues full. */
static int send_control(int ctl, const mproc__control_t *c, const int *fds,
                        int nfds, int flags) {
  uint8_t buf[128];
  int len = mproc__control_encode(c, buf, sizeof buf);
  if (len < 0) return len;
  /* A datagram: it goes whole or not at all. */
  ssize_t w = mproc__send_fds(ctl, buf, (size_t)len, fds, nfds, flags);
  return w < 0 ? (int)w : 0;
}

/* The server's live children: the workers it forked and has not reaped.
 * A KILL request is honoured only for one of them, never a recycled pid. */
typedef struct {
  pid_t pid;
  uint32_t slot;
} child_t;

typedef struct {
  child_t *v;
  size_t n, cap;
} children_t;

static void children_add(children_t *c, pid_t pid, uint32_t slot) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    child_t *grown = realloc(c->v, cap * sizeof *grown);
    if (grown == NULL) return; /* then it cannot be killed on request */
    c->v = grown;
    c->cap = cap;
  }
  c->v[c->n].pid = pid;
  c->v[c->n].slot = slot;
  c->n++;
}

static child_t *children_find(children_t *c, pid_t pid) {
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].pid == pid) return &c->v[i];
  return NULL;
}

static void spawn_failed(int ctl, mproc__control_t *reply, int err) {
  reply->kind = MPROC__CTL_SPAWN_FAILED;
  reply->status = err;
  (void)send_control(ctl, reply, NULL, 0, 0);
}

static void spawn(const mproc__worker_cfg_t *cfg, int ctl, int sigfd,
                  children_t *children, uint32_t slot, uint32_t serial) {
  mproc__control_t reply;
  memset(&reply, 0, sizeof reply);
  reply.slot = slot;
  reply.serial = serial;
  int sp[2], answers[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
    spawn_failed(ctl, &reply, -errno);
    return;
  }
  if (pipe2(answers, O_CLOEXEC) < 0) {
    int err = -errno;
    mproc__close(sp[0]);
    mproc__close(sp[1]);
    spawn_failed(ctl, &reply, err);
    return;
  }
  /* Workers start as Process children do (handlers reset) and, like the
   * server, leave SIGINT to the parent and turn SIGPIPE into EPIPE; their
   * signal mask is the pool creator's. The name lives in this frame,
   * which the worker never returns through. */
  char name[32];
  snprintf(name, sizeof name, "PoolWorker-%u", (unsigned)serial);
  mproc__fork_t f = {"",   name, false, {sp[1], answers[1]}, true, true,
                     &cfg->mask};
  mproc__fork_begin();
  pid_t pid = mproc__fork(&f);
  if (pid == 0) {
    mproc__close(sigfd);
    mproc__close(sp[0]);
    mproc__close(answers[0]);
    if (cfg->sigchld_ignored) signal(SIGCHLD, SIG_IGN);
    mproc__worker_main(cfg, sp[1], answers[1], slot, serial);
  }
  mproc__unlock();
  mproc__close(sp[1]);
  mproc__close(answers[1]);
  if (pid < 0) {
    mproc__close(sp[0]);
    mproc__close(answers[0]);
    spawn_failed(ctl, &reply, pid);
    return;
  }
  children_add(children, pid, slot);
  /* Opened by the parent before it can reap the child: the pidfd names
   * exactly this worker, never a recycled pid. */
  int fds[MPROC__WFD_COUNT];
  fds[MPROC__WFD_TASKS] = sp[0];
  fds[MPROC__WFD_PIDFD] = mproc__pidfd_open(pid);
  fds[MPROC__WFD_ANSWERS] = answers[0];
  reply.kind = MPROC__CTL_SPAWNED;
  reply.pid = pid;
  /* If the pool cannot take the descriptors (its limit), it asks us to
   * kill this worker; until then the worker waits on a socket nobody
   * writes. */
  (void)send_control(ctl, &reply, fds,
                     fds[MPROC__WFD_PIDFD] >= 0 ? MPROC__WFD_COUNT
                                                : MPROC__WFD_PIDFD, 0);
  for (int i = 0; i < MPROC__WFD_COUNT; i++) mproc__close(fds[i]);
}

static void server_reap(int ctl, children_t *children) {
  for (;;) {
    int status;
    struct rusage ru;
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    child_t *child = children_find(children, pid);
    uint32_t slot = UINT32_MAX;
    if (child != NULL) {
      slot = child->slot;
      *child = children->v[--children->n];
    }
    mproc__control_t c;
    memset(&c, 0, sizeof c);
    c.kind = MPROC__CTL_EXITED;
    c.pid = pid;
    c.slot = slot;
    c.status = status;
    c.utime_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u +
                 (uint64_t)ru.ru_utime.tv_usec;
    c.stime_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u +
                 (uint64_t)ru.ru_stime.tv_usec;
    c.maxrss_kb = ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss : 0;
    (void)send_control(ctl, &c, NULL, 0, 0);
  }
}

/* Runs with every signal blocked: SIGCHLD arrives through a signalfd, and
 * nothing else concerns the server (SIGKILL, from its parent's death or the
 * pool, ends it). */
void mproc__server_main(const mproc__worker_cfg_t *cfg, int ctl) {
  /* The workers are our children, to be reaped by us: a program that
   * ignores SIGCHLD (a daemon idiom) would have the kernel reap them
   * before we could tell the pool how they ended. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, NULL);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) mproc__child_exit(1);
  /* Static: the list is reachable (no leak report) in workers, which are
   * copies of this process that never return here. */
  static children_t children;
  for (;;) {
    struct pollfd pfd[2] = {{ctl, POLLIN, 0}, {sigfd, POLLIN, 0}};
    int n = poll(pfd, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      mproc__child_exit(1);
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      server_reap(ctl, &children);
    }
    if (pfd[0].revents) {
      uint8_t buf[128];
      ssize_t len = recv(ctl, buf, sizeof buf, MSG_DONTWAIT);
      if (len == 0 || (len < 0 && errno != EINTR && errno != EAGAIN)) {
        /* The pool is gone: the workers die with us (PR_SET_PDEATHSIG). */
        mproc__child_exit(0);
      }
      mproc__control_t c;
      if (len <= 0 || mproc__control_decode(&c, buf, (size_t)len) < 0)
        continue;
      if (c.kind == MPROC__CTL_SPAWN)
        spawn(cfg, ctl, sigfd, &children, c.slot, c.serial);
      else if (c.kind == MPROC__CTL_KILL && c.pid > 0 &&
               children_find(&children, c.pid) != NULL)
        kill(c.pid, SIGKILL); /* unreaped: the pid is still that worker */
    }
  }
}

int mproc__server_start(const mproc__worker_cfg_t *cfg, int fresh,
                        int *ctl_out, int *pidfd_out) {
  int sp[2];
  *ctl_out = *pidfd_out = -1;
  mproc__fork_begin();
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
    int rc = -errno;
    mproc__unlock();
    return rc;
  }
  /* The server keeps every signal blocked: SIGCHLD comes through a
   * signalfd, and nothing else concerns it. It dies with the pool thread
   * that forks it. */
  sigset_t all;
  sigfillset(&all);
  mproc__fork_t f = {"", "PoolServer", false, {sp[1], fresh}, true, true, &all};
  pid_t pid;
  if (fresh >= 0) {
    /* A fresh image (workers/fresh.h): exec'd in pool-server mode with
     * only its control socket and the memory file; it reads the workers'
     * configuration from the latter. */
    char spec[64];
    snprintf(spec, sizeof spec, "P %d %d %zu", sp[1], fresh, cfg->nposts);
    mproc__spawn_t s;
    pid = mproc__spawn_prepare_spec(&s, spec, "PoolServer");
    if (pid == 0) {
      f.exec = &s.exec;
      pid = mproc__fork(&f);
      mproc__spawn_release(&s);
    }
  } else {
    pid = mproc__fork(&f);
    if (pid == 0) {
      mproc__close(sp[0]); /* the pool's end: its EOF tells us to go */
      mproc__server_main(cfg, sp[1]);
      mproc__child_exit(0);
    }
  }
  mproc__close(sp[1]);
  if (pid < 0) {
    mproc__close(sp[0]);
    mproc__unlock();
    return pid;
  }
  int pidfd = mproc__pidfd_open(pid);
  *ctl_out = sp[0];
  *pidfd_out = pidfd >= 0 ? pidfd : -1;
  mproc__unlock();
  return pid;
}

int mproc__server_spawn(int ctl, unsigned slot, uint32_t serial) {
  mproc__control_t c;
  memset(&c, 0, sizeof c);
  c.kind = MPROC__CTL_SPAWN;
  c.slot = (uint32_t)slot;
  c.serial = serial;
  return send_control(ctl, &c, NULL, 0, MSG_DONTWAIT);
}

int mproc__server_kill(int ctl, pid_t pid) {
  mproc__control_t c;
  memset(&c, 0, sizeof c);
  c.kind = MPROC__CTL_KILL;
  c.pid = pid;
  return send_control(ctl, &c, NULL, 0, MSG_DONTWAIT);
}

int mproc__server_recv(int ctl, mproc__control_t *msg, int fds[MPROC__WFD_COUNT]) {
  for (int i = 0; i < MPROC__WFD_COUNT; i++) fds[i] = -1;
  uint8_t buf[128];
  int nfds = 0;
  bool truncated = false;
  /* In order: the descriptors fill fds[0..nfds-1], the rest stay -1. */
  ssize_t len = mproc__recv_fds(ctl, buf, sizeof buf, fds, MPROC__WFD_COUNT,
                                &nfds, &truncated, MSG_DONTWAIT);
  if (len < 0) return len == -EAGAIN || len == -EWOULDBLOCK ? MPROC_EAGAIN
                                                            : (int)len;
  /* At the descriptor limit the kernel passes what it can and sets
   * MSG_CTRUNC: a hand-over missing any descriptor is no hand-over. */
  if (len == 0) return 0;
  int rc = mproc__control_decode(msg, buf, (size_t)len);
  if (rc < 0 || truncated) {
    for (int i = 0; i < MPROC__WFD_COUNT; i++) {
      mproc__close(fds[i]);
      fds[i] = -1;
    }
    if (rc < 0) return rc;
  }
  return 1;
}
